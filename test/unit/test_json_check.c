/*
 * test_json_check.c: json/tr_json_check.h, the tree-less "one complete JSON document" check
 * that decides whether a passed-through answer may be sent. It must agree with the parser
 * (tr_jv_parse) on what is JSON, and refuse every proper prefix of a document: a truncated
 * answer is the case it exists for.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "apr_general.h"
#include "apr_strings.h"
#include "json/tr_json_check.h"
#include "json/tr_jv.h"

static apr_pool_t *pool;

static const char *const documents[] = {
    "{}",
    "[]",
    " \r\n\t{ \"a\" : [ 1 , -2 , true , false , null ] } \n",
    "\"x\"",
    "0",
    "-0.5e+10",
    "1E3",
    "{\"n\":{\"m\":{\"o\":[[],{}]}}}",
    "{\"s\":\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\uD83D\\uDE00\"}",
    "{\"k\":\"caf\xc3\xa9\"}",
    "[{\"a\":1},{\"b\":[2,3]},\"c\"]",
    "{\"id\":\"msg_1\",\"content\":[{\"type\":\"text\",\"text\":\"}]\\\"\"}],\"usage\":{\"x\":1}}",
};

static const char *const not_documents[] = {
    "",
    "   ",
    "{",
    "}",
    "{\"a\"}",
    "{\"a\":}",
    "{\"a\":1,}",
    "[1,]",
    "[1 2]",
    "{\"a\" 1}",
    "{a:1}",
    "{'a':1}",
    "{} {}",
    "{}x",
    "\"unterminated",
    "\"bad \\x escape\"",
    "\"short \\u12\"",
    "\"raw \x01 control\"",
    "01",
    "-",
    "1.",
    ".5",
    "1e",
    "+1",
    "tru",
    "nul",
    "True",
    "NaN",
    "<html>",
    "[1]]",
    "{\"a\":[1}",
};

static void test_documents_accepted(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof(documents) / sizeof(documents[0]); i++)
        if (!tr_json_is_document(documents[i], strlen(documents[i])))
            fail_msg("refused: %s", documents[i]);
}

static void test_non_documents_refused(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof(not_documents) / sizeof(not_documents[0]); i++)
        if (tr_json_is_document(not_documents[i], strlen(not_documents[i])))
            fail_msg("accepted: %s", not_documents[i]);
    assert_false(tr_json_is_document(NULL, 0));
    assert_false(tr_json_is_document("{}\0", 3)); /* a NUL after the document is not space */
}

/* The check and the parser agree on every case of both tables. */
static void test_agrees_with_parser(void **state)
{
    (void) state;
    const char *const *tables[] = {documents, not_documents};
    const size_t sizes[] = {sizeof(documents) / sizeof(documents[0]),
                            sizeof(not_documents) / sizeof(not_documents[0])};

    for (int t = 0; t < 2; t++)
        for (size_t i = 0; i < sizes[t]; i++) {
            aiproxy_error err = {0};
            const char *text = tables[t][i];
            int parsed = tr_jv_parse(pool, text, strlen(text), &err) != NULL;
            if (parsed != tr_json_is_document(text, strlen(text)))
                fail_msg("parser says %d, check says %d: %s", parsed, !parsed, text);
        }
}

/* Every proper prefix of a document that ends in a container is refused: a cut answer. */
static void test_every_prefix_refused(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof(documents) / sizeof(documents[0]); i++) {
        const char *text = documents[i];
        apr_size_t len = strlen(text), end = len;

        while (end > 0 && strchr(" \r\n\t", text[end - 1]))
            end--;
        if (text[end - 1] != '}' && text[end - 1] != ']' && text[end - 1] != '"')
            continue; /* a number's prefix can be a number */
        for (apr_size_t n = 0; n < end; n++)
            if (tr_json_is_document(text, n))
                fail_msg("prefix of %" APR_SIZE_T_FMT " bytes accepted: %s", n, text);
    }
}

/* Nesting as deep as the parser allows is fine; one level more is refused, without recursion. */
static void test_depth(void **state)
{
    (void) state;
    char deep[2 * (TR_JV_MAX_DEPTH + 1) + 1];

    for (int extra = 0; extra <= 1; extra++) {
        int levels = TR_JV_MAX_DEPTH + extra;
        memset(deep, '[', (size_t) levels);
        memset(deep + levels, ']', (size_t) levels);
        assert_int_equal(tr_json_is_document(deep, 2 * (apr_size_t) levels), !extra);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_documents_accepted),
        cmocka_unit_test(test_non_documents_refused),
        cmocka_unit_test(test_agrees_with_parser),
        cmocka_unit_test(test_every_prefix_refused),
        cmocka_unit_test(test_depth),
    };
    int failed;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    failed = cmocka_run_group_tests(tests, NULL, NULL);
    apr_pool_destroy(pool);
    apr_terminate();
    return failed;
}
