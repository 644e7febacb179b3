/* oa_slot.c: see oa_slot.h. */
#include <string.h>
#include "oa_slot.h"

/* FNV-1a over the upstream key, a separator no path holds, and the path. */
apr_uint64_t oa_slot_identity(const char *upstream_key, const char *path)
{
    const char *parts[] = {upstream_key, "\n", path};
    apr_uint64_t h = APR_UINT64_C(14695981039346656037);

    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        for (const unsigned char *c = (const unsigned char *) parts[i]; *c; c++) {
            h ^= *c;
            h *= APR_UINT64_C(1099511628211);
        }
    }
    return h ? h : 1; /* 0 marks a slot never set up */
}

/* Reads retried this often see a writer that died halfway (the sequence stays odd): the copy
 * is then handed out empty, which no caller sends. */
#define READ_TRIES 1000000

void oa_slot_read(oa_slot *slot, oa_slot_tokens *out)
{
    for (int tries = 0; tries < READ_TRIES; tries++) {
        unsigned int before = atomic_load_explicit(&slot->seq, memory_order_acquire);
        unsigned int after;

        if (before & 1u)
            continue; /* a writer is halfway: it copies a few KiB, so spin */
        memcpy(out, &slot->tokens, sizeof(*out));
        atomic_thread_fence(memory_order_acquire);
        after = atomic_load_explicit(&slot->seq, memory_order_relaxed);
        if (after == before)
            return;
    }
    memset(out, 0, sizeof(*out));
}

void oa_slot_write(oa_slot *slot, const oa_slot_tokens *in)
{
    unsigned int seq = atomic_load_explicit(&slot->seq, memory_order_relaxed);

    atomic_store_explicit(&slot->seq, seq + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    memcpy(&slot->tokens, in, sizeof(*in));
    atomic_store_explicit(&slot->seq, seq + 2, memory_order_release);
}

int oa_slot_lease_take(oa_slot *slot, apr_uint32_t now, apr_uint32_t hold, apr_uint32_t *token)
{
    unsigned int current = atomic_load_explicit(&slot->lease, memory_order_acquire);
    unsigned int mine = now + (hold ? hold : 1);

    if (current != 0 && current > now)
        return 0;
    if (!atomic_compare_exchange_strong(&slot->lease, &current, mine))
        return 0; /* another child took it between the load and here */
    *token = mine;
    return 1;
}

void oa_slot_lease_release(oa_slot *slot, apr_uint32_t token)
{
    unsigned int expected = token;

    atomic_compare_exchange_strong(&slot->lease, &expected, 0u);
}

int oa_slot_lease_held(oa_slot *slot, apr_uint32_t now)
{
    unsigned int current = atomic_load_explicit(&slot->lease, memory_order_acquire);

    return current != 0 && current > now;
}

void oa_slot_extend(_Atomic apr_int64_t *word, apr_time_t t)
{
    apr_int64_t current = atomic_load(word);

    while (current < t && !atomic_compare_exchange_weak(word, &current, t))
        ;
}

apr_interval_time_t oa_slot_backoff(unsigned int failures)
{
    apr_interval_time_t wait = apr_time_from_sec(5);

    for (unsigned int i = 1; i < failures && wait < apr_time_from_sec(300); i++)
        wait *= 2;
    return wait < apr_time_from_sec(300) ? wait : apr_time_from_sec(300);
}
