/* aip_failover.c: see aip_failover.h. */
#include <stdlib.h>
#include "apr_date.h"
#include "apr_time.h"
#include "aip_failover.h"

/* The upstream may be fine (the next one would fail alike): stop, tell the client. */
#define CLIENT_FAULT                                                                               \
    {                                                                                              \
        .try_next = 0, .counts_against = 0                                                         \
    }
/* This upstream (or its credential) failed: move on, and count it against the upstream. */
#define UPSTREAM_FAULT                                                                             \
    {                                                                                              \
        .try_next = 1, .counts_against = 1                                                         \
    }

static const struct {
    int status; /* 0 = any status in the class below */
    int class_; /* 4 or 5 for a whole class, 0 for an exact status */
    aip_verdict verdict;
} status_verdicts[] = {
    /* The client's own mistakes: every upstream would say the same. */
    {.status = 400, .verdict = CLIENT_FAULT},
    {.status = 413, .verdict = CLIENT_FAULT},
    {.status = 422, .verdict = CLIENT_FAULT},
    /* This credential is refused or throttled (its provider may try another first). */
    {.status = 401, .verdict = UPSTREAM_FAULT},
    {.status = 403, .verdict = UPSTREAM_FAULT},
    {.status = 429, .verdict = UPSTREAM_FAULT},
    /* The model is unknown here, the request timed out, the upstream is overloaded. */
    {.status = 404, .verdict = UPSTREAM_FAULT},
    {.status = 408, .verdict = UPSTREAM_FAULT},
    {.status = 529, .verdict = UPSTREAM_FAULT},
    {.class_ = 5, .verdict = UPSTREAM_FAULT},
    /* Any other 4xx (402 billing, 409 ...) is about this upstream account: move on. */
    {.class_ = 4, .verdict = UPSTREAM_FAULT},
};

aip_verdict aip_failover_verdict(aip_failure_kind kind, int status)
{
    /* No answer, or an error event: this upstream failed; so does any unlisted status. */
    static const aip_verdict upstream_fault = UPSTREAM_FAULT;

    if (kind != AIP_FAILURE_STATUS)
        return upstream_fault;
    for (size_t i = 0; i < sizeof(status_verdicts) / sizeof(status_verdicts[0]); i++) {
        if (status_verdicts[i].status == status ||
            (status_verdicts[i].status == 0 && status / 100 == status_verdicts[i].class_))
            return status_verdicts[i].verdict;
    }
    return upstream_fault;
}

long aip_retry_after_seconds(const char *value, long long now_seconds, long cap_seconds)
{
    long seconds = 0;
    char *end;

    if (!value || !*value)
        return 0;
    seconds = strtol(value, &end, 10);
    if (end == value || *end) {
        apr_time_t when = apr_date_parse_http(value);
        if (when == APR_DATE_BAD)
            return 0;
        seconds = (long) (apr_time_sec(when) - now_seconds);
    }
    if (seconds < 0)
        return 0;
    return seconds > cap_seconds ? cap_seconds : seconds;
}
