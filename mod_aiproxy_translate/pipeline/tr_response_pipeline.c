/*
 * pipeline/tr_response_pipeline.c: translate an upstream response body for the client,
 * incrementally.
 *
 * Three stages, chosen once per response from the spec:
 *   upstream framing   one JSON body (buffered to EOS, capped), SSE (tr_sse.c), a streamed
 *                      JSON array (tr_array_splitter.c) or the AWS event stream
 *                      (tr_eventstream.c) -> the upstream codec's stream decoder
 *   IR events          observed for aiproxy_response_info on every path
 *   client side        a stream encoder (tr_stream_encoder.c) driving the client codec's
 *                      handlers (each event leaves at once), an accumulator (one JSON body at
 *                      EOS), or nothing when the bytes pass
 *
 * Same protocol and framing: bytes pass straight through, a stream's whole events as they
 * complete, and the decoder only watches (usage, an early error). Gemini chunks going to a
 * Gemini client in another framing, or as a JSON array (whose elements only a parse can
 * tell apart), are re-framed unchanged. A complete upstream body for a streaming client is
 * replayed as events (tr_replay.c).
 *
 * A backend that wraps its answers (the upstream dialect's answer member: Code Assist's
 * {"response": ...}) has every JSON body and stream event opened (tr_envelope.c) before the
 * decoder or the re-framing sees it, so nothing passes through unopened.
 *
 * A token count (AIPROXY_OP_COUNT_TOKENS) is one JSON body whatever the protocols: the
 * number is read from the upstream's answer and handed to the client in its own member
 * ({"input_tokens": N} for Anthropic, {"totalTokens": N} for Gemini).
 * Embeddings (AIPROXY_OP_EMBED) are one JSON body too: passed on unchanged within a protocol
 * (its usage watched), else its vectors put into the client's form (codec/tr_embed.h).
 * A legacy completion (AIPROXY_OP_COMPLETE) is OpenAI's completions codec on the client side
 * and, for OpenAI upstreams, on the upstream side too (tr_codec_for_operation).
 *
 * Stream decoders get data == NULL once at the end of the body, for formats whose end is
 * implicit (an OpenAI stream cut before [DONE] but after its finish reason is complete).
 */
#include <string.h>
#include "apr_lib.h"
#include "apr_strings.h"
#include "aip_frame.h"
#include "tr_accumulate.h"
#include "tr_error.h"
#include "codec/tr_codec.h"
#include "codec/tr_embed.h"
#include "json/tr_json_check.h"
#include "json/tr_jv.h"
#include "tr_replay.h"
#include "pipeline/tr_array_splitter.h"
#include "pipeline/tr_eventstream.h"
#include "pipeline/tr_dialect.h"
#include "pipeline/tr_envelope.h"
#include "pipeline/tr_scratch.h"
#include "json/tr_buf.h"
#include "pipeline/tr_sse.h"
#include "tr_stop.h"
#include "tr_usage.h"

#define TR_RESPONSE_MAX_BODY  (64 * 1024 * 1024)       /* a complete upstream JSON body */
#define TR_RESPONSE_MAX_EVENT TR_SSE_DEFAULT_MAX_EVENT /* one SSE event or array element */

struct aiproxy_response {
    aiproxy_response_spec spec;
    apr_pool_t *pool;
    const tr_codec *upstream, *client;
    int passthrough;      /* bytes straight through; the decoder only watches */
    int reframe;          /* Gemini chunks re-framed between SSE and a JSON array */
    int count;            /* a token count: the answer is read for its number */
    int embed;            /* embeddings: the answer is read for its vectors */
    const char *envelope; /* the member the upstream wraps answers in, or NULL */
    /* One upstream event's working memory, released once the event has gone through: whatever
     * every stage allocates for it (the opened envelope, an event-stream frame's names, a
     * re-framed chunk, the decoder's parse tree and the encoder's pieces) lives here, so an
     * event uses one pool, not one per stage, and an open stream between events none
     * (tr_scratch.h). */
    tr_scratch *scratch;
    int in_unit; /* an upstream event is going through (scratch is released after it) */
    /* The IR events the decoder made of the current upstream event, waiting until it returns
     * (in scratch; see decode_then_encode). Here rather than in decode_then_encode's frame,
     * which is live under the decoder: there it added 32-80 bytes to every pair's depth. */
    struct queued_event *queued, **queue_end;

    tr_buf *body; /* upstream JSON body (passed through: held whole until it is complete) */
    tr_sse_parser *sse;
    tr_array_splitter *array;
    tr_es_decoder *frames_in; /* AWS event stream */
    tr_stream_decoder *decoder;
    int watching; /* passthrough: still parsing for info */

    tr_stream_encoder *encoder; /* client streams */
    tr_accumulator *acc;        /* client JSON from an upstream stream */
    tr_buf *frame;              /* re-framed output */
    int frames;

    tr_buf *held;             /* passthrough stream: the event the upstream is still writing */
    tr_sse_boundary boundary; /* passthrough stream: where the upstream's events end */
    const aiproxy_sink *sink; /* the sink of the current feed/finish call */
    int upstream_ended;       /* MESSAGE_STOP or ERROR came from the upstream */
    int terminated;           /* the client's output is complete */
    tr_usage usage;
    aiproxy_response_info info;
};

static int client_streams(const aiproxy_response *t)
{
    return t->spec.client_stream != AIPROXY_STREAM_NONE;
}

static const char *content_type_for(aiproxy_stream_mode mode)
{
    return mode == AIPROXY_STREAM_SSE ? "text/event-stream" : "application/json";
}

/* Free blocks the shared allocator keeps for the next events: those of a few dozen events at
 * once (a block is 8 KiB; a large tool call's parse tree takes more); beyond, given back. */
#define SHARED_SCRATCH_MAX_FREE (512 * 1024)

apr_status_t aiproxy_response_share_scratch(apr_pool_t *p)
{
    return tr_scratch_share(p, SHARED_SCRATCH_MAX_FREE);
}

static const apr_array_header_t *copy_names(apr_pool_t *p, const apr_array_header_t *names)
{
    apr_array_header_t *copy = apr_array_copy(p, names);

    for (int i = 0; i < copy->nelts; i++)
        APR_ARRAY_IDX(copy, i, const char *) =
            apr_pstrdup(p, APR_ARRAY_IDX(names, i, const char *));
    return copy;
}

aiproxy_response *aiproxy_response_create(apr_pool_t *p, const aiproxy_response_spec *spec)
{
    aiproxy_response *t = apr_pcalloc(p, sizeof(*t));

    t->spec = *spec;
    /* Its own copies of what it reads from the request: the caller may let the request go
     * while the answer streams. */
    t->spec.client_model = spec->client_model ? apr_pstrdup(p, spec->client_model) : NULL;
    t->spec.tool_names = spec->tool_names ? copy_names(p, spec->tool_names) : NULL;
    t->pool = p;
    t->count = spec->operation == AIPROXY_OP_COUNT_TOKENS;
    t->embed = spec->operation == AIPROXY_OP_EMBED;
    if (t->count || t->embed)
        t->spec.client_stream = t->spec.upstream_stream = AIPROXY_STREAM_NONE;
    spec = &t->spec;
    t->upstream = tr_codec_for_operation(spec->upstream, spec->operation);
    t->client = tr_codec_for_operation(spec->client, spec->operation);
    if (!t->upstream || !t->client || !t->client->stream_encoding)
        return NULL; /* an unknown protocol, or an upstream-only one as the client */
    t->envelope = tr_dialect_answer_member(tr_dialect_for(spec->upstream_dialect));
    /* Embeddings within a protocol pass too, like any JSON answer (checked, usage watched):
     * a large batch of vectors is never parsed into a tree. */
    t->passthrough = !t->count && !t->envelope && spec->client == spec->upstream &&
                     spec->client_stream == spec->upstream_stream &&
                     spec->upstream_stream != AIPROXY_STREAM_JSON_ARRAY;
    t->reframe = !t->passthrough && spec->client == AIPROXY_PROTO_GEMINI &&
                 spec->upstream == AIPROXY_PROTO_GEMINI && client_streams(t);

    if (spec->upstream_stream == AIPROXY_STREAM_SSE)
        t->sse = tr_sse_parser_create(p, TR_RESPONSE_MAX_EVENT);
    else if (spec->upstream_stream == AIPROXY_STREAM_JSON_ARRAY)
        t->array = tr_array_splitter_create(p, TR_RESPONSE_MAX_EVENT);
    else if (spec->upstream_stream == AIPROXY_STREAM_EVENTSTREAM) {
        t->frames_in = tr_es_decoder_create(p, TR_ES_DEFAULT_MAX_FRAME);
    } else
        t->body = tr_buf_make(p, TR_RESPONSE_MAX_BODY);
    if (spec->upstream_stream != AIPROXY_STREAM_NONE || client_streams(t))
        t->scratch = tr_scratch_create(p);
    if (spec->upstream_stream != AIPROXY_STREAM_NONE)
        t->decoder = t->upstream->stream_decoder_create(p, t->scratch, spec);
    t->watching = 1;
    if (t->passthrough && t->sse) {
        t->held = tr_buf_make(p, TR_RESPONSE_MAX_EVENT);
        t->boundary = (tr_sse_boundary) TR_SSE_BOUNDARY_INIT;
    }

    if (t->reframe)
        t->frame = tr_buf_make(p, 0);
    else if (!t->passthrough && client_streams(t))
        t->encoder = tr_stream_encoder_create(p, t->scratch, t->client->stream_encoding, spec);
    else if (!t->passthrough && spec->upstream_stream != AIPROXY_STREAM_NONE)
        t->acc = tr_accumulator_create(p, 0);
    return t;
}

const char *aiproxy_response_content_type(const aiproxy_response *t)
{
    return content_type_for(t->spec.client_stream);
}

const aiproxy_response_info *aiproxy_response_get_info(const aiproxy_response *t)
{
    return &t->info;
}

/* ---- what the IR events tell about the answer ---------------------------------------------- */

static void observe(aiproxy_response *t, const tr_event *ev)
{
    switch (ev->kind) {
    case TR_EV_MESSAGE_START:
    case TR_EV_MESSAGE_DELTA:
        tr_usage_merge(&t->usage, &ev->usage);
        t->info.input_tokens = t->usage.input;
        t->info.output_tokens = t->usage.output;
        t->info.cache_read_tokens = t->usage.cache_read;
        t->info.cache_write_tokens = t->usage.cache_write;
        t->info.reasoning_tokens = t->usage.reasoning;
        if (ev->kind == TR_EV_MESSAGE_DELTA && (ev->stop != TR_STOP_NONE || ev->stop_raw)) {
            /* Passthrough: the upstream's own word is the client's; the same word when the
             * encoder writes it (same protocol). The raw word lives only as long as its event. */
            const char *word = t->passthrough && ev->stop_raw
                                   ? ev->stop_raw
                                   : tr_stop_word_for(&t->spec, ev->stop, ev->stop_raw);
            t->info.stop = word == ev->stop_raw ? apr_pstrdup(t->pool, word) : word;
        }
        break;
    case TR_EV_BLOCK_START:
    case TR_EV_BLOCK_DELTA:
        t->info.seen_content = 1;
        break;
    case TR_EV_ERROR:
        t->info.seen_error = 1;
        break;
    default:
        break;
    }
}

static apr_status_t observe_only(void *baton, const tr_event *ev)
{
    observe(baton, ev);
    return APR_SUCCESS;
}

/* Every IR event from the upstream side goes through here. */
static apr_status_t on_event(void *baton, const tr_event *ev)
{
    aiproxy_response *t = baton;

    apr_status_t rv = APR_SUCCESS;

    if (t->upstream_ended)
        return APR_SUCCESS; /* nothing counts after the end (Gemini chunks after finishReason) */
    observe(t, ev);
    if (ev->kind == TR_EV_MESSAGE_STOP || ev->kind == TR_EV_ERROR)
        t->upstream_ended = 1;
    if (t->encoder)
        rv = tr_stream_encode(t->encoder, ev, t->sink);
    else if (t->acc)
        rv = tr_accumulate(t->acc, ev);
    /* Events replayed from a complete answer come one by one from a tree in t->pool: what the
     * encoder made for one is not needed for the next. */
    if (!t->in_unit && t->scratch)
        tr_scratch_release(t->scratch);
    return rv;
}

/* ---- encoding after decoding ------------------------------------------------------------- */

/* A stream holds its thread (mod_proxy relays on it) and the thread keeps every stack page it
 * touched, so the depth of the work on an event is memory per open stream (common/aip_frame.h).
 * Encoding a client event under the decoder's frames adds the two depths up; the decoder's
 * events for one upstream event are therefore queued, copied with everything they point to
 * (a decoder may reuse its buffers before it returns), and encoded once it has returned. */
static const char *copy_string(apr_pool_t *p, const char *s)
{
    return s ? apr_pstrdup(p, s) : NULL;
}

typedef struct queued_event {
    tr_event ev;
    struct queued_event *next;
} queued_event;

static apr_status_t queue_event(void *baton, const tr_event *ev)
{
    aiproxy_response *t = baton;
    apr_pool_t *p = tr_scratch_pool(t->scratch);
    queued_event *q = apr_palloc(p, sizeof(*q));

    q->ev = *ev;
    q->next = NULL;
    if (ev->text)
        q->ev.text = apr_pstrmemdup(p, ev->text, ev->len);
    q->ev.id = copy_string(p, ev->id);
    q->ev.name = copy_string(p, ev->name);
    q->ev.model = copy_string(p, ev->model);
    q->ev.signature = copy_string(p, ev->signature);
    q->ev.stop_raw = copy_string(p, ev->stop_raw);
    q->ev.stop_sequence = copy_string(p, ev->stop_sequence);
    q->ev.error.type = copy_string(p, ev->error.type);
    q->ev.error.message = copy_string(p, ev->error.message);
    q->ev.error.code = copy_string(p, ev->error.code);
    *t->queue_end = q;
    t->queue_end = &q->next;
    return APR_SUCCESS;
}

/* Decode one upstream event (data NULL: the end of the body), then encode what it gave. A
 * passed-through stream is only watched (nothing is encoded), so it decodes straight into
 * on_event. Inside a unit only: the queue lives in its scratch. */
static apr_status_t decode_then_encode(aiproxy_response *t, const char *event, const char *data,
                                       apr_size_t len)
{
    apr_status_t rv, sent = APR_SUCCESS;

    if (!t->encoder && !t->acc)
        return t->upstream->stream_decode(t->decoder, event, data, len, on_event, t);
    t->queued = NULL;
    t->queue_end = &t->queued;
    rv = t->upstream->stream_decode(t->decoder, event, data, len, queue_event, t);
    for (const queued_event *q = t->queued; q && sent == APR_SUCCESS; q = q->next)
        sent = on_event(t, &q->ev);
    t->queued = NULL;
    return sent != APR_SUCCESS ? sent : rv;
}

/* ---- Gemini re-framing --------------------------------------------------------------------- */

/* An SSE data line cannot hold a line break, and Gemini clients read one data line per chunk:
 * a chunk that spans lines (Gemini pretty-prints its JSON-array chunks) is written compact. */
static void add_one_line_chunk(aiproxy_response *t, tr_buf *out, const char *chunk, apr_size_t len)
{
    aiproxy_error err;
    tr_jv *value = NULL;

    if (memchr(chunk, '\n', len) || memchr(chunk, '\r', len))
        value = tr_jv_parse(tr_scratch_pool(t->scratch), chunk, len, &err);
    if (value)
        tr_jv_write(out, value);
    else
        tr_buf_add(out, chunk, len);
}

static apr_status_t write_frame(aiproxy_response *t, const char *chunk, apr_size_t len)
{
    tr_buf *out = t->frame;
    apr_status_t rv;

    if (t->spec.client_stream == AIPROXY_STREAM_JSON_ARRAY) {
        tr_buf_adds(out, t->frames ? ",\r\n" : "[");
        tr_buf_add(out, chunk, len);
    } else {
        tr_buf_adds(out, "data: ");
        add_one_line_chunk(t, out, chunk, len);
        tr_buf_adds(out, "\r\n\r\n");
    }
    t->frames++;
    rv = out->over ? APR_ENOMEM : t->sink->write(t->sink->baton, out->data, out->len);
    tr_buf_recycle(out);
    return rv;
}

static apr_status_t write_frames_end(aiproxy_response *t)
{
    if (t->spec.client_stream != AIPROXY_STREAM_JSON_ARRAY)
        return APR_SUCCESS;
    return t->frames ? t->sink->write(t->sink->baton, "]", 1)
                     : t->sink->write(t->sink->baton, "[]", 2);
}

/* ---- upstream framing -------------------------------------------------------------------- */

/* Around the work on one upstream event (or the end of the body): see t->scratch. */
static void unit_begin(aiproxy_response *t)
{
    t->in_unit = 1;
}

static apr_status_t unit_end(aiproxy_response *t, apr_status_t rv)
{
    t->in_unit = 0;
    tr_scratch_release(t->scratch);
    return rv;
}

/* One upstream event (its name, or NULL) and data, already framed: opened, re-framed for a
 * Gemini client, decoded into IR events for the encoder or the accumulator. */
static apr_status_t decode_unit(aiproxy_response *t, const char *event, const char *data,
                                apr_size_t len)
{
    apr_status_t rv;

    if (t->envelope && data)
        data = tr_envelope_open(tr_scratch_pool(t->scratch), t->envelope, data, len, &len);
    if (t->reframe && !t->upstream_ended && (rv = write_frame(t, data, len)) != APR_SUCCESS)
        return rv;
    return decode_then_encode(t, event, data, len);
}

static apr_status_t on_upstream_unit(void *baton, const char *event, const char *data,
                                     apr_size_t len)
{
    aiproxy_response *t = baton;

    unit_begin(t);
    return unit_end(t, decode_unit(t, event, data, len));
}

static apr_status_t on_array_element(void *baton, const char *data, apr_size_t len)
{
    return on_upstream_unit(baton, NULL, data, len);
}

/* A header naming an event, exception or error code, when it is a plain name (letters, digits,
 * '_', '-', '.', '#'), else "": no event name can then pass for another kind of frame (it
 * holds no ':'), and no byte of it reaches a client unchecked. */
static const char *frame_name(apr_pool_t *p, const tr_es_message *msg, const char *header)
{
    const char *v = tr_es_header_string(p, msg, header);

    for (const char *c = v; c && *c; c++) {
        if (!apr_isalnum(*c) && !strchr("_-.#", *c))
            return "";
    }
    return v ? v : "";
}

/* An event-stream frame as the decoder's unit: an event frame by its :event-type, an exception
 * or error frame as "exception:<:exception-type>" / "error:<:error-code>" (its payload, or a
 * JSON object holding :error-message when it has none). */
static apr_status_t on_frame(void *baton, const tr_es_message *msg)
{
    aiproxy_response *t = baton;
    apr_pool_t *p = tr_scratch_pool(t->scratch);
    const char *kind, *name, *data = msg->payload;
    apr_size_t len = msg->payload_len;

    unit_begin(t);
    kind = tr_es_header_string(p, msg, ":message-type");

    if (!kind || !strcmp(kind, "event"))
        name = frame_name(p, msg, ":event-type");
    else if (!strcmp(kind, "exception"))
        name = apr_pstrcat(p, "exception:", frame_name(p, msg, ":exception-type"), NULL);
    else
        name = apr_pstrcat(p, "error:", frame_name(p, msg, ":error-code"), NULL);
    if (kind && !strcmp(kind, "error") && len == 0) {
        tr_jv *body =
            tr_jv_pack(p, "{s:s?}", "message", tr_es_header_string(p, msg, ":error-message"));
        data = tr_jv_dump(p, body, &len);
    }
    return unit_end(t, decode_unit(t, name, data, len));
}

static apr_status_t parse_upstream(aiproxy_response *t, const char *data, apr_size_t len)
{
    if (t->frames_in)
        return tr_es_decoder_feed(t->frames_in, data, len, on_frame, t);
    if (t->sse)
        return tr_sse_parser_feed(t->sse, data, len, on_upstream_unit, t);
    if (t->array)
        return tr_array_splitter_feed(t->array, data, len, on_array_element, t);
    return tr_buf_add(t->body, data, len) ? APR_ENOSPC : APR_SUCCESS;
}

/* ---- ending the client's output ------------------------------------------------------------ */

static apr_status_t write_error_body(aiproxy_response *t, const aiproxy_error *err)
{
    apr_size_t n;
    const char *body = aiproxy_error_body(t->pool, t->spec.client, err, &n);
    return t->sink->write(t->sink->baton, body, n);
}

/* End the client's output with err in its protocol's form (stream error event, or the JSON
 * error envelope). */
static apr_status_t fail(aiproxy_response *t, int status, const char *message)
{
    aiproxy_error err;
    tr_event ev = {.kind = TR_EV_ERROR};
    apr_status_t rv;

    tr_error_set(&err, status, message);
    t->terminated = 1;
    t->info.seen_error = 1;
    if (t->passthrough && !t->body)
        return APR_SUCCESS; /* a passed-through stream ends in finish_passthrough */
    if (t->encoder) {
        ev.error = err;
        return tr_stream_encode(t->encoder, &ev, t->sink);
    }
    if (t->reframe) {
        apr_size_t n;
        const char *text = tr_jv_dump(t->pool, t->client->error_encode(t->pool, &err), &n);
        rv = write_frame(t, text, n);
        return rv == APR_SUCCESS ? write_frames_end(t) : rv;
    }
    return write_error_body(t, &err);
}

static apr_status_t write_response_json(aiproxy_response *t, const tr_response *resp)
{
    tr_jv *body = t->client->response_encode(t->pool, resp, &t->spec);
    apr_size_t n;
    const char *text = tr_jv_dump(t->pool, body, &n);

    if (!text)
        return fail(t, 502, "the upstream's answer could not be expressed for this client");
    return t->sink->write(t->sink->baton, text, n);
}

/* ---- feed and finish --------------------------------------------------------------------- */

static apr_status_t write_passthrough_stream_error(aiproxy_response *t, const char *message);

static const char bad_event_message[] = "the upstream sent a stream event that is not JSON";

/* A passed-through stream: the upstream's events go out unchanged, each once it is whole and
 * has been watched. The one the upstream is still writing waits in t->held, so a stream that
 * breaks off never leaves the client half an event (which its SSE parser would dispatch and
 * its JSON parser choke on), and an event whose data is not JSON is never sent: the stream
 * ends with the client's error event there instead. */
static apr_status_t feed_passthrough_stream(aiproxy_response *t, const char *data, apr_size_t len)
{
    apr_status_t rv = APR_SUCCESS;

    while (len && rv == APR_SUCCESS) {
        apr_size_t end = tr_sse_event_end(&t->boundary, data, len);
        apr_size_t n = end ? end : len;

        /* Watching is best effort: a stream past the caps just stops being watched. */
        if (t->watching && (rv = parse_upstream(t, data, n)) != APR_SUCCESS) {
            t->watching = 0;
            if (rv == TR_STATUS_BAD_EVENT) {
                t->terminated = 1;
                return write_passthrough_stream_error(t, bad_event_message);
            }
            rv = APR_SUCCESS;
        }
        if (end && !t->held->len) { /* the usual case: a whole event in one read, no copy */
            rv = t->sink->write(t->sink->baton, data, n);
        } else if (tr_buf_add(t->held, data, n)) {
            t->terminated = 1;
            rv = write_passthrough_stream_error(t, "an upstream stream event is too large");
            return rv == APR_SUCCESS ? APR_ENOSPC : rv;
        } else if (end) {
            rv = t->sink->write(t->sink->baton, t->held->data, t->held->len);
            tr_buf_recycle(t->held);
        }
        data += n;
        len -= n;
    }
    return rv;
}

apr_status_t aiproxy_response_feed(aiproxy_response *t, const char *data, apr_size_t len,
                                   const aiproxy_sink *sink)
{
    apr_status_t rv;

    if (len == 0 || t->terminated)
        return APR_SUCCESS;
    t->sink = sink;
    if (t->held)
        return feed_passthrough_stream(t, data, len);
    rv = parse_upstream(t, data, len);
    /* First: a corrupt event stream's status is the same number as a bad event's. */
    if (t->frames_in && tr_es_decoder_error(t->frames_in) && !t->upstream_ended) {
        apr_status_t frv = fail(t, 502,
                                apr_pstrcat(t->pool, "the upstream's event stream is corrupt: ",
                                            tr_es_decoder_error(t->frames_in), NULL));
        return frv == APR_SUCCESS ? TR_ES_CORRUPT : frv;
    }
    if (rv == TR_STATUS_BAD_EVENT) {
        apr_status_t frv = fail(t, 502, bad_event_message);
        return frv == APR_SUCCESS ? rv : frv;
    }
    if (rv == APR_ENOSPC) {
        apr_status_t frv = fail(t, 502,
                                t->body ? "the upstream's response is too large"
                                : t->acc && tr_accumulator_overflowed(t->acc)
                                    ? "the upstream's streamed answer is too large to collect"
                                    : "an upstream stream event is too large");
        return frv == APR_SUCCESS ? APR_ENOSPC : frv;
    }
    return rv;
}

/* The complete upstream body, decoded (NULL and *err filled when it is no answer). */
static const tr_response *decode_body(aiproxy_response *t, tr_response *resp, aiproxy_error *err)
{
    tr_jv *root;

    if (t->envelope && t->body->len) {
        apr_size_t len;
        const char *opened =
            tr_envelope_open(t->pool, t->envelope, t->body->data, t->body->len, &len);
        if (opened != t->body->data) {
            tr_buf_reset(t->body);
            tr_buf_add(t->body, opened, len);
        }
    }
    root = t->body->len ? tr_jv_parse(t->pool, t->body->data, t->body->len, err) : NULL;

    if (!root) {
        tr_error_set(err, 502, "the upstream's response is not valid JSON");
        return NULL;
    }
    if (t->upstream->response_decode(t->pool, root, resp, err) != 0) {
        t->info.seen_error = 1;
        if (!err->status)
            err->status = 502;
        return NULL;
    }
    return resp;
}

/* A complete upstream body for the client: JSON, re-framed, or replayed as a stream. */
static AIP_OWN_FRAME apr_status_t finish_body(aiproxy_response *t, int upstream_broke)
{
    aiproxy_error err = {0};
    tr_response resp;
    apr_status_t rv;

    if (upstream_broke)
        return fail(t, 502, "the upstream connection failed before its response was complete");
    if (!decode_body(t, &resp, &err))
        return fail(t, err.status, err.message);
    if (t->encoder) {
        rv = tr_replay(&resp, on_event, t);
        t->terminated = 1;
        return rv;
    }
    tr_replay(&resp, observe_only, t);
    t->terminated = 1;
    if (t->reframe) {
        rv = write_frame(t, t->body->data, t->body->len);
        return rv == APR_SUCCESS ? write_frames_end(t) : rv;
    }
    if (t->envelope && t->spec.client == t->spec.upstream) /* opened, else as it came */
        return t->sink->write(t->sink->baton, t->body->data, t->body->len);
    return write_response_json(t, &resp);
}

/* A token count's answer: its number, as Anthropic's count_tokens answers it. */
static AIP_OWN_FRAME apr_status_t finish_count(aiproxy_response *t, int upstream_broke)
{
    aiproxy_error err = {0};
    tr_jv *root;
    long long n;
    apr_size_t len;
    const char *text;

    if (upstream_broke)
        return fail(t, 502, "the upstream connection failed before its count was complete");
    root = t->body->len ? tr_jv_parse(t->pool, t->body->data, t->body->len, &err) : NULL;
    if (!tr_jv_get_int(root, t->upstream->count_member, &n) || n < 0)
        return fail(t, 502,
                    apr_psprintf(t->pool, "the upstream's count has no '%s' number",
                                 t->upstream->count_member));
    t->terminated = 1;
    t->info.seen_content = 1;
    t->info.input_tokens = t->usage.input = n;
    /* in the client's own words: Anthropic's input_tokens, Gemini's totalTokens */
    text = tr_jv_dump(t->pool,
                      tr_jv_pack(t->pool, "{s:I}",
                                 t->client->count_member ? t->client->count_member : "input_tokens",
                                 n),
                      &len);
    return t->sink->write(t->sink->baton, text, len);
}

/* Embeddings of another protocol: the upstream's vectors in the client's form, its usage what
 * the log and the key limits count (within a protocol the answer passes, watched). */
static AIP_OWN_FRAME apr_status_t finish_embed(aiproxy_response *t, int upstream_broke)
{
    aiproxy_error err = {0};
    const tr_embed_format *from = t->upstream->embed, *to = t->client->embed;
    tr_embed_answer answer;
    tr_jv *root;
    apr_size_t len;
    const char *text;
    int decoded;

    if (upstream_broke)
        return fail(t, 502, "the upstream connection failed before its embeddings were complete");
    root = t->body->len ? tr_jv_parse(t->pool, t->body->data, t->body->len, &err) : NULL;
    decoded = from && root && from->answer_decode(t->pool, root, &answer) == 0;
    if (!decoded || !to)
        return fail(t, 502, "the upstream's embeddings answer has no vectors");
    t->info.input_tokens = t->usage.input = answer.input_tokens;
    text = tr_jv_dump(t->pool, to->answer_encode(t->pool, &answer, &t->spec), &len);
    t->terminated = 1;
    t->info.seen_content = 1;
    return t->sink->write(t->sink->baton, text, len);
}

/* The end of an upstream stream: complete the client's stream or JSON body, or fail it. */
static AIP_OWN_FRAME apr_status_t finish_stream(aiproxy_response *t, int upstream_broke)
{
    const aiproxy_error *err;
    int partial;
    apr_status_t rv;

    const char *broke = "the upstream connection failed in the middle of the answer";

    /* A last event without its blank line still counts (not JSON: cut off, when the
     * connection broke); then the implicit end. */
    rv = t->sse ? tr_sse_parser_finish(t->sse, on_upstream_unit, t, &partial) : APR_SUCCESS;
    if (rv == TR_STATUS_BAD_EVENT)
        return fail(t, 502, upstream_broke ? broke : bad_event_message);
    if (rv != APR_SUCCESS && rv != APR_ENOSPC)
        return rv;
    /* An event stream has no end event: its end is the end of the body, so a body that broke
     * off (or stopped inside a frame) is an incomplete answer, not a finished one. */
    if (t->frames_in && !t->upstream_ended &&
        (upstream_broke || tr_es_decoder_pending(t->frames_in)))
        return fail(t, 502,
                    upstream_broke ? "the upstream connection failed in the middle of the answer"
                                   : "the upstream's event stream ended inside a frame");
    unit_begin(t);
    rv = unit_end(t, decode_then_encode(t, NULL, NULL, 0));
    if (rv != APR_SUCCESS)
        return rv;
    if (!t->upstream_ended)
        return fail(t, 502,
                    upstream_broke ? broke
                                   : "the upstream stream ended before the answer was complete");
    t->terminated = 1;
    if (t->reframe)
        return write_frames_end(t);
    if (!t->acc)
        return APR_SUCCESS; /* the encoder already wrote the stream's end or error */
    if ((err = tr_accumulator_error(t->acc)))
        return write_error_body(t, err);
    return write_response_json(t, tr_accumulator_response(t->acc));
}

static void read_anthropic_usage(const tr_jv *usage, tr_usage *out)
{
    tr_usage raw = {0};
    tr_usage_read_anthropic_raw(usage, &raw);
    *out = tr_usage_from_anthropic_raw(&raw);
}

/* Where each protocol's complete answer keeps its usage, and how to read it. */
static const struct {
    const char *key; /* quoted, as it appears in the body */
    void (*read)(const tr_jv *usage, tr_usage *out);
} body_usage[AIPROXY_PROTO_COUNT] = {
    [AIPROXY_PROTO_ANTHROPIC] = {"\"usage\"", read_anthropic_usage},
    [AIPROXY_PROTO_OPENAI] = {"\"usage\"", tr_usage_read_openai},
    [AIPROXY_PROTO_RESPONSES] = {"\"usage\"", tr_usage_read_responses},
    [AIPROXY_PROTO_GEMINI] = {"\"usageMetadata\"", tr_usage_read_gemini},
};

/* A passed-through JSON answer is only read for its usage: the last usage member is parsed
 * alone (answers keep it near the end) instead of the whole body, which costs more than
 * everything else the gateway does for the request. An escaped \"usage\" inside a string is
 * not a member (the quote is preceded by a backslash). */
static void watch_body_usage(aiproxy_response *t)
{
    const char *key = body_usage[t->spec.upstream].key;
    apr_size_t klen = strlen(key), len = t->body->len;
    const char *data = t->body->data;

    for (apr_size_t at = len >= klen ? len - klen + 1 : 0; at-- > 0;) {
        const char *v;
        tr_jv *usage;
        aiproxy_error err;

        if (memcmp(data + at, key, klen) || (at > 0 && data[at - 1] == '\\'))
            continue;
        for (v = data + at + klen;
             v < data + len && (*v == ' ' || *v == ':' || *v == '\n' || *v == '\r' || *v == '\t');
             v++)
            ;
        usage = tr_jv_parse_prefix(t->pool, v, (apr_size_t) (data + len - v), &err);
        if (tr_jv_is_object(usage)) {
            tr_usage u = t->usage;
            body_usage[t->spec.upstream].read(usage, &u);
            t->usage = u;
            t->info.input_tokens = u.input;
            t->info.output_tokens = u.output;
            t->info.cache_read_tokens = u.cache_read;
            t->info.cache_write_tokens = u.cache_write;
            t->info.reasoning_tokens = u.reasoning;
        }
        return;
    }
}

/* A passed-through stream: nothing is written here; its events are only read for the info. */
static void finish_watching(aiproxy_response *t)
{
    int partial;

    if (!t->watching)
        return;
    if (t->sse)
        tr_sse_parser_finish(t->sse, on_upstream_unit, t, &partial);
    t->upstream->stream_decode(t->decoder, NULL, NULL, 0, on_event, t);
}

/* How a passed-through stream is ended when the upstream broke off: the protocol's own
 * in-stream error event (its name, and whether the data is the error envelope or the flat
 * {"type":"error",...} object the Responses API streams). */
static const struct {
    const char *event;
    int flat;
} stream_error_frames[AIPROXY_PROTO_COUNT] = {
    [AIPROXY_PROTO_ANTHROPIC] = {"error", 0},
    [AIPROXY_PROTO_OPENAI] = {NULL, 0},
    [AIPROXY_PROTO_RESPONSES] = {"error", 1},
    [AIPROXY_PROTO_GEMINI] = {NULL, 0},
};

static apr_status_t write_passthrough_stream_error(aiproxy_response *t, const char *message)
{
    aiproxy_error err;
    tr_jv *body;
    const char *event = stream_error_frames[t->spec.client].event;
    const char *text;

    tr_error_set(&err, 502, message);
    body = t->client->error_encode(t->pool, &err);
    if (stream_error_frames[t->spec.client].flat) {
        tr_jv *inner = tr_jv_get(body, "error");
        body =
            tr_jv_pack(t->pool, "{s:s, s:O?, s:O?, s:n}", "type", "error", "code",
                       tr_jv_get(inner, "code"), "message", tr_jv_get(inner, "message"), "param");
    }
    /* Only whole events were sent (feed_passthrough_stream): this one starts on a fresh line. */
    text = apr_pstrcat(t->pool, event ? "event: " : "", event ? event : "", event ? "\n" : "",
                       "data: ", tr_jv_dump(t->pool, body, NULL), "\n\n", NULL);
    t->info.seen_error = 1;
    return t->sink->write(t->sink->baton, text, strlen(text));
}

/* A passed-through JSON answer is held until it is complete and goes out whole, or not at all:
 * a body the upstream broke off, a truncated compressed body or a 200 with garbage becomes the
 * client's error (and, in the handler, the next upstream's turn: nothing was sent). */
static apr_status_t finish_passthrough_body(aiproxy_response *t, int upstream_broke)
{
    if (upstream_broke)
        return fail(t, 502, "the upstream connection failed before its response was complete");
    if (!tr_json_is_document(t->body->data, t->body->len))
        return fail(t, 502, "the upstream's response is not valid JSON");
    t->terminated = 1;
    t->info.seen_content = 1;
    watch_body_usage(t);
    return t->sink->write(t->sink->baton, t->body->data, t->body->len);
}

/* A passed-through stream that broke (or ended without its terminator) still ends the way
 * the client's protocol ends a failed stream, instead of a bare truncation. */
static AIP_OWN_FRAME apr_status_t finish_passthrough(aiproxy_response *t, int upstream_broke)
{
    int unterminated = t->watching && !t->upstream_ended;
    apr_status_t rv = APR_SUCCESS;

    if (t->body)
        return finish_passthrough_body(t, upstream_broke);
    finish_watching(t);
    t->terminated = 1;
    /* The last event without its blank line, from an upstream that closed cleanly right after
     * it: sent and completed when it was the stream's end event, sent as it is when the stream
     * was no longer watched; otherwise it is half an event, and dropped. */
    if (t->held->len && !upstream_broke && (t->upstream_ended || !t->watching)) {
        rv = t->sink->write(t->sink->baton, t->held->data, t->held->len);
        if (rv == APR_SUCCESS && t->upstream_ended)
            rv = t->sink->write(t->sink->baton, "\n\n", 2);
    }
    if (rv != APR_SUCCESS || !(upstream_broke || unterminated) || t->upstream_ended)
        return rv;
    return write_passthrough_stream_error(
        t, upstream_broke ? "the upstream connection broke off in the middle of the answer"
                          : "the upstream's stream ended before its end event");
}

/* Each way of finishing is a frame of its own (AIP_OWN_FRAME): inlined here, the locals of all
 * of them would sit above a stream's last event, encoded at its thread's deepest point. */
apr_status_t aiproxy_response_finish(aiproxy_response *t, int upstream_broke,
                                     const aiproxy_sink *sink)
{
    if (t->terminated)
        return APR_SUCCESS;
    t->sink = sink;
    if (t->passthrough)
        return finish_passthrough(t, upstream_broke);
    if (t->count)
        return finish_count(t, upstream_broke);
    if (t->embed)
        return finish_embed(t, upstream_broke);
    return t->body ? finish_body(t, upstream_broke) : finish_stream(t, upstream_broke);
}
