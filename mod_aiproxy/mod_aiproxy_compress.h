/*
 * mod_aiproxy_compress.h: content codings on the upstream leg of an attempt (httpd glue of
 * common/aip_compress.c).
 *
 * Wiring, in mod_aiproxy_attempt.c / mod_aiproxy.c:
 *   register_hooks:            aip_compress_register_hooks(p);
 *   aip_attempt_run, after rr->headers_in = upstream_headers(at, rr->pool) and before the body
 *   filter and kept_body take at->req.body / at->req.len:
 *                              aip_compress_attempt_body(at, rr->headers_in);
 *                              apr_table_setn(rr->headers_in, "Accept-Encoding",
 *                                             aip_upstream_accept_encoding());
 *   then, anywhere among the ap_add_output_filter_* calls on rr:
 *                              aip_add_response_decoder(rr);
 */
#ifndef MOD_AIPROXY_COMPRESS_H
#define MOD_AIPROXY_COMPRESS_H

#include "httpd.h"
#include "mod_aiproxy_private.h"

/* Register the response decoder filter (AIPROXY_DECODE). */
void aip_compress_register_hooks(apr_pool_t *p);

/* Encode at->req.body with at->upstream->compression when that makes it smaller: at->req.body
 * and at->req.len then point at the encoded bytes (allocated from the main request's pool)
 * and upstream_headers gets Content-Encoding. Content-Length is set either way, to the size
 * that will be sent. */
void aip_compress_attempt_body(aip_attempt *at, apr_table_t *upstream_headers);

/* Decode the upstream's Content-Encoding on the subrequest rr, as the body streams. The filter
 * is registered one step below AP_FTYPE_RESOURCE, so httpd places it ahead of every
 * AP_FTYPE_RESOURCE filter of rr (the capture filter included) whatever the order of the
 * ap_add_output_filter calls: the capture and the translation only ever see plain bytes. */
void aip_add_response_decoder(request_rec *rr);

/* The Accept-Encoding to send upstream: every coding the decoder undoes. */
const char *aip_upstream_accept_encoding(void);

#endif /* MOD_AIPROXY_COMPRESS_H */
