/*
 * pipeline/tr_array_splitter.h: split a streamed JSON array ("[{...},{...}]", Gemini
 * streamGenerateContent without alt=sse) into its elements as they complete, in any byte split.
 *
 * Only object and array elements are delivered (Gemini sends objects); a body that is a
 * single top-level object instead of an array (an error envelope) is delivered as one
 * element. Memory is bounded by max_element.
 */
#ifndef TR_ARRAY_SPLITTER_H
#define TR_ARRAY_SPLITTER_H

#include "apr_pools.h"

typedef apr_status_t (*tr_element_fn)(void *baton, const char *data, apr_size_t len);

typedef struct tr_array_splitter tr_array_splitter;

tr_array_splitter *tr_array_splitter_create(apr_pool_t *p, apr_size_t max_element);
/* Returns APR_SUCCESS, APR_ENOSPC (element too large), or fn's first failure. */
apr_status_t tr_array_splitter_feed(tr_array_splitter *s, const char *buf, apr_size_t len,
                                    tr_element_fn fn, void *baton);
/* 1 once the closing ']' (or the end of a top-level object) was seen. */
int tr_array_splitter_complete(const tr_array_splitter *s);

#endif /* TR_ARRAY_SPLITTER_H */
