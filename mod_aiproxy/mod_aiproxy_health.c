/*
 * mod_aiproxy_health.c: GET /livez and GET /readyz, for load balancers and orchestrators.
 *
 * Both answer without a client key: a probe carries none, and the answers name only model
 * names, which /v1/models lists anyway. /livez is 200 whenever a child can answer; /readyz is
 * 200 when every configured model has an upstream in rotation (aip_health.h) and 503 with the
 * models that have none.
 */
#include "httpd.h"
#include "http_config.h"
#include "http_protocol.h"
#include "http_log.h"
#include <jansson.h>
#include "mod_aiproxy_private.h"
#include "aip_health.h"
#include "aiproxy_log.h"

APLOG_USE_MODULE(aiproxy);

aip_rotation aip_upstream_rotation(request_rec *r, const aip_server_conf *conf,
                                   const aip_upstream *up, const char *model, apr_uint32_t now)
{
    const aip_credentials *credentials = &conf->credentials[up->index];

    if (!aip_worker_for(r, up))
        return AIP_ROTATION_DISABLED; /* disabled, stopped or drained in balancer-manager */
    if (!credentials->source || !credentials->provider->available(credentials->source))
        return AIP_ROTATION_NO_CREDENTIAL;
    if (aip_breaker_is_open(aip_breaker_for(r->pool, up, model, 0), now))
        return AIP_ROTATION_CIRCUIT_OPEN;
    return AIP_ROTATION_READY;
}

typedef struct {
    request_rec *r;
    const aip_server_conf *conf;
    apr_uint32_t now;
} readiness_probe;

static int upstream_ready(void *ctx, const aip_upstream *up, const char *model)
{
    readiness_probe *probe = ctx;

    /* The breaker of the wildcard name is never created; any model's open circuit is not. */
    return aip_upstream_rotation(probe->r, probe->conf, up, model, probe->now) ==
           AIP_ROTATION_READY;
}

static int send_health(request_rec *r, int status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    apr_size_t len = text ? strlen(text) : 0;

    json_decref(body);
    r->status = status;
    ap_set_content_type(r, "application/json");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_set_content_length(r, len);
    if (text && !r->header_only)
        ap_rwrite(text, (int) len, r);
    free(text);
    return OK;
}

int aip_serve_health(request_rec *r, const aip_server_conf *conf, int readiness)
{
    readiness_probe probe = {r, conf, (apr_uint32_t) apr_time_sec(apr_time_now())};
    apr_array_header_t *unready;
    json_t *names;

    if (!readiness)
        return send_health(r, HTTP_OK, json_pack("{s:s}", "status", "ok"));
    unready = aip_health_unready_models(r->pool, conf->cfg, upstream_ready, &probe);
    names = json_array();
    for (int i = 0; i < unready->nelts; i++)
        json_array_append_new(names, json_string(APR_ARRAY_IDX(unready, i, const char *)));
    if (unready->nelts) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      AIPLOGNO(00901) "not ready: %d model(s) without an upstream in rotation",
                      unready->nelts);
        return send_health(r, HTTP_SERVICE_UNAVAILABLE,
                           json_pack("{s:s, s:o}", "status", "unavailable", "models", names));
    }
    return send_health(r, HTTP_OK, json_pack("{s:s, s:o}", "status", "ok", "models", names));
}
