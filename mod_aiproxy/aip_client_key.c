/* aip_client_key.c: see aip_client_key.h. */
#include "apr_atomic.h"
#include "apr_fnmatch.h"
#include "apr_strings.h"
#include "aip_client_key.h"

int aip_client_key_allows(const aip_client_key *k, const char *model)
{
    if (!k || k->models->nelts == 0)
        return 1;
    if (!model)
        return 0;
    for (int i = 0; i < k->models->nelts; i++) {
        if (apr_fnmatch(APR_ARRAY_IDX(k->models, i, const char *), model, 0) == APR_SUCCESS)
            return 1;
    }
    return 0;
}

#define COUNT_MASK 0xffffffffu

static apr_uint32_t minute_of(apr_int64_t now)
{
    return (apr_uint32_t) (now / 60);
}

/* The count word holds for minute: its count then, 0 when it counted an earlier minute. */
static apr_uint32_t count_in(apr_uint64_t word, apr_uint32_t minute)
{
    return (apr_uint32_t) (word >> 32) == minute ? (apr_uint32_t) (word & COUNT_MASK) : 0;
}

static apr_uint64_t word_of(apr_uint32_t minute, apr_uint64_t count)
{
    return ((apr_uint64_t) minute << 32) | (count > COUNT_MASK ? COUNT_MASK : count);
}

static apr_uint32_t remaining(apr_uint32_t limit, apr_uint32_t used)
{
    return used >= limit ? 0 : limit - used;
}

aip_rate_status aip_rate_admit(aip_key_counters *c, const aip_client_key *k, apr_int64_t now)
{
    apr_uint32_t minute = minute_of(now);
    apr_uint32_t tokens = count_in(apr_atomic_read64(&c->tokens), minute);
    aip_rate_status st = {0, 0, k->rpm, 0, k->tpm, 0, (apr_uint32_t) (60 - now % 60)};
    apr_uint64_t old;
    apr_uint32_t requests;

    st.remaining_tokens = remaining(k->tpm, tokens);
    if (k->tpm && tokens >= k->tpm) {
        st.over_tokens = 1;
        st.remaining_requests =
            remaining(k->rpm, count_in(apr_atomic_read64(&c->requests), minute));
        return st;
    }
    do {
        old = apr_atomic_read64(&c->requests);
        requests = count_in(old, minute);
        if (k->rpm && requests >= k->rpm) {
            st.remaining_requests = 0;
            return st;
        }
    } while (apr_atomic_cas64(&c->requests, word_of(minute, (apr_uint64_t) requests + 1), old) !=
             old);
    st.admitted = 1;
    st.remaining_requests = remaining(k->rpm, requests + 1);
    return st;
}

void aip_rate_add_tokens(aip_key_counters *c, apr_uint64_t tokens, apr_int64_t now)
{
    apr_uint32_t minute = minute_of(now);
    apr_uint64_t old;

    if (!tokens)
        return;
    do
        old = apr_atomic_read64(&c->tokens);
    while (apr_atomic_cas64(&c->tokens, word_of(minute, count_in(old, minute) + tokens), old) !=
           old);
}

const char *aip_rate_reset_text(apr_pool_t *p, apr_uint32_t seconds)
{
    if (seconds < 60)
        return apr_psprintf(p, "%us", seconds);
    return apr_psprintf(p, "%um%us", seconds / 60, seconds % 60);
}
