/*
 * tr_stop.h: stop reasons of the four protocols <-> the canonical tr_stop, as tables.
 *
 * Responses has no stop reason; its words here are the response outcome: "completed",
 * the incomplete_details.reason values ("max_output_tokens", "content_filter") and "failed".
 */
#ifndef TR_STOP_H
#define TR_STOP_H

#include "tr_ir.h"

/* The canonical reason for a protocol's word: TR_STOP_NONE for NULL, TR_STOP_OTHER for a word
 * the table does not know (kept in stop_raw by the caller). */
tr_stop tr_stop_from_word(aiproxy_proto proto, const char *word);
/* The protocol's word for a canonical reason (never NULL for a valid proto; reasons the
 * protocol lacks map to its nearest word). */
const char *tr_stop_to_word(aiproxy_proto proto, tr_stop stop);
/* The word the client of spec gets for stop: the upstream's own word raw when both sides speak
 * the same protocol (as passthrough gives it, so a Gemini RECITATION or an OpenAI-compatible
 * "eos" reads the same whether the answer was passed through, aggregated or replayed), else
 * tr_stop_to_word. Not for Responses clients: their words are the response status, which the
 * encoder derives from stop. */
const char *tr_stop_word_for(const aiproxy_response_spec *spec, tr_stop stop, const char *raw);
/* Gemini says STOP and some OpenAI-compatible servers say "stop" after calling functions:
 * a natural end after a tool call is a tool_use stop. */
tr_stop tr_stop_after_tool_calls(tr_stop stop, int saw_tool_call);
/* Responses: 1 when the reason makes the response "incomplete" (max tokens, filter). */
int tr_stop_is_incomplete(tr_stop stop);

#endif /* TR_STOP_H */
