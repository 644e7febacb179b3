/*
 * codec/openai_response.c: OpenAI Chat Completions responses: chat.completion JSON <->
 * tr_response, chat.completion.chunk stream -> IR events (decoder), IR events -> chunks and
 * "data: [DONE]" (encoder).
 *
 * Thinking travels as reasoning_content (the field OpenAI-compatible reasoning servers use;
 * "reasoning" is read too). Chat Completions has nowhere to put signatures: they are dropped.
 */
#include <string.h>
#include "apr_strings.h"
#include "json/tr_json_string.h"
#include "json/tr_jv.h"
#include "codec/tr_protocols.h"
#include "codec/tr_fast_scan.h"
#include "codec/tr_response_util.h"
#include "tr_stop.h"
#include "tr_usage.h"

/* The first choice (index 0) of a completion or chunk; other choices (n > 1) are not carried. */
static tr_jv *first_choice(const tr_jv *body)
{
    tr_jv *choices = tr_jv_get_array(body, "choices"), *choice;
    size_t i;
    long long index;

    tr_jv_array_foreach(choices, i, choice)
    {
        if (!tr_jv_get_int(choice, "index", &index) || index == 0)
            return tr_jv_is_object(choice) ? choice : NULL;
    }
    return NULL;
}

/* Message content as text: a string, or the text parts of an array of parts. */
static const char *content_text(apr_pool_t *p, const tr_jv *content)
{
    tr_jv *part;
    size_t i;
    const char *joined = NULL;

    if (tr_jv_is_string(content))
        return tr_jv_str_value(content);
    tr_jv_array_foreach(content, i, part)
    {
        const char *text = tr_jv_get_str(part, "text");
        if (text)
            joined = joined ? apr_pstrcat(p, joined, text, NULL) : text;
    }
    return joined;
}

/* reasoning_content (DeepSeek, vLLM, most servers) or reasoning (OpenRouter, newer vLLM). */
static tr_jv *reasoning_member(const tr_jv *obj)
{
    tr_jv *r = tr_jv_get(obj, "reasoning_content");
    return tr_jv_is_string(r) ? r : tr_jv_get(obj, "reasoning");
}

/* ---- complete responses ---------------------------------------------------------------- */

static tr_block *push_block(apr_pool_t *p, tr_response *out, tr_block_kind kind)
{
    tr_block *b = apr_pcalloc(p, sizeof(*b));
    b->kind = kind;
    APR_ARRAY_PUSH(out->blocks, tr_block *) = b;
    return b;
}

static void decode_tool_calls(apr_pool_t *p, const tr_jv *calls, tr_response *out)
{
    tr_jv *call;
    size_t i;

    tr_jv_array_foreach(calls, i, call)
    {
        const tr_jv *function = tr_jv_get_object(call, "function");
        const char *arguments = tr_jv_get_str(function, "arguments");
        tr_block *b;

        if (!function)
            continue;
        b = push_block(p, out, TR_BLOCK_TOOL_CALL);
        b->id = tr_jv_get_str(call, "id");
        b->name = tr_jv_get_str(function, "name");
        b->arguments = arguments && *arguments ? arguments : "{}";
    }
}

int tr_openai_response_decode(apr_pool_t *p, tr_jv *body, tr_response *out, aiproxy_error *err)
{
    const tr_jv *choice, *message;
    const char *text;
    tr_jv *reasoning;
    long long created;

    memset(out, 0, sizeof(*out));
    if (!tr_jv_is_object(body) || tr_jv_get(body, "error")) {
        tr_resp_error_from_json(p, tr_jv_get(body, "error"), err);
        return err->status;
    }
    out->id = tr_jv_get_str(body, "id");
    out->model = tr_jv_get_str(body, "model");
    if (tr_jv_get_int(body, "created", &created))
        out->created = created;
    out->blocks = apr_array_make(p, 4, sizeof(tr_block *));
    choice = first_choice(body);
    message = tr_jv_get_object(choice, "message");
    reasoning = reasoning_member(message);
    if (tr_jv_is_string(reasoning) && tr_jv_str_len(reasoning))
        push_block(p, out, TR_BLOCK_THINKING)->text = tr_jv_str_value(reasoning);
    text = content_text(p, tr_jv_get(message, "content"));
    if (!text || !*text)
        text = tr_jv_get_str(message, "refusal");
    if (text && *text)
        push_block(p, out, TR_BLOCK_TEXT)->text = text;
    decode_tool_calls(p, tr_jv_get_array(message, "tool_calls"), out);
    out->stop_raw = tr_jv_get_str(choice, "finish_reason");
    out->stop = tr_stop_after_tool_calls(tr_stop_from_word(AIPROXY_PROTO_OPENAI, out->stop_raw),
                                         tr_jv_get_array(message, "tool_calls") &&
                                             tr_jv_size(tr_jv_get_array(message, "tool_calls")));
    tr_usage_read_openai(tr_jv_get_object(body, "usage"), &out->usage);
    return 0;
}

/* All blocks of one kind, concatenated (Chat Completions has one content and one reasoning
 * string per message). NULL when there is none. */
static const char *joined_text(apr_pool_t *p, const tr_response *resp, tr_block_kind kind)
{
    const char *joined = NULL;
    for (int i = 0; resp->blocks && i < resp->blocks->nelts; i++) {
        const tr_block *b = APR_ARRAY_IDX(resp->blocks, i, const tr_block *);
        if (b->kind == kind && b->text)
            joined = joined ? apr_pstrcat(p, joined, b->text, NULL) : b->text;
    }
    return joined;
}

static tr_jv *encode_tool_calls(apr_pool_t *p, const tr_response *resp)
{
    tr_jv *calls = tr_jv_array(p);
    for (int i = 0; resp->blocks && i < resp->blocks->nelts; i++) {
        const tr_block *b = APR_ARRAY_IDX(resp->blocks, i, const tr_block *);
        if (b->kind != TR_BLOCK_TOOL_CALL)
            continue;
        tr_jv_push(calls,
                   tr_jv_pack(p, "{s:s, s:s, s:{s:s, s:s}}", "id",
                              b->id && *b->id ? b->id : tr_resp_prefixed_id(p, "call_", NULL),
                              "type", "function", "function", "name", b->name ? b->name : "",
                              "arguments", b->arguments && *b->arguments ? b->arguments : "{}"));
    }
    return calls;
}

tr_jv *tr_openai_response_encode(apr_pool_t *p, const tr_response *resp,
                                 const aiproxy_response_spec *spec)
{
    const char *text = joined_text(p, resp, TR_BLOCK_TEXT);
    const char *reasoning = joined_text(p, resp, TR_BLOCK_THINKING);
    tr_jv *calls = encode_tool_calls(p, resp);
    tr_jv *message =
        tr_jv_pack(p, "{s:s, s:s?, s:n}", "role", "assistant", "content", text, "refusal");

    if (!text)
        tr_jv_set(message, "content", tr_jv_null());
    if (reasoning && *reasoning)
        tr_jv_set(message, "reasoning_content", tr_jv_string(p, reasoning));
    if (tr_jv_size(calls))
        tr_jv_set(message, "tool_calls", calls);
    return tr_jv_pack(p, "{s:s, s:s, s:I, s:s, s:[{s:i, s:o, s:n, s:s}], s:o}", "id",
                      tr_resp_prefixed_id(p, "chatcmpl-", resp->id), "object", "chat.completion",
                      "created", (long long) (resp->created ? resp->created : tr_resp_now()),
                      "model", tr_resp_model(spec, resp->model), "choices", "index", 0, "message",
                      message, "logprobs", "finish_reason",
                      tr_stop_word_for(spec, resp->stop, resp->stop_raw), "usage",
                      tr_usage_to_openai(p, &resp->usage));
}

/* ---- stream decoder ---------------------------------------------------------------------- */

typedef struct {
    long long tool_index; /* tool_calls[].index from the upstream */
    int index;            /* IR block index */
    int open;
    int got_arguments;
    /* Where the arguments text stands, scanned as it passes (nothing is kept): the call is
     * complete once its outer object closes. */
    int depth, balanced;
    tr_json_string string;
} openai_tool;

/* Follow the argument fragments' brackets so a call whose object has closed can be stopped
 * when the next one starts (clients then see one block after the other, as from Anthropic). */
static void scan_arguments(openai_tool *tool, const char *text, apr_size_t len)
{
    for (apr_size_t i = 0; i < len; i++) {
        char c = text[i];
        if (tr_json_string_read(&tool->string, c))
            continue;
        if (c == '"')
            tool->string.open = 1;
        else if (c == '{' || c == '[')
            tool->depth++;
        else if ((c == '}' || c == ']') && --tool->depth == 0)
            tool->balanced = 1;
        else if (c != ' ' && c != '\t' && c != '\r' && c != '\n' && tool->depth == 0)
            tool->balanced = 0;
    }
}

struct tr_stream_decoder {
    apr_pool_t *pool;
    tr_scratch *scratch; /* the pipeline's: one event's parse tree (tr_codec.h) */
    int started, ended;
    int next_index;
    int text_index, thinking_index; /* open text / thinking block, or -1 */
    apr_array_header_t *tools;      /* openai_tool, every call seen (late fragments find it) */
    int have_stop, have_usage;
    tr_stop stop;
    const char *stop_raw;
    tr_usage usage;
};

tr_stream_decoder *tr_openai_stream_decoder_create(apr_pool_t *p, tr_scratch *scratch,
                                                   const aiproxy_response_spec *spec)
{
    tr_stream_decoder *d = apr_pcalloc(p, sizeof(*d));

    d->pool = p;
    d->scratch = scratch;
    d->text_index = d->thinking_index = -1;
    d->tools = apr_array_make(p, 4, sizeof(openai_tool));
    return d;
}

static apr_status_t close_open(const tr_emitter *e, int *index, tr_block_kind kind)
{
    int closing = *index;
    if (closing < 0)
        return APR_SUCCESS;
    *index = -1;
    return tr_emit_block_stop(e, closing, kind);
}

static apr_status_t close_tool(const tr_emitter *e, openai_tool *tool)
{
    apr_status_t rv = APR_SUCCESS;
    if (!tool->open)
        return APR_SUCCESS;
    tool->open = 0;
    if (!tool->got_arguments)
        rv = tr_emit_delta(e, tool->index, TR_DELTA_ARGUMENTS, "{}", 2);
    return rv == APR_SUCCESS ? tr_emit_block_stop(e, tool->index, TR_BLOCK_TOOL_CALL) : rv;
}

static apr_status_t close_all(tr_stream_decoder *d, const tr_emitter *e)
{
    apr_status_t rv = close_open(e, &d->text_index, TR_BLOCK_TEXT);
    if (rv == APR_SUCCESS)
        rv = close_open(e, &d->thinking_index, TR_BLOCK_THINKING);
    for (int i = 0; rv == APR_SUCCESS && i < d->tools->nelts; i++)
        rv = close_tool(e, &APR_ARRAY_IDX(d->tools, i, openai_tool));
    return rv;
}

/* Text after thinking (or the reverse) starts a new block; a block of the same kind continues. */
static apr_status_t append_text_bytes(tr_stream_decoder *d, const tr_emitter *e, tr_block_kind kind,
                                      const char *text, apr_size_t len)
{
    int *mine = kind == TR_BLOCK_TEXT ? &d->text_index : &d->thinking_index;
    int *other = kind == TR_BLOCK_TEXT ? &d->thinking_index : &d->text_index;
    apr_status_t rv;

    if (len == 0)
        return APR_SUCCESS;
    if (*mine < 0) {
        if (d->next_index >= TR_RESP_MAX_BLOCKS)
            return APR_SUCCESS;
        rv = close_open(e, other, kind == TR_BLOCK_TEXT ? TR_BLOCK_THINKING : TR_BLOCK_TEXT);
        if (rv != APR_SUCCESS)
            return rv;
        *mine = d->next_index++;
        if ((rv = tr_emit_block_start(e, *mine, kind, NULL, NULL)) != APR_SUCCESS)
            return rv;
    }
    return tr_emit_delta(e, *mine, kind == TR_BLOCK_TEXT ? TR_DELTA_TEXT : TR_DELTA_THINKING, text,
                         len);
}

static apr_status_t append_text(tr_stream_decoder *d, const tr_emitter *e, tr_block_kind kind,
                                const tr_jv *value)
{
    if (!tr_jv_is_string(value))
        return APR_SUCCESS;
    return append_text_bytes(d, e, kind, tr_jv_str_value(value), tr_jv_str_len(value));
}

static openai_tool *find_tool(tr_stream_decoder *d, long long tool_index)
{
    for (int i = 0; i < d->tools->nelts; i++) {
        openai_tool *t = &APR_ARRAY_IDX(d->tools, i, openai_tool);
        if (t->tool_index == tool_index)
            return t;
    }
    return NULL;
}

static apr_status_t open_tool(tr_stream_decoder *d, const tr_emitter *e, long long tool_index,
                              const tr_jv *call, openai_tool **out)
{
    const char *id = tr_jv_get_str(call, "id");
    const char *name = tr_jv_get_str(tr_jv_get_object(call, "function"), "name");
    openai_tool *tool;
    apr_status_t rv;

    *out = NULL;
    if (d->next_index >= TR_RESP_MAX_BLOCKS)
        return APR_SUCCESS;
    if ((rv = close_open(e, &d->text_index, TR_BLOCK_TEXT)) != APR_SUCCESS ||
        (rv = close_open(e, &d->thinking_index, TR_BLOCK_THINKING)) != APR_SUCCESS)
        return rv;
    /* Earlier calls whose arguments are complete end here; others stay open for late
     * fragments (a server interleaving parallel calls). */
    for (int i = 0; i < d->tools->nelts; i++) {
        openai_tool *earlier = &APR_ARRAY_IDX(d->tools, i, openai_tool);
        if (earlier->open && earlier->balanced && (rv = close_tool(e, earlier)) != APR_SUCCESS)
            return rv;
    }
    tool = apr_array_push(d->tools);
    memset(tool, 0, sizeof(*tool));
    tool->tool_index = tool_index;
    tool->index = d->next_index++;
    tool->open = 1;
    *out = tool;
    return tr_emit_block_start(
        e, tool->index, TR_BLOCK_TOOL_CALL,
        id && *id ? id : tr_resp_prefixed_id(tr_scratch_pool(d->scratch), "call_", NULL),
        name ? name : "");
}

static apr_status_t append_tool_calls(tr_stream_decoder *d, const tr_emitter *e, const tr_jv *calls)
{
    tr_jv *call;
    size_t i;

    tr_jv_array_foreach(calls, i, call)
    {
        long long tool_index;
        openai_tool *tool;
        tr_jv *arguments;
        apr_status_t rv;

        if (!tr_jv_get_int(call, "index", &tool_index))
            tool_index = (long long) i;
        tool = find_tool(d, tool_index);
        if (!tool && (rv = open_tool(d, e, tool_index, call, &tool)) != APR_SUCCESS)
            return rv;
        arguments = tr_jv_get(tr_jv_get_object(call, "function"), "arguments");
        if (!tool || !tool->open || !tr_jv_is_string(arguments) || !tr_jv_str_len(arguments))
            continue;
        tool->got_arguments = 1;
        scan_arguments(tool, tr_jv_str_value(arguments), tr_jv_str_len(arguments));
        rv = tr_emit_delta(e, tool->index, TR_DELTA_ARGUMENTS, tr_jv_str_value(arguments),
                           tr_jv_str_len(arguments));
        if (rv != APR_SUCCESS)
            return rv;
    }
    return APR_SUCCESS;
}

static apr_status_t finish_message(tr_stream_decoder *d, const tr_emitter *e)
{
    apr_status_t rv = close_all(d, e);
    if (rv != APR_SUCCESS)
        return rv;
    d->ended = 1;
    return tr_emit_message_end(e, d->have_stop ? d->stop : TR_STOP_END_TURN, d->stop_raw, NULL,
                               &d->usage);
}

static apr_status_t decode_choice(tr_stream_decoder *d, const tr_emitter *e, const tr_jv *choice)
{
    const tr_jv *delta = tr_jv_get_object(choice, "delta");
    const char *finish = tr_jv_get_str(choice, "finish_reason");
    apr_status_t rv;

    if ((rv = append_text(d, e, TR_BLOCK_THINKING, reasoning_member(delta))) != APR_SUCCESS ||
        (rv = append_text(d, e, TR_BLOCK_TEXT, tr_jv_get(delta, "content"))) != APR_SUCCESS ||
        (rv = append_text(d, e, TR_BLOCK_TEXT, tr_jv_get(delta, "refusal"))) != APR_SUCCESS ||
        (rv = append_tool_calls(d, e, tr_jv_get_array(delta, "tool_calls"))) != APR_SUCCESS)
        return rv;
    if (finish && !d->have_stop) {
        d->have_stop = 1;
        d->stop_raw = apr_pstrdup(d->pool, finish);
        d->stop = tr_stop_after_tool_calls(tr_stop_from_word(AIPROXY_PROTO_OPENAI, finish),
                                           d->tools->nelts > 0);
        return close_all(d, e);
    }
    return APR_SUCCESS;
}

static apr_status_t decode_chunk(tr_stream_decoder *d, const tr_emitter *e, const tr_jv *chunk)
{
    const tr_jv *choice;
    apr_status_t rv;

    if (tr_jv_get(chunk, "error")) {
        aiproxy_error err;
        tr_resp_error_from_json(tr_scratch_pool(d->scratch), tr_jv_get(chunk, "error"), &err);
        d->ended = 1;
        return tr_emit_error(e, &err);
    }
    if (!d->started) {
        long long created = 0;
        d->started = 1;
        tr_jv_get_int(chunk, "created", &created);
        rv = tr_emit_message_start(e, tr_jv_get_str(chunk, "id"), tr_jv_get_str(chunk, "model"),
                                   created, NULL);
        if (rv != APR_SUCCESS)
            return rv;
    }
    if (tr_jv_get_object(chunk, "usage")) {
        tr_usage_read_openai(tr_jv_get_object(chunk, "usage"), &d->usage);
        d->have_usage = 1;
    }
    if ((choice = first_choice(chunk)) && (rv = decode_choice(d, e, choice)) != APR_SUCCESS)
        return rv;
    /* The answer is complete once both the finish reason and the usage are known. */
    return d->have_stop && d->have_usage ? finish_message(d, e) : APR_SUCCESS;
}

/* ---- fast path: content-only chunks without a parsed tree (see codec/tr_fast_scan.h) ---- */

/* Once the stream has started, a chunk's id, object, created, model, system_fingerprint and
 * service_tier no longer matter to decode_chunk (they are read from the first chunk only), so
 * the fast path checks them and lets them go. Anything decode_chunk would act on besides the
 * content (error, usage object, tool_calls, reasoning, refusal text, a finish reason, choices
 * other than one of index 0) is undeclared or must be null, and so bails. */
enum { FAST_CHOICE_INDEX, FAST_CONTENT, FAST_SLOTS };

static const tr_fast_member fast_delta_members[] = {
    {"content", TR_FAST_STRING, FAST_CONTENT, NULL},
    {"role", TR_FAST_SCALAR, -1, NULL}, /* decode_choice never reads it */
    {"refusal", TR_FAST_NULL, -1, NULL},
};
static const tr_fast_shape fast_delta_shape = TR_FAST_SHAPE(fast_delta_members);

static const tr_fast_member fast_choice_members[] = {
    {"index", TR_FAST_INT, FAST_CHOICE_INDEX, NULL},
    {"delta", TR_FAST_OBJECT, -1, &fast_delta_shape},
    {"logprobs", TR_FAST_NULL, -1, NULL},
    {"finish_reason", TR_FAST_NULL, -1, NULL},
};
static const tr_fast_shape fast_choice_shape = TR_FAST_SHAPE(fast_choice_members);

static const tr_fast_member fast_chunk_members[] = {
    {"id", TR_FAST_SCALAR, -1, NULL},
    {"object", TR_FAST_SCALAR, -1, NULL},
    {"created", TR_FAST_SCALAR, -1, NULL},
    {"model", TR_FAST_SCALAR, -1, NULL},
    {"system_fingerprint", TR_FAST_SCALAR, -1, NULL},
    {"service_tier", TR_FAST_SCALAR, -1, NULL},
    {"obfuscation", TR_FAST_SCALAR, -1, NULL},
    {"usage", TR_FAST_NULL, -1, NULL},
    {"choices", TR_FAST_ONE_OBJECT, -1, &fast_choice_shape},
};
static const tr_fast_shape fast_chunk_shape = TR_FAST_SHAPE(fast_chunk_members);

/* 1 when data was such a chunk and *rv holds what decode_chunk would have returned; 0 to
 * take the parsing path. */
static int fast_content_chunk(tr_stream_decoder *d, const char *data, apr_size_t len,
                              const tr_emitter *e, apr_status_t *rv)
{
    tr_fast_value v[FAST_SLOTS] = {{0}};

    if (!tr_fast_enabled() || !d->started ||
        !tr_fast_scan(tr_scratch_pool(d->scratch), data, len, &fast_chunk_shape, v) ||
        !v[FAST_CHOICE_INDEX].present || v[FAST_CHOICE_INDEX].num != 0 || !v[FAST_CONTENT].present)
        return 0;
    *rv = append_text_bytes(d, e, TR_BLOCK_TEXT, v[FAST_CONTENT].str, v[FAST_CONTENT].len);
    if (*rv == APR_SUCCESS && d->have_stop && d->have_usage)
        *rv = finish_message(d, e);
    tr_fast_note_taken();
    return 1;
}

apr_status_t tr_openai_stream_decode(tr_stream_decoder *d, const char *event, const char *data,
                                     apr_size_t len, tr_event_fn emit, void *baton)
{
    tr_emitter e = {emit, baton};
    apr_status_t rv = APR_SUCCESS;
    tr_jv *chunk;

    if (d->ended)
        return APR_SUCCESS;
    if (!data) /* end of body without [DONE]: complete if a finish reason came */
        return d->have_stop ? finish_message(d, &e) : APR_SUCCESS;
    if (len >= 6 && !strncmp(data, "[DONE]", 6))
        return d->started ? finish_message(d, &e) : APR_SUCCESS;
    if (fast_content_chunk(d, data, len, &e, &rv))
        return rv;
    rv = tr_resp_parse_event(tr_scratch_pool(d->scratch), data, len, &chunk);
    if (rv == APR_SUCCESS && tr_jv_is_object(chunk))
        rv = decode_chunk(d, &e, chunk);
    return rv;
}

apr_pool_t *tr_openai_stream_scratch(tr_stream_decoder *d)
{
    return tr_scratch_pool(d->scratch);
}

apr_status_t tr_openai_stream_decode_chunk(tr_stream_decoder *d, const tr_jv *chunk,
                                           tr_event_fn emit, void *baton)
{
    tr_emitter e = {emit, baton};
    return d->ended || !tr_jv_is_object(chunk) ? APR_SUCCESS : decode_chunk(d, &e, chunk);
}

/* ---- stream encoder handlers (driven by pipeline/tr_stream_encoder.c) ---------------------- */

/* The encoder's own state (enc->state). */
typedef struct {
    const char *chunk_head;      /* data: {"id":..,"object":..,"created":..,"model":.., */
    apr_array_header_t *ordinal; /* int by IR index: tool_calls index, -1 for other blocks */
    int ntools;
    int finished;
} openai_stream_state;

static void init_stream(tr_stream_encoder *enc)
{
    openai_stream_state *st = enc->state;
    st->ordinal = apr_array_make(enc->pool, 8, sizeof(int));
}

static void start_chunks(tr_stream_encoder *enc, const tr_event *start)
{
    apr_pool_t *scratch = tr_scratch_pool(enc->scratch);
    openai_stream_state *st = enc->state;
    tr_buf *head = tr_buf_make(scratch, 0);
    long long created = start && start->created ? start->created : tr_resp_now();

    tr_buf_adds(head, "data: {\"id\":");
    tr_buf_json_cstring(head, tr_resp_prefixed_id(scratch, "chatcmpl-", start ? start->id : NULL));
    tr_buf_adds(head, ",\"object\":\"chat.completion.chunk\",\"created\":");
    tr_buf_json_int(head, created);
    tr_buf_adds(head, ",\"model\":");
    tr_buf_json_cstring(head, tr_resp_model(&enc->spec, start ? start->model : NULL));
    tr_buf_adds(head, ",");
    st->chunk_head = apr_pstrmemdup(enc->pool, head->data, head->len);
}

/* One chunk whose choices[0].delta is the JSON object text in delta. */
static void begin_chunk(tr_stream_encoder *enc)
{
    tr_buf_adds(&enc->out, ((openai_stream_state *) enc->state)->chunk_head);
    tr_buf_adds(&enc->out, "\"choices\":[{\"index\":0,\"delta\":");
}

static void end_chunk(tr_stream_encoder *enc, const char *finish_reason)
{
    tr_buf_adds(&enc->out, ",\"logprobs\":null,\"finish_reason\":");
    tr_buf_json_cstring(&enc->out, finish_reason);
    tr_buf_adds(&enc->out, "}]}\n\n");
}

/* The opening: the first chunk gives the assistant role. */
static void open_stream(tr_stream_encoder *enc, const tr_event *start)
{
    start_chunks(enc, start);
    begin_chunk(enc);
    tr_buf_adds(&enc->out, "{\"role\":\"assistant\",\"content\":\"\"}");
    end_chunk(enc, NULL);
}

static int tool_ordinal(tr_stream_encoder *enc, int index)
{
    apr_array_header_t *ordinal = ((openai_stream_state *) enc->state)->ordinal;

    return index >= 0 && index < ordinal->nelts ? APR_ARRAY_IDX(ordinal, index, int) : -1;
}

static void on_client_block_start(tr_stream_encoder *enc, const tr_event *ev)
{
    openai_stream_state *st = enc->state;
    int k;

    if (ev->index < 0 || ev->index >= TR_RESP_MAX_BLOCKS)
        return;
    while (st->ordinal->nelts <= ev->index)
        APR_ARRAY_PUSH(st->ordinal, int) = -1;
    if (ev->block_kind != TR_BLOCK_TOOL_CALL || APR_ARRAY_IDX(st->ordinal, ev->index, int) != -1)
        return;
    k = st->ntools++;
    APR_ARRAY_IDX(st->ordinal, ev->index, int) = k;
    begin_chunk(enc);
    tr_buf_adds(&enc->out, "{\"tool_calls\":[{\"index\":");
    tr_buf_json_int(&enc->out, k);
    tr_buf_adds(&enc->out, ",\"id\":");
    tr_buf_json_cstring(&enc->out,
                        ev->id && *ev->id
                            ? ev->id
                            : tr_resp_prefixed_id(tr_scratch_pool(enc->scratch), "call_", NULL));
    tr_buf_adds(&enc->out, ",\"type\":\"function\",\"function\":{\"name\":");
    tr_buf_json_cstring(&enc->out, ev->name ? ev->name : "");
    tr_buf_adds(&enc->out, ",\"arguments\":\"\"}}]}");
    end_chunk(enc, NULL);
}

static void on_client_delta(tr_stream_encoder *enc, const tr_event *ev)
{
    const char *text = ev->text ? ev->text : "";
    apr_size_t len = ev->text ? ev->len : 0;
    int k;

    if (len == 0)
        return;
    switch (ev->delta_kind) {
    case TR_DELTA_TEXT:
    case TR_DELTA_THINKING:
        begin_chunk(enc);
        tr_buf_adds(&enc->out,
                    ev->delta_kind == TR_DELTA_TEXT ? "{\"content\":" : "{\"reasoning_content\":");
        tr_buf_json_string(&enc->out, text, len);
        tr_buf_adds(&enc->out, "}");
        end_chunk(enc, NULL);
        break;
    case TR_DELTA_ARGUMENTS:
        if ((k = tool_ordinal(enc, ev->index)) < 0)
            return;
        begin_chunk(enc);
        tr_buf_adds(&enc->out, "{\"tool_calls\":[{\"index\":");
        tr_buf_json_int(&enc->out, k);
        tr_buf_adds(&enc->out, ",\"function\":{\"arguments\":");
        tr_buf_json_string(&enc->out, text, len);
        tr_buf_adds(&enc->out, "}}]}");
        end_chunk(enc, NULL);
        break;
    default:
        break; /* signatures and redacted thinking have no place in Chat Completions */
    }
}

static void write_finish(tr_stream_encoder *enc, tr_stop stop, const char *stop_raw)
{
    openai_stream_state *st = enc->state;

    if (st->finished)
        return;
    st->finished = 1;
    begin_chunk(enc);
    tr_buf_adds(&enc->out, "{}");
    end_chunk(enc, tr_stop_word_for(&enc->spec, stop, stop_raw));
}

static void on_message_delta(tr_stream_encoder *enc, const tr_event *ev)
{
    write_finish(enc, ev->stop, ev->stop_raw);
}

static void write_end(tr_stream_encoder *enc, const tr_event *ev)
{
    write_finish(enc, TR_STOP_END_TURN, NULL);
    /* The usage chunk (choices:[]) only when the client asked with include_usage. */
    if (enc->spec.include_usage) {
        tr_jv *usage = tr_usage_to_openai(tr_scratch_pool(enc->scratch), &enc->usage);
        tr_buf_adds(&enc->out, ((openai_stream_state *) enc->state)->chunk_head);
        tr_buf_adds(&enc->out, "\"choices\":[],\"usage\":");
        tr_jv_write(&enc->out, usage);
        tr_buf_adds(&enc->out, "}\n\n");
    }
    tr_buf_adds(&enc->out, "data: [DONE]\n\n");
}

/* The OpenAI SDKs raise an APIError for a data frame holding an "error" object; no [DONE]
 * follows, so a client that ignores the error still sees an unfinished stream. */
static void write_error(tr_stream_encoder *enc, const tr_event *ev)
{
    tr_resp_sse_json(&enc->out, NULL,
                     tr_openai_codec.error_encode(tr_scratch_pool(enc->scratch), &ev->error));
}

const tr_stream_encoding tr_openai_stream_encoding = {
    .state_size = sizeof(openai_stream_state),
    .init = init_stream,
    .start = open_stream,
    .on =
        {
            [TR_EV_BLOCK_START] = on_client_block_start,
            [TR_EV_BLOCK_DELTA] = on_client_delta,
            [TR_EV_MESSAGE_DELTA] = on_message_delta,
            [TR_EV_MESSAGE_STOP] = write_end,
            [TR_EV_ERROR] = write_error,
        },
};
