/* aip_breaker.c: see aip_breaker.h. */
#include <string.h>
#include "apr_atomic.h"
#include "apr_strings.h"
#include "aip_breaker.h"

enum { SLOT_FREE = 0, SLOT_CLAIMING = 1, SLOT_READY = 2 };

/* FNV-1a: cheap, and good enough to spread short keys over the table. */
static apr_uint32_t key_hash(const char *key)
{
    apr_uint32_t h = 2166136261u;
    for (; *key; key++) {
        h ^= (unsigned char) *key;
        h *= 16777619u;
    }
    return h ? h : 1;
}

aip_breaker_slot *aip_breaker_find(aip_breaker_table *t, const char *key, int create)
{
    apr_uint32_t hash = key_hash(key);
    size_t len = strlen(key);

    if (len >= AIP_BREAKER_KEY_MAX || t->count == 0)
        return NULL;
    for (apr_size_t probe = 0; probe < t->count; probe++) {
        aip_breaker_slot *slot = &t->slots[(hash + probe) % t->count];
        apr_uint32_t state = apr_atomic_read32(&slot->state);

        if (state == SLOT_FREE) {
            if (!create)
                return NULL; /* keys are never removed, so the probe chain ends here */
            if (apr_atomic_cas32(&slot->state, SLOT_CLAIMING, SLOT_FREE) != SLOT_FREE)
                state = apr_atomic_read32(&slot->state); /* lost the race; look again */
            else {
                memcpy(slot->key, key, len + 1);
                apr_atomic_set32(&slot->hash, hash);
                apr_atomic_set32(&slot->state, SLOT_READY);
                return slot;
            }
        }
        /* A slot another child is claiming right now may hold this very key: wait for it. */
        while (state == SLOT_CLAIMING)
            state = apr_atomic_read32(&slot->state);
        if (apr_atomic_read32(&slot->hash) == hash && !strcmp(slot->key, key))
            return slot;
    }
    return NULL;
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

void aip_breaker_key_split(apr_pool_t *p, const char *key, const char **balancer,
                           const char **model)
{
    const char *sep = strchr(key, '\x01');
    *balancer = sep ? apr_pstrmemdup(p, key, sep - key) : key;
    *model = sep ? sep + 1 : "";
}
