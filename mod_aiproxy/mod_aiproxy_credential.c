/*
 * mod_aiproxy_credential.c: each upstream's credential provider, and the built-in one.
 *
 * At every configuration load, each upstream gets the provider registered under its api type
 * in the aiproxy_credential group (mod_aiproxy_oauth registers the subscription types), or
 * the built-in "static" provider for API keys. The static provider takes an upstream's keys in
 * turn (aip_keys.h) and benches a refused or throttled key in the shared breaker table, so
 * every child skips it until its cooldown ends.
 */
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_protocol.h"
#include "ap_provider.h"
#include "apr_strings.h"
#include "mod_aiproxy_private.h"
#include "aip_failover.h"
#include "aip_keys.h"
#include "aiproxy_log.h"

APLOG_USE_MODULE(aiproxy);

/* How long a key that was throttled (429) sits out when the answer gives no Retry-After;
 * refused keys sit out the breaker period. */
#define THROTTLED_KEY_SECONDS 60

/* ---- the static provider: API keys ---------------------------------------------------------- */

typedef struct {
    const char *balancer; /* the upstream's key in the shared breaker table */
    aiproxy_proto proto;  /* whose style of authentication */
    const apr_array_header_t *tokens;
    long breaker_open_seconds;
    aip_key_ring ring;
    aiproxy_credential *keys; /* one per token, labelled by position */
} static_source;

typedef struct {
    static_source *source;
    apr_pool_t *pool;
    aip_key_walk walk;
} static_cursor;

static const char *static_setup(apr_pool_t *pconf, server_rec *s,
                                const aiproxy_credential_upstream *up, void **sourcep)
{
    static_source *source;

    if (!up->tokens || up->tokens->nelts == 0)
        return "it has no token=";
    source = apr_pcalloc(pconf, sizeof(*source));
    source->balancer = up->balancer;
    source->proto = up->proto;
    source->tokens = up->tokens;
    source->breaker_open_seconds = up->breaker_open_seconds;
    source->ring.count = up->tokens->nelts;
    source->keys = apr_pcalloc(pconf, sizeof(*source->keys) * up->tokens->nelts);
    for (int i = 0; i < up->tokens->nelts; i++) {
        source->keys[i].index = i;
        source->keys[i].label = apr_psprintf(pconf, "token %d", i + 1);
    }
    *sourcep = source;
    return NULL;
}

static int static_available(void *source)
{
    return 1; /* a benched key is still tried when every key is benched */
}

static void *static_begin(void *sourcep, request_rec *r)
{
    static_cursor *cursor = apr_palloc(r->pool, sizeof(*cursor));

    cursor->source = sourcep;
    cursor->pool = r->pool;
    aip_key_walk_begin(&cursor->source->ring, &cursor->walk);
    return cursor;
}

static int key_benched(void *baton, int index)
{
    static_cursor *cursor = baton;
    apr_uint32_t now = (apr_uint32_t) apr_time_sec(apr_time_now());

    return aip_breaker_is_open(
        aip_token_breaker_for(cursor->pool, cursor->source->balancer, index, 0), now);
}

static const aiproxy_credential *static_next(void *sourcep, void *cursorp)
{
    static_cursor *cursor = cursorp;
    int index = aip_key_walk_next(&cursor->walk, key_benched, cursor);

    return index < 0 ? NULL : &cursor->source->keys[index];
}

static apr_status_t static_apply(void *sourcep, const aiproxy_credential *cred, request_rec *rr,
                                 apr_table_t *upstream_headers)
{
    static_source *source = sourcep;

    aip_translate->set_upstream_auth(rr->pool, upstream_headers, source->proto,
                                     APR_ARRAY_IDX(source->tokens, cred->index, const char *));
    return APR_SUCCESS;
}

static aiproxy_credential_verdict static_report(void *sourcep, void *cursorp,
                                                const aiproxy_credential *cred,
                                                const aiproxy_upstream_answer *answer)
{
    static_source *source = sourcep;
    static_cursor *cursor = cursorp;
    aiproxy_credential_verdict verdict = {AIPROXY_CREDENTIAL_OK, 0};
    apr_uint32_t now = (apr_uint32_t) apr_time_sec(apr_time_now());
    const char *retry_after;
    long cooldown;
    aip_breaker_slot *slot;

    if (answer->status == HTTP_UNAUTHORIZED || answer->status == HTTP_FORBIDDEN)
        verdict.outcome = AIPROXY_CREDENTIAL_REFUSED;
    else if (answer->status == HTTP_TOO_MANY_REQUESTS)
        verdict.outcome = AIPROXY_CREDENTIAL_THROTTLED;
    else
        return verdict;
    retry_after = answer->headers ? apr_table_get(answer->headers, "Retry-After") : NULL;
    cooldown = aip_retry_after_seconds(retry_after, now, source->breaker_open_seconds);
    if (!cooldown)
        cooldown = verdict.outcome == AIPROXY_CREDENTIAL_THROTTLED ? THROTTLED_KEY_SECONDS
                                                                   : source->breaker_open_seconds;
    verdict.until = apr_time_from_sec(now + cooldown);
    /* A lone key is never benched: there is nothing else to try. */
    if (source->ring.count > 1 &&
        (slot = aip_token_breaker_for(cursor->pool, source->balancer, cred->index, 1)) != NULL) {
        apr_uint32_t before = slot->open_until;
        aip_breaker_record_failure(slot, now, 1, (int) cooldown, cooldown, answer->status);
        aip_shared_publish(cursor->pool, source->balancer, AIP_BREAKER_TOKEN,
                           apr_itoa(cursor->pool, cred->index), before, slot);
    }
    return verdict;
}

/* Keys are listed by label only, with the cooldown of a benched one. */
static apr_array_header_t *static_describe(void *sourcep, apr_pool_t *p)
{
    static_source *source = sourcep;
    apr_array_header_t *list =
        apr_array_make(p, source->ring.count, sizeof(aiproxy_credential_status));
    apr_uint32_t now = (apr_uint32_t) apr_time_sec(apr_time_now());

    for (int i = 0; i < source->ring.count; i++) {
        aiproxy_credential_status *st = apr_array_push(list);
        aip_breaker_slot *slot = aip_token_breaker_for(p, source->balancer, i, 0);
        int benched = aip_breaker_is_open(slot, now);

        memset(st, 0, sizeof(*st));
        st->label = source->keys[i].label;
        st->state = benched ? "cooling down" : "ok";
        st->until = benched ? apr_time_from_sec(slot->open_until) : 0;
    }
    return list;
}

static const aiproxy_credential_provider static_provider = {
    .setup = static_setup,
    .available = static_available,
    .begin = static_begin,
    .next = static_next,
    .apply = static_apply,
    .report = static_report,
    .describe = static_describe,
};

void aip_credentials_share_turn(const aip_credentials *c, volatile apr_uint32_t *word)
{
    if (c->provider == &static_provider && c->source)
        ((static_source *) c->source)->ring.shared_turn = word;
}

apr_time_t aip_credentials_usable_at(const aip_credentials *c, apr_pool_t *p)
{
    apr_array_header_t *states;
    apr_time_t soonest = 0;

    if (!c->source || !c->provider->describe || !(states = c->provider->describe(c->source, p)))
        return 0;
    for (int i = 0; i < states->nelts; i++) {
        const aiproxy_credential_status *st = &APR_ARRAY_IDX(states, i, aiproxy_credential_status);

        if (!strcmp(st->state, "disabled") || !strcmp(st->state, "failed"))
            continue; /* never serves again by itself: no time to wait for */
        if (!st->until)
            return 0; /* usable, or refreshing: it may serve at any moment */
        if (!soonest || st->until < soonest)
            soonest = st->until;
    }
    return soonest;
}

/* ---- each upstream's provider -------------------------------------------------------------- */

/* The URLs of up's fallback bases (aip_base_fallback.h), in order. */
static const apr_array_header_t *fallback_urls(apr_pool_t *p, const aip_upstream *up)
{
    apr_array_header_t *urls = apr_array_make(p, up->fallbacks->nelts, sizeof(const char *));

    for (int i = 0; i < up->fallbacks->nelts; i++)
        APR_ARRAY_PUSH(urls, const char *) = APR_ARRAY_IDX(up->fallbacks, i, aip_fallback_base).url;
    return urls;
}

static aiproxy_credential_upstream describe(apr_pool_t *p, const aip_config *cfg,
                                            const aip_shared_spec *shared, const aip_upstream *up)
{
    aiproxy_credential_upstream d = {
        .name = up->name,
        .api_type = up->api_type,
        .proto = up->proto,
        .base_url = up->base_url,
        .fallback_base_urls = fallback_urls(p, up),
        .fallback_triggers = up->fallback_triggers,
        .balancer = up->balancer,
        .index = up->index,
        .tokens = up->tokens,
        .auth_files = up->auth_files,
        .token_url = up->token_url,
        .breaker_open_seconds = cfg->breaker_open_seconds,
        .shared_store = shared ? shared->provider : NULL,
        .shared_address = shared ? shared->address : NULL,
    };
    return d;
}

/* Log why up cannot serve, and take it out of rotation (it has no credential source, so
 * enabling it in balancer-manager changes nothing). */
static void take_out(server_rec *s, aip_upstream *up, const char *why)
{
    if (!up->enabled)
        return; /* disabled by its configuration: nothing to say */
    up->enabled = 0;
    if (ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_CREATE_PRE_CONFIG)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     AIPLOGNO(00801) "upstream %s (api type %s) is out of rotation: %s", up->name,
                     up->api_type, why);
}

aip_credentials *aip_credentials_setup(apr_pool_t *pconf, server_rec *s, aip_config *cfg)
{
    aip_credentials *all = apr_pcalloc(pconf, sizeof(*all) * (cfg->upstreams->nelts + 1));
    const aip_server_conf *conf = ap_get_module_config(s->module_config, &aiproxy_module);

    for (int i = 0; i < cfg->upstreams->nelts; i++) {
        aip_upstream *up = APR_ARRAY_IDX(cfg->upstreams, i, aip_upstream *);
        const char *name = up->oauth ? up->api_type : AIPROXY_CREDENTIAL_STATIC;
        aiproxy_credential_upstream described = describe(pconf, cfg, conf->shared, up);
        const char *why;

        all[i].provider =
            ap_lookup_provider(AIPROXY_CREDENTIAL_GROUP, name, AIPROXY_CREDENTIAL_VERSION);
        if (!all[i].provider) {
            take_out(s, up,
                     "OAuth subscription upstreams need mod_aiproxy_oauth, which is not "
                     "available yet");
            continue;
        }
        why = all[i].provider->setup(pconf, s, &described, &all[i].source);
        if (why) {
            all[i].source = NULL;
            take_out(s, up, why);
        }
    }
    return all;
}

void aip_credential_register(apr_pool_t *p)
{
    ap_register_provider(p, AIPROXY_CREDENTIAL_GROUP, AIPROXY_CREDENTIAL_STATIC,
                         AIPROXY_CREDENTIAL_VERSION, &static_provider);
}
