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
    apr_table_t *client_ids;     /* api type -> client id */
    apr_array_header_t *headers; /* oa_header, overriding the defaults */
} oa_server_conf;

struct oa_source;

/* One auth file of an upstream: one credential. */
typedef struct {
    aiproxy_credential cred; /* index: position among the upstream's files; label: file name */
    const char *path;
    apr_uint64_t identity; /* oa_slot_identity of upstream and path */
    oa_slot *slot;         /* set in post_config, when the shared memory exists */
    struct oa_source *source;
} oa_file;

/* One upstream served by this module. */
typedef struct oa_source {
    const char *upstream; /* its name, for logs */
    const char *balancer; /* unique across virtual hosts */
    const char *base_url; /* where its requests go (Code Assist setup calls too) */
    oa_provider provider;
    long breaker_open_seconds;
    const oa_server_conf *conf;
    oa_refresh_settings settings; /* token_url= and AIProxyOAuthClientID */
    server_rec *server;           /* its virtual host, for logs */
    int count;
    oa_file *files;
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

/* mod_aiproxy_oauth_watchdog.c: the proactive refresh task (needs mod_watchdog). */
void oa_watchdog_start(apr_pool_t *pconf, server_rec *s, apr_array_header_t *registry);

#endif /* MOD_AIPROXY_OAUTH_H */
