/* SPDX-License-Identifier: MIT */
/* log: the durable Raft log of one node, as segment files in a directory,
 * plus the hard state (term, vote, commit) and the metadata of the latest
 * snapshot. Synchronous and single-threaded: it runs on the log-writer thread
 * (coord/storage/writer.h). It does not keep entries in memory (the core
 * does) and knows nothing of the state machine's snapshot data.
 * The on-disk format is described at the top of log.c. */
#ifndef COORD_STORAGE_LOG_H
#define COORD_STORAGE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "raft/raft.h"

/* Fault-injection hooks for tests. Each has the contract of the system call
 * it replaces (-1 and errno on failure); a NULL member means the real call.
 * fdatasync is used for every flush, of files and of the directory. */
struct coord_log_io {
    int (*fdatasync)(void *arg, int fd);
    ssize_t (*pwrite)(void *arg, int fd, const void *buf, size_t len, off_t off);
    void *arg; /* passed to the hooks */
};

struct coord_log_opts {
    uint64_t segment_size;   /* bytes; a segment rolls before a record would cross it;
                              * 4 KiB .. 4 GiB - 1; default 64 MiB */
    uint32_t max_entry_size; /* bytes of one entry's data, checked on append and on read;
                              * at most segment_size - 61; default 8 MiB */
    bool preallocate;        /* reserve segment_size bytes (posix_fallocate) for each new
                              * segment so appends do not grow the file; default true */
    struct coord_log_io io;  /* test hooks; all NULL by default */
};

/* What coord_log_open() found: the input of RAFT_EV_START. */
struct coord_log_recovered {
    raft_term term;                     /* durable current term */
    raft_id vote;                       /* vote in term, 0 for none */
    raft_index commit;                  /* durable lower bound on the commit index, at most
                                         * the last index (or the snapshot's) */
    struct raft_snapshot_meta snapshot; /* latest recorded snapshot; index 0 and an empty
                                         * configuration when none was ever recorded */
    struct raft_entry *entries;         /* snapshot.index + 1 onwards, consecutive */
    size_t n_entries;
    void **bufs; /* private: blocks holding the entries' data */
    size_t n_bufs;
};

struct coord_log_stats {
    uint64_t n_syncs;       /* fdatasync calls issued, files and directory */
    uint64_t n_segments;    /* segment files in use */
    raft_index first_index; /* first entry on disk, 0 when the log is empty */
    raft_index last_index;  /* last entry on disk, or the snapshot's index when empty */
};

struct coord_log;

/* Fill *opts with the defaults above. */
void coord_log_opts_default(struct coord_log_opts *opts);

/* Open the log in directory dir, creating dir (one level, with an fsync of
 * its parent) and an empty log if needed. Every record's CRC is checked. A
 * torn tail (the end of the last segment partly written, followed by nothing
 * valid) is cut off and logged at WARN; so is the rest of the last segment
 * from a bad record on when the records after it show that it lies in the
 * batch written since the last flush, which a power loss persisted only in
 * part (the Recovery notes in log.c). Any other damage fails. What *rec
 * holds is durable on return: open flushes what it read, which a crashed
 * process may have left unflushed in the page cache.
 * opts may be NULL for the defaults. *out returns owned (coord_log_close);
 * *rec returns owned (coord_log_recovered_free), also on success only.
 * err (may be NULL) receives a one-line message on failure, naming the file
 * and byte offset for RAFT_ECORRUPT; the same line is logged once.
 * Errors: RAFT_EINVAL (bad opts), RAFT_ECORRUPT (bad CRC before the tail, a
 * missing segment or index gap, a header or file that does not parse, a
 * segment format version this build does not read),
 * RAFT_ENOSPC, RAFT_EIO, RAFT_ENOMEM. Any thread. */
int coord_log_open(const char *dir, const struct coord_log_opts *opts, struct coord_log **out,
                   struct coord_log_recovered *rec, char *err, size_t err_len);

/* Release what coord_log_open() returned in *rec and zero it. A zeroed
 * struct is a no-op. */
void coord_log_recovered_free(struct coord_log_recovered *rec);

/* Append n entries (borrowed: the bytes are written before returning, not
 * durable until coord_log_sync()). entries[0].index must be the next index
 * (coord_log_stats().last_index + 1) and indexes consecutive, terms not
 * below the last entry's. A failed append leaves the log as it was, on disk
 * and in memory, apart from the sticky RAFT_EIO case.
 * Errors: RAFT_EINVAL (index gap, term going back, n too large),
 * RAFT_ETOOBIG (an entry above max_entry_size), RAFT_ENOSPC, RAFT_ENOMEM,
 * RAFT_EIO (sticky: the log is failed). */
int coord_log_append(struct coord_log *log, const struct raft_entry *entries, size_t n);

/* Delete entries with index >= from (from > the snapshot's index), across
 * segments if needed. Durable on return: the next appends never share a
 * crash with the old suffix. from == last index + 1 is a no-op.
 * Errors: RAFT_EINVAL (from out of range), RAFT_EIO (sticky). */
int coord_log_truncate(struct coord_log *log, raft_index from);

/* Record the hard state. Term must not go back and the vote must not change
 * within a term. A change of term or vote is made durable by the next
 * coord_log_sync(); a change of commit alone only by one that also changes
 * term or vote, or by coord_log_close() (commit is a lower bound).
 * Errors: RAFT_EINVAL, RAFT_EIO (sticky). */
int coord_log_set_hard_state(struct coord_log *log, raft_term term, raft_id vote,
                             raft_index commit);

/* Make everything written since the last sync durable (fdatasync). A failed
 * flush is never retried: the log is failed and this and every later call
 * except close returns RAFT_EIO. Errors: RAFT_EIO. */
int coord_log_sync(struct coord_log *log);

/* Delete whole segments whose entries are all below below_index; the last
 * segment is always kept. below_index may not pass the recorded snapshot's
 * index + 1, so recovery never finds a gap. Durable on return.
 * Errors: RAFT_EINVAL, RAFT_EIO (sticky). */
int coord_log_compact(struct coord_log *log, raft_index below_index);

/* Record meta (borrowed) as the latest snapshot, keeping the log: for a
 * snapshot the state machine took itself. meta->index must be within the
 * log and not below the current snapshot. Syncs the log first. Durable on
 * return. Errors: RAFT_EINVAL, RAFT_ENOSPC, RAFT_EIO (sticky). */
int coord_log_set_snapshot(struct coord_log *log, const struct raft_snapshot_meta *meta);

/* Record meta (borrowed) as the latest snapshot and drop the whole log: for
 * a snapshot received from the leader. The next append must carry
 * meta->index + 1. Atomic and durable on return: after a crash the log is
 * either the old one or empty with the new meta.
 * Errors: RAFT_EINVAL (meta below the current snapshot), RAFT_ENOSPC,
 * RAFT_EIO (sticky). */
int coord_log_install_snapshot(struct coord_log *log, const struct raft_snapshot_meta *meta);

/* Fill *stats. Cannot fail. */
void coord_log_stats(const struct coord_log *log, struct coord_log_stats *stats);

/* Flush what is pending (best effort: a failure is logged) and release log.
 * NULL is a no-op. */
void coord_log_close(struct coord_log *log);

#endif /* COORD_STORAGE_LOG_H */
