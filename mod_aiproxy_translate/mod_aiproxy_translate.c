/*
 * mod_aiproxy_translate.c: httpd glue of the protocol core.
 *
 * Publishes the core through the aiproxy_translate_get_api optional function and provides
 * the response output filter: upstream bytes in, client-protocol bytes out, one complete
 * JSON body or SSE event at a time, FLUSH passed straight through so streams stay live.
 * The standalone mode (AIProxyTranslate behind plain ProxyPass) lives in
 * mod_aiproxy_translate_location.c and shares this module record.
 */
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"
#include "apr_strings.h"
#include "mod_aiproxy_translate.h"
#include "mod_aiproxy_translate_location.h"
#include "mod_aiproxy_translate_http.h"
#include "mod_aiproxy_translate_trim.h"
#include "aiproxy_filters.h"
#include "aiproxy_log.h"

static ap_filter_rec_t *response_filter_handle;

/* Translated bytes held back while waiting for the first content of a stream (see
 * add_response_filter); past this the stream is released whatever it holds. */
#define HOLD_LIMIT (256 * 1024)

typedef struct {
    aiproxy_response *translator;
    apr_bucket_brigade *out; /* translated output waiting to be passed */
    int started;
    int upstream_broke; /* an error bucket came from mod_proxy */
    int finished;
    int *swallowed; /* set when an answer without content was held back and dropped */
    int holding;    /* nothing has reached the client yet */
} response_filter_ctx;

static apr_status_t append_to_brigade(void *baton, const char *data, apr_size_t len)
{
    ap_filter_t *f = baton;
    response_filter_ctx *ctx = f->ctx;
    return apr_brigade_write(ctx->out, NULL, NULL, data, len);
}

static void response_filter_start(ap_filter_t *f, response_filter_ctx *ctx)
{
    request_rec *r = f->r;

    ctx->started = 1;
    ctx->out = apr_brigade_create(r->pool, f->c->bucket_alloc);
    ap_set_content_type(r, aiproxy_response_content_type(ctx->translator));
    apr_table_unset(r->headers_out, "Content-Length");
    apr_table_unset(r->headers_out, "Content-Encoding");
    /* Compressing an event stream would hold events back in the compressor. */
    apr_table_setn(r->subprocess_env, "no-gzip", "1");
    apr_table_setn(r->subprocess_env, "no-brotli", "1");
}

/* While holding: keep the output unless the stream has shown content (or grown too big to
 * hold). Returns 1 when the output may go on to the client. */
static int may_release(response_filter_ctx *ctx)
{
    apr_off_t held = 0;

    if (!ctx->holding)
        return 1;
    if (aiproxy_response_get_info(ctx->translator)->seen_content ||
        (apr_brigade_length(ctx->out, 0, &held) == APR_SUCCESS && held > HOLD_LIMIT)) {
        ctx->holding = 0;
        return 1;
    }
    return 0;
}

/* At the end of a held stream: an answer that is only an error (or a broken connection)
 * never reaches the client, so the caller can try another upstream. */
static int swallow_failed_answer(response_filter_ctx *ctx)
{
    const aiproxy_response_info *info = aiproxy_response_get_info(ctx->translator);

    if (!ctx->holding || info->seen_content || !(info->seen_error || ctx->upstream_broke))
        return 0;
    *ctx->swallowed = 1;
    apr_brigade_cleanup(ctx->out);
    return 1;
}

static apr_status_t response_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    response_filter_ctx *ctx = f->ctx;
    aiproxy_sink sink = {append_to_brigade, f};
    apr_status_t rv = APR_SUCCESS;

    if (ctx->finished) {
        apr_brigade_cleanup(bb);
        return APR_SUCCESS;
    }
    if (!ctx->started)
        response_filter_start(f, ctx);

    while (!APR_BRIGADE_EMPTY(bb)) {
        apr_bucket *b = APR_BRIGADE_FIRST(bb);

        if (APR_BUCKET_IS_EOS(b)) {
            rv = aiproxy_response_finish(ctx->translator, ctx->upstream_broke, &sink);
            ctx->finished = 1;
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, f->r,
                          AIPLOGNO(01101) "upstream body ended (holding %d, content %d, error %d, "
                                          "broke %d)",
                          ctx->holding, aiproxy_response_get_info(ctx->translator)->seen_content,
                          aiproxy_response_get_info(ctx->translator)->seen_error,
                          ctx->upstream_broke);
            if (swallow_failed_answer(ctx)) {
                apr_brigade_cleanup(bb);
                return APR_SUCCESS;
            }
            ctx->holding = 0;
            APR_BUCKET_REMOVE(b);
            APR_BRIGADE_INSERT_TAIL(ctx->out, b);
            break;
        }
        if (APR_BUCKET_IS_FLUSH(b)) {
            if (!may_release(ctx)) {
                /* a FLUSH would send the response headers: not before we know */
                apr_bucket_delete(b);
                continue;
            }
            APR_BUCKET_REMOVE(b);
            APR_BRIGADE_INSERT_TAIL(ctx->out, b);
            rv = ap_pass_brigade(f->next, ctx->out);
            apr_brigade_cleanup(ctx->out);
            if (rv != APR_SUCCESS)
                break;
            continue;
        }
        if (AP_BUCKET_IS_ERROR(b)) {
            /* mod_proxy's "backend broke" marker: the stream ends with the client protocol's
             * error event at EOS instead of a bare truncation. */
            ctx->upstream_broke = 1;
            apr_bucket_delete(b);
            continue;
        }
        if (APR_BUCKET_IS_METADATA(b)) {
            APR_BUCKET_REMOVE(b);
            APR_BRIGADE_INSERT_TAIL(ctx->out, b);
            continue;
        }
        {
            const char *data;
            apr_size_t len;
            rv = apr_bucket_read(b, &data, &len, APR_BLOCK_READ);
            if (rv == APR_SUCCESS)
                rv = aiproxy_response_feed(ctx->translator, data, len, &sink);
            apr_bucket_delete(b);
            if (rv != APR_SUCCESS) {
                ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, f->r,
                              AIPLOGNO(01102) "translating the upstream response failed");
                ctx->upstream_broke = 1;
                aiproxy_response_finish(ctx->translator, 1, &sink);
                ctx->finished = 1;
                APR_BRIGADE_INSERT_TAIL(ctx->out, apr_bucket_eos_create(f->c->bucket_alloc));
                break;
            }
        }
    }
    apr_brigade_cleanup(bb);
    if (APR_BRIGADE_EMPTY(ctx->out) || !may_release(ctx))
        return rv;
    {
        apr_status_t pass = ap_pass_brigade(f->next, ctx->out);
        apr_brigade_cleanup(ctx->out);
        return rv != APR_SUCCESS ? rv : pass;
    }
}

void aiproxy_translate_add_response_filter(request_rec *r, aiproxy_response *t, int *swallowed)
{
    response_filter_ctx *ctx = apr_pcalloc(r->pool, sizeof(*ctx));
    ctx->translator = t;
    ctx->swallowed = swallowed;
    ctx->holding = swallowed != NULL;
    ap_add_output_filter_handle(response_filter_handle, ctx, r, r->connection);
}

static const aiproxy_translate_api translate_api = {
    .version = AIPROXY_TRANSLATE_API_VERSION,
    .request_parse = aiproxy_request_parse,
    .request_model = aiproxy_request_model,
    .request_stream = aiproxy_request_stream,
    .request_wants_stream_usage = aiproxy_request_wants_stream_usage,
    .request_operation = aiproxy_request_operation,
    .request_embed_flags = aiproxy_request_embed_flags,
    .request_build = aiproxy_request_build,
    .response_create = aiproxy_response_create,
    .response_content_type = aiproxy_response_content_type,
    .response_info = aiproxy_response_get_info,
    .error_body = aiproxy_error_body,
    .error_message_from_body = aiproxy_error_message_from_body,
    .model_list_body = aiproxy_model_list_body,
    .add_response_filter = aiproxy_translate_add_response_filter,
    .request_memory = aiproxy_http_request_memory,
    .read_client_body = aiproxy_http_read_body,
    .read_client_body_any = aiproxy_http_read_any_body,
    .client_key = aiproxy_http_client_key,
    .set_upstream_auth = aiproxy_http_set_upstream_auth,
    .set_protocol_headers = aiproxy_http_set_protocol_headers,
    .add_replacement_body = aiproxy_http_add_replacement_body,
    .keep_bytes = aiproxy_http_keep_bytes,
};

static const aiproxy_translate_api *aiproxy_translate_get_api(void)
{
    return &translate_api;
}

/* Every thread of the child takes its streams' per-event memory from one allocator. */
static void share_scratch(apr_pool_t *pchild, server_rec *s)
{
    apr_status_t rv = aiproxy_response_share_scratch(pchild);

    if (rv != APR_SUCCESS)
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s,
                     AIPLOGNO(01204) "no shared allocator for stream events: each stream "
                                     "keeps its own scratch memory");
}

static void register_hooks(apr_pool_t *p)
{
    ap_hook_child_init(share_scratch, NULL, NULL, APR_HOOK_MIDDLE);
    APR_REGISTER_OPTIONAL_FN(aiproxy_translate_get_api);
    response_filter_handle = ap_register_output_filter(
        AIPROXY_TRANSLATE_RESPONSE_FILTER, response_filter, NULL, AIPROXY_FTYPE_TRANSLATE_RESPONSE);
    aiproxy_http_register_hooks(p);
    aiproxy_translate_location_register_hooks(p);
    aiproxy_trim_register_hooks(p);
}

AP_DECLARE_MODULE(aiproxy_translate) = {
    STANDARD20_MODULE_STUFF,
    aiproxy_translate_location_create_dir_config,
    aiproxy_translate_location_merge_dir_config,
    NULL,
    NULL,
    aiproxy_translate_location_cmds,
    register_hooks,
    AP_MODULE_FLAG_NONE,
};
