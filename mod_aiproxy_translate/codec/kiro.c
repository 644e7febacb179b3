/*
 * codec/kiro.c: the Kiro (AWS CodeWhisperer / Amazon Q) codec table, endpoint and error
 * envelope. Kiro is an upstream-only protocol (AIPROXY_PROTO_KIRO): no client speaks it, so
 * the table has no request peek/decode and no response or stream encoders; the upstream only
 * streams, in the AWS event stream (pipeline/tr_eventstream.c frames it, kiro_response.c
 * reads the events). Wire facts: research/oauth.md §5.
 */
#include "apr_strings.h"
#include "tr_error.h"
#include "json/tr_jv.h"
#include "codec/tr_protocols.h"

static void kiro_request_path(apr_pool_t *p, const aiproxy_target *target, const char *variant,
                              const char **path, const char **query)
{
    *path = "/generateAssistantResponse";
    *query = NULL;
}

/* Kiro's errors are AWS JSON errors: {"__type": "...#ValidationException", "message": ...}
 * (some services spell it "Message"). */
static const char *kiro_error_decode(apr_pool_t *p, tr_jv *body)
{
    const char *msg = tr_jv_get_str(body, "message");
    return msg ? msg : tr_jv_get_str(body, "Message");
}

static tr_jv *kiro_error_encode(apr_pool_t *p, const aiproxy_error *err)
{
    return tr_jv_pack(p, "{s:s}", "message", err->message ? err->message : "");
}

const tr_codec tr_kiro_codec = {
    .proto = AIPROXY_PROTO_KIRO,
    .request_encode = tr_kiro_request_encode,
    .request_path = kiro_request_path,
    .response_decode = tr_kiro_response_decode,
    .stream_decoder_create = tr_kiro_stream_decoder_create,
    .stream_decode = tr_kiro_stream_decode,
    .stream_framing = AIPROXY_STREAM_EVENTSTREAM,
    .always_streams = 1,
    .count_via = AIPROXY_PROTO_KIRO, /* no count endpoint: count_path stays NULL */
    .error_encode = kiro_error_encode,
    .error_decode = kiro_error_decode,
};
