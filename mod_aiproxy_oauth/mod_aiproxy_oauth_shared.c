/*
 * mod_aiproxy_oauth_shared.c: OAuth credentials shared by several gateways through Redis
 * (AIProxySharedState redis host:port, AIProxySharedStateKey).
 *
 * Gateways holding copies of the same auth files must not refresh a credential each: Codex,
 * Claude and Kiro rotate refresh tokens, so the second refresh with the old one fails and
 * takes the credential out. On top of each server's own lease (oa_slot.h: one child refreshes)
 * sits a lease in Redis (SET NX PX: one gateway refreshes); the winner stores the new tokens,
 * sealed (oa_seal.h), and the others take them from there instead of refreshing. Cooldowns
 * (a 429 or quota answer) are shared by the watchdog once a second, both ways.
 *
 * Redis is never needed to serve: every call is bounded (mod_aiproxy_oauth_redis.c), and a
 * store that fails leaves each gateway on its own state (it then refreshes by itself). Without
 * a key nothing OAuth is shared: tokens are secrets, and they never reach the store in clear.
 * memcached has no such lease here: with AIProxySharedState memcache, OAuth state stays local
 * (said at startup).
 */
#include <string.h>
#include <openssl/crypto.h>
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_core.h"
#include "apr_file_io.h"
#include "apr_strings.h"
#include "mod_watchdog.h"
#include "mod_aiproxy_oauth.h"
#include "aiproxy_log.h"

APLOG_USE_MODULE(aiproxy_oauth);

/* How long the tokens entry outlives its access token: its refresh token stays good, and a
 * gateway whose file holds a spent one (it was down while another rotated it) refreshes with
 * the stored one. */
#define TOKENS_KEEP apr_time_from_sec(30 * 86400)
/* How often a gateway waiting for another's refresh looks at the store. */
#define WAIT_STEP apr_time_from_msec(50)
/* A cooldown shorter than this is not worth telling other gateways. */
#define COOLDOWN_MIN apr_time_from_sec(1)
/* The largest key file read. */
#define KEY_FILE_MAX 4096

/* ---- AIProxySharedStateKey ----------------------------------------------------------------- */

const char *oa_cmd_shared_key(cmd_parms *cmd, void *dummy, const char *arg)
{
    oa_server_conf *conf = ap_get_module_config(cmd->server->module_config, &aiproxy_oauth_module);
    const char *path = ap_server_root_relative(cmd->pool, arg), *err = NULL;
    oa_seal_key *key = apr_pcalloc(cmd->pool, sizeof(*key));
    char buf[KEY_FILE_MAX], why[120];
    apr_size_t len = sizeof(buf);
    apr_file_t *fh;
    apr_status_t rv;

    if (!strcasecmp(arg, "none")) {
        conf->shared_key = NULL;
        conf->shared_key_set = 1;
        return NULL;
    }
    if (!path)
        return apr_psprintf(cmd->pool, "%s: invalid path %s", cmd->cmd->name, arg);
    rv = apr_file_open(&fh, path, APR_FOPEN_READ | APR_FOPEN_BINARY, APR_FPROT_OS_DEFAULT,
                       cmd->temp_pool);
    if (rv == APR_SUCCESS) {
        rv = apr_file_read_full(fh, buf, sizeof(buf), &len);
        apr_file_close(fh);
        if (rv == APR_EOF)
            rv = APR_SUCCESS;
        else if (rv == APR_SUCCESS)
            return apr_psprintf(cmd->pool, "%s: %s is too long for a key", cmd->cmd->name, path);
    }
    if (rv != APR_SUCCESS)
        return apr_psprintf(cmd->pool, "%s: cannot read %s: %s", cmd->cmd->name, path,
                            apr_strerror(rv, why, sizeof(why)));
    if (oa_seal_key_parse(buf, len, key, &err) != 0) {
        OPENSSL_cleanse(buf, sizeof(buf));
        return apr_psprintf(cmd->pool, "%s: %s: %s", cmd->cmd->name, path, err);
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    conf->shared_key = key;
    conf->shared_key_set = 1;
    return NULL;
}

/* ---- setup --------------------------------------------------------------------------------- */

void oa_shared_setup(apr_pool_t *pconf, server_rec *s, const aiproxy_credential_upstream *up,
                     oa_source *src)
{
    int quiet = ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG;
    const char *err;

    src->redis = NULL;
    if (!up->shared_store)
        return;
    if (strcmp(up->shared_store, "redis") != 0) {
        if (!quiet)
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                         AIPLOGNO(02062) "upstream %s: OAuth tokens, refresh lease and cooldowns "
                                         "are not shared with %s (it has no atomic lease here); "
                                         "use AIProxySharedState redis to share them",
                         up->name, up->shared_store);
        return;
    }
    if (!src->conf->shared_key) {
        if (!quiet)
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                         AIPLOGNO(02063) "upstream %s: OAuth tokens are not shared through "
                                         "redis without AIProxySharedStateKey (they are secrets "
                                         "and are only stored sealed); each gateway refreshes "
                                         "its own",
                         up->name);
        return;
    }
    if ((err = oa_redis_open(pconf, s, up->shared_address, &src->redis)) != NULL) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     AIPLOGNO(02064) "upstream %s: OAuth state is not shared: %s", up->name, err);
        src->redis = NULL;
        return;
    }
    src->seal_key = src->conf->shared_key;
    for (int i = 0; i < src->count; i++) {
        oa_file *f = &src->files[i];
        /* the same on every gateway: the upstream's name and the file's, never a path */
        const char *what =
            apr_pstrcat(pconf, "oauth credential\n", up->name, "\n", f->cred.label, NULL);
        f->shared_prefix = oa_shared_prefix(pconf, oa_seal_name(pconf, src->seal_key, what));
    }
}

static int shared(const oa_file *f)
{
    return f->source->redis && f->shared_prefix;
}

static const char *entry(apr_pool_t *p, const oa_file *f, const char *what)
{
    return apr_pstrcat(p, f->shared_prefix, what, NULL);
}

/* ---- tokens -------------------------------------------------------------------------------- */

int oa_shared_fetch(apr_pool_t *p, const oa_file *f, oa_shared_tokens *out)
{
    const char *key;
    char *sealed, *plain;
    apr_size_t len, plain_len;
    oa_redis_status st;

    if (!shared(f))
        return 0;
    key = entry(p, f, "tokens");
    st = oa_redis_get(f->source->redis, p, key, &sealed, &len);
    if (st != OA_REDIS_OK)
        return st == OA_REDIS_NONE ? 0 : -1;
    if (oa_unseal(p, f->source->seal_key, key, sealed, len, &plain, &plain_len) != 0 ||
        oa_shared_tokens_decode(p, plain, plain_len, out) != 0) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, f->source->server,
                     AIPLOGNO(02065) "upstream %s: the shared tokens of auth file %s do not open "
                                     "with this AIProxySharedStateKey (another key on another "
                                     "gateway?); ignored",
                     f->source->upstream, f->cred.label);
        return 0;
    }
    return 1;
}

void oa_shared_publish(apr_pool_t *p, const oa_file *f, const oa_shared_tokens *t)
{
    const char *key;
    char *plain, *sealed;
    apr_size_t len, sealed_len;
    apr_time_t ttl;

    if (!shared(f) || (plain = oa_shared_tokens_encode(p, t, &len)) == NULL)
        return;
    key = entry(p, f, "tokens");
    ttl = TOKENS_KEEP + (t->expiry > apr_time_now() ? t->expiry - apr_time_now() : 0);
    if (oa_seal(p, f->source->seal_key, key, plain, len, &sealed, &sealed_len) == 0)
        oa_redis_set(f->source->redis, p, key, sealed, sealed_len, ttl, 0);
    OPENSSL_cleanse(plain, len);
}

/* ---- the lease ----------------------------------------------------------------------------- */

oa_shared_lease oa_shared_lease_take(apr_pool_t *p, const oa_file *f, apr_interval_time_t hold,
                                     const char **token)
{
    static const char digits[] = "0123456789abcdef";
    unsigned char random[16];
    char *hex = apr_palloc(p, 2 * sizeof(random) + 1);
    oa_redis_status st;

    *token = NULL;
    if (!shared(f) || apr_generate_random_bytes(random, sizeof(random)) != APR_SUCCESS)
        return OA_SHARED_LOCAL;
    /* names the holder, so only it releases the lease (a stale holder's release is a no-op) */
    for (apr_size_t i = 0; i < sizeof(random); i++) {
        hex[2 * i] = digits[random[i] >> 4];
        hex[2 * i + 1] = digits[random[i] & 15];
    }
    hex[2 * sizeof(random)] = '\0';
    st = oa_redis_set(f->source->redis, p, entry(p, f, "lease"), hex, strlen(hex), hold, 1);
    if (st == OA_REDIS_OK) {
        *token = hex;
        return OA_SHARED_WON;
    }
    return st == OA_REDIS_NONE ? OA_SHARED_LOST : OA_SHARED_LOCAL;
}

void oa_shared_lease_release(apr_pool_t *p, const oa_file *f, const char *token)
{
    if (shared(f) && token)
        oa_redis_del_if(f->source->redis, p, entry(p, f, "lease"), token);
}

int oa_shared_wait(apr_pool_t *p, const oa_file *f, apr_time_t since, apr_time_t deadline,
                   oa_shared_tokens *out)
{
    const char *lease = entry(p, f, "lease");

    while (apr_time_now() < deadline) {
        char *value;
        apr_size_t len;
        oa_redis_status st;
        int found;

        apr_sleep(WAIT_STEP);
        /* tokens first: the holder stores them before it lets the lease go */
        found = oa_shared_fetch(p, f, out);
        if (found == 1 && out->refreshed_at > since)
            return 1;
        if (found < 0)
            return 0;
        st = oa_redis_get(f->source->redis, p, lease, &value, &len);
        if (st != OA_REDIS_OK)
            return 0; /* gone without new tokens (it failed), or the store did */
    }
    return 0;
}

/* ---- cooldowns ----------------------------------------------------------------------------- */

/* One file's cooldown, both ways: a later one in the store is taken, a later local one
 * stored. Returns -1 when the store failed (the rest waits for the next turn). */
static int sync_cooldown(apr_pool_t *p, oa_file *f, apr_time_t now)
{
    const char *key = entry(p, f, "cooldown");
    apr_time_t local = atomic_load(&f->slot->cooldown_until), remote = 0;
    char *sealed, *plain, *value;
    apr_size_t len, plain_len;
    oa_redis_status st = oa_redis_get(f->source->redis, p, key, &sealed, &len);

    if (st == OA_REDIS_DOWN)
        return -1;
    if (st == OA_REDIS_OK &&
        (oa_unseal(p, f->source->seal_key, key, sealed, len, &plain, &plain_len) != 0 ||
         oa_shared_cooldown_decode(plain, plain_len, &remote) != 0))
        remote = 0; /* not ours: overwritten below if this gateway has a cooldown */
    if (remote > local && remote > now) {
        oa_slot_extend(&f->slot->cooldown_until, remote);
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, f->source->server,
                     AIPLOGNO(02066) "upstream %s: auth file %s cools down for %" APR_TIME_T_FMT
                                     " s, as another gateway found",
                     f->source->upstream, f->path, apr_time_sec(remote - now));
        return 0;
    }
    if (local > remote && local > now + COOLDOWN_MIN) {
        value = oa_shared_cooldown_encode(p, local, &len);
        if (oa_seal(p, f->source->seal_key, key, value, len, &sealed, &plain_len) == 0 &&
            oa_redis_set(f->source->redis, p, key, sealed, plain_len, local - now, 0) ==
                OA_REDIS_DOWN)
            return -1;
    }
    return 0;
}

apr_status_t oa_shared_sync(int state, void *data, apr_pool_t *pool)
{
    apr_array_header_t *registry = data;
    apr_time_t now = apr_time_now();

    if (state != AP_WATCHDOG_STATE_RUNNING)
        return APR_SUCCESS;
    for (int i = 0; i < registry->nelts; i++) {
        oa_file *f = APR_ARRAY_IDX(registry, i, oa_file *);
        if (shared(f) && f->slot && sync_cooldown(pool, f, now) != 0)
            break;
    }
    return APR_SUCCESS;
}
