/*
 * aip_forward.h: the forwarded routes (images, audio, rerank) as a table: what each accepts,
 * which api types serve it and where, and how its answer comes back. Their bodies go to the
 * upstream unchanged but for the model (AIPROXY_OP_FORWARD); the request flow is the chat
 * routes' own.
 */
#ifndef AIP_FORWARD_H
#define AIP_FORWARD_H

#include "apr_pools.h"
#include "aip_config.h"

typedef enum {
    AIP_FORWARD_JSON = 0, /* application/json */
    AIP_FORWARD_MULTIPART /* multipart/form-data (uploads) */
} aip_forward_body;

typedef enum {
    AIP_FORWARD_ANSWER_WHOLE = 0, /* one body (JSON), passed on as it comes */
    AIP_FORWARD_ANSWER_STREAM     /* a binary stream (speech): unbuffered, uncompressed */
} aip_forward_answer;

typedef struct {
    const char *api_type; /* an api type that serves the route */
    const char *path;     /* the upstream path it serves it at */
} aip_forward_target;

#define AIP_FORWARD_MAX_TARGETS 3

typedef struct {
    const char *path; /* the client route */
    aip_forward_body body;
    aip_forward_answer answer;
    apr_off_t default_max_body; /* the body size cap unless AIProxyMaxBodySize is set; 0: its
                                 * default */
    aip_forward_target targets[AIP_FORWARD_MAX_TARGETS];
} aip_forward_route;

/* Uploads (audio) get a larger default cap than JSON bodies: OpenAI itself takes audio files
 * of up to 25 MB, and the multipart framing adds its own bytes. */
#define AIP_DEFAULT_MAX_UPLOAD ((apr_off_t) 64 * 1024 * 1024)

/* The forwarded route at exactly path, or NULL. */
const aip_forward_route *aip_forward_route_for(const char *path);
/* Where an upstream of api_type is sent fr's body, or NULL when that api type does not serve
 * fr. */
const char *aip_forward_upstream_path(const aip_forward_route *fr, const char *api_type);
/* The api types serving fr, as "a, b" for messages. */
const char *aip_forward_api_types(apr_pool_t *p, const aip_forward_route *fr);
/* The body size cap of fr under cfg: AIProxyMaxBodySize when set, else the route's default. */
apr_off_t aip_forward_max_body(const aip_forward_route *fr, const aip_config *cfg);

#endif /* AIP_FORWARD_H */
