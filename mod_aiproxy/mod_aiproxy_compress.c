/*
 * mod_aiproxy_compress.c: content codings on the upstream leg of an attempt.
 *
 * Request side: the attempt's translated body is encoded for upstreams configured with
 * compression=, and sent plain when that would not shrink it.
 *
 * Response side: an output filter on the attempt's subrequest undoes the upstream's
 * Content-Encoding before the capture filter and the translation see a byte, built like
 * mod_deflate's filters (research/httpd.md §6): buckets in order, FLUSH passed straight
 * through after whatever the decoder produced, so a compressed SSE stream stays live.
 */
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"
#include "apr_strings.h"
#include "aip_compress.h"
#include "mod_aiproxy_compress.h"
#include "aiproxy_filters.h"
#include "aiproxy_log.h"

APLOG_USE_MODULE(aiproxy);

/* Decoded bytes held before they are passed on without a FLUSH: bounds the memory a
 * highly compressed body can take between two upstream reads. */
#define DECODE_PASS_AT (64 * 1024)

static ap_filter_rec_t *decode_filter_handle;

/* ---- request bodies --------------------------------------------------------------------- */

/* Below this a body is sent plain without trying: the saving is a few dozen bytes at most,
 * and setting up a compressor costs more than the whole rest of a small request. */
#define AIP_COMPRESS_MIN_BODY 1024

void aip_compress_attempt_body(aip_attempt *at, apr_table_t *upstream_headers)
{
    apr_pool_t *p = at->main->pool;
    /* the compressed body goes with the plain one (aip_request_state.request_memory) */
    apr_pool_t *body_pool = aip_request_state_of(at->main)->request_memory;
    const char *coding = at->upstream->compression;
    const char *out;
    apr_size_t outlen;
    aip_compress_status st =
        at->req.len < AIP_COMPRESS_MIN_BODY
            ? AIP_COMPRESS_NOT_SMALLER
            : aip_compress_body(body_pool, coding, at->req.body, at->req.len, &out, &outlen);

    if (st == AIP_COMPRESS_OK) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, at->main,
                      AIPLOGNO(00501) "request body for upstream %s: %s %" APR_SIZE_T_FMT
                                      " -> %" APR_SIZE_T_FMT " bytes",
                      at->upstream->name, coding, at->req.len, outlen);
        at->req.body = out;
        at->req.len = outlen;
        apr_table_setn(upstream_headers, "Content-Encoding", aip_compress_coding_name(coding));
    } else if (st == AIP_COMPRESS_UNSUPPORTED || st == AIP_COMPRESS_FAILED) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, at->main,
                      AIPLOGNO(00502) "could not %s-compress the request body for upstream %s; "
                                      "sending it plain",
                      coding, at->upstream->name);
    }
    /* The Go original always sends an explicit length, compressed or not. */
    apr_table_setn(upstream_headers, "Content-Length",
                   apr_psprintf(p, "%" APR_SIZE_T_FMT, at->req.len));
}

const char *aip_upstream_accept_encoding(void)
{
    return AIP_ACCEPT_ENCODING;
}

/* ---- the response decoder filter -------------------------------------------------------- */

typedef enum {
    DECODE_UNDECIDED = 0, /* the first call has not come yet */
    DECODE_RUNNING,       /* data buckets are decoded */
    DECODE_RAW,           /* an error response whose decoding failed: the rest passes as is */
    DECODE_DONE           /* EOS sent downstream: everything else is dropped */
} decode_state;

typedef struct {
    decode_state state;
    int error_response; /* upstream status >= 400: its body only feeds an error message */
    aip_decoder *dec;
    apr_bucket_brigade *out;
    apr_size_t pending;   /* bytes in out not yet passed */
    apr_status_t pass_rv; /* why passing downstream failed */
    aip_sink sink;
} decode_ctx;

static apr_status_t pass_out(ap_filter_t *f, decode_ctx *ctx)
{
    apr_status_t rv = ap_pass_brigade(f->next, ctx->out);

    apr_brigade_cleanup(ctx->out);
    ctx->pending = 0;
    if (rv != APR_SUCCESS)
        ctx->pass_rv = rv;
    return rv;
}

/* The decoder's sink: copy (the input buckets are transient) and pass on when enough piled up. */
static apr_status_t write_decoded(void *baton, const char *data, apr_size_t len)
{
    ap_filter_t *f = baton;
    decode_ctx *ctx = f->ctx;
    apr_status_t rv = apr_brigade_write(ctx->out, NULL, NULL, data, len);

    if (rv != APR_SUCCESS)
        return rv;
    ctx->pending += len;
    return ctx->pending >= DECODE_PASS_AT ? pass_out(f, ctx) : APR_SUCCESS;
}

/* Mod_proxy's "backend broke" marker and EOS: the translation filter then ends the client's
 * answer with its protocol's error event, as for an upstream that died mid-stream. */
static void end_with_error(ap_filter_t *f, decode_ctx *ctx)
{
    APR_BRIGADE_INSERT_TAIL(
        ctx->out, ap_bucket_error_create(HTTP_BAD_GATEWAY, NULL, f->r->pool, f->c->bucket_alloc));
    APR_BRIGADE_INSERT_TAIL(ctx->out, apr_bucket_eos_create(f->c->bucket_alloc));
    ctx->state = DECODE_DONE;
}

/* A decoding failure. An error response goes on raw (its body only feeds the message the
 * client gets, and the attempt fails over anyway); a success ends with an error. */
static apr_status_t decode_failed(ap_filter_t *f, decode_ctx *ctx, aip_decode_status st)
{
    if (st == AIP_DECODE_SINK_FAILED) {
        ctx->state = DECODE_DONE;
        return ctx->pass_rv != APR_SUCCESS ? ctx->pass_rv : APR_EGENERAL;
    }
    ap_log_rerror(APLOG_MARK, ctx->error_response ? APLOG_INFO : APLOG_ERR, 0, f->r,
                  AIPLOGNO(00503) "undoing the upstream's Content-Encoding failed: %s",
                  aip_decoder_error(ctx->dec));
    if (ctx->error_response)
        ctx->state = DECODE_RAW;
    else
        end_with_error(f, ctx);
    return APR_SUCCESS;
}

/* First call: the upstream's headers are in; decide what to do with its Content-Encoding. */
static void decode_start(ap_filter_t *f, decode_ctx *ctx)
{
    request_rec *rr = f->r;
    const char *coding = apr_table_get(rr->headers_out, "Content-Encoding");

    ctx->error_response = rr->status >= 400;
    ctx->out = apr_brigade_create(rr->pool, f->c->bucket_alloc);
    switch (aip_codings_classify(coding)) {
    case AIP_CODINGS_IDENTITY:
        ctx->state = DECODE_RAW;
        return;
    case AIP_CODINGS_UNSUPPORTED:
        ap_log_rerror(
            APLOG_MARK, ctx->error_response ? APLOG_INFO : APLOG_ERR, 0, rr,
            AIPLOGNO(00504) "the upstream answered with an unsupported Content-Encoding: %s",
            coding);
        if (ctx->error_response)
            ctx->state = DECODE_RAW;
        else
            end_with_error(f, ctx);
        return;
    case AIP_CODINGS_SUPPORTED:
        break;
    }
    ctx->dec = aip_decoder_create(rr->pool, coding);
    if (!ctx->dec) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, rr, AIPLOGNO(00505) "no memory for a %s decoder",
                      coding);
        if (ctx->error_response)
            ctx->state = DECODE_RAW;
        else
            end_with_error(f, ctx);
        return;
    }
    ctx->sink.write = write_decoded;
    ctx->sink.baton = f;
    /* The bytes that go on are the decoded ones, of a length nobody knows yet. */
    apr_table_unset(rr->headers_out, "Content-Encoding");
    apr_table_unset(rr->headers_out, "Content-Length");
    ctx->state = DECODE_RUNNING;
}

static apr_status_t decode_data(ap_filter_t *f, decode_ctx *ctx, apr_bucket *b)
{
    const char *data;
    apr_size_t len;
    aip_decode_status st;
    apr_status_t rv = apr_bucket_read(b, &data, &len, APR_BLOCK_READ);

    if (rv != APR_SUCCESS) {
        apr_bucket_delete(b);
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, f->r,
                      AIPLOGNO(00506) "reading the upstream body failed");
        end_with_error(f, ctx);
        return APR_SUCCESS;
    }
    st = aip_decoder_feed(ctx->dec, data, len, &ctx->sink);
    apr_bucket_delete(b);
    return st == AIP_DECODE_OK ? APR_SUCCESS : decode_failed(f, ctx, st);
}

static apr_status_t decode_eos(ap_filter_t *f, decode_ctx *ctx, apr_bucket *b)
{
    apr_status_t rv = APR_SUCCESS;

    if (ctx->state == DECODE_RUNNING) {
        aip_decode_status st = aip_decoder_finish(ctx->dec, &ctx->sink);
        if (st != AIP_DECODE_OK)
            rv = decode_failed(f, ctx, st);
    }
    if (ctx->state == DECODE_DONE) { /* the failure already ended the body */
        apr_bucket_delete(b);
        return rv;
    }
    APR_BUCKET_REMOVE(b);
    APR_BRIGADE_INSERT_TAIL(ctx->out, b);
    ctx->state = DECODE_DONE;
    return rv;
}

static apr_status_t decode_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    decode_ctx *ctx = f->ctx;
    apr_status_t rv = APR_SUCCESS;

    if (ctx->state == DECODE_UNDECIDED) {
        decode_start(f, ctx);
        if (ctx->state == DECODE_RAW && !ctx->dec) {
            /* Nothing to undo: step aside for the rest of the body. */
            ap_remove_output_filter(f);
            return ap_pass_brigade(f->next, bb);
        }
    }
    while (!APR_BRIGADE_EMPTY(bb) && ctx->state != DECODE_DONE && rv == APR_SUCCESS) {
        apr_bucket *b = APR_BRIGADE_FIRST(bb);

        if (APR_BUCKET_IS_EOS(b)) {
            rv = decode_eos(f, ctx, b);
        } else if (APR_BUCKET_IS_FLUSH(b)) {
            /* mod_proxy_http flushes whenever the upstream has nothing more for now: what
             * the compressed bytes yielded so far must go out with it. */
            APR_BUCKET_REMOVE(b);
            APR_BRIGADE_INSERT_TAIL(ctx->out, b);
            rv = pass_out(f, ctx);
        } else if (ctx->state == DECODE_RAW || APR_BUCKET_IS_METADATA(b)) {
            APR_BUCKET_REMOVE(b);
            APR_BRIGADE_INSERT_TAIL(ctx->out, b);
        } else {
            rv = decode_data(f, ctx, b);
        }
    }
    apr_brigade_cleanup(bb);
    if (rv == APR_SUCCESS && !APR_BRIGADE_EMPTY(ctx->out))
        rv = pass_out(f, ctx);
    return rv;
}

void aip_add_response_decoder(request_rec *rr)
{
    decode_ctx *ctx = apr_pcalloc(rr->pool, sizeof(*ctx));
    ap_add_output_filter_handle(decode_filter_handle, ctx, rr, rr->connection);
}

static void compress_child_init(apr_pool_t *pchild, server_rec *s)
{
    (void) s;
    aip_compress_child_init(pchild);
}

void aip_compress_register_hooks(apr_pool_t *p)
{
    ap_hook_child_init(compress_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    /* Ahead of the capture whatever the order of the ap_add_output_filter calls. */
    decode_filter_handle =
        ap_register_output_filter(AIPROXY_DECODE_FILTER, decode_filter, NULL, AIPROXY_FTYPE_DECODE);
}
