/* oa_refresh_dialect.c: see oa_refresh_dialect.h. Facts: research/oauth.md §1-§5. */
#include "oa_refresh_dialect.h"

#define END_BODY                                                                                   \
    {                                                                                              \
        NULL, OA_VALUE_GRANT_TYPE                                                                  \
    }

/* OAuth 2 refresh (RFC 6749 §6) in snake_case, JSON for Codex CLI and Claude Code. */
static const oa_body_field oauth2_json_body[] = {
    {"client_id", OA_VALUE_CLIENT_ID},
    {"grant_type", OA_VALUE_GRANT_TYPE},
    {"refresh_token", OA_VALUE_REFRESH_TOKEN},
    {"scope", OA_VALUE_SCOPE},
    END_BODY,
};
/* Google's installed-app clients: form-encoded with the (public) client secret. */
static const oa_body_field google_form_body[] = {
    {"client_id", OA_VALUE_CLIENT_ID},   {"client_secret", OA_VALUE_CLIENT_SECRET},
    {"grant_type", OA_VALUE_GRANT_TYPE}, {"refresh_token", OA_VALUE_REFRESH_TOKEN},
    {"scope", OA_VALUE_SCOPE},           END_BODY,
};
/* AWS SSO OIDC CreateToken: camelCase JSON, not a form. */
static const oa_body_field aws_oidc_body[] = {
    {"clientId", OA_VALUE_CLIENT_ID},
    {"clientSecret", OA_VALUE_CLIENT_SECRET},
    {"refreshToken", OA_VALUE_REFRESH_TOKEN},
    {"grantType", OA_VALUE_GRANT_TYPE},
    END_BODY,
};
static const oa_body_field kiro_social_body[] = {
    {"refreshToken", OA_VALUE_REFRESH_TOKEN},
    END_BODY,
};

static const oa_answer_keys oauth2_answer = {"access_token", "refresh_token", "id_token",
                                             "expires_in", NULL};
static const oa_answer_keys aws_answer = {"accessToken", "refreshToken", NULL, "expiresIn",
                                          "profileArn"};

#define HOUR apr_time_from_sec(3600)

static const oa_refresh_dialect dialects[] = {
#define DIALECT_CODEX 0
    {"codex", "https://auth.openai.com/oauth/token", OA_BODY_JSON, oauth2_json_body,
     "app_EMoamEEZ73f0CkXaXp7hrann", NULL, NULL, &oauth2_answer, HOUR},
#define DIALECT_CLAUDECODE 1
    {"claudecode", "https://platform.claude.com/v1/oauth/token", OA_BODY_JSON, oauth2_json_body,
     "9d1c250a-e61b-44d9-88ed-5944d1962f5e", NULL, NULL, &oauth2_answer, HOUR},
#define DIALECT_GEMINICLI 2
    {"geminicli", "https://oauth2.googleapis.com/token", OA_BODY_FORM, google_form_body,
     "681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com",
     "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", NULL, &oauth2_answer, HOUR},
#define DIALECT_ANTIGRAVITY 3
    {"antigravity", "https://oauth2.googleapis.com/token", OA_BODY_FORM, google_form_body,
     "1071006060591-tmhssin2h21lcre235vtolojh4g403ep.apps.googleusercontent.com",
     "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", NULL, &oauth2_answer, HOUR},
#define DIALECT_KIRO_SOCIAL 4
    {"kiro-social", "https://prod.{region}.auth.desktop.kiro.dev/refreshToken", OA_BODY_JSON,
     kiro_social_body, NULL, NULL, NULL, &aws_answer, HOUR},
#define DIALECT_KIRO_IDC 5
    {"kiro-idc", "https://oidc.{region}.amazonaws.com/token", OA_BODY_JSON, aws_oidc_body, NULL,
     NULL, NULL, &aws_answer, HOUR},
};

static const int dialect_of_provider[OA_PROVIDER_COUNT] = {
    [OA_PROVIDER_CODEX] = DIALECT_CODEX,         [OA_PROVIDER_CLAUDECODE] = DIALECT_CLAUDECODE,
    [OA_PROVIDER_GEMINICLI] = DIALECT_GEMINICLI, [OA_PROVIDER_ANTIGRAVITY] = DIALECT_ANTIGRAVITY,
    [OA_PROVIDER_KIRO] = DIALECT_KIRO_SOCIAL,
};

const oa_refresh_dialect *oa_refresh_dialect_for(const oa_credential *cred)
{
    if (cred->provider < 0 || cred->provider >= OA_PROVIDER_COUNT)
        return NULL;
    /* The proxies' rule: a Kiro login with a client id and secret is an IdC one. */
    if (cred->provider == OA_PROVIDER_KIRO && cred->client_id && cred->client_secret)
        return &dialects[DIALECT_KIRO_IDC];
    return &dialects[dialect_of_provider[cred->provider]];
}
