/*
 * test_base_fallback.c: an upstream's fallback base URLs (mod_aiproxy/aip_base_fallback.c):
 * which api types get which by default, fallback_base= parsing and its checks, the headers
 * each position is spoken to with, and which failures move an attempt on to the next base
 * (the api type's triggers; how each failure is recognised: test_fallback_trigger.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "apr_general.h"
#include "apr_strings.h"
#include "aip_base_fallback.h"
#include "aip_config.h"

static apr_pool_t *pool;

#define CODEWHISPERER "https://codewhisperer.us-east-1.amazonaws.com"
#define CLOUDCODE     "https://cloudcode-pa.googleapis.com"

/* An upstream of api type with the settings given (key, value pairs, NULL-terminated),
 * resolved as aip_define_upstream does; base NULL: the api type's default. */
static aip_upstream *upstream(const char *api, const char *base, ...)
{
    aip_upstream *up = aip_upstream_create(pool, "up", base ? base : "");
    va_list ap;
    const char *key;

    assert_null(aip_upstream_set(pool, up, "api", api));
    va_start(ap, base);
    while ((key = va_arg(ap, const char *)) != NULL)
        assert_null(aip_upstream_set(pool, up, key, va_arg(ap, const char *)));
    va_end(ap);
    assert_null(aip_base_fallback_check(pool, up));
    if (!base)
        up->base_url = aip_upstream_default_base_url(up);
    aip_base_fallback_resolve(pool, up, base == NULL);
    return up;
}

static const aip_fallback_base *fallback(const aip_upstream *up, int i)
{
    return &APR_ARRAY_IDX(up->fallbacks, i, aip_fallback_base);
}

static const char *header(const aip_fallback_base *fb, const char *name)
{
    for (const aip_header *h = fb->headers; h && h->name; h++) {
        if (!strcasecmp(h->name, name))
            return h->value;
    }
    return NULL;
}

static void test_default_bases_get_the_api_types_fallbacks(void **state)
{
    aip_upstream *kiro = upstream("kiro", NULL, "auth_file", "k.json", NULL);
    aip_upstream *ag = upstream("antigravity", NULL, "auth_file", "a.json", NULL);

    assert_string_equal(kiro->base_url, "https://q.us-east-1.amazonaws.com");
    assert_int_equal(kiro->fallbacks->nelts, 1);
    assert_string_equal(fallback(kiro, 0)->url, CODEWHISPERER);
    assert_string_equal(fallback(kiro, 0)->route, "up-fallback1");
    assert_string_equal(header(fallback(kiro, 0), "Content-Type"), "application/x-amz-json-1.0");
    assert_string_equal(header(fallback(kiro, 0), "X-Amz-Target"),
                        "AmazonCodeWhispererStreamingService.GenerateAssistantResponse");

    assert_string_equal(ag->base_url, "https://daily-cloudcode-pa.googleapis.com");
    assert_int_equal(ag->fallbacks->nelts, 1);
    assert_string_equal(fallback(ag, 0)->url, CLOUDCODE);
    assert_null(fallback(ag, 0)->headers);
}

static void test_a_base_of_ones_own_has_none_unless_listed(void **state)
{
    aip_upstream *own = upstream("kiro", "http://127.0.0.1:9/q", "auth_file", "k.json", NULL);
    aip_upstream *listed = upstream("kiro", "http://127.0.0.1:9/q", "auth_file", "k.json",
                                    "fallback_base", " http://127.0.0.1:9/cw/ , http://h2", NULL);
    aip_upstream *off = upstream("antigravity", NULL, "fallback_base", "off", NULL);
    aip_upstream *other = upstream("geminicli", NULL, "auth_file", "g.json", NULL);

    assert_int_equal(own->fallbacks->nelts, 0);
    assert_int_equal(listed->fallbacks->nelts, 2);
    /* trimmed, without the trailing slash (the request path is appended) */
    assert_string_equal(fallback(listed, 0)->url, "http://127.0.0.1:9/cw");
    assert_string_equal(fallback(listed, 1)->url, "http://h2");
    assert_string_equal(fallback(listed, 1)->route, "up-fallback2");
    /* each position is spoken to as the row's; past the row's last, as its last */
    assert_string_equal(header(fallback(listed, 0), "Content-Type"), "application/x-amz-json-1.0");
    assert_string_equal(header(fallback(listed, 1), "Content-Type"), "application/x-amz-json-1.0");
    assert_int_equal(off->fallbacks->nelts, 0);
    assert_int_equal(other->fallbacks->nelts, 0);
    assert_int_equal(other->fallback_triggers, 0);
}

static void test_fallback_base_setting_is_checked(void **state)
{
    aip_upstream *up = aip_upstream_create(pool, "up", "");

    assert_non_null(aip_upstream_set(pool, up, "fallback_base", "ftp://x"));
    assert_non_null(aip_upstream_set(pool, up, "fallback_base", ","));
    up = aip_upstream_create(pool, "up", "");
    assert_non_null(aip_upstream_set(pool, up, "fallback_base",
                                     "http://a,http://b,http://c,http://d,http://e"));
    /* an api type without a row may not list any */
    up = aip_upstream_create(pool, "up", "http://x");
    assert_null(aip_upstream_set(pool, up, "fallback_base", "http://y"));
    assert_null(aip_upstream_set(pool, up, "api", "openai"));
    assert_null(aip_upstream_set(pool, up, "token", "k"));
    assert_non_null(aip_upstream_check(pool, up));
    assert_non_null(strstr(aip_upstream_check(pool, up), "fallback_base="));
}

static void test_which_failures_move_on(void **state)
{
    static const char capacity[] =
        "{\"error\":{\"code\":503,\"message\":\"No capacity available for model x\"}}";
    static const char other_503[] = "{\"error\":{\"code\":503,\"message\":\"backend error\"}}";
    aip_upstream *kiro = upstream("kiro", NULL, "auth_file", "k.json", NULL);
    aip_upstream *ag = upstream("antigravity", NULL, "auth_file", "a.json", NULL);
    aip_upstream *gc = upstream("geminicli", NULL, "auth_file", "g.json", NULL);
    static const struct {
        aip_failure_kind kind;
        int status;
        const char *body;
        int kiro, antigravity;
    } cases[] = {
        {AIP_FAILURE_NO_RESPONSE, 0, NULL, 1, 1},  {AIP_FAILURE_STATUS, 429, NULL, 1, 1},
        {AIP_FAILURE_STATUS, 503, capacity, 0, 1}, {AIP_FAILURE_STATUS, 503, other_503, 0, 0},
        {AIP_FAILURE_STATUS, 503, NULL, 0, 0},     {AIP_FAILURE_STATUS, 500, capacity, 0, 0},
        {AIP_FAILURE_STATUS, 400, NULL, 0, 0},     {AIP_FAILURE_STATUS, 403, NULL, 0, 0},
        {AIP_FAILURE_ERROR_EVENT, 0, NULL, 0, 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        apr_size_t len = cases[i].body ? strlen(cases[i].body) : 0;
        assert_int_equal(
            aip_base_fallback_wanted(kiro, cases[i].kind, cases[i].status, cases[i].body, len),
            cases[i].kiro);
        assert_int_equal(
            aip_base_fallback_wanted(ag, cases[i].kind, cases[i].status, cases[i].body, len),
            cases[i].antigravity);
        assert_int_equal(
            aip_base_fallback_wanted(gc, cases[i].kind, cases[i].status, cases[i].body, len), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_bases_get_the_api_types_fallbacks),
        cmocka_unit_test(test_a_base_of_ones_own_has_none_unless_listed),
        cmocka_unit_test(test_fallback_base_setting_is_checked),
        cmocka_unit_test(test_which_failures_move_on),
    };
    int failed;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    failed = cmocka_run_group_tests(tests, NULL, NULL);
    apr_pool_destroy(pool);
    apr_terminate();
    return failed;
}
