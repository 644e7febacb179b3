/*
 * fuzz_request.c: libFuzzer harness for request parsing and translation.
 *
 * Input: byte 0 picks the client protocol (low 2 bits), whether the route streams (bit 2), a
 * default max tokens (bit 3), the route's operation (bits 4-5: generation, embeddings,
 * batch embeddings, legacy completion), thinking asked for by the model name (bit 6) and an
 * account for the body (bit 7, Kiro's profileArn); the rest is the client body. Every accepted
 * body is built for all five upstream protocols (Kiro's conversationState included), streaming
 * and not, so each decoder meets each encoder (same-protocol passthrough and the IR path for a
 * flipped stream flag included), then for each
 * subscription dialect on its protocol. Everything lives in one pool per input;
 * LeakSanitizer sees anything not released with it.
 */
#include <stddef.h>
#include <stdint.h>
#include "apr_general.h"
#include "aiproxy_translate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static apr_pool_t *root_pool;

/* Each dialect and the protocol it is a variant of. */
static const struct {
    aiproxy_dialect dialect;
    aiproxy_proto proto;
} dialects[] = {
    {AIPROXY_DIALECT_CODEX, AIPROXY_PROTO_RESPONSES},
    {AIPROXY_DIALECT_CLAUDE_CODE, AIPROXY_PROTO_ANTHROPIC},
};

/* Bits 4-5 of byte 0: what the route asks (the variant names Gemini's batch embeddings). */
static const struct {
    aiproxy_operation operation;
    const char *variant;
} operations[] = {
    {AIPROXY_OP_GENERATE, NULL},
    {AIPROXY_OP_EMBED, NULL},
    {AIPROXY_OP_EMBED, "batch"},
    {AIPROXY_OP_COMPLETE, NULL},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    aiproxy_error err;
    aiproxy_request *req;
    aiproxy_proto proto;
    aiproxy_route_info route = {.model = "fuzz-model",
                                .stream = AIPROXY_STREAM_NONE,
                                .variant = NULL,
                                .operation = AIPROXY_OP_GENERATE};

    if (size < 1)
        return 0;
    if (!root_pool) {
        apr_initialize();
        apr_pool_create(&root_pool, NULL);
    }
    proto = (aiproxy_proto) (data[0] & 3);
    route.stream = (data[0] & 4) ? AIPROXY_STREAM_SSE : AIPROXY_STREAM_NONE;
    route.operation = operations[(data[0] >> 4) & 3].operation;
    route.variant = operations[(data[0] >> 4) & 3].variant;
    apr_pool_create(&p, root_pool);
    req = aiproxy_request_parse(p, proto, (const char *) data + 1, size - 1, &route, &err);
    for (int t = 0; req && t < AIPROXY_PROTO_UPSTREAM_COUNT * 2; t++) {
        aiproxy_target target = {.proto = (aiproxy_proto) (t / 2),
                                 .model = "upstream-model",
                                 .stream = t & 1,
                                 .default_max_tokens = (data[0] & 8) ? 100 : 0,
                                 .dialect = AIPROXY_DIALECT_NONE,
                                 .thinking = (data[0] & 64) != 0,
                                 .account = (data[0] & 128) ? "arn:aws:codewhisperer:x" : NULL};
        aiproxy_upstream_request out;
        aiproxy_request_build(p, req, &target, &out, &err);
    }
    for (size_t d = 0; req && d < sizeof(dialects) / sizeof(dialects[0]) * 2; d++) {
        aiproxy_target target = {.proto = dialects[d / 2].proto,
                                 .model = "upstream-model",
                                 .stream = (int) (d & 1),
                                 .default_max_tokens = (data[0] & 8) ? 100 : 0,
                                 .dialect = dialects[d / 2].dialect,
                                 .thinking = (data[0] & 64) != 0};
        aiproxy_upstream_request out;
        aiproxy_request_build(p, req, &target, &out, &err);
    }
    apr_pool_destroy(p);
    return 0;
}
