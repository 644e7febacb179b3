/*
 * fuzz_fast.c: differential fuzzing of the stream decoders' fast path (codec/tr_fast_scan.c)
 * against their jansson path.
 *
 * The first byte chooses the upstream protocol (Anthropic, OpenAI, Responses: the ones with a
 * fast path) and the client; each further line of the input becomes one SSE event's data,
 * between a fixed start (so a block is open and the stream has started) and a fixed end.
 *
 * Oracles: the translated client stream is byte-identical with the fast path on and off
 * (clock-made timestamps and random ids masked); and whenever the scanner accepts a line for a
 * shape covering every member kind, jansson accepts it too, with the same strings and numbers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "apr_general.h"
#include "apr_strings.h"
#include "aiproxy_translate.h"
#include "json/tr_buf.h"
#include "codec/tr_fast_scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- scanner vs jansson ---- */

enum { F_TYPE, F_INDEX, F_DELTA_TYPE, F_TEXT, F_ID, F_CONTENT, F_SLOTS };

static const tr_fast_member delta_members[] = {
    {"type", TR_FAST_STRING, F_DELTA_TYPE, NULL},
    {"text", TR_FAST_STRING, F_TEXT, NULL},
};
static const tr_fast_shape delta_shape = TR_FAST_SHAPE(delta_members);

static const tr_fast_member choice_members[] = {
    {"content", TR_FAST_STRING, F_CONTENT, NULL},
    {"finish_reason", TR_FAST_NULL, -1, NULL},
};
static const tr_fast_shape choice_shape = TR_FAST_SHAPE(choice_members);

static const tr_fast_member event_members[] = {
    {"type", TR_FAST_STRING, F_TYPE, NULL},      {"index", TR_FAST_INT, F_INDEX, NULL},
    {"delta", TR_FAST_OBJECT, -1, &delta_shape}, {"id", TR_FAST_SCALAR, F_ID, NULL},
    {"logprobs", TR_FAST_EMPTY_ARRAY, -1, NULL}, {"choices", TR_FAST_ONE_OBJECT, -1, &choice_shape},
};
static const tr_fast_shape event_shape = TR_FAST_SHAPE(event_members);

static void same_string(const tr_fast_value *v, const json_t *s)
{
    if (!v->present)
        return;
    if (!json_is_string(s) || json_string_length(s) != v->len ||
        memcmp(json_string_value(s), v->str, v->len) || v->str[v->len] != '\0')
        abort();
}

static void check_scanner(apr_pool_t *p, const char *line, size_t len)
{
    tr_fast_value v[F_SLOTS] = {{0}};
    json_t *root, *delta, *choice;

    if (!tr_fast_scan(p, line, len, &event_shape, v))
        return;
    root = json_loadb(line, len, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(root))
        abort(); /* the fast path accepted what jansson refuses */
    delta = json_object_get(root, "delta");
    choice = json_array_get(json_object_get(root, "choices"), 0);
    same_string(&v[F_TYPE], json_object_get(root, "type"));
    same_string(&v[F_DELTA_TYPE], json_object_get(delta, "type"));
    same_string(&v[F_TEXT], json_object_get(delta, "text"));
    same_string(&v[F_CONTENT], json_object_get(choice, "content"));
    if (v[F_ID].str)
        same_string(&v[F_ID], json_object_get(root, "id"));
    if (v[F_INDEX].present &&
        (!json_is_integer(json_object_get(root, "index")) ||
         json_integer_value(json_object_get(root, "index")) != v[F_INDEX].num))
        abort();
    json_decref(root);
}

/* ---- fast path vs jansson path through the translation ---- */

static const char *const heads[] = {
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\","
    "\"model\":\"m\",\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n"
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
    "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,"
    "\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"f\",\"input\":{}}}\n\n",
    "data: {\"id\":\"c1\",\"created\":1700000000,\"model\":\"m\",\"choices\":[{\"index\":0,"
    "\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
    "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\","
    "\"model\":\"m\",\"created_at\":1700000000}}\n\n"
    "data: {\"type\":\"response.output_item.added\",\"output_index\":0,\"item\":{\"type\":"
    "\"message\",\"id\":\"msg_1\"}}\n\n"
    "data: {\"type\":\"response.content_part.added\",\"output_index\":0,\"content_index\":0,"
    "\"part\":{\"type\":\"output_text\",\"text\":\"\"}}\n\n",
};

static const char *const tails[] = {
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
    "\"end_turn\"},\"usage\":{\"output_tokens\":9}}\n\n"
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{"
    "\"prompt_tokens\":3,\"completion_tokens\":4}}\n\ndata: [DONE]\n\n",
    "data: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\",\"status\":"
    "\"completed\"}}\n\n",
};

static apr_status_t capture(void *baton, const char *data, apr_size_t len)
{
    return tr_buf_add(baton, data, len) ? APR_ENOMEM : APR_SUCCESS;
}

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* Timestamps from the clock and 24-digit random hex ids differ between any two runs. */
static void normalize(tr_buf *b)
{
    static const char *const keys[] = {"\"created\":", "\"created_at\":"};
    tr_buf_add(b, "", 1);
    for (size_t k = 0; k < 2; k++) {
        char *p = b->data;
        while ((p = strstr(p, keys[k]))) {
            p += strlen(keys[k]);
            while (*p >= '0' && *p <= '9')
                *p++ = '0';
        }
    }
    for (apr_size_t i = 0; i < b->len;) {
        apr_size_t n = 0;
        while (i + n < b->len && is_hex(b->data[i + n]))
            n++;
        if (n == 24)
            memset(b->data + i, 'x', n);
        i += n ? n : 1;
    }
}

static tr_buf *translate(apr_pool_t *p, const aiproxy_response_spec *spec, const char *stream,
                         apr_size_t len, int fast)
{
    tr_buf *out = tr_buf_make(p, 0);
    aiproxy_sink sink = {capture, out};
    aiproxy_response *t = aiproxy_response_create(p, spec);

    tr_fast_set_enabled(fast);
    aiproxy_response_feed(t, stream, len, &sink);
    aiproxy_response_finish(t, 0, &sink);
    tr_fast_set_enabled(1);
    normalize(out);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int initialized;
    aiproxy_response_spec spec = {0};
    apr_pool_t *p;
    tr_buf *stream, *on, *off;
    int up;

    if (!initialized) {
        apr_initialize();
        initialized = 1;
    }
    if (size < 1)
        return 0;
    up = (data[0] & 3) % 3;
    spec.upstream = up == 0   ? AIPROXY_PROTO_ANTHROPIC
                    : up == 1 ? AIPROXY_PROTO_OPENAI
                              : AIPROXY_PROTO_RESPONSES;
    spec.client = (aiproxy_proto) ((data[0] >> 2) & 3);
    spec.client_stream = spec.upstream_stream = AIPROXY_STREAM_SSE;
    spec.client_model = (data[0] & 16) ? "m" : NULL;
    spec.include_usage = (data[0] >> 5) & 1;
    data++;
    size--;

    apr_pool_create(&p, NULL);
    stream = tr_buf_make(p, 0);
    tr_buf_adds(stream, heads[up]);
    for (size_t at = 0; at < size;) {
        const uint8_t *nl = memchr(data + at, '\n', size - at);
        size_t n = nl ? (size_t) (nl - (data + at)) : size - at;
        check_scanner(p, (const char *) data + at, n);
        tr_buf_adds(stream, "data: ");
        tr_buf_add(stream, (const char *) data + at, n);
        tr_buf_adds(stream, "\n\n");
        at += n + 1;
    }
    tr_buf_adds(stream, tails[up]);
    on = translate(p, &spec, stream->data, stream->len, 1);
    off = translate(p, &spec, stream->data, stream->len, 0);
    if (on->len != off->len || memcmp(on->data, off->data, on->len))
        abort();
    apr_pool_destroy(p);
    return 0;
}
