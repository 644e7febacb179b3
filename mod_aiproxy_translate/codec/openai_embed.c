/*
 * codec/openai_embed.c: OpenAI embeddings (POST /v1/embeddings): the request's input (a string
 * or an array of them; token arrays only pass through unchanged), dimensions and
 * encoding_format, and the {"object":"list","data":[...]} answer.
 */
#include <string.h>
#include "apr_strings.h"
#include "tr_error.h"
#include "codec/tr_embed.h"
#include "codec/tr_peek.h"

/* A string, or a non-empty array of strings, of token ids or of token-id arrays. */
static int check_input(const tr_jv *input, aiproxy_error *err)
{
    if (tr_jv_is_string(input))
        return 0;
    if (!tr_jv_is_array(input) || tr_jv_size(input) == 0)
        return tr_error_set(err, 400, "'input' must be a string or a non-empty array");
    return 0;
}

static int openai_embed_peek(apr_pool_t *p, tr_request *req, const aiproxy_route_info *route,
                             aiproxy_error *err)
{
    tr_jv *format = tr_jv_get(req->root, "encoding_format");
    tr_jv *dimensions = tr_jv_get(req->root, "dimensions");

    if (tr_peek_model(req, err))
        return err->status;
    if (!tr_jv_get(req->root, "input"))
        return tr_error_set(err, 400, "'input' is required");
    if (check_input(tr_jv_get(req->root, "input"), err))
        return err->status;
    if (format && !tr_jv_is_null(format) &&
        (!tr_jv_is_string(format) ||
         (strcmp(tr_jv_str_value(format), "float") && strcmp(tr_jv_str_value(format), "base64"))))
        return tr_error_set(err, 400, "'encoding_format' must be \"float\" or \"base64\"");
    if (dimensions && !tr_jv_is_null(dimensions) &&
        (!tr_jv_is_integer(dimensions) || tr_jv_int_value(dimensions) < 1))
        return tr_error_set(err, 400, "'dimensions' must be a positive integer");
    req->embed_flags = 0;
    if (tr_jv_is_array(tr_jv_get(req->root, "input")))
        req->embed_flags |= AIPROXY_EMBED_LIST;
    if (tr_jv_is_string(format) && !strcmp(tr_jv_str_value(format), "base64"))
        req->embed_flags |= AIPROXY_EMBED_BASE64;
    return 0;
}

static int openai_embed_decode(apr_pool_t *p, const tr_request *req, tr_embed_request *out,
                               aiproxy_error *err)
{
    tr_jv *input = tr_jv_get(req->root, "input"), *item;
    size_t i;

    tr_embed_request_init(p, out);
    out->flags = req->embed_flags & AIPROXY_EMBED_LIST;
    tr_jv_get_int(req->root, "dimensions", &out->dimensions);
    if (tr_jv_is_string(input)) {
        APR_ARRAY_PUSH(out->texts, const char *) = tr_jv_str_value(input);
        return 0;
    }
    tr_jv_array_foreach(input, i, item)
    {
        if (!tr_jv_is_string(item))
            return tr_error_set(err, 400,
                                "token arrays cannot be embedded by this model's upstream "
                                "protocol: send the input as text");
        APR_ARRAY_PUSH(out->texts, const char *) = tr_jv_str_value(item);
    }
    return 0;
}

static tr_jv *openai_embed_encode(apr_pool_t *p, const tr_embed_request *in, const char *model)
{
    tr_jv *body = tr_jv_pack(p, "{s:s}", "model", model);

    if (in->flags & AIPROXY_EMBED_LIST) {
        tr_jv *input = tr_jv_set_array(body, "input");
        for (int i = 0; i < in->texts->nelts; i++)
            tr_jv_push_str(input, APR_ARRAY_IDX(in->texts, i, const char *));
    } else
        tr_jv_set_str(body, "input",
                      in->texts->nelts ? APR_ARRAY_IDX(in->texts, 0, const char *) : "");
    if (in->dimensions > 0)
        tr_jv_set_int(body, "dimensions", in->dimensions);
    return body;
}

static void openai_embed_set_model(apr_pool_t *p, tr_jv *root, const char *model)
{
    tr_peek_set_body_model(root, model);
}

static const char *openai_embed_path(apr_pool_t *p, const char *model, unsigned flags)
{
    return "/v1/embeddings";
}

static int openai_embed_answer_decode(apr_pool_t *p, const tr_jv *body, tr_embed_answer *out)
{
    tr_jv *data = tr_jv_get_array(body, "data"), *item;
    size_t i;

    out->vectors = apr_array_make(p, (int) tr_jv_size(data) + 1, sizeof(tr_jv *));
    out->input_tokens = 0;
    tr_jv_get_int(tr_jv_get_object(body, "usage"), "prompt_tokens", &out->input_tokens);
    if (!data)
        return -1;
    tr_jv_array_foreach(data, i, item)
    {
        tr_jv *vector = tr_jv_get_array(item, "embedding");
        if (!vector)
            return -1; /* base64 strings are never asked for when translating */
        APR_ARRAY_PUSH(out->vectors, tr_jv *) = vector;
    }
    return 0;
}

static tr_jv *openai_embed_answer_encode(apr_pool_t *p, const tr_embed_answer *in,
                                         const aiproxy_response_spec *spec)
{
    tr_jv *data = tr_jv_array(p);

    for (int i = 0; i < in->vectors->nelts; i++) {
        tr_jv *vector = APR_ARRAY_IDX(in->vectors, i, tr_jv *);
        tr_jv *item = tr_jv_pack(p, "{s:s, s:i}", "object", "embedding", "index", i);
        if (spec->embed_flags & AIPROXY_EMBED_BASE64)
            tr_jv_set_str(item, "embedding", tr_embed_base64(p, vector));
        else
            tr_jv_set(item, "embedding", vector);
        tr_jv_push(data, item);
    }
    return tr_jv_pack(p, "{s:s, s:o, s:s, s:{s:I, s:I}}", "object", "list", "data", data, "model",
                      spec->client_model ? spec->client_model : "", "usage", "prompt_tokens",
                      in->input_tokens, "total_tokens", in->input_tokens);
}

const tr_embed_format tr_openai_embed_format = {
    .peek = openai_embed_peek,
    .decode = openai_embed_decode,
    .encode = openai_embed_encode,
    .set_model = openai_embed_set_model,
    .path = openai_embed_path,
    .answer_decode = openai_embed_answer_decode,
    .answer_encode = openai_embed_answer_encode,
};
