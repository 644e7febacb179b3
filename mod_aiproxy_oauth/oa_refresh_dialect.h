/*
 * oa_refresh_dialect.h: how each provider's token endpoint wants a refresh, as data: URL,
 * body encoding, body keys, public client defaults, the keys of the answer.
 *
 * Defaults follow what the official CLI sends (research/oauth.md); every one is overridable
 * (oa_refresh_settings). Kiro has two endpoints: IdC / Builder ID logins (a client id and
 * secret from the client registration) go to AWS SSO OIDC, social logins to Kiro's own.
 */
#ifndef OA_REFRESH_DIALECT_H
#define OA_REFRESH_DIALECT_H

#include "apr_time.h"
#include "oa_credential.h"

typedef enum { OA_BODY_JSON, OA_BODY_FORM } oa_body_encoding;

/* What a body key carries. */
typedef enum {
    OA_VALUE_GRANT_TYPE, /* always "refresh_token" */
    OA_VALUE_REFRESH_TOKEN,
    OA_VALUE_CLIENT_ID,
    OA_VALUE_CLIENT_SECRET,
    OA_VALUE_SCOPE,
} oa_body_value;

typedef struct {
    const char *key;
    oa_body_value value;
} oa_body_field;

/* The keys of a successful answer. */
typedef struct {
    const char *access_token;
    const char *refresh_token;
    const char *id_token; /* NULL: the provider sends none */
    const char *expires_in;
    const char *profile_arn; /* NULL: none */
} oa_answer_keys;

typedef struct {
    const char *name;      /* "codex", "kiro-idc", ...: for messages */
    const char *token_url; /* "{region}" is replaced by the credential's region */
    oa_body_encoding encoding;
    const oa_body_field *body; /* ends with a NULL key; keys without a value are left out */
    const char *client_id;     /* defaults; NULL: none */
    const char *client_secret;
    const char *scope;
    const oa_answer_keys *answer;
    apr_interval_time_t default_lifetime; /* when the answer states none (and no JWT exp) */
} oa_refresh_dialect;

/* The dialect refreshing cred (its provider, and for Kiro its kind of login). */
const oa_refresh_dialect *oa_refresh_dialect_for(const oa_credential *cred);

#endif /* OA_REFRESH_DIALECT_H */
