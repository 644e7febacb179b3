/*
 * oa_fingerprint.h: a short, stable name for a token, for logs and the admin endpoint, which
 * must never show a token itself.
 *
 * The fingerprint is the first OA_FINGERPRINT_HEX hex digits of the token's SHA-256. Tokens
 * are long random strings, so 48 bits of a hash neither reveal the token nor help guess it,
 * and still tell two tokens (an old and a rotated one) apart at a glance.
 */
#ifndef OA_FINGERPRINT_H
#define OA_FINGERPRINT_H

#include "apr_pools.h"

#define OA_FINGERPRINT_HEX 12

/* "sha256:" followed by OA_FINGERPRINT_HEX lowercase hex digits; "-" for a NULL or empty
 * token. */
const char *oa_fingerprint(apr_pool_t *p, const char *token);

/* The 64 lowercase hex digits of s's SHA-256 ("" for NULL): Kiro's machine id is one. */
const char *oa_sha256_hex(apr_pool_t *p, const char *s);

#endif /* OA_FINGERPRINT_H */
