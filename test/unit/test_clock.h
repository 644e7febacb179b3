/*
 * test_clock.h: translated answers made comparable with their goldens: the times a codec
 * writes from the clock (when the upstream gives none) zeroed.
 */
#ifndef TEST_CLOCK_H
#define TEST_CLOCK_H

#include <string.h>
#include "apr_strings.h"

/* A copy of text (in p) with every "created" and "created_at" number set to 0. */
static inline char *test_zero_clock_times(apr_pool_t *p, const char *text)
{
    static const char *const keys[] = {"\"created\":", "\"created_at\":"};
    char *out = apr_pstrdup(p, text);

    for (size_t k = 0; k < 2; k++) {
        char *at = out;
        while ((at = strstr(at, keys[k]))) {
            char *digits = at + strlen(keys[k]), *end = digits;
            while (*end >= '0' && *end <= '9')
                end++;
            if (end > digits) {
                *digits = '0';
                memmove(digits + 1, end, strlen(end) + 1);
            }
            at = digits;
        }
    }
    return out;
}

#endif /* TEST_CLOCK_H */
