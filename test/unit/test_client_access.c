/*
 * Unit tests of what mod_aiproxy's core decides about client access: readiness of the
 * configured models (GET /readyz), the health routes, client keys' settings and scopes, and
 * the per-minute counters' arithmetic.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "apr_general.h"
#include "apr_strings.h"
#include "aip_client_key.h"
#include "aip_config.h"
#include "aip_health.h"
#include "aip_route.h"

static apr_pool_t *pool;

static aip_upstream *upstream(aip_config *cfg, const char *name, const char *models)
{
    aip_upstream *up = aip_upstream_create(pool, name, "http://127.0.0.1:1");
    assert_null(aip_upstream_set(pool, up, "token", "t"));
    if (models)
        assert_null(aip_upstream_set(pool, up, "models", models));
    up->index = cfg->upstreams->nelts;
    APR_ARRAY_PUSH(cfg->upstreams, aip_upstream *) = up;
    return up;
}

/* ready: a comma list of "upstream/model" pairs that are in rotation ("upstream/" for all). */
static int ready_from_list(void *ctx, const aip_upstream *up, const char *model)
{
    const char *pair = apr_pstrcat(pool, ",", up->name, "/", model, ",", NULL);
    const char *all = apr_pstrcat(pool, ",", up->name, "/,", NULL);
    const char *list = apr_pstrcat(pool, ",", (const char *) ctx, ",", NULL);
    return strstr(list, pair) || strstr(list, all);
}

static const char *joined(apr_array_header_t *names)
{
    return apr_array_pstrcat(pool, names, ' ');
}

static void test_health_routes(void **state)
{
    aip_route route;
    (void) state;
    assert_int_equal(aip_route_find(pool, "/livez", NULL, &route, NULL), AIP_ROUTE_MATCHED);
    assert_int_equal(route.kind, AIP_ROUTE_LIVEZ);
    assert_string_equal(route.method, "GET");
    assert_int_equal(aip_route_find(pool, "/ai/readyz", NULL, &route, NULL), AIP_ROUTE_MATCHED);
    assert_int_equal(route.kind, AIP_ROUTE_READYZ);
    assert_int_equal(aip_route_find(pool, "/readyz/x", NULL, &route, NULL), AIP_ROUTE_UNKNOWN);
}

static void test_health_models(void **state)
{
    aip_config *cfg = aip_config_create(pool);
    (void) state;
    assert_int_equal(aip_health_models(pool, cfg)->nelts, 0);
    upstream(cfg, "a", "m1,m2");
    upstream(cfg, "b", "m2,m3");
    assert_string_equal(joined(aip_health_models(pool, cfg)), "m1 m2 m3");
    upstream(cfg, "any", NULL);
    assert_string_equal(joined(aip_health_models(pool, cfg)), "m1 m2 m3 *");
}

static void test_health_unready(void **state)
{
    aip_config *cfg = aip_config_create(pool);
    (void) state;
    upstream(cfg, "a", "m1,m2");
    upstream(cfg, "b", "m2,m3");
    assert_string_equal(joined(aip_health_unready_models(pool, cfg, ready_from_list, "a/,b/")), "");
    /* m2 still has b; m1 has no other upstream */
    assert_string_equal(joined(aip_health_unready_models(pool, cfg, ready_from_list, "b/")), "m1");
    /* an open circuit is per model: b/m3 only */
    assert_string_equal(
        joined(aip_health_unready_models(pool, cfg, ready_from_list, "a/m1,a/m2,b/m2")), "m3");
    assert_string_equal(joined(aip_health_unready_models(pool, cfg, ready_from_list, "")),
                        "m1 m2 m3");
    /* an upstream serving every model covers the named ones too */
    upstream(cfg, "any", NULL);
    assert_string_equal(joined(aip_health_unready_models(pool, cfg, ready_from_list, "any/")), "");
    assert_string_equal(joined(aip_health_unready_models(pool, cfg, ready_from_list, "a/,b/")),
                        "*");
}

static aip_client_key *client_key(aip_config *cfg, const char *key, const char *const *settings)
{
    aip_client_key *k = aip_config_add_client_key(cfg, key);
    for (; settings && *settings; settings += 2)
        assert_null(aip_client_key_set(pool, k, settings[0], settings[1]));
    return k;
}

static void test_client_key_settings(void **state)
{
    aip_config *cfg = aip_config_create(pool);
    aip_client_key *k = aip_config_add_client_key(cfg, "sk-key-0001");
    (void) state;
    assert_int_equal(k->limit_slot, -1);
    assert_null(aip_client_key_set(pool, k, "models", "gpt-4o, claude-*"));
    assert_int_equal(k->models->nelts, 2);
    assert_null(aip_client_key_set(pool, k, "RPM", "60"));
    assert_null(aip_client_key_set(pool, k, "tpm", "100000"));
    assert_int_equal(k->rpm, 60);
    assert_int_equal(k->tpm, 100000);
    assert_ptr_equal(aip_client_key_set(pool, k, "weight", "1"), AIP_NOT_OURS);
    assert_non_null(strstr(aip_client_key_set(pool, k, "rpm", "0"), "whole number"));
    assert_non_null(strstr(aip_client_key_set(pool, k, "rpm", "5x"), "whole number"));
    assert_non_null(strstr(aip_client_key_set(pool, k, "tpm", ""), "whole number"));
    assert_non_null(aip_client_key_set(pool, k, "models", " , "));
}

static void test_client_key_find_and_scope(void **state)
{
    static const char *const scoped[] = {"models", "gpt-*,claude-sonnet-4-5", NULL};
    aip_config *cfg = aip_config_create(pool);
    const aip_client_key *a = client_key(cfg, "sk-scoped-01", scoped);
    const aip_client_key *b = client_key(cfg, "sk-every-002", NULL);
    (void) state;
    assert_ptr_equal(aip_config_find_client_key(cfg, "sk-scoped-01"), a);
    assert_ptr_equal(aip_config_find_client_key(cfg, "sk-every-002"), b);
    assert_null(aip_config_find_client_key(cfg, "sk-every-00"));
    assert_null(aip_config_find_client_key(cfg, NULL));
    assert_true(aip_client_key_allows(a, "gpt-4o"));
    assert_true(aip_client_key_allows(a, "claude-sonnet-4-5"));
    assert_false(aip_client_key_allows(a, "claude-opus-4-5"));
    assert_false(aip_client_key_allows(a, "my-gpt-4o"));
    assert_false(aip_client_key_allows(a, NULL));
    assert_true(aip_client_key_allows(b, "anything"));
    assert_true(aip_client_key_allows(NULL, "anything")); /* open gateway */
}

static void test_rate_requests_per_minute(void **state)
{
    static const char *const limits[] = {"rpm", "2", NULL};
    aip_config *cfg = aip_config_create(pool);
    const aip_client_key *k = client_key(cfg, "sk-limited-1", limits);
    aip_key_counters c;
    apr_int64_t t = 600 * 60 + 15; /* 15 s into a minute */
    aip_rate_status st;
    (void) state;
    memset(&c, 0, sizeof(c));
    st = aip_rate_admit(&c, k, t);
    assert_true(st.admitted);
    assert_int_equal(st.limit_requests, 2);
    assert_int_equal(st.remaining_requests, 1);
    assert_int_equal(st.limit_tokens, 0);
    assert_int_equal(st.reset_seconds, 45);
    assert_true(aip_rate_admit(&c, k, t + 1).admitted);
    st = aip_rate_admit(&c, k, t + 44);
    assert_false(st.admitted);
    assert_false(st.over_tokens);
    assert_int_equal(st.remaining_requests, 0);
    assert_int_equal(st.reset_seconds, 1);
    /* the next minute starts from zero */
    st = aip_rate_admit(&c, k, t + 45);
    assert_true(st.admitted);
    assert_int_equal(st.remaining_requests, 1);
    assert_int_equal(st.reset_seconds, 60);
}

static void test_rate_tokens_per_minute(void **state)
{
    static const char *const limits[] = {"tpm", "100", NULL};
    aip_config *cfg = aip_config_create(pool);
    const aip_client_key *k = client_key(cfg, "sk-limited-2", limits);
    aip_key_counters c;
    apr_int64_t t = 700 * 60;
    aip_rate_status st;
    (void) state;
    memset(&c, 0, sizeof(c));
    st = aip_rate_admit(&c, k, t);
    assert_true(st.admitted);
    assert_int_equal(st.remaining_tokens, 100);
    aip_rate_add_tokens(&c, 60, t + 1);
    st = aip_rate_admit(&c, k, t + 2);
    assert_true(st.admitted); /* under the limit when it starts, whatever it will use */
    assert_int_equal(st.remaining_tokens, 40);
    aip_rate_add_tokens(&c, 70, t + 3);
    st = aip_rate_admit(&c, k, t + 4);
    assert_false(st.admitted);
    assert_true(st.over_tokens);
    assert_int_equal(st.remaining_tokens, 0);
    /* tokens of an earlier minute do not count; huge counts saturate instead of wrapping */
    aip_rate_add_tokens(&c, 0x1ffffffffULL, t + 59);
    assert_false(aip_rate_admit(&c, k, t + 59).admitted);
    assert_true(aip_rate_admit(&c, k, t + 60).admitted);
}

static void test_rate_reset_text(void **state)
{
    (void) state;
    assert_string_equal(aip_rate_reset_text(pool, 1), "1s");
    assert_string_equal(aip_rate_reset_text(pool, 59), "59s");
    assert_string_equal(aip_rate_reset_text(pool, 60), "1m0s");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_routes),
        cmocka_unit_test(test_health_models),
        cmocka_unit_test(test_health_unready),
        cmocka_unit_test(test_client_key_settings),
        cmocka_unit_test(test_client_key_find_and_scope),
        cmocka_unit_test(test_rate_requests_per_minute),
        cmocka_unit_test(test_rate_tokens_per_minute),
        cmocka_unit_test(test_rate_reset_text),
    };
    int failed;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    failed = cmocka_run_group_tests(tests, NULL, NULL);
    apr_pool_destroy(pool);
    apr_terminate();
    return failed;
}
