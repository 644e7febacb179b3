/* Gemini generateContent shapes: POST .../models/{model}:generateContent (one
 * GenerateContentResponse), :streamGenerateContent (with alt=sse: "data:" frames; without it: a
 * JSON array of chunks, as Google sends it) and :countTokens. The Code Assist variant
 * (.../v1internal:generateContent, the model in the body) wraps each answer in "response". */
#include <string.h>

#include <apr_strings.h>

#include "mock.h"

#define SALT_RESPONSE  31
#define SALT_SIGNATURE 32
#define SALT_TRACE     33

#define SSE_PREFIX  "data: "
#define SSE_SUFFIX  "\r\n\r\n"
#define ARRAY_FIRST "["
#define ARRAY_NEXT  ",\r\n"
#define ARRAY_END   "]"

static const struct {
    int status;
    const char *status_name;
    const char *message;
} gemini_errors[] = {
    {400, "INVALID_ARGUMENT", "Request contains an invalid argument."},
    {401, "UNAUTHENTICATED", "API key not valid. Please pass a valid API key."},
    {403, "PERMISSION_DENIED", "The caller does not have permission"},
    {404, "NOT_FOUND", "Requested entity was not found."},
    {429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."},
    {500, "INTERNAL",
     "An internal error has occurred. Please retry or report in "
     "https://developers.generativeai.google/guide/troubleshooting"},
    {503, "UNAVAILABLE", "The model is overloaded. Please try again later."},
    {504, "DEADLINE_EXCEEDED", "The request timed out. Please try again."},
    {529, "UNAVAILABLE", "The model is overloaded. Please try again later."},
};

static void gemini_parse(mock_call *c)
{
    /* countTokens takes the contents bare or a whole request under generateContentRequest;
     * Code Assist has the request under "request" and the model beside it. */
    const json_t *nested =
        json_object_get(c->body, c->route.code_assist ? "request" : "generateContentRequest");
    const json_t *request = json_is_object(nested) ? nested : c->body;
    const json_t *contents = json_object_get(request, "contents");
    const json_t *tools = json_object_get(request, "tools");
    const json_t *tool;
    const char *model = c->route.code_assist  ? mock_json_str(c->body, "model")
                        : c->route.path_model ? c->route.path_model
                                              : "";
    json_t *checked;

    model = model ? model : "";
    checked = mock_json_string(model, strlen(model));
    size_t i;

    c->model = apr_pstrdup(c->pool, json_string_value(checked));
    json_decref(checked);
    c->stream = c->route.path_stream;
    if (c->route.ep == MOCK_EP_EMBED) {
        mock_gemini_embed_parse(c);
        return;
    }
    c->user_text = "";
    c->user_text_len = 0;
    for (i = json_array_size(contents); i > 0; i--) {
        const json_t *content = json_array_get(contents, i - 1);
        const char *role = mock_json_str(content, "role");
        if (!role || strcmp(role, "user") == 0) {
            c->user_text = mock_content_text(c->pool, json_object_get(content, "parts"), NULL, NULL,
                                             &c->user_text_len);
            break;
        }
    }
    c->tool_name = NULL;
    json_array_foreach(tools, i, tool)
    {
        const json_t *decl = json_array_get(json_object_get(tool, "functionDeclarations"), 0);
        if (mock_json_str(decl, "name")) {
            c->tool_name = mock_json_str(decl, "name");
            break;
        }
    }
}

static const char *signature(const mock_call *c)
{
    return mock_blob_b64(c->pool, "", c->seed, SALT_SIGNATURE, 64);
}

static json_t *thought_part(const mock_call *c, const mock_plan *p)
{
    return json_pack("{s:s,s:b,s:s}", "text", p->thinking_full, "thought", 1, "thoughtSignature",
                     signature(c));
}

static json_t *function_part(const mock_plan *p)
{
    return json_pack("{s:{s:s,s:{s:s}}}", "functionCall", "name", p->tool_name, "args", "arg",
                     "mock");
}

/* usageMetadata after `candidates` output tokens and `thoughts` thinking tokens. */
static json_t *usage_metadata(const mock_plan *p, apr_int64_t candidates, apr_int64_t thoughts)
{
    json_t *u = json_pack("{s:I,s:I,s:I}", "promptTokenCount", (json_int_t) p->input_tokens,
                          "candidatesTokenCount", (json_int_t) candidates, "totalTokenCount",
                          (json_int_t) (p->input_tokens + candidates + thoughts));
    if (p->thinking_full) {
        json_object_set_new(u, "thoughtsTokenCount", json_integer((json_int_t) thoughts));
    }
    json_object_set_new(
        u, "promptTokensDetails",
        json_pack("[{s:s,s:I}]", "modality", "TEXT", "tokenCount", (json_int_t) p->input_tokens));
    return u;
}

/* One GenerateContentResponse holding parts; finish: set finishReason. */
static json_t *response_chunk(const mock_call *c, const char *response_id, json_t *parts,
                              int finish, json_t *usage)
{
    json_t *candidate = json_pack("{s:{s:o,s:s}}", "content", "parts", parts, "role", "model");
    if (finish) {
        json_object_set_new(candidate, "finishReason", json_string("STOP"));
    }
    json_object_set_new(candidate, "index", json_integer(0));
    return json_pack("{s:[o],s:o,s:s,s:s}", "candidates", candidate, "usageMetadata", usage,
                     "modelVersion", c->model, "responseId", response_id);
}

/* Code Assist wraps each answer: {"response": <GenerateContentResponse>, "traceId"}. */
static json_t *wrapped(const mock_call *c, json_t *chunk)
{
    if (!c->route.code_assist) {
        return chunk;
    }
    return json_pack("{s:o,s:s}", "response", chunk, "traceId",
                     mock_id(c->pool, "", c->seed, SALT_TRACE, 16));
}

static void reply_json(const mock_call *c, const mock_plan *p, const char *rid, mock_reply *out)
{
    json_t *parts = json_array();
    if (p->thinking_full) {
        json_array_append_new(parts, thought_part(c, p));
    }
    if (p->text_full) {
        json_array_append_new(parts, json_pack("{s:s%}", "text", p->text_full, p->text_full_len));
    }
    if (p->tool_name) {
        json_array_append_new(parts, function_part(p));
    }
    mock_reply_body(
        out, 200,
        wrapped(c, response_chunk(c, rid, parts, 1,
                                  usage_metadata(p, p->output_tokens - p->reasoning_tokens,
                                                 p->reasoning_tokens))));
}

/* Append one chunk as an SSE frame or as an element of the JSON array. */
static void stream_chunk(const mock_call *c, mock_reply *out, json_t *chunk, int first)
{
    if (json_object_get(chunk, "candidates")) {
        chunk = wrapped(c, chunk); /* an in-stream error is not wrapped */
    }
    if (c->route.gemini_sse) {
        mock_reply_json(out, SSE_PREFIX, chunk, SSE_SUFFIX);
    } else {
        mock_reply_json(out, first ? ARRAY_FIRST : ARRAY_NEXT, chunk, "");
    }
}

static void stream_end(const mock_call *c, mock_reply *out)
{
    if (!c->route.gemini_sse) {
        mock_reply_raw(out, ARRAY_END, sizeof(ARRAY_END) - 1);
    }
}

static void stream_start(const mock_call *c, mock_reply *out)
{
    mock_reply_stream(out, c->route.gemini_sse ? "text/event-stream"
                                               : "application/json; charset=UTF-8");
}

static void reply_stream(const mock_call *c, const mock_plan *p, const char *rid, mock_reply *out)
{
    int total = (p->thinking_full ? 1 : 0) + p->text->nelts + (p->tool_name ? 1 : 0);
    int sent = 0;
    apr_int64_t candidates = 0, thoughts = 0;

    stream_start(c, out);
    if (p->thinking_full) {
        thoughts = p->reasoning_tokens;
        sent++;
        stream_chunk(c, out,
                     response_chunk(c, rid, json_pack("[o]", thought_part(c, p)), sent == total,
                                    usage_metadata(p, candidates, thoughts)),
                     sent == 1);
    }
    for (int i = 0; i < p->text->nelts; i++) {
        const mock_piece *piece = &APR_ARRAY_IDX(p->text, i, mock_piece);
        candidates++;
        sent++;
        stream_chunk(c, out,
                     response_chunk(c, rid, json_pack("[{s:s%}]", "text", piece->s, piece->len),
                                    sent == total, usage_metadata(p, candidates, thoughts)),
                     sent == 1);
    }
    if (p->tool_name) {
        candidates += p->tool_args->nelts;
        sent++;
        stream_chunk(c, out,
                     response_chunk(c, rid, json_pack("[o]", function_part(p)), sent == total,
                                    usage_metadata(p, candidates, thoughts)),
                     sent == 1);
    }
    stream_end(c, out);
}

static void gemini_reply(const mock_call *c, const mock_plan *p, mock_reply *out)
{
    const char *rid = mock_id(c->pool, "", c->seed, SALT_RESPONSE, 22);
    if (c->route.ep == MOCK_EP_COUNT_TOKENS) {
        mock_reply_body(out, 200, json_pack("{s:I}", "totalTokens", (json_int_t) p->input_tokens));
    } else if (c->route.ep == MOCK_EP_EMBED) {
        mock_gemini_embed_reply(c, out);
    } else if (c->stream) {
        reply_stream(c, p, rid, out);
    } else {
        reply_json(c, p, rid, out);
    }
}

static json_t *error_object(const mock_call *c, int status, const char *message)
{
    const char *name = status >= 500 ? "INTERNAL" : "INVALID_ARGUMENT";
    const char *default_message =
        status >= 500 ? "An internal error has occurred." : "Request contains an invalid argument.";
    json_t *err;

    for (size_t i = 0; i < sizeof(gemini_errors) / sizeof(gemini_errors[0]); i++) {
        if (gemini_errors[i].status == status) {
            name = gemini_errors[i].status_name;
            default_message = gemini_errors[i].message;
            break;
        }
    }
    if (!message && status == 503 && c->sc.no_capacity) {
        /* Antigravity's answer when the model has no capacity on that host */
        message = apr_psprintf(c->pool, "No capacity available for model %s on the server",
                               c->model ? c->model : "unknown");
    }
    if (!message) {
        message = default_message;
    }
    err = json_pack("{s:i,s:o,s:s}", "code", status, "message",
                    mock_json_string(message, strlen(message)), "status", name);
    if (status == 401) {
        json_object_set_new(err, "details",
                            json_pack("[{s:s,s:s,s:s}]", "@type",
                                      "type.googleapis.com/google.rpc.ErrorInfo", "reason",
                                      "API_KEY_INVALID", "domain", "googleapis.com"));
    } else if (status == 429 && c->sc.retry_after >= 0) {
        /* Code Assist's per-minute limit: the delay, and the reason that names it a rate
         * limit (not a quota) */
        json_object_set_new(
            err, "details",
            json_pack("[{s:s,s:s},{s:s,s:s,s:s}]", "@type",
                      "type.googleapis.com/google.rpc.RetryInfo", "retryDelay",
                      apr_psprintf(c->pool, "%" APR_INT64_T_FMT "s", c->sc.retry_after), "@type",
                      "type.googleapis.com/google.rpc.ErrorInfo", "reason", "RATE_LIMIT_EXCEEDED",
                      "domain", "cloudcode-pa.googleapis.com"));
    }
    return json_pack("{s:o}", "error", err);
}

static void gemini_error(const mock_call *c, mock_reply *out, int status, const char *message)
{
    mock_reply_body(out, status, error_object(c, status, message));
    out->content_type = "application/json; charset=UTF-8";
}

static void gemini_stream_error(const mock_call *c, mock_reply *out)
{
    stream_start(c, out);
    stream_chunk(c, out, error_object(c, 503, NULL), 1);
    stream_end(c, out);
}

/* Code Assist's daily quota: RESOURCE_EXHAUSTED with ErrorInfo QUOTA_EXHAUSTED (its
 * quotaResetDelay) and RetryInfo retryDelay, both N seconds. */
static void gemini_quota(const mock_call *c, mock_reply *out, apr_int64_t seconds)
{
    const char *delay = apr_psprintf(c->pool, "%" APR_INT64_T_FMT "s", seconds);
    json_t *details =
        json_pack("[{s:s,s:s,s:s,s:{s:s}},{s:s,s:s}]", "@type",
                  "type.googleapis.com/google.rpc.ErrorInfo", "reason", "QUOTA_EXHAUSTED", "domain",
                  "cloudcode-pa.googleapis.com", "metadata", "quotaResetDelay", delay, "@type",
                  "type.googleapis.com/google.rpc.RetryInfo", "retryDelay", delay);
    json_t *err = json_pack("{s:i,s:s,s:s,s:o}", "code", 429, "message",
                            "You have exhausted your capacity on this model. Your quota will "
                            "reset later.",
                            "status", "RESOURCE_EXHAUSTED", "details", details);
    mock_reply_body(out, 429, json_pack("{s:o}", "error", err));
    out->content_type = "application/json; charset=UTF-8";
}

const mock_provider mock_gemini_provider = {
    "gemini", gemini_parse, gemini_reply, gemini_error, gemini_stream_error, gemini_quota,
};
