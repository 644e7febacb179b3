/*
 * common/aip_shared_allocator.c: an allocator for all the threads of a process (see the
 * header for why).
 */
#include "aip_shared_allocator.h"

#include "apr_thread_mutex.h"

static apr_status_t forget_allocator(void *data)
{
    *(apr_allocator_t **) data = NULL;
    return APR_SUCCESS;
}

apr_status_t aip_shared_allocator_create(apr_pool_t *p, apr_size_t max_free,
                                         apr_allocator_t **allocator)
{
    apr_allocator_t *a;
    apr_thread_mutex_t *mutex;
    apr_pool_t *holder;
    apr_status_t rv;

    if ((rv = apr_allocator_create(&a)) != APR_SUCCESS)
        return rv;
    /* Owned by a pool of its own, child of p: destroying that pool destroys the allocator,
     * after the mutex it holds. */
    if ((rv = apr_pool_create_ex(&holder, p, NULL, a)) != APR_SUCCESS) {
        apr_allocator_destroy(a);
        return rv;
    }
    apr_allocator_owner_set(a, holder);
    if ((rv = apr_thread_mutex_create(&mutex, APR_THREAD_MUTEX_DEFAULT, holder)) != APR_SUCCESS) {
        apr_pool_destroy(holder);
        return rv;
    }
    apr_allocator_mutex_set(a, mutex);
#if defined(__SANITIZE_ADDRESS__)
    /* Under AddressSanitizer keep nothing: freed blocks go back to malloc at once, so a read
     * of memory already given back (a request's body after its release) is reported instead
     * of reading stale bytes from a cached block. */
    max_free = 1;
#endif
    apr_allocator_max_free_set(a, max_free);
    *allocator = a;
    /* pre-cleanups run before p's children (the holder) are destroyed */
    apr_pool_pre_cleanup_register(p, allocator, forget_allocator);
    return APR_SUCCESS;
}
