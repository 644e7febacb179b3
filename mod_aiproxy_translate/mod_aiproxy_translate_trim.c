/*
 * mod_aiproxy_translate_trim.c: handing the heap that requests freed back to the system.
 *
 * A request's body, its parse and its translation live in a pool of their own, let go when
 * the answer's first bytes arrive (aiproxy_http_request_memory). What the shared allocator
 * does not keep goes back to malloc, and glibc keeps freed blocks inside its heap: after a
 * burst of requests a child stays at the burst's high-water mark for as long as it lives,
 * while the streams the burst opened go on for minutes. With 1,000 translated streams opened
 * at once, each request carrying 64 KiB of conversation, that was 7 to 12 KiB per open
 * stream of free but resident memory (docs/operations.md).
 *
 * A child watchdog (mod_watchdog, compiled into Debian's httpd) looks every second whether
 * request memory was let go, and trims (malloc_trim(0): glibc gives the free pages of every
 * arena back with madvise) once a second passes without any, that is once a burst is over;
 * under steady load, at most every TRIM_AT_LEAST_EVERY. Trimming every second under full
 * load with 64 KiB requests cost 2.6 % more CPU per request (bench/bench.py --only 6): the
 * pages given back are faulted in again by the next requests, which would have reused them.
 * A quiet child does nothing. Without glibc or mod_watchdog nothing is trimmed, as before.
 */
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_core.h"
#include "aiproxy_watchdog.h"
#include "apr_atomic.h"
#include "aiproxy_log.h"
#include "mod_aiproxy_translate_trim.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

APLOG_USE_MODULE(aiproxy_translate);

#define TRIM_WATCHDOG_NAME  "aiproxy-trim"
#define TRIM_CHECK_INTERVAL apr_time_from_sec(1)
#define TRIM_AT_LEAST_EVERY apr_time_from_sec(30)

/* Set when request memory is let go; taken (reset) by the watchdog. */
static volatile apr_uint32_t memory_let_go;
/* Since when memory was let go without a trim after it (0: not since the last trim). Only
 * the watchdog's thread reads or writes it. */
static apr_time_t untrimmed_since;

static apr_status_t note_memory_let_go(void *unused)
{
    (void) unused;
    apr_atomic_set32(&memory_let_go, 1);
    return APR_SUCCESS;
}

void aiproxy_trim_after(apr_pool_t *p)
{
    apr_pool_cleanup_register(p, NULL, note_memory_let_go, apr_pool_cleanup_null);
}

static void trim_heap(server_rec *s)
{
    apr_time_t started = apr_time_now();
#ifdef __GLIBC__
    int released = malloc_trim(0);
#else
    int released = 0;
#endif

    ap_log_error(APLOG_MARK, APLOG_TRACE2, 0, s,
                 AIPLOGNO(01207) "heap trimmed after requests let their memory go: %s in "
                                 "%" APR_TIME_T_FMT " us",
                 released ? "pages given back" : "nothing to give back", apr_time_now() - started);
}

static apr_status_t trim_when_quiet(int state, void *data, apr_pool_t *pool)
{
    apr_time_t now = apr_time_now();
    int letting_go;

    (void) pool;
    if (state != AP_WATCHDOG_STATE_RUNNING)
        return APR_SUCCESS;
    letting_go = apr_atomic_xchg32(&memory_let_go, 0) != 0;
    if (letting_go && !untrimmed_since)
        untrimmed_since = now;
    if (!untrimmed_since || (letting_go && now - untrimmed_since < TRIM_AT_LEAST_EVERY))
        return APR_SUCCESS;
    trim_heap(data);
    untrimmed_since = 0;
    return APR_SUCCESS;
}

static int start_trim_watchdog(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                               server_rec *s)
{
    ap_watchdog_t *watchdog;
    apr_status_t rv;

    (void) plog;
    (void) ptemp;
    /* httpd reads its configuration twice at startup; children come after the real pass. */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG)
        return OK;
    /* In every child, not a singleton: each child trims its own heap. */
    rv = aiproxy_watchdog_start(pconf, TRIM_WATCHDOG_NAME, 0, TRIM_CHECK_INTERVAL, s,
                                trim_when_quiet, &watchdog);
    if (rv == APR_ENOTIMPL)
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                     AIPLOGNO(01208) "mod_watchdog is not loaded: memory that requests let go "
                                     "stays in each child's heap until it is reused");
    else if (rv != APR_SUCCESS)
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s,
                     AIPLOGNO(01209) "the heap trimming task could not start: memory that "
                                     "requests let go stays in each child's heap");
    return OK;
}

void aiproxy_trim_register_hooks(apr_pool_t *p)
{
    (void) p;
    /* Ahead of mod_watchdog's own post_config (APR_HOOK_LAST), which starts what is asked. */
    ap_hook_post_config(start_trim_watchdog, NULL, NULL, APR_HOOK_MIDDLE);
}
