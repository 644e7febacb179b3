/*
 * codec/anthropic_response.c: Anthropic Messages responses: complete message JSON <-> tr_response,
 * message stream events -> IR events (decoder), IR events -> named SSE events (encoder).
 *
 * The encoder emits what the API emits and what Claude Code needs: named "event:" lines,
 * message_start with content:[] and stop_reason:null, content_block_start/delta/stop with
 * text_delta, thinking_delta, signature_delta and input_json_delta, message_delta with the
 * stop reason and the full usage, message_stop.
 */
#include <string.h>
#include "apr_strings.h"
#include "json/tr_jv.h"
#include "codec/tr_protocols.h"
#include "codec/tr_fast_scan.h"
#include "codec/tr_response_util.h"
#include "tr_stop.h"
#include "tr_usage.h"

#define ANTHROPIC_MAX_OPEN 16 /* content blocks open at once in one upstream stream */

/* Content block type words <-> IR kinds. */
static const struct {
    const char *type;
    tr_block_kind kind;
} block_types[] = {
    {"text", TR_BLOCK_TEXT},
    {"thinking", TR_BLOCK_THINKING},
    {"redacted_thinking", TR_BLOCK_REDACTED_THINKING},
    {"tool_use", TR_BLOCK_TOOL_CALL},
    {"server_tool_use", TR_BLOCK_TOOL_CALL},
};

/* 1 and *kind when type is a block this gateway carries (others, e.g. web search results,
 * only make sense to an Anthropic client, which gets them on the passthrough path). */
static int block_kind_for(const char *type, tr_block_kind *kind)
{
    for (size_t i = 0; type && i < sizeof(block_types) / sizeof(block_types[0]); i++) {
        if (!strcmp(block_types[i].type, type)) {
            *kind = block_types[i].kind;
            return 1;
        }
    }
    return 0;
}

static const char *nonempty_str(const tr_jv *obj, const char *key)
{
    const char *s = tr_jv_get_str(obj, key);
    return s && *s ? s : NULL;
}

/* Anthropic checks tool_use ids against ^[a-zA-Z0-9_-]+$; other protocols' ids keep their
 * value with other bytes made '_' (the client echoes the id back, so both sides agree). */
static const char *anthropic_tool_id(apr_pool_t *p, const char *id)
{
    return id && *id ? tr_resp_safe_id(p, id) : tr_resp_prefixed_id(p, "toolu_", NULL);
}

/* ---- complete responses ---------------------------------------------------------------- */

static tr_block *decode_content_block(apr_pool_t *p, const tr_jv *item)
{
    tr_block_kind kind;
    tr_block *b;
    const char *signature;

    if (!block_kind_for(tr_jv_get_str(item, "type"), &kind))
        return NULL;
    b = apr_pcalloc(p, sizeof(*b));
    b->kind = kind;
    switch (kind) {
    case TR_BLOCK_TEXT:
        b->text = tr_jv_get_str(item, "text") ? tr_jv_get_str(item, "text") : "";
        break;
    case TR_BLOCK_THINKING:
        b->text = tr_jv_get_str(item, "thinking") ? tr_jv_get_str(item, "thinking") : "";
        if ((signature = nonempty_str(item, "signature"))) {
            b->signature = signature;
            b->sig_proto = AIPROXY_PROTO_ANTHROPIC;
            b->has_signature = 1;
        }
        break;
    case TR_BLOCK_REDACTED_THINKING:
        b->redacted_data = tr_jv_get_str(item, "data") ? tr_jv_get_str(item, "data") : "";
        break;
    default:
        b->id = tr_jv_get_str(item, "id");
        b->name = tr_jv_get_str(item, "name");
        b->arguments = tr_jv_is_object(tr_jv_get(item, "input"))
                           ? tr_jv_dump(p, tr_jv_get(item, "input"), NULL)
                           : "{}";
        break;
    }
    return b;
}

int tr_anthropic_response_decode(apr_pool_t *p, tr_jv *body, tr_response *out, aiproxy_error *err)
{
    tr_jv *content, *item;
    tr_usage raw = {0};
    size_t i;

    memset(out, 0, sizeof(*out));
    if (!tr_jv_is_object(body) || tr_jv_get(body, "error")) {
        tr_resp_error_from_json(p, tr_jv_get(body, "error"), err);
        return err->status;
    }
    out->id = tr_jv_get_str(body, "id");
    out->model = tr_jv_get_str(body, "model");
    out->blocks = apr_array_make(p, 4, sizeof(tr_block *));
    content = tr_jv_get_array(body, "content");
    tr_jv_array_foreach(content, i, item)
    {
        tr_block *b = decode_content_block(p, item);
        if (b)
            APR_ARRAY_PUSH(out->blocks, tr_block *) = b;
    }
    out->stop_raw = tr_jv_get_str(body, "stop_reason");
    out->stop = tr_stop_from_word(AIPROXY_PROTO_ANTHROPIC, out->stop_raw);
    out->stop_sequence = tr_jv_get_str(body, "stop_sequence");
    tr_usage_read_anthropic_raw(tr_jv_get_object(body, "usage"), &raw);
    out->usage = tr_usage_from_anthropic_raw(&raw);
    return 0;
}

/* The tool_use input object for arguments text; {} when the text is not a JSON object (an
 * answer cut by max_tokens mid-arguments). */
static tr_jv *arguments_object(apr_pool_t *p, const char *arguments)
{
    tr_jv *input = arguments ? tr_resp_parse(p, arguments, strlen(arguments)) : NULL;
    return tr_jv_is_object(input) ? input : tr_jv_object(p);
}

static tr_jv *encode_content_block(apr_pool_t *p, const tr_block *b)
{
    switch (b->kind) {
    case TR_BLOCK_TEXT:
        return tr_jv_pack(p, "{s:s, s:s}", "type", "text", "text", b->text ? b->text : "");
    case TR_BLOCK_THINKING:
        /* Only Anthropic can verify an Anthropic signature; others are dropped. */
        return tr_jv_pack(p, "{s:s, s:s, s:s}", "type", "thinking", "thinking",
                          b->text ? b->text : "", "signature",
                          b->has_signature && b->sig_proto == AIPROXY_PROTO_ANTHROPIC &&
                                  b->signature
                              ? b->signature
                              : "");
    case TR_BLOCK_REDACTED_THINKING:
        return tr_jv_pack(p, "{s:s, s:s}", "type", "redacted_thinking", "data",
                          b->redacted_data ? b->redacted_data : "");
    case TR_BLOCK_TOOL_CALL:
        return tr_jv_pack(p, "{s:s, s:s, s:s, s:o}", "type", "tool_use", "id",
                          anthropic_tool_id(p, b->id), "name", b->name ? b->name : "", "input",
                          arguments_object(p, b->arguments));
    default:
        return NULL;
    }
}

tr_jv *tr_anthropic_response_encode(apr_pool_t *p, const tr_response *resp,
                                    const aiproxy_response_spec *spec)
{
    tr_jv *content = tr_jv_array(p);

    for (int i = 0; resp->blocks && i < resp->blocks->nelts; i++) {
        tr_jv *block = encode_content_block(p, APR_ARRAY_IDX(resp->blocks, i, tr_block *));
        if (block)
            tr_jv_push(content, block);
    }
    return tr_jv_pack(p, "{s:s, s:s, s:s, s:s, s:o, s:s, s:s?, s:o}", "id",
                      tr_resp_prefixed_id(p, "msg_", resp->id), "type", "message", "role",
                      "assistant", "model", tr_resp_model(spec, resp->model), "content", content,
                      "stop_reason", tr_stop_word_for(spec, resp->stop, resp->stop_raw),
                      "stop_sequence",
                      resp->stop == TR_STOP_STOP_SEQUENCE ? resp->stop_sequence : NULL, "usage",
                      tr_usage_to_anthropic(p, &resp->usage));
}

/* ---- stream decoder ---------------------------------------------------------------------- */

typedef struct {
    long long upstream_index;
    int index;
    tr_block_kind kind;
    int got_arguments;
} anthropic_open_block;

struct tr_stream_decoder {
    tr_scratch *scratch; /* the pipeline's: one event's parse tree (tr_codec.h) */
    anthropic_open_block open[ANTHROPIC_MAX_OPEN];
    int nopen;
    int next_index;
    tr_usage raw_usage; /* Anthropic's own numbers, merged over the stream */
    int started;
};

tr_stream_decoder *tr_anthropic_stream_decoder_create(apr_pool_t *p, tr_scratch *scratch,
                                                      const aiproxy_response_spec *spec)
{
    tr_stream_decoder *d = apr_pcalloc(p, sizeof(*d));
    d->scratch = scratch;
    return d;
}

static tr_usage current_usage(const tr_stream_decoder *d)
{
    return tr_usage_from_anthropic_raw(&d->raw_usage);
}

static apr_status_t ensure_started(tr_stream_decoder *d, const tr_jv *message, const tr_emitter *e)
{
    tr_usage usage;

    if (d->started)
        return APR_SUCCESS;
    d->started = 1;
    tr_usage_read_anthropic_raw(tr_jv_get_object(message, "usage"), &d->raw_usage);
    usage = current_usage(d);
    return tr_emit_message_start(e, tr_jv_get_str(message, "id"), tr_jv_get_str(message, "model"),
                                 0, &usage);
}

static anthropic_open_block *find_open_index(tr_stream_decoder *d, long long up)
{
    for (int i = 0; i < d->nopen; i++) {
        if (d->open[i].upstream_index == up)
            return &d->open[i];
    }
    return NULL;
}

static anthropic_open_block *find_open(tr_stream_decoder *d, const tr_jv *ev)
{
    long long up;
    if (!tr_jv_get_int(ev, "index", &up))
        up = -1;
    return find_open_index(d, up);
}

static apr_status_t on_message_start(tr_stream_decoder *d, const tr_jv *ev, const tr_emitter *e)
{
    return ensure_started(d, tr_jv_get_object(ev, "message"), e);
}

/* The content a content_block_start may already carry (text, thinking, data, input). */
static apr_status_t emit_initial_content(const tr_emitter *e, anthropic_open_block *ob,
                                         const tr_jv *block, apr_pool_t *scratch)
{
    const char *s;
    tr_jv *input;
    apr_status_t rv = APR_SUCCESS;

    switch (ob->kind) {
    case TR_BLOCK_TEXT:
        if ((s = nonempty_str(block, "text")))
            rv = tr_emit_delta(e, ob->index, TR_DELTA_TEXT, s,
                               tr_jv_str_len(tr_jv_get(block, "text")));
        break;
    case TR_BLOCK_THINKING:
        if ((s = nonempty_str(block, "thinking")))
            rv = tr_emit_delta(e, ob->index, TR_DELTA_THINKING, s,
                               tr_jv_str_len(tr_jv_get(block, "thinking")));
        if (rv == APR_SUCCESS && (s = nonempty_str(block, "signature")))
            rv = tr_emit_signature(e, ob->index, s, AIPROXY_PROTO_ANTHROPIC);
        break;
    case TR_BLOCK_REDACTED_THINKING:
        s = tr_jv_get_str(block, "data");
        rv = tr_emit_delta(e, ob->index, TR_DELTA_REDACTED, s ? s : "", s ? strlen(s) : 0);
        break;
    default:
        input = tr_jv_get(block, "input");
        if (tr_jv_is_object(input) && tr_jv_size(input) > 0) {
            apr_size_t n = 0;
            const char *text = tr_jv_dump(scratch, input, &n);
            ob->got_arguments = 1;
            rv = tr_emit_delta(e, ob->index, TR_DELTA_ARGUMENTS, text, n);
        }
        break;
    }
    return rv;
}

static apr_status_t on_block_start(tr_stream_decoder *d, const tr_jv *ev, const tr_emitter *e)
{
    const tr_jv *block = tr_jv_get_object(ev, "content_block");
    anthropic_open_block *ob;
    tr_block_kind kind;
    apr_status_t rv;

    if (!block_kind_for(tr_jv_get_str(block, "type"), &kind) || d->nopen == ANTHROPIC_MAX_OPEN ||
        d->next_index >= TR_RESP_MAX_BLOCKS || find_open(d, ev))
        return APR_SUCCESS;
    if ((rv = ensure_started(d, NULL, e)) != APR_SUCCESS)
        return rv;
    ob = &d->open[d->nopen++];
    if (!tr_jv_get_int(ev, "index", &ob->upstream_index))
        ob->upstream_index = -1;
    ob->index = d->next_index++;
    ob->kind = kind;
    ob->got_arguments = 0;
    rv = tr_emit_block_start(e, ob->index, kind,
                             kind == TR_BLOCK_TOOL_CALL ? tr_jv_get_str(block, "id") : NULL,
                             kind == TR_BLOCK_TOOL_CALL ? tr_jv_get_str(block, "name") : NULL);
    if (rv != APR_SUCCESS)
        return rv;
    return emit_initial_content(e, ob, block, tr_scratch_pool(d->scratch));
}

/* Delta type words -> IR delta kind and the member holding the payload. */
static const struct {
    const char *type;
    tr_delta_kind kind;
    const char *member;
} delta_types[] = {
    {"text_delta", TR_DELTA_TEXT, "text"},
    {"thinking_delta", TR_DELTA_THINKING, "thinking"},
    {"signature_delta", TR_DELTA_SIGNATURE, "signature"},
    {"input_json_delta", TR_DELTA_ARGUMENTS, "partial_json"},
};

/* The delta_types entry for a delta type word, or -1 (citations_delta, future types). */
static int delta_type_for(const char *type)
{
    for (size_t i = 0; type && i < sizeof(delta_types) / sizeof(delta_types[0]); i++) {
        if (!strcmp(delta_types[i].type, type))
            return (int) i;
    }
    return -1;
}

/* One delta's payload (already known to be a string) into the open block ob; both the parsed-tree
 * path and the fast path end here, so they emit the same events. */
static apr_status_t emit_block_delta(anthropic_open_block *ob, int which, const char *text,
                                     apr_size_t len, const tr_emitter *e)
{
    if (len == 0)
        return APR_SUCCESS;
    if (delta_types[which].kind == TR_DELTA_SIGNATURE)
        return tr_emit_signature(e, ob->index, text, AIPROXY_PROTO_ANTHROPIC);
    if (delta_types[which].kind == TR_DELTA_ARGUMENTS)
        ob->got_arguments = 1;
    return tr_emit_delta(e, ob->index, delta_types[which].kind, text, len);
}

static apr_status_t on_block_delta(tr_stream_decoder *d, const tr_jv *ev, const tr_emitter *e)
{
    anthropic_open_block *ob = find_open(d, ev);
    const tr_jv *delta = tr_jv_get_object(ev, "delta");
    int which = delta_type_for(tr_jv_get_str(delta, "type"));
    tr_jv *payload;

    if (!ob || which < 0)
        return APR_SUCCESS;
    payload = tr_jv_get(delta, delta_types[which].member);
    if (!tr_jv_is_string(payload))
        return APR_SUCCESS;
    return emit_block_delta(ob, which, tr_jv_str_value(payload), tr_jv_str_len(payload), e);
}

/* ---- fast path: content_block_delta without a parse tree (see codec/tr_fast_scan.h) ---- */

enum {
    FAST_TYPE,
    FAST_INDEX,
    FAST_DELTA,
    FAST_DELTA_TYPE,
    FAST_TEXT,
    FAST_THINKING,
    FAST_PARTIAL_JSON,
    FAST_SIGNATURE,
    FAST_SLOTS
};

/* The payload members, in the order of delta_types: the slot of delta_types[i].member. */
static const int fast_payload_slot[] = {FAST_TEXT, FAST_THINKING, FAST_SIGNATURE,
                                        FAST_PARTIAL_JSON};

static const tr_fast_member fast_delta_members[] = {
    {"type", TR_FAST_STRING, FAST_DELTA_TYPE, NULL},
    {"text", TR_FAST_STRING, FAST_TEXT, NULL},
    {"thinking", TR_FAST_STRING, FAST_THINKING, NULL},
    {"partial_json", TR_FAST_STRING, FAST_PARTIAL_JSON, NULL},
    {"signature", TR_FAST_STRING, FAST_SIGNATURE, NULL},
};
static const tr_fast_shape fast_delta_shape = TR_FAST_SHAPE(fast_delta_members);

static const tr_fast_member fast_event_members[] = {
    {"type", TR_FAST_STRING, FAST_TYPE, NULL},
    {"index", TR_FAST_INT, FAST_INDEX, NULL},
    {"delta", TR_FAST_OBJECT, FAST_DELTA, &fast_delta_shape},
};
static const tr_fast_shape fast_event_shape = TR_FAST_SHAPE(fast_event_members);

/* 1 when data was a content_block_delta of a known delta type carrying exactly its own payload
 * member and *rv holds the result; 0 to take the parsed-tree path. */
static int fast_block_delta(tr_stream_decoder *d, const char *data, apr_size_t len,
                            const tr_emitter *e, apr_status_t *rv)
{
    tr_fast_value v[FAST_SLOTS] = {{0}};
    anthropic_open_block *ob;
    int which, payloads = 0;

    if (!tr_fast_enabled() ||
        !tr_fast_scan(tr_scratch_pool(d->scratch), data, len, &fast_event_shape, v) ||
        !v[FAST_TYPE].present || strcmp(v[FAST_TYPE].str, "content_block_delta") ||
        !v[FAST_INDEX].present || (which = delta_type_for(v[FAST_DELTA_TYPE].str)) < 0)
        return 0;
    for (size_t i = 0; i < sizeof(fast_payload_slot) / sizeof(fast_payload_slot[0]); i++)
        payloads += v[fast_payload_slot[i]].present;
    if (payloads != 1 || !v[fast_payload_slot[which]].present)
        return 0;
    ob = find_open_index(d, v[FAST_INDEX].num);
    *rv = ob ? emit_block_delta(ob, which, v[fast_payload_slot[which]].str,
                                v[fast_payload_slot[which]].len, e)
             : APR_SUCCESS;
    tr_fast_note_taken();
    return 1;
}

static apr_status_t close_block(tr_stream_decoder *d, anthropic_open_block *ob, const tr_emitter *e)
{
    anthropic_open_block closing = *ob;
    apr_status_t rv = APR_SUCCESS;

    *ob = d->open[--d->nopen];
    if (closing.kind == TR_BLOCK_TOOL_CALL && !closing.got_arguments)
        rv = tr_emit_delta(e, closing.index, TR_DELTA_ARGUMENTS, "{}", 2);
    if (rv == APR_SUCCESS)
        rv = tr_emit_block_stop(e, closing.index, closing.kind);
    return rv;
}

static apr_status_t on_block_stop(tr_stream_decoder *d, const tr_jv *ev, const tr_emitter *e)
{
    anthropic_open_block *ob = find_open(d, ev);
    return ob ? close_block(d, ob, e) : APR_SUCCESS;
}

static apr_status_t on_message_delta(tr_stream_decoder *d, const tr_jv *ev, const tr_emitter *e)
{
    const tr_jv *delta = tr_jv_get_object(ev, "delta");
    tr_event out = {.kind = TR_EV_MESSAGE_DELTA};
    apr_status_t rv;

    if ((rv = ensure_started(d, NULL, e)) != APR_SUCCESS)
        return rv;
    while (d->nopen) {
        if ((rv = close_block(d, &d->open[d->nopen - 1], e)) != APR_SUCCESS)
            return rv;
    }
    tr_usage_read_anthropic_raw(tr_jv_get_object(ev, "usage"), &d->raw_usage);
    out.stop_raw = tr_jv_get_str(delta, "stop_reason");
    out.stop = tr_stop_from_word(AIPROXY_PROTO_ANTHROPIC, out.stop_raw);
    out.stop_sequence = tr_jv_get_str(delta, "stop_sequence");
    out.usage = current_usage(d);
    return e->fn(e->baton, &out);
}

static apr_status_t on_message_stop(tr_stream_decoder *d, const tr_jv *ev, const tr_emitter *e)
{
    tr_event out = {.kind = TR_EV_MESSAGE_STOP};
    apr_status_t rv = ensure_started(d, NULL, e);
    return rv == APR_SUCCESS ? e->fn(e->baton, &out) : rv;
}

static apr_status_t on_ping(tr_stream_decoder *d, const tr_jv *ev, const tr_emitter *e)
{
    tr_event out = {.kind = TR_EV_PING};
    return e->fn(e->baton, &out);
}

static apr_status_t on_error(tr_stream_decoder *d, const tr_jv *ev, const tr_emitter *e)
{
    aiproxy_error err;
    tr_resp_error_from_json(tr_scratch_pool(d->scratch), tr_jv_get(ev, "error"), &err);
    return tr_emit_error(e, &err);
}

static const tr_named_event stream_events[] = {
    {"message_start", on_message_start},
    {"content_block_start", on_block_start},
    {"content_block_delta", on_block_delta},
    {"content_block_stop", on_block_stop},
    {"message_delta", on_message_delta},
    {"message_stop", on_message_stop},
    {"ping", on_ping},
    {"error", on_error},
};

apr_status_t tr_anthropic_stream_decode(tr_stream_decoder *d, const char *event, const char *data,
                                        apr_size_t len, tr_event_fn emit, void *baton)
{
    tr_emitter e = {emit, baton};
    tr_jv *root;
    apr_status_t rv = APR_SUCCESS;

    if (!data)
        return APR_SUCCESS; /* end of body: Anthropic streams end explicitly (message_stop) */
    if (fast_block_delta(d, data, len, &e, &rv))
        return rv;
    rv = tr_resp_parse_event(tr_scratch_pool(d->scratch), data, len, &root);
    if (rv == APR_SUCCESS)
        rv = tr_named_event_dispatch(
            stream_events, sizeof(stream_events) / sizeof(stream_events[0]), d, root, event, &e);
    return rv;
}

/* ---- stream encoder handlers (driven by pipeline/tr_stream_encoder.c) ---------------------- */

typedef struct {
    signed char kind; /* tr_block_kind, or -1 for an index never started */
    char open;
    char pending_redacted; /* redacted_thinking starts with its data: wait for the delta */
} anthropic_client_block;

/* The encoder's own state (enc->state). */
typedef struct {
    apr_array_header_t *blocks; /* anthropic_client_block by IR index */
} anthropic_stream_state;

static void init_stream(tr_stream_encoder *enc)
{
    anthropic_stream_state *st = enc->state;
    st->blocks = apr_array_make(enc->pool, 8, sizeof(anthropic_client_block));
}

static anthropic_client_block *client_block(tr_stream_encoder *enc, int index, int create)
{
    apr_array_header_t *blocks = ((anthropic_stream_state *) enc->state)->blocks;

    if (index < 0 || index >= TR_RESP_MAX_BLOCKS)
        return NULL;
    while (create && blocks->nelts <= index) {
        anthropic_client_block *b = apr_array_push(blocks);
        b->kind = -1;
        b->open = b->pending_redacted = 0;
    }
    return index < blocks->nelts ? &APR_ARRAY_IDX(blocks, index, anthropic_client_block) : NULL;
}

static void write_message_start(tr_stream_encoder *enc, const tr_event *ev)
{
    apr_pool_t *scratch = tr_scratch_pool(enc->scratch);
    tr_jv *msg;

    msg = tr_jv_pack(scratch, "{s:s, s:{s:s, s:s, s:s, s:s, s:[], s:n, s:n, s:o}}", "type",
                     "message_start", "message", "id",
                     tr_resp_prefixed_id(scratch, "msg_", ev ? ev->id : NULL), "type", "message",
                     "role", "assistant", "model", tr_resp_model(&enc->spec, ev ? ev->model : NULL),
                     "content", "stop_reason", "stop_sequence", "usage",
                     tr_usage_to_anthropic(scratch, &enc->usage));
    tr_resp_sse_json(&enc->out, "message_start", msg);
}

/* Event prefix shared by the content block events: event line, type and index. */
static void begin_block_event(tr_buf *out, const char *name, int index)
{
    tr_buf_adds(out, "event: ");
    tr_buf_adds(out, name);
    tr_buf_adds(out, "\ndata: {\"type\":\"");
    tr_buf_adds(out, name);
    tr_buf_adds(out, "\",\"index\":");
    tr_buf_json_int(out, index);
}

static void write_block_start(tr_stream_encoder *enc, const tr_event *ev, const char *redacted,
                              apr_size_t redacted_len)
{
    tr_buf *out = &enc->out;

    begin_block_event(out, "content_block_start", ev->index);
    switch (ev->block_kind) {
    case TR_BLOCK_TEXT:
        tr_buf_adds(out, ",\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
        break;
    case TR_BLOCK_THINKING:
        tr_buf_adds(out, ",\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\","
                         "\"signature\":\"\"}}\n\n");
        break;
    case TR_BLOCK_REDACTED_THINKING:
        tr_buf_adds(out, ",\"content_block\":{\"type\":\"redacted_thinking\",\"data\":");
        tr_buf_json_string(out, redacted, redacted_len);
        tr_buf_adds(out, "}}\n\n");
        break;
    default:
        tr_buf_adds(out, ",\"content_block\":{\"type\":\"tool_use\",\"id\":");
        tr_buf_json_cstring(out, anthropic_tool_id(tr_scratch_pool(enc->scratch), ev->id));
        tr_buf_adds(out, ",\"name\":");
        tr_buf_json_cstring(out, ev->name ? ev->name : "");
        tr_buf_adds(out, ",\"input\":{}}}\n\n");
        break;
    }
}

static void on_client_block_start(tr_stream_encoder *enc, const tr_event *ev)
{
    anthropic_client_block *b = client_block(enc, ev->index, 1);

    if (!b || b->kind != -1)
        return;
    b->kind = (signed char) ev->block_kind;
    b->open = 1;
    if (ev->block_kind == TR_BLOCK_REDACTED_THINKING)
        b->pending_redacted = 1;
    else
        write_block_start(enc, ev, NULL, 0);
}

/* IR delta kind -> Anthropic delta type and payload member. */
static const struct {
    const char *type;
    const char *member;
} client_delta_words[] = {
    [TR_DELTA_TEXT] = {"text_delta", "text"},
    [TR_DELTA_THINKING] = {"thinking_delta", "thinking"},
    [TR_DELTA_SIGNATURE] = {"signature_delta", "signature"},
    [TR_DELTA_ARGUMENTS] = {"input_json_delta", "partial_json"},
    [TR_DELTA_REDACTED] = {NULL, NULL},
};

static void on_client_delta(tr_stream_encoder *enc, const tr_event *ev)
{
    anthropic_client_block *b = client_block(enc, ev->index, 0);
    tr_buf *out = &enc->out;

    if (!b || !b->open || (unsigned) ev->delta_kind > TR_DELTA_REDACTED)
        return;
    if (ev->delta_kind == TR_DELTA_REDACTED) {
        if (b->pending_redacted) {
            tr_event start = *ev;
            start.block_kind = TR_BLOCK_REDACTED_THINKING;
            write_block_start(enc, &start, ev->text ? ev->text : "", ev->text ? ev->len : 0);
            b->pending_redacted = 0;
        }
        return;
    }
    /* Signatures only where Anthropic can verify them: its own, on thinking blocks. */
    if (ev->delta_kind == TR_DELTA_SIGNATURE &&
        (ev->sig_proto != AIPROXY_PROTO_ANTHROPIC || b->kind != TR_BLOCK_THINKING))
        return;
    begin_block_event(out, "content_block_delta", ev->index);
    tr_buf_adds(out, ",\"delta\":{\"type\":\"");
    tr_buf_adds(out, client_delta_words[ev->delta_kind].type);
    tr_buf_adds(out, "\",\"");
    tr_buf_adds(out, client_delta_words[ev->delta_kind].member);
    tr_buf_adds(out, "\":");
    tr_buf_json_string(out, ev->text ? ev->text : "", ev->text ? ev->len : 0);
    tr_buf_adds(out, "}}\n\n");
}

static void close_client_block(tr_stream_encoder *enc, int index)
{
    anthropic_client_block *b = client_block(enc, index, 0);
    tr_event start = {.index = index, .block_kind = TR_BLOCK_REDACTED_THINKING};

    if (!b || !b->open)
        return;
    if (b->pending_redacted)
        write_block_start(enc, &start, "", 0);
    b->open = b->pending_redacted = 0;
    begin_block_event(&enc->out, "content_block_stop", index);
    tr_buf_adds(&enc->out, "}\n\n");
}

static void on_client_block_stop(tr_stream_encoder *enc, const tr_event *ev)
{
    close_client_block(enc, ev->index);
}

static void close_all_blocks(tr_stream_encoder *enc)
{
    int n = ((anthropic_stream_state *) enc->state)->blocks->nelts;

    for (int i = 0; i < n; i++)
        close_client_block(enc, i);
}

static void write_message_delta(tr_stream_encoder *enc, const tr_event *ev)
{
    apr_pool_t *scratch = tr_scratch_pool(enc->scratch);
    tr_jv *msg;

    close_all_blocks(enc);
    msg = tr_jv_pack(scratch, "{s:s, s:{s:s, s:s?}, s:o}", "type", "message_delta", "delta",
                     "stop_reason", tr_stop_word_for(&enc->spec, ev->stop, ev->stop_raw),
                     "stop_sequence", ev->stop == TR_STOP_STOP_SEQUENCE ? ev->stop_sequence : NULL,
                     "usage", tr_usage_to_anthropic(scratch, &enc->usage));
    if (!tr_jv_get(tr_jv_get(msg, "delta"), "stop_sequence"))
        tr_jv_set(tr_jv_get(msg, "delta"), "stop_sequence", tr_jv_null());
    tr_resp_sse_json(&enc->out, "message_delta", msg);
}

static void write_message_stop(tr_stream_encoder *enc, const tr_event *ev)
{
    close_all_blocks(enc);
    tr_buf_adds(&enc->out, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
}

static void write_ping(tr_stream_encoder *enc, const tr_event *ev)
{
    tr_buf_adds(&enc->out, "event: ping\ndata: {\"type\":\"ping\"}\n\n");
}

static void write_error(tr_stream_encoder *enc, const tr_event *ev)
{
    tr_resp_sse_json(&enc->out, "error",
                     tr_anthropic_codec.error_encode(tr_scratch_pool(enc->scratch), &ev->error));
}

const tr_stream_encoding tr_anthropic_stream_encoding = {
    .state_size = sizeof(anthropic_stream_state),
    .init = init_stream,
    .start = write_message_start,
    .on =
        {
            [TR_EV_BLOCK_START] = on_client_block_start,
            [TR_EV_BLOCK_DELTA] = on_client_delta,
            [TR_EV_BLOCK_STOP] = on_client_block_stop,
            [TR_EV_MESSAGE_DELTA] = write_message_delta,
            [TR_EV_MESSAGE_STOP] = write_message_stop,
            [TR_EV_PING] = write_ping,
            [TR_EV_ERROR] = write_error,
        },
};
