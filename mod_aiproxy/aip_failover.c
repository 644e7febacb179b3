/* aip_failover.c: see aip_failover.h. */
#include <stdlib.h>
#include "apr_date.h"
#include "apr_time.h"
#include "aip_failover.h"

static const struct {
    int status; /* 0 = any status in the class below */
    int class_; /* 4 or 5 for a whole class, 0 for an exact status */
    aip_verdict verdict;
} status_verdicts[] = {
    /* The client's own mistakes: every upstream would say the same. */
    {400, 0, {0, 0, 0}},
    {413, 0, {0, 0, 0}},
    {422, 0, {0, 0, 0}},
    /* This credential is refused or throttled: another token may work. */
    {401, 0, {1, 1, 1}},
    {403, 0, {1, 1, 1}},
    {429, 0, {1, 1, 1}},
    /* The model is unknown here, the request timed out, the upstream is overloaded. */
    {404, 0, {1, 0, 1}},
    {408, 0, {1, 0, 1}},
    {529, 0, {1, 0, 1}},
    {0, 5, {1, 0, 1}},
    /* Any other 4xx (402 billing, 409 ...) is about this upstream account: move on. */
    {0, 4, {1, 0, 1}},
};

aip_verdict aip_failover_verdict(aip_failure_kind kind, int status)
{
    static const aip_verdict unreachable = {1, 0, 1};
    static const aip_verdict fallback = {1, 0, 1};

    if (kind != AIP_FAILURE_STATUS)
        return unreachable;
    for (size_t i = 0; i < sizeof(status_verdicts) / sizeof(status_verdicts[0]); i++) {
        if (status_verdicts[i].status == status ||
            (status_verdicts[i].status == 0 && status / 100 == status_verdicts[i].class_))
            return status_verdicts[i].verdict;
    }
    return fallback;
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
