/*
 * fuzz_authfile.c: libFuzzer harness for the auth-file reader and writer and the other JSON
 * the credential core reads (mod_aiproxy_oauth: oa_authfile.c, oa_authfile_update.c,
 * oa_refresh_*.c, oa_signal.c, oa_project.c).
 *
 * Input: byte 0 picks the upstream's provider hint (low three bits: 0 none, 1.. the providers
 * in oa_provider order, larger values none); the rest is an auth file, and also the body of a
 * token-endpoint answer and of an upstream answer.
 *
 * Oracles (any violation aborts with the input):
 *  - parsing is deterministic; a credential read has a non-empty access token, a provider in
 *    range that agrees with the hint, times within 1970-9999;
 *  - the write-back of new tokens reads back as the same provider, format and disabled flag,
 *    with the new tokens (and the new expiry wherever the format keeps one in the file), and
 *    writing the same update again gives the same bytes (a fixed point);
 *  - a Kiro registration path, when given, is "<dir>/<hash>.json" with a plain hash;
 *  - a refresh request, when built, has a URL, a content type and a body;
 *  - token-endpoint answers: OK only with an access token and an expiry after now, a failure
 *    always with a message; upstream signals: a kind in range, a reset time 0 or after now
 *    and at most 400 days on; Code Assist setup answers: a project found is a short plain
 *    identifier, onboarding names a tier, a failure says why.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "apr_general.h"
#include "apr_strings.h"
#include "oa_authfile.h"
#include "oa_authfile_update.h"
#include "oa_project.h"
#include "oa_refresh.h"
#include "oa_signal.h"
#include "oa_time.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW       APR_INT64_C(1790000000000000) /* 2026-09-21T14:13:20Z */
#define EXPIRY    APR_INT64_C(1800000000000000)
#define MAX_RESET (NOW + APR_INT64_C(400) * 86400 * APR_USEC_PER_SEC)
/* oa_signal.h: Antigravity waits out a RATE_LIMIT_EXCEEDED under 3 s */
#define SHORT_RETRY_MAX (APR_INT64_C(3) * APR_USEC_PER_SEC)

static void broken(const char *what) __attribute__((noreturn));

static void broken(const char *what)
{
    fprintf(stderr, "fuzz_authfile: %s\n", what);
    abort();
}

static int same_string(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

static void check_credential(const oa_credential *c, oa_provider hint)
{
    if (!c->access_token || !*c->access_token)
        broken("a credential without an access token");
    if (c->provider < 0 || c->provider >= OA_PROVIDER_COUNT)
        broken("a provider out of range");
    if (hint != OA_PROVIDER_NONE && c->provider != hint)
        broken("a credential of another provider than the hint");
    if (c->expiry < 0 || c->expiry > OA_TIME_LAST + OA_TIME_LAST / 1000 || c->last_refresh < 0 ||
        c->last_refresh > OA_TIME_LAST)
        broken("a time out of range");
}

/* The format keeps an expiry of its own (not only a JWT's). */
static int keeps_expiry(oa_format f)
{
    return f != OA_FORMAT_CODEX_CLI;
}

static void check_update(apr_pool_t *p, oa_provider hint, const char *text, size_t len,
                         const oa_credential *before)
{
    static const oa_token_update u = {"FUZZ-access", "FUZZ-refresh", "FUZZ-id",
                                      "FUZZ-arn",    EXPIRY,         NOW};
    char *out, *again;
    apr_size_t out_len, again_len;
    const char *err;
    oa_credential after;

    if (oa_authfile_update(p, hint, text, len, &u, &out, &out_len, &err))
        broken("a file that parses could not be updated");
    if (oa_authfile_parse(p, hint, out, out_len, &after, &err))
        broken("the updated file does not parse");
    if (after.provider != before->provider || after.format != before->format ||
        after.disabled != before->disabled)
        broken("the update changed the provider, format or disabled flag");
    if (strcmp(after.access_token, "FUZZ-access") ||
        !same_string(after.refresh_token, "FUZZ-refresh"))
        broken("the update's tokens do not read back");
    if (keeps_expiry(after.format) && after.expiry != EXPIRY)
        broken("the update's expiry does not read back");
    if (oa_authfile_update(p, hint, out, out_len, &u, &again, &again_len, &err) ||
        again_len != out_len || memcmp(again, out, out_len))
        broken("updating twice is not a fixed point");
}

static void check_kiro(apr_pool_t *p, const char *text, size_t len, oa_credential *c)
{
    const char *path = oa_authfile_kiro_registration_path(p, "/d/kiro-auth-token.json", c);
    const char *err;

    if (path && (strncmp(path, "/d/", 3) || strchr(path + 3, '/') ||
                 strcmp(path + strlen(path) - 5, ".json")))
        broken("a registration path outside the token file's directory");
    oa_authfile_read_kiro_registration(p, text, len, c, &err);
}

static void check_refresh_request(apr_pool_t *p, const oa_credential *c)
{
    oa_refresh_request req;
    const char *err;

    if (oa_refresh_request_build(p, c, NULL, &req, &err) == 0 &&
        (!req.url || !*req.url || !req.content_type || !req.body || !req.body_len ||
         strlen(req.body) != req.body_len))
        broken("a refresh request without URL, content type or body");
}

static void check_answers(apr_pool_t *p, const char *text, size_t len)
{
    static const int statuses[] = {0, 200, 400, 401, 402, 403, 429, 499, 500};
    apr_table_t *headers = apr_table_make(p, 2);

    apr_table_set(headers, "anthropic-ratelimit-unified-5h-status", "rejected");
    apr_table_set(headers, "anthropic-ratelimit-unified-5h-reset", "1790003600");
    for (int prov = 0; prov < OA_PROVIDER_COUNT; prov++) {
        oa_credential c;
        memset(&c, 0, sizeof(c));
        c.provider = (oa_provider) prov;
        for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
            oa_refresh_result r;
            oa_signal s;
            oa_refresh_response_parse(p, &c, statuses[i], headers, text, len, NOW, &r);
            if (r.outcome == OA_REFRESH_OK && (!r.access_token || r.expiry <= NOW))
                broken("a refresh OK without an access token or a future expiry");
            if (r.outcome != OA_REFRESH_OK && !r.error)
                broken("a refresh failure without a message");
            if (r.retry_at && (r.retry_at <= NOW || r.retry_at > MAX_RESET))
                broken("a refresh retry time out of range");
            oa_signal_classify(p, (oa_provider) prov, statuses[i], headers, text, len, NOW, &s);
            /* the kinds the module can name, not a copy of the enum's last value here (one
             * went stale when OA_SIGNAL_RETRY came) */
            if (!strcmp(oa_signal_kind_name(s.kind), "?") || !s.reason)
                broken("a signal kind out of range");
            if (s.reset_at && (s.reset_at <= NOW || s.reset_at > MAX_RESET))
                broken("a signal reset time out of range");
            if (s.kind == OA_SIGNAL_RETRY && (prov != OA_PROVIDER_ANTIGRAVITY || !s.reset_at ||
                                              s.reset_at > NOW + SHORT_RETRY_MAX))
                broken("a wait with the same credential that is not Antigravity's short one");
        }
    }
}

static void check_project_step(const oa_project_step *s, int onboard)
{
    switch (s->outcome) {
    case OA_PROJECT_FOUND:
        if (!s->project || !*s->project || strlen(s->project) > 120 ||
            strspn(s->project,
                   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:") !=
                strlen(s->project))
            broken("a Code Assist project that is no plain identifier");
        break;
    case OA_PROJECT_ONBOARD:
        if (onboard || !s->tier || !*s->tier)
            broken("onboarding without a tier");
        break;
    case OA_PROJECT_PENDING:
        if (!onboard)
            broken("loadCodeAssist read as a running operation");
        break;
    case OA_PROJECT_FAILED:
        if (!s->why)
            broken("a Code Assist setup failure without a message");
        break;
    default:
        broken("a Code Assist setup outcome out of range");
    }
}

/* The input as loadCodeAssist and onboardUser answers. */
static void check_project(apr_pool_t *p, const char *text, size_t len)
{
    static const int statuses[] = {0, 200, 403};
    oa_project_step s;

    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        oa_project_read_load(p, statuses[i], text, len, &s);
        check_project_step(&s, 0);
        oa_project_read_onboard(p, statuses[i], text, len, &s);
        check_project_step(&s, 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static apr_pool_t *root;
    apr_pool_t *p;
    oa_provider hint;
    const char *text, *err;
    size_t len;
    oa_credential c, again;
    int rc;

    if (!root) {
        apr_initialize();
        apr_pool_create(&root, NULL);
    }
    if (size == 0)
        return 0;
    apr_pool_create(&p, root);
    hint =
        (data[0] & 7) <= OA_PROVIDER_COUNT ? (oa_provider) ((data[0] & 7) - 1) : OA_PROVIDER_NONE;
    text = apr_pmemdup(p, data + 1, size - 1);
    len = size - 1;
    rc = oa_authfile_parse(p, hint, text, len, &c, &err);
    if (rc != oa_authfile_parse(p, hint, text, len, &again, &err))
        broken("parsing the same file twice gave different answers");
    if (rc == 0) {
        check_credential(&c, hint);
        check_update(p, hint, text, len, &c);
        check_refresh_request(p, &c);
        check_kiro(p, text, len, &c);
    } else if (!err) {
        broken("a refusal without a message");
    }
    check_answers(p, text, len);
    check_project(p, text, len);
    apr_pool_destroy(p);
    return 0;
}
