/*
 * codec/gemini_embed.c: Gemini embeddings: POST /v1beta/models/{model}:embedContent (one
 * content, one vector) and :batchEmbedContents (requests[], one vector each), their
 * outputDimensionality, and the embedding.values / embeddings[].values answers.
 *
 * Through another protocol only the text of a content travels (its text parts, joined);
 * taskType and title have no counterpart and stay behind.
 */
#include <string.h>
#include "apr_strings.h"
#include "tr_error.h"
#include "codec/tr_embed.h"
#include "codec/tr_peek.h"
#include "codec/tr_protocols.h"

/* The route variant of :batchEmbedContents (mod_aiproxy's route table). */
#define BATCH_VARIANT "batch"

static int gemini_embed_peek(apr_pool_t *p, tr_request *req, const aiproxy_route_info *route,
                             aiproxy_error *err)
{
    int batch = route && route->variant && !strcmp(route->variant, BATCH_VARIANT);
    tr_jv *requests = tr_jv_get(req->root, "requests"), *item;
    size_t i;

    if (tr_gemini_peek_route(req, route, err))
        return err->status;
    req->stream = AIPROXY_STREAM_NONE;
    req->embed_flags = batch ? AIPROXY_EMBED_LIST : 0;
    if (!batch)
        return tr_jv_get_object(req->root, "content")
                   ? 0
                   : tr_error_set(err, 400, "'content' is required and must be an object");
    if (!tr_jv_is_array(requests) || tr_jv_size(requests) == 0)
        return tr_error_set(err, 400, "'requests' must be a non-empty array");
    tr_jv_array_foreach(requests, i, item)
    {
        if (!tr_jv_get_object(item, "content"))
            return tr_error_set(err, 400, "every item of 'requests' needs a 'content' object");
    }
    return 0;
}

/* The text parts of one embedding request, joined; 400 for parts that are not text. */
static int request_text(apr_pool_t *p, const tr_jv *request, const char **text, aiproxy_error *err)
{
    tr_jv *parts = tr_jv_get_array(tr_jv_get_object(request, "content"), "parts"), *part;
    size_t i;

    *text = "";
    tr_jv_array_foreach(parts, i, part)
    {
        const char *piece = tr_jv_get_str(part, "text");
        if (!piece)
            return tr_error_set(err, 400,
                                "only text parts can be embedded by this model's upstream "
                                "protocol");
        *text = i ? apr_pstrcat(p, *text, "\n", piece, NULL) : piece;
    }
    return 0;
}

static int gemini_embed_decode(apr_pool_t *p, const tr_request *req, tr_embed_request *out,
                               aiproxy_error *err)
{
    tr_jv *requests = tr_jv_get_array(req->root, "requests"), *item;
    size_t i;
    const char *text;

    tr_embed_request_init(p, out);
    out->flags = req->embed_flags & AIPROXY_EMBED_LIST;
    if (!(out->flags & AIPROXY_EMBED_LIST)) {
        tr_jv_get_int(req->root, "outputDimensionality", &out->dimensions);
        if (request_text(p, req->root, &text, err))
            return err->status;
        APR_ARRAY_PUSH(out->texts, const char *) = text;
        return 0;
    }
    tr_jv_array_foreach(requests, i, item)
    {
        if (i == 0)
            tr_jv_get_int(item, "outputDimensionality", &out->dimensions);
        if (request_text(p, item, &text, err))
            return err->status;
        APR_ARRAY_PUSH(out->texts, const char *) = text;
    }
    return 0;
}

/* One EmbedContentRequest: {"model", "content": {"parts": [{"text"}]}, "outputDimensionality"}. */
static tr_jv *embed_request(apr_pool_t *p, const char *text, const char *model_name,
                            long long dimensions)
{
    tr_jv *request = tr_jv_pack(p, "{s:s, s:{s:[{s:s}]}}", "model", model_name, "content", "parts",
                                "text", text);
    if (dimensions > 0)
        tr_jv_set_int(request, "outputDimensionality", dimensions);
    return request;
}

static tr_jv *gemini_embed_encode(apr_pool_t *p, const tr_embed_request *in, const char *model)
{
    const char *model_name = apr_pstrcat(p, "models/", model, NULL);
    tr_jv *requests;

    if (!(in->flags & AIPROXY_EMBED_LIST))
        return embed_request(p, in->texts->nelts ? APR_ARRAY_IDX(in->texts, 0, const char *) : "",
                             model_name, in->dimensions);
    requests = tr_jv_array(p);
    for (int i = 0; i < in->texts->nelts; i++)
        tr_jv_push(requests, embed_request(p, APR_ARRAY_IDX(in->texts, i, const char *), model_name,
                                           in->dimensions));
    return tr_jv_pack(p, "{s:o}", "requests", requests);
}

/* Every request of a batch names the model of the URL: each is copied with the new name, the
 * client's tree staying as parsed for later attempts. */
static void gemini_embed_set_model(apr_pool_t *p, tr_jv *root, const char *model)
{
    const char *model_name = apr_pstrcat(p, "models/", model, NULL);
    tr_jv *requests = tr_jv_get_array(root, "requests"), *item;
    size_t i;

    if (tr_jv_get(root, "model"))
        tr_jv_set_str(root, "model", model_name);
    if (!requests)
        return;
    tr_jv *renamed = tr_jv_array(p);
    tr_jv_array_foreach(requests, i, item)
    {
        tr_jv *copy = tr_jv_object(p);
        tr_jv_update_missing(copy, item);
        tr_jv_set_str(copy, "model", model_name);
        tr_jv_push(renamed, copy);
    }
    tr_jv_set(root, "requests", renamed);
}

static const char *gemini_embed_path(apr_pool_t *p, const char *model, unsigned flags)
{
    return tr_gemini_model_path(p, model,
                                flags & AIPROXY_EMBED_LIST ? "batchEmbedContents" : "embedContent");
}

static int gemini_embed_answer_decode(apr_pool_t *p, const tr_jv *body, tr_embed_answer *out)
{
    tr_jv *one = tr_jv_get_array(tr_jv_get_object(body, "embedding"), "values");
    tr_jv *many = tr_jv_get_array(body, "embeddings"), *item;
    size_t i;

    out->vectors = apr_array_make(p, (int) tr_jv_size(many) + 1, sizeof(tr_jv *));
    out->input_tokens = 0;
    /* Gemini answers no usage for embeddings today; read it should it come. */
    tr_jv_get_int(tr_jv_get_object(body, "usageMetadata"), "promptTokenCount", &out->input_tokens);
    if (one) {
        APR_ARRAY_PUSH(out->vectors, tr_jv *) = one;
        return 0;
    }
    if (!many)
        return -1;
    tr_jv_array_foreach(many, i, item)
    {
        tr_jv *values = tr_jv_get_array(item, "values");
        if (!values)
            return -1;
        APR_ARRAY_PUSH(out->vectors, tr_jv *) = values;
    }
    return 0;
}

static tr_jv *gemini_embed_answer_encode(apr_pool_t *p, const tr_embed_answer *in,
                                         const aiproxy_response_spec *spec)
{
    tr_jv *embeddings;

    if (!(spec->embed_flags & AIPROXY_EMBED_LIST))
        return tr_jv_pack(p, "{s:{s:o}}", "embedding", "values",
                          in->vectors->nelts ? APR_ARRAY_IDX(in->vectors, 0, tr_jv *)
                                             : tr_jv_array(p));
    embeddings = tr_jv_array(p);
    for (int i = 0; i < in->vectors->nelts; i++)
        tr_jv_push(embeddings,
                   tr_jv_pack(p, "{s:o}", "values", APR_ARRAY_IDX(in->vectors, i, tr_jv *)));
    return tr_jv_pack(p, "{s:o}", "embeddings", embeddings);
}

const tr_embed_format tr_gemini_embed_format = {
    .peek = gemini_embed_peek,
    .decode = gemini_embed_decode,
    .encode = gemini_embed_encode,
    .set_model = gemini_embed_set_model,
    .path = gemini_embed_path,
    .answer_decode = gemini_embed_answer_decode,
    .answer_encode = gemini_embed_answer_encode,
};
