/*
 * mod_aiproxy_oauth_refresh.c: refreshing one credential, by exactly one httpd child at a time.
 *
 * The refresher holds the credential's lease (oa_slot.h) from its first look at the slot to
 * its last write. Under the lease it
 *  1. looks again: another child may have refreshed since the caller decided to;
 *  2. re-reads the file: the CLI may have refreshed it (its token is then taken as is), or
 *     disabled it; the refresh token sent is the file's (or a rotated one the file could not
 *     take), so a token rotated away is never sent again;
 *  3. POSTs the refresh, and on success re-reads the file once more just before writing the
 *     new tokens back (atomically, keeping every field it does not own), then publishes them
 *     to the slot with a new generation;
 *  4. on a transient failure keeps any rotated refresh token it was handed (the old one is
 *     spent) and backs off; on a permanent one takes the credential out, logged once.
 * The lease outlasts the HTTP timeouts, so it lapses only for a child that died holding it.
 *
 * Gateways sharing a Redis (mod_aiproxy_oauth_shared.c) add a step between 2 and 3: tokens
 * another gateway stored are taken as they are (written back and published, as a refresh's
 * would be); else a second lease, in Redis, makes one gateway refresh; the others wait for its
 * tokens (bounded) and take them. The winner stores its new tokens (with the refresh token
 * valid now) before it lets that lease go. A store that fails is a store not there: this
 * gateway refreshes on its own.
 */
#include <string.h>
#include "httpd.h"
#include "http_log.h"
#include "apr_strings.h"
#include "mod_aiproxy_oauth.h"
#include "oa_authfile.h"
#include "oa_authfile_update.h"
#include "oa_file_atomic.h"
#include "oa_fingerprint.h"
#include "aiproxy_log.h"

APLOG_USE_MODULE(aiproxy_oauth);

/* Seconds the lease outlasts the refresh's total timeout (file reads and writes). */
#define LEASE_MARGIN 15
/* How often a waiting request looks whether the refresher is done. */
#define WAIT_STEP apr_time_from_msec(20)

static apr_uint32_t seconds(apr_time_t t)
{
    return (apr_uint32_t) apr_time_sec(t);
}

int oa_refresh_due(const oa_file *f, const oa_slot_tokens *view, apr_time_t now)
{
    oa_slot *slot = f->slot;

    if (atomic_load(&slot->status) != OA_SLOT_ACTIVE ||
        atomic_load(&slot->refresh_not_before) > now)
        return 0;
    return view->expiry == 0 || view->expiry <= now + f->source->conf->skew ||
           atomic_load(&slot->rejected_generation) == view->generation;
}

void oa_refresh_wait(const oa_file *f)
{
    apr_time_t deadline =
        apr_time_now() + apr_time_from_sec(f->source->conf->total_timeout + LEASE_MARGIN);

    while (oa_slot_lease_held(f->slot, seconds(apr_time_now())) && apr_time_now() < deadline)
        apr_sleep(WAIT_STEP);
}

/* One refresh's working state. */
typedef struct {
    apr_pool_t *pool;
    oa_file *file;
    server_rec *s;
    oa_slot_tokens view; /* the slot as the lease found it */
    apr_time_t now;
    const char *shared_lease; /* this gateway's lease in the shared store, to release; or NULL */
} refresh_job;

/* Publish cred (just read or written) as the slot's new tokens. */
static int publish(refresh_job *job, const oa_credential *cred, const char *pending)
{
    oa_slot_tokens tokens;
    const char *err;

    if (oa_tokens_from_credential(job->pool, cred, &job->view, &tokens, &err) != 0) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, job->s,
                     AIPLOGNO(02010) "upstream %s: auth file %s is out of rotation: %s",
                     job->file->source->upstream, job->file->path, err);
        memset(&tokens, 0, sizeof(tokens));
        apr_cpystrn(tokens.why, err, sizeof(tokens.why));
        oa_slot_write(job->file->slot, &tokens);
        atomic_store(&job->file->slot->status, OA_SLOT_FAILED);
        return -1;
    }
    if (pending)
        apr_cpystrn(tokens.pending_refresh, pending, sizeof(tokens.pending_refresh));
    oa_slot_write(job->file->slot, &tokens);
    atomic_store(&job->file->slot->failures, 0u);
    atomic_store(&job->file->slot->refresh_not_before, 0);
    return 0;
}

/* Take the credential out for good (a permanent failure), with one log line. */
static void fail(refresh_job *job, oa_slot_status status, const char *why)
{
    oa_slot_tokens tokens;

    memset(&tokens, 0, sizeof(tokens));
    tokens.generation = job->view.generation + 1;
    apr_cpystrn(tokens.why, why, sizeof(tokens.why));
    oa_slot_write(job->file->slot, &tokens);
    atomic_store(&job->file->slot->status, status);
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, job->s,
                 AIPLOGNO(02011) "upstream %s: auth file %s is out of rotation: %s",
                 job->file->source->upstream, job->file->path, why);
}

/* A transient failure: back off, not before the answer's retry time. */
static void back_off(refresh_job *job, const char *why, apr_time_t retry_at)
{
    oa_slot *slot = job->file->slot;
    unsigned int failures = atomic_fetch_add(&slot->failures, 1u) + 1;
    apr_time_t next = job->now + oa_slot_backoff(failures);

    if (retry_at > next)
        next = retry_at;
    atomic_store(&slot->refresh_not_before, next);
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, job->s,
                 AIPLOGNO(02012) "upstream %s: refreshing auth file %s failed (%s); next try "
                                 "in %" APR_TIME_T_FMT " s",
                 job->file->source->upstream, job->file->path, why, apr_time_sec(next - job->now));
}

/* Write u back to the file as it is on disk now; on success the file's credential as written
 * goes to *written. Returns 0, or -1 (logged) when the file could not take it. */
static int write_back(refresh_job *job, const oa_token_update *u, oa_credential *written)
{
    oa_file *f = job->file;
    char *data, *out;
    apr_size_t len, out_len;
    oa_credential on_disk;
    const char *err = NULL;
    apr_status_t rv = APR_SUCCESS;
    char buf[120];

    if (oa_load_file(job->pool, f, &data, &len, &on_disk, &err) == 0 &&
        oa_authfile_update(job->pool, f->source->provider, data, len, u, &out, &out_len, &err) ==
            0 &&
        (rv = oa_file_write_atomic(job->pool, f->path, out, out_len)) == APR_SUCCESS &&
        oa_authfile_parse(job->pool, f->source->provider, out, out_len, written, &err) == 0)
        return 0;
    ap_log_error(APLOG_MARK, APLOG_ERR, rv, job->s,
                 AIPLOGNO(02013) "upstream %s: the new tokens of auth file %s could not be "
                                 "written back (%s); they are kept in memory",
                 f->source->upstream, f->path, err ? err : apr_strerror(rv, buf, sizeof(buf)));
    return -1;
}

/* The refresh token the file must hold after an answer: a rotated one, else one the file
 * could not take earlier, else NULL (the file's stays). */
static const char *newest_refresh_token(const refresh_job *job, const oa_refresh_result *res)
{
    if (res->refresh_token)
        return res->refresh_token;
    return job->view.pending_refresh[0] ? job->view.pending_refresh : NULL;
}

/* New tokens (a refresh answer, or what another gateway obtained at at): written back, then
 * published. Returns 1 when the file took them. */
static int take_tokens(refresh_job *job, const oa_credential *cred, const oa_refresh_result *res,
                       apr_time_t at)
{
    oa_token_update u = {res->access_token, newest_refresh_token(job, res),
                         res->id_token,     res->profile_arn,
                         res->expiry,       at};
    oa_credential written;

    if (write_back(job, &u, &written) == 0) {
        publish(job, &written, NULL);
        return 1;
    }
    /* Serve the new token from memory; the rotated refresh token waits for the next write. */
    written = *cred;
    written.access_token = res->access_token;
    if (res->profile_arn)
        written.profile_arn = res->profile_arn;
    written.expiry = res->expiry;
    written.last_refresh = at;
    publish(job, &written, newest_refresh_token(job, res));
    return 0;
}

/* Tell the other gateways (when shared): the access token and the refresh token valid now. */
static void share(refresh_job *job, const char *access, const char *refresh, const char *id_token,
                  const char *profile_arn, apr_time_t expiry)
{
    oa_shared_tokens t = {.access_token = access,
                          .refresh_token = refresh,
                          .id_token = id_token,
                          .profile_arn = profile_arn,
                          .expiry = expiry,
                          .refreshed_at = job->now};

    oa_shared_publish(job->pool, job->file, &t);
}

/* The new tokens in answer: written back, published, shared. */
static void refreshed(refresh_job *job, const oa_credential *cred, const oa_refresh_result *res)
{
    if (take_tokens(job, cred, res, job->now))
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, job->s,
                     AIPLOGNO(02014) "upstream %s: auth file %s refreshed, token %s",
                     job->file->source->upstream, job->file->path,
                     oa_fingerprint(job->pool, res->access_token));
    share(job, res->access_token, res->refresh_token ? res->refresh_token : cred->refresh_token,
          res->id_token, res->profile_arn, res->expiry);
}

/* Are tokens another gateway stored worth taking instead of refreshing: another access token
 * than the slot's, valid beyond the skew? */
static int worth_taking(const refresh_job *job, const oa_shared_tokens *t)
{
    return strcmp(t->access_token, job->view.access_token) != 0 &&
           t->expiry > job->now + job->file->source->conf->skew;
}

/* Take tokens another gateway obtained, as if this one had refreshed. */
static void adopt(refresh_job *job, const oa_credential *cred, const oa_shared_tokens *t)
{
    oa_refresh_result res = {.outcome = OA_REFRESH_OK,
                             .access_token = t->access_token,
                             .refresh_token = t->refresh_token,
                             .id_token = t->id_token,
                             .profile_arn = t->profile_arn,
                             .expiry = t->expiry};

    take_tokens(job, cred, &res, t->refreshed_at);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, job->s,
                 AIPLOGNO(02015) "upstream %s: auth file %s took token %s from the shared state "
                                 "(another gateway refreshed it)",
                 job->file->source->upstream, job->file->path,
                 oa_fingerprint(job->pool, t->access_token));
}

/* Between reading the file and refreshing, when the credential is shared: take another
 * gateway's tokens (1), or lead the refresh or run on local state (0); *latest is what the
 * store held (its refresh token is the newest), *have whether it held anything. -1: another
 * gateway leads and its tokens did not come in time. */
static int shared_step(refresh_job *job, const oa_credential *cred, oa_shared_tokens *latest,
                       int *have)
{
    oa_file *f = job->file;
    apr_interval_time_t hold = apr_time_from_sec(f->source->conf->total_timeout + LEASE_MARGIN);
    apr_time_t seen;

    *have = oa_shared_fetch(job->pool, f, latest) == 1;
    if (*have && worth_taking(job, latest)) {
        adopt(job, cred, latest);
        return 1;
    }
    seen = *have ? latest->refreshed_at : 0;
    switch (oa_shared_lease_take(job->pool, f, hold, &job->shared_lease)) {
    case OA_SHARED_LOCAL:
        return 0;
    case OA_SHARED_LOST:
        if (oa_shared_wait(job->pool, f, seen, apr_time_now() + hold, latest) == 1) {
            *have = 1;
            job->now = apr_time_now();
            if (latest->expiry > job->now + OA_SEND_MARGIN) {
                adopt(job, cred, latest);
                return 1;
            }
        }
        /* its lease ended without tokens (it failed): lead now, or leave it to the next try */
        if (oa_shared_lease_take(job->pool, f, hold, &job->shared_lease) == OA_SHARED_LOST)
            return -1;
        break;
    case OA_SHARED_WON:
        break;
    }
    /* leading now: another gateway may have stored tokens just before */
    if (job->shared_lease && oa_shared_fetch(job->pool, f, latest) == 1) {
        *have = 1;
        if (worth_taking(job, latest)) {
            adopt(job, cred, latest);
            return 1;
        }
    }
    return 0;
}

/* A 2xx answer refused as transient may still carry a rotated refresh token: the old one is
 * spent, so the new one must be kept (in the file, else in the slot). */
static void keep_rotated(refresh_job *job, const oa_credential *cred, const oa_refresh_result *res)
{
    oa_token_update u = {res->access_token ? res->access_token : cred->access_token,
                         newest_refresh_token(job, res),
                         NULL,
                         NULL,
                         res->access_token ? res->expiry : 0,
                         job->now};
    oa_credential written;

    if (!res->refresh_token)
        return;
    if (write_back(job, &u, &written) == 0)
        job->view.pending_refresh[0] = '\0';
    else
        apr_cpystrn(job->view.pending_refresh, res->refresh_token,
                    sizeof(job->view.pending_refresh));
    oa_slot_write(job->file->slot, &job->view);
    /* the old refresh token is spent on every gateway: they need this one */
    share(job, u.access_token, res->refresh_token, NULL, NULL, u.expiry);
}

/* The refresh itself, the lease held. */
static oa_refresh_status refresh_locked(refresh_job *job)
{
    oa_file *f = job->file;
    oa_source *src = f->source;
    oa_credential cred;
    oa_refresh_request req;
    oa_refresh_result res;
    oa_http_answer answer;
    oa_shared_tokens latest;
    int have_latest = 0;
    char *data;
    apr_size_t len;
    const char *err;

    /* 1. Someone refreshed since the caller looked. */
    if (atomic_load(&f->slot->status) != OA_SLOT_ACTIVE)
        return OA_REFRESH_FAILED;
    if (!oa_refresh_due(f, &job->view, job->now))
        return OA_REFRESHED;
    /* 2. The file as it is now. */
    if (oa_load_file(job->pool, f, &data, &len, &cred, &err) != 0) {
        back_off(job, err, 0);
        return OA_REFRESH_FAILED;
    }
    if (cred.disabled) {
        fail(job, OA_SLOT_DISABLED, "the file says \"disabled\": true");
        return OA_REFRESH_FAILED;
    }
    if (strcmp(cred.access_token, job->view.access_token) &&
        cred.expiry > job->now + src->conf->skew) {
        publish(job, &cred, NULL); /* the CLI refreshed it meanwhile */
        share(job, cred.access_token, cred.refresh_token, cred.id_token, cred.profile_arn,
              cred.expiry);
        return OA_REFRESHED;
    }
    /* 2b. Another gateway refreshed it, or refreshes it now. */
    switch (shared_step(job, &cred, &latest, &have_latest)) {
    case 1:
        return OA_REFRESHED;
    case -1:
        back_off(job, "another gateway's refresh did not finish in time", 0);
        return OA_REFRESH_FAILED;
    default:
        break;
    }
    if (job->view.pending_refresh[0])
        cred.refresh_token = job->view.pending_refresh;
    else if (have_latest && latest.refresh_token && latest.refreshed_at > cred.last_refresh)
        cred.refresh_token = latest.refresh_token; /* rotated by another gateway since */
    if (!cred.refresh_token) {
        fail(job, OA_SLOT_FAILED, "the token expires and the file has no refresh token");
        return OA_REFRESH_FAILED;
    }
    if (oa_refresh_request_build(job->pool, &cred, &src->settings, &req, &err) != 0) {
        fail(job, OA_SLOT_FAILED, err);
        return OA_REFRESH_FAILED;
    }
    /* 3. The token endpoint. */
    oa_http_post(job->pool, src->conf, &req, &answer);
    job->now = apr_time_now();
    oa_refresh_response_parse(job->pool, &cred, answer.status, answer.headers, answer.body,
                              answer.len, job->now, &res);
    switch (res.outcome) {
    case OA_REFRESH_OK:
        refreshed(job, &cred, &res);
        return OA_REFRESHED;
    case OA_REFRESH_PERMANENT:
        /* spent because another gateway rotated it meanwhile (the store was away)? */
        if (oa_shared_fetch(job->pool, f, &latest) == 1 && worth_taking(job, &latest)) {
            adopt(job, &cred, &latest);
            return OA_REFRESHED;
        }
        fail(job, OA_SLOT_FAILED, apr_psprintf(job->pool, "refresh refused (%s)", res.error));
        return OA_REFRESH_FAILED;
    default:
        keep_rotated(job, &cred, &res);
        back_off(job, answer.status ? res.error : answer.error, res.retry_at);
        return OA_REFRESH_FAILED;
    }
}

oa_refresh_status oa_refresh_file(apr_pool_t *p, oa_file *f)
{
    refresh_job job = {.pool = p, .file = f, .s = f->source->server};
    apr_uint32_t hold = (apr_uint32_t) (f->source->conf->total_timeout + LEASE_MARGIN);
    apr_uint32_t lease;
    oa_refresh_status status;

    job.now = apr_time_now();
    if (!oa_slot_lease_take(f->slot, seconds(job.now), hold, &lease))
        return OA_REFRESH_BUSY;
    oa_slot_read(f->slot, &job.view);
    status = refresh_locked(&job);
    /* after the new tokens were stored: a gateway that waited finds them */
    oa_shared_lease_release(p, f, job.shared_lease);
    oa_slot_lease_release(f->slot, lease);
    return status;
}
