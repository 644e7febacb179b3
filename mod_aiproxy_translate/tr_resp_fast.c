/* tr_resp_fast.c: see tr_resp_fast.h. Every check here errs towards "not fast": the price of a
 * needless bail-out is one jansson parse, the price of accepting what jansson would read
 * differently is a wrong translation. */
#include <string.h>
#include "tr_resp_fast.h"

/* Fits a long long and a 10-digit "created"; longer numbers go to jansson. */
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

/* JSON whitespace (jansson's set: space, tab, LF, CR). */
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

static int hex4(const char *h, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = h[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned) (c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned) (c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned) (c - 'A' + 10);
        else
            return 0;
    }
    *out = v;
    return 1;
}

/* One \uXXXX escape (a surrogate pair takes two) at *in -> UTF-8 at *out. \u0000 and lone
 * surrogates bail: jansson takes the first (JSON_ALLOW_NUL) but the C strings the decoders
 * hand on would then differ in length handling; it rejects the second. */
static int unicode_escape(const char **in, const char *end, char **out)
{
    const char *h = *in;
    unsigned cp, low;
    char *o = *out;

    if (end - h < 4 || !hex4(h, &cp) || cp == 0)
        return 0;
    h += 4;
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return 0;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (end - h < 6 || h[0] != '\\' || h[1] != 'u' || !hex4(h + 2, &low) || low < 0xDC00 ||
            low > 0xDFFF)
            return 0;
        h += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    if (cp < 0x80) {
        *o++ = (char) cp;
    } else if (cp < 0x800) {
        *o++ = (char) (0xC0 | (cp >> 6));
        *o++ = (char) (0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (char) (0xE0 | (cp >> 12));
        *o++ = (char) (0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char) (0x80 | (cp & 0x3F));
    } else {
        *o++ = (char) (0xF0 | (cp >> 18));
        *o++ = (char) (0x80 | ((cp >> 12) & 0x3F));
        *o++ = (char) (0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char) (0x80 | (cp & 0x3F));
    }
    *in = h;
    *out = o;
    return 1;
}

/* Length of the well-formed UTF-8 sequence at u (lead byte >= 0x80), 0 when it is not one:
 * overlong forms, encoded surrogates and code points past U+10FFFF are refused, as jansson
 * refuses them. */
static int utf8_sequence(const unsigned char *u, const unsigned char *end)
{
    unsigned char lo = 0x80, hi = 0xBF;
    int n;

    if (u[0] >= 0xC2 && u[0] <= 0xDF)
        n = 2;
    else if (u[0] >= 0xE0 && u[0] <= 0xEF)
        n = 3;
    else if (u[0] >= 0xF0 && u[0] <= 0xF4)
        n = 4;
    else
        return 0;
    if (end - u < n)
        return 0;
    if (u[0] == 0xE0)
        lo = 0xA0; /* overlong */
    else if (u[0] == 0xED)
        hi = 0x9F; /* surrogates */
    else if (u[0] == 0xF0)
        lo = 0x90; /* overlong */
    else if (u[0] == 0xF4)
        hi = 0x8F; /* past U+10FFFF */
    if (u[1] < lo || u[1] > hi)
        return 0;
    for (int i = 2; i < n; i++) {
        if (u[i] < 0x80 || u[i] > 0xBF)
            return 0;
    }
    return n;
}

/* The escape after a backslash at *in (already past the backslash) -> *out. */
static int escape(const char **in, const char *end, char **out)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *hit;

    if (*in >= end)
        return 0;
    if (**in == 'u') {
        (*in)++;
        return unicode_escape(in, end, out);
    }
    hit = **in ? strchr(from, **in) : NULL;
    if (!hit)
        return 0;
    *(*out)++ = to[hit - from];
    (*in)++;
    return 1;
}

/* The string starting at s->at (just past its opening quote) -> a NUL-terminated pool copy.
 * An unescaped value is never longer than its source, so one allocation suffices. */
static int scan_string(scanner *s, const char **str, apr_size_t *len)
{
    const char *in = s->at, *run;
    char *buf, *out;

    /* Most deltas are plain ASCII: find the extent first and copy it in one go. */
    for (run = in; run < s->end; run++) {
        unsigned char c = (unsigned char) *run;
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80)
            break;
    }
    if (run >= s->end)
        return 0;
    if (*run == '"') {
        buf = apr_palloc(s->p, (apr_size_t) (run - in) + 1);
        memcpy(buf, in, (apr_size_t) (run - in));
        buf[run - in] = '\0';
        *str = buf;
        *len = (apr_size_t) (run - in);
        s->at = run + 1;
        return 1;
    }
    out = buf = apr_palloc(s->p, (apr_size_t) (s->end - in) + 1);
    memcpy(out, in, (apr_size_t) (run - in));
    out += run - in;
    in = run;
    while (in < s->end && *in != '"') {
        unsigned char c = (unsigned char) *in;
        int n;
        if (c == '\\') {
            in++;
            if (!escape(&in, s->end, &out))
                return 0;
        } else if (c < 0x20) {
            return 0; /* raw control characters are invalid JSON */
        } else if (c < 0x80) {
            *out++ = *in++;
        } else if ((n = utf8_sequence((const unsigned char *) in,
                                      (const unsigned char *) s->end))) {
            memcpy(out, in, (size_t) n);
            out += n;
            in += n;
        } else {
            return 0;
        }
    }
    if (in >= s->end)
        return 0;
    *out = '\0';
    *str = buf;
    *len = (apr_size_t) (out - buf);
    s->at = in + 1;
    return 1;
}

/* A non-negative integer without fraction or exponent (those make jansson a real, which the
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
    return s.at == s.end; /* jansson refuses anything after the value */
}
