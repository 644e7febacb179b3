/*
 * aip_select.h: the order in which one request tries the upstreams that serve its model.
 *
 * Smooth weighted round robin (weights 5,1,1 give a a b a c a a, never a burst of one
 * upstream). The sequence for each set of upstreams is computed once at startup; a request
 * only takes the next turn with one atomic increment, so selection never takes a lock.
 * Turns are counted in the selector until aip_selector_share_turns moves them to memory every
 * child shares: then the children together follow one weighted sequence, exactly.
 */
#ifndef AIP_SELECT_H
#define AIP_SELECT_H

#include "apr_pools.h"
#include "aip_config.h"

typedef struct aip_selector aip_selector;

/* Build the sequences for cfg's enabled upstreams. */
aip_selector *aip_selector_create(apr_pool_t *p, const aip_config *cfg);

/* Write into order[] (room for max) the upstreams serving model, this request's turn first,
 * then the others in sequence order. Returns how many were written. */
int aip_select_order(aip_selector *sel, const char *model, const aip_upstream **order, int max);

/* How many turn counters the selector keeps (one per distinct set of upstreams). */
int aip_selector_turns(const aip_selector *sel);
/* Count turns in words[0 .. aip_selector_turns) from now on (shared memory, zeroed or kept
 * from the last generation: any start is a fair start). */
void aip_selector_share_turns(aip_selector *sel, volatile apr_uint32_t *words);

/* Room aip_select_order needs for model: at least as many as it can write. */
int aip_select_room(const aip_selector *sel, const char *model);

/* How many enabled upstreams serve model at all. */
int aip_select_count(const aip_selector *sel, const char *model);

#endif /* AIP_SELECT_H */
