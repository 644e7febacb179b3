/*
 * Unit tests of what mod_aiproxy's core decides about client access: readiness of the
 * configured models (GET /readyz), the health routes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "apr_general.h"
#include "apr_strings.h"
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_routes),
        cmocka_unit_test(test_health_models),
        cmocka_unit_test(test_health_unready),
    };
    int failed;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    failed = cmocka_run_group_tests(tests, NULL, NULL);
    apr_pool_destroy(pool);
    apr_terminate();
    return failed;
}
