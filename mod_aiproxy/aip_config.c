/* aip_config.c: see aip_config.h. */
#include <stdlib.h>
#include <string.h>
#include "apr_atomic.h"
#include "apr_lib.h"
#include "apr_strings.h"
#include "aip_config.h"
#include "aip_base_fallback.h"
#include "aip_endpoint.h"
#include "aip_model_names.h"
#include "aip_preset.h"

const char AIP_NOT_OURS[] = "not an upstream setting";

/* api types, the wire protocol each speaks, the dialect of it their backend takes (request
 * shaping by the translate core), and for OAuth subscription types (credentials from auth
 * files, by mod_aiproxy_oauth) the provider's fixed endpoint. */
static const struct {
    const char *api_type;
    aiproxy_proto proto;
    aiproxy_dialect dialect;
    const char *oauth_base_url; /* NULL: an API-key type */
    /* Serves only the forwarded routes its api type is listed for (aip_forward.c): a rerank
     * provider has no chat API to translate to. Its key goes as a Bearer token (the proto's). */
    int forward_only;
} api_types[] = {
    {"anthropic", AIPROXY_PROTO_ANTHROPIC, AIPROXY_DIALECT_NONE, NULL, 0},
    {"openai", AIPROXY_PROTO_OPENAI, AIPROXY_DIALECT_NONE, NULL, 0},
    {"responses", AIPROXY_PROTO_RESPONSES, AIPROXY_DIALECT_NONE, NULL, 0},
    {"gemini", AIPROXY_PROTO_GEMINI, AIPROXY_DIALECT_NONE, NULL, 0},
    {"cohere", AIPROXY_PROTO_OPENAI, AIPROXY_DIALECT_NONE, NULL, 1},
    {"jina", AIPROXY_PROTO_OPENAI, AIPROXY_DIALECT_NONE, NULL, 1},
    {"claudecode", AIPROXY_PROTO_ANTHROPIC, AIPROXY_DIALECT_CLAUDE_CODE,
     "https://api.anthropic.com", 0},
    {"codex", AIPROXY_PROTO_RESPONSES, AIPROXY_DIALECT_CODEX,
     "https://chatgpt.com/backend-api/codex", 0},
    {"geminicli", AIPROXY_PROTO_GEMINI, AIPROXY_DIALECT_GEMINI_CLI,
     "https://cloudcode-pa.googleapis.com", 0},
    {"antigravity", AIPROXY_PROTO_GEMINI, AIPROXY_DIALECT_ANTIGRAVITY,
     "https://daily-cloudcode-pa.googleapis.com", 0},
    {"kiro", AIPROXY_PROTO_KIRO, AIPROXY_DIALECT_NONE, "https://q.us-east-1.amazonaws.com", 0},
};

/* Request-body codings and their accepted spellings (the seed config.yaml's aliases). */
static const struct {
    const char *name;
    const char *coding;
} compressions[] = {
    {"zstd", "zstd"}, {"x-zstd", "zstd"}, {"gzip", "gzip"},     {"x-gzip", "gzip"},
    {"br", "br"},     {"none", "none"},   {"identity", "none"},
};

aip_config *aip_config_create(apr_pool_t *p)
{
    aip_config *cfg = apr_pcalloc(p, sizeof(*cfg));
    cfg->upstreams = apr_array_make(p, 4, sizeof(aip_upstream *));
    cfg->fallback = apr_hash_make(p);
    cfg->client_keys = apr_array_make(p, 2, sizeof(aip_client_key *));
    cfg->max_body = AIP_DEFAULT_MAX_BODY;
    cfg->breaker_failures = AIP_DEFAULT_BREAKER_FAILURES;
    cfg->breaker_open_seconds = AIP_DEFAULT_BREAKER_OPEN_SECONDS;
    return cfg;
}

aip_config *aip_config_merge(apr_pool_t *p, const aip_config *base, const aip_config *add)
{
    aip_config *cfg = apr_pmemdup(p, add, sizeof(*cfg));
    /* Upstreams, fallbacks and keys describe one tenant: a virtual host that sets none of a
     * kind inherits the main server's, one that sets some uses only its own. */
    if (add->upstreams->nelts == 0)
        cfg->upstreams = base->upstreams;
    if (apr_hash_count(add->fallback) == 0)
        cfg->fallback = base->fallback;
    if (add->client_keys->nelts == 0)
        cfg->client_keys = base->client_keys;
    if (!add->breaker_set) {
        cfg->breaker_failures = base->breaker_failures;
        cfg->breaker_open_seconds = base->breaker_open_seconds;
        cfg->breaker_set = base->breaker_set;
    }
    if (!add->max_body_set) {
        cfg->max_body = base->max_body;
        cfg->max_body_set = base->max_body_set;
    }
    if (!add->force_model_prefix_set) {
        cfg->force_model_prefix = base->force_model_prefix;
        cfg->force_model_prefix_set = base->force_model_prefix_set;
    }
    if (!add->default_max_tokens_set) {
        cfg->default_max_tokens = base->default_max_tokens;
        cfg->default_max_tokens_set = base->default_max_tokens_set;
    }
    return cfg;
}

aip_upstream *aip_upstream_create(apr_pool_t *p, const char *name, const char *base_url)
{
    aip_upstream *up = apr_pcalloc(p, sizeof(*up));
    up->name = name;
    up->base_url = base_url;
    up->api_type = "anthropic";
    up->proto = AIPROXY_PROTO_ANTHROPIC;
    up->tokens = apr_array_make(p, 1, sizeof(const char *));
    up->weight = 1;
    up->enabled = 1;
    up->models = apr_array_make(p, 4, sizeof(const char *));
    up->model_map = apr_table_make(p, 4);
    up->headers = apr_array_make(p, 2, sizeof(aip_header));
    up->auth_files = apr_array_make(p, 1, sizeof(const char *));
    up->excluded = apr_array_make(p, 1, sizeof(const char *));
    up->compression = "zstd"; /* sent only when it makes the body smaller */
    up->tls_verify = 1;
    up->fallback_urls = apr_array_make(p, 1, sizeof(const char *));
    up->fallbacks = apr_array_make(p, 1, sizeof(aip_fallback_base));
    return up;
}

static const char *set_api(apr_pool_t *p, aip_upstream *up, const char *value)
{
    up->api_set = 1;
    for (size_t i = 0; i < sizeof(api_types) / sizeof(api_types[0]); i++) {
        if (!strcasecmp(value, api_types[i].api_type)) {
            up->api_type = api_types[i].api_type;
            up->proto = api_types[i].proto;
            up->dialect = api_types[i].dialect;
            up->oauth = api_types[i].oauth_base_url != NULL;
            up->forward_only = api_types[i].forward_only;
            return NULL;
        }
    }
    return apr_psprintf(p,
                        "unknown api type '%s' (anthropic, openai, responses, gemini, cohere, "
                        "jina, claudecode, codex, geminicli, antigravity, kiro)",
                        value);
}

/* Appends each comma-separated, trimmed, non-empty item of list to arr. */
static void push_list(apr_pool_t *p, apr_array_header_t *arr, const char *list)
{
    char *copy = apr_pstrdup(p, list), *state = NULL;
    for (char *item = apr_strtok(copy, ",", &state); item; item = apr_strtok(NULL, ",", &state)) {
        while (apr_isspace(*item))
            item++;
        for (char *end = item + strlen(item); end > item && apr_isspace(end[-1]); end--)
            end[-1] = '\0';
        if (*item)
            APR_ARRAY_PUSH(arr, const char *) = item;
    }
}

static const char *set_map(apr_pool_t *p, aip_upstream *up, const char *value)
{
    const char *eq = strchr(value, '=');
    if (!eq || eq == value || !eq[1])
        return apr_psprintf(p, "map=%s: expected map=<client model>=<upstream model>", value);
    apr_table_setn(up->model_map, apr_pstrmemdup(p, value, eq - value), eq + 1);
    return NULL;
}

static const char *set_header(apr_pool_t *p, aip_upstream *up, const char *value)
{
    const char *colon = strchr(value, ':');
    aip_header *h;
    if (!colon || colon == value)
        return apr_psprintf(p, "header=%s: expected header=\"Name: value\"", value);
    for (const char *c = value; c < colon; c++) {
        if (!apr_isgraph(*c))
            return apr_psprintf(p, "header=%s: invalid header name", value);
    }
    h = apr_array_push(up->headers);
    h->name = apr_pstrmemdup(p, value, colon - value);
    for (colon++; apr_isspace(*colon); colon++)
        ;
    h->value = colon;
    if (strpbrk(h->value, "\r\n"))
        return apr_psprintf(p, "header %s: the value must not contain line breaks", h->name);
    return NULL;
}

/* The preset fills in the api type unless api= says otherwise (in any order); its base URL
 * and endpoint are read when the upstream has none of its own. */
static const char *set_preset(apr_pool_t *p, aip_upstream *up, const char *value)
{
    const aip_preset *preset = aip_preset_find(value);
    int api_set = up->api_set;
    const char *err;

    if (!preset)
        return apr_psprintf(p, "preset=%s: unknown provider preset (see docs/directives.md)",
                            value);
    up->preset = preset;
    if (api_set)
        return NULL;
    err = set_api(p, up, preset->api_type);
    up->api_set = 0;
    return err;
}

/* A model prefix becomes the first path-like segment of client names: no '/', no spaces. */
static const char *set_prefix(apr_pool_t *p, aip_upstream *up, const char *value)
{
    if (!*value || strpbrk(value, "/ \t\r\n"))
        return apr_psprintf(p, "prefix=%s: expected one word without '/' or spaces", value);
    up->prefix = value;
    return NULL;
}

static const char *set_flag(apr_pool_t *p, int *flag, const char *key, const char *value)
{
    if (!strcasecmp(value, "on") || !strcasecmp(value, "true") || !strcmp(value, "1"))
        *flag = 1;
    else if (!strcasecmp(value, "off") || !strcasecmp(value, "false") || !strcmp(value, "0"))
        *flag = 0;
    else
        return apr_psprintf(p, "%s=%s: expected on or off", key, value);
    return NULL;
}

const char *aip_upstream_set(apr_pool_t *p, aip_upstream *up, const char *key, const char *value)
{
    if (!strcasecmp(key, "api"))
        return set_api(p, up, value);
    if (!strcasecmp(key, "token")) {
        if (!*value)
            return "token= must not be empty";
        APR_ARRAY_PUSH(up->tokens, const char *) = value;
        return NULL;
    }
    if (!strcasecmp(key, "auth_file")) {
        if (!*value)
            return "auth_file= must not be empty";
        APR_ARRAY_PUSH(up->auth_files, const char *) = value;
        return NULL;
    }
    if (!strcasecmp(key, "token_url")) {
        if (strncasecmp(value, "http://", 7) && strncasecmp(value, "https://", 8))
            return apr_psprintf(p, "token_url=%s: expected an http:// or https:// URL", value);
        up->token_url = value;
        return NULL;
    }
    if (!strcasecmp(key, "weight")) {
        char *end;
        long w = strtol(value, &end, 10);
        if (*end || end == value || w < 1 || w > 100)
            return apr_psprintf(p, "weight=%s: expected a whole number from 1 to 100", value);
        up->weight = (int) w;
        return NULL;
    }
    if (!strcasecmp(key, "models")) {
        push_list(p, up->models, value);
        return NULL;
    }
    if (!strcasecmp(key, "map"))
        return set_map(p, up, value);
    if (!strcasecmp(key, "prefix"))
        return set_prefix(p, up, value);
    if (!strcasecmp(key, "exclude")) {
        push_list(p, up->excluded, value);
        return NULL;
    }
    if (!strcasecmp(key, "preset"))
        return set_preset(p, up, value);
    if (!strcasecmp(key, "endpoint")) {
        const char *err = aip_endpoint_check(p, value);
        if (!err)
            up->endpoint = value;
        return err;
    }
    if (!strcasecmp(key, "header"))
        return set_header(p, up, value);
    if (!strcasecmp(key, "fallback_base"))
        return aip_base_fallback_set(p, up, value);
    if (!strcasecmp(key, "enabled"))
        return set_flag(p, &up->enabled, key, value);
    if (!strcasecmp(key, "tls_verify")) {
        up->tls_verify_set = 1;
        return set_flag(p, &up->tls_verify, key, value);
    }
    if (!strcasecmp(key, "tls_ca")) {
        if (!*value)
            return "tls_ca= must name a file of PEM CA certificates";
        up->tls_ca = value;
        return NULL;
    }
    if (!strcasecmp(key, "forwarded_headers"))
        return set_flag(p, &up->forwarded_headers, key, value);
    if (!strcasecmp(key, "compression")) {
        for (size_t i = 0; i < sizeof(compressions) / sizeof(compressions[0]); i++) {
            if (!strcasecmp(value, compressions[i].name)) {
                up->compression = compressions[i].coding;
                return NULL;
            }
        }
        return apr_psprintf(p, "compression=%s: expected zstd, gzip, br or none", value);
    }
    return AIP_NOT_OURS;
}

const char *aip_upstream_check(apr_pool_t *p, const aip_upstream *up)
{
    const char *err;

    if ((err = aip_base_fallback_check(p, up)) != NULL)
        return err;
    if (up->oauth && up->auth_files->nelts == 0)
        return apr_psprintf(p,
                            "upstream '%s' has no auth_file= (api type %s signs in with "
                            "OAuth credential files)",
                            up->name, up->api_type);
    if (!up->oauth && up->auth_files->nelts)
        return apr_psprintf(p,
                            "upstream '%s': auth_file= is for the OAuth api types "
                            "(claudecode, codex, geminicli, antigravity, kiro)",
                            up->name);
    if (!up->oauth && up->token_url)
        return apr_psprintf(p,
                            "upstream '%s': token_url= is for the OAuth api types "
                            "(claudecode, codex, geminicli, antigravity, kiro)",
                            up->name);
    if (!up->oauth && up->tokens->nelts == 0)
        return apr_psprintf(p,
                            "upstream '%s' has no token= (api keys are required for api "
                            "type %s)",
                            up->name, up->api_type);
    return NULL;
}

const char *aip_upstream_default_base_url(const aip_upstream *up)
{
    if (up->preset && !up->oauth)
        return up->preset->base_url;
    for (size_t i = 0; i < sizeof(api_types) / sizeof(api_types[0]); i++) {
        if (!strcmp(up->api_type, api_types[i].api_type))
            return api_types[i].oauth_base_url;
    }
    return NULL;
}

const char *aip_upstream_endpoint(const aip_upstream *up)
{
    if (up->endpoint)
        return up->endpoint;
    return up->preset && up->proto == AIPROXY_PROTO_OPENAI ? up->preset->endpoint : NULL;
}

int aip_upstream_serves(const aip_upstream *up, const char *model)
{
    if (aip_upstream_excludes(up, model))
        return 0;
    if (up->models->nelts == 0)
        return 1;
    for (int i = 0; i < up->models->nelts; i++) {
        if (!strcmp(APR_ARRAY_IDX(up->models, i, const char *), model))
            return 1;
    }
    return 0;
}

const char *aip_upstream_model(const aip_upstream *up, const char *model)
{
    const char *own = aip_upstream_own_name(up, model);
    const char *mapped = apr_table_get(up->model_map, own);
    return mapped ? mapped : own;
}

const aip_upstream *aip_config_find_upstream(const aip_config *cfg, const char *name)
{
    for (int i = 0; i < cfg->upstreams->nelts; i++) {
        const aip_upstream *up = APR_ARRAY_IDX(cfg->upstreams, i, const aip_upstream *);
        if (!strcasecmp(up->name, name))
            return up;
    }
    return NULL;
}

const char *aip_config_add_fallback(apr_pool_t *p, aip_config *cfg, const char *model,
                                    const char *fallback)
{
    if (!*model || !*fallback)
        return "a fallback needs two model names";
    if (apr_hash_get(cfg->fallback, model, APR_HASH_KEY_STRING))
        return apr_psprintf(p, "model '%s' already has a fallback", model);
    /* Walk the chain from the new fallback: reaching model again would loop forever. */
    for (const char *m = fallback; m; m = apr_hash_get(cfg->fallback, m, APR_HASH_KEY_STRING)) {
        if (!strcmp(m, model))
            return apr_psprintf(p, "fallback %s -> %s closes a cycle", model, fallback);
    }
    apr_hash_set(cfg->fallback, model, APR_HASH_KEY_STRING, fallback);
    return NULL;
}

const char *aip_config_fallback(const aip_config *cfg, const char *model)
{
    return apr_hash_get(cfg->fallback, model, APR_HASH_KEY_STRING);
}

aip_client_key *aip_config_add_client_key(aip_config *cfg, const char *key)
{
    apr_pool_t *p = cfg->client_keys->pool;
    aip_client_key *k = apr_pcalloc(p, sizeof(*k));

    k->key = key;
    k->models = apr_array_make(p, 1, sizeof(const char *));
    k->limit_slot = -1;
    APR_ARRAY_PUSH(cfg->client_keys, aip_client_key *) = k;
    return k;
}

/* Constant time in the length of the configured key: no early exit on the first mismatch,
 * so response timing does not reveal how much of a guess was right. */
static int same_secret(const char *configured, const char *offered)
{
    size_t n = strlen(configured), m = strlen(offered);
    unsigned char diff = (unsigned char) (n != m);
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char) configured[i] ^ (unsigned char) (i < m ? offered[i] : 0);
    return diff == 0;
}

/* A per-minute limit: a whole number from 1 to one billion. */
static const char *parse_limit(apr_pool_t *p, const char *name, const char *value,
                               unsigned int *out)
{
    char *end;
    long n = strtol(value, &end, 10);
    if (*value == '\0' || *end || n < 1 || n > 1000000000L)
        return apr_psprintf(p, "%s=%s: expected a whole number from 1 to 1000000000", name, value);
    *out = (unsigned int) n;
    return NULL;
}

const char *aip_client_key_set(apr_pool_t *p, aip_client_key *k, const char *name,
                               const char *value)
{
    if (!strcasecmp(name, "models")) {
        int before = k->models->nelts;
        push_list(p, k->models, value);
        return k->models->nelts > before ? NULL : "models=: name at least one model or glob";
    }
    if (!strcasecmp(name, "rpm"))
        return parse_limit(p, name, value, &k->rpm);
    if (!strcasecmp(name, "tpm"))
        return parse_limit(p, name, value, &k->tpm);
    return AIP_NOT_OURS;
}

const aip_client_key *aip_config_find_client_key(const aip_config *cfg, const char *offered)
{
    const aip_client_key *found = NULL;
    if (!offered)
        return NULL;
    /* Every key is compared, so the time does not tell which one matched. */
    for (int i = 0; i < cfg->client_keys->nelts; i++) {
        const aip_client_key *k = APR_ARRAY_IDX(cfg->client_keys, i, const aip_client_key *);
        if (same_secret(k->key, offered) && !found)
            found = k;
    }
    return found;
}

int aip_config_client_key_ok(const aip_config *cfg, const char *key)
{
    return aip_config_find_client_key(cfg, key) != NULL;
}
