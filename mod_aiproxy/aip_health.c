/* aip_health.c: see aip_health.h. */
#include <string.h>
#include "apr_hash.h"
#include "aip_health.h"
#include "aip_model_names.h"

apr_array_header_t *aip_health_models(apr_pool_t *p, const aip_config *cfg)
{
    apr_array_header_t *models = apr_array_make(p, 8, sizeof(const char *));
    apr_hash_t *seen = apr_hash_make(p);
    int any = 0;

    for (int i = 0; i < cfg->upstreams->nelts; i++) {
        const aip_upstream *up = APR_ARRAY_IDX(cfg->upstreams, i, const aip_upstream *);
        any |= up->models->nelts == 0;
        for (int m = 0; m < up->models->nelts; m++) {
            const char *model = APR_ARRAY_IDX(up->models, m, const char *);
            /* listed but excluded: served by none, so never a model to wait for */
            if (aip_upstream_excludes(up, model))
                continue;
            if (!apr_hash_get(seen, model, APR_HASH_KEY_STRING)) {
                apr_hash_set(seen, model, APR_HASH_KEY_STRING, model);
                APR_ARRAY_PUSH(models, const char *) = model;
            }
        }
    }
    if (any)
        APR_ARRAY_PUSH(models, const char *) = AIP_HEALTH_ANY_MODEL;
    return models;
}

/* Is some upstream that serves model (or, for AIP_HEALTH_ANY_MODEL, every model) ready? */
static int model_ready(const aip_config *cfg, const char *model, aip_upstream_ready_fn ready,
                       void *ctx)
{
    int any = !strcmp(model, AIP_HEALTH_ANY_MODEL);

    for (int i = 0; i < cfg->upstreams->nelts; i++) {
        const aip_upstream *up = APR_ARRAY_IDX(cfg->upstreams, i, const aip_upstream *);
        if (any ? up->models->nelts != 0 : !aip_upstream_serves(up, model))
            continue;
        if (ready(ctx, up, model))
            return 1;
    }
    return 0;
}

apr_array_header_t *aip_health_unready_models(apr_pool_t *p, const aip_config *cfg,
                                              aip_upstream_ready_fn ready, void *ctx)
{
    apr_array_header_t *models = aip_health_models(p, cfg);
    apr_array_header_t *unready = apr_array_make(p, 4, sizeof(const char *));

    for (int i = 0; i < models->nelts; i++) {
        const char *model = APR_ARRAY_IDX(models, i, const char *);
        if (!model_ready(cfg, model, ready, ctx))
            APR_ARRAY_PUSH(unready, const char *) = model;
    }
    return unready;
}
