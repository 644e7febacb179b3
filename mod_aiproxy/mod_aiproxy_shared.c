/*
 * mod_aiproxy_shared.c: AIProxySharedState, the breaker and token cooldown state several
 * gateways share through Redis or memcached, by httpd's own socache providers
 * (mod_socache_redis, mod_socache_memcache).
 *
 * The local breaker table (mod_aiproxy_breaker.c) stays the fast path and the authority of
 * this server: the store is read only when a local circuit is closed, at most once a second
 * per key and child, and written only when a circuit opens, is held open longer, or is reset
 * (aip_shared.h decides which). A store that fails is left alone for a few seconds and the
 * gateway runs on its local state, with one warning a minute: never a failed request.
 */
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "ap_provider.h"
#include "ap_socache.h"
#include "apr_atomic.h"
#include "apr_hash.h"
#include "apr_strings.h"
#include "mod_aiproxy_private.h"
#include "aip_shared.h"
#include "aiproxy_log.h"

APLOG_USE_MODULE(aiproxy);

/* The socache namespace: stored keys are "aiproxy:<hex of the id>" (the providers hex-encode
 * ids), and the id itself is namespaced and versioned (aip_shared_key). */
#define SHARED_NAMESPACE "aiproxy"
/* Seconds between two reads of one key by one child while its local circuit is closed. */
#define READ_INTERVAL 1
/* Seconds between two warnings about a failing store (it is left alone after each failure
 * for aip_shared_backoff seconds). */
#define WARN_INTERVAL 60
/* A failure this long after the last back-off ended starts a new count. */
#define QUIET_SECONDS 120
/* Read turns per child, by key hash: a collision only delays a read by a second. */
#define READ_TURNS 1024

typedef struct {
    const ap_socache_provider_t *provider;
    ap_socache_instance_t *instance;
    server_rec *s;
    const char *label; /* "redis 127.0.0.1:6379", for log lines */
    /* Per child (this memory is copied at fork): when to try the store again, and when the
     * next warning may be logged. */
    volatile apr_uint32_t down_until;
    volatile apr_uint32_t failures_in_row;
    volatile apr_uint32_t next_warning;
} shared_store;

typedef struct {
    shared_store *store;
    const char *upstream; /* the name other gateways know the upstream by */
} shared_binding;

/* Balancer name -> shared_binding, rebuilt in every post_config; NULL: nothing is shared. */
static apr_hash_t *bindings;
static volatile apr_uint32_t read_turns[READ_TURNS];

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

/* A store call failed: run on local state for a while, and say so once a minute. Failures
 * count as in a row unless the store went a quiet spell without one (a "not found" cannot
 * tell an answer from a server the client library already gave up on, so answers do not
 * reset the count). */
static void store_failed(shared_store *store, apr_status_t rv, const char *what, apr_uint32_t now)
{
    apr_uint32_t in_row;

    if (now > apr_atomic_read32(&store->down_until) + QUIET_SECONDS)
        apr_atomic_set32(&store->failures_in_row, 0);
    in_row = apr_atomic_inc32(&store->failures_in_row) + 1;

    apr_atomic_set32(&store->down_until, now + aip_shared_backoff(in_row));
    if (aip_shared_due(&store->next_warning, now, WARN_INTERVAL))
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, store->s,
                     AIPLOGNO(03102) "shared state %s failed (%s): circuit breakers and token "
                                     "cooldowns run on this server's own state until it answers "
                                     "again (warned at most once a minute)",
                     store->label, what);
}

static int store_usable(shared_store *store, apr_uint32_t now)
{
    return now >= apr_atomic_read32(&store->down_until);
}

int aip_shared_fetch(apr_pool_t *p, const char *balancer, aip_breaker_kind kind,
                     const char *guarded, apr_uint32_t now, aip_shared_record *rec)
{
    const shared_binding *b = binding_of(balancer);
    const char *id;
    unsigned char data[AIP_SHARED_VALUE_MAX];
    unsigned int len = sizeof(data);
    apr_status_t rv;

    if (!b || !store_usable(b->store, now))
        return 0;
    id = aip_shared_key(p, kind, b->upstream, guarded);
    if (!aip_shared_due(
            &read_turns[apr_hashfunc_default(id, &(apr_ssize_t){APR_HASH_KEY_STRING}) % READ_TURNS],
            now, READ_INTERVAL))
        return 0;
    rv = b->store->provider->retrieve(b->store->instance, b->store->s, (const unsigned char *) id,
                                      (unsigned int) strlen(id), data, &len, p);
    if (rv != APR_SUCCESS && rv != APR_NOTFOUND) {
        store_failed(b->store, rv, "read", now);
        return 0;
    }
    if (rv == APR_NOTFOUND)
        return 0;
    return aip_shared_decode((const char *) data, len, rec) == 0 && rec->open_until > now;
}

void aip_shared_publish(apr_pool_t *p, const char *balancer, aip_breaker_kind kind,
                        const char *guarded, apr_uint32_t open_before, const aip_breaker_slot *slot)
{
    const shared_binding *b = binding_of(balancer);
    apr_uint32_t now = (apr_uint32_t) apr_time_sec(apr_time_now());
    aip_shared_action action;
    const char *id;
    apr_status_t rv;

    if (!b || !slot ||
        (action = aip_shared_after_change(open_before, slot, now)) == AIP_SHARED_KEEP ||
        !store_usable(b->store, now))
        return;
    id = aip_shared_key(p, kind, b->upstream, guarded);
    if (action == AIP_SHARED_STORE) {
        aip_shared_record rec = {
            .open_until = apr_atomic_read32((volatile apr_uint32_t *) &slot->open_until),
            .failures = apr_atomic_read32((volatile apr_uint32_t *) &slot->failures),
            .status = apr_atomic_read32((volatile apr_uint32_t *) &slot->last_status),
        };
        char text[AIP_SHARED_VALUE_MAX];
        apr_size_t len = aip_shared_encode(&rec, text, sizeof(text));
        rv = b->store->provider->store(b->store->instance, b->store->s, (const unsigned char *) id,
                                       (unsigned int) strlen(id), apr_time_from_sec(rec.open_until),
                                       (unsigned char *) text, (unsigned int) len, p);
    } else {
        rv = b->store->provider->remove(b->store->instance, b->store->s, (const unsigned char *) id,
                                        (unsigned int) strlen(id), p);
        if (rv == APR_NOTFOUND)
            rv = APR_SUCCESS;
    }
    if (rv != APR_SUCCESS)
        store_failed(b->store, rv, action == AIP_SHARED_STORE ? "write" : "delete", now);
}
