/*
 * tr_accumulate.h: IR stream events -> one tr_response, for an upstream that streams to a
 * client that asked for one JSON body (Codex, Gemini CLI and Claude Code subscriptions always
 * stream), and for encoders whose closing events repeat the whole answer (Responses
 * response.completed, output_text.done).
 *
 * Memory grows with the answer, which is what those formats force; max_total caps it.
 */
#ifndef TR_ACCUMULATE_H
#define TR_ACCUMULATE_H

#include "codec/tr_codec.h"

typedef struct tr_accumulator tr_accumulator;

#define TR_ACCUMULATE_DEFAULT_MAX (64 * 1024 * 1024)

tr_accumulator *tr_accumulator_create(apr_pool_t *p, apr_size_t max_total);
/* A tr_event_fn (baton = the accumulator). APR_ENOSPC once the answer exceeds max_total. */
apr_status_t tr_accumulate(void *acc, const tr_event *ev);

/* The answer passed max_total (tr_accumulate answered APR_ENOSPC for that reason). */
int tr_accumulator_overflowed(const tr_accumulator *acc);
/* MESSAGE_STOP was seen. */
int tr_accumulator_complete(const tr_accumulator *acc);
/* The ERROR event seen, or NULL. */
const aiproxy_error *tr_accumulator_error(const tr_accumulator *acc);
/* The answer so far (blocks still open included, tool arguments "{}" when empty). The
 * result's strings stay valid until the next tr_accumulate call that appends to them. */
const tr_response *tr_accumulator_response(tr_accumulator *acc);
/* The block with IR index index so far, or NULL. */
const tr_block *tr_accumulator_block(tr_accumulator *acc, int index);

#endif /* TR_ACCUMULATE_H */
