/*
 * mod_aiproxy_handler.c: the client-facing handler (SetHandler aiproxy).
 *
 * Reads and parses the client body once, then walks the upstreams that serve the model in
 * weighted order, one subrequest per attempt, until one answers. Every failure the client
 * sees is an error in its own protocol's envelope.
 */
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "util_script.h"
#include "http_request.h"
#include "apr_strings.h"
#include "apr_lib.h"
#include "apr_uuid.h"
#include "mod_aiproxy_private.h"
#include "aip_base_fallback.h"
#include "aip_client_key.h"
#include "aip_endpoint.h"
#include "aip_frame.h"
#include "aip_model_names.h"
#include "aip_failover.h"
#include "aip_passthrough.h"
#include "aiproxy_log.h"

APLOG_USE_MODULE(aiproxy);

typedef struct {
    request_rec *r;
    aip_server_conf *conf;
    aip_route route;
    const aip_client_key *key; /* the client's key, when keys are configured */
    const char *body;          /* the passthrough route: the client's body, read once */
    apr_size_t body_len;
} client_request;

/* Where the body, its parse tree and the upstream bodies go (aip_request_state): NULL once an
 * answer reached the client. */
static apr_pool_t *request_memory(const client_request *cr)
{
    return aip_request_state_of(cr->r)->request_memory;
}

/* code: what went wrong when the status does not say it (see aiproxy_error), or NULL. */
static int send_coded_error(client_request *cr, int status, const char *code, const char *message)
{
    request_rec *r = cr->r;
    aiproxy_error err = {status, NULL, message, code};
    apr_size_t len;
    const char *body = aip_translate->error_body(r->pool, cr->route.proto, &err, &len);

    r->status = status;
    /* httpd knows no reason phrase for some provider statuses (529 "overloaded") and would
     * turn them into 500; name them so the client sees the upstream's own status. */
    if (atoi(ap_get_status_line(status)) != status)
        r->status_line =
            apr_psprintf(r->pool, "%d %s", status, status == 529 ? "Overloaded" : "Upstream Error");
    ap_set_content_type(r, "application/json");
    ap_set_content_length(r, len);
    if (r->header_only)
        return OK;
    ap_rwrite(body, (int) len, r);
    return OK;
}

static int send_error(client_request *cr, int status, const char *message)
{
    return send_coded_error(cr, status, NULL, message);
}

static aip_client_hints client_hints(request_rec *r)
{
    aip_client_hints hints;
    hints.anthropic_version = apr_table_get(r->headers_in, "anthropic-version") != NULL;
    /* Gemini clients send their key as a header or as ?key= (aip_route.h) */
    hints.goog_api_key = apr_table_get(r->headers_in, "x-goog-api-key") != NULL ||
                         (r->args && (!strncmp(r->args, "key=", 4) || strstr(r->args, "&key=")));
    return hints;
}

/* Every name the client may call (aip_model_names.h), as far as its key's scope allows. */
static int list_models(client_request *cr)
{
    request_rec *r = cr->r;
    apr_array_header_t *names = aip_config_model_names(r->pool, cr->conf->cfg);
    apr_array_header_t *models = apr_array_make(r->pool, names->nelts + 1, sizeof(const char *));
    apr_size_t len;
    const char *body;

    for (int i = 0; i < names->nelts; i++) {
        const char *model = APR_ARRAY_IDX(names, i, const char *);
        if (aip_client_key_allows(cr->key, model))
            APR_ARRAY_PUSH(models, const char *) = model;
    }
    body = aip_translate->model_list_body(r->pool, cr->route.proto, models, &len);
    ap_set_content_type(r, "application/json");
    ap_set_content_length(r, len);
    if (!r->header_only)
        ap_rwrite(body, (int) len, r);
    return OK;
}

/* The method word the protocol's own path ends with ("/v1beta/models/m:generateContent"),
 * or NULL. */
static const char *path_method(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *colon = strrchr(slash ? slash : path, ':');
    return colon && colon[1] ? colon + 1 : NULL;
}

/* An upstream with its own endpoint (endpoint=, or its preset's) gets that path, with the
 * upstream model in place of {model}, and its query before the protocol's own. A model that
 * cannot be put into a path answers 400. */
static int apply_endpoint(request_rec *r, const aip_upstream *up, aiproxy_operation op,
                          aip_attempt *at, aiproxy_error *err)
{
    const char *template = aip_upstream_endpoint(up), *path, *query, *msg;

    /* A fixed endpoint is the generation's: a token count keeps its own API's path, unless
     * the endpoint names the method ({method}) and so serves both; a forwarded route (images,
     * audio, rerank) always keeps its own. */
    if (!template || op == AIPROXY_OP_FORWARD ||
        (op != AIPROXY_OP_GENERATE && !aip_endpoint_has_method(template)))
        return 0;
    if ((msg = aip_endpoint_expand(r->pool, template, at->upstream_model, path_method(at->req.path),
                                   &path, &query))) {
        err->status = HTTP_BAD_REQUEST;
        err->message = msg;
        return HTTP_BAD_REQUEST;
    }
    at->req.path = path;
    if (query)
        at->req.query =
            at->req.query ? apr_pstrcat(r->pool, query, "&", at->req.query, NULL) : query;
    return 0;
}

static int refuse_upstream(aiproxy_error *err, const char *message)
{
    err->status = HTTP_BAD_REQUEST;
    err->type = NULL;
    err->message = message;
    err->code = NULL;
    return HTTP_BAD_REQUEST;
}

/* Whether up's api type can serve the route at all (a rerank-only provider has no chat API; a
 * forwarded route goes only to the api types its row names), and where a forwarded body goes.
 * Returns 0, or 400 with *err filled. */
static int route_servable(client_request *cr, const aip_upstream *up, const char **forward_path,
                          aiproxy_error *err)
{
    const aip_forward_route *fr = cr->route.forward;
    apr_pool_t *p = cr->r->pool;

    *forward_path = NULL;
    if (fr && !(*forward_path = aip_forward_upstream_path(fr, up->api_type)))
        return refuse_upstream(err, apr_psprintf(p,
                                                 "%s is served by upstreams of api type %s; "
                                                 "upstream %s is of api type %s",
                                                 fr->path, aip_forward_api_types(p, fr), up->name,
                                                 up->api_type));
    if (!fr && up->forward_only)
        return refuse_upstream(err, apr_psprintf(p,
                                                 "upstream %s (api type %s) serves only "
                                                 "/v1/rerank",
                                                 up->name, up->api_type));
    return 0;
}

/* A fresh id for one attempt (a dialect's envelope names it: Code Assist's user_prompt_id). */
static const char *attempt_id(apr_pool_t *p)
{
    apr_uuid_t uuid;
    char text[APR_UUID_FORMATTED_LENGTH + 1];

    apr_uuid_get(&uuid);
    apr_uuid_format(text, &uuid);
    return apr_pstrdup(p, text);
}

/* Prepare one attempt on up for model (the client's model, or a fallback of it): translated
 * body, path, translator (none for a forwarded body, whose answer passes as it is). Returns 0
 * or an HTTP status with *err filled (the request cannot be expressed for this upstream's
 * protocol). */
AIP_OWN_FRAME static int prepare_attempt(client_request *cr, aiproxy_request *req,
                                         const aip_upstream *up, const char *model, int thinking,
                                         const aiproxy_credential *cred, aip_attempt *at,
                                         aiproxy_error *err)
{
    request_rec *r = cr->r;
    aiproxy_stream_mode client_stream = aip_translate->request_stream(req);
    aiproxy_target target;
    aiproxy_response_spec spec;
    int rc;

    memset(&target, 0, sizeof(target));
    if ((rc = route_servable(cr, up, &target.path, err)) != 0)
        return rc;
    target.proto = up->proto;
    target.model = aip_upstream_model(up, model);
    target.stream = client_stream != AIPROXY_STREAM_NONE;
    target.default_max_tokens = cr->conf->cfg->default_max_tokens;
    target.dialect = up->dialect;
    target.thinking = thinking;
    /* The body may name the credential's account (Kiro's profileArn) or project (Code Assist). */
    target.account = cred ? cred->account : NULL;
    target.project = cred ? cred->project : NULL;
    target.request_id = attempt_id(r->pool);
    rc = aip_translate->request_build(request_memory(cr), req, &target, &at->req, err);
    if (rc)
        return rc;

    at->main = r;
    at->upstream = up;
    at->model = model;
    at->upstream_model = target.model;
    if ((rc = apply_endpoint(r, up, aip_translate->request_operation(req), at, err)) != 0)
        return rc;
    at->filename = apr_pstrcat(r->pool, up->balancer, at->req.path, NULL);
    at->args = apr_pstrdup(r->pool, at->req.query); /* outlives the request memory */
    at->forward = cr->route.forward;
    if (at->forward)
        return 0;

    memset(&spec, 0, sizeof(spec));
    spec.client = cr->route.proto;
    spec.client_stream = client_stream;
    spec.upstream = at->req.proto; /* an operation may live in another API of the upstream */
    spec.upstream_stream = at->req.upstream_stream;
    spec.client_model = aip_translate->request_model(req);
    spec.include_usage = aip_translate->request_wants_stream_usage(req);
    spec.operation = aip_translate->request_operation(req);
    spec.upstream_dialect = up->dialect;
    spec.embed_flags = aip_translate->request_embed_flags(req);
    spec.tool_names = at->req.tool_names;
    at->translator = aip_translate->response_create(r->pool, &spec);
    return 0;
}

/* Upstreams of the model passed over without an attempt, and why. */
typedef struct {
    int circuit_open; /* candidates skipped with their circuit open */
    /* const aip_upstream *: each upstream skipped (once) for want of a usable credential */
    apr_array_header_t *no_credential;
    /* when the soonest of their credentials serves again; 0 when unknown for one of them */
    apr_time_t usable_at;
    int usable_unknown; /* one of them could not say: no Retry-After */
} skipped_candidates;

/* "upstream a has none" / "upstreams a, b have none" */
static const char *without_credential(apr_pool_t *p, const apr_array_header_t *ups)
{
    const char *names = APR_ARRAY_IDX(ups, 0, const aip_upstream *)->name;

    for (int i = 1; i < ups->nelts; i++)
        names =
            apr_pstrcat(p, names, ", ", APR_ARRAY_IDX(ups, i, const aip_upstream *)->name, NULL);
    return apr_psprintf(p, "upstream%s %s %s none", ups->nelts > 1 ? "s" : "", names,
                        ups->nelts > 1 ? "have" : "has");
}

/* The answer when candidates were skipped and none was tried: 503, which clients retry (a 404
 * would tell them the model does not exist), with Retry-After when the credentials say when
 * the soonest of them serves again. */
static int report_skipped(client_request *cr, const skipped_candidates *skipped, const char *model)
{
    request_rec *r = cr->r;
    const apr_array_header_t *ups = skipped->no_credential;
    const char *what, *none, *message, *retry_after = NULL;
    apr_time_t wait = skipped->usable_at - apr_time_now();

    if (!ups || !ups->nelts)
        return send_error(cr, HTTP_SERVICE_UNAVAILABLE,
                          apr_psprintf(r->pool,
                                       "every upstream of model '%s' is temporarily "
                                       "out of service (circuit open)",
                                       model));
    what = *model ? apr_psprintf(r->pool, " for model '%s'", model) : ""; /* passthrough: "" */
    none = without_credential(r->pool, ups);
    message = apr_psprintf(r->pool, "no usable credential%s right now: %s (see the error log)",
                           what, none);
    if (skipped->circuit_open)
        message = apr_psprintf(r->pool, "%s; %d other%s with the circuit open", message,
                               skipped->circuit_open, skipped->circuit_open > 1 ? "s" : "");
    /* an open circuit's own end is not weighed: only a time every skip agrees on is said */
    else if (!skipped->usable_unknown && skipped->usable_at && wait > 0)
        retry_after =
            apr_psprintf(r->pool, "%" APR_TIME_T_FMT, apr_time_sec(wait + APR_USEC_PER_SEC - 1));
    if (retry_after)
        apr_table_setn(r->headers_out, "Retry-After", retry_after);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                  AIPLOGNO(00205) "nothing tried%s: %s; answering 503%s%s", what, none,
                  retry_after ? ", Retry-After " : "", retry_after ? retry_after : "");
    return send_error(cr, HTTP_SERVICE_UNAVAILABLE, message);
}

/* The one error the client gets when no upstream answered: the last upstream's own status
 * and message when there was an attempt, else why none was made. */
static int report_failure(client_request *cr, const aip_attempt *last, int attempts,
                          const skipped_candidates *skipped, const char *model)
{
    request_rec *r = cr->r;
    const char *detail;
    int status;

    if (!last && (skipped->circuit_open || skipped->no_credential))
        return report_skipped(cr, skipped, model);
    if (!last)
        return send_coded_error(cr, HTTP_NOT_FOUND, "model_not_found",
                                apr_psprintf(r->pool, "no upstream serves model '%s'", model));
    if (last->outcome == AIP_OUTCOME_GATEWAY_FAILURE)
        return send_error(cr, HTTP_INTERNAL_SERVER_ERROR,
                          apr_psprintf(r->pool,
                                       "the gateway could not set up its request to upstream %s "
                                       "(see the server's error log)",
                                       last->upstream->name));
    if (last->outcome == AIP_OUTCOME_ERROR_STATUS) {
        status = last->status;
        detail = last->error_len
                     ? aip_translate->error_message_from_body(r->pool, last->upstream->proto,
                                                              last->error_body, last->error_len)
                     : NULL;
        if (last->retry_after)
            apr_table_setn(r->headers_out, "Retry-After", last->retry_after);
        return send_error(cr, status,
                          apr_psprintf(r->pool, "upstream %s answered %d: %s", last->upstream->name,
                                       status, detail ? detail : "no error message"));
    }
    if (last->outcome == AIP_OUTCOME_ERROR_EVENT)
        return send_error(cr, HTTP_BAD_GATEWAY,
                          apr_psprintf(r->pool,
                                       "upstream %s ended its answer with an error "
                                       "before any content (%d attempt%s)",
                                       last->upstream->name, attempts, attempts == 1 ? "" : "s"));
    return send_error(cr, HTTP_BAD_GATEWAY,
                      apr_psprintf(r->pool, "no upstream could be reached (%d attempt%s, last: %s)",
                                   attempts, attempts == 1 ? "" : "s", last->upstream->name));
}

/* What the request learned from one finished attempt: the failure counts against the
 * upstream's breaker for the model; its Retry-After, in seconds, goes to *cooldown for the
 * caller, who knows whether it is the upstream's or only its credential's. */
static aip_verdict judge_attempt(client_request *cr, const aip_attempt *at, long *cooldown)
{
    aip_failure_kind kind = at->outcome == AIP_OUTCOME_ERROR_STATUS  ? AIP_FAILURE_STATUS
                            : at->outcome == AIP_OUTCOME_ERROR_EVENT ? AIP_FAILURE_ERROR_EVENT
                                                                     : AIP_FAILURE_NO_RESPONSE;
    aip_verdict verdict = aip_failover_verdict(kind, at->status);
    const aip_config *cfg = cr->conf->cfg;
    apr_uint32_t now = (apr_uint32_t) apr_time_sec(apr_time_now());

    *cooldown = 0;
    if (verdict.counts_against) {
        aip_breaker_slot *slot = aip_breaker_for(cr->r->pool, at->upstream, at->model, 1);
        *cooldown = aip_retry_after_seconds(at->retry_after, now, cfg->breaker_open_seconds);
        int was_open = aip_breaker_is_open(slot, now);
        if (slot) {
            apr_uint32_t before = slot->open_until;
            aip_breaker_record_failure(slot, now, cfg->breaker_failures, cfg->breaker_open_seconds,
                                       0, at->status ? at->status : HTTP_BAD_GATEWAY);
            aip_shared_publish(cr->r->pool, at->upstream->balancer, AIP_BREAKER_MODEL, at->model,
                               before, slot);
        }
        if (!was_open && aip_breaker_is_open(slot, now))
            aip_metrics_breaker_opened(at);
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, cr->r,
                  AIPLOGNO(00201) "upstream %s failed for model %s (%s %d)%s", at->upstream->name,
                  at->model,
                  kind == AIP_FAILURE_STATUS        ? "status"
                  : kind == AIP_FAILURE_ERROR_EVENT ? "error event"
                                                    : "no response",
                  at->status, verdict.try_next ? ", trying the next" : "");
    return verdict;
}

/* Keep up out for model for the cooldown an answer asked for (Retry-After). */
static void cool_down(client_request *cr, const aip_upstream *up, const char *model, long seconds)
{
    aip_breaker_slot *slot;
    apr_uint32_t now = (apr_uint32_t) apr_time_sec(apr_time_now());

    if (seconds > 0 && (slot = aip_breaker_for(cr->r->pool, up, model, 1)) != NULL) {
        apr_uint32_t before = slot->open_until;
        aip_breaker_hold_open(slot, now, seconds);
        aip_shared_publish(cr->r->pool, up->balancer, AIP_BREAKER_MODEL, model, before, slot);
    }
}

/* Tell the attempt's credential provider what the upstream answered, and return what it
 * says: anything but OK makes another credential (or the same one again) worth a try first. */
static aiproxy_credential_verdict report_to_provider(const aip_attempt *at, void *cursor)
{
    aiproxy_upstream_answer answer = {0, NULL, NULL, 0};

    if (at->outcome == AIP_OUTCOME_ERROR_STATUS) {
        answer.status = at->status;
        answer.headers = at->error_headers;
        answer.body = at->error_body;
        answer.body_len = at->error_len;
    }
    return at->credentials->provider->report(at->credentials->source, cursor, at->credential,
                                             &answer);
}

/* The passthrough attempt on up: the client's method, path below the route, query and body,
 * to the upstream as they came. */
AIP_OWN_FRAME static int prepare_passthrough(client_request *cr, const aip_upstream *up,
                                             aip_attempt *at)
{
    request_rec *r = cr->r;

    at->main = r;
    at->upstream = up;
    at->model = at->upstream_model = "";
    at->passthrough = 1;
    at->method = r->method;
    at->req.proto = up->proto;
    at->req.body = cr->body;
    at->req.len = cr->body_len;
    /* the route matched on the decoded path, and the refused encodings cannot reappear */
    at->req.path = ap_escape_uri(r->pool, cr->route.rest);
    at->req.accept = apr_table_get(r->headers_in, "Accept");
    at->filename = apr_pstrcat(r->pool, up->balancer, at->req.path, NULL);
    at->args = aip_route_without_key(r->pool, r->args); /* the client's own key stays here */
    return 0;
}

/* One client request's walk over its candidates (upstreams of the model and its fallbacks),
 * and what it has learned so far. */
typedef struct {
    client_request *cr;
    aiproxy_request *req;
    int thinking;               /* the name asked for thinking (-thinking suffix) */
    aip_attempt *last;          /* the last attempt made, or NULL */
    int attempts;               /* attempts made (the AIPROXY_ATTEMPTS variable) */
    skipped_candidates skipped; /* candidates passed over without an attempt */
    int unexpressible;          /* status of the last upstream that could not express the request */
    aiproxy_error build_err;    /* and why */
} candidate_run;

/* Make one attempt on up for model with cred, to its fallback base fb (NULL: its base URL).
 * Returns NULL when the request cannot be expressed in up's protocol (run->unexpressible and
 * run->build_err say why). */
static aip_attempt *attempt(candidate_run *run, const aip_upstream *up, const char *model,
                            const aip_credentials *credentials, const aiproxy_credential *cred,
                            const aip_fallback_base *fb)
{
    request_rec *r = run->cr->r;
    aip_attempt *at = apr_pcalloc(r->pool, sizeof(*at));
    int status = run->cr->route.kind == AIP_ROUTE_PASSTHROUGH
                     ? prepare_passthrough(run->cr, up, at)
                     : prepare_attempt(run->cr, run->req, up, model, run->thinking, cred, at,
                                       &run->build_err);

    if (status) {
        run->unexpressible = status;
        return NULL;
    }
    at->credentials = credentials;
    at->credential = cred;
    at->base = fb;
    aip_attempt_run(at);
    if (at->outcome != AIP_OUTCOME_NO_CREDENTIAL) {
        if (run->last) /* the request moves on from a failed try */
            aip_metrics_failover(run->last);
        aip_metrics_attempt(at);
        run->attempts++;
        apr_table_setn(r->subprocess_env, "AIPROXY_ATTEMPTS", apr_itoa(r->pool, run->attempts));
        run->last = at;
    }
    return at;
}

/* Does at's failure move the request on to up's next base URL (aip_base_fallback.h)? */
static int wants_next_base(const aip_attempt *at)
{
    aip_failure_kind kind;

    switch (at->outcome) {
    case AIP_OUTCOME_NO_RESPONSE:
        kind = AIP_FAILURE_NO_RESPONSE;
        break;
    case AIP_OUTCOME_ERROR_STATUS:
        kind = AIP_FAILURE_STATUS;
        break;
    default:
        return 0; /* answered, or an error event: another endpoint would not change it */
    }
    return aip_base_fallback_wanted(at->upstream, kind, at->status, at->error_body, at->error_len);
}

/* One credential's attempt on up: its base URL, then each fallback base in rotation while the
 * failure is one the api type moves on from. The attempts before the last are the endpoint's
 * failures, not the upstream's or the credential's: only the last is judged and reported.
 * Returns the last attempt, or NULL (see attempt()). */
static aip_attempt *attempt_on_bases(candidate_run *run, const aip_upstream *up, const char *model,
                                     const aip_credentials *credentials,
                                     const aiproxy_credential *cred)
{
    request_rec *r = run->cr->r;
    aip_attempt *at = attempt(run, up, model, credentials, cred, NULL);

    for (int i = 0; at && i < up->fallbacks->nelts && wants_next_base(at); i++) {
        const aip_fallback_base *fb = &APR_ARRAY_IDX(up->fallbacks, i, aip_fallback_base);
        if (!aip_fallback_in_rotation(r, up, fb))
            continue;
        /* no answer at all may be the network's (egress, DNS) and the administrator's to
         * fix; a 429 or a full host is the provider's routine */
        ap_log_rerror(
            APLOG_MARK, at->outcome == AIP_OUTCOME_NO_RESPONSE ? APLOG_WARNING : APLOG_INFO, 0, r,
            AIPLOGNO(00203) "upstream %s: %s %s (%s), trying its fallback base %s", up->name,
            at->base ? at->base->url : up->base_url,
            at->outcome == AIP_OUTCOME_NO_RESPONSE ? "did not answer" : "answered",
            at->outcome == AIP_OUTCOME_NO_RESPONSE ? "no response" : apr_itoa(r->pool, at->status),
            fb->url);
        at = attempt(run, up, model, credentials, cred, fb);
    }
    return at;
}

/* The provider asked to wait out a short limit before the same credential's next attempt:
 * wait, bounded, before anything reached the client. */
static void wait_for_retry(request_rec *r, const aip_upstream *up, const aiproxy_credential *cred,
                           apr_time_t until)
{
    apr_time_t wait = until - apr_time_now();

    if (wait > AIPROXY_CREDENTIAL_RETRY_MAX)
        wait = AIPROXY_CREDENTIAL_RETRY_MAX;
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                  AIPLOGNO(00204) "upstream %s: %s is rate limited for %" APR_TIME_T_FMT
                                  " ms; trying it again then",
                  up->name, cred->label, wait > 0 ? apr_time_as_msec(wait) : 0);
    if (wait > 0)
        apr_sleep(wait);
}

/* up cannot be tried for want of a usable credential: remember it, and when its soonest
 * credential serves again. */
static void skip_without_credential(candidate_run *run, const aip_upstream *up)
{
    skipped_candidates *skipped = &run->skipped;
    apr_pool_t *p = run->cr->r->pool;
    apr_time_t at;

    if (!skipped->no_credential)
        skipped->no_credential = apr_array_make(p, 2, sizeof(const aip_upstream *));
    for (int i = 0; i < skipped->no_credential->nelts; i++)
        if (APR_ARRAY_IDX(skipped->no_credential, i, const aip_upstream *) == up)
            return; /* met again under a fallback model */
    APR_ARRAY_PUSH(skipped->no_credential, const aip_upstream *) = up;
    at = aip_credentials_usable_at(&run->cr->conf->credentials[up->index], p);
    if (!at)
        skipped->usable_unknown = 1;
    else if (!skipped->usable_at || at < skipped->usable_at)
        skipped->usable_at = at;
}

/* Try up for model, with another of its credentials while its provider says one is worth a
 * try. Returns whether the request should go on to the next candidate. A Retry-After on an
 * answer the provider blames on the credential keeps the upstream out only once no other
 * credential is left: the provider benches the credential itself. */
static int try_upstream(candidate_run *run, const aip_upstream *up, const char *model)
{
    request_rec *r = run->cr->r;
    const aip_credentials *credentials = &run->cr->conf->credentials[up->index];
    void *cursor = credentials->provider->begin(credentials->source, r);
    const aiproxy_credential *cred;
    long credential_cooldown = 0; /* the longest asked for by a credential's answer */
    int attempts = run->attempts;

    while ((cred = credentials->provider->next(credentials->source, cursor)) != NULL) {
        aip_attempt *at;
        aiproxy_credential_verdict said;
        aip_verdict verdict;
        long cooldown;

        /* Bytes of an answer reached the client and took the request with them: an answer
         * is only ever committed then, so this does not happen; if it did, nothing is left
         * to send. */
        if (!request_memory(run->cr))
            return 0;
        at = attempt_on_bases(run, up, model, credentials, cred);

        if (!at)
            return 1; /* another upstream may speak a protocol that can express it */
        switch (at->outcome) {
        case AIP_OUTCOME_COMMITTED: {
            aip_breaker_slot *slot = aip_breaker_for(r->pool, up, model, 0);
            if (slot)
                aip_breaker_record_success(slot);
            (void) report_to_provider(at, cursor);
            return 0;
        }
        case AIP_OUTCOME_GATEWAY_FAILURE:
            /* Nothing reached the upstream: blame no one, and stop, since every other
             * attempt would be set up the same way. */
            return 0;
        case AIP_OUTCOME_NO_CREDENTIAL:
            continue;
        default:
            break;
        }
        verdict = judge_attempt(run->cr, at, &cooldown);
        said = report_to_provider(at, cursor);
        if (said.outcome == AIPROXY_CREDENTIAL_OK || !verdict.try_next) {
            cool_down(run->cr, up, model, cooldown);
            return verdict.try_next;
        }
        if (said.outcome == AIPROXY_CREDENTIAL_RETRY) {
            wait_for_retry(r, up, cred, said.until);
            continue; /* the answer's Retry-After was the credential's, now waited out */
        }
        if (cooldown > credential_cooldown)
            credential_cooldown = cooldown;
    }
    /* in rotation, yet no credential could be sent (a Code Assist project not found) */
    if (run->attempts == attempts)
        skip_without_credential(run, up);
    cool_down(run->cr, up, model, credential_cooldown);
    return 1;
}

/* Can up be tried for model now? Counts a skip for an open circuit or a missing credential. */
static int candidate_ready(candidate_run *run, const aip_upstream *up, const char *model,
                           apr_uint32_t now)
{
    request_rec *r = run->cr->r;

    switch (aip_upstream_rotation(r, run->cr->conf, up, model, now)) {
    case AIP_ROTATION_READY:
        return 1;
    case AIP_ROTATION_NO_CREDENTIAL:
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      AIPLOGNO(00202) "upstream %s skipped: no usable credential", up->name);
        skip_without_credential(run, up);
        return 0;
    case AIP_ROTATION_CIRCUIT_OPEN:
        run->skipped.circuit_open++;
        return 0;
    default:
        return 0;
    }
}

/* The model's upstreams in weighted order, then its fallback's, and so on (cycles are refused
 * at startup), until one answers or a failure must go to the client. */
static int run_candidates(client_request *cr, aiproxy_request *req, const char *first_model,
                          int thinking)
{
    const aip_config *cfg = cr->conf->cfg;
    /* in the pool: this frame lies under the attempts (aip_frame.h) */
    candidate_run *run = apr_pcalloc(cr->r->pool, sizeof(*run));

    run->cr = cr;
    run->req = req;
    run->thinking = thinking;
    for (const char *model = first_model; model; model = aip_config_fallback(cfg, model)) {
        /* in the pool too (2 KiB on the stack for AIP_MAX_UPSTREAMS) */
        int room = aip_select_room(cr->conf->selector, model);
        const aip_upstream **order = apr_palloc(cr->r->pool, sizeof(*order) * (room ? room : 1));
        int n = aip_select_order(cr->conf->selector, model, order, room);
        apr_uint32_t now = (apr_uint32_t) apr_time_sec(apr_time_now());

        for (int i = 0; i < n; i++) {
            if (!candidate_ready(run, order[i], model, now))
                continue;
            if (!try_upstream(run, order[i], model)) {
                if (run->last && run->last->outcome == AIP_OUTCOME_COMMITTED)
                    return OK;
                return report_failure(cr, run->last, run->attempts, &run->skipped, model);
            }
        }
    }
    if (!run->last && run->unexpressible)
        return send_error(cr, run->unexpressible, run->build_err.message);
    return report_failure(cr, run->last, run->attempts, &run->skipped, first_model);
}

/* Read and decode the client body as the route takes it: JSON, or for an upload route
 * multipart/form-data (the core reads its boundary), capped by the route's limit. Returns OK or
 * an HTTP status with *err filled. */
static int read_body(client_request *cr, char **body, apr_size_t *len, aiproxy_error *err)
{
    request_rec *r = cr->r;
    const aip_forward_route *fr = cr->route.forward;
    apr_off_t max = fr ? aip_forward_max_body(fr, cr->conf->cfg) : cr->conf->cfg->max_body;

    apr_pool_t *p = request_memory(cr);

    if (cr->route.kind == AIP_ROUTE_PASSTHROUGH)
        return aip_translate->read_client_body_any(r, p, max, "AIProxyMaxBodySize", body, len, err);
    if (fr && fr->body == AIP_FORWARD_MULTIPART) {
        cr->route.info.content_type = apr_table_get(r->headers_in, "Content-Type");
        if (!cr->route.info.content_type)
            cr->route.info.content_type = "";
        return aip_translate->read_client_body_any(r, p, max, "AIProxyMaxBodySize", body, len, err);
    }
    return aip_translate->read_client_body(r, p, max, "AIProxyMaxBodySize", body, len, err);
}

/* Read, decode and parse the client body. Returns NULL when an error went to the client. */
AIP_OWN_FRAME static aiproxy_request *read_request(client_request *cr)
{
    request_rec *r = cr->r;
    aiproxy_error err = {0, NULL, NULL, NULL};
    aiproxy_request *req = NULL;
    char *body = NULL;
    apr_size_t len = 0;

    if (read_body(cr, &body, &len, &err) == OK)
        req = aip_translate->request_parse(request_memory(cr), cr->route.proto, body, len,
                                           &cr->route.info, &err);
    if (!req) {
        send_error(cr, err.status, err.message);
        return NULL;
    }
    apr_table_set(r->subprocess_env, "AIPROXY_MODEL", aip_translate->request_model(req));
    return req;
}

/* The request is counted in the metrics (mod_aiproxy_metrics.c), under its model. */
static void count_as_request(client_request *cr, const char *model)
{
    aip_request_state *state = aip_request_state_of(cr->r);

    state->generation = 1;
    state->proto = cr->route.proto;
    state->model = model;
}

static int serve_generation(client_request *cr)
{
    aiproxy_request *req = read_request(cr);
    const char *model;
    int thinking;

    if (!req)
        return OK;
    /* The -thinking suffix is a generation's (a token count names the same model); a
     * forwarded body (images, audio, rerank) keeps the name it has. */
    /* copied: the request's memory goes while the answer streams, the name is used after */
    model = apr_pstrdup(cr->r->pool, aip_translate->request_model(req));
    thinking = 0;
    if (aip_translate->request_operation(req) != AIPROXY_OP_FORWARD)
        model = aip_model_route_name(cr->r->pool, cr->conf->cfg, model, &thinking);
    count_as_request(cr, model);
    /* OpenAI's answer for a model the key may not use: the same 404 as for an unknown one,
     * so a key cannot probe which models exist. */
    if (!aip_client_key_allows(cr->key, model))
        return send_coded_error(
            cr, HTTP_NOT_FOUND, "model_not_found",
            apr_psprintf(cr->r->pool,
                         "The model '%s' does not exist or you do not have access to it.", model));
    return run_candidates(cr, req, model, thinking);
}

/* ANY /passthrough/{upstream}/{rest}: the named upstream only, with its own credentials; its
 * answer, error or not, goes to the client as it is. */
static int serve_passthrough(client_request *cr)
{
    request_rec *r = cr->r;
    const aip_upstream *up = aip_config_find_upstream(cr->conf->cfg, cr->route.upstream);
    const char *raw = r->unparsed_uri ? r->unparsed_uri : r->uri;
    const char *query = strchr(raw, '?');
    aiproxy_error err = {0, NULL, NULL, NULL};
    char *body = NULL;
    candidate_run run;

    if (!aip_passthrough_path_safe(query ? apr_pstrmemdup(r->pool, raw, query - raw) : raw))
        return send_error(cr, HTTP_BAD_REQUEST,
                          "the passthrough path must not hold '.' or '..' segments, "
                          "backslashes, control characters or encoded slashes");
    if (!up)
        return send_coded_error(cr, HTTP_NOT_FOUND, "unknown_upstream",
                                apr_psprintf(r->pool, "no upstream is named '%s'",
                                             ap_escape_html(r->pool, cr->route.upstream)));
    /* A key limited to models may not reach an upstream past its scope. */
    if (cr->key && cr->key->models->nelts)
        return send_coded_error(cr, HTTP_FORBIDDEN, "permission_denied",
                                "this API key is limited to models and may not use the "
                                "passthrough route");
    if (read_body(cr, &body, &cr->body_len, &err) != OK)
        return send_error(cr, err.status, err.message);
    cr->body = body;
    count_as_request(cr, NULL); /* no model: counted as "other" */
    /* disabled (here or in balancer-manager), no usable credential, or its circuit open */
    if (!up->enabled ||
        aip_upstream_rotation(r, cr->conf, up, "", (apr_uint32_t) apr_time_sec(apr_time_now())) !=
            AIP_ROTATION_READY)
        return send_error(cr, HTTP_SERVICE_UNAVAILABLE,
                          apr_psprintf(r->pool, "upstream %s is out of service", up->name));
    memset(&run, 0, sizeof(run));
    run.cr = cr;
    try_upstream(&run, up, "");
    if (run.last && run.last->outcome == AIP_OUTCOME_COMMITTED)
        return OK;
    return report_failure(cr, run.last, run.attempts, &run.skipped, "");
}

/* A short random id tying the client's answer to the error log and the access log. */
static const char *request_id(request_rec *r)
{
    unsigned char raw[12];
    char *hex = apr_palloc(r->pool, sizeof(raw) * 2 + 1);
    const char *unique = apr_table_get(r->subprocess_env, "UNIQUE_ID");

    if (unique)
        return unique;
    if (apr_generate_random_bytes(raw, sizeof(raw)) != APR_SUCCESS)
        return apr_psprintf(r->pool, "%" APR_TIME_T_FMT, r->request_time);
    ap_bin2hex(raw, sizeof(raw), hex);
    return apr_pstrcat(r->pool, "aip_", hex, NULL);
}

/* A Gemini client may send its key in the URL (?key=): once read, it is replaced in the request
 * line, URI and query, so that the access log (%r, %U%q), error pages and anything reading
 * them later never show it. The client's query never goes to an upstream. */
/* text (a request line or URI) with the query after its first '?' (where a query starts: a
 * path holds no bare '?') replaced, when that query is original. */
static char *with_query(apr_pool_t *p, char *text, const char *original, const char *replacement)
{
    const char *q = text ? strchr(text, '?') : NULL;
    apr_size_t n = strlen(original);

    if (!q || strncmp(q + 1, original, n))
        return text;
    return apr_pstrcat(p, apr_pstrmemdup(p, text, (apr_size_t) (q + 1 - text)), replacement,
                       q + 1 + n, NULL);
}

static void redact_query_key(request_rec *r)
{
    const char *redacted = r->args ? aip_route_redact_key(r->pool, r->args) : NULL;

    if (!redacted)
        return;
    r->the_request = with_query(r->pool, r->the_request, r->args, redacted);
    r->unparsed_uri = with_query(r->pool, r->unparsed_uri, r->args, redacted);
    r->args = r->parsed_uri.query = apr_pstrdup(r->pool, redacted);
}

static int aip_handler(request_rec *r)
{
    client_request *cr; /* in the pool: this frame lies under the attempts (aip_frame.h) */
    aip_client_hints hints;
    const char *limited, *offered_key;

    if (!r->handler || strcmp(r->handler, AIP_HANDLER_NAME) || r->main)
        return DECLINED;
    cr = apr_pcalloc(r->pool, sizeof(*cr));
    cr->r = r;
    cr->conf = ap_get_module_config(r->server->module_config, &aiproxy_module);
    aip_request_state_create(r);
    {
        const char *id = request_id(r);
        /* err_headers_out go out with every answer, success or error: set once there. */
        apr_table_setn(r->err_headers_out, "X-AIProxy-Request-Id", id);
        apr_table_setn(r->subprocess_env, "AIPROXY_REQUEST_ID", id);
    }
    offered_key = aip_translate->client_key(r);
    redact_query_key(r);

    if (aip_route_find(r->pool, r->uri, r->args, &cr->route, NULL) != AIP_ROUTE_MATCHED) {
        hints = client_hints(r);
        cr->route.proto = aip_route_guess_proto(r->uri, &hints);
        /* OpenAI's own words for this ("Invalid URL (POST /v1/x)"), not "model not found". */
        return send_coded_error(cr, HTTP_NOT_FOUND, "unknown_url",
                                apr_psprintf(r->pool, "Invalid URL (%s %s): no such endpoint",
                                             r->method, ap_escape_html(r->pool, r->uri)));
    }
    if (cr->route.kind == AIP_ROUTE_MODELS) {
        hints = client_hints(r);
        if (cr->route.proto != AIPROXY_PROTO_GEMINI && hints.anthropic_version)
            cr->route.proto = AIPROXY_PROTO_ANTHROPIC;
    }
    if (cr->route.method && strcmp(r->method, cr->route.method) &&
        !(r->method_number == M_GET && !strcmp(cr->route.method, "GET"))) {
        apr_table_setn(r->headers_out, "Allow", cr->route.method);
        return send_error(
            cr, HTTP_METHOD_NOT_ALLOWED,
            apr_psprintf(r->pool, "%s is not allowed here; use %s", r->method, cr->route.method));
    }
    if (cr->route.kind == AIP_ROUTE_LIVEZ || cr->route.kind == AIP_ROUTE_READYZ)
        return aip_serve_health(r, cr->conf, cr->route.kind == AIP_ROUTE_READYZ);
    if (cr->conf->cfg->client_keys->nelts &&
        !(cr->key = aip_config_find_client_key(cr->conf->cfg, offered_key))) {
        apr_table_setn(r->err_headers_out, "WWW-Authenticate", "Bearer");
        return send_error(cr, HTTP_UNAUTHORIZED,
                          "invalid or missing API key (send it as Authorization: Bearer, "
                          "x-api-key or x-goog-api-key)");
    }
    if (cr->route.kind == AIP_ROUTE_MODELS)
        return list_models(cr);
    if (cr->route.kind == AIP_ROUTE_PROVIDER_METRICS)
        return aip_metrics_serve_providers(r, cr->conf);
    if ((limited = aip_limits_admit(r, cr->key)) != NULL)
        return send_coded_error(cr, HTTP_TOO_MANY_REQUESTS, "rate_limit_exceeded", limited);
    aip_request_state_of(r)->client_key = cr->key;
    if (cr->route.kind == AIP_ROUTE_PASSTHROUGH)
        return serve_passthrough(cr);
    return serve_generation(cr);
}

/* Before mod_log_config writes the access log: what the answering attempt reported. */
static int export_log_variables(request_rec *r)
{
    aip_request_state *state;
    const aiproxy_response_info *info;
    apr_table_t *env = r->subprocess_env;

    if (!(state = aip_request_state_of(r)) || !state->committed)
        return DECLINED;
    if (!state->committed->translator) { /* forwarded as it came: nothing counted */
        apr_table_setn(env, "AIPROXY_UPSTREAM_MODEL", state->committed->upstream_model);
        return DECLINED;
    }
    info = aip_translate->response_info(state->committed->translator);
    apr_table_setn(env, "AIPROXY_UPSTREAM_MODEL", state->committed->upstream_model);
    apr_table_setn(env, "AIPROXY_INPUT_TOKENS",
                   apr_psprintf(r->pool, "%" APR_INT64_T_FMT, (apr_int64_t) info->input_tokens));
    apr_table_setn(env, "AIPROXY_OUTPUT_TOKENS",
                   apr_psprintf(r->pool, "%" APR_INT64_T_FMT, (apr_int64_t) info->output_tokens));
    if (info->input_tokens + info->output_tokens > 0)
        aip_limits_count_tokens(state->client_key,
                                (apr_uint64_t) (info->input_tokens + info->output_tokens));
    apr_table_setn(env, "AIPROXY_TTFB_US",
                   apr_psprintf(r->pool, "%" APR_TIME_T_FMT,
                                state->committed->committed_at - r->request_time));
    return DECLINED;
}

/* Client requests the gateway serves are not files: like mod_proxy, skip httpd's directory
 * walk for them (a stat() per path segment and .htaccess lookups on every request). Whether
 * the <Location> sets "SetHandler aiproxy" is known once the location walk has run, which is
 * before translate_name; map_to_storage then only reads the note. */
static int note_gateway_request(request_rec *r)
{
    core_dir_config *dconf = ap_get_core_module_config(r->per_dir_config);
    const char *err = NULL, *handler;

    if (r->main || !dconf->expr_handler)
        return DECLINED;
    handler = ap_expr_str_exec(r, dconf->expr_handler, &err);
    if (!err && handler && !strcmp(handler, AIP_HANDLER_NAME))
        apr_table_setn(r->notes, "aiproxy-request", "1");
    return DECLINED;
}

/* ... and, last among the translate_name hooks (after mod_rewrite and mod_alias, before
 * httpd's own mapping onto DocumentRoot, which refuses paths longer than the file system
 * allows with a bare 403), name the request as mod_proxy does, so that a path the file system
 * could not hold still gets its answer in the client's protocol. */
static int claim_gateway_request(request_rec *r)
{
    if (!apr_table_get(r->notes, "aiproxy-request"))
        return DECLINED;
    r->filename = apr_pstrcat(r->pool, "aiproxy:", r->uri, NULL);
    return OK;
}

static int skip_directory_walk(request_rec *r)
{
    return apr_table_get(r->notes, "aiproxy-request") ? OK : DECLINED;
}

void aip_handler_register_hooks(apr_pool_t *p)
{
    static const char *const before_log[] = {"mod_log_config.c", NULL};
    ap_hook_handler(aip_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_translate_name(note_gateway_request, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_translate_name(claim_gateway_request, NULL, NULL, APR_HOOK_LAST);
    ap_hook_map_to_storage(skip_directory_walk, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_log_transaction(export_log_variables, NULL, before_log, APR_HOOK_FIRST);
}
