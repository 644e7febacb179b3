/*
 * json/tr_json_check.c: one complete JSON document or not, checked in one pass without a tree
 * (see tr_json_check.h). Iterative, with the open containers on a fixed stack, so no input can
 * make it recurse or allocate.
 */
#include <string.h>

#include "tr_json_check.h"
#include "tr_jv.h"

typedef struct {
    const char *cur;
    const char *end;
} cursor;

static void skip_space(cursor *c)
{
    while (c->cur < c->end &&
           (*c->cur == ' ' || *c->cur == '\n' || *c->cur == '\r' || *c->cur == '\t'))
        c->cur++;
}

static int is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

static int is_hex(char ch)
{
    return is_digit(ch) || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* A string, the cursor on its opening quote. */
static int scan_string(cursor *c)
{
    for (c->cur++; c->cur < c->end; c->cur++) {
        unsigned char ch = (unsigned char) *c->cur;

        if (ch == '"') {
            c->cur++;
            return 1;
        }
        if (ch < 0x20)
            return 0;
        if (ch != '\\')
            continue;
        if (++c->cur >= c->end)
            return 0;
        if (*c->cur == 'u') {
            if (c->end - c->cur < 5)
                return 0;
            for (int i = 1; i <= 4; i++)
                if (!is_hex(c->cur[i]))
                    return 0;
            c->cur += 4;
        } else if (!memchr("\"\\/bfnrt", *c->cur, 8)) {
            return 0;
        }
    }
    return 0;
}

static int scan_digits(cursor *c)
{
    const char *start = c->cur;

    while (c->cur < c->end && is_digit(*c->cur))
        c->cur++;
    return c->cur > start;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int scan_number(cursor *c)
{
    if (c->cur < c->end && *c->cur == '-')
        c->cur++;
    if (c->cur < c->end && *c->cur == '0')
        c->cur++;
    else if (!scan_digits(c))
        return 0;
    if (c->cur < c->end && *c->cur == '.') {
        c->cur++;
        if (!scan_digits(c))
            return 0;
    }
    if (c->cur < c->end && (*c->cur == 'e' || *c->cur == 'E')) {
        c->cur++;
        if (c->cur < c->end && (*c->cur == '+' || *c->cur == '-'))
            c->cur++;
        if (!scan_digits(c))
            return 0;
    }
    return 1;
}

static int scan_word(cursor *c, const char *word, apr_size_t n)
{
    if ((apr_size_t) (c->end - c->cur) < n || memcmp(c->cur, word, n))
        return 0;
    c->cur += n;
    return 1;
}

/* A value that is not a container. */
static int scan_scalar(cursor *c)
{
    switch (*c->cur) {
    case '"':
        return scan_string(c);
    case 't':
        return scan_word(c, "true", 4);
    case 'f':
        return scan_word(c, "false", 5);
    case 'n':
        return scan_word(c, "null", 4);
    default:
        return scan_number(c);
    }
}

/* An object member's key and its colon; the value follows. */
static int scan_key(cursor *c)
{
    skip_space(c);
    if (c->cur >= c->end || *c->cur != '"' || !scan_string(c))
        return 0;
    skip_space(c);
    if (c->cur >= c->end || *c->cur != ':')
        return 0;
    c->cur++;
    return 1;
}

int tr_json_is_document(const char *text, apr_size_t len)
{
    char open[TR_JV_MAX_DEPTH]; /* '{' or '[' per open container */
    int depth = 0;
    cursor c;

    if (!text) /* an empty buffer never allocated: no offset may be added to it */
        return 0;
    c.cur = text;
    c.end = text + len;
    for (;;) {
        int value_done = 1;

        /* A value starts here. */
        skip_space(&c);
        if (c.cur >= c.end)
            return 0;
        if (*c.cur == '{' || *c.cur == '[') {
            char close = *c.cur == '{' ? '}' : ']';

            if (depth == TR_JV_MAX_DEPTH)
                return 0;
            open[depth++] = *c.cur++;
            skip_space(&c);
            if (c.cur < c.end && *c.cur == close) {
                c.cur++;
                depth--;
            } else if (close == '}' && !scan_key(&c)) {
                return 0;
            } else {
                value_done = 0; /* the container's first value comes next */
            }
        } else if (!scan_scalar(&c)) {
            return 0;
        }
        /* After a value: close containers until one takes another value. */
        while (value_done) {
            char close;

            skip_space(&c);
            if (depth == 0)
                return c.cur == c.end;
            if (c.cur >= c.end)
                return 0;
            close = open[depth - 1] == '{' ? '}' : ']';
            if (*c.cur == close) {
                c.cur++;
                depth--;
                continue;
            }
            if (*c.cur != ',')
                return 0;
            c.cur++;
            if (close == '}' && !scan_key(&c))
                return 0;
            value_done = 0;
        }
    }
}
