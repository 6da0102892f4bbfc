/* SPDX-License-Identifier: MIT */
/* store: one node's durable state on the real storage (coord/storage/log.h)
 * in a temporary directory, for `sim --storage real`. Every write goes
 * through faultfs (tests/crash/faultfs.h), so that a crash can undo what was
 * written since the last flush, as a power loss would. The node's sim_disk
 * stays the model of what the core was told is durable; a restart replaces
 * it with what coord_log_open() recovered, after checking the two agree.
 * The state machine's snapshot bytes (struct sim_snapdata) never reach the
 * disk: they stay in memory, matched to the recovered snapshot meta. */
#ifndef SIM_STORE_H
#define SIM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coord/storage/log.h"
#include "raft/raft.h"
#include "tests/crash/faultfs.h"
#include "tests/sim/check.h"
#include "tests/sim/disk.h"

struct sim_store {
    raft_id id;
    const char *root;           /* the run's directory (borrowed: it outlives the store) */
    char *dir;                  /* owned: <root>/n<id> */
    struct coord_log_opts opts; /* segment size, preallocation; io points at fs */
    struct coord_log *log;      /* NULL while the node is down */
    struct faultfs fs;          /* sees every pwrite and fdatasync of log */
    bool opened;                /* coord_log_open() ran once: the directory exists */
    raft_term term;             /* hard state last written to log */
    raft_id vote;               /* ditto */
    raft_index commit;          /* ditto */
    /* The model of what was written since the last open (the durable state
     * plus every job written, flushed or not): what recovery may find. */
    struct sim_disk written;
    raft_index floor; /* lowest index a written job not yet reported durable may have
                       * removed (truncation or install); UINT64_MAX when none */
    size_t n_written; /* jobs at the head of the node's FIFO written, not yet flushed */
    bool sync_queued; /* a SIM_EV_SYNC is queued for this incarnation */
    uint64_t n_opens; /* coord_log_open() calls */
    uint64_t n_power; /* crashes that undid unflushed writes */
    uint64_t n_kills; /* crashes that kept them */
    uint64_t n_dirty; /* crashes (either kind) with unflushed writes in some file */
};

/* Counters over a run, for the summary line. */
struct sim_store_stats {
    uint64_t n_opens;     /* coord_log_open() calls */
    uint64_t n_power;     /* crashes that were power losses */
    uint64_t n_kills;     /* crashes that kept the page cache */
    uint64_t n_dirty;     /* crashes with unflushed writes in some file */
    uint64_t n_torn;      /* torn tails coord_log_open() cut off */
    uint64_t n_reordered; /* files a power loss left with a later page kept and an earlier
                           * one lost (faultfs) */
    uint64_t n_batch_cut; /* partly persisted batches coord_log_open() cut off */
    uint64_t n_writes;    /* pwrites issued by the logs */
    uint64_t n_syncs;     /* fdatasyncs issued by the logs */
};

/* A store for node id in root/n<id> (root borrowed); nothing touches the disk before
 * sim_store_open(). segment_size and preallocate go to coord_log_opts;
 * seed drives the power losses. Returns owned (sim_store_free). */
struct sim_store *sim_store_new(const char *root, raft_id id, uint64_t segment_size,
                                bool preallocate, uint64_t seed);

/* Close the log (a clean shutdown: pending writes are flushed) and free st.
 * NULL is a no-op. */
void sim_store_free(struct sim_store *st);

/* Open the log (creating it the first time, with acked's snapshot meta when
 * it carries the initial configuration) and check what it recovered against
 * acked, the durable state the core was told of, and against what was
 * written since the last open:
 *   - the snapshot is acked's, or one a written job installed, and its data
 *     is known;
 *   - every entry of acked after the recovered snapshot is there, the same
 *     entry, unless a written job truncated it or installed over it; every
 *     recovered entry is one that was written at its index;
 *   - term and vote never go back, never invent a vote, and commit is never
 *     beyond what was written.
 * Then acked becomes the recovered state. Returns false after recording a
 * violation in c (acked is then left as it was). */
bool sim_store_open(struct sim_store *st, struct sim_disk *acked, struct sim_check *c);

/* Write job j to the log in the order of raft.h (install snapshot, truncate
 * and append, hard state), without the final flush. Returns false after
 * recording a violation (a storage error, or j breaks the disk's rules). */
bool sim_store_write(struct sim_store *st, const struct sim_job *j, struct sim_check *c);

/* coord_log_sync(): what was written becomes durable. */
bool sim_store_sync(struct sim_store *st, struct sim_check *c);

/* The shell took a snapshot: record its meta (durable on return) and
 * remember data for it. */
bool sim_store_snapshot(struct sim_store *st, const struct raft_snapshot_meta *meta,
                        const struct sim_snapdata *data, struct sim_check *c);

/* Delete whole segments below upto, never past the recorded snapshot. */
bool sim_store_compact(struct sim_store *st, raft_index upto, struct sim_check *c);

/* The node crashed: with power, writes not flushed are partly undone (torn
 * too); without, they stay in the page cache (and a later power loss may
 * still undo them). The log handle is released without its final flush. */
void sim_store_crash(struct sim_store *st, bool power);

/* Add st's counters to *stats. */
void sim_store_stats_add(const struct sim_store *st, struct sim_store_stats *stats);

/* Remove every "<root>/" from the NUL-terminated line, in place: paths in
 * coord's messages must not reach the output (same seed, same output). */
void sim_store_unroot(char *line, const char *root);

/* Create a fresh temporary directory for a run's stores, under $TMPDIR or
 * /tmp (returns owned: sim_util_free), or NULL with a message on stderr. */
char *sim_store_root_new(void);

/* Remove the run's directory and everything below it (two levels). */
void sim_store_root_free(char *root);

#endif /* SIM_STORE_H */
