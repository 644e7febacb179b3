/*
 * mod_aiproxy_breaker.c: the circuit-breaker table in shared memory, and its admin endpoint.
 *
 * One persisted slotmem holds every breaker of every virtual host (keys carry the upstream's
 * balancer name, unique per virtual host), so open circuits survive graceful and full
 * restarts. "SetHandler aiproxy-admin" lists open circuits and resets them, and shows each
 * upstream's credentials as their providers describe them.
 */
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_protocol.h"
#include "util_script.h"
#include "ap_provider.h"
#include "ap_slotmem.h"
#include "apr_strings.h"
#include "apr_lib.h"
#include <jansson.h>
#include "mod_aiproxy_private.h"
#include "aip_breaker.h"
#include "aiproxy_log.h"

APLOG_USE_MODULE(aiproxy);

#define BREAKER_SLOTMEM_NAME "aiproxy-breakers"

/* Set once in post_config; points into shared memory, read by every child. */
static aip_breaker_table breaker_table;

apr_status_t aip_breaker_create_table(apr_pool_t *pconf, server_rec *s, unsigned int slots)
{
    const ap_slotmem_provider_t *storage =
        ap_lookup_provider(AP_SLOTMEM_PROVIDER_GROUP, "shm", AP_SLOTMEM_PROVIDER_VERSION);
    ap_slotmem_instance_t *inst = NULL;
    void *base = NULL;
    apr_status_t rv;

    if (!storage) {
        ap_log_error(
            APLOG_MARK, APLOG_EMERG, 0, s,
            AIPLOGNO(00401) "mod_aiproxy needs mod_slotmem_shm for its circuit breakers: add "
                            "LoadModule slotmem_shm_module");
        return APR_EGENERAL;
    }
    rv = storage->create(&inst, BREAKER_SLOTMEM_NAME, sizeof(aip_breaker_slot), slots,
                         AP_SLOTMEM_TYPE_PERSIST, pconf);
    if (rv == APR_SUCCESS)
        rv = storage->dptr(inst, 0, &base);
    if (rv != APR_SUCCESS) {
        ap_log_error(
            APLOG_MARK, APLOG_EMERG, rv, s,
            AIPLOGNO(00402) "mod_aiproxy: cannot create the circuit-breaker shared memory");
        return rv;
    }
    /* slotmem_shm keeps the slots of one instance contiguous: slot i is base + i * size. */
    breaker_table.slots = base;
    breaker_table.count = slots;
    return APR_SUCCESS;
}

static apr_uint32_t now_seconds(void)
{
    return (apr_uint32_t) apr_time_sec(apr_time_now());
}

static const char *key_of(apr_pool_t *p, aip_breaker_kind kind, const char *balancer,
                          const char *guarded)
{
    return kind == AIP_BREAKER_TOKEN ? aip_breaker_token_key(p, balancer, atoi(guarded))
                                     : aip_breaker_key(p, balancer, guarded);
}

/* A lookup (not a creation, which a failure about to be recorded makes) whose local circuit is
 * closed asks the shared store's thread, when one is configured, to watch the key: an open
 * circuit another server recorded is then copied into the local table (aip_breaker_adopt). */
static aip_breaker_slot *find(apr_pool_t *p, aip_breaker_kind kind, const char *balancer,
                              const char *guarded, const char *key, int create)
{
    apr_uint32_t now = now_seconds();
    aip_breaker_slot *slot = aip_breaker_find(&breaker_table, kind, key, create, now);

    if (!create && !aip_breaker_is_open(slot, now))
        aip_shared_watch(p, balancer, kind, guarded, now);
    return slot;
}

void aip_breaker_adopt(apr_pool_t *p, aip_breaker_kind kind, const char *balancer,
                       const char *guarded, const aip_shared_record *rec)
{
    apr_uint32_t now = now_seconds();
    aip_breaker_slot *slot =
        aip_breaker_find(&breaker_table, kind, key_of(p, kind, balancer, guarded), 1, now);

    if (slot)
        aip_shared_apply(slot, rec, now);
}

aip_breaker_slot *aip_breaker_for(apr_pool_t *p, const aip_upstream *up, const char *model,
                                  int create)
{
    return find(p, AIP_BREAKER_MODEL, up->balancer, model, aip_breaker_key(p, up->balancer, model),
                create);
}

aip_breaker_slot *aip_token_breaker_for(apr_pool_t *p, const char *balancer, int token_index,
                                        int create)
{
    return find(p, AIP_BREAKER_TOKEN, balancer, apr_itoa(p, token_index),
                aip_breaker_token_key(p, balancer, token_index), create);
}

void aip_breaker_count_open(apr_pool_t *p, const aip_config *cfg, int *circuits, int *tokens)
{
    apr_hash_t *index = apr_hash_make(p);
    apr_uint32_t now = now_seconds();

    for (int i = 0; i < cfg->upstreams->nelts; i++) {
        const aip_upstream *up = APR_ARRAY_IDX(cfg->upstreams, i, const aip_upstream *);
        apr_hash_set(index, up->balancer, APR_HASH_KEY_STRING, (void *) (apr_uintptr_t) (i + 1));
    }
    for (apr_size_t i = 0; i < breaker_table.count; i++) {
        aip_breaker_slot *slot = &breaker_table.slots[i];
        const char *balancer, *guarded;
        apr_uintptr_t up;

        if (!aip_breaker_slot_ready(slot) || !aip_breaker_is_open(slot, now))
            continue;
        aip_breaker_key_split(p, slot->key, &balancer, &guarded);
        if (!(up = (apr_uintptr_t) apr_hash_get(index, balancer, APR_HASH_KEY_STRING)))
            continue;
        if (slot->kind == AIP_BREAKER_TOKEN)
            tokens[up - 1]++;
        else
            circuits[up - 1]++;
    }
}

/* ---- admin endpoint ----------------------------------------------------------------------- */

/* The upstream name of a breaker key's balancer, when it belongs to this virtual host. */
static const aip_upstream *upstream_of_balancer(const aip_config *cfg, const char *balancer)
{
    for (int i = 0; i < cfg->upstreams->nelts; i++) {
        const aip_upstream *up = APR_ARRAY_IDX(cfg->upstreams, i, const aip_upstream *);
        if (!strcmp(up->balancer, balancer))
            return up;
    }
    return NULL;
}

/* One listed breaker: the upstream and what it guards (a model, or a token by its index). */
static json_t *breaker_entry(const aip_upstream *up, const aip_breaker_slot *slot,
                             const char *guarded, apr_uint32_t now)
{
    int open = aip_breaker_is_open(slot, now);
    json_t *entry = json_pack("{s:s, s:b, s:i, s:I, s:i}", "upstream", up->name, "open", open,
                              "failures", (int) slot->failures, "seconds_to_reset",
                              (json_int_t) (open ? slot->open_until - now : 0), "last_status",
                              (int) slot->last_status);

    if (slot->kind == AIP_BREAKER_TOKEN)
        json_object_set_new(entry, "token", json_integer(atoi(guarded)));
    else
        json_object_set_new(entry, "model", json_string(guarded));
    return entry;
}

static json_t *open_breakers(request_rec *r, const aip_config *cfg)
{
    json_t *list = json_array();
    apr_uint32_t now = now_seconds();

    for (apr_size_t i = 0; i < breaker_table.count; i++) {
        aip_breaker_slot *slot = &breaker_table.slots[i];
        const char *balancer, *guarded;
        const aip_upstream *up;
        if (!aip_breaker_slot_ready(slot))
            continue;
        aip_breaker_key_split(r->pool, slot->key, &balancer, &guarded);
        up = upstream_of_balancer(cfg, balancer);
        if (!up || (!aip_breaker_is_open(slot, now) && slot->failures == 0))
            continue;
        json_array_append_new(list, breaker_entry(up, slot, guarded, now));
    }
    return list;
}

/* t as RFC 3339 UTC, or JSON null for 0. */
static json_t *json_time(apr_time_t t)
{
    apr_time_exp_t tm;
    char text[32];
    apr_size_t len;

    if (!t)
        return json_null();
    apr_time_exp_gmt(&tm, t);
    apr_strftime(text, &len, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_stringn(text, len);
}

static json_t *credential_entry(const aiproxy_credential_status *st)
{
    json_t *entry = json_pack("{s:s, s:s}", "label", st->label, "state", st->state);

    if (st->why)
        json_object_set_new(entry, "why", json_string(st->why));
    if (st->until)
        json_object_set_new(entry, "until", json_time(st->until));
    if (st->expiry)
        json_object_set_new(entry, "expiry", json_time(st->expiry));
    if (st->last_refresh)
        json_object_set_new(entry, "last_refresh", json_time(st->last_refresh));
    if (st->fingerprint)
        json_object_set_new(entry, "fingerprint", json_string(st->fingerprint));
    return entry;
}

/* Every upstream's credentials, as their providers describe them (never a secret). */
static json_t *credential_states(request_rec *r, const aip_server_conf *conf)
{
    json_t *list = json_array();

    for (int i = 0; conf->credentials && i < conf->cfg->upstreams->nelts; i++) {
        const aip_upstream *up = APR_ARRAY_IDX(conf->cfg->upstreams, i, const aip_upstream *);
        const aip_credentials *c = &conf->credentials[i];
        json_t *creds = json_array();
        apr_array_header_t *states;

        if (c->source && c->provider->describe &&
            (states = c->provider->describe(c->source, r->pool)) != NULL) {
            for (int j = 0; j < states->nelts; j++)
                json_array_append_new(
                    creds, credential_entry(&APR_ARRAY_IDX(states, j, aiproxy_credential_status)));
        }
        json_array_append_new(list, json_pack("{s:s, s:s, s:b, s:o}", "upstream", up->name,
                                              "api_type", up->api_type, "serving",
                                              c->source != NULL, "credentials", creds));
    }
    return list;
}

static int send_json(request_rec *r, int status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    r->status = status;
    ap_set_content_type(r, "application/json");
    ap_rputs(text ? text : "{}", r);
    free(text);
    return OK;
}

static int admin_reset(request_rec *r, const aip_config *cfg)
{
    apr_table_t *args = NULL;
    const char *name, *model, *token;
    const aip_upstream *up;
    aip_breaker_slot *slot = NULL;

    ap_args_to_table(r, &args);
    name = apr_table_get(args, "upstream");
    model = apr_table_get(args, "model");
    token = apr_table_get(args, "token");
    if (!name || !(model || token) || (model && token))
        return send_json(r, HTTP_BAD_REQUEST,
                         json_pack("{s:s}", "error",
                                   "reset needs ?upstream=NAME&model=MODEL or "
                                   "?upstream=NAME&token=INDEX"));
    up = aip_config_find_upstream(cfg, name);
    if (up && model)
        slot = aip_breaker_for(r->pool, up, model, 0);
    else if (up && apr_isdigit(*token))
        slot = aip_token_breaker_for(r->pool, up->balancer, atoi(token), 0);
    if (!slot)
        return send_json(
            r, HTTP_NOT_FOUND,
            json_pack("{s:s}", "error", "no breaker state for that upstream and model or token"));
    {
        apr_uint32_t before = slot->open_until;
        aip_breaker_reset(slot);
        aip_shared_publish(r->pool, up->balancer, model ? AIP_BREAKER_MODEL : AIP_BREAKER_TOKEN,
                           model ? model : apr_itoa(r->pool, atoi(token)), before, slot);
    }
    ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, AIPLOGNO(00403) "circuit of %s for %s %s reset",
                  name, model ? "model" : "token", model ? model : token);
    return send_json(r, HTTP_OK,
                     json_pack("{s:s, s:s, s:s}", "status", "ok", "upstream", name,
                               model ? "model" : "token", model ? model : token));
}

/* GET .../breakers: every circuit with failures or open; POST
 * .../breakers/reset?upstream=&model= (or &token=INDEX for a benched token).
 * Protect the location with Require like balancer-manager. */
static int admin_handler(request_rec *r)
{
    aip_server_conf *conf;
    const char *tail;

    if (!r->handler || strcmp(r->handler, "aiproxy-admin"))
        return DECLINED;
    conf = ap_get_module_config(r->server->module_config, &aiproxy_module);
    tail = strrchr(r->uri, '/');
    tail = tail ? tail + 1 : r->uri;
    if (!strcmp(tail, "reset")) {
        if (r->method_number != M_POST)
            return HTTP_METHOD_NOT_ALLOWED;
        return admin_reset(r, conf->cfg);
    }
    if (r->method_number != M_GET)
        return HTTP_METHOD_NOT_ALLOWED;
    return send_json(r, HTTP_OK,
                     json_pack("{s:o, s:o}", "breakers", open_breakers(r, conf->cfg), "credentials",
                               credential_states(r, conf)));
}

void aip_breaker_register_hooks(apr_pool_t *p)
{
    ap_hook_handler(admin_handler, NULL, NULL, APR_HOOK_MIDDLE);
}
