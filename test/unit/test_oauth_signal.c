/*
 * test_oauth_signal.c: what upstream answers say about the credential that made the attempt
 * (mod_aiproxy_oauth/oa_signal.c): each provider's quota and rate-limit shapes from
 * research/oauth.md, their reset times, and the status fallbacks.
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
#include "oa_signal.h"
#include "test_oauth.h"

#define NOW SEC(1790000000) /* 2026-09-21T14:13:20Z */
#define MS  1000

/* headers: "name: value" pairs, NULL-terminated (NULL: no headers). */
static oa_signal classify(oa_provider provider, int status, const char *const *headers,
                          const char *body)
{
    apr_table_t *h = NULL;
    oa_signal s;

    if (headers) {
        h = apr_table_make(pool, 4);
        for (; *headers; headers++) {
            const char *colon = strchr(*headers, ':');
            apr_table_set(h, apr_pstrmemdup(pool, *headers, (apr_size_t) (colon - *headers)),
                          colon + 2);
        }
    }
    oa_signal_classify(pool, provider, status, h, body, body ? strlen(body) : 0, NOW, &s);
    return s;
}

typedef struct {
    const char *name;
    oa_provider provider;
    int status;
    const char *headers[6];
    const char *body;
    oa_signal_kind kind;
    apr_time_t reset; /* microseconds after NOW; 0: none stated */
    const char *reason;
} signal_case;

static const signal_case cases[] = {
    {"codex usage limit, resets_at",
     OA_PROVIDER_CODEX,
     429,
     {NULL},
     "{\"error\":{\"type\":\"usage_limit_reached\",\"message\":\"The usage limit has been "
     "reached\",\"resets_at\":1790003600,\"resets_in_seconds\":10}}",
     OA_SIGNAL_QUOTA,
     SEC(3600),
     "usage_limit_reached"},
    {"codex usage limit, resets_in_seconds only",
     OA_PROVIDER_CODEX,
     429,
     {NULL},
     "{\"error\":{\"type\":\"usage_limit_reached\",\"resets_in_seconds\":120}}",
     OA_SIGNAL_QUOTA,
     SEC(120),
     "usage_limit_reached"},
    {"codex usage limit, resets_at past: resets_in_seconds",
     OA_PROVIDER_CODEX,
     429,
     {NULL},
     "{\"error\":{\"type\":\"usage_limit_reached\",\"resets_at\":5,\"resets_in_seconds\":7}}",
     OA_SIGNAL_QUOTA,
     SEC(7),
     "usage_limit_reached"},
    {"codex usage limit, no time: Retry-After",
     OA_PROVIDER_CODEX,
     429,
     {"Retry-After: 30", NULL},
     "{\"error\":{\"type\":\"usage_limit_reached\"}}",
     OA_SIGNAL_QUOTA,
     SEC(30),
     "usage_limit_reached"},
    {"codex per-minute rate limit",
     OA_PROVIDER_CODEX,
     429,
     {"Retry-After: 2", NULL},
     "{\"error\":{\"code\":\"rate_limit_exceeded\"}}",
     OA_SIGNAL_THROTTLED,
     SEC(2),
     "rate_limit_exceeded"},
    {"codex 429 of another kind",
     OA_PROVIDER_CODEX,
     429,
     {NULL},
     "{}",
     OA_SIGNAL_THROTTLED,
     0,
     "rate limited"},
    {"anthropic 429 without rejected windows",
     OA_PROVIDER_CLAUDECODE,
     429,
     {"retry-after: 9", "anthropic-ratelimit-unified-status: allowed", NULL},
     "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"m\"}}",
     OA_SIGNAL_THROTTLED,
     SEC(9),
     "rate_limit_error"},
    {"anthropic 5h window rejected: its reset, the latest of the rejected",
     OA_PROVIDER_CLAUDECODE,
     429,
     {"anthropic-ratelimit-unified-status: rejected",
      "anthropic-ratelimit-unified-5h-status: rejected",
      "anthropic-ratelimit-unified-5h-reset: 1790007200",
      "anthropic-ratelimit-unified-7d-status: allowed",
      "anthropic-ratelimit-unified-7d-reset: 1790500000", NULL},
     "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\"}}",
     OA_SIGNAL_QUOTA,
     SEC(7200),
     "rate_limit_error"},
    {"anthropic weekly window rejected, reset as a timestamp",
     OA_PROVIDER_CLAUDECODE,
     429,
     {"Anthropic-Ratelimit-Unified-7d-Status: rejected",
      "Anthropic-Ratelimit-Unified-7d-Reset: 2026-09-24T14:13:20Z",
      "anthropic-ratelimit-unified-5h-status: rejected",
      "anthropic-ratelimit-unified-5h-reset: 1790007200", NULL},
     NULL,
     OA_SIGNAL_QUOTA,
     SEC(3 * 86400),
     "rate_limit_error"},
    {"anthropic unified rejected, only the unified reset",
     OA_PROVIDER_CLAUDECODE,
     429,
     {"anthropic-ratelimit-unified-status: rejected",
      "anthropic-ratelimit-unified-reset: 1790000600", NULL},
     NULL,
     OA_SIGNAL_QUOTA,
     SEC(600),
     "rate_limit_error"},
    {"anthropic expired oauth token",
     OA_PROVIDER_CLAUDECODE,
     401,
     {NULL},
     "{\"type\":\"error\",\"error\":{\"type\":\"authentication_error\",\"message\":\"OAuth "
     "token has expired.\"}}",
     OA_SIGNAL_EXPIRED,
     0,
     "unauthorized"},
    {"anthropic overloaded: not the credential",
     OA_PROVIDER_CLAUDECODE,
     529,
     {NULL},
     "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\"}}",
     OA_SIGNAL_OK,
     0,
     "ok"},
    {"google rate limit, RetryInfo first",
     OA_PROVIDER_GEMINICLI,
     429,
     {NULL},
     "{\"error\":{\"code\":429,\"status\":\"RESOURCE_EXHAUSTED\",\"message\":\"m\",\"details\":["
     "{\"@type\":\"type.googleapis.com/google.rpc.ErrorInfo\",\"reason\":\"RATE_LIMIT_EXCEEDED\","
     "\"domain\":\"cloudcode-pa.googleapis.com\",\"metadata\":{\"quotaResetDelay\":\"373.8ms\"}},"
     "{\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":\"0.847655010s\"}]}}",
     OA_SIGNAL_THROTTLED,
     847655,
     "RATE_LIMIT_EXCEEDED"},
    {"google rate limit, quotaResetDelay only",
     OA_PROVIDER_GEMINICLI,
     429,
     {NULL},
     "{\"error\":{\"status\":\"RESOURCE_EXHAUSTED\",\"details\":["
     "{\"@type\":\"type.googleapis.com/google.rpc.ErrorInfo\",\"reason\":\"RATE_LIMIT_EXCEEDED\","
     "\"metadata\":{\"quotaResetDelay\":\"373.8ms\"}}]}}",
     OA_SIGNAL_THROTTLED,
     373800,
     "RATE_LIMIT_EXCEEDED"},
    {"antigravity rate limit under 3 s: wait it out, same credential",
     OA_PROVIDER_ANTIGRAVITY,
     429,
     {NULL},
     "{\"error\":{\"status\":\"RESOURCE_EXHAUSTED\",\"details\":["
     "{\"@type\":\"type.googleapis.com/google.rpc.ErrorInfo\",\"reason\":\"RATE_LIMIT_EXCEEDED\","
     "\"metadata\":{\"quotaResetDelay\":\"373.8ms\"}}]}}",
     OA_SIGNAL_RETRY,
     373800,
     "RATE_LIMIT_EXCEEDED"},
    {"antigravity rate limit of 2.9 s (RetryInfo): retry",
     OA_PROVIDER_ANTIGRAVITY,
     429,
     {NULL},
     "{\"error\":{\"status\":\"RESOURCE_EXHAUSTED\",\"details\":["
     "{\"@type\":\"type.googleapis.com/google.rpc.ErrorInfo\",\"reason\":\"RATE_LIMIT_EXCEEDED\"},"
     "{\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":\"2.9s\"}]}}",
     OA_SIGNAL_RETRY,
     2900000,
     "RATE_LIMIT_EXCEEDED"},
    {"antigravity rate limit of 3 s or more: cool down and switch",
     OA_PROVIDER_ANTIGRAVITY,
     429,
     {NULL},
     "{\"error\":{\"status\":\"RESOURCE_EXHAUSTED\",\"details\":["
     "{\"@type\":\"type.googleapis.com/google.rpc.ErrorInfo\",\"reason\":\"RATE_LIMIT_EXCEEDED\"},"
     "{\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":\"3s\"}]}}",
     OA_SIGNAL_THROTTLED,
     SEC(3),
     "RATE_LIMIT_EXCEEDED"},
    {"antigravity short delay without the RATE_LIMIT_EXCEEDED reason: cool down",
     OA_PROVIDER_ANTIGRAVITY,
     429,
     {NULL},
     "{\"error\":{\"status\":\"RESOURCE_EXHAUSTED\",\"details\":["
     "{\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":\"1s\"}]}}",
     OA_SIGNAL_THROTTLED,
     SEC(1),
     "RATE_LIMIT_EXCEEDED"},
    {"google rate limit, delay in the message",
     OA_PROVIDER_GEMINICLI,
     429,
     {NULL},
     "{\"error\":{\"status\":\"RESOURCE_EXHAUSTED\",\"message\":\"Please retry in 12.5s.\"}}",
     OA_SIGNAL_THROTTLED,
     12500000,
     "RATE_LIMIT_EXCEEDED"},
    {"google rate limit longer than 5 minutes is a quota",
     OA_PROVIDER_GEMINICLI,
     429,
     {NULL},
     "{\"error\":{\"status\":\"RESOURCE_EXHAUSTED\",\"details\":["
     "{\"@type\":\"type.googleapis.com/google.rpc.ErrorInfo\",\"reason\":\"RATE_LIMIT_EXCEEDED\"},"
     "{\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":\"3600s\"}]}}",
     OA_SIGNAL_QUOTA,
     SEC(3600),
     "QUOTA_EXHAUSTED"},
    {"google quota exhausted",
     OA_PROVIDER_ANTIGRAVITY,
     429,
     {NULL},
     "{\"error\":{\"status\":\"RESOURCE_EXHAUSTED\",\"details\":["
     "{\"@type\":\"type.googleapis.com/google.rpc.ErrorInfo\",\"reason\":\"QUOTA_EXHAUSTED\","
     "\"metadata\":{\"quotaResetDelay\":\"1h2m\"}}]}}",
     OA_SIGNAL_QUOTA,
     SEC(3720),
     "QUOTA_EXHAUSTED"},
    {"google daily quota failure",
     OA_PROVIDER_GEMINICLI,
     429,
     {NULL},
     "{\"error\":{\"status\":\"RESOURCE_EXHAUSTED\",\"details\":["
     "{\"@type\":\"type.googleapis.com/google.rpc.QuotaFailure\",\"violations\":["
     "{\"quotaId\":\"GenerateRequestsPerDayPerProjectPerModel\"}]}]}}",
     OA_SIGNAL_QUOTA,
     0,
     "daily quota"},
    {"google model capacity: not the credential",
     OA_PROVIDER_GEMINICLI,
     429,
     {NULL},
     "{\"error\":{\"status\":\"RESOURCE_EXHAUSTED\",\"details\":["
     "{\"@type\":\"type.googleapis.com/google.rpc.ErrorInfo\",\"reason\":\"MODEL_CAPACITY_"
     "EXHAUSTED\"}]}}",
     OA_SIGNAL_OK,
     0,
     "MODEL_CAPACITY_EXHAUSTED"},
    {"google 499 resource exhausted",
     OA_PROVIDER_GEMINICLI,
     499,
     {"Retry-After: 4", NULL},
     "{\"error\":{\"status\":\"RESOURCE_EXHAUSTED\"}}",
     OA_SIGNAL_THROTTLED,
     SEC(4),
     "RATE_LIMIT_EXCEEDED"},
    {"google permission denied",
     OA_PROVIDER_GEMINICLI,
     403,
     {NULL},
     "{\"error\":{\"code\":403,\"status\":\"PERMISSION_DENIED\"}}",
     OA_SIGNAL_REFUSED,
     0,
     "forbidden"},
    /* 2026-09-21 -> 2026-10-01T00:00:00Z = 1790812800. */
    {"kiro monthly quota",
     OA_PROVIDER_KIRO,
     402,
     {NULL},
     "{\"message\":\"limit\",\"reason\":\"MONTHLY_REQUEST_COUNT\"}",
     OA_SIGNAL_QUOTA,
     SEC(1790812800 - 1790000000),
     "MONTHLY_REQUEST_COUNT"},
    {"kiro 402 without a body",
     OA_PROVIDER_KIRO,
     402,
     {NULL},
     NULL,
     OA_SIGNAL_QUOTA,
     SEC(1790812800 - 1790000000),
     "monthly quota"},
    {"kiro 403 about the bearer token",
     OA_PROVIDER_KIRO,
     403,
     {NULL},
     "{\"message\":\"The bearer token included in the request is invalid.\"}",
     OA_SIGNAL_EXPIRED,
     0,
     "token refused"},
    {"kiro 403 otherwise",
     OA_PROVIDER_KIRO,
     403,
     {NULL},
     "{\"message\":\"AccessDenied\"}",
     OA_SIGNAL_REFUSED,
     0,
     "forbidden"},
    {"kiro 429", OA_PROVIDER_KIRO, 429, {NULL}, NULL, OA_SIGNAL_THROTTLED, 0, "rate limited"},
    {"success",
     OA_PROVIDER_CODEX,
     200,
     {NULL},
     "{\"error\":{\"type\":\"usage_limit_reached\"}}",
     OA_SIGNAL_OK,
     0,
     "ok"},
    {"a 400 is the router's", OA_PROVIDER_CODEX, 400, {NULL}, "{}", OA_SIGNAL_OK, 0, "ok"},
    {"no provider: the status alone",
     OA_PROVIDER_NONE,
     401,
     {NULL},
     NULL,
     OA_SIGNAL_EXPIRED,
     0,
     "unauthorized"},
};

static void test_signals(void **state)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const signal_case *c = &cases[i];
        oa_signal s = classify(c->provider, c->status, c->headers[0] ? c->headers : NULL, c->body);
        apr_time_t want = c->reset ? NOW + c->reset : 0;

        if (s.kind != c->kind)
            fail_msg("%s: kind %s", c->name, oa_signal_kind_name(s.kind));
        if (s.reset_at != want)
            fail_msg("%s: reset %" APR_TIME_T_FMT ", want %" APR_TIME_T_FMT, c->name, s.reset_at,
                     want);
        if (strcmp(s.reason, c->reason))
            fail_msg("%s: reason %s", c->name, s.reason);
    }
}

/* Kiro's quota ends at the next month's start, also across a year. */
static void test_kiro_december(void **state)
{
    apr_table_t *h = apr_table_make(pool, 1);
    oa_signal s;

    /* 2026-12-31T23:00:00Z -> 2027-01-01T00:00:00Z */
    oa_signal_classify(pool, OA_PROVIDER_KIRO, 402, h, NULL, 0, SEC(1798758000), &s);
    assert_int_equal(s.reset_at, SEC(1798761600));
}

/* A reset past 400 days is capped; nonsense is ignored. */
static void test_reset_bounds(void **state)
{
    oa_signal s = classify(OA_PROVIDER_CODEX, 429, NULL,
                           "{\"error\":{\"type\":\"usage_limit_reached\",\"resets_at\":9e15}}");
    assert_int_equal(s.reset_at, 0);
    s = classify(OA_PROVIDER_CODEX, 429, NULL,
                 "{\"error\":{\"type\":\"usage_limit_reached\",\"resets_at\":253402300799}}");
    assert_int_equal(s.reset_at, NOW + SEC(400 * 86400));
    s = classify(OA_PROVIDER_CODEX, 429, NULL,
                 "{\"error\":{\"type\":\"usage_limit_reached\",\"resets_in_seconds\":-3}}");
    assert_int_equal(s.reset_at, 0);
}

static void test_kind_names(void **state)
{
    assert_string_equal(oa_signal_kind_name(OA_SIGNAL_OK), "ok");
    assert_string_equal(oa_signal_kind_name(OA_SIGNAL_QUOTA), "quota");
    assert_string_equal(oa_signal_kind_name(OA_SIGNAL_RETRY), "retry");
    assert_string_equal(oa_signal_kind_name((oa_signal_kind) 99), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signals),
        cmocka_unit_test(test_kiro_december),
        cmocka_unit_test(test_reset_bounds),
        cmocka_unit_test(test_kind_names),
    };
    apr_initialize();
    atexit(apr_terminate);
    return cmocka_run_group_tests(tests, setup, teardown);
}
