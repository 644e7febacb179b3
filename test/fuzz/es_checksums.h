/*
 * es_checksums.h: for the harnesses feeding AWS event streams (fuzz_eventstream, fuzz_response):
 * write correct checksums into mutated frames, so mutations reach the header parser and the
 * Kiro decoder instead of dying at the CRCs.
 */
#ifndef ES_CHECKSUMS_H
#define ES_CHECKSUMS_H

#include <stddef.h>
#include <stdint.h>
#include "pipeline/tr_eventstream.h"

static inline void es_put_u32(unsigned char *b, uint32_t v)
{
    b[0] = (unsigned char) (v >> 24);
    b[1] = (unsigned char) (v >> 16);
    b[2] = (unsigned char) (v >> 8);
    b[3] = (unsigned char) v;
}

static inline uint32_t es_get_u32(const unsigned char *b)
{
    return ((uint32_t) b[0] << 24) | ((uint32_t) b[1] << 16) | ((uint32_t) b[2] << 8) | b[3];
}

/* Walk the frames of s by their announced lengths and write both CRCs of every frame that fits
 * in the buffer. */
static inline void es_fix_checksums(unsigned char *s, size_t n)
{
    size_t at = 0;

    while (n - at >= TR_ES_MIN_FRAME) {
        uint32_t total = es_get_u32(s + at);
        es_put_u32(s + at + 8, tr_es_crc32(0, s + at, 8));
        if (total < TR_ES_MIN_FRAME || total > n - at)
            return;
        es_put_u32(s + at + total - 4, tr_es_crc32(0, s + at, total - 4));
        at += total;
    }
}

#endif /* ES_CHECKSUMS_H */
