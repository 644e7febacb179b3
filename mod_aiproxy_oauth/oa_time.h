/*
 * oa_time.h: the times of auth files and token answers, in every unit they come in.
 *
 * Expiry is an RFC 3339 string in the Go proxies' files and Kiro's, epoch milliseconds in
 * Claude Code's and Gemini CLI's, epoch seconds in JWT claims and in rate-limit answers, and
 * a duration ("0.847s", "373.8ms", "1h2m") in Google's retry hints. Inside the module every
 * time is an apr_time_t (microseconds since the epoch); these functions convert at the edge,
 * refusing anything outside years 1970 to 9999 so no arithmetic on a hostile value wraps.
 */
#ifndef OA_TIME_H
#define OA_TIME_H

#include <jansson.h>
#include "apr_pools.h"
#include "apr_tables.h"
#include "apr_time.h"

/* How a file writes a time. */
typedef enum {
    OA_TIME_RFC3339,  /* "2025-05-22T10:05:18Z" (any offset and fraction when read) */
    OA_TIME_EPOCH_S,  /* seconds since the epoch */
    OA_TIME_EPOCH_MS, /* milliseconds since the epoch */
} oa_time_unit;

/* 9999-12-31T23:59:59Z: the last time any function here accepts or produces. */
#define OA_TIME_LAST APR_INT64_C(253402300799000000)

/* s as RFC 3339 (a missing offset is UTC, "T" may be a space); 0 and *out set, or -1. */
int oa_time_parse_rfc3339(const char *s, apr_time_t *out);
/* t as "YYYY-MM-DDTHH:MM:SSZ" (whole seconds, UTC). */
const char *oa_time_format_rfc3339(apr_pool_t *p, apr_time_t t);

/* A count of seconds or milliseconds since the epoch; -1 when negative or past OA_TIME_LAST. */
int oa_time_from_epoch(double value, oa_time_unit unit, apr_time_t *out);

/* s as decimal digits in unit (an epoch unit; seconds for OA_TIME_RFC3339), else as
 * RFC 3339: headers and files that hold either. 0 and *out set, or -1. */
int oa_time_parse_text(const char *s, oa_time_unit unit, apr_time_t *out);
/* A JSON time: a string is RFC 3339 (or decimal digits in unit), a number is in unit (an
 * epoch unit; OA_TIME_RFC3339 takes numbers as seconds). 0 and *out set, or -1. */
int oa_time_from_json(const json_t *value, oa_time_unit unit, apr_time_t *out);
/* t as a new JSON value in unit: a string for OA_TIME_RFC3339, else an integer. */
json_t *oa_time_to_json(apr_pool_t *p, apr_time_t t, oa_time_unit unit);

/* A duration such as "0.847655010s", "373.8ms", "300s", "1h2m3.5s" (units h, m, s, ms, us,
 * ns; Google's retryDelay and quotaResetDelay, Go's time.Duration). Bounded to 400 days.
 * 0 and *out set, or -1. */
int oa_duration_parse(const char *s, apr_interval_time_t *out);

/* When an answer's Retry-After (seconds or an HTTP date) or Retry-After-Ms header says to
 * come back; 0 when it says nothing usable. Never before now, never past 400 days on. */
apr_time_t oa_time_retry_after(const apr_table_t *headers, apr_time_t now);
/* t bounded to (now, now + 400 days]; 0 when t is not after now. */
apr_time_t oa_time_reset_bound(apr_time_t t, apr_time_t now);

#endif /* OA_TIME_H */
