/* codec/responses.c: OpenAI Responses codec table, request peek, endpoint and error envelope. */
#include "apr_strings.h"
#include "json/tr_jv.h"
#include "tr_error.h"
#include "codec/tr_peek.h"
#include "codec/tr_protocols.h"
#include "codec/tr_count.h"

tr_jv *tr_openai_error_envelope(apr_pool_t *p, const aiproxy_error *err);
const char *tr_openai_error_message(apr_pool_t *p, tr_jv *body);

static int responses_request_peek(apr_pool_t *p, tr_request *req, const aiproxy_route_info *route,
                                  aiproxy_error *err)
{
    tr_jv *input = tr_jv_get(req->root, "input");

    if (tr_peek_model(req, err) || tr_peek_stream_flag(req, "stream", err))
        return err->status;
    if (input && !tr_jv_is_string(input) && !tr_jv_is_array(input))
        return tr_error_set(err, 400, "'input' must be a string or an array of input items");
    return 0;
}

static void responses_request_path(apr_pool_t *p, const aiproxy_target *target, const char *variant,
                                   const char **path, const char **query)
{
    *path = variant ? apr_pstrcat(p, "/v1/responses/", variant, NULL) : "/v1/responses";
    *query = NULL;
}

static const char *responses_count_path(apr_pool_t *p, const char *model)
{
    return "/v1/responses/input_tokens";
}

/* POST /v1/responses/input_tokens takes the input side of a create request only. */
static tr_jv *responses_count_body(apr_pool_t *p, tr_jv *generation_body, const char *model)
{
    static const char *const accepted[] = {
        "model",     "input", "instructions", "tools", "tool_choice", "parallel_tool_calls",
        "reasoning", "text",  "truncation",   NULL};
    return tr_count_keep_members(p, generation_body, accepted);
}

const tr_codec tr_responses_codec = {
    .proto = AIPROXY_PROTO_RESPONSES,
    .request_peek = responses_request_peek,
    .request_set_model = tr_peek_set_body_model,
    .request_path = responses_request_path,
    .count_via = AIPROXY_PROTO_RESPONSES,
    .count_path = responses_count_path,
    .count_body = responses_count_body,
    .count_member = "input_tokens",
    .error_encode = tr_openai_error_envelope,
    .error_decode = tr_openai_error_message,
    TR_CODEC_TRANSLATION_ENTRIES(responses),
};
