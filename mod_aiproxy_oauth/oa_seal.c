/* oa_seal.c: see oa_seal.h. */
#include <string.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>
#include "apr_lib.h"
#include "oa_seal.h"

/* HMAC-SHA256(key, label) into out (32 bytes). */
static int derive(const unsigned char *key, apr_size_t key_len, const char *label,
                  unsigned char out[OA_SEAL_KEY_BYTES])
{
    unsigned int n = 0;

    return HMAC(EVP_sha256(), key, (int) key_len, (const unsigned char *) label, strlen(label), out,
                &n) &&
                   n == OA_SEAL_KEY_BYTES
               ? 0
               : -1;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char) apr_tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int oa_seal_key_parse(const char *data, apr_size_t len, oa_seal_key *key, const char **err)
{
    unsigned char raw[OA_SEAL_KEY_BYTES];
    const char *start = data, *end = data + len;
    int ok = 0, same = 1;

    while (start < end && apr_isspace(*start))
        start++;
    while (end > start && apr_isspace(end[-1]))
        end--;
    if (end - start == 2 * OA_SEAL_KEY_BYTES) {
        ok = 1;
        for (int i = 0; i < OA_SEAL_KEY_BYTES && ok; i++) {
            int hi = hex_value(start[2 * i]), lo = hex_value(start[2 * i + 1]);
            ok = hi >= 0 && lo >= 0;
            if (ok)
                raw[i] = (unsigned char) (hi << 4 | lo);
        }
    }
    if (!ok && len == OA_SEAL_KEY_BYTES) {
        memcpy(raw, data, OA_SEAL_KEY_BYTES);
        ok = 1;
    }
    if (!ok) {
        *err = "expected 32 random bytes, as 64 hex digits (openssl rand -hex 32) or raw";
        return -1;
    }
    for (int i = 1; i < OA_SEAL_KEY_BYTES && same; i++)
        same = raw[i] == raw[0];
    if (same) {
        *err = "the key is one byte repeated: use openssl rand -hex 32";
        OPENSSL_cleanse(raw, sizeof(raw));
        return -1;
    }
    if (derive(raw, sizeof(raw), "aiproxy shared state v1: seal", key->seal) != 0 ||
        derive(raw, sizeof(raw), "aiproxy shared state v1: name", key->name) != 0) {
        *err = "cannot derive the keys (OpenSSL HMAC failed)";
        OPENSSL_cleanse(raw, sizeof(raw));
        return -1;
    }
    OPENSSL_cleanse(raw, sizeof(raw));
    return 0;
}

/* One AES-256-GCM pass over in (len bytes) into out; encrypting: the tag goes to tag, else it
 * is checked against tag. 0, or -1. */
static int gcm(int encrypt, const oa_seal_key *key, const unsigned char *nonce, const char *aad,
               const unsigned char *in, apr_size_t len, unsigned char *out, unsigned char *tag)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0, ok;

    if (!ctx)
        return -1;
    ok = EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, encrypt) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, OA_SEAL_NONCE_BYTES, NULL) == 1 &&
         EVP_CipherInit_ex(ctx, NULL, NULL, key->seal, nonce, encrypt) == 1 &&
         EVP_CipherUpdate(ctx, NULL, &n, (const unsigned char *) aad, (int) strlen(aad)) == 1 &&
         (len == 0 || EVP_CipherUpdate(ctx, out, &n, in, (int) len) == 1) &&
         (encrypt || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, OA_SEAL_TAG_BYTES, tag) == 1) &&
         EVP_CipherFinal_ex(ctx, out + (len ? (apr_size_t) n : 0), &n) == 1 &&
         (!encrypt || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, OA_SEAL_TAG_BYTES, tag) == 1);
    EVP_CIPHER_CTX_free(ctx);
    return ok ? 0 : -1;
}

int oa_seal(apr_pool_t *p, const oa_seal_key *key, const char *aad, const void *plain,
            apr_size_t len, char **out, apr_size_t *out_len)
{
    unsigned char *buf;

    if (len > (apr_size_t) 1 << 30)
        return -1;
    buf = apr_palloc(p, len + OA_SEAL_OVERHEAD);
    memcpy(buf, OA_SEAL_MAGIC, OA_SEAL_MAGIC_LEN);
    if (RAND_bytes(buf + OA_SEAL_MAGIC_LEN, OA_SEAL_NONCE_BYTES) != 1 ||
        gcm(1, key, buf + OA_SEAL_MAGIC_LEN, aad, plain, len,
            buf + OA_SEAL_MAGIC_LEN + OA_SEAL_NONCE_BYTES,
            buf + OA_SEAL_MAGIC_LEN + OA_SEAL_NONCE_BYTES + len) != 0)
        return -1;
    *out = (char *) buf;
    *out_len = len + OA_SEAL_OVERHEAD;
    return 0;
}

int oa_unseal(apr_pool_t *p, const oa_seal_key *key, const char *aad, const char *sealed,
              apr_size_t len, char **plain, apr_size_t *plain_len)
{
    const unsigned char *s = (const unsigned char *) sealed;
    unsigned char tag[OA_SEAL_TAG_BYTES];
    apr_size_t n;
    char *buf;

    if (len < OA_SEAL_OVERHEAD || memcmp(s, OA_SEAL_MAGIC, OA_SEAL_MAGIC_LEN) != 0)
        return -1;
    n = len - OA_SEAL_OVERHEAD;
    memcpy(tag, s + OA_SEAL_MAGIC_LEN + OA_SEAL_NONCE_BYTES + n, sizeof(tag));
    buf = apr_palloc(p, n + 1);
    if (gcm(0, key, s + OA_SEAL_MAGIC_LEN, aad, s + OA_SEAL_MAGIC_LEN + OA_SEAL_NONCE_BYTES, n,
            (unsigned char *) buf, tag) != 0) {
        OPENSSL_cleanse(buf, n + 1);
        return -1;
    }
    buf[n] = '\0';
    *plain = buf;
    *plain_len = n;
    return 0;
}

const char *oa_seal_name(apr_pool_t *p, const oa_seal_key *key, const char *what)
{
    unsigned char mac[OA_SEAL_KEY_BYTES];
    char *hex = apr_palloc(p, 33);
    static const char digits[] = "0123456789abcdef";

    if (derive(key->name, sizeof(key->name), what, mac) != 0)
        memset(mac, 0, sizeof(mac));
    for (int i = 0; i < 16; i++) {
        hex[2 * i] = digits[mac[i] >> 4];
        hex[2 * i + 1] = digits[mac[i] & 15];
    }
    hex[32] = '\0';
    return hex;
}
