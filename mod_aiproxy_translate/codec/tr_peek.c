/* codec/tr_peek.c: see codec/tr_peek.h. */
#include "apr_strings.h"
#include "codec/tr_peek.h"
#include "tr_error.h"

int tr_peek_model_name(const char *model, apr_size_t len, aiproxy_error *err)
{
    /* Model names become log fields, header values and breaker keys: no control bytes (a
     * NUL would also cut the name short of what the client sent). */
    for (apr_size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) model[i];
        if (c < 0x20 || c == 0x7f)
            return tr_error_set(err, 400, "the model name must not contain control characters");
    }
    return 0;
}

int tr_peek_model(tr_request *req, aiproxy_error *err)
{
    tr_jv *model = tr_jv_get(req->root, "model");

    if (!model)
        return tr_error_set(err, 400, "'model' is required");
    if (!tr_jv_is_string(model) || tr_jv_str_len(model) == 0)
        return tr_error_set(err, 400, "'model' must be a non-empty string");
    if (tr_peek_model_name(tr_jv_str_value(model), tr_jv_str_len(model), err))
        return err->status;
    req->model = tr_jv_str_value(model);
    return 0;
}

int tr_peek_stream_flag(tr_request *req, const char *key, aiproxy_error *err)
{
    tr_jv *stream = tr_jv_get(req->root, key);

    if (stream && !tr_jv_is_bool(stream) && !tr_jv_is_null(stream))
        return tr_error_set(err, 400, "'stream' must be a boolean");
    req->stream = tr_jv_is_true(stream) ? AIPROXY_STREAM_SSE : AIPROXY_STREAM_NONE;
    return 0;
}

int tr_peek_require_array(apr_pool_t *p, const tr_jv *root, const char *key, aiproxy_error *err)
{
    tr_jv *value = tr_jv_get(root, key);

    if (!value)
        return tr_error_set(err, 400, apr_psprintf(p, "'%s' is required", key));
    if (!tr_jv_is_array(value))
        return tr_error_set(err, 400, apr_psprintf(p, "'%s' must be an array", key));
    return 0;
}

void tr_peek_set_body_model(tr_jv *root, const char *model)
{
    tr_jv_set_str(root, "model", model);
}
