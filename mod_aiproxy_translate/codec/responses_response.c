/*
 * codec/responses_response.c: OpenAI Responses API responses: response JSON <-> tr_response,
 * Responses stream events -> IR events (decoder), IR events -> Responses stream (encoder).
 *
 * Item mapping: a text block is a message item with one output_text part; a thinking block a
 * reasoning item (summary text, encrypted_content when the signature is a Responses one); a
 * tool call a function_call item. Redacted thinking has no Responses form and is dropped.
 * Item ids derive from the response id and the output index, so the streamed items and the
 * response.completed snapshot (built by the same encoder from the accumulated answer) agree.
 */
#include <string.h>
#include "apr_strings.h"
#include "aip_frame.h"
#include "tr_accumulate.h"
#include "tr_error.h"
#include "json/tr_jv.h"
#include "codec/tr_protocols.h"
#include "codec/tr_fast_scan.h"
#include "codec/tr_response_util.h"
#include "tr_stop.h"
#include "tr_usage.h"

#define RESPONSES_MAX_OPEN 16 /* items/parts open at once in one upstream stream */

static int is_output_kind(tr_block_kind kind)
{
    return kind == TR_BLOCK_TEXT || kind == TR_BLOCK_THINKING || kind == TR_BLOCK_TOOL_CALL;
}

/* ---- complete responses: decode ---------------------------------------------------------- */

static tr_block *push_block(apr_pool_t *p, tr_response *out, tr_block_kind kind)
{
    tr_block *b = apr_pcalloc(p, sizeof(*b));
    b->kind = kind;
    APR_ARRAY_PUSH(out->blocks, tr_block *) = b;
    return b;
}

/* Text of the parts of one type in an array (summary_text, reasoning_text), joined. */
static const char *joined_parts(apr_pool_t *p, const tr_jv *parts, const char *type,
                                const char *member, const char *separator)
{
    const char *joined = NULL;
    tr_jv *part;
    size_t i;

    tr_jv_array_foreach(parts, i, part)
    {
        const char *t = tr_jv_get_str(part, "type"), *text = tr_jv_get_str(part, member);
        if (!text || (t && strcmp(t, type)))
            continue;
        joined = joined ? apr_pstrcat(p, joined, separator, text, NULL) : text;
    }
    return joined;
}

static void decode_message_item(apr_pool_t *p, const tr_jv *item, tr_response *out)
{
    tr_jv *part;
    size_t i;

    tr_jv_array_foreach(tr_jv_get_array(item, "content"), i, part)
    {
        const char *type = tr_jv_get_str(part, "type");
        const char *text = NULL;
        if (type && !strcmp(type, "output_text"))
            text = tr_jv_get_str(part, "text");
        else if (type && !strcmp(type, "refusal"))
            text = tr_jv_get_str(part, "refusal");
        if (text)
            push_block(p, out, TR_BLOCK_TEXT)->text = text;
    }
}

static void decode_reasoning_item(apr_pool_t *p, const tr_jv *item, tr_response *out)
{
    tr_block *b = push_block(p, out, TR_BLOCK_THINKING);
    const char *encrypted = tr_jv_get_str(item, "encrypted_content");

    b->text = joined_parts(p, tr_jv_get_array(item, "summary"), "summary_text", "text", "\n\n");
    if (!b->text)
        b->text = joined_parts(p, tr_jv_get_array(item, "content"), "reasoning_text", "text", "");
    if (!b->text)
        b->text = "";
    b->reasoning_id = tr_jv_get_str(item, "id");
    if (encrypted && *encrypted) {
        b->signature = encrypted;
        b->sig_proto = AIPROXY_PROTO_RESPONSES;
        b->has_signature = 1;
    }
}

static void decode_function_call_item(apr_pool_t *p, const tr_jv *item, tr_response *out)
{
    tr_block *b = push_block(p, out, TR_BLOCK_TOOL_CALL);
    const char *arguments = tr_jv_get_str(item, "arguments");

    b->id = tr_jv_get_str(item, "call_id");
    b->name = tr_jv_get_str(item, "name");
    b->arguments = arguments && *arguments ? arguments : "{}";
}

/* Output item type -> decoder; other items (web_search_call, ...) are not carried. */
static const struct {
    const char *type;
    void (*decode)(apr_pool_t *p, const tr_jv *item, tr_response *out);
} item_decoders[] = {
    {"message", decode_message_item},
    {"reasoning", decode_reasoning_item},
    {"function_call", decode_function_call_item},
};

/* The outcome of a response object: completed, incomplete (with its reason), failed. */
static tr_stop response_outcome(const tr_jv *response, int saw_tool_call)
{
    const char *status = tr_jv_get_str(response, "status");
    if (status && !strcmp(status, "incomplete"))
        return tr_stop_from_word(
            AIPROXY_PROTO_RESPONSES,
            tr_jv_get_str(tr_jv_get_object(response, "incomplete_details"), "reason"));
    if (status && !strcmp(status, "failed"))
        return TR_STOP_ERROR;
    return tr_stop_after_tool_calls(TR_STOP_END_TURN, saw_tool_call);
}

static int has_tool_call(const tr_response *resp)
{
    for (int i = 0; i < resp->blocks->nelts; i++) {
        if (APR_ARRAY_IDX(resp->blocks, i, tr_block *)->kind == TR_BLOCK_TOOL_CALL)
            return 1;
    }
    return 0;
}

int tr_responses_response_decode(apr_pool_t *p, tr_jv *body, tr_response *out, aiproxy_error *err)
{
    tr_jv *item;
    size_t i;
    long long created;

    memset(out, 0, sizeof(*out));
    if (!tr_jv_is_object(body) || tr_jv_is_object(tr_jv_get(body, "error")) ||
        tr_jv_is_string(tr_jv_get(body, "error"))) {
        tr_resp_error_from_json(p, tr_jv_get(body, "error"), err);
        return err->status;
    }
    out->id = tr_jv_get_str(body, "id");
    out->model = tr_jv_get_str(body, "model");
    if (tr_jv_get_int(body, "created_at", &created))
        out->created = created;
    out->blocks = apr_array_make(p, 4, sizeof(tr_block *));
    tr_jv_array_foreach(tr_jv_get_array(body, "output"), i, item)
    {
        const char *type = tr_jv_get_str(item, "type");
        for (size_t k = 0; type && k < sizeof(item_decoders) / sizeof(item_decoders[0]); k++) {
            if (!strcmp(item_decoders[k].type, type))
                item_decoders[k].decode(p, item, out);
        }
    }
    out->stop = response_outcome(body, has_tool_call(out));
    out->stop_raw = out->stop == TR_STOP_END_TURN || out->stop == TR_STOP_TOOL_USE
                        ? tr_jv_get_str(body, "status")
                        : tr_jv_get_str(tr_jv_get_object(body, "incomplete_details"), "reason");
    tr_usage_read_responses(tr_jv_get_object(body, "usage"), &out->usage);
    return 0;
}

/* ---- complete responses: encode ---------------------------------------------------------- */

/* The part of a response id after "resp_", used to derive item ids. */
static const char *id_stem(const char *response_id)
{
    return strncmp(response_id, "resp_", 5) ? response_id : response_id + 5;
}

static const char *item_id(apr_pool_t *p, const char *prefix, const char *stem, int output_index)
{
    /* Not apr_psprintf: a stream's events are encoded at its thread's deepest point, where
     * the formatter's 1.2 KiB of stack costs a page per open stream (common/aip_frame.h). */
    return apr_pstrcat(p, prefix, stem, "_", apr_itoa(p, output_index), NULL);
}

/* A reasoning item's id: the upstream's (reasoning_id) when it gave one. */
static const char *reasoning_item_id(apr_pool_t *p, const char *reasoning_id, const char *stem,
                                     int output_index)
{
    return reasoning_id && *reasoning_id ? reasoning_id : item_id(p, "rs_", stem, output_index);
}

static tr_jv *encode_message_item(apr_pool_t *p, const tr_block *b, const char *stem, int n)
{
    return tr_jv_pack(p, "{s:s, s:s, s:s, s:s, s:[{s:s, s:s, s:[]}]}", "id",
                      item_id(p, "msg_", stem, n), "type", "message", "status", "completed", "role",
                      "assistant", "content", "type", "output_text", "text", b->text ? b->text : "",
                      "annotations");
}

static tr_jv *encode_reasoning_item(apr_pool_t *p, const tr_block *b, const char *stem, int n)
{
    tr_jv *item =
        tr_jv_pack(p, "{s:s, s:s, s:[]}", "id", reasoning_item_id(p, b->reasoning_id, stem, n),
                   "type", "reasoning", "summary");
    if (b->text && *b->text)
        tr_jv_push(tr_jv_get(item, "summary"),
                   tr_jv_pack(p, "{s:s, s:s}", "type", "summary_text", "text", b->text));
    if (b->has_signature && b->signature && b->sig_proto == AIPROXY_PROTO_RESPONSES)
        tr_jv_set(item, "encrypted_content", tr_jv_string(p, b->signature));
    return item;
}

static const char *call_id(apr_pool_t *p, const tr_block *b)
{
    return b->id && *b->id ? b->id : tr_resp_prefixed_id(p, "call_", NULL);
}

static tr_jv *encode_function_call_item(apr_pool_t *p, const tr_block *b, const char *stem, int n)
{
    return tr_jv_pack(p, "{s:s, s:s, s:s, s:s, s:s, s:s}", "id", item_id(p, "fc_", stem, n), "type",
                      "function_call", "status", "completed", "arguments",
                      b->arguments && *b->arguments ? b->arguments : "{}", "call_id", call_id(p, b),
                      "name", b->name ? b->name : "");
}

/* The finished output item of block b at output index n. */
static tr_jv *encode_item(apr_pool_t *p, const tr_block *b, const char *stem, int n)
{
    switch (b->kind) {
    case TR_BLOCK_TEXT:
        return encode_message_item(p, b, stem, n);
    case TR_BLOCK_THINKING:
        return encode_reasoning_item(p, b, stem, n);
    default:
        return encode_function_call_item(p, b, stem, n);
    }
}

/* The response object around output and usage (shared by the JSON body and the stream's
 * created/completed/failed snapshots). */
static tr_jv *response_object(apr_pool_t *p, const char *id, long long created, const char *status,
                              const char *model, tr_jv *output, tr_jv *usage)
{
    return tr_jv_pack(p, "{s:s, s:s, s:I, s:s, s:n, s:n, s:s, s:o, s:o}", "id", id, "object",
                      "response", "created_at", created, "status", status, "error",
                      "incomplete_details", "model", model, "output", output, "usage",
                      usage ? usage : tr_jv_null());
}

static tr_jv *encode_response(apr_pool_t *p, const tr_response *resp,
                              const aiproxy_response_spec *spec, const char *id, long long created)
{
    tr_jv *output = tr_jv_array(p), *body;
    const char *stem = id_stem(id);
    const char *outcome = tr_stop_to_word(AIPROXY_PROTO_RESPONSES, resp->stop);
    int n = 0;

    for (int i = 0; resp->blocks && i < resp->blocks->nelts; i++) {
        const tr_block *b = APR_ARRAY_IDX(resp->blocks, i, const tr_block *);
        if (is_output_kind(b->kind))
            tr_jv_push(output, encode_item(p, b, stem, n++));
    }
    body = response_object(
        p, id, created, tr_stop_is_incomplete(resp->stop) ? "incomplete" : "completed",
        tr_resp_model(spec, resp->model), output, tr_usage_to_responses(p, &resp->usage));
    if (tr_stop_is_incomplete(resp->stop))
        tr_jv_set(body, "incomplete_details", tr_jv_pack(p, "{s:s}", "reason", outcome));
    return body;
}

tr_jv *tr_responses_response_encode(apr_pool_t *p, const tr_response *resp,
                                    const aiproxy_response_spec *spec)
{
    return encode_response(p, resp, spec, tr_resp_prefixed_id(p, "resp_", resp->id),
                           resp->created ? resp->created : tr_resp_now());
}

/* ---- stream decoder ---------------------------------------------------------------------- */

typedef struct {
    long long output_index;
    long long content_index; /* -1 for whole items (reasoning, function_call) */
    int index;               /* IR block index */
    tr_block_kind kind;
    int got_delta;
    int summary_parts;
} responses_open_block;

struct tr_stream_decoder {
    tr_scratch *scratch; /* the pipeline's: one event's parse tree (tr_codec.h) */
    responses_open_block open[RESPONSES_MAX_OPEN];
    int nopen;
    int next_index;
    long long last_part_output; /* highest output_index that had a content part (they grow) */
    int started, ended, saw_tool_call;
};

tr_stream_decoder *tr_responses_stream_decoder_create(apr_pool_t *p, tr_scratch *scratch,
                                                      const aiproxy_response_spec *spec)
{
    tr_stream_decoder *d = apr_pcalloc(p, sizeof(*d));
    d->scratch = scratch;
    d->last_part_output = -1;
    return d;
}

static long long int_member(const tr_jv *obj, const char *key, long long dflt)
{
    long long v;
    return tr_jv_get_int(obj, key, &v) ? v : dflt;
}

static responses_open_block *find_open(tr_stream_decoder *d, long long output_index,
                                       long long content_index)
{
    for (int i = 0; i < d->nopen; i++) {
        if (d->open[i].output_index == output_index && d->open[i].content_index == content_index)
            return &d->open[i];
    }
    return NULL;
}

/* The open block an event addresses: by output_index and content_index, else the item. */
static responses_open_block *block_at(tr_stream_decoder *d, long long output_index,
                                      long long content_index)
{
    responses_open_block *b = find_open(d, output_index, content_index);
    return b ? b : find_open(d, output_index, -1);
}

static responses_open_block *event_block(tr_stream_decoder *d, const tr_jv *ev)
{
    return block_at(d, int_member(ev, "output_index", -1), int_member(ev, "content_index", 0));
}

static apr_status_t ensure_started(tr_stream_decoder *d, const tr_jv *response, const tr_emitter *e)
{
    long long created = 0;
    if (d->started)
        return APR_SUCCESS;
    d->started = 1;
    tr_jv_get_int(response, "created_at", &created);
    return tr_emit_message_start(e, tr_jv_get_str(response, "id"), tr_jv_get_str(response, "model"),
                                 created, NULL);
}

static apr_status_t open_block(tr_stream_decoder *d, const tr_emitter *e, long long output_index,
                               long long content_index, tr_block_kind kind, const char *id,
                               const char *name, responses_open_block **out)
{
    responses_open_block *b;
    apr_status_t rv;

    *out = NULL;
    if (d->nopen == RESPONSES_MAX_OPEN || d->next_index >= TR_RESP_MAX_BLOCKS ||
        find_open(d, output_index, content_index))
        return APR_SUCCESS;
    if ((rv = ensure_started(d, NULL, e)) != APR_SUCCESS)
        return rv;
    b = &d->open[d->nopen++];
    b->output_index = output_index;
    b->content_index = content_index;
    b->index = d->next_index++;
    b->kind = kind;
    b->got_delta = 0;
    b->summary_parts = 0;
    if (kind == TR_BLOCK_TOOL_CALL)
        d->saw_tool_call = 1;
    *out = b;
    return tr_emit_block_start(e, b->index, kind, id, name);
}

static apr_status_t close_block(tr_stream_decoder *d, responses_open_block *b, const tr_emitter *e)
{
    responses_open_block closing = *b;
    apr_status_t rv = APR_SUCCESS;

    *b = d->open[--d->nopen];
    if (closing.kind == TR_BLOCK_TOOL_CALL && !closing.got_delta)
        rv = tr_emit_delta(e, closing.index, TR_DELTA_ARGUMENTS, "{}", 2);
    return rv == APR_SUCCESS ? tr_emit_block_stop(e, closing.index, closing.kind) : rv;
}

static apr_status_t block_delta_bytes(responses_open_block *b, const tr_emitter *e,
                                      tr_delta_kind kind, const char *text, apr_size_t len)
{
    if (!b || len == 0)
        return APR_SUCCESS;
    b->got_delta = 1;
    return tr_emit_delta(e, b->index, kind, text, len);
}

static apr_status_t block_delta(responses_open_block *b, const tr_emitter *e, tr_delta_kind kind,
                                const tr_jv *value)
{
    if (!tr_jv_is_string(value))
        return APR_SUCCESS;
    return block_delta_bytes(b, e, kind, tr_jv_str_value(value), tr_jv_str_len(value));
}

static apr_status_t on_created(tr_stream_decoder *d, const tr_jv *ev, const tr_emitter *e)
{
    return ensure_started(d, tr_jv_get_object(ev, "response"), e);
}

static apr_status_t on_item_added(tr_stream_decoder *d, const tr_jv *ev, const tr_emitter *e)
{
    const tr_jv *item = tr_jv_get_object(ev, "item");
    const char *type = tr_jv_get_str(item, "type");
    long long out = int_member(ev, "output_index", -1);
    responses_open_block *b;
    apr_status_t rv;

    if (!type)
        return APR_SUCCESS;
    if (!strcmp(type, "reasoning"))
        return open_block(d, e, out, -1, TR_BLOCK_THINKING, tr_jv_get_str(item, "id"), NULL, &b);
    if (strcmp(type, "function_call"))
        return APR_SUCCESS; /* message items open a block per content part */
    rv = open_block(d, e, out, -1, TR_BLOCK_TOOL_CALL, tr_jv_get_str(item, "call_id"),
                    tr_jv_get_str(item, "name"), &b);
    if (rv != APR_SUCCESS)
        return rv;
    return block_delta(b, e, TR_DELTA_ARGUMENTS, tr_jv_get(item, "arguments"));
}

static apr_status_t on_part_added(tr_stream_decoder *d, const tr_jv *ev, const tr_emitter *e)
{
    const char *type = tr_jv_get_str(tr_jv_get_object(ev, "part"), "type");
    responses_open_block *b;

    if (!type || (strcmp(type, "output_text") && strcmp(type, "refusal")))
        return APR_SUCCESS;
    if (int_member(ev, "output_index", -1) > d->last_part_output)
        d->last_part_output = int_member(ev, "output_index", -1);
    return open_block(d, e, int_member(ev, "output_index", -1), int_member(ev, "content_index", 0),
                      TR_BLOCK_TEXT, NULL, NULL, &b);
}

static apr_status_t on_text_delta(tr_stream_decoder *d, const tr_jv *ev, const tr_emitter *e)
{
    return block_delta(event_block(d, ev), e, TR_DELTA_TEXT, tr_jv_get(ev, "delta"));
}

/* *.done events repeat the whole value: use it only when no delta carried it. */
static apr_status_t on_text_done(tr_stream_decoder *d, const tr_jv *ev, const tr_emitter *e)
{
    responses_open_block *b = event_block(d, ev);
    tr_jv *text = tr_jv_get(ev, "text");
    if (!tr_jv_is_string(text))
        text = tr_jv_get(ev, "refusal");
    return b && !b->got_delta ? block_delta(b, e, TR_DELTA_TEXT, text) : APR_SUCCESS;
}

static apr_status_t on_part_done(tr_stream_decoder *d, const tr_jv *ev, const tr_emitter *e)
{
    responses_open_block *b =
        find_open(d, int_member(ev, "output_index", -1), int_member(ev, "content_index", 0));
    return b ? close_block(d, b, e) : APR_SUCCESS;
}

static apr_status_t on_summary_part_added(tr_stream_decoder *d, const tr_jv *ev,
                                          const tr_emitter *e)
{
    responses_open_block *b = find_open(d, int_member(ev, "output_index", -1), -1);
    if (!b)
        return APR_SUCCESS;
    /* Summary parts of one reasoning item become one thinking text, parts apart by a blank line. */
    if (b->summary_parts++ > 0 && b->got_delta)
        return tr_emit_delta(e, b->index, TR_DELTA_THINKING, "\n\n", 2);
    return APR_SUCCESS;
}

static apr_status_t on_reasoning_delta(tr_stream_decoder *d, const tr_jv *ev, const tr_emitter *e)
{
    return block_delta(find_open(d, int_member(ev, "output_index", -1), -1), e, TR_DELTA_THINKING,
                       tr_jv_get(ev, "delta"));
}

static apr_status_t on_arguments_delta(tr_stream_decoder *d, const tr_jv *ev, const tr_emitter *e)
{
    return block_delta(find_open(d, int_member(ev, "output_index", -1), -1), e, TR_DELTA_ARGUMENTS,
                       tr_jv_get(ev, "delta"));
}

static apr_status_t on_arguments_done(tr_stream_decoder *d, const tr_jv *ev, const tr_emitter *e)
{
    responses_open_block *b = find_open(d, int_member(ev, "output_index", -1), -1);
    return b && !b->got_delta ? block_delta(b, e, TR_DELTA_ARGUMENTS, tr_jv_get(ev, "arguments"))
                              : APR_SUCCESS;
}

/* A message item that ends with no part event seen still delivers its text. */
static apr_status_t message_item_done(tr_stream_decoder *d, const tr_jv *item, long long out,
                                      const tr_emitter *e)
{
    apr_status_t rv = APR_SUCCESS;

    for (int i = d->nopen - 1; i >= 0 && rv == APR_SUCCESS; i--) {
        if (d->open[i].output_index == out)
            rv = close_block(d, &d->open[i], e);
    }
    if (out > d->last_part_output) {
        tr_jv *part;
        size_t i;
        tr_jv_array_foreach(tr_jv_get_array(item, "content"), i, part)
        {
            responses_open_block *b;
            tr_jv *text = tr_jv_get(part, "text");
            if (rv != APR_SUCCESS || !tr_jv_is_string(text) || !tr_jv_str_len(text))
                continue;
            rv = open_block(d, e, out, (long long) i, TR_BLOCK_TEXT, NULL, NULL, &b);
            if (rv == APR_SUCCESS && b &&
                (rv = block_delta(b, e, TR_DELTA_TEXT, text)) == APR_SUCCESS)
                rv = close_block(d, b, e);
        }
    }
    return rv;
}

static apr_status_t on_item_done(tr_stream_decoder *d, const tr_jv *ev, const tr_emitter *e)
{
    apr_pool_t *scratch = tr_scratch_pool(d->scratch);
    const tr_jv *item = tr_jv_get_object(ev, "item");
    const char *type = tr_jv_get_str(item, "type");
    long long out = int_member(ev, "output_index", -1);
    responses_open_block *b = find_open(d, out, -1);
    const char *encrypted;
    apr_status_t rv = APR_SUCCESS;

    if (type && !strcmp(type, "message"))
        return message_item_done(d, item, out, e);
    if (!b)
        return APR_SUCCESS;
    if (b->kind == TR_BLOCK_THINKING) {
        if (!b->got_delta) {
            tr_response one = {.blocks = apr_array_make(scratch, 1, sizeof(tr_block *))};
            decode_reasoning_item(scratch, item, &one);
            if (*APR_ARRAY_IDX(one.blocks, 0, tr_block *)->text)
                rv = tr_emit_delta(e, b->index, TR_DELTA_THINKING,
                                   APR_ARRAY_IDX(one.blocks, 0, tr_block *)->text,
                                   strlen(APR_ARRAY_IDX(one.blocks, 0, tr_block *)->text));
        }
        encrypted = tr_jv_get_str(item, "encrypted_content");
        if (rv == APR_SUCCESS && encrypted && *encrypted)
            rv = tr_emit_signature(e, b->index, encrypted, AIPROXY_PROTO_RESPONSES);
    } else if (!b->got_delta)
        rv = block_delta(b, e, TR_DELTA_ARGUMENTS, tr_jv_get(item, "arguments"));
    return rv == APR_SUCCESS ? close_block(d, b, e) : rv;
}

static apr_status_t on_response_end(tr_stream_decoder *d, const tr_jv *ev, const tr_emitter *e)
{
    const tr_jv *response = tr_jv_get_object(ev, "response");
    tr_usage usage = {0};
    tr_stop stop;
    apr_status_t rv = ensure_started(d, response, e);

    while (rv == APR_SUCCESS && d->nopen)
        rv = close_block(d, &d->open[d->nopen - 1], e);
    if (rv != APR_SUCCESS)
        return rv;
    d->ended = 1;
    stop = response_outcome(response, d->saw_tool_call);
    if (stop == TR_STOP_ERROR) {
        aiproxy_error err;
        tr_resp_error_from_json(tr_scratch_pool(d->scratch), tr_jv_get(response, "error"), &err);
        return tr_emit_error(e, &err);
    }
    tr_usage_read_responses(tr_jv_get_object(response, "usage"), &usage);
    return tr_emit_message_end(
        e, stop,
        stop == TR_STOP_END_TURN || stop == TR_STOP_TOOL_USE
            ? tr_jv_get_str(response, "status")
            : tr_jv_get_str(tr_jv_get_object(response, "incomplete_details"), "reason"),
        NULL, &usage);
}

static apr_status_t on_error(tr_stream_decoder *d, const tr_jv *ev, const tr_emitter *e)
{
    aiproxy_error err;
    /* {"type":"error","code","message","param"}: the event itself is the error object. */
    tr_resp_error_from_json(tr_scratch_pool(d->scratch),
                            tr_jv_get_object(ev, "error") ? tr_jv_get_object(ev, "error") : ev,
                            &err);
    if (!tr_jv_get_object(ev, "error") && !strcmp(err.type, "error"))
        err.type = "api_error";
    d->ended = 1;
    return tr_emit_error(e, &err);
}

static const tr_named_event stream_events[] = {
    {"response.created", on_created},
    {"response.in_progress", on_created},
    {"response.output_item.added", on_item_added},
    {"response.content_part.added", on_part_added},
    {"response.output_text.delta", on_text_delta},
    {"response.refusal.delta", on_text_delta},
    {"response.output_text.done", on_text_done},
    {"response.refusal.done", on_text_done},
    {"response.content_part.done", on_part_done},
    {"response.reasoning_summary_part.added", on_summary_part_added},
    {"response.reasoning_summary_text.delta", on_reasoning_delta},
    {"response.reasoning_text.delta", on_reasoning_delta},
    {"response.function_call_arguments.delta", on_arguments_delta},
    {"response.function_call_arguments.done", on_arguments_done},
    {"response.output_item.done", on_item_done},
    {"response.completed", on_response_end},
    {"response.incomplete", on_response_end},
    {"response.failed", on_response_end},
    {"error", on_error},
};

/* ---- fast path: response.output_text.delta without a parse (see codec/tr_fast_scan.h) ---- */

/* on_text_delta reads output_index, content_index and delta; item_id, sequence_number, an
 * empty logprobs and obfuscation are checked and let go. */
enum { FAST_TYPE, FAST_OUTPUT_INDEX, FAST_CONTENT_INDEX, FAST_DELTA, FAST_SLOTS };

static const tr_fast_member fast_text_delta_members[] = {
    {"type", TR_FAST_STRING, FAST_TYPE, NULL},
    {"output_index", TR_FAST_INT, FAST_OUTPUT_INDEX, NULL},
    {"content_index", TR_FAST_INT, FAST_CONTENT_INDEX, NULL},
    {"delta", TR_FAST_STRING, FAST_DELTA, NULL},
    {"item_id", TR_FAST_SCALAR, -1, NULL},
    {"sequence_number", TR_FAST_SCALAR, -1, NULL},
    {"logprobs", TR_FAST_EMPTY_ARRAY, -1, NULL},
    {"obfuscation", TR_FAST_SCALAR, -1, NULL},
};
static const tr_fast_shape fast_text_delta_shape = TR_FAST_SHAPE(fast_text_delta_members);

/* 1 when data was a text delta with both indexes and *rv holds on_text_delta's result; 0 to
 * take the parsing path. */
static int fast_text_delta(tr_stream_decoder *d, const char *data, apr_size_t len,
                           const tr_emitter *e, apr_status_t *rv)
{
    tr_fast_value v[FAST_SLOTS] = {{0}};

    if (!tr_fast_enabled() ||
        !tr_fast_scan(tr_scratch_pool(d->scratch), data, len, &fast_text_delta_shape, v) ||
        !v[FAST_TYPE].present || strcmp(v[FAST_TYPE].str, "response.output_text.delta") ||
        !v[FAST_OUTPUT_INDEX].present || !v[FAST_CONTENT_INDEX].present || !v[FAST_DELTA].present)
        return 0;
    *rv = block_delta_bytes(block_at(d, v[FAST_OUTPUT_INDEX].num, v[FAST_CONTENT_INDEX].num), e,
                            TR_DELTA_TEXT, v[FAST_DELTA].str, v[FAST_DELTA].len);
    tr_fast_note_taken();
    return 1;
}

apr_status_t tr_responses_stream_decode(tr_stream_decoder *d, const char *event, const char *data,
                                        apr_size_t len, tr_event_fn emit, void *baton)
{
    tr_emitter e = {emit, baton};
    tr_jv *root;
    apr_status_t rv = APR_SUCCESS;

    if (!data || d->ended)
        return APR_SUCCESS; /* Responses streams end explicitly (response.completed ...) */
    if (fast_text_delta(d, data, len, &e, &rv))
        return rv;
    rv = tr_resp_parse_event(tr_scratch_pool(d->scratch), data, len, &root);
    if (rv == APR_SUCCESS)
        rv = tr_named_event_dispatch(
            stream_events, sizeof(stream_events) / sizeof(stream_events[0]), d, root, event, &e);
    return rv;
}

/* ---- stream encoder handlers (driven by pipeline/tr_stream_encoder.c) ---------------------- */

typedef struct {
    int output_index; /* -1: not an output item (dropped) */
    const char *item_id;
    tr_block_kind kind;
    int summary_open;
    int open;
} responses_client_item;

/* The encoder's own state (enc->state). */
typedef struct {
    tr_accumulator *acc;       /* the closing events repeat the whole answer */
    apr_array_header_t *items; /* responses_client_item by IR index */
    const char *id, *stem, *model;
    long long created;
    long long sequence;
    int next_output_index;
} responses_stream_state;

static void init_stream(tr_stream_encoder *enc)
{
    responses_stream_state *st = enc->state;

    st->acc = tr_accumulator_create(enc->pool, 0);
    st->items = apr_array_make(enc->pool, 8, sizeof(responses_client_item));
}

/* event: type / data: {"type":type,"sequence_number":n  (the caller continues the object) */
static void begin_event(tr_stream_encoder *enc, const char *type)
{
    responses_stream_state *st = enc->state;

    tr_buf_adds(&enc->out, "event: ");
    tr_buf_adds(&enc->out, type);
    tr_buf_adds(&enc->out, "\ndata: {\"type\":\"");
    tr_buf_adds(&enc->out, type);
    tr_buf_adds(&enc->out, "\",\"sequence_number\":");
    tr_buf_json_int(&enc->out, st->sequence++);
}

static void end_event(tr_stream_encoder *enc)
{
    tr_buf_adds(&enc->out, "}\n\n");
}

static void add_json_member(tr_stream_encoder *enc, const char *key, const tr_jv *value)
{
    tr_buf_adds(&enc->out, ",\"");
    tr_buf_adds(&enc->out, key);
    tr_buf_adds(&enc->out, "\":");
    tr_jv_write(&enc->out, value);
}

/* item_id and output_index members. */
static void add_item_ref(tr_stream_encoder *enc, const responses_client_item *item)
{
    tr_buf_adds(&enc->out, ",\"item_id\":");
    tr_buf_json_cstring(&enc->out, item->item_id);
    tr_buf_adds(&enc->out, ",\"output_index\":");
    tr_buf_json_int(&enc->out, item->output_index);
}

static void write_response_event(tr_stream_encoder *enc, const char *type, const tr_jv *response)
{
    begin_event(enc, type);
    add_json_member(enc, "response", response);
    end_event(enc);
}

static void start_response(tr_stream_encoder *enc, const tr_event *start)
{
    apr_pool_t *scratch = tr_scratch_pool(enc->scratch);
    responses_stream_state *st = enc->state;
    tr_event copy = {.kind = TR_EV_MESSAGE_START};

    if (start)
        copy = *start;
    /* Kept for the whole stream: copy (the upstream's id lives only as long as its event). */
    st->id = apr_pstrdup(enc->pool, tr_resp_prefixed_id(enc->pool, "resp_", copy.id));
    st->stem = id_stem(st->id);
    st->created = copy.created ? copy.created : tr_resp_now();
    st->model = apr_pstrdup(enc->pool, tr_resp_model(&enc->spec, copy.model));
    copy.id = st->id;
    copy.created = st->created;
    tr_accumulate(st->acc, &copy);
    write_response_event(enc, "response.created",
                         response_object(scratch, st->id, st->created, "in_progress", st->model,
                                         tr_jv_array(scratch), NULL));
    write_response_event(enc, "response.in_progress",
                         response_object(scratch, st->id, st->created, "in_progress", st->model,
                                         tr_jv_array(scratch), NULL));
}

static responses_client_item *client_item(tr_stream_encoder *enc, int index)
{
    responses_stream_state *st = enc->state;

    if (index < 0 || index >= st->items->nelts)
        return NULL;
    return &APR_ARRAY_IDX(st->items, index, responses_client_item);
}

/* The output item as it stands when added (in progress, empty). */
static tr_jv *added_item(apr_pool_t *p, const responses_client_item *item, const tr_event *ev,
                         const char *call)
{
    switch (item->kind) {
    case TR_BLOCK_TEXT:
        return tr_jv_pack(p, "{s:s, s:s, s:s, s:s, s:[]}", "id", item->item_id, "type", "message",
                          "status", "in_progress", "role", "assistant", "content");
    case TR_BLOCK_THINKING:
        return tr_jv_pack(p, "{s:s, s:s, s:[]}", "id", item->item_id, "type", "reasoning",
                          "summary");
    default:
        return tr_jv_pack(p, "{s:s, s:s, s:s, s:s, s:s, s:s}", "id", item->item_id, "type",
                          "function_call", "status", "in_progress", "arguments", "", "call_id",
                          call, "name", ev->name ? ev->name : "");
    }
}

/* Record a block start in the stream's accumulator (for response.completed); a tool call that
 * came without an id gets one, returned. A frame of its own: the event copy is not kept under
 * the writing that follows, at the stream's deepest point (common/aip_frame.h). */
static AIP_OWN_FRAME const char *accumulate_block_start(tr_stream_encoder *enc, const tr_event *ev)
{
    responses_stream_state *st = enc->state;
    tr_event acc_ev = *ev;

    if (ev->block_kind == TR_BLOCK_TOOL_CALL && (!ev->id || !*ev->id))
        acc_ev.id = tr_resp_prefixed_id(enc->pool, "call_", NULL);
    tr_accumulate(st->acc, &acc_ev);
    return acc_ev.id;
}

static void on_client_block_start(tr_stream_encoder *enc, const tr_event *ev)
{
    apr_pool_t *scratch = tr_scratch_pool(enc->scratch);
    responses_stream_state *st = enc->state;
    responses_client_item *item;
    const char *call_id;

    if (ev->index != st->items->nelts || ev->index >= TR_RESP_MAX_BLOCKS)
        return; /* out of contract: ignore */
    item = apr_array_push(st->items);
    memset(item, 0, sizeof(*item));
    item->kind = ev->block_kind;
    item->output_index = -1;
    call_id = accumulate_block_start(enc, ev);
    if (!is_output_kind(item->kind))
        return;
    item->output_index = st->next_output_index++;
    item->open = 1;
    item->item_id =
        item->kind == TR_BLOCK_TEXT ? item_id(enc->pool, "msg_", st->stem, item->output_index)
        : item->kind == TR_BLOCK_THINKING
            ? apr_pstrdup(enc->pool,
                          reasoning_item_id(scratch, ev->id, st->stem, item->output_index))
            : item_id(enc->pool, "fc_", st->stem, item->output_index);
    begin_event(enc, "response.output_item.added");
    tr_buf_adds(&enc->out, ",\"output_index\":");
    tr_buf_json_int(&enc->out, item->output_index);
    add_json_member(enc, "item", added_item(scratch, item, ev, call_id));
    end_event(enc);
    if (item->kind == TR_BLOCK_TEXT) {
        begin_event(enc, "response.content_part.added");
        add_item_ref(enc, item);
        tr_buf_adds(&enc->out, ",\"content_index\":0,\"part\":{\"type\":\"output_text\","
                               "\"text\":\"\",\"annotations\":[]}");
        end_event(enc);
    }
}

static void open_summary(tr_stream_encoder *enc, responses_client_item *item)
{
    if (item->summary_open)
        return;
    item->summary_open = 1;
    begin_event(enc, "response.reasoning_summary_part.added");
    add_item_ref(enc, item);
    tr_buf_adds(&enc->out, ",\"summary_index\":0,\"part\":{\"type\":\"summary_text\","
                           "\"text\":\"\"}");
    end_event(enc);
}

static void on_client_delta(tr_stream_encoder *enc, const tr_event *ev)
{
    responses_stream_state *st = enc->state;
    responses_client_item *item = client_item(enc, ev->index);
    const char *text = ev->text ? ev->text : "";
    apr_size_t len = ev->text ? ev->len : 0;

    if (tr_accumulate(st->acc, ev) != APR_SUCCESS)
        return;
    if (!item || !item->open || len == 0)
        return;
    switch (ev->delta_kind) {
    case TR_DELTA_TEXT:
        if (item->kind != TR_BLOCK_TEXT)
            return;
        begin_event(enc, "response.output_text.delta");
        add_item_ref(enc, item);
        tr_buf_adds(&enc->out, ",\"content_index\":0,\"delta\":");
        tr_buf_json_string(&enc->out, text, len);
        tr_buf_adds(&enc->out, ",\"logprobs\":[]");
        end_event(enc);
        break;
    case TR_DELTA_THINKING:
        if (item->kind != TR_BLOCK_THINKING)
            return;
        open_summary(enc, item);
        begin_event(enc, "response.reasoning_summary_text.delta");
        add_item_ref(enc, item);
        tr_buf_adds(&enc->out, ",\"summary_index\":0,\"delta\":");
        tr_buf_json_string(&enc->out, text, len);
        end_event(enc);
        break;
    case TR_DELTA_ARGUMENTS:
        if (item->kind != TR_BLOCK_TOOL_CALL)
            return;
        begin_event(enc, "response.function_call_arguments.delta");
        add_item_ref(enc, item);
        tr_buf_adds(&enc->out, ",\"delta\":");
        tr_buf_json_string(&enc->out, text, len);
        end_event(enc);
        break;
    default:
        break; /* the signature is in the accumulated block, sent with output_item.done */
    }
}

/* The .done events that close each kind of item, before output_item.done. */
static void write_item_closing(tr_stream_encoder *enc, responses_client_item *item,
                               const tr_block *b)
{
    if (item->kind == TR_BLOCK_TEXT) {
        begin_event(enc, "response.output_text.done");
        add_item_ref(enc, item);
        tr_buf_adds(&enc->out, ",\"content_index\":0,\"text\":");
        tr_buf_json_cstring(&enc->out, b->text);
        tr_buf_adds(&enc->out, ",\"logprobs\":[]");
        end_event(enc);
        begin_event(enc, "response.content_part.done");
        add_item_ref(enc, item);
        tr_buf_adds(&enc->out, ",\"content_index\":0,\"part\":{\"type\":\"output_text\",\"text\":");
        tr_buf_json_cstring(&enc->out, b->text);
        tr_buf_adds(&enc->out, ",\"annotations\":[]}");
        end_event(enc);
    } else if (item->kind == TR_BLOCK_THINKING && item->summary_open) {
        begin_event(enc, "response.reasoning_summary_text.done");
        add_item_ref(enc, item);
        tr_buf_adds(&enc->out, ",\"summary_index\":0,\"text\":");
        tr_buf_json_cstring(&enc->out, b->text);
        end_event(enc);
        begin_event(enc, "response.reasoning_summary_part.done");
        add_item_ref(enc, item);
        tr_buf_adds(&enc->out,
                    ",\"summary_index\":0,\"part\":{\"type\":\"summary_text\",\"text\":");
        tr_buf_json_cstring(&enc->out, b->text);
        tr_buf_adds(&enc->out, "}");
        end_event(enc);
    } else if (item->kind == TR_BLOCK_TOOL_CALL) {
        begin_event(enc, "response.function_call_arguments.done");
        add_item_ref(enc, item);
        tr_buf_adds(&enc->out, ",\"arguments\":");
        tr_buf_json_cstring(&enc->out, b->arguments);
        end_event(enc);
    }
}

static void close_client_item(tr_stream_encoder *enc, int index)
{
    responses_stream_state *st = enc->state;
    responses_client_item *item = client_item(enc, index);
    const tr_block *b;

    if (!item || !item->open || !(b = tr_accumulator_block(st->acc, index)))
        return;
    item->open = 0;
    write_item_closing(enc, item, b);
    begin_event(enc, "response.output_item.done");
    tr_buf_adds(&enc->out, ",\"output_index\":");
    tr_buf_json_int(&enc->out, item->output_index);
    add_json_member(enc, "item",
                    encode_item(tr_scratch_pool(enc->scratch), b, st->stem, item->output_index));
    end_event(enc);
}

static void on_client_item_stop(tr_stream_encoder *enc, const tr_event *ev)
{
    close_client_item(enc, ev->index);
}

static void write_completed(tr_stream_encoder *enc, const tr_event *ev)
{
    responses_stream_state *st = enc->state;
    tr_response resp = *tr_accumulator_response(st->acc);
    tr_jv *body;

    for (int i = 0; i < st->items->nelts; i++)
        close_client_item(enc, i);
    resp.id = st->id;
    resp.created = st->created;
    body = encode_response(tr_scratch_pool(enc->scratch), &resp, &enc->spec, st->id, st->created);
    write_response_event(
        enc, tr_stop_is_incomplete(resp.stop) ? "response.incomplete" : "response.completed", body);
}

/* A failure before the opening (the pipeline opens no stream for a first event that is an
 * error) writes the opening here, so response.failed follows response.created as always. */
static void write_failed(tr_stream_encoder *enc, const tr_event *ev)
{
    apr_pool_t *scratch = tr_scratch_pool(enc->scratch);
    responses_stream_state *st = enc->state;
    const aiproxy_error *err = &ev->error;
    tr_jv *body;

    if (!st->id)
        start_response(enc, NULL);
    body = response_object(scratch, st->id, st->created, "failed", st->model, tr_jv_array(scratch),
                           NULL);
    tr_jv_set(body, "error",
              tr_jv_pack(scratch, "{s:s, s:s}", "code",
                         tr_error_openai_code(err) ? tr_error_openai_code(err) : "server_error",
                         "message", err->message ? err->message : ""));
    write_response_event(enc, "response.failed", body);
}

static void accumulate_message_delta(tr_stream_encoder *enc, const tr_event *ev)
{
    tr_accumulate(((responses_stream_state *) enc->state)->acc, ev);
}

const tr_stream_encoding tr_responses_stream_encoding = {
    .state_size = sizeof(responses_stream_state),
    .init = init_stream,
    .start = start_response,
    .on =
        {
            [TR_EV_BLOCK_START] = on_client_block_start,
            [TR_EV_BLOCK_DELTA] = on_client_delta,
            [TR_EV_BLOCK_STOP] = on_client_item_stop,
            [TR_EV_MESSAGE_DELTA] = accumulate_message_delta,
            [TR_EV_MESSAGE_STOP] = write_completed,
            [TR_EV_ERROR] = write_failed,
        },
};
