/* Provider endpoints of an AIProxyMockOAuth vhost: the ChatGPT backend (Codex) and the Claude
 * Code Messages API accept only an access token the mock issued and still considers valid,
 * checked against the shared token store. Codex also needs the chatgpt-account-id of the
 * token's account, Claude Code the oauth-2025-04-20 beta. A refusal gets the provider's shape. */
#include <string.h>

#include <apr_strings.h>

#include "mock.h"

#define CLAUDE_OAUTH_BETA "oauth-2025-04-20"

/* Why a request is refused, and what each provider says then. */
static const struct {
    const char *outcome;
    int status;
    const char *openai_code; /* Codex error.code */
    const char *openai_message;
    const char *anthropic_message;
} refusals[] = {
    {"missing", 401, "missing_authorization", "Missing bearer authentication in header",
     "x-api-key header is required"},
    {"unknown", 401, "token_invalidated",
     "Could not parse your authentication token. Please try signing in again.",
     "Invalid bearer token"},
    {"rotated", 401, "token_invalidated",
     "Your authentication token has been invalidated. Please try signing in again.",
     "Invalid bearer token"},
    {"revoked", 401, "token_invalidated",
     "Your authentication token has been invalidated. Please try signing in again.",
     "Invalid bearer token"},
    {"expired", 401, "token_expired",
     "Provided authentication token is expired. Please try signing in again.",
     "OAuth token has expired. Please obtain a new token or refresh your existing token."},
    {"account_mismatch", 403, "account_mismatch",
     "mock: chatgpt-account-id does not match the account of the token",
     "mock: chatgpt-account-id does not match the account of the token"},
    {"beta_missing", 401, NULL, "OAuth authentication is currently not supported.",
     "OAuth authentication is currently not supported."},
};

static void refuse(mock_call *c, const char *outcome, mock_reply *reply)
{
    size_t i = 0;
    while (i < sizeof(refusals) / sizeof(refusals[0]) &&
           strcmp(refusals[i].outcome, outcome) != 0) {
        i++;
    }
    if (i == sizeof(refusals) / sizeof(refusals[0])) {
        mock_provider_for(c->route.proto)
            ->error(c, reply, 500, "mock: the token store cannot be opened");
    } else if (c->route.proto == MOCK_KIRO) {
        /* AWS refuses a bad bearer token with 403 AccessDeniedException */
        mock_provider_for(MOCK_KIRO)->error(
            c, reply, 403,
            strcmp(outcome, "expired") == 0
                ? "The bearer token included in the request is expired."
                : "The bearer token included in the request is invalid.");
    } else if (c->route.proto == MOCK_OPENAI || c->route.proto == MOCK_RESPONSES) {
        json_t *body = mock_openai_error_json(refusals[i].status, refusals[i].openai_message);
        json_object_set_new(json_object_get(body, "error"), "code",
                            refusals[i].openai_code ? json_string(refusals[i].openai_code)
                                                    : json_null());
        mock_reply_body(reply, refusals[i].status, body);
    } else {
        mock_provider_for(c->route.proto)
            ->error(c, reply, refusals[i].status,
                    c->route.proto == MOCK_ANTHROPIC ? refusals[i].anthropic_message : NULL);
    }
}

static int still_valid(const json_t *expires_at, apr_time_t now)
{
    return json_is_integer(expires_at) && json_integer_value(expires_at) > apr_time_sec(now);
}

/* The credential token belongs to (*current: it is its latest access token, not a retired one)
 * and the verdict on it. */
static const char *judge_token(const mock_oauth_store *st, const char *token, apr_time_t now,
                               json_t **found, int *current)
{
    const json_t *credentials = json_object_get(st->state, "credentials");
    int keep_rotated =
        json_is_true(json_object_get(json_object_get(st->state, "control"), "keep_rotated_access"));
    size_t i, j;
    json_t *cred, *old;

    json_array_foreach(credentials, i, cred)
    {
        const char *access = mock_json_str(cred, "access");
        if (!access || strcmp(access, token) != 0) {
            continue;
        }
        *found = cred;
        *current = 1;
        if (json_is_true(json_object_get(cred, "revoked"))) {
            return "revoked";
        }
        return still_valid(json_object_get(cred, "expires_at"), now) ? "ok" : "expired";
    }
    json_array_foreach(credentials, i, cred)
    {
        json_array_foreach(json_object_get(cred, "rotated_access"), j, old)
        {
            const char *access = mock_json_str(old, "token");
            if (!access || strcmp(access, token) != 0) {
                continue;
            }
            *found = cred;
            if (!keep_rotated || json_is_true(json_object_get(cred, "revoked"))) {
                return "rotated";
            }
            return still_valid(json_object_get(old, "expires_at"), now) ? "ok" : "expired";
        }
    }
    return "unknown";
}

/* The identity checks of a dialect, once the token is good. */
static const char *check_identity(mock_oauth_dialect dialect, const json_t *cred,
                                  apr_table_t *headers_in)
{
    if (dialect == MOCK_OAUTH_CODEX) {
        const char *want = mock_json_str(cred, "account");
        const char *have = apr_table_get(headers_in, "chatgpt-account-id");
        if (!have || strcmp(have, want ? want : MOCK_OAUTH_DEFAULT_ACCOUNT) != 0) {
            return "account_mismatch";
        }
    } else if (dialect == MOCK_OAUTH_CLAUDE) {
        const char *beta = apr_table_get(headers_in, "anthropic-beta");
        if (!beta || !strstr(beta, CLAUDE_OAUTH_BETA)) {
            return "beta_missing";
        }
    }
    return "ok";
}

static const char *dialect_name(mock_oauth_dialect dialect)
{
    switch (dialect) {
    case MOCK_OAUTH_CODEX:
        return "codex";
    case MOCK_OAUTH_CLAUDE:
        return "claude";
    case MOCK_OAUTH_GOOGLE:
        return "google";
    case MOCK_OAUTH_KIRO:
        return "kiro";
    default:
        return "off";
    }
}

/* The credential's scenario for this call: always, or while its scenario_times lasts (counted
 * down in the store, under the exclusive lock). NULL: none applies. */
static const char *scenario_for_call(mock_call *c, const char *store_dir, const char *name,
                                     const char *label)
{
    mock_oauth_store st;
    const char *scenario = NULL;
    json_t *credentials, *cred;
    size_t i;

    if (mock_oauth_store_open(c->pool, store_dir, name, 1, &st) != 0) {
        return NULL;
    }
    credentials = json_object_get(st.state, "credentials");
    json_array_foreach(credentials, i, cred)
    {
        json_t *times = json_object_get(cred, "scenario_times");
        const char *l = mock_json_str(cred, "label");
        if (!l || strcmp(l, label) != 0) {
            continue;
        }
        scenario = mock_json_str(cred, "scenario");
        if (json_is_integer(times)) {
            if (json_integer_value(times) <= 0) {
                scenario = NULL;
            } else {
                json_object_set_new(cred, "scenario_times",
                                    json_integer(json_integer_value(times) - 1));
                mock_oauth_store_save(&st);
            }
        }
        scenario = scenario ? apr_pstrdup(c->pool, scenario) : NULL;
        break;
    }
    mock_oauth_store_close(&st);
    return scenario;
}

int mock_oauth_bearer(mock_call *c, mock_oauth_dialect dialect, const char *store_dir,
                      const char *name, apr_table_t *headers_in, mock_reply *reply, json_t **oauth)
{
    int counted = 0; /* the credential's scenario is counted down: settled after the lock */
    const char *label = NULL;
    const char *token = mock_bearer_token(headers_in);
    const char *outcome = "missing";
    json_t *record = json_pack(
        "{s:s,s:s,s:o,s:n,s:n}", "endpoint", "provider", "dialect", dialect_name(dialect), "token",
        token ? mock_json_string(token, strlen(token)) : json_null(), "credential", "generation");
    mock_oauth_store st;

    if (token && mock_oauth_store_open(c->pool, store_dir, name, 0, &st) == 0) {
        json_t *cred = NULL;
        int current = 0;
        outcome = judge_token(&st, token, c->now, &cred, &current);
        if (cred) {
            const char *scenario = mock_json_str(cred, "scenario");
            json_object_set(record, "credential", json_object_get(cred, "label"));
            if (current) {
                json_object_set(record, "generation", json_object_get(cred, "generation"));
            }
            if (strcmp(outcome, "ok") == 0) {
                outcome = check_identity(dialect, cred, headers_in);
            }
            c->auth_markers = scenario ? apr_pstrdup(c->pool, scenario) : NULL;
            if (scenario && json_is_integer(json_object_get(cred, "scenario_times"))) {
                counted = 1;
                label = apr_pstrdup(c->pool, mock_json_str(cred, "label"));
            }
        }
        mock_oauth_store_close(&st);
        /* Code Assist's setup calls take no markers: they do not count either */
        if (counted && label && strcmp(outcome, "ok") == 0 &&
            c->route.ep != MOCK_EP_LOAD_CODE_ASSIST && c->route.ep != MOCK_EP_ONBOARD_USER) {
            c->auth_markers = scenario_for_call(c, store_dir, name, label);
        }
    } else if (token) {
        outcome = "store_error";
    }
    json_object_set_new(record, "outcome", json_string(outcome));
    *oauth = record;
    if (strcmp(outcome, "ok") == 0) {
        return 1;
    }
    c->auth_markers = NULL;
    refuse(c, outcome, reply);
    return 0;
}
