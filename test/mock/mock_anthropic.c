/* Anthropic Messages API shapes: POST .../v1/messages (JSON or named SSE events) and
 * .../v1/messages/count_tokens. */
#include <string.h>

#include <apr_strings.h>

#include "mock.h"

#define SALT_MSG       1
#define SALT_TOOL      2
#define SALT_SIGNATURE 3
#define SALT_REQUEST   4

static const struct {
    int status;
    const char *type;
    const char *message;
} anthropic_errors[] = {
    {400, "invalid_request_error", "mock: invalid request"},
    {401, "authentication_error", "invalid x-api-key"},
    {403, "permission_error",
     "Your API key does not have permission to use the specified resource."},
    {404, "not_found_error", "The requested resource could not be found."},
    {413, "request_too_large", "Request exceeds the maximum allowed number of bytes."},
    {429, "rate_limit_error",
     "This request would exceed the rate limit for your organization. Please try again later."},
    {500, "api_error", "Internal server error"},
    {503, "overloaded_error", "Overloaded"},
    {504, "timeout_error", "Request timed out"},
    {529, "overloaded_error", "Overloaded"},
};

static void anthropic_parse(mock_call *c)
{
    const json_t *messages = json_object_get(c->body, "messages");
    const json_t *tool = json_array_get(json_object_get(c->body, "tools"), 0);
    const char *model = mock_json_str(c->body, "model");

    c->model = model ? model : "";
    c->stream = json_is_true(json_object_get(c->body, "stream"));
    c->user_text = "";
    c->user_text_len = 0;
    for (size_t i = json_array_size(messages); i > 0; i--) {
        const json_t *msg = json_array_get(messages, i - 1);
        const char *role = mock_json_str(msg, "role");
        if (role && strcmp(role, "user") == 0) {
            c->user_text = mock_content_text(c->pool, json_object_get(msg, "content"), "text", NULL,
                                             &c->user_text_len);
            break;
        }
    }
    c->tool_name = mock_json_str(tool, "name");
}

static json_t *usage_object(const mock_plan *p)
{
    return json_pack("{s:I,s:I,s:I,s:I,s:s}", "input_tokens", (json_int_t) p->input_tokens,
                     "cache_creation_input_tokens", (json_int_t) 0, "cache_read_input_tokens",
                     (json_int_t) 0, "output_tokens", (json_int_t) p->output_tokens, "service_tier",
                     "standard");
}

static const char *stop_reason(const mock_plan *p)
{
    return p->tool_name ? "tool_use" : "end_turn";
}

static const char *signature(const mock_call *c)
{
    return mock_blob_b64(c->pool, "", c->seed, SALT_SIGNATURE, 96);
}

static json_t *message_object(const mock_call *c, json_t *content, json_t *stop, json_t *usage)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:o,s:o,s:n,s:o}", "id",
                     mock_id(c->pool, "msg_01", c->seed, SALT_MSG, 22), "type", "message", "role",
                     "assistant", "model", c->model, "content", content, "stop_reason", stop,
                     "stop_sequence", "usage", usage);
}

static void reply_json(const mock_call *c, const mock_plan *p, mock_reply *out)
{
    json_t *content = json_array();
    if (p->thinking_full) {
        json_array_append_new(content, json_pack("{s:s,s:s,s:s}", "type", "thinking", "thinking",
                                                 p->thinking_full, "signature", signature(c)));
    }
    if (p->text_full) {
        json_array_append_new(content, json_pack("{s:s,s:s%}", "type", "text", "text", p->text_full,
                                                 p->text_full_len));
    }
    if (p->tool_name) {
        json_array_append_new(content,
                              json_pack("{s:s,s:s,s:s,s:{s:s}}", "type", "tool_use", "id",
                                        mock_id(c->pool, "toolu_01", c->seed, SALT_TOOL, 22),
                                        "name", p->tool_name, "input", "arg", "mock"));
    }
    mock_reply_body(out, 200,
                    message_object(c, content, json_string(stop_reason(p)), usage_object(p)));
}

static void event(mock_reply *out, const char *name, json_t *data)
{
    mock_reply_sse(out, name, data);
}

static void block_start(mock_reply *out, int index, json_t *block)
{
    event(out, "content_block_start",
          json_pack("{s:s,s:i,s:o}", "type", "content_block_start", "index", index, "content_block",
                    block));
}

static void block_delta(mock_reply *out, int index, json_t *delta)
{
    event(
        out, "content_block_delta",
        json_pack("{s:s,s:i,s:o}", "type", "content_block_delta", "index", index, "delta", delta));
}

static void block_stop(mock_reply *out, int index)
{
    event(out, "content_block_stop",
          json_pack("{s:s,s:i}", "type", "content_block_stop", "index", index));
}

static void reply_stream(const mock_call *c, const mock_plan *p, mock_reply *out)
{
    int index = 0;
    json_t *start_usage;

    mock_reply_stream(out, "text/event-stream; charset=utf-8");
    start_usage =
        json_pack("{s:I,s:I,s:I,s:I,s:s}", "input_tokens", (json_int_t) p->input_tokens,
                  "cache_creation_input_tokens", (json_int_t) 0, "cache_read_input_tokens",
                  (json_int_t) 0, "output_tokens", (json_int_t) 1, "service_tier", "standard");
    event(out, "message_start",
          json_pack("{s:s,s:o}", "type", "message_start", "message",
                    message_object(c, json_array(), json_null(), start_usage)));
    event(out, "ping", json_pack("{s:s}", "type", "ping"));

    if (p->thinking->nelts) {
        block_start(
            out, index,
            json_pack("{s:s,s:s,s:s}", "type", "thinking", "thinking", "", "signature", ""));
        for (int i = 0; i < p->thinking->nelts; i++) {
            const mock_piece *piece = &APR_ARRAY_IDX(p->thinking, i, mock_piece);
            block_delta(out, index,
                        json_pack("{s:s,s:s%}", "type", "thinking_delta", "thinking", piece->s,
                                  piece->len));
        }
        block_delta(out, index,
                    json_pack("{s:s,s:s}", "type", "signature_delta", "signature", signature(c)));
        block_stop(out, index++);
    }
    if (p->text->nelts) {
        block_start(out, index, json_pack("{s:s,s:s}", "type", "text", "text", ""));
        for (int i = 0; i < p->text->nelts; i++) {
            const mock_piece *piece = &APR_ARRAY_IDX(p->text, i, mock_piece);
            block_delta(
                out, index,
                json_pack("{s:s,s:s%}", "type", "text_delta", "text", piece->s, piece->len));
        }
        block_stop(out, index++);
    }
    if (p->tool_name) {
        block_start(out, index,
                    json_pack("{s:s,s:s,s:s,s:{}}", "type", "tool_use", "id",
                              mock_id(c->pool, "toolu_01", c->seed, SALT_TOOL, 22), "name",
                              p->tool_name, "input"));
        for (int i = 0; i < p->tool_args->nelts; i++) {
            const mock_piece *piece = &APR_ARRAY_IDX(p->tool_args, i, mock_piece);
            block_delta(out, index,
                        json_pack("{s:s,s:s%}", "type", "input_json_delta", "partial_json",
                                  piece->s, piece->len));
        }
        block_stop(out, index++);
    }
    event(out, "message_delta",
          json_pack("{s:s,s:{s:s,s:n},s:{s:I}}", "type", "message_delta", "delta", "stop_reason",
                    stop_reason(p), "stop_sequence", "usage", "output_tokens",
                    (json_int_t) p->output_tokens));
    event(out, "message_stop", json_pack("{s:s}", "type", "message_stop"));
}

static void anthropic_reply(const mock_call *c, const mock_plan *p, mock_reply *out)
{
    apr_table_setn(out->headers, "request-id",
                   mock_id(c->pool, "req_011C", c->seed, SALT_REQUEST, 20));
    if (c->route.ep == MOCK_EP_COUNT_TOKENS) {
        mock_reply_body(out, 200, json_pack("{s:I}", "input_tokens", (json_int_t) p->input_tokens));
    } else if (c->stream) {
        reply_stream(c, p, out);
    } else {
        reply_json(c, p, out);
    }
}

static json_t *error_object(int status, const char *message)
{
    const char *type = status >= 500 ? "api_error" : "invalid_request_error";
    const char *default_message = status >= 500 ? "Internal server error" : "mock: request failed";
    for (size_t i = 0; i < sizeof(anthropic_errors) / sizeof(anthropic_errors[0]); i++) {
        if (anthropic_errors[i].status == status) {
            type = anthropic_errors[i].type;
            default_message = anthropic_errors[i].message;
            break;
        }
    }
    return json_pack("{s:s,s:o}", "type", type, "message",
                     mock_json_string(message ? message : default_message,
                                      strlen(message ? message : default_message)));
}

static void anthropic_error(const mock_call *c, mock_reply *out, int status, const char *message)
{
    const char *request_id = mock_id(c->pool, "req_011C", c->seed, SALT_REQUEST, 20);
    apr_table_setn(out->headers, "request-id", request_id);
    mock_reply_body(out, status,
                    json_pack("{s:s,s:o,s:s}", "type", "error", "error",
                              error_object(status, message), "request_id", request_id));
}

static void anthropic_stream_error(const mock_call *c, mock_reply *out)
{
    mock_reply_stream(out, "text/event-stream; charset=utf-8");
    event(out, "error", json_pack("{s:s,s:o}", "type", "error", "error", error_object(529, NULL)));
}

/* A subscription whose 5-hour window is used up: 429 rate_limit_error with the unified
 * rate-limit headers Claude Code reads (epoch-second resets; the weekly window still allowed). */
static void anthropic_quota(const mock_call *c, mock_reply *out, apr_int64_t seconds)
{
    static const apr_int64_t week = 7 * 24 * 3600;
    const apr_int64_t now = apr_time_sec(c->now);
    const char *reset = apr_psprintf(c->pool, "%" APR_INT64_T_FMT, now + seconds);
    const char *weekly = apr_psprintf(c->pool, "%" APR_INT64_T_FMT, now + week);

    anthropic_error(c, out, 429,
                    "This request would exceed your account's rate limit. Please try "
                    "again later.");
    apr_table_setn(out->headers, "anthropic-ratelimit-unified-status", "rejected");
    apr_table_setn(out->headers, "anthropic-ratelimit-unified-reset", reset);
    apr_table_setn(out->headers, "anthropic-ratelimit-unified-representative-claim", "five_hour");
    apr_table_setn(out->headers, "anthropic-ratelimit-unified-5h-status", "rejected");
    apr_table_setn(out->headers, "anthropic-ratelimit-unified-5h-reset", reset);
    apr_table_setn(out->headers, "anthropic-ratelimit-unified-7d-status", "allowed");
    apr_table_setn(out->headers, "anthropic-ratelimit-unified-7d-reset", weekly);
    apr_table_setn(out->headers, "retry-after",
                   apr_psprintf(c->pool, "%" APR_INT64_T_FMT, seconds));
}

const mock_provider mock_anthropic_provider = {
    "anthropic",     anthropic_parse,        anthropic_reply,
    anthropic_error, anthropic_stream_error, anthropic_quota,
};
