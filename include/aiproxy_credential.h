/*
 * aiproxy_credential.h: how an upstream's credentials are chosen, sent and judged.
 *
 * mod_aiproxy never handles a credential itself: for each upstream it looks up a provider in
 * the "aiproxy_credential" group (ap_lookup_provider, as mod_proxy_balancer finds its
 * lbmethods) under the upstream's api type, or "static" for API keys. The handler asks the
 * provider for a credential per attempt, lets it put the credential on the attempt's
 * subrequest, and reports what the upstream answered; rotation, cooldowns, refreshes and their
 * shared state live behind this interface.
 *
 *     mod_aiproxy (static keys)           ap_register_provider(p, AIPROXY_CREDENTIAL_GROUP,
 *     mod_aiproxy_oauth (codex, ...)          "codex", AIPROXY_CREDENTIAL_VERSION, &provider);
 *
 * One request on one upstream:
 *
 *     cursor = provider->begin(source, r);
 *     while ((cred = provider->next(source, cursor))) {
 *         ... build the attempt ...; provider->apply(source, cred, rr, headers); ... run ...
 *         if (provider->report(source, cursor, cred, &answer) is not worth another credential)
 *             break;
 *     }
 */
#ifndef AIPROXY_CREDENTIAL_H
#define AIPROXY_CREDENTIAL_H

#include "httpd.h"
#include "aiproxy_translate.h"
#include "aip_fallback_trigger.h"

#define AIPROXY_CREDENTIAL_GROUP "aiproxy_credential"
/* 2: aiproxy_credential.project; 3: shared_*; 4: AIPROXY_CREDENTIAL_RETRY;
 * 5: aiproxy_credential_upstream.fallback_base_urls and fallback_triggers */
#define AIPROXY_CREDENTIAL_VERSION "5"
/* The provider of plain API keys (token= settings), built into mod_aiproxy. */
#define AIPROXY_CREDENTIAL_STATIC "static"

/* The upstream a provider serves, as configured (read-only, lives as long as the config). */
typedef struct {
    const char *name;     /* the upstream's unique name in its virtual host */
    const char *api_type; /* "anthropic", "codex", ... (the provider's registered name) */
    aiproxy_proto proto;  /* the wire protocol of its answers */
    const char *base_url; /* where attempts go */
    /* const char *: the base URLs tried in order after base_url, with the same credential,
     * when an answer matches fallback_triggers (endpoint fallback); NULL or empty: none. A
     * provider's own calls to the upstream (Code Assist setup) walk them the same way. */
    const apr_array_header_t *fallback_base_urls;
    /* AIP_FALLBACK_ON_* bits, judged by aip_fallback_triggered (aip_fallback_trigger.h) */
    unsigned int fallback_triggers;
    const char *balancer; /* its mod_proxy balancer: a key unique across virtual hosts */
    int index;            /* its position among the virtual host's upstreams */
    const apr_array_header_t *tokens;     /* const char *: API keys (token=) */
    const apr_array_header_t *auth_files; /* const char *: credential files (auth_file=) */
    const char *token_url;                /* token endpoint override, or NULL */
    long breaker_open_seconds;            /* the breaker period, for refusals */
    /* Its virtual host's AIProxySharedState: "redis" or "memcache" and host:port[,...], or
     * NULL (nothing shared). */
    const char *shared_store;
    const char *shared_address;
} aiproxy_credential_upstream;

/* One credential, as the handler holds it between next and report. */
typedef struct {
    int index;         /* the provider's own numbering (token or file index) */
    const char *label; /* for logs and the admin view: never a secret ("token 2", a file name) */
    /* The account the request body must name for this credential (aiproxy_target.account:
     * Kiro's profileArn), or NULL. Not a secret. */
    const char *account;
    /* The account the upstream's request body must name with this credential (the Code Assist
     * project of a geminicli or antigravity login: aiproxy_target.project), or NULL. */
    const char *project;
} aiproxy_credential;

/* What an upstream answered an attempt, as much as the provider needs to judge the
 * credential. The body is the start of an error body only. */
typedef struct {
    int status;                 /* the upstream's HTTP status; 0 when nothing came back */
    const apr_table_t *headers; /* its response headers, or NULL */
    const char *body;           /* the start of its error body, or NULL */
    apr_size_t body_len;
} aiproxy_upstream_answer;

/* What the answer means for the credential. Anything but OK makes the handler ask for another
 * credential before it moves to the next upstream: next() then returns a different one, or the
 * same one refreshed (EXPIRED), or NULL. */
typedef enum {
    AIPROXY_CREDENTIAL_OK = 0,    /* accepted (the answer may still be an error of another kind) */
    AIPROXY_CREDENTIAL_REFUSED,   /* not accepted (401, 403) */
    AIPROXY_CREDENTIAL_THROTTLED, /* a rate or quota limit, until a reset time */
    AIPROXY_CREDENTIAL_EXPIRED,   /* a token believed valid was refused as expired */
    /* A limit short enough to wait out (Antigravity's RATE_LIMIT_EXCEEDED of under 3 s): the
     * handler waits until the verdict's until (bounded: AIPROXY_CREDENTIAL_RETRY_MAX), and
     * next() hands out the same credential once more. */
    AIPROXY_CREDENTIAL_RETRY
} aiproxy_credential_outcome;

/* The longest a handler waits on a RETRY verdict before the same credential's next attempt. */
#define AIPROXY_CREDENTIAL_RETRY_MAX apr_time_from_sec(5)

typedef struct {
    aiproxy_credential_outcome outcome;
    apr_time_t until; /* THROTTLED, REFUSED, RETRY: when the credential may serve again; 0
                       * unknown (RETRY: at once) */
} aiproxy_credential_verdict;

/* One credential as the admin endpoint shows it: never a secret (a label and a fingerprint at
 * most). */
typedef struct {
    const char *label; /* "token 2", an auth file's name */
    const char *state; /* "ok", "refreshing", "cooling down", "expired", "disabled", "failed" */
    const char *why;   /* disabled, failed: why; else NULL */
    apr_time_t until;  /* cooling down: until when; else 0 */
    apr_time_t expiry; /* when its token expires; 0: unknown or not applicable */
    apr_time_t last_refresh; /* 0: never, or not applicable */
    const char *fingerprint; /* "sha256:..." of the token in use, or NULL */
} aiproxy_credential_status;

typedef struct {
    /* At every configuration load (post_config), once per upstream using this provider:
     * prepare its state in pconf. Returns NULL, or why the upstream cannot serve (then it is
     * logged and kept out of rotation). s is the upstream's virtual host. */
    const char *(*setup)(apr_pool_t *pconf, server_rec *s, const aiproxy_credential_upstream *up,
                         void **source);
    /* Can the upstream be tried at all now (some credential neither disabled nor
     * exhausted)? Cheap: asked for every candidate of every request. */
    int (*available)(void *source);
    /* Start choosing credentials for one request (r's pool holds the cursor). */
    void *(*begin)(void *source, request_rec *r);
    /* The credential for the next attempt, or NULL when this request has none left. */
    const aiproxy_credential *(*next)(void *source, void *cursor);
    /* Put cred on the attempt's upstream request headers (authentication and any identity
     * headers the provider's dialect needs). Returns APR_SUCCESS, or an error when cred cannot
     * be sent after all (the attempt is then skipped). */
    apr_status_t (*apply)(void *source, const aiproxy_credential *cred, request_rec *rr,
                          apr_table_t *upstream_headers);
    /* The upstream answered an attempt made with cred: record what it means (cooldowns,
     * refreshes) and say it. */
    aiproxy_credential_verdict (*report)(void *source, void *cursor, const aiproxy_credential *cred,
                                         const aiproxy_upstream_answer *answer);
    /* Optional (NULL: nothing to show): every credential's state for the admin endpoint, an
     * array of aiproxy_credential_status allocated in p. */
    apr_array_header_t *(*describe)(void *source, apr_pool_t *p);
} aiproxy_credential_provider;

#endif /* AIPROXY_CREDENTIAL_H */
