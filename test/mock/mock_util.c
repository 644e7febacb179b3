/* Small helpers shared by the providers: ids, opaque blobs, JSON access, text extraction. */
#include <stdlib.h>
#include <string.h>

#include <apr_base64.h>
#include <apr_strings.h>

#include "mock.h"

apr_uint64_t mock_mix(apr_uint64_t x)
{
    /* splitmix64 finaliser */
    x += APR_UINT64_C(0x9e3779b97f4a7c15);
    x = (x ^ (x >> 30)) * APR_UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * APR_UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

const char *mock_id(apr_pool_t *p, const char *prefix, apr_uint64_t seed, unsigned salt, int n)
{
    static const char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    apr_size_t plen = strlen(prefix);
    char *out = apr_palloc(p, plen + (apr_size_t) n + 1);
    const apr_uint64_t base = mock_mix(seed ^ ((apr_uint64_t) salt << 32));
    apr_uint64_t state = base;

    memcpy(out, prefix, plen);
    for (int i = 0; i < n; i++) {
        /* 10 base62 digits use up a 64-bit state: draw the next from the seed, not from the
         * remainder, or every id would end alike after its first ten characters */
        if (i % 10 == 0) {
            state = mock_mix(base + (apr_uint64_t) i);
        }
        out[plen + (apr_size_t) i] = alphabet[state % 62];
        state /= 62;
    }
    out[plen + (apr_size_t) n] = '\0';
    return out;
}

const char *mock_blob_b64(apr_pool_t *p, const char *prefix, apr_uint64_t seed, unsigned salt,
                          apr_size_t nbytes)
{
    apr_size_t plen = strlen(prefix);
    unsigned char *raw = apr_palloc(p, nbytes + 8);
    apr_uint64_t state = seed ^ ((apr_uint64_t) salt << 40);
    char *out;

    for (apr_size_t i = 0; i < nbytes; i += 8) {
        state = mock_mix(state);
        memcpy(raw + i, &state, 8);
    }
    out = apr_palloc(p, plen + (apr_size_t) apr_base64_encode_len((int) nbytes));
    memcpy(out, prefix, plen);
    apr_base64_encode_binary(out + plen, raw, (int) nbytes);
    return out;
}

/* Length of the valid UTF-8 sequence at s (at most len bytes), 0 if invalid. */
static apr_size_t utf8_sequence(const unsigned char *s, apr_size_t len)
{
    apr_size_t n;
    if (s[0] < 0x80) {
        return 1;
    }
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        n = 2;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        n = 3;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        n = 4;
    } else {
        return 0;
    }
    if (n > len) {
        return 0;
    }
    for (apr_size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
    }
    return n;
}

json_t *mock_json_string(const char *s, apr_size_t len)
{
    json_t *j = json_stringn(s, len);
    char *copy;
    if (j) {
        return j;
    }
    copy = malloc(len ? len : 1);
    if (!copy) {
        return json_string("");
    }
    for (apr_size_t i = 0; i < len;) {
        apr_size_t n = utf8_sequence((const unsigned char *) s + i, len - i);
        if (n == 0 || (n == 1 && s[i] == '\0')) {
            copy[i++] = '?';
        } else {
            memcpy(copy + i, s + i, n);
            i += n;
        }
    }
    j = json_stringn(copy, len);
    free(copy);
    return j ? j : json_string("");
}

const char *mock_json_str(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int part_counts(const json_t *part, const char *type1, const char *type2)
{
    const char *type;
    if (!json_is_string(json_object_get(part, "text"))) {
        return 0;
    }
    if (!type1 && !type2) {
        return !json_is_true(json_object_get(part, "thought"));
    }
    type = mock_json_str(part, "type");
    return type && ((type1 && strcmp(type, type1) == 0) || (type2 && strcmp(type, type2) == 0));
}

const char *mock_content_text(apr_pool_t *p, const json_t *content, const char *type1,
                              const char *type2, apr_size_t *len)
{
    apr_size_t total = 0, off = 0, i;
    const json_t *part;
    char *out;

    if (json_is_string(content)) {
        *len = json_string_length(content);
        return json_string_value(content);
    }
    *len = 0;
    if (!json_is_array(content)) {
        return "";
    }
    json_array_foreach(content, i, part)
    {
        if (part_counts(part, type1, type2)) {
            total += json_string_length(json_object_get(part, "text"));
        }
    }
    out = apr_palloc(p, total + 1);
    json_array_foreach(content, i, part)
    {
        if (part_counts(part, type1, type2)) {
            const json_t *t = json_object_get(part, "text");
            memcpy(out + off, json_string_value(t), json_string_length(t));
            off += json_string_length(t);
        }
    }
    out[off] = '\0';
    *len = off;
    return out;
}

const char *mock_status_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 408:
        return "Request Timeout";
    case 413:
        return "Request Entity Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 529:
        return "Site Overloaded";
    default:
        return status >= 500 ? "Server Error" : status >= 400 ? "Client Error" : "Unknown";
    }
}
