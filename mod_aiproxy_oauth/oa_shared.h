/*
 * oa_shared.h: what gateways sharing a Redis tell each other about an OAuth credential
 * (AIProxySharedState redis + AIProxySharedStateKey): the store names of a credential's
 * entries, and the records kept there, before sealing (oa_seal.h).
 *
 * A credential is known across gateways by its upstream's name and its auth file's name (not
 * its directory: copies of one file may sit anywhere), hashed with the name key. Its entries:
 *   aiproxy:v1:oauth:<hash>:tokens    the latest tokens one gateway obtained (sealed)
 *   aiproxy:v1:oauth:<hash>:lease     who refreshes now (SET NX PX: one gateway at a time)
 *   aiproxy:v1:oauth:<hash>:cooldown  until when a rate or quota limit holds (sealed)
 * Pure: APR only.
 */
#ifndef OA_SHARED_H
#define OA_SHARED_H

#include "apr_pools.h"
#include "apr_time.h"

/* The tokens one gateway obtained; NULL strings: none. The refresh token is the one valid
 * now (rotated or not), so a gateway whose file holds a spent one can still refresh. */
typedef struct {
    const char *access_token; /* required */
    const char *refresh_token;
    const char *id_token;
    const char *profile_arn;
    apr_time_t expiry;       /* of the access token; 0 unknown */
    apr_time_t refreshed_at; /* when it was obtained */
} oa_shared_tokens;

/* "aiproxy:v1:oauth:<hash>:" for a credential, hash from oa_seal_name (given here, so this
 * file needs no key). */
const char *oa_shared_prefix(apr_pool_t *p, const char *hash);

/* The record as text, or NULL when a field holds a line break (it cannot be one). */
char *oa_shared_tokens_encode(apr_pool_t *p, const oa_shared_tokens *t, apr_size_t *len);
/* 0 and *t (strings in p), or -1 for anything that is not such a record. */
int oa_shared_tokens_decode(apr_pool_t *p, const char *data, apr_size_t len, oa_shared_tokens *t);

/* A cooldown record: "c1 <apr_time_t>". */
char *oa_shared_cooldown_encode(apr_pool_t *p, apr_time_t until, apr_size_t *len);
int oa_shared_cooldown_decode(const char *data, apr_size_t len, apr_time_t *until);

/* Seconds a store is left alone after its nth failure in a row (n >= 1): 1, 2, 4, ... 30. */
apr_uint32_t oa_shared_backoff(apr_uint32_t failures_in_row);

#endif /* OA_SHARED_H */
