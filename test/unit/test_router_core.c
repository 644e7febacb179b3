/*
 * Unit tests of mod_aiproxy's pure core: routes, the upstream model, weighted selection,
 * failover verdicts, Retry-After, circuit breakers, fallback chains and client keys.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "apr_general.h"
#include "apr_strings.h"
#include "apr_time.h"
#include "aip_breaker.h"
#include "aip_config.h"
#include "aip_failover.h"
#include "aip_keys.h"
#include "aip_route.h"
#include "aip_select.h"

static apr_pool_t *pool;

/* ---- routes --------------------------------------------------------------------------------- */

static void test_routes_table(void **state)
{
    static const struct {
        const char *path, *query;
        aip_route_kind kind;
        aiproxy_proto proto;
        const char *model, *variant;
        aiproxy_stream_mode stream;
    } cases[] = {
        {"/v1/messages", NULL, AIP_ROUTE_GENERATE, AIPROXY_PROTO_ANTHROPIC, NULL, NULL, 0},
        {"/v1/chat/completions", NULL, AIP_ROUTE_GENERATE, AIPROXY_PROTO_OPENAI, NULL, NULL, 0},
        {"/v1/responses", NULL, AIP_ROUTE_GENERATE, AIPROXY_PROTO_RESPONSES, NULL, NULL, 0},
        {"/v1/responses/compact", NULL, AIP_ROUTE_GENERATE, AIPROXY_PROTO_RESPONSES, NULL,
         "compact", 0},
        {"/v1beta/models/gemini-2.5-pro:generateContent", NULL, AIP_ROUTE_GENERATE,
         AIPROXY_PROTO_GEMINI, "gemini-2.5-pro", NULL, AIPROXY_STREAM_NONE},
        {"/v1/models/g:streamGenerateContent", "alt=sse", AIP_ROUTE_GENERATE, AIPROXY_PROTO_GEMINI,
         "g", NULL, AIPROXY_STREAM_SSE},
        {"/v1beta/models/g:streamGenerateContent", "key=x&alt=sse", AIP_ROUTE_GENERATE,
         AIPROXY_PROTO_GEMINI, "g", NULL, AIPROXY_STREAM_SSE},
        {"/v1beta/models/g:streamGenerateContent", "alt=sses", AIP_ROUTE_GENERATE,
         AIPROXY_PROTO_GEMINI, "g", NULL, AIPROXY_STREAM_JSON_ARRAY},
        /* a model name may carry '/': an upstream prefix, a vendor */
        {"/v1beta/models/team/gemini-2.5-pro:generateContent", NULL, AIP_ROUTE_GENERATE,
         AIPROXY_PROTO_GEMINI, "team/gemini-2.5-pro", NULL, AIPROXY_STREAM_NONE},
        {"/v1beta/models/a/b.c/d..e:streamGenerateContent", "alt=sse", AIP_ROUTE_GENERATE,
         AIPROXY_PROTO_GEMINI, "a/b.c/d..e", NULL, AIPROXY_STREAM_SSE},
        {"/v1/models", NULL, AIP_ROUTE_MODELS, AIPROXY_PROTO_OPENAI, NULL, NULL, 0},
        {"/v1beta/models", NULL, AIP_ROUTE_MODELS, AIPROXY_PROTO_GEMINI, NULL, NULL, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        aip_route route;
        assert_int_equal(aip_route_match(pool, cases[i].path, cases[i].query, &route),
                         AIP_ROUTE_MATCHED);
        assert_int_equal(route.kind, cases[i].kind);
        assert_int_equal(route.proto, cases[i].proto);
        if (cases[i].model)
            assert_string_equal(route.info.model, cases[i].model);
        if (cases[i].variant)
            assert_string_equal(route.info.variant, cases[i].variant);
        assert_int_equal(route.info.stream, cases[i].stream);
    }
}

/* Routes that ask a model something else than a generation name their operation. */
static void test_routes_operations(void **state)
{
    static const struct {
        const char *path;
        aiproxy_proto proto;
        aiproxy_operation operation;
        const char *model, *variant;
    } cases[] = {
        {"/v1/chat/completions", AIPROXY_PROTO_OPENAI, AIPROXY_OP_GENERATE, NULL, NULL},
        {"/v1/messages/count_tokens", AIPROXY_PROTO_ANTHROPIC, AIPROXY_OP_COUNT_TOKENS, NULL, NULL},
        {"/v1/completions", AIPROXY_PROTO_OPENAI, AIPROXY_OP_COMPLETE, NULL, NULL},
        {"/v1/embeddings", AIPROXY_PROTO_OPENAI, AIPROXY_OP_EMBED, NULL, NULL},
        {"/ai/v1/embeddings", AIPROXY_PROTO_OPENAI, AIPROXY_OP_EMBED, NULL, NULL},
        {"/v1beta/models/text-embedding-004:embedContent", AIPROXY_PROTO_GEMINI, AIPROXY_OP_EMBED,
         "text-embedding-004", NULL},
        {"/v1/models/e:batchEmbedContents", AIPROXY_PROTO_GEMINI, AIPROXY_OP_EMBED, "e", "batch"},
        {"/v1beta/models/g:generateContent", AIPROXY_PROTO_GEMINI, AIPROXY_OP_GENERATE, "g", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        aip_route route;
        assert_int_equal(aip_route_find(pool, cases[i].path, NULL, &route, NULL),
                         AIP_ROUTE_MATCHED);
        assert_int_equal(route.kind, AIP_ROUTE_GENERATE);
        assert_string_equal(route.method, "POST");
        assert_int_equal(route.proto, cases[i].proto);
        assert_int_equal(route.info.operation, cases[i].operation);
        assert_int_equal(route.info.stream, AIPROXY_STREAM_NONE);
        if (cases[i].model)
            assert_string_equal(route.info.model, cases[i].model);
        if (cases[i].variant)
            assert_string_equal(route.info.variant, cases[i].variant);
        else
            assert_null(route.info.variant);
    }
}

static void test_routes_unknown(void **state)
{
    static const char *const unknown[] = {
        "/",
        "/v1",
        "/v1/messages/",
        "/v1/messages/count",
        "/v1/completions/x",
        "/v1/embeddings/",
        "/v1beta/models/g:embedContents",
        "/v1beta/models/:generateContent",
        "/v1beta/models/a//b:generateContent",
        "/v1beta/models/a/:generateContent",
        "/v1beta/models//a:generateContent",
        "/v1beta/models/../a:generateContent",
        "/v1beta/models/a/./b:generateContent",
        "/v1beta/models/a/..:generateContent",
        "/v1beta/models/a:b/c",
        "/v1beta/models/g",
        "/v1/chat/completions/x",
    };
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        aip_route route;
        assert_int_equal(aip_route_match(pool, unknown[i], NULL, &route), AIP_ROUTE_UNKNOWN);
    }
}

/* The Gemini key in a URL never reaches a log: every "key" parameter's value is replaced,
 * its name compared decoded (as httpd's ap_args_to_table reads it), nothing else touched. */
static void test_route_redact_key(void **state)
{
    static const struct {
        const char *query, *redacted; /* NULL: nothing to redact */
    } cases[] = {
        {"key=secret", "key=REDACTED"},
        {"alt=sse&key=secret", "alt=sse&key=REDACTED"},
        {"key=a&alt=sse&key=b", "key=REDACTED&alt=sse&key=REDACTED"},
        {"k%65y=secret", "k%65y=REDACTED"},
        {"%6B%65%79=s&x=1", "%6B%65%79=REDACTED&x=1"},
        {"key=", "key=REDACTED"},
        {"key", NULL},
        {"keys=1&akey=2&ke=3", NULL},
        {"alt=sse", NULL},
        {"", NULL},
        {"&&key=x&", "&&key=REDACTED&"},
        {"k%6=1&%=2&key%3D=3", NULL},
    };

    (void) state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got = aip_route_redact_key(pool, cases[i].query);
        if (cases[i].redacted)
            assert_string_equal(got, cases[i].redacted);
        else
            assert_null(got);
    }
}

/* The passthrough route forwards the client's query without its key. */
static void test_route_without_key(void **state)
{
    static const struct {
        const char *query, *kept; /* NULL: nothing left */
    } cases[] = {
        {"key=secret", NULL},
        {"alt=sse&key=secret", "alt=sse"},
        {"key=a&alt=sse&k%65y=b&x=1", "alt=sse&x=1"},
        {"a=1&&key=x&b=2", "a=1&b=2"},
        {"keys=1&ke=2", "keys=1&ke=2"},
        {"", NULL},
    };

    (void) state;
    assert_null(aip_route_without_key(pool, NULL));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got = aip_route_without_key(pool, cases[i].query);
        if (cases[i].kept)
            assert_string_equal(got, cases[i].kept);
        else
            assert_null(got);
    }
}

static void test_route_guess(void **state)
{
    aip_client_hints none = {0, 0}, anthropic = {1, 0}, google = {0, 1};
    assert_int_equal(aip_route_guess_proto("/v1beta/x", &none), AIPROXY_PROTO_GEMINI);
    assert_int_equal(aip_route_guess_proto("/v1/x", &anthropic), AIPROXY_PROTO_ANTHROPIC);
    assert_int_equal(aip_route_guess_proto("/v1/x", &google), AIPROXY_PROTO_GEMINI);
    assert_int_equal(aip_route_guess_proto("/v1/responses/x", &none), AIPROXY_PROTO_RESPONSES);
    assert_int_equal(aip_route_guess_proto("/other", &none), AIPROXY_PROTO_OPENAI);
}

/* ---- upstream settings ---------------------------------------------------------------------- */

static aip_upstream *upstream(const char *name, int weight, const char *models)
{
    aip_upstream *up = aip_upstream_create(pool, name, "http://127.0.0.1:1");
    char w[16];
    apr_snprintf(w, sizeof(w), "%d", weight);
    assert_null(aip_upstream_set(pool, up, "token", "t"));
    assert_null(aip_upstream_set(pool, up, "weight", w));
    if (models)
        assert_null(aip_upstream_set(pool, up, "models", models));
    return up;
}

static void test_upstream_settings(void **state)
{
    aip_upstream *up = aip_upstream_create(pool, "u", "https://api.openai.com");

    assert_null(aip_upstream_set(pool, up, "api", "OpenAI"));
    assert_int_equal(up->proto, AIPROXY_PROTO_OPENAI);
    assert_null(aip_upstream_set(pool, up, "models", " a , b,,c "));
    assert_int_equal(up->models->nelts, 3);
    assert_string_equal(APR_ARRAY_IDX(up->models, 1, const char *), "b");
    assert_null(aip_upstream_set(pool, up, "map", "a=upstream-a"));
    assert_string_equal(aip_upstream_model(up, "a"), "upstream-a");
    assert_string_equal(aip_upstream_model(up, "b"), "b");
    assert_true(aip_upstream_serves(up, "c"));
    assert_false(aip_upstream_serves(up, "d"));
    assert_null(aip_upstream_set(pool, up, "header", "x-tenant-id:  acme"));
    assert_string_equal(APR_ARRAY_IDX(up->headers, 0, aip_header).name, "x-tenant-id");
    assert_string_equal(APR_ARRAY_IDX(up->headers, 0, aip_header).value, "acme");
    assert_null(aip_upstream_set(pool, up, "compression", "ZSTD"));
    assert_string_equal(up->compression, "zstd");
    assert_null(aip_upstream_set(pool, up, "enabled", "off"));
    assert_false(up->enabled);
    assert_ptr_equal(aip_upstream_set(pool, up, "timeout", "600"), AIP_NOT_OURS);
    assert_non_null(aip_upstream_check(pool, up)); /* no token yet */
    assert_null(aip_upstream_set(pool, up, "token", "k1"));
    assert_null(aip_upstream_check(pool, up));
}

static void test_upstream_setting_errors(void **state)
{
    aip_upstream *up = aip_upstream_create(pool, "u", "https://x");
    static const char *const bad[][2] = {
        {"api", "bedrock"}, {"auth_file", ""},    {"weight", "0"},        {"weight", "101"},
        {"weight", "3x"},   {"map", "nomapping"}, {"map", "=b"},          {"header", "novalue"},
        {"header", ": v"},  {"enabled", "maybe"}, {"compression", "lz4"}, {"token", ""},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *err = aip_upstream_set(pool, up, bad[i][0], bad[i][1]);
        assert_non_null(err);
        assert_ptr_not_equal(err, AIP_NOT_OURS);
    }
    assert_non_null(
        strstr(aip_upstream_set(pool, up, "header", "x: a\r\nInjected: b"), "line breaks"));
}

static void test_oauth_upstreams(void **state)
{
    aip_upstream *up = aip_upstream_create(pool, "cli", "");
    assert_null(aip_upstream_set(pool, up, "api", "geminicli"));
    assert_true(up->oauth);
    assert_int_equal(up->proto, AIPROXY_PROTO_GEMINI);
    assert_non_null(strstr(aip_upstream_check(pool, up), "auth_file"));
    assert_null(aip_upstream_set(pool, up, "auth_file", "/etc/aiproxy/cli.json"));
    assert_null(aip_upstream_check(pool, up)); /* no token needed */
    assert_string_equal(aip_upstream_default_base_url(up), "https://cloudcode-pa.googleapis.com");
    up = aip_upstream_create(pool, "k", "https://x");
    assert_null(aip_upstream_set(pool, up, "token", "t"));
    assert_null(aip_upstream_set(pool, up, "auth_file", "/f.json"));
    assert_non_null(strstr(aip_upstream_check(pool, up), "OAuth api types"));
    assert_null(aip_upstream_default_base_url(up));
}

static int bench_odd(void *baton, int index)
{
    return index % 2 == 1;
}

static int bench_all(void *baton, int index)
{
    (*(int *) baton)++;
    return 1;
}

static int bench_none(void *baton, int index)
{
    return 0;
}

static void test_key_rotation(void **state)
{
    aip_key_ring ring = {.count = 3};
    aip_key_walk walk;
    int seen[3] = {0, 0, 0};

    for (int i = 0; i < 9; i++) {
        aip_key_walk_begin(&ring, &walk);
        seen[aip_key_walk_next(&walk, bench_none, NULL)]++;
    }
    assert_int_equal(seen[0], 3);
    assert_int_equal(seen[1], 3);
    assert_int_equal(seen[2], 3);
}

/* Two rings (two children's copies of one upstream) on one shared word take the keys in one
 * turn between them. */
static void test_key_rotation_shared_turn(void **state)
{
    volatile apr_uint32_t word = 0;
    aip_key_ring child1 = {.count = 2, .shared_turn = &word};
    aip_key_ring child2 = {.count = 2, .shared_turn = &word};
    aip_key_walk walk;
    int firsts[4];

    for (int i = 0; i < 4; i++) {
        aip_key_walk_begin(i % 3 ? &child1 : &child2, &walk);
        firsts[i] = aip_key_walk_next(&walk, bench_none, NULL);
    }
    assert_int_equal(firsts[0], 0);
    assert_int_equal(firsts[1], 1);
    assert_int_equal(firsts[2], 0);
    assert_int_equal(firsts[3], 1);
    assert_int_equal(word, 4);
    assert_int_equal(child1.turn + child2.turn, 0); /* their own turns are left alone */
}

/* A walk visits every key once, from its first, skipping benched ones. */
static void test_key_walk_skips_benched(void **state)
{
    aip_key_ring ring = {.count = 4, .turn = 1};
    aip_key_walk walk;

    aip_key_walk_begin(&ring, &walk); /* starts at key 1 */
    assert_int_equal(aip_key_walk_next(&walk, bench_odd, NULL), 2);
    assert_int_equal(aip_key_walk_next(&walk, bench_odd, NULL), 0);
    assert_int_equal(aip_key_walk_next(&walk, bench_odd, NULL), -1);
    aip_key_walk_begin(&ring, &walk); /* starts at key 2 */
    assert_int_equal(aip_key_walk_next(&walk, bench_none, NULL), 2);
    assert_int_equal(aip_key_walk_next(&walk, bench_none, NULL), 3);
    assert_int_equal(aip_key_walk_next(&walk, bench_none, NULL), 0);
    assert_int_equal(aip_key_walk_next(&walk, bench_none, NULL), 1);
    assert_int_equal(aip_key_walk_next(&walk, bench_none, NULL), -1);
}

/* Every key benched: the last is still tried; a lone key is never looked up. */
static void test_key_walk_all_benched(void **state)
{
    aip_key_ring ring = {.count = 3};
    aip_key_ring lone = {.count = 1};
    aip_key_walk walk;
    int lookups = 0;

    aip_key_walk_begin(&ring, &walk);
    assert_int_equal(aip_key_walk_next(&walk, bench_all, &lookups), 2);
    assert_int_equal(aip_key_walk_next(&walk, bench_all, &lookups), -1);
    assert_int_equal(lookups, 2);
    lookups = 0;
    aip_key_walk_begin(&lone, &walk);
    assert_int_equal(aip_key_walk_next(&walk, bench_all, &lookups), 0);
    assert_int_equal(aip_key_walk_next(&walk, bench_all, &lookups), -1);
    assert_int_equal(lookups, 0);
}

/* ---- selection ------------------------------------------------------------------------------ */

static aip_config *config_of(aip_upstream **ups, int n)
{
    aip_config *cfg = aip_config_create(pool);
    for (int i = 0; i < n; i++)
        APR_ARRAY_PUSH(cfg->upstreams, aip_upstream *) = ups[i];
    return cfg;
}

static void test_smooth_weighted_order(void **state)
{
    aip_upstream *ups[] = {upstream("a", 5, NULL), upstream("b", 1, NULL), upstream("c", 1, NULL)};
    aip_selector *sel = aip_selector_create(pool, config_of(ups, 3));
    char firsts[8] = {0};
    const aip_upstream *order[3];

    for (int i = 0; i < 7; i++) {
        assert_int_equal(aip_select_order(sel, "any", order, 3), 3);
        firsts[i] = order[0]->name[0];
        /* every request gets every upstream once, its turn first */
        assert_true(order[0] != order[1] && order[1] != order[2] && order[0] != order[2]);
    }
    /* smooth: 5:1:1 spread out, never a burst of five a's */
    assert_string_equal(firsts, "aabacaa");
}

static void test_selection_filters_models_and_disabled(void **state)
{
    aip_upstream *ups[] = {upstream("a", 1, "m1"), upstream("b", 1, "m1,m2"),
                           upstream("all", 1, NULL), upstream("off", 1, "m1")};
    aip_selector *sel;
    const aip_upstream *order[4];
    int n;

    ups[3]->enabled = 0;
    sel = aip_selector_create(pool, config_of(ups, 4));
    n = aip_select_order(sel, "m2", order, 4);
    assert_int_equal(n, 2);
    assert_int_equal(aip_select_count(sel, "m1"), 3);
    assert_int_equal(aip_select_count(sel, "unknown"), 1);
    assert_int_equal(aip_select_order(sel, "unknown", order, 4), 1);
    assert_string_equal(order[0]->name, "all");
    assert_int_equal(aip_select_order(sel, "m1", order, 1), 1);
    /* the room the handler allocates is enough for every upstream the order can name */
    assert_true(aip_select_room(sel, "m2") >= 2);
    assert_true(aip_select_room(sel, "m1") >= 3);
    assert_true(aip_select_room(sel, "unknown") >= 1);
}

/* Selectors of two children sharing their turn words follow one sequence together: with two
 * equal upstreams, requests alternate whichever child takes them. */
static void test_selection_shared_turns(void **state)
{
    aip_upstream *ups[] = {upstream("a", 1, "m"), upstream("b", 1, "m")};
    aip_config *cfg = config_of(ups, 2);
    aip_selector *child1 = aip_selector_create(pool, cfg);
    aip_selector *child2 = aip_selector_create(pool, cfg);
    volatile apr_uint32_t words[8] = {0};
    const aip_upstream *order[2];
    int a = 0;

    assert_int_equal(aip_selector_turns(child1), 2); /* the set of m, and the unlisted one */
    aip_selector_share_turns(child1, words);
    aip_selector_share_turns(child2, words);
    for (int i = 0; i < 10; i++) {
        /* child1 takes three in a row at times: alone, it would send a, b, a */
        aip_selector *sel = i % 4 == 3 ? child2 : child1;
        assert_int_equal(aip_select_order(sel, "m", order, 2), 2);
        a += order[0]->name[0] == 'a';
    }
    assert_int_equal(a, 5);
    assert_int_equal(words[0] + words[1], 10);
}

static void test_selection_empty(void **state)
{
    aip_selector *sel = aip_selector_create(pool, config_of(NULL, 0));
    const aip_upstream *order[1];
    assert_int_equal(aip_select_order(sel, "m", order, 1), 0);
}

/* ---- failover ------------------------------------------------------------------------------- */

static void test_failover_verdicts(void **state)
{
    static const struct {
        aip_failure_kind kind;
        int status, next, counts;
    } cases[] = {
        {AIP_FAILURE_NO_RESPONSE, 0, 1, 1}, {AIP_FAILURE_ERROR_EVENT, 200, 1, 1},
        {AIP_FAILURE_STATUS, 400, 0, 0},    {AIP_FAILURE_STATUS, 422, 0, 0},
        {AIP_FAILURE_STATUS, 413, 0, 0},    {AIP_FAILURE_STATUS, 401, 1, 1},
        {AIP_FAILURE_STATUS, 403, 1, 1},    {AIP_FAILURE_STATUS, 429, 1, 1},
        {AIP_FAILURE_STATUS, 404, 1, 1},    {AIP_FAILURE_STATUS, 408, 1, 1},
        {AIP_FAILURE_STATUS, 500, 1, 1},    {AIP_FAILURE_STATUS, 503, 1, 1},
        {AIP_FAILURE_STATUS, 529, 1, 1},    {AIP_FAILURE_STATUS, 402, 1, 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        aip_verdict v = aip_failover_verdict(cases[i].kind, cases[i].status);
        assert_int_equal(v.try_next, cases[i].next);
        assert_int_equal(v.counts_against, cases[i].counts);
    }
}

static void test_retry_after(void **state)
{
    long long now = 1795320000; /* 2026-11-22 */
    assert_int_equal(aip_retry_after_seconds("30", now, 1800), 30);
    assert_int_equal(aip_retry_after_seconds("99999", now, 1800), 1800);
    assert_int_equal(aip_retry_after_seconds(NULL, now, 1800), 0);
    assert_int_equal(aip_retry_after_seconds("soon", now, 1800), 0);
    assert_int_equal(aip_retry_after_seconds("-5", now, 1800), 0);
    /* an HTTP date 120 s after now */
    assert_int_equal(aip_retry_after_seconds("Sun, 22 Nov 2026 00:02:00 GMT", 1795305600, 1800),
                     120);
}

/* ---- breakers ------------------------------------------------------------------------------- */

#define M AIP_BREAKER_MODEL
#define T AIP_BREAKER_TOKEN

static void test_breaker_opens_after_threshold(void **state)
{
    aip_breaker_slot slots[8];
    aip_breaker_table t = {slots, 8};
    aip_breaker_slot *s;

    memset(slots, 0, sizeof(slots));
    assert_null(aip_breaker_find(&t, M, "b\x01m", 0, 1000));
    s = aip_breaker_find(&t, M, "b\x01m", 1, 1000);
    assert_non_null(s);
    assert_ptr_equal(aip_breaker_find(&t, M, "b\x01m", 0, 1000), s);
    aip_breaker_record_failure(s, 1000, 3, 1800, 0, 503);
    aip_breaker_record_failure(s, 1000, 3, 1800, 0, 503);
    assert_false(aip_breaker_is_open(s, 1000));
    aip_breaker_record_success(s);
    aip_breaker_record_failure(s, 1000, 3, 1800, 0, 503);
    aip_breaker_record_failure(s, 1000, 3, 1800, 0, 503);
    assert_false(aip_breaker_is_open(s, 1000)); /* success reset the count */
    aip_breaker_record_failure(s, 1000, 3, 1800, 0, 502);
    assert_true(aip_breaker_is_open(s, 1000));
    assert_true(aip_breaker_is_open(s, 2799));
    assert_false(aip_breaker_is_open(s, 2800)); /* half open after the period */
    assert_int_equal(s->last_status, 502);
    aip_breaker_reset(s);
    assert_false(aip_breaker_is_open(s, 1000));
    assert_int_equal(s->failures, 0);
}

static void test_breaker_cooldown_and_table_full(void **state)
{
    aip_breaker_slot slots[4];
    aip_breaker_table t = {slots, 4};
    char key[AIP_BREAKER_KEY_MAX + 10];
    aip_breaker_slot *s;

    memset(slots, 0, sizeof(slots));
    s = aip_breaker_find(&t, M, "x\x01m", 1, 100);
    aip_breaker_record_failure(s, 100, 3, 1800, 60, 429);
    assert_true(aip_breaker_is_open(s, 159));
    assert_false(aip_breaker_is_open(s, 160));
    /* a table of open circuits only has no room: none of them is evicted */
    for (int i = 0; i < 3; i++) {
        s = aip_breaker_find(&t, M, apr_psprintf(pool, "k%d", i), 1, 100);
        assert_non_null(s);
        aip_breaker_record_failure(s, 100, 1, 1800, 0, 503);
    }
    assert_null(aip_breaker_find(&t, M, "one-too-many", 1, 101));
    assert_non_null(aip_breaker_find(&t, M, "k2", 0, 101)); /* still found in a full table */
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    assert_null(aip_breaker_find(&t, M, key, 1, 101)); /* keys longer than a slot are refused */
}

/* A Retry-After held on its own opens the circuit without counting a failure, and only ever
 * extends it. */
static void test_breaker_hold_open(void **state)
{
    aip_breaker_slot slot;

    memset(&slot, 0, sizeof(slot));
    aip_breaker_hold_open(&slot, 100, 30);
    assert_true(aip_breaker_is_open(&slot, 129));
    assert_false(aip_breaker_is_open(&slot, 130));
    assert_int_equal(slot.failures, 0);
    aip_breaker_hold_open(&slot, 100, 10); /* shorter: no change */
    assert_true(aip_breaker_is_open(&slot, 129));
    aip_breaker_hold_open(&slot, 100, 0);
    assert_true(aip_breaker_is_open(&slot, 129));
}

/* A token key never meets a model key, whatever the client names its model. */
static void test_breaker_token_keys_have_their_own_kind(void **state)
{
    aip_breaker_slot slots[64];
    aip_breaker_table t = {slots, 64};
    const char *token_key = aip_breaker_token_key(pool, "balancer://aiproxy-a", 0);
    aip_breaker_slot *token, *model;
    const char *balancer, *index;

    memset(slots, 0, sizeof(slots));
    assert_string_equal(token_key, "balancer://aiproxy-a\x01"
                                   "0");
    token = aip_breaker_find(&t, T, token_key, 1, 1000);
    /* the same bytes as a model key are another breaker */
    model = aip_breaker_find(&t, M, aip_breaker_key(pool, "balancer://aiproxy-a", "0"), 1, 1000);
    assert_non_null(token);
    assert_non_null(model);
    assert_ptr_not_equal(token, model);
    aip_breaker_record_failure(model, 1000, 1, 1800, 0, 503);
    assert_false(aip_breaker_is_open(aip_breaker_find(&t, T, token_key, 0, 1000), 1000));
    assert_int_equal(token->kind, AIP_BREAKER_TOKEN);
    aip_breaker_key_split(pool, token->key, &balancer, &index);
    assert_string_equal(balancer, "balancer://aiproxy-a");
    assert_string_equal(index, "0");
}

/* 100k distinct keys (a client making up model names on an upstream without a model list)
 * never fill the table for good: fresh keys still get a slot, and an open circuit stays. */
static void test_breaker_table_reuses_closed_slots(void **state)
{
    enum { SLOTS = 1024 };
    aip_breaker_slot *slots = calloc(SLOTS, sizeof(*slots));
    aip_breaker_table t = {slots, SLOTS};
    aip_breaker_slot *open = aip_breaker_find(&t, M, "b\x01real-model", 1, 1000);
    apr_pool_t *scratch;

    apr_pool_create(&scratch, pool);
    aip_breaker_record_failure(open, 1000, 1, 1800, 0, 503);
    for (int i = 0; i < 100000; i++) {
        const char *key = apr_psprintf(scratch, "b\x01made-up-%d", i);
        aip_breaker_slot *s = aip_breaker_find(&t, M, key, 1, 1000 + (apr_uint32_t) i / 1000);
        assert_non_null(s);
        aip_breaker_record_failure(s, 1000, 3, 1800, 0, 503); /* failing, but closed */
        if (i % 1000 == 999)
            apr_pool_clear(scratch);
    }
    assert_non_null(aip_breaker_find(&t, M, "b\x01fresh", 1, 1200));
    assert_ptr_equal(aip_breaker_find(&t, M, "b\x01fresh", 0, 1200),
                     aip_breaker_find(&t, M, "b\x01fresh", 1, 1200));
    assert_ptr_equal(aip_breaker_find(&t, M, "b\x01real-model", 0, 1200), open);
    assert_true(aip_breaker_is_open(open, 1200));
    assert_string_equal(open->key, "b\x01real-model");
    apr_pool_destroy(scratch);
    free(slots);
}

/* A child that dies mid-claim (or a slot persisted mid-claim) leaves a slot being claimed:
 * once the claim is stale it is taken over, and a lookup never waits on it for good. */
static void test_breaker_stale_claim_is_recovered(void **state)
{
    aip_breaker_slot slots[AIP_BREAKER_WINDOW];
    aip_breaker_table t = {slots, AIP_BREAKER_WINDOW};
    aip_breaker_slot *s;

    /* every slot claimed at 1000, never finished */
    memset(slots, 0, sizeof(slots));
    for (int i = 0; i < AIP_BREAKER_WINDOW; i++)
        slots[i].state = 1000;
    /* a fresh claim is not stolen: the lookup gives up (bounded) instead of spinning */
    assert_null(aip_breaker_find(&t, M, "b\x01m", 0, 1001));
    assert_null(aip_breaker_find(&t, M, "b\x01m", 1, 1001));
    /* a stale one is taken over */
    s = aip_breaker_find(&t, M, "b\x01m", 1, 1000 + AIP_BREAKER_STALE_CLAIM_SECONDS + 1);
    assert_non_null(s);
    assert_string_equal(s->key, "b\x01m");
    assert_int_equal(s->failures, 0);
    assert_ptr_equal(aip_breaker_find(&t, M, "b\x01m", 0, 1010), s);
    /* a persisted stamp from a clock set back far is stale too */
    for (int i = 0; i < AIP_BREAKER_WINDOW; i++)
        if (&slots[i] != s)
            slots[i].state = 4000000000u;
    assert_non_null(aip_breaker_find(&t, M, "b\x01other", 1, 1010));
}

/* Lookups read at most the window: a miss in a full table of open circuits costs no more
 * than a hit (the unbounded scan took ~18 us per lookup on 4096 slots). */
static void test_breaker_lookup_is_bounded(void **state)
{
    enum { SLOTS = 4096 };
    aip_breaker_slot *slots = calloc(SLOTS, sizeof(*slots));
    aip_breaker_table t = {slots, SLOTS};
    apr_time_t start;

    for (int i = 0; i < SLOTS; i++) {
        slots[i].state = 1; /* ready, holding an open circuit nobody asks for */
        slots[i].open_until = 100000;
        slots[i].hash = (apr_uint32_t) i;
        apr_snprintf(slots[i].key, sizeof(slots[i].key), "b\x01other-%d", i);
    }
    start = apr_time_now();
    for (int i = 0; i < 100000; i++)
        assert_null(aip_breaker_find(&t, M, "b\x01missing", 1, 1000));
    /* 100k bounded lookups take a few ms; 100k full scans took seconds */
    assert_true(apr_time_now() - start < apr_time_from_sec(1));
    free(slots);
}

static void test_breaker_key(void **state)
{
    const char *balancer, *model;
    aip_breaker_key_split(pool, aip_breaker_key(pool, "balancer://aiproxy-a", "m:x"), &balancer,
                          &model);
    assert_string_equal(balancer, "balancer://aiproxy-a");
    assert_string_equal(model, "m:x");
}

/* ---- fallbacks and keys --------------------------------------------------------------------- */

static void test_fallback_chain_and_cycles(void **state)
{
    aip_config *cfg = aip_config_create(pool);
    assert_null(aip_config_add_fallback(pool, cfg, "a", "b"));
    assert_null(aip_config_add_fallback(pool, cfg, "b", "c"));
    assert_string_equal(aip_config_fallback(cfg, "a"), "b");
    assert_null(aip_config_fallback(cfg, "c"));
    assert_non_null(strstr(aip_config_add_fallback(pool, cfg, "c", "a"), "cycle"));
    assert_non_null(strstr(aip_config_add_fallback(pool, cfg, "x", "x"), "cycle"));
    assert_non_null(strstr(aip_config_add_fallback(pool, cfg, "a", "d"), "already"));
    assert_null(aip_config_fallback(cfg, "x"));
}

static void test_client_keys(void **state)
{
    aip_config *cfg = aip_config_create(pool);
    aip_config_add_client_key(cfg, "sk-first-key");
    aip_config_add_client_key(cfg, "sk-second");
    assert_true(aip_config_client_key_ok(cfg, "sk-first-key"));
    assert_true(aip_config_client_key_ok(cfg, "sk-second"));
    assert_false(aip_config_client_key_ok(cfg, "sk-first-ke"));
    assert_false(aip_config_client_key_ok(cfg, "sk-first-keyy"));
    assert_false(aip_config_client_key_ok(cfg, ""));
    assert_false(aip_config_client_key_ok(cfg, NULL));
}

static void test_config_merge(void **state)
{
    aip_config *base = aip_config_create(pool), *vhost = aip_config_create(pool), *merged;
    APR_ARRAY_PUSH(base->upstreams, aip_upstream *) = upstream("main", 1, NULL);
    aip_config_add_client_key(base, "sk-main-key");
    vhost->breaker_failures = 5;
    vhost->breaker_set = 1;
    merged = aip_config_merge(pool, base, vhost);
    assert_int_equal(merged->upstreams->nelts, 1);
    assert_true(aip_config_client_key_ok(merged, "sk-main-key"));
    assert_int_equal(merged->breaker_failures, 5);
    APR_ARRAY_PUSH(vhost->upstreams, aip_upstream *) = upstream("own", 1, NULL);
    merged = aip_config_merge(pool, base, vhost);
    assert_string_equal(APR_ARRAY_IDX(merged->upstreams, 0, aip_upstream *)->name, "own");
    assert_non_null(aip_config_find_upstream(merged, "OWN"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes_table),
        cmocka_unit_test(test_routes_operations),
        cmocka_unit_test(test_routes_unknown),
        cmocka_unit_test(test_route_guess),
        cmocka_unit_test(test_route_redact_key),
        cmocka_unit_test(test_route_without_key),
        cmocka_unit_test(test_upstream_settings),
        cmocka_unit_test(test_upstream_setting_errors),
        cmocka_unit_test(test_oauth_upstreams),
        cmocka_unit_test(test_key_rotation),
        cmocka_unit_test(test_key_rotation_shared_turn),
        cmocka_unit_test(test_key_walk_skips_benched),
        cmocka_unit_test(test_key_walk_all_benched),
        cmocka_unit_test(test_smooth_weighted_order),
        cmocka_unit_test(test_selection_filters_models_and_disabled),
        cmocka_unit_test(test_selection_shared_turns),
        cmocka_unit_test(test_selection_empty),
        cmocka_unit_test(test_failover_verdicts),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_breaker_opens_after_threshold),
        cmocka_unit_test(test_breaker_cooldown_and_table_full),
        cmocka_unit_test(test_breaker_hold_open),
        cmocka_unit_test(test_breaker_key),
        cmocka_unit_test(test_breaker_token_keys_have_their_own_kind),
        cmocka_unit_test(test_breaker_table_reuses_closed_slots),
        cmocka_unit_test(test_breaker_stale_claim_is_recovered),
        cmocka_unit_test(test_breaker_lookup_is_bounded),
        cmocka_unit_test(test_fallback_chain_and_cycles),
        cmocka_unit_test(test_client_keys),
        cmocka_unit_test(test_config_merge),
    };
    int failed;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    failed = cmocka_run_group_tests(tests, NULL, NULL);
    apr_pool_destroy(pool);
    apr_terminate();
    return failed;
}
