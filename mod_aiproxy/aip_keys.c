/* aip_keys.c: see aip_keys.h. */
#include "apr_atomic.h"
#include "aip_keys.h"

void aip_key_walk_begin(aip_key_ring *ring, aip_key_walk *walk)
{
    apr_uint32_t turn = apr_atomic_inc32(ring->shared_turn ? ring->shared_turn : &ring->turn);

    walk->count = ring->count;
    walk->first = ring->count > 0 ? (int) (turn % (apr_uint32_t) ring->count) : 0;
    walk->offset = 0;
    walk->tried = 0;
}

int aip_key_walk_next(aip_key_walk *walk, aip_key_benched_fn benched, void *baton)
{
    while (walk->offset < walk->count) {
        int index = (walk->first + walk->offset) % walk->count;
        int last = ++walk->offset == walk->count;

        if (walk->count > 1 && !(last && !walk->tried) && benched(baton, index))
            continue;
        walk->tried++;
        return index;
    }
    return -1;
}
