/*
 * mod_aiproxy_limits.c: per-key request and token limits, shared by every httpd child.
 *
 * One slotmem (without PERSIST: counts are per minute, nothing worth keeping) holds the
 * counters of every client key with rpm= or tpm=, one slot per distinct key, identified by the
 * key's SHA-1 so the key itself never sits in shared memory. Slots are assigned in
 * post_config; the arithmetic is the pure core's (aip_client_key.h), lock-free.
 */
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "ap_provider.h"
#include "ap_slotmem.h"
#include "apr_sha1.h"
#include "apr_strings.h"
#include "mod_aiproxy_private.h"
#include "aip_client_key.h"
#include "aiproxy_log.h"

APLOG_USE_MODULE(aiproxy);

#define LIMITS_SLOTMEM_NAME "aiproxy-key-limits"

/* Set once in post_config; points into shared memory, read by every child. */
static aip_key_counters *limit_slots;

static void key_digest(const char *key, unsigned char *digest)
{
    apr_sha1_ctx_t ctx;
    apr_sha1_init(&ctx);
    apr_sha1_update(&ctx, key, (unsigned int) strlen(key));
    apr_sha1_final(digest, &ctx);
}

/* The limited keys of every virtual host, once each by key (one key in two virtual hosts
 * shares its counters); *digests receives their digests in slot order. */
static apr_array_header_t *limited_keys(apr_pool_t *p, server_rec *s, apr_array_header_t *digests)
{
    apr_array_header_t *keys = apr_array_make(p, 4, sizeof(aip_client_key *));

    for (server_rec *vs = s; vs; vs = vs->next) {
        aip_server_conf *conf = ap_get_module_config(vs->module_config, &aiproxy_module);
        for (int i = 0; i < conf->cfg->client_keys->nelts; i++) {
            aip_client_key *k = APR_ARRAY_IDX(conf->cfg->client_keys, i, aip_client_key *);
            unsigned char digest[AIP_KEY_DIGEST_SIZE];
            int slot = -1;

            if ((!k->rpm && !k->tpm) || k->limit_slot >= 0)
                continue;
            key_digest(k->key, digest);
            for (int d = 0; d < digests->nelts && slot < 0; d++)
                if (!memcmp(digests->elts + (apr_size_t) d * AIP_KEY_DIGEST_SIZE, digest,
                            AIP_KEY_DIGEST_SIZE))
                    slot = d;
            if (slot < 0) {
                slot = digests->nelts;
                memcpy(apr_array_push(digests), digest, AIP_KEY_DIGEST_SIZE);
            }
            k->limit_slot = slot;
            APR_ARRAY_PUSH(keys, aip_client_key *) = k;
        }
    }
    return keys;
}

apr_status_t aip_limits_create_table(apr_pool_t *pconf, server_rec *s)
{
    const ap_slotmem_provider_t *storage =
        ap_lookup_provider(AP_SLOTMEM_PROVIDER_GROUP, "shm", AP_SLOTMEM_PROVIDER_VERSION);
    apr_array_header_t *digests = apr_array_make(pconf, 4, AIP_KEY_DIGEST_SIZE);
    ap_slotmem_instance_t *inst = NULL;
    void *base = NULL;
    apr_status_t rv;

    limited_keys(pconf, s, digests);
    if (!digests->nelts || !storage)
        return APR_SUCCESS; /* no limits; a missing mod_slotmem_shm is reported for breakers */
    rv = storage->create(&inst, LIMITS_SLOTMEM_NAME, sizeof(aip_key_counters),
                         (unsigned int) digests->nelts, 0, pconf);
    if (rv == APR_SUCCESS)
        rv = storage->dptr(inst, 0, &base);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                     AIPLOGNO(01001) "mod_aiproxy: cannot create the client-key limits "
                                     "shared memory");
        return rv;
    }
    limit_slots = base;
    /* A slot kept from the last generation counts on for the same key, else starts empty. */
    for (int i = 0; i < digests->nelts; i++) {
        const unsigned char *digest =
            (const unsigned char *) digests->elts + (apr_size_t) i * AIP_KEY_DIGEST_SIZE;
        if (memcmp(limit_slots[i].digest, digest, AIP_KEY_DIGEST_SIZE)) {
            memset(&limit_slots[i], 0, sizeof(limit_slots[i]));
            memcpy(limit_slots[i].digest, digest, AIP_KEY_DIGEST_SIZE);
        }
    }
    return APR_SUCCESS;
}

static aip_key_counters *counters_of(const aip_client_key *k)
{
    return k && k->limit_slot >= 0 && limit_slots ? &limit_slots[k->limit_slot] : NULL;
}

static void set_limit_headers(request_rec *r, const char *kind, apr_uint32_t limit,
                              apr_uint32_t left, const char *reset)
{
    apr_table_setn(r->err_headers_out, apr_pstrcat(r->pool, "x-ratelimit-limit-", kind, NULL),
                   apr_psprintf(r->pool, "%u", limit));
    apr_table_setn(r->err_headers_out, apr_pstrcat(r->pool, "x-ratelimit-remaining-", kind, NULL),
                   apr_psprintf(r->pool, "%u", left));
    apr_table_setn(r->err_headers_out, apr_pstrcat(r->pool, "x-ratelimit-reset-", kind, NULL),
                   reset);
}

const char *aip_limits_admit(request_rec *r, const aip_client_key *k)
{
    aip_key_counters *c = counters_of(k);
    aip_rate_status st;
    const char *reset;

    if (!c)
        return NULL;
    st = aip_rate_admit(c, k, apr_time_sec(apr_time_now()));
    reset = aip_rate_reset_text(r->pool, st.reset_seconds);
    if (st.limit_requests)
        set_limit_headers(r, "requests", st.limit_requests, st.remaining_requests, reset);
    if (st.limit_tokens)
        set_limit_headers(r, "tokens", st.limit_tokens, st.remaining_tokens, reset);
    if (st.admitted)
        return NULL;
    apr_table_setn(r->err_headers_out, "Retry-After",
                   apr_psprintf(r->pool, "%u", st.reset_seconds));
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                  AIPLOGNO(01002) "client key over its %s per minute limit",
                  st.over_tokens ? "tokens" : "requests");
    return st.over_tokens
               ? apr_psprintf(r->pool,
                              "Rate limit reached for this API key: %u tokens per minute. "
                              "Try again in %us.",
                              st.limit_tokens, st.reset_seconds)
               : apr_psprintf(r->pool,
                              "Rate limit reached for this API key: %u requests per minute. "
                              "Try again in %us.",
                              st.limit_requests, st.reset_seconds);
}

void aip_limits_count_tokens(const aip_client_key *k, apr_uint64_t tokens)
{
    aip_key_counters *c = counters_of(k);

    if (c && k->tpm)
        aip_rate_add_tokens(c, tokens, apr_time_sec(apr_time_now()));
}
