/*
 * pipeline/tr_eventstream.h: incremental decoder of the AWS binary event stream
 * (application/vnd.amazon.eventstream), the framing Kiro's generateAssistantResponse answers in.
 *
 * A frame (all integers big-endian):
 *
 *     total_len u32 | headers_len u32 | prelude_crc u32     prelude_crc = CRC-32 of bytes 0..7
 *     headers (headers_len bytes) | payload                 payload = total_len - headers_len - 16
 *     message_crc u32                                       CRC-32 of every byte before it
 *
 * CRC-32 is the IEEE/gzip polynomial. A header is name_len u8, name, type u8, value; the value's
 * size follows from its type (tr_es_type). Bytes arrive in any split; a frame is delivered once
 * it is complete and both checksums hold. Memory is bounded by max_frame (16 MiB by default).
 * The first corrupt frame (bad checksum, impossible lengths, a malformed header, a frame past
 * the cap) stops the decoder for good: feed returns TR_ES_CORRUPT and tr_es_decoder_error says
 * what was wrong. Pure: APR and zlib's crc32 only.
 */
#ifndef TR_EVENTSTREAM_H
#define TR_EVENTSTREAM_H

#include "apr_pools.h"
#include "json/tr_buf.h"

#define TR_ES_DEFAULT_MAX_FRAME (16 * 1024 * 1024)
#define TR_ES_PRELUDE_LEN       12
#define TR_ES_MIN_FRAME         16 /* prelude + message CRC, no headers, no payload */
/* What feed returns for a corrupt stream (also when the decoder already failed before). */
#define TR_ES_CORRUPT APR_EINVAL

/* Header value types, as numbered on the wire. */
typedef enum {
    TR_ES_TRUE = 0,
    TR_ES_FALSE = 1,
    TR_ES_BYTE = 2,
    TR_ES_SHORT = 3,
    TR_ES_INT = 4,
    TR_ES_LONG = 5,
    TR_ES_BYTES = 6,
    TR_ES_STRING = 7,
    TR_ES_TIMESTAMP = 8, /* milliseconds since the epoch */
    TR_ES_UUID = 9,      /* 16 raw bytes */
    TR_ES_TYPE_COUNT
} tr_es_type;

typedef struct {
    const char *name; /* not NUL-terminated: name_len bytes */
    apr_size_t name_len;
    tr_es_type type;
    apr_int64_t number; /* TRUE/FALSE (1/0), BYTE, SHORT, INT, LONG, TIMESTAMP (sign-extended) */
    const char *value;  /* BYTES, STRING (value_len bytes), UUID (16 bytes); else NULL */
    apr_size_t value_len;
} tr_es_header;

/* One complete, verified frame; valid only during the callback. */
typedef struct {
    const tr_es_header *headers;
    int header_count;
    const char *payload;
    apr_size_t payload_len;
} tr_es_message;

typedef apr_status_t (*tr_es_message_fn)(void *baton, const tr_es_message *msg);

typedef struct tr_es_decoder tr_es_decoder;

/* max_frame 0: TR_ES_DEFAULT_MAX_FRAME. */
tr_es_decoder *tr_es_decoder_create(apr_pool_t *p, apr_size_t max_frame);
/* Returns APR_SUCCESS, TR_ES_CORRUPT, or fn's first failure (the rest of buf is then not
 * decoded). */
apr_status_t tr_es_decoder_feed(tr_es_decoder *d, const char *buf, apr_size_t len,
                                tr_es_message_fn fn, void *baton);
/* Bytes of an unfinished frame held (non-zero at the end of input: the stream was cut). */
apr_size_t tr_es_decoder_pending(const tr_es_decoder *d);
/* Why the decoder failed, or NULL while it has not. */
const char *tr_es_decoder_error(const tr_es_decoder *d);

/* The header called name (NUL-terminated), or NULL. */
const tr_es_header *tr_es_header_find(const tr_es_message *msg, const char *name);
/* A STRING header's value as a pool string, or NULL when absent or of another type. */
const char *tr_es_header_string(apr_pool_t *p, const tr_es_message *msg, const char *name);

/* Append one frame with these headers (their name, type and number or value) and payload to
 * out: what the unit tests, the fuzz seeds and the benchmark feed the decoder. Returns 0, or -1
 * when out's cap refused it. */
int tr_es_frame_append(tr_buf *out, const tr_es_header *headers, int header_count,
                       const char *payload, apr_size_t payload_len);

/* CRC-32 (IEEE) of data, continuing from crc (0 to start): the checksum frames carry. */
apr_uint32_t tr_es_crc32(apr_uint32_t crc, const void *data, apr_size_t len);

#endif /* TR_EVENTSTREAM_H */
