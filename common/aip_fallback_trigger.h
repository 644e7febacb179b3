/*
 * aip_fallback_trigger.h: does an upstream's answer call for the next base URL of the same
 * provider (endpoint fallback, mod_aiproxy/aip_base_fallback.h)?
 *
 * One rule for every caller that walks an upstream's bases: mod_aiproxy's attempts (a
 * subrequest per base) and mod_aiproxy_oauth's Code Assist setup calls (loadCodeAssist,
 * onboardUser), so a base that is skipped for a request is skipped for the discovery of the
 * project that request needs. Which failures count is the api type's (its set of triggers);
 * what each failure looks like on the wire is here.
 */
#ifndef AIP_FALLBACK_TRIGGER_H
#define AIP_FALLBACK_TRIGGER_H

#include "apr.h"

/* The failures that may move a call on to the next base URL, as a set (bits). */
enum {
    AIP_FALLBACK_ON_NO_RESPONSE = 1, /* nothing came back: connect failure, reset, timeout */
    AIP_FALLBACK_ON_429 = 2,         /* rate limited at this endpoint */
    AIP_FALLBACK_ON_NO_CAPACITY = 4  /* a 503 saying "no capacity available" */
};

/* Does an answer with status (0: nothing came back) and the start of its error body (len
 * bytes, not NUL-terminated; NULL when none) match one of triggers (AIP_FALLBACK_ON_*)? */
int aip_fallback_triggered(unsigned int triggers, int status, const char *body, apr_size_t len);

#endif /* AIP_FALLBACK_TRIGGER_H */
