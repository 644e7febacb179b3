/*
 * test_oauth_jwt.c: JWT claims, base64url, times and durations, token fingerprints
 * (mod_aiproxy_oauth/oa_jwt.c, oa_time.c, oa_fingerprint.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "apr_general.h"
#include "apr_strings.h"
#include "apr_tables.h"
#include "oa_fingerprint.h"
#include "oa_jwt.h"
#include "oa_time.h"
#include "test_oauth.h"

/* A token "<header>.<payload>.sig" with payload_json as its claims. */
static const char *make_jwt(const char *payload_json)
{
    const char *header = "{\"alg\":\"none\"}";
    return apr_pstrcat(
        pool, oa_base64url_encode(pool, (const unsigned char *) header, strlen(header)), ".",
        oa_base64url_encode(pool, (const unsigned char *) payload_json, strlen(payload_json)),
        ".c2ln", NULL);
}

static int read_claims(const char *token, oa_jwt_claims *c)
{
    return oa_jwt_read_claims(pool, token, strlen(token), c);
}

static void test_claims(void **state)
{
    oa_jwt_claims c;
    const char *t = make_jwt("{\"exp\":1767225600,\"email\":\"a@b.invalid\","
                             "\"https://api.openai.com/auth\":{\"chatgpt_account_id\":\"acct-1\","
                             "\"chatgpt_plan_type\":\"pro\"}}");

    assert_int_equal(read_claims(t, &c), 0);
    assert_int_equal(apr_time_sec(c.exp), 1767225600);
    assert_string_equal(c.email, "a@b.invalid");
    assert_string_equal(c.chatgpt_account_id, "acct-1");
    assert_string_equal(c.chatgpt_plan_type, "pro");
    /* A real exp keeps its fraction; missing and odd claims are left empty. */
    assert_int_equal(read_claims(make_jwt("{\"exp\":10.5}"), &c), 0);
    assert_int_equal(c.exp, 10500000);
    assert_null(c.email);
    assert_int_equal(read_claims(make_jwt("{\"exp\":\"tomorrow\",\"email\":7,"
                                          "\"https://api.openai.com/auth\":\"x\"}"),
                                 &c),
                     0);
    assert_int_equal(c.exp, 0);
    assert_null(c.email);
    assert_null(c.chatgpt_account_id);
}

static void test_claim_bounds(void **state)
{
    oa_jwt_claims c;
    char *long_email = apr_palloc(pool, 400);

    memset(long_email, 'a', 399);
    long_email[399] = '\0';
    assert_int_equal(read_claims(make_jwt("{\"exp\":-1}"), &c), 0);
    assert_int_equal(c.exp, 0);
    assert_int_equal(read_claims(make_jwt("{\"exp\":253402300800}"), &c), 0); /* year 10000 */
    assert_int_equal(c.exp, 0);
    assert_int_equal(read_claims(make_jwt("{\"exp\":1e300}"), &c), 0);
    assert_int_equal(c.exp, 0);
    assert_int_equal(read_claims(make_jwt("{\"exp\":253402300799}"), &c), 0);
    assert_int_equal(c.exp, OA_TIME_LAST);
    assert_int_equal(
        read_claims(make_jwt(apr_psprintf(pool, "{\"email\":\"%s\"}", long_email)), &c), 0);
    assert_null(c.email);
    assert_int_equal(read_claims(make_jwt("{\"email\":\"a\\nb\"}"), &c), 0);
    assert_null(c.email);
}

static void test_not_jwts(void **state)
{
    static const char *const not_jwts[] = {
        "",
        "sk-ant-oat01-opaque",
        "ya29.a0AfH6SM",
        "a.b",
        "e30.e30.x.y",              /* four segments */
        ".e30.x",                   /* empty header */
        "e30.W10.x",                /* payload an array */
        "e30.bnVsbA.x",             /* payload null */
        "e30.e30==.x",              /* padding that completes nothing */
        "e30.e3+.x",                /* not the url alphabet */
        "e30.eyJhIjoxLCJhIjoyfQ.x", /* {"a":1,"a":2}: duplicate claims */
        "e30.e31.x",                /* non-zero trailing bits */
    };
    oa_jwt_claims c;

    for (size_t i = 0; i < sizeof(not_jwts) / sizeof(not_jwts[0]); i++) {
        if (read_claims(not_jwts[i], &c) != -1)
            fail_msg("read as a JWT: '%s'", not_jwts[i]);
    }
    assert_int_equal(read_claims("e30.e30.", &c), 0); /* {} {} and an empty signature */
    assert_int_equal(oa_jwt_read_claims(pool, NULL, 0, &c), -1);
}

static void test_size_bound(void **state)
{
    apr_size_t n = OA_JWT_MAX + 1;
    char *t = apr_palloc(pool, n + 1);
    oa_jwt_claims c;

    memset(t, 'A', n);
    memcpy(t, "e30.e30.", 8);
    t[n] = '\0';
    assert_int_equal(oa_jwt_read_claims(pool, t, n, &c), -1);
    /* One byte less is a JWT with a long signature. */
    assert_int_equal(oa_jwt_read_claims(pool, t, n - 1 - ((n - 1 - 8) % 4 == 1), &c), 0);
}

static void test_base64url(void **state)
{
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const coded[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    unsigned char *out;
    apr_size_t len;

    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        assert_string_equal(
            oa_base64url_encode(pool, (const unsigned char *) plain[i], strlen(plain[i])),
            coded[i]);
        assert_int_equal(oa_base64url_decode(pool, coded[i], strlen(coded[i]), &out, &len), 0);
        assert_int_equal(len, strlen(plain[i]));
        assert_memory_equal(out, plain[i], len);
    }
    assert_int_equal(oa_base64url_decode(pool, "Zg==", 4, &out, &len), 0);
    assert_int_equal(oa_base64url_decode(pool, "Zm8=", 4, &out, &len), 0);
    assert_int_equal(oa_base64url_decode(pool, "Zg=", 3, &out, &len), -1);
    assert_int_equal(oa_base64url_decode(pool, "Z", 1, &out, &len), -1);
    assert_int_equal(oa_base64url_decode(pool, "-_8", 3, &out, &len), 0);
    assert_memory_equal(out, "\xfb\xff", 2);
    assert_int_equal(oa_base64url_decode(pool, "+/8", 3, &out, &len), -1);
}

static void test_rfc3339(void **state)
{
    static const struct {
        const char *text;
        apr_time_t usec; /* -1: refused */
    } cases[] = {
        {"1970-01-01T00:00:00Z", 0},
        {"2025-05-22T14:05:18Z", APR_INT64_C(1747922718000000)},
        {"2025-05-22T14:05:18.727Z", APR_INT64_C(1747922718727000)},
        {"2025-05-22T14:05:18.123456789+08:00", APR_INT64_C(1747893918123456)},
        {"2025-05-22t14:05:18-01:30", APR_INT64_C(1747928118000000)},
        {"2025-05-22 14:05:18", APR_INT64_C(1747922718000000)},
        {"2024-02-29T00:00:00Z", APR_INT64_C(1709164800000000)},
        {"2016-12-31T23:59:60Z", APR_INT64_C(1483228799000000)},
        {"9999-12-31T23:59:59Z", OA_TIME_LAST},
        {"2025-02-29T00:00:00Z", -1},
        {"2025-13-01T00:00:00Z", -1},
        {"2025-05-22T24:00:00Z", -1},
        {"2025-05-22T14:05Z", -1},
        {"2025-05-22", -1},
        {"1969-12-31T23:59:59Z", -1},
        {"1970-01-01T00:00:00+01:00", -1},
        {"2025-05-22T14:05:18.Z", -1},
        {"2025-05-22T14:05:18.1234567890Z", -1},
        {"2025-05-22T14:05:18+0800", -1},
        {"2025-05-22T14:05:18Z ", -1},
        {"+2025-05-22T14:05:18Z", -1},
        {"", -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        apr_time_t t = -1;
        int rc = oa_time_parse_rfc3339(cases[i].text, &t);
        if (cases[i].usec < 0 ? rc != -1 : rc != 0 || t != cases[i].usec)
            fail_msg("'%s': rc %d, %" APR_TIME_T_FMT, cases[i].text, rc, t);
    }
    assert_string_equal(oa_time_format_rfc3339(pool, APR_INT64_C(1747922718999999)),
                        "2025-05-22T14:05:18Z");
    assert_string_equal(oa_time_format_rfc3339(pool, -5), "1970-01-01T00:00:00Z");
}

static void test_json_times(void **state)
{
    json_t *v;
    apr_time_t t;

    v = json_integer(1500);
    assert_int_equal(oa_time_from_json(v, OA_TIME_EPOCH_MS, &t), 0);
    assert_int_equal(t, 1500000);
    assert_int_equal(oa_time_from_json(v, OA_TIME_EPOCH_S, &t), 0);
    assert_int_equal(t, SEC(1500));
    json_decref(v);
    v = json_real(0.0 / 0.0);
    assert_null(v); /* jansson refuses NaN: no NaN reaches oa_time_from_epoch from JSON */
    assert_int_equal(oa_time_from_epoch(0.0 / 0.0, OA_TIME_EPOCH_S, &t), -1);
    assert_int_equal(oa_time_from_json(NULL, OA_TIME_EPOCH_S, &t), -1);
    v = oa_time_to_json(pool, SEC(90), OA_TIME_EPOCH_MS);
    assert_int_equal(json_integer_value(v), 90000);
    json_decref(v);
    v = oa_time_to_json(pool, SEC(90), OA_TIME_RFC3339);
    assert_string_equal(json_string_value(v), "1970-01-01T00:01:30Z");
    json_decref(v);
}

static void test_durations(void **state)
{
    static const struct {
        const char *text;
        apr_interval_time_t usec; /* -1: refused */
    } cases[] = {
        {"0.847655010s", 847655},
        {"373.8ms", 373800},
        {"300s", APR_INT64_C(300000000)},
        {"1h2m3.5s", APR_INT64_C(3723500000)},
        {"1500us", 1500},
        {"2000ns", 2},
        {"0s", 0},
        {"", -1},
        {"5", -1},
        {"5x", -1},
        {"-5s", -1},
        {"1e3s", -1},
        {"0x10s", -1},
        {"infs", -1},
        {"9999h", -1}, /* past 400 days */
        {"s", -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        apr_interval_time_t d = -1;
        int rc = oa_duration_parse(cases[i].text, &d);
        if (cases[i].usec < 0 ? rc != -1 : rc != 0 || d != cases[i].usec)
            fail_msg("'%s': rc %d, %" APR_TIME_T_FMT, cases[i].text, rc, d);
    }
    assert_int_equal(oa_duration_parse(NULL, NULL), -1);
}

static void test_retry_after(void **state)
{
    apr_table_t *h = apr_table_make(pool, 2);
    apr_time_t now = SEC(1000000);

    assert_int_equal(oa_time_retry_after(NULL, now), 0);
    assert_int_equal(oa_time_retry_after(h, now), 0);
    apr_table_set(h, "Retry-After", "30");
    assert_int_equal(oa_time_retry_after(h, now), now + SEC(30));
    apr_table_set(h, "Retry-After-Ms", "1500");
    assert_int_equal(oa_time_retry_after(h, now), now + 1500000);
    apr_table_unset(h, "Retry-After-Ms");
    apr_table_set(h, "Retry-After", "Mon, 12 Jan 1970 19:46:40 GMT");
    assert_int_equal(oa_time_retry_after(h, now), SEC(1000000 + 6 * 3600));
    apr_table_set(h, "Retry-After", "0");
    assert_int_equal(oa_time_retry_after(h, now), 0);
    apr_table_set(h, "Retry-After", "soon");
    assert_int_equal(oa_time_retry_after(h, now), 0);
    apr_table_set(h, "Retry-After", "999999999999");
    assert_int_equal(oa_time_retry_after(h, now), now + SEC(400 * 86400));
}

static void test_fingerprint(void **state)
{
    const char *a = oa_fingerprint(pool, "sk-ant-oat01-FAKE");
    const char *b = oa_fingerprint(pool, "sk-ant-oat01-FAKF");

    /* sha256("abc") = ba7816bf8f01cfea... */
    assert_string_equal(oa_fingerprint(pool, "abc"), "sha256:ba7816bf8f01");
    assert_int_equal(strlen(a), 7 + OA_FINGERPRINT_HEX);
    assert_string_not_equal(a, b);
    assert_null(strstr(a, "FAKE"));
    assert_string_equal(oa_fingerprint(pool, ""), "-");
    assert_string_equal(oa_fingerprint(pool, NULL), "-");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_claims),      cmocka_unit_test(test_claim_bounds),
        cmocka_unit_test(test_not_jwts),    cmocka_unit_test(test_size_bound),
        cmocka_unit_test(test_base64url),   cmocka_unit_test(test_rfc3339),
        cmocka_unit_test(test_json_times),  cmocka_unit_test(test_durations),
        cmocka_unit_test(test_retry_after), cmocka_unit_test(test_fingerprint),
    };
    apr_initialize();
    atexit(apr_terminate);
    return cmocka_run_group_tests(tests, setup, teardown);
}
