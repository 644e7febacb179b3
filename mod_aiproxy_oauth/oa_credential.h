/*
 * oa_credential.h: one OAuth credential as read from an auth file, the same whatever file
 * format it came from.
 */
#ifndef OA_CREDENTIAL_H
#define OA_CREDENTIAL_H

#include "apr_time.h"
#include "oa_provider.h"

/* The auth-file formats read (oa_authfile_format.c describes each). */
typedef enum {
    OA_FORMAT_CODEX_CLI = 0, /* ~/.codex/auth.json */
    OA_FORMAT_CLAUDE_CLI,    /* ~/.claude/.credentials.json */
    OA_FORMAT_KIRO_IDE,      /* ~/.aws/sso/cache/kiro-auth-token.json */
    OA_FORMAT_PROXY_GOOGLE,  /* aiproxy / CLIProxyAPI Gemini file: tokens under "token" */
    OA_FORMAT_GEMINI_CLI,    /* ~/.gemini/oauth_creds.json */
    OA_FORMAT_PROXY,         /* aiproxy / CLIProxyAPI flat file (codex, claude, antigravity,
                                kiro) */
    OA_FORMAT_COUNT
} oa_format;

typedef struct {
    oa_provider provider;
    oa_format format;
    /* Secrets: never logged, shown or put in an error message (see oa_fingerprint.h). */
    const char *access_token;
    const char *refresh_token; /* NULL: the file cannot be refreshed */
    const char *id_token;      /* Codex and Google: a JWT with the account's claims */
    const char *client_secret; /* NULL: the provider's public default */
    /* When the access token stops working; 0 when the file does not say (refresh first). */
    apr_time_t expiry;
    apr_time_t last_refresh; /* 0: the file does not say */
    const char *account_id;  /* Codex: the ChatGPT account (chatgpt-account-id header) */
    const char *email;
    const char *client_id;           /* NULL: the provider's public default */
    apr_time_t client_secret_expiry; /* Kiro IdC client registration; 0: unknown */
    const char *project_id;          /* Gemini CLI / Antigravity Code Assist project */
    const char *region;              /* Kiro: AWS region of the token endpoints */
    const char *auth_method;         /* Kiro: "social", "IdC", "builder-id", ... */
    const char *profile_arn;         /* Kiro social logins */
    const char *client_id_hash;      /* Kiro IDE: names the client registration file */
    int disabled;                    /* "disabled": true: skipped, as aiproxy does */
} oa_credential;

#endif /* OA_CREDENTIAL_H */
