/*
 * pipeline/tr_scratch.h: memory for the work on one upstream event of a stream, given back when
 * that event has gone through.
 *
 * A stream lives for minutes and works for microseconds per event. A pool kept for the whole
 * stream and cleared after each event holds at least one 8 KiB block all along (APR keeps a
 * pool's first block until the pool goes), and with a thread per open stream (mod_proxy relays
 * on the thread that runs the request) every held block counts per open stream. So the event's
 * pool exists only while the event is worked on: made on first use, destroyed after it, and
 * its blocks come from one allocator the process's threads share (tr_scratch_share), where the
 * next event of any stream takes them again. 10,000 open streams then need the blocks of the
 * few events being worked on at once, not 10,000 of them.
 */
#ifndef TR_SCRATCH_H
#define TR_SCRATCH_H

#include "apr_pools.h"

typedef struct tr_scratch tr_scratch;

/* A handle in p (no memory for events yet); a pool made from it is destroyed with p at latest. */
tr_scratch *tr_scratch_create(apr_pool_t *p);
/* The pool of the event being worked on, made on the first call after a release. */
apr_pool_t *tr_scratch_pool(tr_scratch *s);
/* The event has gone through: its pool goes, its blocks back to the allocator they came from.
 * Everything allocated there is gone; the next tr_scratch_pool() makes a new pool. */
void tr_scratch_release(tr_scratch *s);

/* From now on, event pools take their blocks from one allocator shared by the threads of this
 * process (a mutex guards it), which keeps at most max_free bytes of free blocks for the next
 * events and gives the rest back (aip_shared_allocator.h). Until then (unit tests, fuzzers) they
 * use their parent's allocator. Call once per process before requests run (httpd: child_init); the
 * allocator lives as long as p. */
apr_status_t tr_scratch_share(apr_pool_t *p, apr_size_t max_free);

#endif /* TR_SCRATCH_H */
