/* tr_models.c: the model list answer in each protocol's own shape. */
#include "apr_strings.h"
#include "tr_json.h"

static json_t *openai_model_list(const apr_array_header_t *models)
{
    json_t *data = json_array();
    for (int i = 0; i < models->nelts; i++) {
        json_array_append_new(data, json_pack("{s:s, s:s, s:i, s:s}", "id",
                                              APR_ARRAY_IDX(models, i, const char *), "object",
                                              "model", "created", 0, "owned_by", "aiproxy"));
    }
    return json_pack("{s:s, s:o}", "object", "list", "data", data);
}

static json_t *anthropic_model_list(const apr_array_header_t *models)
{
    json_t *data = json_array();
    const char *first = models->nelts ? APR_ARRAY_IDX(models, 0, const char *) : NULL;
    const char *last =
        models->nelts ? APR_ARRAY_IDX(models, models->nelts - 1, const char *) : NULL;
    for (int i = 0; i < models->nelts; i++) {
        const char *id = APR_ARRAY_IDX(models, i, const char *);
        json_array_append_new(data,
                              json_pack("{s:s, s:s, s:s, s:s}", "type", "model", "id", id,
                                        "display_name", id, "created_at", "1970-01-01T00:00:00Z"));
    }
    return json_pack("{s:o, s:b, s:s?, s:s?}", "data", data, "has_more", 0, "first_id", first,
                     "last_id", last);
}

static json_t *gemini_model_list(const apr_array_header_t *models)
{
    json_t *list = json_array();
    for (int i = 0; i < models->nelts; i++) {
        const char *id = APR_ARRAY_IDX(models, i, const char *);
        char *name = malloc(strlen(id) + sizeof("models/"));
        strcpy(name, "models/");
        strcat(name, id);
        json_array_append_new(list, json_pack("{s:s, s:s, s:[s,s]}", "name", name, "displayName",
                                              id, "supportedGenerationMethods", "generateContent",
                                              "streamGenerateContent"));
        free(name);
    }
    return json_pack("{s:o}", "models", list);
}

static json_t *(*const model_list_builders[AIPROXY_PROTO_COUNT])(const apr_array_header_t *) = {
    [AIPROXY_PROTO_ANTHROPIC] = anthropic_model_list,
    [AIPROXY_PROTO_OPENAI] = openai_model_list,
    [AIPROXY_PROTO_RESPONSES] = openai_model_list,
    [AIPROXY_PROTO_GEMINI] = gemini_model_list,
};

const char *aiproxy_model_list_body(apr_pool_t *p, aiproxy_proto proto,
                                    const apr_array_header_t *models, apr_size_t *len)
{
    json_t *(*build)(const apr_array_header_t *) =
        (unsigned) proto < AIPROXY_PROTO_COUNT ? model_list_builders[proto] : openai_model_list;
    return tr_json_dump(p, tr_json_own(p, build(models)), len);
}
