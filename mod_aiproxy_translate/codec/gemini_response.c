/*
 * codec/gemini_response.c: Gemini generateContent responses: GenerateContentResponse JSON <->
 * tr_response, streamGenerateContent chunks -> IR events (decoder), IR events -> chunks framed
 * as SSE (alt=sse) or as one streamed JSON array (encoder).
 *
 * Gemini sends whole functionCall parts with an args object: the decoder turns one into a
 * block start, one arguments delta and a block stop. With streamFunctionCallArguments it
 * streams a call over several parts instead (a first one with the name and willContinue, then
 * partialArgs, then one without willContinue): the decoder keeps that call's block open and
 * turns each part's partialArgs into the next arguments delta (codec/gemini_partial_args.h).
 * The encoder holds a streamed call's argument fragments until its block stops and then sends
 * the call once, complete.
 * thoughtSignature may sit on thought, text and functionCall parts: it travels as the block's
 * signature and is only sent back to Gemini clients.
 */
#include <string.h>
#include "apr_strings.h"
#include "json/tr_jv.h"
#include "codec/gemini_partial_args.h"
#include "codec/tr_protocols.h"
#include "codec/tr_response_util.h"
#include "tr_stop.h"
#include "tr_usage.h"

#define GEMINI_MAX_ARGUMENTS (8 * 1024 * 1024) /* one streamed call's arguments, held whole */

/* The id of a functionCall that came without one: derived from the response id when there is
 * one (stable across the JSON and the stream path), random otherwise. */
static const char *function_call_id(apr_pool_t *p, const char *response_id, int ordinal)
{
    if (!response_id || !*response_id)
        return tr_resp_prefixed_id(p, "call_", NULL);
    return apr_pstrcat(p, "call_", tr_resp_safe_id(p, response_id), "_", apr_itoa(p, ordinal),
                       NULL);
}

static const char *part_signature(const tr_jv *part)
{
    const char *s = tr_jv_get_str(part, "thoughtSignature");
    return s && *s ? s : NULL;
}

static tr_jv *first_candidate(const tr_jv *chunk)
{
    tr_jv *candidate = tr_jv_at(tr_jv_get_array(chunk, "candidates"), 0);
    return tr_jv_is_object(candidate) ? candidate : NULL;
}

static tr_jv *candidate_parts(const tr_jv *candidate)
{
    return tr_jv_get_array(tr_jv_get_object(candidate, "content"), "parts");
}

/* A prompt blocked before any candidate: promptFeedback.blockReason. */
static int prompt_blocked(const tr_jv *chunk)
{
    return !first_candidate(chunk) &&
           tr_jv_get_str(tr_jv_get_object(chunk, "promptFeedback"), "blockReason") != NULL;
}

/* ---- complete responses ---------------------------------------------------------------- */

typedef struct {
    apr_pool_t *p;
    tr_response *out;
    const char *response_id;
    int tools;
} gemini_decode_state;

static tr_block *push_block(gemini_decode_state *st, tr_block_kind kind)
{
    tr_block *b = apr_pcalloc(st->p, sizeof(*b));
    b->kind = kind;
    APR_ARRAY_PUSH(st->out->blocks, tr_block *) = b;
    return b;
}

static void sign(tr_block *b, const char *signature)
{
    if (!signature)
        return;
    b->signature = signature;
    b->sig_proto = AIPROXY_PROTO_GEMINI;
    b->has_signature = 1;
}

static tr_block *last_block(const gemini_decode_state *st)
{
    int n = st->out->blocks->nelts;
    return n ? APR_ARRAY_IDX(st->out->blocks, n - 1, tr_block *) : NULL;
}

static void decode_text_part(gemini_decode_state *st, const tr_jv *part)
{
    tr_block_kind kind = tr_jv_get_bool(part, "thought", 0) ? TR_BLOCK_THINKING : TR_BLOCK_TEXT;
    const char *text = tr_jv_get_str(part, "text");
    const char *signature = part_signature(part);
    tr_block *last = last_block(st);

    /* Consecutive parts of one kind (a chunked array) continue the block; a signature-only
     * part signs it. */
    if (last && last->kind == kind && !last->has_signature) {
        if (text && *text)
            last->text = apr_pstrcat(st->p, last->text, text, NULL);
        sign(last, signature);
        return;
    }
    if ((!text || !*text) && !signature)
        return;
    last = push_block(st, kind);
    last->text = text ? text : "";
    sign(last, signature);
}

static void decode_function_call_part(gemini_decode_state *st, const tr_jv *part)
{
    const tr_jv *call = tr_jv_get_object(part, "functionCall");
    const char *id = tr_jv_get_str(call, "id");
    tr_jv *args = tr_jv_get(call, "args");
    tr_block *b = push_block(st, TR_BLOCK_TOOL_CALL);

    b->id = id && *id ? id : function_call_id(st->p, st->response_id, st->tools);
    st->tools++;
    b->name = tr_jv_get_str(call, "name");
    b->arguments = tr_jv_is_object(args) ? tr_jv_dump(st->p, args, NULL) : "{}";
    sign(b, part_signature(part));
}

static void decode_chunk_parts(gemini_decode_state *st, const tr_jv *chunk)
{
    tr_jv *part;
    apr_size_t i;

    tr_jv_array_foreach(candidate_parts(first_candidate(chunk)), i, part)
    {
        if (tr_jv_get_object(part, "functionCall"))
            decode_function_call_part(st, part);
        else if (tr_jv_is_string(tr_jv_get(part, "text")) || part_signature(part))
            decode_text_part(st, part);
    }
}

/* A complete answer, or the chunks of a streamed array given whole. */
int tr_gemini_response_decode(apr_pool_t *p, tr_jv *body, tr_response *out, aiproxy_error *err)
{
    gemini_decode_state st = {p, out, NULL, 0};
    tr_jv *chunk, *last;
    apr_size_t i;

    memset(out, 0, sizeof(*out));
    last = tr_jv_is_array(body) ? tr_jv_at(body, tr_jv_size(body) - 1) : body;
    if (!tr_jv_is_object(last) || tr_jv_get(last, "error")) {
        tr_resp_error_from_json(p, tr_jv_get(last, "error"), err);
        return err->status;
    }
    out->blocks = apr_array_make(p, 4, sizeof(tr_block *));
    out->id = st.response_id = tr_jv_get_str(last, "responseId");
    out->model = tr_jv_get_str(last, "modelVersion");
    if (tr_jv_is_array(body)) {
        tr_jv_array_foreach(body, i, chunk)
        {
            decode_chunk_parts(&st, chunk);
        }
    } else
        decode_chunk_parts(&st, body);
    out->stop_raw = tr_jv_get_str(first_candidate(last), "finishReason");
    out->stop = prompt_blocked(last)
                    ? TR_STOP_CONTENT_FILTER
                    : tr_stop_after_tool_calls(
                          tr_stop_from_word(AIPROXY_PROTO_GEMINI, out->stop_raw), st.tools > 0);
    tr_usage_read_gemini(tr_jv_get_object(last, "usageMetadata"), &out->usage);
    return 0;
}

/* args object for arguments text, parsed into p (the pool of the tree it goes into); {} when
 * the text is not a JSON object. */
static tr_jv *args_object(apr_pool_t *p, const char *arguments, apr_size_t len)
{
    tr_jv *args = arguments ? tr_resp_parse(p, arguments, len) : NULL;
    return tr_jv_is_object(args) ? args : tr_jv_object(p);
}

/* b's strings are not copied: b must live as long as part's tree. */
static void add_signature(tr_jv *part, const tr_block *b)
{
    if (b->has_signature && b->signature && b->sig_proto == AIPROXY_PROTO_GEMINI)
        tr_jv_set_str(part, "thoughtSignature", b->signature);
}

/* id and name are not copied: they must live as long as the tree made in p. */
static tr_jv *function_call_object(apr_pool_t *p, const char *id, const char *name, tr_jv *args)
{
    tr_jv *call = tr_jv_object(p);
    if (id && *id)
        tr_jv_set_str(call, "id", id);
    tr_jv_set_str(call, "name", name ? name : "");
    tr_jv_set(call, "args", args);
    return call;
}

static tr_jv *encode_part(apr_pool_t *p, const tr_block *b)
{
    tr_jv *part = NULL;

    switch (b->kind) {
    case TR_BLOCK_TEXT:
    case TR_BLOCK_THINKING:
        if ((!b->text || !*b->text) && !b->has_signature)
            return NULL;
        part = tr_jv_pack(p, "{s:s}", "text", b->text ? b->text : "");
        if (b->kind == TR_BLOCK_THINKING)
            tr_jv_set_bool(part, "thought", 1);
        break;
    case TR_BLOCK_TOOL_CALL:
        part =
            tr_jv_pack(p, "{s:o}", "functionCall",
                       function_call_object(
                           p, b->id, b->name,
                           args_object(p, b->arguments, b->arguments ? strlen(b->arguments) : 0)));
        break;
    default:
        return NULL; /* redacted thinking has no Gemini form */
    }
    add_signature(part, b);
    return part;
}

tr_jv *tr_gemini_response_encode(apr_pool_t *p, const tr_response *resp,
                                 const aiproxy_response_spec *spec)
{
    tr_jv *parts = tr_jv_array(p);

    for (int i = 0; resp->blocks && i < resp->blocks->nelts; i++) {
        tr_jv *part = encode_part(p, APR_ARRAY_IDX(resp->blocks, i, tr_block *));
        if (part)
            tr_jv_push(parts, part);
    }
    return tr_jv_pack(p, "{s:[{s:{s:s, s:o}, s:s, s:i}], s:o, s:s, s:s}", "candidates", "content",
                      "role", "model", "parts", parts, "finishReason",
                      tr_stop_word_for(spec, resp->stop, resp->stop_raw), "index", 0,
                      "usageMetadata", tr_usage_to_gemini(p, &resp->usage), "modelVersion",
                      tr_resp_model(spec, resp->model), "responseId",
                      resp->id && *resp->id ? resp->id : tr_resp_random_hex(p));
}

/* ---- stream decoder ---------------------------------------------------------------------- */

struct tr_stream_decoder {
    apr_pool_t *pool;
    tr_scratch *scratch; /* the pipeline's: one event's parse tree (tr_codec.h) */
    int started, ended;
    int next_index;
    int open_index; /* the open text or thinking block, or -1 */
    tr_block_kind open_kind;
    int tools;
    const char *response_id;
    tr_usage usage;
    int call_index;        /* the call whose arguments are streaming in, or -1 */
    tr_partial_args *args; /* its assembler, made on the first streamed call */
    tr_buf *args_text;     /* the arguments delta of one part */
};

tr_stream_decoder *tr_gemini_stream_decoder_create(apr_pool_t *p, tr_scratch *scratch,
                                                   const aiproxy_response_spec *spec)
{
    tr_stream_decoder *d = apr_pcalloc(p, sizeof(*d));

    d->pool = p;
    d->scratch = scratch;
    d->open_index = -1;
    d->call_index = -1;
    return d;
}

static apr_status_t close_open(tr_stream_decoder *d, const tr_emitter *e)
{
    int closing = d->open_index;
    if (closing < 0)
        return APR_SUCCESS;
    d->open_index = -1;
    return tr_emit_block_stop(e, closing, d->open_kind);
}

static apr_status_t stream_text_part(tr_stream_decoder *d, const tr_emitter *e, const tr_jv *part)
{
    tr_block_kind kind = tr_jv_get_bool(part, "thought", 0) ? TR_BLOCK_THINKING : TR_BLOCK_TEXT;
    tr_jv *text = tr_jv_get(part, "text");
    const char *signature = part_signature(part);
    apr_status_t rv;

    if (!signature && (!tr_jv_is_string(text) || tr_jv_str_len(text) == 0))
        return APR_SUCCESS;
    if (d->open_index < 0 || d->open_kind != kind) {
        if ((rv = close_open(d, e)) != APR_SUCCESS)
            return rv;
        if (d->next_index >= TR_RESP_MAX_BLOCKS)
            return APR_SUCCESS;
        d->open_index = d->next_index++;
        d->open_kind = kind;
        if ((rv = tr_emit_block_start(e, d->open_index, kind, NULL, NULL)) != APR_SUCCESS)
            return rv;
    }
    if (tr_jv_is_string(text) && tr_jv_str_len(text) &&
        (rv = tr_emit_delta(e, d->open_index,
                            kind == TR_BLOCK_TEXT ? TR_DELTA_TEXT : TR_DELTA_THINKING,
                            tr_jv_str_value(text), tr_jv_str_len(text))) != APR_SUCCESS)
        return rv;
    return signature ? tr_emit_signature(e, d->open_index, signature, AIPROXY_PROTO_GEMINI)
                     : APR_SUCCESS;
}

/* A call whose arguments stream in parts (streamFunctionCallArguments): the part opening it
 * says willContinue or already carries partialArgs. */
static int opens_streamed_call(const tr_jv *call)
{
    return tr_jv_get_bool(call, "willContinue", 0) || tr_jv_get_array(call, "partialArgs");
}

/* A block start for a call, with its signature when the part has one. */
static apr_status_t start_call(tr_stream_decoder *d, const tr_emitter *e, const tr_jv *part,
                               int *index)
{
    const tr_jv *call = tr_jv_get_object(part, "functionCall");
    const char *id = tr_jv_get_str(call, "id");
    const char *name = tr_jv_get_str(call, "name");
    const char *signature = part_signature(part);
    apr_status_t rv;

    *index = -1;
    if ((rv = close_open(d, e)) != APR_SUCCESS || d->next_index >= TR_RESP_MAX_BLOCKS)
        return rv;
    *index = d->next_index++;
    if (!id || !*id)
        id = function_call_id(tr_scratch_pool(d->scratch), d->response_id, d->tools);
    d->tools++;
    if ((rv = tr_emit_block_start(e, *index, TR_BLOCK_TOOL_CALL, id, name ? name : "")) !=
        APR_SUCCESS)
        return rv;
    return signature ? tr_emit_signature(e, *index, signature, AIPROXY_PROTO_GEMINI) : APR_SUCCESS;
}

/* One part of a streamed call: its partialArgs as the next arguments delta; the part without
 * willContinue also closes the arguments and the block. */
static apr_status_t continue_streamed_call(tr_stream_decoder *d, const tr_emitter *e,
                                           const tr_jv *call)
{
    int index = d->call_index, last = !tr_jv_get_bool(call, "willContinue", 0);
    apr_status_t rv;

    if (!d->args) {
        d->args = tr_partial_args_create(d->pool, GEMINI_MAX_ARGUMENTS);
        d->args_text = tr_buf_make(d->pool, 0);
    }
    tr_buf_reset(d->args_text);
    tr_partial_args_apply(d->args, tr_scratch_pool(d->scratch),
                          tr_jv_get_array(call, "partialArgs"), d->args_text);
    if (last) {
        tr_partial_args_finish(d->args, d->args_text);
        d->call_index = -1;
    }
    if (d->args_text->len && (rv = tr_emit_delta(e, index, TR_DELTA_ARGUMENTS, d->args_text->data,
                                                 d->args_text->len)) != APR_SUCCESS)
        return rv;
    return last ? tr_emit_block_stop(e, index, TR_BLOCK_TOOL_CALL) : APR_SUCCESS;
}

/* Close a streamed call the upstream left open (a new call, the end of the answer). */
static apr_status_t end_streamed_call(tr_stream_decoder *d, const tr_emitter *e)
{
    static tr_jv last_part = {TR_JV_OBJECT, {0}};

    return d->call_index < 0 ? APR_SUCCESS : continue_streamed_call(d, e, &last_part);
}

static apr_status_t stream_function_call_part(tr_stream_decoder *d, const tr_emitter *e,
                                              const tr_jv *part)
{
    const tr_jv *call = tr_jv_get_object(part, "functionCall");
    const char *signature = part_signature(part);
    tr_jv *args = tr_jv_get(call, "args");
    const char *arguments = "{}";
    apr_size_t len = 2;
    int index;
    apr_status_t rv;

    /* Parts without a name go on with the call being streamed. */
    if (!tr_jv_get_str(call, "name")) {
        if (d->call_index < 0)
            return APR_SUCCESS; /* nothing to go on with: not a call */
        if (signature && (rv = tr_emit_signature(e, d->call_index, signature,
                                                 AIPROXY_PROTO_GEMINI)) != APR_SUCCESS)
            return rv;
        return continue_streamed_call(d, e, call);
    }
    if ((rv = end_streamed_call(d, e)) != APR_SUCCESS ||
        (rv = start_call(d, e, part, &index)) != APR_SUCCESS || index < 0)
        return rv;
    if (opens_streamed_call(call)) {
        d->call_index = index;
        return continue_streamed_call(d, e, call);
    }
    if (tr_jv_is_object(args))
        arguments = tr_jv_dump(tr_scratch_pool(d->scratch), args, &len);
    if ((rv = tr_emit_delta(e, index, TR_DELTA_ARGUMENTS, arguments, len)) != APR_SUCCESS)
        return rv;
    return tr_emit_block_stop(e, index, TR_BLOCK_TOOL_CALL);
}

static apr_status_t stream_parts(tr_stream_decoder *d, const tr_emitter *e, const tr_jv *parts)
{
    tr_jv *part;
    apr_size_t i;
    apr_status_t rv = APR_SUCCESS;

    tr_jv_array_foreach(parts, i, part)
    {
        if (tr_jv_get_object(part, "functionCall"))
            rv = stream_function_call_part(d, e, part);
        else
            rv = stream_text_part(d, e, part);
        if (rv != APR_SUCCESS)
            return rv;
    }
    return APR_SUCCESS;
}

static apr_status_t decode_stream_chunk(tr_stream_decoder *d, const tr_emitter *e,
                                        const tr_jv *chunk)
{
    const tr_jv *candidate = first_candidate(chunk);
    const char *finish = tr_jv_get_str(candidate, "finishReason");
    apr_status_t rv;

    if (tr_jv_get(chunk, "error")) {
        aiproxy_error err;
        tr_resp_error_from_json(tr_scratch_pool(d->scratch), tr_jv_get(chunk, "error"), &err);
        d->ended = 1;
        return tr_emit_error(e, &err);
    }
    /* Every chunk carries the prompt count: read before the start, which reports it. */
    tr_usage_read_gemini(tr_jv_get_object(chunk, "usageMetadata"), &d->usage);
    if (!d->started) {
        d->started = 1;
        d->response_id = apr_pstrdup(
            d->pool, tr_jv_get_str(chunk, "responseId") ? tr_jv_get_str(chunk, "responseId") : "");
        rv = tr_emit_message_start(e, *d->response_id ? d->response_id : NULL,
                                   tr_jv_get_str(chunk, "modelVersion"), 0, &d->usage);
        if (rv != APR_SUCCESS)
            return rv;
    }
    if ((rv = stream_parts(d, e, candidate_parts(candidate))) != APR_SUCCESS)
        return rv;
    if (!finish && !prompt_blocked(chunk))
        return APR_SUCCESS;
    if ((rv = end_streamed_call(d, e)) != APR_SUCCESS || (rv = close_open(d, e)) != APR_SUCCESS)
        return rv;
    d->ended = 1;
    return tr_emit_message_end(
        e,
        finish ? tr_stop_after_tool_calls(tr_stop_from_word(AIPROXY_PROTO_GEMINI, finish),
                                          d->tools > 0)
               : TR_STOP_CONTENT_FILTER,
        finish ? finish : tr_jv_get_str(tr_jv_get_object(chunk, "promptFeedback"), "blockReason"),
        NULL, &d->usage);
}

apr_status_t tr_gemini_stream_decode(tr_stream_decoder *d, const char *event, const char *data,
                                     apr_size_t len, tr_event_fn emit, void *baton)
{
    tr_emitter e = {emit, baton};
    tr_jv *chunk;
    apr_status_t rv = APR_SUCCESS;

    if (!data || d->ended)
        return APR_SUCCESS; /* the chunk with finishReason ends a Gemini stream */
    rv = tr_resp_parse_event(tr_scratch_pool(d->scratch), data, len, &chunk);
    /* An error streamed as a one-element array. */
    if (tr_jv_is_array(chunk))
        chunk = tr_jv_at(chunk, 0);
    if (rv == APR_SUCCESS && tr_jv_is_object(chunk))
        rv = decode_stream_chunk(d, &e, chunk);
    return rv;
}

/* ---- stream encoder handlers (driven by pipeline/tr_stream_encoder.c) ---------------------- */

typedef struct {
    signed char kind; /* tr_block_kind, -1 = never started */
    char open;
    const char *id, *name;
    tr_buf *arguments;     /* TOOL_CALL: fragments held until the block stops */
    const char *signature; /* TOOL_CALL: Gemini thoughtSignature for the functionCall part */
} gemini_client_block;

/* The encoder's own state (enc->state). */
typedef struct {
    apr_array_header_t *blocks; /* gemini_client_block by IR index */
    const char *tail;           /* ,"modelVersion":..,"responseId":..} closing every chunk */
    int chunks;                 /* chunks written (JSON array framing: "[" before the first) */
    int finished;
} gemini_stream_state;

static void init_stream(tr_stream_encoder *enc)
{
    gemini_stream_state *st = enc->state;
    st->blocks = apr_array_make(enc->pool, 8, sizeof(gemini_client_block));
}

static int array_framing(const tr_stream_encoder *enc)
{
    return enc->spec.client_stream == AIPROXY_STREAM_JSON_ARRAY;
}

static void begin_chunk(tr_stream_encoder *enc)
{
    gemini_stream_state *st = enc->state;

    if (array_framing(enc))
        tr_buf_adds(&enc->out, st->chunks ? ",\r\n" : "[");
    else
        tr_buf_adds(&enc->out, "data: ");
    st->chunks++;
}

static void end_chunk(tr_stream_encoder *enc)
{
    if (!array_framing(enc))
        tr_buf_adds(&enc->out, "\r\n\r\n");
}

static void start_chunks(tr_stream_encoder *enc, const tr_event *start)
{
    apr_pool_t *scratch = tr_scratch_pool(enc->scratch);
    gemini_stream_state *st = enc->state;

    tr_buf *tail = tr_buf_make(scratch, 0);

    tr_buf_adds(tail, ",\"modelVersion\":");
    tr_buf_json_cstring(tail, tr_resp_model(&enc->spec, start ? start->model : NULL));
    tr_buf_adds(tail, ",\"responseId\":");
    tr_buf_json_cstring(tail,
                        start && start->id && *start->id ? start->id : tr_resp_random_hex(scratch));
    tr_buf_adds(tail, "}");
    st->tail = apr_pstrmemdup(enc->pool, tail->data, tail->len);
}

/* A chunk holding one part: the part's JSON object text in part. */
static void write_part_chunk(tr_stream_encoder *enc, const char *part, apr_size_t len)
{
    gemini_stream_state *st = enc->state;

    begin_chunk(enc);
    tr_buf_adds(&enc->out, "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[");
    tr_buf_add(&enc->out, part, len);
    tr_buf_adds(&enc->out, "]},\"index\":0}]");
    tr_buf_adds(&enc->out, st->tail);
    end_chunk(enc);
}

static gemini_client_block *client_block(tr_stream_encoder *enc, int index)
{
    gemini_stream_state *st = enc->state;

    return index >= 0 && index < st->blocks->nelts
               ? &APR_ARRAY_IDX(st->blocks, index, gemini_client_block)
               : NULL;
}

static void on_client_block_start(tr_stream_encoder *enc, const tr_event *ev)
{
    gemini_stream_state *st = enc->state;

    gemini_client_block *b;

    if (ev->index < 0 || ev->index >= TR_RESP_MAX_BLOCKS)
        return;
    while (st->blocks->nelts <= ev->index) {
        b = apr_array_push(st->blocks);
        memset(b, 0, sizeof(*b));
        b->kind = -1;
    }
    b = client_block(enc, ev->index);
    if (b->kind != -1)
        return;
    b->kind = (signed char) ev->block_kind;
    b->open = 1;
    if (ev->block_kind == TR_BLOCK_TOOL_CALL) {
        b->id = ev->id ? apr_pstrdup(enc->pool, ev->id) : NULL;
        b->name = apr_pstrdup(enc->pool, ev->name ? ev->name : "");
        b->arguments = tr_buf_make(enc->pool, GEMINI_MAX_ARGUMENTS);
    }
}

/* {"text":..,"thought":true?,"thoughtSignature":..?} */
static void text_part(tr_buf *part, const char *text, apr_size_t len, int thought,
                      const char *signature, apr_size_t signature_len)
{
    tr_buf_adds(part, "{\"text\":");
    tr_buf_json_string(part, text, len);
    if (thought)
        tr_buf_adds(part, ",\"thought\":true");
    if (signature) {
        tr_buf_adds(part, ",\"thoughtSignature\":");
        tr_buf_json_string(part, signature, signature_len);
    }
    tr_buf_adds(part, "}");
}

static void on_client_delta(tr_stream_encoder *enc, const tr_event *ev)
{
    gemini_client_block *b = client_block(enc, ev->index);
    const char *text = ev->text ? ev->text : "";
    apr_size_t len = ev->text ? ev->len : 0;
    tr_buf *part = tr_buf_make(tr_scratch_pool(enc->scratch), 0);

    if (!b || !b->open)
        return;
    if (b->kind == TR_BLOCK_TOOL_CALL) {
        if (ev->delta_kind == TR_DELTA_ARGUMENTS)
            tr_buf_add(b->arguments, text, len);
        else if (ev->delta_kind == TR_DELTA_SIGNATURE && ev->sig_proto == AIPROXY_PROTO_GEMINI)
            b->signature = apr_pstrmemdup(enc->pool, text, len);
        return;
    }
    if (b->kind != TR_BLOCK_TEXT && b->kind != TR_BLOCK_THINKING)
        return;
    if ((ev->delta_kind == TR_DELTA_TEXT || ev->delta_kind == TR_DELTA_THINKING) && len)
        text_part(part, text, len, b->kind == TR_BLOCK_THINKING, NULL, 0);
    else if (ev->delta_kind == TR_DELTA_SIGNATURE && ev->sig_proto == AIPROXY_PROTO_GEMINI)
        text_part(part, "", 0, b->kind == TR_BLOCK_THINKING, text, len);
    if (part->len)
        write_part_chunk(enc, part->data, part->len);
}

/* A streamed call leaves as one functionCall part once its arguments are complete. */
static void close_client_block(tr_stream_encoder *enc, int index)
{
    gemini_client_block *b = client_block(enc, index);
    tr_jv *part;
    apr_size_t n;
    const char *text;

    if (!b || !b->open)
        return;
    b->open = 0;
    if (b->kind != TR_BLOCK_TOOL_CALL)
        return;
    /* Built and dumped in scratch (released after this event); the args tree is parsed there
     * too, so nothing of it outlives the event. id, name and signature live in enc->pool. */
    part = tr_jv_pack(tr_scratch_pool(enc->scratch), "{s:o}", "functionCall",
                      function_call_object(
                          tr_scratch_pool(enc->scratch), b->id, b->name,
                          b->arguments->over ? tr_jv_object(tr_scratch_pool(enc->scratch))
                                             : args_object(tr_scratch_pool(enc->scratch),
                                                           b->arguments->data, b->arguments->len)));
    if (b->signature)
        tr_jv_set_str(part, "thoughtSignature", b->signature);
    text = tr_jv_dump(tr_scratch_pool(enc->scratch), part, &n);
    tr_buf_release(b->arguments);
    write_part_chunk(enc, text, n);
}

static void on_client_block_stop(tr_stream_encoder *enc, const tr_event *ev)
{
    close_client_block(enc, ev->index);
}

static void write_finish(tr_stream_encoder *enc, const tr_event *ev)
{
    gemini_stream_state *st = enc->state;

    if (st->finished)
        return;
    st->finished = 1;
    for (int i = 0; i < st->blocks->nelts; i++)
        close_client_block(enc, i);
    begin_chunk(enc);
    tr_buf_adds(&enc->out, "{\"candidates\":[{\"finishReason\":");
    tr_buf_json_cstring(&enc->out, tr_stop_word_for(&enc->spec, ev->stop, ev->stop_raw));
    tr_buf_adds(&enc->out, ",\"index\":0}],\"usageMetadata\":");
    tr_jv_write(&enc->out, tr_usage_to_gemini(tr_scratch_pool(enc->scratch), &enc->usage));
    tr_buf_adds(&enc->out, st->tail);
    end_chunk(enc);
}

static void write_end(tr_stream_encoder *enc, const tr_event *ev)
{
    gemini_stream_state *st = enc->state;

    tr_event natural_end = {.kind = TR_EV_MESSAGE_DELTA, .stop = TR_STOP_END_TURN};

    write_finish(enc, &natural_end);
    if (array_framing(enc))
        tr_buf_adds(&enc->out, st->chunks ? "]" : "[]");
}

static void write_error(tr_stream_encoder *enc, const tr_event *ev)
{
    tr_jv *body = tr_gemini_codec.error_encode(tr_scratch_pool(enc->scratch), &ev->error);

    begin_chunk(enc);
    tr_jv_write(&enc->out, body);
    end_chunk(enc);
    if (array_framing(enc))
        tr_buf_adds(&enc->out, "]");
}

const tr_stream_encoding tr_gemini_stream_encoding = {
    .state_size = sizeof(gemini_stream_state),
    .init = init_stream,
    .start = start_chunks,
    .on =
        {
            [TR_EV_BLOCK_START] = on_client_block_start,
            [TR_EV_BLOCK_DELTA] = on_client_delta,
            [TR_EV_BLOCK_STOP] = on_client_block_stop,
            [TR_EV_MESSAGE_DELTA] = write_finish,
            [TR_EV_MESSAGE_STOP] = write_end,
            [TR_EV_ERROR] = write_error,
        },
};
