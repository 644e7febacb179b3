/*
 * mod_aiproxy_yaml.c: AIProxyConfigFile, a seed-format config.yaml read at configuration time.
 *
 * The file becomes exactly what the directives build: each upstream goes through
 * aip_define_upstream (as AIProxyUpstream), model_fallback through aip_config_add_fallback,
 * api-key through aip_config_add_client_key. Reading and validating the YAML is the pure core
 * (aip_yaml.c); this file only maps its result and reports every problem as
 * "config.yaml:LINE:COLUMN: message", which httpd prints before refusing to start.
 *
 * What httpd does itself is not imported: bind/listen are Listen/<VirtualHost> (make run
 * CONFIG=... reads them), log is ErrorLog/CustomLog with rotatelogs, hot reload is
 * `apachectl graceful`.
 */
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "apr_strings.h"
#include "aip_yaml.h"
#include "mod_aiproxy_private.h"
#include "aiproxy_log.h"

APLOG_USE_MODULE(aiproxy);

/* One key=value for aip_define_upstream and where in the file it came from. */
typedef struct {
    aip_param param;
    aip_yaml_mark mark;
} located_param;

/* "path:line:column: message" for a problem found after parsing. */
static const char *error_at(cmd_parms *cmd, const aip_yaml_config *cfg, aip_yaml_mark mark,
                            const char *message)
{
    aip_yaml_error err = {cfg->path, mark, message};
    return aip_yaml_error_string(cmd->pool, &err);
}

/* Logged without a server: while the configuration is read, a virtual host has no log level
 * yet and would drop warnings; with none, httpd's default level applies and the message goes
 * to the console at startup (apachectl configtest shows it) or the error log on graceful. */
static void notice_at(cmd_parms *cmd, const aip_yaml_config *cfg, int level, aip_yaml_mark mark,
                      const char *message)
{
    ap_log_error(APLOG_MARK, level, 0, NULL, AIPLOGNO(00601) "AIProxyConfigFile: %s",
                 error_at(cmd, cfg, mark, message));
}

static void log_warnings(cmd_parms *cmd, const aip_yaml_config *cfg)
{
    for (int i = 0; i < cfg->warnings->nelts; i++) {
        const aip_yaml_item *w = &APR_ARRAY_IDX(cfg->warnings, i, aip_yaml_item);
        notice_at(cmd, cfg, APLOG_WARNING, w->mark, w->value);
    }
}

/* Settings httpd provides itself: say what replaces them rather than ignore them silently. */
static void log_replaced_settings(cmd_parms *cmd, const aip_yaml_config *cfg)
{
    const aip_yaml_log *log = &cfg->log;
    if (log->mark.line > 0)
        notice_at(cmd, cfg, APLOG_NOTICE, log->mark,
                  apr_psprintf(cmd->pool,
                               "log is not used: httpd's ErrorLog and CustomLog replace it; "
                               "for the same rotation: CustomLog \"|/usr/bin/rotatelogs -n %ld "
                               "%s %ldM\" aiproxy",
                               log->max_backups.value,
                               *log->file.value ? log->file.value : "logs/aiproxy.log",
                               log->max_size.value));
    if (cfg->bind.mark.line > 0 || cfg->listen.mark.line > 0)
        notice_at(cmd, cfg, APLOG_NOTICE,
                  cfg->listen.mark.line > 0 ? cfg->listen.mark : cfg->bind.mark,
                  "bind and listen are not used by AIProxyConfigFile: httpd listens where "
                  "Listen and <VirtualHost> say (make run CONFIG=... applies them)");
}

static void push_param(apr_array_header_t *params, const char *key, const char *value,
                       aip_yaml_mark mark)
{
    located_param *lp = apr_array_push(params);
    lp->param.key = key;
    lp->param.value = value;
    lp->mark = mark;
}

/* The AIProxyUpstream settings of one upstream, each with the position it came from. api
 * comes first so that an unknown api type is the error reported. */
/* Does up reach an https:// host: its base URL (absent: an OAuth type's default, https),
 * or one of its fallback bases? */
static int yaml_upstream_has_https(const aip_yaml_upstream *up)
{
    for (int i = 0; i < up->fallback_base_urls->nelts; i++) {
        if (!strncasecmp(APR_ARRAY_IDX(up->fallback_base_urls, i, aip_yaml_item).value, "https://",
                         8))
            return 1;
    }
    return !up->base_url.value || !strncasecmp(up->base_url.value, "https://", 8);
}

static const char *upstream_params(cmd_parms *cmd, const aip_yaml_config *cfg,
                                   const aip_yaml_upstream *up, apr_array_header_t *params)
{
    apr_pool_t *p = cmd->pool;
    aip_yaml_mark unset = up->mark; /* defaults are reported at the upstream itself */

    /* a preset's api type stands unless api_type is written */
    if (up->api_type.mark.line || !up->preset.value)
        push_param(params, "api", up->api_type.value,
                   up->api_type.mark.line ? up->api_type.mark : unset);
    if (up->preset.value)
        push_param(params, "preset", up->preset.value, up->preset.mark);
    if (up->prefix.value)
        push_param(params, "prefix", up->prefix.value, up->prefix.mark);
    if (up->endpoint.value)
        push_param(params, "endpoint", up->endpoint.value, up->endpoint.mark);
    for (int i = 0; i < up->excluded_models->nelts; i++) {
        const aip_yaml_item *x = &APR_ARRAY_IDX(up->excluded_models, i, aip_yaml_item);
        /* exclude= splits on commas like models= */
        if (strchr(x->value, ','))
            return error_at(cmd, cfg, x->mark, "excluded_models: a name must not contain ','");
        push_param(params, "exclude", x->value, x->mark);
    }
    for (int i = 0; i < up->tokens->nelts; i++) {
        const aip_yaml_item *t = &APR_ARRAY_IDX(up->tokens, i, aip_yaml_item);
        push_param(params, "token", t->value, t->mark);
    }
    for (int i = 0; i < up->auth_files->nelts; i++) {
        const aip_yaml_item *f = &APR_ARRAY_IDX(up->auth_files, i, aip_yaml_item);
        push_param(params, "auth_file", f->value, f->mark);
    }
    if (up->token_url.value)
        push_param(params, "token_url", up->token_url.value, up->token_url.mark);
    for (int i = 0; i < up->fallback_base_urls->nelts; i++) {
        const aip_yaml_item *u = &APR_ARRAY_IDX(up->fallback_base_urls, i, aip_yaml_item);
        /* fallback_base= splits on commas */
        if (strchr(u->value, ','))
            return error_at(cmd, cfg, u->mark, "fallback_base_urls: a URL must not contain ','");
        push_param(params, "fallback_base", u->value, u->mark);
    }
    push_param(params, "weight", apr_ltoa(p, up->weight.value),
               up->weight.mark.line ? up->weight.mark : unset);
    for (int i = 0; i < up->available_models->nelts; i++) {
        const aip_yaml_item *m = &APR_ARRAY_IDX(up->available_models, i, aip_yaml_item);
        /* models= splits on commas; a comma inside one name would make two models */
        if (strchr(m->value, ','))
            return error_at(cmd, cfg, m->mark,
                            "available_models: a model name must not "
                            "contain ','");
        push_param(params, "models", m->value, m->mark);
    }
    for (int i = 0; i < up->model_mappings->nelts; i++) {
        const aip_yaml_pair *m = &APR_ARRAY_IDX(up->model_mappings, i, aip_yaml_pair);
        /* map= splits at the first '=' */
        if (strchr(m->key, '='))
            return error_at(cmd, cfg, m->mark,
                            "model_mappings: a client model name must not "
                            "contain '='");
        push_param(params, "map", apr_pstrcat(p, m->key, "=", m->value, NULL), m->mark);
    }
    for (int i = 0; i < up->http_headers->nelts; i++) {
        const aip_yaml_pair *h = &APR_ARRAY_IDX(up->http_headers, i, aip_yaml_pair);
        push_param(params, "header", apr_pstrcat(p, h->key, ": ", h->value, NULL), h->mark);
    }
    push_param(params, "compression", up->compression.value,
               up->compression.mark.line ? up->compression.mark : unset);
    push_param(params, "enabled", up->enabled.value ? "on" : "off",
               up->enabled.mark.line ? up->enabled.mark : unset);
    if (up->tls_verify.mark.line)
        push_param(params, "tls_verify", up->tls_verify.value ? "on" : "off", up->tls_verify.mark);
    /* The top level's CA file is for the https upstreams; an upstream's own wins. */
    if (up->tls_ca_file.value)
        push_param(params, "tls_ca", up->tls_ca_file.value, up->tls_ca_file.mark);
    else if (cfg->tls_ca_file.value && yaml_upstream_has_https(up))
        push_param(params, "tls_ca", cfg->tls_ca_file.value, cfg->tls_ca_file.mark);
    /* aiproxy waits upstream_request_timeout for the response headers; mod_proxy's timeout=
     * bounds every wait for upstream data, so a stream may still run for as long as it
     * keeps sending. */
    push_param(params, "timeout", apr_ltoa(p, cfg->upstream_request_timeout.value),
               cfg->upstream_request_timeout.mark.line ? cfg->upstream_request_timeout.mark
                                                       : unset);
    return NULL;
}

/* Try every setting on a scratch upstream first, so that a refused value is reported at its
 * own line rather than at the upstream's. */
static const char *check_params(cmd_parms *cmd, const aip_yaml_config *cfg,
                                const aip_yaml_upstream *up, const apr_array_header_t *params)
{
    aip_upstream *scratch = aip_upstream_create(cmd->temp_pool, up->name.value, "");
    for (int i = 0; i < params->nelts; i++) {
        const located_param *lp = &APR_ARRAY_IDX(params, i, located_param);
        const char *msg = aip_upstream_set(cmd->temp_pool, scratch, lp->param.key, lp->param.value);
        if (msg && msg != AIP_NOT_OURS)
            return error_at(cmd, cfg, lp->mark,
                            apr_psprintf(cmd->pool, "upstream '%s': %s", up->name.value, msg));
    }
    return NULL;
}

static const char *define_upstream(cmd_parms *cmd, const aip_yaml_config *cfg,
                                   const aip_yaml_upstream *up)
{
    apr_array_header_t *located = apr_array_make(cmd->temp_pool, 16, sizeof(located_param));
    apr_array_header_t *params = apr_array_make(cmd->pool, 16, sizeof(aip_param));
    const char *route = aip_yaml_route_name(cmd->pool, up->name.value), *msg;

    if ((msg = upstream_params(cmd, cfg, up, located)) != NULL ||
        (msg = check_params(cmd, cfg, up, located)) != NULL)
        return msg;
    if (strcmp(route, up->name.value))
        notice_at(cmd, cfg, APLOG_NOTICE, up->name.mark,
                  apr_psprintf(cmd->pool,
                               "upstream '%s' is called '%s' in httpd "
                               "(balancer-manager, X-AIProxy-Upstream, logs)",
                               up->name.value, route));
    for (int i = 0; i < located->nelts; i++)
        APR_ARRAY_PUSH(params, aip_param) = APR_ARRAY_IDX(located, i, located_param).param;
    msg = aip_define_upstream(cmd, route, up->base_url.value ? up->base_url.value : "", params);
    if (msg)
        return error_at(cmd, cfg, up->mark,
                        apr_psprintf(cmd->pool, "upstream '%s': %s", up->name.value, msg));
    return NULL;
}

static const char *add_fallbacks(cmd_parms *cmd, const aip_yaml_config *cfg, aip_config *conf)
{
    for (int i = 0; i < cfg->model_fallback->nelts; i++) {
        const aip_yaml_pair *f = &APR_ARRAY_IDX(cfg->model_fallback, i, aip_yaml_pair);
        const char *msg = aip_config_add_fallback(cmd->pool, conf, f->key, f->value);
        if (msg)
            return error_at(cmd, cfg, f->mark,
                            apr_pstrcat(cmd->pool, "model_fallback: ", msg, NULL));
    }
    return NULL;
}

/* Each api-key entry becomes a client key, with its models, rpm and tpm as
 * AIProxyClientKey's settings. */
static void add_client_keys(cmd_parms *cmd, const aip_yaml_config *cfg, aip_config *conf)
{
    for (int i = 0; i < cfg->api_keys->nelts; i++) {
        const aip_yaml_client_key *key = &APR_ARRAY_IDX(cfg->api_keys, i, aip_yaml_client_key);
        aip_client_key *k;
        /* aiproxy takes any key; AIProxyClientKey refuses short ones, here a warning */
        if (strlen(key->key.value) < 8)
            notice_at(cmd, cfg, APLOG_WARNING, key->key.mark,
                      "api-key: a key shorter than 8 characters is easy to guess");
        k = aip_config_add_client_key(conf, key->key.value);
        for (int m = 0; m < key->models->nelts; m++)
            APR_ARRAY_PUSH(k->models, const char *) =
                APR_ARRAY_IDX(key->models, m, aip_yaml_item).value;
        k->rpm = (unsigned int) key->rpm.value;
        k->tpm = (unsigned int) key->tpm.value;
    }
}

/* The file's settings, applied to the server being configured. */
static const char *apply_config(cmd_parms *cmd, const aip_yaml_config *cfg)
{
    aip_server_conf *sconf = ap_get_module_config(cmd->server->module_config, &aiproxy_module);
    const char *msg;

    for (int i = 0; i < cfg->upstreams->nelts; i++) {
        msg = define_upstream(cmd, cfg, &APR_ARRAY_IDX(cfg->upstreams, i, aip_yaml_upstream));
        if (msg)
            return msg;
    }
    if ((msg = add_fallbacks(cmd, cfg, sconf->cfg)) != NULL)
        return msg;
    add_client_keys(cmd, cfg, sconf->cfg);
    if (cfg->shared_state.value) {
        aip_shared_spec *spec = apr_pcalloc(cmd->pool, sizeof(*spec));
        aip_shared_parse_url(cmd->pool, cfg->shared_state.value, spec); /* checked when read */
        sconf->shared = spec;
    }
    if (cfg->force_model_prefix.mark.line > 0) {
        sconf->cfg->force_model_prefix = cfg->force_model_prefix.value;
        sconf->cfg->force_model_prefix_set = 1;
    }
    /* only when written: the built-in default is the same 4096, and a second file or an
     * AIProxyDefaultMaxTokens line must not be overridden by a default */
    if (cfg->default_max_tokens.mark.line > 0) {
        sconf->cfg->default_max_tokens = cfg->default_max_tokens.value;
        sconf->cfg->default_max_tokens_set = 1;
    }
    return NULL;
}

/* AIProxyConfigFile /path/config.yaml (relative paths are below ServerRoot). */
const char *aip_cmd_config_file(cmd_parms *cmd, void *dummy, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);
    const char *path;
    aip_yaml_config *cfg;
    aip_yaml_error yerr;

    if (err)
        return err;
    if ((path = ap_server_root_relative(cmd->pool, arg)) == NULL)
        return apr_pstrcat(cmd->pool, "AIProxyConfigFile: invalid path ", arg, NULL);
    if ((cfg = aip_yaml_load(cmd->pool, path, &yerr)) == NULL)
        return apr_pstrcat(cmd->pool,
                           "AIProxyConfigFile: ", aip_yaml_error_string(cmd->pool, &yerr), NULL);
    log_warnings(cmd, cfg);
    log_replaced_settings(cmd, cfg);
    if ((err = apply_config(cmd, cfg)) != NULL)
        return apr_pstrcat(cmd->pool, "AIProxyConfigFile: ", err, NULL);
    return NULL;
}
