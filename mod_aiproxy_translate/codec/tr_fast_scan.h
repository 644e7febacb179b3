/*
 * codec/tr_fast_scan.h: a strict scanner for the few stream event shapes that dominate upstream
 * streams (plain text deltas), so the decoders can skip building a tree (tr_jv) for them.
 *
 * A decoder declares the shape it accepts as tables of members; tr_fast_scan() fills one slot
 * per declared member, or answers 0 ("not fast") on anything it does not fully understand:
 * an undeclared key, a duplicate, a value of another kind, an escape in a key, \u0000, a lone
 * surrogate, invalid UTF-8, a control byte, a number that is not a small integer, trailing
 * bytes. Every input it accepts is one the parser (tr_jv_parse) accepts with the same values, so
 * a decoder that falls back to its tree path on 0 behaves exactly as before for every input.
 */
#ifndef TR_FAST_SCAN_H
#define TR_FAST_SCAN_H

#include "apr_pools.h"

/* What a declared member's value may be. */
typedef enum {
    TR_FAST_STRING,      /* a string: unescaped, NUL-terminated copy in the slot */
    TR_FAST_INT,         /* an integer of at most 18 digits, no sign, fraction or exponent */
    TR_FAST_NULL,        /* null only */
    TR_FAST_SCALAR,      /* a string, such an integer or null: checked, value not kept */
    TR_FAST_EMPTY_ARRAY, /* [] only */
    TR_FAST_OBJECT,      /* an object of the shape sub */
    TR_FAST_ONE_OBJECT   /* an array holding exactly one object of the shape sub */
} tr_fast_kind;

typedef struct tr_fast_shape tr_fast_shape;

typedef struct {
    const char *name;
    tr_fast_kind kind;
    int slot; /* index into the caller's slots, or -1 when only validity matters */
    const tr_fast_shape *sub;
} tr_fast_member;

struct tr_fast_shape {
    const tr_fast_member *members;
    int count; /* at most 32 (one bit each for duplicate detection) */
};

typedef struct {
    int present;
    const char *str; /* TR_FAST_STRING: pool copy, NUL-terminated (never holds a NUL) */
    apr_size_t len;
    long long num; /* TR_FAST_INT */
} tr_fast_value;

#define TR_FAST_SHAPE(members)                                                                     \
    {                                                                                              \
        (members), (int) (sizeof(members) / sizeof((members)[0]))                                  \
    }

/* 1 when data[0..len) is exactly one JSON object of shape root (members in any order, each at
 * most once, any absent); slots (which the caller zeroes) then hold the values, strings
 * allocated from p. 0 otherwise: the caller takes its general path. */
int tr_fast_scan(apr_pool_t *p, const char *data, apr_size_t len, const tr_fast_shape *root,
                 tr_fast_value *slots);

/* The decoders take the fast path only while enabled (the default); tests and the
 * differential fuzzer switch it off to get the general path's output for the same input. */
int tr_fast_enabled(void);
void tr_fast_set_enabled(int on);

/* Events this thread's decoders translated on the fast path: tests check which inputs took it
 * (the output alone cannot tell, it is the same either way). */
void tr_fast_note_taken(void);
unsigned long tr_fast_taken(void);

#endif
