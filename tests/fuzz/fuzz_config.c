/* SPDX-License-Identifier: MIT */
/* fuzz_config: coordd's settings parser, coord/config.c.
 *
 * Input: one mode byte, then the text. Mode bit 0 clear: the text (up to a
 * NUL) is a config file for coord_config_parse_text(). Set: the text split
 * at NUL bytes is argv for coord_config_parse_args(), after "coordd"; an
 * input naming --config is skipped (it would read a file of that name).
 *
 * Properties, for every input:
 *   - nothing crashes, leaks or trips ASan/UBSan;
 *   - the parser returns 0 or RAFT_ECONFIG (the flag parser also 1, for
 *     --help); RAFT_ECONFIG comes with a non-empty error, on one line for a
 *     file (argv may hold newlines of its own, which the message quotes);
 *   - on 0 every setting is within the range of its table entry, strings
 *     are terminated, members have distinct ids > 0 and well-formed sizes;
 *   - coord_config_check() then returns 0 or RAFT_ECONFIG with an error. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "coord/config.h"
#include "coord/log.h"
#include "raft/base/alloc.h"
#include "tests/fuzz/fuzz.h"

#define MODE_ARGS 0x01u
#define TEXT_MAX  (64u << 10) /* bytes of text taken from the input */
#define ARGS_MAX  64          /* arguments after argv[0] */
#define ERR_LEN   256

static bool terminated(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

/* What the table of config.c promises for a parsed configuration. */
static void check_ranges(const struct coord_config *c)
{
    uint32_t i;
    uint32_t j;

    FUZZ_CHECK(terminated(c->data_dir, sizeof c->data_dir));
    FUZZ_CHECK(terminated(c->peer_addr, sizeof c->peer_addr));
    FUZZ_CHECK(terminated(c->client_addr, sizeof c->client_addr));
    FUZZ_CHECK(c->id <= UINT64_MAX >> 1);
    FUZZ_CHECK(c->election_timeout_ms >= 10 && c->election_timeout_ms <= 60000);
    FUZZ_CHECK(c->heartbeat_ms >= 1 && c->heartbeat_ms <= 30000);
    FUZZ_CHECK(c->snapshot_entries >= 1);
    FUZZ_CHECK(c->max_request_bytes >= 1024 && c->max_request_bytes <= 1ull << 30);
    FUZZ_CHECK(c->max_peer_frame_bytes >= 1ull << 16 && c->max_peer_frame_bytes <= 1ull << 32);
    FUZZ_CHECK(c->map_size_mb >= 1 && c->map_size_mb <= 1ull << 24);
    FUZZ_CHECK(c->request_timeout_ms >= 1 && c->request_timeout_ms <= 3600000);
    FUZZ_CHECK(c->max_clients >= 1 && c->max_clients <= 1000000);
    FUZZ_CHECK(c->log_level >= COORD_LOG_ERROR && c->log_level <= COORD_LOG_TRACE);
    FUZZ_CHECK(c->n_members <= RAFT_MAX_SERVERS);
    for (i = 0; i < c->n_members; i++) {
        const struct coord_config_member *m = &c->members[i];

        FUZZ_CHECK(m->id > 0);
        FUZZ_CHECK(terminated(m->peer_addr, sizeof m->peer_addr) && m->peer_addr[0] != '\0');
        FUZZ_CHECK(terminated(m->client_addr, sizeof m->client_addr));
        for (j = 0; j < i; j++) {
            FUZZ_CHECK(c->members[j].id != m->id);
        }
    }
}

static void check_error(int rv, const char *err, bool one_line)
{
    FUZZ_CHECKF(rv == 0 || rv == RAFT_ECONFIG, "parse returned %d", rv);
    if (rv == RAFT_ECONFIG) {
        FUZZ_CHECK(terminated(err, ERR_LEN));
        FUZZ_CHECKF(err[0] != '\0', "an error without a message");
        FUZZ_CHECKF(!one_line || strchr(err, '\n') == NULL, "a message of several lines: %s", err);
    }
}

/* Split text (len bytes, NUL-terminated) at its NULs into argv[1..]. */
static int split_args(char *text, size_t len, char **argv)
{
    static char prog[] = "coordd";
    int argc = 1;
    size_t off = 0;

    argv[0] = prog;
    while (off < len && argc <= ARGS_MAX) {
        argv[argc++] = text + off;
        off += strlen(text + off) + 1;
    }
    return argc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char text[TEXT_MAX + 1];
    static FILE *devnull;
    char *argv[ARGS_MAX + 2];
    char err[ERR_LEN];
    struct coord_config cfg;
    long live = raft_alloc_live();
    size_t len;
    int rv;

    fuzz_input(data, size);
    if (size < 1) {
        return 0;
    }
    len = size - 1 < TEXT_MAX ? size - 1 : TEXT_MAX;
    memcpy(text, data + 1, len);
    text[len] = '\0';
    coord_config_default(&cfg);
    memset(err, 0, sizeof err);
    if (data[0] & MODE_ARGS) {
        int argc = split_args(text, len, argv);
        int i;

        for (i = 1; i < argc; i++) {
            if (strncmp(argv[i], "--config", 8) == 0) {
                return 0;
            }
        }
        if (devnull == NULL) {
            devnull = fopen("/dev/null", "w");
            FUZZ_CHECK(devnull != NULL);
        }
        argv[argc] = NULL;
        rv = coord_config_parse_args(&cfg, argc, argv, err, sizeof err, devnull);
        if (rv == 1) {
            return 0; /* --help */
        }
        check_error(rv, err, false);
    } else {
        rv = coord_config_parse_text(&cfg, text, err, sizeof err);
        check_error(rv, err, true);
    }
    if (rv == 0) {
        check_ranges(&cfg);
        memset(err, 0, sizeof err);
        rv = coord_config_check(&cfg, err, sizeof err);
        check_error(rv, err, !(data[0] & MODE_ARGS));
    }
    FUZZ_CHECK_NO_LEAK(live);
    return 0;
}
