/* oa_authfile_format.c: see oa_authfile_format.h. Sources of each shape: research/oauth.md
 * (the CLIs' own files) and research/aiproxy.md §4 (the aiproxy and CLIProxyAPI files). */
#include <string.h>
#include "apr_strings.h"
#include "oa_authfile_format.h"
#include "oa_json.h"

#define FIELD(member, path)                                                                        \
    {                                                                                              \
        offsetof(oa_credential, member), path                                                      \
    }
#define END_FIELDS                                                                                 \
    {                                                                                              \
        0, NULL                                                                                    \
    }
#define END_EXPIRY                                                                                 \
    {                                                                                              \
        OA_EXPIRY_AT_PATH, NULL, OA_TIME_RFC3339                                                   \
    }

/* ~/.codex/auth.json: no expiry field, the access token's exp claim is it (Codex CLI falls
 * back to last_refresh + 8 days when the token has no exp). */
static const oa_string_field codex_cli_strings[] = {
    FIELD(access_token, "tokens.access_token"),
    FIELD(refresh_token, "tokens.refresh_token"),
    FIELD(id_token, "tokens.id_token"),
    FIELD(account_id, "tokens.account_id"),
    END_FIELDS,
};
static const oa_expiry_source codex_cli_expiry[] = {
    {OA_EXPIRY_JWT_EXP, "tokens.access_token", OA_TIME_EPOCH_S},
    {OA_EXPIRY_AFTER_LAST_REFRESH, "last_refresh", OA_TIME_RFC3339},
    END_EXPIRY,
};

/* ~/.claude/.credentials.json: camelCase under claudeAiOauth, expiresAt in epoch ms. */
static const oa_string_field claude_cli_strings[] = {
    FIELD(access_token, "claudeAiOauth.accessToken"),
    FIELD(refresh_token, "claudeAiOauth.refreshToken"),
    END_FIELDS,
};
static const oa_expiry_source claude_cli_expiry[] = {
    {OA_EXPIRY_AT_PATH, "claudeAiOauth.expiresAt", OA_TIME_EPOCH_MS},
    END_EXPIRY,
};

/* ~/.aws/sso/cache/kiro-auth-token.json: camelCase, expiresAt ISO 8601; an IdC login keeps
 * its client in <clientIdHash>.json next to it (oa_authfile_read_kiro_registration). */
static const oa_string_field kiro_ide_strings[] = {
    FIELD(access_token, "accessToken"),
    FIELD(refresh_token, "refreshToken"),
    FIELD(client_id, "clientId"),
    FIELD(client_secret, "clientSecret"),
    FIELD(region, "region"),
    FIELD(auth_method, "authMethod"),
    FIELD(profile_arn, "profileArn"),
    FIELD(client_id_hash, "clientIdHash"),
    END_FIELDS,
};
static const oa_expiry_source kiro_ide_expiry[] = {
    {OA_EXPIRY_AT_PATH, "expiresAt", OA_TIME_RFC3339},
    END_EXPIRY,
};

/* The Go proxies' Gemini CLI file: an oauth2.Token under "token", expiry RFC 3339. */
static const oa_string_field proxy_google_strings[] = {
    FIELD(access_token, "token.access_token"),
    FIELD(refresh_token, "token.refresh_token"),
    FIELD(id_token, "token.id_token"),
    FIELD(client_id, "token.client_id"),
    FIELD(client_secret, "token.client_secret"),
    FIELD(project_id, "project_id"),
    FIELD(email, "email"),
    END_FIELDS,
};
static const oa_expiry_source proxy_google_expiry[] = {
    {OA_EXPIRY_AT_PATH, "token.expiry", OA_TIME_RFC3339},
    END_EXPIRY,
};

/* ~/.gemini/oauth_creds.json: google-auth-library Credentials, expiry_date in epoch ms. */
static const oa_string_field gemini_cli_strings[] = {
    FIELD(access_token, "access_token"),
    FIELD(refresh_token, "refresh_token"),
    FIELD(id_token, "id_token"),
    END_FIELDS,
};
static const oa_expiry_source gemini_cli_expiry[] = {
    {OA_EXPIRY_AT_PATH, "expiry_date", OA_TIME_EPOCH_MS},
    END_EXPIRY,
};

/* The Go proxies' flat file, one shape for every provider, the provider in "type" (Kiro's
 * has none: the upstream's api type says). */
static const oa_string_field proxy_strings[] = {
    FIELD(access_token, "access_token"),
    FIELD(refresh_token, "refresh_token"),
    FIELD(id_token, "id_token"),
    FIELD(account_id, "account_id"),
    FIELD(email, "email"),
    FIELD(client_id, "client_id"),
    FIELD(client_secret, "client_secret"),
    FIELD(project_id, "project_id"),
    FIELD(region, "region"),
    FIELD(auth_method, "auth_method"),
    FIELD(profile_arn, "profile_arn"),
    END_FIELDS,
};
static const oa_expiry_source proxy_expiry[] = {
    {OA_EXPIRY_AT_PATH, "expired", OA_TIME_RFC3339},
    {OA_EXPIRY_AT_PATH, "expires_at", OA_TIME_RFC3339},
    {OA_EXPIRY_JWT_EXP, "access_token", OA_TIME_EPOCH_S},
    END_EXPIRY,
};

/* In detection order: a signature is only unique among the rows after it (every Google
 * and proxy file has access_token). */
static const oa_authfile_format formats[OA_FORMAT_COUNT] = {
    {OA_FORMAT_CODEX_CLI, "codex-cli", "tokens", OA_PROVIDER_CODEX, NULL, codex_cli_strings,
     codex_cli_expiry, "last_refresh", "disabled", NULL, NULL},
    {OA_FORMAT_CLAUDE_CLI, "claude-cli", "claudeAiOauth", OA_PROVIDER_CLAUDECODE, NULL,
     claude_cli_strings, claude_cli_expiry, NULL, "disabled", NULL, NULL},
    {OA_FORMAT_KIRO_IDE, "kiro-ide", "accessToken", OA_PROVIDER_KIRO, NULL, kiro_ide_strings,
     kiro_ide_expiry, NULL, "disabled", NULL, NULL},
    {OA_FORMAT_PROXY_GOOGLE, "proxy-google", "token", OA_PROVIDER_NONE, "type",
     proxy_google_strings, proxy_google_expiry, "last_refresh", "disabled", NULL, NULL},
    {OA_FORMAT_GEMINI_CLI, "gemini-cli", "expiry_date", OA_PROVIDER_GEMINICLI, NULL,
     gemini_cli_strings, gemini_cli_expiry, NULL, "disabled", NULL, NULL},
    {OA_FORMAT_PROXY, "proxy", "access_token", OA_PROVIDER_NONE, "type", proxy_strings,
     proxy_expiry, "last_refresh", "disabled", "timestamp", "expires_in"},
};

const oa_authfile_format *oa_authfile_format_detect(json_t *root)
{
    if (!json_is_object(root))
        return NULL;
    for (int i = 0; i < OA_FORMAT_COUNT; i++) {
        if (oa_json_path_get(root, formats[i].signature))
            return &formats[i];
    }
    return NULL;
}

const oa_authfile_format *oa_authfile_format_get(oa_format id)
{
    return id >= 0 && id < OA_FORMAT_COUNT ? &formats[id] : NULL;
}

const char *oa_authfile_format_path(const oa_authfile_format *f, size_t offset)
{
    for (const oa_string_field *s = f->strings; s->path; s++) {
        if (s->offset == offset)
            return s->path;
    }
    return NULL;
}

oa_provider oa_authfile_format_provider(apr_pool_t *p, const oa_authfile_format *f, json_t *root,
                                        oa_provider hint, const char **err)
{
    oa_provider provider = f->provider;
    json_t *type = f->type_path ? oa_json_path_get(root, f->type_path) : NULL;

    if (provider == OA_PROVIDER_NONE && json_is_string(type)) {
        provider = oa_provider_from_file_type(json_string_value(type));
        if (provider == OA_PROVIDER_NONE) {
            *err = "the file's \"type\" names no known provider";
            return OA_PROVIDER_NONE;
        }
    }
    if (provider == OA_PROVIDER_NONE)
        provider = hint;
    if (provider == OA_PROVIDER_NONE) {
        *err = apr_psprintf(p, "a %s file that does not say its provider", f->name);
        return OA_PROVIDER_NONE;
    }
    if (hint != OA_PROVIDER_NONE && hint != provider) {
        *err = apr_psprintf(p, "a %s credential (%s file), the upstream is %s",
                            oa_provider_name(provider), f->name, oa_provider_name(hint));
        return OA_PROVIDER_NONE;
    }
    return provider;
}
