/* Embeddings shapes: OpenAI POST .../embeddings ({"object":"list","data":[{"embedding"}]}, floats
 * or base64 float32) and Gemini POST .../models/{model}:embedContent ({"embedding":{"values"}})
 * and :batchEmbedContents ({"embeddings":[{"values"}]}).
 *
 * A vector depends only on its text and size, so a test can compute what any route must answer
 * (test/integration: mock_vector): DEFAULT_DIMENSIONS (or the dimensions asked for) values
 * k/1024 with k in [-1024, 1024], exact in JSON and in float32. Markers ([mock:status=503], ...)
 * are read from the texts, joined. */
#include <string.h>

#include <apr_base64.h>
#include <apr_strings.h>

#include "mock.h"

#define DEFAULT_DIMENSIONS 8
#define MAX_DIMENSIONS     4096

/* FNV-1a: the seed of a text's vector. */
static apr_uint64_t text_hash(const char *s, apr_size_t len)
{
    apr_uint64_t h = APR_UINT64_C(0xcbf29ce484222325);
    for (apr_size_t i = 0; i < len; i++) {
        h = (h ^ (unsigned char) s[i]) * APR_UINT64_C(0x100000001b3);
    }
    return h;
}

static double vector_value(apr_uint64_t seed, int i)
{
    return (double) ((int) (mock_mix(seed + (apr_uint64_t) i) % 2049) - 1024) / 1024.0;
}

static int dimensions_of(const json_t *v)
{
    json_int_t n = json_is_integer(v) ? json_integer_value(v) : 0;
    return n > 0 && n <= MAX_DIMENSIONS ? (int) n : DEFAULT_DIMENSIONS;
}

static json_t *vector_json(const char *text, int dims)
{
    apr_uint64_t seed = text_hash(text, strlen(text));
    json_t *values = json_array();
    for (int i = 0; i < dims; i++) {
        json_array_append_new(values, json_real(vector_value(seed, i)));
    }
    return values;
}

/* The vector as OpenAI's encoding_format=base64: little-endian float32. */
static json_t *vector_base64(apr_pool_t *p, const char *text, int dims)
{
    apr_uint64_t seed = text_hash(text, strlen(text));
    unsigned char *raw = apr_palloc(p, (apr_size_t) dims * 4 + 1);
    char *out = apr_palloc(p, (apr_size_t) apr_base64_encode_len(dims * 4));

    for (int i = 0; i < dims; i++) {
        float f = (float) vector_value(seed, i);
        apr_uint32_t bits;
        memcpy(&bits, &f, sizeof(bits));
        for (int b = 0; b < 4; b++) {
            raw[i * 4 + b] = (unsigned char) (bits >> (8 * b));
        }
    }
    apr_base64_encode_binary(out, raw, dims * 4);
    return json_string(out);
}

/* The texts of the request, joined with "\n", as the text markers are read from. */
static void set_user_text(mock_call *c, const apr_array_header_t *texts)
{
    const char *joined = apr_array_pstrcat(c->pool, texts, '\n');
    c->user_text = joined;
    c->user_text_len = strlen(joined);
}

/* ---- OpenAI ---------------------------------------------------------------------------------- */

/* input: a string, or an array of strings (token arrays get no texts: answered 400). */
static apr_array_header_t *openai_texts(apr_pool_t *p, const json_t *input)
{
    apr_array_header_t *texts = apr_array_make(p, 4, sizeof(const char *));
    const json_t *item;
    size_t i;

    if (json_is_string(input)) {
        APR_ARRAY_PUSH(texts, const char *) = json_string_value(input);
    }
    json_array_foreach(input, i, item)
    {
        if (!json_is_string(item)) {
            return apr_array_make(p, 1, sizeof(const char *));
        }
        APR_ARRAY_PUSH(texts, const char *) = json_string_value(item);
    }
    return texts;
}

void mock_openai_embed_parse(mock_call *c)
{
    const char *model = mock_json_str(c->body, "model");
    c->model = model ? model : "";
    set_user_text(c, openai_texts(c->pool, json_object_get(c->body, "input")));
}

void mock_openai_embed_reply(const mock_call *c, mock_reply *out)
{
    apr_array_header_t *texts = openai_texts(c->pool, json_object_get(c->body, "input"));
    int dims = dimensions_of(json_object_get(c->body, "dimensions"));
    const char *format = mock_json_str(c->body, "encoding_format");
    int base64 = format && strcmp(format, "base64") == 0;
    json_int_t tokens = (json_int_t) (c->body_len / 4);
    json_t *data = json_array();

    if (texts->nelts == 0) {
        mock_reply_body(out, 400,
                        mock_openai_error_json(400, "mock: 'input' must be a string or an array "
                                                    "of strings"));
        json_decref(data);
        return;
    }
    for (int i = 0; i < texts->nelts; i++) {
        const char *text = APR_ARRAY_IDX(texts, i, const char *);
        json_array_append_new(
            data, json_pack("{s:s,s:i,s:o}", "object", "embedding", "index", i, "embedding",
                            base64 ? vector_base64(c->pool, text, dims) : vector_json(text, dims)));
    }
    mock_reply_body(out, 200,
                    json_pack("{s:s,s:o,s:s,s:{s:I,s:I}}", "object", "list", "data", data, "model",
                              c->model, "usage", "prompt_tokens", tokens, "total_tokens", tokens));
}

/* ---- Gemini ---------------------------------------------------------------------------------- */

static int is_batch(const mock_call *c)
{
    return c->route.ep == MOCK_EP_EMBED && c->route.gemini_batch;
}

/* The EmbedContentRequests of the call: the body itself, or its requests[]. */
static json_t *gemini_requests(const mock_call *c)
{
    json_t *requests;

    if (is_batch(c)) {
        return json_incref(json_object_get(c->body, "requests"));
    }
    requests = json_array();
    json_array_append(requests, c->body);
    return requests;
}

static const char *content_text(apr_pool_t *p, const json_t *request)
{
    apr_size_t len;
    return mock_content_text(p, json_object_get(json_object_get(request, "content"), "parts"), NULL,
                             NULL, &len);
}

void mock_gemini_embed_parse(mock_call *c)
{
    json_t *requests = gemini_requests(c);
    apr_array_header_t *texts = apr_array_make(c->pool, 4, sizeof(const char *));
    const json_t *request;
    size_t i;

    json_array_foreach(requests, i, request)
    {
        APR_ARRAY_PUSH(texts, const char *) = content_text(c->pool, request);
    }
    json_decref(requests);
    set_user_text(c, texts);
}

/* Why the request is refused as Gemini would, or NULL. A batch's requests must each name the
 * model of the URL. */
static const char *gemini_refusal(const mock_call *c, const json_t *requests)
{
    const char *url_model = apr_pstrcat(c->pool, "models/", c->model, NULL);
    const json_t *request;
    size_t i;

    if (json_array_size(requests) == 0) {
        return "mock: 'requests' must be a non-empty array";
    }
    json_array_foreach(requests, i, request)
    {
        const char *model = mock_json_str(request, "model");
        if (!json_is_object(json_object_get(request, "content"))) {
            return "mock: 'content' is required";
        }
        if (is_batch(c) && (!model || strcmp(model, url_model) != 0)) {
            return apr_psprintf(c->pool, "mock: requests[%d].model must be %s", (int) i, url_model);
        }
    }
    return NULL;
}

void mock_gemini_embed_reply(const mock_call *c, mock_reply *out)
{
    json_t *requests = gemini_requests(c);
    const char *refusal = gemini_refusal(c, requests);
    json_t *embeddings;
    const json_t *request;
    size_t i;

    if (refusal) {
        json_decref(requests);
        mock_gemini_provider.error(c, out, 400, refusal);
        return;
    }
    embeddings = json_array();
    json_array_foreach(requests, i, request)
    {
        int dims = dimensions_of(json_object_get(request, "outputDimensionality"));
        json_array_append_new(
            embeddings,
            json_pack("{s:o}", "values", vector_json(content_text(c->pool, request), dims)));
    }
    json_decref(requests);
    if (is_batch(c)) {
        mock_reply_body(out, 200, json_pack("{s:o}", "embeddings", embeddings));
    } else {
        mock_reply_body(out, 200, json_pack("{s:O}", "embedding", json_array_get(embeddings, 0)));
        json_decref(embeddings);
    }
    out->content_type = "application/json; charset=UTF-8";
}
