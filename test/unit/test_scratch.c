/*
 * test_scratch.c: per-event pools (pipeline/tr_scratch.c). An event's pool lives from its first
 * use to its release, goes with the stream's pool at the latest, and once shared takes its
 * blocks from the one allocator every thread uses, whatever allocator the stream's pool has.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "apr_allocator.h"
#include "apr_general.h"
#include "apr_thread_proc.h"
#include "pipeline/tr_scratch.h"

static apr_pool_t *root;

static apr_status_t count_cleanup(void *data)
{
    ++*(int *) data;
    return APR_SUCCESS;
}

/* A stream's pool with an allocator of its own, as each httpd connection has. */
static apr_pool_t *stream_pool(void)
{
    apr_allocator_t *allocator;
    apr_pool_t *p;

    assert_int_equal(apr_allocator_create(&allocator), APR_SUCCESS);
    assert_int_equal(apr_pool_create_ex(&p, root, NULL, allocator), APR_SUCCESS);
    apr_allocator_owner_set(allocator, p);
    return p;
}

static void test_pool_lives_from_first_use_to_release(void **state)
{
    apr_pool_t *owner = stream_pool();
    tr_scratch *s = tr_scratch_create(owner);
    apr_pool_t *event = tr_scratch_pool(s);
    int gone = 0;

    (void) state;
    assert_non_null(event);
    assert_ptr_not_equal(event, owner);
    assert_ptr_equal(tr_scratch_pool(s), event); /* one pool for the whole event */
    assert_ptr_equal(apr_pool_parent_get(event), owner);
    apr_pool_cleanup_register(event, &gone, count_cleanup, apr_pool_cleanup_null);
    memset(apr_palloc(event, 20000), 'x', 20000);

    tr_scratch_release(s);
    assert_int_equal(gone, 1);
    tr_scratch_release(s); /* nothing to release: harmless */
    assert_int_equal(gone, 1);

    event = tr_scratch_pool(s); /* the next event's */
    apr_pool_cleanup_register(event, &gone, count_cleanup, apr_pool_cleanup_null);
    apr_pool_destroy(owner); /* a stream cut off mid-event: its event pool goes with it */
    assert_int_equal(gone, 2);
}

static void test_unshared_pools_use_the_stream_allocator(void **state)
{
    apr_pool_t *owner = stream_pool();
    tr_scratch *s = tr_scratch_create(owner);

    (void) state;
    assert_ptr_equal(apr_pool_allocator_get(tr_scratch_pool(s)), apr_pool_allocator_get(owner));
    apr_pool_destroy(owner);
}

static void test_shared_pools_use_one_allocator(void **state)
{
    apr_pool_t *holder, *a, *b;
    tr_scratch *sa, *sb;
    apr_allocator_t *shared;

    (void) state;
    assert_int_equal(apr_pool_create(&holder, root), APR_SUCCESS);
    assert_int_equal(tr_scratch_share(holder, 64 * 1024), APR_SUCCESS);
    a = stream_pool();
    b = stream_pool();
    sa = tr_scratch_create(a);
    sb = tr_scratch_create(b);
    shared = apr_pool_allocator_get(tr_scratch_pool(sa));
    assert_ptr_not_equal(shared, apr_pool_allocator_get(a));
    assert_ptr_equal(apr_pool_allocator_get(tr_scratch_pool(sb)), shared);
    tr_scratch_release(sa);
    tr_scratch_release(sb);

    /* Gone with its holder: pools made afterwards use their parent's allocator again. */
    apr_pool_destroy(holder);
    assert_ptr_equal(apr_pool_allocator_get(tr_scratch_pool(sa)), apr_pool_allocator_get(a));
    apr_pool_destroy(a);
    apr_pool_destroy(b);
}

/* ---- many streams on many threads, each working on its events ------------------------------ */

#define THREADS 4
#define EVENTS  20000

static void *APR_THREAD_FUNC work_on_events(apr_thread_t *thread, void *data)
{
    apr_pool_t *owner = data;
    tr_scratch *s = tr_scratch_create(owner);

    for (int i = 0; i < EVENTS; i++) {
        apr_size_t size = 64 + (apr_size_t) (i % 7) * 4096; /* one block, sometimes several */
        memset(apr_palloc(tr_scratch_pool(s), size), i & 0xff, size);
        tr_scratch_release(s);
    }
    apr_thread_exit(thread, APR_SUCCESS);
    return NULL;
}

static void test_threads_share_the_allocator_safely(void **state)
{
    apr_thread_t *threads[THREADS];
    apr_pool_t *holder, *owners[THREADS];
    apr_status_t rv;

    (void) state;
    assert_int_equal(apr_pool_create(&holder, root), APR_SUCCESS);
    assert_int_equal(tr_scratch_share(holder, 64 * 1024), APR_SUCCESS);
    for (int i = 0; i < THREADS; i++) {
        owners[i] = stream_pool();
        assert_int_equal(apr_thread_create(&threads[i], NULL, work_on_events, owners[i], root),
                         APR_SUCCESS);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(apr_thread_join(&rv, threads[i]), APR_SUCCESS);
        assert_int_equal(rv, APR_SUCCESS);
        apr_pool_destroy(owners[i]);
    }
    apr_pool_destroy(holder);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_lives_from_first_use_to_release),
        cmocka_unit_test(test_unshared_pools_use_the_stream_allocator),
        cmocka_unit_test(test_shared_pools_use_one_allocator),
        cmocka_unit_test(test_threads_share_the_allocator_safely),
    };
    int rc;

    apr_initialize();
    apr_pool_create(&root, NULL);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    apr_pool_destroy(root);
    apr_terminate();
    return rc;
}
