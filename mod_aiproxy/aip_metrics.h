/*
 * aip_metrics.h: the gateway's counters and histograms, and their text forms (Prometheus,
 * OpenMetrics, the JSON of GET /v1/metrics/providers, mod_status lines).
 *
 * The counters of a virtual host are one dense array of rows in memory shared by every child
 * (the glue, mod_aiproxy_metrics.c, puts it in a slotmem): one row per (upstream, model
 * label, client protocol, status class). Every label value comes from the configuration (an
 * upstream's name and api type, a configured model name, or "other"), never from what a
 * client sent, so no client can grow the number of series. Recording is a few atomic adds on
 * the row: no lock, and no allocation.
 *
 * Formatting works on a snapshot (the rows copied out, plus each upstream's breaker state),
 * so it is pure and unit tested.
 */
#ifndef AIP_METRICS_H
#define AIP_METRICS_H

#include "apr.h"
#include "apr_hash.h"
#include "apr_pools.h"
#include "aip_config.h"

/* Status classes of an answer: the client's (requests) or an upstream's (attempts).
 * AIP_CLASS_NONE: no HTTP answer at all (connect failure, timeout). */
typedef enum {
    AIP_CLASS_1XX = 0,
    AIP_CLASS_2XX,
    AIP_CLASS_3XX,
    AIP_CLASS_4XX,
    AIP_CLASS_5XX,
    AIP_CLASS_NONE,
    AIP_CLASS_COUNT
} aip_status_class;

typedef enum {
    AIP_TOKEN_INPUT = 0,
    AIP_TOKEN_OUTPUT,
    AIP_TOKEN_CACHE_READ,
    AIP_TOKEN_CACHE_WRITE,
    AIP_TOKEN_REASONING,
    AIP_TOKEN_TYPES
} aip_token_type;

/* Bucket bounds in microseconds: the OpenTelemetry GenAI semantic conventions' advice for
 * gen_ai.server.request.duration and gen_ai.server.time_to_first_token. */
#define AIP_DURATION_BUCKETS 14
#define AIP_TTFT_BUCKETS     16
extern const apr_uint64_t aip_duration_bounds_us[AIP_DURATION_BUCKETS];
extern const apr_uint64_t aip_ttft_bounds_us[AIP_TTFT_BUCKETS];

/* Per-bucket counts (not cumulative: one add per observation), the last one past every
 * bound (+Inf), the observations' count and their sum in microseconds. */
#define AIP_HISTOGRAM(n)                                                                           \
    struct {                                                                                       \
        volatile apr_uint64_t bucket[(n) + 1];                                                     \
        volatile apr_uint64_t count, sum_us;                                                       \
    }

typedef struct {
    volatile apr_uint64_t requests;         /* client requests (class: the client's status) */
    volatile apr_uint64_t attempts;         /* upstream tries (class: the upstream's answer) */
    volatile apr_uint64_t failovers;        /* tries after which the request moved on */
    volatile apr_uint64_t breaker_openings; /* circuits of (upstream, model) this try opened */
    volatile apr_uint64_t status_401, status_403, status_429; /* of attempts */
    volatile apr_uint64_t tokens[AIP_TOKEN_TYPES];
    AIP_HISTOGRAM(AIP_DURATION_BUCKETS) duration;
    AIP_HISTOGRAM(AIP_TTFT_BUCKETS) ttft;
} aip_metrics_row;

typedef struct {
    const char *name;     /* the upstream's name; "none" for requests no upstream answered */
    const char *provider; /* gen_ai_provider_name: from the api type */
    const char **models;  /* label values; the last is "other" */
    int nmodels;
    apr_hash_t *model_index; /* model name -> its position + 1 */
    apr_size_t first_row;
} aip_metrics_upstream;

typedef struct {
    aip_metrics_upstream *upstreams; /* the configuration's, by index, then "none" */
    int nupstreams;                  /* configured ones ("none" is at nupstreams) */
    apr_size_t rows;
} aip_metrics_layout;

/* The rows of cfg's upstreams: each gets its own models as labels (every configured model,
 * when it serves all) and "other". */
aip_metrics_layout *aip_metrics_layout_create(apr_pool_t *p, const aip_config *cfg);

/* The row of (upstream index, or -1 for none; client model; client protocol; status class).
 * A model the upstream has no label for counts as "other". */
apr_size_t aip_metrics_row_of(const aip_metrics_layout *l, int upstream, const char *model,
                              aiproxy_proto proto, aip_status_class cls);

aip_status_class aip_status_class_of(int status);

/* Recording: atomic adds on one row. */
void aip_metrics_count_attempt(aip_metrics_row *row, int status);
void aip_metrics_count_request(aip_metrics_row *row, apr_uint64_t duration_us, int answered,
                               apr_uint64_t ttft_us, const long long tokens[AIP_TOKEN_TYPES]);
void aip_metrics_count_failover(aip_metrics_row *row);
void aip_metrics_count_breaker_opening(aip_metrics_row *row);

/* What the breaker table says of one upstream when the snapshot is taken. */
typedef struct {
    int enabled;        /* in rotation as configured (not disabled, has a credential) */
    int circuits_open;  /* its (upstream, model) circuits open now */
    int tokens_cooling; /* its keys benched now */
} aip_metrics_upstream_state;

typedef struct {
    const aip_metrics_layout *layout;
    aip_metrics_row *rows;              /* layout->rows, copied */
    aip_metrics_upstream_state *states; /* layout->nupstreams */
} aip_metrics_snapshot;

/* Copy count rows (atomic reads of each counter) into a fresh array of p. */
aip_metrics_row *aip_metrics_copy(apr_pool_t *p, const aip_metrics_row *rows, apr_size_t count);

/* The exposition: Prometheus text format 0.0.4, or OpenMetrics 1.0 (with "# EOF"). Rows that
 * never counted anything are left out. */
char *aip_metrics_exposition(apr_pool_t *p, const aip_metrics_snapshot *s, int openmetrics,
                             apr_size_t *len);
#define AIP_METRICS_PROMETHEUS_TYPE  "text/plain; version=0.0.4; charset=utf-8"
#define AIP_METRICS_OPENMETRICS_TYPE "application/openmetrics-text; version=1.0.0; charset=utf-8"
/* Does an Accept header ask for OpenMetrics? */
int aip_metrics_wants_openmetrics(const char *accept);

/* Per-upstream totals over every model, protocol and class. */
typedef struct {
    apr_uint64_t requests, attempts, successes, failovers, breaker_openings;
    apr_uint64_t status_401, status_403, status_429, status_5xx;
    apr_uint64_t tokens[AIP_TOKEN_TYPES];
    apr_uint64_t duration_count, duration_sum_us, ttft_count, ttft_sum_us;
} aip_metrics_totals;
void aip_metrics_upstream_totals(const aip_metrics_snapshot *s, int upstream,
                                 aip_metrics_totals *t);

/* GET /v1/metrics/providers: {"providers": {name: {...}}} as compact JSON (malloc'ed: free). */
char *aip_metrics_providers_json(const aip_metrics_snapshot *s);

/* mod_status: one (key, value) pair per line, keys without spaces ("AIProxyUpstream_<name>_*"
 * and totals), for ?auto and the HTML table alike. */
typedef struct {
    const char *key;
    const char *value;
} aip_metrics_status_line;
apr_array_header_t *aip_metrics_status_lines(apr_pool_t *p, const aip_metrics_snapshot *s);

#endif /* AIP_METRICS_H */
