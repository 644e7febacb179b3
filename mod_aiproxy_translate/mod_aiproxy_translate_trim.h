/*
 * mod_aiproxy_translate_trim.h: handing the heap that requests freed back to the system
 * (see the .c file).
 */
#ifndef MOD_AIPROXY_TRANSLATE_TRIM_H
#define MOD_AIPROXY_TRANSLATE_TRIM_H

#include "apr_pools.h"

/* Trim the child's heap (within a second) once p, a request's memory, is destroyed. */
void aiproxy_trim_after(apr_pool_t *p);
void aiproxy_trim_register_hooks(apr_pool_t *p);

#endif
