/* json/tr_buf.c: see json/tr_buf.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "json/tr_buf.h"

static apr_status_t buf_cleanup(void *data)
{
    tr_buf_release(data);
    return APR_SUCCESS;
}

void tr_buf_init(tr_buf *b, apr_pool_t *p, apr_size_t max)
{
    memset(b, 0, sizeof(*b));
    b->max = max;
    apr_pool_cleanup_register(p, b, buf_cleanup, apr_pool_cleanup_null);
}

tr_buf *tr_buf_make(apr_pool_t *p, apr_size_t max)
{
    tr_buf *b = apr_palloc(p, sizeof(*b));
    tr_buf_init(b, p, max);
    return b;
}

static int ensure_room(tr_buf *b, apr_size_t n)
{
    apr_size_t need, cap;
    char *grown;

    if (b->over)
        return -1;
    need = b->len + n + 1;
    if (need < b->len || (b->max && b->len + n > b->max)) {
        b->over = 1;
        return -1;
    }
    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    grown = realloc(b->data, cap);
    if (!grown) {
        b->over = 1;
        return -1;
    }
    b->data = grown;
    b->cap = cap;
    return 0;
}

int tr_buf_add(tr_buf *b, const char *s, apr_size_t n)
{
    if (ensure_room(b, n))
        return -1;
    if (n)
        memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int tr_buf_reserve(tr_buf *b, apr_size_t n)
{
    return ensure_room(b, n);
}

int tr_buf_adds(tr_buf *b, const char *s)
{
    return tr_buf_add(b, s, strlen(s));
}

void tr_buf_reset(tr_buf *b)
{
    b->len = 0;
    b->over = 0;
    if (b->data)
        b->data[0] = '\0';
}

void tr_buf_recycle(tr_buf *b)
{
    if (b->cap > TR_BUF_KEEP)
        tr_buf_release(b);
    else
        tr_buf_reset(b);
}

void tr_buf_release(tr_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->over = 0;
}

/* Bytes that need no escaping inside a JSON string. */
static int json_plain(unsigned char c)
{
    return c >= 0x20 && c != '"' && c != '\\';
}

int tr_buf_json_string(tr_buf *b, const char *s, apr_size_t n)
{
    static const char hex[] = "0123456789abcdef";
    apr_size_t i = 0, run;

    /* Worst case every byte becomes \u00XX: reserve once, then write without checks. */
    if (ensure_room(b, n * 6 + 2))
        return -1;
    b->data[b->len++] = '"';
    while (i < n) {
        for (run = i; run < n && json_plain((unsigned char) s[run]); run++)
            ;
        memcpy(b->data + b->len, s + i, run - i);
        b->len += run - i;
        if (run == n)
            break;
        {
            unsigned char c = (unsigned char) s[run];
            char *o = b->data + b->len;
            switch (c) {
            case '"':
                o[0] = '\\', o[1] = '"', b->len += 2;
                break;
            case '\\':
                o[0] = '\\', o[1] = '\\', b->len += 2;
                break;
            case '\n':
                o[0] = '\\', o[1] = 'n', b->len += 2;
                break;
            case '\r':
                o[0] = '\\', o[1] = 'r', b->len += 2;
                break;
            case '\t':
                o[0] = '\\', o[1] = 't', b->len += 2;
                break;
            case '\b':
                o[0] = '\\', o[1] = 'b', b->len += 2;
                break;
            case '\f':
                o[0] = '\\', o[1] = 'f', b->len += 2;
                break;
            default:
                memcpy(o, "\\u00", 4);
                o[4] = hex[c >> 4];
                o[5] = hex[c & 15];
                b->len += 6;
            }
        }
        i = run + 1;
    }
    b->data[b->len++] = '"';
    b->data[b->len] = '\0';
    return 0;
}

int tr_buf_json_cstring(tr_buf *b, const char *s)
{
    return s ? tr_buf_json_string(b, s, strlen(s)) : tr_buf_adds(b, "null");
}

int tr_buf_json_int(tr_buf *b, long long v)
{
    char digits[24], *d = digits + sizeof(digits);
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long) v : (unsigned long long) v;
    do {
        *--d = (char) ('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--d = '-';
    return tr_buf_add(b, d, (apr_size_t) (digits + sizeof(digits) - d));
}
