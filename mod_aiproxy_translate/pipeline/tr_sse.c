/* pipeline/tr_sse.c: see pipeline/tr_sse.h. */
#include <string.h>
#include "apr_strings.h"
#include "json/tr_buf.h"
#include "pipeline/tr_sse.h"

#define SSE_NAME_MAX 128 /* event names and ids longer than this are cut (never needed whole) */

struct tr_sse_parser {
    tr_buf line; /* a line split across feeds */
    tr_buf data; /* the current event's joined data lines, each followed by LF */
    char event[SSE_NAME_MAX + 1];
    int has_event;
    char id[SSE_NAME_MAX + 1];
    int has_id;
    apr_size_t max_event;
    int skip_lf;         /* the previous feed ended in CR: a leading LF is its CRLF's tail */
    int first_line_done; /* the BOM check applies to the first line only */
    int failed;
};

tr_sse_parser *tr_sse_parser_create(apr_pool_t *p, apr_size_t max_event)
{
    tr_sse_parser *s = apr_pcalloc(p, sizeof(*s));

    s->max_event = max_event ? max_event : TR_SSE_DEFAULT_MAX_EVENT;
    tr_buf_init(&s->line, p, 0);
    tr_buf_init(&s->data, p, 0);
    return s;
}

const char *tr_sse_parser_last_id(const tr_sse_parser *s)
{
    return s->has_id ? s->id : NULL;
}

apr_size_t tr_sse_event_end(tr_sse_boundary *b, const char *buf, apr_size_t len)
{
    apr_size_t i = 0;

    while (i < len) {
        /* Skip to the next line end at memchr's speed: most bytes are event text. */
        const char *lf = memchr(buf + i, '\n', len - i);
        apr_size_t stop = lf ? (apr_size_t) (lf - buf) : len;
        const char *cr = memchr(buf + i, '\r', stop - i);
        apr_size_t at = cr ? (apr_size_t) (cr - buf) : stop;
        int ends_event;

        if (at > i) {
            b->line_start = b->after_cr = 0;
            if ((i = at) == len)
                break;
        }
        if (buf[i] == '\n' && b->after_cr) { /* the LF of a CRLF: the line ended at the CR */
            ends_event = b->after_cr == TR_SSE_CR_ENDED_EVENT;
            b->after_cr = 0;
            if (ends_event)
                return i + 1;
            i++;
            continue;
        }
        ends_event = b->line_start; /* an empty line */
        b->after_cr = buf[i] != '\r' ? 0
                      : ends_event   ? TR_SSE_CR_ENDED_EVENT
                                     : TR_SSE_CR_ENDED_LINE;
        b->line_start = 1;
        if (ends_event) {
            if (buf[i] == '\r' && i + 1 < len && buf[i + 1] == '\n') { /* its LF, when here */
                b->after_cr = 0;
                return i + 2;
            }
            return i + 1;
        }
        i++;
    }
    return 0;
}

static int within_cap(const tr_sse_parser *s, apr_size_t more)
{
    return s->line.len + s->data.len + more <= s->max_event;
}

static void copy_name(char *dst, int *has, const char *value, apr_size_t n)
{
    if (n > SSE_NAME_MAX)
        n = SSE_NAME_MAX;
    memcpy(dst, value, n);
    dst[n] = '\0';
    *has = 1;
}

static apr_status_t dispatch(tr_sse_parser *s, tr_sse_event_fn fn, void *baton)
{
    apr_status_t rv = APR_SUCCESS;

    if (s->data.len > 0) {
        s->data.len--; /* the LF after the last data line is not part of the data */
        s->data.data[s->data.len] = '\0';
        rv = fn(baton, s->has_event ? s->event : NULL, s->data.data, s->data.len);
    }
    tr_buf_recycle(&s->data);
    s->has_event = 0;
    return rv;
}

static apr_status_t process_line(tr_sse_parser *s, const char *line, apr_size_t n,
                                 tr_sse_event_fn fn, void *baton)
{
    const char *colon, *value;
    apr_size_t name_len, value_len;

    if (!s->first_line_done) {
        s->first_line_done = 1;
        if (n >= 3 && !memcmp(line, "\xEF\xBB\xBF", 3)) {
            line += 3;
            n -= 3;
        }
    }
    if (n == 0)
        return dispatch(s, fn, baton);
    if (line[0] == ':')
        return APR_SUCCESS; /* comment, e.g. ": keep-alive" */
    colon = memchr(line, ':', n);
    name_len = colon ? (apr_size_t) (colon - line) : n;
    value = colon ? colon + 1 : line + n;
    value_len = (apr_size_t) (line + n - value);
    if (value_len && *value == ' ') {
        value++;
        value_len--;
    }
    if (name_len == 4 && !memcmp(line, "data", 4)) {
        /* the event's data alone: the line may be s->line itself, already counted once */
        if (s->data.len + value_len + 1 > s->max_event || tr_buf_add(&s->data, value, value_len) ||
            tr_buf_add(&s->data, "\n", 1))
            return APR_ENOSPC;
    } else if (name_len == 5 && !memcmp(line, "event", 5))
        copy_name(s->event, &s->has_event, value, value_len);
    else if (name_len == 2 && !memcmp(line, "id", 2) && !memchr(value, '\0', value_len))
        copy_name(s->id, &s->has_id, value, value_len);
    return APR_SUCCESS;
}

static const char *find_line_end(const char *p, const char *end)
{
    for (; p < end; p++) {
        if (*p == '\n' || *p == '\r')
            return p;
    }
    return NULL;
}

apr_status_t tr_sse_parser_feed(tr_sse_parser *s, const char *buf, apr_size_t len,
                                tr_sse_event_fn fn, void *baton)
{
    const char *p = buf, *end = buf + len;
    apr_status_t rv;

    if (s->failed)
        return APR_ENOSPC;
    while (p < end) {
        const char *eol;

        if (s->skip_lf) {
            s->skip_lf = 0;
            if (*p == '\n') {
                p++;
                continue;
            }
        }
        eol = find_line_end(p, end);
        if (!eol) {
            /* Keep the partial line for the next feed. */
            if (!within_cap(s, (apr_size_t) (end - p)) ||
                tr_buf_add(&s->line, p, (apr_size_t) (end - p))) {
                s->failed = 1;
                return APR_ENOSPC;
            }
            return APR_SUCCESS;
        }
        if (s->line.len) {
            if (!within_cap(s, (apr_size_t) (eol - p)) ||
                tr_buf_add(&s->line, p, (apr_size_t) (eol - p))) {
                s->failed = 1;
                return APR_ENOSPC;
            }
            rv = process_line(s, s->line.data, s->line.len, fn, baton);
            tr_buf_recycle(&s->line);
        } else
            rv = process_line(s, p, (apr_size_t) (eol - p), fn, baton);
        s->skip_lf = *eol == '\r';
        p = eol + 1;
        if (rv != APR_SUCCESS) {
            if (rv == APR_ENOSPC)
                s->failed = 1;
            return rv;
        }
    }
    return APR_SUCCESS;
}

apr_status_t tr_sse_parser_finish(tr_sse_parser *s, tr_sse_event_fn fn, void *baton,
                                  int *had_partial)
{
    apr_status_t rv = APR_SUCCESS;

    *had_partial = 0;
    if (s->failed)
        return APR_ENOSPC;
    if (s->line.len) {
        *had_partial = 1;
        rv = process_line(s, s->line.data, s->line.len, fn, baton);
        tr_buf_reset(&s->line);
        if (rv != APR_SUCCESS)
            return rv;
    }
    if (s->data.len) {
        *had_partial = 1;
        rv = dispatch(s, fn, baton);
    }
    return rv;
}
