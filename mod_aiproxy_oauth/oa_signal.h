/*
 * oa_signal.h: what an upstream answer says about the credential that made the attempt, so
 * the caller cools that credential down (or refreshes it) and moves on to the next one.
 *
 * Pure: (provider, status, headers, body) -> kind and the reset time the answer states.
 * Signals read (research/oauth.md):
 *  - Codex: 429 error.type usage_limit_reached with resets_at (unix s) or resets_in_seconds:
 *    quota; rate_limit_exceeded: throttled.
 *  - Claude Code: 429 rate_limit_error; a window whose anthropic-ratelimit-unified-<w>-status
 *    is "rejected" (the plan's 5-hour or weekly allowance) makes it quota, until the latest
 *    such window's -reset (else -unified-reset, else Retry-After); otherwise throttled.
 *  - Gemini CLI / Antigravity: RESOURCE_EXHAUSTED; ErrorInfo reason QUOTA_EXHAUSTED, a
 *    QuotaFailure quotaId per day, or a RATE_LIMIT_EXCEEDED delay over 5 minutes: quota;
 *    RATE_LIMIT_EXCEEDED otherwise: throttled. Delay from RetryInfo.retryDelay, then
 *    ErrorInfo.metadata.quotaResetDelay, then "retry in Ns" in the message (gemini-cli's
 *    order). MODEL_CAPACITY_EXHAUSTED is about the model, not the credential. Antigravity
 *    only: RATE_LIMIT_EXCEEDED (named in ErrorInfo) with a delay under 3 s is waited out with
 *    the same credential (retry; CLIProxyAPI's rule).
 *  - Kiro: 402: the monthly allowance, until the 1st of next month 00:00 UTC; a 403 that
 *    names the bearer token: expired.
 *  - Every provider: 401 expired, 403 refused, 429 throttled until Retry-After.
 */
#ifndef OA_SIGNAL_H
#define OA_SIGNAL_H

#include "apr_pools.h"
#include "apr_tables.h"
#include "apr_time.h"
#include "oa_provider.h"

typedef enum {
    /* Nothing about the credential: it stays in rotation. The answer may still be an error
     * (a 400, a 5xx): the router's failover handles those. */
    OA_SIGNAL_OK = 0,
    OA_SIGNAL_EXPIRED,   /* the token is not accepted: refresh once, retry the attempt */
    OA_SIGNAL_REFUSED,   /* the account may not do this: next credential */
    OA_SIGNAL_THROTTLED, /* a short rate limit: cool down until reset_at */
    OA_SIGNAL_QUOTA,     /* the plan's allowance is used up: cool down until reset_at */
    OA_SIGNAL_RETRY,     /* a limit short enough to wait out: the same credential at reset_at */
} oa_signal_kind;

typedef struct {
    oa_signal_kind kind;
    apr_time_t reset_at; /* when the answer says it ends; 0: it does not say */
    const char *reason;  /* a constant for logs: "usage_limit_reached", "QUOTA_EXHAUSTED"... */
} oa_signal;

/* The signal of an answer: status, headers (NULL: none), body (len bytes, may be NULL),
 * received at now. */
void oa_signal_classify(apr_pool_t *p, oa_provider provider, int status, const apr_table_t *headers,
                        const char *body, apr_size_t len, apr_time_t now, oa_signal *out);

/* The name of a kind: "ok", "expired", "refused", "throttled", "quota", "retry". */
const char *oa_signal_kind_name(oa_signal_kind kind);

#endif /* OA_SIGNAL_H */
