/*
 * mod_aiproxy_lbmethod.c: the "aiproxy" lbmethod for mod_proxy_balancer.
 *
 * The handler chooses the upstream (it must, to translate the body for that upstream's
 * protocol) and pins it on the attempt's subrequest; the finder hands mod_proxy exactly that
 * member, so pooling, TLS, timeouts and balancer-manager stay mod_proxy's. A balancer used
 * without the handler (plain ProxyPass with lbmethod=aiproxy) gets smooth weighted round
 * robin over its usable members.
 */
#include "httpd.h"
#include "http_log.h"
#include "ap_provider.h"
#include "mod_aiproxy_private.h"
#include "aiproxy_log.h"

APLOG_USE_MODULE(aiproxy);

/* Members the admin took out in balancer-manager (or hcheck) are skipped by the gateway. */
#define AIP_WORKER_OUT_OF_ROTATION                                                                 \
    (PROXY_WORKER_DISABLED | PROXY_WORKER_STOPPED | PROXY_WORKER_DRAIN | PROXY_WORKER_HC_FAIL)

/* mod_proxy's "bring a member back from its error state once retry= elapsed". */
static APR_OPTIONAL_FN_TYPE(ap_proxy_retry_worker) * retry_worker;

static void retry_if_in_error(proxy_worker *w, server_rec *s)
{
    if (!PROXY_WORKER_IS_USABLE(w) && retry_worker)
        retry_worker("BALANCER", w, s);
}

static proxy_worker *find_route(proxy_balancer *balancer, const char *route)
{
    proxy_worker **workers = (proxy_worker **) balancer->workers->elts;
    for (int i = 0; i < balancer->workers->nelts; i++) {
        if (!strcmp(workers[i]->s->route, route))
            return workers[i];
    }
    return NULL;
}

/* The member of up's balancer with route, unless the admin took it out. */
static proxy_worker *member_in_rotation(request_rec *r, const aip_upstream *up, const char *route)
{
    proxy_server_conf *pconf = ap_get_module_config(r->server->module_config, &proxy_module);
    proxy_balancer *balancer;
    proxy_worker *worker;

    balancer = ap_proxy_get_balancer(r->pool, pconf, up->balancer, 0);
    if (!balancer)
        return NULL;
    worker = find_route(balancer, route);
    if (!worker || (worker->s->status & AIP_WORKER_OUT_OF_ROTATION))
        return NULL;
    return worker;
}

proxy_worker *aip_worker_for(request_rec *r, const aip_upstream *up)
{
    return member_in_rotation(r, up, up->name);
}

int aip_fallback_in_rotation(request_rec *r, const aip_upstream *up, const aip_fallback_base *fb)
{
    return member_in_rotation(r, up, fb->route) != NULL;
}

/* Smooth weighted round robin on the shared lbstatus, as byrequests does; the finder runs
 * under the balancer's mutex. */
static proxy_worker *weighted_round_robin(proxy_balancer *balancer, request_rec *r)
{
    proxy_worker **workers = (proxy_worker **) balancer->workers->elts;
    proxy_worker *best = NULL;
    int total = 0;

    for (int i = 0; i < balancer->workers->nelts; i++) {
        proxy_worker *w = workers[i];
        retry_if_in_error(w, r->server);
        /* fallback bases (standby members) serve only the gateway's attempts */
        if (!PROXY_WORKER_IS_USABLE(w) || (w->s->status & AIP_WORKER_OUT_OF_ROTATION) ||
            PROXY_WORKER_IS_STANDBY(w))
            continue;
        w->s->lbstatus += w->s->lbfactor;
        total += w->s->lbfactor;
        if (!best || w->s->lbstatus > best->s->lbstatus)
            best = w;
    }
    if (best)
        best->s->lbstatus -= total;
    return best;
}

static proxy_worker *aiproxy_finder(proxy_balancer *balancer, request_rec *r)
{
    aip_attempt *at = aip_attempt_of(r); /* NULL on a plain ProxyPass request */
    proxy_worker *worker;

    if (!at)
        return weighted_round_robin(balancer, r);
    worker = find_route(balancer, at->base ? at->base->route : at->upstream->name);
    if (!worker)
        return NULL;
    /* retry=0 members come straight back from mod_proxy's error state; the circuit
     * breaker, not mod_proxy, decides how long a failing upstream stays out. */
    retry_if_in_error(worker, r->server);
    return PROXY_WORKER_IS_USABLE(worker) ? worker : NULL;
}

static apr_status_t aiproxy_reset(proxy_balancer *balancer, server_rec *s)
{
    return APR_SUCCESS;
}

static apr_status_t aiproxy_age(proxy_balancer *balancer, server_rec *s)
{
    return APR_SUCCESS;
}

static const proxy_balancer_method aiproxy_lbmethod = {
    AIP_LBMETHOD_NAME, aiproxy_finder, NULL, aiproxy_reset, aiproxy_age, NULL,
};

static int retrieve_proxy_functions(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                                    server_rec *s)
{
    retry_worker = APR_RETRIEVE_OPTIONAL_FN(ap_proxy_retry_worker);
    return OK;
}

void aip_lbmethod_register(apr_pool_t *p)
{
    ap_hook_post_config(retrieve_proxy_functions, NULL, NULL, APR_HOOK_MIDDLE);
    ap_register_provider(p, PROXY_LBMETHOD, AIP_LBMETHOD_NAME, "0", &aiproxy_lbmethod);
}
