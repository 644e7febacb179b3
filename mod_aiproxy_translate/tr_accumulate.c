/* tr_accumulate.c: see tr_accumulate.h. */
#include "apr_strings.h"
#include "tr_accumulate.h"
#include "json/tr_buf.h"
#include "tr_usage.h"

typedef struct {
    int index; /* IR index */
    tr_block *block;
    tr_buf *content; /* text, thinking text, arguments or redacted data */
} acc_block;

struct tr_accumulator {
    apr_pool_t *pool;
    tr_response resp;
    apr_array_header_t *blocks; /* acc_block */
    apr_size_t total, max_total;
    int complete;
    int has_error;
    int overflowed; /* an append was refused: the answer passed max_total */
    aiproxy_error error;
};

tr_accumulator *tr_accumulator_create(apr_pool_t *p, apr_size_t max_total)
{
    tr_accumulator *acc = apr_pcalloc(p, sizeof(*acc));

    acc->pool = p;
    acc->max_total = max_total ? max_total : TR_ACCUMULATE_DEFAULT_MAX;
    acc->blocks = apr_array_make(p, 4, sizeof(acc_block));
    acc->resp.blocks = apr_array_make(p, 4, sizeof(tr_block *));
    return acc;
}

int tr_accumulator_complete(const tr_accumulator *acc)
{
    return acc->complete;
}

const aiproxy_error *tr_accumulator_error(const tr_accumulator *acc)
{
    return acc->has_error ? &acc->error : NULL;
}

static const char *dup_or_null(apr_pool_t *p, const char *s)
{
    return s ? apr_pstrdup(p, s) : NULL;
}

static acc_block *find_block(tr_accumulator *acc, int index)
{
    acc_block *all = (acc_block *) acc->blocks->elts;

    if (index >= 0 && index < acc->blocks->nelts && all[index].index == index)
        return &all[index];
    for (int i = 0; i < acc->blocks->nelts; i++) {
        if (all[i].index == index)
            return &all[i];
    }
    return NULL;
}

static void start_block(tr_accumulator *acc, const tr_event *ev)
{
    acc_block *ab;
    tr_block *b;

    if (find_block(acc, ev->index))
        return; /* a producer bug; keep the first */
    b = apr_pcalloc(acc->pool, sizeof(*b));
    b->kind = ev->block_kind;
    if (b->kind == TR_BLOCK_TOOL_CALL) {
        b->id = dup_or_null(acc->pool, ev->id);
        b->name = dup_or_null(acc->pool, ev->name);
    } else if (b->kind == TR_BLOCK_THINKING)
        b->reasoning_id = dup_or_null(acc->pool, ev->id);
    if (ev->signature) {
        b->signature = apr_pstrdup(acc->pool, ev->signature);
        b->sig_proto = ev->sig_proto;
        b->has_signature = 1;
    }
    ab = apr_array_push(acc->blocks);
    ab->index = ev->index;
    ab->block = b;
    ab->content = tr_buf_make(acc->pool, 0);
    APR_ARRAY_PUSH(acc->resp.blocks, tr_block *) = b;
}

static apr_status_t add_delta(tr_accumulator *acc, const tr_event *ev)
{
    acc_block *ab = find_block(acc, ev->index);
    const char *text = ev->text ? ev->text : "";
    apr_size_t len = ev->text ? ev->len : 0;

    if (!ab)
        return APR_SUCCESS;
    if (acc->total + len > acc->max_total) {
        acc->overflowed = 1;
        return APR_ENOSPC;
    }
    acc->total += len;
    if (ev->delta_kind == TR_DELTA_SIGNATURE) {
        ab->block->signature = apr_pstrmemdup(acc->pool, text, len);
        ab->block->sig_proto = ev->sig_proto;
        ab->block->has_signature = 1;
        return APR_SUCCESS;
    }
    if (tr_buf_add(ab->content, text, len)) {
        acc->overflowed = 1;
        return APR_ENOSPC;
    }
    return APR_SUCCESS;
}

int tr_accumulator_overflowed(const tr_accumulator *acc)
{
    return acc->overflowed;
}

apr_status_t tr_accumulate(void *baton, const tr_event *ev)
{
    tr_accumulator *acc = baton;

    switch (ev->kind) {
    case TR_EV_MESSAGE_START:
        acc->resp.id = dup_or_null(acc->pool, ev->id);
        acc->resp.model = dup_or_null(acc->pool, ev->model);
        acc->resp.created = ev->created;
        tr_usage_merge(&acc->resp.usage, &ev->usage);
        break;
    case TR_EV_BLOCK_START:
        start_block(acc, ev);
        break;
    case TR_EV_BLOCK_DELTA:
        return add_delta(acc, ev);
    case TR_EV_MESSAGE_DELTA:
        if (ev->stop != TR_STOP_NONE) {
            acc->resp.stop = ev->stop;
            acc->resp.stop_raw = dup_or_null(acc->pool, ev->stop_raw);
            acc->resp.stop_sequence = dup_or_null(acc->pool, ev->stop_sequence);
        }
        tr_usage_merge(&acc->resp.usage, &ev->usage);
        break;
    case TR_EV_MESSAGE_STOP:
        acc->complete = 1;
        break;
    case TR_EV_ERROR:
        acc->has_error = 1;
        acc->error.status = ev->error.status;
        acc->error.type = dup_or_null(acc->pool, ev->error.type);
        acc->error.message = dup_or_null(acc->pool, ev->error.message);
        acc->error.code = dup_or_null(acc->pool, ev->error.code);
        break;
    default:
        break;
    }
    return APR_SUCCESS;
}

/* Point the block's content field at what was accumulated. */
static void materialize(acc_block *ab)
{
    tr_block *b = ab->block;
    const char *content = ab->content->data ? ab->content->data : "";

    switch (b->kind) {
    case TR_BLOCK_TOOL_CALL:
        b->arguments = ab->content->len ? content : "{}";
        break;
    case TR_BLOCK_REDACTED_THINKING:
        b->redacted_data = content;
        break;
    default:
        b->text = content;
        break;
    }
}

const tr_block *tr_accumulator_block(tr_accumulator *acc, int index)
{
    acc_block *ab = find_block(acc, index);
    if (!ab)
        return NULL;
    materialize(ab);
    return ab->block;
}

const tr_response *tr_accumulator_response(tr_accumulator *acc)
{
    for (int i = 0; i < acc->blocks->nelts; i++)
        materialize(&APR_ARRAY_IDX(acc->blocks, i, acc_block));
    return &acc->resp;
}
