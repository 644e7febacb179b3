/* oa_authfile.c: see oa_authfile.h. */
#include <string.h>
#include <jansson.h>
#include "apr_lib.h"
#include "apr_strings.h"
#include "oa_authfile.h"
#include "oa_authfile_format.h"
#include "oa_json.h"
#include "oa_jwt.h"

/* Longest clientIdHash taken as a file name (the IDE's are 40 hex digits). */
#define OA_CLIENT_ID_HASH_MAX 128

/* The file as JSON, released with p. Duplicate keys are refused: two access tokens in one
 * file leave no right one to pick. A \u0000 is allowed (in fields the gateway does not own
 * it survives a write-back); a token holding one is refused by oa_json_path_string. */
static json_t *load_json(apr_pool_t *p, const char *what, const char *data, apr_size_t len,
                         const char **err)
{
    json_error_t jerr;
    json_t *root;

    if (len > OA_AUTHFILE_MAX) {
        *err = apr_psprintf(p, "%s larger than %d bytes", what, OA_AUTHFILE_MAX);
        return NULL;
    }
    root = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (!root) {
        *err = apr_psprintf(p, "%s is not JSON (line %d, column %d)", what, jerr.line, jerr.column);
        return NULL;
    }
    oa_json_pool_own(p, root);
    if (!json_is_object(root)) {
        *err = apr_psprintf(p, "%s is not a JSON object", what);
        return NULL;
    }
    return root;
}

static void read_strings(apr_pool_t *p, const oa_string_field *fields, json_t *root,
                         oa_credential *out)
{
    for (const oa_string_field *f = fields; f->path; f++)
        *(const char **) ((char *) out + f->offset) = oa_json_path_string(p, root, f->path);
}

/* The exp claim of the JWT at path, 0 when it is not one. */
static apr_time_t jwt_exp_at(apr_pool_t *p, json_t *root, const char *path)
{
    const char *token = oa_json_path_string(p, root, path);
    oa_jwt_claims claims;

    if (!token || oa_jwt_read_claims(p, token, strlen(token), &claims))
        return 0;
    return claims.exp;
}

/* The first expiry source of the format that gives a time; 0 when none does. */
static apr_time_t read_expiry(apr_pool_t *p, const oa_authfile_format *f, json_t *root,
                              const oa_credential *cred)
{
    apr_time_t t = 0;

    for (const oa_expiry_source *src = f->expiry; src->path && !t; src++) {
        switch (src->kind) {
        case OA_EXPIRY_AT_PATH:
            if (oa_time_from_json(oa_json_path_get(root, src->path), src->unit, &t))
                t = 0;
            break;
        case OA_EXPIRY_JWT_EXP:
            t = jwt_exp_at(p, root, src->path);
            break;
        case OA_EXPIRY_AFTER_LAST_REFRESH:
            if (cred->last_refresh)
                t = cred->last_refresh + OA_CODEX_REFRESH_AGE;
            break;
        }
    }
    return t;
}

/* "disabled": true, or the string "true" some hand-edited files hold. */
static int read_disabled(json_t *root, const char *path)
{
    json_t *v = path ? oa_json_path_get(root, path) : NULL;
    return json_is_true(v) || (json_is_string(v) && !strcasecmp(json_string_value(v), "true"));
}

/* Email and ChatGPT account from the id token (then the access token) when the file does
 * not hold them itself. */
static void read_claims(apr_pool_t *p, oa_credential *cred)
{
    const char *tokens[] = {cred->id_token, cred->access_token};
    oa_jwt_claims claims;

    for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++) {
        if (!tokens[i] || oa_jwt_read_claims(p, tokens[i], strlen(tokens[i]), &claims))
            continue;
        if (!cred->email)
            cred->email = claims.email;
        if (!cred->account_id && cred->provider == OA_PROVIDER_CODEX)
            cred->account_id = claims.chatgpt_account_id;
    }
}

int oa_authfile_parse(apr_pool_t *p, oa_provider hint, const char *data, apr_size_t len,
                      oa_credential *out, const char **err)
{
    json_t *root = load_json(p, "the auth file", data, len, err);
    const oa_authfile_format *f;
    json_t *last_refresh;

    memset(out, 0, sizeof(*out));
    if (!root)
        return -1;
    f = oa_authfile_format_detect(root);
    if (!f) {
        *err = "not an auth file of any known format (no access token found)";
        return -1;
    }
    out->format = f->id;
    out->provider = oa_authfile_format_provider(p, f, root, hint, err);
    if (out->provider == OA_PROVIDER_NONE)
        return -1;
    read_strings(p, f->strings, root, out);
    if (!out->access_token) {
        *err = apr_psprintf(p, "a %s file without an access token", f->name);
        return -1;
    }
    last_refresh = f->last_refresh_path ? oa_json_path_get(root, f->last_refresh_path) : NULL;
    if (last_refresh && oa_time_from_json(last_refresh, OA_TIME_RFC3339, &out->last_refresh))
        out->last_refresh = 0;
    out->expiry = read_expiry(p, f, root, out);
    out->disabled = read_disabled(root, f->disabled_path);
    read_claims(p, out);
    return 0;
}

const char *oa_authfile_kiro_registration_path(apr_pool_t *p, const char *token_file,
                                               const oa_credential *cred)
{
    const char *hash = cred->client_id_hash, *slash;
    size_t n = hash ? strlen(hash) : 0;

    if (n == 0 || n > OA_CLIENT_ID_HASH_MAX || !token_file)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (!apr_isalnum(hash[i]) && hash[i] != '-' && hash[i] != '_')
            return NULL;
    }
    slash = strrchr(token_file, '/');
    if (!slash)
        return apr_pstrcat(p, hash, ".json", NULL);
    return apr_pstrcat(p, apr_pstrmemdup(p, token_file, (apr_size_t) (slash - token_file + 1)),
                       hash, ".json", NULL);
}

int oa_authfile_read_kiro_registration(apr_pool_t *p, const char *data, apr_size_t len,
                                       oa_credential *cred, const char **err)
{
    static const oa_string_field registration[] = {
        {offsetof(oa_credential, client_id), "clientId"},
        {offsetof(oa_credential, client_secret), "clientSecret"},
        {0, NULL},
    };
    json_t *root = load_json(p, "the Kiro client registration", data, len, err);
    oa_credential found;

    if (!root)
        return -1;
    memset(&found, 0, sizeof(found));
    read_strings(p, registration, root, &found);
    if (!found.client_id || !found.client_secret) {
        *err = "a Kiro client registration without clientId and clientSecret";
        return -1;
    }
    if (!cred->client_id)
        cred->client_id = found.client_id;
    if (!cred->client_secret)
        cred->client_secret = found.client_secret;
    if (oa_time_from_json(json_object_get(root, "expiresAt"), OA_TIME_RFC3339,
                          &cred->client_secret_expiry))
        cred->client_secret_expiry = 0;
    return 0;
}
