/*
 * test_oauth_update.c: writing refreshed tokens back (mod_aiproxy_oauth/oa_authfile_update.c)
 * and the atomic file writer (oa_file_atomic.c).
 *
 * Every fixture is updated and read back: the new tokens and expiry are there, in the file's
 * own places and units, and every value the gateway does not own is unchanged and in its
 * place. Exact outputs pin the layout (compact, indented, final newline) per CLI.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "apr_file_info.h"
#include "apr_general.h"
#include "apr_strings.h"
#include "oa_authfile.h"
#include "oa_authfile_update.h"
#include "oa_file_atomic.h"
#include "test_jansson.h"
#include "test_oauth.h"

#define NOW    SEC(1790000000) /* 2026-09-21T14:13:20Z */
#define EXPIRY SEC(1800000000) /* 2027-01-15T08:00:00Z */

static const oa_token_update new_tokens = {"NEW-access", "NEW-refresh", NULL, NULL, EXPIRY, NOW};

static char *update(oa_provider hint, const char *data, apr_size_t len, const oa_token_update *u)
{
    char *out;
    apr_size_t out_len;
    const char *err;

    if (oa_authfile_update(pool, hint, data, len, u, &out, &out_len, &err))
        fail_msg("update refused: %s", err);
    assert_int_equal(out_len, strlen(out));
    return out;
}

/* Paths the gateway writes, per fixture; every other leaf must survive unchanged. */
static const char *const owned_paths[] = {
    "tokens.access_token",
    "tokens.refresh_token",
    "last_refresh",
    "claudeAiOauth.accessToken",
    "claudeAiOauth.refreshToken",
    "claudeAiOauth.expiresAt",
    "access_token",
    "refresh_token",
    "expiry_date",
    "expired",
    "expires_at",
    "timestamp",
    "expires_in",
    "accessToken",
    "refreshToken",
    "expiresAt",
    "token.access_token",
    "token.refresh_token",
    "token.expiry",
};

static int owned(const char *path)
{
    for (size_t i = 0; i < sizeof(owned_paths) / sizeof(owned_paths[0]); i++) {
        if (!strcmp(path, owned_paths[i]))
            return 1;
    }
    return 0;
}

/* Every leaf of before not owned is in after, equal; object keys keep their order. */
static void assert_foreign_kept(const char *file, const char *prefix, json_t *before, json_t *after)
{
    const char *key;
    json_t *value;
    void *iter_after = json_object_iter(after);

    json_object_foreach(before, key, value)
    {
        const char *path = *prefix ? apr_pstrcat(pool, prefix, ".", key, NULL) : key;
        json_t *now = json_object_get(after, key);
        /* The same key at the same position in after. */
        if (!iter_after || strcmp(json_object_iter_key(iter_after), key))
            fail_msg("%s: key %s moved or vanished", file, path);
        iter_after = json_object_iter_next(after, iter_after);
        if (json_is_object(value) && json_is_object(now))
            assert_foreign_kept(file, path, value, now);
        else if (!owned(path) && !json_equal(value, now))
            fail_msg("%s: %s changed", file, path);
    }
}

static const struct {
    const char *file;
    oa_provider hint;
    int expiry_from_file; /* 0: the file has only the JWT (Codex CLI) */
} fixtures[] = {
    {"codex-auth.json", OA_PROVIDER_CODEX, 0},
    {"codex-auth-opaque.json", OA_PROVIDER_CODEX, 0},
    {"claude-credentials.json", OA_PROVIDER_CLAUDECODE, 1},
    {"gemini-oauth_creds.json", OA_PROVIDER_GEMINICLI, 1},
    {"kiro-auth-token.json", OA_PROVIDER_KIRO, 1},
    {"kiro-auth-token-social.json", OA_PROVIDER_KIRO, 1},
    {"proxy-codex.json", OA_PROVIDER_CODEX, 1},
    {"proxy-claude.json", OA_PROVIDER_CLAUDECODE, 1},
    {"proxy-gemini.json", OA_PROVIDER_GEMINICLI, 1},
    {"proxy-antigravity.json", OA_PROVIDER_ANTIGRAVITY, 1},
    {"proxy-kiro.json", OA_PROVIDER_KIRO, 1},
    {"proxy-disabled.json", OA_PROVIDER_CLAUDECODE, 1},
};

static void test_every_fixture_round_trips(void **state)
{
    for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
        apr_size_t len;
        const char *file = fixtures[i].file, *err;
        char *data = oauth_fixture(pool, file, &len);
        char *out = update(fixtures[i].hint, data, len, &new_tokens);
        oa_credential before, after;

        assert_int_equal(oa_authfile_parse(pool, fixtures[i].hint, data, len, &before, &err), 0);
        if (oa_authfile_parse(pool, fixtures[i].hint, out, strlen(out), &after, &err))
            fail_msg("%s: the update does not read back: %s", file, err);
        assert_string_equal(after.access_token, "NEW-access");
        assert_string_equal(after.refresh_token, "NEW-refresh");
        assert_int_equal(after.format, before.format);
        assert_int_equal(after.provider, before.provider);
        assert_int_equal(after.disabled, before.disabled);
        /* Whole seconds: the files with RFC 3339 keep no fraction. */
        if (fixtures[i].expiry_from_file && after.expiry != EXPIRY)
            fail_msg("%s: expiry %" APR_TIME_T_FMT, file, after.expiry);
        if (!fixtures[i].expiry_from_file && after.expiry != NOW + SEC(8 * 86400))
            fail_msg("%s: expiry %" APR_TIME_T_FMT, file, after.expiry);
        assert_foreign_kept(file, "", test_jansson_parse(pool, data, len),
                            test_jansson_parse(pool, out, strlen(out)));
        /* Final newline as before. */
        assert_int_equal(out[strlen(out) - 1] == '\n', data[len - 1] == '\n');
    }
}

/* Claude Code writes one compact line, expiresAt in ms: so does the update. */
static void test_claude_exact(void **state)
{
    apr_size_t len;
    char *data = oauth_fixture(pool, "claude-credentials.json", &len);

    assert_string_equal(
        update(OA_PROVIDER_CLAUDECODE, data, len, &new_tokens),
        "{\"claudeAiOauth\":{\"accessToken\":\"NEW-access\",\"refreshToken\":\"NEW-refresh\","
        "\"expiresAt\":1800000000000,\"scopes\":[\"user:inference\",\"user:profile\"],"
        "\"subscriptionType\":\"max\",\"rateLimitTier\":\"default_claude_max_20x\"}}");
}

/* Codex CLI: two-space indent, final newline, last_refresh now, the id token replaced only
 * when a new one came, account_id and the API key slot untouched. */
static void test_codex_exact(void **state)
{
    const char *in =
        "{\n  \"OPENAI_API_KEY\": null,\n  \"tokens\": {\n    \"id_token\": \"old-id\",\n"
        "    \"access_token\": \"old\",\n    \"refresh_token\": \"old-r\",\n"
        "    \"account_id\": \"acct\"\n  },\n  \"last_refresh\": \"2025-01-01T00:00:00Z\"\n}\n";
    oa_token_update u = new_tokens;

    assert_string_equal(
        update(OA_PROVIDER_CODEX, in, strlen(in), &u),
        "{\n  \"OPENAI_API_KEY\": null,\n  \"tokens\": {\n    \"id_token\": \"old-id\",\n"
        "    \"access_token\": \"NEW-access\",\n    \"refresh_token\": \"NEW-refresh\",\n"
        "    \"account_id\": \"acct\"\n  },\n  \"last_refresh\": \"2026-09-21T14:13:20Z\"\n}\n");
    u.id_token = "NEW-id";
    u.refresh_token = NULL; /* not rotated: the file's stays */
    assert_string_equal(
        update(OA_PROVIDER_CODEX, in, strlen(in), &u),
        "{\n  \"OPENAI_API_KEY\": null,\n  \"tokens\": {\n    \"id_token\": \"NEW-id\",\n"
        "    \"access_token\": \"NEW-access\",\n    \"refresh_token\": \"old-r\",\n"
        "    \"account_id\": \"acct\"\n  },\n  \"last_refresh\": \"2026-09-21T14:13:20Z\"\n}\n");
}

/* Antigravity's proxy file: expired RFC 3339, timestamp in ms, expires_in in seconds. */
static void test_antigravity_times(void **state)
{
    const char *in = "{\"type\":\"antigravity\",\"access_token\":\"a\",\"expires_in\":3599,"
                     "\"timestamp\":1,\"expired\":\"2025-01-01T00:00:00Z\",\"x\":1.5}";

    assert_string_equal(update(OA_PROVIDER_ANTIGRAVITY, in, strlen(in), &new_tokens),
                        "{\"type\":\"antigravity\",\"access_token\":\"NEW-access\",\"expires_in\":"
                        "10000000,\"timestamp\":1790000000000,\"expired\":\"2027-01-15T08:00:00Z\","
                        "\"x\":1.5,\"refresh_token\":\"NEW-refresh\",\"last_refresh\":"
                        "\"2026-09-21T14:13:20Z\"}");
}

/* The file's own type decides the representation: an "expired" that was a number stays one. */
static void test_expiry_keeps_json_type(void **state)
{
    const char *in = "{\"type\":\"claude\",\"access_token\":\"a\",\"expired\":1700000000}";
    const char *gem = "{\"access_token\":\"a\",\"expiry_date\":\"2025-01-01T00:00:00Z\"}";

    assert_non_null(strstr(update(OA_PROVIDER_CLAUDECODE, in, strlen(in), &new_tokens),
                           "\"expired\":1800000000,"));
    assert_non_null(strstr(update(OA_PROVIDER_GEMINICLI, gem, strlen(gem), &new_tokens),
                           "\"expiry_date\":\"2027-01-15T08:00:00Z\""));
}

static void test_layouts(void **state)
{
    const char *python = "{\"type\": \"claude\", \"access_token\": \"a\"}";
    const char *four = "{\n    \"type\": \"claude\",\n    \"access_token\": \"a\"\n}";

    assert_non_null(strstr(update(OA_PROVIDER_CLAUDECODE, python, strlen(python), &new_tokens),
                           "{\"type\": \"claude\", \"access_token\": \"NEW-access\", "));
    assert_non_null(
        strstr(update(OA_PROVIDER_CLAUDECODE, four, strlen(four), &new_tokens),
               "{\n    \"type\": \"claude\",\n    \"access_token\": \"NEW-access\",\n"));
}

/* Kiro social refreshes bring a profileArn; the IDE file keeps ISO times. */
static void test_kiro_profile_arn(void **state)
{
    apr_size_t len;
    char *data = oauth_fixture(pool, "kiro-auth-token-social.json", &len);
    oa_token_update u = new_tokens;
    char *out;

    u.profile_arn = "arn:aws:codewhisperer:us-east-1:000000000000:profile/NEW";
    out = update(OA_PROVIDER_KIRO, data, len, &u);
    assert_non_null(strstr(
        out, "\"profileArn\": \"arn:aws:codewhisperer:us-east-1:000000000000:profile/NEW\""));
    assert_non_null(strstr(out, "\"expiresAt\": \"2027-01-15T08:00:00Z\""));
    assert_non_null(strstr(out, "\"provider\": \"Github\""));
}

/* Fields the gateway does not own survive even where they are odd: a NUL in a string,
 * unicode, big integers, nesting. */
static void test_foreign_values_survive(void **state)
{
    const char *in = "{\"type\":\"codex\",\"note\":\"a\\u0000b\",\"name\":\"Zo\xc3\xab\","
                     "\"big\":9007199254740993,\"deep\":{\"a\":[1,{\"b\":null}]},"
                     "\"access_token\":\"a\"}";
    char *out = update(OA_PROVIDER_CODEX, in, strlen(in), &new_tokens);

    assert_non_null(strstr(out, "\"note\":\"a\\u0000b\""));
    assert_non_null(strstr(out, "\"name\":\"Zo\xc3\xab\""));
    assert_non_null(strstr(out, "\"big\":9007199254740993"));
    assert_non_null(strstr(out, "\"deep\":{\"a\":[1,{\"b\":null}]}"));
}

static void test_refusals(void **state)
{
    oa_token_update u = new_tokens;
    char *out;
    apr_size_t len;
    const char *err;
    const char *in = "{\"claudeAiOauth\":{\"accessToken\":\"a\"}}";

    u.access_token = NULL;
    assert_int_equal(
        oa_authfile_update(pool, OA_PROVIDER_CLAUDECODE, in, strlen(in), &u, &out, &len, &err), -1);
    assert_non_null(strstr(err, "no access token"));
    /* The file changed under us into another provider's: refused, nothing written. */
    assert_int_equal(
        oa_authfile_update(pool, OA_PROVIDER_CODEX, in, strlen(in), &new_tokens, &out, &len, &err),
        -1);
    assert_int_equal(
        oa_authfile_update(pool, OA_PROVIDER_CODEX, "{}", 2, &new_tokens, &out, &len, &err), -1);
    /* A last_refresh that is not a time is the gateway's field: overwritten, not refused. */
    in = "{\"tokens\":{\"access_token\":\"a\"},\"last_refresh\":{\"x\":{}}}";
    assert_int_equal(
        oa_authfile_update(pool, OA_PROVIDER_CODEX, in, strlen(in), &new_tokens, &out, &len, &err),
        0);
    assert_non_null(strstr(out, "\"last_refresh\":\"2026-09-21T14:13:20Z\""));
}

/* Removes dir and everything below it (APR has no recursive remove). */
static void remove_tree(const char *dir)
{
    apr_dir_t *d;
    apr_finfo_t info;

    if (apr_dir_open(&d, dir, pool) != APR_SUCCESS)
        return;
    while (apr_dir_read(&info, APR_FINFO_NAME | APR_FINFO_TYPE, d) == APR_SUCCESS) {
        const char *path = apr_pstrcat(pool, dir, "/", info.name, NULL);
        if (!strcmp(info.name, ".") || !strcmp(info.name, ".."))
            continue;
        if (info.filetype == APR_DIR)
            remove_tree(path);
        else
            apr_file_remove(path, pool);
    }
    apr_dir_close(d);
    apr_dir_remove(dir, pool);
}

/* A scratch directory below the system's temporary directory. */
static const char *scratch_dir(void)
{
    const char *tmp, *dir;

    assert_int_equal(apr_temp_dir_get(&tmp, pool), APR_SUCCESS);
    dir = apr_psprintf(pool, "%s/oa-atomic-%ld", tmp, (long) getpid());
    remove_tree(dir);
    assert_int_equal(apr_dir_make(dir, APR_FPROT_OS_DEFAULT, pool), APR_SUCCESS);
    return dir;
}

static int count_entries(const char *dir)
{
    apr_dir_t *d;
    apr_finfo_t info;
    int n = 0;

    assert_int_equal(apr_dir_open(&d, dir, pool), APR_SUCCESS);
    while (apr_dir_read(&info, APR_FINFO_NAME, d) == APR_SUCCESS) {
        if (strcmp(info.name, ".") && strcmp(info.name, ".."))
            n++;
    }
    apr_dir_close(d);
    return n;
}

static const char *read_back(const char *path, apr_fileperms_t *perms)
{
    apr_file_t *f;
    apr_finfo_t info;
    char *buf;

    assert_int_equal(apr_stat(&info, path, APR_FINFO_SIZE | APR_FINFO_PROT, pool), APR_SUCCESS);
    *perms = info.protection;
    buf = apr_pcalloc(pool, (apr_size_t) info.size + 1);
    assert_int_equal(apr_file_open(&f, path, APR_FOPEN_READ, APR_FPROT_OS_DEFAULT, pool),
                     APR_SUCCESS);
    assert_int_equal(apr_file_read_full(f, buf, (apr_size_t) info.size, NULL), APR_SUCCESS);
    apr_file_close(f);
    return buf;
}

static void test_atomic_write(void **state)
{
    const char *dir = scratch_dir(), *path = apr_pstrcat(pool, dir, "/auth.json", NULL);
    apr_file_t *f;
    apr_fileperms_t perms;

    /* An existing world-readable file is replaced by a 0600 one. */
    assert_int_equal(
        apr_file_open(&f, path, APR_FOPEN_CREATE | APR_FOPEN_WRITE,
                      APR_FPROT_UREAD | APR_FPROT_UWRITE | APR_FPROT_GREAD | APR_FPROT_WREAD, pool),
        APR_SUCCESS);
    apr_file_puts("old", f);
    apr_file_close(f);
    assert_int_equal(oa_file_write_atomic(pool, path, "{\"new\":1}\n", 10), APR_SUCCESS);
    assert_string_equal(read_back(path, &perms), "{\"new\":1}\n");
    assert_int_equal(perms, APR_FPROT_UREAD | APR_FPROT_UWRITE);
    assert_int_equal(count_entries(dir), 1);
    /* A new file, and an empty one. */
    path = apr_pstrcat(pool, dir, "/fresh.json", NULL);
    assert_int_equal(oa_file_write_atomic(pool, path, "", 0), APR_SUCCESS);
    assert_string_equal(read_back(path, &perms), "");
    assert_int_equal(perms, APR_FPROT_UREAD | APR_FPROT_UWRITE);
    assert_int_equal(count_entries(dir), 2);
    remove_tree(dir);
}

/* A failed rename (the target is a directory) leaves the target and no temporary file. */
static void test_atomic_write_failure_leaves_nothing(void **state)
{
    const char *dir = scratch_dir(), *target = apr_pstrcat(pool, dir, "/auth.json", NULL);

    assert_int_equal(apr_dir_make(target, APR_FPROT_OS_DEFAULT, pool), APR_SUCCESS);
    assert_int_equal(
        apr_dir_make(apr_pstrcat(pool, target, "/inside", NULL), APR_FPROT_OS_DEFAULT, pool),
        APR_SUCCESS);
    assert_int_not_equal(oa_file_write_atomic(pool, target, "x", 1), APR_SUCCESS);
    assert_int_equal(count_entries(dir), 1);
    assert_int_equal(count_entries(target), 1);
    /* A missing directory: an error, nothing created. */
    assert_int_not_equal(
        oa_file_write_atomic(pool, apr_pstrcat(pool, dir, "/no/such/auth.json", NULL), "x", 1),
        APR_SUCCESS);
    assert_int_equal(count_entries(dir), 1);
    remove_tree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_fixture_round_trips),
        cmocka_unit_test(test_claude_exact),
        cmocka_unit_test(test_codex_exact),
        cmocka_unit_test(test_antigravity_times),
        cmocka_unit_test(test_expiry_keeps_json_type),
        cmocka_unit_test(test_layouts),
        cmocka_unit_test(test_kiro_profile_arn),
        cmocka_unit_test(test_foreign_values_survive),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_atomic_write),
        cmocka_unit_test(test_atomic_write_failure_leaves_nothing),
    };
    apr_initialize();
    atexit(apr_terminate);
    return cmocka_run_group_tests(tests, setup, teardown);
}
