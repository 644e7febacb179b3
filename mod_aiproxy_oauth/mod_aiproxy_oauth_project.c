/*
 * mod_aiproxy_oauth_project.c: the Code Assist project of a Google login (geminicli,
 * antigravity), which every request body names (aiproxy_credential.project).
 *
 * The auth file's project_id (CLIProxyAPI and aiproxy files) is taken as is. A file without
 * one (gemini-cli's own oauth_creds.json) has it discovered before its first request, the
 * way gemini-cli does (oa_project.h): loadCodeAssist, then onboardUser when the account has
 * no tier yet. The answer is kept in the credential's slot, shared by every child, and
 * discovered once: under the slot's lease, so a child that finds the lease taken waits for
 * the holder's result instead of asking again. A refresh that brings another account (its
 * email) drops a discovered project (oa_tokens_from_credential), which is then found again.
 *
 * The setup calls follow the upstream's endpoint fallback (fallback_base=) as its requests do:
 * an answer that moves an attempt to the next base moves the call there too.
 *
 * A failure keeps the credential out of rotation for the default cooldown (the next file
 * serves meanwhile); a 401 marks its token refused, so take() refreshes it and asks again.
 */
#include <string.h>
#include "httpd.h"
#include "http_log.h"
#include "apr_strings.h"
#include "mod_aiproxy_oauth.h"
#include "oa_project.h"
#include "aip_fallback_trigger.h"
#include "aiproxy_log.h"

APLOG_USE_MODULE(aiproxy_oauth);

/* Seconds the lease outlasts the discovery's HTTP calls (every poll with its timeout). */
#define LEASE_MARGIN 15

int oa_project_needed(oa_provider provider)
{
    return provider == OA_PROVIDER_GEMINICLI || provider == OA_PROVIDER_ANTIGRAVITY;
}

/* One discovery's working state. */
typedef struct {
    apr_pool_t *pool;
    oa_file *file;
    apr_table_t *headers; /* Authorization and the dialect's identity headers */
    int base;             /* where its calls go now: 0 the base URL, i its i-th fallback base */
    int status;           /* the last answer's HTTP status */
} discovery;

/* How many fallback bases src has (endpoint fallback). */
static int fallback_count(const oa_source *src)
{
    return src->fallback_base_urls ? src->fallback_base_urls->nelts : 0;
}

/* Base i of src: its base URL, then its fallback bases in order. */
static const char *base_of(const oa_source *src, int i)
{
    return i ? APR_ARRAY_IDX(src->fallback_base_urls, i - 1, const char *) : src->base_url;
}

static const char *url_of(const discovery *d, const char *base, const char *path)
{
    apr_size_t n = strlen(base);

    while (n && base[n - 1] == '/')
        n--;
    return apr_pstrcat(d->pool, apr_pstrmemdup(d->pool, base, n), path, NULL);
}

/* The base d's call to path failed in a way the upstream's endpoint fallback moves on from: say
 * so, as mod_aiproxy does for an attempt (no answer at all may be the network's to look into, a
 * 429 or a full host is the provider's routine). */
static void log_next_base(const discovery *d, const char *path, const oa_http_answer *answer)
{
    const oa_source *src = d->file->source;

    ap_log_error(APLOG_MARK, answer->status ? APLOG_INFO : APLOG_WARNING, 0, src->server,
                 AIPLOGNO(02067) "upstream %s: auth file %s: %s: %s %s (%s), trying its "
                                 "fallback base %s",
                 src->upstream, d->file->path, path + 1, base_of(src, d->base),
                 answer->status ? "answered" : "did not answer",
                 answer->status ? apr_itoa(d->pool, answer->status) : answer->error,
                 base_of(src, d->base + 1));
}

/* One setup call: at the discovery's base, then at each later one while the answer is one the
 * upstream's attempts move on to the next base after (aip_fallback_triggered), so a discovery
 * goes where its requests would. The discovery stays at the base that answered: its further
 * calls (onboardUser polls) do not wait on the failing one again. */
static void call(discovery *d, const char *path, const char *body, oa_http_answer *answer)
{
    const oa_source *src = d->file->source;

    for (;;) {
        oa_http_post_json(d->pool, src->conf, url_of(d, base_of(src, d->base), path), d->headers,
                          body, answer);
        if (d->base >= fallback_count(src) ||
            !aip_fallback_triggered(src->fallback_triggers, answer->status, answer->body,
                                    answer->len))
            break;
        log_next_base(d, path, answer);
        d->base++;
    }
    d->status = answer->status;
}

/* The project of the account holding token: NULL and *why when it cannot be found. */
static const char *discover(discovery *d, const char *token, const char **how, const char **why)
{
    oa_provider provider = d->file->source->provider;
    oa_http_answer answer;
    oa_project_step step;
    const char *body, *tier;

    apr_table_setn(d->headers, "Authorization", apr_pstrcat(d->pool, "Bearer ", token, NULL));
    oa_set_identity_headers(d->pool, d->file->source->conf, provider, NULL, d->headers);
    call(d, OA_LOAD_CODE_ASSIST_PATH, oa_project_load_body(d->pool, provider), &answer);
    oa_project_read_load(d->pool, answer.status, answer.body, answer.len, &step);
    if (step.outcome == OA_PROJECT_FOUND) {
        *how = "found";
        return step.project;
    }
    if (step.outcome != OA_PROJECT_ONBOARD) {
        *why = answer.status ? step.why
                             : apr_pstrcat(d->pool, step.why, " (", answer.error, ")", NULL);
        return NULL;
    }
    /* A long-running operation: asked again, a bounded number of times, while not done. */
    tier = step.tier; /* the onboardUser answers' steps do not name it */
    body = oa_project_onboard_body(d->pool, provider, tier);
    for (int poll = 0; poll < OA_ONBOARD_POLLS; poll++) {
        if (poll)
            apr_sleep(OA_ONBOARD_INTERVAL);
        call(d, OA_ONBOARD_USER_PATH, body, &answer);
        oa_project_read_onboard(d->pool, answer.status, answer.body, answer.len, &step);
        if (step.outcome == OA_PROJECT_FOUND) {
            *how = apr_pstrcat(d->pool, "onboarded to ", tier, NULL);
            return step.project;
        }
        if (step.outcome == OA_PROJECT_FAILED) {
            *why = step.why;
            return NULL;
        }
    }
    *why = apr_psprintf(d->pool, "onboardUser still running after %d polls", OA_ONBOARD_POLLS);
    return NULL;
}

/* Under the lease: the slot's project, discovered now when it has none. */
static int ensure_locked(discovery *d, oa_slot_tokens *view)
{
    oa_file *f = d->file;
    oa_source *src = f->source;
    const char *project, *how = NULL, *why = NULL;

    oa_slot_read(f->slot, view);
    if (view->project[0])
        return 0; /* another child found it meanwhile */
    if (!view->access_token[0])
        return -1;
    project = discover(d, view->access_token, &how, &why);
    if (project && strlen(project) < sizeof(view->project)) {
        apr_cpystrn(view->project, project, sizeof(view->project));
        oa_slot_write(f->slot, view);
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, src->server,
                     AIPLOGNO(02050) "upstream %s: auth file %s: Code Assist project %s (%s)",
                     src->upstream, f->path, project, how);
        return 0;
    }
    if (d->status == 401) {
        /* The token is refused: refreshed at its next use, then the discovery runs again. */
        atomic_store(&f->slot->rejected_generation, view->generation);
    } else {
        oa_slot_extend(&f->slot->cooldown_until, apr_time_now() + OA_DEFAULT_COOLDOWN);
    }
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, src->server,
                 AIPLOGNO(02051) "upstream %s: auth file %s: no Code Assist project (%s); it "
                                 "sits out for %" APR_TIME_T_FMT " s",
                 src->upstream, f->path, why ? why : "project id too long",
                 d->status == 401 ? (apr_time_t) 0 : apr_time_sec(OA_DEFAULT_COOLDOWN));
    return -1;
}

int oa_project_ensure(apr_pool_t *p, oa_file *f, oa_slot_tokens *view)
{
    discovery d = {.pool = p, .file = f, .headers = apr_table_make(p, 6)};
    apr_uint32_t now = (apr_uint32_t) apr_time_sec(apr_time_now());
    /* every call at most once, plus one failed call per fallback base */
    apr_uint32_t hold =
        (apr_uint32_t) ((OA_ONBOARD_POLLS + 1 + fallback_count(f->source)) *
                            f->source->conf->total_timeout +
                        OA_ONBOARD_POLLS * apr_time_sec(OA_ONBOARD_INTERVAL) + LEASE_MARGIN);
    apr_uint32_t lease;
    int rc;

    if (!oa_project_needed(f->source->provider) || view->project[0])
        return 0;
    if (!oa_slot_lease_take(f->slot, now, hold, &lease)) {
        /* Another child refreshes or discovers: its result is ours. */
        oa_refresh_wait(f);
        oa_slot_read(f->slot, view);
        return view->project[0] ? 0 : -1;
    }
    rc = ensure_locked(&d, view);
    oa_slot_lease_release(f->slot, lease);
    return rc;
}
