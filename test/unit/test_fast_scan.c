/*
 * test_fast_scan.c: the stream decoders' fast path for text deltas (codec/tr_fast_scan.c) against
 * their jansson path.
 *
 * The scanner alone: which inputs it accepts (exactly those of its declared shape that jansson
 * reads the same way) and that accepted strings unescape to jansson's bytes. The decoders:
 * each upstream stream is translated for every client with the fast path on and off; the
 * outputs must be byte-identical, and the fast path must have been taken exactly for the
 * events expected (extra keys, reals, duplicates, malformed JSON ... bail to jansson).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <jansson.h>
#include "apr_general.h"
#include "apr_strings.h"
#include "aiproxy_translate.h"
#include "json/tr_buf.h"
#include "codec/tr_fast_scan.h"

static apr_pool_t *pool;

/* ---- the scanner alone ---------------------------------------------------------------------- */

enum { S_TYPE, S_NUM, S_INNER, S_INNER_TEXT, S_NUL, S_ANY, S_EMPTY, S_ONE, S_SLOTS };

static const tr_fast_member inner_members[] = {
    {"text", TR_FAST_STRING, S_INNER_TEXT, NULL},
};
static const tr_fast_shape inner_shape = TR_FAST_SHAPE(inner_members);

static const tr_fast_member test_members[] = {
    {"type", TR_FAST_STRING, S_TYPE, NULL},
    {"n", TR_FAST_INT, S_NUM, NULL},
    {"o", TR_FAST_OBJECT, S_INNER, &inner_shape},
    {"z", TR_FAST_NULL, S_NUL, NULL},
    {"any", TR_FAST_SCALAR, S_ANY, NULL},
    {"e", TR_FAST_EMPTY_ARRAY, S_EMPTY, NULL},
    {"one", TR_FAST_ONE_OBJECT, S_ONE, &inner_shape},
};
static const tr_fast_shape test_shape = TR_FAST_SHAPE(test_members);

static int scan(const char *json, tr_fast_value *v)
{
    memset(v, 0, sizeof(*v) * S_SLOTS);
    return tr_fast_scan(pool, json, strlen(json), &test_shape, v);
}

static void test_scanner_accepts(void **state)
{
    static const char *const ok[] = {
        "{}",
        " \t\r\n{ \"type\" : \"x\" , \"n\" : 0 }\n ",
        "{\"n\":123456789012345678}",
        "{\"o\":{\"text\":\"a\"},\"type\":\"t\",\"z\":null,\"any\":\"s\",\"e\":[ ],\"one\":[{}]}",
        "{\"any\":null}",
        "{\"any\":17}",
        "{\"type\":\"\"}",
        "{\"type\":\"\\u00e9\\u4E2D\\ud83d\\ude00 \\\"\\\\\\/\\b\\f\\n\\r\\t\"}",
        "{\"type\":\"\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\xef\xbf\xbf\x7f\"}",
    };
    tr_fast_value v[S_SLOTS];

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        json_t *root = json_loadb(ok[i], strlen(ok[i]), JSON_ALLOW_NUL, NULL);
        json_t *type;
        if (!scan(ok[i], v))
            fail_msg("fast scan refused %s", ok[i]);
        assert_non_null(root); /* everything it accepts jansson accepts ... */
        type = json_object_get(root, "type");
        if (type) { /* ... with the same bytes */
            assert_true(v[S_TYPE].present);
            assert_int_equal(v[S_TYPE].len, json_string_length(type));
            assert_memory_equal(v[S_TYPE].str, json_string_value(type), v[S_TYPE].len);
            assert_int_equal(v[S_TYPE].str[v[S_TYPE].len], '\0');
        }
        if (json_object_get(root, "n"))
            assert_int_equal(v[S_NUM].num, json_integer_value(json_object_get(root, "n")));
        json_decref(root);
    }
}

static void test_scanner_unescapes(void **state)
{
    tr_fast_value v[S_SLOTS];

    assert_true(scan("{\"type\":\"a\\u00e9\\u4e2d\\uD83D\\uDE00\\n\\\"\"}", v));
    assert_string_equal(v[S_TYPE].str, "a\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\n\"");
    assert_true(scan("{\"o\":{\"text\":\"x\\/y\"},\"n\":42}", v));
    assert_true(v[S_INNER].present);
    assert_string_equal(v[S_INNER_TEXT].str, "x/y");
    assert_int_equal(v[S_NUM].num, 42);
}

static void test_scanner_bails(void **state)
{
    static const char *const bail[] = {
        "",
        "[]",
        "{\"type\":\"x\"} x",              /* trailing bytes */
        "{\"type\":\"x\"}{}",              /* two values */
        "{\"type\":\"x\",}",               /* trailing comma */
        "{\"type\":\"x\"",                 /* truncated */
        "{\"type\":\"x",                   /* truncated in a string */
        "{\"other\":1}",                   /* undeclared key */
        "{\"t\\u0079pe\":\"x\"}",          /* escaped key */
        "{\"type\":\"x\",\"type\":\"y\"}", /* duplicate */
        "{\"type\":1}",                    /* wrong kind */
        "{\"n\":-1}",                      /* sign */
        "{\"n\":1.0}",                     /* real */
        "{\"n\":1e2}",                     /* real */
        "{\"n\":01}",                      /* leading zero */
        "{\"n\":1234567890123456789}",     /* 19 digits */
        "{\"z\":nul}",                     /* bad literal */
        "{\"z\":0}",                       /* not null */
        "{\"e\":[1]}",                     /* not empty */
        "{\"one\":[]}",                    /* not one */
        "{\"one\":[{},{}]}",               /* not one */
        "{\"o\":{\"x\":1}}",               /* undeclared nested key */
        "{\"o\":[]}",                      /* not an object */
        "{\"any\":true}",                  /* not a scalar it checks */
        "{\"type\":\"\\u0000\"}",          /* NUL */
        "{\"type\":\"\\ud83d\"}",          /* lone high surrogate */
        "{\"type\":\"\\ud83dx\"}",         /* high surrogate then text */
        "{\"type\":\"\\ud83d\\u0041\"}",   /* high surrogate then not low */
        "{\"type\":\"\\ude00\"}",          /* lone low surrogate */
        "{\"type\":\"\\u12\"}",            /* short escape */
        "{\"type\":\"\\u12g4\"}",          /* bad hex */
        "{\"type\":\"\\x\"}",              /* unknown escape */
        "{\"type\":\"a\nb\"}",             /* raw control character */
        "{\"type\":\"\x80\"}",             /* stray continuation byte */
        "{\"type\":\"\xc0\xaf\"}",         /* overlong */
        "{\"type\":\"\xe0\x80\xaf\"}",     /* overlong */
        "{\"type\":\"\xed\xa0\x80\"}",     /* encoded surrogate */
        "{\"type\":\"\xf4\x90\x80\x80\"}", /* past U+10FFFF */
        "{\"type\":\"\xf5\x80\x80\x80\"}", /* bad lead byte */
        "{\"type\":\"\xe4\xb8\"}",         /* truncated sequence */
        "\xef\xbb\xbf{}",                  /* BOM */
    };
    tr_fast_value v[S_SLOTS];

    for (size_t i = 0; i < sizeof(bail) / sizeof(bail[0]); i++) {
        if (scan(bail[i], v))
            fail_msg("fast scan accepted %s", bail[i]);
    }
    /* a NUL byte inside the object's text */
    assert_false(tr_fast_scan(pool, "{\"type\":\"a\0b\"}", 14, &test_shape, v));
}

/* ---- fast path vs jansson path through the whole translation ------------------------------- */

static apr_status_t capture_write(void *baton, const char *data, apr_size_t len)
{
    return tr_buf_add(baton, data, len) ? APR_ENOMEM : APR_SUCCESS;
}

static const tr_buf *translate(aiproxy_proto up, aiproxy_proto client, const char *input,
                               apr_size_t len, apr_size_t piece)
{
    aiproxy_response_spec spec = {.client = client,
                                  .client_stream = AIPROXY_STREAM_SSE,
                                  .upstream = up,
                                  .upstream_stream = AIPROXY_STREAM_SSE,
                                  .client_model = "m",
                                  .include_usage = 1,
                                  .operation = AIPROXY_OP_GENERATE};
    tr_buf *out = tr_buf_make(pool, 0);
    aiproxy_sink sink = {capture_write, out};
    aiproxy_response *t = aiproxy_response_create(pool, &spec);

    assert_non_null(t);
    for (apr_size_t at = 0; at < len;) {
        apr_size_t n = piece && len - at > piece ? piece : len - at;
        aiproxy_response_feed(t, input + at, n, &sink);
        at += n;
    }
    aiproxy_response_finish(t, 0, &sink);
    return out;
}

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* What an encoder makes up when the upstream gave none: created/created_at from the clock,
 * ids from 24 random hex digits (tr_resp_random_hex). */
static void normalize(tr_buf *b)
{
    static const char *const keys[] = {"\"created\":", "\"created_at\":"};
    for (size_t k = 0; k < 2 && b->data; k++) {
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

/* Translate stream for every client with the fast path on and off: same bytes, and the fast
 * path taken `fast` times. */
static void same_both_ways(aiproxy_proto up, const char *stream, unsigned long fast)
{
    apr_size_t len = strlen(stream);

    for (int client = 0; client < AIPROXY_PROTO_COUNT; client++) {
        for (apr_size_t piece = 0; piece <= 7; piece += 7) {
            unsigned long before = tr_fast_taken();
            tr_buf *on, *off;

            tr_fast_set_enabled(1);
            on = (tr_buf *) translate(up, (aiproxy_proto) client, stream, len, piece);
            if (tr_fast_taken() - before != fast)
                fail_msg("upstream %d client %d: fast path taken %lu times, expected %lu in\n%s",
                         up, client, tr_fast_taken() - before, fast, stream);
            tr_fast_set_enabled(0);
            off = (tr_buf *) translate(up, (aiproxy_proto) client, stream, len, piece);
            tr_fast_set_enabled(1);
            assert_int_equal(tr_fast_taken() - before, fast);
            tr_buf_add(on, "", 1);
            tr_buf_add(off, "", 1);
            normalize(on);
            normalize(off);
            assert_true(on->len > 1);
            assert_string_equal(on->data, off->data);
            assert_int_equal(on->len, off->len);
        }
    }
}

typedef struct {
    const char *data; /* one event's JSON */
    int fast;         /* the fast path must take it */
} delta_case;

/* 200 KB of text with every escape kind, BMP and astral characters, raw UTF-8. */
static const char *huge_text(void)
{
    static const char piece[] =
        "plain \\\"q\\\" \\\\ \\/ \\b\\f\\n\\r\\t \\u00e9\\u4e2d\\ud83d\\ude00 "
        "\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80 ";
    tr_buf *b = tr_buf_make(pool, 0);
    while (b->len < 200000)
        tr_buf_adds(b, piece);
    tr_buf_add(b, "", 1);
    return b->data;
}

#define TEXT_VARIANTS(open, close)                                                                 \
    {open "hello" close, 1}, {open "" close, 1},                                                   \
        {open "\\\"q\\\" \\\\ \\/ \\b\\f\\n\\r\\t" close, 1},                                      \
        {open "\\u00e9\\u4E2D\\ud83d\\ude00\\u0001" close, 1},                                     \
        {open "\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80" close, 1}, {open "\\u0000" close, 0},         \
        {open "\\ud800" close, 0}, {open "\xff" close, 0}, {open "a\tb" close, 0},                 \
    {                                                                                              \
        open "trunc", 0                                                                            \
    }

static const delta_case anthropic_deltas[] = {
    TEXT_VARIANTS(
        "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
        "\"text\":\"",
        "\"}}"),
    {"{\"delta\":{\"text\":\"reordered\",\"type\":\"text_delta\"},\"index\":0,\"type\":"
     "\"content_block_delta\"}",
     1},
    {" { \"type\" : \"content_block_delta\" , \"index\" : 0 , \"delta\" : { \"type\" : "
     "\"text_delta\" , \"text\" : \"spaced\" } } ",
     1},
    {"{\"type\":\"content_block_delta\",\"index\":7,\"delta\":{\"type\":\"text_delta\",\"text\":"
     "\"no such block\"}}",
     1},
    {"{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"thinking_delta\","
     "\"thinking\":\"hmm\"}}",
     1},
    {"{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"signature_delta\","
     "\"signature\":\"c2ln\"}}",
     1},
    {"{\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\","
     "\"partial_json\":\"{\\\"a\\\":\"}}",
     1},
    {"{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":"
     "\"extra\"},\"extra\":1}",
     0},
    {"{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":"
     "\"x\",\"thinking\":\"y\"}}",
     0},
    {"{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":"
     "\"dup\",\"text\":\"dup2\"}}",
     0},
    {"{\"type\":\"content_block_delta\",\"index\":0.0,\"delta\":{\"type\":\"text_delta\",\"text\":"
     "\"real index\"}}",
     0},
    {"{\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"no index\"}}",
     0},
    {"{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"citations_delta\","
     "\"text\":\"c\"}}",
     0},
    {"{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\"}}", 0},
    {"{\"type\":\"ping\"}", 0},
};

static void test_anthropic_deltas(void **state)
{
    static const char head[] =
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\","
        "\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[],\"usage\":"
        "{\"input_tokens\":5,\"output_tokens\":1}}}\n\n"
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
        "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,"
        "\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n"
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,"
        "\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"f\",\"input\":{}}}"
        "\n\n";
    static const char tail[] =
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n"
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n"
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
        "\"end_turn\"},\"usage\":{\"output_tokens\":9}}\n\n"
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

    for (size_t i = 0; i < sizeof(anthropic_deltas) / sizeof(anthropic_deltas[0]); i++)
        same_both_ways(AIPROXY_PROTO_ANTHROPIC,
                       apr_pstrcat(pool, head, "event: content_block_delta\ndata: ",
                                   anthropic_deltas[i].data, "\n\n", tail, NULL),
                       (unsigned long) anthropic_deltas[i].fast);
    same_both_ways(
        AIPROXY_PROTO_ANTHROPIC,
        apr_pstrcat(pool, head,
                    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
                    "\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"",
                    huge_text(), "\"}}\n\n", tail, NULL),
        1);
}

static const delta_case openai_chunks[] = {
    TEXT_VARIANTS("{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
                  "\"model\":\"m\",\"system_fingerprint\":null,\"choices\":[{\"index\":0,"
                  "\"delta\":{\"content\":\"",
                  "\"},\"logprobs\":null,\"finish_reason\":null}]}"),
    {"{\"choices\":[{\"finish_reason\":null,\"delta\":{\"content\":\"reordered\"},\"index\":0}],"
     "\"model\":\"m\",\"id\":\"c1\"}",
     1},
    {"{\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"r\",\"refusal\":"
     "null}}],\"usage\":null,\"service_tier\":\"default\",\"obfuscation\":\"xyz\"}",
     1},
    {"{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"u\"}}],\"usage\":{\"prompt_tokens\":1}}",
     0},
    {"{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"f\"},\"finish_reason\":\"stop\"}]}", 0},
    {"{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"t\",\"tool_calls\":[]}}]}", 0},
    {"{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"t\",\"reasoning_content\":\"r\"}}]}", 0},
    {"{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"t\",\"refusal\":\"no\"}}]}", 0},
    {"{\"choices\":[{\"index\":1,\"delta\":{\"content\":\"second choice\"}}]}", 0},
    {"{\"choices\":[{\"delta\":{\"content\":\"no index\"}}]}", 0},
    {"{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}},{\"index\":1,\"delta\":{}}]}", 0},
    {"{\"choices\":[{\"index\":0,\"delta\":{\"content\":null}}]}", 0},
    {"{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"e\"}}],\"error\":{\"message\":\"x\"}}",
     0},
    {"{\"created\":1.5,\"choices\":[{\"index\":0,\"delta\":{\"content\":\"real\"}}]}", 0},
};

static void test_openai_chunks(void **state)
{
    static const char head[] =
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
        "\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":"
        "\"\"},\"finish_reason\":null}]}\n\n";
    static const char tail[] =
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}"
        "\n\ndata: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,"
        "\"completion_tokens\":4,\"total_tokens\":7}}\n\ndata: [DONE]\n\n";

    for (size_t i = 0; i < sizeof(openai_chunks) / sizeof(openai_chunks[0]); i++) {
        const char *chunk = apr_pstrcat(pool, "data: ", openai_chunks[i].data, "\n\n", NULL);
        same_both_ways(AIPROXY_PROTO_OPENAI, apr_pstrcat(pool, head, chunk, tail, NULL),
                       (unsigned long) openai_chunks[i].fast);
        /* As the first chunk it carries the id and model: never fast. */
        same_both_ways(AIPROXY_PROTO_OPENAI, apr_pstrcat(pool, chunk, tail, NULL), 0);
        /* After the finish reason (usage still to come) the text opens a new block. */
        same_both_ways(AIPROXY_PROTO_OPENAI,
                       apr_pstrcat(pool, head,
                                   "data: {\"choices\":[{\"index\":0,\"delta\":{},"
                                   "\"finish_reason\":\"stop\"}]}\n\n",
                                   chunk, tail, NULL),
                       (unsigned long) openai_chunks[i].fast);
    }
    same_both_ways(AIPROXY_PROTO_OPENAI,
                   apr_pstrcat(pool, head,
                               "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"",
                               huge_text(), "\"}}]}\n\n", tail, NULL),
                   1);
}

static const delta_case responses_deltas[] = {
    TEXT_VARIANTS("{\"type\":\"response.output_text.delta\",\"sequence_number\":3,\"item_id\":"
                  "\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":\"",
                  "\",\"logprobs\":[]}"),
    {"{\"delta\":\"reordered\",\"content_index\":0,\"output_index\":0,\"type\":"
     "\"response.output_text.delta\",\"obfuscation\":\"abc\"}",
     1},
    {"{\"type\":\"response.output_text.delta\",\"output_index\":0,\"content_index\":5,\"delta\":"
     "\"item-level block\"}",
     1},
    {"{\"type\":\"response.output_text.delta\",\"output_index\":3,\"content_index\":0,\"delta\":"
     "\"no such item\"}",
     1},
    {"{\"type\":\"response.output_text.delta\",\"output_index\":0,\"delta\":\"no content_index\"}",
     0},
    {"{\"type\":\"response.output_text.delta\",\"output_index\":0,\"content_index\":0,\"delta\":"
     "\"x\",\"logprobs\":[{\"token\":\"x\"}]}",
     0},
    {"{\"type\":\"response.output_text.delta\",\"output_index\":0,\"content_index\":0,\"delta\":"
     "\"x\",\"extra\":true}",
     0},
    /* a real too large for long long: jansson path, which must not convert it (UBSan) */
    {"{\"type\":\"response.output_text.delta\",\"output_index\":0,\"content_index\":1e25,"
     "\"delta\":\"huge index\"}",
     0},
    {"{\"type\":\"response.reasoning_summary_text.delta\",\"output_index\":0,\"content_index\":0,"
     "\"delta\":\"other type\"}",
     0},
};

static void test_responses_deltas(void **state)
{
    static const char head[] =
        "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":"
        "\"resp_1\",\"model\":\"m\",\"created_at\":1700000000}}\n\n"
        "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\","
        "\"output_index\":0,\"item\":{\"type\":\"message\",\"id\":\"msg_1\",\"role\":"
        "\"assistant\",\"content\":[]}}\n\n"
        "event: response.content_part.added\ndata: {\"type\":\"response.content_part.added\","
        "\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"part\":{\"type\":"
        "\"output_text\",\"text\":\"\"}}\n\n";
    static const char tail[] =
        "event: response.content_part.done\ndata: {\"type\":\"response.content_part.done\","
        "\"output_index\":0,\"content_index\":0}\n\n"
        "event: response.output_item.done\ndata: {\"type\":\"response.output_item.done\","
        "\"output_index\":0,\"item\":{\"type\":\"message\",\"id\":\"msg_1\"}}\n\n"
        "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":"
        "\"resp_1\",\"status\":\"completed\",\"usage\":{\"input_tokens\":3,\"output_tokens\":4}}}"
        "\n\n";

    for (size_t i = 0; i < sizeof(responses_deltas) / sizeof(responses_deltas[0]); i++)
        same_both_ways(AIPROXY_PROTO_RESPONSES,
                       apr_pstrcat(pool, head, "event: response.output_text.delta\ndata: ",
                                   responses_deltas[i].data, "\n\n", tail, NULL),
                       (unsigned long) responses_deltas[i].fast);
    same_both_ways(AIPROXY_PROTO_RESPONSES,
                   apr_pstrcat(pool, head,
                               "data: {\"type\":\"response.output_text.delta\",\"output_index\":0,"
                               "\"content_index\":0,\"delta\":\"",
                               huge_text(), "\"}\n\n", tail, NULL),
                   1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scanner_accepts), cmocka_unit_test(test_scanner_unescapes),
        cmocka_unit_test(test_scanner_bails),   cmocka_unit_test(test_anthropic_deltas),
        cmocka_unit_test(test_openai_chunks),   cmocka_unit_test(test_responses_deltas),
    };
    int rc;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    apr_pool_destroy(pool);
    apr_terminate();
    return rc;
}
