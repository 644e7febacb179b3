/*
 * pipeline/tr_dialect.h: the request rules of subscription backends (aiproxy_dialect).
 *
 * A dialect is a public protocol as one backend takes it: the Codex backend speaks Responses
 * but always streams, stores nothing and refuses some fields; Claude Code subscriptions
 * speak Anthropic Messages but expect their CLI's system prompt first. Each dialect is one
 * row of data (pipeline/tr_dialect.c): its protocol, whether it always streams, its endpoint,
 * and a list of body rules. The request pipeline applies the row after the codec built the
 * body, on translated and same-protocol requests alike, so every client protocol reaches the
 * backend in its shape. Credentials and identity headers are not request shaping of the core:
 * mod_aiproxy_oauth sets them.
 *
 * Every function takes a NULL dialect (AIPROXY_DIALECT_NONE) and then changes nothing.
 */
#ifndef TR_DIALECT_H
#define TR_DIALECT_H

#include "json/tr_jv.h"

typedef struct tr_dialect tr_dialect;

/* The rules of dialect, or NULL for AIPROXY_DIALECT_NONE and unknown values. */
const tr_dialect *tr_dialect_for(aiproxy_dialect dialect);

/* "codex", "claudecode", "geminicli", "antigravity" (NULL dialect: "none"). */
const char *tr_dialect_name(const tr_dialect *d);

/* *effective = *target as the dialect sends it (stream forced on for a backend that always
 * streams). Returns 0, or 500 when the dialect is not of the target's protocol, or 400 when
 * the client's endpoint variant (Responses /compact) has no counterpart at the backend. */
int tr_dialect_prepare(apr_pool_t *p, const tr_dialect *d, const aiproxy_target *target,
                       const char *variant, aiproxy_target *effective, aiproxy_error *err);

/* The dialect's rules write the body's stream flag themselves, so a same-protocol request
 * whose stream flag the dialect flips can stay a passthrough (no IR round trip). */
int tr_dialect_writes_stream(const tr_dialect *d);

/* Apply the body rules for target (its model chooses the per-model rules; project and request
 * id fill an envelope) to *body, a tree whose top level the caller owns (members may be shared
 * with the client's parsed body: rules replace them, never change them in place). A dialect
 * with an envelope replaces *body by it. Returns 0, or 400 with *err when the backend cannot
 * take what the client asked. */
int tr_dialect_shape_body(apr_pool_t *p, const tr_dialect *d, const aiproxy_target *target,
                          tr_jv **body, aiproxy_error *err);

/* Replace the codec's path and query where the dialect's endpoint differs. */
void tr_dialect_endpoint(apr_pool_t *p, const tr_dialect *d, const char **path, const char **query);

/* Whether a token count reaches the backend at the protocol's own count endpoint (a backend
 * behind an envelope has its own, which the gateway does not speak yet). */
int tr_dialect_counts_tokens(const tr_dialect *d);

/* The member the backend wraps every answer and stream event in ("response"), or NULL. */
const char *tr_dialect_answer_member(const tr_dialect *d);

#endif /* TR_DIALECT_H */
