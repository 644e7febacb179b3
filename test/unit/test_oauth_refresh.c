/*
 * test_oauth_refresh.c: refresh requests per provider and what token-endpoint answers mean
 * (mod_aiproxy_oauth/oa_refresh_request.c, oa_refresh_response.c, oa_refresh_dialect.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "apr_general.h"
#include "apr_strings.h"
#include "oa_jwt.h"
#include "oa_refresh.h"
#include "test_oauth.h"

#define NOW SEC(1790000000)

static oa_credential credential(oa_provider provider, const char *refresh_token)
{
    oa_credential c;
    memset(&c, 0, sizeof(c));
    c.provider = provider;
    c.access_token = "old-access";
    c.refresh_token = refresh_token;
    return c;
}

static const struct {
    oa_provider provider;
    const char *url;
    const char *content_type;
    const char *body;
} default_requests[] = {
    {OA_PROVIDER_CODEX, "https://auth.openai.com/oauth/token", "application/json",
     "{\"client_id\":\"app_EMoamEEZ73f0CkXaXp7hrann\",\"grant_type\":\"refresh_token\","
     "\"refresh_token\":\"R 1+/&=\"}"},
    {OA_PROVIDER_CLAUDECODE, "https://platform.claude.com/v1/oauth/token", "application/json",
     "{\"client_id\":\"9d1c250a-e61b-44d9-88ed-5944d1962f5e\",\"grant_type\":\"refresh_token\","
     "\"refresh_token\":\"R 1+/&=\"}"},
    {OA_PROVIDER_GEMINICLI, "https://oauth2.googleapis.com/token",
     "application/x-www-form-urlencoded",
     "client_id=681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com&"
     "client_secret=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&grant_type=refresh_token&"
     "refresh_token=R+1%2b%2f%26%3d"},
    {OA_PROVIDER_ANTIGRAVITY, "https://oauth2.googleapis.com/token",
     "application/x-www-form-urlencoded",
     "client_id=1071006060591-tmhssin2h21lcre235vtolojh4g403ep.apps.googleusercontent.com&"
     "client_secret=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&grant_type=refresh_token&"
     "refresh_token=R+1%2b%2f%26%3d"},
    {OA_PROVIDER_KIRO, "https://prod.us-east-1.auth.desktop.kiro.dev/refreshToken",
     "application/json", "{\"refreshToken\":\"R 1+/&=\"}"},
};

/* Each provider's defaults; the refresh token is escaped as its encoding wants. */
static void test_default_requests(void **state)
{
    for (size_t i = 0; i < sizeof(default_requests) / sizeof(default_requests[0]); i++) {
        oa_credential c = credential(default_requests[i].provider, "R 1+/&=");
        oa_refresh_request req;
        const char *err;

        if (oa_refresh_request_build(pool, &c, NULL, &req, &err))
            fail_msg("%s: %s", oa_provider_name(c.provider), err);
        assert_string_equal(req.url, default_requests[i].url);
        assert_string_equal(req.content_type, default_requests[i].content_type);
        assert_string_equal(req.accept, "application/json");
        assert_string_equal(req.body, default_requests[i].body);
        assert_int_equal(req.body_len, strlen(req.body));
    }
}

/* Config overrides every constant; a file's own client wins over the default only. */
static void test_overrides(void **state)
{
    oa_credential c = credential(OA_PROVIDER_GEMINICLI, "r");
    oa_refresh_settings s = {"http://127.0.0.1:9/token", "cid", "csecret", "a b"};
    oa_refresh_request req;
    const char *err;

    assert_int_equal(oa_refresh_request_build(pool, &c, &s, &req, &err), 0);
    assert_string_equal(req.url, "http://127.0.0.1:9/token");
    assert_string_equal(req.body, "client_id=cid&client_secret=csecret&grant_type=refresh_token&"
                                  "refresh_token=r&scope=a+b");
    c.client_id = "file-client";
    c.client_secret = "file-secret";
    assert_int_equal(oa_refresh_request_build(pool, &c, NULL, &req, &err), 0);
    assert_string_equal(req.body, "client_id=file-client&client_secret=file-secret&"
                                  "grant_type=refresh_token&refresh_token=r");
    c = credential(OA_PROVIDER_CODEX, "r");
    s.client_secret = NULL;
    s.scope = "openid profile email";
    assert_int_equal(oa_refresh_request_build(pool, &c, &s, &req, &err), 0);
    assert_string_equal(req.body, "{\"client_id\":\"cid\",\"grant_type\":\"refresh_token\","
                                  "\"refresh_token\":\"r\",\"scope\":\"openid profile email\"}");
}

/* Kiro: IdC when the login has a client, social otherwise; the region goes in the host. */
static void test_kiro_dialects(void **state)
{
    oa_credential c = credential(OA_PROVIDER_KIRO, "r");
    oa_refresh_settings s = {"http://127.0.0.1:9/{region}/token", NULL, NULL, NULL};
    oa_refresh_request req;
    const char *err;

    c.region = "eu-central-1";
    assert_int_equal(oa_refresh_request_build(pool, &c, NULL, &req, &err), 0);
    assert_string_equal(req.url, "https://prod.eu-central-1.auth.desktop.kiro.dev/refreshToken");
    c.client_id = "cid";
    c.client_secret = "cs";
    assert_int_equal(oa_refresh_request_build(pool, &c, NULL, &req, &err), 0);
    assert_string_equal(req.url, "https://oidc.eu-central-1.amazonaws.com/token");
    assert_string_equal(req.body, "{\"clientId\":\"cid\",\"clientSecret\":\"cs\","
                                  "\"refreshToken\":\"r\",\"grantType\":\"refresh_token\"}");
    assert_int_equal(oa_refresh_request_build(pool, &c, &s, &req, &err), 0);
    assert_string_equal(req.url, "http://127.0.0.1:9/eu-central-1/token");
    /* A region that would change the host is refused. */
    static const char *const bad_regions[] = {
        "evil.com/x", "", "-us", "US-EAST-1", "a b", "us-east-1-much-too-long-for-any-region-name"};
    for (size_t i = 0; i < sizeof(bad_regions) / sizeof(bad_regions[0]); i++) {
        c.region = bad_regions[i];
        if (oa_refresh_request_build(pool, &c, NULL, &req, &err) != -1)
            fail_msg("region '%s' accepted", bad_regions[i]);
        assert_non_null(strstr(err, "region"));
    }
}

static void test_request_refusals(void **state)
{
    oa_credential c = credential(OA_PROVIDER_CODEX, NULL);
    oa_refresh_request req;
    const char *err;

    assert_int_equal(oa_refresh_request_build(pool, &c, NULL, &req, &err), -1);
    assert_non_null(strstr(err, "no refresh token"));
    c = credential(OA_PROVIDER_NONE, "r");
    assert_int_equal(oa_refresh_request_build(pool, &c, NULL, &req, &err), -1);
}

static oa_refresh_result parse(oa_provider provider, int status, const apr_table_t *headers,
                               const char *body)
{
    oa_credential c = credential(provider, "old-refresh");
    oa_refresh_result r;
    oa_refresh_response_parse(pool, &c, status, headers, body, body ? strlen(body) : 0, NOW, &r);
    return r;
}

static void test_answer_ok(void **state)
{
    oa_refresh_result r = parse(OA_PROVIDER_CLAUDECODE, 200, NULL,
                                "{\"access_token\":\"A2\",\"refresh_token\":\"R2\","
                                "\"expires_in\":28800,\"token_type\":\"Bearer\","
                                "\"account\":{\"email_address\":\"x@y\"}}");
    const char *payload = "{\"exp\":1790007200}";
    const char *jwt;

    assert_int_equal(r.outcome, OA_REFRESH_OK);
    assert_string_equal(r.access_token, "A2");
    assert_string_equal(r.refresh_token, "R2");
    assert_null(r.id_token);
    assert_int_equal(r.expiry, NOW + SEC(28800));
    assert_null(r.error);
    /* Codex's official answer may omit expires_in: the JWT's exp says it. */
    jwt = apr_pstrcat(pool, "e30.",
                      oa_base64url_encode(pool, (const unsigned char *) payload, strlen(payload)),
                      ".", NULL);
    r = parse(OA_PROVIDER_CODEX, 200, NULL,
              apr_psprintf(pool, "{\"access_token\":\"%s\",\"id_token\":\"I2\"}", jwt));
    assert_int_equal(r.outcome, OA_REFRESH_OK);
    assert_int_equal(r.expiry, SEC(1790007200));
    assert_null(r.refresh_token); /* not rotated: keep the old one */
    assert_string_equal(r.id_token, "I2");
    /* No lifetime at all: an hour; a numeric string lifetime is read. */
    r = parse(OA_PROVIDER_GEMINICLI, 200, NULL, "{\"access_token\":\"ya29.x\"}");
    assert_int_equal(r.expiry, NOW + SEC(3600));
    r = parse(OA_PROVIDER_GEMINICLI, 200, NULL,
              "{\"access_token\":\"ya29.x\",\"expires_in\":\"60\"}");
    assert_int_equal(r.expiry, NOW + SEC(60));
    /* Kiro answers in camelCase, with a profileArn. */
    r = parse(OA_PROVIDER_KIRO, 200, NULL,
              "{\"accessToken\":\"K2\",\"refreshToken\":\"KR2\",\"expiresIn\":1200,"
              "\"profileArn\":\"arn:p\"}");
    assert_int_equal(r.outcome, OA_REFRESH_OK);
    assert_string_equal(r.access_token, "K2");
    assert_string_equal(r.refresh_token, "KR2");
    assert_string_equal(r.profile_arn, "arn:p");
    assert_int_equal(r.expiry, NOW + SEC(1200));
}

/* 2xx that cannot be used: transient; a rotated refresh token in it is still handed out. */
static void test_answer_ok_but_unusable(void **state)
{
    const char *payload = "{\"exp\":1000}";
    const char *jwt = apr_pstrcat(
        pool, "e30.", oa_base64url_encode(pool, (const unsigned char *) payload, strlen(payload)),
        ".", NULL);
    oa_refresh_result r;

    r = parse(OA_PROVIDER_CODEX, 200, NULL, "{\"refresh_token\":\"R2\"}");
    assert_int_equal(r.outcome, OA_REFRESH_TRANSIENT);
    assert_string_equal(r.error, "HTTP 200 an answer without an access token");
    r = parse(OA_PROVIDER_CODEX, 200, NULL, "<html>");
    assert_int_equal(r.outcome, OA_REFRESH_TRANSIENT);
    r = parse(OA_PROVIDER_CODEX, 200, NULL,
              apr_psprintf(pool, "{\"access_token\":\"%s\",\"refresh_token\":\"R3\"}", jwt));
    assert_int_equal(r.outcome, OA_REFRESH_TRANSIENT);
    assert_non_null(strstr(r.error, "already expired"));
    assert_string_equal(r.refresh_token, "R3");
    r = parse(OA_PROVIDER_CODEX, 200, NULL, "{\"access_token\":\"A\",\"expires_in\":-5}");
    assert_int_equal(r.expiry, NOW + SEC(3600)); /* a negative lifetime is not believed */
}

static const struct {
    oa_provider provider;
    int status;
    const char *body;
    oa_refresh_outcome outcome;
    const char *code;
} failures[] = {
    /* Codex CLI's permanent codes, in each place it reads them. */
    {OA_PROVIDER_CODEX, 400, "{\"error\":{\"code\":\"refresh_token_reused\",\"message\":\"m\"}}",
     OA_REFRESH_PERMANENT, "refresh_token_reused"},
    {OA_PROVIDER_CODEX, 400, "{\"error\":\"refresh_token_expired\"}", OA_REFRESH_PERMANENT,
     "refresh_token_expired"},
    {OA_PROVIDER_CODEX, 400, "{\"code\":\"refresh_token_invalidated\"}", OA_REFRESH_PERMANENT,
     "refresh_token_invalidated"},
    {OA_PROVIDER_CODEX, 400,
     "{\"error\":{\"type\":\"invalid_request_error\",\"code\":\"refresh_token_reused\"}}",
     OA_REFRESH_PERMANENT, "refresh_token_reused"},
    {OA_PROVIDER_GEMINICLI, 400, "{\"error\":\"invalid_grant\",\"error_description\":\"Bad\"}",
     OA_REFRESH_PERMANENT, "invalid_grant"},
    {OA_PROVIDER_KIRO, 400,
     "{\"__type\":\"com.amazonaws.ssooidc#InvalidGrantException\",\"message\":\"m\"}",
     OA_REFRESH_PERMANENT, "InvalidGrantException"},
    {OA_PROVIDER_CLAUDECODE, 401, "{\"error\":\"whatever\"}", OA_REFRESH_PERMANENT, "whatever"},
    {OA_PROVIDER_CLAUDECODE, 401, NULL, OA_REFRESH_PERMANENT, NULL},
    /* Transient: rate limits, server errors, unknown 4xx (a CDN's 403 says nothing). */
    {OA_PROVIDER_CLAUDECODE, 429, "{\"error\":{\"type\":\"rate_limit_error\"}}",
     OA_REFRESH_TRANSIENT, "rate_limit_error"},
    {OA_PROVIDER_CODEX, 500, "oops", OA_REFRESH_TRANSIENT, NULL},
    {OA_PROVIDER_CODEX, 503, NULL, OA_REFRESH_TRANSIENT, NULL},
    {OA_PROVIDER_CLAUDECODE, 403, "<html>Just a moment...</html>", OA_REFRESH_TRANSIENT, NULL},
    {OA_PROVIDER_CODEX, 400, "{\"error\":\"invalid_request\"}", OA_REFRESH_TRANSIENT,
     "invalid_request"},
    {OA_PROVIDER_CODEX, 0, NULL, OA_REFRESH_TRANSIENT, NULL},
    /* A code that is not an identifier (it could echo anything) is not repeated. */
    {OA_PROVIDER_CODEX, 400, "{\"error\":\"token abc is bad\"}", OA_REFRESH_TRANSIENT, NULL},
};

static void test_answer_failures(void **state)
{
    for (size_t i = 0; i < sizeof(failures) / sizeof(failures[0]); i++) {
        oa_refresh_result r =
            parse(failures[i].provider, failures[i].status, NULL, failures[i].body);
        if (r.outcome != failures[i].outcome)
            fail_msg("case %d: outcome %d", (int) i, r.outcome);
        if (failures[i].code ? !r.error_code || strcmp(r.error_code, failures[i].code)
                             : r.error_code != NULL)
            fail_msg("case %d: code %s", (int) i, r.error_code ? r.error_code : "(null)");
        assert_non_null(r.error);
        assert_null(r.access_token);
    }
    assert_string_equal(parse(OA_PROVIDER_CODEX, 400, NULL, "{\"error\":\"invalid_grant\"}").error,
                        "HTTP 400 invalid_grant");
    assert_string_equal(parse(OA_PROVIDER_CODEX, 0, NULL, NULL).error,
                        "no answer from the token endpoint");
}

static void test_answer_retry_after(void **state)
{
    apr_table_t *h = apr_table_make(pool, 1);

    apr_table_set(h, "Retry-After", "42");
    assert_int_equal(parse(OA_PROVIDER_CLAUDECODE, 429, h, NULL).retry_at, NOW + SEC(42));
    assert_int_equal(parse(OA_PROVIDER_CLAUDECODE, 429, NULL, NULL).retry_at, 0);
}

static void test_permanent_codes(void **state)
{
    assert_true(oa_refresh_code_is_permanent("INVALID_GRANT"));
    assert_true(oa_refresh_code_is_permanent("refresh_token_reused"));
    assert_false(oa_refresh_code_is_permanent("rate_limit_error"));
    assert_false(oa_refresh_code_is_permanent(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_requests), cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_kiro_dialects),    cmocka_unit_test(test_request_refusals),
        cmocka_unit_test(test_answer_ok),        cmocka_unit_test(test_answer_ok_but_unusable),
        cmocka_unit_test(test_answer_failures),  cmocka_unit_test(test_answer_retry_after),
        cmocka_unit_test(test_permanent_codes),
    };
    apr_initialize();
    atexit(apr_terminate);
    return cmocka_run_group_tests(tests, setup, teardown);
}
