/* oa_fingerprint.c: see oa_fingerprint.h. */
#include <string.h>
#include <openssl/evp.h>
#include "apr_strings.h"
#include "oa_fingerprint.h"

/* The first digits hex digits of s's SHA-256 into out (digits + 1 bytes); -1 on failure. */
static int sha256_hex(const char *s, int digits, char *out)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;

    if (!EVP_Digest(s, strlen(s), digest, &digest_len, EVP_sha256(), NULL) ||
        digest_len * 2 < (unsigned int) digits)
        return -1;
    for (int i = 0; i < digits; i++)
        out[i] = hex[(digest[i / 2] >> (i % 2 ? 0 : 4)) & 15];
    out[digits] = '\0';
    return 0;
}

const char *oa_fingerprint(apr_pool_t *p, const char *token)
{
    char out[sizeof("sha256:") + OA_FINGERPRINT_HEX];

    if (!token || !*token)
        return "-";
    memcpy(out, "sha256:", 7);
    if (sha256_hex(token, OA_FINGERPRINT_HEX, out + 7) != 0)
        return "-";
    return apr_pstrdup(p, out);
}

const char *oa_sha256_hex(apr_pool_t *p, const char *s)
{
    char out[65];

    if (!s || sha256_hex(s, 64, out) != 0)
        return "";
    return apr_pstrdup(p, out);
}
