/*
 * tr_gemini_request.c: Gemini generateContent request body <-> IR.
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
#include "tr_json.h"
#include "tr_protocols.h"
#include "tr_req_schema.h"
#include "tr_req_util.h"

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

static void set_signature(tr_block *b, json_t *part)
{
    const char *sig = tr_json_str(part, "thoughtSignature");
    if (sig && *sig) {
        b->signature = sig;
        b->has_signature = 1;
        b->sig_proto = AIPROXY_PROTO_GEMINI;
    }
}

/* inlineData / fileData: image or document by media type. */
static void decode_media(decoder *d, apr_array_header_t *out, json_t *media, int inline_data,
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

static void decode_function_call(decoder *d, apr_array_header_t *out, json_t *call,
                                 const tr_loc *loc)
{
    tr_block *b = tr_req_add_block(d->p, out, TR_BLOCK_TOOL_CALL);
    json_t *args = tr_rd_obj(&d->rd, call, "args", TR_LOC(loc));

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
static void decode_function_response(decoder *d, apr_array_header_t *out, json_t *fr,
                                     const tr_loc *loc)
{
    tr_block *b = tr_req_add_block(d->p, out, TR_BLOCK_TOOL_RESULT);
    json_t *response = tr_rd_obj(&d->rd, fr, "response", TR_LOC(loc));
    json_t *parts = tr_rd_arr(&d->rd, fr, "parts", TR_LOC(loc));
    const char *output = tr_json_str(response, "output");
    const char *error = tr_json_str(response, "error");
    size_t i;
    json_t *part;

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
    if (json_object_size(response) == 1 && (output || error)) {
        b->is_error = error != NULL;
        tr_req_add_text(d->p, b->content, error ? error : output);
    } else if (response)
        tr_req_add_text(d->p, b->content, tr_req_json_text(d->p, response));
    /* Multimodal function responses (Gemini 3): inlineData parts. */
    json_array_foreach(parts, i, part)
    {
        json_t *media = tr_json_obj(part, "inlineData");
        tr_loc at = {"contents[%d].parts[%d].functionResponse.parts[%d]", loc->a, loc->b, (int) i};
        if (media)
            decode_media(d, b->content, media, 1, &at);
    }
}

static void decode_part(decoder *d, apr_array_header_t *out, json_t *part, const tr_loc *loc)
{
    json_t *v;
    const char *text;
    tr_block *b = NULL;
    int thought = 0;

    if (!json_is_object(part)) {
        tr_rd_fail(&d->rd, "'%s' must be a part object", apr_psprintf(d->p, TR_LOC(loc)));
        return;
    }
    text = tr_rd_str(&d->rd, part, "text", TR_LOC(loc));
    tr_rd_bool(&d->rd, part, "thought", &thought, TR_LOC(loc));
    if (text) {
        b = tr_req_add_block(d->p, out, thought ? TR_BLOCK_THINKING : TR_BLOCK_TEXT);
        b->text = text;
    } else if ((v = tr_json_obj(part, "inlineData")))
        decode_media(d, out, v, 1, loc);
    else if ((v = tr_json_obj(part, "fileData")))
        decode_media(d, out, v, 0, loc);
    else if ((v = tr_json_obj(part, "functionCall"))) {
        decode_function_call(d, out, v, loc);
        b = APR_ARRAY_IDX(out, out->nelts - 1, tr_block *);
    } else if ((v = tr_json_obj(part, "functionResponse")))
        decode_function_response(d, out, v, loc);
    else if (tr_json_str(part, "thoughtSignature")) {
        b = tr_req_add_block(d->p, out, TR_BLOCK_THINKING); /* a bare signature part */
        b->text = "";
    }
    /* executableCode / codeExecutionResult ran on Google's side: dropped. */
    if (b)
        set_signature(b, part);
}

static void decode_contents(decoder *d)
{
    json_t *contents = tr_rd_arr(&d->rd, d->req->root, "contents", "");
    size_t i, j;
    json_t *content, *part;

    json_array_foreach(contents, i, content)
    {
        tr_loc loc = {"contents[%d]", (int) i, 0, 0};
        const char *role = tr_rd_str(&d->rd, content, "role", TR_LOC(&loc));
        json_t *parts = tr_rd_arr(&d->rd, content, "parts", TR_LOC(&loc));
        int r = role ? tr_req_word_value(roles, role, -1) : TR_ROLE_USER;
        tr_message *m;

        if (d->rd.failed)
            return;
        if (!json_is_object(content) || r < 0) {
            tr_rd_fail(&d->rd,
                       "'contents[%d]' must be an object with role \"user\" or "
                       "\"model\"",
                       (int) i);
            return;
        }
        m = tr_req_add_message(d->p, d->req, (tr_role) r);
        json_array_foreach(parts, j, part)
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
    json_t *si = json_object_get(d->req->root, "systemInstruction");
    size_t i;
    json_t *part;

    if (!si || json_is_null(si))
        return;
    d->req->system = tr_req_blocks(d->p);
    if (json_is_string(si)) {
        tr_req_add_text(d->p, d->req->system, json_string_value(si));
        return;
    }
    if (!json_is_object(si)) {
        tr_rd_fail(&d->rd, "'systemInstruction' must be a Content object");
        return;
    }
    json_array_foreach(tr_rd_arr(&d->rd, si, "parts", "systemInstruction"), i, part)
    {
        const char *text = tr_rd_str(&d->rd, part, "text", "systemInstruction.parts[%d]", (int) i);
        if (text)
            tr_req_add_text(d->p, d->req->system, text);
    }
}

static void decode_declaration(decoder *d, json_t *decl, const tr_loc *loc)
{
    tr_tool *tool = tr_req_add_tool(d->p, d->req);
    json_t *json_schema = tr_rd_obj(&d->rd, decl, "parametersJsonSchema", TR_LOC(loc));
    json_t *openapi = tr_rd_obj(&d->rd, decl, "parameters", TR_LOC(loc));

    tool->type = "function";
    tool->raw = decl;
    tool->name = tr_rd_str(&d->rd, decl, "name", TR_LOC(loc));
    tool->description = tr_rd_str(&d->rd, decl, "description", TR_LOC(loc));
    /* Both spellings accepted; the IR holds JSON Schema. */
    if (json_schema)
        tool->parameters = json_schema;
    else if (openapi)
        tool->parameters = tr_json_own(d->p, tr_req_schema_from_gemini(openapi));
    if (!d->rd.failed && !tool->name)
        tr_rd_fail(&d->rd, "'%s.name' is required", apr_psprintf(d->p, TR_LOC(loc)));
}

static void decode_tools(decoder *d)
{
    json_t *tools = tr_rd_arr(&d->rd, d->req->root, "tools", "");
    size_t i, j;
    json_t *t, *decl;

    json_array_foreach(tools, i, t)
    {
        json_t *decls = tr_rd_arr(&d->rd, t, "functionDeclarations", "tools[%d]", (int) i);
        if (d->rd.failed)
            return;
        if (!json_is_object(t)) {
            tr_rd_fail(&d->rd, "'tools[%d]' must be an object", (int) i);
            return;
        }
        json_array_foreach(decls, j, decl)
        {
            tr_loc loc = {"tools[%d].functionDeclarations[%d]", (int) i, (int) j, 0};
            if (!json_is_object(decl)) {
                tr_rd_fail(&d->rd, "'%s' must be an object", apr_psprintf(d->p, TR_LOC(&loc)));
                return;
            }
            decode_declaration(d, decl, &loc);
        }
        if (!decls && json_object_size(t)) {
            /* googleSearch, codeExecution, urlContext ...: named by their one key */
            tr_tool *tool = tr_req_add_tool(d->p, d->req);
            tool->type = json_object_iter_key(json_object_iter(t));
            tool->raw = t;
        }
    }
}

static void decode_tool_config(decoder *d)
{
    json_t *fcc =
        tr_json_obj(tr_rd_obj(&d->rd, d->req->root, "toolConfig", ""), "functionCallingConfig");
    json_t *names =
        tr_rd_arr(&d->rd, fcc, "allowedFunctionNames", "toolConfig.functionCallingConfig");
    const char *mode = tr_rd_str(&d->rd, fcc, "mode", "toolConfig.functionCallingConfig");
    size_t i;
    json_t *name;

    d->req->tool_choice = (tr_tool_choice) tr_req_word_value(modes, mode, 0);
    json_array_foreach(names, i, name)
    {
        if (json_is_string(name))
            tr_req_add_allowed_tool(d->p, d->req, json_string_value(name));
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

static void decode_thinking_config(decoder *d, json_t *gc)
{
    json_t *tc = tr_rd_obj(&d->rd, gc, "thinkingConfig", "generationConfig");
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
    json_t *gc = tr_rd_obj(&d->rd, req->root, "generationConfig", "");
    json_t *stops = tr_rd_arr(&d->rd, gc, "stopSequences", "generationConfig");
    const char *mime = tr_rd_str(&d->rd, gc, "responseMimeType", "generationConfig");
    json_t *schema = tr_rd_obj(&d->rd, gc, "responseJsonSchema", "generationConfig");
    json_t *openapi = tr_rd_obj(&d->rd, gc, "responseSchema", "generationConfig");
    size_t i;
    json_t *s;

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
    json_array_foreach(stops, i, s)
    {
        if (json_is_string(s))
            tr_req_add_stop(d->p, req, json_string_value(s));
    }
    if (mime && !strcmp(mime, "application/json")) {
        req->format = schema || openapi ? TR_FORMAT_JSON_SCHEMA : TR_FORMAT_JSON_OBJECT;
        req->format_schema =
            schema ? schema : tr_json_own(d->p, tr_req_schema_from_gemini(openapi));
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

typedef struct {
    apr_pool_t *p;
    const tr_request *req;
    const aiproxy_target *target;
    aiproxy_error *err;
} encoder;

static void set_gemini_signature(json_t *part, const tr_block *b)
{
    if (tr_req_signed_by(b, AIPROXY_PROTO_GEMINI))
        tr_req_set_str(part, "thoughtSignature", b->signature);
}

static int encode_media(encoder *e, json_t *parts, const tr_block *b)
{
    json_t *part, *media;

    if (tr_req_check_file_id(e->p, e->req, b, AIPROXY_PROTO_GEMINI, e->err))
        return e->err->status;
    if (b->kind == TR_BLOCK_DOCUMENT && b->text && !b->data) {
        tr_req_set_str(tr_req_push_obj(parts), "text", b->text);
        return 0;
    }
    part = tr_req_push_obj(parts);
    if (b->data) {
        media = tr_req_set_obj(part, "inlineData");
        tr_req_set_str(media, "mimeType",
                       b->media_type ? b->media_type : "application/octet-stream");
        tr_req_set_str(media, "data", b->data);
    } else if (b->url) {
        media = tr_req_set_obj(part, "fileData");
        tr_req_set_str(media, "mimeType",
                       b->media_type ? b->media_type
                                     : tr_req_media_type_from_url(b->url, b->kind == TR_BLOCK_IMAGE
                                                                              ? "image/jpeg"
                                                                              : "application/pdf"));
        tr_req_set_str(media, "fileUri", b->url);
    }
    return 0;
}

/* functionResponse, then the result's media as parts of the same turn: a functionResponse
 * holds no images on every Gemini model, a following inlineData part does. */
static int encode_function_response(encoder *e, json_t *parts, const tr_block *b)
{
    json_t *part = tr_req_push_obj(parts);
    json_t *fr = tr_req_set_obj(part, "functionResponse");

    tr_req_set_str(fr, "name", b->name ? b->name : b->tool_call_id);
    if (!b->id_generated)
        tr_req_set_str(fr, "id", b->tool_call_id);
    if (b->result_json)
        tr_req_set_copy(fr, "response", b->result_json);
    else
        tr_req_set_str(tr_req_set_obj(fr, "response"), b->is_error ? "error" : "output",
                       tr_req_join_text(e->p, b->content, TR_BLOCK_TEXT, "\n"));
    for (int i = 0; b->content && i < b->content->nelts; i++) {
        const tr_block *c = APR_ARRAY_IDX(b->content, i, tr_block *);
        if (c->kind != TR_BLOCK_TEXT && encode_media(e, parts, c))
            return e->err->status;
    }
    return 0;
}

static int encode_block(encoder *e, json_t *parts, const tr_block *b, int *calls_in_turn)
{
    json_t *part, *fc;

    switch (b->kind) {
    case TR_BLOCK_TEXT:
        if ((!b->text || !*b->text) && !tr_req_signed_by(b, AIPROXY_PROTO_GEMINI))
            return 0;
        part = tr_req_push_obj(parts);
        tr_req_set_str(part, "text", b->text ? b->text : "");
        set_gemini_signature(part, b);
        return 0;
    case TR_BLOCK_IMAGE:
    case TR_BLOCK_DOCUMENT:
        return encode_media(e, parts, b);
    case TR_BLOCK_THINKING:
        /* Thoughts go back to Gemini only (to other models they are unverifiable text). */
        if (!tr_req_signed_by(b, AIPROXY_PROTO_GEMINI) && e->req->proto != AIPROXY_PROTO_GEMINI)
            return 0;
        part = tr_req_push_obj(parts);
        if (b->text && *b->text) {
            tr_req_set_str(part, "text", b->text);
            json_object_set_new(part, "thought", json_true());
        }
        set_gemini_signature(part, b);
        if (json_object_size(part) == 0)
            json_array_remove(parts, json_array_size(parts) - 1);
        return 0;
    case TR_BLOCK_TOOL_CALL:
        part = tr_req_push_obj(parts);
        fc = tr_req_set_obj(part, "functionCall");
        tr_req_set_str(fc, "name", b->name);
        json_object_set_new(fc, "args", tr_req_arguments_object(b->arguments));
        if (!b->id_generated)
            tr_req_set_str(fc, "id", b->id);
        if (tr_req_signed_by(b, AIPROXY_PROTO_GEMINI))
            set_gemini_signature(part, b);
        else if (e->req->proto != AIPROXY_PROTO_GEMINI && (*calls_in_turn)++ == 0)
            tr_req_set_str(part, "thoughtSignature", GEMINI_FOREIGN_CALL_SIGNATURE);
        return 0;
    case TR_BLOCK_TOOL_RESULT:
        return encode_function_response(e, parts, b);
    default:
        return 0; /* redacted thinking is Anthropic's alone */
    }
}

static void encode_system(encoder *e, json_t *body)
{
    apr_array_header_t *system = tr_req_hoisted_system(e->p, e->req);
    json_t *parts;

    if (!system->nelts)
        return;
    parts = tr_req_set_arr(tr_req_set_obj(body, "systemInstruction"), "parts");
    for (int i = 0; i < system->nelts; i++)
        tr_req_set_str(tr_req_push_obj(parts), "text", APR_ARRAY_IDX(system, i, tr_block *)->text);
}

static int encode_contents(encoder *e, json_t *body)
{
    json_t *contents = tr_req_set_arr(body, "contents");

    for (int i = 0; e->req->messages && i < e->req->messages->nelts; i++) {
        const tr_message *m = APR_ARRAY_IDX(e->req->messages, i, tr_message *);
        json_t *content, *parts;
        int calls_in_turn = 0;

        if (m->role == TR_ROLE_SYSTEM)
            continue; /* merged into systemInstruction */
        content = tr_req_push_obj(contents);
        tr_req_set_str(content, "role", m->role == TR_ROLE_ASSISTANT ? "model" : "user");
        parts = tr_req_set_arr(content, "parts");
        for (int j = 0; j < m->blocks->nelts; j++) {
            int rc =
                encode_block(e, parts, APR_ARRAY_IDX(m->blocks, j, tr_block *), &calls_in_turn);
            if (rc)
                return rc;
        }
        if (json_array_size(parts) == 0) /* Gemini refuses empty turns */
            json_array_remove(contents, json_array_size(contents) - 1);
    }
    return 0;
}

static void encode_declaration(encoder *e, json_t *decls, const tr_tool *t)
{
    json_t *decl, *params;

    if (e->req->proto == AIPROXY_PROTO_GEMINI && t->raw) {
        json_array_append_new(decls, json_deep_copy(t->raw));
        return;
    }
    decl = tr_req_push_obj(decls);
    tr_req_set_str(decl, "name", t->name);
    tr_req_set_str(decl, "description", t->description);
    params = t->parameters ? tr_req_schema_to_gemini(t->parameters) : NULL;
    if (params)
        json_object_set_new(decl, "parameters", params);
}

static void encode_tools(encoder *e, json_t *body)
{
    const tr_request *req = e->req;
    json_t *tools = tr_req_set_arr(body, "tools");
    json_t *decls = tr_req_set_arr(tr_req_push_obj(tools), "functionDeclarations");
    json_t *fcc;

    for (int i = 0; req->tools && i < req->tools->nelts; i++) {
        const tr_tool *t = APR_ARRAY_IDX(req->tools, i, tr_tool *);
        if (t->type && !strcmp(t->type, "function") && t->name)
            encode_declaration(e, decls, t);
        else if (req->proto == AIPROXY_PROTO_GEMINI && t->raw)
            json_array_append_new(tools, json_deep_copy(t->raw)); /* googleSearch ... */
        /* other protocols' hosted tools: not expressible, dropped */
    }
    if (json_array_size(decls) == 0)
        json_array_remove(tools, 0);
    if (json_array_size(tools) == 0) {
        json_object_del(body, "tools");
        return;
    }
    if (!req->tool_choice && !req->tool_choice_allowed)
        return;
    fcc = tr_req_set_obj(tr_req_set_obj(body, "toolConfig"), "functionCallingConfig");
    tr_req_set_str(
        fcc, "mode",
        tr_req_value_word(modes, req->tool_choice ? req->tool_choice : TR_TOOL_CHOICE_AUTO));
    if (req->tool_choice == TR_TOOL_CHOICE_NAMED)
        json_object_set_new(fcc, "allowedFunctionNames",
                            json_pack("[s]", req->tool_choice_name ? req->tool_choice_name : ""));
    else if (req->tool_choice_allowed &&
             (req->tool_choice == TR_TOOL_CHOICE_ANY || !req->tool_choice)) {
        json_t *names = tr_req_set_arr(fcc, "allowedFunctionNames");
        for (int i = 0; i < req->tool_choice_allowed->nelts; i++)
            json_array_append_new(
                names, tr_req_jstr(APR_ARRAY_IDX(req->tool_choice_allowed, i, const char *)));
        if (!req->tool_choice) /* allowed names need mode ANY */
            tr_req_set_str(fcc, "mode", "ANY");
    }
}

static void encode_thinking(encoder *e, json_t *gc)
{
    const tr_request *req = e->req;
    json_t *tc;
    int on = req->thinking == 1 ||
             (req->thinking != 0 && (req->thinking_budget > 0 || req->reasoning_effort));

    /* Off is left to the model's default: several Gemini models cannot think less than
     * their minimum, and would refuse a budget of 0. */
    if (!on && !req->include_thoughts)
        return;
    tc = tr_req_set_obj(gc, "thinkingConfig");
    if (on && req->thinking_budget > 0)
        tr_json_set_int(tc, "thinkingBudget", req->thinking_budget);
    else if (on && req->reasoning_effort && req->proto == AIPROXY_PROTO_GEMINI)
        tr_req_set_str(tc, "thinkingLevel", req->reasoning_effort);
    else if (on && tr_req_effort_budget(req->reasoning_effort) > 0)
        tr_json_set_int(tc, "thinkingBudget", tr_req_effort_budget(req->reasoning_effort));
    else if (on)
        tr_json_set_int(tc, "thinkingBudget", -1); /* dynamic: adaptive thinking */
    if (req->include_thoughts && req->thinking != 0)
        json_object_set_new(tc, "includeThoughts", json_true());
    tr_req_drop_empty(gc, "thinkingConfig");
}

static void encode_generation_config(encoder *e, json_t *body)
{
    const tr_request *req = e->req;
    json_t *gc = tr_req_set_obj(body, "generationConfig");

    if (req->has_temperature)
        json_object_set_new(gc, "temperature", json_real(req->temperature));
    if (req->has_top_p)
        json_object_set_new(gc, "topP", json_real(req->top_p));
    if (req->top_k > 0)
        tr_json_set_int(gc, "topK", req->top_k);
    if (req->max_tokens > 0)
        tr_json_set_int(gc, "maxOutputTokens", req->max_tokens);
    if (req->n > 1)
        tr_json_set_int(gc, "candidateCount", req->n);
    if (req->has_seed)
        tr_json_set_int(gc, "seed", req->seed);
    if (req->has_presence_penalty)
        json_object_set_new(gc, "presencePenalty", json_real(req->presence_penalty));
    if (req->has_frequency_penalty)
        json_object_set_new(gc, "frequencyPenalty", json_real(req->frequency_penalty));
    if (req->stop && req->stop->nelts) {
        json_t *stops = tr_req_set_arr(gc, "stopSequences");
        for (int i = 0; i < req->stop->nelts; i++)
            json_array_append_new(stops, tr_req_jstr(APR_ARRAY_IDX(req->stop, i, const char *)));
    }
    if (req->format == TR_FORMAT_JSON_OBJECT || req->format == TR_FORMAT_JSON_SCHEMA) {
        json_t *schema = req->format_schema ? tr_req_schema_to_gemini(req->format_schema) : NULL;
        tr_req_set_str(gc, "responseMimeType", "application/json");
        if (schema)
            json_object_set_new(gc, "responseSchema", schema);
    }
    encode_thinking(e, gc);
    tr_req_drop_empty(body, "generationConfig");
}

static int encode_request(encoder *e, json_t *body)
{
    int rc;

    if ((rc = tr_req_check_server_state(e->p, e->req, AIPROXY_PROTO_GEMINI, e->err)))
        return rc;
    /* model and streaming travel in the URL (tr_gemini.c request_path) */
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
                             json_t **body, aiproxy_error *err)
{
    encoder e = {p, req, target, err};
    json_t *out = json_object();
    return tr_req_finish_body(p, out, encode_request(&e, out), body);
}
