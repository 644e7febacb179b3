/*
 * codec/anthropic_request.c: Anthropic Messages request body <-> IR.
 *
 * Anthropic specifics the encoder enforces: max_tokens is required and must exceed the
 * thinking budget; thinking blocks need an Anthropic signature (others are dropped); thinking
 * cannot be combined with a forced tool choice, nor with a history whose last tool-calling
 * assistant turn does not start with thinking; in-conversation system messages are merged
 * into `system` in order (the documented API has only user and assistant turns).
 */
#include <string.h>
#include "apr_strings.h"
#include "json/tr_jv.h"
#include "codec/tr_protocols.h"
#include "codec/tr_request_util.h"

static const tr_req_word roles[] = {{TR_ROLE_USER, "user"},
                                    {TR_ROLE_ASSISTANT, "assistant"},
                                    {TR_ROLE_SYSTEM, "system"},
                                    {0, NULL}};

static const tr_req_word tool_choices[] = {{TR_TOOL_CHOICE_AUTO, "auto"},
                                           {TR_TOOL_CHOICE_ANY, "any"},
                                           {TR_TOOL_CHOICE_NONE, "none"},
                                           {TR_TOOL_CHOICE_NAMED, "tool"},
                                           {0, NULL}};

/* ============================================================================================
 * decode
 * ============================================================================================ */

typedef tr_req_decoder decoder;

typedef void (*block_decoder)(decoder *d, apr_array_header_t *out, tr_jv *blk, const tr_loc *loc);

/* A media source (image or document): base64, url, file, or plain text (documents). */
static void decode_source(decoder *d, tr_block *b, tr_jv *blk, const tr_loc *loc)
{
    tr_jv *source = tr_rd_obj(&d->rd, blk, "source", TR_LOC(loc));
    const char *type = tr_jv_get_str(source, "type");

    b->cache_control = tr_jv_get_object(blk, "cache_control");
    if (!source || !type)
        return;
    if (!strcmp(type, "base64")) {
        b->media_type = tr_jv_get_str(source, "media_type");
        b->data = tr_jv_get_str(source, "data");
    } else if (!strcmp(type, "url"))
        b->url = tr_jv_get_str(source, "url");
    else if (!strcmp(type, "file"))
        b->file_id = tr_jv_get_str(source, "file_id");
    else if (!strcmp(type, "text")) {
        b->media_type = "text/plain";
        b->text = tr_jv_get_str(source, "data");
    }
}

static void decode_text(decoder *d, apr_array_header_t *out, tr_jv *blk, const tr_loc *loc)
{
    tr_block *b = tr_req_add_text(d->p, out, tr_rd_str(&d->rd, blk, "text", TR_LOC(loc)));
    b->cache_control = tr_jv_get_object(blk, "cache_control");
}

static void decode_image(decoder *d, apr_array_header_t *out, tr_jv *blk, const tr_loc *loc)
{
    decode_source(d, tr_req_add_block(d->p, out, TR_BLOCK_IMAGE), blk, loc);
}

static void decode_document(decoder *d, apr_array_header_t *out, tr_jv *blk, const tr_loc *loc)
{
    tr_block *b = tr_req_add_block(d->p, out, TR_BLOCK_DOCUMENT);
    decode_source(d, b, blk, loc);
    b->filename = tr_jv_get_str(blk, "title");
}

static void decode_thinking(decoder *d, apr_array_header_t *out, tr_jv *blk, const tr_loc *loc)
{
    tr_block *b = tr_req_add_block(d->p, out, TR_BLOCK_THINKING);
    b->text = tr_rd_str(&d->rd, blk, "thinking", TR_LOC(loc));
    b->signature = tr_rd_str(&d->rd, blk, "signature", TR_LOC(loc));
    b->has_signature = b->signature && *b->signature;
    b->sig_proto = AIPROXY_PROTO_ANTHROPIC;
}

static void decode_redacted(decoder *d, apr_array_header_t *out, tr_jv *blk, const tr_loc *loc)
{
    tr_block *b = tr_req_add_block(d->p, out, TR_BLOCK_REDACTED_THINKING);
    b->redacted_data = tr_rd_str(&d->rd, blk, "data", TR_LOC(loc));
}

static void decode_tool_use(decoder *d, apr_array_header_t *out, tr_jv *blk, const tr_loc *loc)
{
    tr_block *b = tr_req_add_block(d->p, out, TR_BLOCK_TOOL_CALL);
    tr_jv *input = tr_rd_obj(&d->rd, blk, "input", TR_LOC(loc));

    b->id = tr_rd_str(&d->rd, blk, "id", TR_LOC(loc));
    b->name = tr_rd_str(&d->rd, blk, "name", TR_LOC(loc));
    b->arguments = input ? tr_req_json_text(d->p, input) : "{}";
    b->cache_control = tr_jv_get_object(blk, "cache_control");
    if (!d->rd.failed && (!b->id || !b->name))
        tr_rd_fail(&d->rd, "'%s' needs 'id' and 'name'", apr_psprintf(d->p, TR_LOC(loc)));
}

static void decode_blocks(decoder *d, apr_array_header_t *out, tr_jv *content, const tr_loc *loc,
                          int nested);

static void decode_tool_result(decoder *d, apr_array_header_t *out, tr_jv *blk, const tr_loc *loc)
{
    tr_block *b = tr_req_add_block(d->p, out, TR_BLOCK_TOOL_RESULT);
    tr_jv *content = tr_jv_get(blk, "content");
    tr_loc inner = {"messages[%d].content[%d].content", loc->a, loc->b, 0};

    b->tool_call_id = tr_rd_str(&d->rd, blk, "tool_use_id", TR_LOC(loc));
    tr_rd_bool(&d->rd, blk, "is_error", &b->is_error, TR_LOC(loc));
    b->cache_control = tr_jv_get_object(blk, "cache_control");
    b->content = tr_req_blocks(d->p);
    if (!d->rd.failed && !b->tool_call_id)
        tr_rd_fail(&d->rd, "'%s.tool_use_id' is required", apr_psprintf(d->p, TR_LOC(loc)));
    decode_blocks(d, b->content, content, &inner, 1);
}

/* Block types the IR holds; the rest (server_tool_use, web_search_tool_result, search_result,
 * container_upload ...) are Anthropic-executed and dropped on translated routes. */
static const struct {
    const char *type;
    block_decoder decode;
    int nested_ok; /* allowed inside tool_result content */
} block_types[] = {
    {"text", decode_text, 1},
    {"image", decode_image, 1},
    {"document", decode_document, 1},
    {"thinking", decode_thinking, 0},
    {"redacted_thinking", decode_redacted, 0},
    {"tool_use", decode_tool_use, 0},
    {"tool_result", decode_tool_result, 0},
};

static void decode_block(decoder *d, apr_array_header_t *out, tr_jv *blk, const tr_loc *loc,
                         int nested)
{
    const char *type;

    if (!tr_jv_is_object(blk)) {
        tr_rd_fail(&d->rd, "'%s' must be an object", apr_psprintf(d->p, TR_LOC(loc)));
        return;
    }
    type = tr_rd_str(&d->rd, blk, "type", TR_LOC(loc));
    for (size_t i = 0; type && i < sizeof(block_types) / sizeof(block_types[0]); i++) {
        if (!strcmp(block_types[i].type, type)) {
            if (!nested || block_types[i].nested_ok)
                block_types[i].decode(d, out, blk, loc);
            return;
        }
    }
}

/* content: a string (one text block) or an array of blocks; absent/null is empty. */
static void decode_blocks(decoder *d, apr_array_header_t *out, tr_jv *content, const tr_loc *loc,
                          int nested)
{
    size_t i;
    tr_jv *blk;

    if (!content || tr_jv_is_null(content))
        return;
    if (tr_jv_is_string(content)) {
        tr_req_add_text(d->p, out, tr_jv_str_value(content));
        return;
    }
    if (!tr_jv_is_array(content)) {
        tr_rd_fail(&d->rd, "'%s' must be a string or an array of content blocks",
                   apr_psprintf(d->p, TR_LOC(loc)));
        return;
    }
    tr_jv_array_foreach(content, i, blk)
    {
        tr_loc at = {nested ? "messages[%d].content[%d].content[%d]" : "messages[%d].content[%d]",
                     loc->a, nested ? loc->b : (int) i, (int) i};
        if (d->rd.failed)
            return;
        decode_block(d, out, blk, &at, nested);
    }
}

static void decode_messages(decoder *d)
{
    tr_jv *messages = tr_rd_arr(&d->rd, d->req->root, "messages", "");
    size_t i;
    tr_jv *msg;

    tr_jv_array_foreach(messages, i, msg)
    {
        tr_loc loc = {"messages[%d]", (int) i, 0, 0};
        tr_loc content_loc = {"messages[%d].content", (int) i, 0, 0};
        const char *role = tr_rd_str(&d->rd, msg, "role", TR_LOC(&loc));
        int r = tr_req_word_value(roles, role, -1);

        if (d->rd.failed)
            return;
        if (r < 0) {
            tr_rd_fail(&d->rd, "'messages[%d].role' must be \"user\", \"assistant\" or \"system\"",
                       (int) i);
            return;
        }
        decode_blocks(d, tr_req_add_message(d->p, d->req, (tr_role) r)->blocks,
                      tr_jv_get(msg, "content"), &content_loc, 0);
    }
}

static void decode_system(decoder *d)
{
    tr_jv *system = tr_jv_get(d->req->root, "system");
    tr_loc loc = {"system", 0, 0, 0};
    size_t i;
    tr_jv *blk;

    if (!system || tr_jv_is_null(system))
        return;
    d->req->system = tr_req_blocks(d->p);
    if (tr_jv_is_string(system)) {
        tr_req_add_text(d->p, d->req->system, tr_jv_str_value(system));
        return;
    }
    if (!tr_jv_is_array(system)) {
        tr_rd_fail(&d->rd, "'system' must be a string or an array of text blocks");
        return;
    }
    tr_jv_array_foreach(system, i, blk)
    {
        loc.fmt = "system[%d]";
        loc.a = (int) i;
        if (!tr_jv_is_object(blk))
            tr_rd_fail(&d->rd, "'system[%d]' must be a text block", (int) i);
        else
            decode_text(d, d->req->system, blk, &loc);
    }
}

static void decode_tools(decoder *d)
{
    tr_jv *tools = tr_rd_arr(&d->rd, d->req->root, "tools", "");
    size_t i;
    tr_jv *t;

    tr_jv_array_foreach(tools, i, t)
    {
        tr_loc loc = {"tools[%d]", (int) i, 0, 0};
        const char *type = tr_rd_str(&d->rd, t, "type", TR_LOC(&loc));
        tr_tool *tool;

        if (!tr_jv_is_object(t)) {
            tr_rd_fail(&d->rd, "'tools[%d]' must be an object", (int) i);
            return;
        }
        tool = tr_req_add_tool(d->p, d->req);
        tool->raw = t;
        tool->name = tr_rd_str(&d->rd, t, "name", TR_LOC(&loc));
        tool->description = tr_rd_str(&d->rd, t, "description", TR_LOC(&loc));
        /* No type (or "custom") is a client-executed function; typed ones (web_search_...,
         * bash_..., text_editor_...) are Anthropic built-ins. */
        if (!type || !strcmp(type, "custom")) {
            int eager = 0;
            tool->type = "function";
            tool->parameters = tr_rd_obj(&d->rd, t, "input_schema", TR_LOC(&loc));
            /* fine-grained tool streaming: this tool's input streamed as it is written */
            if (tr_rd_bool(&d->rd, t, "eager_input_streaming", &eager, TR_LOC(&loc)) && eager)
                d->req->stream_tool_arguments = 1;
        } else
            tool->type = type;
        if (!d->rd.failed && !tool->name)
            tr_rd_fail(&d->rd, "'tools[%d].name' is required", (int) i);
    }
}

static void decode_tool_choice(decoder *d)
{
    tr_jv *tc = tr_rd_obj(&d->rd, d->req->root, "tool_choice", "");
    int disable = 0;
    const char *type = tr_rd_str(&d->rd, tc, "type", "tool_choice");

    if (!tc)
        return;
    d->req->tool_choice = (tr_tool_choice) tr_req_word_value(tool_choices, type, 0);
    d->req->tool_choice_name = tr_rd_str(&d->rd, tc, "name", "tool_choice");
    if (tr_rd_bool(&d->rd, tc, "disable_parallel_tool_use", &disable, "tool_choice"))
        d->req->parallel_tool_calls = !disable;
}

static void decode_thinking_config(decoder *d)
{
    tr_jv *thinking = tr_rd_obj(&d->rd, d->req->root, "thinking", "");
    tr_jv *output_config = tr_rd_obj(&d->rd, d->req->root, "output_config", "");
    const char *type = tr_rd_str(&d->rd, thinking, "type", "thinking");
    const char *display = tr_jv_get_str(thinking, "display");
    const char *effort = tr_rd_str(&d->rd, output_config, "effort", "output_config");

    if (type && !strcmp(type, "disabled"))
        d->req->thinking = 0;
    else if (type && (!strcmp(type, "enabled") || !strcmp(type, "adaptive"))) {
        d->req->thinking = 1;
        d->req->thinking_adaptive = !strcmp(type, "adaptive");
        tr_rd_int(&d->rd, thinking, "budget_tokens", &d->req->thinking_budget, "thinking");
        /* Thinking is shown unless the client asked for it omitted. */
        d->req->include_thoughts = !display || strcmp(display, "omitted") != 0;
    }
    d->req->reasoning_effort = tr_req_effort_from(AIPROXY_PROTO_ANTHROPIC, effort);
}

/* Structured output: output_config.format (GA) or output_format (the beta's name). */
static void decode_output_format(decoder *d)
{
    tr_jv *format = tr_jv_get_object(tr_jv_get_object(d->req->root, "output_config"), "format");
    const char *type;

    if (!format)
        format = tr_rd_obj(&d->rd, d->req->root, "output_format", "");
    type = tr_rd_str(&d->rd, format, "type", "output_format");
    if (type && !strcmp(type, "json_schema")) {
        d->req->format = TR_FORMAT_JSON_SCHEMA;
        d->req->format_schema = tr_rd_obj(&d->rd, format, "schema", "output_format");
    }
}

static void decode_sampling(decoder *d)
{
    tr_request *req = d->req;
    tr_jv *stops = tr_rd_arr(&d->rd, req->root, "stop_sequences", "");
    tr_jv *metadata = tr_rd_obj(&d->rd, req->root, "metadata", "");
    size_t i;
    tr_jv *s;

    tr_rd_int(&d->rd, req->root, "max_tokens", &req->max_tokens, "");
    tr_rd_real_into(&d->rd, req->root, "temperature", &req->temperature, &req->has_temperature, "");
    tr_rd_real_into(&d->rd, req->root, "top_p", &req->top_p, &req->has_top_p, "");
    tr_rd_int(&d->rd, req->root, "top_k", &req->top_k, "");
    tr_jv_array_foreach(stops, i, s)
    {
        if (!tr_jv_is_string(s)) {
            tr_rd_fail(&d->rd, "'stop_sequences[%d]' must be a string", (int) i);
            return;
        }
        tr_req_add_stop(d->p, req, tr_jv_str_value(s));
    }
    req->user = tr_rd_str(&d->rd, metadata, "user_id", "metadata");
}

int tr_anthropic_request_decode(apr_pool_t *p, tr_request *req, aiproxy_error *err)
{
    decoder d = {p, req, {0}};

    tr_rd_init(&d.rd, p, err);
    decode_system(&d);
    decode_messages(&d);
    decode_tools(&d);
    decode_tool_choice(&d);
    decode_thinking_config(&d);
    decode_output_format(&d);
    decode_sampling(&d);
    tr_req_resolve_result_names(p, req);
    return tr_rd_status(&d.rd);
}

/* ============================================================================================
 * encode
 * ============================================================================================ */

typedef tr_req_encoder encoder;

static void set_cache_control(tr_jv *obj, const tr_block *b)
{
    if (b->cache_control)
        tr_req_set_copy(obj, "cache_control", b->cache_control);
}

static int encode_media(encoder *e, tr_jv *out, const tr_block *b)
{
    int image = b->kind == TR_BLOCK_IMAGE;
    tr_jv *blk, *source;

    if (tr_req_check_file_id(e->p, e->req, b, AIPROXY_PROTO_ANTHROPIC, e->err))
        return e->err->status;
    if (!image && !b->text && b->data && b->media_type &&
        strcmp(b->media_type, "application/pdf") != 0)
        return tr_req_inexpressible(e->p, e->err,
                                    "base64 documents of type %s cannot be sent to an "
                                    "anthropic upstream (it takes PDF as base64, plain text as "
                                    "text)",
                                    b->media_type);
    blk = tr_jv_push_object(out);
    tr_jv_set_str(blk, "type", image ? "image" : "document");
    source = tr_jv_set_object(blk, "source");
    if (!image && b->text) {
        tr_jv_set_str(source, "type", "text");
        tr_jv_set_str(source, "media_type", "text/plain");
        tr_jv_set_str(source, "data", b->text);
    } else if (b->data) {
        tr_jv_set_str(source, "type", "base64");
        tr_jv_set_str(source, "media_type", b->media_type ? b->media_type : "application/pdf");
        tr_jv_set_str(source, "data", b->data);
    } else if (b->url) {
        tr_jv_set_str(source, "type", "url");
        tr_jv_set_str(source, "url", b->url);
    } else if (b->file_id) {
        tr_jv_set_str(source, "type", "file");
        tr_jv_set_str(source, "file_id", b->file_id);
    }
    if (!image)
        tr_jv_set_str(blk, "title", b->filename);
    set_cache_control(blk, b);
    return 0;
}

static int encode_block(encoder *e, tr_jv *out, const tr_block *b);

static int encode_tool_result(encoder *e, tr_jv *out, const tr_block *b)
{
    tr_jv *blk = tr_jv_push_object(out), *content;
    int single_text;

    tr_jv_set_str(blk, "type", "tool_result");
    tr_jv_set_str(blk, "tool_use_id", tr_req_safe_id(e->p, b->tool_call_id));
    single_text = b->content && b->content->nelts == 1 &&
                  APR_ARRAY_IDX(b->content, 0, tr_block *)->kind == TR_BLOCK_TEXT &&
                  !APR_ARRAY_IDX(b->content, 0, tr_block *)->cache_control;
    if (single_text)
        tr_jv_set_str(blk, "content", APR_ARRAY_IDX(b->content, 0, tr_block *)->text);
    else if (b->content && b->content->nelts) {
        content = tr_jv_set_array(blk, "content");
        for (int i = 0; i < b->content->nelts; i++) {
            int rc = encode_block(e, content, APR_ARRAY_IDX(b->content, i, tr_block *));
            if (rc)
                return rc;
        }
        tr_req_drop_empty(blk, "content");
    }
    if (b->is_error)
        tr_jv_set_bool(blk, "is_error", 1);
    set_cache_control(blk, b);
    return 0;
}

static int encode_block(encoder *e, tr_jv *out, const tr_block *b)
{
    tr_jv *blk;

    switch (b->kind) {
    case TR_BLOCK_TEXT:
        if (!b->text || !*b->text) /* Anthropic rejects empty text blocks */
            return 0;
        blk = tr_jv_push_object(out);
        tr_jv_set_str(blk, "type", "text");
        tr_jv_set_str(blk, "text", b->text);
        set_cache_control(blk, b);
        return 0;
    case TR_BLOCK_IMAGE:
    case TR_BLOCK_DOCUMENT:
        return encode_media(e, out, b);
    case TR_BLOCK_THINKING:
        /* Anthropic verifies signatures: anything it did not sign is dropped. */
        if (!tr_req_signed_by(b, AIPROXY_PROTO_ANTHROPIC))
            return 0;
        blk = tr_jv_push_object(out);
        tr_jv_set_str(blk, "type", "thinking");
        tr_jv_set_str(blk, "thinking", b->text ? b->text : "");
        tr_jv_set_str(blk, "signature", b->signature);
        return 0;
    case TR_BLOCK_REDACTED_THINKING:
        if (b->redacted_data) {
            blk = tr_jv_push_object(out);
            tr_jv_set_str(blk, "type", "redacted_thinking");
            tr_jv_set_str(blk, "data", b->redacted_data);
        }
        return 0;
    case TR_BLOCK_TOOL_CALL:
        blk = tr_jv_push_object(out);
        tr_jv_set_str(blk, "type", "tool_use");
        tr_jv_set_str(blk, "id", tr_req_safe_id(e->p, b->id));
        tr_jv_set_str(blk, "name", b->name);
        tr_jv_set(blk, "input", tr_req_arguments_object(e->p, b->arguments));
        set_cache_control(blk, b);
        return 0;
    case TR_BLOCK_TOOL_RESULT:
        return encode_tool_result(e, out, b);
    default:
        return 0;
    }
}

/* System messages inside the conversation stay in place only for an Anthropic client's own
 * upstream (Claude Code sends them); from other protocols they are merged into `system`. */
static int keeps_system_in_place(const encoder *e)
{
    return e->req->proto == AIPROXY_PROTO_ANTHROPIC;
}

static int encode_system(encoder *e, tr_jv *body)
{
    apr_array_header_t *system =
        keeps_system_in_place(e) ? e->req->system : tr_req_hoisted_system(e->p, e->req);
    tr_jv *arr;

    if (!system || !system->nelts)
        return 0;
    if (system->nelts == 1 && !APR_ARRAY_IDX(system, 0, tr_block *)->cache_control &&
        *APR_ARRAY_IDX(system, 0, tr_block *)->text) {
        tr_jv_set_str(body, "system", APR_ARRAY_IDX(system, 0, tr_block *)->text);
        return 0;
    }
    arr = tr_jv_set_array(body, "system");
    for (int i = 0; i < system->nelts; i++)
        encode_block(e, arr, APR_ARRAY_IDX(system, i, tr_block *));
    tr_req_drop_empty(body, "system");
    return 0;
}

static int encode_messages(encoder *e, tr_jv *body)
{
    tr_jv *messages = tr_jv_set_array(body, "messages");

    for (int i = 0; e->req->messages && i < e->req->messages->nelts; i++) {
        const tr_message *m = APR_ARRAY_IDX(e->req->messages, i, tr_message *);
        tr_jv *msg, *content;

        if (m->role == TR_ROLE_SYSTEM && !keeps_system_in_place(e))
            continue; /* merged into system */
        msg = tr_jv_push_object(messages);
        tr_jv_set_str(msg, "role", tr_req_value_word(roles, m->role));
        content = tr_jv_set_array(msg, "content");
        for (int j = 0; j < m->blocks->nelts; j++) {
            int rc = encode_block(e, content, APR_ARRAY_IDX(m->blocks, j, tr_block *));
            if (rc)
                return rc;
        }
        /* A turn left empty (only foreign thinking, say) would be rejected. */
        if (tr_jv_size(content) == 0)
            tr_jv_remove(messages, tr_jv_size(messages) - 1);
    }
    return 0;
}

static void encode_tools(encoder *e, tr_jv *body)
{
    tr_jv *tools = tr_jv_set_array(body, "tools");

    for (int i = 0; e->req->tools && i < e->req->tools->nelts; i++) {
        const tr_tool *t = APR_ARRAY_IDX(e->req->tools, i, tr_tool *);
        tr_jv *tool;

        if (!tr_req_tool_allowed(e->req, t->name))
            continue;
        if (e->req->proto == AIPROXY_PROTO_ANTHROPIC && t->raw) {
            tr_jv_push(tools, tr_jv_copy(e->p, t->raw)); /* incl. built-ins */
            continue;
        }
        /* Other protocols' built-in tools (web_search, googleSearch ...) run on their own
         * servers, with result blocks only they define: not expressible here. */
        if (!t->type || strcmp(t->type, "function") != 0 || !t->name)
            continue;
        tool = tr_jv_push_object(tools);
        tr_jv_set_str(tool, "name", t->name);
        tr_jv_set_str(tool, "description", t->description);
        if (t->parameters)
            tr_req_set_copy(tool, "input_schema", t->parameters);
        else
            tr_jv_set(tool, "input_schema",
                      tr_jv_pack(e->p, "{s:s, s:{}}", "type", "object", "properties"));
    }
    if (tr_jv_size(tools) == 0) {
        tr_jv_del(body, "tools");
        return;
    }
    if (e->req->tool_choice || e->req->parallel_tool_calls == 0) {
        tr_jv *tc = tr_jv_set_object(body, "tool_choice");
        tr_tool_choice choice = e->req->tool_choice ? e->req->tool_choice : TR_TOOL_CHOICE_AUTO;
        tr_jv_set_str(tc, "type", tr_req_value_word(tool_choices, choice));
        if (choice == TR_TOOL_CHOICE_NAMED)
            tr_jv_set_str(tc, "name", e->req->tool_choice_name);
        if (e->req->parallel_tool_calls == 0)
            tr_jv_set_bool(tc, "disable_parallel_tool_use", 1);
    }
}

/* Anthropic refuses thinking when the last tool-calling assistant turn (the turn being
 * continued) does not start with a thinking block: foreign histories never do. */
static int history_allows_thinking(const tr_request *req)
{
    for (int i = req->messages ? req->messages->nelts - 1 : -1; i >= 0; i--) {
        const tr_message *m = APR_ARRAY_IDX(req->messages, i, tr_message *);
        int has_call = 0;
        if (m->role != TR_ROLE_ASSISTANT)
            continue;
        for (int j = 0; j < m->blocks->nelts; j++)
            has_call |= APR_ARRAY_IDX(m->blocks, j, tr_block *)->kind == TR_BLOCK_TOOL_CALL;
        if (!has_call)
            return 1;
        for (int j = 0; j < m->blocks->nelts; j++) {
            const tr_block *b = APR_ARRAY_IDX(m->blocks, j, tr_block *);
            if (b->kind == TR_BLOCK_REDACTED_THINKING ||
                (b->kind == TR_BLOCK_THINKING && tr_req_signed_by(b, AIPROXY_PROTO_ANTHROPIC)))
                return 1;
            if (b->kind != TR_BLOCK_THINKING) /* dropped foreign thinking does not count */
                return 0;
        }
        return 0;
    }
    return 1;
}

typedef struct {
    int on;
    long budget; /* 0 with adaptive */
    long max_tokens;
} thinking_plan;

static thinking_plan plan_thinking(const encoder *e)
{
    const tr_request *req = e->req;
    long dflt = e->target->default_max_tokens > 0 ? e->target->default_max_tokens
                                                  : TR_REQ_DEFAULT_MAX_TOKENS;
    long effort_budget = tr_req_effort_budget(req->reasoning_effort);
    thinking_plan plan = {0, 0, req->max_tokens > 0 ? req->max_tokens : dflt};

    plan.on = req->thinking == 1 ||
              (req->thinking != 0 && (req->thinking_budget > 0 || effort_budget > 0));
    if (req->reasoning_effort && !strcmp(req->reasoning_effort, "none"))
        plan.on = 0;
    if (req->tool_choice == TR_TOOL_CHOICE_ANY || req->tool_choice == TR_TOOL_CHOICE_NAMED ||
        !history_allows_thinking(req))
        plan.on = 0;
    if (!plan.on || req->thinking_adaptive)
        return plan;
    plan.budget = req->thinking_budget > 0 ? req->thinking_budget
                  : effort_budget > 0      ? effort_budget
                                           : tr_req_effort_budget("medium");
    if (plan.budget < TR_REQ_MIN_THINKING_BUDGET)
        plan.budget = TR_REQ_MIN_THINKING_BUDGET;
    if (req->max_tokens > 0) {
        /* The client's limit covers thinking too (as OpenAI's max_completion_tokens does):
         * fit the budget under it leaving a quarter for the answer, or think not at all when
         * the limit is too small. */
        if (plan.budget >= req->max_tokens)
            plan.budget = req->max_tokens / 4 * 3;
        if (plan.budget < TR_REQ_MIN_THINKING_BUDGET)
            plan.on = 0;
    } else if (plan.max_tokens <= plan.budget)
        plan.max_tokens = plan.budget + dflt;
    return plan;
}

static void encode_thinking(encoder *e, tr_jv *body, const thinking_plan *plan)
{
    const tr_request *req = e->req;
    const char *effort = tr_req_effort_word(AIPROXY_PROTO_ANTHROPIC, req->reasoning_effort);
    tr_jv *thinking;

    if (!plan->on) {
        if (req->thinking == 0)
            tr_jv_set(body, "thinking", tr_jv_pack(e->p, "{s:s}", "type", "disabled"));
        return;
    }
    thinking = tr_jv_set_object(body, "thinking");
    if (req->thinking_adaptive) {
        tr_jv_set_str(thinking, "type", "adaptive");
        /* effort steers adaptive thinking; models without adaptive have no effort either */
        if (effort)
            tr_jv_set_str(tr_jv_set_object(body, "output_config"), "effort", effort);
    } else {
        tr_jv_set_str(thinking, "type", "enabled");
        tr_jv_set_int(thinking, "budget_tokens", plan->budget);
        if (effort && req->proto == AIPROXY_PROTO_ANTHROPIC)
            tr_jv_set_str(tr_jv_set_object(body, "output_config"), "effort", effort);
    }
}

/* With thinking on, Anthropic accepts only temperature 1, no top_k and top_p >= 0.95: the
 * other values are sampling hints the thinking model would refuse, so they are left out. */
static void encode_sampling(encoder *e, tr_jv *body, int thinking_on)
{
    const tr_request *req = e->req;

    if (req->has_temperature && (!thinking_on || req->temperature == 1.0))
        tr_jv_set_real(body, "temperature", req->temperature);
    if (req->has_top_p && (!thinking_on || req->top_p >= 0.95))
        tr_jv_set_real(body, "top_p", req->top_p);
    if (req->top_k > 0 && !thinking_on)
        tr_jv_set_int(body, "top_k", req->top_k);
    if (req->stop && req->stop->nelts) {
        tr_jv *stops = tr_jv_set_array(body, "stop_sequences");
        for (int i = 0; i < req->stop->nelts; i++)
            tr_jv_push_str(stops, APR_ARRAY_IDX(req->stop, i, const char *));
    }
    if (req->user)
        tr_jv_set_str(tr_jv_set_object(body, "metadata"), "user_id", req->user);
}

static int encode_output_format(encoder *e, tr_jv *body)
{
    tr_jv *config, *format;

    if (e->req->format == TR_FORMAT_JSON_OBJECT)
        return tr_req_inexpressible(e->p, e->err,
                                    "JSON mode without a schema (response_format json_object) "
                                    "cannot be sent to an anthropic upstream: give a "
                                    "json_schema");
    if (e->req->format != TR_FORMAT_JSON_SCHEMA || !e->req->format_schema)
        return 0;
    config = tr_jv_get(body, "output_config");
    if (!config)
        config = tr_jv_set_object(body, "output_config");
    format = tr_jv_set_object(config, "format");
    tr_jv_set_str(format, "type", "json_schema");
    tr_req_set_copy(format, "schema", e->req->format_schema);
    return 0;
}

static int encode_request(encoder *e, tr_jv *body)
{
    thinking_plan plan;
    int rc;

    if ((rc = tr_req_check_server_state(e->p, e->req, AIPROXY_PROTO_ANTHROPIC, e->err)) ||
        (rc = tr_req_check_single_answer(e->p, e->req, AIPROXY_PROTO_ANTHROPIC, e->err)))
        return rc;
    plan = plan_thinking(e);
    tr_jv_set_str(body, "model", e->target->model);
    tr_jv_set_int(body, "max_tokens", plan.max_tokens);
    if ((rc = encode_system(e, body)) || (rc = encode_messages(e, body)))
        return rc;
    encode_tools(e, body);
    encode_thinking(e, body, &plan);
    encode_sampling(e, body, plan.on);
    if ((rc = encode_output_format(e, body)))
        return rc;
    if (e->target->stream)
        tr_jv_set_bool(body, "stream", 1);
    if (e->req->proto == AIPROXY_PROTO_ANTHROPIC) {
        static const char *const skip[] = {"stream", NULL};
        /* the sampling values encode_sampling left out for thinking stay out */
        static const char *const skip_thinking[] = {"stream", "temperature", "top_p", "top_k",
                                                    NULL};
        tr_req_keep_unclaimed(body, e->req->root, plan.on ? skip_thinking : skip);
    }
    return 0;
}

int tr_anthropic_request_encode(apr_pool_t *p, const tr_request *req, const aiproxy_target *target,
                                tr_jv **body, aiproxy_error *err)
{
    encoder e = {p, req, target, err};
    tr_jv *out = tr_jv_object(p);
    return tr_req_finish_body(out, encode_request(&e, out), body);
}
