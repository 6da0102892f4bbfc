/* SPDX-License-Identifier: MIT */
/* Unit tests of coord/ctl/table.c: column alignment, missing cells, and
 * out-of-memory while rows are added. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above. */
#include <cmocka.h>
#include <string.h>

#include "coord/ctl/table.h"
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

static void test_table_pads_every_column_but_the_last(void **state)
{
    static const char *const r0[] = {"ID", "ADDRESS", "ROLE"};
    static const char *const r1[] = {"1", "127.0.0.1:27001", "leader"};
    static const char *const r2[] = {"12", "h:1", NULL};
    struct ctl_table t;
    struct ctl_sbuf out;

    (void)state;
    ctl_table_init(&t, 3);
    assert_int_equal(ctl_table_add(&t, r0), 0);
    assert_int_equal(ctl_table_add(&t, r1), 0);
    assert_int_equal(ctl_table_add(&t, r2), 0);
    ctl_sbuf_init(&out);
    ctl_table_render(&t, &out);
    assert_int_equal(out.err, 0);
    assert_string_equal(out.base, "ID  ADDRESS          ROLE\n"
                                  "1   127.0.0.1:27001  leader\n"
                                  "12  h:1              -\n");
    ctl_sbuf_close(&out);
    ctl_table_close(&t);
}

static void test_table_grows_past_its_first_allocation(void **state)
{
    const char *cells[1] = {"x"};
    struct ctl_table t;
    struct ctl_sbuf out;
    size_t i;

    (void)state;
    ctl_table_init(&t, 1);
    for (i = 0; i < 100; i++) {
        assert_int_equal(ctl_table_add(&t, cells), 0);
    }
    ctl_sbuf_init(&out);
    ctl_table_render(&t, &out);
    assert_int_equal(out.len, 200);
    ctl_sbuf_close(&out);
    ctl_table_close(&t);
}

static void test_table_out_of_memory_sweep(void **state)
{
    static const char *const row[] = {"a", "bb", "ccc"};
    long k;

    (void)state;
    for (k = 1; k <= SWEEP_MAX; k++) {
        struct ctl_table t;
        size_t i;
        size_t added = 0;
        int rv = 0;

        ctl_table_init(&t, 3);
        raft_alloc_fail_at(k);
        for (i = 0; i < 10 && rv == 0; i++) {
            rv = ctl_table_add(&t, row);
            added += rv == 0 ? 1 : 0;
        }
        raft_alloc_fail_at(0);
        /* A failed add leaves the table as it was. */
        assert_int_equal(t.n_rows, added);
        ctl_table_close(&t);
        assert_int_equal(raft_alloc_live(), live_at_start);
        if (rv == 0) {
            return;
        }
        assert_int_equal(rv, RAFT_ENOMEM);
    }
    fail_msg("the sweep never succeeded");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_table_pads_every_column_but_the_last, setup, teardown),
        cmocka_unit_test_setup_teardown(test_table_grows_past_its_first_allocation, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_table_out_of_memory_sweep, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
