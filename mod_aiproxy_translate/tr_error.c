/* tr_error.c: error envelopes in each protocol's own shape, and messages out of them. */
#include <string.h>
#include "apr_strings.h"
#include "codec/tr_codec.h"
#include "tr_error.h"
#include "json/tr_jv.h"

static const tr_error_words error_words[] = {
    {400, "invalid_request_error", "invalid_request_error", NULL, "INVALID_ARGUMENT"},
    {401, "authentication_error", "invalid_request_error", "invalid_api_key", "UNAUTHENTICATED"},
    {402, "billing_error", "insufficient_quota", "insufficient_quota", "FAILED_PRECONDITION"},
    {403, "permission_error", "permission_error", NULL, "PERMISSION_DENIED"},
    {404, "not_found_error", "invalid_request_error", "model_not_found", "NOT_FOUND"},
    {405, "invalid_request_error", "invalid_request_error", NULL, "UNIMPLEMENTED"},
    {408, "timeout_error", "timeout", NULL, "DEADLINE_EXCEEDED"},
    {413, "request_too_large", "invalid_request_error", "request_too_large", "INVALID_ARGUMENT"},
    {415, "invalid_request_error", "invalid_request_error", NULL, "INVALID_ARGUMENT"},
    {422, "invalid_request_error", "invalid_request_error", NULL, "INVALID_ARGUMENT"},
    {429, "rate_limit_error", "rate_limit_error", "rate_limit_exceeded", "RESOURCE_EXHAUSTED"},
    {500, "api_error", "server_error", NULL, "INTERNAL"},
    {501, "api_error", "invalid_request_error", "not_implemented", "UNIMPLEMENTED"},
    {502, "api_error", "server_error", "bad_gateway", "UNAVAILABLE"},
    {503, "overloaded_error", "server_error", "service_unavailable", "UNAVAILABLE"},
    {504, "timeout_error", "server_error", "timeout", "DEADLINE_EXCEEDED"},
    {529, "overloaded_error", "server_error", "overloaded", "UNAVAILABLE"},
};

/* Failures that share a status with others but have words of their own, by code. The status
 * field is unused: the caller's status stands. */
static const struct {
    const char *code;
    tr_error_words words;
} coded_error_words[] = {
    /* OpenAI answers an unknown URL with invalid_request_error and no model in sight. */
    {"unknown_url", {404, "not_found_error", "invalid_request_error", "unknown_url", "NOT_FOUND"}},
    {"model_not_found",
     {404, "not_found_error", "invalid_request_error", "model_not_found", "NOT_FOUND"}},
};

int tr_error_set(aiproxy_error *err, int status, const char *message)
{
    err->status = status;
    err->type = tr_error_words_for(status)->anthropic_type;
    err->message = message;
    err->code = NULL;
    return status;
}

const tr_error_words *tr_error_words_of(const aiproxy_error *err)
{
    for (size_t i = 0; err->code && i < sizeof(coded_error_words) / sizeof(coded_error_words[0]);
         i++) {
        if (!strcmp(coded_error_words[i].code, err->code))
            return &coded_error_words[i].words;
    }
    return tr_error_words_for(err->status);
}

const char *tr_error_openai_code(const aiproxy_error *err)
{
    return err->code ? err->code : tr_error_words_of(err)->openai_code;
}

const tr_error_words *tr_error_words_for(int status)
{
    for (size_t i = 0; i < sizeof(error_words) / sizeof(error_words[0]); i++) {
        if (error_words[i].status == status)
            return &error_words[i];
    }
    /* Unlisted statuses take their class's generic words. */
    return tr_error_words_for(status >= 500 ? 500 : 400);
}

const char *aiproxy_error_body(apr_pool_t *p, aiproxy_proto proto, const aiproxy_error *err,
                               apr_size_t *len)
{
    const tr_codec *codec = tr_codec_for(proto);

    if (!codec)
        codec = tr_codec_for(AIPROXY_PROTO_OPENAI);
    return tr_jv_dump(p, codec->error_encode(p, err), len);
}

const char *aiproxy_error_message_from_body(apr_pool_t *p, aiproxy_proto upstream, const char *body,
                                            apr_size_t len)
{
    aiproxy_error ignored;
    tr_jv *root = tr_jv_parse(p, body, len, &ignored);
    const char *msg = NULL;

    if (!root)
        return NULL;
    /* Gemini streams errors as a one-element array. */
    if (tr_jv_is_array(root) && tr_jv_size(root) > 0)
        root = tr_jv_at(root, 0);
    if (tr_codec_for(upstream))
        msg = tr_codec_for(upstream)->error_decode(p, root);
    /* Providers behind one api type do not always use its envelope; try the others. */
    for (int i = 0; !msg && i < AIPROXY_PROTO_COUNT; i++)
        msg = tr_codec_for((aiproxy_proto) i)->error_decode(p, root);
    return msg;
}
