/*
 * codec/tr_count.h: what the codecs share for counting input tokens (AIPROXY_OP_COUNT_TOKENS):
 * a count request is a generation body cut down to the members the count endpoint accepts.
 */
#ifndef TR_COUNT_H
#define TR_COUNT_H

#include "json/tr_jv.h"

/* A new object with only the members of body named in keep (NULL-terminated), shared with
 * body, not copied. */
tr_jv *tr_count_keep_members(apr_pool_t *p, const tr_jv *body, const char *const *keep);

#endif /* TR_COUNT_H */
