/* oa_shared.c: see oa_shared.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "apr_strings.h"
#include "oa_shared.h"

#define TOKENS_MAGIC "t1"
#define FIELDS       7 /* magic, expiry, refreshed_at, access, refresh, id, profile arn */

const char *oa_shared_prefix(apr_pool_t *p, const char *hash)
{
    return apr_pstrcat(p, "aiproxy:v1:oauth:", hash, ":", NULL);
}

static int one_line(const char *s)
{
    return !s || !strpbrk(s, "\r\n");
}

char *oa_shared_tokens_encode(apr_pool_t *p, const oa_shared_tokens *t, apr_size_t *len)
{
    char *out;

    if (!t->access_token || !*t->access_token || !one_line(t->access_token) ||
        !one_line(t->refresh_token) || !one_line(t->id_token) || !one_line(t->profile_arn))
        return NULL;
    out = apr_psprintf(p, TOKENS_MAGIC "\n%" APR_TIME_T_FMT "\n%" APR_TIME_T_FMT "\n%s\n%s\n%s\n%s",
                       t->expiry, t->refreshed_at, t->access_token,
                       t->refresh_token ? t->refresh_token : "", t->id_token ? t->id_token : "",
                       t->profile_arn ? t->profile_arn : "");
    *len = strlen(out);
    return out;
}

/* A decimal apr_time_t, the whole field, not negative. */
static int read_time(const char *s, apr_time_t *out)
{
    char *end;
    apr_int64_t v;

    if (!*s || *s == '-' || *s == '+')
        return -1;
    errno = 0;
    v = apr_strtoi64(s, &end, 10);
    if (*end || v < 0 || errno == ERANGE)
        return -1;
    *out = (apr_time_t) v;
    return 0;
}

int oa_shared_tokens_decode(apr_pool_t *p, const char *data, apr_size_t len, oa_shared_tokens *t)
{
    char *copy, *field[FIELDS], *next = NULL;
    int n = 0;

    if (memchr(data, '\0', len))
        return -1;
    copy = apr_pstrmemdup(p, data, len);
    for (char *s = copy; n < FIELDS; n++) {
        field[n] = s;
        next = strchr(s, '\n');
        if (n == FIELDS - 1)
            break;
        if (!next)
            return -1; /* a line short */
        *next = '\0';
        s = next + 1;
    }
    if (next)
        return -1; /* a line too many */
    if (strcmp(field[0], TOKENS_MAGIC) || read_time(field[1], &t->expiry) ||
        read_time(field[2], &t->refreshed_at) || !*field[3])
        return -1;
    t->access_token = field[3];
    t->refresh_token = *field[4] ? field[4] : NULL;
    t->id_token = *field[5] ? field[5] : NULL;
    t->profile_arn = *field[6] ? field[6] : NULL;
    return 0;
}

char *oa_shared_cooldown_encode(apr_pool_t *p, apr_time_t until, apr_size_t *len)
{
    char *out = apr_psprintf(p, "c1 %" APR_TIME_T_FMT, until);

    *len = strlen(out);
    return out;
}

int oa_shared_cooldown_decode(const char *data, apr_size_t len, apr_time_t *until)
{
    char buf[32];

    if (len < 4 || len >= sizeof(buf) || memcmp(data, "c1 ", 3) != 0 || memchr(data, '\0', len))
        return -1;
    memcpy(buf, data + 3, len - 3);
    buf[len - 3] = '\0';
    return read_time(buf, until);
}

#define BACKOFF_MAX 30

apr_uint32_t oa_shared_backoff(apr_uint32_t failures_in_row)
{
    apr_uint32_t seconds = 1;

    for (apr_uint32_t i = 1; i < failures_in_row && seconds < BACKOFF_MAX; i++)
        seconds *= 2;
    return seconds < BACKOFF_MAX ? seconds : BACKOFF_MAX;
}
