/* SPDX-License-Identifier: MIT */
/* test_log: the core's in-memory log (raft/log.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above. */
#include <cmocka.h>
#include <string.h>

#include "raft/base/alloc.h"
#include "raft/log.h"

static void append_n(struct raft_log *l, raft_term term, unsigned n)
{
    unsigned i;

    for (i = 0; i < n; i++) {
        char data[8] = "entry";
        struct raft_entry e = {.term = term, .type = RAFT_ENTRY_NORMAL};

        e.index = raft_log_last_index(l) + 1;
        e.data.base = data;
        e.data.len = sizeof data;
        assert_int_equal(raft_log_append(l, &e), 0);
    }
}

static void test_log_append_and_terms(void **state)
{
    struct raft_log l;
    raft_term t;

    (void)state;
    raft_log_init(&l, 0, 0);
    append_n(&l, 1, 3);
    append_n(&l, 2, 2);
    assert_int_equal(raft_log_last_index(&l), 5);
    assert_int_equal(raft_log_last_term(&l), 2);
    assert_true(raft_log_term(&l, 0, &t) && t == 0);
    assert_true(raft_log_term(&l, 3, &t) && t == 1);
    assert_true(raft_log_term(&l, 4, &t) && t == 2);
    assert_false(raft_log_term(&l, 6, &t));
    assert_null(raft_log_get(&l, 0));
    raft_log_close(&l);
    assert_int_equal(raft_alloc_live(), 0);
}

static void test_log_truncate_keeps_views_until_trash_emptied(void **state)
{
    struct raft_log l;
    const struct raft_entry *e;
    char copy[8];

    (void)state;
    raft_log_init(&l, 0, 0);
    append_n(&l, 1, 5);
    e = raft_log_get(&l, 4);
    memcpy(copy, e->data.base, sizeof copy);
    raft_log_truncate(&l, 3);
    assert_int_equal(raft_log_last_index(&l), 2);
    assert_int_equal(l.n_trash, 3);
    raft_log_empty_trash(&l);
    assert_int_equal(l.n_trash, 0);
    append_n(&l, 3, 1);
    assert_int_equal(raft_log_last_term(&l), 3);
    raft_log_close(&l);
    assert_int_equal(raft_alloc_live(), 0);
}

static void test_log_compact_moves_offset(void **state)
{
    struct raft_log l;
    raft_term t;

    (void)state;
    raft_log_init(&l, 0, 0);
    append_n(&l, 1, 300); /* past the first growth */
    append_n(&l, 2, 300);
    raft_log_compact(&l, 400);
    assert_int_equal(l.offset, 400);
    assert_true(raft_log_term(&l, 400, &t) && t == 2);
    assert_false(raft_log_term(&l, 399, &t));
    assert_int_equal(raft_log_get(&l, 401)->index, 401);
    append_n(&l, 2, 600); /* slides the array back to the front */
    assert_int_equal(raft_log_last_index(&l), 1200);
    assert_int_equal(raft_log_get(&l, 1200)->index, 1200);
    raft_log_reset(&l, 5000, 7);
    assert_int_equal(raft_log_last_index(&l), 5000);
    assert_true(raft_log_term(&l, 5000, &t) && t == 7);
    raft_log_close(&l);
    assert_int_equal(raft_alloc_live(), 0);
}

static void test_log_append_out_of_memory_leaves_log_unchanged(void **state)
{
    struct raft_log l;
    long k;
    int rv = -1;

    (void)state;
    raft_log_init(&l, 0, 0);
    for (k = 1; rv != 0 && k < 10; k++) {
        struct raft_entry e = {.term = 1, .index = 1, .type = RAFT_ENTRY_NORMAL};
        char data[4] = "abc";

        e.data.base = data;
        e.data.len = 4;
        raft_alloc_fail_at(k);
        rv = raft_log_append(&l, &e);
        raft_alloc_fail_at(0);
        if (rv != 0) {
            assert_int_equal(rv, RAFT_ENOMEM);
            assert_int_equal(raft_log_last_index(&l), 0);
        }
    }
    assert_int_equal(rv, 0);
    raft_log_close(&l);
    assert_int_equal(raft_alloc_live(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_append_and_terms),
        cmocka_unit_test(test_log_truncate_keeps_views_until_trash_emptied),
        cmocka_unit_test(test_log_compact_moves_offset),
        cmocka_unit_test(test_log_append_out_of_memory_leaves_log_unchanged),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
