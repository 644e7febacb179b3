/*
 * oa_seal.h: sealing OAuth tokens for a shared store (AIProxySharedStateKey): AES-256-GCM with
 * a fresh random 96-bit nonce per value, the store key as associated data (a value copied under
 * another credential's key does not open), and keyed names, so a reader of the store without
 * the key learns neither a token nor which file or upstream an entry belongs to.
 *
 * Pure (APR and OpenSSL). The key file holds 32 random bytes, as 64 hex digits (surrounding
 * whitespace allowed: `openssl rand -hex 32`) or raw; two subkeys are derived from it with
 * HMAC-SHA256, one to encrypt and one to name, so neither use weakens the other.
 */
#ifndef OA_SEAL_H
#define OA_SEAL_H

#include "apr_pools.h"

#define OA_SEAL_KEY_BYTES 32
/* A sealed value: magic, nonce, ciphertext, tag. */
#define OA_SEAL_MAGIC       "AIPS1"
#define OA_SEAL_MAGIC_LEN   5
#define OA_SEAL_NONCE_BYTES 12
#define OA_SEAL_TAG_BYTES   16
#define OA_SEAL_OVERHEAD    (OA_SEAL_MAGIC_LEN + OA_SEAL_NONCE_BYTES + OA_SEAL_TAG_BYTES)

typedef struct {
    unsigned char seal[OA_SEAL_KEY_BYTES]; /* AES-256-GCM key */
    unsigned char name[OA_SEAL_KEY_BYTES]; /* HMAC key of store names */
} oa_seal_key;

/* The key from a key file's bytes: 0, or -1 and *err (never the key itself). */
int oa_seal_key_parse(const char *data, apr_size_t len, oa_seal_key *key, const char **err);

/* plain (len bytes) sealed for the store entry named aad: 0 and *out (*out_len bytes), or -1
 * (randomness or cipher failure). */
int oa_seal(apr_pool_t *p, const oa_seal_key *key, const char *aad, const void *plain,
            apr_size_t len, char **out, apr_size_t *out_len);

/* The plain text of a value sealed for aad: 0 and *plain (NUL-terminated, *plain_len bytes
 * without it), or -1 for anything else: another key, another entry's value, a change of any
 * byte, a truncated or foreign value. */
int oa_unseal(apr_pool_t *p, const oa_seal_key *key, const char *aad, const char *sealed,
              apr_size_t len, char **plain, apr_size_t *plain_len);

/* 32 lowercase hex digits of HMAC-SHA256(name key, what): a store name that reveals nothing
 * of what without the key, and is the same on every gateway holding it. */
const char *oa_seal_name(apr_pool_t *p, const oa_seal_key *key, const char *what);

#endif /* OA_SEAL_H */
