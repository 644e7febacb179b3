/*
 * mod_aiproxy_shared.c: AIProxySharedState, the breaker and token cooldown state several
 * gateways share through Redis or memcached, by httpd's own socache providers
 * (mod_socache_redis, mod_socache_memcache).
 *
 * The local breaker table (mod_aiproxy_breaker.c) stays the fast path and the only thing a
 * request reads: no request ever waits for the store. Each child runs one thread that talks
 * to it: it writes what requests published (a circuit opened, held open longer, or reset:
 * aip_shared.h decides which), and once a second reads the keys this child's requests looked
 * at lately (and every token of a shared upstream), copying open circuits other servers
 * recorded into the local table. The thread matters: mod_socache_redis hands apr_redis its
 * timeout in the wrong unit (microseconds where seconds are expected), so a Redis that hangs
 * holds its caller for days; here it holds only that thread. A store that fails is left alone
 * for a while and the gateway runs on its local state, with one warning a minute per child.
 */
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "ap_provider.h"
#include "ap_socache.h"
#include "apr_atomic.h"
#include "apr_hash.h"
#include "apr_strings.h"
#include "apr_thread_cond.h"
#include "apr_thread_mutex.h"
#include "apr_thread_proc.h"
#include "mod_aiproxy_private.h"
#include "aip_shared.h"
#include "aiproxy_log.h"

APLOG_USE_MODULE(aiproxy);

/* The socache namespace: stored keys are "aiproxy:<hex of the id>" (the providers hex-encode
 * ids), and the id itself is namespaced and versioned (aip_shared_key). */
#define SHARED_NAMESPACE "aiproxy"
/* Seconds between two reads of the watched keys. */
#define READ_INTERVAL 1
/* A key no request of this child looked at for this long is no longer read. */
#define WATCH_SECONDS 60
/* Bounds per child: keys watched, and writes waiting (more are dropped: the local state is
 * right anyway, other servers only learn later). */
#define WATCH_MAX 4096
#define QUEUE_MAX 256
/* Seconds between two warnings about a failing store (it is left alone after each failure
 * for aip_shared_backoff seconds). */
#define WARN_INTERVAL 60
/* A failure this long after the last back-off ended starts a new count. */
#define QUIET_SECONDS 120
/* Watch turns per child, by key hash: a request registers a key at most once a second. */
#define WATCH_TURNS 1024
/* A key watched for good (a configured token). */
#define FOREVER 0xffffffffu

typedef struct {
    const ap_socache_provider_t *provider;
    ap_socache_instance_t *instance;
    server_rec *s;
    const char *label; /* "redis 127.0.0.1:6379", for log lines */
    /* The child's thread only: when to try the store again, failures in a row, and when the
     * next warning may be logged. */
    apr_uint32_t down_until;
    apr_uint32_t failures_in_row;
    volatile apr_uint32_t next_warning;
} shared_store;

typedef struct {
    shared_store *store;
    const char *upstream; /* the name other gateways know the upstream by */
    int tokens;           /* API keys rotated (benched keys are shared): watched for good */
    const apr_array_header_t *models; /* its configured model names: watched for good */
} shared_binding;

/* A key the thread reads. Strings are malloc'ed: entries come and go for the child's life. */
typedef struct {
    shared_store *store;
    aip_breaker_kind kind;
    char *id, *balancer, *guarded;
    apr_uint32_t wanted; /* unix seconds of the last look, or FOREVER */
} watched_key;

/* A write for the thread. */
typedef struct {
    shared_store *store;
    aip_shared_action action;
    char id[AIP_SHARED_ID_MAX + 1];
    char value[AIP_SHARED_VALUE_MAX];
    apr_size_t value_len;
    apr_uint32_t expires; /* unix seconds */
} pending_write;

/* Balancer name -> shared_binding, rebuilt in every post_config; NULL: nothing is shared. */
static apr_hash_t *bindings;

/* Per child, set up in child_init; everything below under lock. */
static apr_thread_mutex_t *lock;
static apr_thread_cond_t *wake;
static apr_hash_t *watched; /* id -> watched_key */
static pending_write queue[QUEUE_MAX];
static int queued;
static volatile apr_uint32_t watch_turns[WATCH_TURNS];

const char *aip_cmd_shared_state(cmd_parms *cmd, void *dummy, const char *kind, const char *address)
{
    aip_server_conf *conf = ap_get_module_config(cmd->server->module_config, &aiproxy_module);
    aip_shared_spec *spec = apr_pcalloc(cmd->pool, sizeof(*spec));
    const char *msg = aip_shared_parse(cmd->pool, kind, address, spec);

    if (msg)
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": ", msg, NULL);
    conf->shared = spec;
    return NULL;
}

static shared_store *open_store(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s,
                                const aip_shared_spec *spec, const char **err)
{
    static const struct ap_socache_hints hints = {
        .avg_id_len = 48,
        .avg_obj_size = 32,
        .expiry_interval = 60,
    };
    shared_store *store = apr_pcalloc(pconf, sizeof(*store));
    const char *msg;
    apr_status_t rv;

    store->label = apr_pstrcat(pconf, spec->provider, " ", spec->address, NULL);
    store->s = s;
    store->provider =
        ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, spec->provider, AP_SOCACHE_PROVIDER_VERSION);
    if (!store->provider) {
        *err = apr_psprintf(ptemp,
                            "AIProxySharedState %s needs mod_socache_%s: add LoadModule "
                            "socache_%s_module",
                            spec->provider, spec->provider, spec->provider);
        return NULL;
    }
    if ((msg = store->provider->create(&store->instance, spec->address, ptemp, pconf)) != NULL) {
        *err = apr_pstrcat(ptemp, "AIProxySharedState ", store->label, ": ", msg, NULL);
        return NULL;
    }
    rv = store->provider->init(store->instance, SHARED_NAMESPACE, &hints, s, pconf);
    if (rv != APR_SUCCESS) {
        *err = apr_pstrcat(ptemp, "AIProxySharedState ", store->label, ": cannot set up the store",
                           NULL);
        return NULL;
    }
    return store;
}

int aip_shared_setup(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s)
{
    apr_hash_t *stores = apr_hash_make(ptemp); /* one instance per store, however many hosts */

    bindings = NULL;
    for (server_rec *vs = s; vs; vs = vs->next) {
        aip_server_conf *conf = ap_get_module_config(vs->module_config, &aiproxy_module);
        const aip_shared_spec *spec = conf->shared;
        shared_store *store;
        const char *label, *err = NULL;

        if (!spec || !spec->provider || conf->cfg->upstreams->nelts == 0)
            continue;
        label = apr_pstrcat(ptemp, spec->provider, " ", spec->address, NULL);
        if ((store = apr_hash_get(stores, label, APR_HASH_KEY_STRING)) == NULL) {
            if ((store = open_store(pconf, ptemp, vs, spec, &err)) == NULL) {
                ap_log_error(APLOG_MARK, APLOG_EMERG, 0, vs, AIPLOGNO(03101) "%s", err);
                return HTTP_INTERNAL_SERVER_ERROR;
            }
            apr_hash_set(stores, label, APR_HASH_KEY_STRING, store);
        }
        if (!bindings)
            bindings = apr_hash_make(pconf);
        for (int i = 0; i < conf->cfg->upstreams->nelts; i++) {
            const aip_upstream *up = APR_ARRAY_IDX(conf->cfg->upstreams, i, const aip_upstream *);
            shared_binding *b = apr_pcalloc(pconf, sizeof(*b));
            b->store = store;
            b->upstream = up->name;
            b->tokens = !up->oauth && up->tokens ? up->tokens->nelts : 0;
            b->models = up->models;
            if (!apr_hash_get(bindings, up->balancer, APR_HASH_KEY_STRING))
                apr_hash_set(bindings, up->balancer, APR_HASH_KEY_STRING, b);
        }
    }
    return OK;
}

static const shared_binding *binding_of(const char *balancer)
{
    return bindings ? apr_hash_get(bindings, balancer, APR_HASH_KEY_STRING) : NULL;
}

/* ---- the request side: never waits for the store ------------------------------------------ */

/* Under lock: watch id (of balancer's upstream) from now, or until forever. */
static void watch_locked(shared_store *store, aip_breaker_kind kind, const char *id,
                         const char *balancer, const char *guarded, apr_uint32_t wanted)
{
    watched_key *w = apr_hash_get(watched, id, APR_HASH_KEY_STRING);

    if (w) {
        if (w->wanted != FOREVER)
            w->wanted = wanted;
        return;
    }
    if (apr_hash_count(watched) >= WATCH_MAX || (w = calloc(1, sizeof(*w))) == NULL)
        return;
    w->store = store;
    w->kind = kind;
    w->id = strdup(id);
    w->balancer = strdup(balancer);
    w->guarded = strdup(guarded);
    w->wanted = wanted;
    if (!w->id || !w->balancer || !w->guarded) {
        free(w->id);
        free(w->balancer);
        free(w->guarded);
        free(w);
        return;
    }
    apr_hash_set(watched, w->id, APR_HASH_KEY_STRING, w);
}

void aip_shared_watch(apr_pool_t *p, const char *balancer, aip_breaker_kind kind,
                      const char *guarded, apr_uint32_t now)
{
    const shared_binding *b = binding_of(balancer);
    const char *id;
    apr_ssize_t len = APR_HASH_KEY_STRING;

    if (!b || !lock)
        return;
    id = aip_shared_key(p, kind, b->upstream, guarded);
    if (!aip_shared_due(&watch_turns[apr_hashfunc_default(id, &len) % WATCH_TURNS], now, 1))
        return; /* looked at within the second: already watched */
    apr_thread_mutex_lock(lock);
    watch_locked(b->store, kind, id, balancer, guarded, now);
    apr_thread_mutex_unlock(lock);
}

void aip_shared_publish(apr_pool_t *p, const char *balancer, aip_breaker_kind kind,
                        const char *guarded, apr_uint32_t open_before, const aip_breaker_slot *slot)
{
    const shared_binding *b = binding_of(balancer);
    apr_uint32_t now = (apr_uint32_t) apr_time_sec(apr_time_now());
    aip_shared_action action;
    aip_shared_record rec;
    pending_write *w;

    if (!b || !slot || !lock ||
        (action = aip_shared_after_change(open_before, slot, now)) == AIP_SHARED_KEEP)
        return;
    rec.open_until = apr_atomic_read32((volatile apr_uint32_t *) &slot->open_until);
    rec.failures = apr_atomic_read32((volatile apr_uint32_t *) &slot->failures);
    rec.status = apr_atomic_read32((volatile apr_uint32_t *) &slot->last_status);
    apr_thread_mutex_lock(lock);
    if (queued == QUEUE_MAX) {
        apr_thread_mutex_unlock(lock);
        return; /* the thread is stuck on the store: other servers learn of it later or never */
    }
    w = &queue[queued++];
    w->store = b->store;
    w->action = action;
    apr_cpystrn(w->id, aip_shared_key(p, kind, b->upstream, guarded), sizeof(w->id));
    w->value_len = aip_shared_encode(&rec, w->value, sizeof(w->value));
    w->expires = rec.open_until;
    apr_thread_cond_signal(wake);
    apr_thread_mutex_unlock(lock);
}

/* ---- the child's thread: the only caller of the store --------------------------------------- */

/* A store call failed: run on local state for a while, and say so once a minute. */
static void store_failed(shared_store *store, apr_status_t rv, const char *what, apr_uint32_t now)
{
    if (now > store->down_until + QUIET_SECONDS)
        store->failures_in_row = 0;
    store->down_until = now + aip_shared_backoff(++store->failures_in_row);
    if (aip_shared_due(&store->next_warning, now, WARN_INTERVAL))
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, store->s,
                     AIPLOGNO(03102) "shared state %s failed (%s): circuit breakers and token "
                                     "cooldowns run on this server's own state until it answers "
                                     "again (warned at most once a minute)",
                     store->label, what);
}

static void write_one(const pending_write *w, apr_pool_t *p, apr_uint32_t now)
{
    apr_status_t rv;

    if (now < w->store->down_until)
        return; /* dropped: the store is resting; the entry would say nothing new later */
    if (w->action == AIP_SHARED_STORE) {
        if (w->expires < now + 2 || !w->value_len)
            return; /* ended while it waited */
        rv = w->store->provider->store(w->store->instance, w->store->s,
                                       (const unsigned char *) w->id, (unsigned int) strlen(w->id),
                                       apr_time_from_sec(w->expires), (unsigned char *) w->value,
                                       (unsigned int) w->value_len, p);
    } else {
        rv = w->store->provider->remove(w->store->instance, w->store->s,
                                        (const unsigned char *) w->id, (unsigned int) strlen(w->id),
                                        p);
        if (rv == APR_NOTFOUND)
            rv = APR_SUCCESS;
    }
    if (rv != APR_SUCCESS)
        store_failed(w->store, rv, w->action == AIP_SHARED_STORE ? "write" : "delete", now);
}

/* Read one watched key; an open circuit recorded there is copied into the local table. */
static void read_one(const watched_key *w, apr_pool_t *p, apr_uint32_t now)
{
    unsigned char data[AIP_SHARED_VALUE_MAX];
    unsigned int len = sizeof(data);
    aip_shared_record rec;
    apr_status_t rv;

    if (now < w->store->down_until)
        return;
    rv =
        w->store->provider->retrieve(w->store->instance, w->store->s, (const unsigned char *) w->id,
                                     (unsigned int) strlen(w->id), data, &len, p);
    if (rv == APR_NOTFOUND)
        return;
    if (rv != APR_SUCCESS) {
        store_failed(w->store, rv, "read", now);
        return;
    }
    if (aip_shared_decode((const char *) data, len, &rec) == 0 && rec.open_until > now)
        aip_breaker_adopt(p, w->kind, w->balancer, w->guarded, &rec);
}

/* Under lock: the keys to read now (forgetting those no request looked at lately). */
static apr_array_header_t *due_keys_locked(apr_pool_t *p, apr_uint32_t now)
{
    apr_array_header_t *keys =
        apr_array_make(p, (int) apr_hash_count(watched) + 1, sizeof(watched_key));

    for (apr_hash_index_t *hi = apr_hash_first(p, watched); hi; hi = apr_hash_next(hi)) {
        watched_key *w = apr_hash_this_val(hi);
        if (w->wanted != FOREVER && w->wanted + WATCH_SECONDS < now) {
            apr_hash_set(watched, w->id, APR_HASH_KEY_STRING, NULL);
            free(w->id);
            free(w->balancer);
            free(w->guarded);
            free(w);
            continue;
        }
        /* copies: the entry may be forgotten while the thread reads unlocked */
        watched_key *copy = apr_array_push(keys);
        *copy = *w;
        copy->id = apr_pstrdup(p, w->id);
        copy->balancer = apr_pstrdup(p, w->balancer);
        copy->guarded = apr_pstrdup(p, w->guarded);
    }
    return keys;
}

static void *APR_THREAD_FUNC store_thread(apr_thread_t *thread, void *data)
{
    apr_pool_t *iteration = data;
    static pending_write writes[QUEUE_MAX]; /* this thread's only: 64 KiB off its stack */
    apr_time_t next_read = 0;

    for (;;) {
        apr_uint32_t now;
        apr_array_header_t *keys = NULL;
        int n;

        apr_pool_clear(iteration);
        apr_thread_mutex_lock(lock);
        if (!queued)
            apr_thread_cond_timedwait(wake, lock, apr_time_from_sec(READ_INTERVAL));
        n = queued;
        memcpy(writes, queue, sizeof(writes[0]) * n);
        queued = 0;
        now = (apr_uint32_t) apr_time_sec(apr_time_now());
        if (apr_time_now() >= next_read)
            keys = due_keys_locked(iteration, now);
        apr_thread_mutex_unlock(lock);

        for (int i = 0; i < n; i++)
            write_one(&writes[i], iteration, now);
        if (keys) {
            for (int i = 0; i < keys->nelts; i++)
                read_one(&APR_ARRAY_IDX(keys, i, watched_key), iteration, now);
            next_read = apr_time_now() + apr_time_from_sec(READ_INTERVAL);
        }
    }
    return NULL;
}

static void child_init(apr_pool_t *pchild, server_rec *s)
{
    apr_pool_t *own, *iteration;
    apr_threadattr_t *attr;
    apr_thread_t *thread;
    apr_hash_index_t *hi;
    apr_status_t rv;

    if (!bindings)
        return;
    /* A pool of its own, never destroyed: the thread may be blocked in a store call when the
     * child exits, and must not wake up to a destroyed lock. */
    if (apr_pool_create(&own, NULL) != APR_SUCCESS ||
        apr_pool_create(&iteration, own) != APR_SUCCESS ||
        apr_thread_mutex_create(&lock, APR_THREAD_MUTEX_DEFAULT, own) != APR_SUCCESS ||
        apr_thread_cond_create(&wake, own) != APR_SUCCESS) {
        lock = NULL;
        return;
    }
    watched = apr_hash_make(own);
    /* Every key of a rotated token and of a configured model name, for good: a circuit another
     * server opened is then skipped from this server's first request on. (Models an upstream
     * serves without naming them are watched once requests ask for them.) */
    for (hi = apr_hash_first(own, bindings); hi; hi = apr_hash_next(hi)) {
        const char *balancer = apr_hash_this_key(hi);
        const shared_binding *b = apr_hash_this_val(hi);
        for (int i = 0; b->models && i < b->models->nelts; i++) {
            const char *model = APR_ARRAY_IDX(b->models, i, const char *);
            if (!strpbrk(model, "*?["))
                watch_locked(b->store, AIP_BREAKER_MODEL,
                             aip_shared_key(own, AIP_BREAKER_MODEL, b->upstream, model), balancer,
                             model, FOREVER);
        }
        for (int i = 0; b->tokens > 1 && i < b->tokens; i++) {
            const char *guarded = apr_itoa(own, i);
            watch_locked(b->store, AIP_BREAKER_TOKEN,
                         aip_shared_key(own, AIP_BREAKER_TOKEN, b->upstream, guarded), balancer,
                         guarded, FOREVER);
        }
    }
    apr_threadattr_create(&attr, own);
    apr_threadattr_detach_set(attr, 1);
    rv = apr_thread_create(&thread, attr, store_thread, iteration, own);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                     AIPLOGNO(03103) "cannot start the shared state thread: this child keeps "
                                     "its circuits to itself");
        lock = NULL;
    }
}

void aip_shared_register_hooks(apr_pool_t *p)
{
    ap_hook_child_init(child_init, NULL, NULL, APR_HOOK_MIDDLE);
}
