/*
 * oa_slot.h: one credential's shared state, as it sits in a shared-memory slot seen alike by
 * every httpd child: the tokens (read lock-free under a sequence lock), the refresh lease
 * that lets exactly one child refresh at a time, and the cooldown and failure marks.
 *
 * Pure: the caller hands over the memory (a slotmem slot) and the clock. Who writes what:
 *  - the tokens (oa_slot_tokens) only under the lease, or before any child exists, so the
 *    sequence lock has one writer at a time;
 *  - the cooldown, the rejected generation and the backoff are single atomic words any child
 *    may store: the latest writer wins, which is what a cooldown wants.
 * Readers never wait for a writer: they copy the tokens and retry when the sequence moved.
 */
#ifndef OA_SLOT_H
#define OA_SLOT_H

#include <stdatomic.h>
#include "apr_pools.h"
#include "apr_time.h"

/* A Codex access token (a JWT carrying the account's claims) is 1.5 to 3 KiB today; room for
 * growth. A token that does not fit is refused (the credential is taken out), never cut. */
#define OA_SLOT_ACCESS_MAX  8192
#define OA_SLOT_REFRESH_MAX 2048
#define OA_SLOT_ACCOUNT_MAX 128
#define OA_SLOT_WHY_MAX     128
#define OA_SLOT_PRINT_MAX   24 /* "sha256:" + 12 hex digits, NUL */

/* Whether the credential serves at all. */
typedef enum {
    OA_SLOT_ACTIVE = 0, /* in rotation (it may still be cooling down or need a refresh) */
    OA_SLOT_DISABLED,   /* the file says "disabled": true */
    OA_SLOT_FAILED,     /* a permanent failure: unreadable file, refresh token refused */
} oa_slot_status;

/* What the sequence lock guards; readers copy it whole. */
typedef struct {
    apr_time_t expiry;       /* 0: unknown, refresh before use */
    apr_time_t last_refresh; /* 0: never seen */
    apr_uint32_t generation; /* bumped with every new access token */
    char access_token[OA_SLOT_ACCESS_MAX];
    char account_id[OA_SLOT_ACCOUNT_MAX]; /* Codex chatgpt-account-id, Kiro profileArn; "" none */
    /* Google logins: the Code Assist project requests name ("" not known yet: discovered
     * before the first request), and the account it was found for (the fingerprint of the
     * file's email; a refresh that brings another account drops a discovered project). */
    char project[OA_SLOT_ACCOUNT_MAX];
    char project_account[OA_SLOT_ACCOUNT_MAX];
    /* A rotated refresh token the file did not take (its write failed): the next refresh
     * uses it instead of the file's, which is spent. "" none. */
    char pending_refresh[OA_SLOT_REFRESH_MAX];
    char fingerprint[OA_SLOT_PRINT_MAX]; /* of the access token, for the admin view */
    char why[OA_SLOT_WHY_MAX];           /* DISABLED / FAILED: why, never a secret */
} oa_slot_tokens;

typedef struct {
    _Atomic apr_uint64_t identity;          /* which credential holds the slot (oa_slot_identity) */
    atomic_uint seq;                        /* odd while the tokens are being written */
    atomic_uint lease;                      /* 0: free; else the second (epoch) it lapses */
    atomic_uint status;                     /* oa_slot_status */
    atomic_uint rejected_generation;        /* an upstream refused this generation (401) */
    atomic_uint failures;                   /* transient refresh failures in a row */
    atomic_uint turn;                       /* round robin over an upstream's files (its first
                                               file's slot counts for all) */
    _Atomic apr_int64_t cooldown_until;     /* a rate or quota limit: not before (apr_time_t) */
    _Atomic apr_int64_t refresh_not_before; /* transient failure backoff (apr_time_t) */
    oa_slot_tokens tokens;
} oa_slot;

/* A stable name of a credential (its upstream and file) across configuration loads. */
apr_uint64_t oa_slot_identity(const char *upstream_key, const char *path);

/* A consistent copy of the tokens into *out; never blocks on a writer. */
void oa_slot_read(oa_slot *slot, oa_slot_tokens *out);
/* Replace the tokens with *in (the caller holds the lease, or no other process exists). */
void oa_slot_write(oa_slot *slot, const oa_slot_tokens *in);

/* Take the refresh lease for hold seconds at now (epoch seconds): 1 and *token (to release
 * with), or 0 when another holder's lease has not lapsed. */
int oa_slot_lease_take(oa_slot *slot, apr_uint32_t now, apr_uint32_t hold, apr_uint32_t *token);
/* Give the lease back (a no-op when it lapsed and someone else took it). */
void oa_slot_lease_release(oa_slot *slot, apr_uint32_t token);
/* Is a lease held (and not lapsed) at now? */
int oa_slot_lease_held(oa_slot *slot, apr_uint32_t now);

/* Store t in *word unless it already holds a later time (cooldowns only ever extend). */
void oa_slot_extend(_Atomic apr_int64_t *word, apr_time_t t);

/* The backoff after failures transient refresh failures in a row: 5 s doubling, at most
 * 5 minutes. */
apr_interval_time_t oa_slot_backoff(unsigned int failures);

#endif /* OA_SLOT_H */
