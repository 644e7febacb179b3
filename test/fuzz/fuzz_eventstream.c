/*
 * fuzz_eventstream.c: the AWS event-stream decoder (pipeline/tr_eventstream.c) on arbitrary
 * bytes, fed whole and in pieces whose size comes from the input.
 *
 * Input: byte 0 = mode: bits 0-4 the piece size - 1, bit 5 a 256-byte frame cap instead of the
 * default, bit 6 "fix the checksums" (walk the frames by their announced lengths and write both
 * CRCs, so mutations reach the header parser instead of dying at the checksums); the rest is the
 * stream. Oracles: the same messages and the same verdict whatever the split; every delivered
 * frame is the next bytes of the input and re-encodes (tr_es_frame_append) to exactly them;
 * headers hold known types within the frame; a failure always says why; no crash, no leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "apr_general.h"
#include "apr_strings.h"
#include "pipeline/tr_eventstream.h"
#include "es_checksums.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    apr_pool_t *pool;
    const char *input; /* the whole stream: delivered frames are its consecutive bytes */
    size_t len, offset;
    size_t max_frame;
    unsigned long hash;
    unsigned count;
} run_state;

static apr_status_t on_message(void *baton, const tr_es_message *msg)
{
    run_state *st = baton;
    tr_buf *again = tr_buf_make(st->pool, 0);
    const char *frame = st->input + st->offset;

    for (int i = 0; i < msg->header_count; i++) {
        const tr_es_header *h = &msg->headers[i];
        /* Within the headers block, which ends where the payload starts. */
        if ((unsigned) h->type >= TR_ES_TYPE_COUNT || h->name_len == 0 ||
            h->name + h->name_len > msg->payload ||
            (h->value && h->value + h->value_len > msg->payload))
            abort();
        for (apr_size_t k = 0; k < h->name_len; k++)
            st->hash = st->hash * 131 + (unsigned char) h->name[k];
        st->hash = st->hash * 131 + (unsigned long) h->number + h->value_len;
    }
    if (tr_es_frame_append(again, msg->headers, msg->header_count, msg->payload,
                           msg->payload_len) != 0 ||
        again->len > st->max_frame || again->len > st->len - st->offset ||
        memcmp(again->data, frame, again->len) != 0)
        abort();
    st->offset += again->len;
    for (apr_size_t k = 0; k < msg->payload_len; k++)
        st->hash = st->hash * 131 + (unsigned char) msg->payload[k];
    st->count++;
    return APR_SUCCESS;
}

static apr_status_t run(run_state *st, size_t piece)
{
    tr_es_decoder *d = tr_es_decoder_create(st->pool, st->max_frame);
    apr_status_t rv = APR_SUCCESS;

    st->offset = 0;
    st->hash = 0;
    st->count = 0;
    for (size_t at = 0; at < st->len && rv == APR_SUCCESS;) {
        size_t k = piece && st->len - at > piece ? piece : st->len - at;
        rv = tr_es_decoder_feed(d, st->input + at, k, on_message, st);
        at += k;
    }
    if ((rv == TR_ES_CORRUPT) != (tr_es_decoder_error(d) != NULL))
        abort();
    if (rv == APR_SUCCESS && st->offset + tr_es_decoder_pending(d) != st->len)
        abort();
    return rv;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int initialized;
    run_state st;
    unsigned char *copy;
    apr_status_t rv_whole, rv_split;
    unsigned long hash;
    unsigned count;
    size_t piece;

    if (!initialized) {
        apr_initialize();
        initialized = 1;
    }
    if (size < 1)
        return 0;
    memset(&st, 0, sizeof(st));
    apr_pool_create(&st.pool, NULL);
    piece = (data[0] & 0x1f) + 1;
    st.max_frame = data[0] & 0x20 ? 256 : TR_ES_DEFAULT_MAX_FRAME;
    copy = apr_pmemdup(st.pool, data + 1, size - 1);
    if (data[0] & 0x40)
        es_fix_checksums(copy, size - 1);
    st.input = (const char *) copy;
    st.len = size - 1;

    rv_whole = run(&st, 0);
    hash = st.hash;
    count = st.count;
    rv_split = run(&st, piece);
    if (rv_whole != rv_split || hash != st.hash || count != st.count)
        abort();

    apr_pool_destroy(st.pool);
    return 0;
}
