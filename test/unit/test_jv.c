/*
 * test_jv.c: the translate core's JSON values (json/tr_jv.h): parsing, errors, writing, building.
 *
 * Expected text is compared byte for byte, so writer changes show up here. Differences from
 * jansson that matter are pinned too (repeated keys; reals read are written as they came, reals
 * made shortest-first).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "apr_general.h"
#include "apr_strings.h"
#include "json/tr_jv.h"

static int setup(void **state)
{
    apr_pool_t *p;
    apr_pool_create(&p, NULL);
    *state = p;
    return 0;
}

static int teardown(void **state)
{
    apr_pool_destroy(*state);
    return 0;
}

static tr_jv *parse(apr_pool_t *p, const char *text, aiproxy_error *err)
{
    memset(err, 0, sizeof(*err));
    return tr_jv_parse(p, text, strlen(text), err);
}

/* text parses and writes back as want (want NULL: as text itself). */
static void assert_round_trip(apr_pool_t *p, const char *text, const char *want)
{
    aiproxy_error err;
    tr_jv *v = parse(p, text, &err);
    if (!v)
        fail_msg("%s: %s", text, err.message);
    assert_string_equal(tr_jv_dump(p, v, NULL), want ? want : text);
}

/* text is refused with a 400 whose message contains why. */
static void assert_refused(apr_pool_t *p, const char *text, apr_size_t len, const char *why)
{
    aiproxy_error err = {0};
    tr_jv *v = tr_jv_parse(p, text, len, &err);
    if (v)
        fail_msg("accepted: %.*s", (int) len, text);
    assert_int_equal(err.status, 400);
    if (!strstr(err.message, why))
        fail_msg("'%s' does not say '%s'", err.message, why);
}

static void test_values_round_trip(void **state)
{
    apr_pool_t *p = *state;

    assert_round_trip(p, "{}", NULL);
    assert_round_trip(p, "[]", NULL);
    assert_round_trip(p, " \r\n\t{ \"a\" : [ 1 , -2 , true , false , null ] } \n",
                      "{\"a\":[1,-2,true,false,null]}");
    assert_round_trip(p, "\"x\"", NULL);
    assert_round_trip(p, "{\"n\":{\"m\":{\"o\":[[],{}]}}}", NULL);
    assert_round_trip(p, "[9223372036854775807,-9223372036854775808,0,-0]",
                      "[9223372036854775807,-9223372036854775808,0,0]");
    /* reals read are written as they came (the sender's text, whatever its form) */
    assert_round_trip(p, "[0.7,1.0,1e3,-2.5E-3,0.10,1e300,123456789.125,-0.0,1E+2]", NULL);
}

static void test_reals(void **state)
{
    apr_pool_t *p = *state;
    aiproxy_error err;
    tr_jv *v;
    double d;

    /* made reals: the shortest text that reads back the same, always with a '.' or an exponent */
    assert_string_equal(tr_jv_dump(p, tr_jv_real(p, 1e3), NULL), "1000.0");
    assert_string_equal(tr_jv_dump(p, tr_jv_real(p, 0.1), NULL), "0.1");
    assert_string_equal(tr_jv_dump(p, tr_jv_real(p, -2.5e-3), NULL), "-0.0025");
    assert_string_equal(tr_jv_dump(p, tr_jv_real(p, 1e300), NULL), "1e+300");
    /* read reals have their value when asked, exactly as strtod reads them */
    v = parse(p, "{\"a\":-0.39153478145599363,\"b\":2.5E-3,\"c\":1e-400,\"i\":3}", &err);
    assert_non_null(v);
    assert_true(tr_jv_get_real(v, "a", &d) && d == -0.39153478145599363);
    assert_true(tr_jv_number_value(tr_jv_get(v, "b")) == 2.5e-3);
    assert_true(tr_jv_real_value(tr_jv_get(v, "c")) == 0.0); /* underflow reads as zero */
    assert_true(tr_jv_real_value(tr_jv_get(v, "i")) == 0.0); /* an integer is not a real */
    assert_true(tr_jv_equal(parse(p, "[1e2]", &err), parse(p, "[100.0]", &err)));
    assert_false(tr_jv_equal(parse(p, "[1e2]", &err), parse(p, "[100.5]", &err)));
    /* the top of the range: what strtod reads as past DBL_MAX is refused, nothing below */
    assert_non_null(parse(p, "1.7976931348623157e308", &err));
    assert_non_null(parse(p,
                          "-179769313486231570814527423731704356798070567525844996598917476803"
                          "157260780028538760589558632766878171540458953514382464234321326889"
                          "464182768467546703537516986049910576551282076245490090389328944075"
                          "868508455133942304583236903222948165808559332123348274797826204144"
                          "723168738177180919299881250404026184124858368.0",
                          &err));
    assert_non_null(parse(p, "0.00000000000000000000000000000000000000001e328", &err));
    assert_non_null(parse(p, "0e99999", &err));
    assert_non_null(parse(p, "1e-99999999999999999999", &err));
    assert_refused(p, "1.7976931348623159e308", 22, "real number out of range");
    assert_refused(p, "-1.8e308", 8, "real number out of range");
    assert_refused(p, "0.1e310", 7, "real number out of range");
    assert_refused(p, "1e99999999999999999999", 22, "real number out of range");
}

static void test_strings_and_escapes(void **state)
{
    apr_pool_t *p = *state;
    aiproxy_error err;
    tr_jv *v;

    /* escapes decode; the writer escapes only what JSON requires */
    v = parse(p, "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u0001\\u00e9\\u20ac\\ud83d\\ude00\"", &err);
    assert_non_null(v);
    assert_string_equal(tr_jv_str_value(v),
                        "a\"b\\c/d\b\f\n\r\t\001\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    assert_string_equal(
        tr_jv_dump(p, v, NULL),
        "\"a\\\"b\\\\c/d\\b\\f\\n\\r\\t\\u0001\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
    /* \u0000 is kept, with the length */
    v = parse(p, "\"a\\u0000b\"", &err);
    assert_int_equal(tr_jv_str_len(v), 3);
    assert_memory_equal(tr_jv_str_value(v), "a\0b", 4);
    assert_string_equal(tr_jv_dump(p, v, NULL), "\"a\\u0000b\"");
    /* raw UTF-8 passes */
    assert_round_trip(p, "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"", NULL);
}

static void test_malformed_input_is_refused(void **state)
{
    apr_pool_t *p = *state;
    char deep[300];

    assert_refused(p, "", 0, "empty");
    assert_refused(p, "   ", 3, "unexpected end");
    assert_refused(p, "{", 1, "at line 1 column 2");
    assert_refused(p, "{\"a\":1,}", 8, "string key expected");
    assert_refused(p, "[1,]", 4, "invalid token");
    assert_refused(p, "[1 2]", 5, "',' or ']' expected");
    assert_refused(p, "{\"a\" 1}", 7, "':' expected");
    assert_refused(p, "{\"a\":1}x", 8, "end of input expected");
    assert_refused(p, "{}\n\n  ]", 7, "line 3 column 3");
    assert_refused(p, "tru", 3, "invalid token");
    assert_refused(p, "nul", 3, "invalid token");
    assert_refused(p, "01", 2, "end of input expected");
    assert_refused(p, "1.", 2, "digits expected after '.'");
    assert_refused(p, "1e", 2, "exponent");
    assert_refused(p, "-", 1, "invalid number");
    assert_refused(p, "9223372036854775808", 19, "integer out of range");
    assert_refused(p, "-9223372036854775809", 20, "integer out of range");
    assert_refused(p, "1e999", 5, "real number out of range");
    assert_refused(p, "\"abc", 4, "unterminated string");
    assert_refused(p, "\"a\\", 3, "unterminated string");
    assert_refused(p, "\"a\nb\"", 5, "control character");
    assert_refused(p, "\"\\x\"", 4, "invalid escape");
    assert_refused(p, "\"\\u12\"", 6, "\\u escape");
    assert_refused(p, "\"\\ud800\"", 8, "low surrogate");
    assert_refused(p, "\"\\ud800\\u0041\"", 14, "low surrogate");
    assert_refused(p, "\"\\udc00\"", 8, "lone low surrogate");
    /* invalid UTF-8: a lone continuation byte, an overlong '/', a surrogate, > U+10FFFF,
     * a truncated sequence */
    assert_refused(p, "\"\x80\"", 3, "invalid UTF-8");
    assert_refused(p, "\"\xc0\xaf\"", 4, "invalid UTF-8");
    assert_refused(p, "\"\xed\xa0\x80\"", 5, "invalid UTF-8");
    assert_refused(p, "\"\xf4\x90\x80\x80\"", 6, "invalid UTF-8");
    assert_refused(p, "\"\xe2\x82\"", 4, "invalid UTF-8");
    /* a NUL byte outside a string */
    assert_refused(p, "{}\0", 3, "end of input expected");
    /* nesting: TR_JV_MAX_DEPTH is accepted, one more is not */
    memset(deep, '[', TR_JV_MAX_DEPTH + 1);
    memset(deep + TR_JV_MAX_DEPTH + 1, ']', TR_JV_MAX_DEPTH + 1);
    assert_refused(p, deep, 2 * (TR_JV_MAX_DEPTH + 1), "nests deeper than 128");
    {
        aiproxy_error err;
        assert_non_null(tr_jv_parse(p, deep + 1, 2 * TR_JV_MAX_DEPTH, &err));
    }
}

/* Input need not be NUL-terminated: the parser never reads past len. */
static void test_parse_reads_only_len_bytes(void **state)
{
    apr_pool_t *p = *state;
    aiproxy_error err;
    const char text[] = "{\"a\":\"bc\"}XXXX";
    tr_jv *v = tr_jv_parse(p, text, 10, &err);

    assert_non_null(v);
    assert_string_equal(tr_jv_get_str(v, "a"), "bc");
    assert_null(tr_jv_parse(p, text, 7, &err)); /* cut inside the string */
}

static void test_repeated_keys_keep_first_position_last_value(void **state)
{
    apr_pool_t *p = *state;
    aiproxy_error err;
    /* small objects and large ones (hashed) behave the same */
    tr_jv *v = parse(p, "{\"a\":1,\"b\":2,\"a\":3}", &err);
    char *big = apr_pstrdup(p, "{");
    tr_jv *w;

    assert_string_equal(tr_jv_dump(p, v, NULL), "{\"a\":3,\"b\":2}");
    for (int i = 0; i < 40; i++)
        big = apr_psprintf(p, "%s\"k%d\":%d,", big, i % 20, i);
    big[strlen(big) - 1] = '}';
    w = parse(p, big, &err);
    assert_int_equal(tr_jv_size(w), 20);
    assert_int_equal(tr_jv_int_value(tr_jv_get(w, "k0")), 20);
    assert_int_equal(tr_jv_int_value(tr_jv_get(w, "k19")), 39);
    assert_string_equal(tr_jv_first_key(w), "k0");
}

static void test_building_and_changing(void **state)
{
    apr_pool_t *p = *state;
    tr_jv *o = tr_jv_object(p), *a, *inner;

    tr_jv_set_str(o, "model", "m");
    tr_jv_set_str(o, "skip", NULL); /* no-op */
    tr_jv_set(o, "none", NULL);     /* no-op */
    tr_jv_set_int(o, "max", 10);
    tr_jv_set_real(o, "t", 0.5);
    tr_jv_set_bool(o, "stream", 1);
    a = tr_jv_set_array(o, "list");
    for (int i = 0; i < 20; i++) /* past the first capacity */
        tr_jv_push(a, tr_jv_integer(p, i));
    inner = tr_jv_push_object(a);
    tr_jv_set(inner, "k", tr_jv_null());
    tr_jv_push_str(a, "s");
    tr_jv_set_str(o, "model", "n"); /* replaced in place */
    assert_string_equal(
        tr_jv_dump(p, o, NULL),
        "{\"model\":\"n\",\"max\":10,\"t\":0.5,\"stream\":true,\"list\":[0,1,2,3,4,5,6,7,8,9,"
        "10,11,12,13,14,15,16,17,18,19,{\"k\":null},\"s\"]}");

    tr_jv_remove(a, 0);
    tr_jv_remove(a, 100); /* no-op */
    assert_int_equal(tr_jv_int_value(tr_jv_at(a, 0)), 1);
    assert_int_equal(tr_jv_del(o, "t"), 1);
    assert_int_equal(tr_jv_del(o, "t"), 0);
    assert_null(tr_jv_get(o, "t"));
    assert_string_equal(tr_jv_first_key(o), "model");

    /* NULL-safety: reads on NULL and wrong types are absent */
    assert_null(tr_jv_get(NULL, "x"));
    assert_null(tr_jv_get(a, "x"));
    assert_null(tr_jv_at(o, 0));
    assert_int_equal(tr_jv_size(NULL), 0);
    assert_int_equal(tr_jv_get_bool(o, "stream", -1), 1);
    assert_int_equal(tr_jv_get_bool(o, "model", -1), -1);
    assert_null(tr_jv_set_object(a, "x"));
    assert_null(tr_jv_push_object(o));
    assert_null(tr_jv_real(p, 1.0 / 0.0));
}

static void test_copy_equal_update_extend(void **state)
{
    apr_pool_t *p = *state;
    aiproxy_error err;
    tr_jv *a = parse(p, "{\"x\":[1,{\"y\":\"z\"}],\"w\":1.5}", &err);
    tr_jv *b = parse(p, "{\"w\":1.5,\"x\":[1,{\"y\":\"z\"}]}", &err);
    tr_jv *c = tr_jv_copy(p, a), *d;

    assert_true(tr_jv_equal(a, b)); /* member order does not matter */
    assert_true(tr_jv_equal(a, c));
    tr_jv_set_str(tr_jv_at(tr_jv_get(c, "x"), 1), "y", "changed");
    assert_false(tr_jv_equal(a, c)); /* the copy is deep */
    assert_string_equal(tr_jv_get_str(tr_jv_at(tr_jv_get(a, "x"), 1), "y"), "z");
    assert_false(tr_jv_equal(parse(p, "1", &err), parse(p, "1.0", &err)));

    d = parse(p, "{\"w\":2,\"v\":3}", &err);
    tr_jv_update_missing(d, a);
    assert_string_equal(tr_jv_dump(p, d, NULL), "{\"w\":2,\"v\":3,\"x\":[1,{\"y\":\"z\"}]}");

    d = parse(p, "[1]", &err);
    tr_jv_extend(d, d); /* itself */
    tr_jv_extend(d, parse(p, "[2,3]", &err));
    assert_string_equal(tr_jv_dump(p, d, NULL), "[1,1,2,3]");
}

static void test_typed_gets(void **state)
{
    apr_pool_t *p = *state;
    aiproxy_error err;
    tr_jv *o = parse(p, "{\"i\":7,\"r\":2.9,\"huge\":1e25,\"s\":\"t\",\"o\":{},\"a\":[]}", &err);
    long long i;
    double d;

    assert_true(tr_jv_get_int(o, "i", &i) && i == 7);
    assert_true(tr_jv_get_int(o, "r", &i) && i == 2);
    assert_false(tr_jv_get_int(o, "huge", &i)); /* no long long holds it */
    assert_false(tr_jv_get_int(o, "s", &i));
    assert_true(tr_jv_get_real(o, "i", &d) && d == 7.0);
    assert_string_equal(tr_jv_get_str(o, "s"), "t");
    assert_null(tr_jv_get_str(o, "i"));
    assert_non_null(tr_jv_get_object(o, "o"));
    assert_null(tr_jv_get_object(o, "a"));
    assert_non_null(tr_jv_get_array(o, "a"));
}

static void test_pack(void **state)
{
    apr_pool_t *p = *state;
    tr_jv *inner = tr_jv_integer(p, 5);
    tr_jv *v = tr_jv_pack(p, "{s:s, s:s?, s:s*, s:{s:i, s:I, s:b, s:n}, s:[s, o, f], s:o?, s:o*}",
                          "a", "x", "b", NULL, "c", NULL, "d", "i", 1, "I", 1LL << 40, "b", 0, "n",
                          "e", "y", inner, 0.25, "f", NULL, "g", NULL);

    assert_string_equal(tr_jv_dump(p, v, NULL),
                        "{\"a\":\"x\",\"b\":null,\"d\":{\"i\":1,\"I\":1099511627776,\"b\":false,"
                        "\"n\":null},\"e\":[\"y\",5,0.25],\"f\":null}");
    /* a plain s given NULL and a bad format give NULL, as json_pack */
    assert_null(tr_jv_pack(p, "{s:s}", "a", NULL));
    assert_null(tr_jv_pack(p, "{s:x}", "a"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_values_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_strings_and_escapes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_input_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_reads_only_len_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_repeated_keys_keep_first_position_last_value, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_building_and_changing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy_equal_update_extend, setup, teardown),
        cmocka_unit_test_setup_teardown(test_typed_gets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pack, setup, teardown),
    };
    apr_initialize();
    return cmocka_run_group_tests_name("tr_jv", tests, NULL, NULL);
}
