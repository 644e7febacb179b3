/*
 * mod_aiproxy_translate.h: how other httpd modules reach the protocol core at run time.
 *
 * mod_aiproxy_translate registers one optional function that returns a table of the core's
 * entry points plus the httpd glue (the response output filter). mod_aiproxy retrieves it in
 * post_config, the way modules retrieve mod_ssl's ssl_is_https, so neither module links the
 * other.
 */
#ifndef MOD_AIPROXY_TRANSLATE_H
#define MOD_AIPROXY_TRANSLATE_H

#include "apr_optional.h"
#include "httpd.h"
#include "aiproxy_translate.h"

/* 3: aiproxy_target.dialect; 4: operations (count_tokens); 5: target project and request
 * id, answer envelopes; 6: the forward operation, read_client_body_any; 7: embeddings and
 * legacy completions; 8: aiproxy_target.thinking; 9: AIPROXY_PROTO_KIRO (upstream-only),
 * aiproxy_target.account; 10: tool_names in aiproxy_upstream_request and the response spec;
 * 11: read_client_body(_any) read into a pool of the caller's, request_memory */
#define AIPROXY_TRANSLATE_API_VERSION 11

typedef struct {
    int version; /* AIPROXY_TRANSLATE_API_VERSION */

    aiproxy_request *(*request_parse)(apr_pool_t *p, aiproxy_proto proto, const char *body,
                                      apr_size_t len, const aiproxy_route_info *route,
                                      aiproxy_error *err);
    const char *(*request_model)(const aiproxy_request *req);
    aiproxy_stream_mode (*request_stream)(const aiproxy_request *req);
    int (*request_wants_stream_usage)(const aiproxy_request *req);
    aiproxy_operation (*request_operation)(const aiproxy_request *req);
    unsigned (*request_embed_flags)(const aiproxy_request *req);
    int (*request_build)(apr_pool_t *p, const aiproxy_request *req, const aiproxy_target *target,
                         aiproxy_upstream_request *out, aiproxy_error *err);

    aiproxy_response *(*response_create)(apr_pool_t *p, const aiproxy_response_spec *spec);
    const char *(*response_content_type)(const aiproxy_response *t);
    const aiproxy_response_info *(*response_info)(const aiproxy_response *t);

    const char *(*error_body)(apr_pool_t *p, aiproxy_proto proto, const aiproxy_error *err,
                              apr_size_t *len);
    const char *(*error_message_from_body)(apr_pool_t *p, aiproxy_proto upstream, const char *body,
                                           apr_size_t len);
    const char *(*model_list_body)(apr_pool_t *p, aiproxy_proto proto,
                                   const apr_array_header_t *models, apr_size_t *len);

    /* Add the output filter that turns the upstream body of r into the client's format
     * through t (JSON or SSE, event by event, FLUSH passed through). Sets the response
     * Content-Type and removes Content-Length when it runs.
     * swallowed: NULL, or the filter holds the output back until the answer shows content;
     * an answer that ends with only an error (or a broken connection) is then dropped
     * unseen and *swallowed set, so the caller can try another upstream. */
    void (*add_response_filter)(request_rec *r, aiproxy_response *t, int *swallowed);

    /* ---- the HTTP glue both modules share (mod_aiproxy_translate_http.c) ---- */

    /* A pool for what a request needs only until its answer starts (its body and their
     * copies), child of r->pool, from an allocator the child's threads share: destroyed
     * early, its blocks serve other requests rather than staying with r's connection (whose
     * stream may last minutes). */
    apr_pool_t *(*request_memory)(request_rec *r);
    /* Read r's whole body into p after checking it is JSON (or untyped), undoing its
     * Content-Encoding (gzip, deflate, zstd, br); more than max bytes, before or after
     * decoding, is refused with 413 naming directive (the setting that raises max). Returns
     * OK, or an HTTP status with *err filled for the client's envelope. The body, and the
     * decoder that undid its coding, live in p: a pool the caller may let go before r's. */
    int (*read_client_body)(request_rec *r, apr_pool_t *p, apr_off_t max, const char *directive,
                            char **body, apr_size_t *len, aiproxy_error *err);
    /* The same for a body of any Content-Type (a multipart upload, a passthrough body); the
     * caller checks the type it expects. */
    int (*read_client_body_any)(request_rec *r, apr_pool_t *p, apr_off_t max, const char *directive,
                                char **body, apr_size_t *len, aiproxy_error *err);
    /* The API key r presents in any protocol's style (Authorization: Bearer, x-api-key,
     * x-goog-api-key, ?key=), or NULL. */
    const char *(*client_key)(request_rec *r);
    /* Authenticate to a proto upstream with key, in that protocol's header and style. */
    void (*set_upstream_auth)(apr_pool_t *p, apr_table_t *headers, aiproxy_proto proto,
                              const char *key);
    /* Headers proto requires that other protocols' clients do not send (anthropic-version):
     * the client's value when it gave one, else the default. */
    void (*set_protocol_headers)(apr_table_t *upstream_headers, const apr_table_t *client_headers,
                                 aiproxy_proto proto);
    /* Serve body to whatever reads r's request body (mod_proxy) in place of the client's,
     * which must have been read already. */
    void (*add_replacement_body)(request_rec *r, const char *body, apr_size_t len);
    /* Append the data of bb to buf, *len bytes so far, cap at most; returns whether bb ends
     * with EOS. For keeping the start of an upstream error body. */
    int (*keep_bytes)(apr_bucket_brigade *bb, char *buf, apr_size_t *len, apr_size_t cap);
} aiproxy_translate_api;

APR_DECLARE_OPTIONAL_FN(const aiproxy_translate_api *, aiproxy_translate_get_api, (void) );

#endif /* MOD_AIPROXY_TRANSLATE_H */
