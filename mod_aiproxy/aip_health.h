/*
 * aip_health.h: readiness of the gateway (GET /readyz): which configured models have no
 * upstream in rotation. The caller says what "in rotation" means for one upstream and model
 * (balancer state, credentials and breakers live in the glue); this core only walks the
 * configuration.
 */
#ifndef AIP_HEALTH_H
#define AIP_HEALTH_H

#include "apr_pools.h"
#include "apr_tables.h"
#include "aip_config.h"

/* Can up serve model right now? */
typedef int (*aip_upstream_ready_fn)(void *ctx, const aip_upstream *up, const char *model);

/* The name readiness reports for upstreams that list no models (they serve every model). */
#define AIP_HEALTH_ANY_MODEL "*"

/* Every model named by an upstream's models= list, in configuration order, once. When an
 * upstream lists none (it serves every model), AIP_HEALTH_ANY_MODEL stands for the rest. */
apr_array_header_t *aip_health_models(apr_pool_t *p, const aip_config *cfg);

/* The models of aip_health_models that no upstream serving them is ready for (const char *);
 * empty when the gateway is ready. AIP_HEALTH_ANY_MODEL is ready when any upstream that lists
 * no models is. */
apr_array_header_t *aip_health_unready_models(apr_pool_t *p, const aip_config *cfg,
                                              aip_upstream_ready_fn ready, void *ctx);

#endif /* AIP_HEALTH_H */
