/* codec/gemini_partial_args.c: see codec/gemini_partial_args.h. */
#include <string.h>
#include "apr_strings.h"
#include "codec/gemini_partial_args.h"

/* One step of a jsonPath: a member name or an array index. */
typedef struct {
    const char *key; /* NULL for an index */
    apr_size_t klen;
    long index;
} path_step;

/* An open container and its current (last started) member. */
typedef struct {
    int is_array;
    long count;      /* members or items started */
    int child_open;  /* the current member is an open container: the next frame */
    const char *key; /* objects: the current member's name (in the assembler's pool) */
    apr_size_t klen;
} frame;

struct tr_partial_args {
    apr_pool_t *pool; /* member names of the current call; cleared when it ends */
    frame frames[TR_PARTIAL_ARGS_MAX_DEPTH];
    int depth;       /* open containers; 0 before the call's first assignment */
    int string_open; /* the top frame's current member is a string still being written */
    apr_size_t written, max;
    int dropped;
};

tr_partial_args *tr_partial_args_create(apr_pool_t *p, apr_size_t max)
{
    tr_partial_args *a = apr_pcalloc(p, sizeof(*a));

    apr_pool_create(&a->pool, p);
    a->max = max;
    return a;
}

int tr_partial_args_dropped(const tr_partial_args *a)
{
    return a->dropped;
}

/* ---- reading a jsonPath (the RFC 9535 subset that names one value) ---------------------- */

static int hex_digit(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Four hex digits at s. */
static int hex_value(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int d = hex_digit(s[i]);
        if (d < 0)
            return -1;
        v = v * 16 + (unsigned) d;
    }
    *out = v;
    return 0;
}

static apr_size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80)
        return o[0] = (char) cp, 1;
    if (cp < 0x800)
        return o[0] = (char) (0xC0 | cp >> 6), o[1] = (char) (0x80 | (cp & 0x3F)), 2;
    if (cp < 0x10000)
        return o[0] = (char) (0xE0 | cp >> 12), o[1] = (char) (0x80 | ((cp >> 6) & 0x3F)),
               o[2] = (char) (0x80 | (cp & 0x3F)), 3;
    return o[0] = (char) (0xF0 | cp >> 18), o[1] = (char) (0x80 | ((cp >> 12) & 0x3F)),
           o[2] = (char) (0x80 | ((cp >> 6) & 0x3F)), o[3] = (char) (0x80 | (cp & 0x3F)), 4;
}

/* The escape at s (just past the backslash) -> bytes at o; its source length, 0 if invalid. */
static apr_size_t read_escape(const char *s, const char *end, char *o, apr_size_t *olen)
{
    static const char from[] = "bfnrt/\\'\"", to[] = "\b\f\n\r\t/\\'\"";
    const char *hit = s < end && *s ? strchr(from, *s) : NULL;
    unsigned cp, lo;

    if (hit) {
        *o = to[hit - from];
        *olen = 1;
        return 1;
    }
    if (end - s < 5 || *s != 'u' || hex_value(s + 1, &cp))
        return 0;
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return 0; /* a lone low surrogate */
    if (cp < 0xD800 || cp > 0xDBFF) {
        *olen = put_utf8(o, cp);
        return 5;
    }
    if (end - s < 11 || s[5] != '\\' || s[6] != 'u' || hex_value(s + 7, &lo) || lo < 0xDC00 ||
        lo > 0xDFFF)
        return 0;
    *olen = put_utf8(o, 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00));
    return 11;
}

/* ['name'] or ["name"]: s at the quote; the decoded name in p; s past the closing quote. */
static int read_quoted_name(apr_pool_t *p, const char **s, const char *end, path_step *step)
{
    char quote = **s, *name = apr_palloc(p, (apr_size_t) (end - *s) + 1);
    const char *at = *s + 1;
    apr_size_t n = 0, used, olen;

    while (at < end && *at != quote) {
        if (*at != '\\') {
            name[n++] = *at++;
            continue;
        }
        if (!(used = read_escape(at + 1, end, name + n, &olen)))
            return -1;
        n += olen;
        at += 1 + used;
    }
    if (at >= end)
        return -1;
    name[n] = '\0';
    step->key = name;
    step->klen = n;
    *s = at + 1;
    return 0;
}

/* [N]: a non-negative index without leading zeros. */
static int read_index(const char **s, const char *end, path_step *step)
{
    const char *at = *s;
    long v = 0;

    if (at >= end || *at < '0' || *at > '9' || (*at == '0' && at + 1 < end && at[1] != ']'))
        return -1;
    for (; at < end && *at >= '0' && *at <= '9'; at++) {
        if (v > 100000000L)
            return -1; /* no real array is that long; keeps the arithmetic small */
        v = v * 10 + (*at - '0');
    }
    step->key = NULL;
    step->index = v;
    *s = at;
    return 0;
}

/* .name: letters, digits, '_' and non-ASCII bytes, not starting with a digit. */
static int read_shorthand_name(const char **s, const char *end, path_step *step)
{
    const char *at = *s;

    while (at < end && ((*at >= 'a' && *at <= 'z') || (*at >= 'A' && *at <= 'Z') ||
                        (*at >= '0' && *at <= '9') || *at == '_' || (unsigned char) *at >= 0x80))
        at++;
    if (at == *s || (**s >= '0' && **s <= '9'))
        return -1;
    step->key = *s;
    step->klen = (apr_size_t) (at - *s);
    *s = at;
    return 0;
}

/* The steps of path into steps[] (at most max); their count, or -1 for a path that does not
 * name exactly one member below the root. Names point into path or into p. */
static int read_path(apr_pool_t *p, const char *path, apr_size_t len, path_step *steps, int max)
{
    const char *s = path, *end = path + len;
    int n = 0;

    if (!path || s >= end || *s++ != '$')
        return -1;
    while (s < end) {
        int bad;
        if (n == max)
            return -1;
        if (*s == '.') {
            s++;
            bad = read_shorthand_name(&s, end, &steps[n]);
        } else if (*s == '[' && s + 1 < end) {
            s++;
            bad = (*s == '\'' || *s == '"') ? read_quoted_name(p, &s, end, &steps[n])
                                            : read_index(&s, end, &steps[n]);
            bad = bad || s >= end || *s++ != ']';
        } else
            bad = 1;
        if (bad)
            return -1;
        n++;
    }
    return n ? n : -1;
}

/* ---- writing ------------------------------------------------------------------------------ */

static int is_current(const frame *f, const path_step *step)
{
    if (f->count == 0 || f->is_array != !step->key)
        return 0;
    return f->is_array ? step->index == f->count - 1
                       : f->klen == step->klen && !memcmp(f->key, step->key, step->klen);
}

/* The JSON text of a string without its quotes: continuation pieces of one value. */
static void add_string_body(tr_buf *out, const char *s, apr_size_t n)
{
    apr_size_t at = out->len;

    if (tr_buf_json_string(out, s, n))
        return;
    memmove(out->data + at, out->data + at + 1, out->len - at - 2);
    out->len -= 2;
    out->data[out->len] = '\0';
}

static void close_string(tr_partial_args *a, tr_buf *out)
{
    if (a->string_open)
        tr_buf_adds(out, "\"");
    a->string_open = 0;
}

/* Close the containers above level keep. */
static void close_to(tr_partial_args *a, int keep, tr_buf *out)
{
    close_string(a, out);
    while (a->depth > keep + 1) {
        a->depth--;
        tr_buf_adds(out, a->frames[a->depth].is_array ? "]" : "}");
    }
    a->frames[keep].child_open = 0;
}

/* Start the next member of frame f: the comma, and the name for an object. */
static void start_member(tr_partial_args *a, frame *f, const path_step *step, tr_buf *out)
{
    if (f->count++)
        tr_buf_adds(out, ",");
    if (f->is_array)
        return;
    tr_buf_json_string(out, step->key, step->klen);
    tr_buf_adds(out, ":");
    f->key = apr_pstrmemdup(a->pool, step->key, step->klen);
    f->klen = step->klen;
}

static void open_container(tr_partial_args *a, int is_array, tr_buf *out)
{
    frame *f = &a->frames[a->depth++];

    memset(f, 0, sizeof(*f));
    f->is_array = is_array;
    a->frames[a->depth - 2].child_open = 1;
    tr_buf_adds(out, is_array ? "[" : "{");
}

/* The value's text. A number that is not a JSON number (protobuf writes NaN and Infinity as
 * strings) becomes null. */
static void write_value(tr_partial_args *a, const tr_jv *arg, tr_buf *out)
{
    tr_jv *v;

    if (tr_jv_is_string(v = tr_jv_get(arg, "stringValue"))) {
        tr_buf_json_string(out, tr_jv_str_value(v), tr_jv_str_len(v));
        if (tr_jv_get_bool(arg, "willContinue", 0) && !out->over) {
            out->len--; /* the closing quote comes with the last piece */
            out->data[out->len] = '\0';
            a->string_open = 1;
        }
    } else if ((v = tr_jv_get(arg, "numberValue")) && tr_jv_is_number(v))
        tr_jv_write(out, v);
    else if (tr_jv_is_bool(v = tr_jv_get(arg, "boolValue")))
        tr_buf_adds(out, tr_jv_is_true(v) ? "true" : "false");
    else
        tr_buf_adds(out, "null"); /* nullValue, or a numberValue that is no number */
}

static int has_value(const tr_jv *arg)
{
    return tr_jv_is_string(tr_jv_get(arg, "stringValue")) || tr_jv_get(arg, "numberValue") ||
           tr_jv_is_bool(tr_jv_get(arg, "boolValue")) || tr_jv_get(arg, "nullValue");
}

/* Where an assignment to steps[0..n) attaches: the deepest open container on its path. -1
 * when it would break the front-to-back order (see the header). */
static int attach_level(const tr_partial_args *a, const path_step *steps, int n)
{
    int k = 0;
    const frame *f;

    while (k < n - 1 && k + 1 < a->depth && is_current(&a->frames[k], &steps[k]) &&
           a->frames[k].child_open)
        k++;
    f = &a->frames[k];
    if (f->is_array != !steps[k].key || (f->is_array && steps[k].index != f->count))
        return -1; /* wrong container kind, or not the next item */
    if (is_current(f, &steps[k]) && f->child_open)
        return -1; /* a second value for an open container */
    for (int j = k + 1; j < n; j++)
        if (!steps[j].key && steps[j].index != 0)
            return -1; /* a new array starts at item 0 */
    return k;
}

/* The assignment goes on with the string being written: same path, every step the current
 * member of its container. */
static int continues_string(const tr_partial_args *a, const path_step *steps, int n)
{
    if (!a->string_open || n != a->depth)
        return 0;
    for (int j = 0; j < n; j++)
        if (!is_current(&a->frames[j], &steps[j]))
            return 0;
    return 1;
}

static void apply_one(tr_partial_args *a, apr_pool_t *scratch, const tr_jv *arg, tr_buf *out)
{
    path_step steps[TR_PARTIAL_ARGS_MAX_DEPTH - 1];
    tr_jv *path = tr_jv_get(arg, "jsonPath"), *piece = tr_jv_get(arg, "stringValue");
    int n = read_path(scratch, tr_jv_str_value(path), tr_jv_str_len(path), steps,
                      TR_PARTIAL_ARGS_MAX_DEPTH - 1);
    int k;

    if (n < 0 || !has_value(arg) || a->written > a->max) {
        a->dropped++;
        return;
    }
    if (tr_jv_is_string(piece) && continues_string(a, steps, n)) {
        add_string_body(out, tr_jv_str_value(piece), tr_jv_str_len(piece));
        if (!tr_jv_get_bool(arg, "willContinue", 0))
            close_string(a, out);
        return;
    }
    if (!a->depth) {
        a->depth = 1;
        memset(&a->frames[0], 0, sizeof(a->frames[0]));
        tr_buf_adds(out, "{");
    }
    if ((k = attach_level(a, steps, n)) < 0) {
        a->dropped++;
        return;
    }
    close_to(a, k, out);
    start_member(a, &a->frames[k], &steps[k], out);
    for (int j = k + 1; j < n; j++) {
        open_container(a, !steps[j].key, out);
        start_member(a, &a->frames[a->depth - 1], &steps[j], out);
    }
    write_value(a, arg, out);
}

void tr_partial_args_apply(tr_partial_args *a, apr_pool_t *scratch, const tr_jv *partial_args,
                           tr_buf *out)
{
    apr_size_t before = out->len;
    tr_jv *arg;
    apr_size_t i;

    tr_jv_array_foreach(partial_args, i, arg)
    {
        apply_one(a, scratch, arg, out);
    }
    a->written += out->len - before;
}

void tr_partial_args_finish(tr_partial_args *a, tr_buf *out)
{
    if (!a->depth)
        tr_buf_adds(out, "{}");
    else {
        close_to(a, 0, out);
        tr_buf_adds(out, "}");
    }
    a->depth = 0;
    a->string_open = 0;
    a->written = 0;
    a->dropped = 0;
    apr_pool_clear(a->pool);
}
