/*
 * aiproxy_filters.h: where the suite's filters sit in httpd's chains, in one place.
 *
 * httpd orders filters by type (AP_FTYPE_*), lower types nearer the handler, and inserts an
 * added filter ahead of the first one of a higher type; the positions below are chosen
 * against each other and against httpd's own SUBREQ_CORE (AP_FTYPE_CONTENT_SET), so they are
 * named here rather than spelt "AP_FTYPE_x - n" where each filter is registered.
 *
 * An attempt of mod_aiproxy (a subrequest to mod_proxy), output side:
 *
 *   mod_proxy_http --> AIPROXY_DECODE ------> AIPROXY_CAPTURE ---> AIPROXY_TRANSLATE_RESPONSE
 *                      undo the upstream's    commit the answer    upstream protocol to the
 *                      Content-Encoding       or keep its error    client's, event by event
 *                      (RESOURCE - 1)         (RESOURCE)           (CONTENT_SET - 1)
 *        --> SUBREQ_CORE (CONTENT_SET, strips the EOS) --> AIPROXY_DELIVERY
 *        --> the client request's filters
 *
 * AIPROXY_DELIVERY (CONTENT_SET + 1) comes after every filter that may still hold an answer
 * back and drop it (the capture, the translator): bytes passing it reach the client, so no
 * other attempt can follow, and the request's body and its copies are let go there.
 *
 * The translate-only mode (AIProxyTranslate + ProxyPass), output side:
 *
 *   mod_proxy_http --> AIPROXY_TRANSLATE_ANSWER --> AIPROXY_TRANSLATE_RESPONSE --> protocol
 *                      an error status becomes       added by the answer filter once the
 *                      the client's envelope         status is a success
 *                      (CONTENT_SET - 2)             (CONTENT_SET - 1)
 *
 * Input side, both modes: AIPROXY_BODY (RESOURCE) serves the translated body in place of the
 * client's, which the handler has already read; mod_proxy_http reads from it. An attempt also
 * sets kept_body (mod_proxy_http sends a subrequest's body only then), which mod_request's
 * KEEP_BODY filter (RESOURCE) serves: of a higher type, AIPROXY_BODY would come after it and
 * the upstream would get the body twice.
 */
#ifndef AIPROXY_FILTERS_H
#define AIPROXY_FILTERS_H

#include "util_filter.h"

#define AIPROXY_BODY_FILTER               "AIPROXY_BODY"
#define AIPROXY_DECODE_FILTER             "AIPROXY_DECODE"
#define AIPROXY_CAPTURE_FILTER            "AIPROXY_CAPTURE"
#define AIPROXY_TRANSLATE_ANSWER_FILTER   "AIPROXY_TRANSLATE_ANSWER"
#define AIPROXY_TRANSLATE_RESPONSE_FILTER "AIPROXY_TRANSLATE_RESPONSE"
#define AIPROXY_DELIVERY_FILTER           "AIPROXY_DELIVERY"

#define AIPROXY_FTYPE_BODY    AP_FTYPE_RESOURCE
#define AIPROXY_FTYPE_DECODE  ((ap_filter_type) (AP_FTYPE_RESOURCE - 1))
#define AIPROXY_FTYPE_CAPTURE AP_FTYPE_RESOURCE
/* Below SUBREQ_CORE, which would strip the EOS the translation needs to finish. */
#define AIPROXY_FTYPE_TRANSLATE_RESPONSE ((ap_filter_type) (AP_FTYPE_CONTENT_SET - 1))
/* Below the response filter, so the one it adds lands right after it. */
#define AIPROXY_FTYPE_TRANSLATE_ANSWER ((ap_filter_type) (AP_FTYPE_CONTENT_SET - 2))
/* Above SUBREQ_CORE: added after it, it is the attempt's last filter. */
#define AIPROXY_FTYPE_DELIVERY ((ap_filter_type) (AP_FTYPE_CONTENT_SET + 1))

#endif /* AIPROXY_FILTERS_H */
