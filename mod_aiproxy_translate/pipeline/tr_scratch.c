/*
 * pipeline/tr_scratch.c: per-event pools from a shared allocator (tr_scratch.h says why).
 */
#include "tr_scratch.h"

#include "aip_shared_allocator.h"

struct tr_scratch {
    apr_pool_t *owner; /* the stream's pool: the event pool's parent */
    apr_pool_t *pool;  /* the event's, or NULL between events */
};

/* Set once per process before any request runs, read by every thread after that. */
static apr_allocator_t *shared_allocator;

apr_status_t tr_scratch_share(apr_pool_t *p, apr_size_t max_free)
{
    return aip_shared_allocator_create(p, max_free, &shared_allocator);
}

tr_scratch *tr_scratch_create(apr_pool_t *p)
{
    tr_scratch *s = apr_pcalloc(p, sizeof(*s));

    s->owner = p;
    return s;
}

/* Destroyed with the owner if still there (a stream cut off mid-event): it is the owner's child,
 * so APR destroys it first; forget it then, in case the handle is asked again. */
static apr_status_t forget_pool(void *data)
{
    tr_scratch *s = data;

    s->pool = NULL;
    return APR_SUCCESS;
}

apr_pool_t *tr_scratch_pool(tr_scratch *s)
{
    apr_pool_t *pool;

    if (s->pool)
        return s->pool;
    if (apr_pool_create_ex(&pool, s->owner, NULL, shared_allocator) != APR_SUCCESS)
        return s->owner; /* out of memory: the stream's own pool still works, for longer */
    apr_pool_cleanup_register(pool, s, forget_pool, apr_pool_cleanup_null);
    return s->pool = pool;
}

void tr_scratch_release(tr_scratch *s)
{
    if (s->pool)
        apr_pool_destroy(s->pool); /* forget_pool clears s->pool */
}
