/*
 * aip_failover.h: what one failed attempt means for the request and for the upstream.
 *
 * A table, not if-chains: for each kind of failure, whether the next candidate is tried and
 * whether the failure counts against the upstream's circuit breaker. Whether another
 * credential of the same upstream is tried first is its credential provider's call
 * (aiproxy_credential.h).
 */
#ifndef AIP_FAILOVER_H
#define AIP_FAILOVER_H

typedef enum {
    AIP_FAILURE_NO_RESPONSE = 0, /* connect failure, timeout, connection closed before a status */
    AIP_FAILURE_STATUS,          /* an HTTP error status (with its body) */
    AIP_FAILURE_ERROR_EVENT      /* a 200 stream whose first event was an error */
} aip_failure_kind;

typedef struct {
    int try_next;       /* move on to the next candidate (else the error goes to the client) */
    int counts_against; /* a breaker failure for (upstream, model) */
} aip_verdict;

aip_verdict aip_failover_verdict(aip_failure_kind kind, int status);

/* Seconds from a Retry-After value (delta-seconds or HTTP date relative to now_seconds);
 * 0 when absent or unparsable. Capped at cap_seconds. */
long aip_retry_after_seconds(const char *value, long long now_seconds, long cap_seconds);

#endif /* AIP_FAILOVER_H */
