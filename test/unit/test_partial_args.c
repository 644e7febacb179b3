/*
 * test_partial_args.c: Gemini partialArgs -> arguments text (codec/gemini_partial_args.h).
 *
 * Each case feeds parts (each the partialArgs array of one functionCall part) and checks the
 * text every part produced, the whole text after the call ends (which jansson must read as
 * one object), and how many assignments were left out.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <jansson.h>
#include "apr_general.h"
#include "apr_strings.h"
#include "codec/gemini_partial_args.h"

static apr_pool_t *pool;

#define MAX_PARTS 6

typedef struct {
    const char *name;
    const char *parts[MAX_PARTS];      /* partialArgs arrays, NULL-terminated */
    const char *pieces[MAX_PARTS + 1]; /* text per part, then the closing text */
    int dropped;
} args_case;

static const args_case cases[] = {
    {"no assignment", {NULL}, {"{}"}, 0},
    {"string continued while willContinue",
     {"[{\"jsonPath\":\"$.location\",\"stringValue\":\"Bos\",\"willContinue\":true}]",
      "[{\"jsonPath\":\"$.location\",\"stringValue\":\"ton, \\\"MA\\\"\",\"willContinue\":true}]",
      "[{\"jsonPath\":\"$.location\",\"stringValue\":\"\"}]", NULL},
     {"{\"location\":\"Bos", "ton, \\\"MA\\\"", "\"", "}"},
     0},
    {"scalars of every kind",
     {"[{\"jsonPath\":\"$.n\",\"numberValue\":50},{\"jsonPath\":\"$.r\",\"numberValue\":0.25},"
      "{\"jsonPath\":\"$.b\",\"boolValue\":false},{\"jsonPath\":\"$.z\",\"nullValue\":"
      "\"NULL_VALUE\"},{\"jsonPath\":\"$.nan\",\"numberValue\":\"NaN\"}]",
      NULL},
     {"{\"n\":50,\"r\":0.25,\"b\":false,\"z\":null,\"nan\":null", "}"},
     0},
    {"nested objects and arrays, closed as the path moves on",
     {"[{\"jsonPath\":\"$.recipe.items[0].amount\",\"stringValue\":\"16 oz\"}]",
      "[{\"jsonPath\":\"$.recipe.items[0].name\",\"stringValue\":\"noodles\"}]",
      "[{\"jsonPath\":\"$.recipe.items[1].amount\",\"stringValue\":\"1 lb\"}]",
      "[{\"jsonPath\":\"$.recipe.title\",\"stringValue\":\"Lasagna\"},"
      "{\"jsonPath\":\"$.tags[0]\",\"stringValue\":\"it\"},{\"jsonPath\":\"$.tags[1]\","
      "\"stringValue\":\"pasta\"}]",
      NULL},
     {"{\"recipe\":{\"items\":[{\"amount\":\"16 oz\"", ",\"name\":\"noodles\"",
      "},{\"amount\":\"1 lb\"", "}],\"title\":\"Lasagna\"},\"tags\":[\"it\",\"pasta\"", "]}"},
     0},
    {"bracket names with escapes and unicode",
     {"[{\"jsonPath\":\"$['a b']['it\\\\'s']\",\"numberValue\":1},"
      "{\"jsonPath\":\"$[\\\"q\\\\u00e9\\\\ud83c\\\\udf0d\\\"]\",\"boolValue\":true}]",
      NULL},
     {"{\"a b\":{\"it's\":1},\"q\xc3\xa9\xf0\x9f\x8c\x8d\":true", "}"},
     0},
    {"a string left open is closed by the next path and by the end",
     {"[{\"jsonPath\":\"$.a\",\"stringValue\":\"x\",\"willContinue\":true},"
      "{\"jsonPath\":\"$.b\",\"stringValue\":\"y\",\"willContinue\":true}]",
      NULL},
     {"{\"a\":\"x\",\"b\":\"y", "\"}"},
     0},
    {"out of order and unreadable assignments are left out",
     {"[{\"jsonPath\":\"$.list[0]\",\"numberValue\":1},{\"jsonPath\":\"$.list[2]\","
      "\"numberValue\":3},{\"jsonPath\":\"$.list[0]\",\"numberValue\":9},{\"jsonPath\":"
      "\"$.list.key\",\"numberValue\":4},{\"jsonPath\":\"$\",\"numberValue\":5},{\"jsonPath\":"
      "\"$.x[*]\",\"numberValue\":6},{\"jsonPath\":\"$.n[01]\",\"numberValue\":6},{\"jsonPath\":"
      "\"$.new[3]\",\"numberValue\":7},{\"jsonPath\":\"$.v\"},{\"stringValue\":\"no path\"}]",
      "[{\"jsonPath\":\"$.o.p\",\"numberValue\":1},{\"jsonPath\":\"$.o\",\"numberValue\":2}]",
      NULL},
     {"{\"list\":[1", "],\"o\":{\"p\":1", "}}"},
     10},
};

static const char *as_text(const tr_buf *b)
{
    return b->data ? apr_pstrmemdup(pool, b->data, b->len) : "";
}

static void test_cases(void **state)
{
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        const args_case *t = &cases[c];
        tr_partial_args *a = tr_partial_args_create(pool, 0x100000);
        tr_buf *all = tr_buf_make(pool, 0);
        int n = 0;
        json_t *parsed;

        for (; n < MAX_PARTS && t->parts[n]; n++) {
            aiproxy_error err;
            tr_jv *arr = tr_jv_parse(pool, t->parts[n], strlen(t->parts[n]), &err);
            tr_buf *piece = tr_buf_make(pool, 0);

            assert_non_null(arr);
            tr_partial_args_apply(a, pool, arr, piece);
            if (strcmp(as_text(piece), t->pieces[n]))
                fail_msg("%s, part %d: got '%s', want '%s'", t->name, n, as_text(piece),
                         t->pieces[n]);
            tr_buf_add(all, piece->data ? piece->data : "", piece->len);
        }
        assert_int_equal(tr_partial_args_dropped(a), t->dropped);
        {
            tr_buf *end = tr_buf_make(pool, 0);
            tr_partial_args_finish(a, end);
            if (strcmp(as_text(end), t->pieces[n]))
                fail_msg("%s, end: got '%s', want '%s'", t->name, as_text(end), t->pieces[n]);
            tr_buf_add(all, end->data, end->len);
        }
        parsed = json_loadb(all->data, all->len, 0, NULL);
        if (!json_is_object(parsed))
            fail_msg("%s: not one JSON object: %s", t->name, as_text(all));
        json_decref(parsed);
    }
}

/* The assembler is ready for the next call after finish, and stops adding past its cap while
 * still closing what it opened. */
static void test_reuse_and_cap(void **state)
{
    aiproxy_error err;
    const char *text = "[{\"jsonPath\":\"$.s\",\"stringValue\":\"0123456789\"},"
                       "{\"jsonPath\":\"$.t.u\",\"stringValue\":\"more\"}]";
    tr_jv *arr = tr_jv_parse(pool, text, strlen(text), &err);
    tr_partial_args *a = tr_partial_args_create(pool, 8);
    tr_buf *out = tr_buf_make(pool, 0);

    tr_partial_args_apply(a, pool, arr, out);
    tr_partial_args_finish(a, out);
    assert_string_equal(as_text(out), "{\"s\":\"0123456789\",\"t\":{\"u\":\"more\"}}");
    tr_buf_reset(out);
    /* past the cap (8 bytes written): the second part is left out, the object still closes */
    tr_partial_args_apply(a, pool, arr, out);
    tr_partial_args_apply(a, pool, arr, out);
    assert_int_equal(tr_partial_args_dropped(a), 2);
    tr_partial_args_finish(a, out);
    assert_string_equal(as_text(out), "{\"s\":\"0123456789\",\"t\":{\"u\":\"more\"}}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_reuse_and_cap),
    };
    int rc;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    apr_pool_destroy(pool);
    apr_terminate();
    return rc;
}
