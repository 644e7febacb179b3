/*
 * test_oauth_slot.c: one credential's shared slot (mod_aiproxy_oauth/oa_slot.c): the refresh
 * lease (one holder, lapsing, release only by its holder), the sequence-locked tokens (a
 * reader never sees a half-written copy, also while another process writes), cooldowns that
 * only extend, the backoff, and stable identities.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "apr_general.h"
#include "oa_slot.h"
#include "test_oauth.h"

static oa_slot *new_slot(void)
{
    oa_slot *slot = apr_pcalloc(pool, sizeof(*slot));
    return slot;
}

static void test_lease_has_one_holder(void **state)
{
    oa_slot *slot = new_slot();
    apr_uint32_t mine, theirs;

    assert_false(oa_slot_lease_held(slot, 1000));
    assert_true(oa_slot_lease_take(slot, 1000, 45, &mine));
    assert_true(oa_slot_lease_held(slot, 1000));
    assert_false(oa_slot_lease_take(slot, 1010, 45, &theirs));
    /* a holder that died: the lease lapses */
    assert_true(oa_slot_lease_take(slot, 1045, 45, &theirs));
    /* the first holder's late release must not free the second's lease */
    oa_slot_lease_release(slot, mine);
    assert_true(oa_slot_lease_held(slot, 1050));
    oa_slot_lease_release(slot, theirs);
    assert_false(oa_slot_lease_held(slot, 1050));
}

static void test_tokens_round_trip(void **state)
{
    oa_slot *slot = new_slot();
    oa_slot_tokens in, out;

    memset(&in, 0, sizeof(in));
    in.generation = 7;
    in.expiry = SEC(1790000000);
    strcpy(in.access_token, "access");
    strcpy(in.account_id, "acct");
    oa_slot_write(slot, &in);
    oa_slot_read(slot, &out);
    assert_int_equal(out.generation, 7);
    assert_string_equal(out.access_token, "access");
    assert_string_equal(out.account_id, "acct");
    assert_int_equal(atomic_load(&slot->seq) % 2, 0);
}

/* A writer process fills the whole token with one letter per generation; readers in this
 * process must only ever see a token of one letter whose generation matches. */
static void test_readers_never_see_a_torn_copy(void **state)
{
    oa_slot *slot =
        mmap(NULL, sizeof(oa_slot), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    oa_slot_tokens *view = apr_palloc(pool, sizeof(*view));
    pid_t writer;

    assert_true(slot != MAP_FAILED);
    memset(slot, 0, sizeof(*slot));
    writer = fork();
    if (writer == 0) {
        oa_slot_tokens *t = calloc(1, sizeof(*t));
        for (unsigned int g = 1; g <= 3000; g++) {
            t->generation = g;
            memset(t->access_token, 'a' + (int) (g % 26), OA_SLOT_ACCESS_MAX - 1);
            oa_slot_write(slot, t);
        }
        _exit(0);
    }
    for (int i = 0; i < 3000; i++) {
        char want;
        oa_slot_read(slot, view);
        if (view->generation == 0)
            continue;
        want = (char) ('a' + (int) (view->generation % 26));
        assert_int_equal(view->access_token[0], want);
        assert_int_equal(view->access_token[OA_SLOT_ACCESS_MAX - 2], want);
        assert_int_equal(view->access_token[OA_SLOT_ACCESS_MAX / 2], want);
    }
    waitpid(writer, NULL, 0);
    munmap(slot, sizeof(*slot));
}

static void test_cooldowns_only_extend(void **state)
{
    oa_slot *slot = new_slot();

    oa_slot_extend(&slot->cooldown_until, SEC(200));
    oa_slot_extend(&slot->cooldown_until, SEC(100));
    assert_true(atomic_load(&slot->cooldown_until) == SEC(200));
    oa_slot_extend(&slot->cooldown_until, SEC(300));
    assert_true(atomic_load(&slot->cooldown_until) == SEC(300));
}

static void test_backoff_doubles_to_five_minutes(void **state)
{
    assert_true(oa_slot_backoff(1) == SEC(5));
    assert_true(oa_slot_backoff(2) == SEC(10));
    assert_true(oa_slot_backoff(3) == SEC(20));
    assert_true(oa_slot_backoff(7) == SEC(300));
    assert_true(oa_slot_backoff(1000) == SEC(300));
}

static void test_identity_is_stable_and_distinct(void **state)
{
    apr_uint64_t a = oa_slot_identity("aiproxy-1-codex", "/etc/aiproxy/a.json");

    assert_true(a == oa_slot_identity("aiproxy-1-codex", "/etc/aiproxy/a.json"));
    assert_true(a != oa_slot_identity("aiproxy-1-codex", "/etc/aiproxy/b.json"));
    assert_true(a != oa_slot_identity("aiproxy-2-codex", "/etc/aiproxy/a.json"));
    assert_true(a != 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lease_has_one_holder),
        cmocka_unit_test(test_tokens_round_trip),
        cmocka_unit_test(test_readers_never_see_a_torn_copy),
        cmocka_unit_test(test_cooldowns_only_extend),
        cmocka_unit_test(test_backoff_doubles_to_five_minutes),
        cmocka_unit_test(test_identity_is_stable_and_distinct),
    };
    apr_initialize();
    atexit(apr_terminate);
    return cmocka_run_group_tests(tests, setup, teardown);
}
