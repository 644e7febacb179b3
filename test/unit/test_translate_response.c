/*
 * test_translate_response.c: responses and streams between every pair of protocols.
 *
 * Golden vectors: upstream inputs in vectors/responses/<proto>_<case>.json (complete bodies)
 * and vectors/streams/<proto>_<case>.sse (streams); the expected client output of each pair
 * next to them as <input>.to_<client>.<json|sse|jsonarray>. Run with AIPROXY_UPDATE_VECTORS=1
 * to (re)write the expected files, then review the diff by hand.
 *
 * Beyond the goldens: every stream is fed whole, byte by byte and in 7-byte pieces with the
 * same result; the translated client stream, accumulated the way the client's SDK does,
 * carries the same answer as the translated complete body; and the targeted tests below pin
 * error events, truncation, include_usage, Gemini call buffering and the info counters.
 *
 * Kiro (upstream only) answers in the AWS event stream: its inputs are built here as frames
 * (kiro_stream), its goldens are vectors/streams/kiro_<case>.to_<client>.<sse|json|jsonarray>.
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
#include <jansson.h>
#include "test_clock.h"
#include "test_files.h"
#include "json/tr_jv.h"
#include "json/tr_buf.h"
#include "tr_error.h"
#include "tr_stop.h"
#include "pipeline/tr_eventstream.h"

static apr_pool_t *pool;

static const char *const proto_names[] = {"anthropic", "openai", "responses", "gemini"};
static const char *const cases[] = {"text", "tools"};

/* ---- helpers ------------------------------------------------------------------------------ */

static const char *vector_dir(void)
{
    static char dir[1024];
    const char *env = getenv("AIPROXY_VECTORS");
    const char *slash;

    if (env)
        return env;
    slash = strrchr(__FILE__, '/');
    snprintf(dir, sizeof(dir), "%.*svectors", slash ? (int) (slash - __FILE__ + 1) : 0, __FILE__);
    return dir;
}

static char *read_vector(const char *name, apr_size_t *len)
{
    apr_size_t n = 0;
    char *data = test_read_file(pool, apr_psprintf(pool, "%s/%s", vector_dir(), name), &n);

    if (len)
        *len = n;
    return data;
}

static void write_vector(const char *name, const char *data, apr_size_t len)
{
    char *path = apr_psprintf(pool, "%s/%s", vector_dir(), name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(data, 1, len, f);
    fclose(f);
}

typedef struct {
    tr_buf *out;
    int writes;
} capture;

static apr_status_t capture_write(void *baton, const char *data, apr_size_t len)
{
    capture *c = baton;
    c->writes++;
    return tr_buf_add(c->out, data, len) ? APR_ENOMEM : APR_SUCCESS;
}

/* created/created_at depend on the clock when the upstream gives none: zero them. */
static char *normalize(const char *text)
{
    return test_zero_clock_times(pool, text);
}

/* Ids the gateway makes up when the upstream sends none (Kiro never does): a random 24-digit
 * hex run (tr_resp_random_hex), zeroed. */
static char *normalize_made_up_ids(char *text)
{
    static const char hex[] = "0123456789abcdef";

    for (char *p = text; *p; p++) {
        size_t n = strspn(p, hex);
        if (n == 24 && (p == text || !strchr(hex, p[-1])))
            memset(p, '0', n);
        p += n ? n - 1 : 0;
    }
    return text;
}

typedef struct {
    const char *output;
    apr_size_t len;
    aiproxy_response_info info;
    int writes;
} run_result;

/* Translate input fed in pieces of piece bytes (0 = whole). */
static run_result translate(const aiproxy_response_spec *spec, const char *input, apr_size_t len,
                            apr_size_t piece, int upstream_broke)
{
    capture c;
    aiproxy_sink sink = {capture_write, &c};
    aiproxy_response *t = aiproxy_response_create(pool, spec);
    run_result r;

    c.out = tr_buf_make(pool, 0);
    c.writes = 0;
    assert_non_null(t);
    for (apr_size_t at = 0; at < len;) {
        apr_size_t n = piece && len - at > piece ? piece : len - at;
        aiproxy_response_feed(t, input + at, n, &sink);
        at += n;
    }
    aiproxy_response_finish(t, upstream_broke, &sink);
    r.output = normalize(c.out->data ? c.out->data : "");
    if (spec->upstream == AIPROXY_PROTO_KIRO)
        r.output = normalize_made_up_ids((char *) r.output);
    tr_buf_release(c.out);
    r.len = strlen(r.output);
    r.info = *aiproxy_response_get_info(t);
    r.writes = c.writes;
    return r;
}

static aiproxy_response_spec make_spec(aiproxy_proto client, aiproxy_stream_mode client_stream,
                                       aiproxy_proto upstream, aiproxy_stream_mode upstream_stream)
{
    aiproxy_response_spec spec = {.client = client,
                                  .client_stream = client_stream,
                                  .upstream = upstream,
                                  .upstream_stream = upstream_stream,
                                  .client_model = "client-model",
                                  .include_usage = 0,
                                  .operation = AIPROXY_OP_GENERATE};
    return spec;
}

/* A token count's answer in each protocol becomes Anthropic's {"input_tokens": N}; an answer
 * without the number is a 502 in the client's envelope. */
static void test_count_tokens_answer(void **state)
{
    static const struct {
        aiproxy_proto upstream;
        const char *answer;
    } answers[] = {
        {AIPROXY_PROTO_ANTHROPIC, "{\"input_tokens\":42}"},
        {AIPROXY_PROTO_RESPONSES, "{\"object\":\"response.input_tokens\",\"input_tokens\":42}"},
        {AIPROXY_PROTO_GEMINI, "{\"totalTokens\":42}"},
    };
    for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
        aiproxy_response_spec spec = make_spec(AIPROXY_PROTO_ANTHROPIC, AIPROXY_STREAM_NONE,
                                               answers[i].upstream, AIPROXY_STREAM_NONE);
        run_result r;

        spec.operation = AIPROXY_OP_COUNT_TOKENS;
        r = translate(&spec, answers[i].answer, strlen(answers[i].answer), 3, 0);
        assert_string_equal(r.output, "{\"input_tokens\":42}");
        assert_int_equal(r.info.input_tokens, 42);
        assert_true(r.info.seen_content);

        r = translate(&spec, "{\"other\":1}", 11, 0, 0);
        assert_non_null(strstr(r.output, "\"type\":\"error\""));
        assert_true(r.info.seen_error);
    }
}

static int updating(void)
{
    return getenv("AIPROXY_UPDATE_VECTORS") != NULL;
}

/* Compare a JSON output with its golden file (structurally), or write it when updating.
 * jansson reads both: an independent parser, so a writer bug cannot hide behind our own. */
static void check_json_golden(const char *name, const char *output)
{
    json_t *got = json_loads(output, JSON_ALLOW_NUL, NULL), *want;
    const char *expected;
    int same;

    if (!got)
        fail_msg("%s: output is not JSON: %s", name, output);
    if (updating()) {
        char *pretty = json_dumps(got, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        write_vector(name, apr_pstrcat(pool, pretty, "\n", NULL), strlen(pretty) + 1);
        free(pretty);
        json_decref(got);
        return;
    }
    expected = read_vector(name, NULL);
    if (!expected)
        fail_msg("missing golden vector %s (run with AIPROXY_UPDATE_VECTORS=1)", name);
    want = json_loads(expected, JSON_ALLOW_NUL, NULL);
    assert_non_null(want);
    same = json_equal(got, want);
    json_decref(got);
    json_decref(want);
    if (!same)
        fail_msg("%s differs:\n got: %s\nwant: %s", name, output, expected);
}

/* Compare a stream output byte for byte with its golden file. */
static void check_text_golden(const char *name, const char *output)
{
    const char *expected;

    if (updating()) {
        write_vector(name, output, strlen(output));
        return;
    }
    expected = read_vector(name, NULL);
    if (!expected)
        fail_msg("missing golden vector %s (run with AIPROXY_UPDATE_VECTORS=1)", name);
    if (strcmp(expected, output))
        fail_msg("%s differs:\n got:\n%s\nwant:\n%s", name, output, expected);
}

/* Every stream split gives the same output. */
static run_result translate_every_split(const aiproxy_response_spec *spec, const char *input,
                                        apr_size_t len)
{
    run_result whole = translate(spec, input, len, 0, 0);
    run_result bytes = translate(spec, input, len, 1, 0);
    run_result sevens = translate(spec, input, len, 7, 0);

    assert_string_equal(whole.output, bytes.output);
    assert_string_equal(whole.output, sevens.output);
    return whole;
}

/* ---- the SDK-helper property ------------------------------------------------------------- */

/* What a client's SDK would rebuild from a response: block kinds and content, tool calls
 * with arguments parsed, the stop reason. */
static const char *answer_summary(aiproxy_proto proto, const char *json_text)
{
    aiproxy_error err = {0};
    tr_jv *root = tr_jv_parse(pool, json_text, strlen(json_text), &err);
    tr_response resp;
    const char *summary = "";

    assert_non_null(root);
    assert_int_equal(tr_codec_for(proto)->response_decode(pool, root, &resp, &err), 0);
    for (int i = 0; i < resp.blocks->nelts; i++) {
        const tr_block *b = APR_ARRAY_IDX(resp.blocks, i, const tr_block *);
        const char *content = b->text ? b->text : "";
        if (b->kind == TR_BLOCK_TOOL_CALL) {
            tr_jv *args = tr_jv_parse(pool, b->arguments, strlen(b->arguments), &err);
            assert_non_null(args);
            /* key order: the parser keeps insertion order, both sides agree */
            content =
                apr_pstrcat(pool, b->id, " ", b->name, " ", tr_jv_dump(pool, args, NULL), NULL);
        }
        summary = apr_psprintf(pool, "%s[%d:%s:%s]", summary, b->kind, content,
                               b->has_signature ? b->signature : "");
    }
    if (getenv("AIPROXY_DEBUG"))
        fprintf(stderr, "summary of %s\n", json_text);
    return apr_psprintf(pool, "%s stop=%d", summary, resp.stop);
}

/* Accumulate a client stream the way the client's SDK does (its own protocol's decoder). */
static const char *accumulate_client_stream(aiproxy_proto client, const char *stream)
{
    aiproxy_response_spec spec = make_spec(client, AIPROXY_STREAM_NONE, client, AIPROXY_STREAM_SSE);
    const char *out = translate(&spec, stream, strlen(stream), 0, 0).output;
    if (getenv("AIPROXY_DEBUG"))
        fprintf(stderr, "accumulated %s:\n%s\n", proto_names[client], out);
    return out;
}

/* ---- the golden matrix ------------------------------------------------------------------- */

static void run_pair(aiproxy_proto up, const char *which, aiproxy_proto client)
{
    const char *base = apr_psprintf(pool, "%s_%s", proto_names[up], which);
    const char *cname = proto_names[client];
    apr_size_t json_len, sse_len;
    const char *json_in = read_vector(apr_psprintf(pool, "responses/%s.json", base), &json_len);
    const char *sse_in = read_vector(apr_psprintf(pool, "streams/%s.sse", base), &sse_len);
    aiproxy_response_spec spec;
    run_result json_json, json_sse, sse_sse, sse_json;

    assert_non_null(json_in);
    assert_non_null(sse_in);

    spec = make_spec(client, AIPROXY_STREAM_NONE, up, AIPROXY_STREAM_NONE);
    json_json = translate(&spec, json_in, json_len, 0, 0);
    assert_int_equal(json_json.info.seen_error, 0);
    assert_int_equal(json_json.info.seen_content, 1);
    if (up == client)
        assert_string_equal(json_json.output, normalize(json_in)); /* passthrough */
    else
        check_json_golden(apr_psprintf(pool, "responses/%s.to_%s.json", base, cname),
                          json_json.output);

    spec = make_spec(client, AIPROXY_STREAM_SSE, up, AIPROXY_STREAM_NONE);
    json_sse = translate(&spec, json_in, json_len, 0, 0);
    check_text_golden(apr_psprintf(pool, "responses/%s.to_%s.sse", base, cname), json_sse.output);

    spec = make_spec(client, AIPROXY_STREAM_SSE, up, AIPROXY_STREAM_SSE);
    sse_sse = translate_every_split(&spec, sse_in, sse_len);
    assert_int_equal(sse_sse.info.seen_error, 0);
    assert_int_equal(sse_sse.info.seen_content, 1);
    assert_non_null(sse_sse.info.stop);
    if (up == client)
        assert_string_equal(sse_sse.output, normalize(sse_in)); /* passthrough */
    else
        check_text_golden(apr_psprintf(pool, "streams/%s.to_%s.sse", base, cname), sse_sse.output);

    spec = make_spec(client, AIPROXY_STREAM_NONE, up, AIPROXY_STREAM_SSE);
    sse_json = translate_every_split(&spec, sse_in, sse_len);
    assert_int_equal(sse_json.info.seen_error, 0);
    check_json_golden(apr_psprintf(pool, "streams/%s.to_%s.json", base, cname), sse_json.output);

    if (client == AIPROXY_PROTO_GEMINI) {
        spec = make_spec(client, AIPROXY_STREAM_JSON_ARRAY, up, AIPROXY_STREAM_SSE);
        check_text_golden(apr_psprintf(pool, "streams/%s.to_gemini.jsonarray", base),
                          translate_every_split(&spec, sse_in, sse_len).output);
    }

    /* The SDK-helper property: the client's own accumulation of the translated stream holds
     * the same answer as the translated complete body, whichever upstream framing it came from. */
    assert_string_equal(answer_summary(client, accumulate_client_stream(client, sse_sse.output)),
                        answer_summary(client, json_json.output));
    assert_string_equal(answer_summary(client, accumulate_client_stream(client, json_sse.output)),
                        answer_summary(client, json_json.output));
    assert_string_equal(answer_summary(client, sse_json.output),
                        answer_summary(client, json_json.output));
}

static void test_golden_pairs(void **state)
{
    for (int up = 0; up < AIPROXY_PROTO_COUNT; up++)
        for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
            for (int client = 0; client < AIPROXY_PROTO_COUNT; client++)
                run_pair((aiproxy_proto) up, cases[c], (aiproxy_proto) client);
}

/* Gemini streamGenerateContent without alt=sse, upstream side: the same answer as SSE. */
static void test_gemini_json_array_upstream(void **state)
{
    apr_size_t alen, slen;
    const char *array_in = read_vector("streams/gemini_tools.jsonarray", &alen);
    const char *sse_in = read_vector("streams/gemini_tools.sse", &slen);

    for (int client = 0; client < AIPROXY_PROTO_COUNT; client++) {
        aiproxy_response_spec from_array =
            make_spec((aiproxy_proto) client, AIPROXY_STREAM_SSE, AIPROXY_PROTO_GEMINI,
                      AIPROXY_STREAM_JSON_ARRAY);
        aiproxy_response_spec from_sse = make_spec((aiproxy_proto) client, AIPROXY_STREAM_SSE,
                                                   AIPROXY_PROTO_GEMINI, AIPROXY_STREAM_SSE);
        run_result a = translate_every_split(&from_array, array_in, alen);
        run_result s = translate(&from_sse, sse_in, slen, 0, 0);
        /* Gemini clients: re-framed, the pretty-printed chunks compacted onto one data line. */
        assert_string_equal(a.output, s.output);
    }
}

/* ---- Kiro: the AWS event stream --------------------------------------------------------- */

/* One Kiro frame: :message-type, the name header (":event-type" or ":exception-type"), JSON
 * content type, payload. */
static void kiro_frame(tr_buf *out, const char *message_type, const char *name_header,
                       const char *name, const char *payload)
{
    tr_es_header h[3] = {
        {":message-type", 13, TR_ES_STRING, 0, message_type, strlen(message_type)},
        {name_header, strlen(name_header), TR_ES_STRING, 0, name, strlen(name)},
        {":content-type", 13, TR_ES_STRING, 0, "application/json", 16},
    };
    assert_int_equal(tr_es_frame_append(out, h, 3, payload, strlen(payload)), 0);
}

static void kiro_event(tr_buf *out, const char *type, const char *payload)
{
    kiro_frame(out, "event", ":event-type", type, payload);
}

/* The answers of the Kiro goldens, as Kiro sends them (research/oauth.md §5). */
static const char *kiro_stream(const char *which, apr_size_t *len)
{
    tr_buf *b = tr_buf_make(pool, 0);

    if (!strcmp(which, "text")) {
        kiro_event(b, "reasoningContentEvent", "{\"text\":\"Thinking \"}");
        kiro_event(b, "reasoningContentEvent", "{\"text\":\"it over.\"}");
        kiro_event(b, "assistantResponseEvent", "{\"content\":\"Hello\"}");
        /* some payloads come wrapped once more in their event's name */
        kiro_event(b, "assistantResponseEvent",
                   "{\"assistantResponseEvent\":{\"content\":\", world \\u00e9\"}}");
        kiro_event(b, "followupPromptEvent", "{\"followupPrompt\":{\"content\":\"x\"}}");
        kiro_event(b, "meteringEvent", "{\"unit\":\"credit\",\"usage\":0.02}");
        kiro_event(b, "contextUsageEvent", "{\"contextUsagePercentage\":1.5}");
        kiro_event(b, "metadataEvent", "{\"tokenUsage\":{\"inputTokens\":12,\"outputTokens\":7}}");
    } else if (!strcmp(which, "texttools")) {
        /* Calls written into the text, split across events: a declared one becomes a tool
         * call, an undeclared one stays text. */
        kiro_event(b, "assistantResponseEvent", "{\"content\":\"Let me look. [Cal\"}");
        kiro_event(b, "assistantResponseEvent",
                   "{\"content\":\"led get_weather with args: {\\\"city\\\":\"}");
        kiro_event(b, "assistantResponseEvent",
                   "{\"content\":\" \\\"Paris [FR] {x}\\\"}] and [Called unknown with args: "
                   "{}]\"}");
        kiro_event(b, "assistantResponseEvent",
                   "{\"content\":\"[Called screenshot with args: {}]\"}");
        kiro_event(b, "metadataEvent", "{\"usage\":{\"inputTokens\":30,\"outputTokens\":11}}");
    } else {
        kiro_event(b, "assistantResponseEvent", "{\"content\":\"Let me look.\"}");
        kiro_event(b, "toolUseEvent",
                   "{\"toolUseId\":\"tooluse_A1\",\"name\":\"get_weather\",\"input\":\"{\\\"ci\"}");
        kiro_event(b, "toolUseEvent",
                   "{\"toolUseId\":\"tooluse_A1\",\"name\":\"get_weather\","
                   "\"input\":\"ty\\\":\\\"Paris\\\"}\"}");
        kiro_event(b, "toolUseEvent",
                   "{\"toolUseId\":\"tooluse_A1\",\"name\":\"get_weather\",\"stop\":true}");
        /* an input sent whole as an object */
        kiro_event(b, "toolUseEvent",
                   "{\"toolUseId\":\"tooluse_B2\",\"name\":\"screenshot\",\"input\":{},"
                   "\"stop\":true}");
        kiro_event(b, "meteringEvent", "{\"unit\":\"credit\",\"usage\":0.05}");
        kiro_event(b, "metadataEvent", "{\"usage\":{\"inputTokens\":30,\"outputTokens\":11}}");
    }
    *len = b->len;
    return apr_pstrmemdup(pool, b->data, b->len);
}

/* A Kiro answer for client, to a request that offered the goldens' tools. */
static aiproxy_response_spec kiro_spec(aiproxy_proto client, aiproxy_stream_mode client_stream)
{
    aiproxy_response_spec spec =
        make_spec(client, client_stream, AIPROXY_PROTO_KIRO, AIPROXY_STREAM_EVENTSTREAM);
    apr_array_header_t *names = apr_array_make(pool, 2, sizeof(const char *));

    APR_ARRAY_PUSH(names, const char *) = "get_weather";
    APR_ARRAY_PUSH(names, const char *) = "screenshot";
    spec.tool_names = names;
    return spec;
}

static void run_kiro_pair(const char *which, aiproxy_proto client)
{
    const char *base = apr_psprintf(pool, "streams/kiro_%s", which);
    const char *cname = proto_names[client];
    apr_size_t len;
    const char *in = kiro_stream(which, &len);
    aiproxy_response_spec spec;
    run_result sse, json;

    spec = kiro_spec(client, AIPROXY_STREAM_SSE);
    sse = translate_every_split(&spec, in, len);
    assert_int_equal(sse.info.seen_error, 0);
    assert_int_equal(sse.info.seen_content, 1);
    assert_int_equal(sse.info.output_tokens, !strcmp(which, "text") ? 7 : 11);
    check_text_golden(apr_psprintf(pool, "%s.to_%s.sse", base, cname), sse.output);

    spec = kiro_spec(client, AIPROXY_STREAM_NONE);
    json = translate_every_split(&spec, in, len);
    assert_int_equal(json.info.seen_error, 0);
    check_json_golden(apr_psprintf(pool, "%s.to_%s.json", base, cname), json.output);

    if (client == AIPROXY_PROTO_GEMINI) {
        spec = kiro_spec(client, AIPROXY_STREAM_JSON_ARRAY);
        check_text_golden(apr_psprintf(pool, "%s.to_gemini.jsonarray", base),
                          translate_every_split(&spec, in, len).output);
    }
    /* The SDK-helper property: the client's accumulation of the stream is the JSON answer. */
    assert_string_equal(answer_summary(client, accumulate_client_stream(client, sse.output)),
                        answer_summary(client, json.output));
}

static void test_kiro_goldens(void **state)
{
    static const char *const kiro_cases[] = {"text", "tools", "texttools"};

    for (size_t c = 0; c < sizeof(kiro_cases) / sizeof(kiro_cases[0]); c++)
        for (int client = 0; client < AIPROXY_PROTO_COUNT; client++)
            run_kiro_pair(kiro_cases[c], (aiproxy_proto) client);
}

/* What each client's stream ends with when the upstream failed mid-answer. */
static const char *const client_error_marks[AIPROXY_PROTO_COUNT] = {
    "event: error\ndata: {\"type\":\"error\"",
    "data: {\"error\":{\"message\":",
    "event: response.failed\n",
    "data: {\"error\":{\"code\":",
};

/* A frame with a bad checksum (or a stream cut inside a frame) after good content: the client's
 * stream keeps the good content and ends with its own error event; a JSON client gets its
 * error envelope. Nothing after the bad frame is decoded. */
static void test_kiro_corrupt_and_cut_streams(void **state)
{
    apr_size_t len;
    const char *good = kiro_stream("text", &len);
    tr_buf *b = tr_buf_make(pool, 0);
    char *bad;
    apr_size_t bad_len, at;

    kiro_event(b, "assistantResponseEvent", "{\"content\":\"first\"}");
    at = b->len;
    kiro_event(b, "assistantResponseEvent", "{\"content\":\"spoiled\"}");
    kiro_event(b, "assistantResponseEvent", "{\"content\":\"never\"}");
    bad_len = b->len;
    bad = apr_pmemdup(pool, b->data, bad_len);
    bad[at + 30] ^= 0x20; /* inside the second frame's payload: its message CRC fails */

    for (int client = 0; client < AIPROXY_PROTO_COUNT; client++) {
        aiproxy_response_spec spec = make_spec((aiproxy_proto) client, AIPROXY_STREAM_SSE,
                                               AIPROXY_PROTO_KIRO, AIPROXY_STREAM_EVENTSTREAM);
        run_result r = translate_every_split(&spec, bad, bad_len);
        run_result cut = translate(&spec, good, len - 5, 3, 0);
        run_result broke = translate(&spec, good, 40, 0, 1);

        if (!strstr(r.output, client_error_marks[client]))
            fail_msg("corrupt -> %s: %s", proto_names[client], r.output);
        assert_non_null(strstr(r.output, "first"));
        assert_non_null(strstr(r.output, "event stream is corrupt"));
        assert_null(strstr(r.output, "never"));
        assert_null(strstr(r.output, "[DONE]"));
        assert_int_equal(r.info.seen_error, 1);
        assert_int_equal(r.info.seen_content, 1);
        assert_non_null(strstr(cut.output, "ended inside a frame"));
        assert_int_equal(cut.info.seen_error, 1);
        assert_non_null(strstr(broke.output, client_error_marks[client]));
        assert_int_equal(broke.info.seen_error, 1);

        spec.client_stream = AIPROXY_STREAM_NONE;
        r = translate(&spec, bad, bad_len, 0, 0);
        assert_non_null(strstr(r.output, "\"error\""));
        assert_non_null(strstr(r.output, "event stream is corrupt"));
        assert_int_equal(r.info.seen_error, 1);
    }
}

/* A call written into the text counts only for a tool the request offered: without tools the
 * text passes unchanged and the answer ends as a turn. Text held as a possible call is never
 * lost: it goes on before thinking, a toolUseEvent, an exception, and at the end. */
static void test_kiro_text_calls_edges(void **state)
{
    apr_size_t len;
    const char *in = kiro_stream("texttools", &len);
    aiproxy_response_spec spec = make_spec(AIPROXY_PROTO_OPENAI, AIPROXY_STREAM_NONE,
                                           AIPROXY_PROTO_KIRO, AIPROXY_STREAM_EVENTSTREAM);
    run_result r = translate_every_split(&spec, in, len);
    tr_buf *b;

    assert_non_null(strstr(r.output, "Let me look. [Called get_weather with args: "
                                     "{\\\"city\\\": \\\"Paris [FR] {x}\\\"}]"));
    assert_null(strstr(r.output, "tool_calls\""));
    assert_non_null(strstr(r.output, "\"finish_reason\":\"stop\""));

    spec = kiro_spec(AIPROXY_PROTO_ANTHROPIC, AIPROXY_STREAM_NONE);
    b = tr_buf_make(pool, 0);
    kiro_event(b, "assistantResponseEvent", "{\"content\":\"a [Called get_weather\"}");
    kiro_event(b, "reasoningContentEvent", "{\"text\":\"hmm\"}");
    kiro_event(b, "assistantResponseEvent", "{\"content\":\"b [Called screenshot with\"}");
    kiro_event(b, "toolUseEvent",
               "{\"toolUseId\":\"t1\",\"name\":\"screenshot\",\"input\":{},\"stop\":true}");
    kiro_event(b, "assistantResponseEvent", "{\"content\":\"c [Called get_weather with args: {\"}");
    r = translate_every_split(&spec, b->data, b->len);
    assert_non_null(strstr(r.output, "\"text\":\"a [Called get_weather\""));
    assert_non_null(strstr(r.output, "\"thinking\":\"hmm\""));
    assert_non_null(strstr(r.output, "\"text\":\"b [Called screenshot with\""));
    assert_non_null(strstr(r.output, "\"text\":\"c [Called get_weather with args: {\""));
    assert_non_null(strstr(r.output, "\"stop_reason\":\"tool_use\""));
    assert_true(strstr(r.output, "a [Called") < strstr(r.output, "hmm") &&
                strstr(r.output, "hmm") < strstr(r.output, "b [Called") &&
                strstr(r.output, "b [Called") < strstr(r.output, "\"t1\"") &&
                strstr(r.output, "\"t1\"") < strstr(r.output, "c [Called"));

    b = tr_buf_make(pool, 0);
    kiro_event(b, "assistantResponseEvent", "{\"content\":\"held [Called screenshot\"}");
    kiro_frame(b, "exception", ":exception-type", "ThrottlingException", "{\"message\":\"x\"}");
    spec.client_stream = AIPROXY_STREAM_SSE;
    r = translate_every_split(&spec, b->data, b->len);
    /* "held " goes on at once, the rest when the exception comes */
    assert_non_null(strstr(r.output, "\"text\":\"[Called screenshot\""));
    assert_non_null(strstr(r.output, "event: error"));
    assert_true(strstr(r.output, "[Called screenshot") < strstr(r.output, "event: error"));
}

/* Exception and error frames, and a payload naming an exception, end the answer with the
 * client's error carrying Kiro's message; the exception type picks the status. */
static void test_kiro_exceptions(void **state)
{
    static const struct {
        const char *message_type, *name_header, *name, *payload, *expect;
        int status;
    } cases_[] = {
        {"exception", ":exception-type", "ThrottlingException", "{\"message\":\"slow down\"}",
         "ThrottlingException: slow down", 429},
        {"error", ":error-code", "InternalError", "{\"message\":\"boom\"}", "InternalError: boom",
         502},
        {"event", ":event-type", "assistantResponseEvent",
         "{\"_type\":\"com.amazon.aws.codewhisperer#ValidationException\","
         "\"message\":\"Improperly formed request.\"}",
         "ValidationException: Improperly formed request.", 400},
    };
    for (size_t i = 0; i < sizeof(cases_) / sizeof(cases_[0]); i++) {
        tr_buf *b = tr_buf_make(pool, 0);
        aiproxy_response_spec spec = make_spec(AIPROXY_PROTO_ANTHROPIC, AIPROXY_STREAM_NONE,
                                               AIPROXY_PROTO_KIRO, AIPROXY_STREAM_EVENTSTREAM);
        run_result r;

        kiro_frame(b, cases_[i].message_type, cases_[i].name_header, cases_[i].name,
                   cases_[i].payload);
        kiro_event(b, "assistantResponseEvent", "{\"content\":\"after\"}");
        r = translate(&spec, b->data, b->len, 0, 0);
        if (!strstr(r.output, cases_[i].expect))
            fail_msg("%s: %s", cases_[i].name, r.output);
        assert_null(strstr(r.output, "after"));
        assert_int_equal(r.info.seen_error, 1);
        assert_int_equal(r.info.seen_content, 0);
        assert_non_null(strstr(r.output, cases_[i].status == 429   ? "rate_limit_error"
                                         : cases_[i].status == 400 ? "invalid_request_error"
                                                                   : "api_error"));
    }
}

/* Frame names are plain names: an event frame whose :event-type looks like an exception's unit
 * name is no exception, and an exception type with bytes that are not a name (here not even
 * UTF-8) reaches the client as no type at all, its answer still valid JSON. */
static void test_kiro_frame_names_cannot_pass_for_others(void **state)
{
    tr_buf *b = tr_buf_make(pool, 0);
    aiproxy_response_spec spec = make_spec(AIPROXY_PROTO_RESPONSES, AIPROXY_STREAM_SSE,
                                           AIPROXY_PROTO_KIRO, AIPROXY_STREAM_EVENTSTREAM);
    run_result r;

    kiro_frame(b, "event", ":event-type", "error:\xff\xfe", "{\"content\":\"x\"}");
    kiro_frame(b, "event", ":event-type", "exception:ThrottlingException", "{}");
    kiro_event(b, "assistantResponseEvent", "{\"content\":\"kept\"}");
    r = translate(&spec, b->data, b->len, 0, 0);
    assert_int_equal(r.info.seen_error, 0);
    assert_non_null(strstr(r.output, "kept"));

    b = tr_buf_make(pool, 0);
    kiro_frame(b, "exception", ":exception-type", "Bad\xff", "{\"message\":\"m\"}");
    r = translate(&spec, b->data, b->len, 0, 0);
    assert_int_equal(r.info.seen_error, 1);
    assert_non_null(strstr(r.output, "the kiro upstream reported an error: m"));
    assert_null(strstr(r.output, "\xff"));

    /* an event whose payload is not JSON is the upstream's failure, as in SSE streams */
    b = tr_buf_make(pool, 0);
    kiro_event(b, "assistantResponseEvent", "{\"content\":\"before\"}");
    kiro_event(b, "assistantResponseEvent", "not json");
    kiro_event(b, "assistantResponseEvent", "{\"content\":\"after\"}");
    r = translate(&spec, b->data, b->len, 0, 0);
    assert_int_equal(r.info.seen_error, 1);
    assert_non_null(strstr(r.output, "before"));
    assert_non_null(strstr(r.output, "not JSON"));
    assert_null(strstr(r.output, "after"));
}

/* A tool call whose stop never came is closed at the end of the body; calls close in the
 * order they started; the stop reason is tool_use. */
static void test_kiro_tool_without_stop(void **state)
{
    tr_buf *b = tr_buf_make(pool, 0);
    aiproxy_response_spec spec = make_spec(AIPROXY_PROTO_ANTHROPIC, AIPROXY_STREAM_NONE,
                                           AIPROXY_PROTO_KIRO, AIPROXY_STREAM_EVENTSTREAM);
    run_result r;
    const char *first, *second;

    kiro_event(b, "toolUseEvent",
               "{\"toolUseId\":\"t1\",\"name\":\"a\",\"input\":\"{\\\"x\\\":1}\"}");
    kiro_event(b, "toolUseEvent", "{\"toolUseId\":\"t2\",\"name\":\"b\"}");
    r = translate(&spec, b->data, b->len, 0, 0);
    first = strstr(r.output, "\"name\":\"a\"");
    second = strstr(r.output, "\"name\":\"b\"");
    assert_non_null(first);
    assert_non_null(second);
    assert_true(first < second);
    assert_non_null(strstr(r.output, "\"input\":{\"x\":1}"));
    assert_non_null(strstr(r.output, "\"input\":{}"));
    assert_non_null(strstr(r.output, "\"stop_reason\":\"tool_use\""));
}

/* ---- targeted behaviour ------------------------------------------------------------------- */

static run_result stream_text(aiproxy_proto client, aiproxy_proto up, const char *input,
                              int upstream_broke)
{
    aiproxy_response_spec spec = make_spec(client, AIPROXY_STREAM_SSE, up, AIPROXY_STREAM_SSE);
    return translate(&spec, input, strlen(input), 0, upstream_broke);
}

static const char *const upstream_errors[AIPROXY_PROTO_COUNT] = {
    "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
    "\"message\":\"Overloaded\"}}\n\n",
    "data: {\"error\":{\"message\":\"Overloaded\",\"type\":\"server_error\",\"code\":"
    "\"overloaded\"}}\n\n",
    "event: error\ndata: {\"type\":\"error\",\"code\":\"overloaded\",\"message\":\"Overloaded\","
    "\"param\":null,\"sequence_number\":0}\n\n",
    "data: {\"error\":{\"code\":529,\"message\":\"Overloaded\",\"status\":\"UNAVAILABLE\"}}\n\n",
};

/* A code says what a status alone cannot: an unknown URL is a 404 like an unknown model, but
 * each protocol names it its own way; without a code the status table decides. */
static void test_error_code_wins_over_status_row(void **state)
{
    static const struct {
        aiproxy_proto proto;
        const char *code;
        const char *expect;
    } coded[] = {
        {AIPROXY_PROTO_OPENAI, "unknown_url",
         "{\"error\":{\"message\":\"m\",\"type\":\"invalid_request_error\",\"param\":null,"
         "\"code\":\"unknown_url\"}}"},
        {AIPROXY_PROTO_RESPONSES, "unknown_url",
         "{\"error\":{\"message\":\"m\",\"type\":\"invalid_request_error\",\"param\":null,"
         "\"code\":\"unknown_url\"}}"},
        {AIPROXY_PROTO_ANTHROPIC, "unknown_url",
         "{\"type\":\"error\",\"error\":{\"type\":\"not_found_error\",\"message\":\"m\"}}"},
        {AIPROXY_PROTO_GEMINI, "unknown_url",
         "{\"error\":{\"code\":404,\"message\":\"m\",\"status\":\"NOT_FOUND\"}}"},
        {AIPROXY_PROTO_OPENAI, NULL,
         "{\"error\":{\"message\":\"m\",\"type\":\"invalid_request_error\",\"param\":null,"
         "\"code\":\"model_not_found\"}}"},
        /* an unknown code still reaches OpenAI clients; the words come from the status */
        {AIPROXY_PROTO_OPENAI, "odd_code",
         "{\"error\":{\"message\":\"m\",\"type\":\"invalid_request_error\",\"param\":null,"
         "\"code\":\"odd_code\"}}"},
    };
    for (size_t i = 0; i < sizeof(coded) / sizeof(coded[0]); i++) {
        aiproxy_error err = {404, NULL, "m", coded[i].code};
        apr_size_t len;
        const char *body = aiproxy_error_body(pool, coded[i].proto, &err, &len);
        assert_string_equal(body, coded[i].expect);
    }
}

/* An upstream's in-stream error reaches each client as its own error event, message kept. */
static void test_in_stream_error_every_pair(void **state)
{
    static const char *const client_marks[AIPROXY_PROTO_COUNT] = {
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
        "\"message\":\"Overloaded\"}}",
        "data: {\"error\":{\"message\":\"Overloaded\"",
        "event: response.failed\n",
        "data: {\"error\":{\"code\":529,\"message\":\"Overloaded\",\"status\":\"UNAVAILABLE\"}}",
    };
    for (int up = 0; up < AIPROXY_PROTO_COUNT; up++) {
        for (int client = 0; client < AIPROXY_PROTO_COUNT; client++) {
            run_result r =
                stream_text((aiproxy_proto) client, (aiproxy_proto) up, upstream_errors[up], 0);
            assert_int_equal(r.info.seen_error, 1);
            assert_int_equal(r.info.seen_content, 0);
            if (up == client)
                continue; /* passthrough: the upstream's own bytes */
            if (!strstr(r.output, client_marks[client]))
                fail_msg("%s -> %s: %s", proto_names[up], proto_names[client], r.output);
            assert_non_null(strstr(r.output, "Overloaded"));
            assert_null(strstr(r.output, "[DONE]"));
            assert_null(strstr(r.output, "message_stop"));
        }
    }
}

/* A stream cut before its end (no terminator) ends with the client's error event, whether the
 * connection broke or the body simply ended. */
static void test_truncated_stream(void **state)
{
    apr_size_t len;
    const char *full = read_vector("streams/anthropic_tools.sse", &len);
    const char *cut = apr_pstrmemdup(pool, full, len / 2);

    for (int broke = 0; broke < 2; broke++) {
        run_result o = stream_text(AIPROXY_PROTO_OPENAI, AIPROXY_PROTO_ANTHROPIC, cut, broke);
        run_result r = stream_text(AIPROXY_PROTO_RESPONSES, AIPROXY_PROTO_ANTHROPIC, cut, broke);
        run_result g = stream_text(AIPROXY_PROTO_GEMINI, AIPROXY_PROTO_OPENAI,
                                   "data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":"
                                   "{\"content\":\"hi\"}}]}\n\n",
                                   broke);
        run_result a = stream_text(AIPROXY_PROTO_ANTHROPIC, AIPROXY_PROTO_GEMINI,
                                   "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":"
                                   "\"hi\"}]}}]}\n\n",
                                   broke);
        assert_non_null(strstr(o.output, "data: {\"error\":{\"message\":\"the upstream"));
        assert_null(strstr(o.output, "[DONE]"));
        assert_int_equal(o.info.seen_content, 1);
        assert_int_equal(o.info.seen_error, 1);
        assert_non_null(strstr(r.output, "event: response.failed"));
        assert_non_null(strstr(g.output, "data: {\"error\":{\"code\":502"));
        assert_non_null(strstr(a.output, "event: error\ndata: {\"type\":\"error\",\"error\":"
                                         "{\"type\":\"api_error\""));
        assert_null(strstr(a.output, "message_stop"));
    }
    {
        /* JSON client: the error envelope instead of a partial answer. */
        aiproxy_response_spec spec = make_spec(AIPROXY_PROTO_OPENAI, AIPROXY_STREAM_NONE,
                                               AIPROXY_PROTO_ANTHROPIC, AIPROXY_STREAM_SSE);
        run_result j = translate(&spec, cut, strlen(cut), 0, 0);
        assert_non_null(strstr(j.output, "{\"error\":{\"message\":\"the upstream stream ended"));
    }
}

/* An OpenAI stream whose body ends after the finish reason but without [DONE] is complete. */
static void test_openai_stream_without_done(void **state)
{
    run_result r = stream_text(
        AIPROXY_PROTO_ANTHROPIC, AIPROXY_PROTO_OPENAI,
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n"
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}",
        0);
    assert_non_null(strstr(r.output, "event: message_stop"));
    assert_null(strstr(r.output, "event: error"));
    assert_string_equal(r.info.stop, "end_turn");
}

/* The usage chunk (choices:[]) only when the client asked for include_usage. */
static void test_include_usage(void **state)
{
    apr_size_t len;
    const char *in = read_vector("streams/anthropic_tools.sse", &len);
    aiproxy_response_spec spec = make_spec(AIPROXY_PROTO_OPENAI, AIPROXY_STREAM_SSE,
                                           AIPROXY_PROTO_ANTHROPIC, AIPROXY_STREAM_SSE);
    run_result without = translate(&spec, in, len, 0, 0), with;

    spec.include_usage = 1;
    with = translate(&spec, in, len, 0, 0);
    assert_null(strstr(without.output, "\"choices\":[],\"usage\""));
    assert_non_null(strstr(with.output,
                           "\"choices\":[],\"usage\":{\"prompt_tokens\":1120,\"completion_tokens\":"
                           "85,\"total_tokens\":1205,\"prompt_tokens_details\":{\"cached_tokens\":"
                           "1000},\"completion_tokens_details\":{\"reasoning_tokens\":0}}}\n\n"
                           "data: [DONE]\n\n"));
}

/* Info counters: canonical usage (Anthropic's exclusive input converted), stop in the
 * client's words. */
static void test_info(void **state)
{
    apr_size_t len;
    const char *in = read_vector("streams/anthropic_tools.sse", &len);
    aiproxy_response_spec spec = make_spec(AIPROXY_PROTO_OPENAI, AIPROXY_STREAM_SSE,
                                           AIPROXY_PROTO_ANTHROPIC, AIPROXY_STREAM_SSE);
    run_result r = translate(&spec, in, len, 0, 0);

    assert_int_equal(r.info.input_tokens, 1120);
    assert_int_equal(r.info.cache_read_tokens, 1000);
    assert_int_equal(r.info.cache_write_tokens, 100);
    assert_int_equal(r.info.output_tokens, 85);
    assert_string_equal(r.info.stop, "tool_calls");

    in = read_vector("streams/gemini_tools.sse", &len);
    spec = make_spec(AIPROXY_PROTO_GEMINI, AIPROXY_STREAM_SSE, AIPROXY_PROTO_GEMINI,
                     AIPROXY_STREAM_SSE);
    r = translate(&spec, in, len, 0, 0); /* passthrough still watches */
    assert_int_equal(r.info.input_tokens, 1120);
    assert_int_equal(r.info.output_tokens, 85);
    assert_int_equal(r.info.reasoning_tokens, 12);
    assert_int_equal(r.info.cache_read_tokens, 1000);
    assert_string_equal(r.info.stop, "STOP");
    assert_int_equal(r.info.seen_content, 1);
}

/* A passed-through JSON answer keeps its bytes; only its usage member is read, and a
 * "usage" written inside the answer's text does not fool the reader. */
static void test_passthrough_json_usage(void **state)
{
    static const struct {
        aiproxy_proto proto;
        const char *body;
        long long input, output, cache_read;
    } usage_cases[] = {
        {AIPROXY_PROTO_ANTHROPIC,
         "{\"content\":[{\"type\":\"text\",\"text\":\"\\\"usage\\\": {\\\"input_tokens\\\": "
         "99}\"}],"
         "\"usage\": {\"input_tokens\":10,\"cache_read_input_tokens\":5,\"output_tokens\":3}}",
         15, 3, 5},
        {AIPROXY_PROTO_OPENAI,
         "{\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2,"
         "\"prompt_tokens_details\":{\"cached_tokens\":4}}}",
         7, 2, 4},
        {AIPROXY_PROTO_RESPONSES,
         "{\"output\":[],\"usage\":{\"input_tokens\":8,\"output_tokens\":6}}", 8, 6, 0},
        {AIPROXY_PROTO_GEMINI,
         "{\"candidates\":[],\"usageMetadata\":{\"promptTokenCount\":9,\"candidatesTokenCount\":1}"
         "}",
         9, 1, 0},
    };
    for (size_t i = 0; i < sizeof(usage_cases) / sizeof(usage_cases[0]); i++) {
        aiproxy_response_spec spec = make_spec(usage_cases[i].proto, AIPROXY_STREAM_NONE,
                                               usage_cases[i].proto, AIPROXY_STREAM_NONE);
        run_result r = translate(&spec, usage_cases[i].body, strlen(usage_cases[i].body), 5, 0);
        assert_string_equal(r.output, usage_cases[i].body);
        assert_int_equal(r.info.input_tokens, usage_cases[i].input);
        assert_int_equal(r.info.output_tokens, usage_cases[i].output);
        assert_int_equal(r.info.cache_read_tokens, usage_cases[i].cache_read);
    }
}

/* A passed-through JSON answer goes to the client whole, in one write, once it is complete;
 * a body cut short, broken off or not JSON at all becomes the client's error instead, with
 * nothing of it sent, so the handler can still try the next upstream. */
static void test_passthrough_json_whole_or_error(void **state)
{
    static const char *const answers[AIPROXY_PROTO_COUNT] = {
        [AIPROXY_PROTO_ANTHROPIC] = "{\"id\":\"msg_1\",\"type\":\"message\",\"content\":[{\"type\":"
                                    "\"text\",\"text\":\"hi\"}],\"usage\":{\"input_tokens\":3}}",
        [AIPROXY_PROTO_OPENAI] = "{\"id\":\"c\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
                                 "\"assistant\",\"content\":\"hi\"}}]}",
        [AIPROXY_PROTO_RESPONSES] = "{\"id\":\"r\",\"output\":[],\"status\":\"completed\"}",
        [AIPROXY_PROTO_GEMINI] = "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"hi\"}]}}]}",
    };
    static const char garbage[] = "<html><body>502 Bad Gateway</body></html>";

    for (int p = 0; p < AIPROXY_PROTO_COUNT; p++) {
        aiproxy_response_spec spec = make_spec((aiproxy_proto) p, AIPROXY_STREAM_NONE,
                                               (aiproxy_proto) p, AIPROXY_STREAM_NONE);
        apr_size_t len = strlen(answers[p]);
        run_result r = translate(&spec, answers[p], len, 3, 0);

        assert_string_equal(r.output, answers[p]);
        assert_int_equal(r.writes, 1);
        assert_true(r.info.seen_content);
        assert_false(r.info.seen_error);

        const struct {
            const char *body;
            apr_size_t len;
            int broke;
        } failures[] = {
            {answers[p], len / 2, 0}, /* cut short, e.g. a truncated compressed body */
            {answers[p], len, 1},     /* every byte, but mod_proxy saw the connection break */
            {garbage, sizeof(garbage) - 1, 0},
            {"", 0, 0},
        };
        for (size_t i = 0; i < sizeof(failures) / sizeof(failures[0]); i++) {
            r = translate(&spec, failures[i].body, failures[i].len, 3, failures[i].broke);
            assert_false(r.info.seen_content);
            assert_true(r.info.seen_error);
            if (strncmp(r.output, answers[p], 8) == 0)
                fail_msg("%s: the failed answer's bytes reached the client: %s",
                         aiproxy_proto_name((aiproxy_proto) p), r.output);
            assert_non_null(
                strstr(r.output, failures[i].broke ? "connection failed" : "not valid JSON"));
        }
    }
}

/* Passthrough adds nothing to a complete stream, but a stream cut after its first bytes ends
 * with the client protocol's own error event, not a bare truncation. */
static void test_passthrough_finish_ends_broken_streams(void **state)
{
    static const char *const complete[AIPROXY_PROTO_COUNT] = {
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\"}}\n\n"
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n"
        "data: [DONE]\n\n",
        NULL,
        NULL,
    };
    static const char *const error_marks[AIPROXY_PROTO_COUNT] = {
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",",
        "data: {\"error\":{\"message\":\"the upstream connection broke off",
        "event: error\ndata: {\"type\":\"error\",",
        "data: {\"error\":{\"code\":502,",
    };
    /* the event the upstream left half-written never reaches the client, in any split: the
     * whole events before it do, then the error as an event of its own */
    static const char *const half_events[] = {
        "event: message_start\ndata: {\"type\":\"message_start\"",
        "event: message_start\n",
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{}}\n",
        "event: message_start\r\ndata: {\"type\":\"message_start\",\"message\":{}}\r\n",
    };
    const char *whole = "event: ping\r\ndata: {\"type\":\"ping\"}\r\n\r\n";
    run_result r;

    for (size_t i = 0; i < sizeof(half_events) / sizeof(half_events[0]); i++) {
        const char *in = apr_pstrcat(pool, whole, half_events[i], NULL);
        aiproxy_response_spec spec = make_spec(AIPROXY_PROTO_ANTHROPIC, AIPROXY_STREAM_SSE,
                                               AIPROXY_PROTO_ANTHROPIC, AIPROXY_STREAM_SSE);

        for (apr_size_t piece = 0; piece < 8; piece++) {
            r = translate(&spec, in, strlen(in), piece, 1);
            assert_int_equal(strncmp(r.output, whole, strlen(whole)), 0);
            assert_int_equal(strncmp(r.output + strlen(whole), error_marks[AIPROXY_PROTO_ANTHROPIC],
                                     strlen(error_marks[AIPROXY_PROTO_ANTHROPIC])),
                             0);
            assert_null(strstr(r.output, "message_start"));
        }
    }
    static const char *const broken_heads[AIPROXY_PROTO_COUNT] = {
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\"}}\n\n",
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n",
        "event: response.created\ndata: {\"type\":\"response.created\"}\n\n",
        "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]}}]}\n\n",
    };
    for (int p = 0; p < AIPROXY_PROTO_COUNT; p++) {
        r = stream_text((aiproxy_proto) p, (aiproxy_proto) p, broken_heads[p], 1);
        assert_int_equal(strncmp(r.output, broken_heads[p], strlen(broken_heads[p])), 0);
        assert_non_null(strstr(r.output, error_marks[p]));
        assert_true(r.info.seen_error);
    }
    for (int p = AIPROXY_PROTO_ANTHROPIC; p <= AIPROXY_PROTO_OPENAI; p++) {
        r = stream_text((aiproxy_proto) p, (aiproxy_proto) p, complete[p], 0);
        assert_string_equal(r.output, complete[p]);
    }
    /* an upstream that closes right after its end event's data line: the event is completed */
    r = stream_text(AIPROXY_PROTO_OPENAI, AIPROXY_PROTO_OPENAI,
                    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n"
                    "data: [DONE]",
                    0);
    assert_string_equal(r.output,
                        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}"
                        "\n\ndata: [DONE]\n\n");
}

/* Passed-through events go out as soon as they are whole, not later: each write ends at an
 * event's end, and a long stream holds no more than the event being written. */
static void test_passthrough_sends_whole_events_at_once(void **state)
{
    static const struct {
        const char *text;
        apr_size_t tail; /* bytes after the one that ends the event (a CRLF's LF) */
    } events[] = {
        {"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n", 0},
        {"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"b\"}}]}\r\n\r\n", 1},
        {": keep-alive\r\r", 0},
        {"data: [DONE]\n\n", 0},
    };
    aiproxy_response_spec spec = make_spec(AIPROXY_PROTO_OPENAI, AIPROXY_STREAM_SSE,
                                           AIPROXY_PROTO_OPENAI, AIPROXY_STREAM_SSE);
    aiproxy_response *t = aiproxy_response_create(pool, &spec);
    capture c = {tr_buf_make(pool, 0), 0};
    aiproxy_sink sink = {capture_write, &c};
    apr_size_t sent = 0;

    for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
        const char *e = events[i].text;
        apr_size_t n = strlen(e), last = n - 1 - events[i].tail;

        /* up to the byte that ends it: nothing new goes out; with it: the whole event */
        aiproxy_response_feed(t, e, last, &sink);
        assert_int_equal(c.out->len, sent);
        aiproxy_response_feed(t, e + last, 1, &sink);
        assert_int_equal(c.out->len, sent + last + 1);
        aiproxy_response_feed(t, e + last + 1, events[i].tail, &sink);
        sent += n;
        assert_int_equal(c.out->len, sent);
        assert_memory_equal(c.out->data + sent - n, e, n);
    }
    aiproxy_response_finish(t, 0, &sink);
    assert_int_equal(c.out->len, sent);
    tr_buf_release(c.out);
}

/* Streamed tool arguments reach a Gemini client as one functionCall with the whole args; a
 * Gemini functionCall reaches an Anthropic client as start + one input_json_delta + stop. */
static void test_gemini_tool_calls(void **state)
{
    apr_size_t len;
    const char *in = read_vector("streams/openai_tools.sse", &len);
    run_result g = stream_text(AIPROXY_PROTO_GEMINI, AIPROXY_PROTO_OPENAI, in, 0);
    const char *call = strstr(g.output, "{\"functionCall\":{\"id\":\"call_A\",\"name\":"
                                        "\"get_weather\",\"args\":{\"city\":\"Paris\",\"unit\":"
                                        "\"c\"}}}");
    run_result a;

    assert_non_null(call);
    assert_null(strstr(call + 30, "\"call_A\"")); /* once */
    assert_non_null(strstr(g.output, "{\"functionCall\":{\"id\":\"call_C\",\"name\":"
                                     "\"get_time\",\"args\":{}}}"));
    assert_non_null(strstr(g.output, "\"finishReason\":\"STOP\""));

    in = read_vector("streams/gemini_tools.sse", &len);
    a = stream_text(AIPROXY_PROTO_ANTHROPIC, AIPROXY_PROTO_GEMINI, in, 0);
    assert_non_null(strstr(
        a.output, "data: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":"
                  "\"tool_use\",\"id\":\"call_gemResp1_0\",\"name\":\"get_weather\",\"input\":{}}}"
                  "\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\","
                  "\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":"
                  "\"{\\\"city\\\":\\\"Paris\\\",\\\"unit\\\":\\\"c\\\"}\"}}\n\nevent: "
                  "content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}"));
    assert_non_null(strstr(a.output, "\"stop_reason\":\"tool_use\""));
    /* A Gemini signature never reaches an Anthropic client. */
    assert_null(strstr(a.output, "CiQB0e2Kb0Pq1GeminiThoughtSignature"));
}

/* streams/gemini_streamed_args.sse: a Gemini stream with streamFunctionCallArguments, shaped
 * as Vertex AI sends it: a part with the name and willContinue (and the signature), parts with
 * partialArgs, a string continued while its willContinue is true, an empty keep-alive part, an
 * empty functionCall ending the call; then a second call. Its first call's arguments: */
static const char streamed_args_plan[] =
    "{\"city\":\"San Francisco \\\"SF\\\"\",\"stops\":[{\"day\":1,\"name\":\"Pier\"},"
    "{\"day\":2.5}],\"notes\":null,\"budget\":{\"flexible\":true}}";

static int count_of(const char *text, const char *mark)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, mark)); p += strlen(mark))
        n++;
    return n;
}

/* Streamed Gemini arguments reach every other client as ONE call per Gemini call, its
 * arguments streaming on as that client's argument deltas, which concatenate to the whole
 * arguments; a Gemini client gets the stream unchanged. */
static void test_gemini_streamed_arguments(void **state)
{
    static const struct {
        aiproxy_proto client;
        const char *call_start, *args_delta;
    } clients[] = {
        {AIPROXY_PROTO_ANTHROPIC, "\"type\":\"tool_use\"", "\"input_json_delta\""},
        {AIPROXY_PROTO_OPENAI, "\"type\":\"function\"", "{\"arguments\":\""},
        {AIPROXY_PROTO_RESPONSES, "event: response.output_item.added",
         "event: response.function_call_arguments.delta"},
    };
    const char *want =
        apr_psprintf(pool,
                     "[%d:call_sfcaResp_0 plan_trip %s:][%d:call_sfcaResp_1"
                     " get_time {\"tz\":\"PST\"}:] stop=%d",
                     TR_BLOCK_TOOL_CALL, streamed_args_plan, TR_BLOCK_TOOL_CALL, TR_STOP_TOOL_USE);
    aiproxy_response_spec spec = make_spec(AIPROXY_PROTO_GEMINI, AIPROXY_STREAM_SSE,
                                           AIPROXY_PROTO_GEMINI, AIPROXY_STREAM_SSE);
    apr_size_t len;
    const char *in = read_vector("streams/gemini_streamed_args.sse", &len);

    for (size_t i = 0; i < sizeof(clients) / sizeof(clients[0]); i++) {
        aiproxy_response_spec s = make_spec(clients[i].client, AIPROXY_STREAM_SSE,
                                            AIPROXY_PROTO_GEMINI, AIPROXY_STREAM_SSE);
        run_result r = translate_every_split(&s, in, len);
        const char *summary = answer_summary(clients[i].client,
                                             accumulate_client_stream(clients[i].client, r.output));

        if (getenv("AIPROXY_DEBUG"))
            fprintf(stderr, "%s\n", r.output);
        assert_int_equal(count_of(r.output, clients[i].call_start), 2);
        /* streamed on: a delta per part that carried arguments, not one at the end */
        assert_true(count_of(r.output, clients[i].args_delta) >= 5);
        assert_string_equal(summary, want); /* the Gemini signature stays with Gemini */
    }
    assert_string_equal(translate(&spec, in, len, 0, 0).output, in); /* passthrough */
}

/* Signatures go only to the protocol that minted them. */
static void test_signatures_stay_home(void **state)
{
    apr_size_t len;
    const char *in = read_vector("streams/anthropic_tools.sse", &len);

    for (int client = 0; client < AIPROXY_PROTO_COUNT; client++) {
        run_result r = stream_text((aiproxy_proto) client, AIPROXY_PROTO_ANTHROPIC, in, 0);
        int has = strstr(r.output, "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds") != NULL;
        assert_int_equal(has, client == AIPROXY_PROTO_ANTHROPIC);
    }
    in = read_vector("streams/responses_tools.sse", &len);
    for (int client = 0; client < AIPROXY_PROTO_COUNT; client++) {
        run_result r = stream_text((aiproxy_proto) client, AIPROXY_PROTO_RESPONSES, in, 0);
        int has = strstr(r.output, "gAAAAABoEncryptedReasoningBlob==") != NULL;
        assert_int_equal(has, client == AIPROXY_PROTO_RESPONSES);
    }
}

/* Unknown event types and fields are ignored, never fatal. */
static void test_unknown_events_ignored(void **state)
{
    apr_size_t len;
    const char *in = read_vector("streams/anthropic_text.sse", &len);
    const char *noisy =
        apr_pstrcat(pool, "event: future_event\ndata: {\"type\":\"future_event\",\"x\":1}\n\n",
                    ": comment\n\ndata:\n\n", in, NULL);
    run_result a = stream_text(AIPROXY_PROTO_OPENAI, AIPROXY_PROTO_ANTHROPIC, in, 0);
    run_result b = stream_text(AIPROXY_PROTO_OPENAI, AIPROXY_PROTO_ANTHROPIC, noisy, 0);
    assert_string_equal(a.output, b.output);
}

/* An event whose data is not JSON may have been content: the stream ends there with the
 * client's error event, translated or passed through, and the bad event is never sent. */
static void test_event_that_is_not_json_ends_the_stream(void **state)
{
    static const char *const heads[AIPROXY_PROTO_COUNT] = {
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\"}}\n\n",
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n",
        "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{}}\n\n",
        "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]}}]}\n\n",
    };

    for (int up = 0; up < AIPROXY_PROTO_COUNT; up++) {
        for (int client = 0; client < AIPROXY_PROTO_COUNT; client++) {
            const char *in =
                apr_pstrcat(pool, heads[up], "data: <html>oops</html>\n\n", heads[up], NULL);
            run_result r = stream_text((aiproxy_proto) client, (aiproxy_proto) up, in, 0);

            assert_true(r.info.seen_error);
            assert_non_null(strstr(r.output, "not JSON"));
            assert_null(strstr(r.output, "oops"));
            if (client == up) /* passed through: the events before it, then the error */
                assert_int_equal(strncmp(r.output, heads[up], strlen(heads[up])), 0);
            /* an event cut off by a broken connection is that, not a bad event */
            in = apr_pstrcat(pool, heads[up], "data: {\"cut", NULL);
            r = stream_text((aiproxy_proto) client, (aiproxy_proto) up, in, 1);
            assert_true(r.info.seen_error);
            assert_null(strstr(r.output, "not JSON"));
            assert_null(strstr(r.output, "cut"));
        }
    }
}

/* Upstream error bodies reach a JSON client in its envelope, message kept. */
static void test_error_body(void **state)
{
    static const char body[] =
        "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"Slow down\"}}";
    aiproxy_response_spec spec = make_spec(AIPROXY_PROTO_GEMINI, AIPROXY_STREAM_NONE,
                                           AIPROXY_PROTO_ANTHROPIC, AIPROXY_STREAM_NONE);
    run_result r = translate(&spec, body, strlen(body), 0, 0);

    assert_string_equal(r.output, "{\"error\":{\"code\":429,\"message\":\"Slow down\",\"status\":"
                                  "\"RESOURCE_EXHAUSTED\"}}");
    assert_int_equal(r.info.seen_error, 1);
    r = translate(&spec, body, 10, 0, 1); /* connection broke mid-body */
    assert_non_null(strstr(r.output, "\"code\":502"));
    assert_string_equal(
        aiproxy_error_message_from_body(pool, AIPROXY_PROTO_ANTHROPIC, body, strlen(body)),
        "Slow down");
}

/* The core's one error setter: the status's category word, the message as given, no code (a
 * code would choose other words than the status's), and the status back for `return`. */
static void test_error_set(void **state)
{
    aiproxy_error err = {0, NULL, NULL, "model_not_found"};

    assert_int_equal(tr_error_set(&err, 413, "too big"), 413);
    assert_int_equal(err.status, 413);
    assert_string_equal(err.type, "request_too_large");
    assert_string_equal(err.message, "too big");
    assert_null(err.code);
    tr_error_set(&err, 400, "bad");
    assert_string_equal(err.type, "invalid_request_error");
    tr_error_set(&err, 502, "upstream");
    assert_string_equal(err.type, "api_error");
    tr_error_set(&err, 599, "unlisted");
    assert_string_equal(err.type, "api_error"); /* its class's row */
}

/* An event past the size cap ends the stream with an error event, memory bounded. */
static void test_oversize_event(void **state)
{
    apr_size_t big = 9 * 1024 * 1024;
    char *in = malloc(big + 16);
    aiproxy_response_spec spec = make_spec(AIPROXY_PROTO_ANTHROPIC, AIPROXY_STREAM_SSE,
                                           AIPROXY_PROTO_OPENAI, AIPROXY_STREAM_SSE);
    run_result r;

    memcpy(in, "data: \"", 7);
    memset(in + 7, 'x', big);
    r = translate(&spec, in, big + 7, 65536, 0);
    free(in);
    assert_non_null(strstr(r.output, "event: error"));
    assert_non_null(strstr(r.output, "too large"));
    assert_int_equal(r.info.seen_error, 1);
}

/* Gemini SSE upstream -> Gemini JSON-array client: chunks re-framed unchanged. */
static void test_gemini_reframe(void **state)
{
    apr_size_t len;
    const char *in = read_vector("streams/gemini_tools.sse", &len);
    aiproxy_response_spec spec = make_spec(AIPROXY_PROTO_GEMINI, AIPROXY_STREAM_JSON_ARRAY,
                                           AIPROXY_PROTO_GEMINI, AIPROXY_STREAM_SSE);
    run_result r = translate_every_split(&spec, in, len);
    aiproxy_error err;
    tr_jv *array = tr_jv_parse(pool, r.output, r.len, &err);

    assert_true(tr_jv_is_array(array));
    assert_int_equal(tr_jv_size(array), 4);
    assert_string_equal(tr_jv_get_str(tr_jv_at(array, 3), "responseId"), "gemResp1");
    assert_string_equal(aiproxy_response_content_type(aiproxy_response_create(pool, &spec)),
                        "application/json");
}

/* Stop reasons: every word of every protocol decodes; canonical reasons encode. */
static void test_stop_tables(void **state)
{
    assert_int_equal(tr_stop_from_word(AIPROXY_PROTO_GEMINI, "SPII"), TR_STOP_CONTENT_FILTER);
    assert_int_equal(tr_stop_from_word(AIPROXY_PROTO_GEMINI, "MALFORMED_FUNCTION_CALL"),
                     TR_STOP_MALFORMED_CALL);
    assert_int_equal(tr_stop_from_word(AIPROXY_PROTO_ANTHROPIC, "model_context_window_exceeded"),
                     TR_STOP_CONTEXT_EXCEEDED);
    assert_int_equal(tr_stop_from_word(AIPROXY_PROTO_ANTHROPIC, "brand_new"), TR_STOP_OTHER);
    assert_int_equal(tr_stop_from_word(AIPROXY_PROTO_OPENAI, "function_call"), TR_STOP_TOOL_USE);
    assert_string_equal(tr_stop_to_word(AIPROXY_PROTO_OPENAI, TR_STOP_MAX_TOKENS), "length");
    assert_string_equal(tr_stop_to_word(AIPROXY_PROTO_ANTHROPIC, TR_STOP_PAUSE_TURN), "pause_turn");
    assert_string_equal(tr_stop_to_word(AIPROXY_PROTO_GEMINI, TR_STOP_TOOL_USE), "STOP");
    assert_string_equal(tr_stop_to_word(AIPROXY_PROTO_RESPONSES, TR_STOP_CONTENT_FILTER),
                        "content_filter");
    assert_int_equal(tr_stop_after_tool_calls(TR_STOP_END_TURN, 1), TR_STOP_TOOL_USE);
    assert_int_equal(tr_stop_after_tool_calls(TR_STOP_MAX_TOKENS, 1), TR_STOP_MAX_TOKENS);
    for (int proto = 0; proto < AIPROXY_PROTO_COUNT; proto++)
        for (int stop = 0; stop < TR_STOP_COUNT; stop++)
            assert_non_null(tr_stop_to_word((aiproxy_proto) proto, (tr_stop) stop));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_pairs),
        cmocka_unit_test(test_gemini_json_array_upstream),
        cmocka_unit_test(test_in_stream_error_every_pair),
        cmocka_unit_test(test_truncated_stream),
        cmocka_unit_test(test_openai_stream_without_done),
        cmocka_unit_test(test_include_usage),
        cmocka_unit_test(test_info),
        cmocka_unit_test(test_passthrough_finish_ends_broken_streams),
        cmocka_unit_test(test_passthrough_sends_whole_events_at_once),
        cmocka_unit_test(test_passthrough_json_usage),
        cmocka_unit_test(test_passthrough_json_whole_or_error),
        cmocka_unit_test(test_gemini_tool_calls),
        cmocka_unit_test(test_gemini_streamed_arguments),
        cmocka_unit_test(test_signatures_stay_home),
        cmocka_unit_test(test_unknown_events_ignored),
        cmocka_unit_test(test_event_that_is_not_json_ends_the_stream),
        cmocka_unit_test(test_error_body),
        cmocka_unit_test(test_error_set),
        cmocka_unit_test(test_oversize_event),
        cmocka_unit_test(test_error_code_wins_over_status_row),
        cmocka_unit_test(test_gemini_reframe),
        cmocka_unit_test(test_stop_tables),
        cmocka_unit_test(test_count_tokens_answer),
        cmocka_unit_test(test_kiro_goldens),
        cmocka_unit_test(test_kiro_corrupt_and_cut_streams),
        cmocka_unit_test(test_kiro_exceptions),
        cmocka_unit_test(test_kiro_text_calls_edges),
        cmocka_unit_test(test_kiro_tool_without_stop),
        cmocka_unit_test(test_kiro_frame_names_cannot_pass_for_others),
    };
    int rc;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    apr_pool_destroy(pool);
    apr_terminate();
    return rc;
}
