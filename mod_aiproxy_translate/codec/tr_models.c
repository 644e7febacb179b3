/* codec/tr_models.c: the model list answer in each protocol's own shape. */
#include "apr_strings.h"
#include "json/tr_jv.h"

static tr_jv *openai_model_list(apr_pool_t *p, const apr_array_header_t *models)
{
    tr_jv *data = tr_jv_array(p);
    for (int i = 0; i < models->nelts; i++) {
        tr_jv_push(data, tr_jv_pack(p, "{s:s, s:s, s:i, s:s}", "id",
                                    APR_ARRAY_IDX(models, i, const char *), "object", "model",
                                    "created", 0, "owned_by", "aiproxy"));
    }
    return tr_jv_pack(p, "{s:s, s:o}", "object", "list", "data", data);
}

static tr_jv *anthropic_model_list(apr_pool_t *p, const apr_array_header_t *models)
{
    tr_jv *data = tr_jv_array(p);
    const char *first = models->nelts ? APR_ARRAY_IDX(models, 0, const char *) : NULL;
    const char *last =
        models->nelts ? APR_ARRAY_IDX(models, models->nelts - 1, const char *) : NULL;
    for (int i = 0; i < models->nelts; i++) {
        const char *id = APR_ARRAY_IDX(models, i, const char *);
        tr_jv_push(data, tr_jv_pack(p, "{s:s, s:s, s:s, s:s}", "type", "model", "id", id,
                                    "display_name", id, "created_at", "1970-01-01T00:00:00Z"));
    }
    return tr_jv_pack(p, "{s:o, s:b, s:s?, s:s?}", "data", data, "has_more", 0, "first_id", first,
                      "last_id", last);
}

static tr_jv *gemini_model_list(apr_pool_t *p, const apr_array_header_t *models)
{
    tr_jv *list = tr_jv_array(p);
    for (int i = 0; i < models->nelts; i++) {
        const char *id = APR_ARRAY_IDX(models, i, const char *);
        tr_jv_push(list,
                   tr_jv_pack(p, "{s:s, s:s, s:[s,s]}", "name", apr_pstrcat(p, "models/", id, NULL),
                              "displayName", id, "supportedGenerationMethods", "generateContent",
                              "streamGenerateContent"));
    }
    return tr_jv_pack(p, "{s:o}", "models", list);
}

static tr_jv *(*const model_list_builders[AIPROXY_PROTO_COUNT])(apr_pool_t *,
                                                                const apr_array_header_t *) = {
    [AIPROXY_PROTO_ANTHROPIC] = anthropic_model_list,
    [AIPROXY_PROTO_OPENAI] = openai_model_list,
    [AIPROXY_PROTO_RESPONSES] = openai_model_list,
    [AIPROXY_PROTO_GEMINI] = gemini_model_list,
};

const char *aiproxy_model_list_body(apr_pool_t *p, aiproxy_proto proto,
                                    const apr_array_header_t *models, apr_size_t *len)
{
    tr_jv *(*build)(apr_pool_t *, const apr_array_header_t *) =
        (unsigned) proto < AIPROXY_PROTO_COUNT ? model_list_builders[proto] : openai_model_list;
    return tr_jv_dump(p, build(p, models), len);
}
