/*
 * aip_route.h: the client routes the gateway serves, as a table. Nothing else is forwarded.
 */
#ifndef AIP_ROUTE_H
#define AIP_ROUTE_H

#include "apr_pools.h"
#include "aiproxy_translate.h"
#include "aip_forward.h"

typedef enum {
    AIP_ROUTE_GENERATE = 0,    /* POST a request for a model: a generation, or the other
                                * operation its info names (a token count, embeddings, a
                                * legacy text completion) */
    AIP_ROUTE_MODELS,          /* GET the model list */
    AIP_ROUTE_LIVEZ,           /* GET liveness: the server runs (no client key) */
    AIP_ROUTE_READYZ,          /* GET readiness: every model has an upstream (no client key) */
    AIP_ROUTE_FORWARD,         /* POST a body forwarded unchanged but for its model (images,
                                * audio, rerank): its row in forward names the rest */
    AIP_ROUTE_PASSTHROUGH,     /* any method to one named upstream, answered as it answers */
    AIP_ROUTE_PROVIDER_METRICS /* GET per-upstream counters as JSON (cliproxyapi++'s route) */
} aip_route_kind;

typedef struct {
    aip_route_kind kind;
    aiproxy_proto proto;     /* the client's protocol */
    const char *method;      /* the one method the route accepts; NULL: any (passthrough) */
    aiproxy_route_info info; /* model and stream from the path (Gemini), variant */
    const aip_forward_route *forward; /* AIP_ROUTE_FORWARD: its row */
    const char *upstream;             /* AIP_ROUTE_PASSTHROUGH: the upstream's name */
    const char *rest;                 /* AIP_ROUTE_PASSTHROUGH: the path to send it, "/..." */
} aip_route;

typedef enum {
    AIP_ROUTE_MATCHED = 0,
    AIP_ROUTE_UNKNOWN /* no such route: 404 */
} aip_route_result;

/* Match path (a route exactly, starting with '/') and query. */
aip_route_result aip_route_match(apr_pool_t *p, const char *path, const char *query,
                                 aip_route *out);

/* Match the route at the end of a request path, whatever prefix the handler is mounted under
 * (<Location "/ai/">, <LocationMatch>, a client's base URL https://host/ai): the whole path
 * first, then what follows each '/' from the left, so the longest route wins. *route_path is
 * set, unless route_path is NULL, to the matched part (NULL when none matched). */
aip_route_result aip_route_find(apr_pool_t *p, const char *path, const char *query, aip_route *out,
                                const char **route_path);

/* Hints from the request for answering in the right envelope when the route is unknown or
 * shared (GET /v1/models serves OpenAI and Anthropic clients alike). */
typedef struct {
    int anthropic_version; /* an anthropic-version header was sent */
    int goog_api_key;      /* an x-goog-api-key header or ?key= was sent */
} aip_client_hints;

aiproxy_proto aip_route_guess_proto(const char *path, const aip_client_hints *hints);

/* query with the value of every "key" parameter (the API key a Gemini client may send in the
 * URL; the name compared decoded, as it is read) replaced by REDACTED, so that access logs
 * and error pages never show it; NULL when query has none. */
const char *aip_route_redact_key(apr_pool_t *p, const char *query);

/* query without its "key" parameters (the client's credential, which goes to no provider),
 * or NULL when nothing is left. */
const char *aip_route_without_key(apr_pool_t *p, const char *query);

#endif /* AIP_ROUTE_H */
