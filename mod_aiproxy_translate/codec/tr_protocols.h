/*
 * codec/tr_protocols.h: the functions each protocol's files provide to its codec table.
 *
 * Per protocol X, in codec/ (its C names start tr_X_):
 *   X.c             the codec table, request peek/model/path, error envelope
 *   X_request.c     request decode (X body -> IR) and encode (IR -> X body)
 *   X_response.c    complete response decode/encode, stream decoder and encoder handlers
 */
#ifndef TR_PROTOCOLS_H
#define TR_PROTOCOLS_H

#include "codec/tr_codec.h"

#define TR_DECLARE_CODEC_FUNCTIONS(X)                                                              \
    int tr_##X##_request_decode(apr_pool_t *p, tr_request *req, aiproxy_error *err);               \
    int tr_##X##_request_encode(apr_pool_t *p, const tr_request *req,                              \
                                const aiproxy_target *target, tr_jv **body, aiproxy_error *err);   \
    int tr_##X##_response_decode(apr_pool_t *p, tr_jv *body, tr_response *out,                     \
                                 aiproxy_error *err);                                              \
    tr_jv *tr_##X##_response_encode(apr_pool_t *p, const tr_response *resp,                        \
                                    const aiproxy_response_spec *spec);                            \
    tr_stream_decoder *tr_##X##_stream_decoder_create(apr_pool_t *p, tr_scratch *scratch,          \
                                                      const aiproxy_response_spec *spec);          \
    apr_status_t tr_##X##_stream_decode(tr_stream_decoder *d, const char *event, const char *data, \
                                        apr_size_t len, tr_event_fn emit, void *baton);            \
    extern const tr_stream_encoding tr_##X##_stream_encoding

TR_DECLARE_CODEC_FUNCTIONS(anthropic);
TR_DECLARE_CODEC_FUNCTIONS(openai);
TR_DECLARE_CODEC_FUNCTIONS(responses);
TR_DECLARE_CODEC_FUNCTIONS(gemini);
TR_DECLARE_CODEC_FUNCTIONS(completions); /* OpenAI legacy completions (AIPROXY_OP_COMPLETE) */

/* Shared by the Gemini files: the model and stream named in the URL (400 without a model),
 * and the path of an action on a model ("/v1beta/models/{model}:{action}", model escaped). */
int tr_gemini_peek_route(tr_request *req, const aiproxy_route_info *route, aiproxy_error *err);
const char *tr_gemini_model_path(apr_pool_t *p, const char *model, const char *action);

/* For formats that reshape OpenAI chunks before the chat decoder reads them (legacy
 * completions): the decoder's scratch pool (the pipeline's, released after every chunk), and one
 * chunk already parsed (into that pool), decoded as tr_openai_stream_decode decodes the JSON of
 * one. */
apr_pool_t *tr_openai_stream_scratch(tr_stream_decoder *d);
apr_status_t tr_openai_stream_decode_chunk(tr_stream_decoder *d, const tr_jv *chunk,
                                           tr_event_fn emit, void *baton);

/* Kiro is upstream-only (codec/kiro*.c): an encoder for requests, decoders for answers. */
int tr_kiro_request_encode(apr_pool_t *p, const tr_request *req, const aiproxy_target *target,
                           tr_jv **body, aiproxy_error *err);
int tr_kiro_response_decode(apr_pool_t *p, tr_jv *body, tr_response *out, aiproxy_error *err);
tr_stream_decoder *tr_kiro_stream_decoder_create(apr_pool_t *p, tr_scratch *scratch,
                                                 const aiproxy_response_spec *spec);
apr_status_t tr_kiro_stream_decode(tr_stream_decoder *d, const char *event, const char *data,
                                   apr_size_t len, tr_event_fn emit, void *baton);

/* Fills a codec table entry list in tr_X.c; the hand-written parts are named explicitly. */
#define TR_CODEC_TRANSLATION_ENTRIES(X)                                                            \
    .request_decode = tr_##X##_request_decode, .request_encode = tr_##X##_request_encode,          \
    .response_decode = tr_##X##_response_decode, .response_encode = tr_##X##_response_encode,      \
    .stream_decoder_create = tr_##X##_stream_decoder_create,                                       \
    .stream_decode = tr_##X##_stream_decode, .stream_encoding = &tr_##X##_stream_encoding

#endif /* TR_PROTOCOLS_H */
