/*
 * aip_passthrough.h: the passthrough route, /passthrough/{upstream}/{rest}: which upstream and
 * path it names, whether its path stays below the upstream's base URL, and which headers cross
 * it in each direction.
 */
#ifndef AIP_PASSTHROUGH_H
#define AIP_PASSTHROUGH_H

#include "apr_pools.h"

#define AIP_PASSTHROUGH_PREFIX "/passthrough/"

/* Split a route path "/passthrough/{upstream}/{rest}" into the upstream's name and "/{rest}"
 * (just "/" when nothing follows the name). Returns 0, or -1 when path is not one (no name). */
int aip_passthrough_split(apr_pool_t *p, const char *path, const char **upstream,
                          const char **rest);

/* Whether a raw (still percent-encoded) request path is safe to append to an upstream's base
 * URL: no "." or ".." segment (plain or encoded), no backslash, no control character (CR, LF,
 * NUL), and no encoded '/', '\\', '%' or control character (which a later decoding could turn
 * into a way out or a split request line). */
int aip_passthrough_path_safe(const char *raw_path);

/* Client request headers that never reach the upstream: hop-by-hop headers, the client's own
 * credentials and cookies (the upstream's credential replaces them), and what the gateway
 * sets itself (Host, Content-Length, Accept-Encoding, and Content-Encoding: the client's body
 * was decoded, the upstream leg gets its own coding). */
int aip_passthrough_drops_request_header(const char *name);
/* Upstream answer headers that never reach the client: hop-by-hop headers, and the framing
 * httpd sets itself (Content-Length, Transfer-Encoding). */
int aip_passthrough_drops_response_header(const char *name);

#endif /* AIP_PASSTHROUGH_H */
