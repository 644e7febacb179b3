/*
 * mod_aiproxy_oauth_watchdog.c: refreshing tokens ahead of expiry, in the background, so
 * requests rarely wait for a refresh.
 *
 * A mod_watchdog singleton (one child of the server runs it at a time) looks at every
 * credential every few seconds and refreshes those within their skew of expiry, under the
 * same lease as requests, so it never races them. Without mod_watchdog, requests refresh on
 * their own when a token comes due (one child per credential, the others keep the still-valid
 * token), which is logged once at startup.
 */
#include "httpd.h"
#include "http_log.h"
#include "aiproxy_watchdog.h"
#include "mod_aiproxy_oauth.h"
#include "aiproxy_log.h"

APLOG_USE_MODULE(aiproxy_oauth);

#define WATCHDOG_NAME     "aiproxy-oauth"
#define WATCHDOG_INTERVAL apr_time_from_sec(2)
#define SHARED_INTERVAL   apr_time_from_sec(1)

static apr_status_t refresh_due_files(int state, void *data, apr_pool_t *pool)
{
    apr_array_header_t *registry = data;

    if (state != AP_WATCHDOG_STATE_RUNNING)
        return APR_SUCCESS;
    for (int i = 0; i < registry->nelts; i++) {
        oa_file *f = APR_ARRAY_IDX(registry, i, oa_file *);
        oa_slot_tokens *view = apr_palloc(pool, sizeof(*view));

        oa_slot_read(f->slot, view);
        if (oa_refresh_due(f, view, apr_time_now()))
            oa_refresh_file(pool, f);
    }
    return APR_SUCCESS;
}

void oa_watchdog_start(apr_pool_t *pconf, server_rec *s, apr_array_header_t *registry)
{
    ap_watchdog_t *watchdog;
    apr_status_t rv = aiproxy_watchdog_start(pconf, WATCHDOG_NAME, 1, WATCHDOG_INTERVAL, registry,
                                             refresh_due_files, &watchdog);

    if (rv == APR_ENOTIMPL) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     AIPLOGNO(02030) "mod_aiproxy_oauth: mod_watchdog is not loaded, so tokens "
                                     "are refreshed by requests only (add LoadModule "
                                     "watchdog_module); credential cooldowns are not shared "
                                     "with other gateways either");
        return;
    }
    /* Cooldowns other gateways found, and this one's for them (mod_aiproxy_oauth_shared.c). */
    for (int i = 0; rv == APR_SUCCESS && i < registry->nelts; i++) {
        if (APR_ARRAY_IDX(registry, i, oa_file *)->shared_prefix) {
            rv = aiproxy_watchdog_add(watchdog, SHARED_INTERVAL, registry, oa_shared_sync);
            break;
        }
    }
    if (rv != APR_SUCCESS)
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                     AIPLOGNO(02031) "mod_aiproxy_oauth: the proactive refresh task could not "
                                     "start; tokens are refreshed by requests only");
}
