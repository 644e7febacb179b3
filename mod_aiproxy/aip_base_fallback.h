/*
 * aip_base_fallback.h: an upstream's fallback base URLs, tried in order inside the upstream
 * when its base URL fails in a way that another endpoint of the same provider may not.
 *
 * One mechanism, with the provider differences as data (a row per api type):
 *   - kiro: Kiro IDE's endpoint (q.us-east-1.amazonaws.com, JSON), then the older
 *     CodeWhisperer one (codewhisperer.us-east-1.amazonaws.com), which takes the AWS JSON
 *     protocol's content type and its X-Amz-Target; after a 429 or no answer at all
 *     (CLIProxyAPIPlus, research/oauth.md §5);
 *   - antigravity: the daily Cloud Code host, then the production one, same paths; after a
 *     429, no answer, or a 503 "no capacity available" (CLIProxyAPI, research/oauth.md §4).
 * Only the api type's default base URL gets the row's fallbacks by itself; an upstream names
 * its own with fallback_base=URL[,URL...] (each position keeps the row's way of speaking to
 * it) or turns them off with fallback_base=off. Every fallback base is a member of the
 * upstream's balancer (route <name>-fallback<N>), under the upstream's TLS settings.
 */
#ifndef AIP_BASE_FALLBACK_H
#define AIP_BASE_FALLBACK_H

#include "apr_pools.h"
#include "aip_config.h"
#include "aip_failover.h"
/* What failures of an attempt move it on to the next base URL (aip_upstream.fallback_triggers:
 * AIP_FALLBACK_ON_*), and how each is recognised. */
#include "aip_fallback_trigger.h"

/* The most fallback bases one upstream may list. */
#define AIP_MAX_FALLBACK_BASES 4

/* Record fallback_base=value on up: "off", or a comma-separated list of http(s) URLs (the
 * setting may be repeated). NULL, or an error message. */
const char *aip_base_fallback_set(apr_pool_t *p, aip_upstream *up, const char *value);

/* After every setting: is fallback_base= allowed for up's api type? NULL or a message. */
const char *aip_base_fallback_check(apr_pool_t *p, const aip_upstream *up);

/* Fill up->fallbacks (routes, headers) and up->fallback_triggers once up->base_url is final.
 * default_base: the base URL was the api type's default (not given), so the row's own
 * fallbacks apply unless fallback_base= said otherwise. */
void aip_base_fallback_resolve(apr_pool_t *p, aip_upstream *up, int default_base);

/* Does an attempt that failed this way (status and the start of its error body, for
 * AIP_FAILURE_STATUS) move on to up's next base URL? (aip_fallback_triggered on its api type's
 * triggers.) */
int aip_base_fallback_wanted(const aip_upstream *up, aip_failure_kind kind, int status,
                             const char *body, apr_size_t len);

#endif /* AIP_BASE_FALLBACK_H */
