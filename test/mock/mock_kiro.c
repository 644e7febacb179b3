/* Kiro (AWS CodeWhisperer) shapes: POST .../generateAssistantResponse with a conversationState
 * body, always answered as an AWS event stream (application/vnd.amazon.eventstream): binary
 * frames with big-endian lengths and CRC-32 checksums of the prelude and of the whole message
 * (research/oauth.md §5). Events: reasoningContentEvent, assistantResponseEvent, toolUseEvent
 * (its input in string fragments, then stop), meteringEvent, contextUsageEvent and a
 * metadataEvent with the token usage. Errors are AWS JSON ({"message", "reason"}); the quota
 * answer is 402 MONTHLY_REQUEST_COUNT. [mock:bad-crc] spoils the message checksum of the frame
 * after the first text event, so the gateway has a corrupt stream to refuse. [mock:text-tool]
 * (with tool) writes the call into the text instead, as Kiro sometimes does:
 * "[Called <name> with args: {...}]", cut across three events. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <apr_strings.h>

#include "mock.h"

#define SALT_TOOL 2

static void kiro_parse(mock_call *c)
{
    const json_t *state = json_object_get(c->body, "conversationState");
    const json_t *user =
        json_object_get(json_object_get(state, "currentMessage"), "userInputMessage");
    const json_t *tools =
        json_object_get(json_object_get(user, "userInputMessageContext"), "tools");
    const char *model = mock_json_str(user, "modelId");
    const char *content = mock_json_str(user, "content");

    c->model = model ? model : "";
    c->stream = 1; /* Kiro answers only as an event stream */
    c->user_text = content ? content : "";
    c->user_text_len = strlen(c->user_text);
    c->tool_name =
        mock_json_str(json_object_get(json_array_get(tools, 0), "toolSpecification"), "name");
}

/* ---- frames -----------------------------------------------------------------------------------
 */

static void put_u32(unsigned char *b, apr_uint32_t v)
{
    b[0] = (unsigned char) (v >> 24);
    b[1] = (unsigned char) (v >> 16);
    b[2] = (unsigned char) (v >> 8);
    b[3] = (unsigned char) v;
}

/* A string header: name length, name, type 7, u16 length, value. */
static apr_size_t put_header(unsigned char *at, const char *name, const char *value)
{
    apr_size_t n = strlen(name), v = strlen(value);
    at[0] = (unsigned char) n;
    memcpy(at + 1, name, n);
    at[1 + n] = 7;
    at[2 + n] = (unsigned char) (v >> 8);
    at[3 + n] = (unsigned char) v;
    memcpy(at + 4 + n, value, v);
    return 4 + n + v;
}

/* One frame: message type and its name header (":event-type" or ":exception-type"), the JSON
 * payload; bad_crc spoils the message checksum. Takes j. */
static void frame(mock_reply *out, const char *message_type, const char *name_header,
                  const char *name, json_t *j, int bad_crc)
{
    char *payload = json_dumps(j, JSON_COMPACT);
    apr_size_t plen = payload ? strlen(payload) : 0;
    apr_size_t hlen = 3 * 4 + strlen(":message-type") + strlen(message_type) + strlen(name_header) +
                      strlen(name) + strlen(":content-type") + strlen("application/json");
    apr_size_t total = 12 + hlen + plen + 4, at = 12;
    unsigned char *b = apr_palloc(out->pool, total);

    put_u32(b, (apr_uint32_t) total);
    put_u32(b + 4, (apr_uint32_t) hlen);
    put_u32(b + 8, (apr_uint32_t) crc32(0L, b, 8));
    at += put_header(b + at, ":message-type", message_type);
    at += put_header(b + at, name_header, name);
    at += put_header(b + at, ":content-type", "application/json");
    memcpy(b + at, payload ? payload : "", plen);
    at += plen;
    put_u32(b + at, (apr_uint32_t) crc32(0L, b, (uInt) at) ^ (bad_crc ? 0x5a5a5a5au : 0));
    free(payload);
    json_decref(j);
    mock_reply_raw(out, (const char *) b, total);
}

static void event(mock_reply *out, const char *type, json_t *j, int bad_crc)
{
    frame(out, "event", ":event-type", type, j, bad_crc);
}

/* ---- replies ----------------------------------------------------------------------------------
 */

static void kiro_reply(const mock_call *c, const mock_plan *p, mock_reply *out)
{
    const char *tool_id = mock_id(c->pool, "tooluse_", c->seed, SALT_TOOL, 22);
    int text_frames = 0;

    mock_reply_stream(out, "application/vnd.amazon.eventstream");
    for (int i = 0; i < p->thinking->nelts; i++) {
        const mock_piece *piece = &APR_ARRAY_IDX(p->thinking, i, mock_piece);
        event(out, "reasoningContentEvent", json_pack("{s:s%}", "text", piece->s, piece->len), 0);
    }
    for (int i = 0; i < p->text->nelts; i++) {
        const mock_piece *piece = &APR_ARRAY_IDX(p->text, i, mock_piece);
        event(out, "assistantResponseEvent", json_pack("{s:s%}", "content", piece->s, piece->len),
              c->sc.bad_crc && text_frames++ == 1);
    }
    if (p->tool_name && c->sc.text_tool) {
        apr_size_t half = strlen(p->tool_args_full) / 2;
        const char *pieces[] = {
            "Calling it. [Cal",
            apr_psprintf(c->pool, "led %s with args: %.*s", p->tool_name, (int) half,
                         p->tool_args_full),
            apr_psprintf(c->pool, "%s]", p->tool_args_full + half),
        };
        for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++)
            event(out, "assistantResponseEvent", json_pack("{s:s}", "content", pieces[i]), 0);
    } else if (p->tool_name) {
        for (int i = 0; i < p->tool_args->nelts; i++) {
            const mock_piece *piece = &APR_ARRAY_IDX(p->tool_args, i, mock_piece);
            event(out, "toolUseEvent",
                  json_pack("{s:s,s:s,s:s%}", "toolUseId", tool_id, "name", p->tool_name, "input",
                            piece->s, piece->len),
                  0);
        }
        event(out, "toolUseEvent",
              json_pack("{s:s,s:s,s:b}", "toolUseId", tool_id, "name", p->tool_name, "stop", 1), 0);
    }
    event(out, "meteringEvent", json_pack("{s:s,s:f}", "unit", "credit", "usage", 0.01), 0);
    event(out, "contextUsageEvent", json_pack("{s:f}", "contextUsagePercentage", 1.5), 0);
    event(out, "metadataEvent",
          json_pack("{s:{s:I,s:I}}", "tokenUsage", "inputTokens", (json_int_t) p->input_tokens,
                    "outputTokens", (json_int_t) p->output_tokens),
          0);
}

/* AWS error shapes by status: the exception type (x-amzn-errortype) and the usual message. */
static const struct {
    int status;
    const char *type;
    const char *message;
} kiro_errors[] = {
    {400, "ValidationException", "mock: improperly formed request"},
    {402, "ServiceQuotaExceededException", "You have reached the limit."},
    {403, "AccessDeniedException", "The bearer token included in the request is invalid."},
    {429, "ThrottlingException", "Too many requests, please wait before trying again."},
    {500, "InternalServerException", "Encountered an unexpected error when processing the request"},
};

static void kiro_error(const mock_call *c, mock_reply *out, int status, const char *message)
{
    const char *type = status >= 500 ? "InternalServerException" : "ValidationException";
    const char *text = message;

    for (size_t i = 0; i < sizeof(kiro_errors) / sizeof(kiro_errors[0]); i++) {
        if (kiro_errors[i].status == status) {
            type = kiro_errors[i].type;
            text = text ? text : kiro_errors[i].message;
        }
    }
    if (!text)
        text = "mock: request failed";
    apr_table_setn(out->headers, "x-amzn-errortype", type);
    mock_reply_body(
        out, status,
        json_pack("{s:o,s:n}", "message", mock_json_string(text, strlen(text)), "reason"));
}

static void kiro_stream_error(const mock_call *c, mock_reply *out)
{
    mock_reply_stream(out, "application/vnd.amazon.eventstream");
    frame(out, "exception", ":exception-type", "ThrottlingException",
          json_pack("{s:s}", "message", "mock: Too many requests in the stream"), 0);
}

/* The monthly allowance used up: 402 with reason MONTHLY_REQUEST_COUNT (it resets on the 1st;
 * seconds is not part of Kiro's answer). */
static void kiro_quota(const mock_call *c, mock_reply *out, apr_int64_t seconds)
{
    (void) seconds;
    apr_table_setn(out->headers, "x-amzn-errortype", "ServiceQuotaExceededException");
    mock_reply_body(out, 402,
                    json_pack("{s:s,s:s}", "message",
                              "You have reached the limit for this month's requests.", "reason",
                              "MONTHLY_REQUEST_COUNT"));
}

const mock_provider mock_kiro_provider = {
    "kiro", kiro_parse, kiro_reply, kiro_error, kiro_stream_error, kiro_quota,
};
