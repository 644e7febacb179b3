/*
 * Unit tests of the shared breaker state's pure core (aip_shared.c): store specs from the
 * directive and the YAML URL, namespaced keys, the record encoding, which local changes are
 * published, and how a record read from the store is applied.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "apr_general.h"
#include "apr_strings.h"
#include "aip_shared.h"

static apr_pool_t *pool;

static void test_parse_directive(void **state)
{
    aip_shared_spec spec;

    assert_null(aip_shared_parse(pool, "redis", "127.0.0.1:6379", &spec));
    assert_string_equal(spec.provider, "redis");
    assert_string_equal(spec.address, "127.0.0.1:6379");
    assert_null(aip_shared_parse(pool, "memcache", "a:11211,b:11211", &spec));
    assert_string_equal(spec.provider, "memcache");
    assert_null(aip_shared_parse(pool, "MemCacheD", "localhost", &spec));
    assert_string_equal(spec.provider, "memcache");
    assert_null(aip_shared_parse(pool, "none", NULL, &spec));
    assert_null(spec.provider);

    assert_non_null(aip_shared_parse(pool, "none", "x:1", &spec));
    assert_non_null(aip_shared_parse(pool, "redis", NULL, &spec));
    assert_non_null(aip_shared_parse(pool, "redis", "", &spec));
    assert_non_null(aip_shared_parse(pool, "redis", ":6379", &spec));
    assert_non_null(aip_shared_parse(pool, "redis", "h:notaport", &spec));
    assert_non_null(aip_shared_parse(pool, "etcd", "h:1", &spec));
}

static void test_parse_url(void **state)
{
    static const struct {
        const char *url, *provider, *address; /* provider NULL: an error (or none) */
        int ok;
    } cases[] = {
        {"redis://127.0.0.1:6379", "redis", "127.0.0.1:6379", 1},
        {"redis://127.0.0.1:6379/", "redis", "127.0.0.1:6379", 1},
        {"memcache://cache:11211", "memcache", "cache:11211", 1},
        {"memcached://cache", "memcache", "cache", 1},
        {"none", NULL, NULL, 1},
        {"redis://user:secret@host:6379", NULL, NULL, 0},
        {"redis://host:6379/0", NULL, NULL, 0},
        {"rediss://host:6379", NULL, NULL, 0},
        {"host:6379", NULL, NULL, 0},
        {"redis://", NULL, NULL, 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        aip_shared_spec spec = {"x", "x"};
        const char *msg = aip_shared_parse_url(pool, cases[i].url, &spec);
        if (!cases[i].ok) {
            assert_non_null(msg);
            continue;
        }
        assert_null(msg);
        if (!cases[i].provider) {
            assert_null(spec.provider);
            continue;
        }
        assert_string_equal(spec.provider, cases[i].provider);
        assert_string_equal(spec.address, cases[i].address);
    }
}

static void test_keys(void **state)
{
    char model[300];
    const char *a, *b;

    assert_string_equal(aip_shared_key(pool, AIP_BREAKER_MODEL, "openai", "gpt-4o"),
                        "aiproxy:v1:breaker:openai:gpt-4o");
    assert_string_equal(aip_shared_key(pool, AIP_BREAKER_TOKEN, "openai", "2"),
                        "aiproxy:v1:token:openai:2");
    /* long names are cut and hashed: bounded, and still distinct */
    memset(model, 'm', sizeof(model) - 1);
    model[sizeof(model) - 1] = '\0';
    a = aip_shared_key(pool, AIP_BREAKER_MODEL, "u", model);
    model[250] = 'x';
    b = aip_shared_key(pool, AIP_BREAKER_MODEL, "u", model);
    assert_int_equal(strlen(a), AIP_SHARED_ID_MAX);
    assert_int_equal(strlen(b), AIP_SHARED_ID_MAX);
    assert_string_not_equal(a, b);
    assert_memory_equal(a, "aiproxy:v1:breaker:u:mmm", 24);
    model[250] = 'm';
    assert_string_equal(a, aip_shared_key(pool, AIP_BREAKER_MODEL, "u", model)); /* stable */
}

static void test_record_round_trip(void **state)
{
    aip_shared_record rec = {.open_until = 4000000000u, .failures = 3, .status = 502}, back;
    char buf[AIP_SHARED_VALUE_MAX];
    apr_size_t len = aip_shared_encode(&rec, buf, sizeof(buf));

    assert_true(len > 0);
    assert_memory_equal(buf, "v1 4000000000 3 502", len);
    assert_int_equal(aip_shared_decode(buf, len, &back), 0);
    assert_int_equal(back.open_until, rec.open_until);
    assert_int_equal(back.failures, 3);
    assert_int_equal(back.status, 502);
    assert_int_equal(aip_shared_encode(&rec, buf, 5), 0);
}

static void test_record_rejects_garbage(void **state)
{
    static const char *bad[] = {
        "",
        "v1",
        "v1 ",
        "v2 1 2 3",
        "v1 1 2",
        "v1 1 2 3 4",
        "v1 1 2 3 ",
        "v1 -1 2 3",
        "v1 1  2 3",
        "v1 4294967296 1 1",
        "v1 1 2 x",
        "V1 1 2 3",
        "v1 99999999999 1 1",
    };
    aip_shared_record rec = {.open_until = 7};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(aip_shared_decode(bad[i], strlen(bad[i]), &rec), -1);
        assert_int_equal(rec.open_until, 7);
    }
    /* not NUL-terminated: only len bytes are read */
    assert_int_equal(aip_shared_decode("v1 5 6 7XYZ", 8, &rec), 0);
    assert_int_equal(rec.status, 7);
}

static void test_after_change(void **state)
{
    aip_breaker_slot slot = {.open_until = 0};
    const apr_uint32_t now = 1000;

    /* failures below the threshold: nothing to publish */
    aip_breaker_record_failure(&slot, now, 3, 30, 0, 502);
    assert_int_equal(aip_shared_after_change(0, &slot, now), AIP_SHARED_KEEP);
    aip_breaker_record_failure(&slot, now, 3, 30, 0, 502);
    aip_breaker_record_failure(&slot, now, 3, 30, 0, 502);
    assert_int_equal(aip_shared_after_change(0, &slot, now), AIP_SHARED_STORE);
    /* held open longer: published again; unchanged: not */
    aip_breaker_hold_open(&slot, now, 60);
    assert_int_equal(aip_shared_after_change(now + 30, &slot, now), AIP_SHARED_STORE);
    assert_int_equal(aip_shared_after_change(now + 60, &slot, now), AIP_SHARED_KEEP);
    /* success does not close a circuit early: nothing to remove */
    aip_breaker_record_success(&slot);
    assert_int_equal(aip_shared_after_change(now + 60, &slot, now), AIP_SHARED_KEEP);
    /* reset closes it: removed */
    aip_breaker_reset(&slot);
    assert_int_equal(aip_shared_after_change(now + 60, &slot, now), AIP_SHARED_REMOVE);
    /* an expired circuit closing is nobody's news */
    assert_int_equal(aip_shared_after_change(now - 1, &slot, now), AIP_SHARED_KEEP);
    /* an opening shorter than a store second is not published */
    aip_breaker_hold_open(&slot, now, 1);
    assert_int_equal(aip_shared_after_change(0, &slot, now), AIP_SHARED_KEEP);
}

static void test_apply(void **state)
{
    aip_breaker_slot slot = {.open_until = 0};
    aip_shared_record rec = {.open_until = 1030, .failures = 3, .status = 503};
    aip_shared_record expired = {.open_until = 999, .failures = 9, .status = 500};

    assert_false(aip_breaker_is_open(&slot, 1000));
    assert_int_equal(aip_shared_apply(&slot, &expired, 1000), 0);
    assert_false(aip_breaker_is_open(&slot, 1000));
    assert_int_equal(aip_shared_apply(&slot, &rec, 1000), 1);
    assert_true(aip_breaker_is_open(&slot, 1000));
    assert_true(aip_breaker_is_open(&slot, 1029));
    assert_false(aip_breaker_is_open(&slot, 1030));
    assert_int_equal(slot.failures, 3);
    assert_int_equal(slot.last_status, 503);
    /* never shortens a longer local opening */
    aip_breaker_hold_open(&slot, 1000, 100);
    assert_int_equal(aip_shared_apply(&slot, &rec, 1000), 0);
    assert_int_equal(slot.open_until, 1100);
}

static void test_backoff(void **state)
{
    assert_int_equal(aip_shared_backoff(0), 5);
    assert_int_equal(aip_shared_backoff(1), 5);
    assert_int_equal(aip_shared_backoff(2), 10);
    assert_int_equal(aip_shared_backoff(3), 20);
    assert_int_equal(aip_shared_backoff(4), 40);
    assert_int_equal(aip_shared_backoff(5), 60);
    assert_int_equal(aip_shared_backoff(1000000), 60);
}

static void test_due(void **state)
{
    volatile apr_uint32_t next = 0;

    assert_true(aip_shared_due(&next, 100, 60));
    assert_false(aip_shared_due(&next, 100, 60));
    assert_false(aip_shared_due(&next, 159, 60));
    assert_true(aip_shared_due(&next, 160, 60));
    assert_int_equal(next, 220);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_directive),
        cmocka_unit_test(test_parse_url),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_record_round_trip),
        cmocka_unit_test(test_record_rejects_garbage),
        cmocka_unit_test(test_after_change),
        cmocka_unit_test(test_apply),
        cmocka_unit_test(test_due),
        cmocka_unit_test(test_backoff),
    };
    int failed;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    failed = cmocka_run_group_tests(tests, NULL, NULL);
    apr_terminate();
    return failed;
}
