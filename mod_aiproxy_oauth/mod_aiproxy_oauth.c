/*
 * mod_aiproxy_oauth.c: the module record, its directives, and the shared memory holding every
 * OAuth credential's tokens and state.
 *
 * mod_aiproxy sets up each subscription upstream through the provider registered under its
 * api type (mod_aiproxy_oauth_provider.c), in its own post_config; each setup adds the
 * upstream's files to this configuration load's registry. This module's post_config runs
 * after mod_aiproxy's and gives every registered file a slot of one slotmem (no PERSIST: the
 * cache never writes a token to disk), filled from the file, then starts the watchdog task
 * that refreshes tokens ahead of expiry.
 */
#include <curl/curl.h>
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_core.h"
#include "apr_lib.h"
#include "ap_provider.h"
#include "ap_slotmem.h"
#include "apr_strings.h"
#include "mod_aiproxy_oauth.h"
#include "oa_provider.h"
#include "aiproxy_log.h"

/* AP_DECLARE_MODULE at the end stands for APLOG_USE_MODULE. */

#define SLOTMEM_NAME  "aiproxy-oauth"
#define REGISTRY_NAME "aiproxy_oauth_registry"

apr_array_header_t *oa_registry(apr_pool_t *pconf)
{
    void *registry = NULL;

    apr_pool_userdata_get(&registry, REGISTRY_NAME, pconf);
    if (!registry) {
        registry = apr_array_make(pconf, 8, sizeof(oa_file *));
        apr_pool_userdata_setn(registry, REGISTRY_NAME, NULL, pconf);
    }
    return registry;
}

/* ---- directives --------------------------------------------------------------------------- */

static void *create_server_conf(apr_pool_t *p, server_rec *s)
{
    oa_server_conf *conf = apr_pcalloc(p, sizeof(*conf));

    conf->skew = OA_DEFAULT_SKEW;
    conf->connect_timeout = OA_DEFAULT_CONNECT_TIMEOUT;
    conf->total_timeout = OA_DEFAULT_TOTAL_TIMEOUT;
    conf->proxy = "";
    conf->client_ids = apr_table_make(p, 2);
    conf->headers = apr_array_make(p, 2, sizeof(oa_header));
    return conf;
}

static void *merge_server_conf(apr_pool_t *p, void *basep, void *addp)
{
    const oa_server_conf *base = basep, *add = addp;
    oa_server_conf *conf = apr_pmemdup(p, add, sizeof(*conf));

    if (!add->skew_set)
        conf->skew = base->skew, conf->skew_set = base->skew_set;
    if (!add->timeout_set) {
        conf->connect_timeout = base->connect_timeout;
        conf->total_timeout = base->total_timeout;
        conf->timeout_set = base->timeout_set;
    }
    if (!add->proxy_set)
        conf->proxy = base->proxy, conf->proxy_set = base->proxy_set;
    if (!add->ca_file_set)
        conf->ca_file = base->ca_file, conf->ca_file_set = base->ca_file_set;
    if (!add->shared_key_set)
        conf->shared_key = base->shared_key, conf->shared_key_set = base->shared_key_set;
    conf->client_ids = apr_table_overlay(p, base->client_ids, add->client_ids);
    /* The vhost's overrides come last, so they win (oa_header_value takes the last). */
    conf->headers = apr_array_append(p, base->headers, add->headers);
    return conf;
}

static oa_server_conf *conf_of(cmd_parms *cmd)
{
    return ap_get_module_config(cmd->server->module_config, &aiproxy_oauth_module);
}

/* A whole number of seconds from min to max, or -1. */
static long seconds_arg(const char *arg, long min, long max)
{
    char *end;
    long v = strtol(arg, &end, 10);

    return (*end || end == arg || v < min || v > max) ? -1 : v;
}

static const char *cmd_skew(cmd_parms *cmd, void *dummy, const char *arg)
{
    oa_server_conf *conf = conf_of(cmd);
    long seconds = seconds_arg(arg, 0, 30 * 86400);

    if (seconds < 0)
        return "AIProxyOAuthRefreshSkew: expected seconds from 0 to 2592000";
    conf->skew = apr_time_from_sec(seconds);
    conf->skew_set = 1;
    return NULL;
}

static const char *cmd_timeout(cmd_parms *cmd, void *dummy, const char *connect, const char *total)
{
    oa_server_conf *conf = conf_of(cmd);
    long c = seconds_arg(connect, 1, 300), t = total ? seconds_arg(total, 1, 600) : 3 * c;

    if (c < 0 || t < 0 || t < c)
        return "AIProxyOAuthTimeout: expected <connect seconds, 1-300> [<total seconds, "
               "1-600, not below connect>]";
    conf->connect_timeout = c;
    conf->total_timeout = t;
    conf->timeout_set = 1;
    return NULL;
}

static const char *cmd_proxy(cmd_parms *cmd, void *dummy, const char *arg)
{
    oa_server_conf *conf = conf_of(cmd);

    if (!strcasecmp(arg, "none"))
        conf->proxy = "";
    else if (ap_strstr_c(arg, "://") == NULL)
        return "AIProxyOAuthProxy: expected a proxy URL (http://host:port) or none";
    else
        conf->proxy = arg;
    conf->proxy_set = 1;
    return NULL;
}

static const char *cmd_ca_file(cmd_parms *cmd, void *dummy, const char *arg)
{
    oa_server_conf *conf = conf_of(cmd);

    conf->ca_file = ap_server_root_relative(cmd->pool, arg);
    if (!conf->ca_file)
        return apr_psprintf(cmd->pool, "AIProxyOAuthCAFile: invalid path %s", arg);
    conf->ca_file_set = 1;
    return NULL;
}

/* Only the dialects this module serves take settings. */
static const char *served_provider(cmd_parms *cmd, const char *api_type, oa_provider *out)
{
    *out = oa_provider_from_name(api_type);
    if (*out == OA_PROVIDER_NONE)
        return apr_psprintf(
            cmd->pool,
            "%s: unknown api type '%s' (codex, claudecode, geminicli, antigravity, kiro)",
            cmd->cmd->name, api_type);
    return NULL;
}

static const char *cmd_client_id(cmd_parms *cmd, void *dummy, const char *api_type, const char *id)
{
    oa_provider provider;
    const char *err = served_provider(cmd, api_type, &provider);

    if (err)
        return err;
    apr_table_setn(conf_of(cmd)->client_ids, oa_provider_name(provider), id);
    return NULL;
}

static const char *cmd_header(cmd_parms *cmd, void *dummy, const char *api_type, const char *name,
                              const char *value)
{
    oa_header *h;
    oa_provider provider;
    const char *err = served_provider(cmd, api_type, &provider);

    if (err)
        return err;
    for (const char *c = name; *c; c++) {
        if (!apr_isgraph(*c) || *c == ':')
            return apr_psprintf(cmd->pool, "AIProxyOAuthHeader: invalid header name %s", name);
    }
    if (strpbrk(value, "\r\n"))
        return "AIProxyOAuthHeader: the value must not contain line breaks";
    if (!strcasecmp(name, "Authorization") || !strcasecmp(name, "chatgpt-account-id"))
        return apr_psprintf(cmd->pool, "AIProxyOAuthHeader: %s comes from the credential", name);
    h = apr_array_push(conf_of(cmd)->headers);
    h->provider = provider;
    h->name = name;
    h->value = value;
    return NULL;
}

static const command_rec oauth_cmds[] = {
    AP_INIT_TAKE1("AIProxyOAuthRefreshSkew", cmd_skew, NULL, RSRC_CONF,
                  "Refresh an OAuth token this many seconds before it expires (default 300)"),
    AP_INIT_TAKE12("AIProxyOAuthTimeout", cmd_timeout, NULL, RSRC_CONF,
                   "Token endpoint timeouts: <connect seconds> [<total seconds>] (default 10 30)"),
    AP_INIT_TAKE1("AIProxyOAuthProxy", cmd_proxy, NULL, RSRC_CONF,
                  "HTTP proxy for token refreshes, as a URL, or none (default none)"),
    AP_INIT_TAKE1("AIProxyOAuthCAFile", cmd_ca_file, NULL, RSRC_CONF,
                  "PEM CA bundle verifying token endpoints (default: the system's)"),
    AP_INIT_TAKE2("AIProxyOAuthClientID", cmd_client_id, NULL, RSRC_CONF,
                  "AIProxyOAuthClientID <api type> <client id>: the OAuth client refreshing"),
    AP_INIT_TAKE3("AIProxyOAuthHeader", cmd_header, NULL, RSRC_CONF,
                  "AIProxyOAuthHeader <api type> <name> <value>: an identity header's value"),
    AP_INIT_TAKE1("AIProxySharedStateKey", oa_cmd_shared_key, NULL, RSRC_CONF,
                  "File of the 32-byte key sealing OAuth tokens shared through "
                  "AIProxySharedState redis (openssl rand -hex 32), or none (default none)"),
    {NULL},
};

/* ---- shared memory ------------------------------------------------------------------------ */

static apr_status_t create_slots(apr_pool_t *pconf, server_rec *s, apr_array_header_t *registry)
{
    const ap_slotmem_provider_t *storage =
        ap_lookup_provider(AP_SLOTMEM_PROVIDER_GROUP, "shm", AP_SLOTMEM_PROVIDER_VERSION);
    ap_slotmem_instance_t *inst = NULL;
    void *base = NULL;
    apr_status_t rv;

    if (!storage) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                     AIPLOGNO(02000) "mod_aiproxy_oauth needs mod_slotmem_shm for its token "
                                     "cache: add LoadModule slotmem_shm_module");
        return APR_EGENERAL;
    }
    /* No PERSIST: the tokens must never reach a file through the cache. */
    rv = storage->create(&inst, SLOTMEM_NAME, sizeof(oa_slot), registry->nelts, 0, pconf);
    if (rv == APR_SUCCESS)
        rv = storage->dptr(inst, 0, &base);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                     AIPLOGNO(02001) "mod_aiproxy_oauth: cannot create the token cache's shared "
                                     "memory (%d credentials)",
                     registry->nelts);
        return rv;
    }
    /* slotmem_shm keeps one instance's slots contiguous: slot i is base + i * size. */
    for (int i = 0; i < registry->nelts; i++) {
        oa_file *f = APR_ARRAY_IDX(registry, i, oa_file *);
        f->slot = (oa_slot *) base + i;
        oa_load_initial(pconf, s, f);
    }
    return APR_SUCCESS;
}

static int pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    /* Once in the parent, before any thread: libcurl's global state. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, NULL,
                     AIPLOGNO(02002) "mod_aiproxy_oauth: libcurl failed to initialise");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

static int post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    apr_array_header_t *registry = oa_registry(pconf);

    /* httpd reads its configuration twice at startup; shared memory is made on the real pass. */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG || registry->nelts == 0)
        return OK;
    if (create_slots(pconf, s, registry) != APR_SUCCESS)
        return HTTP_INTERNAL_SERVER_ERROR;
    oa_watchdog_start(pconf, s, registry);
    return OK;
}

static void register_hooks(apr_pool_t *p)
{
    /* After mod_aiproxy's post_config, which sets up every upstream through our providers. */
    static const char *const after_aiproxy[] = {"mod_aiproxy.c", NULL};

    ap_hook_pre_config(pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(post_config, after_aiproxy, NULL, APR_HOOK_MIDDLE);
    oa_provider_register(p);
    oa_redis_register_hooks(p);
}

AP_DECLARE_MODULE(aiproxy_oauth) = {
    STANDARD20_MODULE_STUFF, NULL,       NULL,           create_server_conf,
    merge_server_conf,       oauth_cmds, register_hooks, AP_MODULE_FLAG_NONE,
};
