/*
 * fuzz_multipart.c: the streaming multipart/form-data scanner (pipeline/tr_multipart.c) and the
 * forward body's model peek and rewrite (pipeline/tr_forward.c) on arbitrary bodies.
 *
 * Input: byte 0 = the boundary's length - 1 (mod 16) and, in its high bits, a piece size; then
 * the boundary's bytes (mapped onto RFC 2046 characters); byte 1 of what remains picks a split
 * offset; the rest is the body. Oracles: the same outcome, value and offset whole, split in two
 * and in small pieces; a found value lies in the body at its offset, NUL-terminated and within
 * the cap; a body whose model the peek accepts, rewritten to another model, peeks to that model
 * and keeps every other byte.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "apr_general.h"
#include "apr_strings.h"
#include "pipeline/tr_forward.h"
#include "pipeline/tr_multipart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static apr_pool_t *root_pool;

typedef struct {
    tr_multipart_lookup outcome;
    const char *value;
    apr_size_t len, offset;
} finding;

static void find_in_pieces(apr_pool_t *p, const char *body, apr_size_t len, const char *boundary,
                           apr_size_t split, apr_size_t piece, finding *out)
{
    tr_multipart_finder *f = tr_multipart_finder_create(p, boundary, "model");
    apr_size_t at = split < len ? split : len;

    tr_multipart_finder_feed(f, body, at);
    while (at < len) {
        apr_size_t n = len - at > piece ? piece : len - at;
        tr_multipart_finder_feed(f, body + at, n);
        at += n;
    }
    out->outcome = tr_multipart_finder_finish(f, &out->value, &out->len, &out->offset);
}

static void same(const finding *a, const finding *b)
{
    if (a->outcome != b->outcome || a->len != b->len || a->offset != b->offset)
        abort();
    if (a->outcome == TR_MULTIPART_FOUND && memcmp(a->value, b->value, a->len))
        abort();
}

static void check_rewrite(apr_pool_t *p, const char *body, apr_size_t len, const char *boundary)
{
    const char *ctype = apr_pstrcat(p, "multipart/form-data; boundary=\"", boundary, "\"", NULL);
    static const char other[] = "fuzz-upstream-model";
    tr_forward_body fb, fb2;
    const char *model, *again, *out;
    apr_size_t out_len;
    aiproxy_error err;

    memset(&err, 0, sizeof(err));
    if (tr_forward_peek(p, body, len, ctype, &fb, &model, &err)) {
        if (err.status != 400 && err.status != 415)
            abort();
        return;
    }
    tr_forward_rewrite(p, &fb, body, len, model, other, &out, &out_len);
    if (tr_forward_peek(p, out, out_len, ctype, &fb2, &again, &err) || strcmp(again, other))
        abort();
    if (fb2.model_start != fb.model_start || memcmp(out, body, fb.model_start) ||
        memcmp(out + fb2.model_start + fb2.model_len, body + fb.model_start + fb.model_len,
               len - fb.model_start - fb.model_len))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    char boundary[17];
    apr_size_t blen, piece, split;
    const char *body;
    apr_size_t len;
    finding whole, two, small;

    if (!root_pool) {
        apr_initialize();
        apr_pool_create(&root_pool, NULL);
    }
    if (size < 2)
        return 0;
    blen = 1 + (data[0] & 15);
    piece = 1 + (data[0] >> 4);
    if (size < 2 + blen)
        return 0;
    for (apr_size_t i = 0; i < blen; i++) {
        static const char bchars[] = "abcXYZ019'()+_,-./:=?";
        boundary[i] = bchars[data[1 + i] % (sizeof(bchars) - 1)];
    }
    boundary[blen] = '\0';
    split = data[1 + blen];
    body = (const char *) data + 2 + blen;
    len = size - 2 - blen;

    apr_pool_create(&p, root_pool);
    find_in_pieces(p, body, len, boundary, len, 1, &whole);
    find_in_pieces(p, body, len, boundary, split * len / 256, len, &two);
    find_in_pieces(p, body, len, boundary, 0, piece, &small);
    same(&whole, &two);
    same(&whole, &small);
    if (whole.outcome == TR_MULTIPART_FOUND) {
        if (whole.len > TR_MULTIPART_MAX_VALUE || whole.offset + whole.len > len ||
            whole.value[whole.len] != '\0' || memcmp(body + whole.offset, whole.value, whole.len))
            abort();
    }
    check_rewrite(p, body, len, boundary);
    apr_pool_destroy(p);
    return 0;
}
