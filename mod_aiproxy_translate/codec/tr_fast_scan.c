/* codec/tr_fast_scan.c: see codec/tr_fast_scan.h. Every check here errs towards "not fast": the
 * price of a needless bail-out is one tree parse (tr_jv), the price of accepting what the parser
 * would read differently is a wrong translation. */
#include <string.h>
#include "json/tr_jv.h"
#include "codec/tr_fast_scan.h"

/* Fits a long long and a 10-digit "created"; longer numbers go to the parser. */
#define FAST_MAX_INT_DIGITS 18

static int fast_on = 1;

int tr_fast_enabled(void)
{
    return fast_on;
}

void tr_fast_set_enabled(int on)
{
    fast_on = on;
}

/* Per thread, so httpd's worker threads never race on it. */
static _Thread_local unsigned long fast_taken;

void tr_fast_note_taken(void)
{
    fast_taken++;
}

unsigned long tr_fast_taken(void)
{
    return fast_taken;
}

typedef struct {
    const char *at, *end;
    apr_pool_t *p;
    tr_fast_value *slots;
} scanner;

/* JSON whitespace (space, tab, LF, CR). */
static void skip_ws(scanner *s)
{
    while (s->at < s->end && (*s->at == ' ' || *s->at == '\t' || *s->at == '\n' || *s->at == '\r'))
        s->at++;
}

/* Consume c after optional whitespace. */
static int expect(scanner *s, char c)
{
    skip_ws(s);
    if (s->at >= s->end || *s->at != c)
        return 0;
    s->at++;
    return 1;
}

/* The string whose opening quote is just before s->at -> a NUL-terminated pool copy, decoded
 * by the parser's own string reader (json/tr_jv.c), so both paths agree on every escape and every
 * UTF-8 rule. A string holding \u0000 bails: the decoders hand C strings on. */
static int scan_string(scanner *s, const char **str, apr_size_t *len)
{
    const char *next;
    *str = tr_jv_scan_string(s->p, s->at - 1, s->end, len, &next);
    if (!*str || memchr(*str, '\0', *len))
        return 0;
    s->at = next;
    return 1;
}

/* A non-negative integer without fraction or exponent (those make the parser a real, which the
 * decoders read differently), short enough that no overflow question arises. */
static int scan_int(scanner *s, long long *out)
{
    const char *start = s->at;
    long long v = 0;

    while (s->at < s->end && *s->at >= '0' && *s->at <= '9') {
        if (s->at - start == FAST_MAX_INT_DIGITS)
            return 0; /* checked before the digit is added: v never overflows */
        v = v * 10 + (*s->at - '0');
        s->at++;
    }
    if (s->at == start || (*start == '0' && s->at - start > 1))
        return 0;
    if (s->at < s->end && (*s->at == '.' || *s->at == 'e' || *s->at == 'E'))
        return 0;
    *out = v;
    return 1;
}

static int scan_literal(scanner *s, const char *word)
{
    size_t n = strlen(word);
    if ((size_t) (s->end - s->at) < n || memcmp(s->at, word, n))
        return 0;
    s->at += n;
    return 1;
}

static int scan_object(scanner *s, const tr_fast_shape *shape);

/* The value of one declared member, at s->at (whitespace skipped). */
static int scan_value(scanner *s, const tr_fast_member *m)
{
    tr_fast_value scratch = {0};
    tr_fast_value *v = m->slot >= 0 ? &s->slots[m->slot] : &scratch;

    skip_ws(s);
    if (s->at >= s->end)
        return 0;
    v->present = 1;
    switch (m->kind) {
    case TR_FAST_STRING:
        return *s->at++ == '"' && scan_string(s, &v->str, &v->len);
    case TR_FAST_INT:
        return scan_int(s, &v->num);
    case TR_FAST_NULL:
        return scan_literal(s, "null");
    case TR_FAST_SCALAR:
        if (*s->at == '"') {
            s->at++;
            return scan_string(s, &v->str, &v->len);
        }
        return *s->at == 'n' ? scan_literal(s, "null") : scan_int(s, &v->num);
    case TR_FAST_EMPTY_ARRAY:
        return expect(s, '[') && expect(s, ']');
    case TR_FAST_OBJECT:
        return scan_object(s, m->sub);
    case TR_FAST_ONE_OBJECT:
        return expect(s, '[') && scan_object(s, m->sub) && expect(s, ']');
    }
    return 0;
}

/* The declared member named by the key at s->at (past its opening quote), or NULL. Keys with
 * escapes or unknown names bail: the general path then decides what they mean. */
static const tr_fast_member *scan_key(scanner *s, const tr_fast_shape *shape, int *which)
{
    const char *name = s->at, *q = memchr(s->at, '"', (size_t) (s->end - s->at));
    size_t n;

    if (!q || memchr(name, '\\', (size_t) (q - name)))
        return NULL;
    n = (size_t) (q - name);
    s->at = q + 1;
    for (int i = 0; i < shape->count; i++) {
        const char *want = shape->members[i].name;
        if (strlen(want) == n && !memcmp(want, name, n)) {
            *which = i;
            return &shape->members[i];
        }
    }
    return NULL;
}

/* An object of shape at s->at (whitespace allowed before its '{'). */
static int scan_object(scanner *s, const tr_fast_shape *shape)
{
    unsigned long seen = 0;

    if (!expect(s, '{'))
        return 0;
    skip_ws(s);
    if (s->at < s->end && *s->at == '}') {
        s->at++;
        return 1;
    }
    for (;;) {
        const tr_fast_member *m;
        int which = 0;

        if (!expect(s, '"') || !(m = scan_key(s, shape, &which)) || (seen & (1UL << which)))
            return 0;
        seen |= 1UL << which;
        if (!expect(s, ':') || !scan_value(s, m))
            return 0;
        skip_ws(s);
        if (s->at >= s->end)
            return 0;
        if (*s->at == '}') {
            s->at++;
            return 1;
        }
        if (*s->at++ != ',')
            return 0;
    }
}

int tr_fast_scan(apr_pool_t *p, const char *data, apr_size_t len, const tr_fast_shape *root,
                 tr_fast_value *slots)
{
    scanner s = {data, data + len, p, slots};

    if (!data || !scan_object(&s, root))
        return 0;
    skip_ws(&s);
    return s.at == s.end; /* the parser refuses anything after the value */
}
