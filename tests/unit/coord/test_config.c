/* SPDX-License-Identifier: MIT */
/* test_config: coordd's settings from files and flags (coord/config.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above. */
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coord/config.h"
#include "coord/log.h"

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static int parse(struct coord_config *cfg, char *err, const char *const *args, int n)
{
    char *argv[32];
    int i;

    static char prog[] = "coordd";

    argv[0] = prog;
    for (i = 0; i < n; i++) {
        argv[i + 1] = (char *)(uintptr_t)args[i]; /* parse_args only reads argv */
    }
    coord_config_default(cfg);
    return coord_config_parse_args(cfg, n + 1, argv, err, 256, stdout);
}

static void test_config_flags_set_every_kind(void **state)
{
    struct coord_config cfg;
    char err[256] = "";
    const char *args[] = {"--id",
                          "3",
                          "--data-dir=/tmp/x",
                          "--peer-addr",
                          "127.0.0.1:7103",
                          "--client_addr",
                          "127.0.0.1:7003",
                          "--initial-members",
                          "1=127.0.0.1:7101, 2=127.0.0.1:7102/[::1]:7002 ,\t3=127.0.0.1:7103",
                          "--log-level",
                          "debug",
                          "--heartbeat-ms",
                          "50"};

    (void)state;
    assert_int_equal(parse(&cfg, err, args, N(args)), 0);
    assert_int_equal(cfg.id, 3);
    assert_string_equal(cfg.data_dir, "/tmp/x");
    assert_string_equal(cfg.client_addr, "127.0.0.1:7003");
    assert_int_equal(cfg.n_members, 3);
    assert_int_equal(cfg.members[2].id, 3);
    assert_string_equal(cfg.members[1].peer_addr, "127.0.0.1:7102");
    assert_string_equal(cfg.members[1].client_addr, "[::1]:7002"); /* spaces around items cut */
    assert_string_equal(cfg.members[2].peer_addr, "127.0.0.1:7103");
    assert_int_equal(cfg.log_level, COORD_LOG_DEBUG);
    assert_int_equal(cfg.heartbeat_ms, 50);
    assert_int_equal(cfg.election_timeout_ms, 1000); /* default kept */
    assert_int_equal(coord_config_check(&cfg, err, sizeof err), 0);
}

static void test_config_bad_values_name_the_setting(void **state)
{
    struct coord_config cfg;
    char err[256];
    const char *bad_int[] = {"--election-timeout-ms", "fast"};
    const char *range[] = {"--election-timeout-ms", "5"};
    const char *unknown[] = {"--electoin-timeout-ms", "100"};
    const char *addr[] = {"--peer-addr", "localhost"};
    const char *members[] = {"--initial-members", "1=a:1,1=b:2"};
    const char *missing[] = {"--id"};

    (void)state;
    assert_int_equal(parse(&cfg, err, bad_int, N(bad_int)), RAFT_ECONFIG);
    assert_non_null(strstr(err, "election_timeout_ms"));
    assert_int_equal(parse(&cfg, err, range, N(range)), RAFT_ECONFIG);
    assert_non_null(strstr(err, "[10, 60000]"));
    assert_int_equal(parse(&cfg, err, unknown, N(unknown)), RAFT_ECONFIG);
    assert_non_null(strstr(err, "unknown flag"));
    assert_int_equal(parse(&cfg, err, addr, N(addr)), RAFT_ECONFIG);
    assert_non_null(strstr(err, "peer_addr"));
    assert_int_equal(parse(&cfg, err, members, N(members)), RAFT_ECONFIG);
    assert_non_null(strstr(err, "twice"));
    assert_int_equal(parse(&cfg, err, missing, N(missing)), RAFT_ECONFIG);
    assert_non_null(strstr(err, "needs a value"));
}

static void test_config_check_cross_rules(void **state)
{
    struct coord_config cfg;
    char err[256];
    const char *no_self[] = {
        "--id",          "4",   "--data-dir",        "d",    "--peer-addr", "h:1",
        "--client-addr", "h:2", "--initial-members", "1=h:1"};
    const char *hb[] = {"--id",          "1",   "--data-dir",     "d",   "--peer-addr", "h:1",
                        "--client-addr", "h:2", "--heartbeat-ms", "2000"};

    (void)state;
    assert_int_equal(parse(&cfg, err, no_self, N(no_self)), 0);
    assert_int_equal(coord_config_check(&cfg, err, sizeof err), RAFT_ECONFIG);
    assert_non_null(strstr(err, "initial_members"));
    assert_int_equal(parse(&cfg, err, hb, N(hb)), 0);
    assert_int_equal(coord_config_check(&cfg, err, sizeof err), RAFT_ECONFIG);
    assert_non_null(strstr(err, "heartbeat_ms"));
    coord_config_default(&cfg);
    assert_int_equal(coord_config_check(&cfg, err, sizeof err), RAFT_ECONFIG);
    assert_non_null(strstr(err, "id"));
}

static void test_config_file_then_flags_override(void **state)
{
    struct coord_config cfg;
    char err[256];
    char path[] = "/tmp/coord-test-config-XXXXXX";
    const char *text = "# a node\n"
                       "id = 2\n"
                       "data_dir = /var/lib/coord   # trailing comment\n"
                       "\n"
                       "  heartbeat_ms=20\n";
    int fd = mkstemp(path);
    const char *args[] = {"--heartbeat-ms", "30", "--config", path};

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(parse(&cfg, err, args, N(args)), 0);
    assert_int_equal(cfg.id, 2);
    assert_string_equal(cfg.data_dir, "/var/lib/coord");
    assert_int_equal(cfg.heartbeat_ms, 30);
    unlink(path);
    assert_int_equal(parse(&cfg, err, args + 2, 2), RAFT_ECONFIG);
    assert_non_null(strstr(err, "cannot open"));
}

static void test_config_file_errors_give_the_line(void **state)
{
    struct coord_config cfg;
    char err[256];

    (void)state;
    coord_config_default(&cfg);
    assert_int_equal(coord_config_parse_text(&cfg, "id = 1\nnonsense\n", err, sizeof err),
                     RAFT_ECONFIG);
    assert_non_null(strstr(err, "line 2"));
    assert_int_equal(coord_config_parse_text(&cfg, "id = 1\nmap_size_mb = -5\n", err, sizeof err),
                     RAFT_ECONFIG);
    assert_non_null(strstr(err, "line 2: map_size_mb"));
}

/* strtoull() skips white space and takes a sign: a negative number must not
 * wrap around to a huge one (found by fuzz_config). */
static void test_config_numbers_are_digits_only(void **state)
{
    struct coord_config cfg;
    char err[256];
    const char *space[] = {"--cluster-id", " -1"};
    const char *member[] = {"--initial-members", "1=h:1,\t-2=h:2"};

    (void)state;
    assert_int_equal(parse(&cfg, err, space, N(space)), RAFT_ECONFIG);
    assert_non_null(strstr(err, "cluster_id"));
    assert_int_equal(parse(&cfg, err, member, N(member)), RAFT_ECONFIG);
    assert_non_null(strstr(err, "initial_members"));
    coord_config_default(&cfg);
    assert_int_equal(coord_config_parse_text(&cfg, "snapshot_entries = \v-1\n", err, sizeof err),
                     RAFT_ECONFIG);
    assert_non_null(strstr(err, "line 1: snapshot_entries"));
    assert_int_equal(cfg.snapshot_entries, 100000);
}

static void test_config_help_lists_every_setting(void **state)
{
    struct coord_config cfg;
    char err[256];
    const char *args[] = {"--help"};
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);

    (void)state;
    coord_config_default(&cfg);
    coord_config_help(out, "coordd");
    fclose(out);
    assert_non_null(strstr(buf, "--election_timeout_ms"));
    assert_non_null(strstr(buf, "(default 1000)"));
    assert_non_null(strstr(buf, "--initial_members"));
    free(buf);
    assert_int_equal(parse(&cfg, err, args, N(args)), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_flags_set_every_kind),
        cmocka_unit_test(test_config_bad_values_name_the_setting),
        cmocka_unit_test(test_config_check_cross_rules),
        cmocka_unit_test(test_config_file_then_flags_override),
        cmocka_unit_test(test_config_file_errors_give_the_line),
        cmocka_unit_test(test_config_numbers_are_digits_only),
        cmocka_unit_test(test_config_help_lists_every_setting),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
