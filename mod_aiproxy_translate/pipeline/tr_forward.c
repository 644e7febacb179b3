/* pipeline/tr_forward.c: see pipeline/tr_forward.h. */
#include <string.h>
#include "apr_strings.h"
#include "codec/tr_peek.h"
#include "pipeline/tr_forward.h"
#include "pipeline/tr_multipart.h"
#include "tr_error.h"

static int peek_multipart(apr_pool_t *p, const char *body, apr_size_t len, const char *content_type,
                          tr_forward_body *fb, const char **model, aiproxy_error *err)
{
    const char *value;
    apr_size_t value_len, offset;

    fb->boundary = tr_multipart_boundary(p, content_type);
    if (!fb->boundary)
        return tr_error_set(err, 415,
                            "the request body must be multipart/form-data with a boundary");
    switch (
        tr_multipart_find_field(p, body, len, fb->boundary, "model", &value, &value_len, &offset)) {
    case TR_MULTIPART_ABSENT:
        return tr_error_set(err, 400, "'model' is required");
    case TR_MULTIPART_DUPLICATE:
        return tr_error_set(err, 400, "'model' is given twice");
    case TR_MULTIPART_TOO_LONG:
        return tr_error_set(err, 400, "'model' is too long");
    case TR_MULTIPART_INVALID:
        return tr_error_set(err, 400, "the multipart/form-data body is not well-formed");
    case TR_MULTIPART_FOUND:
        break;
    }
    if (value_len == 0)
        return tr_error_set(err, 400, "'model' must be a non-empty string");
    if (tr_peek_model_name(value, value_len, err))
        return err->status;
    fb->model_start = offset;
    fb->model_len = value_len;
    *model = value;
    return 0;
}

int tr_forward_peek(apr_pool_t *p, const char *body, apr_size_t len, const char *content_type,
                    tr_forward_body *fb, const char **model, aiproxy_error *err)
{
    tr_request peek;
    int rc;

    memset(fb, 0, sizeof(*fb));
    if (content_type)
        return peek_multipart(p, body, len, content_type, fb, model, err);
    memset(&peek, 0, sizeof(peek));
    peek.root = tr_jv_parse(p, body, len, err);
    if (!peek.root)
        return err->status;
    if (!tr_jv_is_object(peek.root))
        return tr_error_set(err, 400, "request body must be a JSON object");
    if ((rc = tr_peek_model(&peek, err)) != 0)
        return rc;
    fb->root = peek.root;
    *model = peek.model;
    return 0;
}

void tr_forward_rewrite(apr_pool_t *p, const tr_forward_body *fb, const char *body, apr_size_t len,
                        const char *client_model, const char *model, const char **out,
                        apr_size_t *out_len)
{
    *out = body;
    *out_len = len;
    if (!strcmp(client_model, model))
        return;
    if (fb->boundary) {
        apr_size_t n = strlen(model), rest = len - fb->model_start - fb->model_len;
        char *copy = apr_palloc(p, len - fb->model_len + n);
        memcpy(copy, body, fb->model_start);
        memcpy(copy + fb->model_start, model, n);
        memcpy(copy + fb->model_start + n, body + fb->model_start + fb->model_len, rest);
        *out = copy;
        *out_len = len - fb->model_len + n;
    } else {
        /* a shallow copy of the top level: the client's tree stays as parsed */
        tr_jv *copy = tr_jv_object(p);
        tr_jv_update_missing(copy, fb->root);
        tr_peek_set_body_model(copy, model);
        *out = tr_jv_dump(p, copy, out_len);
    }
}
