/* pipeline/tr_eventstream.c: see pipeline/tr_eventstream.h. */
#include <string.h>
#include <zlib.h>
#include "apr_strings.h"
#include "apr_tables.h"
#include "pipeline/tr_eventstream.h"

struct tr_es_decoder {
    apr_pool_t *pool;
    apr_size_t max_frame;
    char *frame;                 /* a frame split across feeds, gathered here */
    apr_size_t cap;              /* bytes allocated for frame */
    apr_size_t have;             /* bytes of the current frame gathered */
    apr_size_t total;            /* its total length, once its prelude is checked; else 0 */
    apr_array_header_t *headers; /* tr_es_header, reused frame after frame */
    const char *error;           /* why the stream is corrupt; sticky */
};

/* Bytes a header value takes after its type byte; -1: sized by a u16 length; -2: unknown. */
static const int value_sizes[TR_ES_TYPE_COUNT] = {
    [TR_ES_TRUE] = 0,      [TR_ES_FALSE] = 0, [TR_ES_BYTE] = 1,   [TR_ES_SHORT] = 2,
    [TR_ES_INT] = 4,       [TR_ES_LONG] = 8,  [TR_ES_BYTES] = -1, [TR_ES_STRING] = -1,
    [TR_ES_TIMESTAMP] = 8, [TR_ES_UUID] = 16,
};

apr_uint32_t tr_es_crc32(apr_uint32_t crc, const void *data, apr_size_t len)
{
    const Bytef *at = data;

    /* zlib takes uInt lengths: feed in slices so a size_t length is never cut. */
    while (len > 0) {
        uInt n = len > 0x40000000u ? 0x40000000u : (uInt) len;
        crc = (apr_uint32_t) crc32(crc, at, n);
        at += n;
        len -= n;
    }
    return crc;
}

static apr_uint32_t read_u32(const unsigned char *b)
{
    return ((apr_uint32_t) b[0] << 24) | ((apr_uint32_t) b[1] << 16) | ((apr_uint32_t) b[2] << 8) |
           b[3];
}

/* A big-endian signed integer of n (1, 2, 4 or 8) bytes. */
static apr_int64_t read_signed(const unsigned char *b, int n)
{
    apr_uint64_t v = 0;

    for (int i = 0; i < n; i++)
        v = (v << 8) | b[i];
    if (n < 8 && (v >> (8 * n - 1)) & 1)
        v |= ~(apr_uint64_t) 0 << (8 * n); /* sign-extend */
    return (apr_int64_t) v;
}

tr_es_decoder *tr_es_decoder_create(apr_pool_t *p, apr_size_t max_frame)
{
    tr_es_decoder *d = apr_pcalloc(p, sizeof(*d));

    d->pool = p;
    d->max_frame = max_frame ? max_frame : TR_ES_DEFAULT_MAX_FRAME;
    if (d->max_frame < TR_ES_MIN_FRAME)
        d->max_frame = TR_ES_MIN_FRAME;
    d->headers = apr_array_make(p, 8, sizeof(tr_es_header));
    return d;
}

apr_size_t tr_es_decoder_pending(const tr_es_decoder *d)
{
    return d->have;
}

const char *tr_es_decoder_error(const tr_es_decoder *d)
{
    return d->error;
}

static apr_status_t corrupt(tr_es_decoder *d, const char *why)
{
    d->error = why;
    return TR_ES_CORRUPT;
}

/* Check a frame's prelude (12 bytes); its total length, or 0 with d->error set. */
static apr_size_t check_prelude(tr_es_decoder *d, const unsigned char *prelude)
{
    apr_uint32_t total = read_u32(prelude), headers_len = read_u32(prelude + 4);

    if (tr_es_crc32(0, prelude, 8) != read_u32(prelude + 8))
        corrupt(d, "an event-stream frame's prelude checksum does not match");
    else if (total < TR_ES_MIN_FRAME)
        corrupt(d, "an event-stream frame is shorter than its prelude and checksum");
    else if (total > d->max_frame)
        corrupt(d, "an event-stream frame is larger than the frame cap");
    else if (headers_len > total - TR_ES_MIN_FRAME)
        corrupt(d, "an event-stream frame's headers are longer than the frame");
    else
        return total;
    return 0;
}

/* Parse the headers block into d->headers. */
static apr_status_t parse_headers(tr_es_decoder *d, const unsigned char *at, apr_size_t len)
{
    const unsigned char *end = at + len;

    apr_array_clear(d->headers);
    while (at < end) {
        tr_es_header h;
        int size;

        memset(&h, 0, sizeof(h));
        h.name_len = *at++;
        if (h.name_len == 0 || (apr_size_t) (end - at) < h.name_len + 1)
            return corrupt(d, "an event-stream header name is empty or cut");
        h.name = (const char *) at;
        at += h.name_len;
        if (*at >= TR_ES_TYPE_COUNT)
            return corrupt(d, "an event-stream header has an unknown value type");
        h.type = (tr_es_type) *at++;
        size = value_sizes[h.type];
        if (size < 0) {
            if (end - at < 2)
                return corrupt(d, "an event-stream header value is cut");
            h.value_len = ((apr_size_t) at[0] << 8) | at[1];
            at += 2;
            if ((apr_size_t) (end - at) < h.value_len)
                return corrupt(d, "an event-stream header value is cut");
            h.value = (const char *) at;
            at += h.value_len;
        } else {
            if (end - at < size)
                return corrupt(d, "an event-stream header value is cut");
            if (h.type == TR_ES_UUID) {
                h.value = (const char *) at;
                h.value_len = 16;
            } else if (h.type == TR_ES_TRUE || h.type == TR_ES_FALSE) {
                h.number = h.type == TR_ES_TRUE;
            } else {
                h.number = read_signed(at, size);
            }
            at += size;
        }
        *(tr_es_header *) apr_array_push(d->headers) = h;
    }
    return APR_SUCCESS;
}

/* One whole frame of total bytes, prelude already checked: verify and deliver it. */
static apr_status_t deliver(tr_es_decoder *d, const unsigned char *frame, apr_size_t total,
                            tr_es_message_fn fn, void *baton)
{
    apr_uint32_t headers_len = read_u32(frame + 4);
    tr_es_message msg;
    apr_status_t rv;

    if (tr_es_crc32(0, frame, total - 4) != read_u32(frame + total - 4))
        return corrupt(d, "an event-stream frame's message checksum does not match");
    if ((rv = parse_headers(d, frame + TR_ES_PRELUDE_LEN, headers_len)) != APR_SUCCESS)
        return rv;
    msg.headers = (const tr_es_header *) d->headers->elts;
    msg.header_count = d->headers->nelts;
    msg.payload = (const char *) frame + TR_ES_PRELUDE_LEN + headers_len;
    msg.payload_len = total - TR_ES_MIN_FRAME - headers_len;
    return fn(baton, &msg);
}

/* Room for a frame of total bytes in d->frame (the prelude is kept). */
static void reserve(tr_es_decoder *d, apr_size_t total)
{
    char *bigger;
    apr_size_t cap = d->cap ? d->cap : 4096;

    if (total <= d->cap)
        return;
    while (cap < total)
        cap = cap > d->max_frame / 2 ? d->max_frame : cap * 2;
    bigger = apr_palloc(d->pool, cap);
    if (d->have)
        memcpy(bigger, d->frame, d->have);
    d->frame = bigger;
    d->cap = cap;
}

/* Take bytes into the gathered frame; deliver it once complete. Returns the bytes used. */
static apr_size_t gather(tr_es_decoder *d, const char *buf, apr_size_t len, tr_es_message_fn fn,
                         void *baton, apr_status_t *rv)
{
    apr_size_t want = d->total ? d->total - d->have : TR_ES_PRELUDE_LEN - d->have;
    apr_size_t n = len < want ? len : want;

    *rv = APR_SUCCESS;
    reserve(d, d->have + n);
    memcpy(d->frame + d->have, buf, n);
    d->have += n;
    if (!d->total && d->have == TR_ES_PRELUDE_LEN) {
        if (!(d->total = check_prelude(d, (const unsigned char *) d->frame))) {
            *rv = TR_ES_CORRUPT;
            return n;
        }
        reserve(d, d->total);
    }
    if (d->total && d->have == d->total) {
        apr_size_t total = d->total;
        d->have = d->total = 0; /* before fn runs: it may stop the stream */
        *rv = deliver(d, (const unsigned char *) d->frame, total, fn, baton);
    }
    return n;
}

apr_status_t tr_es_decoder_feed(tr_es_decoder *d, const char *buf, apr_size_t len,
                                tr_es_message_fn fn, void *baton)
{
    apr_status_t rv = APR_SUCCESS;

    if (d->error)
        return TR_ES_CORRUPT;
    while (len > 0 && rv == APR_SUCCESS) {
        apr_size_t used;

        /* A frame wholly inside buf is decoded where it lies, without a copy. */
        if (d->have == 0 && len >= TR_ES_PRELUDE_LEN) {
            apr_size_t total = check_prelude(d, (const unsigned char *) buf);
            if (!total)
                return TR_ES_CORRUPT;
            if (total <= len) {
                rv = deliver(d, (const unsigned char *) buf, total, fn, baton);
                buf += total;
                len -= total;
                continue;
            }
        }
        used = gather(d, buf, len, fn, baton, &rv);
        buf += used;
        len -= used;
    }
    return rv;
}

const tr_es_header *tr_es_header_find(const tr_es_message *msg, const char *name)
{
    apr_size_t n = strlen(name);

    for (int i = 0; i < msg->header_count; i++) {
        const tr_es_header *h = &msg->headers[i];
        if (h->name_len == n && !memcmp(h->name, name, n))
            return h;
    }
    return NULL;
}

const char *tr_es_header_string(apr_pool_t *p, const tr_es_message *msg, const char *name)
{
    const tr_es_header *h = tr_es_header_find(msg, name);

    return h && h->type == TR_ES_STRING ? apr_pstrmemdup(p, h->value, h->value_len) : NULL;
}

static void put_u32(unsigned char *b, apr_uint32_t v)
{
    b[0] = (unsigned char) (v >> 24);
    b[1] = (unsigned char) (v >> 16);
    b[2] = (unsigned char) (v >> 8);
    b[3] = (unsigned char) v;
}

/* One header's bytes after its name: type and value. */
static int append_header_value(tr_buf *out, const tr_es_header *h)
{
    unsigned char head[3] = {(unsigned char) h->type};
    int size = h->type < TR_ES_TYPE_COUNT ? value_sizes[h->type] : 0;

    if (size < 0) {
        head[1] = (unsigned char) (h->value_len >> 8);
        head[2] = (unsigned char) h->value_len;
        return tr_buf_add(out, (const char *) head, 3) || tr_buf_add(out, h->value, h->value_len);
    }
    if (tr_buf_add(out, (const char *) head, 1))
        return -1;
    if (h->type == TR_ES_UUID)
        return tr_buf_add(out, h->value, 16);
    for (int i = size - 1; i >= 0; i--) {
        char byte = (char) ((apr_uint64_t) h->number >> (8 * i));
        if (tr_buf_add(out, &byte, 1))
            return -1;
    }
    return 0;
}

int tr_es_frame_append(tr_buf *out, const tr_es_header *headers, int header_count,
                       const char *payload, apr_size_t payload_len)
{
    apr_size_t start = out->len, headers_len;
    unsigned char word[4];

    if (tr_buf_add(out, "\0\0\0\0\0\0\0\0\0\0\0\0", TR_ES_PRELUDE_LEN))
        return -1;
    for (int i = 0; i < header_count; i++) {
        unsigned char name_len = (unsigned char) headers[i].name_len;
        if (tr_buf_add(out, (const char *) &name_len, 1) ||
            tr_buf_add(out, headers[i].name, name_len) || append_header_value(out, &headers[i]))
            return -1;
    }
    headers_len = out->len - start - TR_ES_PRELUDE_LEN;
    if (tr_buf_add(out, payload, payload_len) || tr_buf_add(out, "\0\0\0\0", 4))
        return -1;
    put_u32((unsigned char *) out->data + start, (apr_uint32_t) (out->len - start));
    put_u32((unsigned char *) out->data + start + 4, (apr_uint32_t) headers_len);
    put_u32((unsigned char *) out->data + start + 8, tr_es_crc32(0, out->data + start, 8));
    put_u32(word, tr_es_crc32(0, out->data + start, out->len - start - 4));
    memcpy(out->data + out->len - 4, word, 4);
    return 0;
}
