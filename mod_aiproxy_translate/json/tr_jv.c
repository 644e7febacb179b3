/* json/tr_jv.c: see json/tr_jv.h. */
#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "apr_hash.h"
#include "apr_strings.h"
#include "aip_frame.h"
#include "json/tr_jv.h"
#include "tr_error.h"

static tr_jv jv_null = {.type = TR_JV_NULL};
static tr_jv jv_true = {.type = TR_JV_TRUE};
static tr_jv jv_false = {.type = TR_JV_FALSE};

/* ============================================================================================
 * numbers in the C locale (httpd may run beside a module that called setlocale)
 * ============================================================================================ */

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void c_locale_init(void)
{
    c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t) 0);
}

static double strtod_c(const char *s, char **end)
{
    pthread_once(&c_locale_once, c_locale_init);
    return c_locale ? strtod_l(s, end, c_locale) : strtod(s, end);
}

/* ============================================================================================
 * parsing
 * ============================================================================================ */

/* Character classes of the string scanner: bytes that end the fast copy loop. */
enum { CH_PLAIN = 0, CH_QUOTE, CH_ESCAPE, CH_CONTROL, CH_HIGH };

static unsigned char string_class[256];
static pthread_once_t string_class_once = PTHREAD_ONCE_INIT;

static void string_class_init(void)
{
    for (int c = 0; c < 256; c++)
        string_class[c] = c < 0x20 ? CH_CONTROL : c >= 0x80 ? CH_HIGH : CH_PLAIN;
    string_class['"'] = CH_QUOTE;
    string_class['\\'] = CH_ESCAPE;
}

/* A container being parsed: where its items or members start on the scratch stacks and, for
 * an object, the member whose value comes next. */
typedef struct {
    char kind; /* '[' or '{' */
    apr_size_t base;
    apr_size_t member;
} open_container;

typedef struct {
    apr_pool_t *p;
    const char *text, *cur, *end;
    const char *why;   /* first error */
    const char *where; /* its position */
    /* Scratch stacks of the containers being parsed (malloc: freed once at the end). The
     * parser does not recurse: nesting costs these stacks, not the thread's (aip_frame.h:
     * events are parsed at a stream's deepest point, and Gemini's nest six levels). */
    open_container *open;
    apr_size_t n_open, cap_open;
    tr_jv **items;
    apr_size_t n_items, cap_items;
    tr_jv_member *members;
    apr_size_t n_members, cap_members;
} parser;

/* Leaves kept out of line: called from several places (parse_string), or rarely (errors,
 * repeated keys, reals near the end of the range), so their frames are paid only when they
 * run. */
#define TR_JV_LEAF static AIP_OWN_FRAME

TR_JV_LEAF tr_jv *fail(parser *ps, const char *at, const char *why)
{
    if (!ps->why) {
        ps->why = why;
        ps->where = at;
    }
    return NULL;
}

/* fail() at the current position, for functions that answer 0 on errors. */
static int failed(parser *ps, const char *why)
{
    fail(ps, ps->cur, why);
    return 0;
}

static void skip_space(parser *ps)
{
    const char *c = ps->cur, *end = ps->end;
    while (c < end && (*c == ' ' || *c == '\n' || *c == '\r' || *c == '\t'))
        c++;
    ps->cur = c;
}

static tr_jv *new_value(apr_pool_t *p, tr_jv_type type)
{
    tr_jv *v = apr_palloc(p, sizeof(*v));
    v->type = type;
    return v;
}

static tr_jv *string_value(apr_pool_t *p, const char *s, apr_size_t len)
{
    tr_jv *v = new_value(p, TR_JV_STRING);
    v->u.str.s = s;
    v->u.str.len = len;
    return v;
}

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlong forms, no surrogates, at
 * most U+10FFFF), or 0. */
static int utf8_sequence(const unsigned char *s, const unsigned char *end)
{
    unsigned c = s[0];
    int n;
    unsigned lo = 0x80, hi = 0xBF;

    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (end - s < n || s[1] < lo || s[1] > hi)
        return 0;
    for (int i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return n;
}

static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
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

static char *put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80)
        *o++ = (char) cp;
    else if (cp < 0x800) {
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
    return o;
}

/* The string whose opening quote is at ps->cur: NUL-terminated copy in the pool, escapes
 * decoded, UTF-8 checked. An escape-free string is one scan and one memcpy; one with escapes
 * is scanned again while decoding into a buffer as long as its source (never too short:
 * every escape decodes to fewer bytes than it takes). */
TR_JV_LEAF const char *parse_string(parser *ps, apr_size_t *len_out)
{
    const unsigned char *start = (const unsigned char *) ps->cur + 1, *s = start;
    const unsigned char *end = (const unsigned char *) ps->end;
    int escaped = 0;
    char *out, *o;

    for (;;) {
        while (s < end && string_class[*s] == CH_PLAIN)
            s++;
        if (s >= end)
            return (const char *) fail(ps, (const char *) s, "unterminated string");
        switch (string_class[*s]) {
        case CH_QUOTE:
            goto closed;
        case CH_ESCAPE:
            escaped = 1;
            if (end - s < 2)
                return (const char *) fail(ps, (const char *) s, "unterminated string");
            s += 2;
            break;
        case CH_CONTROL:
            return (const char *) fail(ps, (const char *) s,
                                       "control character in string (must be escaped)");
        default: {
            int n = utf8_sequence(s, end);
            if (!n)
                return (const char *) fail(ps, (const char *) s, "invalid UTF-8 in string");
            s += n;
        }
        }
    }
closed:
    ps->cur = (const char *) s + 1;
    out = apr_palloc(ps->p, (apr_size_t) (s - start) + 1);
    if (!escaped) {
        memcpy(out, start, (apr_size_t) (s - start));
        out[s - start] = '\0';
        *len_out = (apr_size_t) (s - start);
        return out;
    }
    o = out;
    for (const unsigned char *c = start; c < s;) {
        const unsigned char *run = c;
        unsigned cp, lo;

        while (c < s && *c != '\\')
            c++;
        memcpy(o, run, (apr_size_t) (c - run));
        o += c - run;
        if (c >= s)
            break;
        switch (c[1]) {
        case '"':
            *o++ = '"';
            break;
        case '\\':
            *o++ = '\\';
            break;
        case '/':
            *o++ = '/';
            break;
        case 'b':
            *o++ = '\b';
            break;
        case 'f':
            *o++ = '\f';
            break;
        case 'n':
            *o++ = '\n';
            break;
        case 'r':
            *o++ = '\r';
            break;
        case 't':
            *o++ = '\t';
            break;
        case 'u':
            if (s - c < 6 || !hex4((const char *) c + 2, &cp))
                return (const char *) fail(ps, (const char *) c, "invalid \\u escape");
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return (const char *) fail(ps, (const char *) c,
                                           "lone low surrogate in \\u escape");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (s - c < 12 || c[6] != '\\' || c[7] != 'u' || !hex4((const char *) c + 8, &lo) ||
                    lo < 0xDC00 || lo > 0xDFFF)
                    return (const char *) fail(ps, (const char *) c,
                                               "high surrogate without a low surrogate");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                c += 6;
            }
            o = put_utf8(o, cp);
            c += 4;
            break;
        default:
            return (const char *) fail(ps, (const char *) c, "invalid escape in string");
        }
        c += 2;
    }
    *o = '\0';
    *len_out = (apr_size_t) (o - out);
    return out;
}

/* Whether a JSON real (validated text) is 1e308 or more in magnitude, from the power of ten of
 * its first significant digit: below that it cannot pass DBL_MAX, and strtod need not run. */
static int real_may_overflow(const char *text)
{
    const char *c = text + (*text == '-');
    long lead, exponent = 0;
    int exponent_negative = 0;

    if (*c != '0') { /* [1-9][0-9]*: the first digit is 10^(digits - 1) */
        lead = -1;
        while (*c >= '0' && *c <= '9') {
            lead++;
            c++;
        }
    } else { /* 0.000d...: the first non-zero digit after the point */
        c++;
        lead = 0;
        if (*c == '.') {
            for (c++; *c == '0'; c++)
                lead--;
            if (*c < '1' || *c > '9')
                return 0; /* a zero */
            lead--;
        } else {
            return 0;
        }
    }
    c = strpbrk(c, "eE");
    if (c) {
        c++;
        exponent_negative = *c == '-';
        c += *c == '-' || *c == '+';
        for (; *c >= '0' && *c <= '9' && exponent < 100000; c++)
            exponent = exponent * 10 + (*c - '0');
    }
    return lead + (exponent_negative ? -exponent : exponent) >= 308;
}

/* Whether strtod reads a real near the top of the range as past it (rare: out of the way). */
TR_JV_LEAF int real_overflows(const char *text)
{
    double d;

    errno = 0;
    d = strtod_c(text, NULL);
    return errno == ERANGE && (d == HUGE_VAL || d == -HUGE_VAL);
}

TR_JV_LEAF tr_jv *parse_number(parser *ps)
{
    const char *s = ps->cur, *c = s, *end = ps->end;
    int is_real = 0, negative = 0;
    tr_jv *v;

    if (c < end && *c == '-') {
        negative = 1;
        c++;
    }
    if (c >= end || *c < '0' || *c > '9')
        return fail(ps, c, "invalid number");
    if (*c == '0')
        c++;
    else
        while (c < end && *c >= '0' && *c <= '9')
            c++;
    if (c < end && *c == '.') {
        is_real = 1;
        if (++c >= end || *c < '0' || *c > '9')
            return fail(ps, c, "invalid number: digits expected after '.'");
        while (c < end && *c >= '0' && *c <= '9')
            c++;
    }
    if (c < end && (*c == 'e' || *c == 'E')) {
        is_real = 1;
        if (++c < end && (*c == '+' || *c == '-'))
            c++;
        if (c >= end || *c < '0' || *c > '9')
            return fail(ps, c, "invalid number: digits expected in the exponent");
        while (c < end && *c >= '0' && *c <= '9')
            c++;
    }
    ps->cur = c;
    if (!is_real) {
        /* Accumulate as a negative number: its range is one larger. */
        long long acc = 0;
        for (const char *d = s + negative; d < c; d++) {
            int digit = *d - '0';
            if (acc < (LLONG_MIN + digit) / 10)
                return fail(ps, s, "integer out of range");
            acc = acc * 10 - digit;
        }
        if (!negative && acc == LLONG_MIN)
            return fail(ps, s, "integer out of range");
        v = new_value(ps->p, TR_JV_INTEGER);
        v->u.i = negative ? acc : -acc;
        return v;
    } else {
        const char *text = apr_pstrmemdup(ps->p, s, (apr_size_t) (c - s));

        if (real_may_overflow(text) && real_overflows(text))
            return fail(ps, s, "real number out of range");
        v = new_value(ps->p, TR_JV_REAL);
        v->u.real.text = text;
        v->u.real.len = (apr_size_t) (c - s);
        return v;
    }
}

/* A scratch stack with room for more elements (64 at first, then twice as many). NULL when
 * memory ran out: the old block is freed here, since the caller's pointer gets the NULL and
 * the parse fails. */
static void *grow_stack(void *stack, apr_size_t *cap, apr_size_t size)
{
    apr_size_t want = *cap ? *cap * 2 : 64;
    void *grown = realloc(stack, want * size);

    if (!grown) {
        free(stack);
        *cap = 0;
        return NULL;
    }
    *cap = want;
    return grown;
}

static int push_item(parser *ps, tr_jv *v)
{
    if (ps->n_items == ps->cap_items &&
        !(ps->items = grow_stack(ps->items, &ps->cap_items, sizeof(*ps->items))))
        return 0;
    ps->items[ps->n_items++] = v;
    return 1;
}

static int push_member(parser *ps, const char *key, apr_size_t klen)
{
    if (ps->n_members == ps->cap_members &&
        !(ps->members = grow_stack(ps->members, &ps->cap_members, sizeof(*ps->members))))
        return 0;
    ps->members[ps->n_members].key = key;
    ps->members[ps->n_members].klen = klen;
    ps->members[ps->n_members].value = NULL;
    ps->n_members++;
    return 1;
}

/* Repeated keys: the first position keeps the last value (what jansson and most parsers
 * do). Small objects compare pairwise; large ones (only hostile or generated bodies) go
 * through a hash so the cost stays linear. Returns the new member count. */
TR_JV_LEAF apr_size_t merge_repeated_keys(apr_pool_t *p, tr_jv_member *m, apr_size_t n)
{
    apr_size_t kept = 0;

    if (n <= 16) {
        for (apr_size_t i = 0; i < n; i++) {
            apr_size_t j;
            for (j = 0; j < kept; j++)
                if (m[j].klen == m[i].klen && !memcmp(m[j].key, m[i].key, m[i].klen))
                    break;
            if (j < kept)
                m[j].value = m[i].value;
            else
                m[kept++] = m[i];
        }
        return kept;
    }
    apr_hash_t *seen = apr_hash_make(p);
    for (apr_size_t i = 0; i < n; i++) {
        apr_size_t *at = apr_hash_get(seen, m[i].key, (apr_ssize_t) m[i].klen);
        if (at)
            m[*at].value = m[i].value;
        else {
            at = apr_palloc(p, sizeof(*at));
            *at = kept;
            m[kept++] = m[i];
            apr_hash_set(seen, m[kept - 1].key, (apr_ssize_t) m[kept - 1].klen, at);
        }
    }
    return kept;
}

static int push_open(parser *ps, char kind)
{
    open_container *c;

    if (ps->n_open == ps->cap_open &&
        !(ps->open = grow_stack(ps->open, &ps->cap_open, sizeof(*ps->open))))
        return 0;
    c = &ps->open[ps->n_open++];
    c->kind = kind;
    c->base = kind == '[' ? ps->n_items : ps->n_members;
    c->member = 0;
    return 1;
}

/* The innermost open container is complete: its value, built from the scratch stacks. */
static tr_jv *close_container(parser *ps)
{
    const open_container *c = &ps->open[--ps->n_open];
    apr_size_t n;
    tr_jv *v;

    if (c->kind == '[') {
        n = ps->n_items - c->base;
        v = new_value(ps->p, TR_JV_ARRAY);
        v->u.arr.p = ps->p;
        v->u.arr.n = v->u.arr.cap = n;
        v->u.arr.items = n ? apr_palloc(ps->p, n * sizeof(tr_jv *)) : NULL;
        if (n)
            memcpy(v->u.arr.items, ps->items + c->base, n * sizeof(tr_jv *));
        ps->n_items = c->base;
        return v;
    }
    n = ps->n_members > c->base
            ? merge_repeated_keys(ps->p, ps->members + c->base, ps->n_members - c->base)
            : 0;
    v = new_value(ps->p, TR_JV_OBJECT);
    v->u.obj.p = ps->p;
    v->u.obj.n = v->u.obj.cap = n;
    v->u.obj.members = n ? apr_palloc(ps->p, n * sizeof(tr_jv_member)) : NULL;
    if (n)
        memcpy(v->u.obj.members, ps->members + c->base, n * sizeof(tr_jv_member));
    ps->n_members = c->base;
    return v;
}

/* A member's key and ':' in the innermost open object; its value comes next. 0 on errors. */
static int begin_member(parser *ps)
{
    const char *key;
    apr_size_t klen;

    if (ps->cur >= ps->end || *ps->cur != '"')
        return failed(ps, "string key expected");
    key = parse_string(ps, &klen);
    if (!key)
        return 0;
    if (memchr(key, '\0', klen)) /* keys are C strings to every reader */
        return failed(ps, "NUL byte in object key");
    skip_space(ps);
    if (ps->cur >= ps->end || *ps->cur != ':')
        return failed(ps, "':' expected");
    ps->cur++;
    /* Reserved before the value is parsed: the containers in it push theirs above. */
    ps->open[ps->n_open - 1].member = ps->n_members;
    if (!push_member(ps, key, klen))
        return failed(ps, "out of memory");
    return 1;
}

static tr_jv *parse_literal(parser *ps, const char *word, apr_size_t n, tr_jv *value)
{
    if ((apr_size_t) (ps->end - ps->cur) < n || memcmp(ps->cur, word, n) != 0)
        return fail(ps, ps->cur, "invalid token");
    ps->cur += n;
    return value;
}

/* The value at ps->cur when complete at once: a scalar, or an empty container. A container
 * with contents is opened instead and NULL returned with no error (ps->why unset): its first
 * value comes next. */
static tr_jv *start_value(parser *ps)
{
    char kind;

    skip_space(ps);
    if (ps->cur >= ps->end)
        return fail(ps, ps->cur, "unexpected end of input");
    kind = *ps->cur;
    switch (kind) {
    case '{':
    case '[':
        if (ps->n_open >= TR_JV_MAX_DEPTH)
            return fail(ps, ps->cur, "nesting too deep");
        if (!push_open(ps, kind))
            return fail(ps, ps->cur, "out of memory");
        ps->cur++;
        skip_space(ps);
        if (ps->cur < ps->end && *ps->cur == (kind == '{' ? '}' : ']')) {
            ps->cur++;
            return close_container(ps);
        }
        if (kind == '{')
            begin_member(ps);
        return NULL;
    case '"': {
        apr_size_t len;
        const char *s = parse_string(ps, &len);
        if (!s)
            return NULL;
        return string_value(ps->p, s, len);
    }
    case 't':
        return parse_literal(ps, "true", 4, &jv_true);
    case 'f':
        return parse_literal(ps, "false", 5, &jv_false);
    case 'n':
        return parse_literal(ps, "null", 4, &jv_null);
    default:
        if (kind == '-' || (kind >= '0' && kind <= '9'))
            return parse_number(ps);
        return fail(ps, ps->cur, "invalid token");
    }
}

/* What follows a value in its container. */
typedef enum { AFTER_NEXT, AFTER_CLOSED, AFTER_ERROR } after_value;

/* Put the complete value v into the innermost open container and read what follows it: a ','
 * (and an object's next key: AFTER_NEXT, its value comes next) or the container's end
 * (AFTER_CLOSED, *closed is the container's value). */
static after_value add_to_container(parser *ps, tr_jv *v, tr_jv **closed)
{
    open_container *c = &ps->open[ps->n_open - 1];
    int array = c->kind == '[';

    if (array) {
        if (!push_item(ps, v)) {
            failed(ps, "out of memory");
            return AFTER_ERROR;
        }
    } else {
        ps->members[c->member].value = v;
    }
    skip_space(ps);
    if (ps->cur >= ps->end) {
        failed(ps, array ? "unterminated array" : "unterminated object");
        return AFTER_ERROR;
    }
    if (*ps->cur == (array ? ']' : '}')) {
        ps->cur++;
        *closed = close_container(ps);
        return AFTER_CLOSED;
    }
    if (*ps->cur != ',') {
        failed(ps, array ? "',' or ']' expected" : "',' or '}' expected");
        return AFTER_ERROR;
    }
    ps->cur++;
    if (!array) {
        skip_space(ps);
        if (!begin_member(ps))
            return AFTER_ERROR;
    }
    return AFTER_NEXT;
}

/* One value, nested containers included, in a loop over an explicit stack of the open ones. */
static tr_jv *parse_value(parser *ps)
{
    for (;;) {
        tr_jv *v = start_value(ps);
        after_value after = AFTER_CLOSED;

        if (!v) {
            if (ps->why)
                return NULL;
            continue; /* a container opened: its first value */
        }
        /* v is complete: it completes containers in turn until one expects more */
        while (ps->n_open && after == AFTER_CLOSED)
            after = add_to_container(ps, v, &v);
        if (after == AFTER_ERROR)
            return NULL;
        if (after == AFTER_CLOSED)
            return v; /* nothing left open: the whole value */
    }
}

/* What went wrong, for the client: where (line and column) and why. */
static const char *parse_error_message(apr_pool_t *p, const parser *ps, apr_size_t len)
{
    int line = 1, column = 1;

    if (len == 0)
        return "request body is empty";
    if (!strcmp(ps->why, "nesting too deep"))
        return apr_psprintf(p, "JSON nests deeper than %d levels", TR_JV_MAX_DEPTH);
    for (const char *c = ps->text; c < ps->where; c++) {
        if (*c == '\n') {
            line++;
            column = 1;
        } else
            column++;
    }
    return apr_psprintf(p, "malformed JSON at line %d column %d: %s", line, column, ps->why);
}

static tr_jv *parse_text(apr_pool_t *p, const char *text, apr_size_t len, int whole,
                         aiproxy_error *err)
{
    parser ps;
    tr_jv *root;

    pthread_once(&string_class_once, string_class_init);
    memset(&ps, 0, sizeof(ps));
    ps.p = p;
    ps.text = ps.cur = text;
    ps.end = text + len;
    root = parse_value(&ps);
    if (root && whole) {
        skip_space(&ps);
        if (ps.cur < ps.end)
            root = fail(&ps, ps.cur, "end of input expected after the value");
    }
    free(ps.open);
    free(ps.items);
    free(ps.members);
    if (root)
        return root;

    tr_error_set(err, 400, parse_error_message(p, &ps, len));
    return NULL;
}

const char *tr_jv_scan_string(apr_pool_t *p, const char *text, const char *end, apr_size_t *len,
                              const char **next)
{
    parser ps;
    const char *s;

    pthread_once(&string_class_once, string_class_init);
    if (text >= end || *text != '"')
        return NULL;
    memset(&ps, 0, sizeof(ps));
    ps.p = p;
    ps.text = ps.cur = text;
    ps.end = end;
    s = parse_string(&ps, len);
    if (s)
        *next = ps.cur;
    return s;
}

tr_jv *tr_jv_parse(apr_pool_t *p, const char *text, apr_size_t len, aiproxy_error *err)
{
    return parse_text(p, text, len, 1, err);
}

tr_jv *tr_jv_parse_prefix(apr_pool_t *p, const char *text, apr_size_t len, aiproxy_error *err)
{
    return parse_text(p, text, len, 0, err);
}

/* ============================================================================================
 * writing
 * ============================================================================================ */

/* The shortest of %.15g, %.16g, %.17g that reads back as d, with a ".0" when it would
 * otherwise read as an integer. */
static int write_real(tr_buf *b, double d)
{
    char text[40];
    int n = 0;

    for (int precision = 15; precision <= 17; precision++) {
        n = snprintf(text, sizeof(text) - 2, "%.*g", precision, d);
        for (int i = 0; i < n; i++)
            if (text[i] == ',') /* a decimal comma from a foreign LC_NUMERIC */
                text[i] = '.';
        if (strtod_c(text, NULL) == d)
            break;
    }
    if (!strpbrk(text, ".eE")) {
        text[n++] = '.';
        text[n++] = '0';
    }
    return tr_buf_add(b, text, (apr_size_t) n);
}

int tr_jv_write(tr_buf *b, const tr_jv *v)
{
    int rc = 0;

    if (!v)
        return -1;
    switch (v->type) {
    case TR_JV_NULL:
        return tr_buf_add(b, "null", 4);
    case TR_JV_TRUE:
        return tr_buf_add(b, "true", 4);
    case TR_JV_FALSE:
        return tr_buf_add(b, "false", 5);
    case TR_JV_INTEGER:
        return tr_buf_json_int(b, v->u.i);
    case TR_JV_REAL:
        return v->u.real.text ? tr_buf_add(b, v->u.real.text, v->u.real.len)
                              : write_real(b, v->u.real.d);
    case TR_JV_STRING:
        return tr_buf_json_string(b, v->u.str.s, v->u.str.len);
    case TR_JV_ARRAY:
        rc = tr_buf_add(b, "[", 1);
        for (apr_size_t i = 0; i < v->u.arr.n && !rc; i++) {
            if (i)
                rc = tr_buf_add(b, ",", 1);
            rc = rc ? rc : tr_jv_write(b, v->u.arr.items[i]);
        }
        return rc ? rc : tr_buf_add(b, "]", 1);
    case TR_JV_OBJECT:
        rc = tr_buf_add(b, "{", 1);
        for (apr_size_t i = 0; i < v->u.obj.n && !rc; i++) {
            const tr_jv_member *m = &v->u.obj.members[i];
            if (i)
                rc = tr_buf_add(b, ",", 1);
            rc = rc ? rc : tr_buf_json_string(b, m->key, m->klen);
            rc = rc ? rc : tr_buf_add(b, ":", 1);
            rc = rc ? rc : tr_jv_write(b, m->value);
        }
        return rc ? rc : tr_buf_add(b, "}", 1);
    }
    return -1;
}

const char *tr_jv_dump(apr_pool_t *p, const tr_jv *v, apr_size_t *len)
{
    tr_buf *b;

    if (!v)
        return NULL;
    /* The buffer's memory is released with p, like the tree's. */
    b = tr_buf_make(p, 0);
    if (tr_buf_reserve(b, 1024) || tr_jv_write(b, v))
        return NULL;
    if (len)
        *len = b->len;
    return b->data;
}

/* ============================================================================================
 * making values
 * ============================================================================================ */

tr_jv *tr_jv_object(apr_pool_t *p)
{
    tr_jv *v = apr_pcalloc(p, sizeof(*v));
    v->type = TR_JV_OBJECT;
    v->u.obj.p = p;
    return v;
}

tr_jv *tr_jv_array(apr_pool_t *p)
{
    tr_jv *v = apr_pcalloc(p, sizeof(*v));
    v->type = TR_JV_ARRAY;
    v->u.arr.p = p;
    return v;
}

tr_jv *tr_jv_stringn(apr_pool_t *p, const char *s, apr_size_t len)
{
    return s ? string_value(p, apr_pstrmemdup(p, s, len), len) : NULL;
}

tr_jv *tr_jv_string(apr_pool_t *p, const char *s)
{
    return s ? string_value(p, s, strlen(s)) : NULL;
}

tr_jv *tr_jv_string_copy(apr_pool_t *p, const char *s)
{
    return s ? tr_jv_string(p, apr_pstrdup(p, s)) : NULL;
}

tr_jv *tr_jv_integer(apr_pool_t *p, long long i)
{
    tr_jv *v = new_value(p, TR_JV_INTEGER);
    v->u.i = i;
    return v;
}

tr_jv *tr_jv_real(apr_pool_t *p, double d)
{
    tr_jv *v;
    if (!isfinite(d)) /* JSON has no NaN or infinity */
        return NULL;
    v = new_value(p, TR_JV_REAL);
    v->u.real.d = d;
    v->u.real.text = NULL;
    return v;
}

double tr_jv_real_value(const tr_jv *v)
{
    if (!tr_jv_is_real(v))
        return 0;
    return v->u.real.text ? strtod_c(v->u.real.text, NULL) : v->u.real.d;
}

tr_jv *tr_jv_bool(int b)
{
    return b ? &jv_true : &jv_false;
}

tr_jv *tr_jv_null(void)
{
    return &jv_null;
}

tr_jv *tr_jv_copy(apr_pool_t *p, const tr_jv *v)
{
    tr_jv *c;

    if (!v)
        return NULL;
    switch (v->type) {
    case TR_JV_ARRAY:
        c = tr_jv_array(p);
        c->u.arr.n = c->u.arr.cap = v->u.arr.n;
        c->u.arr.items = v->u.arr.n ? apr_palloc(p, v->u.arr.n * sizeof(tr_jv *)) : NULL;
        for (apr_size_t i = 0; i < v->u.arr.n; i++)
            c->u.arr.items[i] = tr_jv_copy(p, v->u.arr.items[i]);
        return c;
    case TR_JV_OBJECT:
        c = tr_jv_object(p);
        c->u.obj.n = c->u.obj.cap = v->u.obj.n;
        c->u.obj.members = v->u.obj.n ? apr_palloc(p, v->u.obj.n * sizeof(tr_jv_member)) : NULL;
        for (apr_size_t i = 0; i < v->u.obj.n; i++) {
            c->u.obj.members[i] = v->u.obj.members[i];
            c->u.obj.members[i].value = tr_jv_copy(p, v->u.obj.members[i].value);
        }
        return c;
    case TR_JV_NULL:
    case TR_JV_TRUE:
    case TR_JV_FALSE:
        return (tr_jv *) v; /* shared constants */
    default:
        c = new_value(p, v->type);
        c->u = v->u;
        return c;
    }
}

/* ---- pack ------------------------------------------------------------------------------------ */

typedef struct {
    apr_pool_t *p;
    const char *f;
    va_list ap;
    int bad;
} packer;

static void pack_skip(packer *pk)
{
    while (*pk->f == ' ' || *pk->f == ',' || *pk->f == ':' || *pk->f == '\t')
        pk->f++;
}

/* One value; *omit set when a '*' modifier met NULL (the member is left out). */
static tr_jv *pack_value(packer *pk, int *omit)
{
    char c;
    tr_jv *v = NULL;

    *omit = 0;
    pack_skip(pk);
    c = *pk->f++;
    switch (c) {
    case '{': {
        tr_jv *obj = tr_jv_object(pk->p);
        for (;;) {
            const char *key;
            int skip;
            tr_jv *member;
            pack_skip(pk);
            if (*pk->f == '}') {
                pk->f++;
                return obj;
            }
            if (*pk->f++ != 's') {
                pk->bad = 1;
                return NULL;
            }
            key = va_arg(pk->ap, const char *);
            member = pack_value(pk, &skip);
            if (pk->bad)
                return NULL;
            if (!skip)
                tr_jv_set(obj, key, member);
        }
    }
    case '[': {
        tr_jv *arr = tr_jv_array(pk->p);
        for (;;) {
            int skip;
            tr_jv *item;
            pack_skip(pk);
            if (*pk->f == ']') {
                pk->f++;
                return arr;
            }
            item = pack_value(pk, &skip);
            if (pk->bad)
                return NULL;
            if (!skip)
                tr_jv_push(arr, item);
        }
    }
    case 's':
        v = tr_jv_string(pk->p, va_arg(pk->ap, const char *));
        break;
    case 'o':
    case 'O':
        v = va_arg(pk->ap, tr_jv *);
        break;
    case 'n':
        return tr_jv_null();
    case 'b':
        return tr_jv_bool(va_arg(pk->ap, int));
    case 'i':
        return tr_jv_integer(pk->p, va_arg(pk->ap, int));
    case 'I':
        return tr_jv_integer(pk->p, va_arg(pk->ap, long long));
    case 'f':
        return tr_jv_real(pk->p, va_arg(pk->ap, double));
    default:
        pk->bad = 1;
        return NULL;
    }
    /* s and o take a modifier for NULL: '?' null, '*' left out; none: a NULL is a bug. */
    if (*pk->f == '?') {
        pk->f++;
        return v ? v : tr_jv_null();
    }
    if (*pk->f == '*') {
        pk->f++;
        *omit = !v;
        return v;
    }
    if (!v)
        pk->bad = 1;
    return v;
}

tr_jv *tr_jv_pack(apr_pool_t *p, const char *fmt, ...)
{
    packer pk = {.p = p, .f = fmt, .bad = 0};
    int omit;
    tr_jv *v;

    va_start(pk.ap, fmt);
    v = pack_value(&pk, &omit);
    va_end(pk.ap);
    return pk.bad ? NULL : v;
}

/* ============================================================================================
 * reading and changing
 * ============================================================================================ */

int tr_jv_equal(const tr_jv *a, const tr_jv *b)
{
    if (a == b)
        return 1;
    if (!a || !b || a->type != b->type)
        return 0;
    switch (a->type) {
    case TR_JV_INTEGER:
        return a->u.i == b->u.i;
    case TR_JV_REAL:
        return tr_jv_real_value(a) == tr_jv_real_value(b);
    case TR_JV_STRING:
        return a->u.str.len == b->u.str.len && !memcmp(a->u.str.s, b->u.str.s, a->u.str.len);
    case TR_JV_ARRAY:
        if (a->u.arr.n != b->u.arr.n)
            return 0;
        for (apr_size_t i = 0; i < a->u.arr.n; i++)
            if (!tr_jv_equal(a->u.arr.items[i], b->u.arr.items[i]))
                return 0;
        return 1;
    case TR_JV_OBJECT:
        if (a->u.obj.n != b->u.obj.n)
            return 0;
        for (apr_size_t i = 0; i < a->u.obj.n; i++)
            if (!tr_jv_equal(a->u.obj.members[i].value, tr_jv_get(b, a->u.obj.members[i].key)))
                return 0;
        return 1;
    default:
        return 1; /* null, true, false */
    }
}

static tr_jv_member *find_member(const tr_jv *obj, const char *key, apr_size_t klen)
{
    if (!tr_jv_is_object(obj) || !key)
        return NULL;
    for (apr_size_t i = 0; i < obj->u.obj.n; i++) {
        tr_jv_member *m = &obj->u.obj.members[i];
        if (m->klen == klen && m->key[0] == key[0] && !memcmp(m->key, key, klen))
            return m;
    }
    return NULL;
}

tr_jv *tr_jv_get(const tr_jv *obj, const char *key)
{
    tr_jv_member *m = key ? find_member(obj, key, strlen(key)) : NULL;
    return m ? m->value : NULL;
}

const char *tr_jv_get_str(const tr_jv *obj, const char *key)
{
    return tr_jv_str_value(tr_jv_get(obj, key));
}

tr_jv *tr_jv_get_object(const tr_jv *obj, const char *key)
{
    tr_jv *v = tr_jv_get(obj, key);
    return tr_jv_is_object(v) ? v : NULL;
}

tr_jv *tr_jv_get_array(const tr_jv *obj, const char *key)
{
    tr_jv *v = tr_jv_get(obj, key);
    return tr_jv_is_array(v) ? v : NULL;
}

int tr_jv_get_bool(const tr_jv *obj, const char *key, int dflt)
{
    tr_jv *v = tr_jv_get(obj, key);
    return tr_jv_is_bool(v) ? tr_jv_is_true(v) : dflt;
}

int tr_jv_get_int(const tr_jv *obj, const char *key, long long *out)
{
    tr_jv *v = tr_jv_get(obj, key);
    if (tr_jv_is_integer(v)) {
        *out = v->u.i;
        return 1;
    }
    /* A real past long long's range (1e25) has no integer value: converting it would be
     * undefined behaviour, so it counts as absent. */
    if (tr_jv_is_real(v)) {
        double d = tr_jv_real_value(v);
        if (d >= (double) LLONG_MIN && d < -(double) LLONG_MIN) {
            *out = (long long) d;
            return 1;
        }
    }
    return 0;
}

int tr_jv_get_real(const tr_jv *obj, const char *key, double *out)
{
    tr_jv *v = tr_jv_get(obj, key);
    if (!tr_jv_is_number(v))
        return 0;
    *out = tr_jv_number_value(v);
    return 1;
}

void tr_jv_set(tr_jv *obj, const char *key, tr_jv *value)
{
    apr_size_t klen;
    tr_jv_member *m;

    if (!tr_jv_is_object(obj) || !key || !value)
        return;
    klen = strlen(key);
    m = find_member(obj, key, klen);
    if (m) {
        m->value = value;
        return;
    }
    if (obj->u.obj.n == obj->u.obj.cap) {
        apr_size_t cap = obj->u.obj.cap ? obj->u.obj.cap * 2 : 8;
        tr_jv_member *grown = apr_palloc(obj->u.obj.p, cap * sizeof(*grown));
        if (obj->u.obj.n)
            memcpy(grown, obj->u.obj.members, obj->u.obj.n * sizeof(*grown));
        obj->u.obj.members = grown;
        obj->u.obj.cap = cap;
    }
    m = &obj->u.obj.members[obj->u.obj.n++];
    m->key = key;
    m->klen = klen;
    m->value = value;
}

void tr_jv_set_str(tr_jv *obj, const char *key, const char *s)
{
    if (s && tr_jv_is_object(obj))
        tr_jv_set(obj, key, tr_jv_string(obj->u.obj.p, s));
}

void tr_jv_set_int(tr_jv *obj, const char *key, long long i)
{
    if (tr_jv_is_object(obj))
        tr_jv_set(obj, key, tr_jv_integer(obj->u.obj.p, i));
}

void tr_jv_set_real(tr_jv *obj, const char *key, double d)
{
    if (tr_jv_is_object(obj))
        tr_jv_set(obj, key, tr_jv_real(obj->u.obj.p, d));
}

void tr_jv_set_bool(tr_jv *obj, const char *key, int b)
{
    tr_jv_set(obj, key, tr_jv_bool(b));
}

tr_jv *tr_jv_set_object(tr_jv *obj, const char *key)
{
    tr_jv *v;
    if (!tr_jv_is_object(obj))
        return NULL;
    v = tr_jv_object(obj->u.obj.p);
    tr_jv_set(obj, key, v);
    return v;
}

tr_jv *tr_jv_set_array(tr_jv *obj, const char *key)
{
    tr_jv *v;
    if (!tr_jv_is_object(obj))
        return NULL;
    v = tr_jv_array(obj->u.obj.p);
    tr_jv_set(obj, key, v);
    return v;
}

int tr_jv_del(tr_jv *obj, const char *key)
{
    tr_jv_member *m = key ? find_member(obj, key, strlen(key)) : NULL;
    tr_jv_member *end;

    if (!m)
        return 0;
    end = obj->u.obj.members + obj->u.obj.n;
    memmove(m, m + 1, (apr_size_t) (end - (m + 1)) * sizeof(*m));
    obj->u.obj.n--;
    return 1;
}

void tr_jv_update_missing(tr_jv *obj, const tr_jv *other)
{
    if (!tr_jv_is_object(obj) || !tr_jv_is_object(other))
        return;
    for (apr_size_t i = 0; i < other->u.obj.n; i++) {
        const tr_jv_member *m = &other->u.obj.members[i];
        if (!find_member(obj, m->key, m->klen))
            tr_jv_set(obj, m->key, m->value);
    }
}

const char *tr_jv_first_key(const tr_jv *obj)
{
    return tr_jv_is_object(obj) && obj->u.obj.n ? obj->u.obj.members[0].key : NULL;
}

tr_jv *tr_jv_at(const tr_jv *arr, apr_size_t i)
{
    return tr_jv_is_array(arr) && i < arr->u.arr.n ? arr->u.arr.items[i] : NULL;
}

void tr_jv_push(tr_jv *arr, tr_jv *value)
{
    if (!tr_jv_is_array(arr) || !value)
        return;
    if (arr->u.arr.n == arr->u.arr.cap) {
        apr_size_t cap = arr->u.arr.cap ? arr->u.arr.cap * 2 : 8;
        tr_jv **grown = apr_palloc(arr->u.arr.p, cap * sizeof(*grown));
        if (arr->u.arr.n)
            memcpy(grown, arr->u.arr.items, arr->u.arr.n * sizeof(*grown));
        arr->u.arr.items = grown;
        arr->u.arr.cap = cap;
    }
    arr->u.arr.items[arr->u.arr.n++] = value;
}

void tr_jv_push_str(tr_jv *arr, const char *s)
{
    if (s && tr_jv_is_array(arr))
        tr_jv_push(arr, tr_jv_string(arr->u.arr.p, s));
}

tr_jv *tr_jv_push_object(tr_jv *arr)
{
    tr_jv *v;
    if (!tr_jv_is_array(arr))
        return NULL;
    v = tr_jv_object(arr->u.arr.p);
    tr_jv_push(arr, v);
    return v;
}

tr_jv *tr_jv_push_array(tr_jv *arr)
{
    tr_jv *v;
    if (!tr_jv_is_array(arr))
        return NULL;
    v = tr_jv_array(arr->u.arr.p);
    tr_jv_push(arr, v);
    return v;
}

void tr_jv_remove(tr_jv *arr, apr_size_t i)
{
    if (!tr_jv_is_array(arr) || i >= arr->u.arr.n)
        return;
    memmove(arr->u.arr.items + i, arr->u.arr.items + i + 1,
            (arr->u.arr.n - i - 1) * sizeof(tr_jv *));
    arr->u.arr.n--;
}

void tr_jv_extend(tr_jv *arr, const tr_jv *other)
{
    if (!tr_jv_is_array(arr) || !tr_jv_is_array(other))
        return;
    /* other may be arr itself: take its count first */
    for (apr_size_t i = 0, n = other->u.arr.n; i < n; i++)
        tr_jv_push(arr, other->u.arr.items[i]);
}
