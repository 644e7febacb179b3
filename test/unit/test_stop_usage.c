/*
 * test_stop_usage.c: stop reasons and token usage survive every translation, as data.
 *
 * Why: a client decides what to do next from the stop reason (run the tools, continue after
 * max tokens, show a refusal) and bills and trims its context from the usage. Every protocol
 * spells both its own way; the gateway maps them through tables (tr_stop.c) and conversions
 * (tr_usage.c) that the golden vectors only touch for a few words.
 *
 * What: one table of stop cases, one for each word an upstream protocol sends (everything
 * tr_stop.c reads, plus the tool-call variants), each naming the word every client protocol
 * must receive, as that protocol's real API would say it; the client of the upstream's own
 * protocol gets the upstream's own word. An upstream answer is built for each case from a
 * small template per protocol (a text answer, text with a tool call, or no content) with the
 * stop word and a usage profile substituted, as a complete JSON body and as a stream. One
 * loop translates every case for every client protocol (same protocol included: passthrough,
 * aggregation, replay or re-framing) in four framings: JSON -> JSON, SSE -> SSE, SSE -> JSON
 * (aggregation), JSON -> SSE (replay), and for Gemini clients SSE -> JSON array too; OpenAI
 * stream clients with and without include_usage. The output is parsed with jansson and read
 * the way the client's SDK reads it:
 *   Anthropic  stop_reason, stop_sequence and usage (in a stream: message_delta's, its usage
 *              fields updating message_start's)
 *   OpenAI     finish_reason (in a stream: of the last chunk that has one) and usage (in a
 *              stream: the choices:[] chunk, there only when the client asked, include_usage)
 *   Responses  status, incomplete_details.reason and usage with its details (in a stream: of
 *              the response.completed / response.incomplete event)
 *   Gemini     finishReason and usageMetadata (in a stream: of the last chunk)
 * Words and numbers must be exactly the expected ones; aiproxy_response_get_info must report
 * the client's word and the canonical counts (input includes cached tokens, output includes
 * reasoning).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "apr_general.h"
#include "apr_strings.h"
#include "aiproxy_translate.h"
#include "test_jansson.h"

#define ANT AIPROXY_PROTO_ANTHROPIC
#define OAI AIPROXY_PROTO_OPENAI
#define RSP AIPROXY_PROTO_RESPONSES
#define GEM AIPROXY_PROTO_GEMINI

static apr_pool_t *pool; /* cleared after every translation */

static const char *const proto_names[] = {"anthropic", "openai", "responses", "gemini"};

/* printf into pool (apr_psprintf has no %lld). */
static char *format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *format(const char *fmt, ...)
{
    va_list ap;
    int n;
    char *out;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    assert_true(n >= 0);
    out = apr_palloc(pool, (apr_size_t) n + 1);
    va_start(ap, fmt);
    vsnprintf(out, (size_t) n + 1, fmt, ap);
    va_end(ap);
    return out;
}

/* ---- the cases ---------------------------------------------------------------------------- */

typedef enum {
    ANSWER_TEXT,  /* "Hello." */
    ANSWER_TOOL,  /* "Hello." and a get_weather call */
    ANSWER_EMPTY, /* no content (a Gemini safety block, a Responses answer cut in reasoning) */
} answer_kind;

typedef struct {
    aiproxy_proto up;
    /* Anthropic stop_reason, OpenAI finish_reason, Gemini finishReason; Responses: "completed"
     * or the incomplete_details.reason of an incomplete response. */
    const char *word;
    answer_kind answer;
    const char *stop_sequence; /* Anthropic stop_sequence value */
    /* What each client must read, by client protocol; Responses as the upstream word above. */
    const char *want[AIPROXY_PROTO_COUNT];
} stop_case;

static const stop_case stop_cases[] = {
    /* Anthropic stop_reason */
    {ANT, "end_turn", ANSWER_TEXT, NULL, {"end_turn", "stop", "completed", "STOP"}},
    {ANT,
     "max_tokens",
     ANSWER_TEXT,
     NULL,
     {"max_tokens", "length", "max_output_tokens", "MAX_TOKENS"}},
    {ANT,
     "max_tokens",
     ANSWER_TOOL,
     NULL,
     {"max_tokens", "length", "max_output_tokens", "MAX_TOKENS"}},
    {ANT, "stop_sequence", ANSWER_TEXT, "###", {"stop_sequence", "stop", "completed", "STOP"}},
    {ANT, "tool_use", ANSWER_TOOL, NULL, {"tool_use", "tool_calls", "completed", "STOP"}},
    {ANT, "pause_turn", ANSWER_TEXT, NULL, {"pause_turn", "stop", "completed", "STOP"}},
    {ANT, "refusal", ANSWER_TEXT, NULL, {"refusal", "content_filter", "content_filter", "SAFETY"}},
    {ANT,
     "model_context_window_exceeded",
     ANSWER_TEXT,
     NULL,
     {"model_context_window_exceeded", "length", "max_output_tokens", "MAX_TOKENS"}},
    {ANT, "a_future_reason", ANSWER_TEXT, NULL, {"a_future_reason", "stop", "completed", "OTHER"}},

    /* OpenAI Chat Completions finish_reason */
    {OAI, "stop", ANSWER_TEXT, NULL, {"end_turn", "stop", "completed", "STOP"}},
    /* some OpenAI-compatible servers end a tool-calling turn with "stop" */
    {OAI, "stop", ANSWER_TOOL, NULL, {"tool_use", "stop", "completed", "STOP"}},
    {OAI, "length", ANSWER_TEXT, NULL, {"max_tokens", "length", "max_output_tokens", "MAX_TOKENS"}},
    {OAI, "length", ANSWER_TOOL, NULL, {"max_tokens", "length", "max_output_tokens", "MAX_TOKENS"}},
    {OAI, "tool_calls", ANSWER_TOOL, NULL, {"tool_use", "tool_calls", "completed", "STOP"}},
    {OAI, "function_call", ANSWER_TOOL, NULL, {"tool_use", "function_call", "completed", "STOP"}},
    {OAI,
     "content_filter",
     ANSWER_TEXT,
     NULL,
     {"refusal", "content_filter", "content_filter", "SAFETY"}},
    {OAI,
     "content_filter",
     ANSWER_EMPTY,
     NULL,
     {"refusal", "content_filter", "content_filter", "SAFETY"}},
    {OAI, "eos", ANSWER_TEXT, NULL, {"end_turn", "eos", "completed", "STOP"}},

    /* OpenAI Responses status / incomplete_details.reason */
    {RSP, "completed", ANSWER_TEXT, NULL, {"end_turn", "stop", "completed", "STOP"}},
    {RSP, "completed", ANSWER_TOOL, NULL, {"tool_use", "tool_calls", "completed", "STOP"}},
    {RSP,
     "max_output_tokens",
     ANSWER_TEXT,
     NULL,
     {"max_tokens", "length", "max_output_tokens", "MAX_TOKENS"}},
    {RSP,
     "max_output_tokens",
     ANSWER_EMPTY,
     NULL,
     {"max_tokens", "length", "max_output_tokens", "MAX_TOKENS"}},
    {RSP,
     "content_filter",
     ANSWER_TEXT,
     NULL,
     {"refusal", "content_filter", "content_filter", "SAFETY"}},

    /* Gemini finishReason */
    {GEM, "STOP", ANSWER_TEXT, NULL, {"end_turn", "stop", "completed", "STOP"}},
    /* Gemini ends a function-calling turn with STOP */
    {GEM, "STOP", ANSWER_TOOL, NULL, {"tool_use", "tool_calls", "completed", "STOP"}},
    {GEM,
     "MAX_TOKENS",
     ANSWER_TEXT,
     NULL,
     {"max_tokens", "length", "max_output_tokens", "MAX_TOKENS"}},
    {GEM,
     "MAX_TOKENS",
     ANSWER_TOOL,
     NULL,
     {"max_tokens", "length", "max_output_tokens", "MAX_TOKENS"}},
    {GEM, "SAFETY", ANSWER_EMPTY, NULL, {"refusal", "content_filter", "content_filter", "SAFETY"}},
    {GEM, "SAFETY", ANSWER_TEXT, NULL, {"refusal", "content_filter", "content_filter", "SAFETY"}},
    {GEM,
     "RECITATION",
     ANSWER_TEXT,
     NULL,
     {"refusal", "content_filter", "content_filter", "RECITATION"}},
    {GEM,
     "LANGUAGE",
     ANSWER_EMPTY,
     NULL,
     {"refusal", "content_filter", "content_filter", "LANGUAGE"}},
    {GEM,
     "BLOCKLIST",
     ANSWER_TEXT,
     NULL,
     {"refusal", "content_filter", "content_filter", "BLOCKLIST"}},
    {GEM,
     "PROHIBITED_CONTENT",
     ANSWER_EMPTY,
     NULL,
     {"refusal", "content_filter", "content_filter", "PROHIBITED_CONTENT"}},
    {GEM, "SPII", ANSWER_TEXT, NULL, {"refusal", "content_filter", "content_filter", "SPII"}},
    {GEM,
     "IMAGE_SAFETY",
     ANSWER_EMPTY,
     NULL,
     {"refusal", "content_filter", "content_filter", "IMAGE_SAFETY"}},
    {GEM,
     "IMAGE_PROHIBITED_CONTENT",
     ANSWER_EMPTY,
     NULL,
     {"refusal", "content_filter", "content_filter", "IMAGE_PROHIBITED_CONTENT"}},
    {GEM,
     "IMAGE_RECITATION",
     ANSWER_EMPTY,
     NULL,
     {"refusal", "content_filter", "content_filter", "IMAGE_RECITATION"}},
    {GEM,
     "MALFORMED_FUNCTION_CALL",
     ANSWER_EMPTY,
     NULL,
     {"end_turn", "stop", "completed", "MALFORMED_FUNCTION_CALL"}},
    {GEM,
     "UNEXPECTED_TOOL_CALL",
     ANSWER_EMPTY,
     NULL,
     {"end_turn", "stop", "completed", "UNEXPECTED_TOOL_CALL"}},
    {GEM,
     "TOO_MANY_TOOL_CALLS",
     ANSWER_EMPTY,
     NULL,
     {"end_turn", "stop", "completed", "TOO_MANY_TOOL_CALLS"}},
    {GEM,
     "MISSING_THOUGHT_SIGNATURE",
     ANSWER_EMPTY,
     NULL,
     {"end_turn", "stop", "completed", "MISSING_THOUGHT_SIGNATURE"}},
    {GEM, "OTHER", ANSWER_TEXT, NULL, {"end_turn", "stop", "completed", "OTHER"}},
    {GEM, "IMAGE_OTHER", ANSWER_EMPTY, NULL, {"end_turn", "stop", "completed", "IMAGE_OTHER"}},
    {GEM, "NO_IMAGE", ANSWER_EMPTY, NULL, {"end_turn", "stop", "completed", "NO_IMAGE"}},
    {GEM,
     "FINISH_REASON_UNSPECIFIED",
     ANSWER_TEXT,
     NULL,
     {"end_turn", "stop", "completed", "FINISH_REASON_UNSPECIFIED"}},
    {GEM,
     "A_FUTURE_REASON",
     ANSWER_TEXT,
     NULL,
     {"end_turn", "stop", "completed", "A_FUTURE_REASON"}},
};

/* ---- usage -------------------------------------------------------------------------------- */

/* Canonical counts (tr_ir.h): input includes cached tokens, output includes reasoning. */
typedef struct {
    long long input, output, cache_read, cache_write, reasoning;
} counts;

/* What each upstream can report: Anthropic cache writes but no reasoning count, the others
 * reasoning but no cache writes. All numbers differ, so a field read from the wrong place
 * shows. */
static counts full_usage(aiproxy_proto up)
{
    counts c = {1237, 311, 1000, 0, 127};
    if (up == ANT) {
        c.cache_write = 200;
        c.reasoning = 0;
    }
    return c;
}

/* No cache, no reasoning: Gemini leaves those fields out, the others say 0. */
static const counts plain_usage = {42, 7, 0, 0, 0};

#define USAGE_FIELDS 5

/* Where each client protocol keeps its numbers (dotted paths in its usage object). */
static const char *const usage_fields[AIPROXY_PROTO_COUNT][USAGE_FIELDS] = {
    [ANT] = {"input_tokens", "output_tokens", "cache_read_input_tokens",
             "cache_creation_input_tokens", NULL},
    [OAI] = {"prompt_tokens", "completion_tokens", "total_tokens",
             "prompt_tokens_details.cached_tokens", "completion_tokens_details.reasoning_tokens"},
    [RSP] = {"input_tokens", "output_tokens", "total_tokens", "input_tokens_details.cached_tokens",
             "output_tokens_details.reasoning_tokens"},
    [GEM] = {"promptTokenCount", "candidatesTokenCount", "totalTokenCount",
             "cachedContentTokenCount", "thoughtsTokenCount"},
};

/* The numbers a client of proto must read for canonical counts u, in usage_fields order:
 * Anthropic input_tokens excludes both cache counts; OpenAI and Responses count cached tokens
 * in the input and reasoning in the output; Gemini counts thoughts apart from candidates. */
static void client_usage(aiproxy_proto proto, const counts *u, long long out[USAGE_FIELDS])
{
    switch (proto) {
    case ANT:
        out[0] = u->input - u->cache_read - u->cache_write;
        out[1] = u->output;
        out[2] = u->cache_read;
        out[3] = u->cache_write;
        out[4] = 0;
        break;
    case GEM:
        out[0] = u->input;
        out[1] = u->output - u->reasoning;
        out[2] = u->input + u->output;
        out[3] = u->cache_read;
        out[4] = u->reasoning;
        break;
    default:
        out[0] = u->input;
        out[1] = u->output;
        out[2] = u->input + u->output;
        out[3] = u->cache_read;
        out[4] = u->reasoning;
        break;
    }
}

/* ---- upstream templates ------------------------------------------------------------------- */

#define TOOL_ARGS "{\\\"city\\\":\\\"Paris\\\"}" /* {"city":"Paris"} inside a JSON string */

static const char *quoted_or_null(const char *s)
{
    return s ? format("\"%s\"", s) : "null";
}

static const char *anthropic_usage(const counts *u, long long output)
{
    return format("{\"input_tokens\":%lld,\"cache_creation_input_tokens\":%lld,"
                  "\"cache_read_input_tokens\":%lld,\"output_tokens\":%lld}",
                  u->input - u->cache_read - u->cache_write, u->cache_write, u->cache_read, output);
}

static const char *anthropic_json(const stop_case *c, const counts *u)
{
    const char *content = "";

    if (c->answer != ANSWER_EMPTY)
        content = "{\"type\":\"text\",\"text\":\"Hello.\"}";
    if (c->answer == ANSWER_TOOL)
        content = apr_pstrcat(pool, content,
                              ",{\"type\":\"tool_use\",\"id\":\"toolu_su1\",\"name\":"
                              "\"get_weather\",\"input\":{\"city\":\"Paris\"}}",
                              NULL);
    return format("{\"id\":\"msg_su\",\"type\":\"message\",\"role\":\"assistant\",\"model\":"
                  "\"claude-sonnet-4-5\",\"content\":[%s],\"stop_reason\":\"%s\","
                  "\"stop_sequence\":%s,\"usage\":%s}",
                  content, c->word, quoted_or_null(c->stop_sequence),
                  anthropic_usage(u, u->output));
}

static const char *anthropic_event(const char *type, const char *rest)
{
    return format("event: %s\ndata: {\"type\":\"%s\"%s}\n\n", type, type, rest);
}

static const char *anthropic_sse(const stop_case *c, const counts *u)
{
    const char *s = apr_pstrcat(
        pool,
        anthropic_event("message_start",
                        format(",\"message\":{\"id\":\"msg_su\",\"type\":\"message\","
                               "\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\","
                               "\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,"
                               "\"usage\":%s}",
                               anthropic_usage(u, 1))),
        anthropic_event("ping", ""), NULL);

    if (c->answer != ANSWER_EMPTY)
        s = apr_pstrcat(
            pool, s,
            anthropic_event("content_block_start",
                            ",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}"),
            anthropic_event("content_block_delta",
                            ",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello.\"}"),
            anthropic_event("content_block_stop", ",\"index\":0"), NULL);
    if (c->answer == ANSWER_TOOL)
        s = apr_pstrcat(pool, s,
                        anthropic_event("content_block_start",
                                        ",\"index\":1,\"content_block\":{\"type\":\"tool_use\","
                                        "\"id\":\"toolu_su1\",\"name\":\"get_weather\","
                                        "\"input\":{}}"),
                        anthropic_event("content_block_delta",
                                        ",\"index\":1,\"delta\":{\"type\":\"input_json_delta\","
                                        "\"partial_json\":\"" TOOL_ARGS "\"}"),
                        anthropic_event("content_block_stop", ",\"index\":1"), NULL);
    return apr_pstrcat(
        pool, s,
        anthropic_event("message_delta",
                        format(",\"delta\":{\"stop_reason\":\"%s\",\"stop_sequence\":%s},"
                               "\"usage\":{\"output_tokens\":%lld}",
                               c->word, quoted_or_null(c->stop_sequence), u->output)),
        anthropic_event("message_stop", ""), NULL);
}

static const char *openai_usage(const counts *u)
{
    return format("{\"prompt_tokens\":%lld,\"completion_tokens\":%lld,\"total_tokens\":%lld,"
                  "\"prompt_tokens_details\":{\"cached_tokens\":%lld,\"audio_tokens\":0},"
                  "\"completion_tokens_details\":{\"reasoning_tokens\":%lld,"
                  "\"audio_tokens\":0}}",
                  u->input, u->output, u->input + u->output, u->cache_read, u->reasoning);
}

static const char *openai_json(const stop_case *c, const counts *u)
{
    const char *calls = c->answer != ANSWER_TOOL
                            ? ""
                            : ",\"tool_calls\":[{\"id\":\"call_su1\",\"type\":\"function\","
                              "\"function\":{\"name\":\"get_weather\",\"arguments\":\"" TOOL_ARGS
                              "\"}}]";
    return format("{\"id\":\"chatcmpl-su\",\"object\":\"chat.completion\",\"created\":"
                  "1700000000,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"message\":"
                  "{\"role\":\"assistant\",\"content\":%s,\"refusal\":null%s},"
                  "\"logprobs\":null,\"finish_reason\":\"%s\"}],\"usage\":%s}",
                  c->answer == ANSWER_EMPTY ? "null" : "\"Hello.\"", calls, c->word,
                  openai_usage(u));
}

/* One chunk; choices is the text of its choices array. */
static const char *openai_chunk(const char *choices, const char *usage)
{
    return format("data: {\"id\":\"chatcmpl-su\",\"object\":\"chat.completion.chunk\","
                  "\"created\":1700000000,\"model\":\"gpt-4o\",\"choices\":[%s],"
                  "\"usage\":%s}\n\n",
                  choices, usage);
}

static const char *openai_delta(const char *delta, const char *finish)
{
    return openai_chunk(format("{\"index\":0,\"delta\":%s,\"logprobs\":null,"
                               "\"finish_reason\":%s}",
                               delta, finish),
                        "null");
}

static const char *openai_sse(const stop_case *c, const counts *u)
{
    const char *s =
        openai_delta("{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null}", "null");

    if (c->answer != ANSWER_EMPTY)
        s = apr_pstrcat(pool, s, openai_delta("{\"content\":\"Hello.\"}", "null"), NULL);
    if (c->answer == ANSWER_TOOL)
        s = apr_pstrcat(pool, s,
                        openai_delta("{\"tool_calls\":[{\"index\":0,\"id\":\"call_su1\","
                                     "\"type\":\"function\",\"function\":{\"name\":"
                                     "\"get_weather\",\"arguments\":\"\"}}]}",
                                     "null"),
                        openai_delta("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
                                     "\"" TOOL_ARGS "\"}}]}",
                                     "null"),
                        NULL);
    return apr_pstrcat(pool, s, openai_delta("{}", quoted_or_null(c->word)),
                       openai_chunk("", openai_usage(u)), "data: [DONE]\n\n", NULL);
}

static int responses_complete(const stop_case *c)
{
    return !strcmp(c->word, "completed");
}

static const char *responses_message_item(const stop_case *c, const char *status)
{
    return format("{\"id\":\"msg_su\",\"type\":\"message\",\"status\":\"%s\",\"role\":"
                  "\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":%s,"
                  "\"annotations\":[]}]}",
                  status, c->answer == ANSWER_EMPTY ? "\"\"" : "\"Hello.\"");
}

static const char *responses_call_item(const char *status, const char *arguments)
{
    return format("{\"id\":\"fc_su1\",\"type\":\"function_call\",\"status\":\"%s\","
                  "\"arguments\":\"%s\",\"call_id\":\"call_su1\",\"name\":\"get_weather\"}",
                  status, arguments);
}

/* The output items of the finished response: a reasoning item, then the answer's. */
static const char *responses_output(const stop_case *c)
{
    const char *item_status = responses_complete(c) ? "completed" : "incomplete";
    const char *out = "{\"id\":\"rs_su\",\"type\":\"reasoning\",\"summary\":[]}";

    if (c->answer != ANSWER_EMPTY)
        out = apr_pstrcat(pool, out, ",", responses_message_item(c, item_status), NULL);
    if (c->answer == ANSWER_TOOL)
        out = apr_pstrcat(pool, out, ",", responses_call_item("completed", TOOL_ARGS), NULL);
    return out;
}

static const char *responses_object(const stop_case *c, const counts *u, int final)
{
    const char *status = !final                  ? "in_progress"
                         : responses_complete(c) ? "completed"
                                                 : "incomplete";
    const char *details =
        !final || responses_complete(c) ? "null" : format("{\"reason\":\"%s\"}", c->word);
    const char *usage =
        !final ? "null"
               : format("{\"input_tokens\":%lld,\"input_tokens_details\":{\"cached_tokens\":"
                        "%lld},\"output_tokens\":%lld,\"output_tokens_details\":{"
                        "\"reasoning_tokens\":%lld},\"total_tokens\":%lld}",
                        u->input, u->cache_read, u->output, u->reasoning, u->input + u->output);
    return format("{\"id\":\"resp_su\",\"object\":\"response\",\"created_at\":1700000000,"
                  "\"status\":\"%s\",\"error\":null,\"incomplete_details\":%s,\"model\":"
                  "\"gpt-5\",\"output\":[%s],\"usage\":%s}",
                  status, details, final ? responses_output(c) : "", usage);
}

static const char *responses_json(const stop_case *c, const counts *u)
{
    return responses_object(c, u, 1);
}

typedef struct {
    const char *text;
    int sequence;
} event_list;

static void responses_event(event_list *l, const char *type, const char *rest)
{
    l->text = format("%sevent: %s\ndata: {\"type\":\"%s\",\"sequence_number\":%d%s}\n\n", l->text,
                     type, type, l->sequence++, rest);
}

static const char *responses_sse(const stop_case *c, const counts *u)
{
    event_list l = {"", 0};
    const char *created = format(",\"response\":%s", responses_object(c, u, 0));
    const char *item_status = responses_complete(c) ? "completed" : "incomplete";

    responses_event(&l, "response.created", created);
    responses_event(&l, "response.in_progress", created);
    responses_event(&l, "response.output_item.added",
                    ",\"output_index\":0,\"item\":{\"id\":\"rs_su\",\"type\":\"reasoning\","
                    "\"summary\":[]}");
    responses_event(&l, "response.output_item.done",
                    ",\"output_index\":0,\"item\":{\"id\":\"rs_su\",\"type\":\"reasoning\","
                    "\"summary\":[]}");
    if (c->answer != ANSWER_EMPTY) {
        static const char ref[] = ",\"item_id\":\"msg_su\",\"output_index\":1,\"content_index\":0";
        responses_event(&l, "response.output_item.added",
                        ",\"output_index\":1,\"item\":{\"id\":\"msg_su\",\"type\":\"message\","
                        "\"status\":\"in_progress\",\"role\":\"assistant\",\"content\":[]}");
        responses_event(&l, "response.content_part.added",
                        apr_pstrcat(pool, ref,
                                    ",\"part\":{\"type\":\"output_text\",\"text\":\"\","
                                    "\"annotations\":[]}",
                                    NULL));
        responses_event(&l, "response.output_text.delta",
                        apr_pstrcat(pool, ref, ",\"delta\":\"Hello.\",\"logprobs\":[]", NULL));
        responses_event(&l, "response.output_text.done",
                        apr_pstrcat(pool, ref, ",\"text\":\"Hello.\",\"logprobs\":[]", NULL));
        responses_event(&l, "response.content_part.done",
                        apr_pstrcat(pool, ref,
                                    ",\"part\":{\"type\":\"output_text\",\"text\":\"Hello.\","
                                    "\"annotations\":[]}",
                                    NULL));
        responses_event(
            &l, "response.output_item.done",
            format(",\"output_index\":1,\"item\":%s", responses_message_item(c, item_status)));
    }
    if (c->answer == ANSWER_TOOL) {
        static const char ref[] = ",\"item_id\":\"fc_su1\",\"output_index\":2";
        responses_event(
            &l, "response.output_item.added",
            format(",\"output_index\":2,\"item\":%s", responses_call_item("in_progress", "")));
        responses_event(&l, "response.function_call_arguments.delta",
                        apr_pstrcat(pool, ref, ",\"delta\":\"" TOOL_ARGS "\"", NULL));
        responses_event(&l, "response.function_call_arguments.done",
                        apr_pstrcat(pool, ref, ",\"arguments\":\"" TOOL_ARGS "\"", NULL));
        responses_event(
            &l, "response.output_item.done",
            format(",\"output_index\":2,\"item\":%s", responses_call_item("completed", TOOL_ARGS)));
    }
    responses_event(&l, responses_complete(c) ? "response.completed" : "response.incomplete",
                    format(",\"response\":%s", responses_object(c, u, 1)));
    return l.text;
}

/* usageMetadata; partial: the prompt counts only, as in a stream's first chunks. */
static const char *gemini_usage(const counts *u, int partial)
{
    const char *meta = format("{\"promptTokenCount\":%lld", u->input);

    if (!partial)
        meta = format("%s,\"candidatesTokenCount\":%lld", meta, u->output - u->reasoning);
    meta = format("%s,\"totalTokenCount\":%lld", meta, partial ? u->input : u->input + u->output);
    if (u->cache_read)
        meta = format("%s,\"cachedContentTokenCount\":%lld", meta, u->cache_read);
    if (!partial && u->reasoning)
        meta = format("%s,\"thoughtsTokenCount\":%lld", meta, u->reasoning);
    return apr_pstrcat(pool, meta, "}", NULL);
}

#define GEMINI_CALL_PART                                                                           \
    "{\"functionCall\":{\"name\":\"get_weather\",\"args\":{\"city\":\"Paris\"}}}"

/* One chunk: parts (NULL: a candidate without content), finishReason (or NULL), usage. */
static const char *gemini_chunk(const char *parts, const char *finish, const char *usage)
{
    const char *candidate =
        format("%s%s\"index\":0",
               parts ? format("\"content\":{\"parts\":[%s],\"role\":\"model\"},", parts) : "",
               finish ? format("\"finishReason\":\"%s\",", finish) : "");
    return format("{\"candidates\":[{%s}],\"usageMetadata\":%s,\"modelVersion\":"
                  "\"gemini-2.5-pro\",\"responseId\":\"gemSU\"}",
                  candidate, usage);
}

static const char *gemini_json(const stop_case *c, const counts *u)
{
    const char *parts = c->answer == ANSWER_EMPTY  ? NULL
                        : c->answer == ANSWER_TOOL ? "{\"text\":\"Hello.\"}," GEMINI_CALL_PART
                                                   : "{\"text\":\"Hello.\"}";
    return gemini_chunk(parts, c->word, gemini_usage(u, 0));
}

/* Google frames its SSE with CRLF. */
static const char *gemini_sse(const stop_case *c, const counts *u)
{
    const char *last = gemini_chunk(c->answer == ANSWER_EMPTY  ? NULL
                                    : c->answer == ANSWER_TOOL ? GEMINI_CALL_PART
                                                               : "{\"text\":\"\"}",
                                    c->word, gemini_usage(u, 0));

    if (c->answer == ANSWER_EMPTY)
        return format("data: %s\r\n\r\n", last);
    return format("data: %s\r\n\r\ndata: %s\r\n\r\n",
                  gemini_chunk("{\"text\":\"Hello.\"}", NULL, gemini_usage(u, 1)), last);
}

static const char *upstream_body(const stop_case *c, const counts *u, int stream)
{
    switch (c->up) {
    case ANT:
        return stream ? anthropic_sse(c, u) : anthropic_json(c, u);
    case OAI:
        return stream ? openai_sse(c, u) : openai_json(c, u);
    case RSP:
        return stream ? responses_sse(c, u) : responses_json(c, u);
    default:
        return stream ? gemini_sse(c, u) : gemini_json(c, u);
    }
}

/* ---- translating -------------------------------------------------------------------------- */

typedef struct {
    char *data;
    apr_size_t len, cap;
} capture;

static apr_status_t capture_write(void *baton, const char *data, apr_size_t len)
{
    capture *c = baton;
    if (c->len + len + 1 > c->cap) {
        c->cap = (c->len + len + 1) * 2;
        c->data = realloc(c->data, c->cap);
        assert_non_null(c->data);
    }
    memcpy(c->data + c->len, data, len);
    c->len += len;
    c->data[c->len] = '\0';
    return APR_SUCCESS;
}

typedef struct {
    const char *output;
    aiproxy_response_info info;
} run_result;

static run_result translate(const aiproxy_response_spec *spec, const char *input)
{
    capture c = {NULL, 0, 0};
    aiproxy_sink sink = {capture_write, &c};
    aiproxy_response *t = aiproxy_response_create(pool, spec);
    run_result r;

    assert_non_null(t);
    assert_int_equal(aiproxy_response_feed(t, input, strlen(input), &sink), APR_SUCCESS);
    assert_int_equal(aiproxy_response_finish(t, 0, &sink), APR_SUCCESS);
    r.output = apr_pstrdup(pool, c.data ? c.data : "");
    free(c.data);
    r.info = *aiproxy_response_get_info(t);
    return r;
}

/* ---- reading the client's output as its SDK does ------------------------------------------ */

/* What a client read from the answer. */
typedef struct {
    const char *stop;          /* its stop word; Responses: "completed" or the reason */
    const char *status;        /* Responses status */
    const char *stop_sequence; /* Anthropic */
    int has_usage;
    long long usage[USAGE_FIELDS]; /* usage_fields order; -1: missing or not an integer */
} client_view;

static json_t *parse_json(const char *text, const char *ctx)
{
    json_t *v = test_jansson_parse(pool, text, strlen(text));
    if (!v)
        fail_msg("%s: not JSON: %s", ctx, text);
    return v;
}

/* The value at a dotted path ("choices.0.finish_reason"), or NULL. */
static json_t *at(json_t *v, const char *path)
{
    char *copy = apr_pstrdup(pool, path), *last, *key;

    for (key = apr_strtok(copy, ".", &last); key && v; key = apr_strtok(NULL, ".", &last))
        v = json_is_array(v) ? json_array_get(v, (size_t) atoi(key)) : json_object_get(v, key);
    return v;
}

static const char *str_at(json_t *v, const char *path)
{
    return json_string_value(at(v, path));
}

static void read_usage(aiproxy_proto client, json_t *usage, client_view *view)
{
    view->has_usage = json_is_object(usage);
    for (int i = 0; i < USAGE_FIELDS; i++) {
        const char *path = usage_fields[client][i];
        json_t *n = path && view->has_usage ? at(usage, path) : NULL;

        if (!path)
            view->usage[i] = 0;
        else if (json_is_integer(n))
            view->usage[i] = json_integer_value(n);
        else /* Gemini leaves out cachedContentTokenCount and thoughtsTokenCount when zero */
            view->usage[i] = client == GEM && i >= 3 && !n ? 0 : -1;
    }
}

static void read_responses(json_t *response, client_view *view, const char *ctx)
{
    json_t *details = json_object_get(response, "incomplete_details");

    view->status = str_at(response, "status");
    if (view->status && !strcmp(view->status, "incomplete"))
        view->stop = str_at(details, "reason");
    else if (view->status && !strcmp(view->status, "completed") && json_is_null(details))
        view->stop = "completed";
    else
        fail_msg("%s: status %s with incomplete_details %s", ctx,
                 view->status ? view->status : "(none)", details ? "set" : "(none)");
    read_usage(RSP, json_object_get(response, "usage"), view);
}

static client_view read_json_answer(aiproxy_proto client, const char *text, const char *ctx)
{
    json_t *root = parse_json(text, ctx);
    client_view view = {0};

    switch (client) {
    case ANT:
        view.stop = str_at(root, "stop_reason");
        view.stop_sequence = str_at(root, "stop_sequence");
        read_usage(client, json_object_get(root, "usage"), &view);
        break;
    case OAI:
        view.stop = str_at(root, "choices.0.finish_reason");
        read_usage(client, json_object_get(root, "usage"), &view);
        break;
    case RSP:
        read_responses(root, &view, ctx);
        break;
    default:
        view.stop = str_at(root, "candidates.0.finishReason");
        read_usage(client, json_object_get(root, "usageMetadata"), &view);
        break;
    }
    return view;
}

typedef struct {
    const char *event; /* NULL when the event had no name */
    const char *data;
} sse_event;

/* The events of an SSE text (LF or CRLF lines; data lines of one event joined by LF). */
static apr_array_header_t *parse_sse(const char *text)
{
    apr_array_header_t *events = apr_array_make(pool, 16, sizeof(sse_event));
    const char *event = NULL, *data = NULL;

    for (const char *line = text; *line;) {
        const char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t) (nl - line) : strlen(line);
        const char *value;

        if (n && line[n - 1] == '\r')
            n--;
        value = apr_pstrmemdup(pool, line, n);
        if (n == 0) {
            if (data) {
                sse_event *ev = apr_array_push(events);
                ev->event = event;
                ev->data = data;
            }
            event = data = NULL;
        } else if (!strncmp(value, "event:", 6))
            event = value + 6 + (value[6] == ' ');
        else if (!strncmp(value, "data:", 5))
            data = data ? apr_pstrcat(pool, data, "\n", value + 5 + (value[5] == ' '), NULL)
                        : value + 5 + (value[5] == ' ');
        line = nl ? nl + 1 : line + n;
    }
    if (data) {
        sse_event *ev = apr_array_push(events);
        ev->event = event;
        ev->data = data;
    }
    return events;
}

/* Anthropic SDK: message_start's message, then each message_delta sets the stop and updates
 * every usage field it carries; the stream ends with message_stop. */
static void read_anthropic_stream(apr_array_header_t *events, client_view *view, const char *ctx)
{
    json_t *usage = NULL;
    int stopped = 0;

    for (int i = 0; i < events->nelts; i++) {
        const sse_event *ev = &APR_ARRAY_IDX(events, i, sse_event);
        json_t *data = parse_json(ev->data, ctx);
        const char *type = str_at(data, "type");
        const char *key;
        json_t *value;

        if (!type || !ev->event || strcmp(type, ev->event))
            fail_msg("%s: event %s with data type %s", ctx, ev->event ? ev->event : "(none)",
                     type ? type : "(none)");
        if (stopped)
            fail_msg("%s: %s after message_stop", ctx, type);
        if (!strcmp(type, "error"))
            fail_msg("%s: error event %s", ctx, ev->data);
        if (!strcmp(type, "message_start")) {
            usage = json_deep_copy(at(data, "message.usage"));
            assert_non_null(usage);
            apr_pool_cleanup_register(pool, usage, test_jansson_release, apr_pool_cleanup_null);
        } else if (!strcmp(type, "message_delta")) {
            if (!usage)
                fail_msg("%s: message_delta before message_start", ctx);
            view->stop = str_at(data, "delta.stop_reason");
            view->stop_sequence = str_at(data, "delta.stop_sequence");
            json_object_foreach(json_object_get(data, "usage"), key, value)
            {
                if (!json_is_null(value))
                    json_object_set(usage, key, value);
            }
        } else if (!strcmp(type, "message_stop"))
            stopped = 1;
    }
    if (!stopped)
        fail_msg("%s: no message_stop", ctx);
    read_usage(ANT, usage, view);
}

/* OpenAI SDK: the finish_reason of the chunk that has one; usage from the chunk that carries
 * it (choices:[], after the finish); data: [DONE] last. */
static void read_openai_stream(apr_array_header_t *events, client_view *view, const char *ctx)
{
    json_t *usage = NULL;
    int done = 0;

    for (int i = 0; i < events->nelts; i++) {
        const sse_event *ev = &APR_ARRAY_IDX(events, i, sse_event);
        json_t *chunk, *choices;
        const char *finish;

        if (done)
            fail_msg("%s: data after [DONE]: %s", ctx, ev->data);
        if (!strcmp(ev->data, "[DONE]")) {
            done = 1;
            continue;
        }
        chunk = parse_json(ev->data, ctx);
        if (json_object_get(chunk, "error"))
            fail_msg("%s: error chunk %s", ctx, ev->data);
        choices = json_object_get(chunk, "choices");
        finish = str_at(chunk, "choices.0.finish_reason");
        if (finish) {
            if (view->stop)
                fail_msg("%s: a second finish_reason %s after %s", ctx, finish, view->stop);
            view->stop = finish;
        }
        if (json_is_object(json_object_get(chunk, "usage"))) {
            if (json_array_size(choices) != 0 || !view->stop || usage)
                fail_msg("%s: usage not in one choices:[] chunk after the finish: %s", ctx,
                         ev->data);
            usage = json_object_get(chunk, "usage");
        }
    }
    if (!done)
        fail_msg("%s: no data: [DONE]", ctx);
    read_usage(OAI, usage, view);
}

/* Responses SDK: the response of the terminal event, whose name matches its status. */
static void read_responses_stream(apr_array_header_t *events, client_view *view, const char *ctx)
{
    json_t *response = NULL;
    const char *terminal = NULL;

    for (int i = 0; i < events->nelts; i++) {
        const sse_event *ev = &APR_ARRAY_IDX(events, i, sse_event);
        json_t *data = parse_json(ev->data, ctx);
        const char *type = str_at(data, "type");

        if (!type || !ev->event || strcmp(type, ev->event))
            fail_msg("%s: event %s with data type %s", ctx, ev->event ? ev->event : "(none)",
                     type ? type : "(none)");
        if (terminal)
            fail_msg("%s: %s after %s", ctx, type, terminal);
        if (!strcmp(type, "error") || !strcmp(type, "response.failed"))
            fail_msg("%s: %s", ctx, ev->data);
        if (!strcmp(type, "response.completed") || !strcmp(type, "response.incomplete")) {
            terminal = type;
            response = json_object_get(data, "response");
        }
    }
    if (!terminal)
        fail_msg("%s: no response.completed or response.incomplete", ctx);
    read_responses(response, view, ctx);
    if (strcmp(terminal + strlen("response."), view->status))
        fail_msg("%s: %s with status %s", ctx, terminal, view->status);
}

/* Gemini SDK: finishReason and usageMetadata of the last chunk. */
static void read_gemini_chunks(json_t *chunks, client_view *view, const char *ctx)
{
    size_t n = json_array_size(chunks);
    json_t *last = json_array_get(chunks, n - 1);

    if (n == 0)
        fail_msg("%s: no chunk", ctx);
    for (size_t i = 0; i + 1 < n; i++) {
        json_t *chunk = json_array_get(chunks, i);
        if (json_object_get(chunk, "error") || str_at(chunk, "candidates.0.finishReason"))
            fail_msg("%s: an error or a finishReason in chunk %d of %d", ctx, (int) i, (int) n);
    }
    if (json_object_get(last, "error"))
        fail_msg("%s: error chunk", ctx);
    view->stop = str_at(last, "candidates.0.finishReason");
    read_usage(GEM, json_object_get(last, "usageMetadata"), view);
}

static void read_gemini_stream(apr_array_header_t *events, client_view *view, const char *ctx)
{
    json_t *chunks = json_array();

    apr_pool_cleanup_register(pool, chunks, test_jansson_release, apr_pool_cleanup_null);
    for (int i = 0; i < events->nelts; i++)
        json_array_append(chunks, parse_json(APR_ARRAY_IDX(events, i, sse_event).data, ctx));
    read_gemini_chunks(chunks, view, ctx);
}

static client_view read_stream_answer(aiproxy_proto client, aiproxy_stream_mode mode,
                                      const char *text, const char *ctx)
{
    apr_array_header_t *events;
    client_view view = {0};

    if (mode == AIPROXY_STREAM_JSON_ARRAY) { /* Gemini streamGenerateContent without alt=sse */
        json_t *chunks = parse_json(text, ctx);
        if (!json_is_array(chunks))
            fail_msg("%s: not a JSON array: %s", ctx, text);
        read_gemini_chunks(chunks, &view, ctx);
        return view;
    }
    events = parse_sse(text);
    switch (client) {
    case ANT:
        read_anthropic_stream(events, &view, ctx);
        break;
    case OAI:
        read_openai_stream(events, &view, ctx);
        break;
    case RSP:
        read_responses_stream(events, &view, ctx);
        break;
    default:
        read_gemini_stream(events, &view, ctx);
        break;
    }
    return view;
}

/* ---- the loop ------------------------------------------------------------------------------ */

static const struct {
    const char *name;
    aiproxy_stream_mode up, client;
} framings[] = {
    {"json->json", AIPROXY_STREAM_NONE, AIPROXY_STREAM_NONE},
    {"sse->sse", AIPROXY_STREAM_SSE, AIPROXY_STREAM_SSE},
    {"sse->json", AIPROXY_STREAM_SSE, AIPROXY_STREAM_NONE},
    {"json->sse", AIPROXY_STREAM_NONE, AIPROXY_STREAM_SSE},
    {"sse->jsonarray", AIPROXY_STREAM_SSE, AIPROXY_STREAM_JSON_ARRAY}, /* Gemini clients only */
};

static int translations;

static const char *str_or_null(const char *s)
{
    return s ? s : "(null)";
}

/* One case, one client, one framing. */
static void run_one(const stop_case *c, const counts *u, aiproxy_proto client, size_t framing,
                    int include_usage)
{
    aiproxy_response_spec spec = {.client = client,
                                  .client_stream = framings[framing].client,
                                  .upstream = c->up,
                                  .upstream_stream = framings[framing].up,
                                  .client_model = "client-model",
                                  .include_usage = include_usage,
                                  .operation = AIPROXY_OP_GENERATE};
    int passthrough = client == c->up && framings[framing].up == framings[framing].client;
    const char *input = upstream_body(c, u, framings[framing].up != AIPROXY_STREAM_NONE);
    const char *want = c->want[client];
    const char *want_sequence =
        client == ANT && !strcmp(want, "stop_sequence") ? c->stop_sequence : NULL;
    /* An OpenAI stream carries usage only when the client asked; passed through, it is the
     * upstream's own stream, which carries it. */
    int want_usage = !(client == OAI && framings[framing].client != AIPROXY_STREAM_NONE &&
                       !include_usage && !passthrough);
    const char *ctx =
        format("%s %s (%s) -> %s, %s%s", proto_names[c->up], c->word,
               c->answer == ANSWER_TOOL    ? "tool call"
               : c->answer == ANSWER_EMPTY ? "no content"
                                           : "text",
               proto_names[client], framings[framing].name, include_usage ? ", include_usage" : "");
    long long want_numbers[USAGE_FIELDS];
    run_result r = translate(&spec, input);
    client_view view = framings[framing].client == AIPROXY_STREAM_NONE
                           ? read_json_answer(client, r.output, ctx)
                           : read_stream_answer(client, framings[framing].client, r.output, ctx);

    translations++;
    if (r.info.seen_error)
        fail_msg("%s: the translation failed:\n%s", ctx, r.output);
    if (!view.stop || strcmp(view.stop, want))
        fail_msg("%s: stop %s, want %s\n%s", ctx, str_or_null(view.stop), want, r.output);
    if (want_sequence ? !view.stop_sequence || strcmp(view.stop_sequence, want_sequence)
                      : view.stop_sequence != NULL)
        fail_msg("%s: stop_sequence %s, want %s\n%s", ctx, str_or_null(view.stop_sequence),
                 str_or_null(want_sequence), r.output);
    /* A passed-through JSON body is only read for its usage (pipeline/tr_response_pipeline.c),
     * not its stop. */
    if (!(passthrough && framings[framing].up == AIPROXY_STREAM_NONE) &&
        (!r.info.stop || strcmp(r.info.stop, want)))
        fail_msg("%s: info stop %s, want %s", ctx, str_or_null(r.info.stop), want);

    client_usage(client, u, want_numbers);
    if (view.has_usage != want_usage)
        fail_msg("%s: usage %s, want %s\n%s", ctx, view.has_usage ? "sent" : "missing",
                 want_usage ? "sent" : "none", r.output);
    for (int i = 0; want_usage && i < USAGE_FIELDS; i++) {
        if (usage_fields[client][i] && view.usage[i] != want_numbers[i])
            fail_msg("%s: usage %s = %lld, want %lld\n%s", ctx, usage_fields[client][i],
                     view.usage[i], want_numbers[i], r.output);
    }
    if (r.info.input_tokens != u->input || r.info.output_tokens != u->output ||
        r.info.cache_read_tokens != u->cache_read || r.info.cache_write_tokens != u->cache_write ||
        r.info.reasoning_tokens != u->reasoning)
        fail_msg("%s: info tokens in %lld out %lld cache read %lld write %lld reasoning %lld, "
                 "want %lld %lld %lld %lld %lld",
                 ctx, r.info.input_tokens, r.info.output_tokens, r.info.cache_read_tokens,
                 r.info.cache_write_tokens, r.info.reasoning_tokens, u->input, u->output,
                 u->cache_read, u->cache_write, u->reasoning);
    apr_pool_clear(pool);
}

/* Every client, every framing; OpenAI stream clients with and without include_usage. */
static void run_case(const stop_case *c, const counts *u)
{
    for (int client = 0; client < AIPROXY_PROTO_COUNT; client++) {
        for (size_t f = 0; f < sizeof(framings) / sizeof(framings[0]); f++) {
            if (framings[f].client == AIPROXY_STREAM_JSON_ARRAY && client != GEM)
                continue;
            run_one(c, u, (aiproxy_proto) client, f, 0);
            if (client == OAI && framings[f].client != AIPROXY_STREAM_NONE)
                run_one(c, u, (aiproxy_proto) client, f, 1);
        }
    }
}

static void test_stop_and_usage_every_pair(void **state)
{
    for (size_t i = 0; i < sizeof(stop_cases) / sizeof(stop_cases[0]); i++) {
        counts u = full_usage(stop_cases[i].up);
        run_case(&stop_cases[i], &u);
    }
    print_message("%d stop cases, %d translations\n",
                  (int) (sizeof(stop_cases) / sizeof(stop_cases[0])), translations);
}

/* The natural end of each upstream with no cache and no reasoning: zeros (or, for Gemini,
 * absent fields) survive as zeros, nothing is invented. */
static void test_plain_usage_every_pair(void **state)
{
    static const char *const natural_end[AIPROXY_PROTO_COUNT] = {"end_turn", "stop", "completed",
                                                                 "STOP"};
    int ran = 0;

    for (size_t i = 0; i < sizeof(stop_cases) / sizeof(stop_cases[0]); i++) {
        const stop_case *c = &stop_cases[i];
        if (c->answer == ANSWER_TEXT && !strcmp(c->word, natural_end[c->up])) {
            run_case(c, &plain_usage);
            ran++;
        }
    }
    assert_int_equal(ran, AIPROXY_PROTO_COUNT);
}

/* The table's own consistency: the client of the upstream's protocol gets the upstream's word,
 * and a stop_sequence value only comes with the stop_sequence reason. */
static void test_table(void **state)
{
    for (size_t i = 0; i < sizeof(stop_cases) / sizeof(stop_cases[0]); i++) {
        const stop_case *c = &stop_cases[i];
        assert_string_equal(c->want[c->up], c->word);
        assert_int_equal(c->stop_sequence != NULL, !strcmp(c->want[ANT], "stop_sequence"));
    }
}

static int setup(void **state)
{
    return apr_pool_create(&pool, NULL) == APR_SUCCESS ? 0 : -1;
}

static int teardown(void **state)
{
    apr_pool_destroy(pool);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_stop_and_usage_every_pair),
        cmocka_unit_test(test_plain_usage_every_pair),
    };
    int rc;

    apr_initialize();
    rc = cmocka_run_group_tests(tests, setup, teardown);
    apr_terminate();
    return rc;
}
