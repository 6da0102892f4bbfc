/* SPDX-License-Identifier: MIT */
/* Unit tests of coord/ctl/join.c: which node leads, which configuration is
 * shown, lag, down members, nodes outside the configuration, the second
 * round's addresses, and the JSON and table output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above. */
#include <cmocka.h>
#include <string.h>

#include "coord/ctl/join.h"
#include "raft/base/alloc.h"
#include "raft/base/err.h"

#define SWEEP_MAX 100 /* bound of the out-of-memory sweep */

static long live_at_start;

static int setup(void **state)
{
    (void)state;
    raft_alloc_fail_at(0);
    live_at_start = raft_alloc_live();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    raft_alloc_fail_at(0);
    assert_int_equal(raft_alloc_live(), live_at_start);
    return 0;
}

/* Three voters, client port 2700i, peer port 2710i. */
static const struct ctl_member_info conf3[] = {
    {1, true, "127.0.0.1:27101", "127.0.0.1:27001"},
    {2, true, "127.0.0.1:27102", "127.0.0.1:27002"},
    {3, true, "127.0.0.1:27103", "127.0.0.1:27003"},
};

/* An answer of node id at endpoint. */
static struct ctl_node_answer up(const char *endpoint, uint64_t id, const char *role, uint64_t term,
                                 uint64_t commit, uint64_t applied)
{
    struct ctl_node_answer a;

    memset(&a, 0, sizeof(a));
    a.endpoint = endpoint;
    a.id = id;
    a.role = role;
    a.term = term;
    a.commit_index = commit;
    a.applied_index = applied;
    a.members = conf3;
    a.n_members = 3;
    return a;
}

static struct ctl_node_answer down(const char *endpoint)
{
    struct ctl_node_answer a;

    memset(&a, 0, sizeof(a));
    a.endpoint = endpoint;
    a.status = RAFT_ENOCONN;
    return a;
}

static void join(const struct ctl_node_answer *a, size_t n, struct ctl_status_view *v)
{
    assert_int_equal(ctl_join_status(a, n, v), 0);
}

/* The JSON of answers must be want (without the newline). */
static void check_json(const struct ctl_node_answer *a, size_t n, const char *want)
{
    struct ctl_status_view v;
    struct ctl_sbuf out;

    join(a, n, &v);
    ctl_sbuf_init(&out);
    ctl_join_render_json(&v, &out);
    assert_int_equal(out.err, 0);
    assert_true(out.len > 0 && out.base[out.len - 1] == '\n');
    out.base[out.len - 1] = '\0';
    assert_string_equal(out.base, want);
    ctl_sbuf_close(&out);
    ctl_join_free(&v);
}

static void test_join_all_up_leader_and_lag(void **state)
{
    struct ctl_node_answer a[3];
    struct ctl_status_view v;

    (void)state;
    /* Given in another order than the ids: rows still come in id order. */
    a[0] = up("127.0.0.1:27002", 2, "follower", 3, 9, 7);
    a[1] = up("127.0.0.1:27001", 1, "leader", 3, 10, 10);
    a[2] = up("127.0.0.1:27003", 3, "follower", 3, 10, 10);
    join(a, 3, &v);
    assert_true(v.has_leader);
    assert_int_equal(v.leader_id, 1);
    assert_int_equal(v.n_answered, 3);
    assert_int_equal(v.n_rows, 3);
    assert_int_equal(v.rows[0].id, 1);
    assert_string_equal(v.rows[0].role, "leader");
    assert_true(v.rows[0].has_lag);
    assert_int_equal(v.rows[0].lag, 0);
    assert_int_equal(v.rows[1].id, 2);
    assert_int_equal(v.rows[1].lag, 3);
    assert_string_equal(v.rows[1].address, "127.0.0.1:27002");
    assert_int_equal(v.rows[2].lag, 0);
    ctl_join_free(&v);
    check_json(a, 3,
               "{\"leader\":1,\"members\":["
               "{\"id\":1,\"address\":\"127.0.0.1:27001\",\"role\":\"leader\",\"term\":3,"
               "\"commit_index\":10,\"applied_index\":10,\"lag\":0},"
               "{\"id\":2,\"address\":\"127.0.0.1:27002\",\"role\":\"follower\",\"term\":3,"
               "\"commit_index\":9,\"applied_index\":7,\"lag\":3},"
               "{\"id\":3,\"address\":\"127.0.0.1:27003\",\"role\":\"follower\",\"term\":3,"
               "\"commit_index\":10,\"applied_index\":10,\"lag\":0}]}");
}

static void test_join_down_member_is_listed_once_with_nulls(void **state)
{
    struct ctl_node_answer a[3];

    (void)state;
    a[0] = up("127.0.0.1:27001", 1, "leader", 3, 10, 10);
    a[1] = up("127.0.0.1:27002", 2, "follower", 3, 10, 10);
    a[2] = down("127.0.0.1:27003");
    check_json(a, 3,
               "{\"leader\":1,\"members\":["
               "{\"id\":1,\"address\":\"127.0.0.1:27001\",\"role\":\"leader\",\"term\":3,"
               "\"commit_index\":10,\"applied_index\":10,\"lag\":0},"
               "{\"id\":2,\"address\":\"127.0.0.1:27002\",\"role\":\"follower\",\"term\":3,"
               "\"commit_index\":10,\"applied_index\":10,\"lag\":0},"
               "{\"id\":3,\"address\":\"127.0.0.1:27003\",\"role\":\"down\",\"term\":null,"
               "\"commit_index\":null,\"applied_index\":null,\"lag\":null}]}");
}

static void test_join_without_leader_lag_is_null(void **state)
{
    struct ctl_node_answer a[3];
    struct ctl_status_view v;

    (void)state;
    a[0] = up("127.0.0.1:27001", 1, "candidate", 5, 10, 10);
    a[1] = up("127.0.0.1:27002", 2, "precandidate", 4, 10, 9);
    a[2] = down("127.0.0.1:27003");
    join(a, 3, &v);
    assert_false(v.has_leader);
    assert_int_equal(v.n_rows, 3);
    assert_false(v.rows[0].has_lag);
    assert_false(v.rows[1].has_lag);
    assert_string_equal(v.rows[1].role, "precandidate");
    assert_string_equal(v.rows[2].role, "down");
    ctl_join_free(&v);
}

static void test_join_leader_is_highest_term(void **state)
{
    struct ctl_node_answer a[3];
    struct ctl_status_view v;

    (void)state;
    /* Node 1 was deposed but has not heard of it yet. */
    a[0] = up("127.0.0.1:27001", 1, "leader", 2, 8, 8);
    a[1] = up("127.0.0.1:27002", 2, "leader", 3, 12, 12);
    a[2] = up("127.0.0.1:27003", 3, "follower", 3, 12, 11);
    join(a, 3, &v);
    assert_true(v.has_leader);
    assert_int_equal(v.leader_id, 2);
    assert_string_equal(v.rows[0].role, "leader"); /* its own answer */
    assert_int_equal(v.rows[0].lag, 4);
    assert_int_equal(v.rows[1].lag, 0);
    assert_int_equal(v.rows[2].lag, 1);
    ctl_join_free(&v);
}

static void test_join_config_comes_from_the_leader(void **state)
{
    static const struct ctl_member_info old_conf[] = {
        {1, true, "127.0.0.1:27101", "127.0.0.1:27001"},
    };
    struct ctl_node_answer a[2];
    struct ctl_status_view v;

    (void)state;
    a[0] = up("127.0.0.1:27001", 1, "follower", 3, 10, 10);
    a[0].members = old_conf;
    a[0].n_members = 1;
    a[1] = up("127.0.0.1:27002", 2, "leader", 3, 10, 10);
    join(a, 2, &v);
    assert_int_equal(v.n_rows, 3);
    assert_int_equal(v.rows[2].id, 3);
    assert_string_equal(v.rows[2].role, "down");
    assert_true(v.rows[2].member);
    ctl_join_free(&v);
}

static void test_join_without_leader_config_of_highest_term(void **state)
{
    static const struct ctl_member_info old_conf[] = {
        {1, true, "127.0.0.1:27101", "127.0.0.1:27001"},
    };
    struct ctl_node_answer a[2];
    size_t n = 0;

    (void)state;
    a[0] = up("127.0.0.1:27001", 1, "follower", 2, 10, 10);
    a[0].members = old_conf;
    a[0].n_members = 1;
    a[1] = up("127.0.0.1:27002", 2, "candidate", 3, 9, 9);
    assert_ptr_equal(ctl_join_config(a, 2, &n), conf3);
    assert_int_equal(n, 3);
    /* Same term: the higher commit index wins. */
    a[1].term = 2;
    assert_ptr_equal(ctl_join_config(a, 2, &n), old_conf);
    assert_int_equal(n, 1);
}

static void test_join_lists_non_members_and_unknown_endpoints(void **state)
{
    struct ctl_node_answer a[5];
    struct ctl_status_view v;

    (void)state;
    a[0] = down("10.0.0.9:1");
    a[1] = up("127.0.0.1:27009", 9, "learner", 3, 10, 6); /* not in conf3 */
    a[2] = up("127.0.0.1:27001", 1, "leader", 3, 10, 10);
    a[3] = up("localhost:27001", 1, "leader", 3, 10, 10); /* node 1 again */
    a[4] = down("127.0.0.1:27102");                       /* node 2's peer address */
    join(a, 5, &v);
    assert_int_equal(v.n_rows, 5);
    assert_int_equal(v.rows[0].id, 1);
    assert_string_equal(v.rows[1].role, "down");
    assert_int_equal(v.rows[1].id, 2);
    assert_string_equal(v.rows[2].role, "down");
    assert_int_equal(v.rows[2].id, 3);
    assert_true(v.rows[3].has_id);
    assert_int_equal(v.rows[3].id, 9);
    assert_false(v.rows[3].member);
    assert_string_equal(v.rows[3].address, "127.0.0.1:27009");
    assert_int_equal(v.rows[3].lag, 4);
    assert_false(v.rows[4].has_id);
    assert_string_equal(v.rows[4].address, "10.0.0.9:1");
    assert_string_equal(v.rows[4].role, "down");
    ctl_join_free(&v);
}

static void test_join_address_falls_back_to_peer_address(void **state)
{
    static const struct ctl_member_info conf[] = {
        {1, true, "127.0.0.1:27101", ""},
    };
    struct ctl_node_answer a[1];
    struct ctl_status_view v;

    (void)state;
    a[0] = up("127.0.0.1:27001", 1, "leader", 1, 1, 1);
    a[0].members = conf;
    a[0].n_members = 1;
    join(a, 1, &v);
    assert_string_equal(v.rows[0].address, "127.0.0.1:27101");
    ctl_join_free(&v);
}

static void test_join_lag_never_below_zero(void **state)
{
    struct ctl_node_answer a[2];
    struct ctl_status_view v;

    (void)state;
    /* The follower answered after the leader committed more. */
    a[0] = up("127.0.0.1:27001", 1, "leader", 3, 10, 10);
    a[1] = up("127.0.0.1:27002", 2, "follower", 3, 12, 12);
    join(a, 2, &v);
    assert_true(v.rows[1].has_lag);
    assert_int_equal(v.rows[1].lag, 0);
    ctl_join_free(&v);
}

static void test_join_nobody_answered(void **state)
{
    struct ctl_node_answer a[2];
    struct ctl_status_view v;

    (void)state;
    a[0] = down("127.0.0.1:27001");
    a[1] = down("127.0.0.1:27002");
    join(a, 2, &v);
    assert_int_equal(v.n_answered, 0);
    assert_int_equal(v.n_rows, 2);
    assert_false(v.rows[0].has_id);
    ctl_join_free(&v);
    check_json(a, 2,
               "{\"leader\":null,\"members\":["
               "{\"id\":null,\"address\":\"127.0.0.1:27001\",\"role\":\"down\",\"term\":null,"
               "\"commit_index\":null,\"applied_index\":null,\"lag\":null},"
               "{\"id\":null,\"address\":\"127.0.0.1:27002\",\"role\":\"down\",\"term\":null,"
               "\"commit_index\":null,\"applied_index\":null,\"lag\":null}]}");
}

static void test_join_unasked_members(void **state)
{
    struct ctl_node_answer a[2];
    const char *out[4];

    (void)state;
    a[0] = up("127.0.0.1:27001", 1, "leader", 3, 10, 10);
    a[1] = down("127.0.0.1:27002");
    /* 2 was asked (and is down); 3 was not. */
    assert_int_equal(ctl_join_unasked(a, 2, out, 4), 1);
    assert_string_equal(out[0], "127.0.0.1:27003");
    assert_int_equal(ctl_join_unasked(a, 2, out, 0), 0);
    /* Nobody answered: no configuration, nothing to ask. */
    a[0] = down("127.0.0.1:27001");
    assert_int_equal(ctl_join_unasked(a, 2, out, 4), 0);
}

static void test_join_table(void **state)
{
    struct ctl_node_answer a[3];
    struct ctl_status_view v;
    struct ctl_sbuf out;

    (void)state;
    a[0] = up("127.0.0.1:27001", 1, "leader", 3, 10, 10);
    a[1] = up("127.0.0.1:27002", 2, "follower", 3, 10, 8);
    a[2] = down("127.0.0.1:27003");
    join(a, 3, &v);
    ctl_sbuf_init(&out);
    assert_int_equal(ctl_join_render_table(&v, &out), 0);
    assert_string_equal(out.base, "ID  ADDRESS          ROLE      TERM  COMMIT  APPLIED  LAG\n"
                                  "1   127.0.0.1:27001  leader    3     10      10       0\n"
                                  "2   127.0.0.1:27002  follower  3     10      8        2\n"
                                  "3   127.0.0.1:27003  down      -     -       -        -\n");
    ctl_sbuf_close(&out);
    ctl_join_free(&v);
}

static void test_join_out_of_memory_sweep(void **state)
{
    struct ctl_node_answer a[3];
    long k;

    (void)state;
    a[0] = up("127.0.0.1:27001", 1, "leader", 3, 10, 10);
    a[1] = up("127.0.0.1:27002", 2, "follower", 3, 10, 8);
    a[2] = down("127.0.0.1:27003");
    for (k = 1; k <= SWEEP_MAX; k++) {
        struct ctl_status_view v;
        struct ctl_sbuf out;
        int rv;

        ctl_sbuf_init(&out);
        raft_alloc_fail_at(k);
        rv = ctl_join_status(a, 3, &v);
        if (rv == 0) {
            rv = ctl_join_render_table(&v, &out);
            ctl_join_free(&v);
        }
        raft_alloc_fail_at(0);
        ctl_sbuf_close(&out);
        assert_int_equal(raft_alloc_live(), live_at_start);
        if (rv == 0) {
            return;
        }
        assert_int_equal(rv, RAFT_ENOMEM);
    }
    fail_msg("the sweep never succeeded");
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(test_join_all_up_leader_and_lag),
        TEST(test_join_down_member_is_listed_once_with_nulls),
        TEST(test_join_without_leader_lag_is_null),
        TEST(test_join_leader_is_highest_term),
        TEST(test_join_config_comes_from_the_leader),
        TEST(test_join_without_leader_config_of_highest_term),
        TEST(test_join_lists_non_members_and_unknown_endpoints),
        TEST(test_join_address_falls_back_to_peer_address),
        TEST(test_join_lag_never_below_zero),
        TEST(test_join_nobody_answered),
        TEST(test_join_unasked_members),
        TEST(test_join_table),
        TEST(test_join_out_of_memory_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
