/*
 * test_eventstream.c: the AWS event-stream decoder (pipeline/tr_eventstream.c): frames with
 * every header type round trip through the frame writer; the same messages whatever the split
 * (two pieces at every offset, byte by byte); bad prelude and message checksums, impossible
 * lengths, malformed headers and frames past the cap fail with a reason, at any split, for good.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "apr_general.h"
#include "apr_strings.h"
#include "pipeline/tr_eventstream.h"

static apr_pool_t *pool;

#define STR_HEADER(n, v)                                                                           \
    {                                                                                              \
        n, sizeof(n) - 1, TR_ES_STRING, 0, v, sizeof(v) - 1                                        \
    }
#define NUM_HEADER(n, t, v)                                                                        \
    {                                                                                              \
        n, sizeof(n) - 1, t, v, NULL, 0                                                            \
    }

/* Messages rendered as "[name=value;...|payload]" so a whole run compares as one string. */
static apr_status_t record_message(void *baton, const tr_es_message *msg)
{
    char **log = baton;
    char *line = "[";

    for (int i = 0; i < msg->header_count; i++) {
        const tr_es_header *h = &msg->headers[i];
        const char *value;
        if (h->type == TR_ES_STRING || h->type == TR_ES_BYTES)
            value = apr_pstrmemdup(pool, h->value, h->value_len);
        else if (h->type == TR_ES_UUID)
            value = apr_psprintf(pool, "uuid:%02x..%02x", (unsigned char) h->value[0],
                                 (unsigned char) h->value[15]);
        else
            value = apr_psprintf(pool, "%d:%" APR_INT64_T_FMT, (int) h->type, h->number);
        line = apr_psprintf(pool, "%s%.*s=%s;", line, (int) h->name_len, h->name, value);
    }
    *log = apr_psprintf(pool, "%s%s|%.*s]", *log, line, (int) msg->payload_len, msg->payload);
    return APR_SUCCESS;
}

/* Three frames: every header type, an empty payload, no headers. */
static tr_buf *sample_stream(void)
{
    static const char uuid[16] = "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10";
    const tr_es_header all_types[] = {
        STR_HEADER(":message-type", "event"),  STR_HEADER(":event-type", "assistantResponseEvent"),
        NUM_HEADER("t", TR_ES_TRUE, 1),        NUM_HEADER("f", TR_ES_FALSE, 0),
        NUM_HEADER("b", TR_ES_BYTE, -5),       NUM_HEADER("s", TR_ES_SHORT, -300),
        NUM_HEADER("i", TR_ES_INT, 70000),     NUM_HEADER("l", TR_ES_LONG, -5000000000LL),
        {"raw", 3, TR_ES_BYTES, 0, "a\0b", 3}, NUM_HEADER("ts", TR_ES_TIMESTAMP, 1754042400000LL),
        {"id", 2, TR_ES_UUID, 0, uuid, 16},
    };
    const tr_es_header one[] = {STR_HEADER(":event-type", "toolUseEvent")};
    tr_buf *b = tr_buf_make(pool, 0);
    const char *payload = "{\"content\":\"Hello\"}";

    assert_int_equal(tr_es_frame_append(b, all_types, 11, payload, strlen(payload)), 0);
    assert_int_equal(tr_es_frame_append(b, one, 1, "", 0), 0);
    assert_int_equal(tr_es_frame_append(b, NULL, 0, "x", 1), 0);
    return b;
}

static const char *const sample_log =
    "[:message-type=event;:event-type=assistantResponseEvent;t=0:1;f=1:0;b=2:-5;s=3:-300;"
    "i=4:70000;l=5:-5000000000;raw=a;ts=8:1754042400000;id=uuid:01..10;|{\"content\":\"Hello\"}]"
    "[:event-type=toolUseEvent;|][|x]";

/* Feed input in two pieces split at at (0: whole), or in pieces of piece bytes. Returns the
 * log; *rv the first failure. */
static const char *decode(const char *input, apr_size_t len, apr_size_t at, apr_size_t piece,
                          apr_size_t max_frame, apr_status_t *rv, tr_es_decoder **out)
{
    tr_es_decoder *d = tr_es_decoder_create(pool, max_frame);
    char *log = "";

    *rv = APR_SUCCESS;
    if (piece) {
        for (apr_size_t i = 0; i < len && *rv == APR_SUCCESS; i += piece)
            *rv = tr_es_decoder_feed(d, input + i, len - i < piece ? len - i : piece,
                                     record_message, &log);
    } else {
        *rv = tr_es_decoder_feed(d, input, at ? at : len, record_message, &log);
        if (at && *rv == APR_SUCCESS)
            *rv = tr_es_decoder_feed(d, input + at, len - at, record_message, &log);
    }
    if (out)
        *out = d;
    return log;
}

static void test_round_trip_every_split(void **state)
{
    tr_buf *b = sample_stream();
    tr_es_decoder *d;
    apr_status_t rv;

    assert_string_equal(decode(b->data, b->len, 0, 0, 0, &rv, &d), sample_log);
    assert_int_equal(rv, APR_SUCCESS);
    assert_int_equal(tr_es_decoder_pending(d), 0);
    assert_null(tr_es_decoder_error(d));
    assert_string_equal(decode(b->data, b->len, 0, 1, 0, &rv, NULL), sample_log);
    for (apr_size_t at = 1; at < b->len; at++) {
        assert_string_equal(decode(b->data, b->len, at, 0, 0, &rv, NULL), sample_log);
        assert_int_equal(rv, APR_SUCCESS);
    }
}

static void test_cut_stream_is_pending(void **state)
{
    tr_buf *b = sample_stream();
    tr_es_decoder *d;
    apr_status_t rv;

    decode(b->data, b->len - 3, 0, 7, 0, &rv, &d);
    assert_int_equal(rv, APR_SUCCESS);
    assert_int_equal(tr_es_decoder_pending(d), 16 + 1 - 3); /* the last frame, cut */
}

/* A corruption at byte offset fails at every split, with a reason, and stays failed. */
static void assert_corrupt(const char *input, apr_size_t len, apr_size_t max_frame,
                           const char *reason_part)
{
    tr_es_decoder *d;
    apr_status_t rv;

    for (apr_size_t at = 0; at < len; at++) {
        decode(input, len, at, 0, max_frame, &rv, &d);
        assert_int_equal(rv, TR_ES_CORRUPT);
        assert_non_null(strstr(tr_es_decoder_error(d), reason_part));
        assert_int_equal(tr_es_decoder_feed(d, input, len, record_message, NULL), TR_ES_CORRUPT);
    }
    decode(input, len, 0, 1, max_frame, &rv, &d);
    assert_int_equal(rv, TR_ES_CORRUPT);
}

static void test_bad_prelude_crc(void **state)
{
    tr_buf *b = sample_stream();
    b->data[9] ^= 0x40;
    assert_corrupt(b->data, b->len, 0, "prelude checksum");
}

static void test_bad_message_crc(void **state)
{
    tr_buf *b = sample_stream();
    tr_es_decoder *d;
    apr_status_t rv;
    const char *log;

    b->data[b->len - 1] ^= 1; /* the last frame's message CRC */
    assert_corrupt(b->data, b->len, 0, "message checksum");
    /* The frames before the bad one were delivered. */
    log = decode(b->data, b->len, 0, 0, 0, &rv, &d);
    assert_int_equal(strncmp(log, sample_log, strlen(log)), 0);
    assert_non_null(strstr(log, "toolUseEvent"));
    b = sample_stream();
    b->data[40] ^= 0x20; /* a byte inside the first frame's headers */
    assert_corrupt(b->data, b->len, 0, "message checksum");
}

/* A frame with correct checksums around the given prelude lengths and body bytes. */
static tr_buf *forged_frame(apr_uint32_t total, apr_uint32_t headers_len, const char *body,
                            apr_size_t body_len)
{
    tr_buf *b = tr_buf_make(pool, 0);
    unsigned char pre[12] = {
        (unsigned char) (total >> 24),       (unsigned char) (total >> 16),
        (unsigned char) (total >> 8),        (unsigned char) total,
        (unsigned char) (headers_len >> 24), (unsigned char) (headers_len >> 16),
        (unsigned char) (headers_len >> 8),  (unsigned char) headers_len};
    apr_uint32_t crc = tr_es_crc32(0, pre, 8);
    unsigned char tail[4];

    pre[8] = (unsigned char) (crc >> 24);
    pre[9] = (unsigned char) (crc >> 16);
    pre[10] = (unsigned char) (crc >> 8);
    pre[11] = (unsigned char) crc;
    tr_buf_add(b, (const char *) pre, 12);
    tr_buf_add(b, body, body_len);
    crc = tr_es_crc32(0, b->data, b->len);
    tail[0] = (unsigned char) (crc >> 24);
    tail[1] = (unsigned char) (crc >> 16);
    tail[2] = (unsigned char) (crc >> 8);
    tail[3] = (unsigned char) crc;
    tr_buf_add(b, (const char *) tail, 4);
    return b;
}

static void test_impossible_lengths(void **state)
{
    tr_buf *b = forged_frame(15, 0, "", 0);
    assert_corrupt(b->data, 12, 0, "shorter than");
    b = forged_frame(20, 5, "abcd", 4);
    assert_corrupt(b->data, b->len, 0, "headers are longer");
}

static void test_malformed_headers(void **state)
{
    tr_buf *b = forged_frame(16 + 3, 3, "\x01x\x0a", 3); /* type 10 does not exist */
    assert_corrupt(b->data, b->len, 0, "unknown value type");
    b = forged_frame(16 + 4, 4, "\x01x\x07\x00", 4); /* a string's length cut */
    assert_corrupt(b->data, b->len, 0, "cut");
    b = forged_frame(16 + 6, 6, "\x01x\x07\x00\x05h", 6); /* a string longer than the block */
    assert_corrupt(b->data, b->len, 0, "cut");
    b = forged_frame(16 + 2, 2, "\x00\x00", 2); /* an empty name */
    assert_corrupt(b->data, b->len, 0, "empty or cut");
    b = forged_frame(16 + 4, 4, "\x01x\x04\x00", 4); /* an int with one byte of four */
    assert_corrupt(b->data, b->len, 0, "cut");
}

static void test_frame_cap(void **state)
{
    tr_buf *b = sample_stream();
    /* The first frame is over 100 bytes: a 64-byte cap refuses it from its prelude alone. */
    assert_corrupt(b->data, b->len, 64, "frame cap");
    /* The default cap is 16 MiB: a prelude announcing more fails before any allocation. */
    b = forged_frame(TR_ES_DEFAULT_MAX_FRAME + 1, 0, "", 0);
    assert_corrupt(b->data, 12, 0, "frame cap");
}

static apr_status_t stop_after_first(void *baton, const tr_es_message *msg)
{
    int *calls = baton;
    (*calls)++;
    return APR_EOF;
}

static void test_callback_failure_stops(void **state)
{
    tr_buf *b = sample_stream();
    tr_es_decoder *d = tr_es_decoder_create(pool, 0);
    int calls = 0;

    assert_int_equal(tr_es_decoder_feed(d, b->data, b->len, stop_after_first, &calls), APR_EOF);
    assert_int_equal(calls, 1);
    assert_null(tr_es_decoder_error(d));
}

static apr_status_t check_lookup(void *baton, const tr_es_message *msg)
{
    int *seen = baton;
    if (!*seen) {
        assert_string_equal(tr_es_header_string(pool, msg, ":event-type"),
                            "assistantResponseEvent");
        assert_null(tr_es_header_string(pool, msg, "t")); /* not a string */
        assert_null(tr_es_header_find(msg, ":event"));
        assert_int_equal(tr_es_header_find(msg, "l")->number, -5000000000LL);
    }
    (*seen)++;
    return APR_SUCCESS;
}

static void test_header_lookup(void **state)
{
    tr_buf *b = sample_stream();
    tr_es_decoder *d = tr_es_decoder_create(pool, 0);
    int seen = 0;

    assert_int_equal(tr_es_decoder_feed(d, b->data, b->len, check_lookup, &seen), APR_SUCCESS);
    assert_int_equal(seen, 3);
}

static void test_crc_is_ieee(void **state)
{
    assert_int_equal(tr_es_crc32(0, "123456789", 9), 0xCBF43926u); /* the CRC-32 check value */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_every_split),
        cmocka_unit_test(test_cut_stream_is_pending),
        cmocka_unit_test(test_bad_prelude_crc),
        cmocka_unit_test(test_bad_message_crc),
        cmocka_unit_test(test_impossible_lengths),
        cmocka_unit_test(test_malformed_headers),
        cmocka_unit_test(test_frame_cap),
        cmocka_unit_test(test_callback_failure_stops),
        cmocka_unit_test(test_header_lookup),
        cmocka_unit_test(test_crc_is_ieee),
    };
    int rc;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    apr_pool_destroy(pool);
    apr_terminate();
    return rc;
}
