/* SPDX-License-Identifier: MIT */
/* test_conf: configurations and their byte format (raft/conf.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above. */
#include <cmocka.h>
#include <string.h>

#include "raft/raft.h"

static void test_conf_add_keeps_ids_sorted(void **state)
{
    struct raft_conf c;

    (void)state;
    memset(&c, 0, sizeof c);
    assert_int_equal(raft_conf_add(&c, 5, RAFT_VOTER, "e"), 0);
    assert_int_equal(raft_conf_add(&c, 2, RAFT_LEARNER, "b"), 0);
    assert_int_equal(raft_conf_add(&c, 9, RAFT_VOTER, "i"), 0);
    assert_int_equal(raft_conf_add(&c, 5, RAFT_VOTER, "e"), RAFT_EEXIST);
    assert_int_equal(raft_conf_add(&c, 0, RAFT_VOTER, "z"), RAFT_EINVAL);
    assert_int_equal(c.n, 3);
    assert_int_equal(c.servers[0].id, 2);
    assert_int_equal(c.servers[2].id, 9);
    assert_int_equal(raft_conf_n_voters(&c), 2);
    assert_string_equal(raft_conf_find(&c, 2)->address, "b");
}

static void test_conf_equal_compares_ids_roles_and_addresses(void **state)
{
    struct raft_conf a;
    struct raft_conf b;

    (void)state;
    memset(&a, 0, sizeof a);
    memset(&b, 0xff, sizeof b); /* bytes past the servers do not count */
    b.n = 0;
    assert_true(raft_conf_equal(&a, &b));
    assert_int_equal(raft_conf_add(&a, 1, RAFT_VOTER, "h:1"), 0);
    assert_false(raft_conf_equal(&a, &b));
    assert_int_equal(raft_conf_add(&b, 1, RAFT_VOTER, "h:1"), 0);
    assert_true(raft_conf_equal(&a, &b));
    b.servers[0].role = RAFT_LEARNER;
    assert_false(raft_conf_equal(&a, &b));
    b.servers[0].role = RAFT_VOTER;
    b.servers[0].address[2] = '2';
    assert_false(raft_conf_equal(&a, &b));
    b.servers[0].address[2] = '1';
    b.servers[0].id = 2;
    assert_false(raft_conf_equal(&a, &b));
}

static void test_conf_encode_decode_round_trip(void **state)
{
    struct raft_conf c;
    struct raft_conf d;
    uint8_t buf[2048];
    struct raft_buf b = {buf, 0};

    (void)state;
    memset(&c, 0, sizeof c);
    assert_int_equal(raft_conf_add(&c, 1, RAFT_VOTER, "127.0.0.1:7001"), 0);
    assert_int_equal(raft_conf_add(&c, 2, RAFT_LEARNER, ""), 0);
    b.len = raft_conf_encoded_len(&c);
    raft_conf_encode(&c, buf);
    assert_int_equal(raft_conf_decode(&b, &d), 0);
    assert_memory_equal(&c, &d, sizeof c);
}

static void test_conf_decode_rejects_malformed(void **state)
{
    struct raft_conf c;
    struct raft_conf d;
    uint8_t buf[2048];
    struct raft_buf b = {buf, 0};
    size_t len;
    size_t cut;

    (void)state;
    memset(&c, 0, sizeof c);
    assert_int_equal(raft_conf_add(&c, 1, RAFT_VOTER, "a"), 0);
    assert_int_equal(raft_conf_add(&c, 2, RAFT_VOTER, "b"), 0);
    len = raft_conf_encoded_len(&c);
    raft_conf_encode(&c, buf);
    for (cut = 0; cut < len; cut++) {
        b.len = cut;
        assert_int_equal(raft_conf_decode(&b, &d), RAFT_EPROTO);
    }
    b.len = len;
    buf[0] = 7; /* unknown version */
    assert_int_equal(raft_conf_decode(&b, &d), RAFT_EPROTO);
    buf[0] = 1;
    buf[2 + 11 + 8] = 9; /* second server's role byte */
    assert_int_equal(raft_conf_decode(&b, &d), RAFT_EPROTO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conf_add_keeps_ids_sorted),
        cmocka_unit_test(test_conf_equal_compares_ids_roles_and_addresses),
        cmocka_unit_test(test_conf_encode_decode_round_trip),
        cmocka_unit_test(test_conf_decode_rejects_malformed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
