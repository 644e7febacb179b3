/*
 * tr_pending.c: TEMPORARY placeholders for the translation functions being written in
 * tr_<proto>_request.c / tr_<proto>_response.c. Each answers "not implemented" (501) so the
 * passthrough path builds and runs meanwhile. Whoever implements a function deletes it here;
 * this file is deleted when empty.
 */
#include "tr_protocols.h"

static int not_yet(aiproxy_error *err)
{
    err->status = 501;
    err->type = "api_error";
    err->message = "translation between these protocols is not implemented yet";
    return err->status;
}

#define TR_PENDING(X)                                                                              \
    int tr_##X##_request_decode(apr_pool_t *p, tr_request *req, aiproxy_error *err)                \
    {                                                                                              \
        return not_yet(err);                                                                       \
    }                                                                                              \
    int tr_##X##_request_encode(apr_pool_t *p, const tr_request *req,                              \
                                const aiproxy_target *target, json_t **body, aiproxy_error *err)   \
    {                                                                                              \
        return not_yet(err);                                                                       \
    }                                                                                              \
    int tr_##X##_response_decode(apr_pool_t *p, json_t *body, tr_response *out,                    \
                                 aiproxy_error *err)                                               \
    {                                                                                              \
        return not_yet(err);                                                                       \
    }                                                                                              \
    json_t *tr_##X##_response_encode(apr_pool_t *p, const tr_response *resp,                       \
                                     const aiproxy_response_spec *spec)                            \
    {                                                                                              \
        return NULL;                                                                               \
    }                                                                                              \
    tr_stream_decoder *tr_##X##_stream_decoder_create(apr_pool_t *p)                               \
    {                                                                                              \
        return NULL;                                                                               \
    }                                                                                              \
    apr_status_t tr_##X##_stream_decode(tr_stream_decoder *d, const char *event,                   \
                                        const char *data, apr_size_t len, tr_event_fn emit,        \
                                        void *baton)                                               \
    {                                                                                              \
        return APR_ENOTIMPL;                                                                       \
    }                                                                                              \
    tr_stream_encoder *tr_##X##_stream_encoder_create(apr_pool_t *p,                               \
                                                      const aiproxy_response_spec *spec)           \
    {                                                                                              \
        return NULL;                                                                               \
    }                                                                                              \
    apr_status_t tr_##X##_stream_encode(tr_stream_encoder *e, const tr_event *ev,                  \
                                        const aiproxy_sink *sink)                                  \
    {                                                                                              \
        return APR_ENOTIMPL;                                                                       \
    }

TR_PENDING(anthropic)
TR_PENDING(openai)
TR_PENDING(responses)
TR_PENDING(gemini)
