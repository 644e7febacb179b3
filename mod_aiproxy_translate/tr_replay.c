/* tr_replay.c: see tr_replay.h. */
#include <string.h>
#include "tr_replay.h"

static apr_status_t emit_delta(tr_event_fn emit, void *baton, int index, tr_delta_kind kind,
                               const char *text, aiproxy_proto sig_proto)
{
    tr_event ev = {.kind = TR_EV_BLOCK_DELTA, .index = index, .delta_kind = kind};

    ev.text = text;
    ev.len = strlen(text);
    ev.sig_proto = sig_proto;
    return emit(baton, &ev);
}

/* The delta that carries a block's content, or NULL for blocks without one. */
static const char *block_content(const tr_block *b, tr_delta_kind *kind)
{
    switch (b->kind) {
    case TR_BLOCK_TEXT:
        *kind = TR_DELTA_TEXT;
        return b->text;
    case TR_BLOCK_THINKING:
        *kind = TR_DELTA_THINKING;
        return b->text;
    case TR_BLOCK_REDACTED_THINKING:
        *kind = TR_DELTA_REDACTED;
        return b->redacted_data ? b->redacted_data : "";
    case TR_BLOCK_TOOL_CALL:
        *kind = TR_DELTA_ARGUMENTS;
        return b->arguments && *b->arguments ? b->arguments : "{}";
    default:
        return NULL;
    }
}

static int is_answer_block(const tr_block *b)
{
    return b->kind == TR_BLOCK_TEXT || b->kind == TR_BLOCK_THINKING ||
           b->kind == TR_BLOCK_REDACTED_THINKING || b->kind == TR_BLOCK_TOOL_CALL;
}

static apr_status_t replay_block(const tr_block *b, int index, tr_event_fn emit, void *baton)
{
    tr_event start = {.kind = TR_EV_BLOCK_START, .index = index, .block_kind = b->kind};
    tr_event stop = {.kind = TR_EV_BLOCK_STOP, .index = index, .block_kind = b->kind};
    tr_delta_kind kind = TR_DELTA_TEXT;
    const char *content = block_content(b, &kind);
    apr_status_t rv;

    start.id = b->kind == TR_BLOCK_TOOL_CALL ? b->id : b->reasoning_id;
    start.name = b->name;
    if ((rv = emit(baton, &start)) != APR_SUCCESS)
        return rv;
    if (content && *content &&
        (rv = emit_delta(emit, baton, index, kind, content, AIPROXY_PROTO_COUNT)) != APR_SUCCESS)
        return rv;
    if (b->has_signature && b->signature &&
        (rv = emit_delta(emit, baton, index, TR_DELTA_SIGNATURE, b->signature, b->sig_proto)) !=
            APR_SUCCESS)
        return rv;
    return emit(baton, &stop);
}

apr_status_t tr_replay(const tr_response *resp, tr_event_fn emit, void *baton)
{
    tr_event start = {.kind = TR_EV_MESSAGE_START};
    tr_event delta = {.kind = TR_EV_MESSAGE_DELTA};
    tr_event stop = {.kind = TR_EV_MESSAGE_STOP};
    apr_status_t rv;
    int index = 0;

    start.id = resp->id;
    start.model = resp->model;
    start.created = resp->created;
    start.usage = resp->usage;
    if ((rv = emit(baton, &start)) != APR_SUCCESS)
        return rv;
    for (int i = 0; resp->blocks && i < resp->blocks->nelts; i++) {
        const tr_block *b = APR_ARRAY_IDX(resp->blocks, i, const tr_block *);
        if (!is_answer_block(b))
            continue;
        if ((rv = replay_block(b, index++, emit, baton)) != APR_SUCCESS)
            return rv;
    }
    delta.stop = resp->stop;
    delta.stop_raw = resp->stop_raw;
    delta.stop_sequence = resp->stop_sequence;
    delta.usage = resp->usage;
    if ((rv = emit(baton, &delta)) != APR_SUCCESS)
        return rv;
    return emit(baton, &stop);
}
