/*
 * mod_aiproxy_attempt.c: one upstream attempt as one subrequest through mod_proxy.
 *
 * The subrequest has the client's URI, so it passes the same access checks, but our
 * translate_name hook maps it straight to proxy:balancer://.../<upstream path> (as
 * mod_rewrite's [P] flag does): no internal URL exists that a client could call. Its body is
 * the attempt's translated body, served by an input filter; its output goes through a capture
 * filter that sees the upstream status before any body byte and either commits the answer to
 * the client or swallows an error so the handler can try the next upstream.
 */
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"
#include "apr_strings.h"
#include "mod_aiproxy_private.h"
#include "mod_aiproxy_compress.h"
#include "aiproxy_filters.h"
#include "aiproxy_log.h"
#include "aip_passthrough.h"

APLOG_USE_MODULE(aiproxy);

static ap_filter_rec_t *capture_filter_handle;
static ap_filter_rec_t *delivery_filter_handle;

/* ---- what request_config holds ------------------------------------------------------------ */

aip_request_state *aip_request_state_create(request_rec *r)
{
    aip_request_state *state = apr_pcalloc(r->pool, sizeof(*state));
    state->tag = AIP_TAG_REQUEST_STATE;
    state->request_memory = aip_translate->request_memory(r);
    ap_set_module_config(r->request_config, &aiproxy_module, state);
    return state;
}

void aip_release_request_memory(request_rec *r)
{
    aip_request_state *state = aip_request_state_of(r);

    if (state && state->request_memory) {
        apr_pool_destroy(state->request_memory);
        state->request_memory = NULL;
        ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r,
                      AIPLOGNO(00304) "the answer is on its way: the request body and its "
                                      "copies are let go");
    }
}

aip_request_state *aip_request_state_of(request_rec *r)
{
    aip_request_state *state;

    if (r->main)
        return NULL;
    state = ap_get_module_config(r->request_config, &aiproxy_module);
    return state && state->tag == AIP_TAG_REQUEST_STATE ? state : NULL;
}

aip_attempt *aip_attempt_of(request_rec *rr)
{
    aip_attempt *at;

    if (!rr->main)
        return NULL;
    at = ap_get_module_config(rr->request_config, &aiproxy_module);
    return at && at->tag == AIP_TAG_ATTEMPT ? at : NULL;
}

/* ---- mapping the subrequest to the balancer ---------------------------------------------- */

static int map_attempt_to_balancer(request_rec *r)
{
    aip_request_state *state;

    if (!r->main)
        return DECLINED;
    state = aip_request_state_of(r->main);
    if (!state || !state->lookup)
        return DECLINED;
    r->filename = apr_pstrcat(r->pool, "proxy:", state->lookup->filename, NULL);
    r->args = (char *) state->lookup->args;
    r->proxyreq = PROXYREQ_REVERSE;
    r->handler = "proxy-server";
    /* The protocol core already encoded the path; mod_proxy appends r->args as the query. */
    apr_table_setn(r->notes, "proxy-noencode", "1");
    return OK;
}

/* ---- capture: commit or swallow ---------------------------------------------------------- */

/* Upstream response headers worth handing to the client. */
static const char *const forwarded_response_headers[] = {"Retry-After",
                                                         "x-request-id",
                                                         "request-id",
                                                         "anthropic-ratelimit-requests-remaining",
                                                         "x-ratelimit-remaining-requests",
                                                         "x-ratelimit-remaining-tokens",
                                                         NULL};

/* What committing a stream sets on the client's request, beside the status, content type,
 * forwarded headers and upstream name. undo_commit walks the same table, so the two cannot
 * drift apart. */
typedef enum { IN_HEADERS_OUT, IN_SUBPROCESS_ENV } commit_place;

static const struct {
    commit_place place;
    const char *name;
    const char *value;
} stream_commit_settings[] = {
    /* Streams go out unbuffered: no compression, no proxy buffering downstream. */
    {IN_SUBPROCESS_ENV, "no-gzip", "1"},
    {IN_SUBPROCESS_ENV, "no-brotli", "1"},
    {IN_HEADERS_OUT, "Cache-Control", "no-cache"},
    {IN_HEADERS_OUT, "X-Accel-Buffering", "no"},
};

/* Set on every commit, to the answering upstream's name. */
static const struct {
    commit_place place;
    const char *name;
} upstream_name_settings[] = {
    {IN_HEADERS_OUT, "X-AIProxy-Upstream"},
    {IN_SUBPROCESS_ENV, "AIPROXY_UPSTREAM"},
};

static apr_table_t *commit_table(request_rec *r, commit_place place)
{
    return place == IN_HEADERS_OUT ? r->headers_out : r->subprocess_env;
}

/* The passthrough answer's headers, all but the hop-by-hop ones and the framing. */
static int copy_passthrough_header(void *baton, const char *name, const char *value)
{
    if (!aip_passthrough_drops_response_header(name))
        apr_table_add(baton, name, value);
    return 1;
}

/* Whether the answer goes out as it arrives, never held back for compression: a stream asked
 * for, the speech route's audio, or a forwarded body that answers with events (a transcription
 * or image generation with "stream": true). */
static int answer_streams(const aip_attempt *at, const request_rec *rr)
{
    return at->req.upstream_stream != AIPROXY_STREAM_NONE ||
           (at->forward &&
            (at->forward->answer == AIP_FORWARD_ANSWER_STREAM ||
             (rr->content_type && !ap_cstr_casecmpn(rr->content_type, "text/event-stream", 17))));
}

static void commit_to_client(aip_attempt *at, request_rec *rr)
{
    request_rec *r = at->main;

    r->status = rr->status;
    r->status_line = at->passthrough ? rr->status_line : NULL;
    if (at->passthrough)
        apr_table_do(copy_passthrough_header, r->headers_out, rr->headers_out, NULL);
    for (int i = 0; !at->passthrough && forwarded_response_headers[i]; i++) {
        const char *v = apr_table_get(rr->headers_out, forwarded_response_headers[i]);
        if (v)
            apr_table_setn(r->headers_out, forwarded_response_headers[i], v);
    }
    if (at->translator)
        ap_set_content_type(r, aip_translate->response_content_type(at->translator));
    else if (rr->content_type)
        ap_set_content_type(r, rr->content_type);
    if (at->passthrough) {
        /* whatever the upstream sends leaves as it arrives (a stream stays live) */
        apr_table_setn(r->subprocess_env, "no-gzip", "1");
        apr_table_setn(r->subprocess_env, "no-brotli", "1");
    } else if (answer_streams(at, rr)) {
        for (size_t i = 0; i < sizeof(stream_commit_settings) / sizeof(stream_commit_settings[0]);
             i++)
            apr_table_setn(commit_table(r, stream_commit_settings[i].place),
                           stream_commit_settings[i].name, stream_commit_settings[i].value);
    }
    for (size_t i = 0; i < sizeof(upstream_name_settings) / sizeof(upstream_name_settings[0]); i++)
        apr_table_setn(commit_table(r, upstream_name_settings[i].place),
                       upstream_name_settings[i].name, at->upstream->name);
    at->outcome = AIP_OUTCOME_COMMITTED;
    at->committed_at = apr_time_now();
    aip_request_state_of(r)->committed = at;
}

/* The answer turned out to be only an error event and nothing reached the client: take
 * back everything commit_to_client set, so another upstream can answer or the error report
 * can, with nothing of this answer showing. */
static void undo_commit(aip_attempt *at)
{
    request_rec *r = at->main;

    at->outcome = AIP_OUTCOME_ERROR_EVENT;
    at->status = 0;
    at->committed_at = 0;
    aip_request_state_of(r)->committed = NULL;
    r->status = HTTP_OK;
    r->status_line = NULL;
    r->content_type = NULL;
    for (int i = 0; forwarded_response_headers[i]; i++)
        apr_table_unset(r->headers_out, forwarded_response_headers[i]);
    for (size_t i = 0; i < sizeof(stream_commit_settings) / sizeof(stream_commit_settings[0]); i++)
        apr_table_unset(commit_table(r, stream_commit_settings[i].place),
                        stream_commit_settings[i].name);
    for (size_t i = 0; i < sizeof(upstream_name_settings) / sizeof(upstream_name_settings[0]); i++)
        apr_table_unset(commit_table(r, upstream_name_settings[i].place),
                        upstream_name_settings[i].name);
}

/* The request's one buffer for upstream error bytes: each failing attempt overwrites the one
 * before, which is never reported once a later attempt was made. */
static char *request_error_buffer(request_rec *r)
{
    aip_request_state *state = aip_request_state_of(r);

    if (!state->error_buffer)
        state->error_buffer = apr_palloc(r->pool, AIP_ERROR_BODY_KEEP);
    return state->error_buffer;
}

static int carries_bytes(apr_bucket_brigade *bb)
{
    for (apr_bucket *b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);
         b = APR_BUCKET_NEXT(b)) {
        if (!APR_BUCKET_IS_METADATA(b) && b->length != 0)
            return 1;
    }
    return 0;
}

static apr_status_t capture_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    request_rec *rr = f->r;
    aip_attempt *at = f->ctx;

    if (at->outcome == AIP_OUTCOME_NO_RESPONSE && !at->status) {
        if (!rr->sent_bodyct) {
            /* No upstream answer at all: mod_proxy failed to connect and the subrequest
             * finalizer sends a bare EOS (rr->status even reads 200 then). */
            apr_brigade_cleanup(bb);
            return APR_SUCCESS;
        }
        if (rr->status >= 400 && !at->passthrough) {
            at->outcome = AIP_OUTCOME_ERROR_STATUS;
            at->status = rr->status;
            /* copied: the subrequest's pool is gone when the handler reads it */
            at->error_headers = apr_table_copy(at->main->pool, rr->headers_out);
            at->retry_after = apr_table_get(at->error_headers, "Retry-After");
            at->error_body = request_error_buffer(at->main);
        } else {
            commit_to_client(at, rr);
        }
    }
    if (at->outcome == AIP_OUTCOME_ERROR_STATUS) {
        aip_translate->keep_bytes(bb, at->error_body, &at->error_len, AIP_ERROR_BODY_KEEP);
        apr_brigade_cleanup(bb);
        return APR_SUCCESS;
    }
    if (at->outcome != AIP_OUTCOME_COMMITTED) {
        apr_brigade_cleanup(bb);
        return APR_SUCCESS;
    }
    return ap_pass_brigade(f->next, bb);
}

/* The attempt's last filter: what passes it reaches the client (the translator before it
 * may hold an answer back and drop it; nothing after it does), so no other attempt can
 * follow, and mod_proxy sent the body before it read the answer. */
static apr_status_t delivery_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    if (carries_bytes(bb)) {
        aip_release_request_memory(f->r->main);
        ap_remove_output_filter(f);
    }
    return ap_pass_brigade(f->next, bb);
}

/* ---- running one attempt ------------------------------------------------------------------ */

/* Client headers that reach the upstream: only what the protocol needs, never credentials or
 * cookies. Accept-Encoding is the gateway's own: it decodes compressed answers as they
 * stream (mod_aiproxy_compress.c), whatever the client accepts. */
static const char *const forwarded_request_headers[AIPROXY_PROTO_UPSTREAM_COUNT][3] = {
    [AIPROXY_PROTO_ANTHROPIC] = {"anthropic-beta", NULL},
    [AIPROXY_PROTO_OPENAI] = {"OpenAI-Beta", NULL},
    [AIPROXY_PROTO_RESPONSES] = {"OpenAI-Beta", NULL},
    [AIPROXY_PROTO_GEMINI] = {NULL},
    [AIPROXY_PROTO_KIRO] = {NULL},
};

static int copy_passthrough_request_header(void *baton, const char *name, const char *value)
{
    if (!aip_passthrough_drops_request_header(name))
        apr_table_add(baton, name, value);
    return 1;
}

/* The attempt's request headers, its credential included. NULL when the credential's provider
 * could not apply it. The passthrough route sends the client's own (but its credentials). */
static apr_table_t *upstream_headers(aip_attempt *at, request_rec *rr)
{
    apr_pool_t *p = rr->pool;
    request_rec *r = at->main;
    const aip_upstream *up = at->upstream;
    apr_table_t *h = apr_table_make(p, 12);
    const char *ua = apr_table_get(r->headers_in, "User-Agent");
    const char *content_type = apr_table_get(r->headers_in, "Content-Type");
    const char *accept = apr_table_get(r->headers_in, "Accept");

    if (at->passthrough)
        apr_table_do(copy_passthrough_request_header, h, r->headers_in, NULL);
    else {
        /* a multipart body keeps the client's type: it names the boundary */
        apr_table_setn(h, "Content-Type",
                       at->forward && at->forward->body == AIP_FORWARD_MULTIPART
                           ? content_type
                           : "application/json");
        apr_table_setn(h, "Accept", at->forward && accept ? accept : at->req.accept);
        apr_table_setn(h, "User-Agent", ua ? ua : "mod_aiproxy");
        aip_translate->set_protocol_headers(h, r->headers_in, up->proto);
    }
    apr_table_setn(h, "Content-Length", apr_psprintf(p, "%" APR_SIZE_T_FMT, at->req.len));
    for (int i = 0; !at->passthrough && forwarded_request_headers[up->proto][i]; i++) {
        const char *v = apr_table_get(r->headers_in, forwarded_request_headers[up->proto][i]);
        if (v)
            apr_table_setn(h, forwarded_request_headers[up->proto][i], v);
    }
    if (at->credentials->provider->apply(at->credentials->source, at->credential, rr, h) !=
        APR_SUCCESS)
        return NULL;
    /* a fallback base's own way of being spoken to (aip_base_fallback.h); header= still wins */
    for (const aip_header *bh = at->base ? at->base->headers : NULL; bh && bh->name; bh++)
        apr_table_setn(h, bh->name, bh->value);
    for (int i = 0; i < up->headers->nelts; i++) {
        const aip_header *extra = &APR_ARRAY_IDX(up->headers, i, aip_header);
        apr_table_setn(h, extra->name, extra->value);
    }
    return h;
}

void aip_attempt_run(aip_attempt *at)
{
    request_rec *r = at->main;
    aip_request_state *state = aip_request_state_of(r);
    request_rec *rr;

    at->tag = AIP_TAG_ATTEMPT;
    state->lookup = at;
    /* r->uri is decoded and the subrequest decodes its URI again: hand it the path escaped,
     * or "%25" in a model name would reach it as a bare "%" (and fail it). */
    rr = ap_sub_req_method_uri(at->method ? at->method : "POST", ap_escape_uri(r->pool, r->uri), r,
                               r->output_filters);
    state->lookup = NULL;
    if (rr->status != HTTP_OK) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      AIPLOGNO(00301) "the attempt on upstream %s could not be set up (subrequest "
                                      "status %d)",
                      at->upstream->name, rr->status);
        at->outcome = AIP_OUTCOME_GATEWAY_FAILURE;
        ap_destroy_sub_req(rr);
        return;
    }
    ap_set_module_config(rr->request_config, &aiproxy_module, at);
    rr->headers_in = upstream_headers(at, rr);
    if (!rr->headers_in) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      AIPLOGNO(00302) "upstream %s: %s could not be used", at->upstream->name,
                      at->credential->label);
        at->outcome = AIP_OUTCOME_NO_CREDENTIAL;
        ap_destroy_sub_req(rr);
        return;
    }
    aip_compress_attempt_body(at, rr->headers_in); /* before anything reads the body */
    apr_table_setn(rr->headers_in, "Accept-Encoding", aip_upstream_accept_encoding());
    /* mod_proxy_http sends a subrequest's body only when kept_body is set. */
    rr->kept_body = apr_brigade_create(rr->pool, r->connection->bucket_alloc);
    APR_BRIGADE_INSERT_TAIL(rr->kept_body, apr_bucket_immortal_create(at->req.body, at->req.len,
                                                                      r->connection->bucket_alloc));
    aip_translate->add_replacement_body(rr, at->req.body, at->req.len);
    ap_add_output_filter_handle(capture_filter_handle, at, rr, r->connection);
    aip_add_response_decoder(rr); /* its filter type puts it ahead of the capture */
    if (at->translator)
        aip_translate->add_response_filter(rr, at->translator, &at->swallowed_error);
    ap_add_output_filter_handle(delivery_filter_handle, NULL, rr, r->connection);

    ap_run_sub_req(rr);
    if (at->outcome == AIP_OUTCOME_COMMITTED && at->swallowed_error)
        undo_commit(at);
    if (at->outcome != AIP_OUTCOME_COMMITTED)
        ap_destroy_sub_req(rr);
}

void aip_attempt_register_hooks(apr_pool_t *p)
{
    static const char *const before[] = {"mod_rewrite.c", "mod_proxy.c", NULL};

    ap_hook_translate_name(map_attempt_to_balancer, NULL, before, APR_HOOK_FIRST);
    capture_filter_handle = ap_register_output_filter(AIPROXY_CAPTURE_FILTER, capture_filter, NULL,
                                                      AIPROXY_FTYPE_CAPTURE);
    delivery_filter_handle = ap_register_output_filter(AIPROXY_DELIVERY_FILTER, delivery_filter,
                                                       NULL, AIPROXY_FTYPE_DELIVERY);
}
