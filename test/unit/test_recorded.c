/*
 * test_recorded.c: answers shaped as the providers really send them, through every client.
 *
 * test/fixtures/recorded/<provider>/ holds, per upstream protocol, a text answer (JSON and
 * SSE), a stream with tool calls whose arguments stream in pieces, a thinking stream and an
 * error body, with every field, event and id format the provider sends (pings, [DONE],
 * sequence numbers, usage blocks, signatures, Gemini partialArgs ...). Each fixture runs to
 * each client protocol, in the fixture's framing and in the other one (aggregated or
 * replayed); the same protocol on both sides must pass the bytes through. The output must be
 * well-formed for the client (JSON per event, the client protocol's event order, one start,
 * one end), and the answer the client's own protocol reads back from it must hold the
 * fixture's text, thinking, tool calls with their whole arguments, stop reason and usage.
 * The Responses streams run once more as the Codex backend sends them (test_codex_streams).
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
#include "codec/tr_codec.h"
#include "json/tr_jv.h"
#include "test_files.h"
#include "test_jansson.h"

static apr_pool_t *pool;

/* ---- what each fixture holds ----------------------------------------------------------------- */

#define MAX_TOOLS 2

typedef struct {
    const char *name, *args; /* args: JSON text, compared structurally */
} expected_tool;

typedef struct {
    aiproxy_proto upstream;
    const char *file; /* under test/fixtures/recorded/ */
    const char *text, *thinking;
    expected_tool tools[MAX_TOOLS];
    tr_stop stop;
    long long input, output, reasoning; /* reasoning: checked where the client carries it */
} recorded_answer;

#define RHINE  "The Rhine rises in the Swiss Alps and reaches the North Sea near Rotterdam."
#define LOOKUP "I'll look up both cities."
#define SUM    "47 + 35 = 82."
#define WEATHER                                                                                    \
    {                                                                                              \
        "get_weather", "{\"city\":\"Paris\",\"unit\":\"celsius\"}"                                 \
    }
#define TIME                                                                                       \
    {                                                                                              \
        "get_time", "{\"tz\":\"Europe/Paris\",\"24h\":true}"                                       \
    }
#define ANTHROPIC_THOUGHTS "Add the units first: 7 + 5 = 12. Then the tens: 40 + 30 = 70, so 82."
/* Gemini thought parts are pieces of one text; Responses summary parts are paragraphs. */
#define THOUGHTS_1 "**Adding the numbers**\n\nUnits: 7 + 5 = 12; tens: 40 + 30 = 70."
#define THOUGHTS_2 "**Result**\n\nThat gives 82."

/* clang-format off: one fixture per line */
static const recorded_answer answers[] = {
    {AIPROXY_PROTO_ANTHROPIC,
     "anthropic/text.json",
     RHINE,
     "",
     {{0}},
     TR_STOP_END_TURN,
     2066,
     21,
     0},
    {AIPROXY_PROTO_ANTHROPIC,
     "anthropic/text.sse",
     RHINE,
     "",
     {{0}},
     TR_STOP_END_TURN,
     2066,
     21,
     0},
    {AIPROXY_PROTO_ANTHROPIC,
     "anthropic/tools.sse",
     LOOKUP,
     "",
     {WEATHER, TIME},
     TR_STOP_TOOL_USE,
     412,
     96,
     0},
    {AIPROXY_PROTO_ANTHROPIC,
     "anthropic/thinking.sse",
     SUM,
     ANTHROPIC_THOUGHTS,
     {{0}},
     TR_STOP_END_TURN,
     45,
     88,
     0},
    {AIPROXY_PROTO_OPENAI, "openai/text.json", RHINE, "", {{0}}, TR_STOP_END_TURN, 2066, 21, 0},
    {AIPROXY_PROTO_OPENAI, "openai/text.sse", RHINE, "", {{0}}, TR_STOP_END_TURN, 2066, 21, 0},
    {AIPROXY_PROTO_OPENAI,
     "openai/tools.sse",
     "",
     "",
     {WEATHER, TIME},
     TR_STOP_TOOL_USE,
     412,
     96,
     0},
    {AIPROXY_PROTO_OPENAI, "openai/thinking.sse", SUM, "", {{0}}, TR_STOP_END_TURN, 45, 216, 192},
    {AIPROXY_PROTO_RESPONSES,
     "responses/text.json",
     RHINE,
     "",
     {{0}},
     TR_STOP_END_TURN,
     2066,
     85,
     64},
    {AIPROXY_PROTO_RESPONSES,
     "responses/text.sse",
     RHINE,
     "",
     {{0}},
     TR_STOP_END_TURN,
     2066,
     85,
     64},
    {AIPROXY_PROTO_RESPONSES,
     "responses/tools.sse",
     LOOKUP,
     "",
     {WEATHER, TIME},
     TR_STOP_TOOL_USE,
     412,
     96,
     0},
    {AIPROXY_PROTO_RESPONSES,
     "responses/thinking.sse",
     SUM,
     THOUGHTS_1 "\n\n" THOUGHTS_2,
     {{0}},
     TR_STOP_END_TURN,
     45,
     216,
     192},
    {AIPROXY_PROTO_GEMINI, "gemini/text.json", RHINE, "", {{0}}, TR_STOP_END_TURN, 2066, 85, 64},
    {AIPROXY_PROTO_GEMINI, "gemini/text.sse", RHINE, "", {{0}}, TR_STOP_END_TURN, 2066, 85, 64},
    {AIPROXY_PROTO_GEMINI,
     "gemini/tools.sse",
     LOOKUP,
     "",
     {WEATHER, TIME},
     TR_STOP_TOOL_USE,
     412,
     96,
     56},
    {AIPROXY_PROTO_GEMINI,
     "gemini/thinking.sse",
     SUM,
     THOUGHTS_1 THOUGHTS_2,
     {{0}},
     TR_STOP_END_TURN,
     45,
     216,
     192},
};
/* clang-format on */

typedef struct {
    aiproxy_proto upstream;
    const char *file;
    int status;
    const char *message;
} recorded_error;

static const recorded_error errors[] = {
    {AIPROXY_PROTO_ANTHROPIC, "anthropic/error.json", 529, "Overloaded"},
    {AIPROXY_PROTO_OPENAI, "openai/error.json", 429, "Rate limit reached for gpt-4o"},
    {AIPROXY_PROTO_RESPONSES, "responses/error.json", 400, "Invalid type for 'input[0].content'"},
    {AIPROXY_PROTO_GEMINI, "gemini/error.json", 429, "You exceeded your current quota"},
};

/* ---- running a translation ------------------------------------------------------------------- */

static char *read_fixture(const char *name, apr_size_t *len)
{
    const char *slash = strrchr(__FILE__, '/');
    char *path = apr_psprintf(pool, "%.*s../fixtures/recorded/%s",
                              slash ? (int) (slash - __FILE__ + 1) : 0, __FILE__, name);
    char *data = test_read_file(pool, path, len);

    if (!data)
        fail_msg("missing fixture %s", path);
    return data;
}

static apr_status_t capture(void *baton, const char *data, apr_size_t len)
{
    return tr_buf_add(baton, data, len) ? APR_ENOMEM : APR_SUCCESS;
}

/* input fed in 13-byte pieces (events split anywhere) to a client of proto / framing. */
static const char *translate(aiproxy_proto client, aiproxy_stream_mode client_stream,
                             aiproxy_proto upstream, aiproxy_stream_mode upstream_stream,
                             const char *input, apr_size_t len, aiproxy_response_info *info)
{
    aiproxy_response_spec spec = {.client = client,
                                  .client_stream = client_stream,
                                  .upstream = upstream,
                                  .upstream_stream = upstream_stream,
                                  .client_model = "client-model",
                                  .include_usage = 1,
                                  .operation = AIPROXY_OP_GENERATE};
    aiproxy_response *t = aiproxy_response_create(pool, &spec);
    tr_buf *out = tr_buf_make(pool, 0);
    aiproxy_sink sink = {capture, out};

    for (apr_size_t at = 0; at < len; at += 13)
        aiproxy_response_feed(t, input + at, len - at < 13 ? len - at : 13, &sink);
    aiproxy_response_finish(t, 0, &sink);
    if (info)
        *info = *aiproxy_response_get_info(t);
    return out->data ? apr_pstrmemdup(pool, out->data, out->len) : "";
}

/* ---- well-formed output, per client protocol ------------------------------------------------- */

typedef struct {
    const char *name; /* event: line, or NULL */
    const char *data;
    json_t *json; /* NULL for non-JSON data ([DONE]) */
} sse_event;

/* The events of an SSE text; fails on a data line that is neither JSON nor [DONE]. */
static apr_array_header_t *sse_events(const char *where, const char *text)
{
    apr_array_header_t *events = apr_array_make(pool, 32, sizeof(sse_event));
    char *copy = apr_pstrdup(pool, text), *r, *w, *block, *next;

    for (r = w = copy; *r; r++) /* CR only frames lines (JSON escapes its own) */
        if (*r != '\r')
            *w++ = *r;
    *w = '\0';
    for (block = copy; block && *block; block = next) {
        sse_event *ev;
        char *line, *state;

        next = strstr(block, "\n\n");
        if (next)
            *next = '\0', next += 2;
        ev = apr_array_push(events);
        memset(ev, 0, sizeof(*ev));
        for (line = apr_strtok(block, "\n", &state); line; line = apr_strtok(NULL, "\n", &state)) {
            if (!strncmp(line, "event: ", 7))
                ev->name = line + 7;
            else if (!strncmp(line, "data: ", 6))
                ev->data = line + 6;
            else
                fail_msg("%s: stray line '%s'", where, line);
        }
        if (!ev->data)
            fail_msg("%s: event without data", where);
        ev->json = test_jansson_parse(pool, ev->data, strlen(ev->data));
        if (!ev->json && strcmp(ev->data, "[DONE]"))
            fail_msg("%s: data is not JSON: %s", where, ev->data);
    }
    return events;
}

static const char *type_of(const sse_event *ev)
{
    return json_string_value(json_object_get(ev->json, "type"));
}

static int count_type(const apr_array_header_t *events, const char *type)
{
    int n = 0;
    for (int i = 0; i < events->nelts; i++) {
        const char *t = type_of(&APR_ARRAY_IDX(events, i, sse_event));
        n += t && !strcmp(t, type);
    }
    return n;
}

static void expect(int ok, const char *where, const char *rule)
{
    if (!ok)
        fail_msg("%s: %s", where, rule);
}

/* Named events whose name is their data's type (Anthropic, Responses). */
static void check_named(const char *where, const apr_array_header_t *events)
{
    for (int i = 0; i < events->nelts; i++) {
        const sse_event *ev = &APR_ARRAY_IDX(events, i, sse_event);
        expect(ev->name && type_of(ev) && !strcmp(ev->name, type_of(ev)), where,
               "every event's name is its data's type");
    }
}

static void check_anthropic_stream(const char *where, const apr_array_header_t *events)
{
    int started = 0, open[64] = {0}, n = events->nelts;

    check_named(where, events);
    expect(!strcmp(type_of(&APR_ARRAY_IDX(events, 0, sse_event)), "message_start"), where,
           "message_start comes first");
    expect(!strcmp(type_of(&APR_ARRAY_IDX(events, n - 1, sse_event)), "message_stop"), where,
           "message_stop comes last");
    expect(count_type(events, "message_start") == 1 && count_type(events, "message_stop") == 1 &&
               count_type(events, "message_delta") == 1,
           where, "one message_start, message_delta and message_stop");
    for (int i = 0; i < n; i++) {
        const sse_event *ev = &APR_ARRAY_IDX(events, i, sse_event);
        const char *t = type_of(ev);
        int index = (int) json_integer_value(json_object_get(ev->json, "index"));
        if (!strcmp(t, "content_block_start")) {
            expect(index == started && index < 64, where, "blocks start at 0, 1, 2 ...");
            open[started++] = 1;
        } else if (!strcmp(t, "content_block_delta") || !strcmp(t, "content_block_stop")) {
            expect(index < started && open[index], where, "deltas and stops name an open block");
            if (!strcmp(t, "content_block_stop"))
                open[index] = 0;
        } else if (!strcmp(t, "message_delta")) {
            for (int b = 0; b < started; b++)
                expect(!open[b], where, "every block stops before message_delta");
            expect(json_string_value(
                       json_object_get(json_object_get(ev->json, "delta"), "stop_reason")) != NULL,
                   where, "message_delta has a stop_reason");
        }
    }
}

static void check_openai_stream(const char *where, const apr_array_header_t *events)
{
    int n = events->nelts, finishes = 0;
    const char *id = NULL;

    expect(!strcmp(APR_ARRAY_IDX(events, n - 1, sse_event).data, "[DONE]"), where,
           "[DONE] comes last");
    for (int i = 0; i < n - 1; i++) {
        const sse_event *ev = &APR_ARRAY_IDX(events, i, sse_event);
        json_t *choice = json_array_get(json_object_get(ev->json, "choices"), 0);
        expect(ev->json && !ev->name, where, "only JSON data lines before [DONE]");
        expect(!strcmp(json_string_value(json_object_get(ev->json, "object")),
                       "chat.completion.chunk"),
               where, "every chunk is a chat.completion.chunk");
        if (!id)
            id = json_string_value(json_object_get(ev->json, "id"));
        expect(!strcmp(id, json_string_value(json_object_get(ev->json, "id"))), where,
               "one id for every chunk");
        if (i == 0)
            expect(!strcmp(
                       json_string_value(json_object_get(json_object_get(choice, "delta"), "role")),
                       "assistant"),
                   where, "the first chunk gives the role");
        if (json_is_string(json_object_get(choice, "finish_reason")))
            finishes++;
        else if (!choice)
            expect(finishes == 1 && json_is_object(json_object_get(ev->json, "usage")), where,
                   "a chunk without choices is the usage chunk after the finish");
        else
            expect(finishes == 0, where, "no content after the finish_reason");
    }
    expect(finishes == 1, where, "exactly one finish_reason");
}

static void check_responses_stream(const char *where, const apr_array_header_t *events)
{
    int n = events->nelts, open[64] = {0};
    const char *last = type_of(&APR_ARRAY_IDX(events, n - 1, sse_event));

    check_named(where, events);
    expect(!strcmp(type_of(&APR_ARRAY_IDX(events, 0, sse_event)), "response.created") &&
               !strcmp(type_of(&APR_ARRAY_IDX(events, 1, sse_event)), "response.in_progress"),
           where, "response.created, then response.in_progress");
    expect(!strcmp(last, "response.completed") || !strcmp(last, "response.incomplete"), where,
           "the response ends last");
    expect(count_type(events, "response.created") == 1 &&
               count_type(events, "response.completed") +
                       count_type(events, "response.incomplete") ==
                   1,
           where, "one start, one end");
    for (int i = 0; i < n; i++) {
        const sse_event *ev = &APR_ARRAY_IDX(events, i, sse_event);
        const char *t = type_of(ev);
        json_t *oi = json_object_get(ev->json, "output_index");
        int at = (int) json_integer_value(oi);

        expect(json_integer_value(json_object_get(ev->json, "sequence_number")) == i, where,
               "sequence_number counts every event from 0");
        if (!strcmp(t, "response.output_item.added"))
            expect(at < 64 && !open[at]++, where, "an item is added once");
        else if (!strcmp(t, "response.output_item.done"))
            expect(at < 64 && open[at] == 1 && (open[at] = 2), where, "done follows added");
        else if (oi)
            expect(at < 64 && open[at] == 1, where, "item events name an open item");
    }
}

static void check_gemini_stream(const char *where, const apr_array_header_t *events)
{
    int n = events->nelts;

    for (int i = 0; i < n; i++) {
        const sse_event *ev = &APR_ARRAY_IDX(events, i, sse_event);
        json_t *candidate = json_array_get(json_object_get(ev->json, "candidates"), 0);
        expect(ev->json && !ev->name && candidate, where, "every chunk holds a candidate");
        expect(json_is_string(json_object_get(candidate, "finishReason")) == (i == n - 1), where,
               "the last chunk, and only it, has the finishReason");
    }
    expect(json_is_object(
               json_object_get(APR_ARRAY_IDX(events, n - 1, sse_event).json, "usageMetadata")),
           where, "the last chunk has usageMetadata");
}

typedef void (*stream_check)(const char *where, const apr_array_header_t *events);

static const stream_check stream_checks[AIPROXY_PROTO_COUNT] = {
    check_anthropic_stream, check_openai_stream, check_responses_stream, check_gemini_stream};

/* The member a complete JSON answer of each protocol is recognised by. */
static const char *const json_marks[AIPROXY_PROTO_COUNT][2] = {{"type", "message"},
                                                               {"object", "chat.completion"},
                                                               {"object", "response"},
                                                               {"candidates", NULL}};

static void check_json_answer(const char *where, aiproxy_proto client, const char *text)
{
    json_t *root = test_jansson_parse(pool, text, strlen(text));
    json_t *mark = json_object_get(root, json_marks[client][0]);

    expect(json_is_object(root), where, "the answer is a JSON object");
    expect(json_marks[client][1]
               ? json_is_string(mark) && !strcmp(json_string_value(mark), json_marks[client][1])
               : json_is_array(mark),
           where, "the answer has the client protocol's shape");
}

/* ---- the answer the client reads back ---------------------------------------------------------
 */

static void check_content(const char *where, const recorded_answer *want, aiproxy_proto client,
                          const char *json_answer)
{
    aiproxy_error err = {0};
    tr_jv *root = tr_jv_parse(pool, json_answer, strlen(json_answer), &err);
    tr_response got;
    const char *text = "", *thinking = "";
    int tools = 0;

    assert_non_null(root);
    assert_int_equal(tr_codec_for(client)->response_decode(pool, root, &got, &err), 0);
    for (int i = 0; i < got.blocks->nelts; i++) {
        const tr_block *b = APR_ARRAY_IDX(got.blocks, i, const tr_block *);
        if (b->kind == TR_BLOCK_TEXT)
            text = apr_pstrcat(pool, text, b->text, NULL);
        else if (b->kind == TR_BLOCK_THINKING)
            thinking = apr_pstrcat(pool, thinking, b->text, NULL);
        else if (b->kind == TR_BLOCK_TOOL_CALL) {
            json_t *args = test_jansson_parse(pool, b->arguments, strlen(b->arguments));
            json_t *args_want;
            expect(tools < MAX_TOOLS && want->tools[tools].name, where, "no extra tool call");
            args_want =
                test_jansson_parse(pool, want->tools[tools].args, strlen(want->tools[tools].args));
            if (strcmp(b->name, want->tools[tools].name) || !json_equal(args, args_want))
                fail_msg("%s: tool call %d is %s %s, want %s %s", where, tools, b->name,
                         b->arguments, want->tools[tools].name, want->tools[tools].args);
            expect(b->id && *b->id, where, "tool calls keep an id");
            tools++;
        }
    }
    expect(tools == MAX_TOOLS || !want->tools[tools].name, where, "every tool call arrives");
    if (strcmp(text, want->text))
        fail_msg("%s: text '%s', want '%s'", where, text, want->text);
    if (strcmp(thinking, want->thinking))
        fail_msg("%s: thinking '%s', want '%s'", where, thinking, want->thinking);
    if (got.stop != want->stop)
        fail_msg("%s: stop %d, want %d", where, got.stop, want->stop);
    if (got.usage.input != want->input || got.usage.output != want->output)
        fail_msg("%s: usage %lld/%lld, want %lld/%lld", where, got.usage.input, got.usage.output,
                 want->input, want->output);
    if (client != AIPROXY_PROTO_ANTHROPIC && got.usage.reasoning != want->reasoning)
        fail_msg("%s: reasoning %lld, want %lld", where, got.usage.reasoning, want->reasoning);
}

/* A client stream accumulated the way the client's SDK does it. */
static const char *accumulate(aiproxy_proto client, const char *stream)
{
    return translate(client, AIPROXY_STREAM_NONE, client, AIPROXY_STREAM_SSE, stream,
                     strlen(stream), NULL);
}

/* input (the fixture want->file, or a reshaped copy named by label) through to client, in
 * both of the client's framings. */
static void run_answer_input(const recorded_answer *want, aiproxy_proto client, const char *label,
                             const char *input, apr_size_t len)
{
    aiproxy_stream_mode in_mode =
        strstr(want->file, ".sse") ? AIPROXY_STREAM_SSE : AIPROXY_STREAM_NONE;
    static const aiproxy_stream_mode out_modes[] = {AIPROXY_STREAM_SSE, AIPROXY_STREAM_NONE};

    for (size_t m = 0; m < 2; m++) {
        aiproxy_response_info info;
        const char *where = apr_psprintf(pool, "%s -> %s %s", label, aiproxy_proto_name(client),
                                         out_modes[m] == AIPROXY_STREAM_SSE ? "stream" : "JSON");
        const char *out =
            translate(client, out_modes[m], want->upstream, in_mode, input, len, &info);

        expect(!info.seen_error && info.seen_content, where, "content and no error");
        if (client == want->upstream && out_modes[m] == in_mode)
            expect(!strcmp(out, input), where, "the same protocol passes the bytes through");
        if (out_modes[m] == AIPROXY_STREAM_SSE) {
            stream_checks[client](where, sse_events(where, out));
            out = accumulate(client, out);
        }
        check_json_answer(where, client, out);
        check_content(where, want, client, out);
    }
}

static void run_answer(const recorded_answer *want, aiproxy_proto client)
{
    apr_size_t len;
    const char *input = read_fixture(want->file, &len);
    run_answer_input(want, client, want->file, input, len);
}

static void test_recorded_answers(void **state)
{
    for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++)
        for (int client = 0; client < AIPROXY_PROTO_COUNT; client++)
            run_answer(&answers[i], (aiproxy_proto) client);
}

/* A Responses stream as the Codex backend sends it (research/oauth.md §1 "Response"): it
 * stores nothing and its response.completed can arrive with an empty output, so an answer
 * must be built from the streamed items, never from that final event. */
static const char *codex_shaped(const char *where, const char *stream)
{
    apr_array_header_t *events = sse_events(where, stream);
    const char *out = "";

    for (int i = 0; i < events->nelts; i++) {
        sse_event *ev = &APR_ARRAY_IDX(events, i, sse_event);
        json_t *response = json_object_get(ev->json, "response");
        char *data;

        if (type_of(ev) && !strcmp(type_of(ev), "response.completed")) {
            json_object_set_new(response, "output", json_array());
            json_object_set_new(response, "store", json_false());
        }
        data = json_dumps(ev->json, JSON_COMPACT);
        out = apr_pstrcat(pool, out, "event: ", ev->name, "\ndata: ", data, "\n\n", NULL);
        free(data);
    }
    return out;
}

/* The codex api type always streams (a non-streaming client's request is sent with
 * stream: true): every client, streaming or not, gets the whole answer. */
static void test_codex_streams(void **state)
{
    for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
        const recorded_answer *want = &answers[i];
        apr_size_t len;
        const char *label = apr_pstrcat(pool, "codex-shaped ", want->file, NULL);
        const char *input;

        if (want->upstream != AIPROXY_PROTO_RESPONSES || !strstr(want->file, ".sse"))
            continue;
        input = codex_shaped(label, read_fixture(want->file, &len));
        for (int client = 0; client < AIPROXY_PROTO_COUNT; client++)
            run_answer_input(want, (aiproxy_proto) client, label, input, strlen(input));
    }
}

/* An upstream's error body: its message is found, and it reaches every client in the
 * client's own envelope with a status from the upstream's words. */
static void test_recorded_errors(void **state)
{
    for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
        const recorded_error *e = &errors[i];
        apr_size_t len;
        const char *body = read_fixture(e->file, &len);
        const char *message = aiproxy_error_message_from_body(pool, e->upstream, body, len);

        if (!message || strncmp(message, e->message, strlen(e->message)))
            fail_msg("%s: message '%s'", e->file, message);
        for (int client = 0; client < AIPROXY_PROTO_COUNT; client++) {
            aiproxy_response_info info;
            const char *where =
                apr_psprintf(pool, "%s -> %s", e->file, aiproxy_proto_name((aiproxy_proto) client));
            const char *out = translate((aiproxy_proto) client, AIPROXY_STREAM_NONE, e->upstream,
                                        AIPROXY_STREAM_NONE, body, len, &info);
            aiproxy_error err = {.status = e->status, .message = message};
            json_t *got = test_jansson_parse(pool, out, strlen(out));

            if (client == (int) e->upstream) {
                expect(!strcmp(out, body), where, "passed through");
                continue;
            }
            expect(info.seen_error, where, "the error is seen");
            expect(json_is_object(got) && strstr(out, e->message), where,
                   "the client's envelope with the message");
            /* the envelope the client protocol writes for that status and message */
            expect(
                json_equal(
                    got, test_jansson_parse(
                             pool, aiproxy_error_body(pool, (aiproxy_proto) client, &err, NULL),
                             strlen(aiproxy_error_body(pool, (aiproxy_proto) client, &err, NULL)))),
                where, "the client's own envelope for the upstream's status");
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recorded_answers),
        cmocka_unit_test(test_codex_streams),
        cmocka_unit_test(test_recorded_errors),
    };
    int rc;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    apr_pool_destroy(pool);
    apr_terminate();
    return rc;
}
