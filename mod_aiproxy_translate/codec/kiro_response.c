/*
 * codec/kiro_response.c: Kiro's answer, the events of its AWS event stream, into IR stream
 * events (research/oauth.md §5 "Response" and "Errors").
 *
 * The pipeline frames the stream (pipeline/tr_eventstream.c) and hands each frame here by
 * name: an event frame by its :event-type, an exception or error frame as
 * "exception:<type>" / "error:<code>", the payload as data.
 *
 *   assistantResponseEvent {"content"}             text
 *   reasoningContentEvent {"text"}                 thinking
 *   toolUseEvent {"toolUseId", "name", "input", "stop"}
 *                                                  a tool call: input fragments (strings, or
 *                                                  an object) joined until stop
 *   inputTokens / outputTokens at the top, or under usage / tokenUsage, in any event: usage
 *   exception and error frames, or a payload whose "_type" names an exception: the error
 *   anything else (meteringEvent, contextUsageEvent, followupPromptEvent ...): ignored
 *
 * Kiro wraps some payloads once more under their event name ({"assistantResponseEvent":
 * {...}}). The stream has no end event: the end of the body ends the answer, with stop reason
 * tool_use when a tool was called, else end_turn.
 *
 * Kiro sometimes writes a call into the text instead ("[Called name with args: {...}]"):
 * when the request offered tools, the text goes through a scanner (codec/kiro_text_calls.h)
 * that holds back only what may be such a call and turns a whole one, naming an offered
 * tool, into a tool call like a toolUseEvent's (an id made up in Kiro's "tooluse_" form).
 * What it holds goes on before any other content, and before an error.
 */
#include <string.h>
#include "apr_hash.h"
#include "apr_strings.h"
#include "tr_error.h"
#include "codec/tr_protocols.h"
#include "codec/tr_response_util.h"
#include "codec/kiro_text_calls.h"

/* One tool call, by its toolUseId. */
typedef struct {
    int index;
    int has_input; /* an arguments fragment went out */
    int stopped;
} kiro_tool;

struct tr_stream_decoder {
    apr_pool_t *pool;
    tr_scratch *scratch; /* the pipeline's: one event's parse tree (tr_codec.h) */
    int started, ended;
    int next_index;
    int text_index, thinking_index; /* open text / thinking block, or -1 */
    apr_hash_t *tools;              /* toolUseId -> kiro_tool */
    apr_array_header_t *order;      /* kiro_tool *, in the order the calls started */
    int tool_calls;
    tr_usage usage;
    tr_text_calls *text_calls; /* calls written into the text; NULL when no tool was offered */
};

/* AWS exception names -> the HTTP status the client is told. */
static const struct {
    const char *name;
    int status;
} exception_statuses[] = {
    {"ThrottlingException", 429},       {"ServiceQuotaExceededException", 429},
    {"ValidationException", 400},       {"AccessDeniedException", 403},
    {"ResourceNotFoundException", 404}, {"ConflictException", 409},
    {"InternalServerException", 500},   {"ServiceUnavailableException", 503},
};

tr_stream_decoder *tr_kiro_stream_decoder_create(apr_pool_t *p, tr_scratch *scratch,
                                                 const aiproxy_response_spec *spec)
{
    tr_stream_decoder *d = apr_pcalloc(p, sizeof(*d));

    d->pool = p;
    d->scratch = scratch;
    d->text_index = d->thinking_index = -1;
    d->tools = apr_hash_make(p);
    d->order = apr_array_make(p, 4, sizeof(kiro_tool *));
    d->text_calls =
        tr_text_calls_create(p, spec ? spec->tool_names : NULL, TR_TEXT_CALLS_DEFAULT_MAX);
    return d;
}

int tr_kiro_response_decode(apr_pool_t *p, tr_jv *body, tr_response *out, aiproxy_error *err)
{
    /* Kiro answers only as an event stream; a JSON body is an error envelope. */
    const char *msg = tr_jv_get_str(body, "message");
    tr_error_set(err, 502,
                 msg ? apr_pstrdup(p, msg) : "the kiro upstream answered no event stream");
    return 502;
}

static apr_status_t start(tr_stream_decoder *d, const tr_emitter *e)
{
    if (d->started)
        return APR_SUCCESS;
    d->started = 1;
    return tr_emit_message_start(e, NULL, NULL, 0, &d->usage);
}

static apr_status_t close_block(const tr_emitter *e, int *index, tr_block_kind kind)
{
    int open = *index;

    if (open < 0)
        return APR_SUCCESS;
    *index = -1;
    return tr_emit_block_stop(e, open, kind);
}

/* Text and thinking alternate as blocks: opening one closes the other. */
static apr_status_t emit_text(tr_stream_decoder *d, const tr_emitter *e, tr_block_kind kind,
                              const char *text, apr_size_t len)
{
    int *own = kind == TR_BLOCK_TEXT ? &d->text_index : &d->thinking_index;
    int *other = kind == TR_BLOCK_TEXT ? &d->thinking_index : &d->text_index;
    apr_status_t rv;

    if ((rv = start(d, e)) != APR_SUCCESS ||
        (rv = close_block(e, other, kind == TR_BLOCK_TEXT ? TR_BLOCK_THINKING : TR_BLOCK_TEXT)))
        return rv;
    if (*own < 0) {
        if (d->next_index >= TR_RESP_MAX_BLOCKS)
            return APR_SUCCESS;
        *own = d->next_index++;
        if ((rv = tr_emit_block_start(e, *own, kind, NULL, NULL)) != APR_SUCCESS)
            return rv;
    }
    return tr_emit_delta(e, *own, kind == TR_BLOCK_TEXT ? TR_DELTA_TEXT : TR_DELTA_THINKING, text,
                         len);
}

/* ---- calls written into the text ---- */

typedef struct {
    tr_stream_decoder *d;
    const tr_emitter *e;
} text_calls_baton;

static apr_status_t text_calls_text(void *baton, const char *text, apr_size_t len)
{
    text_calls_baton *b = baton;
    return emit_text(b->d, b->e, TR_BLOCK_TEXT, text, len);
}

/* A whole call: one tool-call block, started, given its arguments and stopped at once. */
static apr_status_t text_calls_call(void *baton, const char *name, const char *args, apr_size_t len)
{
    text_calls_baton *b = baton;
    tr_stream_decoder *d = b->d;
    int index;
    apr_status_t rv;

    if ((rv = start(d, b->e)) || (rv = close_block(b->e, &d->text_index, TR_BLOCK_TEXT)) ||
        (rv = close_block(b->e, &d->thinking_index, TR_BLOCK_THINKING)))
        return rv;
    if (d->next_index >= TR_RESP_MAX_BLOCKS)
        return APR_SUCCESS;
    index = d->next_index++;
    d->tool_calls++;
    if ((rv = tr_emit_block_start(
             b->e, index, TR_BLOCK_TOOL_CALL,
             tr_resp_prefixed_id(tr_scratch_pool(d->scratch), "tooluse_", NULL), name)) ||
        (rv = tr_emit_delta(b->e, index, TR_DELTA_ARGUMENTS, args, len)))
        return rv;
    return tr_emit_block_stop(b->e, index, TR_BLOCK_TOOL_CALL);
}

/* Text the scanner holds goes on (as text) before anything else is emitted. */
static apr_status_t flush_text_calls(tr_stream_decoder *d, const tr_emitter *e)
{
    text_calls_baton b = {d, e};
    tr_text_calls_sink sink = {text_calls_text, text_calls_call, &b};

    return d->text_calls ? tr_text_calls_finish(d->text_calls, &sink) : APR_SUCCESS;
}

static apr_status_t add_text(tr_stream_decoder *d, const tr_emitter *e, tr_block_kind kind,
                             const tr_jv *text)
{
    text_calls_baton b = {d, e};
    tr_text_calls_sink sink = {text_calls_text, text_calls_call, &b};
    apr_status_t rv;

    if (!tr_jv_is_string(text) || tr_jv_str_len(text) == 0)
        return APR_SUCCESS;
    if (kind == TR_BLOCK_TEXT && d->text_calls)
        return tr_text_calls_feed(d->text_calls, tr_jv_str_value(text), tr_jv_str_len(text), &sink);
    if ((rv = flush_text_calls(d, e)) != APR_SUCCESS)
        return rv;
    return emit_text(d, e, kind, tr_jv_str_value(text), tr_jv_str_len(text));
}

static apr_status_t stop_tool(const tr_emitter *e, kiro_tool *tool)
{
    apr_status_t rv;

    if (tool->stopped)
        return APR_SUCCESS;
    tool->stopped = 1;
    if (!tool->has_input && (rv = tr_emit_delta(e, tool->index, TR_DELTA_ARGUMENTS, "{}", 2)))
        return rv;
    return tr_emit_block_stop(e, tool->index, TR_BLOCK_TOOL_CALL);
}

static apr_status_t tool_use(tr_stream_decoder *d, const tr_emitter *e, const tr_jv *ev)
{
    apr_pool_t *scratch = tr_scratch_pool(d->scratch);
    const char *id = tr_jv_get_str(ev, "toolUseId");
    const tr_jv *input = tr_jv_get(ev, "input");
    kiro_tool *tool;
    apr_status_t rv = APR_SUCCESS;

    if (!id || (rv = flush_text_calls(d, e)) || (rv = start(d, e)) ||
        (rv = close_block(e, &d->text_index, TR_BLOCK_TEXT)) ||
        (rv = close_block(e, &d->thinking_index, TR_BLOCK_THINKING)))
        return id ? rv : APR_SUCCESS;
    tool = apr_hash_get(d->tools, id, APR_HASH_KEY_STRING);
    if (!tool) {
        const char *name = tr_jv_get_str(ev, "name");
        if (d->next_index >= TR_RESP_MAX_BLOCKS)
            return APR_SUCCESS;
        tool = apr_pcalloc(d->pool, sizeof(*tool));
        tool->index = d->next_index++;
        apr_hash_set(d->tools, apr_pstrdup(d->pool, id), APR_HASH_KEY_STRING, tool);
        APR_ARRAY_PUSH(d->order, kiro_tool *) = tool;
        d->tool_calls++;
        if ((rv = tr_emit_block_start(e, tool->index, TR_BLOCK_TOOL_CALL,
                                      tr_resp_safe_id(scratch, id), name ? name : "")))
            return rv;
    }
    if (tool->stopped)
        return APR_SUCCESS; /* fragments after stop belong to no call */
    if (tr_jv_is_string(input) && tr_jv_str_len(input)) {
        tool->has_input = 1;
        rv = tr_emit_delta(e, tool->index, TR_DELTA_ARGUMENTS, tr_jv_str_value(input),
                           tr_jv_str_len(input));
    } else if (tr_jv_is_object(input)) {
        apr_size_t n;
        const char *text = tr_jv_dump(scratch, input, &n);
        tool->has_input = 1;
        rv = tr_emit_delta(e, tool->index, TR_DELTA_ARGUMENTS, text, n);
    }
    if (rv == APR_SUCCESS && tr_jv_get_bool(ev, "stop", 0))
        rv = stop_tool(e, tool);
    return rv;
}

/* inputTokens / outputTokens where the event keeps them. */
static void read_usage(tr_stream_decoder *d, const tr_jv *ev)
{
    static const char *const holders[] = {NULL, "usage", "tokenUsage"};

    for (size_t i = 0; i < sizeof(holders) / sizeof(holders[0]); i++) {
        const tr_jv *at = holders[i] ? tr_jv_get_object(ev, holders[i]) : ev;
        long long n;
        if (tr_jv_get_int(at, "inputTokens", &n) || tr_jv_get_int(at, "totalInputTokens", &n)) {
            d->usage.input = n;
            d->usage.has_input = 1;
        }
        if (tr_jv_get_int(at, "outputTokens", &n)) {
            d->usage.output = n;
            d->usage.has_output = 1;
        }
    }
}

/* An exception named type (the frame's, or the payload's "_type" after its '#') with the
 * payload's message: the stream's end. */
static apr_status_t exception(tr_stream_decoder *d, const tr_emitter *e, const char *type,
                              const tr_jv *payload)
{
    const char *msg = tr_jv_get_str(payload, "message");
    const char *hash = type ? strrchr(type, '#') : NULL;
    aiproxy_error err;
    int status = 502;
    apr_status_t rv;

    if (hash)
        type = hash + 1;
    for (size_t i = 0; type && i < sizeof(exception_statuses) / sizeof(exception_statuses[0]);
         i++) {
        if (!strcmp(type, exception_statuses[i].name))
            status = exception_statuses[i].status;
    }
    if (!msg)
        msg = tr_jv_get_str(payload, "Message");
    if ((rv = flush_text_calls(d, e)) != APR_SUCCESS)
        return rv;
    tr_error_set(&err, status,
                 apr_psprintf(tr_scratch_pool(d->scratch), "the kiro upstream reported %s%s%s",
                              type && *type ? type : "an error", msg ? ": " : "", msg ? msg : ""));
    d->ended = 1;
    return tr_emit_error(e, &err);
}

/* The end of the body: every open block closed, then the stop reason. */
static apr_status_t finish(tr_stream_decoder *d, const tr_emitter *e)
{
    apr_status_t rv;

    if ((rv = flush_text_calls(d, e)) || (rv = start(d, e)) ||
        (rv = close_block(e, &d->text_index, TR_BLOCK_TEXT)) ||
        (rv = close_block(e, &d->thinking_index, TR_BLOCK_THINKING)))
        return rv;
    /* Calls whose stop never came end here, in the order they started. */
    for (int i = 0; i < d->order->nelts; i++) {
        if ((rv = stop_tool(e, APR_ARRAY_IDX(d->order, i, kiro_tool *))) != APR_SUCCESS)
            return rv;
    }
    d->ended = 1;
    return tr_emit_message_end(e, d->tool_calls ? TR_STOP_TOOL_USE : TR_STOP_END_TURN, NULL, NULL,
                               &d->usage);
}

static apr_status_t decode_event(tr_stream_decoder *d, const tr_emitter *e, const char *event,
                                 tr_jv *payload)
{
    const char *type;
    tr_jv *inner = event ? tr_jv_get_object(payload, event) : NULL;

    if (inner)
        payload = inner; /* {"assistantResponseEvent": {...}} */
    if (event && (!strncmp(event, "exception:", 10) || !strncmp(event, "error:", 6)))
        return exception(d, e, strchr(event, ':') + 1, payload);
    type = tr_jv_get_str(payload, "_type");
    if (type && strstr(type, "Exception"))
        return exception(d, e, type, payload);
    read_usage(d, payload);
    if (!event)
        return APR_SUCCESS;
    if (!strcmp(event, "assistantResponseEvent"))
        return add_text(d, e, TR_BLOCK_TEXT, tr_jv_get(payload, "content"));
    if (!strcmp(event, "reasoningContentEvent"))
        return add_text(d, e, TR_BLOCK_THINKING, tr_jv_get(payload, "text"));
    if (!strcmp(event, "toolUseEvent"))
        return tool_use(d, e, payload);
    return APR_SUCCESS;
}

apr_status_t tr_kiro_stream_decode(tr_stream_decoder *d, const char *event, const char *data,
                                   apr_size_t len, tr_event_fn emit, void *baton)
{
    apr_pool_t *scratch = tr_scratch_pool(d->scratch);
    tr_emitter e = {emit, baton};
    apr_status_t rv;
    tr_jv *payload;

    if (d->ended)
        return APR_SUCCESS;
    if (!data)
        rv = finish(d, &e);
    else if (event && (!strncmp(event, "exception:", 10) || !strncmp(event, "error:", 6))) {
        /* An exception or error frame ends the answer whatever its payload holds. */
        payload = tr_resp_parse(scratch, data, len);
        rv = decode_event(d, &e, event, payload ? payload : tr_jv_object(scratch));
    } else if ((rv = tr_resp_parse_event(scratch, data, len, &payload)) == APR_SUCCESS && payload)
        rv = decode_event(d, &e, event, payload); /* an event that is not JSON: BAD_EVENT */
    return rv;
}
