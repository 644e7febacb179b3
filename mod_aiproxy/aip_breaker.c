/* aip_breaker.c: see aip_breaker.h. */
#include <string.h>
#include "apr_atomic.h"
#include "apr_strings.h"
#include "aip_breaker.h"

enum { SLOT_FREE = 0, SLOT_READY = 1 };

/* Reads of a slot being claimed before a lookup moves on: a claim is a copy of a short key,
 * so this is only reached when the claimer was descheduled (or died). */
#define CLAIM_SPIN_LIMIT (1 << 14)
/* Scans of the window before a creating lookup gives up: each lost race means another child
 * changed the window meanwhile. */
#define CLAIM_ROUNDS 4

/* FNV-1a over the kind and the key: cheap, and good enough to spread short keys. */
static apr_uint32_t key_hash(aip_breaker_kind kind, const char *key)
{
    apr_uint32_t h = 2166136261u;
    h = (h ^ (apr_uint32_t) kind) * 16777619u;
    for (; *key; key++) {
        h ^= (unsigned char) *key;
        h *= 16777619u;
    }
    return h;
}

/* The state word of a claim made at now: the claimer's clock, never mistaken for free/ready. */
static apr_uint32_t claim_stamp(apr_uint32_t now)
{
    return now > SLOT_READY ? now : SLOT_READY + 1;
}

static int claim_is_stale(apr_uint32_t stamp, apr_uint32_t now)
{
    apr_uint32_t age = now >= stamp ? now - stamp : stamp - now; /* a clock set back counts */
    return age > AIP_BREAKER_STALE_CLAIM_SECONDS;
}

/* The slot's state once a claim in progress is over, or the claim's stamp if it lasts. */
static apr_uint32_t settled_state(aip_breaker_slot *slot)
{
    apr_uint32_t state = apr_atomic_read32(&slot->state);
    for (int spins = 0; state > SLOT_READY && spins < CLAIM_SPIN_LIMIT; spins++)
        state = apr_atomic_read32(&slot->state);
    return state;
}

/* Does slot hold (kind, key)? The identity is read between two looks at state and
 * generation, so a slot reused meanwhile by another child is not taken for the key. */
static int slot_holds(aip_breaker_slot *slot, aip_breaker_kind kind, apr_uint32_t hash,
                      const char *key)
{
    apr_uint32_t generation = apr_atomic_read32(&slot->generation);

    if (apr_atomic_read32(&slot->state) != SLOT_READY || apr_atomic_read32(&slot->hash) != hash ||
        apr_atomic_read32(&slot->kind) != kind || strncmp(slot->key, key, AIP_BREAKER_KEY_MAX))
        return 0;
    return apr_atomic_read32(&slot->state) == SLOT_READY &&
           apr_atomic_read32(&slot->generation) == generation;
}

/* Lookups stamp the slot so reuse takes the least recently used; once a second is enough
 * (and spares a shared cache line a write per lookup). */
static void touch(aip_breaker_slot *slot, apr_uint32_t now)
{
    if (apr_atomic_read32(&slot->last_used) != now)
        apr_atomic_set32(&slot->last_used, now);
}

/* Write (kind, key) into a slot this child has claimed, with a closed circuit. */
static aip_breaker_slot *fill_claimed(aip_breaker_slot *slot, aip_breaker_kind kind,
                                      apr_uint32_t hash, const char *key, apr_size_t len,
                                      apr_uint32_t now)
{
    apr_atomic_inc32(&slot->generation);
    memcpy(slot->key, key, len + 1);
    apr_atomic_set32(&slot->kind, kind);
    apr_atomic_set32(&slot->hash, hash);
    apr_atomic_set32(&slot->failures, 0);
    apr_atomic_set32(&slot->open_until, 0);
    apr_atomic_set32(&slot->last_status, 0);
    apr_atomic_set32(&slot->last_used, now);
    apr_atomic_set32(&slot->state, SLOT_READY);
    return slot;
}

static int claim(aip_breaker_slot *slot, apr_uint32_t expected, apr_uint32_t now)
{
    return apr_atomic_cas32(&slot->state, claim_stamp(now), expected) == expected;
}

/* Claim the ready slot seen at generation for reuse, unless it changed meanwhile: reused by
 * another child, or its circuit opened (an open circuit is never evicted). */
static int claim_for_reuse(aip_breaker_slot *slot, apr_uint32_t generation, apr_uint32_t now)
{
    if (!claim(slot, SLOT_READY, now))
        return 0;
    if (apr_atomic_read32(&slot->generation) != generation || aip_breaker_is_open(slot, now)) {
        apr_atomic_set32(&slot->state, SLOT_READY); /* give it back untouched */
        return 0;
    }
    return 1;
}

aip_breaker_slot *aip_breaker_find(aip_breaker_table *t, aip_breaker_kind kind, const char *key,
                                   int create, apr_uint32_t now)
{
    apr_uint32_t hash = key_hash(kind, key);
    apr_size_t len = strlen(key);
    apr_size_t window = t->count < AIP_BREAKER_WINDOW ? t->count : AIP_BREAKER_WINDOW;

    if (len >= AIP_BREAKER_KEY_MAX || t->count == 0)
        return NULL;
    for (int round = 0; round < CLAIM_ROUNDS; round++) {
        aip_breaker_slot *free_slot = NULL, *stale = NULL, *lru = NULL;
        apr_uint32_t stale_stamp = 0, lru_generation = 0;

        for (apr_size_t i = 0; i < window; i++) {
            aip_breaker_slot *slot = &t->slots[(hash + i) % t->count];
            apr_uint32_t state = settled_state(slot);

            if (state == SLOT_FREE) {
                /* Keys take the first free slot of their window and slots never become free
                 * again, so the key is not further on. */
                free_slot = slot;
                break;
            }
            if (state == SLOT_READY) {
                apr_uint32_t generation = apr_atomic_read32(&slot->generation);
                if (slot_holds(slot, kind, hash, key)) {
                    touch(slot, now);
                    return slot;
                }
                if (!aip_breaker_is_open(slot, now) &&
                    (!lru ||
                     apr_atomic_read32(&slot->last_used) < apr_atomic_read32(&lru->last_used))) {
                    lru = slot;
                    lru_generation = generation;
                }
            } else if (!stale && claim_is_stale(state, now)) {
                stale = slot; /* its claimer died, or it was persisted mid-claim */
                stale_stamp = state;
            }
        }
        if (!create)
            return NULL;
        if (free_slot && claim(free_slot, SLOT_FREE, now))
            return fill_claimed(free_slot, kind, hash, key, len, now);
        if (!free_slot && stale && claim(stale, stale_stamp, now))
            return fill_claimed(stale, kind, hash, key, len, now);
        if (!free_slot && !stale && lru && claim_for_reuse(lru, lru_generation, now))
            return fill_claimed(lru, kind, hash, key, len, now);
        if (!free_slot && !stale && !lru)
            return NULL; /* every circuit of the window is open (or being claimed right now) */
        /* lost a race for the slot: look at the window again */
    }
    return NULL;
}

int aip_breaker_slot_ready(const aip_breaker_slot *slot)
{
    return apr_atomic_read32((volatile apr_uint32_t *) &slot->state) == SLOT_READY;
}

int aip_breaker_is_open(const aip_breaker_slot *slot, apr_uint32_t now)
{
    return slot && now < apr_atomic_read32((volatile apr_uint32_t *) &slot->open_until);
}

static void extend_open_until(aip_breaker_slot *slot, apr_uint32_t until)
{
    apr_uint32_t seen = apr_atomic_read32(&slot->open_until);
    while (seen < until) {
        apr_uint32_t prev = apr_atomic_cas32(&slot->open_until, until, seen);
        if (prev == seen)
            break;
        seen = prev;
    }
}

void aip_breaker_record_failure(aip_breaker_slot *slot, apr_uint32_t now, int threshold,
                                int open_seconds, long cooldown_seconds, int status)
{
    apr_uint32_t failures = apr_atomic_inc32(&slot->failures) + 1;

    apr_atomic_set32(&slot->last_status, (apr_uint32_t) status);
    if (threshold > 0 && failures >= (apr_uint32_t) threshold)
        extend_open_until(slot, now + (apr_uint32_t) open_seconds);
    aip_breaker_hold_open(slot, now, cooldown_seconds);
}

void aip_breaker_hold_open(aip_breaker_slot *slot, apr_uint32_t now, long cooldown_seconds)
{
    if (cooldown_seconds > 0)
        extend_open_until(slot, now + (apr_uint32_t) cooldown_seconds);
}

void aip_breaker_record_success(aip_breaker_slot *slot)
{
    if (apr_atomic_read32(&slot->failures))
        apr_atomic_set32(&slot->failures, 0);
}

void aip_breaker_reset(aip_breaker_slot *slot)
{
    apr_atomic_set32(&slot->failures, 0);
    apr_atomic_set32(&slot->open_until, 0);
}

const char *aip_breaker_key(apr_pool_t *p, const char *balancer, const char *model)
{
    return apr_pstrcat(p, balancer, "\x01", model, NULL);
}

const char *aip_breaker_token_key(apr_pool_t *p, const char *balancer, int token_index)
{
    return apr_psprintf(p, "%s\x01%d", balancer, token_index);
}

void aip_breaker_key_split(apr_pool_t *p, const char *key, const char **balancer,
                           const char **model)
{
    const char *sep = strchr(key, '\x01');
    *balancer = sep ? apr_pstrmemdup(p, key, sep - key) : key;
    *model = sep ? sep + 1 : "";
}
