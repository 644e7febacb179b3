/*
 * fuzz_jwt.c: libFuzzer harness for JWT claims, base64url and the time parsers of the
 * credential core (mod_aiproxy_oauth/oa_jwt.c, oa_time.c).
 *
 * Input: the whole input is a token (and, NUL-terminated, a time or a duration text).
 *
 * Oracles (any violation aborts with the input):
 *  - reading claims is deterministic; claims read have exp 0 or within 1970-9999, strings
 *    1..320 bytes without control characters;
 *  - base64url: a decoded input re-encodes to itself without its padding (one spelling per
 *    byte string), and every input encodes to text that decodes back to it;
 *  - an RFC 3339 time read is within 1970-9999, and formatting it reads back as the same
 *    time to the second;
 *  - a duration read is within 0..400 days.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "apr_general.h"
#include "apr_strings.h"
#include "oa_jwt.h"
#include "oa_time.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void broken(const char *what) __attribute__((noreturn));

static void broken(const char *what)
{
    fprintf(stderr, "fuzz_jwt: %s\n", what);
    abort();
}

static int same_string(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

static void check_claim_string(const char *s)
{
    size_t n = s ? strlen(s) : 1;

    if (n == 0 || n > 320)
        broken("a claim string out of bounds");
    for (size_t i = 0; s && i < n; i++) {
        if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f)
            broken("a claim string with a control character");
    }
}

static void check_claims(apr_pool_t *p, const char *token, size_t len)
{
    oa_jwt_claims c, again;
    int rc = oa_jwt_read_claims(p, token, len, &c);

    if (rc != oa_jwt_read_claims(p, token, len, &again) || c.exp != again.exp ||
        !same_string(c.email, again.email) ||
        !same_string(c.chatgpt_account_id, again.chatgpt_account_id))
        broken("reading the same token twice gave different claims");
    if (rc != 0)
        return;
    if (c.exp < 0 || c.exp > OA_TIME_LAST)
        broken("exp out of range");
    check_claim_string(c.email);
    check_claim_string(c.chatgpt_account_id);
    check_claim_string(c.chatgpt_plan_type);
}

static void check_base64url(apr_pool_t *p, const char *in, size_t len)
{
    unsigned char *out;
    apr_size_t out_len, stripped = len;
    char *re;

    if (oa_base64url_decode(p, in, len, &out, &out_len) == 0) {
        while (stripped > 0 && in[stripped - 1] == '=')
            stripped--;
        re = oa_base64url_encode(p, out, out_len);
        if (strlen(re) != stripped || memcmp(re, in, stripped))
            broken("a decoded input does not re-encode to itself");
    }
    re = oa_base64url_encode(p, (const unsigned char *) in, len);
    if (oa_base64url_decode(p, re, strlen(re), &out, &out_len) || out_len != len ||
        memcmp(out, in, len))
        broken("an encoding does not decode back");
}

static void check_times(apr_pool_t *p, const char *text)
{
    apr_time_t t, back;
    apr_interval_time_t d;

    if (oa_time_parse_rfc3339(text, &t) == 0) {
        if (t < 0 || t > OA_TIME_LAST)
            broken("an RFC 3339 time out of range");
        if (oa_time_parse_rfc3339(oa_time_format_rfc3339(p, t), &back) ||
            back != t - t % APR_USEC_PER_SEC)
            broken("a formatted time does not read back");
    }
    if (oa_duration_parse(text, &d) == 0 &&
        (d < 0 || d > APR_INT64_C(400) * 86400 * APR_USEC_PER_SEC))
        broken("a duration out of range");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static apr_pool_t *root;
    apr_pool_t *p;
    const char *text;

    if (!root) {
        apr_initialize();
        apr_pool_create(&root, NULL);
    }
    apr_pool_create(&p, root);
    text = apr_pstrmemdup(p, (const char *) data, size);
    check_claims(p, (const char *) data, size);
    check_base64url(p, (const char *) data, size);
    check_times(p, text);
    apr_pool_destroy(p);
    return 0;
}
