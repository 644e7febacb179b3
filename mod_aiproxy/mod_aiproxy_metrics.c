/*
 * mod_aiproxy_metrics.c: the counters in shared memory, the round-robin turns every child
 * shares, and what reads them: "SetHandler aiproxy-metrics" (Prometheus / OpenMetrics),
 * GET /v1/metrics/providers, and mod_status's server-status page.
 *
 * One slotmem holds, for every virtual host with its own upstreams, the turn words of its
 * selector and of its upstreams' API keys, and its rows of counters (aip_metrics.h). Its name
 * carries a fingerprint of that layout: a graceful restart with the same upstreams and models
 * finds the same segment and keeps counting; a changed layout gets a fresh one, so a counter
 * never lands in another series' slot. Recording is atomic adds on a row: no lock.
 */
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_protocol.h"
#include "ap_provider.h"
#include "ap_slotmem.h"
#include "apr_strings.h"
#include "mod_status.h"
#include "mod_aiproxy_private.h"
#include "aip_metrics.h"
#include "aiproxy_log.h"

APLOG_USE_MODULE(aiproxy);

#define METRICS_SLOTMEM_PREFIX "aiproxy-metrics-"
#define METRICS_HANDLER        "aiproxy-metrics"
/* The segment starts with this and the layout's fingerprint; anything else is zeroed. */
#define METRICS_MAGIC 0x4149504d45545231ull /* "AIPMETR1" */

struct aip_metrics_area {
    aip_metrics_layout *layout;
    aip_metrics_row *rows;               /* in shared memory; NULL until the segment exists */
    const apr_array_header_t *upstreams; /* the configuration's, to find vhosts sharing them */
};

typedef struct {
    apr_uint64_t magic;
    apr_uint64_t fingerprint;
} segment_header;

/* FNV-1a, 64 bits, over the layout's description. */
static apr_uint64_t fnv(apr_uint64_t h, const char *s)
{
    for (; *s; s++) {
        h ^= (unsigned char) *s;
        h *= 1099511628211ull;
    }
    return h ^ 0xff;
}

static apr_size_t align8(apr_size_t n)
{
    return (n + 7) & ~(apr_size_t) 7;
}

/* The area of vs's upstreams: made for the first virtual host with them, shared by every
 * virtual host that inherits them. */
static struct aip_metrics_area *area_for(apr_pool_t *pconf, apr_array_header_t *areas,
                                         const aip_config *cfg)
{
    struct aip_metrics_area *area;

    for (int i = 0; i < areas->nelts; i++) {
        area = APR_ARRAY_IDX(areas, i, struct aip_metrics_area *);
        if (area->upstreams == cfg->upstreams)
            return area;
    }
    area = apr_pcalloc(pconf, sizeof(*area));
    area->layout = aip_metrics_layout_create(pconf, cfg);
    area->upstreams = cfg->upstreams;
    APR_ARRAY_PUSH(areas, struct aip_metrics_area *) = area;
    return area;
}

static apr_uint64_t layout_fingerprint(apr_uint64_t h, const aip_metrics_layout *l)
{
    for (int u = 0; u <= l->nupstreams; u++) {
        h = fnv(h, l->upstreams[u].name);
        h = fnv(h, l->upstreams[u].provider);
        for (int m = 0; m < l->upstreams[u].nmodels; m++)
            h = fnv(h, l->upstreams[u].models[m]);
    }
    return fnv(h, "|");
}

apr_status_t aip_metrics_create_table(apr_pool_t *pconf, server_rec *s)
{
    const ap_slotmem_provider_t *storage =
        ap_lookup_provider(AP_SLOTMEM_PROVIDER_GROUP, "shm", AP_SLOTMEM_PROVIDER_VERSION);
    apr_array_header_t *areas = apr_array_make(pconf, 2, sizeof(struct aip_metrics_area *));
    apr_size_t turns = 0, rows = 0, size;
    apr_uint64_t fingerprint = 14695981039346656037ull;
    ap_slotmem_instance_t *inst = NULL;
    segment_header *header;
    volatile apr_uint32_t *turn;
    aip_metrics_row *row;
    void *base = NULL;
    apr_status_t rv;

    for (server_rec *vs = s; vs; vs = vs->next) {
        aip_server_conf *conf = ap_get_module_config(vs->module_config, &aiproxy_module);
        int fresh = areas->nelts;
        conf->metrics = area_for(pconf, areas, conf->cfg);
        if (areas->nelts > fresh) { /* a new set of upstreams: its rows and key turns */
            rows += conf->metrics->layout->rows;
            turns += (apr_size_t) conf->cfg->upstreams->nelts;
            fingerprint = layout_fingerprint(fingerprint, conf->metrics->layout);
        }
        turns += (apr_size_t) aip_selector_turns(conf->selector);
        fingerprint = fnv(fingerprint, apr_itoa(pconf, aip_selector_turns(conf->selector)));
    }
    if (!storage)
        return APR_SUCCESS; /* reported for the breakers; turns stay per child, no metrics */
    size = sizeof(segment_header) + align8(turns * sizeof(apr_uint32_t)) +
           rows * sizeof(aip_metrics_row);
    rv = storage->create(&inst,
                         apr_psprintf(pconf, METRICS_SLOTMEM_PREFIX "%016" APR_UINT64_T_HEX_FMT,
                                      fingerprint ^ (apr_uint64_t) size),
                         size, 1, AP_SLOTMEM_TYPE_PERSIST, pconf);
    if (rv == APR_SUCCESS)
        rv = storage->dptr(inst, 0, &base);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                     AIPLOGNO(03001) "mod_aiproxy: cannot create the metrics shared memory "
                                     "(%" APR_SIZE_T_FMT " bytes)",
                     size);
        return rv;
    }
    header = base;
    if (header->magic != METRICS_MAGIC || header->fingerprint != fingerprint) {
        memset(base, 0, size);
        header->magic = METRICS_MAGIC;
        header->fingerprint = fingerprint;
    }
    turn = (volatile apr_uint32_t *) (header + 1);
    row = (aip_metrics_row *) ((char *) base + sizeof(segment_header) +
                               align8(turns * sizeof(apr_uint32_t)));
    for (server_rec *vs = s; vs; vs = vs->next) {
        aip_server_conf *conf = ap_get_module_config(vs->module_config, &aiproxy_module);
        struct aip_metrics_area *area = conf->metrics;

        if (!area->rows) { /* first virtual host of this area */
            area->rows = row;
            row += area->layout->rows;
            for (int i = 0; i < conf->cfg->upstreams->nelts; i++)
                aip_credentials_share_turn(&conf->credentials[i], turn++);
        }
        aip_selector_share_turns(conf->selector, turn);
        turn += aip_selector_turns(conf->selector);
    }
    return APR_SUCCESS;
}

/* ---- recording ----------------------------------------------------------------------------- */

static aip_metrics_row *row_for(request_rec *r, int upstream, const char *model,
                                aip_status_class cls)
{
    aip_server_conf *conf = ap_get_module_config(r->server->module_config, &aiproxy_module);
    aip_request_state *state = aip_request_state_of(r);
    struct aip_metrics_area *area = conf->metrics;

    if (!area || !area->rows || !state)
        return NULL;
    return &area->rows[aip_metrics_row_of(area->layout, upstream, model, state->proto, cls)];
}

/* The upstream's answer to an attempt, as a status for its class (0: none). */
static int attempt_status(const aip_attempt *at)
{
    switch (at->outcome) {
    case AIP_OUTCOME_COMMITTED:
        return at->main->status;
    case AIP_OUTCOME_ERROR_STATUS:
        return at->status;
    case AIP_OUTCOME_ERROR_EVENT:
        return HTTP_BAD_GATEWAY; /* a 200 that carried only an error */
    default:
        return 0;
    }
}

static aip_metrics_row *attempt_row(const aip_attempt *at)
{
    int status = attempt_status(at);
    return row_for(at->main, at->upstream->index, at->model, aip_status_class_of(status));
}

void aip_metrics_attempt(const aip_attempt *at)
{
    aip_metrics_row *row = attempt_row(at);
    if (row)
        aip_metrics_count_attempt(row, attempt_status(at));
}

void aip_metrics_failover(const aip_attempt *at)
{
    aip_metrics_row *row = attempt_row(at);
    if (row)
        aip_metrics_count_failover(row);
}

void aip_metrics_breaker_opened(const aip_attempt *at)
{
    aip_metrics_row *row = attempt_row(at);
    if (row)
        aip_metrics_count_breaker_opening(row);
}

/* After the answer went out: the request's row, by the upstream that answered it. */
static int count_request(request_rec *r)
{
    aip_request_state *state = aip_request_state_of(r);
    const aip_attempt *answered;
    aip_metrics_row *row;
    long long tokens[AIP_TOKEN_TYPES] = {0};
    apr_time_t now = apr_time_now();

    if (!state || !state->generation)
        return DECLINED;
    answered = state->committed;
    row = row_for(r, answered ? answered->upstream->index : -1, state->model,
                  aip_status_class_of(r->status));
    if (!row)
        return DECLINED;
    if (answered && answered->translator) { /* a forwarded answer passes uncounted */
        const aiproxy_response_info *info = aip_translate->response_info(answered->translator);
        tokens[AIP_TOKEN_INPUT] = info->input_tokens;
        tokens[AIP_TOKEN_OUTPUT] = info->output_tokens;
        tokens[AIP_TOKEN_CACHE_READ] = info->cache_read_tokens;
        tokens[AIP_TOKEN_CACHE_WRITE] = info->cache_write_tokens;
        tokens[AIP_TOKEN_REASONING] = info->reasoning_tokens;
    }
    aip_metrics_count_request(
        row, (apr_uint64_t) (now > r->request_time ? now - r->request_time : 0), answered != NULL,
        answered && answered->committed_at > r->request_time
            ? (apr_uint64_t) (answered->committed_at - r->request_time)
            : 0,
        tokens);
    return DECLINED;
}

/* ---- reading ------------------------------------------------------------------------------- */

static aip_metrics_snapshot *snapshot(request_rec *r, const aip_server_conf *conf)
{
    const struct aip_metrics_area *area = conf->metrics;
    aip_metrics_snapshot *snap;
    int n;

    if (!area || !area->rows)
        return NULL;
    n = area->layout->nupstreams;
    snap = apr_pcalloc(r->pool, sizeof(*snap));
    snap->layout = area->layout;
    snap->rows = aip_metrics_copy(r->pool, area->rows, area->layout->rows);
    snap->states = apr_pcalloc(r->pool, sizeof(*snap->states) * (apr_size_t) (n + 1));
    {
        int *circuits = apr_pcalloc(r->pool, sizeof(int) * (apr_size_t) (n + 1));
        int *tokens = apr_pcalloc(r->pool, sizeof(int) * (apr_size_t) (n + 1));
        aip_breaker_count_open(r->pool, conf->cfg, circuits, tokens);
        for (int u = 0; u < n; u++) {
            const aip_upstream *up = APR_ARRAY_IDX(conf->cfg->upstreams, u, const aip_upstream *);
            snap->states[u].enabled =
                up->enabled && conf->credentials && conf->credentials[u].source != NULL;
            snap->states[u].circuits_open = circuits[u];
            snap->states[u].tokens_cooling = tokens[u];
        }
    }
    return snap;
}

static int metrics_handler(request_rec *r)
{
    aip_server_conf *conf;
    aip_metrics_snapshot *snap;
    int openmetrics;
    apr_size_t len;
    char *body;

    if (!r->handler || strcmp(r->handler, METRICS_HANDLER))
        return DECLINED;
    if (r->method_number != M_GET)
        return HTTP_METHOD_NOT_ALLOWED;
    conf = ap_get_module_config(r->server->module_config, &aiproxy_module);
    if (!(snap = snapshot(r, conf)))
        return HTTP_SERVICE_UNAVAILABLE;
    openmetrics = aip_metrics_wants_openmetrics(apr_table_get(r->headers_in, "Accept"));
    body = aip_metrics_exposition(r->pool, snap, openmetrics, &len);
    ap_set_content_type(r,
                        openmetrics ? AIP_METRICS_OPENMETRICS_TYPE : AIP_METRICS_PROMETHEUS_TYPE);
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_set_content_length(r, (apr_off_t) len);
    if (!r->header_only)
        ap_rwrite(body, (int) len, r);
    return OK;
}

int aip_metrics_serve_providers(request_rec *r, const aip_server_conf *conf)
{
    aip_metrics_snapshot *snap = snapshot(r, conf);
    char *body = snap ? aip_metrics_providers_json(snap) : NULL;

    if (!body)
        return HTTP_SERVICE_UNAVAILABLE;
    ap_set_content_type(r, "application/json");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_set_content_length(r, (apr_off_t) strlen(body));
    if (!r->header_only)
        ap_rputs(body, r);
    free(body);
    return OK;
}

/* mod_status: with ExtendedStatus On, the upstreams of the virtual host serving the page. */
static int status_section(request_rec *r, int flags)
{
    aip_server_conf *conf = ap_get_module_config(r->server->module_config, &aiproxy_module);
    aip_metrics_snapshot *snap;
    apr_array_header_t *lines;

    if (!(flags & AP_STATUS_EXTENDED) || !(snap = snapshot(r, conf)) || !snap->layout->nupstreams)
        return OK;
    lines = aip_metrics_status_lines(r->pool, snap);
    if (flags & AP_STATUS_SHORT) {
        for (int i = 0; i < lines->nelts; i++) {
            const aip_metrics_status_line *l = &APR_ARRAY_IDX(lines, i, aip_metrics_status_line);
            ap_rprintf(r, "%s: %s\n", l->key, l->value);
        }
        return OK;
    }
    ap_rputs("<hr />\n<h2>AI proxy upstreams</h2>\n<table border=\"0\">"
             "<tr><th>Upstream</th><th>State</th><th>Open circuits</th><th>Requests</th>"
             "<th>Failovers</th><th>Tokens cooling down</th></tr>\n",
             r);
    /* five lines per upstream, in order (aip_metrics_status_lines) */
    for (int u = 0; u < snap->layout->nupstreams; u++) {
        const aip_metrics_status_line *l = &APR_ARRAY_IDX(lines, u * 5, aip_metrics_status_line);
        ap_rprintf(r,
                   "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td>"
                   "</tr>\n",
                   ap_escape_html(r->pool, snap->layout->upstreams[u].name), l[0].value, l[1].value,
                   l[2].value, l[3].value, l[4].value);
    }
    ap_rputs("</table>\n", r);
    return OK;
}

void aip_metrics_register_hooks(apr_pool_t *p)
{
    ap_hook_handler(metrics_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_log_transaction(count_request, NULL, NULL, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(ap, status_hook, status_section, NULL, NULL, APR_HOOK_MIDDLE);
}
