/*
 * mod_aiproxy_translate_http.h: the HTTP glue both modules share (see the .c file).
 *
 * mod_aiproxy reaches the same functions through the API table of mod_aiproxy_translate.h;
 * their contracts are written there.
 */
#ifndef MOD_AIPROXY_TRANSLATE_HTTP_H
#define MOD_AIPROXY_TRANSLATE_HTTP_H

#include "httpd.h"
#include "aiproxy_translate.h"

int aiproxy_http_is_json(const char *content_type);
/* Fill err (no type, no code) and return status. */
int aiproxy_http_set_error(aiproxy_error *err, int status, const char *message);
/* mod_aiproxy_translate.h: request_memory, read_client_body and read_client_body_any. */
apr_pool_t *aiproxy_http_request_memory(request_rec *r);
int aiproxy_http_read_body(request_rec *r, apr_pool_t *p, apr_off_t max, const char *directive,
                           char **body, apr_size_t *len, aiproxy_error *err);
int aiproxy_http_read_any_body(request_rec *r, apr_pool_t *p, apr_off_t max, const char *directive,
                               char **body, apr_size_t *len, aiproxy_error *err);
const char *aiproxy_http_client_key(request_rec *r);
const char *aiproxy_http_auth_header(aiproxy_proto proto);
void aiproxy_http_set_upstream_auth(apr_pool_t *p, apr_table_t *headers, aiproxy_proto proto,
                                    const char *key);
void aiproxy_http_set_protocol_headers(apr_table_t *upstream_headers,
                                       const apr_table_t *client_headers, aiproxy_proto proto);
void aiproxy_http_add_replacement_body(request_rec *r, const char *body, apr_size_t len);
int aiproxy_http_keep_bytes(apr_bucket_brigade *bb, char *buf, apr_size_t *len, apr_size_t cap);
void aiproxy_http_register_hooks(apr_pool_t *p);

#endif /* MOD_AIPROXY_TRANSLATE_HTTP_H */
