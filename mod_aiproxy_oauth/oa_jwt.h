/*
 * oa_jwt.h: the claims of a JWT (Codex access and id tokens, Google id tokens) read without
 * verifying its signature.
 *
 * Why no verification: the gateway only reads claims of tokens it holds itself, taken from a
 * file the administrator gave it or from the provider's token endpoint over verified TLS. It
 * never grants anything on the strength of a claim: the expiry only schedules a refresh (the
 * provider still refuses an expired token), the account id and email only label requests and
 * logs. A forged claim could at worst make the gateway refresh early or label wrongly, which
 * whoever can write the auth file can do anyway. Verifying would need the provider's signing
 * keys (network fetches) for no gain.
 *
 * Bounds: a token of at most OA_JWT_MAX bytes in exactly three base64url segments (JWS
 * compact form), a payload that is a JSON object without duplicate keys; exp in years 1970 to
 * 9999; strings short and free of control characters. Anything else is "not a JWT".
 */
#ifndef OA_JWT_H
#define OA_JWT_H

#include "apr_pools.h"
#include "apr_time.h"

#define OA_JWT_MAX 16384

/* The OpenAI id/access token claim holding the ChatGPT account (an object). */
#define OA_JWT_OPENAI_AUTH_CLAIM "https://api.openai.com/auth"

typedef struct {
    apr_time_t exp;                 /* 0: no usable exp claim */
    const char *email;              /* NULL: none */
    const char *chatgpt_account_id; /* OA_JWT_OPENAI_AUTH_CLAIM . chatgpt_account_id */
    const char *chatgpt_plan_type;  /* OA_JWT_OPENAI_AUTH_CLAIM . chatgpt_plan_type */
} oa_jwt_claims;

/* The claims of token (len bytes, no NUL needed); 0, or -1 when it is not a JWT within the
 * bounds above (out is then zeroed). Absent or malformed single claims are left NULL / 0. */
int oa_jwt_read_claims(apr_pool_t *p, const char *token, apr_size_t len, oa_jwt_claims *out);

/* base64url (RFC 4648 §5) decoding, padding optional, non-canonical trailing bits refused;
 * the result is NUL-terminated (not counted in *out_len). 0, or -1 on any other byte. */
int oa_base64url_decode(apr_pool_t *p, const char *in, apr_size_t len, unsigned char **out,
                        apr_size_t *out_len);
/* base64url without padding, NUL-terminated. */
char *oa_base64url_encode(apr_pool_t *p, const unsigned char *in, apr_size_t len);

#endif /* OA_JWT_H */
