/*
 * test_oauth_authfile.c: reading auth files (mod_aiproxy_oauth/oa_authfile.c) of every format:
 * the CLIs' own files and the aiproxy / CLIProxyAPI files, each fixture checked field by
 * field; provider hints; disabled files; the Kiro client registration; refusals, whose
 * messages never hold a token.
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
#include "oa_authfile.h"
#include "test_oauth.h"

/* What a fixture must read as; NULL strings must be NULL, times in seconds (0: none), the
 * access token checked by prefix. */
typedef struct {
    const char *file;
    oa_provider hint;
    oa_provider provider;
    oa_format format;
    const char *access_prefix;
    const char *refresh_token;
    apr_time_t expiry_ms; /* milliseconds: Claude and Gemini keep them */
    apr_time_t last_refresh;
    const char *account_id;
    const char *email;
    const char *client_id;
    const char *project_id;
    const char *region;
    const char *auth_method;
    int has_id_token;
    int disabled;
} fixture_case;

#define EIGHT_DAYS (8 * 86400)

static const fixture_case fixtures[] = {
    {"codex-auth.json", OA_PROVIDER_NONE, OA_PROVIDER_CODEX, OA_FORMAT_CODEX_CLI, "eyJ",
     "rt_FAKE-codex-refresh-0001", 1767225600000, 1766361600, "acct-0000-fake",
     "dev@example.invalid", NULL, NULL, NULL, NULL, 1, 0},
    /* No JWT: expiry is last_refresh (+02:00, a fraction) + 8 days, Codex CLI's rule. */
    {"codex-auth-opaque.json", OA_PROVIDER_CODEX, OA_PROVIDER_CODEX, OA_FORMAT_CODEX_CLI,
     "opaque-FAKE-access", "rt_FAKE-codex-refresh-0002",
     (1748772000 + EIGHT_DAYS) * APR_INT64_C(1000) + 123, 1748772000, NULL, NULL, NULL, NULL, NULL,
     NULL, 1, 0},
    {"claude-credentials.json", OA_PROVIDER_CLAUDECODE, OA_PROVIDER_CLAUDECODE,
     OA_FORMAT_CLAUDE_CLI, "sk-ant-oat01-FAKE", "sk-ant-ort01-FAKE-refresh-0001", 1747909518727, 0,
     NULL, NULL, NULL, NULL, NULL, NULL, 0, 0},
    {"gemini-oauth_creds.json", OA_PROVIDER_GEMINICLI, OA_PROVIDER_GEMINICLI, OA_FORMAT_GEMINI_CLI,
     "ya29.FAKE-google-access-0001", "1//FAKE-google-refresh-0001", 1750003600000, 0, NULL,
     "dev@example.invalid", NULL, NULL, NULL, NULL, 1, 0},
    {"kiro-auth-token.json", OA_PROVIDER_KIRO, OA_PROVIDER_KIRO, OA_FORMAT_KIRO_IDE,
     "aoaFAKE-kiro-access-0001", "aorFAKE-kiro-refresh-0001", 1754042400000, 0, NULL, NULL, NULL,
     NULL, "eu-central-1", "IdC", 0, 0},
    {"kiro-auth-token-social.json", OA_PROVIDER_NONE, OA_PROVIDER_KIRO, OA_FORMAT_KIRO_IDE,
     "aoaFAKE-kiro-access-0002", "aorFAKE-kiro-refresh-0002", 1754042400000, 0, NULL, NULL, NULL,
     NULL, NULL, "social", 0, 0},
    {"proxy-codex.json", OA_PROVIDER_CODEX, OA_PROVIDER_CODEX, OA_FORMAT_PROXY, "eyJ",
     "rt_FAKE-codex-refresh-0003", 1767225600000, 1766361600, "acct-0000-fake",
     "dev@example.invalid", NULL, NULL, NULL, NULL, 1, 0},
    {"proxy-claude.json", OA_PROVIDER_NONE, OA_PROVIDER_CLAUDECODE, OA_FORMAT_PROXY,
     "sk-ant-oat01-FAKE-access-0002", "sk-ant-ort01-FAKE-refresh-0002", 1747893918000, 1747865118,
     NULL, "dev@example.invalid", NULL, NULL, NULL, NULL, 0, 0},
    {"proxy-gemini.json", OA_PROVIDER_GEMINICLI, OA_PROVIDER_GEMINICLI, OA_FORMAT_PROXY_GOOGLE,
     "ya29.FAKE-google-access-0002", "1//FAKE-google-refresh-0002", 1749994000123, 0, NULL,
     "dev@example.invalid", "FAKE-client.apps.googleusercontent.com", "fake-project-123", NULL,
     NULL, 0, 0},
    {"proxy-antigravity.json", OA_PROVIDER_ANTIGRAVITY, OA_PROVIDER_ANTIGRAVITY, OA_FORMAT_PROXY,
     "ya29.FAKE-google-access-0003", "1//FAKE-google-refresh-0003", 1750003199000, 0, NULL,
     "dev@example.invalid", NULL, "fake-project-456", NULL, NULL, 0, 0},
    /* aiproxy's Kiro file names no type: the upstream's api type says. */
    {"proxy-kiro.json", OA_PROVIDER_KIRO, OA_PROVIDER_KIRO, OA_FORMAT_PROXY,
     "aoaFAKE-kiro-access-0003", "aorFAKE-kiro-refresh-0003", 1754042400000, 0, NULL, NULL,
     "FAKE-oidc-client-id-2", NULL, "us-west-2", "IdC", 0, 0},
    {"proxy-disabled.json", OA_PROVIDER_CLAUDECODE, OA_PROVIDER_CLAUDECODE, OA_FORMAT_PROXY,
     "sk-ant-oat01-FAKE-access-0004", "sk-ant-ort01-FAKE-refresh-0004", 1747922718000, 0, NULL,
     NULL, NULL, NULL, NULL, NULL, 0, 1},
};

static void assert_same_string(const char *file, const char *what, const char *got,
                               const char *want)
{
    if (want ? !got || strcmp(got, want) : got != NULL)
        fail_msg("%s: %s is '%s', want '%s'", file, what, got ? got : "(null)",
                 want ? want : "(null)");
}

static void test_every_fixture(void **state)
{
    for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
        const fixture_case *c = &fixtures[i];
        apr_size_t len;
        char *data = oauth_fixture(pool, c->file, &len);
        oa_credential cred;
        const char *err = NULL;

        if (oa_authfile_parse(pool, c->hint, data, len, &cred, &err))
            fail_msg("%s: refused: %s", c->file, err);
        if (cred.provider != c->provider || cred.format != c->format)
            fail_msg("%s: provider %d format %d", c->file, cred.provider, cred.format);
        if (strncmp(cred.access_token, c->access_prefix, strlen(c->access_prefix)))
            fail_msg("%s: access token", c->file);
        assert_same_string(c->file, "refresh token", cred.refresh_token, c->refresh_token);
        if (cred.expiry / 1000 != c->expiry_ms)
            fail_msg("%s: expiry %" APR_TIME_T_FMT " ms, want %" APR_TIME_T_FMT, c->file,
                     cred.expiry / 1000, c->expiry_ms);
        if (apr_time_sec(cred.last_refresh) != c->last_refresh)
            fail_msg("%s: last_refresh %" APR_TIME_T_FMT, c->file, apr_time_sec(cred.last_refresh));
        assert_same_string(c->file, "account id", cred.account_id, c->account_id);
        assert_same_string(c->file, "email", cred.email, c->email);
        assert_same_string(c->file, "client id", cred.client_id, c->client_id);
        assert_same_string(c->file, "project", cred.project_id, c->project_id);
        assert_same_string(c->file, "region", cred.region, c->region);
        assert_same_string(c->file, "auth method", cred.auth_method, c->auth_method);
        if (!cred.id_token != !c->has_id_token || cred.disabled != c->disabled)
            fail_msg("%s: id token %d disabled %d", c->file, !!cred.id_token, cred.disabled);
    }
}

static const char *parse_error(oa_provider hint, const char *text)
{
    oa_credential cred;
    const char *err = NULL;

    if (oa_authfile_parse(pool, hint, text, strlen(text), &cred, &err) == 0)
        fail_msg("accepted: %s", text);
    assert_non_null(err);
    return err;
}

static void expect_refused(oa_provider hint, const char *text, const char *want)
{
    const char *err = parse_error(hint, text);
    if (!strstr(err, want))
        fail_msg("error '%s' does not say '%s'", err, want);
}

static void test_provider_hint(void **state)
{
    apr_size_t len;
    char *codex = oauth_fixture(pool, "codex-auth.json", &len);
    oa_credential cred;
    const char *err;

    /* A Codex file for a Claude Code upstream is refused, naming both. */
    assert_int_equal(oa_authfile_parse(pool, OA_PROVIDER_CLAUDECODE, codex, len, &cred, &err), -1);
    assert_non_null(strstr(err, "codex credential"));
    assert_non_null(strstr(err, "claudecode"));
    /* A flat file without "type" needs the upstream's word. */
    expect_refused(OA_PROVIDER_NONE, "{\"access_token\":\"a\",\"refresh_token\":\"r\"}",
                   "does not say its provider");
    expect_refused(OA_PROVIDER_NONE, "{\"access_token\":\"a\",\"type\":\"openrouter\"}",
                   "no known provider");
    /* The proxies' spellings of "type". */
    codex = "{\"access_token\":\"a\",\"type\":\"gemini\"}";
    assert_int_equal(
        oa_authfile_parse(pool, OA_PROVIDER_GEMINICLI, codex, strlen(codex), &cred, &err), 0);
    assert_int_equal(cred.provider, OA_PROVIDER_GEMINICLI);
}

static void test_refusals(void **state)
{
    expect_refused(OA_PROVIDER_NONE, "", "not JSON (line");
    expect_refused(OA_PROVIDER_NONE, "[1,2]", "not a JSON object");
    expect_refused(OA_PROVIDER_NONE, "{\"hello\":1}", "any known format");
    expect_refused(OA_PROVIDER_NONE, "{\"claudeAiOauth\":{\"refreshToken\":\"r\"}}",
                   "claude-cli file without an access token");
    expect_refused(OA_PROVIDER_CODEX, "{\"tokens\":{\"access_token\":\"\"}}",
                   "without an access token");
    expect_refused(OA_PROVIDER_CODEX, "{\"tokens\":{\"access_token\":7}}",
                   "without an access token");
    /* A NUL inside a token would cut it short: refused. */
    expect_refused(OA_PROVIDER_CODEX, "{\"tokens\":{\"access_token\":\"a\\u0000b\"}}",
                   "without an access token");
    /* Two access tokens: which one? */
    expect_refused(OA_PROVIDER_CODEX,
                   "{\"tokens\":{\"access_token\":\"a\",\"access_token\":\"b\"}}", "not JSON");
}

/* The parser's messages name the place, never the text there (jansson's "near '...'" would
 * quote a token). */
static void test_errors_hold_no_token(void **state)
{
    const char *err =
        parse_error(OA_PROVIDER_CODEX, "{\"tokens\":{\"access_token\":\"SECRET-abc\" oops}}");
    assert_null(strstr(err, "SECRET"));
    assert_null(strstr(err, "oops"));
    assert_non_null(strstr(err, "line 1, column"));
    err = parse_error(OA_PROVIDER_NONE, "{\"access_token\":\"SECRET-abc\",\"type\":\"SECRET\"}");
    assert_null(strstr(err, "SECRET"));
}

static void test_too_large(void **state)
{
    apr_size_t len = OA_AUTHFILE_MAX + 1;
    char *big = apr_palloc(pool, len);
    oa_credential cred;
    const char *err;

    memset(big, ' ', len);
    memcpy(big, "{\"access_token\":\"a\",\"type\":\"codex\"}", 35);
    assert_int_equal(oa_authfile_parse(pool, OA_PROVIDER_NONE, big, len, &cred, &err), -1);
    assert_non_null(strstr(err, "larger than"));
    assert_int_equal(oa_authfile_parse(pool, OA_PROVIDER_NONE, big, len - 1, &cred, &err), 0);
}

/* Every unit an expiry comes in, and the first source that gives one wins. */
static void test_expiry_units(void **state)
{
    static const struct {
        oa_provider hint;
        const char *text;
        apr_time_t want_sec;
    } cases[] = {
        {OA_PROVIDER_CLAUDECODE, "{\"claudeAiOauth\":{\"accessToken\":\"a\",\"expiresAt\":1000}}",
         1},
        /* A quoted epoch is read in the field's unit too. */
        {OA_PROVIDER_CLAUDECODE,
         "{\"claudeAiOauth\":{\"accessToken\":\"a\",\"expiresAt\":\"5000\"}}", 5},
        {OA_PROVIDER_CLAUDECODE,
         "{\"claudeAiOauth\":{\"accessToken\":\"a\",\"expiresAt\":\"1970-01-01T00:01:00Z\"}}", 60},
        {OA_PROVIDER_CODEX, "{\"access_token\":\"a\",\"expired\":\"1970-01-01T01:00:00+01:00\"}",
         0},
        {OA_PROVIDER_KIRO, "{\"access_token\":\"a\",\"expires_at\":\"1970-01-02 00:00:00\"}",
         86400},
        /* An unreadable "expired" falls through to the next source. */
        {OA_PROVIDER_KIRO,
         "{\"access_token\":\"a\",\"expired\":\"soon\",\"expires_at\":\"1970-01-01T00:00:07Z\"}",
         7},
        /* No source at all: unknown (0), refresh first. */
        {OA_PROVIDER_CODEX, "{\"tokens\":{\"access_token\":\"a\"}}", 0},
        {OA_PROVIDER_CLAUDECODE, "{\"claudeAiOauth\":{\"accessToken\":\"a\",\"expiresAt\":-5}}", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        oa_credential cred;
        const char *err;
        if (oa_authfile_parse(pool, cases[i].hint, cases[i].text, strlen(cases[i].text), &cred,
                              &err))
            fail_msg("%s: %s", cases[i].text, err);
        if (cred.expiry != SEC(cases[i].want_sec))
            fail_msg("%s: expiry %" APR_TIME_T_FMT, cases[i].text, cred.expiry);
    }
}

static void test_disabled_spellings(void **state)
{
    static const struct {
        const char *value;
        int disabled;
    } cases[] = {{"true", 1}, {"\"true\"", 1}, {"\"TRUE\"", 1}, {"false", 0},
                 {"1", 0},    {"null", 0},     {"\"no\"", 0}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *text =
            apr_psprintf(pool, "{\"access_token\":\"a\",\"disabled\":%s}", cases[i].value);
        oa_credential cred;
        const char *err;
        assert_int_equal(
            oa_authfile_parse(pool, OA_PROVIDER_CODEX, text, strlen(text), &cred, &err), 0);
        if (cred.disabled != cases[i].disabled)
            fail_msg("disabled: %s read as %d", cases[i].value, cred.disabled);
    }
}

static void test_kiro_registration(void **state)
{
    apr_size_t len;
    char *data = oauth_fixture(pool, "kiro-auth-token.json", &len);
    const char *token_file = OAUTH_FIXTURES "kiro-auth-token.json", *path, *err;
    oa_credential cred;
    char *reg;

    assert_int_equal(oa_authfile_parse(pool, OA_PROVIDER_KIRO, data, len, &cred, &err), 0);
    path = oa_authfile_kiro_registration_path(pool, token_file, &cred);
    assert_string_equal(path, OAUTH_FIXTURES "6a1b2c3d4e5f60718293a4b5c6d7e8f901234567.json");
    reg = oauth_fixture(pool, "6a1b2c3d4e5f60718293a4b5c6d7e8f901234567.json", &len);
    assert_int_equal(oa_authfile_read_kiro_registration(pool, reg, len, &cred, &err), 0);
    assert_string_equal(cred.client_id, "FAKE-oidc-client-id");
    assert_string_equal(cred.client_secret, "FAKE-oidc-client-secret");
    assert_int_equal(apr_time_sec(cred.client_secret_expiry), 1772323200);
    /* Without a directory, and hashes that would leave it. */
    assert_string_equal(oa_authfile_kiro_registration_path(pool, "t.json", &cred),
                        "6a1b2c3d4e5f60718293a4b5c6d7e8f901234567.json");
    cred.client_id_hash = "../../etc/passwd";
    assert_null(oa_authfile_kiro_registration_path(pool, token_file, &cred));
    cred.client_id_hash = "";
    assert_null(oa_authfile_kiro_registration_path(pool, token_file, &cred));
    cred.client_id_hash = NULL;
    assert_null(oa_authfile_kiro_registration_path(pool, token_file, &cred));
    assert_int_equal(
        oa_authfile_read_kiro_registration(pool, "{\"clientId\":\"x\"}", 16, &cred, &err), -1);
    assert_non_null(strstr(err, "without clientId and clientSecret"));
}

/* A registration fills only what the token file lacks. */
static void test_kiro_registration_keeps_file_fields(void **state)
{
    oa_credential cred;
    const char *err, *text = "{\"accessToken\":\"a\",\"clientId\":\"own\"}";
    const char *reg = "{\"clientId\":\"other\",\"clientSecret\":\"s\"}";

    assert_int_equal(oa_authfile_parse(pool, OA_PROVIDER_KIRO, text, strlen(text), &cred, &err), 0);
    assert_int_equal(oa_authfile_read_kiro_registration(pool, reg, strlen(reg), &cred, &err), 0);
    assert_string_equal(cred.client_id, "own");
    assert_string_equal(cred.client_secret, "s");
}

static void test_provider_names(void **state)
{
    for (int i = 0; i < OA_PROVIDER_COUNT; i++)
        assert_int_equal(oa_provider_from_name(oa_provider_name((oa_provider) i)), i);
    assert_int_equal(oa_provider_from_name("CODEX"), OA_PROVIDER_CODEX);
    assert_int_equal(oa_provider_from_name("openai"), OA_PROVIDER_NONE);
    assert_int_equal(oa_provider_from_name(NULL), OA_PROVIDER_NONE);
    assert_int_equal(oa_provider_from_file_type("claude"), OA_PROVIDER_CLAUDECODE);
    assert_string_equal(oa_provider_name(OA_PROVIDER_NONE), "none");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_fixture),
        cmocka_unit_test(test_provider_hint),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_errors_hold_no_token),
        cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_expiry_units),
        cmocka_unit_test(test_disabled_spellings),
        cmocka_unit_test(test_kiro_registration),
        cmocka_unit_test(test_kiro_registration_keeps_file_fields),
        cmocka_unit_test(test_provider_names),
    };
    apr_initialize();
    atexit(apr_terminate);
    return cmocka_run_group_tests(tests, setup, teardown);
}
