/*
 * mod_aiproxy_oauth_load.c: reading an auth file from disk into its credential, and the
 * credential into its shared-memory slot.
 *
 * Messages name the file and what is wrong, never a value read from it (oa_authfile.h).
 */
#include <string.h>
#include "httpd.h"
#include "http_log.h"
#include "apr_file_io.h"
#include "apr_strings.h"
#include "mod_aiproxy_oauth.h"
#include "oa_authfile.h"
#include "oa_fingerprint.h"
#include "aiproxy_log.h"

APLOG_USE_MODULE(aiproxy_oauth);

/* The whole file, up to OA_AUTHFILE_MAX bytes. */
static int read_file(apr_pool_t *p, const char *path, char **data, apr_size_t *len,
                     const char **err)
{
    apr_file_t *fd;
    apr_finfo_t info;
    apr_status_t rv;
    char buf[120];

    rv = apr_file_open(&fd, path, APR_FOPEN_READ | APR_FOPEN_BINARY, 0, p);
    if (rv == APR_SUCCESS)
        rv = apr_file_info_get(&info, APR_FINFO_SIZE, fd);
    if (rv != APR_SUCCESS) {
        *err = apr_psprintf(p, "cannot read it (%s)", apr_strerror(rv, buf, sizeof(buf)));
        return -1;
    }
    if (info.size > OA_AUTHFILE_MAX) {
        apr_file_close(fd);
        *err = "it is larger than 1 MiB";
        return -1;
    }
    *data = apr_palloc(p, (apr_size_t) info.size + 1);
    rv = apr_file_read_full(fd, *data, (apr_size_t) info.size, len);
    apr_file_close(fd);
    if (rv != APR_SUCCESS && rv != APR_EOF) {
        *err = apr_psprintf(p, "cannot read it (%s)", apr_strerror(rv, buf, sizeof(buf)));
        return -1;
    }
    (*data)[*len] = '\0';
    return 0;
}

/* Kiro IDE keeps an IdC / Builder ID login's client registration (clientId, clientSecret) in
 * <clientIdHash>.json next to the token file; with it the refresh goes to the OIDC token
 * endpoint. Without it (a social login, or a file that already holds both) nothing changes,
 * and a registration that cannot be read leaves the social refresh, whose failure the
 * refresh path reports. */
static void read_kiro_registration(apr_pool_t *p, const oa_file *f, oa_credential *cred)
{
    const char *path, *ignored = NULL;
    char *data;
    apr_size_t len;

    if (cred->provider != OA_PROVIDER_KIRO || (cred->client_id && cred->client_secret) ||
        !(path = oa_authfile_kiro_registration_path(p, f->path, cred)) ||
        read_file(p, path, &data, &len, &ignored) != 0)
        return;
    oa_authfile_read_kiro_registration(p, data, len, cred, &ignored);
}

int oa_load_file(apr_pool_t *p, const oa_file *f, char **data, apr_size_t *len, oa_credential *cred,
                 const char **err)
{
    if (read_file(p, f->path, data, len, err) != 0 ||
        oa_authfile_parse(p, f->source->provider, *data, *len, cred, err) != 0)
        return -1;
    read_kiro_registration(p, f, cred);
    return 0;
}

/* src into a fixed field; -1 when it does not fit (a token is never cut). */
static int copy_field(char *dst, apr_size_t size, const char *src)
{
    apr_size_t n = src ? strlen(src) : 0;

    if (n >= size)
        return -1;
    memcpy(dst, src ? src : "", n);
    dst[n] = '\0';
    return 0;
}

int oa_tokens_from_credential(apr_pool_t *p, const oa_credential *cred, const oa_slot_tokens *old,
                              oa_slot_tokens *out, const char **err)
{
    memset(out, 0, sizeof(*out));
    out->generation = old ? old->generation + 1 : 1;
    if (copy_field(out->access_token, sizeof(out->access_token), cred->access_token) != 0) {
        *err = "its access token is longer than the cache holds (8 KiB)";
        return -1;
    }
    /* The account the upstream wants named: Codex's ChatGPT account, Kiro's profileArn. */
    if (copy_field(out->account_id, sizeof(out->account_id),
                   cred->provider == OA_PROVIDER_KIRO ? cred->profile_arn : cred->account_id) !=
        0) {
        *err = "its account id is too long";
        return -1;
    }
    /* The account a project was found for, as a fingerprint of the email: short whatever the
     * email's length, and no address in shared memory. */
    apr_cpystrn(out->project_account, cred->email ? oa_fingerprint(p, cred->email) : "",
                sizeof(out->project_account));
    if (copy_field(out->project, sizeof(out->project),
                   cred->project_id                                             ? cred->project_id
                   : old && !strcmp(old->project_account, out->project_account) ? old->project
                                                                                : NULL) != 0) {
        *err = "its project id is too long";
        return -1;
    }
    out->expiry = cred->expiry;
    out->last_refresh = cred->last_refresh;
    apr_cpystrn(out->fingerprint, oa_fingerprint(p, cred->access_token), sizeof(out->fingerprint));
    return 0;
}

/* Mark f out of rotation for why (its tokens cleared). */
static void take_out(oa_file *f, oa_slot_status status, const char *why)
{
    oa_slot_tokens tokens;

    memset(&tokens, 0, sizeof(tokens));
    apr_cpystrn(tokens.why, why, sizeof(tokens.why));
    oa_slot_write(f->slot, &tokens);
    atomic_store(&f->slot->status, status);
}

void oa_load_initial(apr_pool_t *p, server_rec *s, oa_file *f)
{
    oa_slot *slot = f->slot;
    int same = atomic_load(&slot->identity) == f->identity;
    oa_slot_tokens tokens;
    oa_credential cred;
    char *data;
    apr_size_t len;
    const char *err = NULL;

    /* A graceful restart may hand back the slot this file had: keep its cooldown. */
    if (!same) {
        atomic_store(&slot->identity, f->identity);
        atomic_store(&slot->cooldown_until, 0);
    }
    atomic_store(&slot->lease, 0u);
    atomic_store(&slot->rejected_generation, 0u);
    atomic_store(&slot->failures, 0u);
    atomic_store(&slot->refresh_not_before, 0);
    if (oa_load_file(p, f, &data, &len, &cred, &err) != 0 ||
        oa_tokens_from_credential(p, &cred, NULL, &tokens, &err) != 0) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, f->source->server,
                     AIPLOGNO(02003) "upstream %s: auth file %s is out of rotation: %s",
                     f->source->upstream, f->path, err);
        take_out(f, OA_SLOT_FAILED, err);
        return;
    }
    if (cred.disabled) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, f->source->server,
                     AIPLOGNO(02004) "upstream %s: auth file %s is disabled (\"disabled\": true)",
                     f->source->upstream, f->path);
        take_out(f, OA_SLOT_DISABLED, "the file says \"disabled\": true");
        return;
    }
    oa_slot_write(slot, &tokens);
    atomic_store(&slot->status, OA_SLOT_ACTIVE);
}
