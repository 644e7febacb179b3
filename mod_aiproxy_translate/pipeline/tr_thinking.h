/*
 * pipeline/tr_thinking.h: thinking turned on by the model name (the "-thinking" suffix,
 * aiproxy_target.thinking) at each target protocol's default, unless the request set it.
 *
 * The defaults are one row per target protocol (pipeline/tr_thinking.c): the IR settings
 * that make that protocol's encoder ask for thinking the way its API spells it (Anthropic
 * thinking.budget_tokens, OpenAI reasoning_effort, Responses reasoning.effort and summary,
 * Gemini thinkingConfig.thinkingBudget and includeThoughts).
 */
#ifndef TR_THINKING_H
#define TR_THINKING_H

#include "aiproxy_translate.h"
#include "tr_ir.h"
#include "json/tr_jv.h"

/* The default budget (tokens) where a protocol takes a budget, and the default effort
 * where it takes an effort word. */
#define TR_THINKING_DEFAULT_BUDGET 8192
#define TR_THINKING_DEFAULT_EFFORT "medium"

/* Did the request say anything about thinking (on, off, a budget, an effort, adaptive)? */
int tr_thinking_explicit(const tr_request *ir);

/* Turn thinking on in ir with target's default settings. */
void tr_thinking_apply_default(tr_request *ir, aiproxy_proto target);

/* For a request to its own protocol: body, the client's body (a copy of its top level), takes
 * the members that say how to think from encoded, the same request encoded with thinking on,
 * so everything else the client sent stays as it was. */
void tr_thinking_overlay(apr_pool_t *p, tr_jv *body, const tr_jv *encoded, aiproxy_proto proto);

#endif /* TR_THINKING_H */
