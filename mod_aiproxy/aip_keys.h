/*
 * aip_keys.h: the API keys of one upstream, taken in turn (the core of the static credential
 * provider, mod_aiproxy_credential.c).
 *
 * Requests start at successive keys (round robin, lock free); within a request, keys benched
 * by an earlier refusal are skipped while others remain, and the last one is still tried when
 * all are benched: an answer, even a refusal, beats none.
 */
#ifndef AIP_KEYS_H
#define AIP_KEYS_H

#include "apr.h"

typedef struct {
    int count;                  /* keys, >= 1 */
    volatile apr_uint32_t turn; /* the next request's first key, in this child */
    /* The same in memory every child shares (NULL: the child's own turn above), so that the
     * children together take the keys in turn, exactly. */
    volatile apr_uint32_t *shared_turn;
} aip_key_ring;

/* One request's walk over the ring. */
typedef struct {
    int count;
    int first;  /* the key this request started at */
    int offset; /* keys looked at so far */
    int tried;  /* keys returned so far */
} aip_key_walk;

/* Is key index benched? (the caller's cooldown table) */
typedef int (*aip_key_benched_fn)(void *baton, int index);

/* Start a walk: takes the ring's next turn. */
void aip_key_walk_begin(aip_key_ring *ring, aip_key_walk *walk);
/* The next key index to try, or -1 when the walk is over. A lone key is never looked up in
 * the bench (benching it could change nothing). */
int aip_key_walk_next(aip_key_walk *walk, aip_key_benched_fn benched, void *baton);

#endif /* AIP_KEYS_H */
