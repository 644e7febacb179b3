/* codec/anthropic.c: Anthropic Messages codec table, request peek, endpoint and error envelope. */
#include "apr_strings.h"
#include "tr_error.h"
#include "json/tr_jv.h"
#include "codec/tr_peek.h"
#include "codec/tr_protocols.h"
#include "codec/tr_count.h"

static int anthropic_request_peek(apr_pool_t *p, tr_request *req, const aiproxy_route_info *route,
                                  aiproxy_error *err)
{
    if (tr_peek_model(req, err) || tr_peek_stream_flag(req, "stream", err))
        return err->status;
    return tr_peek_require_array(p, req->root, "messages", err);
}

static void anthropic_request_path(apr_pool_t *p, const aiproxy_target *target, const char *variant,
                                   const char **path, const char **query)
{
    *path = "/v1/messages";
    *query = NULL;
}

static const char *anthropic_count_path(apr_pool_t *p, const char *model)
{
    return "/v1/messages/count_tokens";
}

/* The count endpoint refuses generation settings (max_tokens, stream, sampling). */
static tr_jv *anthropic_count_body(apr_pool_t *p, tr_jv *generation_body, const char *model)
{
    static const char *const accepted[] = {"model",       "messages", "system", "tools",
                                           "tool_choice", "thinking", NULL};
    return tr_count_keep_members(p, generation_body, accepted);
}

static tr_jv *anthropic_error_encode(apr_pool_t *p, const aiproxy_error *err)
{
    const tr_error_words *words = tr_error_words_of(err);
    return tr_jv_pack(p, "{s:s, s:{s:s, s:s}}", "type", "error", "error", "type",
                      words->anthropic_type, "message", err->message ? err->message : "");
}

static const char *anthropic_error_decode(apr_pool_t *p, tr_jv *body)
{
    return tr_jv_get_str(tr_jv_get_object(body, "error"), "message");
}

const tr_codec tr_anthropic_codec = {
    .proto = AIPROXY_PROTO_ANTHROPIC,
    .request_peek = anthropic_request_peek,
    .request_set_model = tr_peek_set_body_model,
    .request_path = anthropic_request_path,
    .count_via = AIPROXY_PROTO_ANTHROPIC,
    .count_path = anthropic_count_path,
    .count_body = anthropic_count_body,
    .count_member = "input_tokens",
    .error_encode = anthropic_error_encode,
    .error_decode = anthropic_error_decode,
    TR_CODEC_TRANSLATION_ENTRIES(anthropic),
};
