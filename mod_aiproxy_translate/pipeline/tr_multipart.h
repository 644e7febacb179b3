/*
 * pipeline/tr_multipart.h: a streaming scanner for multipart/form-data bodies (RFC 7578) that
 * finds one form field (the "model" of an upload) as the bytes go by: fed the body in chunks
 * of any size, it keeps only the current part-header line and the field's value (both
 * bounded), never the body. It reports where the value lies in the body, so a caller holding
 * the body rewrites it in place; an upload of many megabytes is never parsed into a second
 * buffer.
 */
#ifndef TR_MULTIPART_H
#define TR_MULTIPART_H

#include "apr_pools.h"

/* RFC 2046: 1 to 70 characters. */
#define TR_MULTIPART_MAX_BOUNDARY 70
/* A part-header line longer than this is refused (a file name rarely passes 255 bytes). */
#define TR_MULTIPART_MAX_HEADER_LINE 4096
/* The field's value is kept up to this many bytes; a longer one is refused. */
#define TR_MULTIPART_MAX_VALUE 1024

/* The boundary parameter of a multipart/form-data Content-Type (quoted or not), copied into
 * p, or NULL when content_type is not multipart/form-data or has no valid boundary (1 to 70
 * of RFC 2046's characters). */
const char *tr_multipart_boundary(apr_pool_t *p, const char *content_type);

typedef enum {
    TR_MULTIPART_FOUND = 0,
    TR_MULTIPART_ABSENT,
    TR_MULTIPART_DUPLICATE, /* two fields of that name: which one counts is ambiguous */
    TR_MULTIPART_TOO_LONG,  /* the field's value passes TR_MULTIPART_MAX_VALUE */
    TR_MULTIPART_INVALID    /* the body is not well-formed multipart */
} tr_multipart_lookup;

typedef struct tr_multipart_finder tr_multipart_finder;

/* A finder of the non-file field called field in a body with boundary (as returned by
 * tr_multipart_boundary). */
tr_multipart_finder *tr_multipart_finder_create(apr_pool_t *p, const char *boundary,
                                                const char *field);
/* Scan the next len bytes of the body. Chunks may split the body anywhere. */
void tr_multipart_finder_feed(tr_multipart_finder *f, const char *data, apr_size_t len);
/* After the last chunk: the outcome, and when FOUND the value (NUL-terminated, in the
 * finder's pool), its length and its offset in the body. A body that ends before its closing
 * delimiter is INVALID, even when the field was seen. */
tr_multipart_lookup tr_multipart_finder_finish(tr_multipart_finder *f, const char **value,
                                               apr_size_t *value_len, apr_size_t *offset);

/* The whole of a body in memory, fed at once. */
tr_multipart_lookup tr_multipart_find_field(apr_pool_t *p, const char *body, apr_size_t len,
                                            const char *boundary, const char *field,
                                            const char **value, apr_size_t *value_len,
                                            apr_size_t *offset);

#endif /* TR_MULTIPART_H */
