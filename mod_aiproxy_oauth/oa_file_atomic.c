/* oa_file_atomic.c: see oa_file_atomic.h. */
#include <string.h>
#include "apr_strings.h"
#include "oa_file_atomic.h"

/* Where the temporary file goes: ".<name>.XXXXXX" next to path (hidden, so a directory
 * listing a CLI or a glob reads does not pick it up half-written). */
static char *temp_template(apr_pool_t *p, const char *path, const char **dir)
{
    const char *slash = strrchr(path, '/');

    if (!slash) {
        *dir = ".";
        return apr_pstrcat(p, ".", path, ".XXXXXX", NULL);
    }
    *dir = slash == path ? "/" : apr_pstrmemdup(p, path, (apr_size_t) (slash - path));
    return apr_pstrcat(p, apr_pstrmemdup(p, path, (apr_size_t) (slash - path + 1)), ".", slash + 1,
                       ".XXXXXX", NULL);
}

/* Best effort: the rename has happened, so a directory that cannot be synced (some file
 * systems refuse) does not turn a written file into a reported failure. */
static void sync_directory(apr_pool_t *p, const char *dir)
{
    apr_file_t *d;

    if (apr_file_open(&d, dir, APR_FOPEN_READ, APR_FPROT_OS_DEFAULT, p) == APR_SUCCESS) {
        apr_file_sync(d);
        apr_file_close(d);
    }
}

apr_status_t oa_file_write_atomic(apr_pool_t *p, const char *path, const char *data, apr_size_t len)
{
    const char *dir;
    char *tmp = temp_template(p, path, &dir);
    apr_file_t *f;
    apr_status_t rv;

    /* mkstemp creates the file 0600; the explicit flags leave out APR's delete-on-close. */
    rv = apr_file_mktemp(&f, tmp,
                         APR_FOPEN_CREATE | APR_FOPEN_WRITE | APR_FOPEN_EXCL | APR_FOPEN_BINARY, p);
    if (rv != APR_SUCCESS)
        return rv;
    rv = apr_file_perms_set(tmp, APR_FPROT_UREAD | APR_FPROT_UWRITE);
    if (rv == APR_SUCCESS || rv == APR_ENOTIMPL)
        rv = apr_file_write_full(f, data, len, NULL);
    if (rv == APR_SUCCESS)
        rv = apr_file_sync(f);
    if (rv == APR_SUCCESS)
        rv = apr_file_close(f);
    else
        apr_file_close(f);
    if (rv == APR_SUCCESS)
        rv = apr_file_rename(tmp, path, p);
    if (rv != APR_SUCCESS) {
        apr_file_remove(tmp, p);
        return rv;
    }
    sync_directory(p, dir);
    return APR_SUCCESS;
}
