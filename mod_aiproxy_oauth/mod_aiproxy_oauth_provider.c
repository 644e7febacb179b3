/*
 * mod_aiproxy_oauth_provider.c: the "codex", "claudecode", "geminicli", "antigravity" and "kiro"
 * credential providers
 * (include/aiproxy_credential.h): an upstream's auth files in turn, each file's token from
 * shared memory, the dialect's authentication and identity headers, and what upstream answers
 * mean for the file (oa_signal.h).
 *
 * Choosing a file for an attempt never blocks on another child: a file whose token is valid
 * is used even while another child refreshes it; one whose token is unusable is refreshed
 * here when this child wins its lease, else waited for (bounded) while the winner refreshes.
 */
#include <string.h>
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "ap_provider.h"
#include "apr_strings.h"
#include "mod_aiproxy_oauth.h"
#include "oa_fingerprint.h"
#include "oa_provider.h"
#include "oa_signal.h"
#include "aiproxy_log.h"

APLOG_USE_MODULE(aiproxy_oauth);

/* ---- identity headers --------------------------------------------------------------------- */

/* Each dialect's identity headers (research/oauth.md); AIProxyOAuthHeader overrides a value,
 * header= on the upstream overrides whatever is sent. */
static const oa_header default_headers[] = {
    {OA_PROVIDER_CODEX, "originator", "codex_cli_rs"},
    {OA_PROVIDER_CODEX, "version", "0.169.0"},
    {OA_PROVIDER_CODEX, "User-Agent", "codex_cli_rs/0.169.0 (Debian 12.0.0; x86_64) unknown"},
    {OA_PROVIDER_CLAUDECODE, "anthropic-beta",
     "claude-code-20250219,oauth-2025-04-20,interleaved-thinking-2025-05-14,"
     "fine-grained-tool-streaming-2025-05-14"},
    {OA_PROVIDER_CLAUDECODE, "User-Agent", "claude-cli/2.1.330 (external, cli)"},
    {OA_PROVIDER_CLAUDECODE, "x-app", "cli"},
    {OA_PROVIDER_GEMINICLI, "User-Agent", "GeminiCLI/0.22.5 (linux; x64)"},
    {OA_PROVIDER_GEMINICLI, "Client-Metadata",
     "ideType=IDE_UNSPECIFIED,platform=PLATFORM_UNSPECIFIED,pluginType=GEMINI"},
    {OA_PROVIDER_ANTIGRAVITY, "User-Agent", "antigravity/hub/2.9.1 darwin/arm64"},
    /* Kiro IDE's AWS SDK; {machine_id} is the credential's (kiro_machine_id). */
    {OA_PROVIDER_KIRO, "amz-sdk-request", "attempt=1; max=3"},
    {OA_PROVIDER_KIRO, "x-amzn-codewhisperer-optout", "true"},
    {OA_PROVIDER_KIRO, "x-amzn-kiro-agent-mode", "vibe"},
    {OA_PROVIDER_KIRO, "x-amz-user-agent", "aws-sdk-js/1.0.34 KiroIDE-0.8.0-{machine_id}"},
    {OA_PROVIDER_KIRO, "User-Agent",
     "aws-sdk-js/1.0.34 ua/2.1 os/linux lang/js md/nodejs#22.21.1 "
     "api/codewhispererstreaming#1.0.34 m/E KiroIDE-0.8.0-{machine_id}"},
};

#define MACHINE_ID_MARK "{machine_id}"

const char *oa_header_value(const oa_server_conf *conf, oa_provider provider, const char *name)
{
    const char *value = NULL;

    for (size_t i = 0; i < sizeof(default_headers) / sizeof(default_headers[0]); i++) {
        if (default_headers[i].provider == provider && !strcasecmp(default_headers[i].name, name))
            value = default_headers[i].value;
    }
    for (int i = 0; i < conf->headers->nelts; i++) {
        const oa_header *h = &APR_ARRAY_IDX(conf->headers, i, oa_header);
        if (h->provider == provider && !strcasecmp(h->name, name))
            value = h->value;
    }
    return value;
}

/* value with {machine_id} replaced by machine_id (NULL: value as it is). */
static const char *with_machine_id(apr_pool_t *p, const char *value, const char *machine_id)
{
    const char *mark = machine_id ? strstr(value, MACHINE_ID_MARK) : NULL;

    if (!mark)
        return value;
    return apr_pstrcat(p, apr_pstrmemdup(p, value, (apr_size_t) (mark - value)), machine_id,
                       mark + sizeof(MACHINE_ID_MARK) - 1, NULL);
}

/* Every identity header of provider: the defaults' names, then names only configured. */
void oa_set_identity_headers(apr_pool_t *p, const oa_server_conf *conf, oa_provider provider,
                             const char *machine_id, apr_table_t *headers)
{
    for (size_t i = 0; i < sizeof(default_headers) / sizeof(default_headers[0]); i++) {
        if (default_headers[i].provider == provider)
            apr_table_setn(headers, default_headers[i].name,
                           with_machine_id(p,
                                           oa_header_value(conf, provider, default_headers[i].name),
                                           machine_id));
    }
    for (int i = 0; i < conf->headers->nelts; i++) {
        const oa_header *h = &APR_ARRAY_IDX(conf->headers, i, oa_header);
        if (h->provider == provider)
            apr_table_setn(
                headers, h->name,
                with_machine_id(p, oa_header_value(conf, provider, h->name), machine_id));
    }
}

/* Kiro's machine id: a 64-hex SHA-256 that stays the same for a login, as Kiro IDE's does
 * (AC2A hashes the profileArn, else something else stable: here the auth file's path). */
static const char *kiro_machine_id(apr_pool_t *p, const oa_file *f, const oa_slot_tokens *view)
{
    return oa_sha256_hex(p, view->account_id[0] ? view->account_id : f->path);
}

/* A random version 4 UUID (amz-sdk-invocation-id: one per attempt). */
static const char *random_uuid(apr_pool_t *p)
{
    unsigned char b[16];

    if (apr_generate_random_bytes(b, sizeof(b)) != APR_SUCCESS)
        return "00000000-0000-4000-8000-000000000000";
    b[6] = (unsigned char) ((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char) ((b[8] & 0x3f) | 0x80);
    return apr_psprintf(p, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                        b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
                        b[12], b[13], b[14], b[15]);
}

/* The client's anthropic-beta flags after the dialect's, each once. */
static const char *merged_betas(apr_pool_t *p, const char *ours, const char *clients)
{
    const char *merged = ours;
    char *copy, *state = NULL;

    if (!clients)
        return ours;
    copy = apr_pstrdup(p, clients);
    for (char *flag = apr_strtok(copy, ", ", &state); flag; flag = apr_strtok(NULL, ", ", &state)) {
        if (!ap_find_token(p, merged, flag))
            merged = apr_pstrcat(p, merged, ",", flag, NULL);
    }
    return merged;
}

/* ---- setup -------------------------------------------------------------------------------- */

static const char *oauth_setup(apr_pool_t *pconf, server_rec *s,
                               const aiproxy_credential_upstream *up, void **sourcep)
{
    oa_source *src;
    apr_array_header_t *registry = oa_registry(pconf);

    if (!up->auth_files || up->auth_files->nelts == 0)
        return "it has no auth_file=";
    src = apr_pcalloc(pconf, sizeof(*src));
    src->upstream = up->name;
    src->balancer = up->balancer;
    src->base_url = up->base_url;
    src->fallback_base_urls = up->fallback_base_urls;
    src->fallback_triggers = up->fallback_triggers;
    src->provider = oa_provider_from_name(up->api_type);
    src->breaker_open_seconds = up->breaker_open_seconds;
    src->conf = ap_get_module_config(s->module_config, &aiproxy_oauth_module);
    src->server = s;
    src->settings.token_url = up->token_url;
    src->settings.client_id = apr_table_get(src->conf->client_ids, up->api_type);
    src->count = up->auth_files->nelts;
    src->files = apr_pcalloc(pconf, sizeof(*src->files) * src->count);
    for (int i = 0; i < src->count; i++) {
        oa_file *f = &src->files[i];
        const char *path = APR_ARRAY_IDX(up->auth_files, i, const char *);
        const char *slash = strrchr(path, '/');

        f->path = ap_server_root_relative(pconf, path);
        f->cred.index = i;
        f->cred.label = slash ? slash + 1 : path;
        f->identity = oa_slot_identity(up->balancer, f->path);
        f->source = src;
        APR_ARRAY_PUSH(registry, oa_file *) = f;
    }
    oa_shared_setup(pconf, s, up, src);
    *sourcep = src;
    return NULL;
}

/* ---- choosing a file ---------------------------------------------------------------------- */

/* The file next() handed out, with the tokens it read. */
typedef struct {
    aiproxy_credential pub; /* first: the handler holds a pointer to it */
    oa_file *file;
    oa_slot_tokens view;
} chosen;

typedef struct {
    oa_source *source;
    apr_pool_t *pool;
    int start;
    unsigned char *tried;   /* per file: 1 once handed out */
    unsigned char *retried; /* per file: 1 once handed out again after a refused token */
    unsigned char *waited;  /* per file: 1 once handed out again after a short rate limit */
    int again;              /* the file to hand out once more (refreshed), or -1 */
} cursor;

static int cooling(const oa_file *f, apr_time_t now)
{
    return atomic_load(&f->slot->cooldown_until) > now;
}

static int serving(const oa_file *f)
{
    return f->slot && atomic_load(&f->slot->status) == OA_SLOT_ACTIVE;
}

/* Can view's token go upstream now? */
static int sendable(const oa_file *f, const oa_slot_tokens *view, apr_time_t now)
{
    return view->access_token[0] && view->expiry > now + OA_SEND_MARGIN &&
           atomic_load(&f->slot->rejected_generation) != view->generation;
}

static int oauth_available(void *sourcep)
{
    oa_source *src = sourcep;
    apr_time_t now = apr_time_now();

    for (int i = 0; i < src->count; i++) {
        if (serving(&src->files[i]) && !cooling(&src->files[i], now))
            return 1;
    }
    return 0;
}

static void *oauth_begin(void *sourcep, request_rec *r)
{
    oa_source *src = sourcep;
    cursor *c = apr_pcalloc(r->pool, sizeof(*c));

    c->source = src;
    c->pool = r->pool;
    c->tried = apr_pcalloc(r->pool, src->count);
    c->retried = apr_pcalloc(r->pool, src->count);
    c->waited = apr_pcalloc(r->pool, src->count);
    c->again = -1;
    /* The turn lives in the first file's slot, so every child takes the next file. */
    c->start = src->files[0].slot
                   ? (int) (atomic_fetch_add(&src->files[0].slot->turn, 1u) % (unsigned) src->count)
                   : 0;
    return c;
}

/* f's tokens in *view, refreshed first when due (by this child if it wins the lease; else
 * waiting while the winner refreshes and its token is unusable). 0, or -1 when f cannot serve
 * now. */
static int fresh_view(cursor *c, oa_file *f, oa_slot_tokens *view)
{
    apr_time_t now = apr_time_now();

    if (!serving(f) || cooling(f, now))
        return -1;
    oa_slot_read(f->slot, view);
    if (oa_refresh_due(f, view, now)) {
        if (oa_refresh_file(c->pool, f) == OA_REFRESH_BUSY && !sendable(f, view, now))
            oa_refresh_wait(f);
        oa_slot_read(f->slot, view);
        now = apr_time_now();
    }
    return serving(f) && sendable(f, view, now) ? 0 : -1;
}

/* f's tokens with the project its dialect names (discovered now when not known yet; a token
 * the discovery found refused is refreshed and tried once more). NULL when f cannot serve. */
static chosen *take(cursor *c, oa_file *f)
{
    chosen *ch = apr_pcalloc(c->pool, sizeof(*ch));
    int ok = fresh_view(c, f, &ch->view) == 0 && oa_project_ensure(c->pool, f, &ch->view) == 0;

    if (!ok && oa_project_needed(c->source->provider) && ch->view.access_token[0] &&
        atomic_load(&f->slot->rejected_generation) == ch->view.generation)
        ok = fresh_view(c, f, &ch->view) == 0 && oa_project_ensure(c->pool, f, &ch->view) == 0;
    if (!ok || !sendable(f, &ch->view, apr_time_now()))
        return NULL;
    ch->pub = f->cred;
    ch->pub.project = ch->view.project[0] ? apr_pstrdup(c->pool, ch->view.project) : NULL;
    ch->file = f;
    /* Kiro's body names the login's profile (social logins have one; IdC ones need none). */
    if (f->source->provider == OA_PROVIDER_KIRO && ch->view.account_id[0])
        ch->pub.account = apr_pstrdup(c->pool, ch->view.account_id);
    return ch;
}

static const aiproxy_credential *oauth_next(void *sourcep, void *cursorp)
{
    cursor *c = cursorp;
    oa_source *src = c->source;
    chosen *ch;

    if (c->again >= 0) {
        int i = c->again;
        c->again = -1;
        if ((ch = take(c, &src->files[i])) != NULL)
            return &ch->pub;
    }
    for (int n = 0; n < src->count; n++) {
        int i = (c->start + n) % src->count;
        if (c->tried[i])
            continue;
        c->tried[i] = 1;
        if ((ch = take(c, &src->files[i])) != NULL)
            return &ch->pub;
    }
    return NULL;
}

/* ---- sending ------------------------------------------------------------------------------ */

static apr_status_t oauth_apply(void *sourcep, const aiproxy_credential *cred, request_rec *rr,
                                apr_table_t *headers)
{
    oa_source *src = sourcep;
    const chosen *ch = (const chosen *) cred;

    /* next() checked the token; a request that waited since must not send it stale. */
    if (!sendable(ch->file, &ch->view, apr_time_now()))
        return APR_EGENERAL;
    apr_table_unset(headers, "x-api-key");
    apr_table_unset(headers, "x-goog-api-key");
    apr_table_setn(headers, "Authorization",
                   apr_pstrcat(rr->pool, "Bearer ", ch->view.access_token, NULL));
    if (src->provider == OA_PROVIDER_CLAUDECODE) {
        const char *clients = apr_table_get(headers, "anthropic-beta");
        oa_set_identity_headers(rr->pool, src->conf, src->provider, NULL, headers);
        apr_table_setn(headers, "anthropic-beta",
                       merged_betas(rr->pool, apr_table_get(headers, "anthropic-beta"),
                                    clients ? apr_pstrdup(rr->pool, clients) : NULL));
    } else if (src->provider == OA_PROVIDER_KIRO) {
        oa_set_identity_headers(rr->pool, src->conf, src->provider,
                                kiro_machine_id(rr->pool, ch->file, &ch->view), headers);
        apr_table_setn(headers, "amz-sdk-invocation-id", random_uuid(rr->pool));
    } else {
        oa_set_identity_headers(rr->pool, src->conf, src->provider, NULL, headers);
        if (src->provider == OA_PROVIDER_CODEX && ch->view.account_id[0])
            apr_table_setn(headers, "chatgpt-account-id",
                           apr_pstrdup(rr->pool, ch->view.account_id));
    }
    return APR_SUCCESS;
}

/* ---- judging answers ---------------------------------------------------------------------- */

static aiproxy_credential_verdict oauth_report(void *sourcep, void *cursorp,
                                               const aiproxy_credential *cred,
                                               const aiproxy_upstream_answer *answer)
{
    oa_source *src = sourcep;
    cursor *c = cursorp;
    const chosen *ch = (const chosen *) cred;
    oa_slot *slot = ch->file->slot;
    aiproxy_credential_verdict verdict = {AIPROXY_CREDENTIAL_OK, 0};
    apr_time_t now = apr_time_now();
    oa_signal signal;

    if (answer->status == 0 || answer->status < 400)
        return verdict;
    oa_signal_classify(c->pool, src->provider, answer->status, answer->headers, answer->body,
                       answer->body_len, now, &signal);
    if (signal.kind == OA_SIGNAL_RETRY) {
        /* Wait it out and hand the same file out once more; a second one in this request
         * cools the file down like any rate limit. */
        if (!c->waited[cred->index]) {
            c->waited[cred->index] = 1;
            c->again = cred->index;
            verdict.outcome = AIPROXY_CREDENTIAL_RETRY;
            verdict.until = signal.reset_at;
            return verdict;
        }
        signal.kind = OA_SIGNAL_THROTTLED;
    }
    switch (signal.kind) {
    case OA_SIGNAL_EXPIRED: {
        /* Refresh once and hand the same file out again; a second refusal moves on. */
        unsigned int gen = ch->view.generation;
        atomic_store(&slot->rejected_generation, gen);
        if (!c->retried[cred->index]) {
            c->retried[cred->index] = 1;
            c->again = cred->index;
        }
        verdict.outcome = AIPROXY_CREDENTIAL_EXPIRED;
        break;
    }
    case OA_SIGNAL_REFUSED:
    case OA_SIGNAL_THROTTLED:
    case OA_SIGNAL_QUOTA:
        verdict.outcome = signal.kind == OA_SIGNAL_REFUSED ? AIPROXY_CREDENTIAL_REFUSED
                                                           : AIPROXY_CREDENTIAL_THROTTLED;
        verdict.until = signal.reset_at ? signal.reset_at : now + OA_DEFAULT_COOLDOWN;
        oa_slot_extend(&slot->cooldown_until, verdict.until);
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, src->server,
                     AIPLOGNO(02020) "upstream %s: auth file %s cools down for %" APR_TIME_T_FMT
                                     " s (%s, HTTP %d)",
                     src->upstream, ch->file->path, apr_time_sec(verdict.until - now),
                     signal.reason ? signal.reason : oa_signal_kind_name(signal.kind),
                     answer->status);
        break;
    default:
        break;
    }
    return verdict;
}

/* ---- admin -------------------------------------------------------------------------------- */

static const char *state_name(const oa_file *f, const oa_slot_tokens *view, apr_time_t now)
{
    switch (atomic_load(&f->slot->status)) {
    case OA_SLOT_DISABLED:
        return "disabled";
    case OA_SLOT_FAILED:
        return "failed";
    default:
        break;
    }
    if (oa_slot_lease_held(f->slot, (apr_uint32_t) apr_time_sec(now)))
        return "refreshing";
    if (cooling(f, now))
        return "cooling down";
    return sendable(f, view, now) ? "ok" : "expired";
}

static apr_array_header_t *oauth_describe(void *sourcep, apr_pool_t *p)
{
    oa_source *src = sourcep;
    apr_array_header_t *list = apr_array_make(p, src->count, sizeof(aiproxy_credential_status));
    apr_time_t now = apr_time_now();

    for (int i = 0; i < src->count; i++) {
        oa_file *f = &src->files[i];
        aiproxy_credential_status *st = apr_array_push(list);
        oa_slot_tokens *view = apr_palloc(p, sizeof(*view));

        memset(st, 0, sizeof(*st));
        st->label = f->cred.label;
        if (!f->slot) {
            st->state = "failed";
            st->why = "no shared memory";
            continue;
        }
        oa_slot_read(f->slot, view);
        st->state = state_name(f, view, now);
        st->why = view->why[0] ? apr_pstrdup(p, view->why) : NULL;
        st->until = cooling(f, now) ? atomic_load(&f->slot->cooldown_until) : 0;
        st->expiry = view->expiry;
        st->last_refresh = view->last_refresh;
        st->fingerprint = view->access_token[0] ? apr_pstrdup(p, view->fingerprint) : NULL;
    }
    return list;
}

static const aiproxy_credential_provider oauth_provider = {
    .setup = oauth_setup,
    .available = oauth_available,
    .begin = oauth_begin,
    .next = oauth_next,
    .apply = oauth_apply,
    .report = oauth_report,
    .describe = oauth_describe,
};

void oa_provider_register(apr_pool_t *p)
{
    /* Every dialect with a provider: each registers under its api type's name. */
    static const oa_provider served[] = {OA_PROVIDER_CODEX, OA_PROVIDER_CLAUDECODE,
                                         OA_PROVIDER_GEMINICLI, OA_PROVIDER_ANTIGRAVITY,
                                         OA_PROVIDER_KIRO};

    for (size_t i = 0; i < sizeof(served) / sizeof(served[0]); i++)
        ap_register_provider(p, AIPROXY_CREDENTIAL_GROUP, oa_provider_name(served[i]),
                             AIPROXY_CREDENTIAL_VERSION, &oauth_provider);
}
