/*
 * aip_compress.c: content codings for upstream traffic (see aip_compress.h).
 *
 * Request bodies are encoded in one shot and kept only when strictly smaller than the input.
 *
 * Response bodies go through a chain of stages, one per coding, the last coding of the
 * Content-Encoding list first. Each stage owns one AIP_DECODE_CHUNK output buffer and hands
 * every piece it produces to the next stage (or the sink) before reading more input, so
 * nothing waits for a buffer to fill: an SSE event leaves as soon as its compressed bytes
 * arrive, and memory per stream is the stages' buffers plus the libraries' windows (zstd's
 * limited to the 8 MiB RFC 8878 allows for HTTP).
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <brotli/decode.h>
#include <brotli/encode.h>
#include <zlib.h>
#include <zstd.h>

#include "apr_strings.h"
#include "apr_thread_mutex.h"
#include "aip_compress.h"

/* zlib counts in uInt: larger buffers go through it in pieces of this size. */
#define ZLIB_PIECE ((apr_size_t) 1 << 30)
/* zstd level 3 is the library default: most of the gain at a small CPU cost. */
#define ZSTD_REQUEST_LEVEL 3
/* Brotli 5 compresses JSON close to the default 11 at a small fraction of the CPU; bodies
 * are encoded again on every attempt. */
#define BROTLI_REQUEST_QUALITY 5
/* RFC 8878 §3.1.1.1.2: HTTP zstd decoders need windows up to 8 MiB and may refuse more. */
#define ZSTD_WINDOW_LOG_MAX 23

/* ==== request bodies ======================================================================= */

/* Encode in into a malloc()ed buffer sized by the library's worst-case bound (a smaller buffer
 * makes zstd refuse bodies that would still have shrunk by a few bytes); the caller frees it. */
typedef aip_compress_status (*encode_fn)(const char *in, apr_size_t len, char **out,
                                         apr_size_t *outlen);

/* zstd compression contexts kept for the next body (aip_compress_child_init): making one per
 * body was a third of the instructions spent on a 20 KB body (1.24M against 0.85M with a
 * kept one, callgrind; 2 KB: 158k against 132k), a kept one is only reset. A few per process are
 * enough: only the threads compressing at the same moment need one each, and any more are
 * made and freed per body as before. A kept context holds the tables its largest body needed
 * (1.3 MiB at most at level 3, after bodies of 256 KiB and more; zstd shrinks them again
 * after about 128 smaller ones), so the cache stays small. */
#define ZSTD_CONTEXTS_KEPT 4

static struct {
    apr_thread_mutex_t *lock; /* NULL: no cache (not set up, or no threads) */
    ZSTD_CCtx *kept[ZSTD_CONTEXTS_KEPT];
    int count;
} zstd_cache;

static apr_status_t zstd_cache_cleanup(void *unused)
{
    (void) unused;
    while (zstd_cache.count > 0)
        ZSTD_freeCCtx(zstd_cache.kept[--zstd_cache.count]);
    zstd_cache.lock = NULL;
    return APR_SUCCESS;
}

void aip_compress_child_init(apr_pool_t *p)
{
#if APR_HAS_THREADS
    if (zstd_cache.lock ||
        apr_thread_mutex_create(&zstd_cache.lock, APR_THREAD_MUTEX_DEFAULT, p) != APR_SUCCESS)
        return;
    apr_pool_cleanup_register(p, NULL, zstd_cache_cleanup, apr_pool_cleanup_null);
#else
    (void) p;
#endif
}

static ZSTD_CCtx *zstd_context_take(void)
{
    ZSTD_CCtx *cctx = NULL;

    if (zstd_cache.lock && apr_thread_mutex_lock(zstd_cache.lock) == APR_SUCCESS) {
        if (zstd_cache.count > 0)
            cctx = zstd_cache.kept[--zstd_cache.count];
        apr_thread_mutex_unlock(zstd_cache.lock);
    }
    return cctx ? cctx : ZSTD_createCCtx();
}

static void zstd_context_give_back(ZSTD_CCtx *cctx)
{
    if (zstd_cache.lock && apr_thread_mutex_lock(zstd_cache.lock) == APR_SUCCESS) {
        if (zstd_cache.count < ZSTD_CONTEXTS_KEPT) {
            zstd_cache.kept[zstd_cache.count++] = cctx;
            cctx = NULL;
        }
        apr_thread_mutex_unlock(zstd_cache.lock);
    }
    ZSTD_freeCCtx(cctx); /* accepts NULL */
}

static aip_compress_status encode_zstd(const char *in, apr_size_t len, char **out,
                                       apr_size_t *outlen)
{
    size_t cap = ZSTD_compressBound(len), rc;
    ZSTD_CCtx *cctx;

    if (ZSTD_isError(cap) || !(*out = malloc(cap)))
        return AIP_COMPRESS_FAILED;
    if (!(cctx = zstd_context_take()))
        return AIP_COMPRESS_FAILED;
    /* A kept context starts over: its parameters and tables are reset for this body. */
    rc = ZSTD_compressCCtx(cctx, *out, cap, in, len, ZSTD_REQUEST_LEVEL);
    zstd_context_give_back(cctx);
    if (ZSTD_isError(rc))
        return AIP_COMPRESS_FAILED;
    *outlen = rc;
    return AIP_COMPRESS_OK;
}

/* Hand zlib the next piece of a buffer that may exceed what a uInt counts. */
static uInt zlib_take(apr_size_t *left)
{
    apr_size_t n = *left > ZLIB_PIECE ? ZLIB_PIECE : *left;
    *left -= n;
    return (uInt) n;
}

static aip_compress_status encode_gzip(const char *in, apr_size_t len, char **out,
                                       apr_size_t *outlen)
{
    z_stream zs;
    apr_size_t in_left = len, out_left;
    int rc = Z_OK;

    memset(&zs, 0, sizeof(zs));
    /* windowBits 15 + 16: a gzip wrapper, not zlib's. */
    if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
        Z_OK)
        return AIP_COMPRESS_FAILED;
    out_left = (apr_size_t) deflateBound(&zs, (uLong) len);
    if (!(*out = malloc(out_left))) {
        deflateEnd(&zs);
        return AIP_COMPRESS_FAILED;
    }
    zs.next_in = (Bytef *) in;
    zs.next_out = (Bytef *) *out;
    while (rc == Z_OK) {
        if (zs.avail_in == 0)
            zs.avail_in = zlib_take(&in_left);
        if (zs.avail_out == 0) {
            if (out_left == 0)
                break; /* past the bound: cannot happen, reported as a failure */
            zs.avail_out = zlib_take(&out_left);
        }
        rc = deflate(&zs, in_left == 0 ? Z_FINISH : Z_NO_FLUSH);
    }
    *outlen = (apr_size_t) zs.total_out;
    deflateEnd(&zs);
    return rc == Z_STREAM_END ? AIP_COMPRESS_OK : AIP_COMPRESS_FAILED;
}

static aip_compress_status encode_br(const char *in, apr_size_t len, char **out, apr_size_t *outlen)
{
    size_t size = BrotliEncoderMaxCompressedSize(len); /* 0: too large to bound */

    if (size == 0 || !(*out = malloc(size)))
        return AIP_COMPRESS_FAILED;
    if (!BrotliEncoderCompress(BROTLI_REQUEST_QUALITY, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_TEXT, len,
                               (const uint8_t *) in, &size, (uint8_t *) *out))
        return AIP_COMPRESS_FAILED;
    *outlen = size;
    return AIP_COMPRESS_OK;
}

/* Configured coding names; canonical is the Content-Encoding token, NULL for "send plain". */
static const struct {
    const char *name;
    const char *canonical;
    encode_fn encode;
} encoders[] = {
    {"zstd", "zstd", encode_zstd},   {"x-zstd", "zstd", encode_zstd}, {"gzip", "gzip", encode_gzip},
    {"x-gzip", "gzip", encode_gzip}, {"br", "br", encode_br},         {"none", NULL, NULL},
    {"identity", NULL, NULL},
};
#define ENCODER_COUNT (sizeof(encoders) / sizeof(encoders[0]))

static int encoder_index(const char *coding)
{
    if (!coding)
        return -1;
    for (size_t i = 0; i < ENCODER_COUNT; i++)
        if (!strcasecmp(coding, encoders[i].name))
            return (int) i;
    return -1;
}

const char *aip_compress_coding_name(const char *coding)
{
    int i = encoder_index(coding);
    return i < 0 ? NULL : encoders[i].canonical;
}

aip_compress_status aip_compress_body(apr_pool_t *p, const char *coding, const char *data,
                                      apr_size_t len, const char **out, apr_size_t *outlen)
{
    int i = coding ? encoder_index(coding) : (int) ENCODER_COUNT - 1; /* NULL = none */
    aip_compress_status status;
    apr_size_t size = 0;
    char *buf = NULL;

    if (i < 0)
        return AIP_COMPRESS_UNSUPPORTED;
    if (!encoders[i].encode)
        return AIP_COMPRESS_NONE;
    if (len == 0)
        return AIP_COMPRESS_NOT_SMALLER;
    /* Encoded into scratch heap, so the pool keeps only bodies worth sending. */
    status = encoders[i].encode(data, len, &buf, &size);
    if (status == AIP_COMPRESS_OK && size >= len)
        status = AIP_COMPRESS_NOT_SMALLER;
    if (status == AIP_COMPRESS_OK) {
        *out = apr_pmemdup(p, buf, size);
        *outlen = size;
    }
    free(buf);
    return status;
}

/* ==== response bodies ====================================================================== */

typedef struct stage stage;
typedef struct coding_ops coding_ops;

struct stage {
    const coding_ops *ops;
    union {
        z_stream *zlib;
        ZSTD_DStream *zstd;
        BrotliDecoderState *br;
    } ctx;
    int opened;            /* ctx holds a library context to release */
    int started;           /* some input arrived */
    int ended;             /* the coding's stream is complete */
    unsigned char head[2]; /* deflate: first bytes, held until the wrapper is known */
    apr_size_t head_len;
    apr_size_t produced; /* bytes this stage has output */
    char *buf;           /* AIP_DECODE_CHUNK bytes */
};

struct aip_decoder {
    apr_pool_t *pool;
    stage stages[AIP_DECODE_MAX_CODINGS];
    int count;
    apr_size_t max_output;
    aip_decode_status status;
    const char *error;
    const aip_sink *sink; /* the sink of the call in progress */
};

struct coding_ops {
    const char *name;
    /* Allocate the library context (or defer it); 0 on success. */
    int (*open)(aip_decoder *dec, stage *s);
    /* Decode len > 0 bytes, passing every output piece on through emit(). */
    aip_decode_status (*run)(aip_decoder *dec, int i, const char *in, apr_size_t len);
    void (*close)(stage *s);
    int multi_member; /* a new stream may follow the end of one (gzip members) */
};

static aip_decode_status fail(aip_decoder *dec, aip_decode_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static aip_decode_status fail(aip_decoder *dec, aip_decode_status status, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    dec->error = apr_pvsprintf(dec->pool, fmt, ap);
    va_end(ap);
    dec->status = status;
    return status;
}

static aip_decode_status stage_feed(aip_decoder *dec, int i, const char *in, apr_size_t len);

/* Output of stage i: the next stage's input, or the caller's bytes for the last stage. */
static aip_decode_status emit(aip_decoder *dec, int i, const char *data, apr_size_t len)
{
    stage *s = &dec->stages[i];

    /* The cap may have been lowered below what this stage already produced: then the
     * subtraction would wrap and let everything through. */
    if (s->produced > dec->max_output || len > dec->max_output - s->produced)
        return fail(dec, AIP_DECODE_TOO_LARGE,
                    "%s: the decoded body exceeds %" APR_SIZE_T_FMT " bytes", s->ops->name,
                    dec->max_output);
    s->produced += len;
    if (i + 1 < dec->count)
        return stage_feed(dec, i + 1, data, len);
    if (dec->sink->write(dec->sink->baton, data, len) != APR_SUCCESS)
        return fail(dec, AIP_DECODE_SINK_FAILED, "the decoded bytes could not be passed on");
    return AIP_DECODE_OK;
}

static aip_decode_status stage_feed(aip_decoder *dec, int i, const char *in, apr_size_t len)
{
    stage *s = &dec->stages[i];

    if (len == 0)
        return AIP_DECODE_OK;
    s->started = 1;
    return s->ops->run(dec, i, in, len);
}

/* ---- gzip and deflate (zlib) ---------------------------------------------------------------- */

static int zlib_start(aip_decoder *dec, stage *s, int window_bits)
{
    s->ctx.zlib = apr_pcalloc(dec->pool, sizeof(z_stream));
    if (inflateInit2(s->ctx.zlib, window_bits) != Z_OK)
        return -1;
    s->opened = 1;
    return 0;
}

static int gzip_open(aip_decoder *dec, stage *s)
{
    return zlib_start(dec, s, 15 + 16); /* gzip wrapper only */
}

/* deflate is the zlib format by RFC 9110, yet some servers send raw deflate: the wrapper is
 * chosen once the first two bytes are known. */
static int deflate_open(aip_decoder *dec, stage *s)
{
    return 0;
}

static void zlib_close(stage *s)
{
    inflateEnd(s->ctx.zlib);
}

static aip_decode_status zlib_corrupt(aip_decoder *dec, stage *s, int rc)
{
    const char *why = s->ctx.zlib->msg;
    if (!why)
        why = rc == Z_NEED_DICT ? "a preset dictionary is required" : zError(rc);
    return fail(dec, AIP_DECODE_CORRUPT, "%s: %s", s->ops->name, why);
}

/* Inflate one piece (avail_in already set) until it is consumed and the output drained. */
static aip_decode_status zlib_run_piece(aip_decoder *dec, int i)
{
    stage *s = &dec->stages[i];
    z_stream *z = s->ctx.zlib;

    do {
        apr_size_t produced;
        aip_decode_status st;
        int rc;

        z->next_out = (Bytef *) s->buf;
        z->avail_out = (uInt) AIP_DECODE_CHUNK;
        rc = inflate(z, Z_SYNC_FLUSH);
        produced = AIP_DECODE_CHUNK - z->avail_out;
        if (produced && (st = emit(dec, i, s->buf, produced)) != AIP_DECODE_OK)
            return st;
        if (rc == Z_STREAM_END) {
            s->ended = 1;
            return AIP_DECODE_OK;
        }
        if (rc == Z_BUF_ERROR && z->avail_in == 0)
            return AIP_DECODE_OK; /* drained exactly: nothing more until more input */
        if (rc != Z_OK)
            return zlib_corrupt(dec, s, rc);
    } while (z->avail_in > 0 || z->avail_out == 0);
    return AIP_DECODE_OK;
}

static aip_decode_status zlib_run(aip_decoder *dec, int i, const char *in, apr_size_t len)
{
    stage *s = &dec->stages[i];
    z_stream *z = s->ctx.zlib;

    while (len > 0) {
        apr_size_t left = len, consumed;
        aip_decode_status st;

        if (s->ended) {
            if (!s->ops->multi_member)
                return fail(dec, AIP_DECODE_CORRUPT, "%s: data after the end of the stream",
                            s->ops->name);
            /* RFC 1952 §2.2: a gzip file is a series of members. */
            inflateReset(z);
            s->ended = 0;
        }
        z->next_in = (Bytef *) in;
        z->avail_in = zlib_take(&left);
        consumed = z->avail_in;
        st = zlib_run_piece(dec, i);
        if (st != AIP_DECODE_OK)
            return st;
        consumed -= z->avail_in;
        in += consumed;
        len -= consumed;
    }
    return AIP_DECODE_OK;
}

/* RFC 1950 §2.2: CM 8, CINFO <= 7, and the header is a multiple of 31. */
static int zlib_header_valid(const unsigned char *h)
{
    return (h[0] & 0x0f) == Z_DEFLATED && (h[0] >> 4) <= 7 && ((h[0] << 8) | h[1]) % 31 == 0;
}

static aip_decode_status deflate_run(aip_decoder *dec, int i, const char *in, apr_size_t len)
{
    stage *s = &dec->stages[i];
    aip_decode_status st;

    if (!s->opened) {
        while (s->head_len < sizeof(s->head) && len > 0) {
            s->head[s->head_len++] = (unsigned char) *in++;
            len--;
        }
        if (s->head_len < sizeof(s->head))
            return AIP_DECODE_OK;
        if (zlib_start(dec, s, zlib_header_valid(s->head) ? 15 : -15) != 0)
            return fail(dec, AIP_DECODE_CORRUPT, "deflate: no memory for the decoder");
        st = zlib_run(dec, i, (const char *) s->head, s->head_len);
        if (st != AIP_DECODE_OK || len == 0)
            return st;
    }
    return zlib_run(dec, i, in, len);
}

/* ---- zstd ------------------------------------------------------------------------------------ */

static int zstd_open(aip_decoder *dec, stage *s)
{
    s->ctx.zstd = ZSTD_createDStream();
    if (!s->ctx.zstd)
        return -1;
    s->opened = 1;
    if (ZSTD_isError(ZSTD_DCtx_setParameter(s->ctx.zstd, ZSTD_d_windowLogMax, ZSTD_WINDOW_LOG_MAX)))
        return -1;
    return 0;
}

static void zstd_close(stage *s)
{
    ZSTD_freeDStream(s->ctx.zstd);
}

static aip_decode_status zstd_run(aip_decoder *dec, int i, const char *in, apr_size_t len)
{
    stage *s = &dec->stages[i];
    ZSTD_inBuffer zin = {in, len, 0};
    ZSTD_outBuffer zout;

    /* A full output buffer may hide more: call again until one comes back short. Frames
     * that follow one another are decoded in turn (RFC 8878 §3.1). */
    do {
        aip_decode_status st;
        size_t rc, in_before = zin.pos;

        zout.dst = s->buf;
        zout.size = AIP_DECODE_CHUNK;
        zout.pos = 0;
        rc = ZSTD_decompressStream(s->ctx.zstd, &zout, &zin);
        if (ZSTD_isError(rc))
            return fail(dec, AIP_DECODE_CORRUPT, "zstd: %s", ZSTD_getErrorName(rc));
        /* 0: a frame ended and is flushed. A call that moved nothing (the extra call after a
         * frame that exactly filled the buffer) answers with the next frame's header size,
         * which does not reopen the frame that ended. */
        if (rc == 0 || zout.pos || zin.pos > in_before)
            s->ended = rc == 0;
        if (zout.pos && (st = emit(dec, i, s->buf, zout.pos)) != AIP_DECODE_OK)
            return st;
    } while (zin.pos < zin.size || zout.pos == zout.size);
    return AIP_DECODE_OK;
}

/* ---- brotli ---------------------------------------------------------------------------------- */

static int br_open(aip_decoder *dec, stage *s)
{
    s->ctx.br = BrotliDecoderCreateInstance(NULL, NULL, NULL);
    if (!s->ctx.br)
        return -1;
    s->opened = 1;
    return 0;
}

static void br_close(stage *s)
{
    BrotliDecoderDestroyInstance(s->ctx.br);
}

static aip_decode_status br_run(aip_decoder *dec, int i, const char *in, apr_size_t len)
{
    stage *s = &dec->stages[i];
    const uint8_t *next_in = (const uint8_t *) in;
    size_t avail_in = len;

    for (;;) {
        uint8_t *next_out = (uint8_t *) s->buf;
        size_t avail_out = AIP_DECODE_CHUNK;
        BrotliDecoderResult rc;
        aip_decode_status st;

        if (s->ended)
            return fail(dec, AIP_DECODE_CORRUPT, "br: data after the end of the stream");
        rc = BrotliDecoderDecompressStream(s->ctx.br, &avail_in, &next_in, &avail_out, &next_out,
                                           NULL);
        if (rc == BROTLI_DECODER_RESULT_ERROR)
            return fail(dec, AIP_DECODE_CORRUPT, "br: %s",
                        BrotliDecoderErrorString(BrotliDecoderGetErrorCode(s->ctx.br)));
        if (avail_out < AIP_DECODE_CHUNK &&
            (st = emit(dec, i, s->buf, AIP_DECODE_CHUNK - avail_out)) != AIP_DECODE_OK)
            return st;
        if (rc == BROTLI_DECODER_RESULT_SUCCESS) {
            s->ended = 1;
            if (avail_in == 0)
                return AIP_DECODE_OK;
        } else if (rc == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT) {
            return AIP_DECODE_OK;
        }
        /* NEEDS_MORE_OUTPUT, or trailing bytes after the end (reported above) */
    }
}

/* ---- the coding table ------------------------------------------------------------------------ */

static const coding_ops gzip_ops = {"gzip", gzip_open, zlib_run, zlib_close, 1};
static const coding_ops deflate_ops = {"deflate", deflate_open, deflate_run, zlib_close, 0};
static const coding_ops zstd_ops = {"zstd", zstd_open, zstd_run, zstd_close, 0};
static const coding_ops br_ops = {"br", br_open, br_run, br_close, 0};

/* Content-Encoding tokens (RFC 9110 §8.4.1; x-gzip is gzip, x-zstd an old zstd alias);
 * identity has no ops: it is nothing to undo. */
static const struct {
    const char *token;
    const coding_ops *ops;
} decoders[] = {
    {"gzip", &gzip_ops},   {"x-gzip", &gzip_ops}, {"deflate", &deflate_ops}, {"zstd", &zstd_ops},
    {"x-zstd", &zstd_ops}, {"br", &br_ops},       {"identity", NULL},
};
#define DECODER_COUNT (sizeof(decoders) / sizeof(decoders[0]))

/* The decoder table index of token[0..len), or -1. */
static int decoder_index(const char *token, apr_size_t len)
{
    for (size_t i = 0; i < DECODER_COUNT; i++)
        if (strlen(decoders[i].token) == len && !strncasecmp(token, decoders[i].token, len))
            return (int) i;
    return -1;
}

/* Split a Content-Encoding list into ops, in the order the codings were applied. */
static aip_codings_kind parse_codings(const char *value, const coding_ops **ops, int *count)
{
    const char *p = value;

    *count = 0;
    while (p && *p) {
        const char *start, *end;
        int i;

        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        start = p;
        while (*p && *p != ',')
            p++;
        end = p;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        i = decoder_index(start, (apr_size_t) (end - start));
        if (i < 0)
            return AIP_CODINGS_UNSUPPORTED;
        if (!decoders[i].ops)
            continue;
        if (*count == AIP_DECODE_MAX_CODINGS)
            return AIP_CODINGS_UNSUPPORTED;
        ops[(*count)++] = decoders[i].ops;
    }
    return *count ? AIP_CODINGS_SUPPORTED : AIP_CODINGS_IDENTITY;
}

aip_codings_kind aip_codings_classify(const char *content_encoding)
{
    const coding_ops *ops[AIP_DECODE_MAX_CODINGS];
    int count;

    return parse_codings(content_encoding, ops, &count);
}

static apr_status_t decoder_cleanup(void *data)
{
    aip_decoder *dec = data;

    for (int i = 0; i < dec->count; i++)
        if (dec->stages[i].opened) {
            dec->stages[i].ops->close(&dec->stages[i]);
            dec->stages[i].opened = 0;
        }
    return APR_SUCCESS;
}

aip_decoder *aip_decoder_create(apr_pool_t *p, const char *content_encoding)
{
    const coding_ops *ops[AIP_DECODE_MAX_CODINGS];
    aip_decoder *dec;
    int count;

    if (parse_codings(content_encoding, ops, &count) != AIP_CODINGS_SUPPORTED)
        return NULL;
    dec = apr_pcalloc(p, sizeof(*dec));
    dec->pool = p;
    dec->max_output = AIP_DECODE_MAX_OUTPUT;
    dec->count = count;
    apr_pool_cleanup_register(p, dec, decoder_cleanup, apr_pool_cleanup_null);
    /* The coding applied last is undone first. */
    for (int i = 0; i < count; i++) {
        stage *s = &dec->stages[i];
        s->ops = ops[count - 1 - i];
        s->buf = apr_palloc(p, AIP_DECODE_CHUNK);
        if (s->ops->open(dec, s) != 0) {
            decoder_cleanup(dec);
            apr_pool_cleanup_kill(p, dec, decoder_cleanup);
            return NULL;
        }
    }
    return dec;
}

void aip_decoder_set_max_output(aip_decoder *dec, apr_size_t max_output)
{
    dec->max_output = max_output;
}

aip_decode_status aip_decoder_feed(aip_decoder *dec, const char *data, apr_size_t len,
                                   const aip_sink *sink)
{
    if (dec->status != AIP_DECODE_OK)
        return dec->status;
    dec->sink = sink;
    return stage_feed(dec, 0, data, len);
}

aip_decode_status aip_decoder_finish(aip_decoder *dec, const aip_sink *sink)
{
    if (dec->status != AIP_DECODE_OK)
        return dec->status;
    dec->sink = sink;
    /* Every stage decodes eagerly, so finishing is only checking each one stopped at the end
     * of its stream; a stage that never got input decodes an empty body. */
    for (int i = 0; i < dec->count; i++) {
        const stage *s = &dec->stages[i];
        if (s->started && !s->ended)
            return fail(dec, AIP_DECODE_TRUNCATED, "%s: the body ends inside a compressed stream",
                        s->ops->name);
    }
    return AIP_DECODE_OK;
}

const char *aip_decoder_error(const aip_decoder *dec)
{
    return dec->status == AIP_DECODE_OK ? NULL : dec->error;
}

apr_size_t aip_decoder_output_size(const aip_decoder *dec)
{
    return dec->count ? dec->stages[dec->count - 1].produced : 0;
}
