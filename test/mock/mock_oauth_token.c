/* The OAuth token endpoint of an AIProxyMockOAuth vhost: grant_type=refresh_token as
 * auth.openai.com (Codex), api.anthropic.com/v1/oauth/token (Claude Code),
 * oauth2.googleapis.com/token and Kiro's two (prod.{region}.auth.desktop.kiro.dev/refreshToken
 * for social logins, oidc.{region}.amazonaws.com/token for IdC ones, camelCase JSON) answer it.
 * Each success issues a new access token and, except for Google, a new refresh token while the old
 * one is retired, so a reused refresh token gets the provider's permanent error. The store's
 * controls add a delay and transient or permanent failures on demand. */
#include <string.h>
#include <strings.h>

#include <apr_strings.h>

#include "mock.h"

#define DEFAULT_LIFETIME 3600
#define MAX_DELAY_MS     600000
#define SALT_ACCESS      101
#define SALT_REFRESH     102
#define SALT_ID_TOKEN    103
#define SALT_JTI         104
#define CODEX_CLIENT_ID  "app_EMoamEEZ73f0CkXaXp7hrann"
#define CODEX_AUTH_CLAIM "https://api.openai.com/auth"

/* The fields of a token request, from a JSON or a form body. */
typedef struct {
    const char *format; /* "json", "form" or "invalid" */
    const char *grant_type, *client_id, *refresh_token, *scope, *client_secret;
} token_request;

/* One refresh being answered. */
typedef struct {
    mock_call *c;
    json_t *cred; /* borrowed from the store */
    const char *client_id;
    apr_int64_t lifetime, expires_at;
} grant;

typedef struct {
    const char *name;
    mock_proto proto;     /* envelope of transient (status) failures */
    int rotates;          /* a refresh also returns a new refresh token and retires the old */
    int permanent_status; /* status of invalid_grant / refresh_token_* answers */
    int nested_error; /* {"error":{message,type,param,code}}, else {"error","error_description"} */
    const char *reused_code;  /* a retired refresh token */
    const char *revoked_code; /* a credential a test revoked */
    const char *(*access)(const grant *g);
    const char *(*refresh)(const grant *g);
    /* fields beyond access_token, expires_in, token_type and refresh_token */
    void (*extra)(const grant *g, json_t *body);
    int camel; /* AWS style: accessToken, expiresIn, tokenType, refreshToken; a request without
                * grantType (Kiro's social refreshToken endpoint) is a refresh */
} dialect_info;

static const char *cred_str(const grant *g, const char *key, const char *dflt)
{
    const char *v = mock_json_str(g->cred, key);
    return v ? v : dflt;
}

static apr_uint64_t grant_seed(const grant *g, unsigned salt)
{
    return mock_mix(g->c->seed ^ (apr_uint64_t) salt);
}

/* ---- Codex: JWT access and id tokens carrying exp and the ChatGPT account ------------------ */

static json_t *codex_auth_claim(const grant *g)
{
    return json_pack("{s:s,s:s,s:s}", "chatgpt_account_id",
                     cred_str(g, "account", MOCK_OAUTH_DEFAULT_ACCOUNT), "chatgpt_plan_type",
                     cred_str(g, "plan", "plus"), "chatgpt_user_id",
                     apr_pstrcat(g->c->pool, "user-", cred_str(g, "label", "mock"), NULL));
}

static const char *codex_access(const grant *g)
{
    json_t *claims = json_pack(
        "{s:[s],s:s,s:I,s:I,s:s,s:s,s:o,s:{s:s},s:[s,s,s,s],s:s}", "aud",
        "https://api.openai.com/v1", "client_id", g->client_id, "exp", (json_int_t) g->expires_at,
        "iat", (json_int_t) apr_time_sec(g->c->now), "iss", "https://auth.openai.com", "jti",
        mock_id(g->c->pool, "", grant_seed(g, SALT_JTI), SALT_JTI, 24), CODEX_AUTH_CLAIM,
        codex_auth_claim(g), "https://api.openai.com/profile", "email",
        cred_str(g, "email", "mock@example.invalid"), "scp", "openid", "profile", "email",
        "offline_access", "sub", apr_pstrcat(g->c->pool, "auth0|", cred_str(g, "label", ""), NULL));
    const char *jwt = mock_jwt(g->c->pool, claims, grant_seed(g, SALT_ACCESS));
    json_decref(claims);
    return jwt;
}

static const char *codex_refresh(const grant *g)
{
    return mock_id(g->c->pool, "rt_", grant_seed(g, SALT_REFRESH), SALT_REFRESH, 64);
}

static void codex_extra(const grant *g, json_t *body)
{
    json_t *claims =
        json_pack("{s:[s],s:s,s:I,s:I,s:s,s:o,s:s}", "aud", g->client_id, "email",
                  cred_str(g, "email", "mock@example.invalid"), "exp", (json_int_t) g->expires_at,
                  "iat", (json_int_t) apr_time_sec(g->c->now), "iss", "https://auth.openai.com",
                  CODEX_AUTH_CLAIM, codex_auth_claim(g), "sub",
                  apr_pstrcat(g->c->pool, "auth0|", cred_str(g, "label", ""), NULL));
    json_object_set_new(body, "id_token",
                        json_string(mock_jwt(g->c->pool, claims, grant_seed(g, SALT_ID_TOKEN))));
    json_object_set_new(body, "scope", json_string("openid profile email offline_access"));
    json_decref(claims);
}

/* ---- Claude Code: sk-ant-oat01 / sk-ant-ort01 tokens, account and organization -------------- */

static const char *claude_access(const grant *g)
{
    return mock_id(g->c->pool, "sk-ant-oat01-", grant_seed(g, SALT_ACCESS), SALT_ACCESS, 95);
}

static const char *claude_refresh(const grant *g)
{
    return mock_id(g->c->pool, "sk-ant-ort01-", grant_seed(g, SALT_REFRESH), SALT_REFRESH, 95);
}

static void claude_extra(const grant *g, json_t *body)
{
    const char *label = cred_str(g, "label", "mock");
    json_object_set_new(body, "scope", json_string("user:inference user:profile"));
    json_object_set_new(body, "organization",
                        json_pack("{s:s,s:s}", "uuid", apr_pstrcat(g->c->pool, "org-", label, NULL),
                                  "name", "Mock Organization"));
    json_object_set_new(body, "account",
                        json_pack("{s:s,s:s}", "uuid",
                                  cred_str(g, "account", MOCK_OAUTH_DEFAULT_ACCOUNT),
                                  "email_address", cred_str(g, "email", "mock@example.invalid")));
}

/* ---- Google: ya29 access tokens; the refresh token does not rotate -------------------------- */

static const char *google_access(const grant *g)
{
    return mock_id(g->c->pool, "ya29.a0", grant_seed(g, SALT_ACCESS), SALT_ACCESS, 120);
}

static void google_extra(const grant *g, json_t *body)
{
    json_object_set_new(body, "scope",
                        json_string("https://www.googleapis.com/auth/cloud-platform "
                                    "https://www.googleapis.com/auth/userinfo.email "
                                    "https://www.googleapis.com/auth/userinfo.profile openid"));
}

/* ---- Kiro: aoa / aor tokens; social logins get their profileArn back ------------------------ */

static const char *kiro_access(const grant *g)
{
    return mock_id(g->c->pool, "aoaAAAAAG", grant_seed(g, SALT_ACCESS), SALT_ACCESS, 120);
}

static const char *kiro_refresh(const grant *g)
{
    return mock_id(g->c->pool, "aorAAAAAG", grant_seed(g, SALT_REFRESH), SALT_REFRESH, 120);
}

/* The social endpoint answers the profile too; the OIDC one (a client id in the request)
 * does not. */
static void kiro_extra(const grant *g, json_t *body)
{
    const char *account = mock_json_str(g->cred, "account");
    if (!g->client_id && account) {
        json_object_set_new(body, "profileArn", json_string(account));
    }
}

static const dialect_info dialects[] = {
    [MOCK_OAUTH_CODEX] = {"codex", MOCK_RESPONSES, 1, 401, 1, "refresh_token_reused",
                          "refresh_token_invalidated", codex_access, codex_refresh, codex_extra, 0},
    [MOCK_OAUTH_CLAUDE] = {"claude", MOCK_ANTHROPIC, 1, 400, 0, "invalid_grant", "invalid_grant",
                           claude_access, claude_refresh, claude_extra, 0},
    [MOCK_OAUTH_GOOGLE] = {"google", MOCK_GEMINI, 0, 400, 0, "invalid_grant", "invalid_grant",
                           google_access, NULL, google_extra, 0},
    [MOCK_OAUTH_KIRO] = {"kiro", MOCK_KIRO, 1, 400, 0, "invalid_grant", "invalid_grant",
                         kiro_access, kiro_refresh, kiro_extra, 1},
};

/* ---- the request ---------------------------------------------------------------------------- */

static void parse_request(apr_pool_t *p, const char *content_type, const char *body, apr_size_t len,
                          token_request *req)
{
    static const char form_type[] = "application/x-www-form-urlencoded";
    memset(req, 0, sizeof(*req));
    if (content_type && strncasecmp(content_type, form_type, sizeof(form_type) - 1) == 0) {
        const char *form = apr_pstrmemdup(p, body, len);
        req->format = "form";
        req->grant_type = mock_query_param(p, form, "grant_type");
        req->client_id = mock_query_param(p, form, "client_id");
        req->refresh_token = mock_query_param(p, form, "refresh_token");
        req->scope = mock_query_param(p, form, "scope");
        req->client_secret = mock_query_param(p, form, "client_secret");
    } else {
        json_t *j = json_loadb(body, len, 0, NULL);
        req->format = json_is_object(j) ? "json" : "invalid";
        req->grant_type = apr_pstrdup(p, mock_json_str(j, "grant_type"));
        req->client_id = apr_pstrdup(p, mock_json_str(j, "client_id"));
        req->refresh_token = apr_pstrdup(p, mock_json_str(j, "refresh_token"));
        req->scope = apr_pstrdup(p, mock_json_str(j, "scope"));
        req->client_secret = apr_pstrdup(p, mock_json_str(j, "client_secret"));
        /* AWS OIDC and Kiro's refreshToken endpoint spell them in camelCase */
        if (!req->grant_type && !req->client_id && !req->refresh_token) {
            req->grant_type = apr_pstrdup(p, mock_json_str(j, "grantType"));
            req->client_id = apr_pstrdup(p, mock_json_str(j, "clientId"));
            req->refresh_token = apr_pstrdup(p, mock_json_str(j, "refreshToken"));
            req->client_secret = apr_pstrdup(p, mock_json_str(j, "clientSecret"));
        }
        json_decref(j);
    }
}

static json_t *str_or_null(const char *s)
{
    return s ? mock_json_string(s, strlen(s)) : json_null();
}

static json_t *record_object(const dialect_info *d, const token_request *req)
{
    return json_pack("{s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:o}", "endpoint", "token", "dialect", d->name,
                     "format", req->format, "grant_type", str_or_null(req->grant_type), "client_id",
                     str_or_null(req->client_id), "refresh_token", str_or_null(req->refresh_token),
                     "scope", str_or_null(req->scope), "client_secret",
                     str_or_null(req->client_secret));
}

/* ---- failures ------------------------------------------------------------------------------- */

static void permanent_error(const dialect_info *d, mock_reply *reply, const char *code,
                            const char *message)
{
    if (d->nested_error) {
        mock_reply_body(reply, d->permanent_status,
                        json_pack("{s:{s:s,s:s,s:n,s:s}}", "error", "message", message, "type",
                                  "invalid_request_error", "param", "code", code));
    } else {
        mock_reply_body(reply, d->permanent_status,
                        json_pack("{s:s,s:s}", "error", code, "error_description", message));
    }
}

/* state.control.fail: a number is a transient status with the dialect's error envelope; a
 * string is a permanent error code. fail_times (absent = always) counts down per failure. */
static const char *controlled_failure(mock_call *c, const dialect_info *d, mock_oauth_store *st,
                                      mock_reply *reply, int *save)
{
    json_t *control = json_object_get(st->state, "control");
    const json_t *fail = json_object_get(control, "fail");
    apr_int64_t times = mock_oauth_control_int(st, "fail_times", -1);
    apr_int64_t retry_after = mock_oauth_control_int(st, "retry_after", -1);
    const char *code = json_string_value(fail);
    int status = json_is_integer(fail) ? (int) json_integer_value(fail) : 0;

    if ((!code && !status) || times == 0) {
        return NULL;
    }
    if (times > 0) {
        json_object_set_new(control, "fail_times", json_integer((json_int_t) (times - 1)));
        *save = 1;
    }
    if (code && code[0] >= '0' && code[0] <= '9') {
        status = (int) apr_atoi64(code);
        code = NULL;
    }
    if (code) {
        permanent_error(d, reply, code, "mock: refresh refused on demand");
        return "failed";
    }
    if (status < 400 || status > 599) {
        status = 500;
    }
    mock_provider_for(d->proto)->error(c, reply, status, NULL);
    if (retry_after >= 0) {
        apr_table_setn(reply->headers, "Retry-After",
                       apr_psprintf(c->pool, "%" APR_INT64_T_FMT, retry_after));
    }
    return "failed";
}

/* ---- the refresh ---------------------------------------------------------------------------- */

static json_t *find_credential(json_t *credentials, const char *key, const char *token)
{
    size_t i;
    json_t *cred;
    json_array_foreach(credentials, i, cred)
    {
        const char *have = mock_json_str(cred, key);
        if (have && strcmp(have, token) == 0) {
            return cred;
        }
    }
    return NULL;
}

/* The credential whose retired refresh tokens include token. */
static json_t *find_used(json_t *credentials, const char *token)
{
    size_t i, j;
    json_t *cred, *used;
    json_array_foreach(credentials, i, cred)
    {
        json_array_foreach(json_object_get(cred, "used_refresh"), j, used)
        {
            if (json_is_string(used) && strcmp(json_string_value(used), token) == 0) {
                return cred;
            }
        }
    }
    return NULL;
}

/* The array member key of obj, created when a test's edit left it out. */
static json_t *array_member(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_array(v)) {
        v = json_array();
        json_object_set_new(obj, key, v);
    }
    return v;
}

static void issue(const dialect_info *d, grant *g, mock_reply *reply, json_t *record)
{
    json_t *cred = g->cred;
    const char *old_access = mock_json_str(cred, "access");
    const char *old_refresh = mock_json_str(cred, "refresh");
    json_int_t generation = json_integer_value(json_object_get(cred, "generation")) + 1;
    const char *access, *refresh = old_refresh;
    json_t *body;

    g->expires_at = apr_time_sec(g->c->now) + g->lifetime;
    if (old_access) {
        json_array_append_new(array_member(cred, "rotated_access"),
                              json_pack("{s:s,s:O}", "token", old_access, "expires_at",
                                        json_object_get(cred, "expires_at")));
    }
    if (d->rotates) {
        json_array_append_new(array_member(cred, "used_refresh"), json_string(old_refresh));
        refresh = d->refresh(g);
    }
    access = d->access(g);
    json_object_set_new(cred, "access", json_string(access));
    json_object_set_new(cred, "refresh", json_string(refresh));
    json_object_set_new(cred, "expires_at", json_integer((json_int_t) g->expires_at));
    json_object_set_new(cred, "generation", json_integer(generation));

    body = json_pack("{s:s,s:I,s:s}", d->camel ? "accessToken" : "access_token", access,
                     d->camel ? "expiresIn" : "expires_in", (json_int_t) g->lifetime,
                     d->camel ? "tokenType" : "token_type", "Bearer");
    if (d->rotates) {
        json_object_set_new(body, d->camel ? "refreshToken" : "refresh_token",
                            json_string(refresh));
    }
    d->extra(g, body);
    mock_reply_body(reply, 200, body);

    json_object_set_new(record, "generation", json_integer(generation));
    json_object_set_new(record, "issued_access", json_string(access));
    json_object_set_new(record, "issued_refresh", d->rotates ? json_string(refresh) : json_null());
    json_object_set_new(record, "expires_at", json_integer((json_int_t) g->expires_at));
}

/* Answer the request under the exclusive lock; returns the outcome recorded. */
static const char *answer(mock_call *c, const dialect_info *d, const token_request *req,
                          mock_oauth_store *st, mock_reply *reply, json_t *record, int *save)
{
    json_t *credentials = json_object_get(st->state, "credentials");
    const char *want_client = mock_json_str(json_object_get(st->state, "control"), "client_id");
    const char *want_secret = mock_json_str(json_object_get(st->state, "control"), "client_secret");
    const char *failed;
    const char *grant_type = req->grant_type;
    grant g;

    if (!grant_type && d->camel) {
        grant_type = "refresh_token"; /* Kiro's social endpoint takes only the refresh token */
    }
    if (!grant_type || strcmp(grant_type, "refresh_token") != 0 || !req->refresh_token) {
        mock_reply_body(reply, 400,
                        json_pack("{s:s,s:s}", "error",
                                  grant_type && strcmp(grant_type, "refresh_token")
                                      ? "unsupported_grant_type"
                                      : "invalid_request",
                                  "error_description",
                                  "mock: expected grant_type=refresh_token and a refresh_token"));
        return "bad_request";
    }
    failed = controlled_failure(c, d, st, reply, save);
    if (failed) {
        return failed;
    }
    if ((want_client && (!req->client_id || strcmp(want_client, req->client_id) != 0)) ||
        (want_secret && (!req->client_secret || strcmp(want_secret, req->client_secret) != 0))) {
        mock_reply_body(reply, 401,
                        json_pack("{s:s,s:s}", "error", "invalid_client", "error_description",
                                  "mock: unknown client_id"));
        return "invalid_client";
    }
    g.c = c;
    g.client_id = req->client_id ? req->client_id : d->camel ? NULL : CODEX_CLIENT_ID;
    g.lifetime = mock_oauth_control_int(st, "lifetime", DEFAULT_LIFETIME);
    g.cred = find_credential(credentials, "refresh", req->refresh_token);
    if (g.cred && json_is_true(json_object_get(g.cred, "revoked"))) {
        json_object_set_new(record, "credential", json_deep_copy(json_object_get(g.cred, "label")));
        permanent_error(d, reply, d->revoked_code, "mock: the grant was revoked");
        return "revoked";
    }
    if (g.cred) {
        json_object_set_new(record, "credential", json_deep_copy(json_object_get(g.cred, "label")));
        issue(d, &g, reply, record);
        *save = 1;
        return "issued";
    }
    g.cred = find_used(credentials, req->refresh_token);
    if (g.cred) {
        json_object_set_new(record, "credential", json_deep_copy(json_object_get(g.cred, "label")));
        permanent_error(d, reply, d->reused_code,
                        "Your refresh token has already been used to generate a new access token. "
                        "Please try signing in again.");
        return "reused";
    }
    permanent_error(d, reply, "invalid_grant", "mock: unknown refresh token");
    return "unknown";
}

json_t *mock_oauth_token(mock_call *c, mock_oauth_dialect dialect, const char *store_dir,
                         const char *name, const char *content_type, const char *body,
                         apr_size_t body_len, mock_reply *reply)
{
    const dialect_info *d = &dialects[dialect];
    token_request req;
    mock_oauth_store st;
    json_t *record;
    const char *outcome;
    apr_int64_t delay_ms;
    int save = 0, err;

    parse_request(c->pool, content_type, body, body_len, &req);
    record = record_object(d, &req);

    /* the delay comes first, outside the lock, so slow refreshes overlap like real ones */
    err = mock_oauth_store_open(c->pool, store_dir, name, 0, &st);
    delay_ms = err ? 0 : mock_oauth_control_int(&st, "delay_ms", 0);
    mock_oauth_store_close(&st);
    if (delay_ms > 0) {
        apr_sleep((apr_interval_time_t) (delay_ms > MAX_DELAY_MS ? MAX_DELAY_MS : delay_ms) * 1000);
        c->now = apr_time_now();
    }
    err = err ? err : mock_oauth_store_open(c->pool, store_dir, name, 1, &st);
    if (err) {
        mock_provider_for(d->proto)->error(c, reply, 500, "mock: the token store cannot be opened");
        outcome = "store_error";
    } else {
        outcome = answer(c, d, &req, &st, reply, record, &save);
        if (save && mock_oauth_store_save(&st) != 0) {
            mock_provider_for(d->proto)->error(c, reply, 500,
                                               "mock: the token store cannot be written");
            outcome = "store_error";
        }
        mock_oauth_store_close(&st);
    }
    json_object_set_new(record, "outcome", json_string(outcome));
    json_object_set_new(record, "status", json_integer(reply->status));
    json_object_set_new(record, "delay_ms", json_integer((json_int_t) delay_ms));
    return record;
}
