/* SPDX-License-Identifier: MIT */
/* Unit tests of coord/bench/workload.c against the peers' workload
 * definition: key names, value bytes, nearest-rank percentiles, option
 * parsing and the exact RESULT line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above. */
#include <cmocka.h>
#include <string.h>

#include "coord/bench/workload.h"
#include "raft/base/err.h"

#define MAX_WORDS 24
#define MAX_WORD  96

/* Parse words as an argv (copied: an argv is char *[], literals are const). */
static int parse(const char *const *words, int argc, struct bench_opts *o, char *err)
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
    return bench_workload_parse(argc, argv, o, err, 256);
}

static void test_workload_keys(void **state)
{
    char key[BENCH_KEY_MAX];

    (void)state;
    assert_int_equal(bench_workload_key(key, 'w', 0), 20);
    assert_string_equal(key, "/lgbench/w0000000000");
    assert_int_equal(bench_workload_key(key, 'w', 1000000000 + 39999), 20);
    assert_string_equal(key, "/lgbench/w1000039999");
    assert_int_equal(bench_workload_key(key, 'r', 999), 20);
    assert_string_equal(key, "/lgbench/r0000000999");
    /* More than 10 digits: %010d only pads, it never cuts. */
    assert_int_equal(bench_workload_key(key, 'w', 12345678901u), 21);
    assert_string_equal(key, "/lgbench/w12345678901");
}

static void test_workload_values(void **state)
{
    uint8_t v[30];

    (void)state;
    bench_workload_value(v, 30, 0);
    assert_memory_equal(v, "abcdefghijklmnopqrstuvwxyzabcd", 30);
    bench_workload_value(v, 5, 1);
    assert_memory_equal(v, "bcdef", 5);
    bench_workload_value(v, 4, 25);
    assert_memory_equal(v, "zabc", 4);
    bench_workload_value(v, 3, 26 * 1000 + 2);
    assert_memory_equal(v, "cde", 3);
}

static void test_workload_percentiles_nearest_rank(void **state)
{
    uint64_t v[200];
    uint64_t one[1] = {7};
    size_t i;

    (void)state;
    for (i = 0; i < 200; i++) {
        v[i] = 200 - i; /* descending: sort makes it 1..200 */
    }
    bench_workload_sort(v, 200);
    assert_int_equal(v[0], 1);
    assert_int_equal(v[199], 200);
    assert_int_equal(bench_workload_percentile(v, 200, 50), 100);
    assert_int_equal(bench_workload_percentile(v, 200, 90), 180);
    assert_int_equal(bench_workload_percentile(v, 200, 99), 198);
    assert_int_equal(bench_workload_percentile(v, 200, 100), 200);
    /* n = 10: p99 is the ceil(9.9) = 10th; p50 the 5th; p90 the 9th. */
    assert_int_equal(bench_workload_percentile(v, 10, 99), 10);
    assert_int_equal(bench_workload_percentile(v, 10, 50), 5);
    assert_int_equal(bench_workload_percentile(v, 10, 90), 9);
    /* n = 3: p50 is the ceil(1.5) = 2nd. */
    assert_int_equal(bench_workload_percentile(v, 3, 50), 2);
    assert_int_equal(bench_workload_percentile(one, 1, 1), 7);
    assert_int_equal(bench_workload_percentile(v, 0, 50), 0);
}

static void test_workload_parse_defaults(void **state)
{
    const char *argv[] = {"--endpoints", "127.0.0.1:27001,127.0.0.1:27002,127.0.0.1:27003"};
    struct bench_opts o;
    char err[256];

    (void)state;
    assert_int_equal(parse(argv, 2, &o, err), 0);
    assert_int_equal(o.n_endpoints, 3);
    assert_int_equal(o.kind, BENCH_WRITE);
    assert_int_equal(o.ops, 20000);
    assert_int_equal(o.vsize, 256);
    assert_int_equal(o.conc, 64);
    assert_int_equal(o.conns, 3);
    assert_int_equal(o.nkeys, 1000);
    assert_int_equal(o.key_offset, 0);
    assert_int_equal(o.op_timeout_ms, 2000);
    assert_string_equal(o.extra, "");
    assert_false(o.help);
}

static void test_workload_parse_every_option(void **state)
{
    const char *argv[] = {
        "--endpoints=a:1", "--workload", "sread",           "--ops", "5",       "--vsize=0",
        "--conc",          "3",          "--conns",         "7",     "--nkeys", "10",
        "--key-offset",    "1000000000", "--op-timeout-ms", "50",    "--extra", "rep=1 x=y"};
    struct bench_opts o;
    char err[256];

    (void)state;
    assert_int_equal(parse(argv, 18, &o, err), 0);
    assert_int_equal(o.n_endpoints, 1);
    assert_int_equal(o.kind, BENCH_SREAD);
    assert_int_equal(o.ops, 5);
    assert_int_equal(o.vsize, 0);
    assert_int_equal(o.conc, 3);
    assert_int_equal(o.conns, 7);
    assert_int_equal(o.nkeys, 10);
    assert_int_equal(o.key_offset, 1000000000);
    assert_int_equal(o.op_timeout_ms, 50);
    assert_string_equal(o.extra, "rep=1 x=y");
}

static void test_workload_parse_errors(void **state)
{
    const char *no_eps[] = {"--ops", "5"};
    const char *bad_wl[] = {"--endpoints", "a:1", "--workload", "watch"};
    const char *zero_ops[] = {"--endpoints", "a:1", "--ops", "0"};
    const char *junk[] = {"--endpoints", "a:1", "--conc", "6x"};
    const char *unknown[] = {"--endpoints", "a:1", "--watchers", "3"};
    const char *no_value[] = {"--endpoints", "a:1", "--ops"};
    const char *empty_ep[] = {"--endpoints", "a:1,,b:2"};
    const char *stray[] = {"--endpoints", "a:1", "write"};
    const char *help[] = {"--endpoints", "a:1", "--help", "--nonsense"};
    struct bench_opts o;
    char err[256];

    (void)state;
    assert_int_equal(parse(no_eps, 2, &o, err), RAFT_EINVAL);
    assert_string_equal(err, "--endpoints is required");
    assert_int_equal(parse(bad_wl, 4, &o, err), RAFT_EINVAL);
    assert_int_equal(parse(zero_ops, 4, &o, err), RAFT_EINVAL);
    assert_int_equal(parse(junk, 4, &o, err), RAFT_EINVAL);
    assert_int_equal(parse(unknown, 4, &o, err), RAFT_EINVAL);
    assert_string_equal(err, "unknown option --watchers");
    assert_int_equal(parse(no_value, 3, &o, err), RAFT_EINVAL);
    assert_int_equal(parse(empty_ep, 2, &o, err), RAFT_EINVAL);
    assert_int_equal(parse(stray, 3, &o, err), RAFT_EINVAL);
    assert_int_equal(parse(help, 4, &o, err), 0);
    assert_true(o.help);
}

static void test_workload_result_line(void **state)
{
    const char *argv[] = {"--endpoints", "a:1,b:2,c:3,d:4,e:5", "--extra", "rep=2"};
    struct bench_opts o;
    struct bench_stats s;
    uint64_t v[4] = {1499, 1500, 2000400, 10000000};
    char err[256];
    char line[512];

    (void)state;
    assert_int_equal(parse(argv, 4, &o, err), 0);
    memset(&s, 0, sizeof(s));
    bench_workload_stats(v, 4, &s);
    s.n_ok = 19990;
    s.errors = 10;
    s.elapsed_ns = 6789000000u;
    s.cpu_s = 1.266;
    assert_true(bench_workload_result(line, sizeof(line), &o, &s) < (int)sizeof(line));
    /* Rounded to whole microseconds: 1499 ns -> 1, 1500 ns -> 2. */
    assert_string_equal(line, "RESULT system=coord nodes=5 workload=write ops=20000 conc=64 "
                              "conns=5 vsize=256 errors=10 secs=6.789 ops_per_s=2944 "
                              "p50_us=2 p90_us=10000 p99_us=10000 max_us=10000 "
                              "client_cpu_s=1.27 rep=2\n");
}

static void test_workload_result_without_extra_or_samples(void **state)
{
    const char *argv[] = {"--endpoints", "a:1", "--workload", "read"};
    struct bench_opts o;
    struct bench_stats s;
    char err[256];
    char line[512];

    (void)state;
    assert_int_equal(parse(argv, 4, &o, err), 0);
    memset(&s, 0, sizeof(s));
    bench_workload_stats(NULL, 0, &s);
    s.errors = 20000;
    assert_true(bench_workload_result(line, sizeof(line), &o, &s) < (int)sizeof(line));
    assert_string_equal(line, "RESULT system=coord nodes=1 workload=read ops=20000 conc=64 "
                              "conns=1 vsize=256 errors=20000 secs=0.000 ops_per_s=0 "
                              "p50_us=0 p90_us=0 p99_us=0 max_us=0 client_cpu_s=0.00\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_workload_keys),
        cmocka_unit_test(test_workload_values),
        cmocka_unit_test(test_workload_percentiles_nearest_rank),
        cmocka_unit_test(test_workload_parse_defaults),
        cmocka_unit_test(test_workload_parse_every_option),
        cmocka_unit_test(test_workload_parse_errors),
        cmocka_unit_test(test_workload_result_line),
        cmocka_unit_test(test_workload_result_without_extra_or_samples),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
