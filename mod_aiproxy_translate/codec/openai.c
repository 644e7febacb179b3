/* codec/openai.c: OpenAI Chat Completions codec table, request peek, endpoint, error envelope. */
#include "apr_strings.h"
#include "tr_error.h"
#include "json/tr_jv.h"
#include "codec/tr_peek.h"
#include "codec/tr_protocols.h"
#include "codec/tr_embed.h"

static int openai_request_peek(apr_pool_t *p, tr_request *req, const aiproxy_route_info *route,
                               aiproxy_error *err)
{
    if (tr_peek_model(req, err) || tr_peek_stream_flag(req, "stream", err))
        return err->status;
    /* Needed by the response side even when the body passes through undecoded. */
    req->include_usage =
        tr_jv_get_bool(tr_jv_get_object(req->root, "stream_options"), "include_usage", 0) == 1;
    return tr_peek_require_array(p, req->root, "messages", err);
}

static void openai_request_path(apr_pool_t *p, const aiproxy_target *target, const char *variant,
                                const char **path, const char **query)
{
    *path = "/v1/chat/completions";
    *query = NULL;
}

/* OpenAI's envelope, shared with the Responses API. */
tr_jv *tr_openai_error_envelope(apr_pool_t *p, const aiproxy_error *err);
tr_jv *tr_openai_error_envelope(apr_pool_t *p, const aiproxy_error *err)
{
    const tr_error_words *words = tr_error_words_of(err);
    return tr_jv_pack(p, "{s:{s:s, s:s, s:n, s:s*}}", "error", "message",
                      err->message ? err->message : "", "type", words->openai_type, "param", "code",
                      tr_error_openai_code(err));
}

const char *tr_openai_error_message(apr_pool_t *p, tr_jv *body);
const char *tr_openai_error_message(apr_pool_t *p, tr_jv *body)
{
    tr_jv *error = tr_jv_get(body, "error");
    /* Some OpenAI-compatible servers send {"error": "text"}. */
    return tr_jv_is_string(error) ? tr_jv_str_value(error) : tr_jv_get_str(error, "message");
}

const tr_codec tr_openai_codec = {
    .proto = AIPROXY_PROTO_OPENAI,
    .request_peek = openai_request_peek,
    .request_set_model = tr_peek_set_body_model,
    .request_path = openai_request_path,
    /* Chat Completions has no count endpoint; OpenAI and compatible servers count in the
     * Responses API (POST /v1/responses/input_tokens). */
    .count_via = AIPROXY_PROTO_RESPONSES,
    .embed = &tr_openai_embed_format,
    .complete = &tr_completions_codec,
    .error_encode = tr_openai_error_envelope,
    .error_decode = tr_openai_error_message,
    TR_CODEC_TRANSLATION_ENTRIES(openai),
};
