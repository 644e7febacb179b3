/*
 * common/aip_shared_allocator.h: one APR allocator for all the threads of a process.
 *
 * A pool made from an httpd request takes its blocks from the connection's allocator, and
 * when the pool goes they return there and stay (up to MaxMemFree) for that connection's
 * next request. An answer that streams for minutes holds its connection, so memory a request
 * gives back early (its body once the answer is flowing, the scratch of one stream event) is
 * still counted against that stream, and no other stream can use it. Pools made from a shared
 * allocator give their blocks to every thread instead: the process then needs what the
 * requests being worked on at once need, not what every open stream once needed.
 */
#ifndef AIP_SHARED_ALLOCATOR_H
#define AIP_SHARED_ALLOCATOR_H

#include "apr_allocator.h"
#include "apr_pools.h"

/* An allocator guarded by a mutex, keeping at most max_free bytes of free blocks (beyond,
 * given back to the system: free(), or munmap() where APR maps its blocks, as Debian's does,
 * so a block given back costs its page faults again when the next one is taken), into
 * *allocator; it and its mutex go with p, and *allocator is set to NULL
 * first (pools made from it after that would use their parent's: the caller's fallback).
 * Typically a static set in child_init and read by every thread. */
apr_status_t aip_shared_allocator_create(apr_pool_t *p, apr_size_t max_free,
                                         apr_allocator_t **allocator);

#endif /* AIP_SHARED_ALLOCATOR_H */
