/*
 * pipeline/tr_envelope.h: taking an answer out of the envelope a subscription backend wraps it
 * in (Code Assist's v1internal: {"response": {...candidates...}, "traceId": ...} for the JSON
 * answer and for every stream event), so the protocol's own decoder reads it as the public
 * API's answer. The dialect names the member (tr_dialect_answer_member).
 */
#ifndef TR_ENVELOPE_H
#define TR_ENVELOPE_H

#include "apr_pools.h"

/* The JSON text of data's member (an object) when data is an object holding it, else data
 * itself: errors come unwrapped, and anything else is the decoder's to judge. The result
 * lives in p (or is data); *out_len is its length. */
const char *tr_envelope_open(apr_pool_t *p, const char *member, const char *data, apr_size_t len,
                             apr_size_t *out_len);

#endif /* TR_ENVELOPE_H */
