/*
 * test_buf.c: json/tr_buf.c's memory across events. A buffer refilled per event keeps a
 * small size for the next event and gives back a huge one (tr_buf_recycle).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "apr_general.h"
#include "json/tr_buf.h"

static apr_pool_t *pool;

static void fill(tr_buf *b, apr_size_t n)
{
    static char chunk[4096];

    memset(chunk, 'x', sizeof(chunk));
    while (n) {
        apr_size_t k = n < sizeof(chunk) ? n : sizeof(chunk);
        assert_int_equal(tr_buf_add(b, chunk, k), 0);
        n -= k;
    }
}

static void test_a_small_buffer_is_kept_for_the_next_event(void **state)
{
    tr_buf b;
    apr_size_t cap;
    apr_pool_t *p;

    (void) state;
    apr_pool_create(&p, pool); /* b lives as long as its pool: both go in this test */
    tr_buf_init(&b, p, 0);
    fill(&b, 1000);
    cap = b.cap;
    tr_buf_recycle(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, cap); /* no allocation for the next event */
    assert_non_null(b.data);
    assert_string_equal(b.data, "");
    apr_pool_destroy(p);
}

static void test_a_huge_event_does_not_pin_its_size(void **state)
{
    tr_buf b;
    apr_pool_t *p;

    (void) state;
    apr_pool_create(&p, pool);
    tr_buf_init(&b, p, 0);
    fill(&b, TR_BUF_KEEP + 1);
    assert_true(b.cap > TR_BUF_KEEP);
    tr_buf_recycle(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    assert_null(b.data);
    fill(&b, 10); /* still usable */
    assert_int_equal(b.len, 10);
    apr_pool_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_small_buffer_is_kept_for_the_next_event),
        cmocka_unit_test(test_a_huge_event_does_not_pin_its_size),
    };
    int rc;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    apr_pool_destroy(pool);
    apr_terminate();
    return rc;
}
