/*
 * codec/openai_request.c: OpenAI Chat Completions request body <-> IR.
 *
 * Chat keeps system/developer messages where they are, so they stay in place both ways.
 * role:"tool" messages become TOOL_RESULT blocks of one user turn (consecutive ones merged);
 * on encode each result becomes a tool message again, and what a tool message cannot hold
 * (images, documents) follows in a user message right after the tool messages.
 */
#include <string.h>
#include "apr_strings.h"
#include "json/tr_jv.h"
#include "codec/tr_protocols.h"
#include "codec/tr_request_util.h"

/* Chat roles; "tool" is handled apart (it decodes into tool results; the legacy "function" role
 * is refused, see refuse_legacy_functions). */
enum { ROLE_DEVELOPER = TR_ROLE_COUNT, ROLE_TOOL };
static const tr_req_word roles[] = {{TR_ROLE_SYSTEM, "system"}, {ROLE_DEVELOPER, "developer"},
                                    {TR_ROLE_USER, "user"},     {TR_ROLE_ASSISTANT, "assistant"},
                                    {ROLE_TOOL, "tool"},        {0, NULL}};

/* ============================================================================================
 * decode
 * ============================================================================================ */

typedef tr_req_decoder decoder;

static void decode_image_part(decoder *d, apr_array_header_t *out, tr_jv *part, const tr_loc *loc)
{
    tr_jv *image = tr_rd_obj(&d->rd, part, "image_url", TR_LOC(loc));
    /* image_url is an object {url, detail}; a bare string is an old, still-seen form */
    const char *url = image ? tr_jv_get_str(image, "url") : tr_jv_get_str(part, "image_url");
    tr_block *b;

    if (d->rd.failed)
        return;
    if (!url) {
        tr_rd_fail(&d->rd, "'%s.image_url.url' is required", apr_psprintf(d->p, TR_LOC(loc)));
        return;
    }
    b = tr_req_add_block(d->p, out, TR_BLOCK_IMAGE);
    if (!tr_req_parse_data_uri(d->p, url, &b->media_type, &b->data))
        b->url = url;
    b->detail = tr_jv_get_str(image, "detail");
}

static void decode_file_part(decoder *d, apr_array_header_t *out, tr_jv *part, const tr_loc *loc)
{
    tr_jv *file = tr_rd_obj(&d->rd, part, "file", TR_LOC(loc));
    const char *file_data = tr_jv_get_str(file, "file_data");
    tr_block *b;

    if (!file)
        return;
    b = tr_req_add_block(d->p, out, TR_BLOCK_DOCUMENT);
    b->file_id = tr_jv_get_str(file, "file_id");
    b->filename = tr_jv_get_str(file, "filename");
    if (file_data && !tr_req_parse_data_uri(d->p, file_data, &b->media_type, &b->data)) {
        b->data = file_data; /* raw base64 without the data: prefix */
        b->media_type = "application/pdf";
    }
}

/* Content parts: text, refusal (assistant), image_url, file. Audio has no IR and no other
 * protocol takes it the same way: refused rather than lost. */
static void decode_part(decoder *d, apr_array_header_t *out, tr_jv *part, const tr_loc *loc)
{
    const char *type = tr_rd_str(&d->rd, part, "type", TR_LOC(loc));

    if (!tr_jv_is_object(part)) {
        tr_rd_fail(&d->rd, "'%s' must be a content part object", apr_psprintf(d->p, TR_LOC(loc)));
        return;
    }
    if (!type)
        return;
    if (!strcmp(type, "text"))
        tr_req_add_text(d->p, out, tr_rd_str(&d->rd, part, "text", TR_LOC(loc)));
    else if (!strcmp(type, "refusal"))
        tr_req_add_text(d->p, out, tr_rd_str(&d->rd, part, "refusal", TR_LOC(loc)));
    else if (!strcmp(type, "image_url"))
        decode_image_part(d, out, part, loc);
    else if (!strcmp(type, "file"))
        decode_file_part(d, out, part, loc);
    else if (!strcmp(type, "input_audio"))
        tr_rd_fail(&d->rd, "'%s': audio input cannot be translated for another protocol",
                   apr_psprintf(d->p, TR_LOC(loc)));
}

static void decode_content(decoder *d, apr_array_header_t *out, tr_jv *content, int index)
{
    size_t i;
    tr_jv *part;

    if (!content || tr_jv_is_null(content))
        return;
    if (tr_jv_is_string(content)) {
        tr_req_add_text(d->p, out, tr_jv_str_value(content));
        return;
    }
    if (!tr_jv_is_array(content)) {
        tr_rd_fail(&d->rd, "'messages[%d].content' must be a string or an array of parts", index);
        return;
    }
    tr_jv_array_foreach(content, i, part)
    {
        tr_loc loc = {"messages[%d].content[%d]", index, (int) i, 0};
        if (d->rd.failed)
            return;
        decode_part(d, out, part, &loc);
    }
}

static void decode_tool_calls(decoder *d, tr_message *m, tr_jv *msg, int index)
{
    tr_jv *calls = tr_rd_arr(&d->rd, msg, "tool_calls", "messages[%d]", index);
    size_t i;
    tr_jv *call;

    tr_jv_array_foreach(calls, i, call)
    {
        tr_loc loc = {"messages[%d].tool_calls[%d]", index, (int) i, 0};
        tr_jv *fn = tr_rd_obj(&d->rd, call, "function", TR_LOC(&loc));
        tr_jv *args = tr_jv_get(fn, "arguments");
        tr_block *b;

        if (d->rd.failed)
            return;
        if (!fn)
            continue; /* custom tool calls have no IR equivalent */
        b = tr_req_add_block(d->p, m->blocks, TR_BLOCK_TOOL_CALL);
        b->id = tr_rd_str(&d->rd, call, "id", TR_LOC(&loc));
        b->name =
            tr_rd_str(&d->rd, fn, "name", "messages[%d].tool_calls[%d].function", index, (int) i);
        /* arguments is JSON text; some clients send the object itself */
        b->arguments = tr_jv_is_string(args)   ? tr_jv_str_value(args)
                       : tr_jv_is_object(args) ? tr_req_json_text(d->p, args)
                                               : "{}";
        if (!d->rd.failed && (!b->id || !b->name))
            tr_rd_fail(&d->rd, "'messages[%d].tool_calls[%d]' needs 'id' and 'function.name'",
                       index, (int) i);
    }
}

static void decode_tool_message(decoder *d, tr_jv *msg, int index)
{
    tr_message *m = tr_req_last_or_add(d->p, d->req, TR_ROLE_USER);
    tr_block *b = tr_req_add_block(d->p, m->blocks, TR_BLOCK_TOOL_RESULT);

    b->tool_call_id = tr_rd_str(&d->rd, msg, "tool_call_id", "messages[%d]", index);
    b->content = tr_req_blocks(d->p);
    decode_content(d, b->content, tr_jv_get(msg, "content"), index);
    if (!d->rd.failed && !b->tool_call_id)
        tr_rd_fail(&d->rd, "'messages[%d].tool_call_id' is required", index);
}

static void decode_message(decoder *d, tr_jv *msg, int index)
{
    const char *role = tr_rd_str(&d->rd, msg, "role", "messages[%d]", index);
    int r = tr_req_word_value(roles, role, -1);
    tr_message *m;

    if (d->rd.failed)
        return;
    if (!tr_jv_is_object(msg) || r < 0) {
        tr_rd_fail(&d->rd,
                   "'messages[%d]' must be an object with role system, developer, "
                   "user, assistant or tool",
                   index);
        return;
    }
    if (r == ROLE_TOOL) {
        decode_tool_message(d, msg, index);
        return;
    }
    m = tr_req_add_message(d->p, d->req, r == ROLE_DEVELOPER ? TR_ROLE_SYSTEM : (tr_role) r);
    m->developer = r == ROLE_DEVELOPER;
    if (m->role == TR_ROLE_ASSISTANT) {
        /* reasoning_content (DeepSeek, vLLM, OpenRouter): unsigned thinking, first. */
        const char *reasoning = tr_rd_str(&d->rd, msg, "reasoning_content", "messages[%d]", index);
        if (reasoning && *reasoning)
            tr_req_add_block(d->p, m->blocks, TR_BLOCK_THINKING)->text = reasoning;
    }
    decode_content(d, m->blocks, tr_jv_get(msg, "content"), index);
    if (m->role == TR_ROLE_ASSISTANT)
        decode_tool_calls(d, m, msg, index);
}

static void decode_tools(decoder *d)
{
    tr_jv *tools = tr_rd_arr(&d->rd, d->req->root, "tools", "");
    size_t i;
    tr_jv *t;

    tr_jv_array_foreach(tools, i, t)
    {
        const char *type = tr_rd_str(&d->rd, t, "type", "tools[%d]", (int) i);
        tr_jv *fn = tr_rd_obj(&d->rd, t, "function", "tools[%d]", (int) i);
        tr_tool *tool;
        int strict;

        if (d->rd.failed)
            return;
        if (!tr_jv_is_object(t)) {
            tr_rd_fail(&d->rd, "'tools[%d]' must be an object", (int) i);
            return;
        }
        tool = tr_req_add_tool(d->p, d->req);
        tool->raw = t;
        tool->type = type ? type : "function";
        if (!fn)
            continue; /* custom and other tool types: kept raw for OpenAI targets only */
        tool->type = "function";
        tool->name = tr_rd_str(&d->rd, fn, "name", "tools[%d].function", (int) i);
        tool->description = tr_rd_str(&d->rd, fn, "description", "tools[%d].function", (int) i);
        tool->parameters = tr_rd_obj(&d->rd, fn, "parameters", "tools[%d].function", (int) i);
        if (tr_rd_bool(&d->rd, fn, "strict", &strict, "tools[%d].function", (int) i))
            tool->strict = strict;
        if (!d->rd.failed && !tool->name)
            tr_rd_fail(&d->rd, "'tools[%d].function.name' is required", (int) i);
    }
}

/* {"type":"allowed_tools","allowed_tools":{"mode":"auto"|"required","tools":[...]}} */
static void decode_allowed_tools(decoder *d, tr_jv *allowed)
{
    const char *mode = tr_jv_get_str(allowed, "mode");
    tr_jv *tools = tr_jv_get_array(allowed, "tools");
    size_t i;
    tr_jv *t;

    d->req->tool_choice =
        (tr_tool_choice) tr_req_word_value(tr_req_openai_tool_choices, mode, TR_TOOL_CHOICE_AUTO);
    tr_jv_array_foreach(tools, i, t)
    {
        const char *name = tr_jv_get_str(tr_jv_get_object(t, "function"), "name");
        if (name)
            tr_req_add_allowed_tool(d->p, d->req, name);
    }
}

static void decode_tool_choice(decoder *d)
{
    tr_jv *tc = tr_jv_get(d->req->root, "tool_choice");
    const char *type;

    if (!tc || tr_jv_is_null(tc))
        return;
    if (tr_jv_is_string(tc)) {
        d->req->tool_choice =
            (tr_tool_choice) tr_req_word_value(tr_req_openai_tool_choices, tr_jv_str_value(tc), 0);
        return;
    }
    if (!tr_jv_is_object(tc)) {
        tr_rd_fail(&d->rd, "'tool_choice' must be a string or an object");
        return;
    }
    type = tr_rd_str(&d->rd, tc, "type", "tool_choice");
    if (type && !strcmp(type, "allowed_tools"))
        decode_allowed_tools(d, tr_jv_get_object(tc, "allowed_tools"));
    else if (type && !strcmp(type, "function")) {
        d->req->tool_choice = TR_TOOL_CHOICE_NAMED;
        d->req->tool_choice_name = tr_jv_get_str(tr_jv_get_object(tc, "function"), "name");
        if (!d->req->tool_choice_name)
            tr_rd_fail(&d->rd, "'tool_choice.function.name' is required");
    }
}

static void decode_response_format(decoder *d)
{
    tr_jv *rf = tr_rd_obj(&d->rd, d->req->root, "response_format", "");
    tr_jv *schema = tr_rd_obj(&d->rd, rf, "json_schema", "response_format");
    int strict;

    if (!rf)
        return;
    d->req->format = (tr_format_kind) tr_req_word_value(
        tr_req_openai_formats, tr_rd_str(&d->rd, rf, "type", "response_format"), TR_FORMAT_UNSET);
    d->req->format_name = tr_rd_str(&d->rd, schema, "name", "response_format.json_schema");
    d->req->format_schema = tr_rd_obj(&d->rd, schema, "schema", "response_format.json_schema");
    if (tr_rd_bool(&d->rd, schema, "strict", &strict, "response_format.json_schema"))
        d->req->format_strict = strict;
}

static void decode_stop(decoder *d)
{
    tr_jv *stop = tr_jv_get(d->req->root, "stop");
    size_t i;
    tr_jv *s;

    if (tr_jv_is_string(stop))
        tr_req_add_stop(d->p, d->req, tr_jv_str_value(stop));
    else if (tr_jv_is_array(stop)) {
        tr_jv_array_foreach(stop, i, s)
        {
            if (!tr_jv_is_string(s)) {
                tr_rd_fail(&d->rd, "'stop[%d]' must be a string", (int) i);
                return;
            }
            tr_req_add_stop(d->p, d->req, tr_jv_str_value(s));
        }
    } else if (stop && !tr_jv_is_null(stop))
        tr_rd_fail(&d->rd, "'stop' must be a string or an array of strings");
}

static void decode_settings(decoder *d)
{
    tr_request *req = d->req;
    tr_jv *root = req->root;
    int flag;

    if (!tr_rd_int(&d->rd, root, "max_completion_tokens", &req->max_tokens, ""))
        tr_rd_int(&d->rd, root, "max_tokens", &req->max_tokens, "");
    tr_rd_real_into(&d->rd, root, "temperature", &req->temperature, &req->has_temperature, "");
    tr_rd_real_into(&d->rd, root, "top_p", &req->top_p, &req->has_top_p, "");
    tr_rd_real_into(&d->rd, root, "presence_penalty", &req->presence_penalty,
                    &req->has_presence_penalty, "");
    tr_rd_real_into(&d->rd, root, "frequency_penalty", &req->frequency_penalty,
                    &req->has_frequency_penalty, "");
    tr_rd_int(&d->rd, root, "n", &req->n, "");
    req->has_seed = tr_rd_int(&d->rd, root, "seed", &req->seed, "");
    if (tr_rd_bool(&d->rd, root, "parallel_tool_calls", &flag, ""))
        req->parallel_tool_calls = flag;
    tr_rd_bool(&d->rd, tr_rd_obj(&d->rd, root, "stream_options", ""), "include_usage",
               &req->include_usage, "stream_options");
    req->reasoning_effort = tr_rd_str(&d->rd, root, "reasoning_effort", "");
    if (req->reasoning_effort && !strcmp(req->reasoning_effort, "none"))
        req->thinking = 0;
    req->user = tr_rd_str(&d->rd, root, "user", "");
    if (!req->user)
        req->user = tr_rd_str(&d->rd, root, "safety_identifier", "");
}

/* The legacy function-calling API (functions, function_call, role "function", an assistant
 * message's function_call) answers with message.function_call, which no other protocol
 * produces: translating it would drop the tools or answer in a shape the client does not
 * read, so it is refused by name (passthrough to an OpenAI upstream still carries it). */
static void refuse_legacy_functions(decoder *d, const tr_jv *messages)
{
    static const char *const fields[] = {"functions", "function_call"};
    size_t i;
    tr_jv *msg;

    for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
        if (tr_jv_get(d->req->root, fields[f])) {
            tr_rd_fail(&d->rd,
                       "'%s' (the legacy function-calling API) cannot be translated for "
                       "another protocol: send 'tools' instead",
                       fields[f]);
            return;
        }
    }
    tr_jv_array_foreach(messages, i, msg)
    {
        const char *role = tr_jv_get_str(msg, "role");
        if ((role && !strcmp(role, "function")) || tr_jv_get(msg, "function_call")) {
            tr_rd_fail(&d->rd,
                       "'messages[%d]' uses the legacy function-calling API, which cannot be "
                       "translated for another protocol: use 'tool_calls' and role \"tool\"",
                       (int) i);
            return;
        }
    }
}

int tr_openai_request_decode(apr_pool_t *p, tr_request *req, aiproxy_error *err)
{
    decoder d = {p, req, {0}};
    tr_jv *messages;
    size_t i;
    tr_jv *msg;

    tr_rd_init(&d.rd, p, err);
    messages = tr_rd_arr(&d.rd, req->root, "messages", "");
    refuse_legacy_functions(&d, messages);
    tr_jv_array_foreach(messages, i, msg)
    {
        if (d.rd.failed)
            break;
        decode_message(&d, msg, (int) i);
    }
    decode_tools(&d);
    decode_tool_choice(&d);
    tr_req_read_stream_function_call_arguments(&d.rd, req);
    decode_response_format(&d);
    decode_stop(&d);
    decode_settings(&d);
    tr_req_resolve_result_names(p, req);
    return tr_rd_status(&d.rd);
}

/* ============================================================================================
 * encode
 * ============================================================================================ */

typedef tr_req_encoder encoder;

static int encode_media_part(encoder *e, tr_jv *parts, const tr_block *b)
{
    tr_jv *part, *inner;

    if (tr_req_check_file_id(e->p, e->req, b, AIPROXY_PROTO_OPENAI, e->err))
        return e->err->status;
    if (b->kind == TR_BLOCK_DOCUMENT && b->text && !b->data) {
        part = tr_jv_push_object(parts); /* a plain-text document is text to Chat */
        tr_jv_set_str(part, "type", "text");
        tr_jv_set_str(part, "text", b->text);
        return 0;
    }
    if (b->kind == TR_BLOCK_IMAGE && !b->data && !b->url)
        return tr_req_inexpressible(e->p, e->err,
                                    "images given by file_id ('%s') cannot be sent to an openai "
                                    "upstream (Chat Completions takes image URLs or data)",
                                    b->file_id ? b->file_id : "");
    part = tr_jv_push_object(parts);
    if (b->kind == TR_BLOCK_IMAGE) {
        tr_jv_set_str(part, "type", "image_url");
        inner = tr_jv_set_object(part, "image_url");
        tr_jv_set_str(inner, "url",
                      b->data ? tr_req_data_uri(e->p, b->media_type, b->data) : b->url);
        tr_jv_set_str(inner, "detail", b->detail);
        return 0;
    }
    if (!b->data && !b->file_id)
        return tr_req_inexpressible(e->p, e->err,
                                    "documents given by URL cannot be sent to an openai "
                                    "upstream (Chat Completions takes file data or file ids)");
    tr_jv_set_str(part, "type", "file");
    inner = tr_jv_set_object(part, "file");
    if (b->data) {
        tr_jv_set_str(inner, "file_data", tr_req_data_uri(e->p, b->media_type, b->data));
        tr_jv_set_str(inner, "filename", b->filename ? b->filename : "document.pdf");
    } else
        tr_jv_set_str(inner, "file_id", b->file_id);
    return 0;
}

/* Content as Chat wants it: a plain string when it is one text, else parts. Blocks other than
 * text and media are the caller's business. */
static int encode_content(encoder *e, tr_jv *msg, const apr_array_header_t *blocks)
{
    tr_jv *parts;
    int n = 0;
    const tr_block *only = NULL;

    for (int i = 0; blocks && i < blocks->nelts; i++) {
        const tr_block *b = APR_ARRAY_IDX(blocks, i, tr_block *);
        if (b->kind == TR_BLOCK_TEXT || b->kind == TR_BLOCK_IMAGE || b->kind == TR_BLOCK_DOCUMENT) {
            n++;
            only = b;
        }
    }
    if (n == 0)
        return 0;
    if (n == 1 && only->kind == TR_BLOCK_TEXT) {
        tr_jv_set_str(msg, "content", only->text);
        return 0;
    }
    parts = tr_jv_set_array(msg, "content");
    for (int i = 0; i < blocks->nelts; i++) {
        const tr_block *b = APR_ARRAY_IDX(blocks, i, tr_block *);
        int rc = 0;
        if (b->kind == TR_BLOCK_TEXT) {
            tr_jv *part = tr_jv_push_object(parts);
            tr_jv_set_str(part, "type", "text");
            tr_jv_set_str(part, "text", b->text);
        } else if (b->kind == TR_BLOCK_IMAGE || b->kind == TR_BLOCK_DOCUMENT)
            rc = encode_media_part(e, parts, b);
        if (rc)
            return rc;
    }
    return 0;
}

static int has_media(const apr_array_header_t *blocks)
{
    for (int i = 0; blocks && i < blocks->nelts; i++) {
        tr_block_kind k = APR_ARRAY_IDX(blocks, i, tr_block *)->kind;
        if (k == TR_BLOCK_IMAGE || k == TR_BLOCK_DOCUMENT)
            return 1;
    }
    return 0;
}

/* A tool message holds text only: the result's media goes to the user message after. */
static void encode_tool_message(encoder *e, tr_jv *messages, const tr_block *b,
                                apr_array_header_t *media)
{
    tr_jv *msg = tr_jv_push_object(messages);
    apr_array_header_t *texts = tr_req_blocks(e->p);

    tr_jv_set_str(msg, "role", "tool");
    tr_jv_set_str(msg, "tool_call_id", b->tool_call_id);
    for (int i = 0; b->content && i < b->content->nelts; i++) {
        tr_block *c = APR_ARRAY_IDX(b->content, i, tr_block *);
        APR_ARRAY_PUSH(c->kind == TR_BLOCK_TEXT ? texts : media, tr_block *) = c;
    }
    encode_content(e, msg, texts); /* text only: cannot fail */
    if (!tr_jv_get(msg, "content"))
        tr_jv_set_str(msg, "content", "");
}

static int encode_user(encoder *e, tr_jv *messages, const tr_message *m)
{
    apr_array_header_t *rest = tr_req_blocks(e->p);
    apr_array_header_t *media = tr_req_blocks(e->p);
    tr_jv *msg;

    for (int i = 0; i < m->blocks->nelts; i++) {
        const tr_block *b = APR_ARRAY_IDX(m->blocks, i, tr_block *);
        if (b->kind == TR_BLOCK_TOOL_RESULT)
            encode_tool_message(e, messages, b, media);
        else
            APR_ARRAY_PUSH(rest, const tr_block *) = b;
    }
    apr_array_cat(media, rest);
    if (media->nelts == 0)
        return 0;
    msg = tr_jv_push_object(messages);
    tr_jv_set_str(msg, "role", "user");
    return encode_content(e, msg, media);
}

static int encode_assistant(encoder *e, tr_jv *messages, const tr_message *m)
{
    tr_jv *msg = tr_jv_push_object(messages), *calls = NULL;
    apr_array_header_t *thinking = tr_req_blocks(e->p);

    tr_jv_set_str(msg, "role", "assistant");
    if (has_media(m->blocks))
        return tr_req_inexpressible(e->p, e->err,
                                    "images or documents in an assistant turn cannot be sent "
                                    "to an openai upstream");
    if (encode_content(e, msg, m->blocks))
        return e->err->status;
    for (int i = 0; i < m->blocks->nelts; i++) {
        const tr_block *b = APR_ARRAY_IDX(m->blocks, i, tr_block *);
        if (b->kind == TR_BLOCK_THINKING && b->text && *b->text)
            APR_ARRAY_PUSH(thinking, const tr_block *) = b;
        if (b->kind != TR_BLOCK_TOOL_CALL)
            continue;
        if (!calls)
            calls = tr_jv_set_array(msg, "tool_calls");
        tr_jv *call = tr_jv_push_object(calls), *fn;
        tr_jv_set_str(call, "id", b->id);
        tr_jv_set_str(call, "type", "function");
        fn = tr_jv_set_object(call, "function");
        tr_jv_set_str(fn, "name", b->name);
        tr_jv_set_str(fn, "arguments", b->arguments ? b->arguments : "{}");
    }
    if (!tr_jv_get(msg, "content"))
        tr_jv_set(msg, "content", calls ? tr_jv_null() : tr_jv_string(e->p, ""));
    /* reasoning_content is not OpenAI's own field (the official API refuses unknown message
     * fields): it goes back only to the OpenAI-compatible server whose client sent it. */
    if (thinking->nelts && e->req->proto == AIPROXY_PROTO_OPENAI)
        tr_jv_set_str(msg, "reasoning_content",
                      tr_req_join_text(e->p, thinking, TR_BLOCK_THINKING, "\n\n"));
    return 0;
}

static int encode_system_message(encoder *e, tr_jv *messages, const apr_array_header_t *blocks,
                                 int developer)
{
    tr_jv *msg = tr_jv_push_object(messages);
    tr_jv_set_str(msg, "role", developer ? "developer" : "system");
    return encode_content(e, msg, blocks);
}

static int encode_messages(encoder *e, tr_jv *body)
{
    tr_jv *messages = tr_jv_set_array(body, "messages");
    int rc = 0;

    if (e->req->system && e->req->system->nelts)
        rc = encode_system_message(e, messages, e->req->system, 0);
    for (int i = 0; !rc && e->req->messages && i < e->req->messages->nelts; i++) {
        const tr_message *m = APR_ARRAY_IDX(e->req->messages, i, tr_message *);
        switch (m->role) {
        case TR_ROLE_SYSTEM:
            rc = encode_system_message(e, messages, m->blocks, m->developer);
            break;
        case TR_ROLE_ASSISTANT:
            rc = encode_assistant(e, messages, m);
            break;
        default:
            rc = encode_user(e, messages, m);
            break;
        }
    }
    return rc;
}

static void encode_tools(encoder *e, tr_jv *body)
{
    tr_jv *tools = tr_jv_set_array(body, "tools");

    for (int i = 0; e->req->tools && i < e->req->tools->nelts; i++) {
        const tr_tool *t = APR_ARRAY_IDX(e->req->tools, i, tr_tool *);
        tr_jv *tool, *fn;

        if (!tr_req_tool_allowed(e->req, t->name))
            continue;
        if (e->req->proto == AIPROXY_PROTO_OPENAI && t->raw) {
            tr_jv_push(tools, tr_jv_copy(e->p, t->raw));
            continue;
        }
        if (!t->type || strcmp(t->type, "function") != 0 || !t->name)
            continue; /* other protocols' server-side tools */
        tool = tr_jv_push_object(tools);
        tr_jv_set_str(tool, "type", "function");
        fn = tr_jv_set_object(tool, "function");
        tr_jv_set_str(fn, "name", t->name);
        tr_jv_set_str(fn, "description", t->description);
        tr_req_set_copy(fn, "parameters", t->parameters);
        if (t->strict >= 0)
            tr_jv_set_bool(fn, "strict", t->strict);
    }
    if (tr_jv_size(tools) == 0) {
        tr_jv_del(body, "tools");
        return; /* tool_choice and parallel_tool_calls are refused without tools */
    }
    if (e->req->tool_choice == TR_TOOL_CHOICE_NAMED)
        tr_jv_set(body, "tool_choice",
                  tr_jv_pack(e->p, "{s:s, s:{s:s}}", "type", "function", "function", "name",
                             e->req->tool_choice_name ? e->req->tool_choice_name : ""));
    else if (e->req->tool_choice)
        tr_jv_set_str(body, "tool_choice",
                      tr_req_value_word(tr_req_openai_tool_choices, e->req->tool_choice));
    if (e->req->parallel_tool_calls >= 0)
        tr_jv_set_bool(body, "parallel_tool_calls", e->req->parallel_tool_calls);
}

static void encode_response_format(encoder *e, tr_jv *body)
{
    const tr_request *req = e->req;
    tr_jv *rf, *schema;

    if (!req->format)
        return;
    rf = tr_jv_set_object(body, "response_format");
    tr_jv_set_str(rf, "type", tr_req_value_word(tr_req_openai_formats, req->format));
    if (req->format != TR_FORMAT_JSON_SCHEMA)
        return;
    schema = tr_jv_set_object(rf, "json_schema");
    tr_jv_set_str(schema, "name", req->format_name ? req->format_name : "response");
    tr_req_set_copy(schema, "schema", req->format_schema);
    if (req->format_strict >= 0)
        tr_jv_set_bool(schema, "strict", req->format_strict);
}

/* reasoning_effort only when the client asked for reasoning in some form: sent to a model
 * without reasoning it is an error. */
static void encode_reasoning(encoder *e, tr_jv *body)
{
    const tr_request *req = e->req;
    const char *effort = req->reasoning_effort;

    if (req->thinking == 0 && !(effort && !strcmp(effort, "none")))
        return;
    if (!effort)
        effort = tr_req_budget_effort(req->thinking_budget);
    tr_jv_set_str(body, "reasoning_effort", tr_req_effort_word(AIPROXY_PROTO_OPENAI, effort));
}

static void encode_settings(encoder *e, tr_jv *body)
{
    const tr_request *req = e->req;

    if (req->max_tokens > 0)
        tr_jv_set_int(body,
                      req->proto == AIPROXY_PROTO_OPENAI && tr_jv_get(req->root, "max_tokens") &&
                              !tr_jv_get(req->root, "max_completion_tokens")
                          ? "max_tokens" /* the client's choice, for older servers */
                          : "max_completion_tokens",
                      req->max_tokens);
    if (req->has_temperature)
        tr_jv_set_real(body, "temperature", req->temperature);
    if (req->has_top_p)
        tr_jv_set_real(body, "top_p", req->top_p);
    if (req->has_presence_penalty)
        tr_jv_set_real(body, "presence_penalty", req->presence_penalty);
    if (req->has_frequency_penalty)
        tr_jv_set_real(body, "frequency_penalty", req->frequency_penalty);
    if (req->has_seed)
        tr_jv_set_int(body, "seed", req->seed);
    if (req->stop && req->stop->nelts) {
        tr_jv *stops = tr_jv_set_array(body, "stop");
        for (int i = 0; i < req->stop->nelts; i++)
            tr_jv_push_str(stops, APR_ARRAY_IDX(req->stop, i, const char *));
    }
    tr_jv_set_str(body, "user", req->user);
}

static int encode_request(encoder *e, tr_jv *body)
{
    int rc;

    if ((rc = tr_req_check_server_state(e->p, e->req, AIPROXY_PROTO_OPENAI, e->err)) ||
        (rc = tr_req_check_single_answer(e->p, e->req, AIPROXY_PROTO_OPENAI, e->err)))
        return rc;
    tr_jv_set_str(body, "model", e->target->model);
    if ((rc = encode_messages(e, body)))
        return rc;
    encode_tools(e, body);
    encode_response_format(e, body);
    encode_reasoning(e, body);
    encode_settings(e, body);
    if (e->target->stream) {
        /* Always ask for the usage chunk: the gateway reports usage whatever the client. */
        tr_jv_set_bool(body, "stream", 1);
        tr_jv_set(body, "stream_options", tr_jv_pack(e->p, "{s:b}", "include_usage", 1));
    }
    if (e->req->proto == AIPROXY_PROTO_OPENAI) {
        static const char *const skip[] = {"stream", "stream_options", "max_tokens",
                                           "max_completion_tokens", NULL};
        tr_req_keep_unclaimed(body, e->req->root, skip);
    }
    return 0;
}

int tr_openai_request_encode(apr_pool_t *p, const tr_request *req, const aiproxy_target *target,
                             tr_jv **body, aiproxy_error *err)
{
    encoder e = {p, req, target, err};
    tr_jv *out = tr_jv_object(p);
    return tr_req_finish_body(out, encode_request(&e, out), body);
}
