/*
 * aip_config.h: the configuration model of one virtual host: upstreams, fallbacks, limits.
 *
 * Pure data built by the directive glue (or the config.yaml importer) and read-only once
 * httpd has parsed its configuration, so children read it without locks.
 */
#ifndef AIP_CONFIG_H
#define AIP_CONFIG_H

#include "apr_pools.h"
#include "apr_hash.h"
#include "apr_tables.h"
#include "aiproxy_translate.h"

typedef struct {
    const char *name;
    const char *value;
} aip_header;

/* A base URL tried after the upstream's own one fails (aip_base_fallback.h). */
typedef struct {
    const char *url;
    const char *route;         /* its member in the upstream's balancer: <name>-fallback<N> */
    const aip_header *headers; /* set on requests to it (ends at a NULL name), or NULL */
} aip_fallback_base;

typedef struct {
    const char *name;        /* unique per vhost; also the balancer member's route */
    const char *api_type;    /* as configured: "anthropic", "openai", ... */
    aiproxy_proto proto;     /* the wire protocol the api type speaks */
    aiproxy_dialect dialect; /* its backend's variant of proto (codex, claudecode) */
    const char *base_url;
    apr_array_header_t *tokens; /* const char *; API keys, taken in turn (aip_keys.h) */
    int weight;                 /* >= 1 */
    int enabled;
    apr_array_header_t *models;        /* const char *; empty = serves every model */
    apr_table_t *model_map;            /* client model -> upstream model */
    apr_array_header_t *headers;       /* aip_header; sent verbatim, after authentication */
    const char *compression;           /* "zstd", "gzip", "br", "none" */
    int tls_verify;                    /* https: verify the peer's chain, name and dates */
    int tls_verify_set;                /* tls_verify= was given (it then beats SSLProxy*) */
    const char *tls_ca;                /* https: CA file to verify with; NULL = the default */
    int forwarded_headers;             /* send X-Forwarded-* (the client's address) upstream */
    int oauth;                         /* a subscription api type: credentials from auth files */
    int forward_only;                  /* serves only forwarded routes (cohere, jina: rerank) */
    apr_array_header_t *auth_files;    /* const char *; OAuth api types only */
    const char *token_url;             /* OAuth token endpoint override; NULL: the provider's */
    const char *prefix;                /* models also reachable as <prefix>/<model>; NULL: none */
    apr_array_header_t *excluded;      /* const char *; names or globs never routed here */
    const struct aip_preset *preset;   /* well-known provider (aip_preset.h), or NULL */
    int api_set;                       /* api= was given (it beats the preset's) */
    const char *endpoint;              /* exact path (and query) with {model}; NULL: the API's */
    int index;                         /* position among the vhost's upstreams */
    const char *balancer;              /* the mod_proxy balancer holding this upstream's member */
    apr_array_header_t *fallback_urls; /* const char *: fallback_base= as written */
    int fallback_set;                  /* fallback_base= was given ("off" too) */
    apr_array_header_t *fallbacks;     /* aip_fallback_base, in order (aip_base_fallback.h) */
    unsigned int fallback_triggers;    /* AIP_FALLBACK_ON_* of its api type */
} aip_upstream;

/* A client API key and what it may do (aip_client_key.h: scopes and limits). */
typedef struct {
    const char *key;
    apr_array_header_t *models; /* const char *; names or globs (*); empty = every model */
    unsigned int rpm;           /* requests per minute; 0 = no limit */
    unsigned int tpm;           /* input + output tokens per minute; 0 = no limit */
    int limit_slot;             /* its counters in shared memory, or -1 (set in post_config) */
    const void *origin;         /* the directive line that defined it (its settings follow) */
} aip_client_key;

typedef struct {
    apr_array_header_t *upstreams;   /* aip_upstream * */
    apr_hash_t *fallback;            /* client model -> the model to try when it is exhausted */
    apr_array_header_t *client_keys; /* aip_client_key *; empty = open gateway */
    apr_off_t max_body;              /* largest client body accepted, bytes */
    long default_max_tokens;         /* for targets that require max tokens; 0 = built in */
    int breaker_failures;            /* consecutive failures that open a circuit */
    int breaker_open_seconds;        /* how long an open circuit keeps an upstream out */
    int force_model_prefix;          /* prefixed upstreams answer only <prefix>/<model> */
    int max_body_set, default_max_tokens_set, breaker_set, force_model_prefix_set;
} aip_config;

#define AIP_DEFAULT_BREAKER_FAILURES     3
#define AIP_DEFAULT_BREAKER_OPEN_SECONDS 1800

#define AIP_DEFAULT_MAX_BODY (32 * 1024 * 1024)
/* Upstreams per virtual host (the selector keeps a bitmap of this size on the stack). */
#define AIP_MAX_UPSTREAMS 256
/* Upstream names become balancer names, which mod_proxy caps. */
#define AIP_MAX_UPSTREAM_NAME 48

aip_config *aip_config_create(apr_pool_t *p);
/* base overlaid by add (vhost over main server): upstreams come as one set, never mixed. */
aip_config *aip_config_merge(apr_pool_t *p, const aip_config *base, const aip_config *add);

aip_upstream *aip_upstream_create(apr_pool_t *p, const char *name, const char *base_url);
/* Apply one key=value of the upstream's definition. Returns NULL when applied, AIP_NOT_OURS
 * when the key is not an upstream setting (the caller hands it to BalancerMember), else an
 * error message. */
extern const char AIP_NOT_OURS[];
const char *aip_upstream_set(apr_pool_t *p, aip_upstream *up, const char *key, const char *value);
/* Checks after all settings: tokens (or, for OAuth api types, auth files) present. NULL or
 * an error message. */
const char *aip_upstream_check(apr_pool_t *p, const aip_upstream *up);
/* The endpoint path template of up (its endpoint=, else its preset's), or NULL: the
 * protocol's own path. */
const char *aip_upstream_endpoint(const aip_upstream *up);
/* The base URL to use when none is given: the OAuth provider's fixed endpoint, or the
 * preset's; NULL when there is none. */
const char *aip_upstream_default_base_url(const aip_upstream *up);

/* Does up serve model, a name of its own catalog (listed, or every model when none are,
 * and not excluded)? Client names with the upstream's prefix: aip_model_names.h. */
int aip_upstream_serves(const aip_upstream *up, const char *model);
/* The upstream's name for client model: its prefix taken off, then mapped (identity when
 * unmapped). */
const char *aip_upstream_model(const aip_upstream *up, const char *model);

const aip_upstream *aip_config_find_upstream(const aip_config *cfg, const char *name);

/* Add "when model is exhausted, try fallback". Returns NULL, or an error when the chain would
 * loop back (a -> b -> a) or model already has a fallback. */
const char *aip_config_add_fallback(apr_pool_t *p, aip_config *cfg, const char *model,
                                    const char *fallback);
/* The model to try after model, or NULL. */
const char *aip_config_fallback(const aip_config *cfg, const char *model);

/* Add a client API key (the gateway is open while none is configured), with no scope or
 * limit yet. */
aip_client_key *aip_config_add_client_key(aip_config *cfg, const char *key);
/* The configured client key offered is, or NULL. Compares in constant time per key, and
 * with every key. */
const aip_client_key *aip_config_find_client_key(const aip_config *cfg, const char *offered);
/* Apply one setting of a client key: models=a,b* (names or globs), rpm=N, tpm=N. Returns
 * NULL when applied, AIP_NOT_OURS when name is no key setting, else an error message. */
const char *aip_client_key_set(apr_pool_t *p, aip_client_key *k, const char *name,
                               const char *value);
/* Is key one of the configured client keys? */
int aip_config_client_key_ok(const aip_config *cfg, const char *key);

#endif /* AIP_CONFIG_H */
