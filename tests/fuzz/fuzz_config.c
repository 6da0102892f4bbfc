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
 *     a number that is not its default was written in the input in decimal
 *     (so no sign or other text turned into a number);
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

/* Does the decimal form of v appear in text[0..len)? */
static bool appears(const char *text, size_t len, uint64_t v)
{
    char dec[24];
    size_t n = (size_t)snprintf(dec, sizeof dec, "%llu", (unsigned long long)v);
    size_t i;

    for (i = 0; i + n <= len; i++) {
        if (memcmp(text + i, dec, n) == 0) {
            return true;
        }
    }
    return false;
}

/* Every number that differs from its default came from digits of the text. */
static void check_numbers(const struct coord_config *c, const char *text, size_t len)
{
    struct coord_config d;
    const uint64_t got[] = {c->id,
                            c->cluster_id,
                            c->election_timeout_ms,
                            c->heartbeat_ms,
                            c->snapshot_entries,
                            c->snapshot_trailing,
                            c->max_request_bytes,
                            c->max_peer_frame_bytes,
                            c->map_size_mb,
                            c->request_timeout_ms,
                            c->max_clients};
    uint64_t dflt[sizeof got / sizeof got[0]];
    size_t i;

    coord_config_default(&d);
    dflt[0] = d.id;
    dflt[1] = d.cluster_id;
    dflt[2] = d.election_timeout_ms;
    dflt[3] = d.heartbeat_ms;
    dflt[4] = d.snapshot_entries;
    dflt[5] = d.snapshot_trailing;
    dflt[6] = d.max_request_bytes;
    dflt[7] = d.max_peer_frame_bytes;
    dflt[8] = d.map_size_mb;
    dflt[9] = d.request_timeout_ms;
    dflt[10] = d.max_clients;
    for (i = 0; i < sizeof got / sizeof got[0]; i++) {
        FUZZ_CHECKF(got[i] == dflt[i] || appears(text, len, got[i]),
                    "setting %zu is %llu, a number the input does not hold", i,
                    (unsigned long long)got[i]);
    }
    for (i = 0; i < c->n_members; i++) {
        FUZZ_CHECKF(appears(text, len, c->members[i].id),
                    "member id %llu, a number the input does not hold",
                    (unsigned long long)c->members[i].id);
    }
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
        check_numbers(&cfg, text, len);
        memset(err, 0, sizeof err);
        rv = coord_config_check(&cfg, err, sizeof err);
        check_error(rv, err, !(data[0] & MODE_ARGS));
    }
    FUZZ_CHECK_NO_LEAK(live);
    return 0;
}
