/* SPDX-License-Identifier: MIT */
/* Unit tests of tests/sim/queue.c: time order, ties in push order, and a
 * larger randomized schedule checked against the (at, seq) order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above. */
#include <cmocka.h>

#include "raft/base/alloc.h"
#include "raft/base/rand.h"
#include "tests/sim/queue.h"

static void test_queue_pops_in_time_order(void **state)
{
    struct sim_queue q;
    struct sim_event ev = {0};
    raft_time times[] = {50, 10, 30, 20, 40};
    raft_time want = 10;
    size_t i;

    (void)state;
    sim_queue_init(&q);
    for (i = 0; i < 5; i++) {
        ev.at = times[i];
        sim_queue_push(&q, &ev);
    }
    assert_int_equal(sim_queue_len(&q), 5);
    while (sim_queue_pop(&q, &ev)) {
        assert_int_equal(ev.at, want);
        want += 10;
    }
    assert_int_equal(want, 60);
    sim_queue_close(&q);
}

static void test_queue_ties_pop_in_push_order(void **state)
{
    struct sim_queue q;
    struct sim_event ev = {.at = 7};
    uint64_t i;

    (void)state;
    sim_queue_init(&q);
    for (i = 0; i < 100; i++) {
        ev.a = i;
        sim_queue_push(&q, &ev);
    }
    for (i = 0; i < 100; i++) {
        assert_true(sim_queue_pop(&q, &ev));
        assert_int_equal(ev.a, i);
    }
    assert_false(sim_queue_pop(&q, &ev));
    sim_queue_close(&q);
}

static void test_queue_random_schedule_is_ordered(void **state)
{
    struct sim_queue q;
    struct sim_event ev = {0};
    struct raft_rand rng;
    raft_time last_at = 0;
    uint64_t last_seq = 0;
    long live = raft_alloc_live();
    int i;

    (void)state;
    raft_rand_seed(&rng, 1);
    sim_queue_init(&q);
    for (i = 0; i < 5000; i++) {
        ev.at = raft_rand_below(&rng, 100);
        sim_queue_push(&q, &ev);
        if (raft_rand_chance(&rng, 300)) {
            /* Interleave pops: a later push may still pop before older events. */
            assert_true(sim_queue_pop(&q, &ev));
        }
    }
    while (sim_queue_pop(&q, &ev)) {
        assert_true(ev.at > last_at || (ev.at == last_at && ev.seq > last_seq) || last_seq == 0);
        last_at = ev.at;
        last_seq = ev.seq;
    }
    sim_queue_close(&q);
    assert_int_equal(raft_alloc_live(), live);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue_pops_in_time_order),
        cmocka_unit_test(test_queue_ties_pop_in_push_order),
        cmocka_unit_test(test_queue_random_schedule_is_ordered),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
