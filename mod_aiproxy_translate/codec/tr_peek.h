/* codec/tr_peek.h: the cheap checks every protocol's request peek shares. */
#ifndef TR_PEEK_H
#define TR_PEEK_H

#include "tr_ir.h"

/* 0 when model (len bytes) is fit to be a model name (no control characters), else a 400 in
 * *err. */
int tr_peek_model_name(const char *model, apr_size_t len, aiproxy_error *err);
/* req->model = body "model" (a non-empty string, a fit name), else a 400 in *err. */
int tr_peek_model(tr_request *req, aiproxy_error *err);
/* req->stream from a boolean body field (absent = not streaming), else a 400 in *err. */
int tr_peek_stream_flag(tr_request *req, const char *key, aiproxy_error *err);
/* key must be present and an array, else a 400 in *err. */
int tr_peek_require_array(apr_pool_t *p, const tr_jv *root, const char *key, aiproxy_error *err);
/* Body "model" = model (the passthrough rewrite of every protocol but Gemini). */
void tr_peek_set_body_model(tr_jv *root, const char *model);

#endif /* TR_PEEK_H */
