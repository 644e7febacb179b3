/*
 * mod_aiproxy_translate_location.c: the translator on its own, behind plain mod_proxy.
 *
 *     <Location "/v1/chat/completions">
 *         AIProxyTranslate openai anthropic
 *         ProxyPass "http://127.0.0.1:9001/v1/messages"
 *     </Location>
 *
 * The request is translated by a handler ordered before mod_proxy's, not by an input filter
 * alone. Bad input must get a 400 in the client's own envelope without the upstream being
 * contacted; an input filter runs only once mod_proxy_http pulls the body, and whatever it
 * returns then becomes mod_proxy's HTML error page. So the handler reads the whole body
 * (capped), parses and translates it, answers bad input itself, and otherwise rewrites the
 * upstream URL and headers and declines: mod_proxy's handler runs next and an input filter
 * serves it the translated body in place of the client's. The handler phase rather than
 * fixups: a handler may answer with a body of its own, and it runs after mod_proxy's fixup
 * has canonicalised r->filename, which the URL rewrite replaces.
 *
 * The answer goes through the module's response filter (mod_aiproxy_translate.c), added only
 * once the upstream status is known: an error status (>= 400) is not a protocol answer to
 * translate but an error body to re-envelope for the client.
 */
#include <string.h>
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"
#include "apr_strings.h"
#include "mod_proxy.h"
#include "mod_aiproxy_translate_location.h"
#include "mod_aiproxy_translate_http.h"
#include "aiproxy_filters.h"
#include "aiproxy_log.h"

APLOG_USE_MODULE(aiproxy_translate);

#define DEFAULT_MAX_BODY ((apr_off_t) 32 * 1024 * 1024) /* as Anthropic's API */
#define ERROR_BODY_KEEP  (64 * 1024) /* upstream error bodies are small; the message is early */

static ap_filter_rec_t *answer_filter_handle;

/* ---- configuration -------------------------------------------------------------------------- */

typedef struct {
    int enabled;            /* AIProxyTranslate given here or in an enclosing section */
    aiproxy_proto client;   /* the protocol clients of this location speak */
    aiproxy_proto upstream; /* the protocol of the ProxyPass target */
    const char *model;      /* AIProxyTranslateModel, or NULL: the client's model */
    apr_off_t max_body;     /* AIProxyTranslateMaxBodySize; -1: not set here */
    int keep_auth;          /* AIProxyTranslateKeepAuth; -1: not set here */
    const char *auth;       /* AIProxyTranslateAuth, or NULL */
} location_conf;

void *aiproxy_translate_location_create_dir_config(apr_pool_t *p, char *dir)
{
    location_conf *conf = apr_pcalloc(p, sizeof(*conf));
    conf->max_body = -1;
    conf->keep_auth = -1;
    return conf;
}

void *aiproxy_translate_location_merge_dir_config(apr_pool_t *p, void *basev, void *addv)
{
    const location_conf *base = basev, *add = addv;
    location_conf *conf = apr_pcalloc(p, sizeof(*conf));
    const location_conf *proto_from = add->enabled ? add : base;

    conf->enabled = proto_from->enabled;
    conf->client = proto_from->client;
    conf->upstream = proto_from->upstream;
    conf->model = add->model ? add->model : base->model;
    conf->max_body = add->max_body >= 0 ? add->max_body : base->max_body;
    conf->keep_auth = add->keep_auth >= 0 ? add->keep_auth : base->keep_auth;
    conf->auth = add->auth ? add->auth : base->auth;
    return conf;
}

static const char *set_translate(cmd_parms *cmd, void *dconf, const char *client,
                                 const char *upstream)
{
    location_conf *conf = dconf;

    if (aiproxy_proto_from_name(client, &conf->client) != 0)
        return apr_psprintf(cmd->pool,
                            "%s: unknown client protocol '%s' (anthropic, openai, "
                            "responses, gemini)",
                            cmd->cmd->name, client);
    if (aiproxy_proto_from_name(upstream, &conf->upstream) != 0)
        return apr_psprintf(cmd->pool,
                            "%s: unknown upstream protocol '%s' (anthropic, openai, "
                            "responses, gemini)",
                            cmd->cmd->name, upstream);
    conf->enabled = 1;
    return NULL;
}

static const char *set_max_body(cmd_parms *cmd, void *dconf, const char *arg)
{
    location_conf *conf = dconf;
    char *end;

    if (apr_strtoff(&conf->max_body, arg, &end, 10) != APR_SUCCESS || *end || conf->max_body <= 0)
        return apr_psprintf(cmd->pool, "%s: '%s' is not a positive number of bytes", cmd->cmd->name,
                            arg);
    return NULL;
}

const command_rec aiproxy_translate_location_cmds[] = {
    AP_INIT_TAKE2("AIProxyTranslate", set_translate, NULL, ACCESS_CONF,
                  "client and upstream protocol of this location: anthropic, openai, "
                  "responses or gemini"),
    AP_INIT_TAKE1("AIProxyTranslateModel", ap_set_string_slot,
                  (void *) APR_OFFSETOF(location_conf, model), ACCESS_CONF,
                  "model name sent upstream (default: the client's)"),
    AP_INIT_TAKE1("AIProxyTranslateMaxBodySize", set_max_body, NULL, ACCESS_CONF,
                  "largest client request body in bytes (default 32 MiB)"),
    AP_INIT_FLAG("AIProxyTranslateKeepAuth", ap_set_flag_slot,
                 (void *) APR_OFFSETOF(location_conf, keep_auth), ACCESS_CONF,
                 "On: forward the client's credentials (default Off: strip them)"),
    AP_INIT_TAKE1("AIProxyTranslateAuth", ap_set_string_slot,
                  (void *) APR_OFFSETOF(location_conf, auth), ACCESS_CONF,
                  "API key sent upstream in the upstream protocol's style"),
    {NULL},
};

/* ---- answering the client ourselves ---------------------------------------------------------- */

/* The whole answer to a request refused before the upstream: err in the client's envelope. */
static int send_client_error(request_rec *r, aiproxy_proto client, const aiproxy_error *err)
{
    apr_size_t len;
    const char *body = aiproxy_error_body(r->pool, client, err, &len);

    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AIPLOGNO(01201) "refused with %d: %s", err->status,
                  err->message);
    r->status = err->status;
    /* Not before r->status: a status that drops the connection skips reading the rest of an
     * oversized body. */
    ap_discard_request_body(r);
    ap_set_content_type(r, "application/json");
    ap_set_content_length(r, len);
    if (!r->header_only)
        ap_rwrite(body, (int) len, r);
    return OK;
}

/* ---- checking and reading the client request ------------------------------------------------- */

static int query_has_alt_sse(const char *query)
{
    for (const char *q = query; q && *q; q = strchr(q, '&') ? strchr(q, '&') + 1 : NULL) {
        if (!strncmp(q, "alt=sse", 7) && (q[7] == '\0' || q[7] == '&'))
            return 1;
    }
    return 0;
}

/* Gemini clients carry the model and the stream flag in the URL: .../models/{model}:{action}.
 * Returns 0, or -1 when the path is not a generate route. */
static int gemini_route_from_path(request_rec *r, aiproxy_route_info *route)
{
    const char *models = NULL, *colon, *action;

    for (const char *s = strstr(r->uri, "/models/"); s; s = strstr(s + 1, "/models/"))
        models = s + 8;
    if (!models || !(colon = strrchr(models, ':')) || colon == models ||
        memchr(models, '/', colon - models))
        return -1;
    action = colon + 1;
    if (!strcmp(action, "generateContent"))
        route->stream = AIPROXY_STREAM_NONE;
    else if (!strcmp(action, "streamGenerateContent"))
        route->stream = query_has_alt_sse(r->args) ? AIPROXY_STREAM_SSE : AIPROXY_STREAM_JSON_ARRAY;
    else
        return -1;
    route->model = apr_pstrmemdup(r->pool, models, colon - models);
    return 0;
}

/* What the body cannot tell: method and route (Gemini). Returns OK or an HTTP status with
 * *err filled. */
static int check_request(request_rec *r, const location_conf *conf, aiproxy_route_info *route,
                         aiproxy_error *err)
{
    memset(route, 0, sizeof(*route));
    if (r->method_number != M_POST) {
        apr_table_setn(r->headers_out, "Allow", "POST");
        return aiproxy_http_set_error(err, HTTP_METHOD_NOT_ALLOWED, "only POST is translated here");
    }
    if (conf->client == AIPROXY_PROTO_GEMINI && gemini_route_from_path(r, route) != 0) {
        aiproxy_http_set_error(err, HTTP_NOT_FOUND,
                               "expected a path ending in "
                               "/models/{model}:generateContent or :streamGenerateContent");
        err->code = "unknown_url"; /* not an unknown model */
        return err->status;
    }
    return OK;
}

static int read_body_or_refuse(request_rec *r, apr_pool_t *p, const location_conf *conf,
                               char **body, apr_size_t *len, aiproxy_error *err)
{
    apr_off_t max = conf->max_body > 0 ? conf->max_body : DEFAULT_MAX_BODY;

    return aiproxy_http_read_body(r, p, max, "AIProxyTranslateMaxBodySize", body, len, err);
}

/* Parse the client body and build the upstream's, both into p. Returns OK or an HTTP status
 * with *err filled (bad input: 400 in the client's envelope, the upstream never contacted). */
static int translate_body(apr_pool_t *p, const location_conf *conf, const aiproxy_route_info *route,
                          const char *body, apr_size_t len, aiproxy_request **req,
                          aiproxy_upstream_request *up, aiproxy_error *err)
{
    aiproxy_target target;

    *req = aiproxy_request_parse(p, conf->client, body, len, route, err);
    if (!*req)
        return err->status;
    memset(&target, 0, sizeof(target));
    target.proto = conf->upstream;
    target.model = conf->model ? conf->model : aiproxy_request_model(*req);
    target.stream = aiproxy_request_stream(*req) != AIPROXY_STREAM_NONE;
    memset(up, 0, sizeof(*up));
    return aiproxy_request_build(p, *req, &target, up, err) ? err->status : OK;
}

/* ---- the request mod_proxy forwards ---------------------------------------------------------- */

/* The URL the admin wrote in ProxyPass, split at '?'. ProxyPass inside the <Location> is taken
 * as written: mod_proxy would append the client path below the location (a Gemini client's
 * model and action) and the client's query (a Gemini ?key=), neither of which belongs to a
 * translated request. Elsewhere (ProxyPass outside, RewriteRule [P]) the URL mod_proxy
 * mapped is used without its query. */
static void proxy_target(request_rec *r, const char **base, const char **query)
{
    module *proxy = ap_find_linked_module("mod_proxy.c");
    const proxy_dir_conf *pconf = proxy ? ap_get_module_config(r->per_dir_config, proxy) : NULL;
    const char *url = r->filename + 6; /* after "proxy:" */
    const char *q;

    *query = NULL;
    if (pconf && pconf->alias && !pconf->alias->regex && pconf->alias->real)
        url = pconf->alias->real;
    q = strchr(url, '?');
    if (!q) {
        *base = url;
        return;
    }
    *base = apr_pstrmemdup(r->pool, url, q - url);
    if (url != r->filename + 6 && q[1])
        *query = q + 1;
}

/* Point mod_proxy at the upstream endpoint. A Gemini upstream takes the model and the action
 * in its URL, so its ProxyPass target is a base URL the API path is appended to. */
static void rewrite_upstream_url(request_rec *r, const location_conf *conf,
                                 const aiproxy_upstream_request *up)
{
    const char *base, *query;
    apr_size_t n;

    proxy_target(r, &base, &query);
    if (conf->upstream == AIPROXY_PROTO_GEMINI) {
        n = strlen(base);
        while (n > 0 && base[n - 1] == '/')
            n--;
        base = apr_pstrcat(r->pool, apr_pstrmemdup(r->pool, base, n), up->path, NULL);
        if (up->query)
            query = query ? apr_pstrcat(r->pool, query, "&", up->query, NULL) : up->query;
    }
    r->filename = apr_pstrcat(r->pool, "proxy:", base, query ? "?" : "", query, NULL);
}

/* The client headers describing the body now describe the translated one, and the answer
 * must come uncompressed: the translator reads it as it streams. */
static void rewrite_body_headers(request_rec *r, const aiproxy_upstream_request *up)
{
    apr_table_t *h = r->headers_in;

    apr_table_setn(h, "Content-Type", "application/json");
    apr_table_setn(h, "Content-Length", apr_psprintf(r->pool, "%" APR_SIZE_T_FMT, up->len));
    apr_table_unset(h, "Transfer-Encoding");
    apr_table_unset(h, "Content-Encoding");
    apr_table_unset(h, "Content-MD5");
    apr_table_unset(h, "Expect"); /* the body is already read */
    apr_table_setn(h, "Accept", up->accept);
    apr_table_unset(h, "Accept-Encoding");
}

static const char *const client_credential_headers[] = {
    "Authorization", "x-api-key", "x-goog-api-key", "Cookie", NULL,
};

/* Client credentials never reach the upstream unless AIProxyTranslateKeepAuth On; then the
 * client's key is also copied into the upstream protocol's header when the client used
 * another protocol's style. AIProxyTranslateAuth, when set, is the upstream's key. */
static void set_upstream_auth(request_rec *r, const location_conf *conf)
{
    apr_table_t *h = r->headers_in;
    const char *token = conf->auth;

    if (conf->keep_auth == 1) {
        if (!token && !apr_table_get(h, aiproxy_http_auth_header(conf->upstream)))
            token = aiproxy_http_client_key(r);
    } else {
        for (int i = 0; client_credential_headers[i]; i++)
            apr_table_unset(h, client_credential_headers[i]);
    }
    if (token)
        aiproxy_http_set_upstream_auth(r->pool, h, conf->upstream, token);
    aiproxy_http_set_protocol_headers(h, h, conf->upstream);
}

/* ---- the output filter: the upstream's answer, as the client expects it ---------------------- */

typedef struct {
    aiproxy_proto client;
    aiproxy_proto upstream;
    aiproxy_response *translator;
    char *error_body; /* the start of an upstream error body */
    apr_size_t error_len;
    int proxy_failed; /* the error is mod_proxy's own page: no answer came */
    int done;
    apr_pool_t *request_memory; /* destroyed when the answer (or mod_proxy's error) comes */
} answer_ctx;

/* The message of the client's envelope for the error being collected. */
static const char *answer_error_message(request_rec *r, const answer_ctx *ctx)
{
    const char *message;

    if (ctx->proxy_failed)
        return apr_psprintf(r->pool, "no usable answer from the upstream (proxy error %d)",
                            r->status);
    message =
        aiproxy_error_message_from_body(r->pool, ctx->upstream, ctx->error_body, ctx->error_len);
    return message ? apr_psprintf(r->pool, "upstream answered %d: %s", r->status, message)
                   : apr_psprintf(r->pool, "upstream answered %d", r->status);
}

/* The client's error envelope around the upstream's own message. */
static apr_status_t send_error_envelope(ap_filter_t *f, answer_ctx *ctx)
{
    request_rec *r = f->r;
    aiproxy_error err = {0};
    apr_size_t len;
    const char *body;
    apr_bucket_brigade *out = apr_brigade_create(r->pool, f->c->bucket_alloc);

    aiproxy_http_set_error(&err, r->status, answer_error_message(r, ctx));
    body = aiproxy_error_body(r->pool, ctx->client, &err, &len);
    ap_set_content_type(r, "application/json");
    apr_table_unset(r->headers_out, "Content-Encoding");
    ap_set_content_length(r, len);
    ctx->done = 1;
    APR_BRIGADE_INSERT_TAIL(out, apr_bucket_pool_create(body, len, r->pool, f->c->bucket_alloc));
    APR_BRIGADE_INSERT_TAIL(out, apr_bucket_eos_create(f->c->bucket_alloc));
    return ap_pass_brigade(f->next, out);
}

/* Keep the start of an error body until EOS. Metadata is dropped: a FLUSH would send the
 * headers before the envelope's Content-Type is set. */
static apr_status_t collect_error_body(ap_filter_t *f, answer_ctx *ctx, apr_bucket_brigade *bb)
{
    apr_status_t rv = APR_SUCCESS;

    if (!ctx->error_body)
        ctx->error_body = apr_palloc(f->r->pool, ERROR_BODY_KEEP);
    if (aiproxy_http_keep_bytes(bb, ctx->error_body, &ctx->error_len, ERROR_BODY_KEEP))
        rv = send_error_envelope(f, ctx);
    apr_brigade_cleanup(bb);
    return rv;
}

static apr_status_t answer_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    answer_ctx *ctx = f->ctx;

    /* The answer, or mod_proxy's own error, is here: nothing reads the body any more (and the
     * request's end, discarding what is left of it, finds the client's, read to its end). */
    if (ctx->request_memory) {
        ap_remove_input_filter_byhandle(f->r->input_filters, AIPROXY_BODY_FILTER);
        apr_pool_destroy(ctx->request_memory);
        ctx->request_memory = NULL;
        ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, f->r,
                      AIPLOGNO(01206) "the answer is on its way: the request body and its "
                                      "copies are let go");
    }
    if (ctx->done) {
        apr_brigade_cleanup(bb);
        return APR_SUCCESS;
    }
    if (f->r->status >= 400)
        return collect_error_body(f, ctx, bb);
    /* A protocol answer: the response filter, inserted right after this one (its type is
     * higher), translates it from here on; no error envelope may follow it. */
    ctx->done = 1;
    aiproxy_translate_add_response_filter(f->r, ctx->translator, NULL);
    ap_remove_output_filter(f);
    return ap_pass_brigade(f->next, bb);
}

static void add_answer_filter(request_rec *r, const location_conf *conf, const aiproxy_request *req,
                              const aiproxy_upstream_request *up, apr_pool_t *request_memory)
{
    answer_ctx *ctx = apr_pcalloc(r->pool, sizeof(*ctx));
    aiproxy_response_spec spec;

    memset(&spec, 0, sizeof(spec));
    spec.client = conf->client;
    spec.client_stream = aiproxy_request_stream(req);
    spec.upstream = conf->upstream;
    spec.upstream_stream = up->upstream_stream;
    spec.client_model = aiproxy_request_model(req);
    spec.include_usage = aiproxy_request_wants_stream_usage(req);
    spec.tool_names = up->tool_names;
    ctx->client = conf->client;
    ctx->upstream = conf->upstream;
    ctx->translator = aiproxy_response_create(r->pool, &spec); /* copies what it reads */
    ctx->request_memory = request_memory;
    ap_set_module_config(r->request_config, &aiproxy_translate_module, ctx);
    ap_add_output_filter_handle(answer_filter_handle, ctx, r, r->connection);
}

/* mod_proxy's own failures (upstream unreachable, timeout) go through ap_die, whose error
 * page is sent through the protocol filters only; put the answer filter back so the client
 * still gets its protocol's envelope instead of an HTML page. */
static void insert_answer_error_filter(request_rec *r)
{
    answer_ctx *ctx = ap_get_module_config(r->request_config, &aiproxy_translate_module);

    if (!ctx || ctx->done)
        return;
    ctx->proxy_failed = 1;
    ctx->error_len = 0;
    ap_add_output_filter_handle(answer_filter_handle, ctx, r, r->connection);
}

/* ---- the handler ----------------------------------------------------------------------------- */

/* Hand the translated request to mod_proxy: URL, headers, body, answer filter. */
static void forward_translated(request_rec *r, const location_conf *conf,
                               const aiproxy_request *req, const aiproxy_upstream_request *up,
                               apr_pool_t *request_memory)
{
    rewrite_upstream_url(r, conf, up);
    rewrite_body_headers(r, up);
    set_upstream_auth(r, conf);
    aiproxy_http_add_replacement_body(r, up->body, up->len);
    add_answer_filter(r, conf, req, up, request_memory);
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                  AIPLOGNO(01202) "%s -> %s, %" APR_SIZE_T_FMT " bytes to %s",
                  aiproxy_proto_name(conf->client), aiproxy_proto_name(conf->upstream), up->len,
                  r->filename + 6);
}

static int translate_request(request_rec *r, const location_conf *conf)
{
    aiproxy_route_info route;
    aiproxy_request *req = NULL;
    aiproxy_upstream_request up;
    aiproxy_error err = {0};
    char *body = NULL;
    apr_size_t len = 0;
    apr_pool_t *mem;
    int rc;

    /* needed until mod_proxy has sent the body, not while the answer streams: answer_filter
     * destroys it when the answer comes */
    mem = aiproxy_http_request_memory(r);
    rc = check_request(r, conf, &route, &err);
    if (rc == OK)
        rc = read_body_or_refuse(r, mem, conf, &body, &len, &err);
    if (rc == OK)
        rc = translate_body(mem, conf, &route, body, len, &req, &up, &err);
    if (rc != OK)
        return send_client_error(r, conf->client, &err);
    forward_translated(r, conf, req, &up, mem);
    return DECLINED; /* mod_proxy's handler forwards it */
}

static int translate_location_handler(request_rec *r)
{
    const location_conf *conf = ap_get_module_config(r->per_dir_config, &aiproxy_translate_module);
    aiproxy_error err = {0};

    /* Subrequests are mod_aiproxy's: their bodies are already translated. */
    if (!conf || !conf->enabled || r->main)
        return DECLINED;
    if (!r->filename || strncmp(r->filename, "proxy:", 6)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      AIPLOGNO(01203) "AIProxyTranslate without "
                                      "ProxyPass: %s is not proxied",
                      r->uri);
        aiproxy_http_set_error(&err, HTTP_INTERNAL_SERVER_ERROR,
                               "this location has no upstream (ProxyPass)");
        return send_client_error(r, conf->client, &err);
    }
    return translate_request(r, conf);
}

void aiproxy_translate_location_register_hooks(apr_pool_t *p)
{
    static const char *const before[] = {"mod_proxy.c", NULL};

    ap_hook_handler(translate_location_handler, NULL, before, APR_HOOK_REALLY_FIRST);
    ap_hook_insert_error_filter(insert_answer_error_filter, NULL, NULL, APR_HOOK_MIDDLE);
    answer_filter_handle = ap_register_output_filter(AIPROXY_TRANSLATE_ANSWER_FILTER, answer_filter,
                                                     NULL, AIPROXY_FTYPE_TRANSLATE_ANSWER);
}
