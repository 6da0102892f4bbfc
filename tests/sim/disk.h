/* SPDX-License-Identifier: MIT */
/* disk: one node's simulated durable storage and the persist jobs that
 * write it. Durable state is the hard state (term, vote, commit), the latest
 * snapshot (meta + state-machine data) and the log entries kept with it
 * (possibly some below the snapshot, for slow followers). A job is the
 * persistence of one raft_update; jobs complete in order, and a crash loses
 * every job not yet completed (unsynced writes). Writing checks what a disk
 * can see of the core's contract (no gaps, no truncation of committed
 * entries, no term going back) and reports violations to check. */
#ifndef SIM_DISK_H
#define SIM_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"
#include "tests/sim/check.h"

#define SIM_SNAP_MAGIC 0x736e617064617461ULL /* "snapdata" */

/* The state machine's snapshot bytes (sim-internal format, never on a real
 * disk): enough to rebuild the state machine and to check log matching. */
struct sim_snapdata {
    uint64_t magic;    /* SIM_SNAP_MAGIC */
    raft_index index;  /* last applied index */
    raft_term term;    /* its term */
    uint64_t hash;     /* rolling hash over applied NORMAL entries */
    uint64_t chain;    /* log chain hash at index (check.h) */
    uint64_t n_normal; /* NORMAL entries applied */
};

struct sim_disk {
    raft_term term;
    raft_id vote;
    raft_index commit;
    struct raft_snapshot_meta snap; /* index 0 before any snapshot */
    struct sim_snapdata data;       /* the state machine at snap.index */
    struct raft_entry *entries;     /* contiguous indexes; data owned */
    size_t n;
    size_t cap;
};

/* The persistence of one update, in the order of struct raft_update. */
struct sim_job {
    uint64_t seq;                    /* per node, increasing */
    struct raft_snapshot_meta *snap; /* owned; install it + data first, or NULL */
    struct sim_snapdata data;
    struct raft_entry *entries; /* owned copies */
    size_t n_entries;
    uint64_t *chains; /* owned: chain hash of each entry (check.h), or NULL */
    bool hs_changed;
    raft_term term;
    raft_id vote;
    raft_index commit;            /* the core's commit at that update */
    struct raft_msg **msgs_after; /* owned copies (net.h), sent on completion */
    size_t n_msgs_after;
};

/* A fresh disk: no hard state, snapshot index 0 with configuration conf
 * (the initial members, or empty for a node to be added later). */
void sim_disk_init(struct sim_disk *d, const struct raft_conf *conf);

/* Free the entries; a zeroed disk is a no-op. */
void sim_disk_close(struct sim_disk *d);

/* Assert the disk's invariants: entries contiguous, none missing between
 * the snapshot and the first entry, commit within the log. Run under
 * RAFT_DASSERT after every change. */
void sim_disk_check(const struct sim_disk *d);

/* Last durable index (the snapshot's when no entry follows it). */
raft_index sim_disk_last_index(const struct sim_disk *d);

/* Term of the last durable index. */
raft_term sim_disk_last_term(const struct sim_disk *d);

/* True when the durable state holds entry (index, term), or a snapshot at
 * or beyond index (which covers committed entries only). */
bool sim_disk_holds(const struct sim_disk *d, raft_index index, raft_term term);

/* The entry at index among the kept entries (view until the next change),
 * or NULL. */
const struct raft_entry *sim_disk_entry(const struct sim_disk *d, raft_index index);

/* Replace d with a deep copy of src. */
void sim_disk_copy(struct sim_disk *d, const struct sim_disk *src);

/* Replace d with the state a node recovered from real storage: the hard
 * state, the snapshot (meta and data) and the n entries after it (copied). */
void sim_disk_load(struct sim_disk *d, raft_term term, raft_id vote, raft_index commit,
                   const struct raft_snapshot_meta *snap, const struct sim_snapdata *data,
                   const struct raft_entry *entries, size_t n);

/* Carry out job j on d (its msgs are not touched). id names the node in
 * violation reports. Returns false after recording a violation in c. */
bool sim_disk_write(struct sim_disk *d, const struct sim_job *j, struct sim_check *c, raft_id id);

/* The shell took a snapshot: meta and data become the durable snapshot;
 * entries stay until compacted. */
void sim_disk_snapshot(struct sim_disk *d, const struct raft_snapshot_meta *meta,
                       const struct sim_snapdata *data);

/* Delete entries below upto, but never one above the durable snapshot. */
void sim_disk_compact(struct sim_disk *d, raft_index upto);

/* Entries after the snapshot (view until the next write): for START. */
const struct raft_entry *sim_disk_after_snapshot(const struct sim_disk *d, size_t *n);

/* Fold the whole durable state into h. */
uint64_t sim_disk_hash(const struct sim_disk *d, uint64_t h);

/* Deep copies of entries (returns owned; free with sim_disk_entries_free). */
struct raft_entry *sim_disk_entries_copy(const struct raft_entry *e, size_t n);
void sim_disk_entries_free(struct raft_entry *e, size_t n);

/* Free what a job owns except its messages; zeroes it. */
void sim_disk_job_clear(struct sim_job *j);

#endif /* SIM_DISK_H */
