/* codec/tr_embed.c: what the embeddings formats share (see tr_embed.h). */
#include <stdint.h>
#include <string.h>
#include "apr_strings.h"
#include "codec/tr_embed.h"

void tr_embed_request_init(apr_pool_t *p, tr_embed_request *req)
{
    memset(req, 0, sizeof(*req));
    req->texts = apr_array_make(p, 4, sizeof(const char *));
}

/* Writes v as 4 bytes of little-endian float32 at out. */
static void put_float32_le(unsigned char *out, double v)
{
    float f = (float) v;
    uint32_t bits;

    memcpy(&bits, &f, sizeof(bits));
    for (int i = 0; i < 4; i++)
        out[i] = (unsigned char) (bits >> (8 * i));
}

static const char *base64_of(apr_pool_t *p, const unsigned char *in, apr_size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = apr_palloc(p, (len + 2) / 3 * 4 + 1), *o = out;

    for (apr_size_t i = 0; i < len; i += 3) {
        uint32_t n = (uint32_t) in[i] << 16;
        if (i + 1 < len)
            n |= (uint32_t) in[i + 1] << 8;
        if (i + 2 < len)
            n |= in[i + 2];
        *o++ = alphabet[(n >> 18) & 63];
        *o++ = alphabet[(n >> 12) & 63];
        *o++ = i + 1 < len ? alphabet[(n >> 6) & 63] : '=';
        *o++ = i + 2 < len ? alphabet[n & 63] : '=';
    }
    *o = '\0';
    return out;
}

const char *tr_embed_base64(apr_pool_t *p, const tr_jv *vector)
{
    apr_size_t n = tr_jv_size(vector);
    unsigned char *bytes = apr_palloc(p, n * 4 + 1);
    tr_jv *v;
    size_t i;

    tr_jv_array_foreach(vector, i, v)
    {
        put_float32_le(bytes + i * 4, tr_jv_is_number(v) ? tr_jv_number_value(v) : 0.0);
    }
    return base64_of(p, bytes, n * 4);
}
