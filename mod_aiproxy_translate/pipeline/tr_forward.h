/*
 * pipeline/tr_forward.h: the forward operation's body (AIPROXY_OP_FORWARD): a JSON or
 * multipart/form-data body that goes to the upstream unchanged but for its model.
 */
#ifndef TR_FORWARD_H
#define TR_FORWARD_H

#include "apr_pools.h"
#include "aiproxy_translate.h"
#include "json/tr_jv.h"

typedef struct {
    const char *boundary;   /* multipart/form-data: the body's boundary; NULL: a JSON body */
    tr_jv *root;            /* JSON: the parsed body */
    apr_size_t model_start; /* multipart: the model field's value is body[start, start + len) */
    apr_size_t model_len;
} tr_forward_body;

/* Read the model of a forwarded body (content_type NULL: JSON, else multipart/form-data with
 * its boundary). Returns 0 with *fb and *model filled, or 400/415 with *err filled: not
 * well-formed, no model, a model twice, a model that is no fit name. */
int tr_forward_peek(apr_pool_t *p, const char *body, apr_size_t len, const char *content_type,
                    tr_forward_body *fb, const char **model, aiproxy_error *err);

/* The body to send with model in place of client_model: the client's own bytes when they are
 * the same, else a copy with only the model changed (the multipart field's bytes, or the JSON
 * "model" member). */
void tr_forward_rewrite(apr_pool_t *p, const tr_forward_body *fb, const char *body, apr_size_t len,
                        const char *client_model, const char *model, const char **out,
                        apr_size_t *out_len);

#endif /* TR_FORWARD_H */
