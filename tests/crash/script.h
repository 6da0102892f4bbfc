/* SPDX-License-Identifier: MIT */
/* script: the scripted workload of the crash tests, shaped like one node's
 * persistence and apply path: batches of entries appended and synced, term
 * and vote changes, a new leader's truncation of an uncommitted suffix, a
 * commit index behind the durable one, committed entries applied to the
 * state machine, its syncs and snapshots, log compaction below them. Built
 * from a seed (deterministic, no I/O), run against a coord_log and a
 * coord_fsm, and replayed as a model that says what must be on disk after a
 * crash at any op. Not a Raft implementation: nothing is replicated. */
#ifndef TESTS_CRASH_SCRIPT_H
#define TESTS_CRASH_SCRIPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coord/fsm.h"
#include "coord/storage/log.h"
#include "raft/raft.h"

#define SCRIPT_TERMS_MAX 256 /* terms a script may reach */

enum script_op_type {
    SCRIPT_HARD_STATE = 1, /* coord_log_set_hard_state(term, vote, index = commit) */
    SCRIPT_TRUNCATE = 2,   /* coord_log_truncate(index): drop an uncommitted suffix */
    SCRIPT_APPEND = 3,     /* coord_log_append() of pool[first, first + n) */
    SCRIPT_SYNC = 4,       /* coord_log_sync(), then report durable up to index */
    SCRIPT_COMMIT = 5,     /* the commit index moves to index (memory only) */
    SCRIPT_APPLY = 6,      /* coord_fsm_apply() of the entries up to index */
    SCRIPT_FSM_SYNC = 7,   /* coord_fsm_sync() */
    SCRIPT_SNAPSHOT = 8,   /* coord_fsm_snapshot() + coord_log_set_snapshot() */
    SCRIPT_COMPACT = 9,    /* coord_log_compact(index) */
    SCRIPT_INSTALL = 10,   /* coord_log_install_snapshot(meta): a leader's snapshot drops
                            * the log; log-only scripts (the state machine's side of an
                            * install is not modelled) */
};

struct script_op {
    uint8_t type;                   /* enum script_op_type */
    raft_index index;               /* see enum script_op_type */
    size_t first;                   /* APPEND: position of the first entry in the pool */
    size_t n;                       /* APPEND: entries */
    raft_term term;                 /* HARD_STATE */
    raft_id vote;                   /* HARD_STATE */
    struct raft_snapshot_meta meta; /* INSTALL */
};

struct script {
    uint64_t seed;
    struct script_op *ops; /* owned */
    size_t n_ops;
    size_t cap_ops;
    struct raft_entry *pool; /* every entry ever appended, in order; data owned */
    size_t n_pool;
    size_t cap_pool;
};

#define SCRIPT_BATCH_MAX 6u /* commands a batch appends at most, as a node's would */

/* Build the script of seed with n_batches persist batches into *s (returns
 * owned: script_free()); each batch appends 1..batch_max commands (and
 * maybe a NOOP or a configuration). log_only leaves out the state
 * machine's ops (COMMIT stays) and puts in INSTALL ops.
 * Errors: RAFT_ENOMEM. */
int script_build(uint64_t seed, size_t n_batches, size_t batch_max, bool log_only,
                 struct script *s);

/* Release s and zero it. A zeroed script is a no-op. */
void script_free(struct script *s);

/* What must hold after the ops so far, as durability promises it. */
struct script_model {
    size_t *log;                     /* log[i]: pool position of the entry at index i, 1..last */
    size_t cap;                      /* elements of log */
    raft_index last;                 /* last index written */
    raft_index durable;              /* entries up to here are durable and not truncated since */
    raft_index commit;               /* commit index */
    raft_index applied;              /* state machine's applied index */
    raft_index fsm_synced;           /* its applied index known durable */
    raft_term term;                  /* hard state last written */
    raft_id vote;                    /* ditto */
    raft_index hs_commit_max;        /* largest commit written with a hard state */
    raft_term d_term;                /* hard state made durable by a sync */
    raft_id d_vote;                  /* ditto */
    raft_id votes[SCRIPT_TERMS_MAX]; /* votes[t]: the vote written in term t, 0 for none */
    struct raft_snapshot_meta snap;  /* latest snapshot recorded */
};

/* Initialise *m (returns owned: script_model_free()) and run it through
 * ops [0, n_ops). Errors: RAFT_ENOMEM. */
int script_model_init(const struct script *s, size_t n_ops, struct script_model *m);

/* Advance m by op (of s). */
void script_model_step(const struct script *s, const struct script_op *op, struct script_model *m);

/* The entry the model holds at index (1..m->last). A view of s. */
const struct raft_entry *script_model_entry(const struct script *s, const struct script_model *m,
                                            raft_index index);

void script_model_free(struct script_model *m);

/* What a run tells its observer, as it happens. Members may be NULL. */
struct script_report {
    void (*op)(void *arg, size_t op_no); /* op op_no begins; n_ops: the run is done */
    /* A sync returned: entries up to index and the hard state (term, vote)
     * are durable. */
    void (*durable)(void *arg, raft_index index, raft_term term, raft_id vote);
    void (*applied)(void *arg, raft_index index); /* the state machine applied up to index */
    void (*end)(void *arg); /* every op ran; before closing (it may not return) */
    void *arg;
};

/* Where a run keeps its files. */
struct script_env {
    const char *log_dir;              /* the log (coord_log_open) */
    const char *fsm_dir;              /* the state machine (coord_fsm_open) */
    const char *snap_path;            /* the state machine's snapshot file */
    const struct coord_log_opts *log; /* borrowed */
    const struct coord_fsm_opts *fsm; /* borrowed */
};

/* Run every op of s against a fresh log and state machine in env, then close
 * both. err receives a line naming the failing op. Errors: any of the log's
 * or the state machine's, RAFT_EINVAL (they disagreed with the script). */
int script_run(const struct script *s, const struct script_env *env,
               const struct script_report *rep, char *err, size_t err_len);

/* Apply pool entries log[from..to] of m to fsm, in chunks. Errors: those of
 * coord_fsm_apply(). */
int script_apply(const struct script *s, const struct script_model *m, struct coord_fsm *fsm,
                 raft_index from, raft_index to);

#endif /* TESTS_CRASH_SCRIPT_H */
