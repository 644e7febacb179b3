/*
 * mod_aiproxy_private.h: what the glue files of mod_aiproxy share.
 */
#ifndef MOD_AIPROXY_PRIVATE_H
#define MOD_AIPROXY_PRIVATE_H

#include "httpd.h"
#include "http_config.h"
#include "mod_proxy.h"
#include "mod_aiproxy_translate.h"
#include "aiproxy_credential.h"
#include "aip_config.h"
#include "aip_route.h"
#include "aip_select.h"

extern module AP_MODULE_DECLARE_DATA aiproxy_module;

#define AIP_HANDLER_NAME  "aiproxy"
#define AIP_LBMETHOD_NAME "aiproxy"
/* Each upstream is the one member of its own balancer, balancer://aiproxy-<name> in the main
 * server and balancer://aiproxy-vN-<name> in the Nth virtual host with upstreams: mod_proxy
 * shares one worker between members of a balancer with the same URL (two accounts of one
 * provider must stay apart), and hands the main server's balancers down to every virtual
 * host (names must not collide). balancer-manager lists and controls them all. */
#define AIP_BALANCER_PREFIX "balancer://aiproxy-"

/* An upstream's credentials: its provider (aiproxy_credential.h) and the provider's state. */
typedef struct {
    const aiproxy_credential_provider *provider;
    void *source; /* NULL: the upstream cannot serve (no provider, or its setup failed) */
} aip_credentials;

typedef struct {
    aip_config *cfg;
    aip_selector *selector;       /* built in post_config from cfg */
    aip_credentials *credentials; /* built in post_config: one per upstream, by its index */
    const char *balancer_prefix;  /* this server's balancer name prefix, once it has upstreams */
    struct aip_metrics_area *metrics;       /* its counters and turns (mod_aiproxy_metrics.c) */
    const struct aip_shared_spec_s *shared; /* AIProxySharedState; NULL: inherited / none */
} aip_server_conf;

/* The translate module's entry points (NULL until post_config found them). */
extern const aiproxy_translate_api *aip_translate;

/* One try of one upstream for a client request, through one subrequest. */
typedef enum {
    AIP_OUTCOME_NO_RESPONSE = 0, /* no upstream answer: connect failure, timeout, refusal */
    AIP_OUTCOME_ERROR_STATUS,    /* the upstream answered an HTTP error; body kept */
    AIP_OUTCOME_ERROR_EVENT,     /* a 200 stream that began with an error event */
    AIP_OUTCOME_COMMITTED,       /* the answer went to the client */
    AIP_OUTCOME_NO_CREDENTIAL,   /* the provider could not apply its credential: nothing sent */
    /* The gateway itself failed (the subrequest could not be set up): no upstream was asked,
     * so none is blamed, and the next would fail the same way. */
    AIP_OUTCOME_GATEWAY_FAILURE
} aip_outcome;

/* request_config holds an aip_request_state on the main request and an aip_attempt on the
 * attempt's subrequest; each starts with its tag, so the accessors below return NULL for the
 * wrong one instead of a blind cast. */
typedef enum {
    AIP_TAG_REQUEST_STATE = 0x53504941, /* "AIPS" */
    AIP_TAG_ATTEMPT = 0x41504941        /* "AIPA" */
} aip_config_tag;

/* Upstream error bytes kept for the client message. */
#define AIP_ERROR_BODY_KEEP (64 * 1024)

typedef struct {
    aip_config_tag tag; /* AIP_TAG_ATTEMPT */
    request_rec *main;
    const aip_upstream *upstream;
    const char *model;          /* client model (or its fallback) this attempt serves */
    const char *upstream_model; /* after the upstream's mapping */
    const char *filename;       /* proxy:balancer://aiproxy/<path> */
    const char *args;           /* upstream query, or NULL */
    aiproxy_upstream_request req;
    const aip_credentials *credentials;
    const aiproxy_credential *credential; /* the one this attempt sends */
    const aip_fallback_base *base;        /* the fallback base it goes to; NULL: the base URL */
    aiproxy_response *translator; /* NULL: the answer passes as it comes (forward, passthrough) */
    const aip_forward_route *forward; /* a forwarded route's row, or NULL */
    int passthrough;    /* the passthrough route: the client's method and headers, every
                         * answer (errors too) committed as it is */
    const char *method; /* the upstream request's method; NULL: POST */

    aip_outcome outcome;
    int status;       /* upstream HTTP status (ERROR_STATUS) */
    char *error_body; /* first bytes of the upstream error body (the request's error buffer) */
    apr_size_t error_len;
    const apr_table_t *error_headers; /* the upstream's response headers (ERROR_STATUS) */
    const char *retry_after;
    apr_time_t committed_at; /* when the answer started to go to the client */
    int swallowed_error;     /* the stream held back had only an error: dropped unseen */
} aip_attempt;

/* Per main request. */
typedef struct {
    aip_config_tag tag;     /* AIP_TAG_REQUEST_STATE */
    aip_attempt *lookup;    /* the attempt whose subrequest is being looked up */
    aip_attempt *committed; /* the attempt that answered the client */
    /* AIP_ERROR_BODY_KEEP bytes, allocated at the first failing attempt and reused by every
     * later one: only the last attempt's error is reported, and the memory a request holds
     * must not grow with upstreams x tokens x fallbacks. */
    char *error_buffer;
    const aip_client_key *client_key; /* the key the client sent, when keys are configured */
    /* For the metrics: a generation request (a model was asked for), in which protocol. */
    int generation;
    aiproxy_proto proto;
    const char *model; /* the client's model */
    /* The request's own memory: the client body, its parse tree and every attempt's upstream
     * body. Another attempt may need them until an answer reaches the client, nothing after
     * that: they go when its first bytes do (aip_release_request_memory), so an answer that
     * streams for minutes holds no copy of the conversation. NULL once gone; what outlives it
     * (the model names, the translator's spec) is copied into r->pool. */
    apr_pool_t *request_memory;
} aip_request_state;

/* mod_aiproxy_attempt.c: the typed views of request_config. */
aip_request_state *aip_request_state_create(request_rec *r);
/* r's state: NULL unless r is a main request the handler serves. */
aip_request_state *aip_request_state_of(request_rec *r);
/* rr's attempt: NULL unless rr is an attempt's subrequest. */
aip_attempt *aip_attempt_of(request_rec *rr);
/* An answer's first bytes are on their way to the client: the request's memory goes. */
void aip_release_request_memory(request_rec *r);

/* mod_aiproxy.c: define one upstream (its balancer member included) in cmd->server, from
 * key=value settings as AIProxyUpstream takes them. Returns NULL or an error message. */
typedef struct {
    const char *key;
    const char *value;
} aip_param;
const char *aip_define_upstream(cmd_parms *cmd, const char *name, const char *url,
                                const apr_array_header_t *params);

/* mod_aiproxy_breaker.c */
#include "aip_breaker.h"
apr_status_t aip_breaker_create_table(apr_pool_t *pconf, server_rec *s, unsigned int slots);
aip_breaker_slot *aip_breaker_for(apr_pool_t *p, const aip_upstream *up, const char *model,
                                  int create);
/* The breaker benching key token_index of the upstream whose balancer is named balancer. */
aip_breaker_slot *aip_token_breaker_for(apr_pool_t *p, const char *balancer, int token_index,
                                        int create);
void aip_breaker_register_hooks(apr_pool_t *p);
/* Open circuits of cfg's upstreams, by upstream index: of models into circuits[], of tokens
 * into tokens[] (both zeroed, cfg->upstreams->nelts long). */
void aip_breaker_count_open(apr_pool_t *p, const aip_config *cfg, int *circuits, int *tokens);

/* mod_aiproxy_shared.c: AIProxySharedState, breaker state shared between servers. */
#include "aip_shared.h"
const char *aip_cmd_shared_state(cmd_parms *cmd, void *dummy, const char *kind,
                                 const char *address);
/* post_config: one socache instance per store, bound to each upstream of the hosts using it. */
int aip_shared_setup(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s);
/* A request looked at the local circuit of (kind, guarded) of balancer's upstream and found
 * it closed: the child's store thread reads its key for the next minute. Never waits. */
void aip_shared_watch(apr_pool_t *p, const char *balancer, aip_breaker_kind kind,
                      const char *guarded, apr_uint32_t now);
/* Tell other servers about a local change of slot (open_until was open_before), if news: queued
 * for the store thread, never waits. */
void aip_shared_publish(apr_pool_t *p, const char *balancer, aip_breaker_kind kind,
                        const char *guarded, apr_uint32_t open_before,
                        const aip_breaker_slot *slot);

void aip_shared_register_hooks(apr_pool_t *p);
/* mod_aiproxy_breaker.c: copy an open circuit another server recorded into the local table. */
void aip_breaker_adopt(apr_pool_t *p, aip_breaker_kind kind, const char *balancer,
                       const char *guarded, const aip_shared_record *rec);

/* mod_aiproxy_yaml.c: AIProxyConfigFile */
const char *aip_cmd_config_file(cmd_parms *cmd, void *dummy, const char *path);

/* mod_aiproxy_attempt.c */
void aip_attempt_register_hooks(apr_pool_t *p);
void aip_attempt_run(aip_attempt *at);

/* mod_aiproxy_lbmethod.c */
void aip_lbmethod_register(apr_pool_t *p);
proxy_worker *aip_worker_for(request_rec *r, const aip_upstream *up);
/* Is up's fallback base fb's member in rotation (not disabled in balancer-manager)? */
int aip_fallback_in_rotation(request_rec *r, const aip_upstream *up, const aip_fallback_base *fb);

/* mod_aiproxy_credential.c: register the static provider; give each upstream of cfg its
 * provider and source (an upstream without one is logged and taken out of rotation). */
void aip_credential_register(apr_pool_t *p);
aip_credentials *aip_credentials_setup(apr_pool_t *pconf, server_rec *s, aip_config *cfg);
/* Take the upstream's keys in turn from word, shared by every child (static provider). */
void aip_credentials_share_turn(const aip_credentials *c, volatile apr_uint32_t *word);
/* When the soonest of c's credentials serves again, as its provider describes them: the
 * earliest end of a cooldown when every credential that may serve again is cooling down; 0
 * when that is not known (no describe, one usable or refreshing now, or none will ever serve
 * again by itself). Allocates in p: for an answer that has already failed, not per attempt. */
apr_time_t aip_credentials_usable_at(const aip_credentials *c, apr_pool_t *p);

/* mod_aiproxy_handler.c */
void aip_handler_register_hooks(apr_pool_t *p);

/* mod_aiproxy_health.c: whether up can be tried for model now, and why not. */
typedef enum {
    AIP_ROTATION_READY = 0,
    AIP_ROTATION_DISABLED,      /* disabled, stopped or drained in balancer-manager */
    AIP_ROTATION_NO_CREDENTIAL, /* no provider source, or none of its credentials usable */
    AIP_ROTATION_CIRCUIT_OPEN
} aip_rotation;
aip_rotation aip_upstream_rotation(request_rec *r, const aip_server_conf *conf,
                                   const aip_upstream *up, const char *model, apr_uint32_t now);
/* mod_aiproxy_limits.c: counters of the client keys with rpm= or tpm= (post_config). */
apr_status_t aip_limits_create_table(apr_pool_t *pconf, server_rec *s);
/* Count one request of k (NULL: none) against its limits and set the x-ratelimit-* headers.
 * Returns NULL when admitted, else the message of the 429 (Retry-After set). */
const char *aip_limits_admit(request_rec *r, const aip_client_key *k);
/* Count a finished request's tokens (input + output) against k's tokens per minute. */
void aip_limits_count_tokens(const aip_client_key *k, apr_uint64_t tokens);

/* mod_aiproxy_metrics.c: the shared memory of counters and turns (post_config), what is
 * counted during a request, and GET /v1/metrics/providers. */
apr_status_t aip_metrics_create_table(apr_pool_t *pconf, server_rec *s);
void aip_metrics_register_hooks(apr_pool_t *p);
void aip_metrics_attempt(const aip_attempt *at);
void aip_metrics_failover(const aip_attempt *at);
void aip_metrics_breaker_opened(const aip_attempt *at);
int aip_metrics_serve_providers(request_rec *r, const aip_server_conf *conf);

/* Answer GET /livez (readiness 0) or GET /readyz (readiness 1). */
int aip_serve_health(request_rec *r, const aip_server_conf *conf, int readiness);

#endif /* MOD_AIPROXY_PRIVATE_H */
