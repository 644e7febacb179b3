/* oa_fingerprint.c: see oa_fingerprint.h. */
#include <string.h>
#include <openssl/evp.h>
#include "apr_strings.h"
#include "oa_fingerprint.h"

const char *oa_fingerprint(apr_pool_t *p, const char *token)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    char out[sizeof("sha256:") + OA_FINGERPRINT_HEX];

    if (!token || !*token)
        return "-";
    if (!EVP_Digest(token, strlen(token), digest, &digest_len, EVP_sha256(), NULL) ||
        digest_len * 2 < OA_FINGERPRINT_HEX)
        return "-";
    memcpy(out, "sha256:", 7);
    for (int i = 0; i < OA_FINGERPRINT_HEX; i++)
        out[7 + i] = hex[(digest[i / 2] >> (i % 2 ? 0 : 4)) & 15];
    out[7 + OA_FINGERPRINT_HEX] = '\0';
    return apr_pstrdup(p, out);
}
