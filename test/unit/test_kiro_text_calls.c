/*
 * test_kiro_text_calls.c: tool calls written into answer text (codec/kiro_text_calls.h).
 *
 * Each case is fed whole, split in two at every byte boundary, and byte by byte; the scanner's
 * output, written down as a transcript (text as it is, a call as <name|args>), must be the
 * same every time. Further tests pin what is held back while the text streams, the bound on
 * held text, and the names taken.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "apr_general.h"
#include "apr_strings.h"
#include "codec/kiro_text_calls.h"
#include "json/tr_buf.h"

static apr_pool_t *pool;

typedef struct {
    tr_buf *out;
    int calls;
    int fail_on_call; /* return an error from the call sink */
} transcript;

static apr_status_t on_text(void *baton, const char *text, apr_size_t len)
{
    transcript *t = baton;
    assert_true(len > 0);
    tr_buf_add(t->out, text, len);
    return APR_SUCCESS;
}

static apr_status_t on_call(void *baton, const char *name, const char *args, apr_size_t len)
{
    transcript *t = baton;
    t->calls++;
    if (t->fail_on_call)
        return APR_EGENERAL;
    tr_buf_adds(t->out, "<");
    tr_buf_adds(t->out, name);
    tr_buf_adds(t->out, "|");
    tr_buf_add(t->out, args, len);
    tr_buf_adds(t->out, ">");
    return APR_SUCCESS;
}

static apr_array_header_t *tool_names(void)
{
    apr_array_header_t *names = apr_array_make(pool, 3, sizeof(const char *));
    APR_ARRAY_PUSH(names, const char *) = "get_weather";
    APR_ARRAY_PUSH(names, const char *) = "search";
    APR_ARRAY_PUSH(names, const char *) = "ns.read-file";
    return names;
}

/* The transcript of text fed in the pieces cut at the cuts offsets (ascending, n of them). */
static const char *scan(const char *text, const apr_size_t *cuts, int n, apr_size_t max)
{
    tr_text_calls *s = tr_text_calls_create(pool, tool_names(), max);
    transcript t = {tr_buf_make(pool, 0), 0, 0};
    tr_text_calls_sink sink = {on_text, on_call, &t};
    apr_size_t len = strlen(text), at = 0;

    assert_non_null(s);
    for (int i = 0; i <= n; i++) {
        apr_size_t end = i < n ? cuts[i] : len;
        assert_int_equal(tr_text_calls_feed(s, text + at, end - at, &sink), APR_SUCCESS);
        assert_true(tr_text_calls_held(s) <= max);
        at = end;
    }
    assert_int_equal(tr_text_calls_finish(s, &sink), APR_SUCCESS);
    assert_int_equal(tr_text_calls_held(s), 0);
    return apr_pstrmemdup(pool, t.out->data ? t.out->data : "", t.out->len);
}

/* The transcript is the same whole, at every two-piece split and byte by byte. */
static void check_every_split(const char *text, const char *expect)
{
    apr_size_t len = strlen(text);
    apr_size_t *bytes = apr_palloc(pool, sizeof(*bytes) * (len + 1));
    const char *got = scan(text, NULL, 0, TR_TEXT_CALLS_DEFAULT_MAX);

    if (strcmp(got, expect))
        fail_msg("whole %s\n got    %s\n expect %s", text, got, expect);
    for (apr_size_t cut = 0; cut <= len; cut++) {
        got = scan(text, &cut, 1, TR_TEXT_CALLS_DEFAULT_MAX);
        if (strcmp(got, expect))
            fail_msg("cut at %" APR_SIZE_T_FMT " %s\n got    %s\n expect %s", cut, text, got,
                     expect);
    }
    for (apr_size_t i = 0; i < len; i++)
        bytes[i] = i + 1;
    got = scan(text, bytes, len ? (int) len - 1 : 0, TR_TEXT_CALLS_DEFAULT_MAX);
    if (strcmp(got, expect))
        fail_msg("byte by byte %s\n got    %s\n expect %s", text, got, expect);
}

static const struct {
    const char *name, *text, *expect;
} cases[] = {
    {"plain text", "Hello, world.", "Hello, world."},
    {"a call", "[Called get_weather with args: {\"city\":\"Paris\"}]",
     "<get_weather|{\"city\":\"Paris\"}>"},
    {"text before and after", "Let me check. [Called search with args: {\"q\":\"x\"}] Done.",
     "Let me check. <search|{\"q\":\"x\"}> Done."},
    {"brackets, braces and escaped quotes in strings",
     "[Called search with args: "
     "{\"q\":\"a]b}c[d{\",\"l\":[1,[2,{\"x\":\"\\\"]\"}]],\"e\":\"\\\\\"}]",
     "<search|{\"q\":\"a]b}c[d{\",\"l\":[1,[2,{\"x\":\"\\\"]\"}]],\"e\":\"\\\\\"}>"},
    {"nested objects", "[Called search with args: {\"a\":{\"b\":{\"c\":[{}]}}}]",
     "<search|{\"a\":{\"b\":{\"c\":[{}]}}}>"},
    {"a dotted, dashed name", "[Called ns.read-file with args: {}]", "<ns.read-file|{}>"},
    {"two calls in one text",
     "A[Called get_weather with args: {\"city\":\"A\"}][Called search with args: "
     "{\"q\":\"[x]\"}]B",
     "A<get_weather|{\"city\":\"A\"}><search|{\"q\":\"[x]\"}>B"},
    {"whitespace between the words", "[Called  get_weather\nwith\targs:{} ]", "<get_weather|{}>"},
    {"an undeclared name is text", "[Called rm_rf with args: {\"path\":\"/\"}]",
     "[Called rm_rf with args: {\"path\":\"/\"}]"},
    {"a declared name's prefix is text", "[Called get_weath with args: {}]",
     "[Called get_weath with args: {}]"},
    {"a longer name is text", "[Called get_weather2 with args: {}]",
     "[Called get_weather2 with args: {}]"},
    {"invalid JSON is text", "[Called search with args: {q:1}]",
     "[Called search with args: {q:1}]"},
    {"no object is text", "[Called search with args: \"q\"]", "[Called search with args: \"q\"]"},
    {"more after the object is text", "[Called search with args: {} and more]",
     "[Called search with args: {} and more]"},
    {"unterminated arguments are text", "Try [Called search with args: {\"q\":\"[",
     "Try [Called search with args: {\"q\":\"["},
    {"unterminated after the object is text", "[Called search with args: {}",
     "[Called search with args: {}"},
    {"a start that stops matching", "[Calling all] [C", "[Calling all] [C"},
    {"brackets before a call", "[[Called search with args: {}]]", "[<search|{}>]"},
    {"a markdown link", "See [Called](http://x) and [1].", "See [Called](http://x) and [1]."},
    {"the word without space", "[Calledsearch with args: {}]", "[Calledsearch with args: {}]"},
    {"empty name", "[Called  with args: {}]", "[Called  with args: {}]"},
    {"a call after a failed one",
     "[Called nope with args: {}] [Called search with args: {\"a\":[]}]",
     "[Called nope with args: {}] <search|{\"a\":[]}>"},
    {"UTF-8 around and inside", "é [Called search with args: {\"q\":\"日本\"}] ü",
     "é <search|{\"q\":\"日本\"}> ü"},
};

static void test_cases(void **state)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        print_message("%s\n", cases[i].name);
        check_every_split(cases[i].text, cases[i].expect);
    }
}

/* Text goes on at once; only a '[' and what still matches the form waits, and only until it
 * is decided. */
static void test_holds_only_what_may_be_a_call(void **state)
{
    tr_text_calls *s = tr_text_calls_create(pool, tool_names(), TR_TEXT_CALLS_DEFAULT_MAX);
    transcript t = {tr_buf_make(pool, 0), 0, 0};
    tr_text_calls_sink sink = {on_text, on_call, &t};

    assert_int_equal(tr_text_calls_feed(s, "Hello [Cal", 10, &sink), APR_SUCCESS);
    assert_int_equal(t.out->len, 6);
    assert_int_equal(tr_text_calls_held(s), 4);
    assert_int_equal(tr_text_calls_feed(s, "endar]", 6, &sink), APR_SUCCESS);
    assert_int_equal(tr_text_calls_held(s), 0);
    assert_string_equal(t.out->data, "Hello [Calendar]");
    /* a name no declared tool starts with is decided at its first byte */
    assert_int_equal(tr_text_calls_feed(s, " [Called x", 10, &sink), APR_SUCCESS);
    assert_int_equal(tr_text_calls_held(s), 0);
    assert_int_equal(tr_text_calls_feed(s, " [Called sea", 12, &sink), APR_SUCCESS);
    assert_int_equal(tr_text_calls_held(s), 11);
    assert_int_equal(tr_text_calls_finish(s, &sink), APR_SUCCESS);
    assert_string_equal(t.out->data, "Hello [Calendar] [Called x [Called sea");
    assert_int_equal(t.calls, 0);
}

/* Arguments past the bound go on as text, the held text never passes it, and a call after
 * them is still found; a call within the bound is taken. */
static void test_bound(void **state)
{
    const apr_size_t max = 200;
    const char *head = "[Called search with args: {\"q\":\"";
    char *pad = apr_palloc(pool, 301);
    const char *long_call, *short_call, *got;
    apr_size_t cuts[3] = {50, 120, 260};

    memset(pad, 'x', 300);
    pad[300] = '\0';
    long_call = apr_pstrcat(pool, head, pad, "\"}]", NULL);
    short_call = apr_pstrcat(pool, head, "[y]\"}]", NULL);
    got = scan(apr_pstrcat(pool, long_call, " ", short_call, NULL), NULL, 0, max);
    assert_string_equal(got, apr_pstrcat(pool, long_call, " <search|{\"q\":\"[y]\"}>", NULL));
    got = scan(apr_pstrcat(pool, long_call, " ", short_call, NULL), cuts, 3, max);
    assert_string_equal(got, apr_pstrcat(pool, long_call, " <search|{\"q\":\"[y]\"}>", NULL));
    /* the default bound: 64 KiB of arguments are taken, more are not */
    pad = apr_palloc(pool, 70000);
    memset(pad, 'z', 69999);
    pad[69999] = '\0';
    got = scan(apr_pstrcat(pool, head, pad + 69999 - 60000, "\"}]", NULL), NULL, 0,
               TR_TEXT_CALLS_DEFAULT_MAX);
    assert_true(got[0] == '<');
    long_call = apr_pstrcat(pool, head, pad, "\"}]", NULL);
    got = scan(long_call, NULL, 0, TR_TEXT_CALLS_DEFAULT_MAX);
    assert_string_equal(got, long_call);
}

/* No usable name: no scanner (the text passes as it is); overlong names are not taken. */
static void test_names(void **state)
{
    apr_array_header_t *names = apr_array_make(pool, 2, sizeof(const char *));
    char *overlong = apr_palloc(pool, TR_TEXT_CALLS_MAX_NAME + 2);

    assert_null(tr_text_calls_create(pool, NULL, 100));
    assert_null(tr_text_calls_create(pool, names, 100));
    memset(overlong, 'a', TR_TEXT_CALLS_MAX_NAME + 1);
    overlong[TR_TEXT_CALLS_MAX_NAME + 1] = '\0';
    APR_ARRAY_PUSH(names, const char *) = overlong;
    APR_ARRAY_PUSH(names, const char *) = "";
    assert_null(tr_text_calls_create(pool, names, 100));
    overlong[TR_TEXT_CALLS_MAX_NAME] = '\0'; /* exactly the limit: taken */
    assert_non_null(tr_text_calls_create(pool, names, 100));
}

/* A sink's error stops the scanner and comes back to the caller. */
static void test_sink_error(void **state)
{
    tr_text_calls *s = tr_text_calls_create(pool, tool_names(), TR_TEXT_CALLS_DEFAULT_MAX);
    transcript t = {tr_buf_make(pool, 0), 0, 1};
    tr_text_calls_sink sink = {on_text, on_call, &t};
    const char *text = "a [Called search with args: {}] b";

    assert_int_equal(tr_text_calls_feed(s, text, strlen(text), &sink), APR_EGENERAL);
    assert_int_equal(t.calls, 1);
}

static int setup(void **state)
{
    apr_initialize();
    apr_pool_create(&pool, NULL);
    return 0;
}

static int teardown(void **state)
{
    apr_pool_destroy(pool);
    apr_terminate();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),      cmocka_unit_test(test_holds_only_what_may_be_a_call),
        cmocka_unit_test(test_bound),      cmocka_unit_test(test_names),
        cmocka_unit_test(test_sink_error),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
