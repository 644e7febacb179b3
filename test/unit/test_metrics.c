/*
 * Unit tests of aip_metrics: the layout (labels from the configuration only), recording,
 * histogram buckets, and the Prometheus / OpenMetrics / JSON / mod_status forms.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>
#include "apr_general.h"
#include "apr_strings.h"
#include "aip_config.h"
#include "aip_metrics.h"

static apr_pool_t *pool;

static aip_upstream *upstream(const char *name, const char *api, const char *models)
{
    aip_upstream *up = aip_upstream_create(pool, name, "http://127.0.0.1:1");
    assert_null(aip_upstream_set(pool, up, "api", api));
    assert_null(aip_upstream_set(pool, up, "token", "t"));
    if (models)
        assert_null(aip_upstream_set(pool, up, "models", models));
    return up;
}

/* a: anthropic serving m1, m2; b: openai serving every model; fallback m1 -> m3. */
static aip_config *config(void)
{
    aip_config *cfg = aip_config_create(pool);
    aip_upstream *a = upstream("a", "anthropic", "m1,m2");
    aip_upstream *b = upstream("b", "openai", NULL);

    a->index = 0;
    b->index = 1;
    APR_ARRAY_PUSH(cfg->upstreams, aip_upstream *) = a;
    APR_ARRAY_PUSH(cfg->upstreams, aip_upstream *) = b;
    assert_null(aip_config_add_fallback(pool, cfg, "m1", "m3"));
    return cfg;
}

typedef struct {
    aip_metrics_layout *layout;
    aip_metrics_row *rows;
    aip_metrics_upstream_state states[2];
} fixture;

static fixture *make_fixture(void)
{
    fixture *f = apr_pcalloc(pool, sizeof(*f));
    f->layout = aip_metrics_layout_create(pool, config());
    f->rows = apr_pcalloc(pool, sizeof(aip_metrics_row) * f->layout->rows);
    f->states[0].enabled = f->states[1].enabled = 1;
    return f;
}

static aip_metrics_snapshot snapshot_of(fixture *f)
{
    aip_metrics_snapshot s = {
        .layout = f->layout,
        .rows = aip_metrics_copy(pool, f->rows, f->layout->rows),
        .states = f->states,
    };
    return s;
}

static void test_layout_labels_come_from_configuration(void **state)
{
    fixture *f = make_fixture();
    const aip_metrics_layout *l = f->layout;
    apr_size_t other_a, m1_a, unknown_a;

    assert_int_equal(l->nupstreams, 2);
    assert_string_equal(l->upstreams[0].name, "a");
    assert_string_equal(l->upstreams[0].provider, "anthropic");
    assert_int_equal(l->upstreams[0].nmodels, 3); /* m1, m2, other */
    assert_string_equal(l->upstreams[0].models[2], "other");
    /* b serves every model: its labels are every configured model (m1, m2, m3) and other */
    assert_int_equal(l->upstreams[1].nmodels, 4);
    assert_string_equal(l->upstreams[2].name, "none");
    assert_int_equal(l->rows, (apr_size_t) (3 + 4 + 4) * AIPROXY_PROTO_COUNT * AIP_CLASS_COUNT);

    m1_a = aip_metrics_row_of(l, 0, "m1", AIPROXY_PROTO_OPENAI, AIP_CLASS_2XX);
    other_a = aip_metrics_row_of(l, 0, "other", AIPROXY_PROTO_OPENAI, AIP_CLASS_2XX);
    unknown_a =
        aip_metrics_row_of(l, 0, "a-client's-invented-model", AIPROXY_PROTO_OPENAI, AIP_CLASS_2XX);
    assert_int_not_equal(m1_a, other_a);
    assert_int_equal(unknown_a, other_a); /* one series for every unknown name */
    assert_int_equal(aip_metrics_row_of(l, 0, NULL, AIPROXY_PROTO_OPENAI, AIP_CLASS_2XX), other_a);
    /* every row index is inside the table, whatever comes in */
    assert_true(aip_metrics_row_of(l, 99, "x", (aiproxy_proto) 77, (aip_status_class) 9) < l->rows);
    assert_true(aip_metrics_row_of(l, -1, "m3", AIPROXY_PROTO_GEMINI, AIP_CLASS_NONE) < l->rows);
}

/* A prefixed upstream is called "<prefix>/<model>" (and, unless prefixes are forced, by the
 * bare name): both are labels of its own. */
static void test_prefixed_names_are_labels(void **state)
{
    aip_config *cfg = aip_config_create(pool);
    aip_upstream *up = upstream("team", "openai", "m1");
    aip_metrics_layout *l;
    apr_size_t other;

    assert_null(aip_upstream_set(pool, up, "prefix", "team"));
    APR_ARRAY_PUSH(cfg->upstreams, aip_upstream *) = up;
    l = aip_metrics_layout_create(pool, cfg);
    other = aip_metrics_row_of(l, 0, "other", AIPROXY_PROTO_OPENAI, AIP_CLASS_2XX);
    assert_int_not_equal(aip_metrics_row_of(l, 0, "team/m1", AIPROXY_PROTO_OPENAI, AIP_CLASS_2XX),
                         other);
    assert_int_not_equal(aip_metrics_row_of(l, 0, "m1", AIPROXY_PROTO_OPENAI, AIP_CLASS_2XX),
                         other);
    assert_int_equal(aip_metrics_row_of(l, 0, "team/m2", AIPROXY_PROTO_OPENAI, AIP_CLASS_2XX),
                     other);
}

static void test_status_classes(void **state)
{
    assert_int_equal(aip_status_class_of(0), AIP_CLASS_NONE);
    assert_int_equal(aip_status_class_of(101), AIP_CLASS_1XX);
    assert_int_equal(aip_status_class_of(200), AIP_CLASS_2XX);
    assert_int_equal(aip_status_class_of(304), AIP_CLASS_3XX);
    assert_int_equal(aip_status_class_of(429), AIP_CLASS_4XX);
    assert_int_equal(aip_status_class_of(529), AIP_CLASS_5XX);
    assert_int_equal(aip_status_class_of(999), AIP_CLASS_5XX);
}

static void test_histogram_buckets(void **state)
{
    fixture *f = make_fixture();
    aip_metrics_row *row = &f->rows[0];
    long long tokens[AIP_TOKEN_TYPES] = {10, 5, 3, 0, 2};

    /* a bound is inclusive (le): 10 ms falls in the first bucket, 10.001 ms in the second */
    aip_metrics_count_request(row, 10000, 1, 1000, tokens);
    aip_metrics_count_request(row, 10001, 1, 1001, NULL);
    aip_metrics_count_request(row, 999000000, 0, 0, NULL); /* past every bound; no TTFT */
    assert_int_equal(row->requests, 3);
    assert_int_equal(row->duration.bucket[0], 1);
    assert_int_equal(row->duration.bucket[1], 1);
    assert_int_equal(row->duration.bucket[AIP_DURATION_BUCKETS], 1);
    assert_int_equal(row->duration.count, 3);
    assert_int_equal(row->duration.sum_us, 10000 + 10001 + 999000000);
    assert_int_equal(row->ttft.count, 2);
    assert_int_equal(row->ttft.bucket[0], 1);
    assert_int_equal(row->ttft.bucket[1], 1);
    assert_int_equal(row->tokens[AIP_TOKEN_INPUT], 10);
    assert_int_equal(row->tokens[AIP_TOKEN_REASONING], 2);
}

static void test_prometheus_text(void **state)
{
    fixture *f = make_fixture();
    long long tokens[AIP_TOKEN_TYPES] = {100, 20, 0, 0, 0};
    apr_size_t r = aip_metrics_row_of(f->layout, 0, "m1", AIPROXY_PROTO_ANTHROPIC, AIP_CLASS_2XX);
    aip_metrics_snapshot s;
    apr_size_t len;
    char *text;

    aip_metrics_count_request(&f->rows[r], 150000, 1, 30000, tokens);
    aip_metrics_count_attempt(&f->rows[r], 200);
    f->states[1].circuits_open = 2;
    s = snapshot_of(f);
    text = aip_metrics_exposition(pool, &s, 0, &len);
    assert_int_equal(strlen(text), len);
#define LABELS                                                                                     \
    "{aiproxy_upstream=\"a\",gen_ai_provider_name=\"anthropic\",gen_ai_request_model=\"m1\","      \
    "aiproxy_client_protocol=\"anthropic\",aiproxy_status_class=\"2xx\""
    assert_non_null(strstr(text, "# TYPE aiproxy_requests_total counter\n"));
    assert_non_null(strstr(text, "aiproxy_requests_total" LABELS "} 1\n"));
    assert_non_null(strstr(text, "aiproxy_attempts_total" LABELS "} 1\n"));
    assert_non_null(strstr(text, "gen_ai_client_token_usage_total" LABELS
                                 ",gen_ai_token_type=\"input\"} 100\n"));
    assert_non_null(strstr(text, "gen_ai_client_token_usage_total" LABELS
                                 ",gen_ai_token_type=\"output\"} 20\n"));
    /* token types that counted nothing, and rows that counted nothing, are left out */
    assert_null(strstr(text, "gen_ai_token_type=\"cache_read\""));
    assert_null(strstr(text, "gen_ai_request_model=\"m2\""));
    /* cumulative buckets: 0.15 s is above 0.08 and within 0.16 */
    assert_non_null(strstr(text, "# TYPE gen_ai_server_request_duration_seconds histogram\n"));
    assert_non_null(
        strstr(text, "gen_ai_server_request_duration_seconds_bucket" LABELS ",le=\"0.08\"} 0\n"));
    assert_non_null(
        strstr(text, "gen_ai_server_request_duration_seconds_bucket" LABELS ",le=\"0.16\"} 1\n"));
    assert_non_null(
        strstr(text, "gen_ai_server_request_duration_seconds_bucket" LABELS ",le=\"+Inf\"} 1\n"));
    assert_non_null(strstr(text, "gen_ai_server_request_duration_seconds_sum" LABELS "} 0.15\n"));
    assert_non_null(strstr(text, "gen_ai_server_request_duration_seconds_count" LABELS "} 1\n"));
    assert_non_null(strstr(text, "gen_ai_server_time_to_first_token_seconds_bucket" LABELS
                                 ",le=\"0.04\"} 1\n"));
    assert_non_null(strstr(text, "gen_ai_server_time_to_first_token_seconds_bucket" LABELS
                                 ",le=\"0.02\"} 0\n"));
    assert_non_null(strstr(
        text,
        "aiproxy_upstream_circuits_open{aiproxy_upstream=\"b\",gen_ai_provider_name=\"openai\"} "
        "2\n"));
    assert_null(strstr(text, "# EOF"));
}

static void test_openmetrics_text(void **state)
{
    fixture *f = make_fixture();
    aip_metrics_snapshot s;
    apr_size_t len;
    char *text;

    aip_metrics_count_attempt(&f->rows[0], 0);
    s = snapshot_of(f);
    text = aip_metrics_exposition(pool, &s, 1, &len);
    /* counter families are named without _total, their samples with it */
    assert_non_null(strstr(text, "# TYPE aiproxy_attempts counter\n"));
    assert_non_null(strstr(text, "\naiproxy_attempts_total{"));
    assert_non_null(strstr(text, "# TYPE gen_ai_client_token_usage counter\n"));
    assert_int_equal(strcmp(text + len - 6, "# EOF\n"), 0);
    assert_true(aip_metrics_wants_openmetrics("application/openmetrics-text; version=1.0.0"));
    assert_true(aip_metrics_wants_openmetrics(
        "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"));
    assert_false(aip_metrics_wants_openmetrics("text/plain"));
    assert_false(aip_metrics_wants_openmetrics(NULL));
}

/* Label values come from the configuration, but are still quoted as the format says. */
static void test_label_values_are_escaped(void **state)
{
    aip_config *cfg = aip_config_create(pool);
    aip_upstream *up = upstream("u", "openai", "we\"ird\\model");
    aip_metrics_layout *l;
    aip_metrics_row *rows;
    aip_metrics_upstream_state st = {.enabled = 1};
    aip_metrics_snapshot s;
    apr_size_t len;

    APR_ARRAY_PUSH(cfg->upstreams, aip_upstream *) = up;
    l = aip_metrics_layout_create(pool, cfg);
    rows = apr_pcalloc(pool, sizeof(*rows) * l->rows);
    aip_metrics_count_attempt(
        &rows[aip_metrics_row_of(l, 0, "we\"ird\\model", AIPROXY_PROTO_OPENAI, AIP_CLASS_2XX)],
        200);
    s.layout = l;
    s.rows = rows;
    s.states = &st;
    assert_non_null(strstr(aip_metrics_exposition(pool, &s, 0, &len),
                           "gen_ai_request_model=\"we\\\"ird\\\\model\""));
}

static void test_providers_json(void **state)
{
    fixture *f = make_fixture();
    const aip_metrics_layout *l = f->layout;
    long long tokens[AIP_TOKEN_TYPES] = {7, 3, 0, 0, 0};
    aip_metrics_row *ok =
        &f->rows[aip_metrics_row_of(l, 1, "m1", AIPROXY_PROTO_OPENAI, AIP_CLASS_2XX)];
    aip_metrics_row *limited =
        &f->rows[aip_metrics_row_of(l, 1, "m1", AIPROXY_PROTO_OPENAI, AIP_CLASS_4XX)];
    aip_metrics_row *down =
        &f->rows[aip_metrics_row_of(l, 1, "m1", AIPROXY_PROTO_OPENAI, AIP_CLASS_5XX)];
    aip_metrics_snapshot s;
    json_t *doc, *b;
    char *text;

    aip_metrics_count_attempt(ok, 200);
    aip_metrics_count_attempt(ok, 200);
    aip_metrics_count_request(ok, 2000000, 1, 500000, tokens);
    aip_metrics_count_request(ok, 4000000, 1, 1500000, tokens);
    aip_metrics_count_attempt(limited, 429);
    aip_metrics_count_failover(limited);
    aip_metrics_count_attempt(limited, 401);
    aip_metrics_count_attempt(down, 503);
    aip_metrics_count_breaker_opening(down);
    f->states[1].circuits_open = 1;
    f->states[1].tokens_cooling = 1;
    s = snapshot_of(f);
    text = aip_metrics_providers_json(&s);
    doc = json_loads(text, 0, NULL);
    free(text);
    assert_non_null(doc);
    b = json_object_get(json_object_get(doc, "providers"), "b");
    assert_int_equal(json_integer_value(json_object_get(b, "requests")), 5);
    assert_int_equal(json_integer_value(json_object_get(b, "successes")), 2);
    assert_int_equal(json_integer_value(json_object_get(b, "status_429")), 1);
    assert_int_equal(json_integer_value(json_object_get(b, "status_401")), 1);
    assert_int_equal(json_integer_value(json_object_get(b, "status_403")), 0);
    assert_int_equal(json_integer_value(json_object_get(b, "status_5xx")), 1);
    assert_int_equal(json_integer_value(json_object_get(b, "failovers")), 1);
    assert_int_equal(json_integer_value(json_object_get(b, "breaker_openings")), 1);
    assert_string_equal(json_string_value(json_object_get(b, "breaker_state")), "open");
    assert_int_equal(json_integer_value(json_object_get(b, "tokens_cooling_down")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(b, "tokens"), "input")),
                     14);
    assert_true(json_real_value(json_object_get(b, "mean_latency_ms")) == 3000.0);
    assert_true(json_real_value(json_object_get(b, "mean_ttft_ms")) == 1000.0);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(json_object_get(doc, "providers"), "a"),
                                          "breaker_state")),
        "closed");
    json_decref(doc);
}

static void test_status_lines(void **state)
{
    fixture *f = make_fixture();
    aip_metrics_snapshot s;
    apr_array_header_t *lines;
    aip_metrics_status_line *l;

    aip_metrics_count_attempt(&f->rows[0], 500);
    aip_metrics_count_failover(&f->rows[0]);
    f->states[0].circuits_open = 1;
    f->states[1].enabled = 0;
    f->states[1].tokens_cooling = 2;
    s = snapshot_of(f);
    lines = aip_metrics_status_lines(pool, &s);
    l = (aip_metrics_status_line *) lines->elts;
    assert_int_equal(lines->nelts, 2 * 5 + 2);
    assert_string_equal(l[0].key, "AIProxyUpstream_a_State");
    assert_string_equal(l[0].value, "open");
    assert_string_equal(l[1].key, "AIProxyUpstream_a_OpenCircuits");
    assert_string_equal(l[1].value, "1");
    assert_string_equal(l[2].value, "1"); /* requests (attempts) */
    assert_string_equal(l[3].value, "1"); /* failovers */
    assert_string_equal(l[5].value, "disabled");
    assert_string_equal(l[9].key, "AIProxyUpstream_b_TokensCoolingDown");
    assert_string_equal(l[9].value, "2");
    assert_string_equal(l[11].key, "AIProxyTokensCoolingDown");
    assert_string_equal(l[11].value, "2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_labels_come_from_configuration),
        cmocka_unit_test(test_prefixed_names_are_labels),
        cmocka_unit_test(test_status_classes),
        cmocka_unit_test(test_histogram_buckets),
        cmocka_unit_test(test_prometheus_text),
        cmocka_unit_test(test_openmetrics_text),
        cmocka_unit_test(test_label_values_are_escaped),
        cmocka_unit_test(test_providers_json),
        cmocka_unit_test(test_status_lines),
    };
    int failed;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    failed = cmocka_run_group_tests(tests, NULL, NULL);
    apr_pool_destroy(pool);
    apr_terminate();
    return failed;
}
