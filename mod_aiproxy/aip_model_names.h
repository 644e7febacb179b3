/*
 * aip_model_names.h: the names a client may call a model by, and which upstream each one
 * reaches.
 *
 * An upstream with prefix=p answers "p/<model>" for every model of its catalog, and the bare
 * "<model>" too unless the server forces prefixes (AIProxyForceModelPrefix). Its
 * excluded models (names or * globs) are never routed to it and never listed for it. A name
 * ending in "-thinking" asks for the model without the suffix with thinking turned on,
 * unless the suffixed name is itself configured.
 */
#ifndef AIP_MODEL_NAMES_H
#define AIP_MODEL_NAMES_H

#include "apr_pools.h"
#include "apr_tables.h"
#include "aip_config.h"

#define AIP_THINKING_SUFFIX "-thinking"

/* The name in up's own catalog for client name model: without up's prefix when model
 * carries it ("p/m" -> "m"), else model itself. */
const char *aip_upstream_own_name(const aip_upstream *up, const char *model);

/* Does up (one of cfg's upstreams) answer client name model: reached through its prefix or
 * (unless cfg forces prefixes) without it, serving the name and not excluding it? A name
 * carrying an upstream's prefix is not answered by upstreams serving every model. */
int aip_upstream_answers(const aip_config *cfg, const aip_upstream *up, const char *model);

/* Is model (a name of up's catalog) one of up's excluded_models (names or * globs)? */
int aip_upstream_excludes(const aip_upstream *up, const char *model);

/* Append to names the names a client may call up's listed models by (for an upstream
 * serving every model: the client names of its map=): "<prefix>/<model>", and "<model>"
 * unless prefixes are forced or up has none. Excluded models are left out. */
void aip_upstream_client_names(apr_pool_t *p, const aip_upstream *up, int force_prefix,
                               apr_array_header_t *names);

/* Every name a client may call, deduplicated, in configuration order: the listed models of
 * the enabled upstreams (in their client names), then the fallback chains' names. Upstreams
 * that serve every model add only their mapped names (their catalog is the provider's). */
apr_array_header_t *aip_config_model_names(apr_pool_t *p, const aip_config *cfg);

/* Is model named in the configuration: a client name of an upstream's listed model, a
 * mapped name, or a fallback chain's name? (p: for walking the fallbacks; the shared
 * configuration's own iterator is not thread safe) */
int aip_config_names_model(apr_pool_t *p, const aip_config *cfg, const char *model);

/* The model to route for the client's name: the name itself, unless it ends in "-thinking"
 * and is not configured (aip_config_names_model); then the name without the suffix, and
 * *thinking is set to 1 (else 0). */
const char *aip_model_route_name(apr_pool_t *p, const aip_config *cfg, const char *name,
                                 int *thinking);

#endif /* AIP_MODEL_NAMES_H */
