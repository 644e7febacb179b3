/*
 * aip_breaker.h: circuit breakers per (upstream, model), in memory shared by all children.
 *
 * The table is an open-addressing hash of fixed slots living in shared memory (the glue puts
 * it in a persisted slotmem, so open circuits survive graceful and full restarts). Every
 * operation is lock free: a slot is claimed with one compare-and-swap, counters change with
 * atomic operations, readers never wait. Keys are "<balancer>\x01<model>"; the balancer name
 * is unique per virtual host and upstream.
 */
#ifndef AIP_BREAKER_H
#define AIP_BREAKER_H

#include "apr.h"
#include "apr_pools.h"

#define AIP_BREAKER_KEY_MAX 200
/* Tokens sit out in the same table, under the "model" \x02token<index> of their upstream. */
#define AIP_TOKEN_KEY_PREFIX "\x02token"

typedef struct {
    volatile apr_uint32_t state; /* 0 free, 1 being claimed, 2 in use */
    volatile apr_uint32_t hash;
    volatile apr_uint32_t failures;   /* consecutive */
    volatile apr_uint32_t open_until; /* unix seconds; the circuit is open while now < this */
    volatile apr_uint32_t last_status;
    char key[AIP_BREAKER_KEY_MAX];
} aip_breaker_slot;

typedef struct {
    aip_breaker_slot *slots;
    apr_size_t count;
} aip_breaker_table;

/* The slot of key, claiming a free one when create is set. NULL when the key is absent (and
 * create is not set) or the table is full. */
aip_breaker_slot *aip_breaker_find(aip_breaker_table *t, const char *key, int create);

int aip_breaker_is_open(const aip_breaker_slot *slot, apr_uint32_t now);

/* A failure: the circuit opens for open_seconds once failures reach threshold, and at least
 * for cooldown_seconds (Retry-After) whatever the count. */
void aip_breaker_record_failure(aip_breaker_slot *slot, apr_uint32_t now, int threshold,
                                int open_seconds, long cooldown_seconds, int status);
void aip_breaker_record_success(aip_breaker_slot *slot);
/* Close the circuit and forget the failures (admin reset). */
void aip_breaker_reset(aip_breaker_slot *slot);

/* The key of a (balancer, model) pair, and its parts back. */
const char *aip_breaker_key(apr_pool_t *p, const char *balancer, const char *model);
void aip_breaker_key_split(apr_pool_t *p, const char *key, const char **balancer,
                           const char **model);

#endif /* AIP_BREAKER_H */
