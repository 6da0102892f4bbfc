/* SPDX-License-Identifier: MIT */
/* config: coordd's settings, from a config file and command-line flags.
 *
 * The file holds `key = value` lines; `#` starts a comment. Every key is
 * also a flag: `--key value` or `--key=value`, with '-' or '_' alike, and
 * flags override the file. One table (config.c) defines each setting's
 * type, default, range and help text, so --help always tells the truth. */
#ifndef COORD_CONFIG_H
#define COORD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "raft/raft.h"

#define COORD_CONFIG_STR_MAX 256 /* bytes of a string setting, NUL included */

/* One initial member: Raft id, peer address and (optional) client address. */
struct coord_config_member {
    uint64_t id;
    char peer_addr[RAFT_ADDR_MAX];
    char client_addr[RAFT_ADDR_MAX]; /* "" when not given */
};

struct coord_config {
    uint64_t id;                                          /* this node's Raft id, >= 1 */
    char data_dir[COORD_CONFIG_STR_MAX];                  /* created if missing */
    char peer_addr[RAFT_ADDR_MAX];                        /* host:port for Raft peers */
    char client_addr[RAFT_ADDR_MAX];                      /* host:port for clients */
    struct coord_config_member members[RAFT_MAX_SERVERS]; /* initial voters */
    uint32_t n_members;                                   /* 0: join an existing cluster */
    uint64_t cluster_id;                                  /* 0: derived from the members */
    uint32_t election_timeout_ms;
    uint32_t heartbeat_ms;
    uint64_t snapshot_entries;  /* applied entries between snapshots */
    uint64_t snapshot_trailing; /* log entries kept below a snapshot */
    uint64_t max_request_bytes; /* client frames beyond it are refused */
    uint64_t max_peer_frame_bytes;
    uint64_t map_size_mb;        /* LMDB map size */
    uint32_t request_timeout_ms; /* client requests give up after it */
    uint32_t max_clients;
    int log_level; /* enum coord_log_level */
};

/* Defaults for every setting (id, data_dir and addresses empty). */
void coord_config_default(struct coord_config *cfg);

/* Parse argv (flags, and --config FILE read first wherever it appears) into
 * cfg, on top of its current contents. On error writes a one-line message
 * naming the setting into err. Returns 0, 1 when --help was asked (help text
 * written to out), or RAFT_ECONFIG. */
int coord_config_parse_args(struct coord_config *cfg, int argc, char **argv, char *err,
                            size_t err_len, FILE *out);

/* Parse the text of a config file (NUL-terminated). Errors: RAFT_ECONFIG with
 * "line N: ..." in err. */
int coord_config_parse_text(struct coord_config *cfg, const char *text, char *err, size_t err_len);

/* Check cross-setting rules and required settings after parsing (id and
 * data_dir set, addresses well-formed, heartbeat < election timeout, this
 * node among the members when members are given). Errors: RAFT_ECONFIG. */
int coord_config_check(const struct coord_config *cfg, char *err, size_t err_len);

/* Write the --help text. */
void coord_config_help(FILE *out, const char *prog);

#endif /* COORD_CONFIG_H */
