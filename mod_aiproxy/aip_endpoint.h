/*
 * aip_endpoint.h: an upstream's exact endpoint (endpoint=/api/paas/v4/chat/completions,
 * /openai/deployments/{model}/chat/completions?api-version=...), for providers whose API is
 * not under /v1/..., with the upstream model substituted for {model} and, for APIs that name
 * the method in the path (Gemini's models/{model}:{method} on Vertex), the method for
 * {method}.
 *
 * The model comes from the client, so it must not be able to change the path's shape: a name
 * with '/', "..", a control character or a space is refused, and anything outside the
 * unreserved characters is percent-encoded.
 */
#ifndef AIP_ENDPOINT_H
#define AIP_ENDPOINT_H

#include "apr_pools.h"

/* Is template a usable endpoint: starts with '/', has no space or control character? NULL,
 * or an error message. */
const char *aip_endpoint_check(apr_pool_t *p, const char *template);

/* Does template name the protocol's method ({method}, for Gemini-style paths)? */
int aip_endpoint_has_method(const char *template);

/* Fill *path and *query (NULL when the template has none; without '?') from template with
 * model substituted for {model} and method (the protocol's own method word, such as Gemini's
 * "streamGenerateContent"; NULL when it has none) for {method}. Returns NULL, or an error
 * message when model cannot go into a path or the template names a method there is none of. */
const char *aip_endpoint_expand(apr_pool_t *p, const char *template, const char *model,
                                const char *method, const char **path, const char **query);

#endif /* AIP_ENDPOINT_H */
