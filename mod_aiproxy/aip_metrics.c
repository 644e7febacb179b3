/* aip_metrics.c: see aip_metrics.h. */
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "apr_atomic.h"
#include "apr_strings.h"
#include "apr_tables.h"
#include "aip_metrics.h"
#include "aip_model_names.h"

const apr_uint64_t aip_duration_bounds_us[AIP_DURATION_BUCKETS] = {
    10000,   20000,   40000,   80000,    160000,   320000,   640000,
    1280000, 2560000, 5120000, 10240000, 20480000, 40960000, 81920000,
};
const apr_uint64_t aip_ttft_bounds_us[AIP_TTFT_BUCKETS] = {
    1000,   5000,   10000,  20000,   40000,   60000,   80000,   100000,
    250000, 500000, 750000, 1000000, 2500000, 5000000, 7500000, 10000000,
};

static const char *const class_names[AIP_CLASS_COUNT] = {"1xx", "2xx", "3xx", "4xx", "5xx", "none"};
/* aiproxy_client_protocol values (mod_aiproxy does not link the translator's own names). */
static const char *const protocol_names[AIPROXY_PROTO_COUNT] = {"anthropic", "openai", "responses",
                                                                "gemini"};
/* gen_ai_token_type values: OpenTelemetry names input and output; the rest are ours. */
static const char *const token_type_names[AIP_TOKEN_TYPES] = {"input", "output", "cache_read",
                                                              "cache_write", "reasoning"};

/* gen_ai_provider_name per api type, as the semantic conventions spell the provider; api
 * types not listed are named as configured. */
static const struct {
    const char *api_type;
    const char *provider;
} provider_names[] = {
    {"anthropic", "anthropic"},  {"claude", "anthropic"},       {"openai", "openai"},
    {"responses", "openai"},     {"codex", "openai"},           {"gemini", "gcp.gemini"},
    {"geminicli", "gcp.gemini"}, {"antigravity", "gcp.gemini"},
};

#define OTHER_MODEL "other"
#define NO_UPSTREAM "none"

static const char *provider_of(const char *api_type)
{
    for (size_t i = 0; i < sizeof(provider_names) / sizeof(provider_names[0]); i++)
        if (!strcmp(provider_names[i].api_type, api_type))
            return provider_names[i].provider;
    return api_type;
}

static void add_name(apr_array_header_t *names, apr_hash_t *seen, const char *name)
{
    if (name && *name && strcmp(name, OTHER_MODEL) &&
        !apr_hash_get(seen, name, APR_HASH_KEY_STRING)) {
        apr_hash_set(seen, name, APR_HASH_KEY_STRING, name);
        APR_ARRAY_PUSH(names, const char *) = name;
    }
}

static int add_map_key(void *baton, const char *key, const char *value)
{
    void **pair = baton;
    add_name(pair[0], pair[1], key);
    return 1;
}

/* The names up is called by: its models, the names clients call them by (a prefix) and its
 * map='s client names. */
static void add_upstream_names(apr_pool_t *p, const aip_config *cfg, const aip_upstream *up,
                               apr_array_header_t *names, apr_hash_t *seen)
{
    apr_array_header_t *client_names = apr_array_make(p, 4, sizeof(const char *));
    void *pair[2] = {names, seen};

    for (int m = 0; m < up->models->nelts; m++)
        add_name(names, seen, APR_ARRAY_IDX(up->models, m, const char *));
    aip_upstream_client_names(p, up, cfg->force_model_prefix, client_names);
    for (int m = 0; m < client_names->nelts; m++)
        add_name(names, seen, APR_ARRAY_IDX(client_names, m, const char *));
    if (up->model_map)
        apr_table_do(add_map_key, pair, up->model_map, NULL);
}

/* Every model name the configuration mentions: served, mapped, or in a fallback chain. */
static apr_array_header_t *configured_models(apr_pool_t *p, const aip_config *cfg)
{
    apr_array_header_t *names = apr_array_make(p, 8, sizeof(const char *));
    apr_hash_t *seen = apr_hash_make(p);

    for (int i = 0; i < cfg->upstreams->nelts; i++)
        add_upstream_names(p, cfg, APR_ARRAY_IDX(cfg->upstreams, i, const aip_upstream *), names,
                           seen);
    if (cfg->fallback) {
        for (apr_hash_index_t *hi = apr_hash_first(p, cfg->fallback); hi; hi = apr_hash_next(hi)) {
            const void *key;
            void *value;
            apr_hash_this(hi, &key, NULL, &value);
            add_name(names, seen, key);
            add_name(names, seen, value);
        }
    }
    return names;
}

static void set_models(apr_pool_t *p, aip_metrics_upstream *mu, const apr_array_header_t *models)
{
    mu->nmodels = models->nelts + 1;
    mu->models = apr_pcalloc(p, sizeof(const char *) * (apr_size_t) mu->nmodels);
    mu->model_index = apr_hash_make(p);
    for (int m = 0; m < models->nelts; m++) {
        mu->models[m] = APR_ARRAY_IDX(models, m, const char *);
        apr_hash_set(mu->model_index, mu->models[m], APR_HASH_KEY_STRING,
                     (void *) (apr_uintptr_t) (m + 1));
    }
    mu->models[models->nelts] = OTHER_MODEL;
}

static apr_size_t rows_of(const aip_metrics_upstream *mu)
{
    return (apr_size_t) mu->nmodels * AIPROXY_PROTO_COUNT * AIP_CLASS_COUNT;
}

aip_metrics_layout *aip_metrics_layout_create(apr_pool_t *p, const aip_config *cfg)
{
    aip_metrics_layout *l = apr_pcalloc(p, sizeof(*l));
    apr_array_header_t *all = configured_models(p, cfg);

    l->nupstreams = cfg->upstreams->nelts;
    l->upstreams = apr_pcalloc(p, sizeof(*l->upstreams) * (apr_size_t) (l->nupstreams + 1));
    for (int i = 0; i <= l->nupstreams; i++) {
        aip_metrics_upstream *mu = &l->upstreams[i];
        const aip_upstream *up =
            i < l->nupstreams ? APR_ARRAY_IDX(cfg->upstreams, i, const aip_upstream *) : NULL;

        mu->name = up ? up->name : NO_UPSTREAM;
        mu->provider = up ? provider_of(up->api_type) : NO_UPSTREAM;
        if (up && up->models->nelts) {
            apr_array_header_t *own = apr_array_make(p, 4, sizeof(const char *));
            add_upstream_names(p, cfg, up, own, apr_hash_make(p));
            set_models(p, mu, own);
        } else
            set_models(p, mu, all);
        mu->first_row = l->rows;
        l->rows += rows_of(mu);
    }
    return l;
}

apr_size_t aip_metrics_row_of(const aip_metrics_layout *l, int upstream, const char *model,
                              aiproxy_proto proto, aip_status_class cls)
{
    const aip_metrics_upstream *mu =
        &l->upstreams[upstream >= 0 && upstream < l->nupstreams ? upstream : l->nupstreams];
    apr_uintptr_t found =
        model ? (apr_uintptr_t) apr_hash_get(mu->model_index, model, APR_HASH_KEY_STRING) : 0;
    apr_size_t m = found ? (apr_size_t) found - 1 : (apr_size_t) mu->nmodels - 1;

    if ((unsigned) proto >= AIPROXY_PROTO_COUNT)
        proto = AIPROXY_PROTO_OPENAI;
    if ((unsigned) cls >= AIP_CLASS_COUNT)
        cls = AIP_CLASS_NONE;
    return mu->first_row + (m * AIPROXY_PROTO_COUNT + (apr_size_t) proto) * AIP_CLASS_COUNT +
           (apr_size_t) cls;
}

aip_status_class aip_status_class_of(int status)
{
    if (status <= 0)
        return AIP_CLASS_NONE;
    if (status < 200)
        return AIP_CLASS_1XX;
    if (status >= 500)
        return AIP_CLASS_5XX;
    return (aip_status_class) (status / 100 - 1);
}

/* ---- recording --------------------------------------------------------------------------- */

static void add(volatile apr_uint64_t *counter, apr_uint64_t n)
{
    if (n)
        apr_atomic_add64(counter, n);
}

static int bucket_of(const apr_uint64_t *bounds, int n, apr_uint64_t value)
{
    int i = 0;
    while (i < n && value > bounds[i])
        i++;
    return i;
}

#define OBSERVE(h, bounds, n, value)                                                               \
    do {                                                                                           \
        apr_atomic_add64(&(h).bucket[bucket_of((bounds), (n), (value))], 1);                       \
        apr_atomic_add64(&(h).count, 1);                                                           \
        add(&(h).sum_us, (value));                                                                 \
    } while (0)

void aip_metrics_count_attempt(aip_metrics_row *row, int status)
{
    apr_atomic_add64(&row->attempts, 1);
    if (status == 401)
        apr_atomic_add64(&row->status_401, 1);
    else if (status == 403)
        apr_atomic_add64(&row->status_403, 1);
    else if (status == 429)
        apr_atomic_add64(&row->status_429, 1);
}

void aip_metrics_count_request(aip_metrics_row *row, apr_uint64_t duration_us, int answered,
                               apr_uint64_t ttft_us, const long long tokens[AIP_TOKEN_TYPES])
{
    apr_atomic_add64(&row->requests, 1);
    OBSERVE(row->duration, aip_duration_bounds_us, AIP_DURATION_BUCKETS, duration_us);
    if (answered)
        OBSERVE(row->ttft, aip_ttft_bounds_us, AIP_TTFT_BUCKETS, ttft_us);
    for (int t = 0; tokens && t < AIP_TOKEN_TYPES; t++)
        if (tokens[t] > 0)
            add(&row->tokens[t], (apr_uint64_t) tokens[t]);
}

void aip_metrics_count_failover(aip_metrics_row *row)
{
    apr_atomic_add64(&row->failovers, 1);
}

void aip_metrics_count_breaker_opening(aip_metrics_row *row)
{
    apr_atomic_add64(&row->breaker_openings, 1);
}

/* ---- snapshot ---------------------------------------------------------------------------- */

static apr_uint64_t get(const volatile apr_uint64_t *counter)
{
    return apr_atomic_read64((volatile apr_uint64_t *) counter);
}

aip_metrics_row *aip_metrics_copy(apr_pool_t *p, const aip_metrics_row *rows, apr_size_t count)
{
    aip_metrics_row *copy = apr_palloc(p, sizeof(*copy) * (count ? count : 1));
    /* every field of a row is an apr_uint64_t: read them one by one, atomically */
    apr_size_t words = sizeof(aip_metrics_row) / sizeof(apr_uint64_t);

    for (apr_size_t i = 0; i < count; i++) {
        const volatile apr_uint64_t *from = (const volatile apr_uint64_t *) &rows[i];
        volatile apr_uint64_t *to = (volatile apr_uint64_t *) &copy[i];
        for (apr_size_t w = 0; w < words; w++)
            to[w] = get(&from[w]);
    }
    return copy;
}

/* ---- text building ----------------------------------------------------------------------- */

typedef struct {
    apr_pool_t *p;
    char *buf;
    apr_size_t len, cap;
} textbuf;

static void put(textbuf *t, const char *s, apr_size_t n)
{
    if (t->len + n + 1 > t->cap) {
        apr_size_t cap = t->cap * 2 > t->len + n + 1 ? t->cap * 2 : t->len + n + 1024;
        char *grown = apr_palloc(t->p, cap);
        memcpy(grown, t->buf, t->len);
        t->buf = grown;
        t->cap = cap;
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = '\0';
}

static void puts_(textbuf *t, const char *s)
{
    put(t, s, strlen(s));
}

static void printf_(textbuf *t, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    apr_size_t n;

    va_start(ap, fmt);
    n = (apr_size_t) apr_vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < sizeof(small) - 1) {
        put(t, small, n);
        return;
    }
    va_start(ap, fmt);
    puts_(t, apr_pvsprintf(t->p, fmt, ap));
    va_end(ap);
}

/* A label value in the exposition's quoting: backslash, quote and newline escaped. */
static void put_label_value(textbuf *t, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\')
            puts_(t, "\\\\");
        else if (*v == '"')
            puts_(t, "\\\"");
        else if (*v == '\n')
            puts_(t, "\\n");
        else
            put(t, v, 1);
    }
}

typedef struct {
    const aip_metrics_snapshot *s;
    int openmetrics;
    textbuf out;
} exposition;

static void family(exposition *e, const char *name, const char *type, const char *help)
{
    /* OpenMetrics names a counter family without _total; the text format by its samples */
    const char *family_name = name;
    if (e->openmetrics && !strcmp(type, "counter"))
        family_name = apr_pstrmemdup(e->out.p, name, strlen(name) - strlen("_total"));
    printf_(&e->out, "# HELP %s %s\n# TYPE %s %s\n", family_name, help, family_name, type);
}

/* The labels of row r of upstream u: {aiproxy_upstream=..,...} without the closing brace. */
static void row_labels(exposition *e, int u, apr_size_t r)
{
    const aip_metrics_upstream *mu = &e->s->layout->upstreams[u];
    apr_size_t within = r - mu->first_row;
    apr_size_t cls = within % AIP_CLASS_COUNT;
    apr_size_t proto = (within / AIP_CLASS_COUNT) % AIPROXY_PROTO_COUNT;
    apr_size_t model = within / AIP_CLASS_COUNT / AIPROXY_PROTO_COUNT;

    puts_(&e->out, "{aiproxy_upstream=\"");
    put_label_value(&e->out, mu->name);
    puts_(&e->out, "\",gen_ai_provider_name=\"");
    put_label_value(&e->out, mu->provider);
    puts_(&e->out, "\",gen_ai_request_model=\"");
    put_label_value(&e->out, mu->models[model]);
    printf_(&e->out, "\",aiproxy_client_protocol=\"%s\",aiproxy_status_class=\"%s\"",
            protocol_names[proto], class_names[cls]);
}

typedef apr_uint64_t (*row_value_fn)(const aip_metrics_row *row, int arg);

static apr_uint64_t v_requests(const aip_metrics_row *row, int arg)
{
    return row->requests;
}
static apr_uint64_t v_attempts(const aip_metrics_row *row, int arg)
{
    return row->attempts;
}
static apr_uint64_t v_failovers(const aip_metrics_row *row, int arg)
{
    return row->failovers;
}
static apr_uint64_t v_openings(const aip_metrics_row *row, int arg)
{
    return row->breaker_openings;
}
static apr_uint64_t v_tokens(const aip_metrics_row *row, int arg)
{
    return row->tokens[arg];
}

/* One sample per row with a non-zero value (and extra label pairs when given). */
static void counter_samples(exposition *e, const char *name, row_value_fn value, int arg,
                            const char *extra_labels)
{
    const aip_metrics_layout *l = e->s->layout;

    for (int u = 0; u <= l->nupstreams; u++) {
        const aip_metrics_upstream *mu = &l->upstreams[u];
        for (apr_size_t r = mu->first_row; r < mu->first_row + rows_of(mu); r++) {
            apr_uint64_t v = value(&e->s->rows[r], arg);
            if (!v)
                continue;
            puts_(&e->out, name);
            row_labels(e, u, r);
            printf_(&e->out, "%s} %" APR_UINT64_T_FMT "\n", extra_labels ? extra_labels : "", v);
        }
    }
}

static void counter(exposition *e, const char *name, const char *help, row_value_fn value)
{
    family(e, name, "counter", help);
    counter_samples(e, name, value, 0, NULL);
}

/* A bucket bound in seconds, as the exposition formats print floats ("0.005", "10.0"). */
static const char *seconds(apr_pool_t *p, apr_uint64_t us)
{
    const char *s =
        apr_psprintf(p, "%" APR_UINT64_T_FMT ".%06" APR_UINT64_T_FMT, us / 1000000, us % 1000000);
    apr_size_t n = strlen(s);
    while (s[n - 1] == '0' && s[n - 2] != '.')
        n--;
    return apr_pstrmemdup(p, s, n);
}

static void histogram(exposition *e, const char *name, const char *help, int ttft)
{
    const aip_metrics_layout *l = e->s->layout;
    const apr_uint64_t *bounds = ttft ? aip_ttft_bounds_us : aip_duration_bounds_us;
    int nbounds = ttft ? AIP_TTFT_BUCKETS : AIP_DURATION_BUCKETS;

    family(e, name, "histogram", help);
    for (int u = 0; u <= l->nupstreams; u++) {
        const aip_metrics_upstream *mu = &l->upstreams[u];
        for (apr_size_t r = mu->first_row; r < mu->first_row + rows_of(mu); r++) {
            const aip_metrics_row *row = &e->s->rows[r];
            const volatile apr_uint64_t *bucket = ttft ? row->ttft.bucket : row->duration.bucket;
            apr_uint64_t count = ttft ? row->ttft.count : row->duration.count;
            apr_uint64_t sum = ttft ? row->ttft.sum_us : row->duration.sum_us;
            apr_uint64_t cumulative = 0;

            if (!count)
                continue;
            for (int b = 0; b <= nbounds; b++) {
                cumulative += bucket[b];
                printf_(&e->out, "%s_bucket", name);
                row_labels(e, u, r);
                printf_(&e->out, ",le=\"%s\"} %" APR_UINT64_T_FMT "\n",
                        b < nbounds ? seconds(e->out.p, bounds[b]) : "+Inf", cumulative);
            }
            printf_(&e->out, "%s_sum", name);
            row_labels(e, u, r);
            printf_(&e->out, "} %s\n", seconds(e->out.p, sum));
            printf_(&e->out, "%s_count", name);
            row_labels(e, u, r);
            printf_(&e->out, "} %" APR_UINT64_T_FMT "\n", count);
        }
    }
}

static void upstream_gauge(exposition *e, const char *name, const char *help, int which)
{
    const aip_metrics_layout *l = e->s->layout;

    family(e, name, "gauge", help);
    for (int u = 0; u < l->nupstreams; u++) {
        const aip_metrics_upstream_state *st = &e->s->states[u];
        int v = which == 0 ? st->circuits_open : which == 1 ? st->tokens_cooling : st->enabled;
        puts_(&e->out, name);
        puts_(&e->out, "{aiproxy_upstream=\"");
        put_label_value(&e->out, l->upstreams[u].name);
        puts_(&e->out, "\",gen_ai_provider_name=\"");
        put_label_value(&e->out, l->upstreams[u].provider);
        printf_(&e->out, "\"} %d\n", v);
    }
}

char *aip_metrics_exposition(apr_pool_t *p, const aip_metrics_snapshot *s, int openmetrics,
                             apr_size_t *len)
{
    exposition e;

    memset(&e, 0, sizeof(e));
    e.s = s;
    e.openmetrics = openmetrics;
    e.out.p = p;
    e.out.cap = 8192;
    e.out.buf = apr_palloc(p, e.out.cap);
    e.out.buf[0] = '\0';

    counter(&e, "aiproxy_requests_total",
            "Client requests, by the upstream that answered (none: no upstream did) and the "
            "class of the client's status.",
            v_requests);
    counter(&e, "aiproxy_attempts_total",
            "Tries of an upstream, by the class of the upstream's answer (none: no answer).",
            v_attempts);
    counter(&e, "aiproxy_failovers_total",
            "Failed tries after which the request went on to another upstream or credential.",
            v_failovers);
    counter(&e, "aiproxy_breaker_openings_total",
            "Circuits of (upstream, model) opened by a failed try.", v_openings);
    family(&e, "gen_ai_client_token_usage_total", "counter",
           "Tokens used by answered requests, by gen_ai_token_type.");
    for (int t = 0; t < AIP_TOKEN_TYPES; t++)
        counter_samples(&e, "gen_ai_client_token_usage_total", v_tokens, t,
                        apr_psprintf(p, ",gen_ai_token_type=\"%s\"", token_type_names[t]));
    histogram(&e, "gen_ai_server_request_duration_seconds",
              "Time from the client's request to the end of its answer.", 0);
    histogram(&e, "gen_ai_server_time_to_first_token_seconds",
              "Time from the client's request to the first byte of an upstream's answer.", 1);
    upstream_gauge(&e, "aiproxy_upstream_circuits_open", "Circuits of (upstream, model) open now.",
                   0);
    upstream_gauge(&e, "aiproxy_upstream_tokens_cooling_down",
                   "API keys of the upstream benched now (refused or throttled).", 1);
    upstream_gauge(&e, "aiproxy_upstream_enabled",
                   "1 when the upstream is in rotation as configured (enabled, with a credential).",
                   2);
    if (openmetrics)
        puts_(&e.out, "# EOF\n");
    *len = e.out.len;
    return e.out.buf;
}

int aip_metrics_wants_openmetrics(const char *accept)
{
    return accept && strstr(accept, "application/openmetrics-text") != NULL;
}

/* ---- per-upstream totals ----------------------------------------------------------------- */

void aip_metrics_upstream_totals(const aip_metrics_snapshot *s, int upstream, aip_metrics_totals *t)
{
    const aip_metrics_upstream *mu = &s->layout->upstreams[upstream];

    memset(t, 0, sizeof(*t));
    for (apr_size_t r = mu->first_row; r < mu->first_row + rows_of(mu); r++) {
        const aip_metrics_row *row = &s->rows[r];
        apr_size_t cls = (r - mu->first_row) % AIP_CLASS_COUNT;

        t->requests += row->requests;
        t->attempts += row->attempts;
        if (cls == AIP_CLASS_2XX)
            t->successes += row->attempts;
        if (cls == AIP_CLASS_5XX)
            t->status_5xx += row->attempts;
        t->failovers += row->failovers;
        t->breaker_openings += row->breaker_openings;
        t->status_401 += row->status_401;
        t->status_403 += row->status_403;
        t->status_429 += row->status_429;
        for (int k = 0; k < AIP_TOKEN_TYPES; k++)
            t->tokens[k] += row->tokens[k];
        t->duration_count += row->duration.count;
        t->duration_sum_us += row->duration.sum_us;
        t->ttft_count += row->ttft.count;
        t->ttft_sum_us += row->ttft.sum_us;
    }
}

static double mean_ms(apr_uint64_t sum_us, apr_uint64_t count)
{
    return count ? (double) sum_us / (double) count / 1000.0 : 0.0;
}

char *aip_metrics_providers_json(const aip_metrics_snapshot *s)
{
    json_t *providers = json_object();
    char *text;

    for (int u = 0; u < s->layout->nupstreams; u++) {
        const aip_metrics_upstream_state *st = &s->states[u];
        aip_metrics_totals t;
        json_t *tokens = json_object();

        aip_metrics_upstream_totals(s, u, &t);
        for (int k = 0; k < AIP_TOKEN_TYPES; k++)
            json_object_set_new(tokens, token_type_names[k],
                                json_integer((json_int_t) t.tokens[k]));
        json_object_set_new(
            providers, s->layout->upstreams[u].name,
            json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:i, s:i, s:b, "
                      "s:o, s:f, s:f}",
                      "provider", s->layout->upstreams[u].provider, "requests",
                      (json_int_t) t.attempts, "successes", (json_int_t) t.successes, "failures",
                      (json_int_t) (t.attempts - t.successes), "status_401",
                      (json_int_t) t.status_401, "status_403", (json_int_t) t.status_403,
                      "status_429", (json_int_t) t.status_429, "status_5xx",
                      (json_int_t) t.status_5xx, "failovers", (json_int_t) t.failovers,
                      "breaker_openings", (json_int_t) t.breaker_openings, "breaker_state",
                      st->circuits_open ? "open" : "closed", "open_circuits", st->circuits_open,
                      "tokens_cooling_down", st->tokens_cooling, "enabled", st->enabled, "tokens",
                      tokens, "mean_latency_ms", mean_ms(t.duration_sum_us, t.duration_count),
                      "mean_ttft_ms", mean_ms(t.ttft_sum_us, t.ttft_count)));
    }
    text = json_dumps(json_pack("{s:s, s:o}", "object", "provider_metrics", "providers", providers),
                      JSON_COMPACT);
    return text;
}

/* ---- mod_status -------------------------------------------------------------------------- */

static void status_line(apr_array_header_t *lines, const char *key, const char *value)
{
    aip_metrics_status_line *line = apr_array_push(lines);
    line->key = key;
    line->value = value;
}

/* Upstream names are checked at configuration ([A-Za-z0-9._-]), so they fit in a key. */
apr_array_header_t *aip_metrics_status_lines(apr_pool_t *p, const aip_metrics_snapshot *s)
{
    apr_array_header_t *lines = apr_array_make(p, 8, sizeof(aip_metrics_status_line));
    int cooling = 0;

    for (int u = 0; u < s->layout->nupstreams; u++) {
        const aip_metrics_upstream_state *st = &s->states[u];
        const char *name = s->layout->upstreams[u].name;
        aip_metrics_totals t;
        aip_metrics_upstream_totals(s, u, &t);

        status_line(lines, apr_pstrcat(p, "AIProxyUpstream_", name, "_State", NULL),
                    !st->enabled        ? "disabled"
                    : st->circuits_open ? "open"
                                        : "ok");
        status_line(lines, apr_pstrcat(p, "AIProxyUpstream_", name, "_OpenCircuits", NULL),
                    apr_itoa(p, st->circuits_open));
        status_line(lines, apr_pstrcat(p, "AIProxyUpstream_", name, "_Requests", NULL),
                    apr_psprintf(p, "%" APR_UINT64_T_FMT, t.attempts));
        status_line(lines, apr_pstrcat(p, "AIProxyUpstream_", name, "_Failovers", NULL),
                    apr_psprintf(p, "%" APR_UINT64_T_FMT, t.failovers));
        status_line(lines, apr_pstrcat(p, "AIProxyUpstream_", name, "_TokensCoolingDown", NULL),
                    apr_itoa(p, st->tokens_cooling));
        cooling += st->tokens_cooling;
    }
    status_line(lines, "AIProxyUpstreams", apr_itoa(p, s->layout->nupstreams));
    status_line(lines, "AIProxyTokensCoolingDown", apr_itoa(p, cooling));
    return lines;
}
