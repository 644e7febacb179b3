/*
 * aip_breaker.h: circuit breakers per (upstream, model) and per (upstream, token), in memory
 * shared by all children.
 *
 * The table is a hash of fixed slots living in shared memory (the glue puts it in a persisted
 * slotmem, so open circuits survive graceful and full restarts). Every operation is lock free:
 * a slot is claimed with one compare-and-swap, counters change with atomic operations, readers
 * never wait for long. A key lives in a window of AIP_BREAKER_WINDOW slots from its hash, so a
 * lookup reads at most that many slots however full the table is. When the window has no free
 * slot, the least recently used slot whose circuit is closed is reused: closed circuits hold
 * nothing worth keeping beyond a failure count, open ones are never evicted.
 *
 * Keys are "<balancer>\x01<model>" (kind AIP_BREAKER_MODEL) or "<balancer>\x01<token index>"
 * (kind AIP_BREAKER_TOKEN); the kind is part of the key, so no model name can stand for a
 * token. The balancer name is unique per virtual host and upstream.
 */
#ifndef AIP_BREAKER_H
#define AIP_BREAKER_H

#include "apr.h"
#include "apr_pools.h"

#define AIP_BREAKER_KEY_MAX 200
/* Slots a key may live in, from its hash on: the bound on every lookup. */
#define AIP_BREAKER_WINDOW 16
/* A claim (a child writing a key into a slot) takes microseconds; one this old belongs to a
 * child that died mid-claim, or was persisted mid-claim, and is taken over. */
#define AIP_BREAKER_STALE_CLAIM_SECONDS 5

typedef enum {
    AIP_BREAKER_MODEL = 1, /* an upstream serving a model */
    AIP_BREAKER_TOKEN = 2  /* one token of an upstream, benched after a refusal or throttling */
} aip_breaker_kind;

typedef struct {
    /* 0 free, 1 ready, else being claimed since that many unix seconds (the claimer's clock,
     * in the same word so that taking over a stale claim is one compare-and-swap). */
    volatile apr_uint32_t state;
    volatile apr_uint32_t generation; /* bumped on every claim: readers detect a reuse */
    volatile apr_uint32_t kind;       /* aip_breaker_kind */
    volatile apr_uint32_t hash;
    volatile apr_uint32_t last_used;  /* unix seconds of the last lookup: the reuse order */
    volatile apr_uint32_t failures;   /* consecutive */
    volatile apr_uint32_t open_until; /* unix seconds; the circuit is open while now < this */
    volatile apr_uint32_t last_status;
    char key[AIP_BREAKER_KEY_MAX];
} aip_breaker_slot;

typedef struct {
    aip_breaker_slot *slots;
    apr_size_t count;
} aip_breaker_table;

/* The slot of (kind, key), claiming one when create is set (a free slot of its window, else
 * the least recently used closed circuit there). NULL when the key is absent (and create is
 * not set), too long, or its window holds only open circuits. now is unix seconds. */
aip_breaker_slot *aip_breaker_find(aip_breaker_table *t, aip_breaker_kind kind, const char *key,
                                   int create, apr_uint32_t now);
/* Is slot in use (holding a key)? For listings that walk the whole table. */
int aip_breaker_slot_ready(const aip_breaker_slot *slot);

int aip_breaker_is_open(const aip_breaker_slot *slot, apr_uint32_t now);

/* A failure: the circuit opens for open_seconds once failures reach threshold, and at least
 * for cooldown_seconds (Retry-After) whatever the count. */
void aip_breaker_record_failure(aip_breaker_slot *slot, apr_uint32_t now, int threshold,
                                int open_seconds, long cooldown_seconds, int status);
void aip_breaker_record_success(aip_breaker_slot *slot);
/* Keep the circuit open at least cooldown_seconds from now (an answer's Retry-After), without
 * counting a failure. */
void aip_breaker_hold_open(aip_breaker_slot *slot, apr_uint32_t now, long cooldown_seconds);
/* Close the circuit and forget the failures (admin reset). */
void aip_breaker_reset(aip_breaker_slot *slot);

/* The key of a (balancer, model) pair, of a (balancer, token index) pair, and the parts of
 * either back. */
const char *aip_breaker_key(apr_pool_t *p, const char *balancer, const char *model);
const char *aip_breaker_token_key(apr_pool_t *p, const char *balancer, int token_index);
void aip_breaker_key_split(apr_pool_t *p, const char *key, const char **balancer,
                           const char **model);

#endif /* AIP_BREAKER_H */
