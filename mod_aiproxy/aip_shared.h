/*
 * aip_shared.h: breaker and token cooldown state shared by several gateways through a store
 * (Redis or memcached, reached by the glue through httpd's socache providers).
 *
 * The local shared-memory breaker table stays the fast path; a store only carries state
 * changes between servers. Every record holds an absolute expiry (unix seconds), so a reader
 * applies it as it is, whatever its own clock of the event, and a stale one expires by itself
 * in the store. Keys are namespaced and versioned ("aiproxy:v1:breaker:<upstream>:<model>",
 * "aiproxy:v1:token:<upstream>:<index>"); neither keys nor values carry a secret (a token is
 * named by its position, never by its value).
 */
#ifndef AIP_SHARED_H
#define AIP_SHARED_H

#include "apr.h"
#include "apr_pools.h"
#include "aip_breaker.h"

/* socache ids become "<namespace>:<hex of id>" in the store, within 254 bytes (the redis
 * provider's bound): ids longer than this end in a hash instead. */
#define AIP_SHARED_ID_MAX 120
/* An encoded record's size bound (the retrieve buffer). */
#define AIP_SHARED_VALUE_MAX 96

/* Where the state is shared: provider NULL means nowhere (AIProxySharedState none). */
typedef struct aip_shared_spec_s {
    const char *provider; /* socache provider: "redis" or "memcache" */
    const char *address;  /* host:port[,host:port...] as the provider's create() takes it */
} aip_shared_spec;

/* One breaker's shared state. */
typedef struct {
    apr_uint32_t open_until; /* unix seconds; open while now < open_until */
    apr_uint32_t failures;
    apr_uint32_t status; /* the last failing HTTP status */
} aip_shared_record;

/* What a local state change asks of the store. */
typedef enum {
    AIP_SHARED_KEEP = 0, /* nothing worth telling other servers */
    AIP_SHARED_STORE,    /* the circuit opened or was held open longer */
    AIP_SHARED_REMOVE    /* an open circuit was closed early (admin reset) */
} aip_shared_action;

/* "redis" / "memcache" / "none" and an address (AIProxySharedState). NULL or a message. */
const char *aip_shared_parse(apr_pool_t *p, const char *kind, const char *address,
                             aip_shared_spec *spec);
/* "redis://host:port", "memcache://host:port" (or memcached://) or "none" (YAML
 * shared_state). NULL or a message. */
const char *aip_shared_parse_url(apr_pool_t *p, const char *url, aip_shared_spec *spec);

/* The store id of a breaker: model breakers by model name, token breakers by index (guarded
 * is the model, or the index in decimal). */
const char *aip_shared_key(apr_pool_t *p, aip_breaker_kind kind, const char *upstream,
                           const char *guarded);

/* The record as text ("v1 <open_until> <failures> <status>"); its length, 0 if size is too
 * small. */
apr_size_t aip_shared_encode(const aip_shared_record *rec, char *buf, apr_size_t size);
/* 0 and *rec filled, or -1 for anything that is not a v1 record (ignored by readers). */
int aip_shared_decode(const char *data, apr_size_t len, aip_shared_record *rec);

/* What to tell the store after a local change of slot, whose open_until was open_before. */
aip_shared_action aip_shared_after_change(apr_uint32_t open_before, const aip_breaker_slot *slot,
                                          apr_uint32_t now);
/* Apply a record read from the store to the local slot: open at least until its expiry.
 * Returns 1 when the slot changed. Expired records change nothing. */
int aip_shared_apply(aip_breaker_slot *slot, const aip_shared_record *rec, apr_uint32_t now);

/* Seconds a store is left alone after its nth failure in a row (n >= 1): 5, 10, 20, 40, then
 * 60. A store that hangs costs requests its timeout on every retry, so a long outage is retried
 * less often; the first retry comes soon, for a restart. */
apr_uint32_t aip_shared_backoff(apr_uint32_t failures_in_row);

/* A lock-free "at most once per interval": 1 (and the next turn moved to now + interval) for
 * the one caller that finds the turn due, 0 for every other. For throttled reads and
 * rate-limited log lines. */
int aip_shared_due(volatile apr_uint32_t *next, apr_uint32_t now, apr_uint32_t interval);

#endif /* AIP_SHARED_H */
