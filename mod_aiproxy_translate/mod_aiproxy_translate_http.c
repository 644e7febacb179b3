/*
 * mod_aiproxy_translate_http.c: the HTTP glue both modules share.
 *
 * Reading and checking a client's request, finding its API key, authenticating to an
 * upstream in that protocol's style, serving a translated body in place of the client's, and
 * keeping the start of an upstream error body. mod_aiproxy_translate's standalone mode calls
 * these directly; mod_aiproxy reaches them through the API table (mod_aiproxy_translate.h), so
 * both modules behave alike by construction.
 */
#include <string.h>
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"
#include "util_script.h"
#include "apr_lib.h"
#include "apr_strings.h"
#include "aip_compress.h"
#include "aip_shared_allocator.h"
#include "aiproxy_log.h"
#include "aiproxy_filters.h"
#include "mod_aiproxy_translate_http.h"
#include "mod_aiproxy_translate_trim.h"

APLOG_USE_MODULE(aiproxy_translate);

#define DEFAULT_ANTHROPIC_VERSION "2023-06-01"

static ap_filter_rec_t *body_filter_handle;

int aiproxy_http_is_json(const char *content_type)
{
    const char *ct = content_type;

    if (!ct)
        return 1; /* tolerated: many clients omit it */
    while (apr_isspace(*ct))
        ct++;
    return !strncasecmp(ct, "application/json", 16) &&
           (ct[16] == '\0' || ct[16] == ';' || apr_isspace(ct[16]));
}

/* ---- the client body --------------------------------------------------------------------- */

int aiproxy_http_set_error(aiproxy_error *err, int status, const char *message)
{
    err->status = status;
    err->type = NULL;
    err->message = message;
    err->code = NULL;
    return status;
}

static int too_large(request_rec *r, aiproxy_error *err, apr_off_t max, const char *directive,
                     const char *what)
{
    return aiproxy_http_set_error(err, HTTP_REQUEST_ENTITY_TOO_LARGE,
                                  apr_psprintf(r->pool,
                                               "the %s exceeds %" APR_OFF_T_FMT " bytes (%s)", what,
                                               max, directive));
}

/* The declared Content-Length, or -1 when there is none (or it is not a number). */
static apr_off_t declared_length(request_rec *r)
{
    const char *cl = apr_table_get(r->headers_in, "Content-Length");
    apr_off_t declared;
    char *end;

    if (cl && apr_strtoff(&declared, cl, &end, 10) == APR_SUCCESS && !*end && declared >= 0)
        return declared;
    return -1;
}

/* The body being read, in the caller's pool. */
typedef struct {
    apr_pool_t *p;
    char *data;
    apr_size_t len, cap;
    apr_size_t declared; /* the Content-Length, or 0: no need to grow past it */
} body_buffer;

/* Room is made as bytes arrive, doubling from 8 KiB: a client that announces a large body and
 * sends little pins a small multiple of what it sent (the pool keeps the smaller buffers until
 * the request memory goes), not what it announced. */
static void body_append(body_buffer *buf, const char *data, apr_size_t n)
{
    if (buf->len + n > buf->cap) {
        apr_size_t cap = buf->cap ? buf->cap : 8192;
        char *grown;

        while (cap < buf->len + n)
            cap *= 2;
        if (buf->declared >= buf->len + n && cap > buf->declared)
            cap = buf->declared; /* the last growth: exactly what was announced */
        grown = apr_palloc(buf->p, cap + 1);
        if (buf->len)
            memcpy(grown, buf->data, buf->len);
        buf->data = grown;
        buf->cap = cap;
    }
    memcpy(buf->data + buf->len, data, n);
    buf->len += n;
}

/* Read the raw body to EOS into p, refusing more than max bytes. Returns OK or an HTTP
 * status. Each read is copied out and its buckets freed before the next: the connection's
 * bucket memory then holds one read, where collecting the whole body in buckets first would
 * leave its size in the connection's free blocks (up to MaxMemFree) for as long as the
 * connection lives, a stream's minutes included. */
static int read_raw_body(request_rec *r, apr_pool_t *p, apr_off_t max, char **body, apr_size_t *len)
{
    apr_bucket_brigade *bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    apr_off_t declared = declared_length(r);
    body_buffer buf = {p, NULL, 0, 0, declared > 0 ? (apr_size_t) declared : 0};
    int seen_eos = 0;
    apr_status_t rv = APR_SUCCESS;

    if (declared > max)
        return HTTP_REQUEST_ENTITY_TOO_LARGE;
    while (!seen_eos && rv == APR_SUCCESS) {
        rv = ap_get_brigade(r->input_filters, bb, AP_MODE_READBYTES, APR_BLOCK_READ,
                            HUGE_STRING_LEN);
        for (apr_bucket *b = APR_BRIGADE_FIRST(bb);
             rv == APR_SUCCESS && !seen_eos && b != APR_BRIGADE_SENTINEL(bb);
             b = APR_BUCKET_NEXT(b)) {
            const char *data;
            apr_size_t n;

            if (APR_BUCKET_IS_EOS(b))
                seen_eos = 1;
            else if (!APR_BUCKET_IS_METADATA(b) &&
                     (rv = apr_bucket_read(b, &data, &n, APR_BLOCK_READ)) == APR_SUCCESS) {
                if ((apr_off_t) (buf.len + n) > max) {
                    apr_brigade_cleanup(bb);
                    return HTTP_REQUEST_ENTITY_TOO_LARGE;
                }
                body_append(&buf, data, n);
            }
        }
        apr_brigade_cleanup(bb);
    }
    if (rv != APR_SUCCESS)
        return ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
    *body = buf.data ? buf.data : apr_palloc(p, 1);
    (*body)[buf.len] = '\0';
    *len = buf.len;
    return OK;
}

static apr_status_t append_decoded(void *baton, const char *data, apr_size_t len)
{
    return apr_brigade_write(baton, NULL, NULL, data, len);
}

/* Undo the client's Content-Encoding (gzip, deflate, zstd, br, or a list of them) into p, the
 * decoded size held to max as the raw body was. Returns OK or an HTTP status with *err
 * filled. */
static int decode_body(request_rec *r, apr_pool_t *p, apr_off_t max, const char *directive,
                       char **body, apr_size_t *len, aiproxy_error *err)
{
    const char *coding = apr_table_get(r->headers_in, "Content-Encoding");
    apr_bucket_brigade *out;
    aip_sink sink;
    aip_decoder *dec;
    aip_decode_status st;
    apr_status_t rv;

    switch (aip_codings_classify(coding)) {
    case AIP_CODINGS_IDENTITY:
        return OK;
    case AIP_CODINGS_UNSUPPORTED:
        return aiproxy_http_set_error(
            err, HTTP_UNSUPPORTED_MEDIA_TYPE,
            apr_psprintf(r->pool,
                         "Content-Encoding '%s' is not supported (use gzip, deflate, "
                         "zstd or br)",
                         ap_escape_html(r->pool, coding)));
    default:
        break;
    }
    out = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    sink.write = append_decoded;
    sink.baton = out;
    dec = aip_decoder_create(p, coding);
    aip_decoder_set_max_output(dec, (apr_size_t) max);
    st = aip_decoder_feed(dec, *body, *len, &sink);
    if (st == AIP_DECODE_OK)
        st = aip_decoder_finish(dec, &sink);
    if (st == AIP_DECODE_TOO_LARGE)
        return too_large(r, err, max, directive, "decoded request body");
    if (st != AIP_DECODE_OK)
        return aiproxy_http_set_error(
            err, HTTP_BAD_REQUEST,
            apr_psprintf(r->pool, "the %s request body could not be decoded: %s",
                         ap_escape_html(r->pool, coding),
                         aip_decoder_error(dec) ? aip_decoder_error(dec) : "truncated"));
    rv = apr_brigade_pflatten(out, body, len, p);
    apr_brigade_destroy(out); /* its buckets now, not at the end of the request */
    if (rv != APR_SUCCESS)
        return aiproxy_http_set_error(err, HTTP_INTERNAL_SERVER_ERROR,
                                      "the request body could not be decoded");
    apr_table_unset(r->headers_in, "Content-Encoding");
    return OK;
}

int aiproxy_http_read_body(request_rec *r, apr_pool_t *p, apr_off_t max, const char *directive,
                           char **body, apr_size_t *len, aiproxy_error *err)
{
    if (!aiproxy_http_is_json(apr_table_get(r->headers_in, "Content-Type")))
        return aiproxy_http_set_error(
            err, HTTP_UNSUPPORTED_MEDIA_TYPE,
            "the request body must be JSON (Content-Type: application/json)");
    return aiproxy_http_read_any_body(r, p, max, directive, body, len, err);
}

int aiproxy_http_read_any_body(request_rec *r, apr_pool_t *p, apr_off_t max, const char *directive,
                               char **body, apr_size_t *len, aiproxy_error *err)
{
    int rc = read_raw_body(r, p, max, body, len);

    if (rc == HTTP_REQUEST_ENTITY_TOO_LARGE)
        return too_large(r, err, max, directive, "request body");
    if (rc != OK)
        return aiproxy_http_set_error(err, rc, "the request body could not be read");
    return decode_body(r, p, max, directive, body, len, err);
}

/* ---- credentials ------------------------------------------------------------------------- */

const char *aiproxy_http_client_key(request_rec *r)
{
    const char *v = apr_table_get(r->headers_in, "Authorization");
    apr_table_t *args = NULL;

    if (v && !strncasecmp(v, "Bearer ", 7))
        return v + 7;
    if ((v = apr_table_get(r->headers_in, "x-api-key")) != NULL)
        return v;
    if ((v = apr_table_get(r->headers_in, "x-goog-api-key")) != NULL)
        return v;
    if (!r->args)
        return NULL;
    ap_args_to_table(r, &args); /* decodes %xx and '+' */
    return apr_table_get(args, "key");
}

/* How each protocol authenticates: header name and value prefix. */
static const struct {
    const char *header;
    const char *prefix;
} upstream_auth[AIPROXY_PROTO_UPSTREAM_COUNT] = {
    [AIPROXY_PROTO_ANTHROPIC] = {.header = "x-api-key", .prefix = ""},
    [AIPROXY_PROTO_OPENAI] = {.header = "Authorization", .prefix = "Bearer "},
    [AIPROXY_PROTO_RESPONSES] = {.header = "Authorization", .prefix = "Bearer "},
    [AIPROXY_PROTO_GEMINI] = {.header = "x-goog-api-key", .prefix = ""},
    [AIPROXY_PROTO_KIRO] = {.header = "Authorization", .prefix = "Bearer "},
};

const char *aiproxy_http_auth_header(aiproxy_proto proto)
{
    return upstream_auth[proto].header;
}

void aiproxy_http_set_upstream_auth(apr_pool_t *p, apr_table_t *headers, aiproxy_proto proto,
                                    const char *key)
{
    apr_table_setn(headers, upstream_auth[proto].header,
                   apr_pstrcat(p, upstream_auth[proto].prefix, key, NULL));
}

void aiproxy_http_set_protocol_headers(apr_table_t *upstream_headers,
                                       const apr_table_t *client_headers, aiproxy_proto proto)
{
    if (proto == AIPROXY_PROTO_ANTHROPIC) {
        const char *version = apr_table_get(client_headers, "anthropic-version");
        apr_table_setn(upstream_headers, "anthropic-version",
                       version ? version : DEFAULT_ANTHROPIC_VERSION);
    }
}

/* ---- the translated body in place of the client's ---------------------------------------- */

typedef struct {
    const char *data;
    apr_size_t left;
} body_ctx;

/* Serves READBYTES and SPECULATIVE reads (the latter without consuming) from the replacement,
 * then EOS; the client's own body was read to EOS by the handler, so nothing lies beneath. */
static apr_status_t body_filter(ap_filter_t *f, apr_bucket_brigade *bb, ap_input_mode_t mode,
                                apr_read_type_e block, apr_off_t readbytes)
{
    body_ctx *ctx = f->ctx;
    apr_size_t n = ctx->left;

    if (mode != AP_MODE_READBYTES && mode != AP_MODE_SPECULATIVE)
        return APR_ENOTIMPL;
    if (n == 0) {
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(f->c->bucket_alloc));
        return APR_SUCCESS;
    }
    if (readbytes > 0 && (apr_off_t) n > readbytes)
        n = (apr_size_t) readbytes;
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_immortal_create(ctx->data, n, f->c->bucket_alloc));
    if (mode == AP_MODE_READBYTES) {
        ctx->data += n;
        ctx->left -= n;
    }
    return APR_SUCCESS;
}

void aiproxy_http_add_replacement_body(request_rec *r, const char *body, apr_size_t len)
{
    body_ctx *ctx = apr_palloc(r->pool, sizeof(*ctx));

    ctx->data = body;
    ctx->left = len;
    ap_add_input_filter_handle(body_filter_handle, ctx, r, r->connection);
}

/* ---- upstream error bodies --------------------------------------------------------------- */

int aiproxy_http_keep_bytes(apr_bucket_brigade *bb, char *buf, apr_size_t *len, apr_size_t cap)
{
    int eos = 0;

    for (apr_bucket *b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);
         b = APR_BUCKET_NEXT(b)) {
        const char *data;
        apr_size_t n;

        if (APR_BUCKET_IS_EOS(b)) {
            eos = 1;
            break;
        }
        if (APR_BUCKET_IS_METADATA(b) || *len >= cap)
            continue;
        if (apr_bucket_read(b, &data, &n, APR_BLOCK_READ) != APR_SUCCESS)
            break;
        if (n > cap - *len)
            n = cap - *len;
        memcpy(buf + *len, data, n);
        *len += n;
    }
    return eos;
}

/* ---- the request's memory ---------------------------------------------------------------- */

/* NULL until child_init made it (or if it could not): pools then use the connection's. */
static apr_allocator_t *request_memory_allocator;

/* Free blocks kept for the next requests' bodies; beyond, given back. */
#define REQUEST_MEMORY_MAX_FREE (2 * 1024 * 1024)

static void share_request_memory(apr_pool_t *pchild, server_rec *s)
{
    apr_status_t rv =
        aip_shared_allocator_create(pchild, REQUEST_MEMORY_MAX_FREE, &request_memory_allocator);

    if (rv != APR_SUCCESS)
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s,
                     AIPLOGNO(01205) "no shared allocator for request bodies: each connection "
                                     "keeps the memory of its last request's body");
}

apr_pool_t *aiproxy_http_request_memory(request_rec *r)
{
    apr_pool_t *p;

    apr_pool_create_ex(&p, r->pool, NULL, request_memory_allocator);
    apr_pool_tag(p, "aiproxy_request_memory");
    aiproxy_trim_after(p);
    return p;
}

void aiproxy_http_register_hooks(apr_pool_t *p)
{
    ap_hook_child_init(share_request_memory, NULL, NULL, APR_HOOK_MIDDLE);
    body_filter_handle =
        ap_register_input_filter(AIPROXY_BODY_FILTER, body_filter, NULL, AIPROXY_FTYPE_BODY);
}
