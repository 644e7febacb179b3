/*
 * codec/responses_request.c: OpenAI Responses request body <-> IR.
 *
 * An assistant turn is a run of items (reasoning, message, function_call ...): they decode
 * into one assistant message, and each block keeps the id of its item so a Responses target
 * gets the same items back. Reasoning items carry their encrypted_content as a Responses
 * signature. previous_response_id, item_reference and cached state only this API's server
 * holds: translated elsewhere, they are a 400 (tr_req_check_server_state).
 *
 * System content from other protocols goes out as `developer` input messages, not as
 * `instructions`: that keeps its parts and position, and is what Codex itself sends (the
 * ChatGPT Codex backend reserves `instructions`).
 */
#include <string.h>
#include "apr_strings.h"
#include "json/tr_jv.h"
#include "codec/tr_protocols.h"
#include "codec/tr_request_util.h"

enum { ROLE_DEVELOPER = TR_ROLE_COUNT };
static const tr_req_word roles[] = {{TR_ROLE_USER, "user"},
                                    {TR_ROLE_ASSISTANT, "assistant"},
                                    {TR_ROLE_SYSTEM, "system"},
                                    {ROLE_DEVELOPER, "developer"},
                                    {0, NULL}};

/* ============================================================================================
 * decode
 * ============================================================================================ */

typedef tr_req_decoder decoder;

static void decode_image(decoder *d, apr_array_header_t *out, tr_jv *part)
{
    tr_block *b = tr_req_add_block(d->p, out, TR_BLOCK_IMAGE);
    const char *url = tr_jv_get_str(part, "image_url");

    if (url && !tr_req_parse_data_uri(d->p, url, &b->media_type, &b->data))
        b->url = url;
    b->file_id = tr_jv_get_str(part, "file_id");
    b->detail = tr_jv_get_str(part, "detail");
}

static void decode_file(decoder *d, apr_array_header_t *out, tr_jv *part)
{
    tr_block *b = tr_req_add_block(d->p, out, TR_BLOCK_DOCUMENT);
    const char *file_data = tr_jv_get_str(part, "file_data");

    b->file_id = tr_jv_get_str(part, "file_id");
    b->url = tr_jv_get_str(part, "file_url");
    b->filename = tr_jv_get_str(part, "filename");
    if (file_data && !tr_req_parse_data_uri(d->p, file_data, &b->media_type, &b->data)) {
        b->data = file_data;
        b->media_type = "application/pdf";
    }
}

/* input_text / output_text / refusal / input_image / input_file. Audio is refused. */
static void decode_part(decoder *d, apr_array_header_t *out, tr_jv *part, const tr_loc *loc,
                        const char *item_id)
{
    const char *type = tr_rd_str(&d->rd, part, "type", TR_LOC(loc));
    int n = out->nelts;

    if (!tr_jv_is_object(part)) {
        tr_rd_fail(&d->rd, "'%s' must be a content part object", apr_psprintf(d->p, TR_LOC(loc)));
        return;
    }
    if (!type)
        return;
    if (!strcmp(type, "input_text") || !strcmp(type, "output_text") || !strcmp(type, "text"))
        tr_req_add_text(d->p, out, tr_rd_str(&d->rd, part, "text", TR_LOC(loc)));
    else if (!strcmp(type, "refusal"))
        tr_req_add_text(d->p, out, tr_rd_str(&d->rd, part, "refusal", TR_LOC(loc)));
    else if (!strcmp(type, "input_image"))
        decode_image(d, out, part);
    else if (!strcmp(type, "input_file"))
        decode_file(d, out, part);
    else if (!strcmp(type, "input_audio"))
        tr_rd_fail(&d->rd, "'%s': audio input cannot be translated for another protocol",
                   apr_psprintf(d->p, TR_LOC(loc)));
    if (out->nelts > n) /* the part's block remembers its item */
        APR_ARRAY_IDX(out, n, tr_block *)->item_id = item_id;
}

static void decode_content(decoder *d, apr_array_header_t *out, tr_jv *content, const tr_loc *loc,
                           const char *item_id)
{
    size_t i;
    tr_jv *part;

    if (tr_jv_is_string(content)) {
        tr_req_add_text(d->p, out, tr_jv_str_value(content))->item_id = item_id;
        return;
    }
    if (content && !tr_jv_is_null(content) && !tr_jv_is_array(content)) {
        tr_rd_fail(&d->rd, "'%s.content' must be a string or an array of parts",
                   apr_psprintf(d->p, TR_LOC(loc)));
        return;
    }
    tr_jv_array_foreach(content, i, part)
    {
        tr_loc at = {"input[%d].content[%d]", loc->a, (int) i, 0};
        if (d->rd.failed)
            return;
        decode_part(d, out, part, &at, item_id);
    }
}

static void decode_message_item(decoder *d, tr_jv *item, const tr_loc *loc)
{
    const char *role = tr_rd_str(&d->rd, item, "role", TR_LOC(loc));
    const char *id = tr_rd_str(&d->rd, item, "id", TR_LOC(loc));
    int r = tr_req_word_value(roles, role, -1);
    tr_message *m;

    if (d->rd.failed)
        return;
    if (r < 0) {
        tr_rd_fail(&d->rd, "'input[%d].role' must be user, assistant, system or developer", loc->a);
        return;
    }
    /* One assistant turn may span several items; user turns stay as the client split them. */
    m = r == TR_ROLE_ASSISTANT
            ? tr_req_last_or_add(d->p, d->req, TR_ROLE_ASSISTANT)
            : tr_req_add_message(d->p, d->req, r == ROLE_DEVELOPER ? TR_ROLE_SYSTEM : (tr_role) r);
    m->developer = r == ROLE_DEVELOPER;
    decode_content(d, m->blocks, tr_jv_get(item, "content"), loc, id);
}

static void decode_function_call(decoder *d, tr_jv *item, const tr_loc *loc)
{
    tr_message *m = tr_req_last_or_add(d->p, d->req, TR_ROLE_ASSISTANT);
    tr_block *b = tr_req_add_block(d->p, m->blocks, TR_BLOCK_TOOL_CALL);

    b->id = tr_rd_str(&d->rd, item, "call_id", TR_LOC(loc));
    b->name = tr_rd_str(&d->rd, item, "name", TR_LOC(loc));
    b->arguments = tr_rd_str(&d->rd, item, "arguments", TR_LOC(loc));
    b->item_id = tr_rd_str(&d->rd, item, "id", TR_LOC(loc));
    if (!b->arguments)
        b->arguments = "{}";
    if (!d->rd.failed && (!b->id || !b->name))
        tr_rd_fail(&d->rd, "'input[%d]' (function_call) needs 'call_id' and 'name'", loc->a);
}

static void decode_function_output(decoder *d, tr_jv *item, const tr_loc *loc)
{
    tr_message *m = tr_req_last_or_add(d->p, d->req, TR_ROLE_USER);
    tr_block *b = tr_req_add_block(d->p, m->blocks, TR_BLOCK_TOOL_RESULT);
    tr_jv *output = tr_jv_get(item, "output");

    b->tool_call_id = tr_rd_str(&d->rd, item, "call_id", TR_LOC(loc));
    b->item_id = tr_rd_str(&d->rd, item, "id", TR_LOC(loc));
    b->content = tr_req_blocks(d->p);
    if (tr_jv_is_string(output) || tr_jv_is_array(output))
        decode_content(d, b->content, output, loc, NULL);
    else if (output && !tr_jv_is_null(output))
        tr_req_add_text(d->p, b->content, tr_req_json_text(d->p, output));
    if (!d->rd.failed && !b->tool_call_id)
        tr_rd_fail(&d->rd, "'input[%d].call_id' is required", loc->a);
}

/* A reasoning item: one THINKING block. Its text is the summary (or the raw reasoning text
 * when present); its signature the encrypted_content only Responses can read. */
static void decode_reasoning(decoder *d, tr_jv *item, const tr_loc *loc)
{
    tr_message *m = tr_req_last_or_add(d->p, d->req, TR_ROLE_ASSISTANT);
    tr_block *b = tr_req_add_block(d->p, m->blocks, TR_BLOCK_THINKING);
    apr_array_header_t *texts = tr_req_blocks(d->p);
    tr_jv *summary = tr_rd_arr(&d->rd, item, "summary", TR_LOC(loc));
    tr_jv *content = tr_rd_arr(&d->rd, item, "content", TR_LOC(loc));
    tr_jv *source = tr_jv_size(content) ? content : summary;
    size_t i;
    tr_jv *part;

    tr_jv_array_foreach(source, i, part) tr_req_add_text(d->p, texts, tr_jv_get_str(part, "text"));
    b->text = tr_req_join_text(d->p, texts, TR_BLOCK_TEXT, "\n\n");
    b->reasoning_id = tr_rd_str(&d->rd, item, "id", TR_LOC(loc));
    b->signature = tr_rd_str(&d->rd, item, "encrypted_content", TR_LOC(loc));
    b->has_signature = b->signature && *b->signature;
    b->sig_proto = AIPROXY_PROTO_RESPONSES;
}

static void decode_item(decoder *d, tr_jv *item, int index)
{
    tr_loc loc = {"input[%d]", index, 0, 0};
    const char *type = tr_rd_str(&d->rd, item, "type", TR_LOC(&loc));

    if (!tr_jv_is_object(item)) {
        tr_rd_fail(&d->rd, "'input[%d]' must be an object", index);
        return;
    }
    if (!type || !strcmp(type, "message"))
        decode_message_item(d, item, &loc);
    else if (!strcmp(type, "function_call"))
        decode_function_call(d, item, &loc);
    else if (!strcmp(type, "function_call_output"))
        decode_function_output(d, item, &loc);
    else if (!strcmp(type, "reasoning"))
        decode_reasoning(d, item, &loc);
    else if (!strcmp(type, "item_reference") && !d->req->server_state_field) {
        d->req->server_state_field = "item_reference";
        d->req->server_state = tr_jv_get_str(item, "id");
    }
    /* Hosted tool calls (web_search_call, file_search_call ...) ran on OpenAI's side: their
     * results are already in the conversation's text. Dropped. */
}

static void decode_input(decoder *d)
{
    tr_jv *input = tr_jv_get(d->req->root, "input");
    const char *instructions = tr_rd_str(&d->rd, d->req->root, "instructions", "");
    size_t i;
    tr_jv *item;

    if (instructions && *instructions) {
        d->req->system = tr_req_blocks(d->p);
        tr_req_add_text(d->p, d->req->system, instructions);
    }
    if (tr_jv_is_string(input)) {
        tr_req_add_text(d->p, tr_req_add_message(d->p, d->req, TR_ROLE_USER)->blocks,
                        tr_jv_str_value(input));
        return;
    }
    tr_jv_array_foreach(input, i, item)
    {
        if (d->rd.failed)
            return;
        decode_item(d, item, (int) i);
    }
}

/* raw: the client's tool object to re-send to Responses, or NULL for functions flattened out
 * of a namespace (the namespace itself is re-sent). */
static void decode_function_tool(decoder *d, tr_jv *t, tr_jv *raw, const tr_loc *loc)
{
    tr_tool *tool = tr_req_add_tool(d->p, d->req);
    int strict;

    tool->raw = raw;
    tool->type = "function";
    tool->name = tr_rd_str(&d->rd, t, "name", TR_LOC(loc));
    tool->description = tr_rd_str(&d->rd, t, "description", TR_LOC(loc));
    tool->parameters = tr_rd_obj(&d->rd, t, "parameters", TR_LOC(loc));
    if (tr_rd_bool(&d->rd, t, "strict", &strict, TR_LOC(loc)))
        tool->strict = strict;
    if (!d->rd.failed && !tool->name)
        tr_rd_fail(&d->rd, "'%s.name' is required", apr_psprintf(d->p, TR_LOC(loc)));
}

static void decode_tools(decoder *d)
{
    tr_jv *tools = tr_rd_arr(&d->rd, d->req->root, "tools", "");
    size_t i, j;
    tr_jv *t, *inner;

    tr_jv_array_foreach(tools, i, t)
    {
        tr_loc loc = {"tools[%d]", (int) i, 0, 0};
        const char *type = tr_rd_str(&d->rd, t, "type", TR_LOC(&loc));

        if (d->rd.failed)
            return;
        if (!tr_jv_is_object(t) || !type) {
            tr_rd_fail(&d->rd, "'tools[%d]' must be an object with a 'type'", (int) i);
            return;
        }
        if (!strcmp(type, "function"))
            decode_function_tool(d, t, t, &loc);
        else if (!strcmp(type, "namespace")) {
            /* Codex groups MCP tools: flattened into plain functions, names unchanged (the
             * model's calls then name the functions as the client declared them). */
            tr_jv_array_foreach(tr_jv_get_array(t, "tools"), j, inner)
            {
                tr_loc at = {"tools[%d].tools[%d]", (int) i, (int) j, 0};
                const char *inner_type = tr_jv_get_str(inner, "type");
                if (tr_jv_is_object(inner) && (!inner_type || !strcmp(inner_type, "function")))
                    decode_function_tool(d, inner, NULL, &at);
            }
            /* Kept raw too: a Responses target gets the namespace itself. */
            tr_tool *ns = tr_req_add_tool(d->p, d->req);
            ns->type = "namespace";
            ns->name = tr_jv_get_str(t, "name");
            ns->raw = t;
        } else {
            tr_tool *tool = tr_req_add_tool(d->p, d->req);
            tool->type = type; /* web_search, file_search, mcp, custom ...: hosted */
            tool->name = tr_jv_get_str(t, "name");
            tool->raw = t;
        }
    }
}

static void decode_tool_choice(decoder *d)
{
    tr_jv *tc = tr_jv_get(d->req->root, "tool_choice");
    const char *type;
    size_t i;
    tr_jv *t;

    if (tr_jv_is_string(tc)) {
        d->req->tool_choice =
            (tr_tool_choice) tr_req_word_value(tr_req_openai_tool_choices, tr_jv_str_value(tc), 0);
        return;
    }
    if (tc && !tr_jv_is_null(tc) && !tr_jv_is_object(tc)) {
        tr_rd_fail(&d->rd, "'tool_choice' must be a string or an object");
        return;
    }
    type = tr_rd_str(&d->rd, tc, "type", "tool_choice");
    if (type && !strcmp(type, "function")) {
        d->req->tool_choice = TR_TOOL_CHOICE_NAMED;
        d->req->tool_choice_name = tr_rd_str(&d->rd, tc, "name", "tool_choice");
    } else if (type && !strcmp(type, "allowed_tools")) {
        d->req->tool_choice = (tr_tool_choice) tr_req_word_value(
            tr_req_openai_tool_choices, tr_jv_get_str(tc, "mode"), TR_TOOL_CHOICE_AUTO);
        tr_jv_array_foreach(tr_jv_get_array(tc, "tools"), i, t)
        {
            if (tr_jv_get_str(t, "name"))
                tr_req_add_allowed_tool(d->p, d->req, tr_jv_get_str(t, "name"));
        }
    }
    /* A hosted tool forced by type ({"type":"web_search"}) has no portable meaning: auto. */
    else if (type)
        d->req->tool_choice = TR_TOOL_CHOICE_AUTO;
}

static void decode_settings(decoder *d)
{
    tr_request *req = d->req;
    tr_jv *root = req->root;
    tr_jv *reasoning = tr_rd_obj(&d->rd, root, "reasoning", "");
    tr_jv *text = tr_rd_obj(&d->rd, root, "text", "");
    tr_jv *format = tr_rd_obj(&d->rd, text, "format", "text");
    const char *prev = tr_rd_str(&d->rd, root, "previous_response_id", "");
    int flag;

    tr_rd_int(&d->rd, root, "max_output_tokens", &req->max_tokens, "");
    tr_rd_real_into(&d->rd, root, "temperature", &req->temperature, &req->has_temperature, "");
    tr_rd_real_into(&d->rd, root, "top_p", &req->top_p, &req->has_top_p, "");
    if (tr_rd_bool(&d->rd, root, "parallel_tool_calls", &flag, ""))
        req->parallel_tool_calls = flag;
    req->reasoning_effort = tr_rd_str(&d->rd, reasoning, "effort", "reasoning");
    if (req->reasoning_effort && !strcmp(req->reasoning_effort, "none"))
        req->thinking = 0;
    req->reasoning_summary = tr_rd_str(&d->rd, reasoning, "summary", "reasoning");
    if (!req->reasoning_summary) /* the deprecated spelling */
        req->reasoning_summary = tr_jv_get_str(reasoning, "generate_summary");
    req->include_thoughts = req->reasoning_summary && strcmp(req->reasoning_summary, "none");
    req->format = (tr_format_kind) tr_req_word_value(
        tr_req_openai_formats, tr_rd_str(&d->rd, format, "type", "text.format"), TR_FORMAT_UNSET);
    req->format_name = tr_rd_str(&d->rd, format, "name", "text.format");
    req->format_schema = tr_rd_obj(&d->rd, format, "schema", "text.format");
    if (tr_rd_bool(&d->rd, format, "strict", &flag, "text.format"))
        req->format_strict = flag;
    req->user = tr_rd_str(&d->rd, root, "user", "");
    if (!req->user)
        req->user = tr_rd_str(&d->rd, root, "safety_identifier", "");
    if (prev && *prev) {
        req->server_state_field = "previous_response_id";
        req->server_state = prev;
    }
}

int tr_responses_request_decode(apr_pool_t *p, tr_request *req, aiproxy_error *err)
{
    decoder d = {p, req, {0}};

    tr_rd_init(&d.rd, p, err);
    decode_input(&d);
    decode_tools(&d);
    decode_tool_choice(&d);
    tr_req_read_stream_function_call_arguments(&d.rd, req);
    decode_settings(&d);
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
    tr_jv *input;
} encoder;

static int encode_media_part(encoder *e, tr_jv *parts, const tr_block *b)
{
    tr_jv *part;

    if (tr_req_check_file_id(e->p, e->req, b, AIPROXY_PROTO_RESPONSES, e->err))
        return e->err->status;
    part = tr_jv_push_object(parts);
    if (b->kind == TR_BLOCK_DOCUMENT && b->text && !b->data) {
        tr_jv_set_str(part, "type", "input_text");
        tr_jv_set_str(part, "text", b->text);
    } else if (b->kind == TR_BLOCK_IMAGE) {
        tr_jv_set_str(part, "type", "input_image");
        if (b->data)
            tr_jv_set_str(part, "image_url", tr_req_data_uri(e->p, b->media_type, b->data));
        else
            tr_jv_set_str(part, "image_url", b->url);
        tr_jv_set_str(part, "file_id", b->file_id);
        tr_jv_set_str(part, "detail", b->detail ? b->detail : "auto");
    } else {
        tr_jv_set_str(part, "type", "input_file");
        if (b->data) {
            tr_jv_set_str(part, "file_data", tr_req_data_uri(e->p, b->media_type, b->data));
            tr_jv_set_str(part, "filename", b->filename ? b->filename : "document.pdf");
        } else {
            tr_jv_set_str(part, "file_url", b->url);
            tr_jv_set_str(part, "file_id", b->file_id);
            tr_jv_set_str(part, "filename", b->filename);
        }
    }
    return 0;
}

/* Content parts for one message item: input_text for user/system, output_text for the
 * assistant's own words. */
static int encode_parts(encoder *e, tr_jv *parts, const tr_block *b, int assistant)
{
    tr_jv *part;

    if (b->kind != TR_BLOCK_TEXT)
        return encode_media_part(e, parts, b);
    part = tr_jv_push_object(parts);
    tr_jv_set_str(part, "type", assistant ? "output_text" : "input_text");
    tr_jv_set_str(part, "text", b->text);
    return 0;
}

static tr_jv *new_message_item(encoder *e, const char *role, const char *item_id)
{
    tr_jv *item = tr_jv_push_object(e->input);
    tr_jv_set_str(item, "type", "message");
    tr_jv_set_str(item, "role", role);
    if (e->req->proto == AIPROXY_PROTO_RESPONSES)
        tr_jv_set_str(item, "id", item_id);
    return tr_jv_set_array(item, "content");
}

static void encode_function_call(encoder *e, const tr_block *b)
{
    tr_jv *item = tr_jv_push_object(e->input);
    tr_jv_set_str(item, "type", "function_call");
    if (e->req->proto == AIPROXY_PROTO_RESPONSES)
        tr_jv_set_str(item, "id", b->item_id);
    tr_jv_set_str(item, "call_id", b->id);
    tr_jv_set_str(item, "name", b->name);
    tr_jv_set_str(item, "arguments", b->arguments ? b->arguments : "{}");
}

static int encode_function_output(encoder *e, const tr_block *b)
{
    tr_jv *item = tr_jv_push_object(e->input), *parts;
    int media = 0;

    tr_jv_set_str(item, "type", "function_call_output");
    if (e->req->proto == AIPROXY_PROTO_RESPONSES)
        tr_jv_set_str(item, "id", b->item_id);
    tr_jv_set_str(item, "call_id", b->tool_call_id);
    for (int i = 0; b->content && i < b->content->nelts; i++)
        media |= APR_ARRAY_IDX(b->content, i, tr_block *)->kind != TR_BLOCK_TEXT;
    if (!media) {
        tr_jv_set_str(item, "output", tr_req_join_text(e->p, b->content, TR_BLOCK_TEXT, "\n"));
        return 0;
    }
    parts = tr_jv_set_array(item, "output");
    for (int i = 0; i < b->content->nelts; i++) {
        int rc = encode_parts(e, parts, APR_ARRAY_IDX(b->content, i, tr_block *), 0);
        if (rc)
            return rc;
    }
    return 0;
}

/* Reasoning goes back only with its encrypted_content (an id alone needs stored state, and
 * another protocol's thinking cannot be verified). */
static void encode_reasoning_item(encoder *e, const tr_block *b)
{
    tr_jv *item, *summary;

    if (!tr_req_signed_by(b, AIPROXY_PROTO_RESPONSES))
        return;
    item = tr_jv_push_object(e->input);
    tr_jv_set_str(item, "type", "reasoning");
    tr_jv_set_str(item, "id", b->reasoning_id);
    summary = tr_jv_set_array(item, "summary");
    if (b->text && *b->text) {
        tr_jv *s = tr_jv_push_object(summary);
        tr_jv_set_str(s, "type", "summary_text");
        tr_jv_set_str(s, "text", b->text);
    }
    tr_jv_set_str(item, "encrypted_content", b->signature);
}

/* One IR message -> its items, in block order. Consecutive text/media blocks of the same
 * item (same item_id) form one message item. */
static int encode_message(encoder *e, const tr_message *m)
{
    const char *role =
        m->role == TR_ROLE_ASSISTANT ? "assistant"
        : m->role == TR_ROLE_SYSTEM
            ? (m->developer || e->req->proto != AIPROXY_PROTO_RESPONSES ? "developer" : "system")
            : "user";
    tr_jv *parts = NULL;
    const char *parts_item = NULL;

    for (int i = 0; i < m->blocks->nelts; i++) {
        const tr_block *b = APR_ARRAY_IDX(m->blocks, i, tr_block *);
        int rc = 0;
        switch (b->kind) {
        case TR_BLOCK_TEXT:
        case TR_BLOCK_IMAGE:
        case TR_BLOCK_DOCUMENT:
            if (b->kind == TR_BLOCK_TEXT && m->role == TR_ROLE_ASSISTANT && !*b->text)
                break;
            if (!parts || (b->item_id && parts_item && strcmp(b->item_id, parts_item) != 0)) {
                parts = new_message_item(e, role, b->item_id);
                parts_item = b->item_id;
            }
            rc = encode_parts(e, parts, b, m->role == TR_ROLE_ASSISTANT);
            break;
        case TR_BLOCK_THINKING:
            encode_reasoning_item(e, b);
            parts = NULL;
            break;
        case TR_BLOCK_TOOL_CALL:
            encode_function_call(e, b);
            parts = NULL;
            break;
        case TR_BLOCK_TOOL_RESULT:
            rc = encode_function_output(e, b);
            parts = NULL;
            break;
        default:
            break;
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int encode_input(encoder *e, tr_jv *body)
{
    const tr_request *req = e->req;

    /* item_reference points into the server's store: only the client's own list says it. */
    if (req->proto == AIPROXY_PROTO_RESPONSES && req->server_state_field &&
        !strcmp(req->server_state_field, "item_reference")) {
        tr_req_set_copy(body, "input", tr_jv_get(req->root, "input"));
        return 0;
    }
    e->input = tr_jv_set_array(body, "input");
    if (req->system && req->system->nelts) {
        if (req->proto == AIPROXY_PROTO_RESPONSES)
            tr_jv_set_str(body, "instructions",
                          tr_req_join_text(e->p, req->system, TR_BLOCK_TEXT, "\n\n"));
        else {
            tr_jv *parts = new_message_item(e, "developer", NULL);
            for (int i = 0; i < req->system->nelts; i++)
                encode_parts(e, parts, APR_ARRAY_IDX(req->system, i, tr_block *), 0);
        }
    }
    for (int i = 0; req->messages && i < req->messages->nelts; i++) {
        int rc = encode_message(e, APR_ARRAY_IDX(req->messages, i, tr_message *));
        if (rc)
            return rc;
    }
    return 0;
}

static void encode_tools(encoder *e, tr_jv *body)
{
    const tr_request *req = e->req;
    tr_jv *tools = tr_jv_set_array(body, "tools");
    int same = req->proto == AIPROXY_PROTO_RESPONSES;

    for (int i = 0; req->tools && i < req->tools->nelts; i++) {
        const tr_tool *t = APR_ARRAY_IDX(req->tools, i, tr_tool *);
        tr_jv *tool;

        if (same) {
            /* The client's own list: namespaces whole, their flattened copies skipped. */
            if (t->raw && tr_req_tool_allowed(req, t->name))
                tr_jv_push(tools, tr_jv_copy(e->p, t->raw));
            continue;
        }
        if (!t->type || strcmp(t->type, "function") != 0 || !t->name ||
            !tr_req_tool_allowed(req, t->name))
            continue;
        tool = tr_jv_push_object(tools);
        tr_jv_set_str(tool, "type", "function");
        tr_jv_set_str(tool, "name", t->name);
        tr_jv_set_str(tool, "description", t->description);
        if (t->parameters)
            tr_req_set_copy(tool, "parameters", t->parameters);
        else
            tr_jv_set(tool, "parameters",
                      tr_jv_pack(e->p, "{s:s, s:{}}", "type", "object", "properties"));
        /* Responses defaults strict to true, which refuses most clients' schemas. */
        tr_jv_set_bool(tool, "strict", t->strict == 1);
    }
    if (tr_jv_size(tools) == 0) {
        tr_jv_del(body, "tools");
        return;
    }
    if (req->tool_choice == TR_TOOL_CHOICE_NAMED)
        tr_jv_set(body, "tool_choice",
                  tr_jv_pack(e->p, "{s:s, s:s}", "type", "function", "name",
                             req->tool_choice_name ? req->tool_choice_name : ""));
    else if (req->tool_choice)
        tr_jv_set_str(body, "tool_choice",
                      tr_req_value_word(tr_req_openai_tool_choices, req->tool_choice));
    if (req->parallel_tool_calls >= 0)
        tr_jv_set_bool(body, "parallel_tool_calls", req->parallel_tool_calls);
}

static void encode_reasoning(encoder *e, tr_jv *body)
{
    const tr_request *req = e->req;
    const char *effort = req->reasoning_effort;
    const char *summary = req->reasoning_summary;
    tr_jv *reasoning;

    if (!effort && req->thinking != 0)
        effort = tr_req_budget_effort(req->thinking_budget);
    if (req->thinking == 0 && !(effort && !strcmp(effort, "none")))
        effort = NULL;
    if (!summary && req->include_thoughts && req->thinking != 0)
        summary = "auto";
    if (!effort && !summary)
        return;
    reasoning = tr_jv_set_object(body, "reasoning");
    tr_jv_set_str(reasoning, "effort", tr_req_effort_word(AIPROXY_PROTO_RESPONSES, effort));
    tr_jv_set_str(reasoning, "summary", summary);
}

static void encode_text_format(encoder *e, tr_jv *body)
{
    const tr_request *req = e->req;
    tr_jv *format;

    if (!req->format)
        return;
    format = tr_jv_set_object(tr_jv_set_object(body, "text"), "format");
    tr_jv_set_str(format, "type", tr_req_value_word(tr_req_openai_formats, req->format));
    if (req->format != TR_FORMAT_JSON_SCHEMA)
        return;
    tr_jv_set_str(format, "name", req->format_name ? req->format_name : "response");
    tr_req_set_copy(format, "schema", req->format_schema);
    if (req->format_strict >= 0)
        tr_jv_set_bool(format, "strict", req->format_strict);
}

static int encode_request(encoder *e, tr_jv *body)
{
    const tr_request *req = e->req;
    int rc;

    if ((rc = tr_req_check_server_state(e->p, req, AIPROXY_PROTO_RESPONSES, e->err)) ||
        (rc = tr_req_check_single_answer(e->p, req, AIPROXY_PROTO_RESPONSES, e->err)))
        return rc;
    if (req->stop && req->stop->nelts)
        return tr_req_inexpressible(e->p, e->err,
                                    "stop sequences cannot be sent to a responses upstream "
                                    "(the Responses API has no stop parameter)");
    tr_jv_set_str(body, "model", e->target->model);
    if ((rc = encode_input(e, body)))
        return rc;
    encode_tools(e, body);
    encode_reasoning(e, body);
    encode_text_format(e, body);
    if (req->max_tokens > 0)
        tr_jv_set_int(body, "max_output_tokens", req->max_tokens);
    if (req->has_temperature)
        tr_jv_set_real(body, "temperature", req->temperature);
    if (req->has_top_p)
        tr_jv_set_real(body, "top_p", req->top_p);
    tr_jv_set_str(body, "user", req->user);
    if (e->target->stream)
        tr_jv_set_bool(body, "stream", 1);
    if (req->proto == AIPROXY_PROTO_RESPONSES) {
        static const char *const skip[] = {"stream", "stream_options", NULL};
        tr_req_keep_unclaimed(body, req->root, skip);
    }
    return 0;
}

int tr_responses_request_encode(apr_pool_t *p, const tr_request *req, const aiproxy_target *target,
                                tr_jv **body, aiproxy_error *err)
{
    encoder e = {p, req, target, err, NULL};
    tr_jv *out = tr_jv_object(p);
    return tr_req_finish_body(out, encode_request(&e, out), body);
}
