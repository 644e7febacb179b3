/*
 * codec/tr_response_util.h: what the four response codecs (codec/X_response.c) share: emitting
 * IR events, ids, the reported model, SSE framing, and upstream error objects -> aiproxy_error.
 */
#ifndef TR_RESPONSE_UTIL_H
#define TR_RESPONSE_UTIL_H

#include "codec/tr_codec.h"
#include "json/tr_buf.h"

/* Open blocks and tool calls one stream may hold; past that, new ones are ignored (real
 * answers use a handful; the cap keeps hostile streams bounded). */
#define TR_RESP_MAX_BLOCKS 4096

/* ---- emitting IR events from a decoder ---- */

typedef struct {
    tr_event_fn fn;
    void *baton;
} tr_emitter;

/* ---- decoding streams of named events (Anthropic, Responses) ---- */

/* One named stream event ("message_start", "response.completed") and its decoder. */
typedef struct {
    const char *type;
    apr_status_t (*handle)(tr_stream_decoder *d, const tr_jv *ev, const tr_emitter *e);
} tr_named_event;

/* Hand root to the handler in table (n entries) for its "type", else for the SSE event name;
 * a body that is no JSON object, or names no listed event, is skipped (APR_SUCCESS). */
apr_status_t tr_named_event_dispatch(const tr_named_event *table, size_t n, tr_stream_decoder *d,
                                     const tr_jv *root, const char *event, const tr_emitter *e);

apr_status_t tr_emit_block_start(const tr_emitter *e, int index, tr_block_kind kind, const char *id,
                                 const char *name);
apr_status_t tr_emit_delta(const tr_emitter *e, int index, tr_delta_kind kind, const char *text,
                           apr_size_t len);
apr_status_t tr_emit_signature(const tr_emitter *e, int index, const char *signature,
                               aiproxy_proto sig_proto);
apr_status_t tr_emit_block_stop(const tr_emitter *e, int index, tr_block_kind kind);
apr_status_t tr_emit_message_start(const tr_emitter *e, const char *id, const char *model,
                                   long long created, const tr_usage *usage);
/* MESSAGE_DELTA then MESSAGE_STOP. */
apr_status_t tr_emit_message_end(const tr_emitter *e, tr_stop stop, const char *stop_raw,
                                 const char *stop_sequence, const tr_usage *usage);
apr_status_t tr_emit_error(const tr_emitter *e, const aiproxy_error *err);

/* An upstream error object (any protocol's "error" member, or a string) -> *err, with an
 * HTTP status guessed from its type/status/code words (500 when nothing says). */
void tr_resp_error_from_json(apr_pool_t *p, const tr_jv *error, aiproxy_error *err);

/* Parse JSON into scratch (NULL when it is not JSON: tool arguments, kept as text then). */
tr_jv *tr_resp_parse(apr_pool_t *scratch, const char *data, apr_size_t len);
/* Parse one stream event's data into scratch: *root, or NULL for blank data (nothing to
 * decode); TR_STATUS_BAD_EVENT for data that is not JSON. */
apr_status_t tr_resp_parse_event(apr_pool_t *scratch, const char *data, apr_size_t len,
                                 tr_jv **root);

/* ---- ids, model, time ---- */

/* Only [A-Za-z0-9_-] (Anthropic validates tool_use ids with that pattern). */
const char *tr_resp_safe_id(apr_pool_t *p, const char *id);
/* prefix + upstream id (sanitized) unless it already starts with prefix; a random id when
 * the upstream gave none. */
const char *tr_resp_prefixed_id(apr_pool_t *p, const char *prefix, const char *upstream_id);
/* 24 random hex digits. */
const char *tr_resp_random_hex(apr_pool_t *p);
/* The model name reported to the client: the one it asked for, else the upstream's. */
const char *tr_resp_model(const aiproxy_response_spec *spec, const char *upstream_model);
long long tr_resp_now(void);

/* ---- output ---- */

/* "event: name\ndata: json\n\n" (no event line when name is NULL). */
int tr_resp_sse(tr_buf *out, const char *name, const char *json, apr_size_t len);
/* The same with a value, written straight into out. */
int tr_resp_sse_json(tr_buf *out, const char *name, const tr_jv *value);

#endif /* TR_RESPONSE_UTIL_H */
