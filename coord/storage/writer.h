/* SPDX-License-Identifier: MIT */
/* writer: the log-writer thread. The loop thread submits persist jobs (the
 * persistence part of a raft_update); the thread writes every job queued
 * while its previous flush ran, flushes once for all of them (group commit)
 * and reports each job, in submission order, back on the loop thread through
 * uv_async_send. It owns the coord_log while it runs. It does not send
 * messages or feed RAFT_EV_PERSISTED: the completion callback does. */
#ifndef COORD_STORAGE_WRITER_H
#define COORD_STORAGE_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "coord/storage/log.h"
#include "raft/raft.h"

struct coord_writer_opts {
    size_t max_jobs;  /* jobs submitted and not yet reported; default 4096 */
    size_t max_bytes; /* entry data bytes of those jobs; default 64 MiB */
};

/* The persistence part of one raft_update, carried out in this order:
 * install the snapshot (dropping the log), delete entries from
 * entries[0].index on and append entries, record a snapshot the state
 * machine took, compact, store the hard state. All pointers are borrowed:
 * coord_writer_submit() copies them. */
struct coord_persist {
    const struct raft_snapshot_meta *snapshot; /* received from the leader, to install
                                                * (coord_log_install_snapshot), or NULL */
    const struct raft_entry *entries;          /* consecutive; may be NULL when n is 0 */
    size_t n_entries;
    const struct raft_snapshot_meta *taken; /* taken locally, to record keeping the log
                                             * (coord_log_set_snapshot), or NULL */
    raft_index compact_below;               /* raft_update.compact_index: delete whole
                                             * segments below it (coord_log_compact); 0: no */
    bool has_hard_state;                    /* store term, vote and commit below */
    raft_term term;                         /* durable before the job completes when it changed */
    raft_id vote;                           /* ditto */
    raft_index commit;                      /* written, flushed lazily (a lower bound) */
};

/* A job finished: status is 0 when everything it asked for is durable, else
 * the first error of the writer (RAFT_EIO after a failed flush, RAFT_ENOSPC,
 * ...). Errors are sticky: once a job failed, every later job reports an
 * error too, so nothing after a lost write is ever reported durable. job_arg
 * is the one given to coord_writer_submit(). Called on the loop thread, in
 * submission order; it may call coord_writer_submit() or _close(). */
typedef void (*coord_writer_done_cb)(void *arg, void *job_arg, int status);

/* The writer is closed and freed. */
typedef void (*coord_writer_close_cb)(void *arg);

struct coord_writer_stats {
    uint64_t n_jobs;    /* jobs written (or failed) by the thread */
    uint64_t n_batches; /* groups of jobs taken at once */
    uint64_t n_syncs;   /* coord_log_sync() calls: at most one per batch */
    uint64_t n_flushes; /* fdatasync calls issued by the log, all reasons */
    uint64_t max_batch; /* jobs in the largest batch */
};

struct coord_writer;

/* Fill *opts with the defaults above. */
void coord_writer_opts_default(struct coord_writer_opts *opts);

/* Start the writer thread on log. loop and log are borrowed until the close
 * callback: from now on only the writer thread touches log, and the caller
 * closes it after the writer. opts may be NULL for the defaults. *out
 * returns owned: release with coord_writer_close(). done is called for every
 * submitted job. Loop thread.
 * Errors: RAFT_EINVAL (zero limits), RAFT_ENOMEM, RAFT_EIO (thread or
 * handle creation failed). */
int coord_writer_new(uv_loop_t *loop, struct coord_log *log, const struct coord_writer_opts *opts,
                     coord_writer_done_cb done, void *arg, struct coord_writer **out);

/* Queue p (copied) for writing; job_arg is passed back to done. On success
 * done is called exactly once for this job, later, never from inside this
 * call. Loop thread.
 * Errors: RAFT_EBUSY (max_jobs or max_bytes reached: retry after a
 * completion), RAFT_ETOOBIG (the job alone exceeds max_bytes),
 * RAFT_ESHUTDOWN (closing), RAFT_ENOMEM. */
int coord_writer_submit(struct coord_writer *w, const struct coord_persist *p, void *job_arg);

/* Fill *stats. Loop thread. */
void coord_writer_stats(struct coord_writer *w, struct coord_writer_stats *stats);

/* Write and report every job already submitted, stop and join the thread
 * (this blocks the loop until the last flush returns), then close the async
 * handle; cb(arg) runs once w is freed, from the loop. The log may be closed
 * from cb on. cb may be NULL. Loop thread; once only. */
void coord_writer_close(struct coord_writer *w, coord_writer_close_cb cb, void *arg);

#endif /* COORD_STORAGE_WRITER_H */
