/*
 * mod_aiproxy_oauth_redis.c: the Redis connection OAuth sharing uses (hiredis), one per child
 * and store.
 *
 * Why hiredis and not httpd's socache (which mod_aiproxy_shared.c uses for breakers): the
 * refresh lease across gateways needs an atomic "set if absent, with an expiry"
 * (SET key value NX PX ms), and releasing it needs "delete if still mine"; socache has
 * neither. Its calls come from request threads (a refresh) and the watchdog thread
 * (cooldowns), so the connection is guarded by a mutex, held for one command at a time, and
 * every command is bounded: 200 ms to connect, 200 ms to answer. A store that fails is left
 * alone for a back-off (1 s doubling, at most 30 s) and the caller runs on local state, with
 * one warning a minute per child; connecting is lazy, so the parent never connects.
 */
#include <string.h>
#include <sys/time.h>
#include <hiredis/hiredis.h>
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "apr_strings.h"
#include "apr_thread_mutex.h"
#include "mod_aiproxy_oauth.h"
#include "oa_shared.h"
#include "aiproxy_log.h"

APLOG_USE_MODULE(aiproxy_oauth);

#define CONNECT_TIMEOUT_MS 200
#define COMMAND_TIMEOUT_MS 200
#define WARN_INTERVAL      60
/* A failure this long after the last back-off ended starts a new count. */
#define QUIET_SECONDS 60
#define DEFAULT_PORT  6379

struct oa_redis {
    const char *host; /* an address, resolved at startup: no name lookup on a request */
    int port;
    const char *label; /* "redis 127.0.0.1:6379", for log lines */
    server_rec *s;
    /* The child's, from child_init; everything below under it. */
    apr_thread_mutex_t *lock;
    redisContext *ctx;
    apr_uint32_t down_until, failures_in_row, next_warning;
};

/* The stores of this configuration load, for child_init. */
static apr_array_header_t *stores;

static apr_uint32_t now_sec(void)
{
    return (apr_uint32_t) apr_time_sec(apr_time_now());
}

static struct timeval ms(long n)
{
    struct timeval tv = {.tv_sec = n / 1000, .tv_usec = (n % 1000) * 1000};
    return tv;
}

const char *oa_redis_open(apr_pool_t *pconf, server_rec *s, const char *address, oa_redis **out)
{
    char *first = apr_pstrdup(pconf, address), *comma = strchr(first, ',');
    char *host = NULL, *scope = NULL, ip[64];
    apr_port_t port = 0;
    apr_sockaddr_t *sa;
    oa_redis *r;

    if (comma)
        *comma = '\0'; /* a list: the first server (Redis has no client-side spread) */
    for (int i = 0; stores && i < stores->nelts; i++) {
        r = APR_ARRAY_IDX(stores, i, oa_redis *);
        if (!strcmp(r->label + sizeof("redis ") - 1, first)) {
            *out = r;
            return NULL;
        }
    }
    if (apr_parse_addr_port(&host, &scope, &port, first, pconf) != APR_SUCCESS || !host)
        return apr_psprintf(pconf, "'%s' is not host:port", first);
    r = apr_pcalloc(pconf, sizeof(*r));
    r->port = port ? port : DEFAULT_PORT;
    r->host = host;
    if (apr_sockaddr_info_get(&sa, host, APR_UNSPEC, (apr_port_t) r->port, 0, pconf) ==
            APR_SUCCESS &&
        apr_sockaddr_ip_getbuf(ip, sizeof(ip), sa) == APR_SUCCESS)
        r->host = apr_pstrdup(pconf, ip);
    r->label = apr_pstrcat(pconf, "redis ", first, NULL);
    r->s = s;
    if (!stores)
        stores = apr_array_make(pconf, 2, sizeof(oa_redis *));
    APR_ARRAY_PUSH(stores, oa_redis *) = r;
    *out = r;
    return NULL;
}

const char *oa_redis_label(const oa_redis *r)
{
    return r->label;
}

/* Under lock: the store failed; rest it, and say so at most once a minute. */
static void failed(oa_redis *r, const char *why)
{
    apr_uint32_t now = now_sec();

    if (r->ctx) {
        redisFree(r->ctx);
        r->ctx = NULL;
    }
    if (now > r->down_until + QUIET_SECONDS)
        r->failures_in_row = 0;
    r->down_until = now + oa_shared_backoff(++r->failures_in_row);
    if (now >= r->next_warning) {
        r->next_warning = now + WARN_INTERVAL;
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, r->s,
                     AIPLOGNO(02060) "OAuth shared state %s failed (%s): credentials are "
                                     "refreshed and cooled down on this server's own state "
                                     "until it answers again (warned at most once a minute)",
                     r->label, why);
    }
}

/* Under lock: a connection, made now if there is none. */
static int connected(oa_redis *r)
{
    char why[128];

    if (r->ctx)
        return 1;
    r->ctx = redisConnectWithTimeout(r->host, r->port, ms(CONNECT_TIMEOUT_MS));
    if (!r->ctx || r->ctx->err) {
        apr_snprintf(why, sizeof(why), "connect: %s", r->ctx ? r->ctx->errstr : "out of memory");
        failed(r, why);
        return 0;
    }
    if (redisSetTimeout(r->ctx, ms(COMMAND_TIMEOUT_MS)) != REDIS_OK) {
        failed(r, "setting the timeout");
        return 0;
    }
    return 1;
}

/* What one command answered, copied out of hiredis. */
typedef struct {
    int type; /* REDIS_REPLY_* */
    char *str;
    apr_size_t len;
    long long integer;
} answer;

/* One command; OA_REDIS_DOWN when the store is resting, unreachable, slow or answers an
 * error. */
static oa_redis_status run(oa_redis *r, apr_pool_t *p, int argc, const char **argv,
                           const size_t *lens, answer *out)
{
    redisReply *reply;
    oa_redis_status status = OA_REDIS_DOWN;
    char why[128];

    if (!r || !r->lock)
        return OA_REDIS_DOWN; /* the parent, or a child that could not set up */
    apr_thread_mutex_lock(r->lock);
    if (now_sec() < r->down_until || !connected(r)) {
        apr_thread_mutex_unlock(r->lock);
        return OA_REDIS_DOWN;
    }
    reply = redisCommandArgv(r->ctx, argc, argv, lens);
    if (!reply) {
        apr_snprintf(why, sizeof(why), "%s", r->ctx->errstr[0] ? r->ctx->errstr : "no answer");
        failed(r, why);
    } else if (reply->type == REDIS_REPLY_ERROR) {
        failed(r, apr_pstrmemdup(p, reply->str, reply->len < 120 ? reply->len : 120));
    } else {
        out->type = reply->type;
        out->integer = reply->integer;
        out->str = reply->str ? apr_pstrmemdup(p, reply->str, reply->len) : NULL;
        out->len = reply->str ? reply->len : 0;
        status = OA_REDIS_OK;
    }
    if (reply)
        freeReplyObject(reply);
    apr_thread_mutex_unlock(r->lock);
    return status;
}

oa_redis_status oa_redis_get(oa_redis *r, apr_pool_t *p, const char *key, char **value,
                             apr_size_t *len)
{
    const char *argv[] = {"GET", key};
    size_t lens[] = {3, strlen(key)};
    answer a;
    oa_redis_status st = run(r, p, 2, argv, lens, &a);

    if (st != OA_REDIS_OK)
        return st;
    if (a.type != REDIS_REPLY_STRING)
        return OA_REDIS_NONE;
    *value = a.str;
    *len = a.len;
    return OA_REDIS_OK;
}

oa_redis_status oa_redis_set(oa_redis *r, apr_pool_t *p, const char *key, const char *value,
                             apr_size_t len, apr_interval_time_t ttl, int if_absent)
{
    const char *millis = apr_psprintf(p, "%" APR_INT64_T_FMT,
                                      (apr_int64_t) (ttl > 1000 ? apr_time_as_msec(ttl) : 1));
    const char *argv[] = {"SET", key, value, "PX", millis, "NX"};
    size_t lens[] = {3, strlen(key), len, 2, strlen(millis), 2};
    answer a;
    oa_redis_status st = run(r, p, if_absent ? 6 : 5, argv, lens, &a);

    if (st != OA_REDIS_OK)
        return st;
    return a.type == REDIS_REPLY_NIL ? OA_REDIS_NONE : OA_REDIS_OK;
}

/* Deletes key only while it still holds value: a lease that lapsed and was taken by another
 * gateway is not freed by its late first holder. */
#define DELETE_IF_MINE                                                                             \
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end "         \
    "return 0"

oa_redis_status oa_redis_del_if(oa_redis *r, apr_pool_t *p, const char *key, const char *value)
{
    const char *argv[] = {"EVAL", DELETE_IF_MINE, "1", key, value};
    size_t lens[] = {4, sizeof(DELETE_IF_MINE) - 1, 1, strlen(key), strlen(value)};
    answer a;

    return run(r, p, 5, argv, lens, &a);
}

static void child_init(apr_pool_t *pchild, server_rec *s)
{
    for (int i = 0; stores && i < stores->nelts; i++) {
        oa_redis *r = APR_ARRAY_IDX(stores, i, oa_redis *);
        if (apr_thread_mutex_create(&r->lock, APR_THREAD_MUTEX_DEFAULT, pchild) != APR_SUCCESS) {
            r->lock = NULL;
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                         AIPLOGNO(02061) "OAuth shared state %s: no lock in this child; it "
                                         "keeps its OAuth state to itself",
                         r->label);
        }
    }
}

static int pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    stores = NULL; /* each configuration load opens its own */
    return OK;
}

void oa_redis_register_hooks(apr_pool_t *p)
{
    ap_hook_pre_config(pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(child_init, NULL, NULL, APR_HOOK_MIDDLE);
}
