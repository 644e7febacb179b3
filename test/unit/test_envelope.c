/*
 * test_envelope.c: answers of the Code Assist backends (geminicli, antigravity), which wrap
 * every JSON answer and every stream event in {"response": ..., "traceId": ...}.
 *
 * The Gemini golden inputs of test_translate_response.c (vectors/responses/gemini_*.json,
 * vectors/streams/gemini_*.sse) are wrapped here the way the backend wraps them; through an
 * upstream of either dialect every client protocol must then get exactly the golden output
 * the unwrapped input gives (vectors <input>.to_<client>.<ext>), or for a Gemini client the
 * unwrapped answers themselves. Fed whole and in 7-byte pieces.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "apr_general.h"
#include "apr_strings.h"
#include "aiproxy_translate.h"
#include "json/tr_buf.h"
#include "test_clock.h"
#include "test_files.h"
#include "test_jansson.h"

#define VECTORS "test/unit/vectors"

static apr_pool_t *pool;

static const aiproxy_dialect wrapping[] = {AIPROXY_DIALECT_GEMINI_CLI, AIPROXY_DIALECT_ANTIGRAVITY};
static const char *const cases[] = {"gemini_text", "gemini_tools"};

static const char *wrap(const char *inner)
{
    return apr_pstrcat(pool, "{\"response\":", inner, ",\"traceId\":\"trace-1\"}", NULL);
}

/* Every "data:" line of an SSE stream wrapped, the rest as it is. */
static const char *wrap_stream(const char *sse)
{
    tr_buf *out = tr_buf_make(pool, 0);
    const char *line = sse;

    while (*line) {
        const char *end = strchr(line, '\n');
        apr_size_t n = end ? (apr_size_t) (end - line) : strlen(line);
        int cr = n && line[n - 1] == '\r';
        if (n >= 6 + (apr_size_t) cr && !strncmp(line, "data: ", 6)) {
            tr_buf_adds(out, "data: ");
            tr_buf_adds(out, wrap(apr_pstrmemdup(pool, line + 6, n - 6 - cr)));
            tr_buf_adds(out, cr ? "\r\n" : "\n");
        } else {
            tr_buf_add(out, line, n + (end ? 1 : 0));
        }
        line += n + (end ? 1 : 0);
    }
    return apr_pstrmemdup(pool, out->data ? out->data : "", out->len);
}

static apr_status_t collect(void *baton, const char *data, apr_size_t len)
{
    return tr_buf_add(baton, data, len) ? APR_ENOMEM : APR_SUCCESS;
}

/* created/created_at depend on the clock when the upstream gives none: zero them. */
static char *normalize(const char *text)
{
    return test_zero_clock_times(pool, text);
}

static const char *translate(aiproxy_proto client, aiproxy_stream_mode client_stream,
                             aiproxy_stream_mode upstream_stream, aiproxy_dialect dialect,
                             const char *input, apr_size_t piece, aiproxy_response_info *info)
{
    aiproxy_response_spec spec = {.client = client,
                                  .client_stream = client_stream,
                                  .upstream = AIPROXY_PROTO_GEMINI,
                                  .upstream_stream = upstream_stream,
                                  .client_model = "client-model",
                                  .upstream_dialect = dialect};
    aiproxy_response *t = aiproxy_response_create(pool, &spec);
    tr_buf *out = tr_buf_make(pool, 0);
    aiproxy_sink sink = {collect, out};
    apr_size_t len = strlen(input);

    assert_non_null(t);
    for (apr_size_t at = 0; at < len;) {
        apr_size_t n = piece && len - at > piece ? piece : len - at;
        aiproxy_response_feed(t, input + at, n, &sink);
        at += n;
    }
    aiproxy_response_finish(t, 0, &sink);
    if (info)
        *info = *aiproxy_response_get_info(t);
    return normalize(out->data ? apr_pstrmemdup(pool, out->data, out->len) : "");
}

static const char *vector(const char *name)
{
    apr_size_t len;
    const char *text = test_read_file(pool, apr_psprintf(pool, "%s/%s", VECTORS, name), &len);
    if (!text)
        fail_msg("%s missing", name);
    return text;
}

/* The data lines of an SSE stream as one JSON array (for comparing event contents). */
static json_t *sse_events(const char *sse)
{
    json_t *events = json_array();
    const char *line = sse;

    while ((line = strstr(line, "data: ")) != NULL) {
        const char *end = strpbrk(line, "\r\n");
        apr_size_t n = end ? (apr_size_t) (end - line) : strlen(line);
        json_array_append(events, test_jansson_parse(pool, line + 6, n - 6));
        line += n;
    }
    apr_pool_cleanup_register(pool, events, test_jansson_release, apr_pool_cleanup_null);
    return events;
}

/* The translated output against a golden: JSON goldens are pretty-printed, so compared as
 * values; streams byte for byte. */
static void assert_golden(const char *out, const char *golden_name)
{
    const char *golden = vector(golden_name);

    if (strstr(golden_name, ".json"))
        assert_true(json_equal(test_jansson_parse(pool, out, strlen(out)),
                               test_jansson_parse(pool, golden, strlen(golden))));
    else
        assert_string_equal(out, golden);
}

static const struct {
    aiproxy_proto client;
    const char *name;
} clients[] = {
    {AIPROXY_PROTO_ANTHROPIC, "anthropic"},
    {AIPROXY_PROTO_OPENAI, "openai"},
    {AIPROXY_PROTO_RESPONSES, "responses"},
};

/* The wrapped inputs: a complete answer and a stream, each golden's directory and framing. */
static const struct {
    const char *dir, *ext;
    aiproxy_stream_mode upstream;
    const char *(*wrap)(const char *);
} inputs[] = {
    {"responses", "json", AIPROXY_STREAM_NONE, wrap},
    {"streams", "sse", AIPROXY_STREAM_SSE, wrap_stream},
};

/* Every wrapped input, through either dialect, gives each client its golden, as a JSON answer
 * and as a stream. */
static void test_wrapped_answers_give_the_goldens(void **state)
{
    for (size_t d = 0; d < 2; d++)
        for (size_t i = 0; i < 2; i++)
            for (size_t c = 0; c < 2; c++) {
                const char *input = inputs[i].wrap(
                    vector(apr_psprintf(pool, "%s/%s.%s", inputs[i].dir, cases[c], inputs[i].ext)));
                for (size_t k = 0; k < sizeof(clients) / sizeof(clients[0]); k++) {
                    const char *base =
                        apr_psprintf(pool, "%s/%s.to_%s", inputs[i].dir, cases[c], clients[k].name);
                    assert_golden(translate(clients[k].client, AIPROXY_STREAM_NONE,
                                            inputs[i].upstream, wrapping[d], input, 7, NULL),
                                  apr_pstrcat(pool, base, ".json", NULL));
                    assert_golden(translate(clients[k].client, AIPROXY_STREAM_SSE,
                                            inputs[i].upstream, wrapping[d], input, 0, NULL),
                                  apr_pstrcat(pool, base, ".sse", NULL));
                }
            }
}

/* A Gemini client gets the answers out of their envelope: the same JSON, the same events. */
static void test_gemini_client_gets_the_unwrapped_answers(void **state)
{
    for (size_t c = 0; c < 2; c++) {
        const char *body = vector(apr_psprintf(pool, "responses/%s.json", cases[c]));
        const char *sse = vector(apr_psprintf(pool, "streams/%s.sse", cases[c]));
        const char *json_out =
            translate(AIPROXY_PROTO_GEMINI, AIPROXY_STREAM_NONE, AIPROXY_STREAM_NONE,
                      AIPROXY_DIALECT_GEMINI_CLI, wrap(body), 5, NULL);
        const char *sse_out =
            translate(AIPROXY_PROTO_GEMINI, AIPROXY_STREAM_SSE, AIPROXY_STREAM_SSE,
                      AIPROXY_DIALECT_ANTIGRAVITY, wrap_stream(sse), 7, NULL);
        const char *array_out =
            translate(AIPROXY_PROTO_GEMINI, AIPROXY_STREAM_JSON_ARRAY, AIPROXY_STREAM_SSE,
                      AIPROXY_DIALECT_GEMINI_CLI, wrap_stream(sse), 3, NULL);

        assert_true(json_equal(test_jansson_parse(pool, json_out, strlen(json_out)),
                               test_jansson_parse(pool, body, strlen(body))));
        assert_true(json_equal(sse_events(sse_out), sse_events(sse)));
        assert_true(
            json_equal(test_jansson_parse(pool, array_out, strlen(array_out)), sse_events(sse)));
        assert_null(strstr(sse_out, "\"response\""));
    }
}

/* Errors come unwrapped: an error event in the stream is the client's error, and an answer
 * without the member goes to the decoder as it is. */
static void test_unwrapped_errors_pass(void **state)
{
    static const char stream[] =
        "data: {\"error\":{\"code\":429,\"status\":\"RESOURCE_EXHAUSTED\",\"message\":\"slow "
        "down\"}}\r\n\r\n";
    aiproxy_response_info info;
    const char *out = translate(AIPROXY_PROTO_ANTHROPIC, AIPROXY_STREAM_SSE, AIPROXY_STREAM_SSE,
                                AIPROXY_DIALECT_GEMINI_CLI, stream, 0, &info);

    assert_true(info.seen_error);
    assert_non_null(strstr(out, "event: error"));
    assert_non_null(strstr(out, "slow down"));

    /* A member that is no object stays: the decoder judges the whole answer. */
    out = translate(AIPROXY_PROTO_OPENAI, AIPROXY_STREAM_NONE, AIPROXY_STREAM_NONE,
                    AIPROXY_DIALECT_ANTIGRAVITY, "{\"response\":[1]}", 0, &info);
    assert_non_null(test_jansson_parse(pool, out, strlen(out)));
    assert_false(info.seen_content);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wrapped_answers_give_the_goldens),
        cmocka_unit_test(test_gemini_client_gets_the_unwrapped_answers),
        cmocka_unit_test(test_unwrapped_errors_pass),
    };
    int rc;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    apr_pool_destroy(pool);
    apr_terminate();
    return rc;
}
