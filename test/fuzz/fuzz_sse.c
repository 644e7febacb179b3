/*
 * fuzz_sse.c: the SSE parser and the streamed JSON-array splitter on arbitrary bytes, fed in
 * pieces whose sizes come from the input. Oracles: the same events whatever the split, data
 * NUL-terminated, the caps hold, no crash, no leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "apr_general.h"
#include "apr_strings.h"
#include "pipeline/tr_array_splitter.h"
#include "pipeline/tr_sse.h"

#define FUZZ_CAP 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    unsigned long hash;
    unsigned count;
} digest;

static void mix(digest *d, const char *s, apr_size_t n)
{
    for (apr_size_t i = 0; i < n; i++)
        d->hash = d->hash * 131 + (unsigned char) s[i];
    d->hash = d->hash * 131 + 0x100;
}

static apr_status_t on_event(void *baton, const char *event, const char *data, apr_size_t len)
{
    digest *d = baton;
    if (data[len] != '\0' || len > FUZZ_CAP)
        abort();
    if (event)
        mix(d, event, strlen(event));
    mix(d, data, len);
    d->count++;
    return APR_SUCCESS;
}

static apr_status_t on_element(void *baton, const char *data, apr_size_t len)
{
    digest *d = baton;
    if (len > FUZZ_CAP || (data[0] != '{' && data[0] != '['))
        abort();
    mix(d, data, len);
    d->count++;
    return APR_SUCCESS;
}

/* Parse everything with pieces of size piece (0 = whole); returns the events' digest. */
static digest run_sse(apr_pool_t *p, const char *in, size_t n, size_t piece, apr_status_t *rv)
{
    tr_sse_parser *s = tr_sse_parser_create(p, FUZZ_CAP);
    digest d = {0, 0};
    int partial;

    *rv = APR_SUCCESS;
    for (size_t at = 0; at < n && *rv == APR_SUCCESS;) {
        size_t k = piece && n - at > piece ? piece : n - at;
        *rv = tr_sse_parser_feed(s, in + at, k, on_event, &d);
        at += k;
    }
    if (*rv == APR_SUCCESS)
        *rv = tr_sse_parser_finish(s, on_event, &d, &partial);
    return d;
}

static digest run_array(apr_pool_t *p, const char *in, size_t n, size_t piece, apr_status_t *rv)
{
    tr_array_splitter *s = tr_array_splitter_create(p, FUZZ_CAP);
    digest d = {0, 0};

    *rv = APR_SUCCESS;
    for (size_t at = 0; at < n && *rv == APR_SUCCESS;) {
        size_t k = piece && n - at > piece ? piece : n - at;
        *rv = tr_array_splitter_feed(s, in + at, k, on_element, &d);
        at += k;
    }
    return d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int initialized;
    apr_pool_t *p;
    size_t piece;
    apr_status_t rv_whole, rv_split;
    digest whole, split;

    if (!initialized) {
        apr_initialize();
        initialized = 1;
    }
    if (size < 1)
        return 0;
    piece = data[0] % 17 + 1;
    apr_pool_create(&p, NULL);

    whole = run_sse(p, (const char *) data + 1, size - 1, 0, &rv_whole);
    split = run_sse(p, (const char *) data + 1, size - 1, piece, &rv_split);
    /* Split independence (until a cap error, which may come at different points). */
    if (rv_whole == APR_SUCCESS && rv_split == APR_SUCCESS &&
        (whole.hash != split.hash || whole.count != split.count))
        abort();

    whole = run_array(p, (const char *) data + 1, size - 1, 0, &rv_whole);
    split = run_array(p, (const char *) data + 1, size - 1, piece, &rv_split);
    if (rv_whole == APR_SUCCESS && rv_split == APR_SUCCESS &&
        (whole.hash != split.hash || whole.count != split.count))
        abort();

    apr_pool_destroy(p);
    return 0;
}
