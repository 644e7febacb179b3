/*
 * mod_aiproxy.c: module definition, configuration directives and startup checks.
 *
 * Each AIProxyUpstream becomes a balancer member, defined through mod_proxy's own
 * BalancerMember and ProxySet directives so that every member parameter mod_proxy knows
 * (timeout=, keepalive=, ...) works, and balancer-manager shows and controls the members like
 * any other (see AIP_BALANCER_PREFIX for the naming).
 */
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "ap_provider.h"
#include "apr_strings.h"
#include "mod_aiproxy_private.h"
#include "mod_aiproxy_compress.h"
#include "aip_args.h"
#include "aip_base_fallback.h"
#include "aip_section.h"
#include "aiproxy_log.h"

const aiproxy_translate_api *aip_translate;

static void *create_server_conf(apr_pool_t *p, server_rec *s)
{
    aip_server_conf *conf = apr_pcalloc(p, sizeof(*conf));
    conf->cfg = aip_config_create(p);
    return conf;
}

static void *merge_server_conf(apr_pool_t *p, void *basev, void *addv)
{
    aip_server_conf *base = basev, *add = addv;
    aip_server_conf *conf = apr_pcalloc(p, sizeof(*conf));
    conf->cfg = aip_config_merge(p, base->cfg, add->cfg);
    conf->balancer_prefix = add->balancer_prefix ? add->balancer_prefix : base->balancer_prefix;
    conf->shared = add->shared ? add->shared : base->shared;
    return conf;
}

/* Run another module's RAW_ARGS directive (mod_proxy's) as if it were written here. */
static const char *run_directive(cmd_parms *cmd, const char *name, const char *args)
{
    module *mod = ap_top_module; /* where the search starts; set to the owner found */
    const command_rec *directive = ap_find_command_in_modules(name, &mod);
    cmd_parms sub;
    void *mconfig;

    if (!directive || directive->args_how != RAW_ARGS)
        return apr_psprintf(cmd->pool,
                            "%s needs mod_proxy, mod_proxy_http and "
                            "mod_proxy_balancer: load them before mod_aiproxy",
                            cmd->cmd->name);
    mconfig = ap_set_config_vectors(cmd->server, cmd->context, cmd->path, mod, cmd->pool);
    sub = *cmd;
    sub.cmd = directive;
    sub.info = directive->cmd_data;
    return directive->AP_RAW_ARGS(&sub, mconfig, args);
}

/* Virtual hosts with upstreams, counted while the configuration is read: the order is the
 * order of the configuration files, so names are stable across restarts of one config. */
static int vhosts_with_upstreams;
/* Slots of the shared circuit-breaker table (one per upstream and model seen). */
static unsigned int breaker_slots = 4096;

static const char *balancer_prefix_for(cmd_parms *cmd)
{
    if (!cmd->server->is_virtual)
        return AIP_BALANCER_PREFIX;
    return apr_psprintf(cmd->pool, AIP_BALANCER_PREFIX "v%d-", ++vhosts_with_upstreams);
}

static int pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    vhosts_with_upstreams = 0;
    breaker_slots = 4096;
    return OK;
}

/* Quote a directive argument for ap_getword_conf. */
/* mod_proxy_balancer appends the request's path ("/v1/...") to the member's URL: a base URL
 * written with a trailing slash ("https://api.example.com/") would make that "//v1/...". */
static const char *without_trailing_slashes(apr_pool_t *p, const char *url)
{
    const char *host = strstr(url, "://") + 3; /* the caller checked the scheme */
    apr_size_t len = strlen(url);

    while (url + len > host && url[len - 1] == '/')
        len--;
    return apr_pstrmemdup(p, url, len);
}

static const char *quote_arg(apr_pool_t *p, const char *arg)
{
    return apr_pstrcat(p, "\"", ap_escape_quotes(p, arg), "\"", NULL);
}

/* Checks of the name and base URL shared by every way of defining an upstream. */
static const char *check_name(cmd_parms *cmd, const aip_server_conf *conf, const char *name)
{
    if (!*name)
        return "an upstream needs a name";
    for (const char *c = name; *c; c++) {
        if (!apr_isalnum(*c) && *c != '-' && *c != '_' && *c != '.')
            return "upstream names may use letters, digits, '-', '_' and '.'";
    }
    if (strlen(name) > AIP_MAX_UPSTREAM_NAME)
        return apr_psprintf(cmd->pool, "the name is longer than %d characters",
                            AIP_MAX_UPSTREAM_NAME);
    if (aip_config_find_upstream(conf->cfg, name))
        return "an upstream of that name is already defined (names ignore case)";
    if (conf->cfg->upstreams->nelts >= AIP_MAX_UPSTREAMS)
        return apr_psprintf(cmd->pool, "more than %d upstreams in one virtual host",
                            AIP_MAX_UPSTREAMS);
    return NULL;
}

/* ---- the upstream's <Proxy> section ------------------------------------------------------ */

/* Configuration text read as if it came from a file (ap_pcfg_open_custom). */
typedef struct {
    const char *next;
} text_source;

static apr_status_t text_getstr(void *buf, apr_size_t bufsiz, void *param)
{
    text_source *src = param;
    const char *nl = strchr(src->next, '\n');
    apr_size_t n = nl ? (apr_size_t) (nl - src->next) + 1 : strlen(src->next);

    if (n == 0)
        return APR_EOF;
    if (n >= bufsiz)
        return APR_ENOSPC;
    memcpy(buf, src->next, n);
    ((char *) buf)[n] = '\0';
    src->next += n;
    return APR_SUCCESS;
}

static apr_status_t text_close(void *param)
{
    return APR_SUCCESS;
}

/* Parse text and run its directives in cmd's server, as lines of the configuration. */
static const char *run_config_text(cmd_parms *cmd, const char *what, const char *text)
{
    text_source *src = apr_pcalloc(cmd->temp_pool, sizeof(*src));
    cmd_parms sub = *cmd;
    ap_directive_t *tree = NULL;
    const char *err;

    src->next = text;
    sub.config_file = ap_pcfg_open_custom(cmd->temp_pool, what, src, NULL, text_getstr, text_close);
    err = ap_build_config(&sub, cmd->pool, cmd->temp_pool, &tree);
    if (!err && tree)
        err = ap_walk_config(tree, &sub, cmd->context);
    return err;
}

/* Is directive written among nodes (looking into <IfModule> and the like, whose condition
 * is not evaluated: a directive the administrator wrote anywhere is theirs)? */
static int directive_among(const ap_directive_t *nodes, const char *directive)
{
    for (const ap_directive_t *d = nodes; d; d = d->next) {
        if (!strcasecmp(d->directive, directive))
            return 1;
        if (!strncasecmp(d->directive, "<If", 3) && directive_among(d->first_child, directive))
            return 1;
    }
    return 0;
}

/* The administrator's own directives for the server being configured: a virtual host's,
 * and the main server's, which it inherits. */
static int admin_set_directive(const char *directive, void *baton)
{
    const cmd_parms *cmd = baton;
    const ap_directive_t *scope = cmd->directive ? cmd->directive->parent : NULL;

    while (scope && strcasecmp(scope->directive, "<VirtualHost"))
        scope = scope->parent; /* from inside <IfModule> and the like */
    if (scope && directive_among(scope->first_child, directive))
        return 1;
    return directive_among(ap_conftree, directive);
}

/* TLS and header settings of up's connections, in its balancer's <Proxy> section. */
static const char *apply_upstream_section(cmd_parms *cmd, const aip_upstream *up)
{
    aip_section_env env = {admin_set_directive, cmd, AIP_SYSTEM_CA_FILE};
    const char *err;

    if ((err = aip_upstream_tls_check(cmd->pool, up)) != NULL)
        return err;
    if (aip_upstream_is_https(up)) {
        module *mod = ap_top_module;
        if (!ap_find_command_in_modules("SSLProxyEngine", &mod))
            return "the https:// base URL needs mod_ssl: add LoadModule ssl_module "
                   "(mod_ssl.so) to the configuration";
        if (!up->tls_ca && up->tls_verify &&
            !admin_set_directive("SSLProxyCACertificateFile", cmd) &&
            !admin_set_directive("SSLProxyCACertificatePath", cmd)) {
            apr_finfo_t info;
            if (apr_stat(&info, AIP_SYSTEM_CA_FILE, APR_FINFO_TYPE, cmd->temp_pool) != APR_SUCCESS)
                return "no system CA bundle at " AIP_SYSTEM_CA_FILE " to verify the provider "
                       "with (install ca-certificates, or name a CA file with tls_ca=)";
        }
    }
    err = run_config_text(cmd,
                          apr_psprintf(cmd->pool, "the <Proxy> section of upstream %s", up->name),
                          aip_upstream_section(cmd->pool, up, &env));
    return err;
}

/* A member per fallback base in up's balancer, with the same member parameters (timeouts,
 * pooling), so mod_proxy keeps a worker for each host under the balancer's <Proxy> section
 * (TLS included). Hot standby (+H): a plain ProxyPass to the balancer never picks one; the
 * gateway's lbmethod hands one out only to the attempt pinned to it. */
static const char *define_fallback_members(cmd_parms *cmd, const aip_upstream *up, int retry_given,
                                           const char *member_params)
{
    for (int i = 0; i < up->fallbacks->nelts; i++) {
        const aip_fallback_base *fb = &APR_ARRAY_IDX(up->fallbacks, i, aip_fallback_base);
        const char *err;

        if (!strcasecmp(fb->url, up->base_url))
            return apr_psprintf(cmd->pool, "fallback_base=%s is the base URL itself", fb->url);
        for (int j = 0; j < i; j++) {
            if (!strcasecmp(fb->url, APR_ARRAY_IDX(up->fallbacks, j, aip_fallback_base).url))
                return apr_psprintf(cmd->pool, "fallback_base=%s is listed twice", fb->url);
        }
        err = run_directive(cmd, "BalancerMember",
                            apr_psprintf(cmd->pool, "%s %s route=%s loadfactor=1 status=+H%s%s",
                                         up->balancer, quote_arg(cmd->pool, fb->url), fb->route,
                                         retry_given ? "" : " retry=0", member_params));
        if (err)
            return err;
    }
    return NULL;
}

const char *aip_define_upstream(cmd_parms *cmd, const char *name, const char *url,
                                const apr_array_header_t *params)
{
    aip_server_conf *conf = ap_get_module_config(cmd->server->module_config, &aiproxy_module);
    const char *member_params = "", *msg, *err;
    aip_upstream *up;
    int retry_given = 0, default_base;

    if ((msg = check_name(cmd, conf, name)) != NULL)
        return msg;
    up = aip_upstream_create(cmd->pool, name, url);
    for (int i = 0; i < params->nelts; i++) {
        const aip_param *param = &APR_ARRAY_IDX(params, i, aip_param);
        msg = aip_upstream_set(cmd->pool, up, param->key, param->value);
        if (msg == AIP_NOT_OURS) {
            if (!strcasecmp(param->key, "route") || !strcasecmp(param->key, "loadfactor"))
                return apr_psprintf(cmd->pool,
                                    "%s= is set by the gateway (the name is the "
                                    "route, weight= the loadfactor)",
                                    param->key);
            retry_given |= !strcasecmp(param->key, "retry");
            /* one word for BalancerMember: "key=value", quoted as a whole */
            member_params = apr_pstrcat(
                cmd->pool, member_params, " ",
                quote_arg(cmd->pool, apr_pstrcat(cmd->pool, param->key, "=", param->value, NULL)),
                NULL);
        } else if (msg) {
            return msg;
        }
    }
    if ((msg = aip_upstream_check(cmd->pool, up)) != NULL)
        return msg;
    default_base = !*url;
    if (!*url && !(url = up->base_url = aip_upstream_default_base_url(up)))
        return apr_psprintf(cmd->pool, "api type %s needs a base URL", up->api_type);
    if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)
        return apr_psprintf(cmd->pool, "base URL '%s' must start with http:// or https://", url);
    url = up->base_url = without_trailing_slashes(cmd->pool, url);
    aip_base_fallback_resolve(cmd->pool, up, default_base);

    if (!conf->balancer_prefix)
        conf->balancer_prefix = balancer_prefix_for(cmd);
    up->balancer = apr_pstrcat(cmd->pool, conf->balancer_prefix, name, NULL);
    ap_str_tolower((char *) up->balancer); /* mod_proxy keeps balancer names in lower case */
    /* The gateway's circuit breaker decides when an upstream is out; mod_proxy's own 60 s
     * error state would only hide members from it, so retry=0 unless the admin says. */
    err = run_directive(cmd, "BalancerMember",
                        apr_psprintf(cmd->pool, "%s %s route=%s loadfactor=%d%s%s", up->balancer,
                                     quote_arg(cmd->pool, url), name, up->weight,
                                     retry_given ? "" : " retry=0", member_params));
    if (err)
        return err;
    if ((err = define_fallback_members(cmd, up, retry_given, member_params)) != NULL)
        return err;
    /* One attempt per subrequest: failover is the handler's job, with a freshly translated
     * body, never mod_proxy's replay of the previous one. */
    err = run_directive(cmd, "ProxySet",
                        apr_pstrcat(cmd->pool, up->balancer,
                                    " lbmethod=" AIP_LBMETHOD_NAME " maxattempts=0 nofailover=On",
                                    NULL));
    if (err)
        return err;
    if ((err = apply_upstream_section(cmd, up)) != NULL)
        return err;
    up->index = conf->cfg->upstreams->nelts;
    APR_ARRAY_PUSH(conf->cfg->upstreams, aip_upstream *) = up;
    return NULL;
}

/* AIProxyUpstream <name> <base-url> [api=...] [token=...] [weight=N] [models=a,b] [map=a=b]
 *                 [header="Name: value"] [compression=...] [enabled=on|off] [tls_verify=on|off]
 *                 [tls_ca=file] [forwarded_headers=on|off] [prefix=p] [exclude=a,b*]
 *                 [preset=name] [endpoint=/path/{model}] [member params] */
static const char *cmd_upstream(cmd_parms *cmd, void *dummy, const char *args)
{
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);
    apr_array_header_t *params = apr_array_make(cmd->temp_pool, 8, sizeof(aip_param));
    const char *name, *url, *rest;
    char *word;

    if (err)
        return err;
    name = aip_args_next_word(cmd->pool, &args, &err);
    if (!name)
        return err ? apr_pstrcat(cmd->pool, "AIProxyUpstream: ", err, NULL)
                   : "AIProxyUpstream needs a name and a base URL";
    /* The base URL may be left out for OAuth api types: then the next word is a setting
     * (key=value), which a URL never is. */
    rest = args;
    word = aip_args_next_word(cmd->pool, &rest, &err);
    url = word && !ap_strchr_c(word, '=') ? word : "";
    if (*url)
        args = rest;
    while ((word = aip_args_next_word(cmd->pool, &args, &err)) != NULL) {
        char *eq = strchr(word, '=');
        aip_param *param;
        if (!eq)
            return apr_psprintf(cmd->pool, "AIProxyUpstream %s: '%s' is not key=value", name, word);
        *eq = '\0';
        param = apr_array_push(params);
        param->key = word;
        param->value = eq + 1;
    }
    if (err)
        return apr_psprintf(cmd->pool, "AIProxyUpstream %s: %s", name, err);
    err = aip_define_upstream(cmd, name, url, params);
    return err ? apr_psprintf(cmd->pool, "AIProxyUpstream %s: %s", name, err) : NULL;
}

static const char *cmd_max_body(cmd_parms *cmd, void *dummy, const char *arg)
{
    aip_server_conf *conf = ap_get_module_config(cmd->server->module_config, &aiproxy_module);
    apr_off_t size;
    char *end;

    if (apr_strtoff(&size, arg, &end, 10) != APR_SUCCESS || *end || size < 1024)
        return "AIProxyMaxBodySize: expected a size in bytes of at least 1024";
    conf->cfg->max_body = size;
    conf->cfg->max_body_set = 1;
    return NULL;
}

/* AIProxyForceModelPrefix on|off: upstreams with prefix= answer only "<prefix>/<model>". */
static const char *cmd_force_model_prefix(cmd_parms *cmd, void *dummy, int on)
{
    aip_server_conf *conf = ap_get_module_config(cmd->server->module_config, &aiproxy_module);
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);

    if (err)
        return err;
    conf->cfg->force_model_prefix = on;
    conf->cfg->force_model_prefix_set = 1;
    return NULL;
}

static const char *cmd_default_max_tokens(cmd_parms *cmd, void *dummy, const char *arg)
{
    aip_server_conf *conf = ap_get_module_config(cmd->server->module_config, &aiproxy_module);
    char *end;
    long n = strtol(arg, &end, 10);

    if (*end || end == arg || n < 1)
        return "AIProxyDefaultMaxTokens: expected a positive whole number";
    conf->cfg->default_max_tokens = n;
    conf->cfg->default_max_tokens_set = 1;
    return NULL;
}

static const char *cmd_fallback(cmd_parms *cmd, void *dummy, const char *model,
                                const char *fallback)
{
    aip_server_conf *conf = ap_get_module_config(cmd->server->module_config, &aiproxy_module);
    const char *err = aip_config_add_fallback(cmd->pool, conf->cfg, model, fallback);
    return err ? apr_pstrcat(cmd->pool, "AIProxyFallback: ", err, NULL) : NULL;
}

/* Each word is a key, or a setting (models=, rpm=, tpm=) of the key before it on the line. */
static const char *cmd_client_key(cmd_parms *cmd, void *dummy, const char *word)
{
    aip_server_conf *conf = ap_get_module_config(cmd->server->module_config, &aiproxy_module);
    apr_array_header_t *keys = conf->cfg->client_keys;
    aip_client_key *last =
        keys->nelts ? APR_ARRAY_IDX(keys, keys->nelts - 1, aip_client_key *) : NULL;
    const char *eq = strchr(word, '=');

    if (eq && eq > word) {
        const char *name = apr_pstrmemdup(cmd->temp_pool, word, eq - word);
        aip_client_key probe = {0};
        const char *err;

        probe.models = apr_array_make(cmd->temp_pool, 1, sizeof(const char *));
        if (aip_client_key_set(cmd->temp_pool, &probe, name, eq + 1) != AIP_NOT_OURS) {
            if (!last || last->origin != cmd->directive)
                return apr_psprintf(cmd->pool, "AIProxyClientKey: %s needs a key before it", word);
            err = aip_client_key_set(cmd->pool, last, name, eq + 1);
            return err ? apr_pstrcat(cmd->pool, "AIProxyClientKey: ", err, NULL) : NULL;
        }
    }
    if (strlen(word) < 8)
        return "AIProxyClientKey: a key needs at least 8 characters";
    aip_config_add_client_key(conf->cfg, word)->origin = cmd->directive;
    return NULL;
}

static const char *cmd_circuit_breaker(cmd_parms *cmd, void *dummy, const char *failures,
                                       const char *seconds)
{
    aip_server_conf *conf = ap_get_module_config(cmd->server->module_config, &aiproxy_module);
    char *end1, *end2;
    long f = strtol(failures, &end1, 10), sec = strtol(seconds, &end2, 10);

    if (*end1 || end1 == failures || f < 1 || f > 1000)
        return "AIProxyCircuitBreaker: failures must be a whole number from 1 to 1000";
    if (*end2 || end2 == seconds || sec < 1 || sec > 7 * 24 * 3600)
        return "AIProxyCircuitBreaker: seconds must be from 1 to 604800";
    conf->cfg->breaker_failures = (int) f;
    conf->cfg->breaker_open_seconds = (int) sec;
    conf->cfg->breaker_set = 1;
    return NULL;
}

static const char *cmd_breaker_slots(cmd_parms *cmd, void *dummy, const char *arg)
{
    char *end;
    long n = strtol(arg, &end, 10);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    if (err)
        return err;
    if (*end || end == arg || n < 16 || n > 1048576)
        return "AIProxyBreakerSlots: expected a number from 16 to 1048576";
    breaker_slots = (unsigned int) n;
    return NULL;
}

static const command_rec aiproxy_cmds[] = {
    AP_INIT_RAW_ARGS("AIProxyUpstream", cmd_upstream, NULL, RSRC_CONF,
                     "AIProxyUpstream <name> <base-url> [api=...] [token=...] [weight=N] "
                     "[models=a,b] [map=client=upstream] [header=\"Name: value\"] "
                     "[compression=zstd|gzip|br|none] [enabled=on|off] [tls_verify=on|off] "
                     "[tls_ca=file] [forwarded_headers=on|off] [prefix=p] [exclude=a,b*] "
                     "[preset=name] [endpoint=/path/{model}] [BalancerMember params]"),
    AP_INIT_TAKE1("AIProxyMaxBodySize", cmd_max_body, NULL, RSRC_CONF,
                  "Largest client request body accepted, in bytes (default 33554432)"),
    AP_INIT_FLAG("AIProxyForceModelPrefix", cmd_force_model_prefix, NULL, RSRC_CONF,
                 "On: upstreams with prefix= are reached only as <prefix>/<model>"),
    AP_INIT_TAKE1("AIProxyDefaultMaxTokens", cmd_default_max_tokens, NULL, RSRC_CONF,
                  "max_tokens sent to upstreams that require one when the client gave none"),
    AP_INIT_TAKE1("AIProxyConfigFile", aip_cmd_config_file, NULL, RSRC_CONF,
                  "Load upstreams, model fallbacks and client keys from a seed-format config.yaml"),
    AP_INIT_TAKE2("AIProxyFallback", cmd_fallback, NULL, RSRC_CONF,
                  "AIProxyFallback <model> <fallback-model>: try the fallback model when every "
                  "upstream of model failed"),
    AP_INIT_ITERATE(
        "AIProxyClientKey", cmd_client_key, NULL, RSRC_CONF,
        "API keys clients must present (none configured = open gateway), each optionally "
        "followed by models=a,b* rpm=N tpm=N"),
    AP_INIT_TAKE2("AIProxyCircuitBreaker", cmd_circuit_breaker, NULL, RSRC_CONF,
                  "AIProxyCircuitBreaker <failures> <seconds> (default 3 1800)"),
    AP_INIT_TAKE1("AIProxyBreakerSlots", cmd_breaker_slots, NULL, RSRC_CONF,
                  "Size of the shared circuit-breaker table (default 4096)"),
    AP_INIT_TAKE12("AIProxySharedState", aip_cmd_shared_state, NULL, RSRC_CONF,
                   "AIProxySharedState redis|memcache host:port[,host:port] | none: share "
                   "circuit breakers and token cooldowns with other gateways (default none)"),
    {NULL},
};

/* tls_verify=off is allowed (private test setups) but never silent. */
static void warn_unverified_upstreams(server_rec *s, const aip_config *cfg)
{
    for (int i = 0; i < cfg->upstreams->nelts; i++) {
        const aip_upstream *up = APR_ARRAY_IDX(cfg->upstreams, i, const aip_upstream *);
        if (aip_upstream_is_https(up) && !up->tls_verify)
            ap_log_error(
                APLOG_MARK, APLOG_WARNING, 0, s,
                AIPLOGNO(00102) "upstream %s (%s) has tls_verify=off: its certificate is not "
                                "checked, so its API keys go to whoever answers at that address",
                up->name, up->base_url);
    }
}

static int post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    APR_OPTIONAL_FN_TYPE(aiproxy_translate_get_api) *get_api =
        APR_RETRIEVE_OPTIONAL_FN(aiproxy_translate_get_api);

    if (!get_api) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                     AIPLOGNO(00103) "mod_aiproxy needs mod_aiproxy_translate: add LoadModule "
                                     "aiproxy_translate_module");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    aip_translate = get_api();
    if (aip_translate->version != AIPROXY_TRANSLATE_API_VERSION) {
        ap_log_error(
            APLOG_MARK, APLOG_EMERG, 0, s,
            AIPLOGNO(00104) "mod_aiproxy_translate speaks API version %d, mod_aiproxy expects %d: "
                            "install matching builds",
            aip_translate->version, AIPROXY_TRANSLATE_API_VERSION);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    for (server_rec *vs = s; vs; vs = vs->next) {
        aip_server_conf *conf = ap_get_module_config(vs->module_config, &aiproxy_module);
        aip_server_conf *main_conf = ap_get_module_config(s->module_config, &aiproxy_module);
        int own_upstreams = vs == s || conf->cfg->upstreams != main_conf->cfg->upstreams;
        if (own_upstreams && ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_CREATE_PRE_CONFIG)
            warn_unverified_upstreams(vs, conf->cfg);
        /* Credentials before the selector: an upstream without them is taken out. */
        conf->credentials =
            own_upstreams ? aip_credentials_setup(pconf, vs, conf->cfg) : main_conf->credentials;
        conf->selector = aip_selector_create(pconf, conf->cfg);
    }
    /* httpd reads its configuration twice at startup; shared memory is made on the real pass. */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG)
        return OK;
    if (aip_breaker_create_table(pconf, s, breaker_slots) != APR_SUCCESS ||
        aip_limits_create_table(pconf, s) != APR_SUCCESS ||
        aip_metrics_create_table(pconf, s) != APR_SUCCESS)
        return HTTP_INTERNAL_SERVER_ERROR;
    return aip_shared_setup(pconf, ptemp, s);
}

static void register_hooks(apr_pool_t *p)
{
    static const char *const after_proxy[] = {"mod_proxy.c", "mod_proxy_balancer.c", NULL};

    ap_hook_pre_config(pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(post_config, after_proxy, NULL, APR_HOOK_MIDDLE);
    aip_credential_register(p);
    aip_attempt_register_hooks(p);
    aip_compress_register_hooks(p);
    aip_lbmethod_register(p);
    aip_breaker_register_hooks(p);
    aip_shared_register_hooks(p);
    aip_handler_register_hooks(p);
    aip_metrics_register_hooks(p);
}

AP_DECLARE_MODULE(aiproxy) = {
    STANDARD20_MODULE_STUFF, NULL,         NULL,           create_server_conf,
    merge_server_conf,       aiproxy_cmds, register_hooks, AP_MODULE_FLAG_NONE,
};
