/*
 * mod_aiproxy_oauth.h: what the glue files of mod_aiproxy_oauth share: the per-server
 * settings, each upstream's credential files and their shared-memory slots, and the entry
 * points of refresh, providers and watchdog.
 */
#ifndef MOD_AIPROXY_OAUTH_H
#define MOD_AIPROXY_OAUTH_H

#include "httpd.h"
#include "http_config.h"
#include "aiproxy_credential.h"
#include "oa_credential.h"
#include "oa_refresh.h"
#include "oa_seal.h"
#include "oa_shared.h"
#include "oa_slot.h"

/* Defaults of the directives (docs/directives.md). */
#define OA_DEFAULT_SKEW            apr_time_from_sec(300)
#define OA_DEFAULT_CONNECT_TIMEOUT 10
#define OA_DEFAULT_TOTAL_TIMEOUT   30
/* A token with less than this left is never sent: the request could outlive it. */
#define OA_SEND_MARGIN apr_time_from_sec(10)
/* How long a credential sits out after a rate answer that states no reset time, or after a
 * 403. */
#define OA_DEFAULT_COOLDOWN apr_time_from_sec(60)

/* An identity header of a provider's dialect, as configured (AIProxyOAuthHeader). */
typedef struct {
    oa_provider provider;
    const char *name;
    const char *value;
} oa_header;

/* AIProxyOAuth* settings of one server or virtual host. */
typedef struct {
    apr_interval_time_t skew; /* refresh when a token has less than this left */
    int skew_set;
    long connect_timeout, total_timeout; /* seconds */
    int timeout_set;
    const char *proxy; /* "" (none) when unset: the environment's proxy is not used */
    int proxy_set;
    const char *ca_file; /* NULL: libcurl's (the system's) CA bundle */
    int ca_file_set;
    apr_table_t *client_ids;       /* api type -> client id */
    apr_array_header_t *headers;   /* oa_header, overriding the defaults */
    const oa_seal_key *shared_key; /* AIProxySharedStateKey; NULL: tokens are not shared */
    int shared_key_set;
} oa_server_conf;

struct oa_source;

/* One auth file of an upstream: one credential. */
typedef struct {
    aiproxy_credential cred; /* index: position among the upstream's files; label: file name */
    const char *path;
    apr_uint64_t identity; /* oa_slot_identity of upstream and path */
    oa_slot *slot;         /* set in post_config, when the shared memory exists */
    struct oa_source *source;
    /* Its entries' common prefix in the shared store (oa_shared.h); NULL: not shared. */
    const char *shared_prefix;
} oa_file;

/* One upstream served by this module. */
typedef struct oa_source {
    const char *upstream; /* its name, for logs */
    const char *balancer; /* unique across virtual hosts */
    const char *base_url; /* where its requests go (Code Assist setup calls too) */
    /* const char *: the bases tried after base_url when an answer matches fallback_triggers
     * (AIP_FALLBACK_ON_*, aip_fallback_trigger.h), by the setup calls as by the attempts;
     * NULL or empty: none */
    const apr_array_header_t *fallback_base_urls;
    unsigned int fallback_triggers;
    oa_provider provider;
    long breaker_open_seconds;
    const oa_server_conf *conf;
    oa_refresh_settings settings; /* token_url= and AIProxyOAuthClientID */
    server_rec *server;           /* its virtual host, for logs */
    int count;
    oa_file *files;
    /* Where its tokens, refresh lease and cooldowns are shared with other gateways, and the
     * key sealing them; NULL: this server keeps them to itself. */
    struct oa_redis *redis;
    const oa_seal_key *seal_key;
} oa_source;

extern module AP_MODULE_DECLARE_DATA aiproxy_oauth_module;

/* mod_aiproxy_oauth.c: every file of every upstream of this configuration load. */
apr_array_header_t *oa_registry(apr_pool_t *pconf);

/* mod_aiproxy_oauth_load.c: a file's credential read from disk (hint: the upstream's
 * provider). 0, or -1 and *err (no secret in it). */
int oa_load_file(apr_pool_t *p, const oa_file *f, char **data, apr_size_t *len, oa_credential *cred,
                 const char **err);
/* The slot's view of a credential just read (generation and pending refresh token kept from
 * old). 0, or -1 and *err when a token does not fit the slot. */
int oa_tokens_from_credential(apr_pool_t *p, const oa_credential *cred, const oa_slot_tokens *old,
                              oa_slot_tokens *out, const char **err);
/* Fill f's slot from its file at startup (the parent, before any child). */
void oa_load_initial(apr_pool_t *p, server_rec *s, oa_file *f);

/* mod_aiproxy_oauth_refresh.c */
typedef enum {
    OA_REFRESHED = 0, /* new tokens are in the slot (or were already) */
    OA_REFRESH_BUSY,  /* another child holds the lease */
    OA_REFRESH_FAILED /* no new token (backoff, permanent failure, ...) */
} oa_refresh_status;
/* Refresh f under its lease unless another child holds it, or the slot meanwhile holds a
 * token that no longer needs it (oa_refresh_due). */
oa_refresh_status oa_refresh_file(apr_pool_t *p, oa_file *f);
/* Wait (bounded by the refresh timeout) while another child holds f's lease. */
void oa_refresh_wait(const oa_file *f);
/* Does f want a refresh now (token within the skew, refused by an upstream, or unknown
 * expiry), and may it have one (no backoff running)? */
int oa_refresh_due(const oa_file *f, const oa_slot_tokens *view, apr_time_t now);

/* mod_aiproxy_oauth_http.c: one POST of a refresh request, or of a setup call. */
typedef struct {
    int status; /* 0: no answer (timeout, connection or TLS failure) */
    apr_table_t *headers;
    char *body;
    apr_size_t len;
    const char *error; /* status 0: why, no secret */
} oa_http_answer;
void oa_http_post(apr_pool_t *p, const oa_server_conf *conf, const oa_refresh_request *req,
                  oa_http_answer *out);
/* One POST of a JSON body to url with headers (NULL: none; Authorization among them), the
 * same timeouts, proxy and TLS settings as a refresh. */
void oa_http_post_json(apr_pool_t *p, const oa_server_conf *conf, const char *url,
                       const apr_table_t *headers, const char *body, oa_http_answer *out);

/* mod_aiproxy_oauth_provider.c */
void oa_provider_register(apr_pool_t *p);
/* The effective identity headers of provider under conf (defaults, then overrides). */
const char *oa_header_value(const oa_server_conf *conf, oa_provider provider, const char *name);
/* Set every identity header of provider under conf in headers, {machine_id} in a value
 * replaced by machine_id (NULL: values as they are; p allocates the replaced ones). */
void oa_set_identity_headers(apr_pool_t *p, const oa_server_conf *conf, oa_provider provider,
                             const char *machine_id, apr_table_t *headers);

/* mod_aiproxy_oauth_project.c: the Code Assist project of Google logins. */
/* Does provider's request body name a project (geminicli, antigravity)? */
int oa_project_needed(oa_provider provider);
/* Make sure view (f's tokens as read) has its project: found before, in the file, or
 * discovered now (under f's lease; or waited for while another child holds it). 0, or -1 when
 * f cannot serve now (it is then cooling down, or its token marked refused). */
int oa_project_ensure(apr_pool_t *p, oa_file *f, oa_slot_tokens *view);

/* mod_aiproxy_oauth_redis.c: one bounded Redis connection per child and store (hiredis). */
typedef struct oa_redis oa_redis;
typedef enum {
    OA_REDIS_OK = 0, /* done (a GET found a value) */
    OA_REDIS_NONE,   /* a GET found nothing; a SET NX found the key taken */
    OA_REDIS_DOWN    /* not reachable, too slow, resting after a failure, or an error answer */
} oa_redis_status;
/* The store at address (host:port, the first of a list), one per address and configuration
 * load. NULL, or why not. */
const char *oa_redis_open(apr_pool_t *pconf, server_rec *s, const char *address, oa_redis **out);
const char *oa_redis_label(const oa_redis *r);
oa_redis_status oa_redis_get(oa_redis *r, apr_pool_t *p, const char *key, char **value,
                             apr_size_t *len);
/* SET key value PX ttl [NX when if_absent]. */
oa_redis_status oa_redis_set(oa_redis *r, apr_pool_t *p, const char *key, const char *value,
                             apr_size_t len, apr_interval_time_t ttl, int if_absent);
/* DEL key, only while it holds value. */
oa_redis_status oa_redis_del_if(oa_redis *r, apr_pool_t *p, const char *key, const char *value);
void oa_redis_register_hooks(apr_pool_t *p);

/* mod_aiproxy_oauth_shared.c: tokens, refresh lease and cooldowns shared between gateways. */
const char *oa_cmd_shared_key(cmd_parms *cmd, void *dummy, const char *path);
/* Share src's state as up's AIProxySharedState says (and the key allows), at setup. */
void oa_shared_setup(apr_pool_t *pconf, server_rec *s, const aiproxy_credential_upstream *up,
                     oa_source *src);
/* The tokens another gateway stored for f: 1 and *out, 0 none (or not shared), -1 the store
 * failed. */
int oa_shared_fetch(apr_pool_t *p, const oa_file *f, oa_shared_tokens *out);
/* Store f's latest tokens for the other gateways. */
void oa_shared_publish(apr_pool_t *p, const oa_file *f, const oa_shared_tokens *t);
typedef enum {
    OA_SHARED_LOCAL = 0, /* not shared, or the store failed: refresh on local state */
    OA_SHARED_WON,       /* this gateway refreshes; release *token after publishing (*token
                            is NULL for the other outcomes) */
    OA_SHARED_LOST       /* another gateway refreshes now */
} oa_shared_lease;
oa_shared_lease oa_shared_lease_take(apr_pool_t *p, const oa_file *f, apr_interval_time_t hold,
                                     const char **token);
void oa_shared_lease_release(apr_pool_t *p, const oa_file *f, const char *token);
/* While another gateway holds f's lease (until deadline): 1 and *out when it stored tokens
 * obtained after since, 0 when its lease ended without (or the deadline passed). */
int oa_shared_wait(apr_pool_t *p, const oa_file *f, apr_time_t since, apr_time_t deadline,
                   oa_shared_tokens *out);
/* The watchdog's turn: cooldowns of every shared file, both ways. */
apr_status_t oa_shared_sync(int state, void *data, apr_pool_t *pool);

/* mod_aiproxy_oauth_watchdog.c: the proactive refresh task (needs mod_watchdog). */
void oa_watchdog_start(apr_pool_t *pconf, server_rec *s, apr_array_header_t *registry);

#endif /* MOD_AIPROXY_OAUTH_H */
