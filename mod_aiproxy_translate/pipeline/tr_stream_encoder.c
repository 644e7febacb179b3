/* pipeline/tr_stream_encoder.c: see pipeline/tr_stream_encoder.h. */
#include "pipeline/tr_stream_encoder.h"
#include "tr_usage.h"

tr_stream_encoder *tr_stream_encoder_create(apr_pool_t *p, tr_scratch *scratch,
                                            const tr_stream_encoding *encoding,
                                            const aiproxy_response_spec *spec)
{
    tr_stream_encoder *enc = apr_pcalloc(p, sizeof(*enc));

    enc->encoding = encoding;
    enc->spec = *spec;
    enc->pool = p;
    enc->scratch = scratch;
    tr_buf_init(&enc->out, p, 0);
    enc->state = apr_pcalloc(p, encoding->state_size ? encoding->state_size : 1);
    if (encoding->init)
        encoding->init(enc);
    return enc;
}

/* Write out to the sink and empty it; an output that outgrew its buffer fails the stream. */
static apr_status_t flush(tr_buf *out, const aiproxy_sink *sink)
{
    apr_status_t rv = APR_SUCCESS;

    if (out->over) {
        tr_buf_recycle(out);
        return APR_ENOMEM;
    }
    if (out->len)
        rv = sink->write(sink->baton, out->data, out->len);
    tr_buf_recycle(out);
    return rv;
}

apr_status_t tr_stream_encode(tr_stream_encoder *enc, const tr_event *ev, const aiproxy_sink *sink)
{
    const tr_stream_encoding *encoding = enc->encoding;

    if (enc->ended)
        return APR_SUCCESS;
    if (ev->kind == TR_EV_MESSAGE_START || ev->kind == TR_EV_MESSAGE_DELTA)
        tr_usage_merge(&enc->usage, &ev->usage);
    /* An error before anything else is the whole stream: no opening to write first. */
    if (!enc->started && ev->kind != TR_EV_ERROR) {
        encoding->start(enc, ev->kind == TR_EV_MESSAGE_START ? ev : NULL);
        enc->started = 1;
    }
    if ((unsigned) ev->kind < TR_EV_KIND_COUNT && encoding->on[ev->kind])
        encoding->on[ev->kind](enc, ev);
    if (ev->kind == TR_EV_MESSAGE_STOP || ev->kind == TR_EV_ERROR)
        enc->ended = 1;
    return flush(&enc->out, sink);
}
