/*
 * aip_select.h: the order in which one request tries the upstreams that serve its model.
 *
 * Smooth weighted round robin (weights 5,1,1 give a a b a c a a, never a burst of one
 * upstream). The sequence for each set of upstreams is computed once at startup; a request
 * only takes the next turn with one atomic increment, so selection never takes a lock.
 * Turns are counted per child process: every child follows the same weighted sequence.
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

/* How many enabled upstreams serve model at all. */
int aip_select_count(const aip_selector *sel, const char *model);

#endif /* AIP_SELECT_H */
