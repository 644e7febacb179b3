/*
 * codec/tr_codec.h: what each protocol provides. One codec per protocol (codec/anthropic.c,
 * codec/openai.c, codec/responses.c, codec/gemini.c); the pipeline (pipeline/) looks codecs
 * up by protocol and never special-cases one, so adding a protocol is adding a codec.
 */
#ifndef TR_CODEC_H
#define TR_CODEC_H

#include "pipeline/tr_stream_encoder.h"
#include "tr_ir.h"

/* Receives IR stream events from a stream decoder (or from a complete response replayed as
 * events). Returning non-APR_SUCCESS stops the producer. */
typedef apr_status_t (*tr_event_fn)(void *baton, const tr_event *ev);

/* Per-stream decoder state (small, bounded, independent of answer length). */
typedef struct tr_stream_decoder tr_stream_decoder;
/* A stream event the upstream sent whose data is not JSON: the upstream's failure (APR_EINVAL,
 * "Invalid argument" where it is logged), never skipped as a quirk, since it may have been
 * content. */
#define TR_STATUS_BAD_EVENT APR_EINVAL

typedef struct tr_embed_format tr_embed_format;

typedef struct tr_codec {
    aiproxy_proto proto;

    /* ---- requests ---- */

    /* Pull model and stream flag out of the parsed body (req->root) and the route; check the
     * body's basic shape. Cheap: runs for every request, including passthrough. */
    int (*request_peek)(apr_pool_t *p, tr_request *req, const aiproxy_route_info *route,
                        aiproxy_error *err);
    /* Fill the rest of the IR from req->root. Only runs when translating. */
    int (*request_decode)(apr_pool_t *p, tr_request *req, aiproxy_error *err);
    /* Build this protocol's body for target from the IR. Returns 0 or an HTTP status. */
    int (*request_encode)(apr_pool_t *p, const tr_request *req, const aiproxy_target *target,
                          tr_jv **body, aiproxy_error *err);
    /* Same-protocol passthrough: put the upstream model into the client's body (root is a
     * copy the function may change). */
    void (*request_set_model)(tr_jv *root, const char *model);
    /* Endpoint path and query for target (model, stream) relative to the base URL. */
    void (*request_path)(apr_pool_t *p, const aiproxy_target *target, const char *variant,
                         const char **path, const char **query);

    /* ---- complete responses ---- */

    int (*response_decode)(apr_pool_t *p, tr_jv *body, tr_response *out, aiproxy_error *err);
    tr_jv *(*response_encode)(apr_pool_t *p, const tr_response *resp,
                              const aiproxy_response_spec *spec);

    /* ---- streams ---- */

    /* A decoder for one stream, its state in p. It works on each event in scratch, which the
     * caller releases once the event has gone through (and the decoder never does): the parse
     * tree, and what the events it emits point into, live until then, and whoever handles
     * those events may allocate there too (the stream encoder does). spec describes the
     * request the answer is to (the tools it offered). */
    tr_stream_decoder *(*stream_decoder_create)(apr_pool_t *p, tr_scratch *scratch,
                                                const aiproxy_response_spec *spec);
    /* One upstream event: SSE event name (or NULL) and its data, or one JSON-array element.
     * Returns TR_STATUS_BAD_EVENT for data that is not JSON (tr_resp_parse_event). */
    apr_status_t (*stream_decode)(tr_stream_decoder *d, const char *event, const char *data,
                                  apr_size_t len, tr_event_fn emit, void *baton);
    /* How IR events become this protocol's stream (the pipeline drives it, tr_stream_encode).
     * NULL for an upstream-only protocol. */
    const tr_stream_encoding *stream_encoding;
    /* How this protocol's upstreams frame a stream: 0 means SSE; Kiro's is the AWS event
     * stream. */
    aiproxy_stream_mode stream_framing;
    /* The upstream answers only as a stream, whatever the client asked (the answer is
     * collected for a client that wants one JSON body). */
    int always_streams;

    /* ---- counting input tokens (AIPROXY_OP_COUNT_TOKENS) ---- */

    /* The protocol whose endpoint counts tokens for this protocol's upstreams: itself, or
     * another API of the same provider (OpenAI counts only in its Responses API). */
    aiproxy_proto count_via;
    /* The count endpoint's path for model (NULL when count_via is another protocol). */
    const char *(*count_path)(apr_pool_t *p, const char *model);
    /* The count request made of a generation body encoded from the IR: the members the count
     * endpoint accepts, or the body nested the way it wants it. */
    tr_jv *(*count_body)(apr_pool_t *p, tr_jv *generation_body, const char *model);
    /* The member of the count's answer that holds the number. */
    const char *count_member;

    /* ---- other operations ---- */

    /* Embeddings in this protocol (AIPROXY_OP_EMBED), or NULL where it has none. */
    const tr_embed_format *embed;
    /* The codec of this protocol's legacy text completions (AIPROXY_OP_COMPLETE), served by
     * the same upstreams, or NULL: they then run as generations through the IR. */
    const struct tr_codec *complete;

    /* ---- errors ---- */

    tr_jv *(*error_encode)(apr_pool_t *p, const aiproxy_error *err);
    /* Message from this protocol's error envelope, or NULL. */
    const char *(*error_decode)(apr_pool_t *p, tr_jv *body);
} tr_codec;

/* The codec of a protocol, client or upstream-only (never NULL for a valid proto). Upstream-only
 * codecs leave the client-side entries (request_peek, request_decode, request_set_model,
 * response_encode, stream_encoding) NULL. */
const tr_codec *tr_codec_for(aiproxy_proto proto);
/* The codec that speaks proto for operation: the protocol's own, or the one its upstreams use
 * for that operation (OpenAI's legacy completions). NULL for an invalid proto. */
const tr_codec *tr_codec_for_operation(aiproxy_proto proto, aiproxy_operation operation);

extern const tr_codec tr_anthropic_codec;
extern const tr_codec tr_openai_codec;
extern const tr_codec tr_responses_codec;
extern const tr_codec tr_gemini_codec;
extern const tr_codec tr_kiro_codec;
extern const tr_codec tr_completions_codec;

#endif /* TR_CODEC_H */
