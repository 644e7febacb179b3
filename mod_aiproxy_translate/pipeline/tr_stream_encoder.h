/*
 * pipeline/tr_stream_encoder.h: IR stream events -> the client's stream, one event at a time.
 *
 * What every protocol's stream encoder does alike lives here: the per-stream state (spec,
 * pools, output buffer, usage so far), opening the stream before its first event, handing each
 * event to the handler for its kind, ending after MESSAGE_STOP or ERROR, and writing each
 * event's output to the sink. A codec supplies only what differs, a tr_stream_encoding: its
 * own state and one handler per event kind, each writing that protocol's form into enc->out.
 */
#ifndef TR_STREAM_ENCODER_H
#define TR_STREAM_ENCODER_H

#include "json/tr_buf.h"
#include "pipeline/tr_scratch.h"
#include "tr_ir.h"

typedef struct tr_stream_encoder tr_stream_encoder;

/* Writes ev's part of the client stream into enc->out. */
typedef void (*tr_stream_handler)(tr_stream_encoder *enc, const tr_event *ev);

typedef struct {
    apr_size_t state_size;                /* bytes of the codec's own state (enc->state), zeroed */
    void (*init)(tr_stream_encoder *enc); /* sets up enc->state, or NULL */
    /* Opens the stream, before the first event that is not an error: start is that event when
     * it is MESSAGE_START, else NULL (the opening then makes up its id and takes the model the
     * client asked for). */
    void (*start)(tr_stream_encoder *enc, const tr_event *start);
    /* By event kind; NULL where the protocol writes nothing for that kind. */
    tr_stream_handler on[TR_EV_KIND_COUNT];
} tr_stream_encoding;

struct tr_stream_encoder {
    const tr_stream_encoding *encoding;
    aiproxy_response_spec spec;
    apr_pool_t *pool; /* lives as long as the stream */
    /* For what one event's handler needs only while it runs: the caller's pool for the upstream
     * event being worked on (the stream decoder's too), which the caller releases after it. */
    tr_scratch *scratch;
    tr_buf out; /* one event's output, written to the sink after the event */
    /* Usage totals so far: MESSAGE_START's and every MESSAGE_DELTA's usage merged in before
     * their handler runs. */
    tr_usage usage;
    void *state; /* the codec's own, encoding->state_size bytes */
    int started, ended;
};

tr_stream_encoder *tr_stream_encoder_create(apr_pool_t *p, tr_scratch *scratch,
                                            const tr_stream_encoding *encoding,
                                            const aiproxy_response_spec *spec);
/* Encodes one event and writes its output to sink. Events after the end are ignored. */
apr_status_t tr_stream_encode(tr_stream_encoder *enc, const tr_event *ev, const aiproxy_sink *sink);

#endif /* TR_STREAM_ENCODER_H */
