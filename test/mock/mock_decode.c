/* Content-Encoding of request bodies: gzip (and x-gzip, deflate), zstd, br, identity. A list of
 * codings is undone last coding first, as RFC 9110 orders them. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <apr_strings.h>
#include <brotli/decode.h>
#include <zlib.h>
#include <zstd.h>

#include "mock.h"

typedef struct {
    char *buf; /* malloc; ownership passes to the pool at the end */
    apr_size_t len, cap;
} growbuf;

static int grow(growbuf *g, apr_size_t need)
{
    apr_size_t cap = g->cap ? g->cap : 16384;
    char *nb;
    if (g->len + need <= g->cap) {
        return 1;
    }
    if (g->len + need > MOCK_MAX_BODY) {
        return 0;
    }
    while (cap < g->len + need) {
        cap *= 2;
    }
    if (cap > MOCK_MAX_BODY) {
        cap = MOCK_MAX_BODY;
    }
    nb = realloc(g->buf, cap);
    if (!nb) {
        return 0;
    }
    g->buf = nb;
    g->cap = cap;
    return 1;
}

/* How much room to ask for before each decoder call. */
static apr_size_t grow_hint(apr_size_t in_len)
{
    apr_size_t hint = in_len * 2 + 1024;
    return hint > 1048576 ? 1048576 : hint;
}

static mock_decode_status inflate_body(const char *in, apr_size_t in_len, growbuf *g)
{
    z_stream zs;
    int rc;
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, 15 + 32) != Z_OK) { /* +32: gzip or zlib header, detected */
        return MOCK_DECODE_CORRUPT;
    }
    zs.next_in = (Bytef *) in;
    zs.avail_in = (uInt) in_len;
    do {
        if (!grow(g, grow_hint(in_len))) {
            inflateEnd(&zs);
            return MOCK_DECODE_TOO_LARGE;
        }
        zs.next_out = (Bytef *) g->buf + g->len;
        zs.avail_out = (uInt) (g->cap - g->len);
        rc = inflate(&zs, Z_NO_FLUSH);
        g->len = g->cap - zs.avail_out;
    } while (rc == Z_OK && (zs.avail_in > 0 || zs.avail_out == 0));
    inflateEnd(&zs);
    return rc == Z_STREAM_END ? MOCK_DECODE_OK : MOCK_DECODE_CORRUPT;
}

static mock_decode_status zstd_body(const char *in, apr_size_t in_len, growbuf *g)
{
    ZSTD_DStream *ds = ZSTD_createDStream();
    ZSTD_inBuffer zin = {in, in_len, 0};
    size_t rc = 1;
    mock_decode_status status = MOCK_DECODE_OK;

    if (!ds) {
        return MOCK_DECODE_CORRUPT;
    }
    while (zin.pos < zin.size) {
        ZSTD_outBuffer zout;
        if (!grow(g, grow_hint(in_len))) {
            status = MOCK_DECODE_TOO_LARGE;
            break;
        }
        zout.dst = g->buf + g->len;
        zout.size = g->cap - g->len;
        zout.pos = 0;
        rc = ZSTD_decompressStream(ds, &zout, &zin);
        g->len += zout.pos;
        if (ZSTD_isError(rc)) {
            status = MOCK_DECODE_CORRUPT;
            break;
        }
        if (zout.pos == 0 && zin.pos == zin.size) {
            break;
        }
    }
    /* flush what the decoder still holds */
    while (status == MOCK_DECODE_OK && rc != 0) {
        ZSTD_outBuffer zout;
        if (!grow(g, 65536)) {
            status = MOCK_DECODE_TOO_LARGE;
            break;
        }
        zout.dst = g->buf + g->len;
        zout.size = g->cap - g->len;
        zout.pos = 0;
        rc = ZSTD_decompressStream(ds, &zout, &zin);
        g->len += zout.pos;
        if (ZSTD_isError(rc) || zout.pos == 0) {
            status = MOCK_DECODE_CORRUPT; /* truncated frame */
        }
    }
    ZSTD_freeDStream(ds);
    return status;
}

static mock_decode_status brotli_body(const char *in, apr_size_t in_len, growbuf *g)
{
    BrotliDecoderState *bs = BrotliDecoderCreateInstance(NULL, NULL, NULL);
    const uint8_t *next_in = (const uint8_t *) in;
    size_t avail_in = in_len;
    BrotliDecoderResult rc = BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT;
    mock_decode_status status = MOCK_DECODE_OK;

    if (!bs) {
        return MOCK_DECODE_CORRUPT;
    }
    while (rc == BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT) {
        uint8_t *next_out;
        size_t avail_out;
        if (!grow(g, grow_hint(in_len))) {
            status = MOCK_DECODE_TOO_LARGE;
            break;
        }
        next_out = (uint8_t *) g->buf + g->len;
        avail_out = g->cap - g->len;
        rc = BrotliDecoderDecompressStream(bs, &avail_in, &next_in, &avail_out, &next_out, NULL);
        g->len = g->cap - avail_out;
    }
    if (status == MOCK_DECODE_OK && rc != BROTLI_DECODER_RESULT_SUCCESS) {
        status = MOCK_DECODE_CORRUPT;
    }
    BrotliDecoderDestroyInstance(bs);
    return status;
}

static apr_status_t free_buf(void *data)
{
    free(data);
    return APR_SUCCESS;
}

/* Decode one coding; identity codings return the input unchanged. */
static mock_decode_status decode_one(apr_pool_t *p, const char *coding, apr_size_t coding_len,
                                     const char **data, apr_size_t *len)
{
    growbuf g = {NULL, 0, 0};
    mock_decode_status status;

#define IS(name) (coding_len == sizeof(name) - 1 && strncasecmp(coding, name, coding_len) == 0)
    if (coding_len == 0 || IS("identity")) {
        return MOCK_DECODE_OK;
    }
    if (IS("gzip") || IS("x-gzip") || IS("deflate")) {
        status = inflate_body(*data, *len, &g);
    } else if (IS("zstd") || IS("x-zstd")) {
        status = zstd_body(*data, *len, &g);
    } else if (IS("br")) {
        status = brotli_body(*data, *len, &g);
    } else {
        return MOCK_DECODE_UNSUPPORTED;
    }
#undef IS
    if (status != MOCK_DECODE_OK) {
        free(g.buf);
        return status;
    }
    if (!g.buf) {
        *data = "";
        *len = 0;
        return MOCK_DECODE_OK;
    }
    apr_pool_cleanup_register(p, g.buf, free_buf, apr_pool_cleanup_null);
    *data = g.buf;
    *len = g.len;
    return MOCK_DECODE_OK;
}

mock_decode_status mock_decode_body(apr_pool_t *p, const char *encoding, const char *in,
                                    apr_size_t in_len, const char **out, apr_size_t *out_len)
{
    const char *end;
    *out = in;
    *out_len = in_len;
    if (!encoding) {
        return MOCK_DECODE_OK;
    }
    /* walk the list from its end */
    end = encoding + strlen(encoding);
    while (end > encoding) {
        const char *start = end;
        const char *tok_end;
        mock_decode_status status;
        while (start > encoding && start[-1] != ',') {
            start--;
        }
        tok_end = end;
        while (start < tok_end && (*start == ' ' || *start == '\t')) {
            start++;
        }
        while (tok_end > start && (tok_end[-1] == ' ' || tok_end[-1] == '\t')) {
            tok_end--;
        }
        status = decode_one(p, start, (apr_size_t) (tok_end - start), out, out_len);
        if (status != MOCK_DECODE_OK) {
            return status;
        }
        end = start;
        while (end > encoding && end[-1] != ',') {
            end--;
        }
        if (end > encoding) {
            end--; /* skip the comma */
        }
    }
    return MOCK_DECODE_OK;
}
