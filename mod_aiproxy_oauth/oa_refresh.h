/*
 * oa_refresh.h: a refresh at the provider's token endpoint, without the HTTP: the request to
 * send (URL, content type, body) and what its answer means (new tokens, or a failure that is
 * permanent or transient).
 *
 * Failure classes (research/oauth.md: Codex CLI's classify_refresh_token_failure, the proxies):
 *  - permanent: the refresh token will never work again; the credential is taken out and no
 *    further refresh is sent with it (sending a rotated-away token again can revoke the whole
 *    token family). HTTP 401, or an error code of oa_refresh_permanent_codes whatever the
 *    status (invalid_grant, refresh_token_expired / _reused / _invalidated, ...);
 *  - transient: everything else: no answer (status 0: timeout, connection failure), 429, 5xx,
 *    and other 4xx without a permanent code (a 403 from a CDN challenge says nothing about the
 *    token), an unparsable or token-less 2xx. The caller backs off and retries, not before
 *    retry_at when the answer said when.
 * Error text is built only from the status and the provider's error code (checked to be a
 * short identifier), never from the answer's free text, which may echo a token.
 */
#ifndef OA_REFRESH_H
#define OA_REFRESH_H

#include "apr_pools.h"
#include "apr_tables.h"
#include "apr_time.h"
#include "oa_credential.h"

/* Overrides from the configuration; a NULL field keeps the provider's default. The token URL
 * may hold "{region}" (Kiro). */
typedef struct {
    const char *token_url;
    const char *client_id;
    const char *client_secret;
    const char *scope;
} oa_refresh_settings;

typedef struct {
    const char *url;
    const char *content_type; /* application/json or application/x-www-form-urlencoded */
    const char *accept;       /* application/json */
    const char *body;         /* NUL-terminated; holds the refresh token: never log it */
    apr_size_t body_len;
} oa_refresh_request;

/* The request refreshing cred; settings may be NULL. 0, or -1 and *err (no refresh token, an
 * unknown provider, a region that is not a plain AWS region name). */
int oa_refresh_request_build(apr_pool_t *p, const oa_credential *cred,
                             const oa_refresh_settings *settings, oa_refresh_request *out,
                             const char **err);

typedef enum {
    OA_REFRESH_OK = 0,
    OA_REFRESH_TRANSIENT,
    OA_REFRESH_PERMANENT,
} oa_refresh_outcome;

typedef struct {
    oa_refresh_outcome outcome;
    /* OA_REFRESH_OK: the new tokens; refresh_token, id_token, profile_arn NULL when the
     * answer kept the old ones (refresh tokens rotate on most providers, not all).
     * A 2xx answer refused as TRANSIENT (its token already expired) still fills these:
     * a rotated refresh_token there must be kept, the old one is spent. */
    const char *access_token;
    const char *refresh_token;
    const char *id_token;
    const char *profile_arn;
    apr_time_t expiry; /* expires_in, else the access token's JWT exp, else a default */
    /* Failures. */
    apr_time_t retry_at;    /* transient: not before this (Retry-After); 0: caller's backoff */
    const char *error_code; /* the provider's code when it gave a readable one, else NULL */
    const char *error;      /* one line for the log, no secrets: "HTTP 400 invalid_grant" */
} oa_refresh_result;

/* What the token endpoint's answer (status, headers (may be NULL), body of len bytes, taken
 * at now) means for cred. status 0: no answer at all. */
void oa_refresh_response_parse(apr_pool_t *p, const oa_credential *cred, int status,
                               const apr_table_t *headers, const char *body, apr_size_t len,
                               apr_time_t now, oa_refresh_result *out);

/* Whether an error code of a token endpoint means the refresh token is dead. */
int oa_refresh_code_is_permanent(const char *code);

#endif /* OA_REFRESH_H */
