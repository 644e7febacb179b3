/*
 * aip_client_key.h: what a client key may do: the models in its scope, and its per-minute
 * request and token counters, shared by every httpd child.
 *
 * A counter is one 64-bit word: the minute it counts (high half) and the count (low half), so
 * moving to a new minute and counting are one compare-and-swap, with no lock. The window is a
 * fixed calendar minute, as OpenAI's x-ratelimit-reset-* headers describe it: the count goes
 * back to zero at the minute's end.
 */
#ifndef AIP_CLIENT_KEY_H
#define AIP_CLIENT_KEY_H

#include "apr.h"
#include "aip_config.h"

/* Is model in k's scope (a listed name, or a glob with * matching it)? */
int aip_client_key_allows(const aip_client_key *k, const char *model);

/* One key's counters; lives in shared memory. digest identifies the key without holding it. */
#define AIP_KEY_DIGEST_SIZE 20
typedef struct {
    unsigned char digest[AIP_KEY_DIGEST_SIZE]; /* SHA-1 of the key */
    apr_uint32_t pad;
    volatile apr_uint64_t requests; /* minute << 32 | requests admitted in it */
    volatile apr_uint64_t tokens;   /* minute << 32 | tokens used in it */
} aip_key_counters;

/* Where one key stands against its limits, for the x-ratelimit-* headers. */
typedef struct {
    int admitted;
    int over_tokens;             /* refused for tokens (else for requests) */
    apr_uint32_t limit_requests; /* 0: no request limit */
    apr_uint32_t remaining_requests;
    apr_uint32_t limit_tokens; /* 0: no token limit */
    apr_uint32_t remaining_tokens;
    apr_uint32_t reset_seconds; /* until the minute ends and the counts start again */
} aip_rate_status;

/* Admit one request of k at now (seconds): counted when admitted; refused when the minute's
 * requests reached rpm, or its tokens reached tpm. */
aip_rate_status aip_rate_admit(aip_key_counters *c, const aip_client_key *k, apr_int64_t now);

/* Count tokens (input + output) of a finished request in the minute of now. */
void aip_rate_add_tokens(aip_key_counters *c, apr_uint64_t tokens, apr_int64_t now);

/* Reset-time text in OpenAI's style: "45s", "1m0s". */
const char *aip_rate_reset_text(apr_pool_t *p, apr_uint32_t seconds);

#endif /* AIP_CLIENT_KEY_H */
