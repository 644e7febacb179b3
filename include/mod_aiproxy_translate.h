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

#define AIPROXY_TRANSLATE_API_VERSION 1

typedef struct {
    int version; /* AIPROXY_TRANSLATE_API_VERSION */

    aiproxy_request *(*request_parse)(apr_pool_t *p, aiproxy_proto proto, const char *body,
                                      apr_size_t len, const aiproxy_route_info *route,
                                      aiproxy_error *err);
    const char *(*request_model)(const aiproxy_request *req);
    aiproxy_stream_mode (*request_stream)(const aiproxy_request *req);
    int (*request_wants_stream_usage)(const aiproxy_request *req);
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
} aiproxy_translate_api;

APR_DECLARE_OPTIONAL_FN(const aiproxy_translate_api *, aiproxy_translate_get_api, (void) );

#endif /* MOD_AIPROXY_TRANSLATE_H */
