/* SPDX-License-Identifier: MIT */
/* Unit tests of coord/ctl/args.c: flags anywhere on the line, values,
 * `--`, numbers, endpoint lists and etcd's prefix range end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above. */
#include <cmocka.h>
#include <string.h>

#include "coord/ctl/args.h"
#include "raft/base/err.h"

enum { F_ENDPOINTS, F_JSON, F_HELP, F_LIMIT, F_N };

static const struct ctl_flag spec[F_N] = {
    [F_ENDPOINTS] = {"endpoints", true},
    [F_JSON] = {"json", false},
    [F_HELP] = {"help", false},
    [F_LIMIT] = {"limit", true},
};

#define MAX_WORDS 16
#define MAX_WORD  64

/* Parse words as an argv: copies them into writable storage first, since an
 * argv is char *[] and string literals are const. */
static int parse(const char *const *words, int argc, struct ctl_args *out, char *err)
{
    static char storage[MAX_WORDS][MAX_WORD];
    static char *argv[MAX_WORDS];
    int i;

    assert_true(argc <= MAX_WORDS);
    for (i = 0; i < argc; i++) {
        size_t len = strlen(words[i]);

        assert_true(len < MAX_WORD);
        memcpy(storage[i], words[i], len + 1);
        argv[i] = storage[i];
    }
    return ctl_args_parse(spec, F_N, argc, argv, out, err, 128);
}

static void test_args_flags_anywhere_and_positionals_in_order(void **state)
{
    const char *argv[] = {"--endpoints", "a:1,b:2", "kv", "get", "--json", "/k", "--limit=5"};
    struct ctl_args a;
    char err[128];

    (void)state;
    assert_int_equal(parse(argv, 7, &a, err), 0);
    assert_int_equal(a.n_pos, 3);
    assert_string_equal(a.pos[0], "kv");
    assert_string_equal(a.pos[1], "get");
    assert_string_equal(a.pos[2], "/k");
    assert_string_equal(a.value[F_ENDPOINTS], "a:1,b:2");
    assert_string_equal(a.value[F_JSON], "");
    assert_string_equal(a.value[F_LIMIT], "5");
    assert_null(a.value[F_HELP]);
}

static void test_args_double_dash_and_single_dash_words_are_positional(void **state)
{
    const char *argv[] = {"kv", "put", "-5", "--", "--json", "-h"};
    struct ctl_args a;
    char err[128];

    (void)state;
    assert_int_equal(parse(argv, 6, &a, err), 0);
    assert_int_equal(a.n_pos, 5);
    assert_string_equal(a.pos[2], "-5");
    assert_string_equal(a.pos[3], "--json");
    assert_string_equal(a.pos[4], "-h");
    assert_null(a.value[F_JSON]);
    assert_null(a.value[F_HELP]);
}

static void test_args_short_h_is_help(void **state)
{
    const char *argv[] = {"status", "-h"};
    struct ctl_args a;
    char err[128];

    (void)state;
    assert_int_equal(parse(argv, 2, &a, err), 0);
    assert_int_equal(a.n_pos, 1);
    assert_non_null(a.value[F_HELP]);
}

static void test_args_rejects_bad_flags(void **state)
{
    const char *unknown[] = {"--nope"};
    const char *missing[] = {"status", "--endpoints"};
    const char *bool_value[] = {"--json=yes"};
    const char *many[] = {"1", "2", "3", "4", "5", "6", "7", "8", "9"};
    struct ctl_args a;
    char err[128];

    (void)state;
    assert_int_equal(parse(unknown, 1, &a, err), RAFT_EINVAL);
    assert_string_equal(err, "unknown flag --nope");
    assert_int_equal(parse(missing, 2, &a, err), RAFT_EINVAL);
    assert_string_equal(err, "flag --endpoints needs a value");
    assert_int_equal(parse(bool_value, 1, &a, err), RAFT_EINVAL);
    assert_string_equal(err, "flag --json takes no value");
    assert_int_equal(parse(many, 9, &a, err), RAFT_EINVAL);
}

static void test_args_u64(void **state)
{
    uint64_t v = 0;

    (void)state;
    assert_int_equal(ctl_args_u64("0", 10, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(ctl_args_u64("10", 10, &v), 0);
    assert_int_equal(v, 10);
    assert_int_equal(ctl_args_u64("11", 10, &v), RAFT_EINVAL);
    assert_int_equal(ctl_args_u64("7", 5, &v), RAFT_EINVAL);
    assert_int_equal(ctl_args_u64("18446744073709551615", UINT64_MAX, &v), 0);
    assert_true(v == UINT64_MAX);
    assert_int_equal(ctl_args_u64("18446744073709551616", UINT64_MAX, &v), RAFT_EINVAL);
    assert_int_equal(ctl_args_u64("", 10, &v), RAFT_EINVAL);
    assert_int_equal(ctl_args_u64("-1", 10, &v), RAFT_EINVAL);
    assert_int_equal(ctl_args_u64("1x", 10, &v), RAFT_EINVAL);
    assert_int_equal(ctl_args_u64(" 1", 10, &v), RAFT_EINVAL);
}

static void test_args_split_endpoints(void **state)
{
    char list[] = "127.0.0.1:27001, 127.0.0.1:27002 ,h:3";
    char empty_item[] = "a:1,,b:2";
    char trailing[] = "a:1,";
    char three[] = "a,b,c";
    const char *items[4];
    size_t n = 0;

    (void)state;
    assert_int_equal(ctl_args_split(list, items, 4, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(items[0], "127.0.0.1:27001");
    assert_string_equal(items[1], "127.0.0.1:27002");
    assert_string_equal(items[2], "h:3");
    assert_int_equal(ctl_args_split(empty_item, items, 4, &n), RAFT_EINVAL);
    assert_int_equal(ctl_args_split(trailing, items, 4, &n), RAFT_EINVAL);
    assert_int_equal(ctl_args_split(three, items, 2, &n), RAFT_ETOOBIG);
}

/* prefix_end of (p, len) must be want (want_len bytes). */
static void check_end(const char *p, size_t len, const char *want, size_t want_len)
{
    uint8_t out[16];
    size_t out_len = 0;

    ctl_args_prefix_end(p, len, out, &out_len);
    assert_int_equal(out_len, want_len);
    assert_memory_equal(out, want, want_len);
}

static void test_args_prefix_end_as_etcd(void **state)
{
    (void)state;
    check_end("/a/", 3, "/a0", 3);
    check_end("abc", 3, "abd", 3);
    check_end("a\xff", 2, "b", 1);
    check_end("a\xff\xff", 3, "b", 1);
    check_end("\xfe\xff", 2, "\xff", 1);
    check_end("\xff\xff", 2, "\0", 1);
    check_end("", 0, "\0", 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_args_flags_anywhere_and_positionals_in_order),
        cmocka_unit_test(test_args_double_dash_and_single_dash_words_are_positional),
        cmocka_unit_test(test_args_short_h_is_help),
        cmocka_unit_test(test_args_rejects_bad_flags),
        cmocka_unit_test(test_args_u64),
        cmocka_unit_test(test_args_split_endpoints),
        cmocka_unit_test(test_args_prefix_end_as_etcd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
