/* pipeline/tr_array_splitter.c: see pipeline/tr_array_splitter.h. */
#include "pipeline/tr_array_splitter.h"
#include "json/tr_buf.h"
#include "json/tr_json_string.h"

struct tr_array_splitter {
    tr_buf element; /* the part of the current element seen in earlier feeds */
    int depth;      /* bracket depth, the outer array's '[' included */
    int base;       /* depth at which elements start: 1 inside the array, 0 for an object */
    int started;    /* the first non-blank byte was seen */
    tr_json_string string;
    int capturing;
    int complete;
    int failed;
};

tr_array_splitter *tr_array_splitter_create(apr_pool_t *p, apr_size_t max_element)
{
    tr_array_splitter *s = apr_pcalloc(p, sizeof(*s));
    tr_buf_init(&s->element, p, max_element);
    return s;
}

int tr_array_splitter_complete(const tr_array_splitter *s)
{
    return s->complete;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Deliver the element that ends at buf[i] (inclusive), joining any earlier part. */
static apr_status_t deliver(tr_array_splitter *s, const char *start, const char *last,
                            tr_element_fn fn, void *baton)
{
    apr_status_t rv;
    apr_size_t n = (apr_size_t) (last - start) + 1;

    s->capturing = 0;
    if (s->element.max && s->element.len + n > s->element.max)
        return APR_ENOSPC; /* the cap holds for elements inside one feed too */
    if (!s->element.len)
        return fn(baton, start, n);
    if (tr_buf_add(&s->element, start, n))
        return APR_ENOSPC;
    rv = fn(baton, s->element.data, s->element.len);
    tr_buf_recycle(&s->element);
    return rv;
}

apr_status_t tr_array_splitter_feed(tr_array_splitter *s, const char *buf, apr_size_t len,
                                    tr_element_fn fn, void *baton)
{
    const char *start = buf; /* where the current element's bytes begin in this feed */
    apr_status_t rv;

    if (s->failed)
        return APR_ENOSPC;
    for (apr_size_t i = 0; i < len && !s->complete; i++) {
        char c = buf[i];

        if (tr_json_string_read(&s->string, c))
            continue;
        if (!s->started) {
            if (is_blank(c))
                continue;
            s->started = 1;
            if (c == '[') {
                s->depth = s->base = 1;
                continue;
            }
        }
        if (c == '"')
            s->string.open = 1;
        else if (c == '{' || c == '[') {
            if (s->depth == s->base) {
                s->capturing = 1;
                start = buf + i;
            }
            s->depth++;
        } else if (c == '}' || c == ']') {
            s->depth--;
            if (s->capturing && s->depth == s->base) {
                rv = deliver(s, start, buf + i, fn, baton);
                if (rv != APR_SUCCESS) {
                    s->failed = rv == APR_ENOSPC;
                    return rv;
                }
                if (s->base == 0)
                    s->complete = 1;
            } else if (s->depth < s->base || s->depth <= 0)
                s->complete = 1; /* the closing ']' (or stray closer) */
        }
    }
    if (s->capturing && !s->complete) {
        if (tr_buf_add(&s->element, start, (apr_size_t) (buf + len - start))) {
            s->failed = 1;
            return APR_ENOSPC;
        }
    }
    return APR_SUCCESS;
}
