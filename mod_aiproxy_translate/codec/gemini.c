/* codec/gemini.c: Gemini generateContent codec table, request peek, endpoint, error envelope. */
#include "apr_lib.h"
#include <string.h>
#include "apr_strings.h"
#include "tr_error.h"
#include "json/tr_jv.h"
#include "codec/tr_peek.h"
#include "codec/tr_protocols.h"
#include "codec/tr_embed.h"

int tr_gemini_peek_route(tr_request *req, const aiproxy_route_info *route, aiproxy_error *err)
{
    /* Gemini carries model and streaming in the URL, never in the body. */
    if (!route || !route->model || !*route->model)
        return tr_error_set(err, 400,
                            "the URL names no model: use /v1beta/models/{model}:generateContent");
    if (tr_peek_model_name(route->model, strlen(route->model), err))
        return err->status;
    req->model = route->model;
    req->stream = route->stream;
    return 0;
}

static int gemini_request_peek(apr_pool_t *p, tr_request *req, const aiproxy_route_info *route,
                               aiproxy_error *err)
{
    if (tr_gemini_peek_route(req, route, err))
        return err->status;
    return tr_peek_require_array(p, req->root, "contents", err);
}

/* The model lives in the path; the body has nothing to change. */
static void gemini_request_set_model(tr_jv *root, const char *model)
{
}

/* Model ids are path segments: escape anything outside the unreserved set. */
static const char *escape_path_segment(apr_pool_t *p, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = apr_palloc(p, strlen(s) * 3 + 1), *o = out;
    for (; *s; s++) {
        unsigned char c = (unsigned char) *s;
        if (apr_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')
            *o++ = (char) c;
        else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = '\0';
    return out;
}

const char *tr_gemini_model_path(apr_pool_t *p, const char *model, const char *action)
{
    return apr_pstrcat(p, "/v1beta/models/", escape_path_segment(p, model), ":", action, NULL);
}

static void gemini_request_path(apr_pool_t *p, const aiproxy_target *target, const char *variant,
                                const char **path, const char **query)
{
    *path = tr_gemini_model_path(p, target->model,
                                 target->stream ? "streamGenerateContent" : "generateContent");
    *query = target->stream ? "alt=sse" : NULL;
}

static const char *gemini_count_path(apr_pool_t *p, const char *model)
{
    return tr_gemini_model_path(p, model, "countTokens");
}

/* countTokens takes a whole generation request (system instruction and tools count too)
 * nested under generateContentRequest, with its model named there as well. */
static tr_jv *gemini_count_body(apr_pool_t *p, tr_jv *generation_body, const char *model)
{
    tr_jv *body = tr_jv_object(p);

    tr_jv_set_str(generation_body, "model", apr_pstrcat(p, "models/", model, NULL));
    tr_jv_set(body, "generateContentRequest", generation_body);
    return body;
}

static tr_jv *gemini_error_encode(apr_pool_t *p, const aiproxy_error *err)
{
    const tr_error_words *words = tr_error_words_of(err);
    return tr_jv_pack(p, "{s:{s:i, s:s, s:s}}", "error", "code", err->status, "message",
                      err->message ? err->message : "", "status", words->google_status);
}

static const char *gemini_error_decode(apr_pool_t *p, tr_jv *body)
{
    return tr_jv_get_str(tr_jv_get_object(body, "error"), "message");
}

const tr_codec tr_gemini_codec = {
    .proto = AIPROXY_PROTO_GEMINI,
    .request_peek = gemini_request_peek,
    .request_set_model = gemini_request_set_model,
    .request_path = gemini_request_path,
    .count_via = AIPROXY_PROTO_GEMINI,
    .count_path = gemini_count_path,
    .count_body = gemini_count_body,
    .count_member = "totalTokens",
    .embed = &tr_gemini_embed_format,
    .error_encode = gemini_error_encode,
    .error_decode = gemini_error_decode,
    TR_CODEC_TRANSLATION_ENTRIES(gemini),
};
