/*
 * aiproxy_watchdog.h: a periodic task on mod_watchdog, for the modules' glue.
 *
 * mod_watchdog's functions are optional (it may not be loaded; Debian compiles it into
 * httpd): these look them up and say APR_ENOTIMPL when they are missing, so a module logs
 * its own words for what it then does without the task.
 */
#ifndef AIPROXY_WATCHDOG_H
#define AIPROXY_WATCHDOG_H

#include "mod_watchdog.h"

/* One more callback on a watchdog aiproxy_watchdog_start returned. */
static inline apr_status_t aiproxy_watchdog_add(ap_watchdog_t *watchdog,
                                                apr_interval_time_t interval, const void *data,
                                                ap_watchdog_callback_fn_t *callback)
{
    APR_OPTIONAL_FN_TYPE(ap_watchdog_register_callback) *register_callback =
        APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);

    return register_callback ? register_callback(watchdog, interval, data, callback) : APR_ENOTIMPL;
}

/* The watchdog called name in the children (in one child at a time when singleton), with
 * callback every interval; from post_config. */
static inline apr_status_t aiproxy_watchdog_start(apr_pool_t *pconf, const char *name,
                                                  int singleton, apr_interval_time_t interval,
                                                  const void *data,
                                                  ap_watchdog_callback_fn_t *callback,
                                                  ap_watchdog_t **watchdog)
{
    APR_OPTIONAL_FN_TYPE(ap_watchdog_get_instance) *get_instance =
        APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    apr_status_t rv;

    if (!get_instance)
        return APR_ENOTIMPL;
    rv = get_instance(watchdog, name, 0, singleton, pconf);
    return rv == APR_SUCCESS ? aiproxy_watchdog_add(*watchdog, interval, data, callback) : rv;
}

#endif
