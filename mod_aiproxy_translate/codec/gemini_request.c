/*
 * codec/gemini_request.c: Gemini generateContent request body <-> IR.
 *
 * Ids: older Gemini parts have no call ids. A functionCall without one gets a stable id made
 * from its position ("call_<content>_<part>", the same on every attempt); a functionResponse
 * without one takes the id of the earliest unanswered call of the same name. Made-up ids are
 * never sent back to Gemini.
 *
 * Thought signatures ride on the part they came with (thought, text or functionCall) and go
 * back to Gemini only. A functionCall from another protocol's history gets Gemini's
 * documented placeholder signature "skip_thought_signature_validator" on the first call of
 * each model turn: Gemini 3 refuses function-calling history without signatures, and that
 * value is the one Google documents for histories not produced by Gemini (it proves nothing
 * and is recognised as such; no real signature is ever made up).
 */
#include <string.h>
#include "apr_strings.h"
#include "json/tr_jv.h"
#include "codec/tr_protocols.h"
#include "codec/gemini_schema.h"
#include "codec/tr_request_util.h"

#define GEMINI_FOREIGN_CALL_SIGNATURE "skip_thought_signature_validator"

static const tr_req_word roles[] = {
    {TR_ROLE_USER, "user"}, {TR_ROLE_ASSISTANT, "model"}, {TR_ROLE_USER, "function"}, {0, NULL}};

static const tr_req_word modes[] = {
    {TR_TOOL_CHOICE_AUTO, "AUTO"}, {TR_TOOL_CHOICE_ANY, "ANY"},
    {TR_TOOL_CHOICE_NONE, "NONE"}, {TR_TOOL_CHOICE_AUTO, "VALIDATED"},
    {TR_TOOL_CHOICE_NAMED, "ANY"}, {0, NULL}};

/* ============================================================================================
 * decode
 * ============================================================================================ */

typedef struct {
    const char *name, *id;
    int answered;
} pending_call;

typedef struct {
    apr_pool_t *p;
    tr_request *req;
    tr_rd rd;
    apr_array_header_t *calls; /* pending_call: calls without ids, for id-less responses */
} decoder;

static void set_signature(tr_block *b, tr_jv *part)
{
    const char *sig = tr_jv_get_str(part, "thoughtSignature");
    if (sig && *sig) {
        b->signature = sig;
        b->has_signature = 1;
        b->sig_proto = AIPROXY_PROTO_GEMINI;
    }
}

/* inlineData / fileData: image or document by media type. */
static void decode_media(decoder *d, apr_array_header_t *out, tr_jv *media, int inline_data,
                         const tr_loc *loc)
{
    const char *mime = tr_rd_str(&d->rd, media, "mimeType", TR_LOC(loc));
    tr_block *b = tr_req_add_block(d->p, out,
                                   tr_req_is_image_type(mime) ? TR_BLOCK_IMAGE : TR_BLOCK_DOCUMENT);
    b->media_type = mime;
    if (inline_data)
        b->data = tr_rd_str(&d->rd, media, "data", TR_LOC(loc));
    else
        b->url = tr_rd_str(&d->rd, media, "fileUri", TR_LOC(loc));
}

static void decode_function_call(decoder *d, apr_array_header_t *out, tr_jv *call,
                                 const tr_loc *loc)
{
    tr_block *b = tr_req_add_block(d->p, out, TR_BLOCK_TOOL_CALL);
    tr_jv *args = tr_rd_obj(&d->rd, call, "args", TR_LOC(loc));

    b->name = tr_rd_str(&d->rd, call, "name", TR_LOC(loc));
    b->id = tr_rd_str(&d->rd, call, "id", TR_LOC(loc));
    b->arguments = args ? tr_req_json_text(d->p, args) : "{}";
    if (!d->rd.failed && !b->name)
        tr_rd_fail(&d->rd, "'%s.name' is required", apr_psprintf(d->p, TR_LOC(loc)));
    if (!b->id) {
        pending_call *pc = apr_array_push(d->calls);
        b->id = apr_psprintf(d->p, "call_%d_%d", loc->a, loc->b);
        b->id_generated = 1;
        pc->name = b->name;
        pc->id = b->id;
        pc->answered = 0;
    }
}

/* The id of the earliest unanswered id-less call named name, or NULL. */
static const char *match_pending_call(decoder *d, const char *name)
{
    for (int i = 0; name && i < d->calls->nelts; i++) {
        pending_call *pc = &APR_ARRAY_IDX(d->calls, i, pending_call);
        if (!pc->answered && pc->name && !strcmp(pc->name, name)) {
            pc->answered = 1;
            return pc->id;
        }
    }
    return NULL;
}

/* response {"output": "..."} / {"error": "..."} is the documented convention: the text is the
 * result; anything else is the result as JSON text. The object itself is kept for Gemini. */
static void decode_function_response(decoder *d, apr_array_header_t *out, tr_jv *fr,
                                     const tr_loc *loc)
{
    tr_block *b = tr_req_add_block(d->p, out, TR_BLOCK_TOOL_RESULT);
    tr_jv *response = tr_rd_obj(&d->rd, fr, "response", TR_LOC(loc));
    tr_jv *parts = tr_rd_arr(&d->rd, fr, "parts", TR_LOC(loc));
    const char *output = tr_jv_get_str(response, "output");
    const char *error = tr_jv_get_str(response, "error");
    size_t i;
    tr_jv *part;

    b->name = tr_rd_str(&d->rd, fr, "name", TR_LOC(loc));
    b->tool_call_id = tr_rd_str(&d->rd, fr, "id", TR_LOC(loc));
    b->result_json = response;
    b->content = tr_req_blocks(d->p);
    if (!b->tool_call_id) {
        b->tool_call_id = match_pending_call(d, b->name);
        b->id_generated = 1;
    }
    if (!b->tool_call_id)
        b->tool_call_id = apr_psprintf(d->p, "call_%d_%d", loc->a, loc->b);
    if (tr_jv_size(response) == 1 && (output || error)) {
        b->is_error = error != NULL;
        tr_req_add_text(d->p, b->content, error ? error : output);
    } else if (response)
        tr_req_add_text(d->p, b->content, tr_req_json_text(d->p, response));
    /* Multimodal function responses (Gemini 3): inlineData parts. */
    tr_jv_array_foreach(parts, i, part)
    {
        tr_jv *media = tr_jv_get_object(part, "inlineData");
        tr_loc at = {"contents[%d].parts[%d].functionResponse.parts[%d]", loc->a, loc->b, (int) i};
        if (media)
            decode_media(d, b->content, media, 1, &at);
    }
}

static void decode_part(decoder *d, apr_array_header_t *out, tr_jv *part, const tr_loc *loc)
{
    tr_jv *v;
    const char *text;
    tr_block *b = NULL;
    int thought = 0;

    if (!tr_jv_is_object(part)) {
        tr_rd_fail(&d->rd, "'%s' must be a part object", apr_psprintf(d->p, TR_LOC(loc)));
        return;
    }
    text = tr_rd_str(&d->rd, part, "text", TR_LOC(loc));
    tr_rd_bool(&d->rd, part, "thought", &thought, TR_LOC(loc));
    if (text) {
        b = tr_req_add_block(d->p, out, thought ? TR_BLOCK_THINKING : TR_BLOCK_TEXT);
        b->text = text;
    } else if ((v = tr_jv_get_object(part, "inlineData")))
        decode_media(d, out, v, 1, loc);
    else if ((v = tr_jv_get_object(part, "fileData")))
        decode_media(d, out, v, 0, loc);
    else if ((v = tr_jv_get_object(part, "functionCall"))) {
        decode_function_call(d, out, v, loc);
        b = APR_ARRAY_IDX(out, out->nelts - 1, tr_block *);
    } else if ((v = tr_jv_get_object(part, "functionResponse")))
        decode_function_response(d, out, v, loc);
    else if (tr_jv_get_str(part, "thoughtSignature")) {
        b = tr_req_add_block(d->p, out, TR_BLOCK_THINKING); /* a bare signature part */
        b->text = "";
    }
    /* executableCode / codeExecutionResult ran on Google's side: dropped. */
    if (b)
        set_signature(b, part);
}

static void decode_contents(decoder *d)
{
    tr_jv *contents = tr_rd_arr(&d->rd, d->req->root, "contents", "");
    size_t i, j;
    tr_jv *content, *part;

    tr_jv_array_foreach(contents, i, content)
    {
        tr_loc loc = {"contents[%d]", (int) i, 0, 0};
        const char *role = tr_rd_str(&d->rd, content, "role", TR_LOC(&loc));
        tr_jv *parts = tr_rd_arr(&d->rd, content, "parts", TR_LOC(&loc));
        int r = role ? tr_req_word_value(roles, role, -1) : TR_ROLE_USER;
        tr_message *m;

        if (d->rd.failed)
            return;
        if (!tr_jv_is_object(content) || r < 0) {
            tr_rd_fail(&d->rd,
                       "'contents[%d]' must be an object with role \"user\" or "
                       "\"model\"",
                       (int) i);
            return;
        }
        m = tr_req_add_message(d->p, d->req, (tr_role) r);
        tr_jv_array_foreach(parts, j, part)
        {
            tr_loc at = {"contents[%d].parts[%d]", (int) i, (int) j, 0};
            if (d->rd.failed)
                return;
            decode_part(d, m->blocks, part, &at);
        }
    }
}

static void decode_system(decoder *d)
{
    tr_jv *si = tr_jv_get(d->req->root, "systemInstruction");
    size_t i;
    tr_jv *part;

    if (!si || tr_jv_is_null(si))
        return;
    d->req->system = tr_req_blocks(d->p);
    if (tr_jv_is_string(si)) {
        tr_req_add_text(d->p, d->req->system, tr_jv_str_value(si));
        return;
    }
    if (!tr_jv_is_object(si)) {
        tr_rd_fail(&d->rd, "'systemInstruction' must be a Content object");
        return;
    }
    tr_jv_array_foreach(tr_rd_arr(&d->rd, si, "parts", "systemInstruction"), i, part)
    {
        const char *text = tr_rd_str(&d->rd, part, "text", "systemInstruction.parts[%d]", (int) i);
        if (text)
            tr_req_add_text(d->p, d->req->system, text);
    }
}

static void decode_declaration(decoder *d, tr_jv *decl, const tr_loc *loc)
{
    tr_tool *tool = tr_req_add_tool(d->p, d->req);
    tr_jv *json_schema = tr_rd_obj(&d->rd, decl, "parametersJsonSchema", TR_LOC(loc));
    tr_jv *openapi = tr_rd_obj(&d->rd, decl, "parameters", TR_LOC(loc));

    tool->type = "function";
    tool->raw = decl;
    tool->name = tr_rd_str(&d->rd, decl, "name", TR_LOC(loc));
    tool->description = tr_rd_str(&d->rd, decl, "description", TR_LOC(loc));
    /* Both spellings accepted; the IR holds JSON Schema. */
    if (json_schema)
        tool->parameters = json_schema;
    else if (openapi)
        tool->parameters = tr_gemini_schema_to_json_schema(d->p, openapi);
    if (!d->rd.failed && !tool->name)
        tr_rd_fail(&d->rd, "'%s.name' is required", apr_psprintf(d->p, TR_LOC(loc)));
}

static void decode_tools(decoder *d)
{
    tr_jv *tools = tr_rd_arr(&d->rd, d->req->root, "tools", "");
    size_t i, j;
    tr_jv *t, *decl;

    tr_jv_array_foreach(tools, i, t)
    {
        tr_jv *decls = tr_rd_arr(&d->rd, t, "functionDeclarations", "tools[%d]", (int) i);
        if (d->rd.failed)
            return;
        if (!tr_jv_is_object(t)) {
            tr_rd_fail(&d->rd, "'tools[%d]' must be an object", (int) i);
            return;
        }
        tr_jv_array_foreach(decls, j, decl)
        {
            tr_loc loc = {"tools[%d].functionDeclarations[%d]", (int) i, (int) j, 0};
            if (!tr_jv_is_object(decl)) {
                tr_rd_fail(&d->rd, "'%s' must be an object", apr_psprintf(d->p, TR_LOC(&loc)));
                return;
            }
            decode_declaration(d, decl, &loc);
        }
        if (!decls && tr_jv_size(t)) {
            /* googleSearch, codeExecution, urlContext ...: named by their one key */
            tr_tool *tool = tr_req_add_tool(d->p, d->req);
            tool->type = tr_jv_first_key(t);
            tool->raw = t;
        }
    }
}

static void decode_tool_config(decoder *d)
{
    tr_jv *fcc = tr_jv_get_object(tr_rd_obj(&d->rd, d->req->root, "toolConfig", ""),
                                  "functionCallingConfig");
    tr_jv *names =
        tr_rd_arr(&d->rd, fcc, "allowedFunctionNames", "toolConfig.functionCallingConfig");
    const char *mode = tr_rd_str(&d->rd, fcc, "mode", "toolConfig.functionCallingConfig");
    size_t i;
    tr_jv *name;

    d->req->tool_choice = (tr_tool_choice) tr_req_word_value(modes, mode, 0);
    tr_jv_array_foreach(names, i, name)
    {
        if (tr_jv_is_string(name))
            tr_req_add_allowed_tool(d->p, d->req, tr_jv_str_value(name));
    }
    /* ANY limited to one function is a named choice everywhere else. */
    if (d->req->tool_choice == TR_TOOL_CHOICE_ANY && d->req->tool_choice_allowed &&
        d->req->tool_choice_allowed->nelts == 1) {
        d->req->tool_choice = TR_TOOL_CHOICE_NAMED;
        d->req->tool_choice_name = APR_ARRAY_IDX(d->req->tool_choice_allowed, 0, const char *);
        /* the name says it all: the other declarations stay (the history may call them) */
        d->req->tool_choice_allowed = NULL;
    }
}

static void decode_thinking_config(decoder *d, tr_jv *gc)
{
    tr_jv *tc = tr_rd_obj(&d->rd, gc, "thinkingConfig", "generationConfig");
    long budget;
    int include;

    if (!tc)
        return;
    if (tr_rd_int(&d->rd, tc, "thinkingBudget", &budget, "generationConfig.thinkingConfig")) {
        /* -1: dynamic (the model decides), 0: off */
        d->req->thinking = budget != 0;
        d->req->thinking_budget = budget > 0 ? budget : 0;
    }
    d->req->reasoning_effort =
        tr_rd_str(&d->rd, tc, "thinkingLevel", "generationConfig.thinkingConfig");
    if (d->req->reasoning_effort) {
        d->req->reasoning_effort = apr_pstrdup(d->p, d->req->reasoning_effort);
        for (char *c = (char *) d->req->reasoning_effort; *c; c++)
            *c = (char) (*c >= 'A' && *c <= 'Z' ? *c + 32 : *c); /* "HIGH" -> "high" */
        d->req->thinking = 1;
    }
    if (tr_rd_bool(&d->rd, tc, "includeThoughts", &include, "generationConfig.thinkingConfig"))
        d->req->include_thoughts = include;
}

static void decode_generation_config(decoder *d)
{
    tr_request *req = d->req;
    tr_jv *gc = tr_rd_obj(&d->rd, req->root, "generationConfig", "");
    tr_jv *stops = tr_rd_arr(&d->rd, gc, "stopSequences", "generationConfig");
    const char *mime = tr_rd_str(&d->rd, gc, "responseMimeType", "generationConfig");
    tr_jv *schema = tr_rd_obj(&d->rd, gc, "responseJsonSchema", "generationConfig");
    tr_jv *openapi = tr_rd_obj(&d->rd, gc, "responseSchema", "generationConfig");
    size_t i;
    tr_jv *s;

    if (!gc)
        return;
    tr_rd_real_into(&d->rd, gc, "temperature", &req->temperature, &req->has_temperature,
                    "generationConfig");
    tr_rd_real_into(&d->rd, gc, "topP", &req->top_p, &req->has_top_p, "generationConfig");
    tr_rd_real_into(&d->rd, gc, "presencePenalty", &req->presence_penalty,
                    &req->has_presence_penalty, "generationConfig");
    tr_rd_real_into(&d->rd, gc, "frequencyPenalty", &req->frequency_penalty,
                    &req->has_frequency_penalty, "generationConfig");
    tr_rd_int(&d->rd, gc, "topK", &req->top_k, "generationConfig");
    tr_rd_int(&d->rd, gc, "maxOutputTokens", &req->max_tokens, "generationConfig");
    tr_rd_int(&d->rd, gc, "candidateCount", &req->n, "generationConfig");
    req->has_seed = tr_rd_int(&d->rd, gc, "seed", &req->seed, "generationConfig");
    tr_jv_array_foreach(stops, i, s)
    {
        if (tr_jv_is_string(s))
            tr_req_add_stop(d->p, req, tr_jv_str_value(s));
    }
    if (mime && !strcmp(mime, "application/json")) {
        req->format = schema || openapi ? TR_FORMAT_JSON_SCHEMA : TR_FORMAT_JSON_OBJECT;
        req->format_schema = schema ? schema : tr_gemini_schema_to_json_schema(d->p, openapi);
    }
    decode_thinking_config(d, gc);
}

int tr_gemini_request_decode(apr_pool_t *p, tr_request *req, aiproxy_error *err)
{
    decoder d = {p, req, {0}, apr_array_make(p, 4, sizeof(pending_call))};
    const char *cached = NULL;

    tr_rd_init(&d.rd, p, err);
    decode_system(&d);
    decode_contents(&d);
    decode_tools(&d);
    decode_tool_config(&d);
    tr_req_read_stream_function_call_arguments(&d.rd, req);
    decode_generation_config(&d);
    cached = tr_rd_str(&d.rd, req->root, "cachedContent", "");
    if (cached && *cached) {
        req->server_state_field = "cachedContent";
        req->server_state = cached;
    }
    tr_req_resolve_result_names(p, req);
    return tr_rd_status(&d.rd);
}

/* ============================================================================================
 * encode
 * ============================================================================================ */

typedef tr_req_encoder encoder;

static void set_gemini_signature(tr_jv *part, const tr_block *b)
{
    if (tr_req_signed_by(b, AIPROXY_PROTO_GEMINI))
        tr_jv_set_str(part, "thoughtSignature", b->signature);
}

static int encode_media(encoder *e, tr_jv *parts, const tr_block *b)
{
    tr_jv *part, *media;

    if (tr_req_check_file_id(e->p, e->req, b, AIPROXY_PROTO_GEMINI, e->err))
        return e->err->status;
    if (b->kind == TR_BLOCK_DOCUMENT && b->text && !b->data) {
        tr_jv_set_str(tr_jv_push_object(parts), "text", b->text);
        return 0;
    }
    part = tr_jv_push_object(parts);
    if (b->data) {
        media = tr_jv_set_object(part, "inlineData");
        tr_jv_set_str(media, "mimeType",
                      b->media_type ? b->media_type : "application/octet-stream");
        tr_jv_set_str(media, "data", b->data);
    } else if (b->url) {
        media = tr_jv_set_object(part, "fileData");
        tr_jv_set_str(media, "mimeType",
                      b->media_type ? b->media_type
                                    : tr_req_media_type_from_url(b->url, b->kind == TR_BLOCK_IMAGE
                                                                             ? "image/jpeg"
                                                                             : "application/pdf"));
        tr_jv_set_str(media, "fileUri", b->url);
    }
    return 0;
}

/* functionResponse, then the result's media as parts of the same turn: a functionResponse
 * holds no images on every Gemini model, a following inlineData part does. */
static int encode_function_response(encoder *e, tr_jv *parts, const tr_block *b)
{
    tr_jv *part = tr_jv_push_object(parts);
    tr_jv *fr = tr_jv_set_object(part, "functionResponse");

    tr_jv_set_str(fr, "name", b->name ? b->name : b->tool_call_id);
    if (!b->id_generated)
        tr_jv_set_str(fr, "id", b->tool_call_id);
    if (b->result_json)
        tr_req_set_copy(fr, "response", b->result_json);
    else
        tr_jv_set_str(tr_jv_set_object(fr, "response"), b->is_error ? "error" : "output",
                      tr_req_join_text(e->p, b->content, TR_BLOCK_TEXT, "\n"));
    for (int i = 0; b->content && i < b->content->nelts; i++) {
        const tr_block *c = APR_ARRAY_IDX(b->content, i, tr_block *);
        if (c->kind != TR_BLOCK_TEXT && encode_media(e, parts, c))
            return e->err->status;
    }
    return 0;
}

static int encode_block(encoder *e, tr_jv *parts, const tr_block *b, int *calls_in_turn)
{
    tr_jv *part, *fc;

    switch (b->kind) {
    case TR_BLOCK_TEXT:
        if ((!b->text || !*b->text) && !tr_req_signed_by(b, AIPROXY_PROTO_GEMINI))
            return 0;
        part = tr_jv_push_object(parts);
        tr_jv_set_str(part, "text", b->text ? b->text : "");
        set_gemini_signature(part, b);
        return 0;
    case TR_BLOCK_IMAGE:
    case TR_BLOCK_DOCUMENT:
        return encode_media(e, parts, b);
    case TR_BLOCK_THINKING:
        /* Thoughts go back to Gemini only (to other models they are unverifiable text). */
        if (!tr_req_signed_by(b, AIPROXY_PROTO_GEMINI) && e->req->proto != AIPROXY_PROTO_GEMINI)
            return 0;
        part = tr_jv_push_object(parts);
        if (b->text && *b->text) {
            tr_jv_set_str(part, "text", b->text);
            tr_jv_set_bool(part, "thought", 1);
        }
        set_gemini_signature(part, b);
        if (tr_jv_size(part) == 0)
            tr_jv_remove(parts, tr_jv_size(parts) - 1);
        return 0;
    case TR_BLOCK_TOOL_CALL:
        part = tr_jv_push_object(parts);
        fc = tr_jv_set_object(part, "functionCall");
        tr_jv_set_str(fc, "name", b->name);
        tr_jv_set(fc, "args", tr_req_arguments_object(e->p, b->arguments));
        if (!b->id_generated)
            tr_jv_set_str(fc, "id", b->id);
        if (tr_req_signed_by(b, AIPROXY_PROTO_GEMINI))
            set_gemini_signature(part, b);
        else if (e->req->proto != AIPROXY_PROTO_GEMINI && (*calls_in_turn)++ == 0)
            tr_jv_set_str(part, "thoughtSignature", GEMINI_FOREIGN_CALL_SIGNATURE);
        return 0;
    case TR_BLOCK_TOOL_RESULT:
        return encode_function_response(e, parts, b);
    default:
        return 0; /* redacted thinking is Anthropic's alone */
    }
}

static void encode_system(encoder *e, tr_jv *body)
{
    apr_array_header_t *system = tr_req_hoisted_system(e->p, e->req);
    tr_jv *parts;

    if (!system->nelts)
        return;
    parts = tr_jv_set_array(tr_jv_set_object(body, "systemInstruction"), "parts");
    for (int i = 0; i < system->nelts; i++)
        tr_jv_set_str(tr_jv_push_object(parts), "text", APR_ARRAY_IDX(system, i, tr_block *)->text);
}

static int encode_contents(encoder *e, tr_jv *body)
{
    tr_jv *contents = tr_jv_set_array(body, "contents");

    for (int i = 0; e->req->messages && i < e->req->messages->nelts; i++) {
        const tr_message *m = APR_ARRAY_IDX(e->req->messages, i, tr_message *);
        tr_jv *content, *parts;
        int calls_in_turn = 0;

        if (m->role == TR_ROLE_SYSTEM)
            continue; /* merged into systemInstruction */
        content = tr_jv_push_object(contents);
        tr_jv_set_str(content, "role", m->role == TR_ROLE_ASSISTANT ? "model" : "user");
        parts = tr_jv_set_array(content, "parts");
        for (int j = 0; j < m->blocks->nelts; j++) {
            int rc =
                encode_block(e, parts, APR_ARRAY_IDX(m->blocks, j, tr_block *), &calls_in_turn);
            if (rc)
                return rc;
        }
        if (tr_jv_size(parts) == 0) /* Gemini refuses empty turns */
            tr_jv_remove(contents, tr_jv_size(contents) - 1);
    }
    return 0;
}

static void encode_declaration(encoder *e, tr_jv *decls, const tr_tool *t)
{
    tr_jv *decl, *params;

    if (e->req->proto == AIPROXY_PROTO_GEMINI && t->raw) {
        tr_jv_push(decls, tr_jv_copy(e->p, t->raw));
        return;
    }
    decl = tr_jv_push_object(decls);
    tr_jv_set_str(decl, "name", t->name);
    tr_jv_set_str(decl, "description", t->description);
    params = t->parameters ? tr_gemini_schema_from_json_schema(e->p, t->parameters) : NULL;
    if (params)
        tr_jv_set(decl, "parameters", params);
}

/* toolConfig.functionCallingConfig of body, made when missing. */
static tr_jv *function_calling_config(tr_jv *body)
{
    tr_jv *tc = tr_jv_get_object(body, "toolConfig");
    tr_jv *fcc = tr_jv_get_object(tc, "functionCallingConfig");

    if (!tc)
        tc = tr_jv_set_object(body, "toolConfig");
    return fcc ? fcc : tr_jv_set_object(tc, "functionCallingConfig");
}

static void encode_tools(encoder *e, tr_jv *body)
{
    const tr_request *req = e->req;
    tr_jv *tools = tr_jv_set_array(body, "tools");
    tr_jv *decls = tr_jv_set_array(tr_jv_push_object(tools), "functionDeclarations");
    tr_jv *fcc;

    for (int i = 0; req->tools && i < req->tools->nelts; i++) {
        const tr_tool *t = APR_ARRAY_IDX(req->tools, i, tr_tool *);
        if (t->type && !strcmp(t->type, "function") && t->name) {
            /* Gemini limits the callable functions only in mode ANY (allowedFunctionNames,
             * below); under AUTO the others are not declared at all, as elsewhere. */
            if (req->tool_choice == TR_TOOL_CHOICE_AUTO && !tr_req_tool_allowed(req, t->name))
                continue;
            encode_declaration(e, decls, t);
        } else if (req->proto == AIPROXY_PROTO_GEMINI && t->raw)
            tr_jv_push(tools, tr_jv_copy(e->p, t->raw)); /* googleSearch ... */
        /* other protocols' hosted tools: not expressible, dropped */
    }
    if (tr_jv_size(decls) == 0)
        tr_jv_remove(tools, 0);
    if (tr_jv_size(tools) == 0) {
        tr_jv_del(body, "tools");
        return;
    }
    /* Only asked for when the answer streams: it is how the arguments travel in a stream, and
     * only some models (Vertex AI, Gemini 3) accept it, so only clients that want it ask. */
    if (req->stream_tool_arguments && e->target->stream && tr_jv_size(decls))
        tr_jv_set_bool(function_calling_config(body), "streamFunctionCallArguments", 1);
    if (!req->tool_choice && !req->tool_choice_allowed)
        return;
    fcc = function_calling_config(body);
    tr_jv_set_str(
        fcc, "mode",
        tr_req_value_word(modes, req->tool_choice ? req->tool_choice : TR_TOOL_CHOICE_AUTO));
    if (req->tool_choice == TR_TOOL_CHOICE_NAMED)
        tr_jv_set(fcc, "allowedFunctionNames",
                  tr_jv_pack(e->p, "[s]", req->tool_choice_name ? req->tool_choice_name : ""));
    else if (req->tool_choice_allowed &&
             (req->tool_choice == TR_TOOL_CHOICE_ANY || !req->tool_choice)) {
        tr_jv *names = tr_jv_set_array(fcc, "allowedFunctionNames");
        for (int i = 0; i < req->tool_choice_allowed->nelts; i++)
            tr_jv_push_str(names, APR_ARRAY_IDX(req->tool_choice_allowed, i, const char *));
        if (!req->tool_choice) /* allowed names need mode ANY */
            tr_jv_set_str(fcc, "mode", "ANY");
    }
}

static void encode_thinking(encoder *e, tr_jv *gc)
{
    const tr_request *req = e->req;
    tr_jv *tc;
    int on = req->thinking == 1 ||
             (req->thinking != 0 && (req->thinking_budget > 0 || req->reasoning_effort));

    /* Off is left to the model's default: several Gemini models cannot think less than
     * their minimum, and would refuse a budget of 0. */
    if (!on && !req->include_thoughts)
        return;
    tc = tr_jv_set_object(gc, "thinkingConfig");
    if (on && req->thinking_budget > 0)
        tr_jv_set_int(tc, "thinkingBudget", req->thinking_budget);
    else if (on && req->reasoning_effort && req->proto == AIPROXY_PROTO_GEMINI)
        tr_jv_set_str(tc, "thinkingLevel", req->reasoning_effort);
    else if (on && tr_req_effort_budget(req->reasoning_effort) > 0)
        tr_jv_set_int(tc, "thinkingBudget", tr_req_effort_budget(req->reasoning_effort));
    else if (on)
        tr_jv_set_int(tc, "thinkingBudget", -1); /* dynamic: adaptive thinking */
    if (req->include_thoughts && req->thinking != 0)
        tr_jv_set_bool(tc, "includeThoughts", 1);
    tr_req_drop_empty(gc, "thinkingConfig");
}

static void encode_generation_config(encoder *e, tr_jv *body)
{
    const tr_request *req = e->req;
    tr_jv *gc = tr_jv_set_object(body, "generationConfig");

    if (req->has_temperature)
        tr_jv_set_real(gc, "temperature", req->temperature);
    if (req->has_top_p)
        tr_jv_set_real(gc, "topP", req->top_p);
    if (req->top_k > 0)
        tr_jv_set_int(gc, "topK", req->top_k);
    if (req->max_tokens > 0)
        tr_jv_set_int(gc, "maxOutputTokens", req->max_tokens);
    if (req->has_seed)
        tr_jv_set_int(gc, "seed", req->seed);
    if (req->has_presence_penalty)
        tr_jv_set_real(gc, "presencePenalty", req->presence_penalty);
    if (req->has_frequency_penalty)
        tr_jv_set_real(gc, "frequencyPenalty", req->frequency_penalty);
    if (req->stop && req->stop->nelts) {
        tr_jv *stops = tr_jv_set_array(gc, "stopSequences");
        for (int i = 0; i < req->stop->nelts; i++)
            tr_jv_push_str(stops, APR_ARRAY_IDX(req->stop, i, const char *));
    }
    if (req->format == TR_FORMAT_JSON_OBJECT || req->format == TR_FORMAT_JSON_SCHEMA) {
        /* A Gemini client's own responseSchema / responseJsonSchema comes back unchanged with
         * the unclaimed keys (encode_request); a converted copy would send both. */
        tr_jv *schema = req->format_schema && req->proto != AIPROXY_PROTO_GEMINI
                            ? tr_gemini_schema_from_json_schema(e->p, req->format_schema)
                            : NULL;
        tr_jv_set_str(gc, "responseMimeType", "application/json");
        if (schema)
            tr_jv_set(gc, "responseSchema", schema);
    }
    encode_thinking(e, gc);
    tr_req_drop_empty(body, "generationConfig");
}

static int encode_request(encoder *e, tr_jv *body)
{
    int rc;

    if ((rc = tr_req_check_server_state(e->p, e->req, AIPROXY_PROTO_GEMINI, e->err)) ||
        (rc = tr_req_check_single_answer(e->p, e->req, AIPROXY_PROTO_GEMINI, e->err)))
        return rc;
    /* model and streaming travel in the URL (codec/gemini.c request_path) */
    encode_system(e, body);
    if ((rc = encode_contents(e, body)))
        return rc;
    encode_tools(e, body);
    encode_generation_config(e, body);
    if (e->req->proto == AIPROXY_PROTO_GEMINI)
        tr_req_keep_unclaimed(body, e->req->root, NULL);
    return 0;
}

int tr_gemini_request_encode(apr_pool_t *p, const tr_request *req, const aiproxy_target *target,
                             tr_jv **body, aiproxy_error *err)
{
    encoder e = {p, req, target, err};
    tr_jv *out = tr_jv_object(p);
    return tr_req_finish_body(out, encode_request(&e, out), body);
}
