/* oa_jwt.c: see oa_jwt.h. */
#include <string.h>
#include <jansson.h>
#include "apr_strings.h"
#include "oa_jwt.h"
#include "oa_time.h"

/* Longest claim string kept (emails are at most 320 bytes; account ids are uuids). */
#define OA_CLAIM_MAX 320

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The 6-bit value of c, or -1 when c is not in the base64url alphabet. */
static int b64url_value(unsigned char c)
{
    const char *at = c ? strchr(b64url_alphabet, c) : NULL;
    return at ? (int) (at - b64url_alphabet) : -1;
}

int oa_base64url_decode(apr_pool_t *p, const char *in, apr_size_t len, unsigned char **out,
                        apr_size_t *out_len)
{
    unsigned char *buf;
    apr_size_t n = 0, pad = 0;
    apr_uint32_t bits = 0;
    int nbits = 0;

    /* Up to two '=' at the end, only to complete a group of four. */
    while (len > 0 && in[len - 1] == '=' && pad < 2) {
        len--;
        pad++;
    }
    if (len % 4 == 1 || (pad && (len + pad) % 4))
        return -1;
    buf = apr_palloc(p, len / 4 * 3 + 3);
    for (apr_size_t i = 0; i < len; i++) {
        int v = b64url_value((unsigned char) in[i]);
        if (v < 0)
            return -1;
        bits = (bits << 6) | (apr_uint32_t) v;
        nbits += 6;
        if (nbits >= 8) {
            nbits -= 8;
            buf[n++] = (unsigned char) (bits >> nbits);
            bits &= (1u << nbits) - 1;
        }
    }
    if (bits) /* leftover bits must be zero: one spelling per byte string */
        return -1;
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    return 0;
}

char *oa_base64url_encode(apr_pool_t *p, const unsigned char *in, apr_size_t len)
{
    char *out = apr_palloc(p, (len + 2) / 3 * 4 + 1), *o = out;
    apr_uint32_t bits = 0;
    int nbits = 0;

    for (apr_size_t i = 0; i < len; i++) {
        bits = (bits << 8) | in[i];
        nbits += 8;
        while (nbits >= 6) {
            nbits -= 6;
            *o++ = b64url_alphabet[(bits >> nbits) & 63];
        }
    }
    if (nbits)
        *o++ = b64url_alphabet[(bits << (6 - nbits)) & 63];
    *o = '\0';
    return out;
}

/* A claim string fit for logs and headers: 1..OA_CLAIM_MAX bytes, no control characters. */
static const char *claim_string(apr_pool_t *p, json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    const char *s;
    size_t len;

    if (!json_is_string(v))
        return NULL;
    s = json_string_value(v);
    len = json_string_length(v);
    if (len == 0 || len > OA_CLAIM_MAX)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f)
            return NULL;
    }
    return apr_pstrmemdup(p, s, len);
}

static void read_claims(apr_pool_t *p, json_t *payload, oa_jwt_claims *out)
{
    json_t *exp = json_object_get(payload, "exp");
    json_t *openai = json_object_get(payload, OA_JWT_OPENAI_AUTH_CLAIM);

    if (json_is_number(exp) &&
        oa_time_from_epoch(json_number_value(exp), OA_TIME_EPOCH_S, &out->exp) != 0)
        out->exp = 0;
    out->email = claim_string(p, payload, "email");
    if (json_is_object(openai)) {
        out->chatgpt_account_id = claim_string(p, openai, "chatgpt_account_id");
        out->chatgpt_plan_type = claim_string(p, openai, "chatgpt_plan_type");
    }
}

int oa_jwt_read_claims(apr_pool_t *p, const char *token, apr_size_t len, oa_jwt_claims *out)
{
    const char *dot1, *dot2, *payload_b64;
    unsigned char *header, *payload;
    apr_size_t header_len, payload_len;
    json_t *claims;

    memset(out, 0, sizeof(*out));
    if (!token || len == 0 || len > OA_JWT_MAX)
        return -1;
    dot1 = memchr(token, '.', len);
    dot2 = dot1 ? memchr(dot1 + 1, '.', len - (apr_size_t) (dot1 + 1 - token)) : NULL;
    if (!dot2 || memchr(dot2 + 1, '.', len - (apr_size_t) (dot2 + 1 - token)))
        return -1;
    payload_b64 = dot1 + 1;
    /* The header must decode too (it is not read: the claims are all that matters). */
    if (dot1 == token ||
        oa_base64url_decode(p, token, (apr_size_t) (dot1 - token), &header, &header_len) ||
        oa_base64url_decode(p, payload_b64, (apr_size_t) (dot2 - payload_b64), &payload,
                            &payload_len))
        return -1;
    claims = json_loadb((const char *) payload, payload_len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(claims)) {
        json_decref(claims);
        return -1;
    }
    read_claims(p, claims, out);
    json_decref(claims);
    return 0;
}
