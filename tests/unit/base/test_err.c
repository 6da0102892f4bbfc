/* SPDX-License-Identifier: MIT */
/* Unit tests of raft/base/err.c: the X-macro table of RAFT_E* codes, its
 * names and messages, and the frozen numeric values that travel on the wire. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above. */
#include <cmocka.h>
#include <limits.h>
#include <string.h>

#include "raft/base/err.h"

struct err_row {
    int code;
    const char *name;
    const char *msg;
};

/* Every row of the table, expanded by the same X-macro the library uses. */
static const struct err_row rows[] = {
#define ROW(name, value, msg) {RAFT_##name, #name, msg},
    RAFT_ERR_TABLE(ROW)
#undef ROW
};

#define N_ROWS (sizeof(rows) / sizeof(rows[0]))

static void test_err_table_is_not_empty(void **state)
{
    (void)state;
    assert_true(N_ROWS >= 20);
}

static void test_err_codes_are_negative_and_distinct(void **state)
{
    size_t i;
    size_t j;

    (void)state;
    for (i = 0; i < N_ROWS; i++) {
        assert_true(rows[i].code < 0);
        for (j = i + 1; j < N_ROWS; j++) {
            assert_int_not_equal(rows[i].code, rows[j].code);
        }
    }
}

static void test_err_names_and_messages_are_distinct(void **state)
{
    size_t i;
    size_t j;

    (void)state;
    for (i = 0; i < N_ROWS; i++) {
        for (j = i + 1; j < N_ROWS; j++) {
            assert_string_not_equal(raft_err_name(rows[i].code), raft_err_name(rows[j].code));
            assert_string_not_equal(raft_err_str(rows[i].code), raft_err_str(rows[j].code));
        }
    }
}

static void test_err_lookup_matches_table(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < N_ROWS; i++) {
        const char *name = raft_err_name(rows[i].code);
        const char *msg = raft_err_str(rows[i].code);

        assert_string_equal(name, rows[i].name);
        assert_string_equal(msg, rows[i].msg);
        /* A name is an E followed by upper-case letters, never the fallback. */
        assert_int_equal(name[0], 'E');
        assert_string_not_equal(name, "E?");
        assert_true(strlen(name) >= 3);
        assert_string_not_equal(msg, "unknown error");
        assert_true(strlen(msg) > 0);
    }
}

/* The numeric values appear in client responses (coord.proto): renumbering
 * one breaks every deployed client. This test pins them; extend it when a
 * code is added, never edit an existing line. */
static void test_err_wire_values_are_frozen(void **state)
{
    (void)state;
    assert_int_equal(RAFT_ENOMEM, -1);
    assert_int_equal(RAFT_EINVAL, -2);
    assert_int_equal(RAFT_ENOTLEADER, -3);
    assert_int_equal(RAFT_EBUSY, -4);
    assert_int_equal(RAFT_EPROTO, -5);
    assert_int_equal(RAFT_ECORRUPT, -6);
    assert_int_equal(RAFT_ENOSPC, -7);
    assert_int_equal(RAFT_EIO, -8);
    assert_int_equal(RAFT_ENOTFOUND, -9);
    assert_int_equal(RAFT_ECOMPACTED, -10);
    assert_int_equal(RAFT_ETIMEDOUT, -11);
    assert_int_equal(RAFT_ETOOBIG, -12);
    assert_int_equal(RAFT_ESHUTDOWN, -13);
    assert_int_equal(RAFT_ECANCELED, -14);
    assert_int_equal(RAFT_EEXIST, -15);
    assert_int_equal(RAFT_ENOCONN, -16);
    assert_int_equal(RAFT_ELEADERLESS, -17);
    assert_int_equal(RAFT_EDROPPED, -18);
    assert_int_equal(RAFT_ECONFIG, -19);
    assert_int_equal(RAFT_EFAILED, -20);
}

static void test_err_success_has_its_own_name(void **state)
{
    (void)state;
    assert_string_equal(raft_err_name(0), "OK");
    assert_string_equal(raft_err_str(0), "success");
}

static void check_unknown(int code)
{
    size_t j;

    for (j = 0; j < N_ROWS; j++) {
        assert_int_not_equal(code, rows[j].code);
    }
    assert_string_equal(raft_err_name(code), "E?");
    assert_string_equal(raft_err_str(code), "unknown error");
}

static void test_err_unknown_codes_fall_back(void **state)
{
    static const int unknown[] = {1, 2, 20, 12345, INT_MAX, INT_MIN, -100000};
    int lowest = 0;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        check_unknown(unknown[i]);
    }
    /* One below the lowest code in the table is unknown, however it grows. */
    for (i = 0; i < N_ROWS; i++) {
        if (rows[i].code < lowest) {
            lowest = rows[i].code;
        }
    }
    check_unknown(lowest - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_table_is_not_empty),
        cmocka_unit_test(test_err_codes_are_negative_and_distinct),
        cmocka_unit_test(test_err_names_and_messages_are_distinct),
        cmocka_unit_test(test_err_lookup_matches_table),
        cmocka_unit_test(test_err_wire_values_are_frozen),
        cmocka_unit_test(test_err_success_has_its_own_name),
        cmocka_unit_test(test_err_unknown_codes_fall_back),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
