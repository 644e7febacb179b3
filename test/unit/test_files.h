/*
 * test_files.h: reading test inputs (vectors, recorded fixtures) into an APR pool, and walking
 * a directory of golden-vector cases.
 */
#ifndef TEST_FILES_H
#define TEST_FILES_H

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include "apr_pools.h"
#include "apr_strings.h"

/* The whole file, NUL-terminated, allocated from p; NULL when it cannot be opened. */
static inline char *test_read_file(apr_pool_t *p, const char *path, apr_size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = apr_palloc(p, (apr_size_t) (n > 0 ? n : 0) + 1);
    *len = n > 0 ? fread(buf, 1, (size_t) n, f) : 0;
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

/* Runs one case: name is "<case>" of dir/<case>.json; p is the case's own pool. Returns the
 * number of failures. */
typedef int (*test_case_fn)(apr_pool_t *p, const char *dir, const char *name, void *baton);

/* Calls run for every case input in dir: a file named "<case>.json" with exactly one dot
 * (the expected outputs next to it, "<case>.<target>.json", have two). Returns the failures
 * (1 when dir cannot be opened, with a message on stderr) and adds the cases run to *cases. */
static inline int test_for_each_case(apr_pool_t *parent, const char *dir, test_case_fn run,
                                     void *baton, int *cases)
{
    DIR *d = opendir(dir);
    struct dirent *ent;
    int failures = 0;

    if (!d) {
        fprintf(stderr, "%s: cannot open\n", dir);
        return 1;
    }
    while ((ent = readdir(d))) {
        size_t n = strlen(ent->d_name);
        const char *dot = strchr(ent->d_name, '.');
        apr_pool_t *p;

        if (n < 6 || !dot || strcmp(dot, ".json") != 0)
            continue;
        apr_pool_create(&p, parent);
        failures += run(p, dir, apr_pstrndup(p, ent->d_name, n - 5), baton);
        (*cases)++;
        apr_pool_destroy(p);
    }
    closedir(d);
    return failures;
}

#endif /* TEST_FILES_H */
