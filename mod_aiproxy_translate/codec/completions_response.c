/*
 * codec/completions_response.c: OpenAI legacy completion answers: text_completion JSON and
 * stream chunks <-> IR. An upstream's completion is read by the chat decoder once each choice's
 * text is put where a chat answer holds it; a client's completion is written here, text only
 * (thinking and tool calls have no place in it).
 */
#include <string.h>
#include "apr_strings.h"
#include "json/tr_jv.h"
#include "codec/tr_protocols.h"
#include "codec/tr_response_util.h"
#include "tr_stop.h"
#include "tr_usage.h"

/* A shallow copy of a completion (or chunk) whose choices hold their text as a chat answer
 * does: under member ("message" or "delta") as content. */
static tr_jv *as_chat(apr_pool_t *p, const tr_jv *completion, const char *member)
{
    tr_jv *chat = tr_jv_object(p), *choices = tr_jv_array(p), *choice;
    size_t i;

    tr_jv_update_missing(chat, completion);
    tr_jv_array_foreach(tr_jv_get_array(completion, "choices"), i, choice)
    {
        tr_jv *copy = tr_jv_object(p);
        tr_jv_update_missing(copy, choice);
        tr_jv_set(copy, member, tr_jv_pack(p, "{s:O?}", "content", tr_jv_get(choice, "text")));
        tr_jv_push(choices, copy);
    }
    tr_jv_set(chat, "choices", choices);
    return chat;
}

int tr_completions_response_decode(apr_pool_t *p, tr_jv *body, tr_response *out, aiproxy_error *err)
{
    return tr_openai_response_decode(p, tr_jv_is_object(body) ? as_chat(p, body, "message") : body,
                                     out, err);
}

tr_stream_decoder *tr_completions_stream_decoder_create(apr_pool_t *p, tr_scratch *scratch,
                                                        const aiproxy_response_spec *spec)
{
    return tr_openai_stream_decoder_create(p, scratch, spec);
}

apr_status_t tr_completions_stream_decode(tr_stream_decoder *d, const char *event, const char *data,
                                          apr_size_t len, tr_event_fn emit, void *baton)
{
    apr_pool_t *scratch = tr_openai_stream_scratch(d);
    tr_jv *chunk;

    if (!data || (len >= 6 && !strncmp(data, "[DONE]", 6)))
        return tr_openai_stream_decode(d, event, data, len, emit, baton);
    chunk = tr_resp_parse(scratch, data, len);
    return tr_openai_stream_decode_chunk(
        d, tr_jv_is_object(chunk) ? as_chat(scratch, chunk, "delta") : NULL, emit, baton);
}

/* Joined text blocks of a complete answer ("" when there is none). */
static const char *answer_text(apr_pool_t *p, const tr_response *resp)
{
    const char *joined = "";
    for (int i = 0; resp->blocks && i < resp->blocks->nelts; i++) {
        const tr_block *b = APR_ARRAY_IDX(resp->blocks, i, const tr_block *);
        if (b->kind == TR_BLOCK_TEXT && b->text)
            joined = apr_pstrcat(p, joined, b->text, NULL);
    }
    return joined;
}

tr_jv *tr_completions_response_encode(apr_pool_t *p, const tr_response *resp,
                                      const aiproxy_response_spec *spec)
{
    return tr_jv_pack(p, "{s:s, s:s, s:I, s:s, s:[{s:s, s:i, s:n, s:s}], s:o}", "id",
                      tr_resp_prefixed_id(p, "cmpl-", resp->id), "object", "text_completion",
                      "created", (long long) (resp->created ? resp->created : tr_resp_now()),
                      "model", tr_resp_model(spec, resp->model), "choices", "text",
                      answer_text(p, resp), "index", 0, "logprobs", "finish_reason",
                      tr_stop_word_for(spec, resp->stop, resp->stop_raw), "usage",
                      tr_usage_to_openai(p, &resp->usage));
}

/* ---- stream encoder handlers (driven by pipeline/tr_stream_encoder.c) ---------------------- */

typedef struct {
    const char *chunk_head; /* data: {"id":..,"object":"text_completion","created":..,"model":.., */
    int finished;
} completions_stream_state;

static void open_stream(tr_stream_encoder *enc, const tr_event *start)
{
    apr_pool_t *scratch = tr_scratch_pool(enc->scratch);
    completions_stream_state *st = enc->state;
    tr_buf *head = tr_buf_make(scratch, 0);

    tr_buf_adds(head, "data: {\"id\":");
    tr_buf_json_cstring(head, tr_resp_prefixed_id(scratch, "cmpl-", start ? start->id : NULL));
    tr_buf_adds(head, ",\"object\":\"text_completion\",\"created\":");
    tr_buf_json_int(head, start && start->created ? start->created : tr_resp_now());
    tr_buf_adds(head, ",\"model\":");
    tr_buf_json_cstring(head, tr_resp_model(&enc->spec, start ? start->model : NULL));
    tr_buf_adds(head, ",");
    st->chunk_head = apr_pstrmemdup(enc->pool, head->data, head->len);
}

/* One chunk: choices[0] with text and finish_reason (NULL: null). */
static void write_chunk(tr_stream_encoder *enc, const char *text, apr_size_t len,
                        const char *finish_reason)
{
    tr_buf_adds(&enc->out, ((completions_stream_state *) enc->state)->chunk_head);
    tr_buf_adds(&enc->out, "\"choices\":[{\"text\":");
    tr_buf_json_string(&enc->out, text, len);
    tr_buf_adds(&enc->out, ",\"index\":0,\"logprobs\":null,\"finish_reason\":");
    tr_buf_json_cstring(&enc->out, finish_reason);
    tr_buf_adds(&enc->out, "}]}\n\n");
}

static void on_delta(tr_stream_encoder *enc, const tr_event *ev)
{
    if (ev->delta_kind == TR_DELTA_TEXT && ev->text && ev->len)
        write_chunk(enc, ev->text, ev->len, NULL);
}

static void write_finish(tr_stream_encoder *enc, tr_stop stop, const char *stop_raw)
{
    completions_stream_state *st = enc->state;

    if (st->finished)
        return;
    st->finished = 1;
    write_chunk(enc, "", 0, tr_stop_word_for(&enc->spec, stop, stop_raw));
}

static void on_message_delta(tr_stream_encoder *enc, const tr_event *ev)
{
    write_finish(enc, ev->stop, ev->stop_raw);
}

static void write_end(tr_stream_encoder *enc, const tr_event *ev)
{
    write_finish(enc, TR_STOP_END_TURN, NULL);
    if (enc->spec.include_usage) {
        tr_buf_adds(&enc->out, ((completions_stream_state *) enc->state)->chunk_head);
        tr_buf_adds(&enc->out, "\"choices\":[],\"usage\":");
        tr_jv_write(&enc->out, tr_usage_to_openai(tr_scratch_pool(enc->scratch), &enc->usage));
        tr_buf_adds(&enc->out, "}\n\n");
    }
    tr_buf_adds(&enc->out, "data: [DONE]\n\n");
}

static void write_error(tr_stream_encoder *enc, const tr_event *ev)
{
    tr_resp_sse_json(&enc->out, NULL,
                     tr_completions_codec.error_encode(tr_scratch_pool(enc->scratch), &ev->error));
}

const tr_stream_encoding tr_completions_stream_encoding = {
    .state_size = sizeof(completions_stream_state),
    .start = open_stream,
    .on =
        {
            [TR_EV_BLOCK_DELTA] = on_delta,
            [TR_EV_MESSAGE_DELTA] = on_message_delta,
            [TR_EV_MESSAGE_STOP] = write_end,
            [TR_EV_ERROR] = write_error,
        },
};
