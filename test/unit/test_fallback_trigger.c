/*
 * test_fallback_trigger.c: the one rule for when an answer moves a call on to an upstream's
 * next base URL (common/aip_fallback_trigger.c), which mod_aiproxy's attempts and
 * mod_aiproxy_oauth's Code Assist setup calls share: each trigger alone, the bounded and
 * case-blind match of the no-capacity text, and the answers no trigger covers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "aip_fallback_trigger.h"

#define ALL (AIP_FALLBACK_ON_NO_RESPONSE | AIP_FALLBACK_ON_429 | AIP_FALLBACK_ON_NO_CAPACITY)

static const char capacity[] =
    "{\"error\":{\"code\":503,\"message\":\"No capacity available for model x\"}}";

static int triggered(unsigned int triggers, int status, const char *body)
{
    return aip_fallback_triggered(triggers, status, body, body ? strlen(body) : 0);
}

static void test_each_trigger_alone(void **state)
{
    /* nothing came back: status 0 */
    assert_true(triggered(AIP_FALLBACK_ON_NO_RESPONSE, 0, NULL));
    assert_false(triggered(ALL & ~AIP_FALLBACK_ON_NO_RESPONSE, 0, NULL));
    assert_true(triggered(AIP_FALLBACK_ON_429, 429, NULL));
    assert_false(triggered(ALL & ~AIP_FALLBACK_ON_429, 429, NULL));
    assert_true(triggered(AIP_FALLBACK_ON_NO_CAPACITY, 503, capacity));
    assert_false(triggered(ALL & ~AIP_FALLBACK_ON_NO_CAPACITY, 503, capacity));
    /* no trigger set: never */
    assert_false(triggered(0, 0, NULL));
    assert_false(triggered(0, 429, NULL));
    assert_false(triggered(0, 503, capacity));
}

static void test_no_capacity_is_a_503_saying_so(void **state)
{
    /* any case, anywhere in the body */
    assert_true(triggered(ALL, 503, "no CAPACITY available"));
    assert_true(triggered(ALL, 503, "x: No capacity available"));
    /* another 503, or the text under another status */
    assert_false(triggered(ALL, 503, "{\"error\":{\"code\":503,\"message\":\"backend error\"}}"));
    assert_false(triggered(ALL, 503, NULL));
    assert_false(triggered(ALL, 503, ""));
    assert_false(triggered(ALL, 500, capacity));
    assert_false(triggered(ALL, 502, capacity));
}

static void test_the_body_is_read_within_its_length(void **state)
{
    /* only the start of an error body, not NUL-terminated: the match stays inside len */
    const char *at = strstr(capacity, "No capacity available");
    apr_size_t whole = (apr_size_t) (at - capacity) + strlen("No capacity available");

    assert_true(aip_fallback_triggered(ALL, 503, capacity, whole));
    assert_false(aip_fallback_triggered(ALL, 503, capacity, whole - 1));
    assert_false(aip_fallback_triggered(ALL, 503, capacity, 0));
}

static void test_other_answers_stay(void **state)
{
    static const int statuses[] = {200, 400, 401, 403, 404, 408, 500, 502, 504};

    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
        assert_false(triggered(ALL, statuses[i], capacity));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_trigger_alone),
        cmocka_unit_test(test_no_capacity_is_a_503_saying_so),
        cmocka_unit_test(test_the_body_is_read_within_its_length),
        cmocka_unit_test(test_other_answers_stay),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
