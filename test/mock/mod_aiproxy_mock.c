/*
 * mod_aiproxy_mock: httpd glue. `SetHandler aiproxy-mock` serves the native endpoints of
 * Anthropic, OpenAI Chat, OpenAI Responses and Gemini with realistic shapes; markers in the last
 * user message choose the scenario (see docs/mock-upstream.md).
 *
 *   AIProxyMockName <name>            recorded as "upstream" (per server/vhost)
 *   AIProxyMockRecordFile <path>      append one JSON line per request (per server/vhost)
 *   AIProxyMockRequireKey <key>...    accept only these credentials (repeatable)
 *   AIProxyMockScenario "<markers>"   markers applied to every request
 *   AIProxyMockPathScenario <prefix> "<markers>"  ... to the requests under a path prefix
 *   AIProxyMockOAuth codex|claude|google|kiro token endpoint + bearer-checked provider endpoints
 *                                             (google: also Code Assist v1internal, its setup)
 *   AIProxyMockTokenStore <dir>               where the issued tokens live, shared by children
 *   AIProxyMockIssuedToken key=value...       a credential known from the start (repeatable)
 *   AIProxyMockTokenControl key=value...      initial controls: delay, failures, lifetime
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "unixd.h"

#include <apr_strings.h>

#include "mock.h"
#include "mock_glue.h"

module AP_MODULE_DECLARE_DATA aiproxy_mock_module;

#define MOCK_HANDLER "aiproxy-mock"
#define DEFAULT_NAME "mock"
#define READ_CHUNK   65536

/* AIProxyMockPathScenario: markers for the requests whose path starts with prefix. */
typedef struct {
    const char *prefix;
    const char *markers;
} mock_path_scenario;

typedef struct {
    const char *name;         /* NULL: inherit */
    const char *record_file;  /* NULL: inherit / none */
    apr_array_header_t *keys; /* NULL: inherit / open */
    const char *scenario;     /* markers applied to every request (NULL: inherit / none) */
    apr_array_header_t *path_scenarios; /* mock_path_scenario (NULL: inherit / none) */
    int oauth_set;                      /* AIProxyMockOAuth given here */
    mock_oauth_dialect oauth;           /* MOCK_OAUTH_OFF: key-based vhost */
    const char *token_store;            /* NULL: inherit / the default under DefaultRuntimeDir */
    apr_array_header_t *seeds;          /* argv arrays of AIProxyMockIssuedToken (NULL: inherit) */
    apr_array_header_t *control_words;  /* argv of AIProxyMockTokenControl (NULL: inherit) */
    int record_fd;                      /* per child, opened in child_init */
} mock_server_conf;

/* ---- configuration ------------------------------------------------------------------------- */

static void *create_server_conf(apr_pool_t *p, server_rec *s)
{
    mock_server_conf *conf = apr_pcalloc(p, sizeof(*conf));
    conf->record_fd = -1;
    return conf;
}

static void *merge_server_conf(apr_pool_t *p, void *base_v, void *add_v)
{
    const mock_server_conf *base = base_v, *add = add_v;
    mock_server_conf *conf = apr_pcalloc(p, sizeof(*conf));
    conf->name = add->name ? add->name : base->name;
    conf->record_file = add->record_file ? add->record_file : base->record_file;
    conf->keys = add->keys ? add->keys : base->keys;
    conf->scenario = add->scenario ? add->scenario : base->scenario;
    conf->path_scenarios = add->path_scenarios ? add->path_scenarios : base->path_scenarios;
    conf->oauth_set = add->oauth_set || base->oauth_set;
    conf->oauth = add->oauth_set ? add->oauth : base->oauth;
    conf->token_store = add->token_store ? add->token_store : base->token_store;
    conf->seeds = add->seeds ? add->seeds : base->seeds;
    conf->control_words = add->control_words ? add->control_words : base->control_words;
    conf->record_fd = -1;
    return conf;
}

static mock_server_conf *server_conf(server_rec *s)
{
    return ap_get_module_config(s->module_config, &aiproxy_mock_module);
}

static const char *set_name(cmd_parms *cmd, void *dconf, const char *arg)
{
    server_conf(cmd->server)->name = arg;
    return NULL;
}

/* A path relative to ServerRoot, stored in the field of mock_server_conf at offset cmd->info. */
static const char *set_path(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *path = ap_server_root_relative(cmd->pool, arg);
    if (!path) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": invalid path ", arg, NULL);
    }
    *(const char **) (void *) ((char *) server_conf(cmd->server) + (apr_uintptr_t) cmd->info) =
        path;
    return NULL;
}

static const char *add_key(cmd_parms *cmd, void *dconf, const char *arg)
{
    mock_server_conf *conf = server_conf(cmd->server);
    if (!conf->keys) {
        conf->keys = apr_array_make(cmd->pool, 2, sizeof(const char *));
    }
    APR_ARRAY_PUSH(conf->keys, const char *) = arg;
    return NULL;
}

static const char *set_scenario(cmd_parms *cmd, void *dconf, const char *arg)
{
    server_conf(cmd->server)->scenario = arg;
    return NULL;
}

static const char *add_path_scenario(cmd_parms *cmd, void *dconf, const char *prefix,
                                     const char *markers)
{
    mock_server_conf *conf = server_conf(cmd->server);
    mock_path_scenario *ps;
    if (prefix[0] != '/') {
        return "AIProxyMockPathScenario: the prefix is a path starting with '/'";
    }
    if (!conf->path_scenarios) {
        conf->path_scenarios = apr_array_make(cmd->pool, 2, sizeof(mock_path_scenario));
    }
    ps = apr_array_push(conf->path_scenarios);
    ps->prefix = prefix;
    ps->markers = markers;
    return NULL;
}

/* The markers of every AIProxyMockPathScenario whose prefix starts path. */
static void apply_path_scenarios(const mock_server_conf *conf, const char *path, mock_scenario *sc)
{
    for (int i = 0; conf->path_scenarios && i < conf->path_scenarios->nelts; i++) {
        const mock_path_scenario *ps = &APR_ARRAY_IDX(conf->path_scenarios, i, mock_path_scenario);
        if (strncmp(path, ps->prefix, strlen(ps->prefix)) == 0) {
            mock_scenario_parse(ps->markers, strlen(ps->markers), sc);
        }
    }
}

static const char *set_oauth(cmd_parms *cmd, void *dconf, const char *arg)
{
    static const struct {
        const char *name;
        mock_oauth_dialect dialect;
    } names[] = {
        {"off", MOCK_OAUTH_OFF},       {"codex", MOCK_OAUTH_CODEX}, {"claude", MOCK_OAUTH_CLAUDE},
        {"google", MOCK_OAUTH_GOOGLE}, {"kiro", MOCK_OAUTH_KIRO},
    };
    mock_server_conf *conf = server_conf(cmd->server);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(arg, names[i].name) == 0) {
            conf->oauth = names[i].dialect;
            conf->oauth_set = 1;
            return NULL;
        }
    }
    return "AIProxyMockOAuth: expected codex, claude, google, kiro or off";
}

/* The words must parse now, so a typo fails the configuration rather than a test. */
static apr_array_header_t *checked_words(cmd_parms *cmd, int argc, char *const argv[],
                                         const char **error)
{
    apr_array_header_t *words = apr_array_make(cmd->pool, argc, sizeof(const char *));
    json_t *parsed;
    for (int i = 0; i < argc; i++) {
        APR_ARRAY_PUSH(words, const char *) = argv[i];
    }
    parsed = mock_oauth_words(cmd->temp_pool, words, error);
    json_decref(parsed);
    if (!parsed) {
        *error = apr_pstrcat(cmd->pool, cmd->cmd->name, ": ", *error, NULL);
        return NULL;
    }
    return words;
}

static const char *add_issued_token(cmd_parms *cmd, void *dconf, int argc, char *const argv[])
{
    mock_server_conf *conf = server_conf(cmd->server);
    const char *error = NULL;
    apr_array_header_t *words = checked_words(cmd, argc, argv, &error);
    if (!words) {
        return error;
    }
    if (!conf->seeds) {
        conf->seeds = apr_array_make(cmd->pool, 2, sizeof(apr_array_header_t *));
    }
    APR_ARRAY_PUSH(conf->seeds, apr_array_header_t *) = words;
    return NULL;
}

static const char *set_token_control(cmd_parms *cmd, void *dconf, int argc, char *const argv[])
{
    const char *error = NULL;
    apr_array_header_t *words = checked_words(cmd, argc, argv, &error);
    if (!words) {
        return error;
    }
    server_conf(cmd->server)->control_words = words;
    return NULL;
}

static const command_rec mock_cmds[] = {
    AP_INIT_TAKE1("AIProxyMockScenario", set_scenario, NULL, RSRC_CONF,
                  "Markers applied to every request of this vhost, e.g. \"[mock:status=503]\", "
                  "so one upstream fails while another serves"),
    AP_INIT_TAKE2("AIProxyMockPathScenario", add_path_scenario, NULL, RSRC_CONF,
                  "A path prefix and markers applied to the requests under it (repeatable), "
                  "so one base URL of a vhost fails while another serves"),
    AP_INIT_TAKE1("AIProxyMockName", set_name, NULL, RSRC_CONF,
                  "Name of this mock upstream, recorded as \"upstream\""),
    AP_INIT_TAKE1("AIProxyMockRecordFile", set_path,
                  (void *) APR_OFFSETOF(mock_server_conf, record_file), RSRC_CONF,
                  "File that receives one JSON line per request"),
    AP_INIT_ITERATE("AIProxyMockRequireKey", add_key, NULL, RSRC_CONF,
                    "Credential(s) a request must carry; repeatable"),
    AP_INIT_TAKE1("AIProxyMockOAuth", set_oauth, NULL, RSRC_CONF,
                  "codex, claude or google: serve POST .../token and accept on the provider "
                  "endpoints only the access tokens this mock issued; off (default) otherwise"),
    AP_INIT_TAKE1("AIProxyMockTokenStore", set_path,
                  (void *) APR_OFFSETOF(mock_server_conf, token_store), RSRC_CONF,
                  "Directory of the issued tokens (<name>.json, <name>.lock), shared by children"),
    AP_INIT_TAKE_ARGV("AIProxyMockIssuedToken", add_issued_token, NULL, RSRC_CONF,
                      "A credential the mock knows from the start: label= access= refresh= "
                      "account= email= plan= expires_in= scenario= scenario_times= revoked= "
                      "(google: project= "
                      "tier= onboard_polls=)"),
    AP_INIT_TAKE_ARGV("AIProxyMockTokenControl", set_token_control, NULL, RSRC_CONF,
                      "Initial token-endpoint controls: delay_ms= fail= fail_times= retry_after= "
                      "lifetime= keep_rotated_access= client_id="),
    {NULL},
};

/* When the parent runs as root, what it creates must belong to the User of the children. */
static void hand_to_user(server_rec *s, const char *directive, const char *path)
{
    if (geteuid() == 0 && chown(path, ap_unixd_config.user_id, ap_unixd_config.group_id)) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, APR_FROM_OS_ERROR(errno), s, "%s: cannot chown %s",
                     directive, path);
    }
}

/* The parent creates the record files so the unprivileged children can append. */
static void create_record_file(server_rec *s, const mock_server_conf *conf)
{
    int fd = open(conf->record_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) {
        ap_log_error(APLOG_MARK, APLOG_ERR, APR_FROM_OS_ERROR(errno), s,
                     "AIProxyMockRecordFile: cannot create %s", conf->record_file);
        return;
    }
    close(fd);
    hand_to_user(s, "AIProxyMockRecordFile", conf->record_file);
}

/* The parent creates the token store of an OAuth vhost and seeds it: credentials whose label is
 * new, and the controls given. Tokens already there survive a restart. */
static int prepare_token_store(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s,
                               mock_server_conf *conf)
{
    const char *name = conf->name ? conf->name : DEFAULT_NAME;
    mock_oauth_store st;
    const char *error = NULL;
    int err;

    if (!conf->token_store) {
        conf->token_store = ap_runtime_dir_relative(pconf, "aiproxy-mock-oauth");
    }
    if (mkdir(conf->token_store, 0755) != 0 && errno != EEXIST) {
        ap_log_error(APLOG_MARK, APLOG_ERR, APR_FROM_OS_ERROR(errno), s,
                     "AIProxyMockTokenStore: cannot create %s", conf->token_store);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    hand_to_user(s, "AIProxyMockTokenStore", conf->token_store);
    err = mock_oauth_store_open(ptemp, conf->token_store, name, 1, &st);
    if (err) {
        ap_log_error(APLOG_MARK, APLOG_ERR, APR_FROM_OS_ERROR(err), s,
                     "AIProxyMockTokenStore: cannot lock %s", st.lock_path);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (conf->control_words) {
        json_t *control = mock_oauth_words(ptemp, conf->control_words, &error);
        mock_oauth_store_set_control(&st, control);
        json_decref(control);
    }
    for (int i = 0; conf->seeds && i < conf->seeds->nelts; i++) {
        json_t *seed =
            mock_oauth_words(ptemp, APR_ARRAY_IDX(conf->seeds, i, apr_array_header_t *), &error);
        mock_oauth_store_seed(&st, seed, apr_time_now());
        json_decref(seed);
    }
    err = mock_oauth_store_save(&st);
    mock_oauth_store_close(&st);
    if (err) {
        ap_log_error(APLOG_MARK, APLOG_ERR, APR_FROM_OS_ERROR(err), s,
                     "AIProxyMockTokenStore: cannot write %s", st.path);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    hand_to_user(s, "AIProxyMockTokenStore", st.path);
    hand_to_user(s, "AIProxyMockTokenStore", st.lock_path);
    return OK;
}

static int mock_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                            server_rec *main_s)
{
    for (server_rec *s = main_s; s; s = s->next) {
        mock_server_conf *conf = server_conf(s);
        if (conf->record_file) {
            create_record_file(s, conf);
        }
        if (conf->oauth != MOCK_OAUTH_OFF && prepare_token_store(pconf, ptemp, s, conf) != OK) {
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return OK;
}

static apr_status_t close_fd(void *data)
{
    mock_server_conf *conf = data;
    if (conf->record_fd >= 0) {
        close(conf->record_fd);
        conf->record_fd = -1;
    }
    return APR_SUCCESS;
}

static void mock_child_init(apr_pool_t *pchild, server_rec *main_s)
{
    for (server_rec *s = main_s; s; s = s->next) {
        mock_server_conf *conf = server_conf(s);
        if (!conf->record_file) {
            continue;
        }
        conf->record_fd = open(conf->record_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
        if (conf->record_fd < 0) {
            ap_log_error(APLOG_MARK, APLOG_ERR, APR_FROM_OS_ERROR(errno), s,
                         "AIProxyMockRecordFile: cannot open %s", conf->record_file);
            continue;
        }
        apr_pool_cleanup_register(pchild, conf, close_fd, apr_pool_cleanup_null);
    }
}

/* ---- request handling ------------------------------------------------------------------------ */

/* Read the whole request body (dechunked). Returns OK, HTTP_REQUEST_ENTITY_TOO_LARGE or the
 * status for a read error. */
static int read_body(request_rec *r, const char **out, apr_size_t *out_len)
{
    conn_rec *c = r->connection;
    apr_bucket_brigade *bb = apr_brigade_create(r->pool, c->bucket_alloc);
    const char *cl = apr_table_get(r->headers_in, "Content-Length");
    apr_size_t cap = 8192, len = 0;
    char *buf;
    int seen_eos = 0;

    if (cl) {
        apr_off_t n;
        if (apr_strtoff(&n, cl, NULL, 10) == APR_SUCCESS && n >= 0 &&
            (apr_size_t) n <= MOCK_MAX_BODY) {
            cap = (apr_size_t) n + 1;
        }
    }
    buf = apr_palloc(r->pool, cap);
    while (!seen_eos) {
        apr_status_t rv =
            ap_get_brigade(r->input_filters, bb, AP_MODE_READBYTES, APR_BLOCK_READ, READ_CHUNK);
        if (rv != APR_SUCCESS) {
            return ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
        }
        for (apr_bucket *e = APR_BRIGADE_FIRST(bb); e != APR_BRIGADE_SENTINEL(bb);
             e = APR_BUCKET_NEXT(e)) {
            const char *data;
            apr_size_t n;
            if (APR_BUCKET_IS_EOS(e)) {
                seen_eos = 1;
                break;
            }
            if (APR_BUCKET_IS_METADATA(e)) {
                continue;
            }
            rv = apr_bucket_read(e, &data, &n, APR_BLOCK_READ);
            if (rv != APR_SUCCESS) {
                return ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
            }
            if (len + n > MOCK_MAX_BODY) {
                return HTTP_REQUEST_ENTITY_TOO_LARGE;
            }
            if (len + n > cap) {
                char *grown;
                while (cap < len + n) {
                    cap *= 2;
                }
                grown = apr_palloc(r->pool, cap);
                memcpy(grown, buf, len);
                buf = grown;
            }
            memcpy(buf + len, data, n);
            len += n;
        }
        apr_brigade_cleanup(bb);
    }
    *out = buf;
    *out_len = len;
    return OK;
}

static void record_request(request_rec *r, const mock_server_conf *conf, const char *raw,
                           apr_size_t raw_len, const char *decoded, apr_size_t decoded_len,
                           json_t *oauth)
{
    mock_record rec;
    const char *line;
    apr_size_t len;
    int err;

    if (conf->record_fd < 0) {
        return;
    }
    rec.method = r->method;
    rec.path = r->parsed_uri.path ? r->parsed_uri.path : r->uri;
    rec.query = r->args;
    rec.headers = r->headers_in;
    rec.raw = raw;
    rec.raw_len = raw_len;
    rec.decoded = decoded;
    rec.decoded_len = decoded_len;
    rec.content_encoding = apr_table_get(r->headers_in, "Content-Encoding");
    rec.port = r->connection->local_addr ? r->connection->local_addr->port : 0;
    rec.upstream = conf->name ? conf->name : DEFAULT_NAME;
    rec.time = r->request_time;
    rec.oauth = oauth;
    line = mock_record_line(r->pool, &rec, &len);
    if (!line) {
        return;
    }
    err = mock_record_append(conf->record_fd, line, len);
    if (err) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, APR_FROM_OS_ERROR(err), r,
                      "AIProxyMockRecordFile: write to %s failed", conf->record_file);
    }
}

static const char *decode_error_message(mock_decode_status status, int *http_status)
{
    switch (status) {
    case MOCK_DECODE_UNSUPPORTED:
        *http_status = HTTP_UNSUPPORTED_MEDIA_TYPE;
        return "mock: unsupported Content-Encoding";
    case MOCK_DECODE_TOO_LARGE:
        *http_status = HTTP_REQUEST_ENTITY_TOO_LARGE;
        return "mock: request body too large after decoding";
    default:
        *http_status = HTTP_BAD_REQUEST;
        return "mock: request body does not match its Content-Encoding";
    }
}

/* Everything after the body is read and recorded: choose and build the reply. */
static void build_reply(request_rec *r, const mock_server_conf *conf, mock_call *call,
                        mock_decode_status decoded, const char *body, apr_size_t body_len,
                        mock_reply *reply)
{
    const mock_provider *provider = mock_provider_for(call->route.proto);
    json_error_t jerr;
    json_t *json;

    if (!mock_auth_ok(r->pool, call->route.proto, call->route.ep, r->headers_in, r->args,
                      conf->keys)) {
        provider->error(call, reply, HTTP_UNAUTHORIZED, NULL);
        return;
    }
    if (call->route.ep == MOCK_EP_NONE) {
        mock_not_found_reply(r->pool, reply, r->method, r->uri);
        return;
    }
    if (decoded != MOCK_DECODE_OK) {
        int status;
        const char *message = decode_error_message(decoded, &status);
        provider->error(call, reply, status, message);
        return;
    }
    if (call->route.ep == MOCK_EP_MODELS) {
        mock_models_reply(call, reply);
        return;
    }
    if (mock_forward_endpoint(call->route.ep)) {
        mock_forward_reply(call, conf->scenario, apr_table_get(r->headers_in, "Content-Type"), body,
                           body_len, reply);
        return;
    }
    json = json_loadb(body, body_len, 0, &jerr);
    if (!json || !json_is_object(json)) {
        provider->error(call, reply, HTTP_BAD_REQUEST,
                        apr_psprintf(r->pool, "mock: could not parse the JSON body: %s",
                                     json ? "not an object" : jerr.text));
        json_decref(json);
        return;
    }
    call->body = json;
    call->body_len = body_len;
    if (call->route.ep == MOCK_EP_LOAD_CODE_ASSIST || call->route.ep == MOCK_EP_ONBOARD_USER) {
        /* a failing base fails its setup calls too (endpoint fallback of the discovery), before
         * they change the account */
        apply_path_scenarios(conf, r->uri, &call->sc);
        if (call->sc.status >= 400) {
            mock_gemini_provider.error(call, reply, call->sc.status, NULL);
        } else if (conf->oauth == MOCK_OAUTH_GOOGLE && call->credential) {
            mock_code_assist_setup(call, conf->token_store, conf->name ? conf->name : DEFAULT_NAME,
                                   reply);
        } else {
            mock_not_found_reply(r->pool, reply, r->method, r->uri);
        }
        call->body = NULL;
        json_decref(json);
        return;
    }
    provider->parse(call);
    if (call->route.code_assist && call->route.ep == MOCK_EP_GENERATE &&
        conf->oauth == MOCK_OAUTH_GOOGLE && call->credential &&
        !mock_code_assist_check(call, conf->token_store, conf->name ? conf->name : DEFAULT_NAME,
                                reply)) {
        call->body = NULL;
        json_decref(json);
        return;
    }
    if (conf->scenario)
        mock_scenario_parse(conf->scenario, strlen(conf->scenario), &call->sc);
    apply_path_scenarios(conf, r->uri, &call->sc);
    if (call->auth_markers)
        mock_scenario_parse(call->auth_markers, strlen(call->auth_markers), &call->sc);
    mock_scenario_parse(call->user_text, call->user_text_len, &call->sc);
    if (call->sc.quota >= 0) {
        provider->quota(call, reply, call->sc.quota);
    } else if (call->sc.status >= 400) {
        provider->error(call, reply, call->sc.status, NULL);
    } else if (call->sc.sse_error && call->stream) {
        provider->stream_error(call, reply);
    } else {
        mock_plan plan;
        mock_plan_build(call, &plan);
        provider->reply(call, &plan, reply);
    }
    call->body = NULL;
    json_decref(json); /* the reply is serialised already */
}

/* AIProxyMockOAuth vhosts, before the request is recorded: the token endpoint answers here; a
 * provider endpoint checks the bearer token, and a refusal is the answer. Returns 1 when the
 * reply is complete; *oauth receives the record's "oauth" object (NULL on other vhosts). */
static int oauth_step(request_rec *r, const mock_server_conf *conf, mock_call *call,
                      mock_decode_status decoded, const char *body, apr_size_t body_len,
                      mock_reply *reply, json_t **oauth)
{
    const char *name = conf->name ? conf->name : DEFAULT_NAME;
    if (conf->oauth == MOCK_OAUTH_OFF || call->route.ep == MOCK_EP_NONE) {
        return 0;
    }
    if (call->route.ep == MOCK_EP_TOKEN) {
        if (decoded != MOCK_DECODE_OK) {
            return 0; /* build_reply answers with the decoding error */
        }
        *oauth =
            mock_oauth_token(call, conf->oauth, conf->token_store, name,
                             apr_table_get(r->headers_in, "Content-Type"), body, body_len, reply);
        return 1;
    }
    return !mock_oauth_bearer(call, conf->oauth, conf->token_store, name, r->headers_in, reply,
                              oauth);
}

static int mock_handler(request_rec *r)
{
    const mock_server_conf *conf;
    mock_call call;
    mock_reply *reply;
    const char *raw = "", *body;
    apr_size_t raw_len = 0, body_len;
    mock_decode_status decoded;
    json_t *oauth = NULL;
    int rc, answered;

    if (!r->handler || strcmp(r->handler, MOCK_HANDLER) != 0) {
        return DECLINED;
    }
    conf = server_conf(r->server);
    memset(&call, 0, sizeof(call));
    call.pool = r->pool;
    call.now = apr_time_now();
    call.seed = mock_mix((apr_uint64_t) call.now ^ ((apr_uint64_t) r->connection->id << 24) ^
                         (apr_uint64_t) (apr_uintptr_t) r);
    call.model = "";
    call.user_text = "";
    mock_scenario_init(&call.sc);
    mock_route_match(r->pool, r->method, r->uri, r->args, conf->oauth != MOCK_OAUTH_OFF,
                     &call.route);

    reply = apr_pcalloc(r->pool, sizeof(*reply));
    mock_reply_init(reply, r->pool);

    rc = read_body(r, &raw, &raw_len);
    if (rc == HTTP_REQUEST_ENTITY_TOO_LARGE) {
        mock_provider_for(call.route.proto)->error(&call, reply, rc, "mock: request too large");
        return mock_send_reply(r, reply, &call.sc);
    }
    if (rc != OK) {
        return rc;
    }
    decoded = mock_decode_body(r->pool, apr_table_get(r->headers_in, "Content-Encoding"), raw,
                               raw_len, &body, &body_len);
    answered = oauth_step(r, conf, &call, decoded, body, body_len, reply, &oauth);
    if (oauth && json_is_string(json_object_get(oauth, "credential"))) {
        call.credential =
            apr_pstrdup(r->pool, json_string_value(json_object_get(oauth, "credential")));
    }
    record_request(r, conf, raw, raw_len, decoded == MOCK_DECODE_OK ? body : NULL,
                   decoded == MOCK_DECODE_OK ? body_len : 0, oauth);
    json_decref(oauth);

    if (!answered) {
        build_reply(r, conf, &call, decoded, body, body_len, reply);
    }
    if (call.sc.retry_after >= 0) {
        apr_table_setn(reply->headers, "Retry-After",
                       apr_psprintf(r->pool, "%" APR_INT64_T_FMT, call.sc.retry_after));
    }
    return mock_send_reply(r, reply, &call.sc);
}

static void mock_register_hooks(apr_pool_t *p)
{
    ap_hook_post_config(mock_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(mock_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(mock_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(aiproxy_mock) = {
    STANDARD20_MODULE_STUFF,
    NULL,               /* create per-directory config */
    NULL,               /* merge per-directory config */
    create_server_conf, /* create per-server config */
    merge_server_conf,  /* merge per-server config */
    mock_cmds,          /* directives */
    mock_register_hooks,
    AP_MODULE_FLAG_NONE,
};
