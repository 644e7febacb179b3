/*
 * codec/tr_embed.h: embeddings between protocols (AIPROXY_OP_EMBED).
 *
 * An embeddings request is not a conversation, so it has its own small intermediate form: the
 * texts and the options every embeddings API shares. A protocol that has embeddings (OpenAI
 * /v1/embeddings, Gemini :embedContent and :batchEmbedContents) names a tr_embed_format in its
 * codec; the pipeline translates through the forms and never special-cases a protocol.
 */
#ifndef TR_EMBED_H
#define TR_EMBED_H

#include "json/tr_jv.h"
#include "codec/tr_codec.h"

typedef struct {
    apr_array_header_t *texts; /* const char *, one per vector asked for */
    unsigned flags;            /* aiproxy_embed_flag bits: AIPROXY_EMBED_LIST */
    long long dimensions;      /* vector size asked for, 0 = the model's own */
} tr_embed_request;

typedef struct {
    apr_array_header_t *vectors; /* tr_jv * arrays of numbers, in request order */
    long long input_tokens;      /* as the upstream reported them, 0 when it does not */
} tr_embed_answer;

struct tr_embed_format {
    /* Check the body's shape and read the model (body or route) and the flags into req. Runs
     * for every request, including passthrough: what only a translation cannot express is
     * refused by decode. */
    int (*peek)(apr_pool_t *p, tr_request *req, const aiproxy_route_info *route,
                aiproxy_error *err);
    /* The texts and options of req->root; 400 for input another protocol cannot take. */
    int (*decode)(apr_pool_t *p, const tr_request *req, tr_embed_request *out, aiproxy_error *err);
    /* This protocol's request body for model. */
    tr_jv *(*encode)(apr_pool_t *p, const tr_embed_request *in, const char *model);
    /* Same protocol: put model into root, a shallow copy of the client's body. */
    void (*set_model)(apr_pool_t *p, tr_jv *root, const char *model);
    /* Endpoint path for model; flags choose between one vector and a list. */
    const char *(*path)(apr_pool_t *p, const char *model, unsigned flags);
    /* The vectors and usage of this protocol's answer; -1 when it has no vectors. */
    int (*answer_decode)(apr_pool_t *p, const tr_jv *body, tr_embed_answer *out);
    /* This protocol's answer for the client (spec: model and embed_flags). */
    tr_jv *(*answer_encode)(apr_pool_t *p, const tr_embed_answer *in,
                            const aiproxy_response_spec *spec);
};

extern const tr_embed_format tr_openai_embed_format;
extern const tr_embed_format tr_gemini_embed_format;

/* A vector as base64 of its numbers as little-endian IEEE 754 float32, as OpenAI answers
 * encoding_format=base64. */
const char *tr_embed_base64(apr_pool_t *p, const tr_jv *vector);
/* An empty request: no texts, no options. */
void tr_embed_request_init(apr_pool_t *p, tr_embed_request *req);

#endif /* TR_EMBED_H */
