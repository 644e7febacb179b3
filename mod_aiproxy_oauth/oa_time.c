/* oa_time.c: see oa_time.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "apr_lib.h"
#include "apr_date.h"
#include "apr_strings.h"
#include "oa_time.h"

/* Longest duration accepted: the longest cooldown any provider states is a month. */
#define OA_DURATION_MAX (APR_INT64_C(400) * 86400 * APR_USEC_PER_SEC)

/* Reads exactly n decimal digits at *s into *value and moves *s past them. */
static int read_digits(const char **s, int n, int *value)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!apr_isdigit((*s)[i]))
            return -1;
        v = v * 10 + ((*s)[i] - '0');
    }
    *s += n;
    *value = v;
    return 0;
}

static int expect_char(const char **s, const char *allowed)
{
    if (!**s || !strchr(allowed, **s))
        return -1;
    (*s)++;
    return 0;
}

static int days_in_month(int year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return days[month - 1] + (month == 2 && leap);
}

/* A fraction of a second ".123456789": microseconds, extra digits dropped (at most 9). */
static int read_fraction(const char **s, apr_time_t *usec)
{
    int digits = 0;
    apr_time_t v = 0;

    if (**s != '.')
        return 0;
    (*s)++;
    while (apr_isdigit(**s)) {
        if (++digits > 9)
            return -1;
        if (digits <= 6)
            v = v * 10 + (**s - '0');
        (*s)++;
    }
    if (!digits)
        return -1;
    for (int i = digits; i < 6; i++)
        v *= 10;
    *usec = v;
    return 0;
}

/* "Z", "+HH:MM", "-HH:MM" or nothing (UTC): the offset east of UTC, in seconds. */
static int read_offset(const char **s, int *offset)
{
    int sign, hours, minutes;

    *offset = 0;
    if (!**s)
        return 0;
    if (**s == 'Z' || **s == 'z') {
        (*s)++;
        return 0;
    }
    if (**s != '+' && **s != '-')
        return -1;
    sign = **s == '-' ? -1 : 1;
    (*s)++;
    if (read_digits(s, 2, &hours) || expect_char(s, ":") || read_digits(s, 2, &minutes) ||
        hours > 23 || minutes > 59)
        return -1;
    *offset = sign * (hours * 3600 + minutes * 60);
    return 0;
}

int oa_time_parse_rfc3339(const char *s, apr_time_t *out)
{
    apr_time_exp_t tm;
    apr_time_t t, usec = 0;
    int year, month, day, hour, minute, second, offset;

    if (!s || read_digits(&s, 4, &year) || expect_char(&s, "-") || read_digits(&s, 2, &month) ||
        expect_char(&s, "-") || read_digits(&s, 2, &day) || expect_char(&s, "Tt ") ||
        read_digits(&s, 2, &hour) || expect_char(&s, ":") || read_digits(&s, 2, &minute) ||
        expect_char(&s, ":") || read_digits(&s, 2, &second) || read_fraction(&s, &usec) ||
        read_offset(&s, &offset) || *s)
        return -1;
    if (year < 1970 || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) ||
        hour > 23 || minute > 59 || second > 60)
        return -1;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second > 59 ? 59 : second; /* a leap second counts as :59 */
    if (apr_time_exp_gmt_get(&t, &tm) != APR_SUCCESS)
        return -1;
    t += usec - apr_time_from_sec(offset);
    if (t < 0 || t > OA_TIME_LAST)
        return -1;
    *out = t;
    return 0;
}

const char *oa_time_format_rfc3339(apr_pool_t *p, apr_time_t t)
{
    apr_time_exp_t tm;

    apr_time_exp_gmt(&tm, t < 0 ? 0 : t > OA_TIME_LAST ? OA_TIME_LAST : t);
    return apr_psprintf(p, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                        tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int oa_time_from_epoch(double value, oa_time_unit unit, apr_time_t *out)
{
    double usec = value * (unit == OA_TIME_EPOCH_MS ? 1e3 : 1e6);

    /* NaN fails both comparisons' negation: it is refused with the out-of-range values. */
    if (!(usec >= 0 && usec <= (double) OA_TIME_LAST))
        return -1;
    *out = (apr_time_t) usec;
    return 0;
}

/* A string of decimal digits only (some files quote their epoch numbers). */
static int all_digits(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++) {
        if (!apr_isdigit(*s))
            return 0;
    }
    return 1;
}

int oa_time_parse_text(const char *s, oa_time_unit unit, apr_time_t *out)
{
    if (all_digits(s) && strlen(s) <= 16)
        return oa_time_from_epoch(strtod(s, NULL), unit, out);
    return oa_time_parse_rfc3339(s, out);
}

int oa_time_from_json(const json_t *value, oa_time_unit unit, apr_time_t *out)
{
    if (json_is_string(value))
        return oa_time_parse_text(json_string_value(value), unit, out);
    if (json_is_number(value))
        return oa_time_from_epoch(json_number_value(value), unit, out);
    return -1;
}

json_t *oa_time_to_json(apr_pool_t *p, apr_time_t t, oa_time_unit unit)
{
    switch (unit) {
    case OA_TIME_RFC3339:
        return json_string(oa_time_format_rfc3339(p, t));
    case OA_TIME_EPOCH_MS:
        return json_integer(t / 1000);
    case OA_TIME_EPOCH_S:
    default:
        return json_integer(apr_time_sec(t));
    }
}

/* Duration units, longest spelling first so "ms" is not read as "m" then "s". */
static const struct {
    const char *suffix;
    double usec;
} duration_units[] = {
    {"ms", 1e3}, {"us", 1}, {"\xc2\xb5s", 1}, {"ns", 1e-3}, {"h", 3600e6}, {"m", 60e6}, {"s", 1e6},
};

/* One "<number><unit>" term at *s; its length in microseconds added to *total. */
static int read_duration_term(const char **s, double *total)
{
    char *end;
    double number;

    if (!apr_isdigit(**s) && **s != '.')
        return -1;
    number = strtod(*s, &end);
    if (end == *s || !(number >= 0))
        return -1;
    for (size_t i = 0; i < sizeof(duration_units) / sizeof(duration_units[0]); i++) {
        size_t n = strlen(duration_units[i].suffix);
        if (!strncmp(end, duration_units[i].suffix, n)) {
            *total += number * duration_units[i].usec;
            *s = end + n;
            return 0;
        }
    }
    return -1;
}

int oa_duration_parse(const char *s, apr_interval_time_t *out)
{
    double total = 0;

    if (!s || !*s || strlen(s) > 64)
        return -1;
    while (*s) {
        /* strtod reads "1e5", "inf" and hex too: only plain decimals are durations. */
        for (const char *c = s; *c && (apr_isdigit(*c) || *c == '.'); c++) {
            if (c[1] == 'e' || c[1] == 'E' || c[1] == 'x' || c[1] == 'X')
                return -1;
        }
        if (read_duration_term(&s, &total) || total > (double) OA_DURATION_MAX)
            return -1;
    }
    *out = (apr_interval_time_t) total;
    return 0;
}

apr_time_t oa_time_reset_bound(apr_time_t t, apr_time_t now)
{
    if (t <= now)
        return 0;
    return t - now > OA_DURATION_MAX ? now + OA_DURATION_MAX : t;
}

/* A header holding a non-negative decimal count of units (at most 12 digits). */
static int header_count(const apr_table_t *headers, const char *name, apr_int64_t *count)
{
    const char *v = headers ? apr_table_get(headers, name) : NULL;
    apr_int64_t n = 0;
    size_t digits = 0;

    if (!v)
        return -1;
    while (*v == ' ')
        v++;
    for (; apr_isdigit(*v) && digits < 12; v++, digits++)
        n = n * 10 + (*v - '0');
    while (*v == ' ')
        v++;
    if (!digits || *v)
        return -1;
    *count = n;
    return 0;
}

apr_time_t oa_time_retry_after(const apr_table_t *headers, apr_time_t now)
{
    const char *v = headers ? apr_table_get(headers, "Retry-After") : NULL;
    apr_int64_t n;
    apr_time_t date;

    if (header_count(headers, "Retry-After-Ms", &n) == 0)
        return oa_time_reset_bound(now + n * 1000, now);
    if (header_count(headers, "Retry-After", &n) == 0)
        return oa_time_reset_bound(now + apr_time_from_sec(n), now);
    if (v && (date = apr_date_parse_http(v)) != APR_DATE_BAD)
        return oa_time_reset_bound(date, now);
    return 0;
}
