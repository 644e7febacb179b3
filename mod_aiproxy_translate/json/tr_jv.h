/*
 * json/tr_jv.h: the translate core's JSON values, allocated from an APR pool.
 *
 * Why not jansson: translating a 4 KB request spent 77 % of its time in jansson (a lexer
 * that reads one character per call, a malloc per value, a hash table per object, reference
 * counts to release). Here a tree is a few pool allocations: nothing is freed one by one and
 * nothing is counted, the pool that owns the tree releases it.
 *
 * Rules every user relies on:
 * - A value lives as long as the pool it was made from. Containers remember their pool and
 *   put new members there, so setters take no pool argument.
 * - Strings are not copied by tr_jv_string() and the setters: pass literals, strings of the
 *   parsed tree, or strings from a pool that lives as long as the tree. tr_jv_string_copy()
 *   copies (stack buffers, shorter-lived pools).
 * - Object keys are not copied either (same rule). Objects keep insertion order; setting an
 *   existing key replaces its value in place (jansson's behaviour, so output order is stable).
 * - Every function is NULL-safe: a NULL or wrong-typed container reads as absent/empty and a
 *   setter given a NULL value does nothing. Values may be shared between trees (no owner),
 *   so change a value only in the tree that built it; tr_jv_copy() when in doubt.
 * - tr_jv_null(), tr_jv_bool() return shared constants: never change them (they are not
 *   containers, so no setter can).
 * - Parsed strings are valid UTF-8 (the parser rejects anything else) and may contain NUL
 *   (\u0000): use tr_jv_str_len() where that matters. Constructed strings are written as given.
 */
#ifndef TR_JV_H
#define TR_JV_H

#include "apr_pools.h"
#include "aiproxy_translate.h"
#include "json/tr_buf.h"

/* Deepest nesting accepted from clients and upstreams. */
#define TR_JV_MAX_DEPTH 128

typedef enum {
    TR_JV_NULL = 0,
    TR_JV_FALSE,
    TR_JV_TRUE,
    TR_JV_INTEGER,
    TR_JV_REAL,
    TR_JV_STRING,
    TR_JV_ARRAY,
    TR_JV_OBJECT
} tr_jv_type;

typedef struct tr_jv tr_jv;

typedef struct {
    const char *key; /* NUL-terminated */
    apr_size_t klen;
    tr_jv *value;
} tr_jv_member;

struct tr_jv {
    tr_jv_type type;
    union {
        long long i;
        /* A real keeps the JSON text it was read from and is converted when read (strtod is
         * 1.3 KiB of stack, at a stream's deepest point: common/aip_frame.h), and written back
         * as it came; tr_jv_real() makes one from a value. */
        struct {
            double d;         /* the value, when text is NULL */
            const char *text; /* NUL-terminated, or NULL */
            apr_size_t len;
        } real;
        struct {
            const char *s; /* NUL-terminated */
            apr_size_t len;
        } str;
        struct {
            apr_pool_t *p;
            apr_size_t n, cap;
            tr_jv **items;
        } arr;
        struct {
            apr_pool_t *p;
            apr_size_t n, cap;
            tr_jv_member *members;
        } obj;
    } u;
};

/* ---- text ----------------------------------------------------------------------------------- */

/* Parse exactly one JSON value (surrounding whitespace allowed) into pool p. NULL with a 400
 * in *err ("malformed JSON at line L column C: <why>") for invalid JSON, invalid UTF-8,
 * nesting deeper than TR_JV_MAX_DEPTH, integers outside long long, reals outside double. A
 * key that repeats keeps its first position and its last value. */
tr_jv *tr_jv_parse(apr_pool_t *p, const char *text, apr_size_t len, aiproxy_error *err);
/* The same for the one value text starts with; whatever follows it is not looked at. */
tr_jv *tr_jv_parse_prefix(apr_pool_t *p, const char *text, apr_size_t len, aiproxy_error *err);
/* One JSON string whose opening quote is at text (text < end): its decoded value as a
 * NUL-terminated copy in p, *len its length (it may hold NULs from \u0000), *next just past
 * the closing quote. NULL when no valid string starts there (same rules as the parser). For
 * scanners that read a few members without building a tree (codec/tr_fast_scan.c). */
const char *tr_jv_scan_string(apr_pool_t *p, const char *text, const char *end, apr_size_t *len,
                              const char **next);
/* Compact JSON text, NUL-terminated, released with pool p; *len (optional) gets its length.
 * NULL for a NULL value (or when memory runs out). Reals are written in the shortest form
 * that reads back as the same double; strings escaped as tr_buf_json_string(). */
const char *tr_jv_dump(apr_pool_t *p, const tr_jv *v, apr_size_t *len);
/* Append v's compact text to b (an encoder's output buffer). 0, or -1 for a NULL value or
 * when b's cap or memory refused it. */
int tr_jv_write(tr_buf *b, const tr_jv *v);

/* ---- making values -------------------------------------------------------------------------- */

tr_jv *tr_jv_object(apr_pool_t *p);
tr_jv *tr_jv_array(apr_pool_t *p);
tr_jv *tr_jv_string(apr_pool_t *p, const char *s);                  /* not copied; NULL -> NULL */
tr_jv *tr_jv_stringn(apr_pool_t *p, const char *s, apr_size_t len); /* copied (a slice) */
tr_jv *tr_jv_string_copy(apr_pool_t *p, const char *s);             /* NULL -> NULL */
tr_jv *tr_jv_integer(apr_pool_t *p, long long i);
tr_jv *tr_jv_real(apr_pool_t *p, double d);
tr_jv *tr_jv_bool(int b);
tr_jv *tr_jv_null(void);
/* Deep copy of the containers into p (strings are immutable and shared). NULL -> NULL. */
tr_jv *tr_jv_copy(apr_pool_t *p, const tr_jv *v);

/* Build a value from a format, a subset of jansson's json_pack():
 *   {} object, [] array, "s" string (not copied), "s?" string or null when NULL, "s*" string,
 *   member left out when NULL, "o"/"O" a tr_jv * (both the same: nothing is counted), "o?"
 *   null when NULL, "o*" left out when NULL, "n" null, "b" int as boolean, "i" int,
 *   "I" long long, "f" double. Object keys are "s". Commas, colons and spaces are ignored.
 * A format error, or NULL for a plain "s"/"o", returns NULL (as json_pack does). */
tr_jv *tr_jv_pack(apr_pool_t *p, const char *fmt, ...);

/* ---- type tests and scalar reads (NULL-safe) ------------------------------------------------ */

static inline tr_jv_type tr_jv_typeof(const tr_jv *v)
{
    return v ? v->type : TR_JV_NULL;
}
static inline int tr_jv_is_object(const tr_jv *v)
{
    return v && v->type == TR_JV_OBJECT;
}
static inline int tr_jv_is_array(const tr_jv *v)
{
    return v && v->type == TR_JV_ARRAY;
}
static inline int tr_jv_is_string(const tr_jv *v)
{
    return v && v->type == TR_JV_STRING;
}
static inline int tr_jv_is_integer(const tr_jv *v)
{
    return v && v->type == TR_JV_INTEGER;
}
static inline int tr_jv_is_real(const tr_jv *v)
{
    return v && v->type == TR_JV_REAL;
}
static inline int tr_jv_is_number(const tr_jv *v)
{
    return v && (v->type == TR_JV_INTEGER || v->type == TR_JV_REAL);
}
static inline int tr_jv_is_bool(const tr_jv *v)
{
    return v && (v->type == TR_JV_TRUE || v->type == TR_JV_FALSE);
}
static inline int tr_jv_is_true(const tr_jv *v)
{
    return v && v->type == TR_JV_TRUE;
}
/* A JSON null (not a missing value: tr_jv_is_null(NULL) is 0, as json_is_null). */
static inline int tr_jv_is_null(const tr_jv *v)
{
    return v && v->type == TR_JV_NULL;
}

/* The string (NULL unless a string) and its length in bytes (0 unless a string). */
static inline const char *tr_jv_str_value(const tr_jv *v)
{
    return tr_jv_is_string(v) ? v->u.str.s : NULL;
}
static inline apr_size_t tr_jv_str_len(const tr_jv *v)
{
    return tr_jv_is_string(v) ? v->u.str.len : 0;
}
/* 0 unless an integer. */
static inline long long tr_jv_int_value(const tr_jv *v)
{
    return tr_jv_is_integer(v) ? v->u.i : 0;
}
/* A real's value; 0 unless a real. */
double tr_jv_real_value(const tr_jv *v);
/* Integer or real as a double; 0 for anything else. */
static inline double tr_jv_number_value(const tr_jv *v)
{
    return !v                         ? 0
           : v->type == TR_JV_REAL    ? tr_jv_real_value(v)
           : v->type == TR_JV_INTEGER ? (double) v->u.i
                                      : 0;
}
/* Members of an object or items of an array; 0 for anything else. */
static inline apr_size_t tr_jv_size(const tr_jv *v)
{
    return !v ? 0 : v->type == TR_JV_ARRAY ? v->u.arr.n : v->type == TR_JV_OBJECT ? v->u.obj.n : 0;
}
/* Structural equality (object member order does not matter; 1 == 1.0 is not equal, as in
 * jansson). */
int tr_jv_equal(const tr_jv *a, const tr_jv *b);

/* ---- objects -------------------------------------------------------------------------------- */

tr_jv *tr_jv_get(const tr_jv *obj, const char *key);
/* Typed gets: NULL/0 when missing or of another type. */
const char *tr_jv_get_str(const tr_jv *obj, const char *key);
tr_jv *tr_jv_get_object(const tr_jv *obj, const char *key);
tr_jv *tr_jv_get_array(const tr_jv *obj, const char *key);
/* 1 if key holds true, 0 if false, dflt when missing or not a boolean. */
int tr_jv_get_bool(const tr_jv *obj, const char *key, int dflt);
/* Integer value of key into *out (a real in long long's range is truncated); 1 when present
 * and a number. */
int tr_jv_get_int(const tr_jv *obj, const char *key, long long *out);
int tr_jv_get_real(const tr_jv *obj, const char *key, double *out);

/* Set key (not copied) to value, replacing an existing value in place. No-op when obj is not
 * an object or value is NULL. */
void tr_jv_set(tr_jv *obj, const char *key, tr_jv *value);
void tr_jv_set_str(tr_jv *obj, const char *key, const char *s); /* no-op for NULL s */
void tr_jv_set_int(tr_jv *obj, const char *key, long long i);
void tr_jv_set_real(tr_jv *obj, const char *key, double d);
void tr_jv_set_bool(tr_jv *obj, const char *key, int b);
tr_jv *tr_jv_set_object(tr_jv *obj, const char *key); /* new {} at key; NULL if obj is not one */
tr_jv *tr_jv_set_array(tr_jv *obj, const char *key);  /* new [] at key */
/* Remove key; 1 when it was there. */
int tr_jv_del(tr_jv *obj, const char *key);
/* Set every key of other that obj lacks (values shared, not copied). */
void tr_jv_update_missing(tr_jv *obj, const tr_jv *other);
/* Key of the first member, or NULL. */
const char *tr_jv_first_key(const tr_jv *obj);

/* The loops below evaluate their container argument once (it is often a lookup); the hidden
 * variable is named after the line so that nested loops do not shadow each other. */
#define TR_JV_CAT_(a, b) a##b
#define TR_JV_CAT(a, b)  TR_JV_CAT_(a, b)
#define TR_JV_LOOP_VAR   TR_JV_CAT(tr_jv_loop_, __LINE__)

/* for each member: apr_size_t i; const char *key; tr_jv *value. Empty for a non-object. */
#define tr_jv_object_foreach(o_, i_, k_, v_)                                                       \
    for (const tr_jv *TR_JV_LOOP_VAR = ((i_) = 0, (o_));                                           \
         tr_jv_is_object(TR_JV_LOOP_VAR) && (i_) < TR_JV_LOOP_VAR->u.obj.n &&                      \
         ((k_) = TR_JV_LOOP_VAR->u.obj.members[i_].key,                                            \
         (v_) = TR_JV_LOOP_VAR->u.obj.members[i_].value, 1);                                       \
         (i_)++)

/* ---- arrays --------------------------------------------------------------------------------- */

tr_jv *tr_jv_at(const tr_jv *arr, apr_size_t i); /* NULL when out of range */
void tr_jv_push(tr_jv *arr, tr_jv *value);       /* no-op when arr is not an array or !value */
void tr_jv_push_str(tr_jv *arr, const char *s);  /* no-op for NULL s */
tr_jv *tr_jv_push_object(tr_jv *arr);            /* new {} appended; NULL if arr is not one */
tr_jv *tr_jv_push_array(tr_jv *arr);
void tr_jv_remove(tr_jv *arr, apr_size_t i); /* no-op when out of range */
void tr_jv_extend(tr_jv *arr, const tr_jv *other);

/* for each item: apr_size_t i; tr_jv *value. Empty for a non-array. */
#define tr_jv_array_foreach(a_, i_, v_)                                                            \
    for (const tr_jv *TR_JV_LOOP_VAR = ((i_) = 0, (a_));                                           \
         tr_jv_is_array(TR_JV_LOOP_VAR) && (i_) < TR_JV_LOOP_VAR->u.arr.n &&                       \
         ((v_) = TR_JV_LOOP_VAR->u.arr.items[i_], 1);                                              \
         (i_)++)

#endif /* TR_JV_H */
