/* oa_signal.c: see oa_signal.h. */
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "apr_lib.h"
#include "apr_strings.h"
#include "oa_json.h"
#include "oa_signal.h"
#include "oa_time.h"

/* Google: a rate limit longer than this is a quota (gemini-cli's rule). */
#define OA_GOOGLE_RETRYABLE_MAX apr_time_from_sec(300)
/* A RATE_LIMIT_EXCEEDED shorter than this is waited out with the same credential, per
 * provider (CLIProxyAPI's antigravity executor); 0: never, cool down and switch. */
static const apr_interval_time_t short_retry_below[OA_PROVIDER_COUNT] = {
    [OA_PROVIDER_ANTIGRAVITY] = APR_USEC_PER_SEC * 3,
};
/* Bytes of a body searched for text (Kiro's messages, Google's "retry in"). */
#define OA_BODY_TEXT_MAX 8192

/* One upstream answer, parsed once. */
typedef struct {
    apr_pool_t *p;
    oa_provider provider;
    int status;
    const apr_table_t *headers;
    json_t *root;     /* NULL: not a JSON object */
    const char *text; /* the body's first OA_BODY_TEXT_MAX bytes, NUL-terminated */
    apr_time_t now;
} answer;

static void set(oa_signal *out, oa_signal_kind kind, apr_time_t reset_at, const char *reason)
{
    out->kind = kind;
    out->reset_at = reset_at;
    out->reason = reason;
}

static const char *string_at(json_t *root, const char *path)
{
    json_t *v = oa_json_path_get(root, path);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int same(const char *a, const char *b)
{
    return a && b && !strcmp(a, b);
}

/* Codex: error.type (or .code) usage_limit_reached / rate_limit_exceeded. */
static int codex_signal(const answer *a, oa_signal *out)
{
    const char *type = string_at(a->root, "error.type");
    json_t *resets_at = oa_json_path_get(a->root, "error.resets_at");
    json_t *resets_in = oa_json_path_get(a->root, "error.resets_in_seconds");
    apr_time_t reset = 0;

    if (!type)
        type = string_at(a->root, "error.code");
    if (same(type, "usage_limit_reached")) {
        if (json_is_number(resets_at) &&
            oa_time_from_epoch(json_number_value(resets_at), OA_TIME_EPOCH_S, &reset) == 0)
            reset = oa_time_reset_bound(reset, a->now);
        if (!reset && json_is_number(resets_in) && json_number_value(resets_in) > 0 &&
            json_number_value(resets_in) < 1e9)
            reset = oa_time_reset_bound(
                a->now + (apr_time_t) (json_number_value(resets_in) * APR_USEC_PER_SEC), a->now);
        if (!reset)
            reset = oa_time_retry_after(a->headers, a->now);
        set(out, OA_SIGNAL_QUOTA, reset, "usage_limit_reached");
        return 1;
    }
    if (same(type, "rate_limit_exceeded")) {
        set(out, OA_SIGNAL_THROTTLED, oa_time_retry_after(a->headers, a->now),
            "rate_limit_exceeded");
        return 1;
    }
    return 0;
}

#define UNIFIED_PREFIX "anthropic-ratelimit-unified-"
#define STATUS_SUFFIX  "status"

typedef struct {
    const answer *a;
    int rejected;
    apr_time_t latest_reset;
} unified_scan;

/* One header: an "anthropic-ratelimit-unified-[<window>-]status: rejected" counts, with the
 * reset of the same window ("...-reset" in place of "...-status"). */
static int scan_unified_header(void *data, const char *key, const char *value)
{
    unified_scan *scan = data;
    size_t klen = strlen(key), plen = strlen(UNIFIED_PREFIX), slen = strlen(STATUS_SUFFIX);
    const char *reset_value;
    apr_time_t reset;

    if (klen < plen + slen || strncasecmp(key, UNIFIED_PREFIX, plen) ||
        strcasecmp(key + klen - slen, STATUS_SUFFIX) || strcasecmp(value, "rejected"))
        return 1;
    scan->rejected = 1;
    reset_value = apr_table_get(
        scan->a->headers,
        apr_pstrcat(scan->a->p, apr_pstrmemdup(scan->a->p, key, klen - slen), "reset", NULL));
    if (reset_value && oa_time_parse_text(reset_value, OA_TIME_EPOCH_S, &reset) == 0 &&
        reset > scan->latest_reset)
        scan->latest_reset = reset;
    return 1;
}

/* Claude Code: 429 rate_limit_error, quota when a unified window is rejected. */
static int anthropic_signal(const answer *a, oa_signal *out)
{
    unified_scan scan = {a, 0, 0};
    const char *unified_reset;
    apr_time_t reset = 0;

    if (a->status != 429)
        return 0;
    if (a->headers)
        apr_table_do(scan_unified_header, &scan, a->headers, NULL);
    if (!scan.rejected) {
        set(out, OA_SIGNAL_THROTTLED, oa_time_retry_after(a->headers, a->now), "rate_limit_error");
        return 1;
    }
    reset = oa_time_reset_bound(scan.latest_reset, a->now);
    unified_reset = a->headers ? apr_table_get(a->headers, UNIFIED_PREFIX "reset") : NULL;
    if (!reset && unified_reset && oa_time_parse_text(unified_reset, OA_TIME_EPOCH_S, &reset) == 0)
        reset = oa_time_reset_bound(reset, a->now);
    if (!reset)
        reset = oa_time_retry_after(a->headers, a->now);
    set(out, OA_SIGNAL_QUOTA, reset, "rate_limit_error");
    return 1;
}

/* What Google's error details say. */
typedef struct {
    const char *reason;
    apr_interval_time_t delay; /* 0: none */
    int daily;                 /* a QuotaFailure per day */
} google_details;

static int type_is(json_t *detail, const char *suffix)
{
    const char *type = string_at(detail, "@type");
    size_t n = type ? strlen(type) : 0, s = strlen(suffix);
    return n >= s && !strcmp(type + n - s, suffix);
}

static int quota_id_is_daily(json_t *failure)
{
    json_t *violations = json_object_get(failure, "violations"), *v;
    size_t i;

    json_array_foreach(violations, i, v)
    {
        const char *id = string_at(v, "quotaId");
        if (id && (strstr(id, "PerDay") || strstr(id, "Daily")))
            return 1;
    }
    return 0;
}

/* "Please retry in 12.3s." / "... after 5s.": the delay in Google's message. */
static apr_interval_time_t delay_in_message(apr_pool_t *p, const char *message)
{
    static const char *const markers[] = {"retry in ", "after "};
    apr_interval_time_t delay;

    for (size_t i = 0; message && i < sizeof(markers) / sizeof(markers[0]); i++) {
        const char *at = strstr(message, markers[i]);
        size_t n;
        if (!at)
            continue;
        at += strlen(markers[i]);
        n = strspn(at, "0123456789.hmsun");
        while (n && at[n - 1] == '.')
            n--;
        if (n && oa_duration_parse(apr_pstrmemdup(p, at, n), &delay) == 0)
            return delay;
    }
    return 0;
}

static void read_google_details(const answer *a, google_details *d)
{
    json_t *details = oa_json_path_get(a->root, "error.details"), *item;
    apr_interval_time_t retry_delay = 0, reset_delay = 0;
    size_t i;

    memset(d, 0, sizeof(*d));
    json_array_foreach(details, i, item)
    {
        if (type_is(item, "google.rpc.ErrorInfo")) {
            d->reason = string_at(item, "reason");
            if (oa_duration_parse(string_at(item, "metadata.quotaResetDelay"), &reset_delay))
                reset_delay = 0;
        } else if (type_is(item, "google.rpc.RetryInfo")) {
            if (oa_duration_parse(string_at(item, "retryDelay"), &retry_delay))
                retry_delay = 0;
        } else if (type_is(item, "google.rpc.QuotaFailure")) {
            d->daily |= quota_id_is_daily(item);
        }
    }
    d->delay = retry_delay   ? retry_delay
               : reset_delay ? reset_delay
                             : delay_in_message(a->p, string_at(a->root, "error.message"));
}

/* Gemini CLI and Antigravity: RESOURCE_EXHAUSTED and its details. */
static int google_signal(const answer *a, oa_signal *out)
{
    google_details d;
    apr_time_t reset;

    if (a->status != 429 && a->status != 499 &&
        !same(string_at(a->root, "error.status"), "RESOURCE_EXHAUSTED"))
        return 0;
    read_google_details(a, &d);
    if (same(d.reason, "MODEL_CAPACITY_EXHAUSTED")) {
        set(out, OA_SIGNAL_OK, 0, "MODEL_CAPACITY_EXHAUSTED");
        return 1;
    }
    reset = d.delay ? oa_time_reset_bound(a->now + d.delay, a->now)
                    : oa_time_retry_after(a->headers, a->now);
    if (same(d.reason, "QUOTA_EXHAUSTED") || d.daily || d.delay > OA_GOOGLE_RETRYABLE_MAX)
        set(out, OA_SIGNAL_QUOTA, reset, d.daily ? "daily quota" : "QUOTA_EXHAUSTED");
    else if (same(d.reason, "RATE_LIMIT_EXCEEDED") && d.delay > 0 &&
             d.delay < short_retry_below[a->provider])
        set(out, OA_SIGNAL_RETRY, reset, "RATE_LIMIT_EXCEEDED");
    else
        set(out, OA_SIGNAL_THROTTLED, reset, "RATE_LIMIT_EXCEEDED");
    return 1;
}

/* 00:00 UTC on the 1st of the month after now's. */
static apr_time_t next_month_start(apr_time_t now)
{
    apr_time_exp_t tm;
    apr_time_t t;

    apr_time_exp_gmt(&tm, now);
    tm.tm_year += tm.tm_mon == 11;
    tm.tm_mon = (tm.tm_mon + 1) % 12;
    tm.tm_mday = 1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = tm.tm_usec = 0;
    return apr_time_exp_gmt_get(&t, &tm) == APR_SUCCESS ? t : 0;
}

/* Kiro: 402 is the monthly allowance; a 403 about the bearer token is an expired one. */
static int kiro_signal(const answer *a, oa_signal *out)
{
    static const char *const token_words[] = {"bearer token", "token has expired", "expiredtoken",
                                              "token is expired"};

    if (a->status == 402) {
        set(out, OA_SIGNAL_QUOTA, oa_time_reset_bound(next_month_start(a->now), a->now),
            strstr(a->text, "MONTHLY_REQUEST_COUNT") ? "MONTHLY_REQUEST_COUNT" : "monthly quota");
        return 1;
    }
    if (a->status != 403)
        return 0;
    for (size_t i = 0; i < sizeof(token_words) / sizeof(token_words[0]); i++) {
        if (strcasestr(a->text, token_words[i])) {
            set(out, OA_SIGNAL_EXPIRED, 0, "token refused");
            return 1;
        }
    }
    return 0;
}

typedef int (*provider_signal)(const answer *a, oa_signal *out);

static const provider_signal provider_signals[OA_PROVIDER_COUNT] = {
    [OA_PROVIDER_CODEX] = codex_signal,      [OA_PROVIDER_CLAUDECODE] = anthropic_signal,
    [OA_PROVIDER_GEMINICLI] = google_signal, [OA_PROVIDER_ANTIGRAVITY] = google_signal,
    [OA_PROVIDER_KIRO] = kiro_signal,
};

/* What any provider's status says when its own signals said nothing. */
static void status_signal(const answer *a, oa_signal *out)
{
    switch (a->status) {
    case 401:
        set(out, OA_SIGNAL_EXPIRED, 0, "unauthorized");
        break;
    case 403:
        set(out, OA_SIGNAL_REFUSED, 0, "forbidden");
        break;
    case 429:
        set(out, OA_SIGNAL_THROTTLED, oa_time_retry_after(a->headers, a->now), "rate limited");
        break;
    default:
        set(out, OA_SIGNAL_OK, 0, "ok");
    }
}

void oa_signal_classify(apr_pool_t *p, oa_provider provider, int status, const apr_table_t *headers,
                        const char *body, apr_size_t len, apr_time_t now, oa_signal *out)
{
    answer a = {p, provider, status, headers, NULL, "", now};

    memset(out, 0, sizeof(*out));
    if (status < 400) {
        set(out, OA_SIGNAL_OK, 0, "ok");
        return;
    }
    if (body && len) {
        a.root = oa_json_pool_own(p, json_loadb(body, len, 0, NULL));
        if (!json_is_object(a.root))
            a.root = NULL;
        a.text = apr_pstrmemdup(p, body, len < OA_BODY_TEXT_MAX ? len : OA_BODY_TEXT_MAX);
    }
    if (provider >= 0 && provider < OA_PROVIDER_COUNT && provider_signals[provider](&a, out))
        return;
    status_signal(&a, out);
}

const char *oa_signal_kind_name(oa_signal_kind kind)
{
    static const char *const names[] = {"ok", "expired", "refused", "throttled", "quota", "retry"};
    return kind >= 0 && (size_t) kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "?";
}
