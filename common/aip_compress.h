/*
 * aip_compress.h: HTTP content codings (zstd, gzip, br, deflate) for upstream traffic.
 *
 * Two jobs, both pure (APR + zstd/zlib/brotli, no httpd headers):
 *  - compress one request body for an upstream that asked for a coding, sent plain when
 *    compression does not make it smaller (as the Go original does);
 *  - undo the Content-Encoding of an upstream response incrementally, so an SSE stream stays
 *    live: every byte the compressed input yields goes to the sink at once, memory per stream
 *    is bounded and the decoded size is capped against decompression bombs.
 */
#ifndef AIP_COMPRESS_H
#define AIP_COMPRESS_H

#include "apr_pools.h"

/* What the gateway accepts from upstreams (every coding the decoder undoes). */
#define AIP_ACCEPT_ENCODING "gzip, zstd, br, identity"

/* Decoded bytes allowed per response: far above any model answer, far below a bomb. */
#define AIP_DECODE_MAX_OUTPUT ((apr_size_t) 64 * 1024 * 1024)
/* Largest piece handed to a sink in one call (and the per-coding output buffer). */
#define AIP_DECODE_CHUNK ((apr_size_t) 16 * 1024)
/* Most codings one Content-Encoding may stack; more is refused as unsupported. */
#define AIP_DECODE_MAX_CODINGS 4

/* ---- request bodies -------------------------------------------------------------------- */

typedef enum {
    AIP_COMPRESS_OK = 0,      /* *out holds the encoded body, strictly smaller than the input */
    AIP_COMPRESS_NONE,        /* the coding is "none" or "identity": send plain */
    AIP_COMPRESS_NOT_SMALLER, /* encoding would not shrink the body: send plain */
    AIP_COMPRESS_UNSUPPORTED, /* unknown coding name: send plain */
    AIP_COMPRESS_FAILED       /* the library failed (memory): send plain */
} aip_compress_status;

/* Encode data[0..len) with coding ("zstd"/"x-zstd" at level 3, "gzip"/"x-gzip", "br", or
 * "none"/"identity"; names are case-insensitive) into memory from p. On AIP_COMPRESS_OK, *out
 * and *outlen are the encoded body and its Content-Encoding is the canonical name
 * aip_compress_coding_name() returns; on anything else they are untouched. */
aip_compress_status aip_compress_body(apr_pool_t *p, const char *coding, const char *data,
                                      apr_size_t len, const char **out, apr_size_t *outlen);

/* Keep a few compression contexts in this process from now until p is destroyed, for the
 * threads' request bodies to reuse (a child's pool, from child_init). Without it every body
 * makes its own, as in tests and fuzzers; the output is the same either way. */
void aip_compress_child_init(apr_pool_t *p);

/* The Content-Encoding token for a configured coding ("x-gzip" -> "gzip"), or NULL when the
 * coding is none, identity or unknown. */
const char *aip_compress_coding_name(const char *coding);

/* ---- response bodies ------------------------------------------------------------------- */

/* Where decoded bytes go; at most AIP_DECODE_CHUNK bytes per call. A non-APR_SUCCESS return
 * stops the decoder (AIP_DECODE_SINK_FAILED). */
typedef struct {
    apr_status_t (*write)(void *baton, const char *data, apr_size_t len);
    void *baton;
} aip_sink;

typedef enum {
    AIP_CODINGS_IDENTITY = 0, /* nothing to undo: absent, empty, or only "identity" */
    AIP_CODINGS_SUPPORTED,    /* every coding in the list can be undone */
    AIP_CODINGS_UNSUPPORTED   /* an unknown coding, or more than AIP_DECODE_MAX_CODINGS */
} aip_codings_kind;

/* Classify a Content-Encoding header value (NULL allowed). */
aip_codings_kind aip_codings_classify(const char *content_encoding);

typedef enum {
    AIP_DECODE_OK = 0,
    AIP_DECODE_CORRUPT,    /* the input is not valid for its coding */
    AIP_DECODE_TRUNCATED,  /* at finish: the input stopped inside a compressed stream */
    AIP_DECODE_TOO_LARGE,  /* the decoded size passed the cap */
    AIP_DECODE_SINK_FAILED /* the sink refused bytes */
} aip_decode_status;

typedef struct aip_decoder aip_decoder;

/* A decoder undoing content_encoding ("gzip", "x-gzip", "deflate", "zstd", "x-zstd", "br",
 * "identity", or a comma list of them, undone last coding first as RFC 9110 orders them).
 * NULL unless aip_codings_classify() says AIP_CODINGS_SUPPORTED. The compression libraries'
 * contexts are released when p is cleared or destroyed. */
aip_decoder *aip_decoder_create(apr_pool_t *p, const char *content_encoding);

/* Lower the decoded-size cap (default AIP_DECODE_MAX_OUTPUT). */
void aip_decoder_set_max_output(aip_decoder *dec, apr_size_t max_output);

/* Decode the next len bytes of the body (any split) and hand everything they yield to sink
 * before returning. After a failure every later call returns the same status. */
aip_decode_status aip_decoder_feed(aip_decoder *dec, const char *data, apr_size_t len,
                                   const aip_sink *sink);

/* The body ended: AIP_DECODE_TRUNCATED when a compressed stream is incomplete. An empty body
 * decodes to nothing, whatever its coding. */
aip_decode_status aip_decoder_finish(aip_decoder *dec, const aip_sink *sink);

/* Why the decoder failed ("gzip: incorrect header check"), or NULL while it has not. */
const char *aip_decoder_error(const aip_decoder *dec);

/* Decoded bytes handed to the sink so far. */
apr_size_t aip_decoder_output_size(const aip_decoder *dec);

#endif /* AIP_COMPRESS_H */
