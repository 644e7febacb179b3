/* tr_peek.c: see tr_peek.h. */
#include "apr_strings.h"
#include "tr_peek.h"

static int invalid(aiproxy_error *err, const char *message)
{
    err->status = 400;
    err->type = "invalid_request_error";
    err->message = message;
    return err->status;
}

int tr_peek_model(tr_request *req, aiproxy_error *err)
{
    json_t *model = json_object_get(req->root, "model");

    if (!model)
        return invalid(err, "'model' is required");
    if (!json_is_string(model) || json_string_length(model) == 0)
        return invalid(err, "'model' must be a non-empty string");
    req->model = json_string_value(model);
    return 0;
}

int tr_peek_stream_flag(tr_request *req, const char *key, aiproxy_error *err)
{
    json_t *stream = json_object_get(req->root, key);

    if (stream && !json_is_boolean(stream) && !json_is_null(stream))
        return invalid(err, "'stream' must be a boolean");
    req->stream = json_is_true(stream) ? AIPROXY_STREAM_SSE : AIPROXY_STREAM_NONE;
    return 0;
}

int tr_peek_require_array(apr_pool_t *p, const json_t *root, const char *key, aiproxy_error *err)
{
    json_t *value = json_object_get(root, key);

    if (!value)
        return invalid(err, apr_psprintf(p, "'%s' is required", key));
    if (!json_is_array(value))
        return invalid(err, apr_psprintf(p, "'%s' must be an array", key));
    return 0;
}

void tr_peek_set_body_model(json_t *root, const char *model)
{
    json_object_set_new(root, "model", json_string(model));
}
