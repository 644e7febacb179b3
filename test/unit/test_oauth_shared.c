/*
 * test_oauth_shared.c: what gateways sharing a Redis store about an OAuth credential
 * (mod_aiproxy_oauth/oa_seal.c, oa_shared.c): the key file's forms, the AES-256-GCM envelope
 * (round trip, a fresh nonce each time, any changed byte, another key or another entry's name
 * refused), keyed names that hide what they name, and the token and cooldown records.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "apr_general.h"
#include "oa_seal.h"
#include "oa_shared.h"
#include "test_oauth.h"

#define HEX_KEY   "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define OTHER_KEY "f0112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define ENTRY     "aiproxy:v1:oauth:0123456789abcdef0123456789abcdef:tokens"

static oa_seal_key key_of(const char *text)
{
    oa_seal_key key;
    const char *err = NULL;

    assert_int_equal(oa_seal_key_parse(text, strlen(text), &key, &err), 0);
    return key;
}

static void test_key_file_forms(void **state)
{
    oa_seal_key a, b, c;
    const char *err = NULL;
    unsigned char raw[32];

    a = key_of(HEX_KEY);
    b = key_of("  " HEX_KEY "\n"); /* as `openssl rand -hex 32 > file` writes it */
    assert_memory_equal(&a, &b, sizeof(a));
    for (int i = 0; i < 32; i++)
        raw[i] = (unsigned char) (i * 17);
    assert_int_equal(oa_seal_key_parse((const char *) raw, sizeof(raw), &c, &err), 0);
    /* derived subkeys: neither is the key itself, and they differ */
    assert_memory_not_equal(c.seal, raw, 32);
    assert_memory_not_equal(c.seal, c.name, 32);

    err = NULL;
    assert_int_equal(oa_seal_key_parse("abc", 3, &c, &err), -1);
    assert_non_null(strstr(err, "64 hex digits"));
    err = NULL;
    assert_int_equal(oa_seal_key_parse(HEX_KEY "00", 66, &c, &err), -1);
    assert_non_null(err);
    err = NULL;
    const char *bad = "zz112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    assert_int_equal(oa_seal_key_parse(bad, strlen(bad), &c, &err), -1);
    memset(raw, 'a', sizeof(raw));
    err = NULL;
    assert_int_equal(oa_seal_key_parse((const char *) raw, 32, &c, &err), -1);
    assert_non_null(strstr(err, "repeated"));
    const char *zeros = "0000000000000000000000000000000000000000000000000000000000000000";
    assert_int_equal(oa_seal_key_parse(zeros, 64, &c, &err), -1);
}

static void test_round_trip_and_fresh_nonce(void **state)
{
    oa_seal_key key = key_of(HEX_KEY);
    const char *plain = "t1\n1790000000000000\n1789990000000000\nsecret-access\nrt-1\n\n";
    char *one, *two, *back;
    apr_size_t one_len, two_len, back_len;

    assert_int_equal(oa_seal(pool, &key, ENTRY, plain, strlen(plain), &one, &one_len), 0);
    assert_int_equal(one_len, strlen(plain) + OA_SEAL_OVERHEAD);
    assert_memory_equal(one, OA_SEAL_MAGIC, OA_SEAL_MAGIC_LEN);
    /* the secret is not in the envelope in clear */
    assert_null(memmem(one, one_len, "secret-access", 13));
    assert_int_equal(oa_unseal(pool, &key, ENTRY, one, one_len, &back, &back_len), 0);
    assert_int_equal(back_len, strlen(plain));
    assert_string_equal(back, plain);
    /* the same text twice: another nonce, another envelope */
    assert_int_equal(oa_seal(pool, &key, ENTRY, plain, strlen(plain), &two, &two_len), 0);
    assert_int_equal(two_len, one_len);
    assert_memory_not_equal(one, two, one_len);
    /* an empty text seals too */
    assert_int_equal(oa_seal(pool, &key, ENTRY, "", 0, &two, &two_len), 0);
    assert_int_equal(oa_unseal(pool, &key, ENTRY, two, two_len, &back, &back_len), 0);
    assert_int_equal(back_len, 0);
}

static void test_tampering_is_refused(void **state)
{
    oa_seal_key key = key_of(HEX_KEY), other = key_of(OTHER_KEY);
    const char *plain = "c1 1790000000000000";
    char *sealed, *changed, *back;
    apr_size_t len, back_len;

    assert_int_equal(oa_seal(pool, &key, ENTRY, plain, strlen(plain), &sealed, &len), 0);
    /* every byte changed in turn: magic, nonce, ciphertext, tag */
    for (apr_size_t i = 0; i < len; i++) {
        changed = apr_pmemdup(pool, sealed, len);
        changed[i] ^= 0x01;
        assert_int_equal(oa_unseal(pool, &key, ENTRY, changed, len, &back, &back_len), -1);
    }
    /* cut short, or one byte more */
    for (apr_size_t n = 0; n < len; n++)
        assert_int_equal(oa_unseal(pool, &key, ENTRY, sealed, n, &back, &back_len), -1);
    changed = apr_palloc(pool, len + 1);
    memcpy(changed, sealed, len);
    changed[len] = 'x';
    assert_int_equal(oa_unseal(pool, &key, ENTRY, changed, len + 1, &back, &back_len), -1);
    /* another key; the value moved under another credential's entry */
    assert_int_equal(oa_unseal(pool, &other, ENTRY, sealed, len, &back, &back_len), -1);
    assert_int_equal(oa_unseal(pool, &key, ENTRY "x", sealed, len, &back, &back_len), -1);
    /* the untouched envelope still opens */
    assert_int_equal(oa_unseal(pool, &key, ENTRY, sealed, len, &back, &back_len), 0);
}

static void test_names_hide_what_they_name(void **state)
{
    oa_seal_key key = key_of(HEX_KEY), other = key_of(OTHER_KEY);
    const char *a = oa_seal_name(pool, &key, "oauth credential\ncodex-sub\nauth.json");

    assert_int_equal(strlen(a), 32);
    assert_null(strstr(a, "auth"));
    assert_string_equal(a, oa_seal_name(pool, &key, "oauth credential\ncodex-sub\nauth.json"));
    assert_string_not_equal(a, oa_seal_name(pool, &key, "oauth credential\ncodex-sub\nb.json"));
    assert_string_not_equal(a,
                            oa_seal_name(pool, &other, "oauth credential\ncodex-sub\nauth.json"));
    assert_string_equal(oa_shared_prefix(pool, a),
                        apr_pstrcat(pool, "aiproxy:v1:oauth:", a, ":", NULL));
}

static void test_token_record_round_trip(void **state)
{
    oa_shared_tokens in = {.access_token = "eyJ.access",
                           .refresh_token = "rt-2",
                           .id_token = NULL,
                           .profile_arn = "arn:aws:codewhisperer:us-east-1:1:profile/X",
                           .expiry = SEC(1790000000),
                           .refreshed_at = SEC(1789996400) + 123};
    oa_shared_tokens out;
    apr_size_t len;
    char *text = oa_shared_tokens_encode(pool, &in, &len);

    assert_non_null(text);
    assert_int_equal(oa_shared_tokens_decode(pool, text, len, &out), 0);
    assert_string_equal(out.access_token, "eyJ.access");
    assert_string_equal(out.refresh_token, "rt-2");
    assert_null(out.id_token);
    assert_string_equal(out.profile_arn, in.profile_arn);
    assert_true(out.expiry == in.expiry && out.refreshed_at == in.refreshed_at);

    /* no refresh token (Google keeps its own) */
    in.refresh_token = NULL;
    text = oa_shared_tokens_encode(pool, &in, &len);
    assert_int_equal(oa_shared_tokens_decode(pool, text, len, &out), 0);
    assert_null(out.refresh_token);
    /* a line break cannot be stored; an access token is required */
    in.refresh_token = "rt\nx";
    assert_null(oa_shared_tokens_encode(pool, &in, &len));
    in.refresh_token = NULL;
    in.access_token = "";
    assert_null(oa_shared_tokens_encode(pool, &in, &len));
}

static void test_token_record_refuses_others(void **state)
{
    static const char *bad[] = {
        "",
        "t1",
        "t2\n1\n2\na\nb\nc\nd",                    /* another version */
        "t1\n1\n2\na\nb\nc",                       /* a line short */
        "t1\n1\n2\na\nb\nc\nd\ne",                 /* a line too many */
        "t1\n-1\n2\na\nb\nc\nd",                   /* a negative time */
        "t1\n1x\n2\na\nb\nc\nd",                   /* not a number */
        "t1\n\n2\na\nb\nc\nd",                     /* no number */
        "t1\n1\n2\n\nb\nc\nd",                     /* no access token */
        "t1\n99999999999999999999\n2\na\nb\nc\nd", /* out of range */
    };
    oa_shared_tokens out;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (oa_shared_tokens_decode(pool, bad[i], strlen(bad[i]), &out) != -1)
            fail_msg("accepted bad record %d", (int) i);
    /* a NUL inside (the profile arn field) */
    assert_int_equal(oa_shared_tokens_decode(pool, "t1\n1\n2\na\n\n\n\0x", 13, &out), -1);
    if (oa_shared_tokens_decode(pool, "t1\n1\n2\na\n\n\n", 11, &out) != 0)
        fail_msg("the smallest record was refused");
}

static void test_cooldown_record(void **state)
{
    apr_size_t len;
    apr_time_t until = 0;
    char *text = oa_shared_cooldown_encode(pool, SEC(1790000000) + 5, &len);

    assert_int_equal(oa_shared_cooldown_decode(text, len, &until), 0);
    assert_true(until == SEC(1790000000) + 5);
    assert_int_equal(oa_shared_cooldown_decode("c1 ", 3, &until), -1);
    assert_int_equal(oa_shared_cooldown_decode("c1 12a", 6, &until), -1);
    assert_int_equal(oa_shared_cooldown_decode("c2 12", 5, &until), -1);
    assert_int_equal(oa_shared_cooldown_decode("c1 -12", 6, &until), -1);
}

static void test_store_backoff(void **state)
{
    assert_int_equal(oa_shared_backoff(1), 1);
    assert_int_equal(oa_shared_backoff(2), 2);
    assert_int_equal(oa_shared_backoff(5), 16);
    assert_int_equal(oa_shared_backoff(6), 30);
    assert_int_equal(oa_shared_backoff(1000), 30);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_file_forms),
        cmocka_unit_test(test_round_trip_and_fresh_nonce),
        cmocka_unit_test(test_tampering_is_refused),
        cmocka_unit_test(test_names_hide_what_they_name),
        cmocka_unit_test(test_token_record_round_trip),
        cmocka_unit_test(test_token_record_refuses_others),
        cmocka_unit_test(test_cooldown_record),
        cmocka_unit_test(test_store_backoff),
    };
    apr_initialize();
    atexit(apr_terminate);
    return cmocka_run_group_tests(tests, setup, teardown);
}
