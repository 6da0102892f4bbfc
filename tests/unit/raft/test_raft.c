/* SPDX-License-Identifier: MIT */
/* test_raft: behaviours of the core through its API, on the synchronous
 * fixture cluster. The randomized search for violations is tests/sim. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above. */
#include <cmocka.h>

#include "tests/unit/raft/fixture.c"

static struct fx F;

static int setup3(void **state)
{
    (void)state;
    fx_init(&F, 3, 3);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fx_close(&F);
    assert_int_equal(raft_alloc_live(), 0);
    return 0;
}

static struct raft *R(raft_id id)
{
    return F.nodes[id].r;
}

static void test_raft_election_one_leader(void **state)
{
    unsigned i;
    unsigned leaders = 0;

    (void)state;
    fx_advance(&F, 1000);
    for (i = 1; i <= 3; i++) {
        leaders += raft_role_get(R(i)) == RAFT_LEADER;
    }
    assert_int_equal(leaders, 1);
    for (i = 1; i <= 3; i++) {
        assert_int_equal(raft_leader_get(R(i)), fx_leader(&F));
    }
}

static void test_raft_new_leader_commits_noop(void **state)
{
    unsigned i;

    (void)state;
    fx_elect(&F, 1);
    assert_int_equal(raft_role_get(R(1)), RAFT_LEADER);
    for (i = 1; i <= 3; i++) {
        assert_int_equal(raft_commit_get(R(1)), 1);
        assert_int_equal(raft_entry_at(R(i), 1)->type, RAFT_ENTRY_NOOP);
    }
}

static void test_raft_submit_replicates_and_applies(void **state)
{
    unsigned i;

    (void)state;
    fx_elect(&F, 1);
    assert_int_equal(fx_submit(&F, 1, "a"), 0);
    assert_int_equal(fx_submit(&F, 1, "b"), 0);
    fx_deliver_all(&F);
    fx_advance(&F, 30); /* a heartbeat carries the commit index */
    for (i = 1; i <= 3; i++) {
        assert_int_equal(raft_commit_get(R(i)), 3);
        assert_int_equal(F.nodes[i].applied, 3);
        assert_int_equal(F.nodes[i].apply_hash, F.nodes[1].apply_hash);
    }
}

static void test_raft_submit_on_follower_is_refused(void **state)
{
    (void)state;
    fx_elect(&F, 1);
    assert_int_equal(fx_submit(&F, 2, "x"), RAFT_ENOTLEADER);
}

static void test_raft_leader_counts_itself_only_when_durable(void **state)
{
    (void)state;
    fx_elect(&F, 1);
    F.nodes[1].auto_persist = false;
    F.cut[1][3] = true; /* only node 2 gets the entry */
    assert_int_equal(fx_submit(&F, 1, "a"), 0);
    fx_deliver_all(&F);
    /* Node 2 holds it, the leader's own copy is not durable: 1 of 3. */
    assert_int_equal(raft_commit_get(R(1)), 1);
    fx_persist_one(&F, 1);
    fx_deliver_all(&F);
    assert_int_equal(raft_commit_get(R(1)), 2);
}

static void test_raft_vote_waits_for_persistence(void **state)
{
    struct raft_event ev = {.type = RAFT_EV_CAMPAIGN};

    (void)state;
    F.nodes[2].auto_persist = false;
    F.nodes[3].auto_persist = false;
    assert_int_equal(fx_step(&F, 1, &ev), 0);
    fx_deliver_all(&F);
    /* Both voters granted, but their grants wait for their votes to be
     * durable: no leader yet. */
    assert_int_equal(raft_role_get(R(1)), RAFT_CANDIDATE);
    fx_persist_one(&F, 2);
    fx_deliver_all(&F);
    assert_int_equal(raft_role_get(R(1)), RAFT_LEADER);
}

static void test_raft_no_leader_without_quorum(void **state)
{
    (void)state;
    F.nodes[2].up = false;
    F.nodes[3].up = false;
    fx_advance(&F, 2000);
    assert_int_not_equal(raft_role_get(R(1)), RAFT_LEADER);
    /* With pre-vote an isolated node never inflates its term. */
    assert_int_equal(raft_term_get(R(1)), 0);
}

static void test_raft_check_quorum_steps_down(void **state)
{
    (void)state;
    fx_elect(&F, 1);
    F.cut[2][1] = F.cut[3][1] = F.cut[1][2] = F.cut[1][3] = true;
    fx_advance(&F, 300);
    assert_int_not_equal(raft_role_get(R(1)), RAFT_LEADER);
}

static void test_raft_follower_catches_up_after_partition(void **state)
{
    unsigned k;

    (void)state;
    fx_elect(&F, 1);
    F.cut[1][3] = true;
    for (k = 0; k < 20; k++) {
        assert_int_equal(fx_submit(&F, 1, "v"), 0);
    }
    fx_deliver_all(&F);
    F.cut[1][3] = false;
    fx_advance(&F, 200);
    assert_int_equal(raft_last_index(R(3)), raft_last_index(R(1)));
    assert_int_equal(F.nodes[3].applied, raft_commit_get(R(1)));
}

static void test_raft_divergent_follower_truncates(void **state)
{
    unsigned k;

    (void)state;
    fx_elect(&F, 1);
    /* Leader 1 appends entries only it holds, then loses leadership. */
    F.cut[1][2] = F.cut[1][3] = true;
    for (k = 0; k < 5; k++) {
        assert_int_equal(fx_submit(&F, 1, "old"), 0);
    }
    fx_deliver_all(&F);
    F.cut[2][1] = F.cut[3][1] = true;
    fx_advance(&F, 400);
    assert_int_not_equal(fx_leader(&F), 1);
    assert_int_equal(fx_submit(&F, fx_leader(&F), "new"), 0);
    memset(F.cut, 0, sizeof F.cut);
    fx_advance(&F, 300);
    assert_int_equal(raft_last_index(R(1)), raft_last_index(R(fx_leader(&F))));
    assert_int_equal(raft_last_term(R(1)), raft_last_term(R(fx_leader(&F))));
    assert_int_equal(F.nodes[1].apply_hash, F.nodes[fx_leader(&F)].apply_hash);
}

static void test_raft_read_index_needs_quorum(void **state)
{
    struct raft_event ev = {.type = RAFT_EV_READ_INDEX};

    (void)state;
    fx_elect(&F, 1);
    F.cut[2][1] = F.cut[3][1] = true;
    ev.read_index.id = 7;
    assert_int_equal(fx_step(&F, 1, &ev), 0);
    fx_deliver_all(&F);
    assert_int_equal(F.nodes[1].n_reads, 0); /* no heartbeat acks yet */
    F.cut[2][1] = false;
    fx_advance(&F, 25);
    assert_int_equal(F.nodes[1].n_reads, 1);
    assert_int_equal(F.nodes[1].reads[0].id, 7);
    assert_int_equal(F.nodes[1].reads[0].status, 0);
    assert_int_equal(F.nodes[1].reads[0].index, raft_commit_get(R(1)));
}

static void test_raft_read_index_through_follower(void **state)
{
    struct raft_event ev = {.type = RAFT_EV_READ_INDEX};

    (void)state;
    fx_elect(&F, 1);
    assert_int_equal(fx_submit(&F, 1, "a"), 0);
    fx_deliver_all(&F);
    ev.read_index.id = 9;
    assert_int_equal(fx_step(&F, 3, &ev), 0);
    fx_deliver_all(&F);
    assert_int_equal(F.nodes[3].n_reads, 1);
    assert_int_equal(F.nodes[3].reads[0].status, 0);
    assert_int_equal(F.nodes[3].reads[0].index, 2);
}

static void test_raft_add_and_promote_learner(void **state)
{
    struct raft_event ev = {.type = RAFT_EV_CONF_CHANGE};

    (void)state;
    fx_close(&F);
    fx_init(&F, 4, 3); /* node 4 starts as a learner in the bootstrap */
    fx_elect(&F, 1);
    fx_advance(&F, 50);
    assert_int_equal(raft_commit_get(R(4)), 1);
    ev.conf_change.op = RAFT_CONF_PROMOTE;
    ev.conf_change.id = 4;
    assert_int_equal(fx_step(&F, 1, &ev), 0);
    /* A second change waits until the first commits. */
    ev.conf_change.op = RAFT_CONF_REMOVE;
    ev.conf_change.id = 3;
    assert_int_equal(fx_step(&F, 1, &ev), RAFT_EBUSY);
    fx_advance(&F, 50);
    assert_int_equal(raft_conf_n_voters(raft_conf_get(R(2))), 4);
    assert_int_equal(fx_step(&F, 1, &ev), 0);
    fx_advance(&F, 50);
    assert_int_equal(raft_conf_n_voters(raft_conf_get(R(1))), 3);
    assert_null(raft_conf_find(raft_conf_get(R(4)), 3));
}

static void test_raft_conf_change_waits_for_noop(void **state)
{
    struct raft_event ev = {.type = RAFT_EV_CONF_CHANGE};
    struct raft_event camp = {.type = RAFT_EV_CAMPAIGN};
    unsigned budget = 1000;

    (void)state;
    assert_int_equal(fx_step(&F, 1, &camp), 0);
    while (raft_role_get(R(1)) != RAFT_LEADER && budget-- > 0) {
        assert_true(fx_deliver_one(&F));
    }
    /* Leader now, but no follower acknowledges its no-op yet. */
    F.cut[2][1] = F.cut[3][1] = true;
    fx_deliver_all(&F);
    assert_int_equal(raft_commit_get(R(1)), 0);
    ev.conf_change.op = RAFT_CONF_ADD_LEARNER;
    ev.conf_change.id = 9;
    ev.conf_change.address = "n9";
    assert_int_equal(fx_step(&F, 1, &ev), RAFT_EBUSY);
    F.cut[2][1] = F.cut[3][1] = false;
    fx_advance(&F, 30);
    assert_int_equal(raft_commit_get(R(1)), 1);
    assert_int_equal(fx_step(&F, 1, &ev), 0);
}

static void test_raft_transfer_leadership(void **state)
{
    struct raft_event ev = {.type = RAFT_EV_TRANSFER};

    (void)state;
    fx_elect(&F, 1);
    ev.transfer.to = 3;
    assert_int_equal(fx_step(&F, 1, &ev), 0);
    assert_int_equal(fx_submit(&F, 1, "x"), RAFT_EBUSY);
    fx_deliver_all(&F);
    fx_deliver_all(&F);
    assert_int_equal(raft_role_get(R(3)), RAFT_LEADER);
    assert_int_equal(raft_role_get(R(1)), RAFT_FOLLOWER);
}

static void test_raft_snapshot_reaches_lagging_follower(void **state)
{
    struct raft_event ev = {.type = RAFT_EV_SNAPSHOT_TAKEN};
    unsigned k;

    (void)state;
    fx_elect(&F, 1);
    F.nodes[3].up = false;
    for (k = 0; k < 30; k++) {
        assert_int_equal(fx_submit(&F, 1, "v"), 0);
        fx_deliver_all(&F);
    }
    fx_advance(&F, 30);
    ev.snapshot_taken.index = F.nodes[1].applied;
    assert_int_equal(fx_step(&F, 1, &ev), 0);
    assert_true(raft_first_index(R(1)) > 2);
    F.nodes[3].up = true;
    fx_advance(&F, 100);
    assert_int_equal(F.nodes[3].n_snapshots_installed, 1);
    assert_int_equal(raft_last_index(R(3)), raft_last_index(R(1)));
    assert_int_equal(F.nodes[3].applied, F.nodes[1].applied);
}

static void test_raft_malformed_messages_are_dropped(void **state)
{
    struct raft_entry bad = {.term = 99, .index = 5, .type = RAFT_ENTRY_NORMAL};
    struct raft_msg m = {.type = RAFT_MSG_APPEND, .from = 2, .to = 1, .term = 1};
    struct raft_event ev = {.type = RAFT_EV_RECEIVE};

    (void)state;
    fx_elect(&F, 1);
    m.index = 1;
    m.log_term = 1;
    m.entries = &bad; /* index gap and a term beyond the message's */
    m.n_entries = 1;
    ev.receive.msg = &m;
    assert_int_equal(fx_step(&F, 1, &ev), 0);
    m.type = 200;
    assert_int_equal(fx_step(&F, 1, &ev), 0);
    assert_int_equal(raft_role_get(R(1)), RAFT_LEADER);
    assert_int_equal(raft_last_index(R(1)), 1);
}

static void test_raft_submit_out_of_memory_sweep(void **state)
{
    long k;
    int rv = -1;

    (void)state;
    fx_elect(&F, 1);
    for (k = 1; k < 1000 && rv != 0; k++) {
        raft_index last = raft_last_index(R(1));

        raft_alloc_fail_at(k);
        rv = fx_submit(&F, 1, "payload");
        raft_alloc_fail_at(0);
        if (rv != 0) {
            assert_int_equal(rv, RAFT_ENOMEM);
            assert_int_equal(raft_last_index(R(1)), last);
        }
    }
    assert_int_equal(rv, 0);
    fx_deliver_all(&F);
    fx_advance(&F, 30);
    assert_int_equal(F.nodes[2].applied, raft_last_index(R(1)));
}

static unsigned queued_of_type(uint8_t type)
{
    unsigned n = 0;
    unsigned i;

    for (i = F.q_head; i != F.q_tail; i++) {
        n += F.queue[i % FX_MAX_MSGS].m.type == type;
    }
    return n;
}

static void test_raft_reads_share_a_heartbeat_round(void **state)
{
    struct raft_event ev = {.type = RAFT_EV_READ_INDEX};
    unsigned k;

    (void)state;
    fx_elect(&F, 1);
    for (k = 0; k < 10; k++) {
        ev.read_index.id = 100 + k;
        assert_int_equal(fx_step(&F, 1, &ev), 0);
    }
    /* The first read starts a round; the other nine wait for the next. */
    assert_int_equal(queued_of_type(RAFT_MSG_HEARTBEAT), 2);
    fx_deliver_all(&F);
    assert_int_equal(F.nodes[1].n_reads, 10);
    for (k = 0; k < 10; k++) {
        assert_int_equal(F.nodes[1].reads[k].status, 0);
    }
}

static void test_raft_stray_candidate_cannot_depose_leader(void **state)
{
    struct raft_event ev = {.type = RAFT_EV_CAMPAIGN};

    (void)state;
    fx_elect(&F, 1);
    /* Node 3 campaigns with an up-to-date log while the leader is healthy:
     * the followers and the leader are in their lease and ignore it. */
    assert_int_equal(fx_step(&F, 3, &ev), 0);
    fx_deliver_all(&F);
    assert_int_equal(raft_role_get(R(1)), RAFT_LEADER);
    assert_int_equal(raft_term_get(R(1)), 1);
}

static void test_raft_stale_ack_does_not_resend_window(void **state)
{
    struct raft_msg m = {.type = RAFT_MSG_APPEND_RESP, .from = 2, .to = 1, .term = 1};
    struct raft_event ev = {.type = RAFT_EV_RECEIVE};
    unsigned k;

    (void)state;
    fx_elect(&F, 1);
    F.cut[1][2] = true;
    for (k = 0; k < 5; k++) {
        assert_int_equal(fx_submit(&F, 1, "v"), 0);
    }
    fx_deliver_all(&F);
    /* Node 2 rejects the gap: the leader probes it (probe lost). */
    m.reject = true;
    m.index = 6;
    m.hint_index = 1;
    m.hint_term = 1;
    ev.receive.msg = &m;
    assert_int_equal(fx_step(&F, 1, &ev), 0);
    fx_deliver_all(&F);
    /* A duplicated acknowledgement older than the probe arrives late: it
     * must not restart a whole window of appends. */
    memset(&m, 0, sizeof m);
    m.type = RAFT_MSG_APPEND_RESP;
    m.from = 2;
    m.to = 1;
    m.term = 1;
    m.index = 0;
    assert_int_equal(fx_step(&F, 1, &ev), 0);
    assert_int_equal(queued_of_type(RAFT_MSG_APPEND), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_raft_election_one_leader, setup3, teardown),
        cmocka_unit_test_setup_teardown(test_raft_new_leader_commits_noop, setup3, teardown),
        cmocka_unit_test_setup_teardown(test_raft_submit_replicates_and_applies, setup3, teardown),
        cmocka_unit_test_setup_teardown(test_raft_submit_on_follower_is_refused, setup3, teardown),
        cmocka_unit_test_setup_teardown(test_raft_leader_counts_itself_only_when_durable, setup3,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_raft_vote_waits_for_persistence, setup3, teardown),
        cmocka_unit_test_setup_teardown(test_raft_no_leader_without_quorum, setup3, teardown),
        cmocka_unit_test_setup_teardown(test_raft_check_quorum_steps_down, setup3, teardown),
        cmocka_unit_test_setup_teardown(test_raft_follower_catches_up_after_partition, setup3,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_raft_divergent_follower_truncates, setup3, teardown),
        cmocka_unit_test_setup_teardown(test_raft_read_index_needs_quorum, setup3, teardown),
        cmocka_unit_test_setup_teardown(test_raft_read_index_through_follower, setup3, teardown),
        cmocka_unit_test_setup_teardown(test_raft_add_and_promote_learner, setup3, teardown),
        cmocka_unit_test_setup_teardown(test_raft_conf_change_waits_for_noop, setup3, teardown),
        cmocka_unit_test_setup_teardown(test_raft_transfer_leadership, setup3, teardown),
        cmocka_unit_test_setup_teardown(test_raft_snapshot_reaches_lagging_follower, setup3,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_raft_malformed_messages_are_dropped, setup3, teardown),
        cmocka_unit_test_setup_teardown(test_raft_submit_out_of_memory_sweep, setup3, teardown),
        cmocka_unit_test_setup_teardown(test_raft_reads_share_a_heartbeat_round, setup3, teardown),
        cmocka_unit_test_setup_teardown(test_raft_stray_candidate_cannot_depose_leader, setup3,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_raft_stale_ack_does_not_resend_window, setup3,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
