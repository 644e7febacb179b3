/*
 * tr_usage.h: token usage in each protocol's JSON <-> the canonical tr_usage (tr_ir.h:
 * input counts every prompt token, cached ones included; output includes reasoning).
 *
 * Readers merge: only the fields the JSON holds overwrite *out, so a stream's partial usage
 * updates combine. Writers return a new object in pool p.
 */
#ifndef TR_USAGE_H
#define TR_USAGE_H

#include "tr_ir.h"

/* Copy every field present in from into into. */
void tr_usage_merge(tr_usage *into, const tr_usage *from);

/* Anthropic counts input_tokens without the cache tokens, and a stream may update them
 * separately (message_start, then message_delta). So the reader keeps Anthropic's own numbers
 * in raw (raw->input = input_tokens exclusive) and the conversion runs on the merged raw. */
void tr_usage_read_anthropic_raw(const tr_jv *usage, tr_usage *raw);
tr_usage tr_usage_from_anthropic_raw(const tr_usage *raw);
tr_jv *tr_usage_to_anthropic(apr_pool_t *p, const tr_usage *u);

void tr_usage_read_openai(const tr_jv *usage, tr_usage *out);
tr_jv *tr_usage_to_openai(apr_pool_t *p, const tr_usage *u);

void tr_usage_read_responses(const tr_jv *usage, tr_usage *out);
tr_jv *tr_usage_to_responses(apr_pool_t *p, const tr_usage *u);

void tr_usage_read_gemini(const tr_jv *usage_metadata, tr_usage *out);
tr_jv *tr_usage_to_gemini(apr_pool_t *p, const tr_usage *u);

#endif /* TR_USAGE_H */
