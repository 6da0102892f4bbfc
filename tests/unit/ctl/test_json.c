/* SPDX-License-Identifier: MIT */
/* Unit tests of coord/ctl/json.c and coord/ctl/sbuf.c: commas and nesting,
 * and the escaping of arbitrary bytes into valid JSON strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above. */
#include <cmocka.h>
#include <string.h>

#include "coord/ctl/json.h"
#include "coord/ctl/sbuf.h"
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

/* Escape len bytes of p and compare with want. */
static void check_escape(const void *p, size_t len, const char *want)
{
    struct ctl_sbuf b;

    ctl_sbuf_init(&b);
    ctl_json_escape(&b, p, len);
    assert_int_equal(b.err, 0);
    assert_non_null(b.base);
    assert_string_equal(b.base, want);
    assert_int_equal(b.len, strlen(want));
    ctl_sbuf_close(&b);
}

static void test_json_escape_passes_plain_ascii(void **state)
{
    (void)state;
    check_escape("/lgbench/w0000000001", 20, "/lgbench/w0000000001");
}

static void test_json_escape_quotes_backslash_and_controls(void **state)
{
    (void)state;
    check_escape("a\"b\\c", 5, "a\\\"b\\\\c");
    check_escape("\n\r\t\b\f", 5, "\\n\\r\\t\\b\\f");
    check_escape("\x01\x1f\x7f", 3, "\\u0001\\u001f\\u007f");
}

static void test_json_escape_keeps_nul_bytes(void **state)
{
    (void)state;
    check_escape("a\0b", 3, "a\\u0000b");
}

static void test_json_escape_passes_valid_utf8(void **state)
{
    (void)state;
    /* é (2 bytes), € (3 bytes), U+1F600 (4 bytes), U+10FFFF (the last). */
    check_escape("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf", 13,
                 "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf");
}

static void test_json_escape_bytes_outside_utf8(void **state)
{
    (void)state;
    /* Lone continuation byte, 0xff, and a lead byte cut short. */
    check_escape("\x80", 1, "\\u0080");
    check_escape("a\xff"
                 "b",
                 3, "a\\u00ffb");
    check_escape("\xe2\x82", 2, "\\u00e2\\u0082");
    /* A bad continuation: only the lead byte is escaped, 'A' stays. */
    check_escape("\xc3"
                 "A",
                 2, "\\u00c3A");
}

static void test_json_escape_rejects_overlong_surrogate_and_too_high(void **state)
{
    (void)state;
    check_escape("\xc0\xaf", 2, "\\u00c0\\u00af");                       /* overlong '/' */
    check_escape("\xe0\x80\xaf", 3, "\\u00e0\\u0080\\u00af");            /* overlong 3-byte */
    check_escape("\xed\xa0\x80", 3, "\\u00ed\\u00a0\\u0080");            /* U+D800 */
    check_escape("\xf4\x90\x80\x80", 4, "\\u00f4\\u0090\\u0080\\u0080"); /* > U+10FFFF */
    check_escape("\xf0\x8f\xbf\xbf", 4, "\\u00f0\\u008f\\u00bf\\u00bf"); /* overlong 4 */
}

static void test_json_writes_nested_values_with_commas(void **state)
{
    struct ctl_sbuf b;
    struct ctl_json j;

    (void)state;
    ctl_sbuf_init(&b);
    ctl_json_init(&j, &b);
    ctl_json_object_begin(&j);
    ctl_json_key(&j, "leader");
    ctl_json_null(&j);
    ctl_json_key(&j, "members");
    ctl_json_array_begin(&j);
    ctl_json_object_begin(&j);
    ctl_json_key(&j, "id");
    ctl_json_u64(&j, 18446744073709551615u);
    ctl_json_key(&j, "ok");
    ctl_json_bool(&j, true);
    ctl_json_object_end(&j);
    ctl_json_u64(&j, 0);
    ctl_json_array_begin(&j);
    ctl_json_array_end(&j);
    ctl_json_str(&j, "x\"");
    ctl_json_array_end(&j);
    ctl_json_key(&j, "k\n");
    ctl_json_bytes(&j, "\xff", 1);
    ctl_json_object_end(&j);
    assert_int_equal(ctl_json_finish(&j), 0);
    assert_string_equal(b.base, "{\"leader\":null,\"members\":[{\"id\":18446744073709551615,"
                                "\"ok\":true},0,[],\"x\\\"\"],\"k\\n\":\"\\u00ff\"}");
    ctl_sbuf_close(&b);
}

static void test_json_empty_object(void **state)
{
    struct ctl_sbuf b;
    struct ctl_json j;

    (void)state;
    ctl_sbuf_init(&b);
    ctl_json_init(&j, &b);
    ctl_json_object_begin(&j);
    ctl_json_object_end(&j);
    assert_int_equal(ctl_json_finish(&j), 0);
    assert_string_equal(b.base, "{}");
    ctl_sbuf_close(&b);
}

static void test_sbuf_grows_and_formats(void **state)
{
    struct ctl_sbuf b;
    char big[1000];
    size_t i;

    (void)state;
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ctl_sbuf_init(&b);
    for (i = 0; i < 10; i++) {
        ctl_sbuf_printf(&b, "%s%zu", big, i);
    }
    assert_int_equal(b.err, 0);
    assert_int_equal(b.len, 10 * 1000);
    assert_int_equal(b.base[b.len], '\0');
    assert_int_equal(b.base[999], '0');
    assert_int_equal(b.base[9999], '9');
    ctl_sbuf_close(&b);
    ctl_sbuf_close(&b); /* closing twice is a no-op */
}

/* Every allocation failure sticks as RAFT_ENOMEM and leaks nothing. */
static void test_json_out_of_memory_sweep(void **state)
{
    long k;

    (void)state;
    for (k = 1; k <= SWEEP_MAX; k++) {
        struct ctl_sbuf b;
        struct ctl_json j;
        size_t i;
        int rv;

        ctl_sbuf_init(&b);
        ctl_json_init(&j, &b);
        raft_alloc_fail_at(k);
        ctl_json_array_begin(&j);
        for (i = 0; i < 200; i++) {
            ctl_json_str(&j, "0123456789abcdef");
        }
        ctl_json_array_end(&j);
        rv = ctl_json_finish(&j);
        raft_alloc_fail_at(0);
        ctl_sbuf_close(&b);
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
        cmocka_unit_test_setup_teardown(test_json_escape_passes_plain_ascii, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_escape_quotes_backslash_and_controls, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_json_escape_keeps_nul_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_escape_passes_valid_utf8, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_escape_bytes_outside_utf8, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_escape_rejects_overlong_surrogate_and_too_high,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_writes_nested_values_with_commas, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_json_empty_object, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sbuf_grows_and_formats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_out_of_memory_sweep, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
