/*
 * test_sse.c: the incremental SSE parser (pipeline/tr_sse.c) and the streamed JSON-array
 * splitter (pipeline/tr_array_splitter.c): every split point of sample streams gives the same
 * events; line ends, comments, multi-line data, ids, BOM, oversize events and the end of input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "apr_general.h"
#include "apr_strings.h"
#include "pipeline/tr_array_splitter.h"
#include "pipeline/tr_sse.h"

static apr_pool_t *pool;

/* Events rendered as "[name|data]" so a whole run compares as one string. */
static apr_status_t record_event(void *baton, const char *event, const char *data, apr_size_t len)
{
    char **log = baton;
    assert_int_equal(data[len], '\0');
    *log = apr_psprintf(pool, "%s[%s|%.*s]", *log, event ? event : "-", (int) len, data);
    return APR_SUCCESS;
}

static const char *parse_in_pieces(const char *input, apr_size_t len, apr_size_t split_at,
                                   apr_size_t piece, int *partial)
{
    tr_sse_parser *s = tr_sse_parser_create(pool, 0);
    char *log = "";
    int ignored;

    if (split_at) {
        assert_int_equal(tr_sse_parser_feed(s, input, split_at, record_event, &log), APR_SUCCESS);
        assert_int_equal(
            tr_sse_parser_feed(s, input + split_at, len - split_at, record_event, &log),
            APR_SUCCESS);
    } else {
        for (apr_size_t at = 0; at < len; at += piece) {
            apr_size_t n = len - at < piece ? len - at : piece;
            assert_int_equal(tr_sse_parser_feed(s, input + at, n, record_event, &log), APR_SUCCESS);
        }
    }
    assert_int_equal(tr_sse_parser_finish(s, record_event, &log, partial ? partial : &ignored),
                     APR_SUCCESS);
    return log;
}

/* The same events whatever the split: two pieces at every point, and byte by byte. */
static void assert_split_independent(const char *input, const char *expected)
{
    apr_size_t len = strlen(input);
    assert_string_equal(parse_in_pieces(input, len, 0, len ? len : 1, NULL), expected);
    assert_string_equal(parse_in_pieces(input, len, 0, 1, NULL), expected);
    for (apr_size_t at = 1; at < len; at++)
        assert_string_equal(parse_in_pieces(input, len, at, 0, NULL), expected);
}

static void test_named_events(void **state)
{
    assert_split_independent("event: message_start\ndata: {\"a\":1}\n\nevent: ping\ndata: {}\n\n",
                             "[message_start|{\"a\":1}][ping|{}]");
}

static void test_line_ends(void **state)
{
    const char *expected = "[e|one][-|two]";
    assert_split_independent("event: e\r\ndata: one\r\n\r\ndata: two\r\n\r\n", expected);
    assert_split_independent("event: e\rdata: one\r\rdata: two\r\r", expected);
    assert_split_independent("event: e\ndata: one\n\ndata: two\n\n", expected);
    assert_split_independent("event: e\r\ndata: one\n\rdata: two\r\n\n", expected);
}

static void test_comments_and_fields(void **state)
{
    assert_split_independent(": keep-alive\n\n: OPENROUTER PROCESSING\ndata: x\nretry: 10\n"
                             "id: 42\nunknown: y\n\n",
                             "[-|x]");
}

static void test_multiline_data_and_spaces(void **state)
{
    /* Data lines join with LF; only one space after the colon is dropped; "data" alone is an
     * empty line of data; no colon means the whole line is the field name. */
    assert_split_independent("data:a\ndata:  b\ndata\ndata: c\n\n", "[-|a\n b\n\nc]");
    assert_split_independent("data:\n\n", "[-|]");
}

static void test_event_without_data_not_dispatched(void **state)
{
    assert_split_independent("event: lonely\n\ndata: x\n\n", "[-|x]");
}

static void test_bom_and_id(void **state)
{
    tr_sse_parser *s = tr_sse_parser_create(pool, 0);
    char *log = "";
    const char *input = "\xEF\xBB\xBF"
                        "data: x\nid: 7\n\n";

    assert_split_independent(input, "[-|x]");
    tr_sse_parser_feed(s, input, strlen(input), record_event, &log);
    assert_string_equal(tr_sse_parser_last_id(s), "7");
}

static void test_finish_dispatches_partial(void **state)
{
    int partial = 0;
    const char *log = parse_in_pieces("data: [DONE]", 12, 0, 5, &partial);
    assert_string_equal(log, "[-|[DONE]]");
    assert_int_equal(partial, 1);
    log = parse_in_pieces("data: a\n\n", 9, 0, 9, &partial);
    assert_int_equal(partial, 0);
}

static void test_oversize_event(void **state)
{
    tr_sse_parser *s = tr_sse_parser_create(pool, 64);
    char *log = "";
    char big[100];

    memset(big, 'x', sizeof(big));
    assert_int_equal(tr_sse_parser_feed(s, "data: ", 6, record_event, &log), APR_SUCCESS);
    assert_int_equal(tr_sse_parser_feed(s, big, sizeof(big), record_event, &log), APR_ENOSPC);
    /* Refuses further input once failed. */
    assert_int_equal(tr_sse_parser_feed(s, "\n\n", 2, record_event, &log), APR_ENOSPC);
    assert_string_equal(log, "");

    /* Many data lines add up: the cap is per event, not per line. */
    s = tr_sse_parser_create(pool, 64);
    for (int i = 0; i < 10; i++) {
        apr_status_t rv = tr_sse_parser_feed(s, "data: 0123456789\n", 17, record_event, &log);
        if (rv != APR_SUCCESS) {
            assert_int_equal(rv, APR_ENOSPC);
            return;
        }
    }
    fail_msg("the cap did not apply");
}

static apr_status_t stop_after_first(void *baton, const char *event, const char *data,
                                     apr_size_t len)
{
    int *count = baton;
    return ++*count == 1 ? APR_EGENERAL : APR_SUCCESS;
}

/* An event of one data line just under the cap passes whatever the split: the line is
 * counted once, not once as the pending line and again as the event's data. */
static void test_one_line_event_under_cap(void **state)
{
    apr_size_t cap = 1000, n = 900;
    char *input = apr_palloc(pool, n);

    (void) state;
    memcpy(input, "data: ", 6);
    memset(input + 6, 'x', n - 8);
    memcpy(input + n - 2, "\n\n", 2);
    for (apr_size_t piece = 1; piece <= n; piece *= 3) {
        tr_sse_parser *s = tr_sse_parser_create(pool, cap);
        char *log = "";
        for (apr_size_t at = 0; at < n; at += piece)
            assert_int_equal(tr_sse_parser_feed(s, input + at, n - at < piece ? n - at : piece,
                                                record_event, &log),
                             APR_SUCCESS);
        assert_int_equal(strlen(log), 4 + (n - 8));
    }
}

static void test_callback_failure_stops(void **state)
{
    tr_sse_parser *s = tr_sse_parser_create(pool, 0);
    int count = 0;
    assert_int_equal(tr_sse_parser_feed(s, "data: a\n\ndata: b\n\n", 18, stop_after_first, &count),
                     APR_EGENERAL);
    assert_int_equal(count, 1);
}

/* ---- streamed JSON arrays ---------------------------------------------------------------- */

static apr_status_t record_element(void *baton, const char *data, apr_size_t len)
{
    char **log = baton;
    *log = apr_psprintf(pool, "%s<%.*s>", *log, (int) len, data);
    return APR_SUCCESS;
}

static const char *split_array(const char *input, apr_size_t piece, int *complete)
{
    tr_array_splitter *s = tr_array_splitter_create(pool, 0);
    apr_size_t len = strlen(input);
    char *log = "";

    for (apr_size_t at = 0; at < len; at += piece) {
        apr_size_t n = len - at < piece ? len - at : piece;
        assert_int_equal(tr_array_splitter_feed(s, input + at, n, record_element, &log),
                         APR_SUCCESS);
    }
    *complete = tr_array_splitter_complete(s);
    return log;
}

/* The event ends found feeding in pieces of `piece` bytes, marked '|' in out; an end at a
 * CRLF's CR whose LF came in the next piece is merged into the end after the LF. */
static void mark_event_ends(const char *in, apr_size_t len, apr_size_t piece, char *out)
{
    tr_sse_boundary b = TR_SSE_BOUNDARY_INIT;
    apr_size_t o = 0;

    for (apr_size_t at = 0; at < len;) {
        apr_size_t n = len - at < piece ? len - at : piece;
        apr_size_t end = tr_sse_event_end(&b, in + at, n);
        apr_size_t step = end ? end : n;

        memcpy(out + o, in + at, step);
        o += step;
        at += step;
        if (end) {
            if (o >= 3 && out[o - 1] == '\n' && out[o - 2] == '|' && out[o - 3] == '\r') {
                out[o - 2] = '\n'; /* "\r|\n" -> "\r\n" */
                o--;
            }
            out[o++] = '|';
        }
    }
    out[o] = '\0';
}

/* Where events end, for passed-through streams: after the blank line (its LF too when it is a
 * CRLF), in every split of the input. */
static void test_event_end(void **state)
{
    static const struct {
        const char *input;
        const char *ends; /* '|' after each byte where an event ends */
    } cases[] = {
        {"data: a\n\n", "data: a\n\n|"},
        {"data: a\r\n\r\ndata: b\r\n\r\n", "data: a\r\n\r\n|data: b\r\n\r\n|"},
        {"data: a\r\ndata: b\r\n", "data: a\r\ndata: b\r\n"},
        {"data: a\r\rdata: b\n", "data: a\r\r|data: b\n"},
        {"event: x\ndata: a\n\n\ndata: b", "event: x\ndata: a\n\n|\n|data: b"},
        {"\ndata: a\r\n", "\n|data: a\r\n"},
        {": ping\n\ndata: a\rdata: b\r\n\n", ": ping\n\n|data: a\rdata: b\r\n\n|"},
        {"data: a\n", "data: a\n"},
    };

    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        const char *in = cases[c].input;
        apr_size_t len = strlen(in);
        char got[128];

        for (apr_size_t piece = 1; piece <= len; piece++) {
            mark_event_ends(in, len, piece, got);
            assert_string_equal(got, cases[c].ends);
        }
    }
}

static void test_json_array_elements(void **state)
{
    const char *input = "[{\"a\":\"]},{\\\"\"},\r\n {\"b\":[1,{\"c\":2}]}\n]";
    const char *expected = "<{\"a\":\"]},{\\\"\"}><{\"b\":[1,{\"c\":2}]}>";
    int complete;

    for (apr_size_t piece = 1; piece <= strlen(input); piece++) {
        assert_string_equal(split_array(input, piece, &complete), expected);
        assert_int_equal(complete, 1);
    }
    assert_string_equal(split_array("[{\"a\":1},{\"b\"", 3, &complete), "<{\"a\":1}>");
    assert_int_equal(complete, 0);
    /* A bare object (an error envelope) is one element. */
    assert_string_equal(split_array(" {\"error\":{}}", 2, &complete), "<{\"error\":{}}>");
    assert_int_equal(complete, 1);
}

static void test_json_array_cap(void **state)
{
    tr_array_splitter *s = tr_array_splitter_create(pool, 16);
    char *log = "";
    assert_int_equal(tr_array_splitter_feed(s, "[{\"a\":\"0123", 11, record_element, &log),
                     APR_SUCCESS);
    assert_int_equal(tr_array_splitter_feed(s, "456789012345678\"}]", 18, record_element, &log),
                     APR_ENOSPC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_named_events),
        cmocka_unit_test(test_line_ends),
        cmocka_unit_test(test_comments_and_fields),
        cmocka_unit_test(test_multiline_data_and_spaces),
        cmocka_unit_test(test_event_without_data_not_dispatched),
        cmocka_unit_test(test_bom_and_id),
        cmocka_unit_test(test_finish_dispatches_partial),
        cmocka_unit_test(test_oversize_event),
        cmocka_unit_test(test_one_line_event_under_cap),
        cmocka_unit_test(test_callback_failure_stops),
        cmocka_unit_test(test_event_end),
        cmocka_unit_test(test_json_array_elements),
        cmocka_unit_test(test_json_array_cap),
    };
    int rc;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    apr_pool_destroy(pool);
    apr_terminate();
    return rc;
}
