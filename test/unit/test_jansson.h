/*
 * test_jansson.h: jansson trees released with an APR pool, for tests that check the
 * translate core's JSON output with an independent parser.
 */
#ifndef TEST_JANSSON_H
#define TEST_JANSSON_H

#include <jansson.h>
#include "apr_pools.h"

static apr_status_t test_jansson_release(void *value)
{
    json_decref(value);
    return APR_SUCCESS;
}

/* text parsed by jansson (any value, NULs allowed), released with p; NULL when not JSON. */
static inline json_t *test_jansson_parse(apr_pool_t *p, const char *text, apr_size_t len)
{
    json_t *v = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (v)
        apr_pool_cleanup_register(p, v, test_jansson_release, apr_pool_cleanup_null);
    return v;
}

#endif /* TEST_JANSSON_H */
