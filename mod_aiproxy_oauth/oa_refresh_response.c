/* oa_refresh_response.c: the answer half of oa_refresh.h. */
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "apr_lib.h"
#include "apr_strings.h"
#include "oa_json.h"
#include "oa_jwt.h"
#include "oa_refresh.h"
#include "oa_refresh_dialect.h"
#include "oa_time.h"

/* Longest error code kept, and the longest lifetime believed (a year). */
#define OA_ERROR_CODE_MAX 64
#define OA_LIFETIME_MAX   (365.0 * 86400)

/* Codes that mean the refresh token is dead (OAuth 2 and the providers' own). Compared
 * case-insensitively; AWS's "...#InvalidGrantException" is reduced to its last part first. */
static const char *const permanent_codes[] = {
    "invalid_grant",
    "refresh_token_expired",
    "refresh_token_reused",
    "refresh_token_invalidated",
    "invalid_client",
    "unauthorized_client",
    "InvalidGrantException",
    "InvalidClientException",
    "UnauthorizedClientException",
    "ExpiredTokenException",
};

/* Where token endpoints put their error code: OAuth's "error" string, OpenAI's
 * error.code / error.type, a top-level "code", AWS's "__type" (and "error" as
 * {"code": ...}). */
static const char *const error_code_paths[] = {
    "error", "error.code", "error.type", "code", "__type",
};

int oa_refresh_code_is_permanent(const char *code)
{
    for (size_t i = 0; code && i < sizeof(permanent_codes) / sizeof(permanent_codes[0]); i++) {
        if (!strcasecmp(code, permanent_codes[i]))
            return 1;
    }
    return 0;
}

/* A code fit for a log line: a short identifier; NULL for anything else. */
static const char *readable_code(apr_pool_t *p, const char *s)
{
    const char *hash = strrchr(s, '#');
    size_t n;

    if (hash)
        s = hash + 1;
    n = strlen(s);
    if (n == 0 || n > OA_ERROR_CODE_MAX)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (!apr_isalnum(s[i]) && !strchr("_.-:", s[i]))
            return NULL;
    }
    return apr_pstrdup(p, s);
}

/* The first readable error code of the answer; a code that is permanent wins over another
 * (an "error" object may carry a generic type and a specific code). */
static const char *error_code_of(apr_pool_t *p, json_t *root)
{
    const char *first = NULL;

    for (size_t i = 0; i < sizeof(error_code_paths) / sizeof(error_code_paths[0]); i++) {
        json_t *v = oa_json_path_get(root, error_code_paths[i]);
        const char *code = json_is_string(v) ? readable_code(p, json_string_value(v)) : NULL;
        if (code && oa_refresh_code_is_permanent(code))
            return code;
        if (code && !first)
            first = code;
    }
    return first;
}

/* expires_in as a number or a numeric string, in (0, a year]; 0 when absent or odd. */
static apr_interval_time_t lifetime_of(json_t *v)
{
    double seconds = json_is_number(v)   ? json_number_value(v)
                     : json_is_string(v) ? atof(json_string_value(v))
                                         : 0;
    if (!(seconds > 0 && seconds <= OA_LIFETIME_MAX))
        return 0;
    return (apr_interval_time_t) (seconds * APR_USEC_PER_SEC);
}

static apr_time_t expiry_of(apr_pool_t *p, const oa_refresh_dialect *d, json_t *root,
                            const char *access_token, apr_time_t now)
{
    apr_interval_time_t lifetime = lifetime_of(json_object_get(root, d->answer->expires_in));
    oa_jwt_claims claims;

    if (lifetime)
        return now + lifetime;
    if (oa_jwt_read_claims(p, access_token, strlen(access_token), &claims) == 0 && claims.exp)
        return claims.exp;
    return now + d->default_lifetime;
}

static void read_tokens(apr_pool_t *p, const oa_refresh_dialect *d, json_t *root, apr_time_t now,
                        oa_refresh_result *out)
{
    const oa_answer_keys *k = d->answer;

    out->refresh_token = oa_json_path_string(p, root, k->refresh_token);
    out->id_token = k->id_token ? oa_json_path_string(p, root, k->id_token) : NULL;
    out->profile_arn = k->profile_arn ? oa_json_path_string(p, root, k->profile_arn) : NULL;
    out->expiry = expiry_of(p, d, root, out->access_token, now);
}

static void fail(apr_pool_t *p, oa_refresh_result *out, oa_refresh_outcome outcome, int status,
                 const char *what)
{
    out->outcome = outcome;
    out->error = status ? apr_psprintf(p, "HTTP %d %s", status, what) : what;
}

void oa_refresh_response_parse(apr_pool_t *p, const oa_credential *cred, int status,
                               const apr_table_t *headers, const char *body, apr_size_t len,
                               apr_time_t now, oa_refresh_result *out)
{
    const oa_refresh_dialect *d = oa_refresh_dialect_for(cred);
    json_t *root = NULL;

    memset(out, 0, sizeof(*out));
    if (!d) {
        fail(p, out, OA_REFRESH_PERMANENT, 0, "no token endpoint for this provider");
        return;
    }
    if (status == 0) {
        fail(p, out, OA_REFRESH_TRANSIENT, 0, "no answer from the token endpoint");
        return;
    }
    if (body && len)
        root = oa_json_pool_own(p, json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL));
    if (!json_is_object(root))
        root = NULL;
    if (status >= 200 && status < 300) {
        out->access_token = root ? oa_json_path_string(p, root, d->answer->access_token) : NULL;
        if (out->access_token) {
            read_tokens(p, d, root, now, out);
            if (out->expiry > now)
                return;
            /* Taking it would refresh again at once, in a loop: the clocks disagree. */
            fail(p, out, OA_REFRESH_TRANSIENT, status,
                 "a new token that is already expired (is the clock right?)");
            return;
        }
        fail(p, out, OA_REFRESH_TRANSIENT, status, "an answer without an access token");
        return;
    }
    out->error_code = root ? error_code_of(p, root) : NULL;
    out->retry_at = oa_time_retry_after(headers, now);
    if (status == 401 || oa_refresh_code_is_permanent(out->error_code))
        out->outcome = OA_REFRESH_PERMANENT;
    else
        out->outcome = OA_REFRESH_TRANSIENT;
    fail(p, out, out->outcome, status,
         out->error_code ? out->error_code : "from the token endpoint");
}
