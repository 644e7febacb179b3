/*
 * fuzz_response.c: aiproxy_response over arbitrary upstream bodies, for every pair of
 * protocols and framings. The first bytes choose the spec, the piece size and whether the
 * upstream broke; the rest is the body. A Gemini upstream may be a Code Assist one (byte 1,
 * bits 3-4: geminicli or antigravity), whose answers and events come in {"response": ...}.
 * Byte 1 bits 5-6 choose the operation (generation, token count, embeddings, legacy
 * completion); embeddings take their flags from byte 0 bits 4-5 (their framing is always
 * one JSON body). Byte 1 bit 7 makes the upstream Kiro with the AWS event stream (bit 4 then:
 * fix the frames' checksums first, so mutations reach the Kiro decoder; bit 3 clear: the
 * request offered tools, so calls written into the text are looked for).
 *
 * Oracles (translated paths only; passthrough and Gemini re-framing copy upstream bytes): a
 * JSON client gets exactly one JSON value; an SSE client gets events whose data is JSON (or
 * [DONE]); a JSON-array client gets a JSON array. No crash, no leak, no undefined behaviour.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "apr_general.h"
#include "apr_strings.h"
#include "aiproxy_translate.h"
#include "json/tr_buf.h"
#include "pipeline/tr_sse.h"
#include "es_checksums.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static apr_status_t capture(void *baton, const char *data, apr_size_t len)
{
    return tr_buf_add(baton, data, len) ? APR_ENOMEM : APR_SUCCESS;
}

static void require_json(const char *text, apr_size_t len, int want_array)
{
    json_error_t err;
    json_t *v = json_loadb(text, len, JSON_ALLOW_NUL, &err);
    if (!v || (want_array && !json_is_array(v)))
        abort();
    json_decref(v);
}

static apr_status_t check_event(void *baton, const char *event, const char *data, apr_size_t len)
{
    if (!(len == 6 && !memcmp(data, "[DONE]", 6)))
        require_json(data, len, 0);
    return APR_SUCCESS;
}

static void check_output(const aiproxy_response_spec *spec, apr_pool_t *p, const tr_buf *out)
{
    tr_sse_parser *s;
    int partial;

    if (!out->len)
        return;
    switch (spec->client_stream) {
    case AIPROXY_STREAM_NONE:
        require_json(out->data, out->len, 0);
        break;
    case AIPROXY_STREAM_JSON_ARRAY:
        require_json(out->data, out->len, 1);
        break;
    default:
        s = tr_sse_parser_create(p, 0);
        if (tr_sse_parser_feed(s, out->data, out->len, check_event, NULL) != APR_SUCCESS ||
            tr_sse_parser_finish(s, check_event, NULL, &partial) != APR_SUCCESS || partial)
            abort();
    }
}

/* Byte 1 bits 5-6: the operations that create an aiproxy_response (a forwarded answer
 * passes without one). */
static const aiproxy_operation operations[] = {AIPROXY_OP_GENERATE, AIPROXY_OP_COUNT_TOKENS,
                                               AIPROXY_OP_EMBED, AIPROXY_OP_COMPLETE};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int initialized;
    aiproxy_response_spec spec;
    apr_pool_t *p;
    aiproxy_response *t;
    tr_buf *out;
    aiproxy_sink sink;
    size_t piece;
    int broke, copies_bytes, fix_frames, offers_tools;

    if (!initialized) {
        apr_initialize();
        initialized = 1;
    }
    if (size < 3)
        return 0;
    memset(&spec, 0, sizeof(spec));
    spec.client = (aiproxy_proto) (data[0] & 3);
    spec.upstream = (aiproxy_proto) ((data[0] >> 2) & 3);
    spec.client_stream = (aiproxy_stream_mode) ((data[0] >> 4) % 3);
    spec.upstream_stream = (aiproxy_stream_mode) ((data[0] >> 6) % 3);
    if (spec.client != AIPROXY_PROTO_GEMINI && spec.client_stream == AIPROXY_STREAM_JSON_ARRAY)
        spec.client_stream = AIPROXY_STREAM_SSE;
    if (spec.upstream != AIPROXY_PROTO_GEMINI && spec.upstream_stream == AIPROXY_STREAM_JSON_ARRAY)
        spec.upstream_stream = AIPROXY_STREAM_SSE;
    if (data[1] & 128) {
        spec.upstream = AIPROXY_PROTO_KIRO;
        spec.upstream_stream = AIPROXY_STREAM_EVENTSTREAM;
    }
    fix_frames = (data[1] & 144) == 144;
    offers_tools = spec.upstream == AIPROXY_PROTO_KIRO && !(data[1] & 8);
    spec.include_usage = data[1] & 1;
    broke = (data[1] >> 1) & 1;
    spec.client_model = (data[1] & 4) ? "m" : NULL;
    spec.upstream_dialect = AIPROXY_DIALECT_NONE;
    if (spec.upstream == AIPROXY_PROTO_GEMINI && (data[1] & 8))
        spec.upstream_dialect =
            (data[1] & 16) ? AIPROXY_DIALECT_ANTIGRAVITY : AIPROXY_DIALECT_GEMINI_CLI;
    spec.operation = operations[(data[1] >> 5) & 3];
    if (spec.operation == AIPROXY_OP_EMBED)
        spec.embed_flags = (data[0] >> 4) & 3;
    /* a token count and embeddings are one JSON body whatever the framings asked */
    if (spec.operation == AIPROXY_OP_COUNT_TOKENS || spec.operation == AIPROXY_OP_EMBED)
        spec.client_stream = spec.upstream_stream = AIPROXY_STREAM_NONE;
    piece = data[2] % 31 + 1;
    data += 3;
    size -= 3;
    /* embeddings within a protocol pass the answer on as it came */
    copies_bytes =
        spec.client == spec.upstream &&
        (spec.client_stream == spec.upstream_stream || spec.operation == AIPROXY_OP_EMBED ||
         (spec.client == AIPROXY_PROTO_GEMINI && spec.client_stream != AIPROXY_STREAM_NONE));

    apr_pool_create(&p, NULL);
    if (offers_tools) {
        apr_array_header_t *names = apr_array_make(p, 3, sizeof(const char *));
        APR_ARRAY_PUSH(names, const char *) = "get_weather";
        APR_ARRAY_PUSH(names, const char *) = "search";
        APR_ARRAY_PUSH(names, const char *) = "f";
        spec.tool_names = names;
    }
    if (fix_frames) { /* on a copy: the input is const */
        unsigned char *copy = apr_pmemdup(p, data, size);
        es_fix_checksums(copy, size);
        data = copy;
    }
    out = tr_buf_make(p, 0);
    sink.write = capture;
    sink.baton = out;
    t = aiproxy_response_create(p, &spec);
    for (size_t at = 0; at < size;) {
        size_t k = size - at > piece ? piece : size - at;
        aiproxy_response_feed(t, (const char *) data + at, k, &sink);
        at += k;
    }
    aiproxy_response_finish(t, broke, &sink);
    aiproxy_response_get_info(t);
    if (!copies_bytes)
        check_output(&spec, p, out);
    apr_pool_destroy(p);
    return 0;
}
