/* oa_project.c: see oa_project.h. */
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "apr_lib.h"
#include "apr_strings.h"
#include "oa_json.h"
#include "oa_project.h"

/* The tier gemini-cli falls back to when no allowed tier is the default (its types.ts). */
#define FALLBACK_TIER "legacy-tier"
/* A project id is a short identifier; anything longer is no answer we trust. */
#define PROJECT_MAX 120

/* How each client names itself in the metadata (gemini-cli's setup.ts; CLIProxyAPI and
 * missdeer/aiproxy for Antigravity). */
static const char *metadata_of(oa_provider provider)
{
    return provider == OA_PROVIDER_ANTIGRAVITY
               ? "{\"ideType\":\"ANTIGRAVITY\",\"platform\":\"PLATFORM_UNSPECIFIED\","
                 "\"pluginType\":\"GEMINI\"}"
               : "{\"ideType\":\"IDE_UNSPECIFIED\",\"platform\":\"PLATFORM_UNSPECIFIED\","
                 "\"pluginType\":\"GEMINI\"}";
}

const char *oa_project_load_body(apr_pool_t *p, oa_provider provider)
{
    return apr_pstrcat(p, "{\"metadata\":", metadata_of(provider), "}", NULL);
}

const char *oa_project_onboard_body(apr_pool_t *p, oa_provider provider, const char *tier)
{
    json_t *body = json_pack("{s:s}", "tierId", tier);
    char *text;
    const char *out;

    json_object_set_new(body, "metadata", json_loads(metadata_of(provider), 0, NULL));
    text = json_dumps(body, JSON_COMPACT);
    out = apr_pstrdup(p, text);
    free(text);
    json_decref(body);
    return out;
}

/* A project as the answers name it: a string, or an object with its "id". */
static const char *project_of(apr_pool_t *p, json_t *v)
{
    const char *id =
        json_is_object(v) ? json_string_value(json_object_get(v, "id")) : json_string_value(v);

    if (!id || !*id || strlen(id) > PROJECT_MAX)
        return NULL;
    for (const char *c = id; *c; c++)
        if (!apr_isalnum(*c) && *c != '-' && *c != '_' && *c != '.' && *c != ':')
            return NULL;
    return apr_pstrdup(p, id);
}

/* The answer's JSON object (owned by p), or NULL with out failed. */
static json_t *answer_object(apr_pool_t *p, const char *what, int status, const char *body,
                             apr_size_t len, oa_project_step *out)
{
    json_t *root;

    if (status < 200 || status > 299) {
        out->outcome = OA_PROJECT_FAILED;
        out->why = status ? apr_psprintf(p, "%s answered HTTP %d", what, status)
                          : apr_psprintf(p, "%s: no answer", what);
        return NULL;
    }
    root = oa_json_pool_own(p, body ? json_loadb(body, len, 0, NULL) : NULL);
    if (!json_is_object(root)) {
        out->outcome = OA_PROJECT_FAILED;
        out->why = apr_psprintf(p, "%s answered no JSON object", what);
        return NULL;
    }
    return root;
}

/* The allowed tier marked isDefault, else the fallback. */
static const char *default_tier(apr_pool_t *p, json_t *root)
{
    json_t *tiers = json_object_get(root, "allowedTiers"), *tier;
    size_t i;

    json_array_foreach(tiers, i, tier)
    {
        const char *id = json_string_value(json_object_get(tier, "id"));
        if (id && json_is_true(json_object_get(tier, "isDefault")))
            return apr_pstrdup(p, id);
    }
    return FALLBACK_TIER;
}

void oa_project_read_load(apr_pool_t *p, int status, const char *body, apr_size_t len,
                          oa_project_step *out)
{
    json_t *root;

    memset(out, 0, sizeof(*out));
    if (!(root = answer_object(p, "loadCodeAssist", status, body, len, out)))
        return;
    if (json_is_object(json_object_get(root, "currentTier"))) {
        out->project = project_of(p, json_object_get(root, "cloudaicompanionProject"));
        out->outcome = out->project ? OA_PROJECT_FOUND : OA_PROJECT_FAILED;
        out->why = out->project ? NULL : "loadCodeAssist named a tier but no project";
        return;
    }
    out->outcome = OA_PROJECT_ONBOARD;
    out->tier = default_tier(p, root);
}

void oa_project_read_onboard(apr_pool_t *p, int status, const char *body, apr_size_t len,
                             oa_project_step *out)
{
    json_t *root;

    memset(out, 0, sizeof(*out));
    if (!(root = answer_object(p, "onboardUser", status, body, len, out)))
        return;
    if (!json_is_true(json_object_get(root, "done"))) {
        out->outcome = OA_PROJECT_PENDING;
        return;
    }
    out->project = project_of(
        p, json_object_get(json_object_get(root, "response"), "cloudaicompanionProject"));
    out->outcome = out->project ? OA_PROJECT_FOUND : OA_PROJECT_FAILED;
    out->why = out->project ? NULL : "onboardUser finished without a project";
}
