/*
 * test_compress.c: request-body compression and incremental response decoding.
 *
 * Encoded bodies are checked with the libraries' own one-shot decoders (not only our decoder),
 * and the decoder is fed streams the libraries encoded, split at every byte, so neither side
 * can hide a mistake of the other.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <brotli/decode.h>
#include <brotli/encode.h>
#include <zlib.h>
#include <zstd.h>

#include "apr_general.h"
#include "apr_strings.h"
#include "apr_thread_proc.h"
#include "aip_compress.h"

static apr_pool_t *root_pool;

static int setup(void **state)
{
    apr_pool_t *p;
    apr_pool_create(&p, root_pool);
    *state = p;
    return 0;
}

static int teardown(void **state)
{
    apr_pool_destroy(*state);
    return 0;
}

/* ---- helpers ------------------------------------------------------------------------------ */

/* A sink that keeps everything, counts calls and remembers the largest piece. */
typedef struct {
    char *data;
    apr_size_t len, cap;
    int calls;
    apr_size_t largest;
    int refuse; /* return an error from the first write */
} collector;

static apr_status_t collect(void *baton, const char *data, apr_size_t len)
{
    collector *c = baton;

    if (c->refuse)
        return APR_EGENERAL;
    if (c->len + len > c->cap) {
        c->cap = (c->len + len) * 2;
        c->data = realloc(c->data, c->cap);
        assert_non_null(c->data);
    }
    memcpy(c->data + c->len, data, len);
    c->len += len;
    c->calls++;
    if (len > c->largest)
        c->largest = len;
    return APR_SUCCESS;
}

/* collect() without keeping the bytes: for the bomb tests. */
static apr_status_t count_only(void *baton, const char *data, apr_size_t len)
{
    collector *c = baton;
    c->len += len;
    c->calls++;
    if (len > c->largest)
        c->largest = len;
    return APR_SUCCESS;
}

static void collector_reset(collector *c)
{
    free(c->data);
    memset(c, 0, sizeof(*c));
}

/* A chat-completion-like JSON body of about n bytes: compressible, as real requests are. */
static char *json_body(apr_pool_t *p, apr_size_t n, apr_size_t *len)
{
    static const char head[] = "{\"model\":\"upstream-model\",\"messages\":[";
    static const char tail[] = "{\"role\":\"user\",\"content\":\"end\"}]}";
    char *s = apr_palloc(p, n + 200);
    apr_size_t used = sizeof(head) - 1;

    memcpy(s, head, used);
    for (int i = 0; used < n; i++)
        used += (apr_size_t) snprintf(s + used, n + 200 - used,
                                      "{\"role\":\"user\",\"content\":\"message number %d "
                                      "about tools\"},",
                                      i);
    memcpy(s + used, tail, sizeof(tail));
    *len = used + sizeof(tail) - 1;
    return s;
}

/* Bytes with no redundancy (xorshift), which no coding can shrink. */
static char *random_bytes(apr_pool_t *p, apr_size_t n)
{
    char *s = apr_palloc(p, n);
    uint32_t x = 2463534242u;

    for (apr_size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        s[i] = (char) (x & 0xff);
    }
    return s;
}

/* Decode body with the library's one-shot API, independently of aip_decoder. */
static char *library_decode(apr_pool_t *p, const char *coding, const char *in, apr_size_t len,
                            apr_size_t expect)
{
    char *out = apr_palloc(p, expect + 1);

    if (!strcmp(coding, "zstd")) {
        size_t n = ZSTD_decompress(out, expect + 1, in, len);
        assert_false(ZSTD_isError(n));
        assert_int_equal(n, expect);
    } else if (!strcmp(coding, "gzip")) {
        z_stream zs;
        memset(&zs, 0, sizeof(zs));
        assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
        zs.next_in = (Bytef *) in;
        zs.avail_in = (uInt) len;
        zs.next_out = (Bytef *) out;
        zs.avail_out = (uInt) expect + 1;
        assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
        assert_int_equal(zs.total_out, expect);
        inflateEnd(&zs);
    } else {
        size_t n = expect + 1;
        assert_int_equal(BrotliDecoderDecompress(len, (const uint8_t *) in, &n, (uint8_t *) out),
                         BROTLI_DECODER_RESULT_SUCCESS);
        assert_int_equal(n, expect);
    }
    return out;
}

/* Encode the events as one stream, flushed after each event; ends[i] is the encoded offset
 * once event i is flushed. coding: gzip, zlib (deflate), raw (raw deflate), zstd, br. */
static char *encode_flushed(apr_pool_t *p, const char *coding, const char *const *events, int n,
                            apr_size_t *ends, apr_size_t *len)
{
    apr_size_t cap = 65536, used = 0;
    char *out = apr_palloc(p, cap);

    if (!strcmp(coding, "zstd")) {
        ZSTD_CCtx *cc = ZSTD_createCCtx();
        for (int i = 0; i <= n; i++) {
            const char *ev = i < n ? events[i] : "";
            ZSTD_inBuffer in = {ev, strlen(ev), 0};
            ZSTD_outBuffer o = {out + used, cap - used, 0};
            size_t rc = ZSTD_compressStream2(cc, &o, &in, i < n ? ZSTD_e_flush : ZSTD_e_end);
            assert_int_equal(rc, 0);
            used += o.pos;
            if (i < n)
                ends[i] = used;
        }
        ZSTD_freeCCtx(cc);
    } else if (!strcmp(coding, "br")) {
        BrotliEncoderState *bs = BrotliEncoderCreateInstance(NULL, NULL, NULL);
        for (int i = 0; i <= n; i++) {
            const char *ev = i < n ? events[i] : "";
            size_t avail_in = strlen(ev), avail_out = cap - used;
            const uint8_t *next_in = (const uint8_t *) ev;
            uint8_t *next_out = (uint8_t *) out + used;
            BrotliEncoderOperation op = i < n ? BROTLI_OPERATION_FLUSH : BROTLI_OPERATION_FINISH;
            do {
                assert_true(BrotliEncoderCompressStream(bs, op, &avail_in, &next_in, &avail_out,
                                                        &next_out, NULL));
            } while (avail_in > 0 || BrotliEncoderHasMoreOutput(bs));
            used = (apr_size_t) ((char *) next_out - out);
            if (i < n)
                ends[i] = used;
        }
        assert_true(BrotliEncoderIsFinished(bs));
        BrotliEncoderDestroyInstance(bs);
    } else {
        int bits = !strcmp(coding, "gzip") ? 15 + 16 : !strcmp(coding, "raw") ? -15 : 15;
        z_stream zs;
        memset(&zs, 0, sizeof(zs));
        assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
        zs.next_out = (Bytef *) out;
        zs.avail_out = (uInt) cap;
        for (int i = 0; i <= n; i++) {
            const char *ev = i < n ? events[i] : "";
            zs.next_in = (Bytef *) ev;
            zs.avail_in = (uInt) strlen(ev);
            assert_int_not_equal(deflate(&zs, i < n ? Z_SYNC_FLUSH : Z_FINISH), Z_STREAM_ERROR);
            if (i < n)
                ends[i] = zs.total_out;
        }
        used = zs.total_out;
        deflateEnd(&zs);
    }
    *len = used;
    return out;
}

static const char *const sse_events[] = {
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m1\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"text\":"
    "\"Hello\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"text\":"
    "\" world\"}}\n\n",
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
};
#define SSE_COUNT 4

static char *sse_plain(apr_pool_t *p, apr_size_t *len)
{
    char *s = apr_pstrcat(p, sse_events[0], sse_events[1], sse_events[2], sse_events[3], NULL);
    *len = strlen(s);
    return s;
}

/* Decode in[0..len) fed in the given pieces; asserts success and returns the output. */
static void decode_pieces(apr_pool_t *p, const char *coding, const char *in, apr_size_t len,
                          const apr_size_t *cuts, int ncuts, collector *c)
{
    aip_decoder *dec = aip_decoder_create(p, coding);
    aip_sink sink = {collect, c};
    apr_size_t at = 0;

    assert_non_null(dec);
    for (int i = 0; i <= ncuts; i++) {
        apr_size_t end = i < ncuts ? cuts[i] : len;
        assert_int_equal(aip_decoder_feed(dec, in + at, end - at, &sink), AIP_DECODE_OK);
        at = end;
    }
    assert_int_equal(aip_decoder_finish(dec, &sink), AIP_DECODE_OK);
    assert_null(aip_decoder_error(dec));
    assert_int_equal(aip_decoder_output_size(dec), c->len);
}

static const char *const request_codings[] = {"zstd", "gzip", "br"};

/* ---- request bodies ------------------------------------------------------------------------- */

static void test_compress_round_trip_each_coding(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len;
    char *body = json_body(p, 8000, &len);

    for (int i = 0; i < 3; i++) {
        const char *coding = request_codings[i];
        const char *out = NULL;
        apr_size_t outlen = 0;
        collector c = {0};

        assert_int_equal(aip_compress_body(p, coding, body, len, &out, &outlen), AIP_COMPRESS_OK);
        assert_true(outlen < len / 4); /* repetitive JSON shrinks a lot */
        assert_memory_equal(library_decode(p, coding, out, outlen, len), body, len);
        decode_pieces(p, coding, out, outlen, NULL, 0, &c);
        assert_int_equal(c.len, len);
        assert_memory_equal(c.data, body, len);
        collector_reset(&c);
    }
}

/* Kept zstd contexts (aip_compress_child_init) give the bytes a fresh context gives, whatever
 * they compressed before, also with threads taking and giving them back at once. */
typedef struct {
    apr_pool_t *pool;
    const char *body[2];
    apr_size_t len[2];
    const char *expect[2];
    apr_size_t expect_len[2];
    int mismatches;
} zstd_round;

static void zstd_rounds(zstd_round *z, int rounds)
{
    for (int i = 0; i < rounds; i++) {
        const char *out;
        apr_size_t outlen;
        int b = i % 2;

        if (aip_compress_body(z->pool, "zstd", z->body[b], z->len[b], &out, &outlen) !=
                AIP_COMPRESS_OK ||
            outlen != z->expect_len[b] || memcmp(out, z->expect[b], outlen) != 0)
            z->mismatches++;
    }
}

static void *APR_THREAD_FUNC zstd_thread(apr_thread_t *thread, void *data)
{
    zstd_rounds(data, 40);
    apr_thread_exit(thread, APR_SUCCESS);
    return NULL;
}

static void test_compress_kept_zstd_contexts(void **state)
{
    apr_pool_t *p = *state, *child;
    zstd_round z = {.pool = p};
    zstd_round per_thread[6];
    apr_thread_t *threads[6];

    z.body[0] = json_body(p, 200000, &z.len[0]); /* a large body first: the tables grow */
    z.body[1] = json_body(p, 1500, &z.len[1]);
    for (int b = 0; b < 2; b++) /* no cache yet: a context per body */
        assert_int_equal(
            aip_compress_body(p, "zstd", z.body[b], z.len[b], &z.expect[b], &z.expect_len[b]),
            AIP_COMPRESS_OK);

    assert_int_equal(apr_pool_create(&child, p), APR_SUCCESS);
    aip_compress_child_init(child);
    aip_compress_child_init(child); /* a second call keeps the first cache */
    zstd_rounds(&z, 6);
    assert_int_equal(z.mismatches, 0);
    for (int t = 0; t < 6; t++) {
        per_thread[t] = z;
        assert_int_equal(apr_pool_create(&per_thread[t].pool, NULL), APR_SUCCESS);
        assert_int_equal(apr_thread_create(&threads[t], NULL, zstd_thread, &per_thread[t], p),
                         APR_SUCCESS);
    }
    for (int t = 0; t < 6; t++) {
        apr_status_t rv;
        assert_int_equal(apr_thread_join(&rv, threads[t]), APR_SUCCESS);
        assert_int_equal(per_thread[t].mismatches, 0);
        apr_pool_destroy(per_thread[t].pool);
    }
    apr_pool_destroy(child); /* frees the kept contexts; bodies still compress without */
    zstd_rounds(&z, 2);
    assert_int_equal(z.mismatches, 0);
}

static void test_compress_magic_and_aliases(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len;
    char *body = json_body(p, 2000, &len);
    const char *out;
    apr_size_t outlen;

    assert_int_equal(aip_compress_body(p, "x-gzip", body, len, &out, &outlen), AIP_COMPRESS_OK);
    assert_memory_equal(out, "\x1f\x8b", 2);
    assert_int_equal(aip_compress_body(p, "ZSTD", body, len, &out, &outlen), AIP_COMPRESS_OK);
    assert_memory_equal(out, "\x28\xb5\x2f\xfd", 4);
    assert_int_equal(aip_compress_body(p, "x-zstd", body, len, &out, &outlen), AIP_COMPRESS_OK);
    assert_memory_equal(out, "\x28\xb5\x2f\xfd", 4);

    assert_string_equal(aip_compress_coding_name("x-gzip"), "gzip");
    assert_string_equal(aip_compress_coding_name("x-zstd"), "zstd");
    assert_string_equal(aip_compress_coding_name("BR"), "br");
    assert_null(aip_compress_coding_name("none"));
    assert_null(aip_compress_coding_name("identity"));
    assert_null(aip_compress_coding_name("lzma"));
    assert_null(aip_compress_coding_name(NULL));
}

static void test_compress_not_worth_it(void **state)
{
    apr_pool_t *p = *state;
    const char *tiny = "{\"model\":\"m\"}";
    char *noise = random_bytes(p, 4096);

    for (int i = 0; i < 3; i++) {
        const char *out = "untouched";
        apr_size_t outlen = 7;
        assert_int_equal(
            aip_compress_body(p, request_codings[i], tiny, strlen(tiny), &out, &outlen),
            AIP_COMPRESS_NOT_SMALLER);
        assert_int_equal(aip_compress_body(p, request_codings[i], noise, 4096, &out, &outlen),
                         AIP_COMPRESS_NOT_SMALLER);
        assert_int_equal(aip_compress_body(p, request_codings[i], "", 0, &out, &outlen),
                         AIP_COMPRESS_NOT_SMALLER);
        assert_string_equal(out, "untouched"); /* outputs left alone when sending plain */
        assert_int_equal(outlen, 7);
    }
}

static void test_compress_none_and_unknown(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len;
    char *body = json_body(p, 2000, &len);
    const char *out;
    apr_size_t outlen;

    assert_int_equal(aip_compress_body(p, "none", body, len, &out, &outlen), AIP_COMPRESS_NONE);
    assert_int_equal(aip_compress_body(p, "identity", body, len, &out, &outlen), AIP_COMPRESS_NONE);
    assert_int_equal(aip_compress_body(p, NULL, body, len, &out, &outlen), AIP_COMPRESS_NONE);
    assert_int_equal(aip_compress_body(p, "lzma", body, len, &out, &outlen),
                     AIP_COMPRESS_UNSUPPORTED);
}

/* ---- response decoding ---------------------------------------------------------------------- */

/* codings of encode_flushed() and the Content-Encoding each is sent with */
static const struct {
    const char *encoder;
    const char *content_encoding;
} stream_codings[] = {
    {"gzip", "gzip"},   {"gzip", "x-gzip"}, {"zlib", "deflate"},
    {"raw", "deflate"}, {"zstd", "zstd"},   {"br", "br"},
};
#define STREAM_CODINGS 6

static void test_decode_every_split_point(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t plain_len, ends[SSE_COUNT];
    char *plain = sse_plain(p, &plain_len);

    for (int k = 0; k < STREAM_CODINGS; k++) {
        apr_size_t len;
        char *in = encode_flushed(p, stream_codings[k].encoder, sse_events, SSE_COUNT, ends, &len);

        for (apr_size_t cut = 0; cut <= len; cut++) {
            collector c = {0};
            decode_pieces(p, stream_codings[k].content_encoding, in, len, &cut, 1, &c);
            assert_int_equal(c.len, plain_len);
            assert_memory_equal(c.data, plain, plain_len);
            collector_reset(&c);
        }
        /* and one byte at a time */
        {
            apr_size_t *cuts = apr_palloc(p, len * sizeof(*cuts));
            collector c = {0};
            for (apr_size_t i = 0; i < len; i++)
                cuts[i] = i;
            decode_pieces(p, stream_codings[k].content_encoding, in, len, cuts, (int) len, &c);
            assert_int_equal(c.len, plain_len);
            assert_memory_equal(c.data, plain, plain_len);
            collector_reset(&c);
        }
    }
}

/* An SSE event must leave as soon as its compressed bytes are in, not when more arrive. */
static void test_decode_emits_each_flushed_event_at_once(void **state)
{
    apr_pool_t *p = *state;

    for (int k = 0; k < STREAM_CODINGS; k++) {
        apr_size_t len, ends[SSE_COUNT], at = 0, expect = 0;
        char *in = encode_flushed(p, stream_codings[k].encoder, sse_events, SSE_COUNT, ends, &len);
        aip_decoder *dec = aip_decoder_create(p, stream_codings[k].content_encoding);
        collector c = {0};
        aip_sink sink = {collect, &c};

        for (int i = 0; i < SSE_COUNT; i++) {
            assert_int_equal(aip_decoder_feed(dec, in + at, ends[i] - at, &sink), AIP_DECODE_OK);
            at = ends[i];
            expect += strlen(sse_events[i]);
            assert_int_equal(c.len, expect);
            assert_memory_equal(c.data + c.len - strlen(sse_events[i]), sse_events[i],
                                strlen(sse_events[i]));
        }
        assert_int_equal(aip_decoder_feed(dec, in + at, len - at, &sink), AIP_DECODE_OK);
        assert_int_equal(aip_decoder_finish(dec, &sink), AIP_DECODE_OK);
        assert_int_equal(c.len, expect);
        collector_reset(&c);
    }
}

/* Encode body with the request encoder for coding, decode it in one piece into c, and check
 * that exactly body came back. */
static void encode_and_decode_whole(apr_pool_t *p, const char *coding, const char *body,
                                    apr_size_t len, collector *c)
{
    const char *out;
    apr_size_t outlen;

    assert_int_equal(aip_compress_body(p, coding, body, len, &out, &outlen), AIP_COMPRESS_OK);
    decode_pieces(p, coding, out, outlen, NULL, 0, c);
    assert_int_equal(c->len, len);
    assert_memory_equal(c->data, body, len);
}

static void test_decode_large_body_in_bounded_pieces(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len;
    char *body = json_body(p, 300000, &len);

    for (int i = 0; i < 3; i++) {
        collector c = {0};
        encode_and_decode_whole(p, request_codings[i], body, len, &c);
        assert_true(c.largest <= AIP_DECODE_CHUNK);
        assert_true(c.calls >= (int) (len / AIP_DECODE_CHUNK));
        collector_reset(&c);
    }
}

/* A decoded size that is a whole number of output chunks ends with a full buffer: the decoder
 * must still see that the stream ended (zstd reported such bodies as truncated). */
static void test_decode_body_of_whole_chunks(void **state)
{
    static const char line[] = "{\"text\": \"whole chunks\"}\n";
    apr_pool_t *p = *state;

    for (apr_size_t chunks = 1; chunks <= 3; chunks++) {
        apr_size_t len = chunks * AIP_DECODE_CHUNK;
        char *body = apr_palloc(p, len);

        for (apr_size_t i = 0; i < len; i++)
            body[i] = line[i % (sizeof(line) - 1)];
        for (int i = 0; i < 3; i++) {
            collector c = {0};
            encode_and_decode_whole(p, request_codings[i], body, len, &c);
            collector_reset(&c);
        }
    }
}

static void test_decode_coding_lists_in_reverse(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len, outlen, inner_len;
    char *body = json_body(p, 5000, &len);
    const char *inner, *outer;
    collector c = {0};

    /* "gzip, br": gzip applied first, then br; undone br first. */
    assert_int_equal(aip_compress_body(p, "gzip", body, len, &inner, &inner_len), AIP_COMPRESS_OK);
    outer = inner;
    outlen = inner_len;
    {
        /* compressed data rarely shrinks again: encode with the library, not "worth it" */
        size_t n = BrotliEncoderMaxCompressedSize(inner_len);
        char *buf = apr_palloc(p, n);
        assert_true(BrotliEncoderCompress(5, 22, BROTLI_MODE_GENERIC, inner_len,
                                          (const uint8_t *) inner, &n, (uint8_t *) buf));
        outer = buf;
        outlen = n;
    }
    decode_pieces(p, "gzip, br", outer, outlen, NULL, 0, &c);
    assert_int_equal(c.len, len);
    assert_memory_equal(c.data, body, len);
    collector_reset(&c);

    /* identity anywhere in the list is nothing to undo */
    assert_int_equal(aip_compress_body(p, "zstd", body, len, &inner, &inner_len), AIP_COMPRESS_OK);
    decode_pieces(p, " identity ,ZSTD", inner, inner_len, NULL, 0, &c);
    assert_memory_equal(c.data, body, len);
    collector_reset(&c);
    decode_pieces(p, "zstd, identity", inner, inner_len, NULL, 0, &c);
    assert_memory_equal(c.data, body, len);
    collector_reset(&c);

    /* the wrong order fails cleanly */
    {
        aip_decoder *dec = aip_decoder_create(p, "br, gzip");
        aip_sink sink = {collect, &c};
        assert_int_equal(aip_decoder_feed(dec, outer, outlen, &sink), AIP_DECODE_CORRUPT);
        assert_non_null(strstr(aip_decoder_error(dec), "gzip"));
        collector_reset(&c);
    }
}

static void test_decode_classify(void **state)
{
    apr_pool_t *p = *state;

    assert_int_equal(aip_codings_classify(NULL), AIP_CODINGS_IDENTITY);
    assert_int_equal(aip_codings_classify(""), AIP_CODINGS_IDENTITY);
    assert_int_equal(aip_codings_classify("identity"), AIP_CODINGS_IDENTITY);
    assert_int_equal(aip_codings_classify(" , identity,"), AIP_CODINGS_IDENTITY);
    assert_int_equal(aip_codings_classify("gzip"), AIP_CODINGS_SUPPORTED);
    assert_int_equal(aip_codings_classify(" GZip "), AIP_CODINGS_SUPPORTED);
    assert_int_equal(aip_codings_classify("x-gzip, deflate,br,zstd"), AIP_CODINGS_SUPPORTED);
    assert_int_equal(aip_codings_classify("gzip, lzma"), AIP_CODINGS_UNSUPPORTED);
    assert_int_equal(aip_codings_classify("compress"), AIP_CODINGS_UNSUPPORTED);
    assert_int_equal(aip_codings_classify("gzipx"), AIP_CODINGS_UNSUPPORTED);
    assert_int_equal(aip_codings_classify("gzip,gzip,gzip,gzip,gzip"), AIP_CODINGS_UNSUPPORTED);
    assert_null(aip_decoder_create(p, "gzip, lzma"));
    assert_null(aip_decoder_create(p, "identity"));
    assert_null(aip_decoder_create(p, NULL));
}

static void test_decode_gzip_members_concatenated(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t la, lb, ea, eb;
    char *a = json_body(p, 1000, &la), *b = json_body(p, 3000, &lb);
    const char *ga, *gb;
    collector c = {0};

    assert_int_equal(aip_compress_body(p, "gzip", a, la, &ga, &ea), AIP_COMPRESS_OK);
    assert_int_equal(aip_compress_body(p, "gzip", b, lb, &gb, &eb), AIP_COMPRESS_OK);
    {
        char *both = apr_palloc(p, ea + eb);
        memcpy(both, ga, ea);
        memcpy(both + ea, gb, eb);
        decode_pieces(p, "gzip", both, ea + eb, NULL, 0, &c);
        assert_int_equal(c.len, la + lb);
        assert_memory_equal(c.data, a, la);
        assert_memory_equal(c.data + la, b, lb);
        collector_reset(&c);
    }
}

static void test_decode_empty_body(void **state)
{
    apr_pool_t *p = *state;
    const char *codings[] = {"gzip", "deflate", "zstd", "br", "gzip, br"};

    for (int i = 0; i < 5; i++) {
        collector c = {0};
        aip_sink sink = {collect, &c};
        aip_decoder *dec = aip_decoder_create(p, codings[i]);
        assert_int_equal(aip_decoder_feed(dec, "", 0, &sink), AIP_DECODE_OK);
        assert_int_equal(aip_decoder_finish(dec, &sink), AIP_DECODE_OK);
        assert_int_equal(c.len, 0);
    }
}

static void test_decode_truncated(void **state)
{
    apr_pool_t *p = *state;

    for (int k = 0; k < STREAM_CODINGS; k++) {
        apr_size_t len, ends[SSE_COUNT];
        char *in = encode_flushed(p, stream_codings[k].encoder, sse_events, SSE_COUNT, ends, &len);

        /* every prefix short of the whole stream is truncated (or, first byte alone, too) */
        for (apr_size_t cut = 1; cut < len; cut++) {
            collector c = {0};
            aip_sink sink = {collect, &c};
            aip_decoder *dec = aip_decoder_create(p, stream_codings[k].content_encoding);
            assert_int_equal(aip_decoder_feed(dec, in, cut, &sink), AIP_DECODE_OK);
            assert_int_equal(aip_decoder_finish(dec, &sink), AIP_DECODE_TRUNCATED);
            assert_non_null(strstr(aip_decoder_error(dec), "ends inside"));
            /* sticky: nothing more is accepted */
            assert_int_equal(aip_decoder_feed(dec, in + cut, len - cut, &sink),
                             AIP_DECODE_TRUNCATED);
            collector_reset(&c);
        }
    }
}

static void expect_corrupt(apr_pool_t *p, const char *coding, const char *in, apr_size_t len,
                           const char *message_part)
{
    collector c = {0};
    aip_sink sink = {collect, &c};
    aip_decoder *dec = aip_decoder_create(p, coding);
    aip_decode_status st = aip_decoder_feed(dec, in, len, &sink);

    if (st == AIP_DECODE_OK)
        st = aip_decoder_finish(dec, &sink);
    assert_int_equal(st, AIP_DECODE_CORRUPT);
    assert_non_null(aip_decoder_error(dec));
    assert_non_null(strstr(aip_decoder_error(dec), message_part));
    assert_int_equal(aip_decoder_feed(dec, "x", 1, &sink), AIP_DECODE_CORRUPT);
    assert_int_equal(aip_decoder_finish(dec, &sink), AIP_DECODE_CORRUPT);
    collector_reset(&c);
}

static void test_decode_corrupt(void **state)
{
    apr_pool_t *p = *state;
    const char *plain = "data: {\"not\":\"compressed\"}\n\n";
    apr_size_t len, ends[SSE_COUNT];
    char *in;

    expect_corrupt(p, "gzip", plain, strlen(plain), "gzip: ");
    expect_corrupt(p, "zstd", plain, strlen(plain), "zstd: ");
    expect_corrupt(p, "x-gzip", "\x1f\x8b\x09\x00", 4, "gzip: "); /* method 9 does not exist */
    expect_corrupt(p, "deflate", "\xff\xff\xff\xff", 4, "deflate: ");
    expect_corrupt(p, "br", "\xff\xff\xff\xff\xff\xff", 6, "br: ");

    /* a flipped byte is caught by gzip's CRC */
    in = encode_flushed(p, "gzip", sse_events, SSE_COUNT, ends, &len);
    in[len - 6] ^= 0x55;
    expect_corrupt(p, "gzip", in, len, "gzip: ");

    /* bytes after the end of a single-stream coding */
    for (int k = 2; k < STREAM_CODINGS; k++) {
        char *more;
        in = encode_flushed(p, stream_codings[k].encoder, sse_events, SSE_COUNT, ends, &len);
        more = apr_palloc(p, len + 8);
        memcpy(more, in, len);
        memcpy(more + len, "trailing", 8);
        expect_corrupt(p, stream_codings[k].content_encoding, more, len + 8,
                       stream_codings[k].content_encoding);
    }
}

static void test_decode_sink_failure_stops(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len, ends[SSE_COUNT];
    char *in = encode_flushed(p, "zstd", sse_events, SSE_COUNT, ends, &len);
    collector c = {0};
    aip_sink sink = {collect, &c};
    aip_decoder *dec = aip_decoder_create(p, "zstd");

    c.refuse = 1;
    assert_int_equal(aip_decoder_feed(dec, in, len, &sink), AIP_DECODE_SINK_FAILED);
    assert_int_equal(aip_decoder_finish(dec, &sink), AIP_DECODE_SINK_FAILED);
}

/* 65 MiB of zeros shrinks to a few kilobytes; decoding stops at the cap. */
static void test_decode_bomb_cap(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t big = AIP_DECODE_MAX_OUTPUT + 1024 * 1024;
    char *zeros = calloc(1, big);
    const char *out;
    apr_size_t outlen;

    assert_non_null(zeros);
    for (int i = 0; i < 3; i++) {
        collector c = {0};
        aip_sink sink = {count_only, &c};
        aip_decoder *dec;

        assert_int_equal(aip_compress_body(p, request_codings[i], zeros, big, &out, &outlen),
                         AIP_COMPRESS_OK);
        assert_true(outlen < big / 500);
        dec = aip_decoder_create(p, request_codings[i]);
        assert_int_equal(aip_decoder_feed(dec, out, outlen, &sink), AIP_DECODE_TOO_LARGE);
        assert_true(c.len <= AIP_DECODE_MAX_OUTPUT);
        assert_true(c.len > AIP_DECODE_MAX_OUTPUT - AIP_DECODE_CHUNK);
        assert_true(c.largest <= AIP_DECODE_CHUNK);
        assert_non_null(strstr(aip_decoder_error(dec), "exceeds"));
    }
    free(zeros);
}

static void test_decode_lowered_cap_and_nested_bomb(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len, outlen;
    char *body = json_body(p, 50000, &len);
    const char *out;

    for (int i = 0; i < 3; i++) {
        collector c = {0};
        aip_sink sink = {collect, &c};
        aip_decoder *dec;
        assert_int_equal(aip_compress_body(p, request_codings[i], body, len, &out, &outlen),
                         AIP_COMPRESS_OK);
        dec = aip_decoder_create(p, request_codings[i]);
        aip_decoder_set_max_output(dec, 1000);
        assert_int_equal(aip_decoder_feed(dec, out, outlen, &sink), AIP_DECODE_TOO_LARGE);
        assert_true(c.len <= 1000);
        assert_memory_equal(c.data, body, c.len); /* what did come out is right */
        collector_reset(&c);
    }
    /* the cap also bounds the inner stages of a coding list */
    {
        collector c = {0};
        aip_sink sink = {collect, &c};
        aip_decoder *dec;
        size_t n;
        char *buf;
        assert_int_equal(aip_compress_body(p, "zstd", body, len, &out, &outlen), AIP_COMPRESS_OK);
        n = BrotliEncoderMaxCompressedSize(outlen);
        buf = apr_palloc(p, n);
        assert_true(BrotliEncoderCompress(5, 22, BROTLI_MODE_GENERIC, outlen, (const uint8_t *) out,
                                          &n, (uint8_t *) buf));
        dec = aip_decoder_create(p, "zstd, br");
        aip_decoder_set_max_output(dec, 2000);
        assert_int_equal(aip_decoder_feed(dec, buf, n, &sink), AIP_DECODE_TOO_LARGE);
        assert_true(c.len <= 2000);
        collector_reset(&c);
    }
}

/* The cap may be lowered after output has started (aip_decoder_set_max_output says nothing
 * about when): below what already came out, the next output must be refused, not let through
 * unbounded. Found by fuzz_decode (late cap). */
static void test_decode_cap_lowered_below_output(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len, outlen, before, at = 0;
    char *body = json_body(p, 300000, &len);
    const char *out;

    for (int i = 0; i < 3; i++) {
        collector c = {0};
        aip_sink sink = {collect, &c};
        aip_decoder *dec;
        assert_int_equal(aip_compress_body(p, request_codings[i], body, len, &out, &outlen),
                         AIP_COMPRESS_OK);
        dec = aip_decoder_create(p, request_codings[i]);
        /* Small feeds until more than the new cap came out, with input still to come (zstd
         * yields whole 128 KiB blocks, the others sooner). */
        for (at = 0; c.len <= 1000 && at < outlen; at += 16)
            assert_int_equal(aip_decoder_feed(dec, out + at, 16, &sink), AIP_DECODE_OK);
        before = c.len;
        assert_true(before > 1000 && at < outlen);
        aip_decoder_set_max_output(dec, 1000);
        assert_int_equal(aip_decoder_feed(dec, out + at, outlen - at, &sink), AIP_DECODE_TOO_LARGE);
        assert_int_equal(c.len, before);
        collector_reset(&c);
    }
}

/* Contexts go with the pool: creating and dropping many decoders mid-stream must not leak
 * (run under valgrind or ASan to see it). */
static void test_decoder_released_with_pool(void **state)
{
    apr_size_t len, ends[SSE_COUNT];
    char *in = encode_flushed(*state, "br", sse_events, SSE_COUNT, ends, &len);

    for (int i = 0; i < 200; i++) {
        apr_pool_t *p;
        collector c = {0};
        aip_sink sink = {collect, &c};
        aip_decoder *dec;
        apr_pool_create(&p, *state);
        assert_non_null(aip_decoder_create(p, "gzip, deflate, zstd, br"));
        dec = aip_decoder_create(p, "br");
        assert_int_equal(aip_decoder_feed(dec, in, len / 2, &sink), AIP_DECODE_OK);
        apr_pool_destroy(p);
        collector_reset(&c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_compress_round_trip_each_coding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compress_magic_and_aliases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compress_kept_zstd_contexts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compress_not_worth_it, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compress_none_and_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_every_split_point, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_emits_each_flushed_event_at_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_decode_large_body_in_bounded_pieces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_body_of_whole_chunks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_coding_lists_in_reverse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_classify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_gzip_members_concatenated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_empty_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_corrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_sink_failure_stops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_bomb_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_lowered_cap_and_nested_bomb, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_cap_lowered_below_output, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decoder_released_with_pool, setup, teardown),
    };
    int rc;

    apr_initialize();
    apr_pool_create(&root_pool, NULL);
    if (getenv("AIPROXY_TEST_FILTER")) /* e.g. "test_decode_*" */
        cmocka_set_test_filter(getenv("AIPROXY_TEST_FILTER"));
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    apr_pool_destroy(root_pool);
    apr_terminate();
    return rc;
}
