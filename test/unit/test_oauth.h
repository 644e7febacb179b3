/*
 * test_oauth.h: shared helpers of the mod_aiproxy_oauth unit tests: fixture files
 * (test/fixtures/oauth/, shaped like the CLIs' and proxies' real files with fake tokens),
 * times written as seconds, the pool of each test group.
 */
#ifndef TEST_OAUTH_H
#define TEST_OAUTH_H

#include "apr_file_io.h"
#include "apr_pools.h"
#include "apr_strings.h"
#include "apr_time.h"

#define OAUTH_FIXTURES "test/fixtures/oauth/"

/* The fixture's bytes (NUL-terminated, *len without it); fails the test when unreadable. */
static inline char *oauth_fixture(apr_pool_t *p, const char *name, apr_size_t *len)
{
    const char *path = apr_pstrcat(p, OAUTH_FIXTURES, name, NULL);
    apr_file_t *f;
    apr_finfo_t info;
    char *buf;

    if (apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY, APR_FPROT_OS_DEFAULT, p) ||
        apr_file_info_get(&info, APR_FINFO_SIZE, f))
        fail_msg("cannot read %s", path);
    buf = apr_palloc(p, (apr_size_t) info.size + 1);
    *len = (apr_size_t) info.size;
    if (apr_file_read_full(f, buf, *len, NULL) != APR_SUCCESS)
        fail_msg("cannot read %s", path);
    buf[*len] = '\0';
    apr_file_close(f);
    return buf;
}

#define SEC(s) apr_time_from_sec((apr_time_t) (s))

/* Each test file's pool, made and destroyed around its group of tests. */
static apr_pool_t *pool;

static int setup(void **state)
{
    apr_pool_create(&pool, NULL);
    return 0;
}

static int teardown(void **state)
{
    apr_pool_destroy(pool);
    return 0;
}

#endif /* TEST_OAUTH_H */
