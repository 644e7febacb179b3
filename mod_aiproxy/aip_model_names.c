/* aip_model_names.c: see aip_model_names.h. */
#include <stdlib.h>
#include <string.h>
#include "apr_fnmatch.h"
#include "apr_hash.h"
#include "apr_strings.h"
#include "aip_model_names.h"

/* The part of model after "<prefix>/", or NULL when model does not carry up's prefix. */
static const char *after_prefix(const aip_upstream *up, const char *model)
{
    size_t n;

    if (!up->prefix)
        return NULL;
    n = strlen(up->prefix);
    if (strncmp(model, up->prefix, n) || model[n] != '/' || !model[n + 1])
        return NULL;
    return model + n + 1;
}

const char *aip_upstream_own_name(const aip_upstream *up, const char *model)
{
    const char *rest = after_prefix(up, model);
    return rest ? rest : model;
}

int aip_upstream_excludes(const aip_upstream *up, const char *model)
{
    if (!up->excluded)
        return 0;
    for (int i = 0; i < up->excluded->nelts; i++) {
        if (apr_fnmatch(APR_ARRAY_IDX(up->excluded, i, const char *), model, 0) == APR_SUCCESS)
            return 1;
    }
    return 0;
}

/* Does model carry the prefix of one of cfg's enabled upstreams? */
static int carries_a_prefix(const aip_config *cfg, const char *model)
{
    for (int i = 0; i < cfg->upstreams->nelts; i++) {
        const aip_upstream *up = APR_ARRAY_IDX(cfg->upstreams, i, const aip_upstream *);
        if (up->enabled && after_prefix(up, model))
            return 1;
    }
    return 0;
}

int aip_upstream_answers(const aip_config *cfg, const aip_upstream *up, const char *model)
{
    const char *rest = after_prefix(up, model);

    if (!rest) {
        if (up->prefix && cfg->force_model_prefix)
            return 0;
        /* A prefixed name picks its upstream: one serving every model does not take it
         * too (an upstream listing the name literally still does). */
        if (up->models->nelts == 0 && carries_a_prefix(cfg, model))
            return 0;
    }
    return aip_upstream_serves(up, rest ? rest : model);
}

/* Append the client names of model, one of up's own names. */
static void push_client_names(apr_pool_t *p, const aip_upstream *up, int force_prefix,
                              const char *model, apr_array_header_t *names)
{
    if (aip_upstream_excludes(up, model))
        return;
    if (up->prefix)
        APR_ARRAY_PUSH(names, const char *) = apr_pstrcat(p, up->prefix, "/", model, NULL);
    if (!up->prefix || !force_prefix)
        APR_ARRAY_PUSH(names, const char *) = model;
}

void aip_upstream_client_names(apr_pool_t *p, const aip_upstream *up, int force_prefix,
                               apr_array_header_t *names)
{
    const apr_array_header_t *mapped = apr_table_elts(up->model_map);

    for (int m = 0; m < up->models->nelts; m++)
        push_client_names(p, up, force_prefix, APR_ARRAY_IDX(up->models, m, const char *), names);
    /* An upstream serving every model has no list, but the names it maps are its own. */
    if (up->models->nelts == 0) {
        for (int m = 0; m < mapped->nelts; m++)
            push_client_names(p, up, force_prefix, APR_ARRAY_IDX(mapped, m, apr_table_entry_t).key,
                              names);
    }
}

/* Append name to list unless seen before. */
static void add_once(apr_hash_t *seen, apr_array_header_t *list, const char *name)
{
    if (apr_hash_get(seen, name, APR_HASH_KEY_STRING))
        return;
    apr_hash_set(seen, name, APR_HASH_KEY_STRING, name);
    APR_ARRAY_PUSH(list, const char *) = name;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* Both ends of every fallback chain link, sorted so the list does not follow hash order. */
static apr_array_header_t *fallback_names(apr_pool_t *p, const aip_config *cfg)
{
    apr_array_header_t *chain = apr_array_make(p, 8, sizeof(const char *));

    for (apr_hash_index_t *hi = apr_hash_first(p, cfg->fallback); hi; hi = apr_hash_next(hi)) {
        const void *key;
        void *value;
        apr_hash_this(hi, &key, NULL, &value);
        APR_ARRAY_PUSH(chain, const char *) = key;
        APR_ARRAY_PUSH(chain, const char *) = value;
    }
    qsort(chain->elts, (size_t) chain->nelts, sizeof(const char *), compare_names);
    return chain;
}

apr_array_header_t *aip_config_model_names(apr_pool_t *p, const aip_config *cfg)
{
    apr_array_header_t *names = apr_array_make(p, 16, sizeof(const char *));
    apr_array_header_t *raw = apr_array_make(p, 16, sizeof(const char *));
    apr_hash_t *seen = apr_hash_make(p);

    for (int i = 0; i < cfg->upstreams->nelts; i++) {
        const aip_upstream *up = APR_ARRAY_IDX(cfg->upstreams, i, const aip_upstream *);
        if (up->enabled)
            aip_upstream_client_names(p, up, cfg->force_model_prefix, raw);
    }
    /* A chain's head is a name a client may send even without an upstream of its own. */
    apr_array_cat(raw, fallback_names(p, cfg));
    for (int i = 0; i < raw->nelts; i++)
        add_once(seen, names, APR_ARRAY_IDX(raw, i, const char *));
    return names;
}

int aip_config_names_model(apr_pool_t *p, const aip_config *cfg, const char *model)
{
    if (apr_hash_get(cfg->fallback, model, APR_HASH_KEY_STRING))
        return 1;
    for (apr_hash_index_t *hi = apr_hash_first(p, cfg->fallback); hi; hi = apr_hash_next(hi)) {
        void *value;
        apr_hash_this(hi, NULL, NULL, &value);
        if (!strcmp(value, model))
            return 1;
    }
    for (int i = 0; i < cfg->upstreams->nelts; i++) {
        const aip_upstream *up = APR_ARRAY_IDX(cfg->upstreams, i, const aip_upstream *);
        const char *own;
        if (up->prefix && cfg->force_model_prefix && !after_prefix(up, model))
            continue;
        own = aip_upstream_own_name(up, model);
        if (apr_table_get(up->model_map, own))
            return 1;
        for (int m = 0; m < up->models->nelts; m++) {
            if (!strcmp(APR_ARRAY_IDX(up->models, m, const char *), own))
                return 1;
        }
    }
    return 0;
}

const char *aip_model_route_name(apr_pool_t *p, const aip_config *cfg, const char *name,
                                 int *thinking)
{
    size_t n = strlen(name), suffix = sizeof(AIP_THINKING_SUFFIX) - 1;

    *thinking = 0;
    if (n <= suffix || strcmp(name + n - suffix, AIP_THINKING_SUFFIX) ||
        aip_config_names_model(p, cfg, name))
        return name;
    *thinking = 1;
    return apr_pstrmemdup(p, name, n - suffix);
}
