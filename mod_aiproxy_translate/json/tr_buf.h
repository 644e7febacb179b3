/*
 * json/tr_buf.h: a growable byte buffer with an optional size cap, plus the JSON scalar writers
 * that tr_jv's writer and the stream encoders' hand-written hot paths share (one escaping
 * rule for every byte the gateway writes).
 *
 * Memory comes from malloc and is released by a cleanup on the pool given at init (or
 * earlier by tr_buf_release), so a buffer that is reset and refilled per event does not grow
 * the pool with the length of the answer.
 */
#ifndef TR_BUF_H
#define TR_BUF_H

#include "apr_pools.h"

typedef struct {
    char *data; /* always NUL-terminated once anything was added */
    apr_size_t len;
    apr_size_t cap;
    apr_size_t max; /* refuse to hold more than this; 0 = no cap */
    int over;       /* an append was refused because of max (sticky until reset) */
} tr_buf;

/* b must live at least as long as p (its cleanup frees b->data). */
void tr_buf_init(tr_buf *b, apr_pool_t *p, apr_size_t max);
tr_buf *tr_buf_make(apr_pool_t *p, apr_size_t max);
/* Returns 0, or -1 (and sets over) when the cap or memory does not allow it. */
int tr_buf_add(tr_buf *b, const char *s, apr_size_t n);
int tr_buf_adds(tr_buf *b, const char *s);
/* Make room for n more bytes (plus the NUL) without changing len. */
int tr_buf_reserve(tr_buf *b, apr_size_t n);
void tr_buf_reset(tr_buf *b);
/* Free the memory now; the buffer stays usable (empty). */
void tr_buf_release(tr_buf *b);
/* Empty a buffer refilled once per event, keeping its memory for the next only up to
 * TR_BUF_KEEP: one huge event (a long tool call, a closing event repeating the whole text)
 * must not pin its size for the rest of a stream that lasts minutes. */
#define TR_BUF_KEEP (64 * 1024)
void tr_buf_recycle(tr_buf *b);

/* JSON writers: a quoted, escaped string (n bytes, may hold NULs; s is valid UTF-8 because it
 * came out of the parser or out of our own text; escapes as jansson: \" \\ \b \f \n \r \t
 * and \u00XX for the other control bytes), an integer. */
int tr_buf_json_string(tr_buf *b, const char *s, apr_size_t n);
int tr_buf_json_cstring(tr_buf *b, const char *s);
int tr_buf_json_int(tr_buf *b, long long v);

#endif /* TR_BUF_H */
