/* Unsigned JWTs for the OAuth mock: Codex access and id tokens carry their expiry ("exp") and the
 * ChatGPT account in claims that clients decode without checking the signature, so the mock only
 * needs the shape header.payload.signature, each part base64url. */
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>

#include "mock.h"

#define SALT_SIGNATURE 91

const char *mock_base64url(apr_pool_t *p, const char *data, apr_size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const unsigned char *in = (const unsigned char *) data;
    char *out = apr_palloc(p, (len + 2) / 3 * 4 + 1);
    apr_size_t o = 0, i = 0;

    for (; i + 2 < len; i += 3) {
        unsigned v = (unsigned) in[i] << 16 | (unsigned) in[i + 1] << 8 | in[i + 2];
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
        out[o++] = alphabet[v & 63];
    }
    if (len - i == 1) {
        unsigned v = (unsigned) in[i] << 16;
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
    } else if (len - i == 2) {
        unsigned v = (unsigned) in[i] << 16 | (unsigned) in[i + 1] << 8;
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
    }
    out[o] = '\0';
    return out;
}

static const char *json_part(apr_pool_t *p, const json_t *j)
{
    char *dumped = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    const char *part;
    if (!dumped) {
        return "";
    }
    part = mock_base64url(p, dumped, strlen(dumped));
    free(dumped);
    return part;
}

const char *mock_jwt(apr_pool_t *p, const json_t *claims, apr_uint64_t seed)
{
    json_t *header = json_pack("{s:s,s:s,s:s}", "alg", "RS256", "kid", "mock", "typ", "JWT");
    const char *head = json_part(p, header);
    const char *payload = json_part(p, claims);
    /* opaque characters where an RSA signature would be: nothing verifies it */
    const char *signature = mock_id(p, "", seed, SALT_SIGNATURE, 86);

    json_decref(header);
    return apr_pstrcat(p, head, ".", payload, ".", signature, NULL);
}
