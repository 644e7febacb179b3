/*
 * pipeline/tr_sse.h: incremental text/event-stream parser (WHATWG HTML "server-sent events" rules).
 *
 * Bytes arrive in any split; lines end in CRLF, LF or CR (a CRLF split across two feeds is
 * one line end); "event:" names the event, "data:" lines join with LF, "id:" is kept, ":"
 * lines are comments, "retry:" and unknown fields are ignored, one space after the colon is
 * dropped, a leading UTF-8 BOM is skipped, and a blank line dispatches the event when it has
 * data. Memory is bounded: the event's data, and a line still arriving plus the data before
 * it, may not exceed max_event bytes (a whole line is counted once, as data); past
 * that the parser fails with APR_ENOSPC and refuses further input.
 */
#ifndef TR_SSE_H
#define TR_SSE_H

#include "apr_pools.h"

/* One complete event. event is NULL when the event had no "event:" field; data is
 * NUL-terminated (len excludes the NUL) and valid only during the call. */
typedef apr_status_t (*tr_sse_event_fn)(void *baton, const char *event, const char *data,
                                        apr_size_t len);

typedef struct tr_sse_parser tr_sse_parser;

#define TR_SSE_DEFAULT_MAX_EVENT (8 * 1024 * 1024)

tr_sse_parser *tr_sse_parser_create(apr_pool_t *p, apr_size_t max_event);
/* Returns APR_SUCCESS, APR_ENOSPC (event too large), or the first non-success status of fn
 * (the rest of the input is then not parsed). */
apr_status_t tr_sse_parser_feed(tr_sse_parser *s, const char *buf, apr_size_t len,
                                tr_sse_event_fn fn, void *baton);
/* End of input. An event whose blank line never came is dispatched anyway when it holds
 * data (servers that close right after the last data line), and *had_partial is set. */
apr_status_t tr_sse_parser_finish(tr_sse_parser *s, tr_sse_event_fn fn, void *baton,
                                  int *had_partial);
/* The last "id:" value seen, or NULL. */
const char *tr_sse_parser_last_id(const tr_sse_parser *s);

/* Where events end in a byte stream that is passed on unparsed: a passed-through stream
 * sends whole events only, so one that breaks off never leaves the client half an event.
 * The state carries across calls (any split); start it with TR_SSE_BOUNDARY_INIT. */
typedef struct {
    int line_start; /* the last byte ended a line (or nothing was seen yet) */
    int after_cr;   /* the last byte was CR (TR_SSE_CR_*): an LF next belongs to its line end */
} tr_sse_boundary;

enum { TR_SSE_CR_ENDED_LINE = 1, TR_SSE_CR_ENDED_EVENT = 2 };

#define TR_SSE_BOUNDARY_INIT                                                                       \
    {                                                                                              \
        1, 0                                                                                       \
    }

/* The length of the shortest prefix of buf that ends where an event ends (after the blank
 * line that dispatches it, and its LF when it is a CRLF whose LF is in buf; an LF that comes
 * in the next buffer is a prefix of its own), or 0 when no event ends in buf. The state
 * advances over the prefix returned, or over all of buf. */
apr_size_t tr_sse_event_end(tr_sse_boundary *b, const char *buf, apr_size_t len);

#endif /* TR_SSE_H */
