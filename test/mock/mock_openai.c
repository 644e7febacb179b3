/* OpenAI Chat Completions shapes: POST .../chat/completions (JSON, or data-only SSE chunks ending
 * in [DONE]), the OpenAI error envelope (shared with the Responses API) and GET .../models. */
#include <string.h>

#include <apr_strings.h>

#include "mock.h"

#define SALT_COMPLETION 11
#define SALT_CALL       12
#define SALT_REQUEST    13
#define FINGERPRINT     "fp_mock"

static const struct {
    int status;
    const char *type;
    const char *code; /* NULL: null */
    const char *message;
} openai_errors[] = {
    {400, "invalid_request_error", NULL, "mock: invalid request"},
    {401, "invalid_request_error", "invalid_api_key",
     "Incorrect API key provided. You can find your API key at "
     "https://platform.openai.com/account/api-keys."},
    {403, "invalid_request_error", "permission_denied",
     "You are not allowed to access this resource."},
    {404, "invalid_request_error", "model_not_found",
     "The model does not exist or you do not have access to it."},
    {429, "requests", "rate_limit_exceeded",
     "Rate limit reached for requests. Please try again later."},
    {500, "server_error", NULL,
     "The server had an error while processing your request. Sorry about that!"},
    {503, "server_error", NULL, "The engine is currently overloaded, please try again later."},
};

static void openai_parse(mock_call *c)
{
    const json_t *messages = json_object_get(c->body, "messages");
    const json_t *tool = json_array_get(json_object_get(c->body, "tools"), 0);
    const char *model = mock_json_str(c->body, "model");

    if (c->route.ep == MOCK_EP_EMBED) {
        mock_openai_embed_parse(c);
        return;
    }
    if (c->route.ep == MOCK_EP_COMPLETIONS) {
        mock_completions_parse(c);
        return;
    }
    c->model = model ? model : "";
    c->stream = json_is_true(json_object_get(c->body, "stream"));
    c->include_usage =
        json_is_true(json_object_get(json_object_get(c->body, "stream_options"), "include_usage"));
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
    c->tool_name = mock_json_str(json_object_get(tool, "function"), "name");
}

static json_t *usage_object(const mock_plan *p)
{
    return json_pack(
        "{s:I,s:I,s:I,s:{s:I,s:I},s:{s:I,s:I,s:I,s:I}}", "prompt_tokens",
        (json_int_t) p->input_tokens, "completion_tokens", (json_int_t) p->output_tokens,
        "total_tokens", (json_int_t) (p->input_tokens + p->output_tokens), "prompt_tokens_details",
        "cached_tokens", (json_int_t) 0, "audio_tokens", (json_int_t) 0,
        "completion_tokens_details", "reasoning_tokens", (json_int_t) p->reasoning_tokens,
        "audio_tokens", (json_int_t) 0, "accepted_prediction_tokens", (json_int_t) 0,
        "rejected_prediction_tokens", (json_int_t) 0);
}

static const char *finish_reason(const mock_plan *p)
{
    return p->tool_name ? "tool_calls" : "stop";
}

static const char *call_id(const mock_call *c)
{
    return mock_id(c->pool, "call_", c->seed, SALT_CALL, 24);
}

static void reply_json(const mock_call *c, const mock_plan *p, const char *id, mock_reply *out)
{
    json_t *message = json_pack("{s:s}", "role", "assistant");
    json_object_set_new(message, "content",
                        p->text_full ? json_stringn(p->text_full, p->text_full_len) : json_null());
    if (p->thinking_full) {
        json_object_set_new(message, "reasoning_content", json_string(p->thinking_full));
    }
    if (p->tool_name) {
        json_object_set_new(message, "tool_calls",
                            json_pack("[{s:s,s:s,s:{s:s,s:s}}]", "id", call_id(c), "type",
                                      "function", "function", "name", p->tool_name, "arguments",
                                      p->tool_args_full));
    }
    json_object_set_new(message, "refusal", json_null());
    json_object_set_new(message, "annotations", json_array());
    mock_reply_body(out, 200,
                    json_pack("{s:s,s:s,s:I,s:s,s:[{s:i,s:o,s:n,s:s}],s:o,s:s,s:s}", "id", id,
                              "object", "chat.completion", "created",
                              (json_int_t) apr_time_sec(c->now), "model", c->model, "choices",
                              "index", 0, "message", message, "logprobs", "finish_reason",
                              finish_reason(p), "usage", usage_object(p), "service_tier", "default",
                              "system_fingerprint", FINGERPRINT));
}

/* One chat.completion.chunk frame; finish NULL = null. */
static void chunk(const mock_call *c, const char *id, mock_reply *out, json_t *delta,
                  const char *finish)
{
    json_t *obj =
        json_pack("{s:s,s:s,s:I,s:s,s:s,s:[{s:i,s:o,s:n,s:o}]}", "id", id, "object",
                  "chat.completion.chunk", "created", (json_int_t) apr_time_sec(c->now), "model",
                  c->model, "system_fingerprint", FINGERPRINT, "choices", "index", 0, "delta",
                  delta, "logprobs", "finish_reason", finish ? json_string(finish) : json_null());
    if (c->include_usage) {
        json_object_set_new(obj, "usage", json_null());
    }
    mock_reply_sse(out, NULL, obj);
}

static void reply_stream(const mock_call *c, const mock_plan *p, const char *id, mock_reply *out)
{
    static const char done[] = "data: [DONE]\n\n";

    mock_reply_stream(out, "text/event-stream; charset=utf-8");
    chunk(c, id, out, json_pack("{s:s,s:s,s:n}", "role", "assistant", "content", "", "refusal"),
          NULL);
    for (int i = 0; i < p->thinking->nelts; i++) {
        const mock_piece *piece = &APR_ARRAY_IDX(p->thinking, i, mock_piece);
        chunk(c, id, out, json_pack("{s:s%}", "reasoning_content", piece->s, piece->len), NULL);
    }
    for (int i = 0; i < p->text->nelts; i++) {
        const mock_piece *piece = &APR_ARRAY_IDX(p->text, i, mock_piece);
        chunk(c, id, out, json_pack("{s:s%}", "content", piece->s, piece->len), NULL);
    }
    if (p->tool_name) {
        chunk(c, id, out,
              json_pack("{s:[{s:i,s:s,s:s,s:{s:s,s:s}}]}", "tool_calls", "index", 0, "id",
                        call_id(c), "type", "function", "function", "name", p->tool_name,
                        "arguments", ""),
              NULL);
        for (int i = 0; i < p->tool_args->nelts; i++) {
            const mock_piece *piece = &APR_ARRAY_IDX(p->tool_args, i, mock_piece);
            chunk(c, id, out,
                  json_pack("{s:[{s:i,s:{s:s%}}]}", "tool_calls", "index", 0, "function",
                            "arguments", piece->s, piece->len),
                  NULL);
        }
    }
    chunk(c, id, out, json_object(), finish_reason(p));
    if (c->include_usage) {
        mock_reply_sse(
            out, NULL,
            json_pack("{s:s,s:s,s:I,s:s,s:s,s:[],s:o}", "id", id, "object", "chat.completion.chunk",
                      "created", (json_int_t) apr_time_sec(c->now), "model", c->model,
                      "system_fingerprint", FINGERPRINT, "choices", "usage", usage_object(p)));
    }
    mock_reply_raw(out, done, sizeof(done) - 1);
}

static void openai_reply(const mock_call *c, const mock_plan *p, mock_reply *out)
{
    const char *id = mock_id(c->pool, "chatcmpl-", c->seed, SALT_COMPLETION, 29);
    apr_table_setn(out->headers, "x-request-id",
                   mock_id(c->pool, "req_", c->seed, SALT_REQUEST, 32));
    if (c->route.ep == MOCK_EP_EMBED) {
        mock_openai_embed_reply(c, out);
    } else if (c->route.ep == MOCK_EP_COMPLETIONS) {
        mock_completions_reply(c, out);
    } else if (c->stream) {
        reply_stream(c, p, id, out);
    } else {
        reply_json(c, p, id, out);
    }
}

/* {"error":{"message","type","param":null,"code"}}, used by the Responses API as well. */
json_t *mock_openai_error_json(int status, const char *message)
{
    const char *type = status >= 500 ? "server_error" : "invalid_request_error";
    const char *code = NULL;
    const char *default_message =
        status >= 500 ? "The server had an error while processing your request. Sorry about that!"
                      : "mock: request failed";
    for (size_t i = 0; i < sizeof(openai_errors) / sizeof(openai_errors[0]); i++) {
        if (openai_errors[i].status == status) {
            type = openai_errors[i].type;
            code = openai_errors[i].code;
            default_message = openai_errors[i].message;
            break;
        }
    }
    if (!message) {
        message = default_message;
    }
    return json_pack("{s:{s:o,s:s,s:n,s:o}}", "error", "message",
                     mock_json_string(message, strlen(message)), "type", type, "param", "code",
                     code ? json_string(code) : json_null());
}

static void openai_error(const mock_call *c, mock_reply *out, int status, const char *message)
{
    apr_table_setn(out->headers, "x-request-id",
                   mock_id(c->pool, "req_", c->seed, SALT_REQUEST, 32));
    mock_reply_body(out, status, mock_openai_error_json(status, message));
}

static void openai_stream_error(const mock_call *c, mock_reply *out)
{
    mock_reply_stream(out, "text/event-stream; charset=utf-8");
    mock_reply_sse(out, NULL, mock_openai_error_json(500, NULL));
}

/* What the ChatGPT backend answers when a plan's usage window is used up: a 429 whose error
 * type is usage_limit_reached with the reset time, plus the x-codex-primary-* headers. */
void mock_openai_quota(const mock_call *c, mock_reply *out, apr_int64_t seconds)
{
    apr_int64_t resets_at = apr_time_sec(c->now) + seconds;
    const char *reset_at = apr_psprintf(c->pool, "%" APR_INT64_T_FMT, resets_at);

    mock_reply_body(out, 429,
                    json_pack("{s:{s:s,s:s,s:s,s:I,s:I}}", "error", "type", "usage_limit_reached",
                              "message", "The usage limit has been reached", "plan_type", "plus",
                              "resets_at", (json_int_t) resets_at, "resets_in_seconds",
                              (json_int_t) seconds));
    apr_table_setn(out->headers, "x-codex-primary-used-percent", "100");
    apr_table_setn(out->headers, "x-codex-primary-window-minutes", "300");
    apr_table_setn(out->headers, "x-codex-primary-reset-at", reset_at);
    apr_table_setn(out->headers, "x-codex-primary-reset-after-seconds",
                   apr_psprintf(c->pool, "%" APR_INT64_T_FMT, seconds));
}

void mock_models_reply(const mock_call *c, mock_reply *out)
{
    static const char *const models[] = {"mock-model", "claude-mock", "gpt-mock", "gemini-mock"};
    json_t *data = json_array();
    for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++) {
        json_array_append_new(data,
                              json_pack("{s:s,s:s,s:I,s:s}", "id", models[i], "object", "model",
                                        "created", (json_int_t) 1700000000, "owned_by", "mock"));
    }
    mock_reply_body(out, 200, json_pack("{s:s,s:o}", "object", "list", "data", data));
}

const mock_provider mock_openai_provider = {
    "openai", openai_parse, openai_reply, openai_error, openai_stream_error, mock_openai_quota,
};
