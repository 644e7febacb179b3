/*
 * fuzz_decode.c: libFuzzer harness for the content-coding decoders (common/aip_compress.c),
 * which undo client request bodies and upstream answers: both come from outside.
 *
 * Input layout:
 *   byte 0        flags: bits 0-2 how many Content-Encoding tokens follow (0-7), bits 3-4 the
 *                 list separator, bit 5 round-trip mode, bit 6 a sink that refuses bytes, bit 7
 *                 the cap set only once output has started (the API allows it at any time)
 *   n bytes       one token each, an index into tokens[] (supported, aliases, invalid)
 *   2 bytes       the decoded-size cap (0-65535, little endian)
 *   2 bytes       seed of the generator cutting the body into random-sized feeds
 *   1 byte        parameters: round-trip (levels, truncation, two members) or the sink limit
 *   the rest      the body
 *
 * Raw mode decodes the body as it is; every run must respect (else abort):
 *  - aip_decoder_create succeeds exactly when the list has only known codings, at most
 *    AIP_DECODE_MAX_CODINGS of them, not all identity (the classification, checked against the
 *    token table);
 *  - the sink gets non-empty pieces of at most AIP_DECODE_CHUNK bytes, never more than the cap
 *    in total (or than what came out before a late cap, if that was more), nothing after a
 *    failure, and a failure is sticky (feed and finish repeat it);
 *  - an error string exists exactly when the status is not OK; the output size is what the sink
 *    received;
 *  - differential against the same decoder with a large cap (REFERENCE_MAX): the capped output
 *    is a prefix of the reference output; when not TOO_LARGE, status and output are equal; more
 *    reference output than the cap means TOO_LARGE, and for a single coding the converse holds.
 *
 * Round-trip mode treats the body as plain text, encodes it with zlib, zstd and brotli themselves
 * (not the code under test) once per listed coding in list order (gzip sometimes as two members,
 * zstd as two frames, deflate with or without its zlib wrapper), and decodes that: the output is
 * exactly the text, unless some layer's decoded size passes the cap (then TOO_LARGE); a truncated
 * encoding gives a prefix of the text and never CORRUPT.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <brotli/encode.h>
#include <zlib.h>
#include <zstd.h>

#include "apr_general.h"
#include "apr_strings.h"
#include "aip_compress.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reference cap: large enough that differential runs see past any small cap, small enough that
 * a decompression bomb costs milliseconds. */
#define REFERENCE_MAX ((apr_size_t) 1 << 20)

#define FLAG_TOKENS     0x07
#define FLAG_SEPARATOR  0x18
#define FLAG_ROUND_TRIP 0x20
#define FLAG_REFUSE     0x40
#define FLAG_LATE_CAP   0x80

typedef enum { T_CODING, T_IDENTITY, T_EMPTY, T_INVALID } token_kind;

typedef enum { E_NONE, E_GZIP, E_DEFLATE, E_ZSTD, E_BR } encoding;

/* Content-Encoding tokens; the valid ones first, as round-trip mode draws only from those. */
static const struct {
    const char *text;
    token_kind kind;
    encoding enc;
} tokens[] = {
    {"gzip", T_CODING, E_GZIP},   {"deflate", T_CODING, E_DEFLATE}, {"zstd", T_CODING, E_ZSTD},
    {"br", T_CODING, E_BR},       {"identity", T_IDENTITY, E_NONE}, {"x-gzip", T_CODING, E_GZIP},
    {"x-zstd", T_CODING, E_ZSTD}, {"GZip", T_CODING, E_GZIP},       {" BR\t", T_CODING, E_BR},
#define VALID_TOKENS 9
    {"", T_EMPTY, E_NONE},        {"compress", T_INVALID, E_NONE},  {"gzip;q=1", T_INVALID, E_NONE},
    {"g zip", T_INVALID, E_NONE}, {"zst", T_INVALID, E_NONE},       {"brotli", T_INVALID, E_NONE},
    {"*", T_INVALID, E_NONE},
};
#define TOKEN_COUNT (sizeof(tokens) / sizeof(tokens[0]))

static const char *const separators[] = {",", ", ", " ,\t", ",,"};

/* ---- input reading ---------------------------------------------------------------------- */

typedef struct {
    const uint8_t *data;
    size_t size;
} input;

static uint8_t take_byte(input *in)
{
    uint8_t b = 0;
    if (in->size) {
        b = *in->data++;
        in->size--;
    }
    return b;
}

/* ---- the feed cutter: a small deterministic generator ------------------------------------ */

static uint32_t next_random(uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

/* The next feed size out of left bytes: empty feeds, single bytes and large runs alike, so
 * every split a network could make is reachable. */
static size_t next_feed(uint32_t *state, size_t left)
{
    uint32_t r = next_random(state);
    size_t n;

    switch (r & 3) {
    case 0:
        n = (r >> 2) % 4;
        break;
    case 1:
        n = 1 + (r >> 2) % 64;
        break;
    case 2:
        n = 1 + (r >> 2) % 4096;
        break;
    default:
        n = left;
    }
    return n < left ? n : left;
}

/* ---- one decoding run --------------------------------------------------------------------- */

typedef struct {
    uint8_t *data;
    size_t len, cap;
    size_t refuse_after; /* refuse a piece that would take the total past this (SIZE_MAX: never) */
    int refused;
    int calls;
    int calls_after_failure; /* the sink is called after the decoder failed */
    int failed;
} collector;

static apr_status_t collect(void *baton, const char *data, apr_size_t len)
{
    collector *c = baton;

    c->calls++;
    if (c->failed || c->refused)
        c->calls_after_failure++;
    if (len == 0 || len > AIP_DECODE_CHUNK) {
        fprintf(stderr, "fuzz_decode: a sink piece of %" APR_SIZE_T_FMT " bytes\n", len);
        abort();
    }
    if (len > c->refuse_after - c->len) {
        c->refused = 1;
        return APR_EGENERAL;
    }
    if (c->len + len > c->cap) {
        c->cap = (c->len + len) * 2;
        c->data = realloc(c->data, c->cap);
        if (!c->data)
            abort();
    }
    memcpy(c->data + c->len, data, len);
    c->len += len;
    return APR_SUCCESS;
}

/* How to run a decoder over a body. */
typedef struct {
    apr_size_t max;      /* the decoded-size cap */
    uint32_t seed;       /* cuts the body into feeds */
    size_t refuse_after; /* the sink's limit (SIZE_MAX: none) */
    int late_cap;        /* set the cap after the first feed that gave output, not before */
} run_plan;

typedef struct {
    aip_decode_status status;
    collector out;
    apr_size_t cap; /* the cap in effect: max, or what came out before a late cap if more */
} run_result;

static void broken(const char *what, const char *coding, apr_size_t max, const run_result *r)
    __attribute__((noreturn));

static void broken(const char *what, const char *coding, apr_size_t max, const run_result *r)
{
    fprintf(stderr,
            "fuzz_decode: %s\nContent-Encoding: \"%s\", cap %" APR_SIZE_T_FMT
            ", status %d, output %" APR_SIZE_T_FMT " bytes\n",
            what, coding, max, r ? (int) r->status : -1, r ? (apr_size_t) r->out.len : 0);
    abort();
}

/* Decode body in feeds as plan says; checks what holds for any single run. */
static void run_decoder(apr_pool_t *p, const char *coding, const run_plan *plan,
                        const uint8_t *body, size_t len, run_result *r)
{
    aip_decoder *dec = aip_decoder_create(p, coding);
    aip_sink sink = {collect, &r->out};
    aip_decode_status st;
    apr_size_t max = plan->max;
    uint32_t seed = plan->seed;
    size_t at = 0;
    int cap_set = !plan->late_cap;

    memset(r, 0, sizeof(*r));
    r->out.refuse_after = plan->refuse_after;
    r->cap = max;
    if (!dec)
        broken("a supported list gave no decoder", coding, max, NULL);
    if (cap_set)
        aip_decoder_set_max_output(dec, max);
    while (at < len) {
        size_t n = next_feed(&seed, len - at);
        st = aip_decoder_feed(dec, (const char *) body + at, n, &sink);
        /* A late cap comes once output has started, the case where it can be below it. */
        if (!cap_set && r->out.len > 0) {
            aip_decoder_set_max_output(dec, max);
            if (r->out.len > r->cap)
                r->cap = r->out.len;
            cap_set = 1;
        }
        if (r->status == AIP_DECODE_OK)
            r->status = st;
        else if (st != r->status)
            broken("a failure was not sticky", coding, max, r);
        r->out.failed = r->status != AIP_DECODE_OK;
        at += n;
    }
    st = aip_decoder_finish(dec, &sink);
    if (r->status == AIP_DECODE_OK)
        r->status = st;
    else if (st != r->status)
        broken("finish forgot the failure", coding, max, r);
    if (r->out.calls_after_failure)
        broken("the sink was called after a failure", coding, max, r);
    if (r->out.len > r->cap)
        broken("more output than the cap", coding, max, r);
    if ((aip_decoder_error(dec) != NULL) != (r->status != AIP_DECODE_OK))
        broken("an error message without a failure, or the reverse", coding, max, r);
    if (r->out.refused != (r->status == AIP_DECODE_SINK_FAILED))
        broken("a refusing sink not reported as SINK_FAILED, or the reverse", coding, max, r);
    /* A refused piece was counted as produced before the sink said no. */
    if (r->status != AIP_DECODE_SINK_FAILED && aip_decoder_output_size(dec) != r->out.len)
        broken("the output size is not what the sink received", coding, max, r);
}

/* ---- raw mode ------------------------------------------------------------------------------ */

/* What aip_codings_classify must answer for a token list, from the token table alone. */
static aip_codings_kind expected_kind(const int *picked, int n)
{
    int codings = 0;

    for (int i = 0; i < n; i++) {
        if (tokens[picked[i]].kind == T_INVALID)
            return AIP_CODINGS_UNSUPPORTED;
        codings += tokens[picked[i]].kind == T_CODING;
    }
    if (codings > AIP_DECODE_MAX_CODINGS)
        return AIP_CODINGS_UNSUPPORTED;
    return codings ? AIP_CODINGS_SUPPORTED : AIP_CODINGS_IDENTITY;
}

static void decode_raw(apr_pool_t *p, const char *coding, int codings, const run_plan *plan,
                       const uint8_t *body, size_t len)
{
    run_plan reference = *plan;
    run_result capped, ref;
    apr_size_t max = plan->max;
    size_t common;

    reference.max = REFERENCE_MAX;
    reference.late_cap = 0;
    run_decoder(p, coding, plan, body, len, &capped);
    run_decoder(p, coding, &reference, body, len, &ref);
    common = capped.out.len < ref.out.len ? capped.out.len : ref.out.len;
    if (common && memcmp(capped.out.data, ref.out.data, common))
        broken("the capped output differs from the reference", coding, max, &capped);
    if (ref.status != AIP_DECODE_TOO_LARGE) {
        if (capped.status != AIP_DECODE_TOO_LARGE &&
            (capped.status != ref.status || capped.out.len != ref.out.len))
            broken("a cap that was not reached changed the result", coding, max, &capped);
        if (ref.out.len > capped.cap && capped.status != AIP_DECODE_TOO_LARGE)
            broken("output past the cap not reported as TOO_LARGE", coding, max, &capped);
        /* With one coding the cap counts exactly the output; with more, an inner stage may be
         * the one that passed it. A refusing sink may have cut the reference short. */
        if (codings == 1 && plan->refuse_after == SIZE_MAX &&
            capped.status == AIP_DECODE_TOO_LARGE && ref.out.len <= capped.cap)
            broken("TOO_LARGE without output past the cap", coding, max, &capped);
    }
    free(capped.out.data);
    free(ref.out.data);
}

/* ---- round-trip mode: encoders written against the libraries directly --------------------- */

typedef struct {
    uint8_t *data;
    size_t len;
} bytes;

/* One zlib stream of in (window_bits 31: gzip, 15: zlib, -15: raw deflate). */
static bytes zlib_encode(apr_pool_t *p, bytes in, int window_bits, int level)
{
    z_stream zs;
    bytes out = {NULL, 0};

    memset(&zs, 0, sizeof(zs));
    if (deflateInit2(&zs, level, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        abort();
    out.len = deflateBound(&zs, (uLong) in.len);
    out.data = apr_palloc(p, out.len);
    zs.next_in = in.data;
    zs.avail_in = (uInt) in.len;
    zs.next_out = out.data;
    zs.avail_out = (uInt) out.len;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
        abort();
    out.len = zs.total_out;
    deflateEnd(&zs);
    return out;
}

static bytes zstd_encode(apr_pool_t *p, bytes in, int level)
{
    bytes out;

    out.len = ZSTD_compressBound(in.len);
    out.data = apr_palloc(p, out.len);
    out.len = ZSTD_compress(out.data, out.len, in.data, in.len, level);
    if (ZSTD_isError(out.len))
        abort();
    return out;
}

static bytes br_encode(apr_pool_t *p, bytes in, int quality, int window)
{
    bytes out;

    out.len = BrotliEncoderMaxCompressedSize(in.len);
    out.data = apr_palloc(p, out.len);
    if (!BrotliEncoderCompress(quality, window, BROTLI_MODE_GENERIC, in.len, in.data, &out.len,
                               out.data))
        abort();
    return out;
}

static bytes concat(apr_pool_t *p, bytes a, bytes b)
{
    bytes out = {apr_palloc(p, a.len + b.len + 1), a.len + b.len};
    memcpy(out.data, a.data, a.len);
    memcpy(out.data + a.len, b.data, b.len);
    return out;
}

/* Apply one coding; two_parts splits the input in two members (gzip) or frames (zstd), which
 * decoders must read as one body. */
static bytes encode_layer(apr_pool_t *p, encoding enc, bytes in, uint8_t param, int two_parts)
{
    int level = param >> 5; /* 0-7 */
    size_t half = in.len / 2;
    bytes first = {in.data, half}, second = {in.data + half, in.len - half};

    switch (enc) {
    case E_GZIP:
        if (two_parts)
            return concat(p, zlib_encode(p, first, 31, level), zlib_encode(p, second, 31, level));
        return zlib_encode(p, in, 31, level);
    case E_DEFLATE:
        return zlib_encode(p, in, (param & 0x10) ? -15 : 15, level);
    case E_ZSTD:
        if (two_parts)
            return concat(p, zstd_encode(p, first, level - 2), zstd_encode(p, second, level - 2));
        return zstd_encode(p, in, level - 2);
    case E_BR:
        return br_encode(p, in, level % 6, (param & 0x10) ? BROTLI_MIN_WINDOW_BITS : 22);
    default:
        return in;
    }
}

static void decode_round_trip(apr_pool_t *p, const char *coding, const int *picked, int n,
                              apr_size_t max, const uint8_t *text, size_t len, uint32_t seed,
                              uint8_t param)
{
    run_plan plan = {max, seed, SIZE_MAX, 0};
    bytes layer = {(uint8_t *) text, len};
    size_t largest = 0; /* the largest decoded size of any stage: what the cap applies to */
    int codings = 0, truncate = param & 1, two_parts = (param >> 1) & 1;
    run_result r;

    for (int i = 0; i < n; i++) {
        if (tokens[picked[i]].kind != T_CODING)
            continue;
        if (++codings > AIP_DECODE_MAX_CODINGS)
            return; /* refused by classification, checked by the caller */
        if (layer.len > largest)
            largest = layer.len;
        layer = encode_layer(p, tokens[picked[i]].enc, layer, param, two_parts);
    }
    if (!codings)
        return;
    if (truncate && layer.len)
        layer.len -= 1 + next_random(&plan.seed) % layer.len;
    run_decoder(p, coding, &plan, layer.data, layer.len, &r);
    if (r.out.len && memcmp(r.out.data, text, r.out.len < len ? r.out.len : len))
        broken("round trip: the output is not the text", coding, max, &r);
    if (r.out.len > len)
        broken("round trip: more output than the text", coding, max, &r);
    if (!truncate) {
        if (largest > max ? r.status != AIP_DECODE_TOO_LARGE
                          : r.status != AIP_DECODE_OK || r.out.len != len)
            broken("round trip: not decoded back exactly (or not TOO_LARGE past the cap)", coding,
                   max, &r);
    } else if (r.status == AIP_DECODE_CORRUPT || r.status == AIP_DECODE_SINK_FAILED) {
        broken("round trip: a truncated encoding read as corrupt", coding, max, &r);
    }
    free(r.out.data);
}

/* ---- entry point --------------------------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static apr_pool_t *root;
    input in = {data, size};
    uint8_t flags = take_byte(&in), param;
    int n = flags & FLAG_TOKENS, round_trip = (flags & FLAG_ROUND_TRIP) != 0, codings = 0;
    int picked[FLAG_TOKENS];
    const char *sep = separators[(flags & FLAG_SEPARATOR) >> 3];
    const char *coding = "";
    apr_size_t max;
    uint32_t seed;
    apr_pool_t *p;

    if (!root) {
        apr_initialize();
        apr_pool_create(&root, NULL);
    }
    apr_pool_create(&p, root);
    for (int i = 0; i < n; i++) {
        uint8_t b = take_byte(&in);
        picked[i] = round_trip ? b % VALID_TOKENS : b % (int) TOKEN_COUNT;
        codings += tokens[picked[i]].kind == T_CODING;
        coding = apr_pstrcat(p, coding, i ? sep : "", tokens[picked[i]].text, NULL);
    }
    max = take_byte(&in);
    max |= (apr_size_t) take_byte(&in) << 8;
    seed = take_byte(&in);
    seed = (seed | (uint32_t) take_byte(&in) << 8) + 1; /* xorshift needs a non-zero state */
    param = take_byte(&in);

    if (aip_codings_classify(coding) != expected_kind(picked, n))
        broken("the list was classified wrongly", coding, max, NULL);
    if ((aip_decoder_create(p, coding) != NULL) !=
        (expected_kind(picked, n) == AIP_CODINGS_SUPPORTED))
        broken("a decoder for a list that is not supported, or none for one that is", coding, max,
               NULL);
    if (expected_kind(picked, n) == AIP_CODINGS_SUPPORTED) {
        if (round_trip)
            decode_round_trip(p, coding, picked, n, max, in.data, in.size, seed, param);
        else {
            run_plan plan = {max, seed, (flags & FLAG_REFUSE) ? (size_t) param * 64 : SIZE_MAX,
                             (flags & FLAG_LATE_CAP) != 0};
            decode_raw(p, coding, codings, &plan, in.data, in.size);
        }
    }
    apr_pool_destroy(p);
    return 0;
}
