/* SPDX-License-Identifier: MIT */
/* fsm: the replicated state machine. Applies committed Raft entries to the
 * LMDB store (coord/storage/kvstore.h) and answers reads of it. Pure in the
 * STYLE.md sense: the same entries in the same order give the same contents,
 * byte for byte; time is only what commands carry. It does not decide what to
 * propose, expire sessions or fan out watch events: it returns the events. */
#ifndef COORD_FSM_H
#define COORD_FSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coord/cmd.h"
#include "raft/raft.h"

#define COORD_FSM_EVENT_WINDOW_DEFAULT 10000u               /* revisions of events kept */
#define COORD_FSM_APPLY_MAX            4096u                /* entries per coord_fsm_apply() call */
#define COORD_FSM_READ_BYTES_MAX       (8u * 1024u * 1024u) /* key+value bytes of one range answer */

/* Event types. Stored in the events database: never renumber. */
enum coord_event_type {
    COORD_EVENT_PUT = 1,    /* a key was created or its value replaced */
    COORD_EVENT_DELETE = 2, /* a key was deleted */
};

/* One change, for watches. Events are ordered by (revision, sub). */
struct coord_event {
    uint64_t revision;          /* the revision of the change */
    uint32_t sub;               /* 0, 1, ... within the revision (one txn, many changes) */
    uint8_t type;               /* enum coord_event_type */
    struct coord_kv kv;         /* PUT: the key as written; DELETE: key only, with
                                 * mod_revision = revision and the rest 0 */
    uint64_t prev_mod_revision; /* mod_revision before the change, 0 if the key was new */
};

struct coord_fsm_opts {
    uint64_t map_size; /* bytes the LMDB file may grow to; 0 = 1 GiB */
    /* Events of the last event_window revisions are kept; older ones are
     * compacted inside the apply transaction. It shapes the replicated state,
     * so every node must use the same value. 0 = the default. */
    uint64_t event_window;
    /* The cluster's id, stored on first open; a store holding another id is
     * refused. 0 = take whatever the store holds. */
    uint64_t cluster_id;
};

/* Everything one coord_fsm_apply() call produced. Returns owned: release the
 * whole of it at once with coord_fsm_output_release(). */
struct coord_fsm_output {
    struct coord_cmd_result *results; /* one per entry given, in order */
    size_t n_results;
    struct coord_event *events; /* every change made, in (revision, sub) order */
    size_t n_events;
    struct coord_fsm_arena *arena; /* private: holds all of the above */
};

/* The answer to a read. Returns owned: coord_fsm_read_release(). */
struct coord_fsm_read {
    uint64_t revision;    /* the store's revision the read saw */
    struct coord_kv *kvs; /* in key order */
    size_t n_kvs;
    bool more; /* the limit cut the answer short */
    struct coord_fsm_arena *arena;
};

/* A page of the event history. Returns owned: coord_fsm_events_release(). */
struct coord_fsm_events {
    uint64_t revision;          /* the store's revision the read saw */
    struct coord_event *events; /* in (revision, sub) order */
    size_t n_events;
    bool more; /* more events follow the last one returned */
    struct coord_fsm_arena *arena;
};

struct coord_fsm; /* opaque */

/* Defaults: 1 GiB map, COORD_FSM_EVENT_WINDOW_DEFAULT, cluster id 0. */
void coord_fsm_opts_default(struct coord_fsm_opts *opts);

/* Open the state machine stored in dir (borrowed; created when missing) and
 * load its applied index and term, membership, revision and cluster id.
 * opts may be NULL (defaults). *out returns owned: coord_fsm_close().
 * Errors: RAFT_ECONFIG (another cluster's store), RAFT_ECORRUPT (unknown
 * format or unreadable meta), and those of coord_kvstore_open().
 * Thread: the apply thread (see below). */
int coord_fsm_open(const char *dir, const struct coord_fsm_opts *opts, struct coord_fsm **out);

/* Close fsm without syncing (a crash may lose the last applies; the log
 * replays them). NULL is a no-op. */
void coord_fsm_close(struct coord_fsm *fsm);

/* Apply committed entries (borrowed), in order, in ONE LMDB write
 * transaction that also stores the new applied index and term. Entries at or
 * below the applied index are skipped (results[i].skipped); the others must
 * follow it without a gap. NORMAL entries hold a coord_cmd_encode()d command:
 * a malformed one is applied as a no-op with results[i].status set, never
 * skipped. NOOP entries only advance the applied index. CONF entries
 * (raft_conf_encode()) become the stored membership.
 * On success *out returns owned (coord_fsm_output_release()). On error
 * nothing was applied, the applied index did not move, and *out is empty.
 * Errors: RAFT_EINVAL (a gap, n > COORD_FSM_APPLY_MAX), RAFT_ENOSPC (the map
 * is full: the node must stop taking writes; reads keep working),
 * RAFT_ENOMEM, RAFT_ECORRUPT (a stored record is malformed), RAFT_EIO.
 * Thread: the apply thread, which owns every write of fsm. */
int coord_fsm_apply(struct coord_fsm *fsm, const struct raft_entry *entries, size_t n,
                    struct coord_fsm_output *out);

/* coord_fsm_apply() in steps, so that what the entries produce can be used
 * before the transaction commits (its fsync is most of its cost), and so that
 * many batches can share one commit. begin does everything but the commit:
 * on success *out returns owned and holds the results the entries have once
 * committed; nothing is visible to readers yet and the applied index has not
 * moved. begin again before commit continues the same transaction after the
 * pending batches (each batch in a nested one). commit makes every pending
 * batch durable and visible and moves the applied index. On an error of
 * begin (those of coord_fsm_apply()) its batch is not applied and the
 * pending ones stay pending; on an error of commit nothing since the last
 * successful commit was applied. Outputs returned stay the caller's.
 * While batches are pending, only the readers, coord_fsm_sync(),
 * coord_fsm_snapshot() (from another thread: it copies the last commit) and
 * coord_fsm_close() (which drops them) may be called besides these two.
 * Thread: the apply thread. */
int coord_fsm_apply_begin(struct coord_fsm *fsm, const struct raft_entry *entries, size_t n,
                          struct coord_fsm_output *out);
int coord_fsm_apply_commit(struct coord_fsm *fsm);

/* Release what coord_fsm_apply() returned in out, and zero it. A zeroed
 * output is a no-op. */
void coord_fsm_output_release(struct coord_fsm_output *out);

/* The last applied index and its term, and the revision after it (0 before
 * the first write). Values as of the last apply; apply thread. */
raft_index coord_fsm_applied_index(const struct coord_fsm *fsm);
raft_term coord_fsm_applied_term(const struct coord_fsm *fsm);
uint64_t coord_fsm_revision(const struct coord_fsm *fsm);
/* Events with revision <= this were compacted (0: none yet). Apply thread. */
uint64_t coord_fsm_compact_revision(const struct coord_fsm *fsm);
uint64_t coord_fsm_cluster_id(const struct coord_fsm *fsm);

/* The state applied so far as Raft snapshot metadata: applied index and
 * term, and the membership of the last CONF entry applied (empty if none).
 * Apply thread. */
void coord_fsm_snapshot_meta(const struct coord_fsm *fsm, struct raft_snapshot_meta *meta);

/* Make every apply so far durable (coord_kvstore_sync()). Run it before the
 * log below the applied index is compacted. Errors: RAFT_EIO (fatal).
 * Any thread. */
int coord_fsm_sync(struct coord_fsm *fsm);

/* Write a snapshot of the applied state to the file path (borrowed), after
 * syncing, and fill *meta with what it covers (read back from the copy, so
 * it is exact even while applies go on). Errors: those of
 * coord_kvstore_snapshot(), RAFT_ECORRUPT. Any thread. */
int coord_fsm_snapshot(struct coord_fsm *fsm, const char *path, struct raft_snapshot_meta *meta);

/* Replace the whole state with the snapshot file path (borrowed): close the
 * store, install the copy atomically, reopen and reload. On error the old
 * state is in place (reopened) unless the error came from reopening, in
 * which case fsm is unusable: close it, and stop the node. The snapshot is
 * checked (format, meta, cluster id) before anything is replaced.
 * Errors: RAFT_ECONFIG (another cluster's snapshot), RAFT_ECORRUPT, and those
 * of coord_kvstore_install() and coord_fsm_open(). Apply thread, with no
 * read running on any other thread. */
int coord_fsm_install(struct coord_fsm *fsm, const char *path);

/* Read key (borrowed) into *out (returns owned: coord_fsm_read_release()),
 * through one short read transaction. Errors: RAFT_ENOTFOUND (no such key;
 * only out->revision is set, nothing to release), RAFT_EINVAL (empty or too long key),
 * RAFT_ENOMEM, RAFT_ECORRUPT, RAFT_EIO. Any thread. */
int coord_fsm_get(struct coord_fsm *fsm, const struct raft_buf *key, struct coord_fsm_read *out);

/* Read the keys in [key, range_end) (rules of struct coord_cmd_delete; for a
 * prefix p, range_end = p + 1), at most limit of them (0 or more than
 * COORD_CMD_RANGE_LIMIT_MAX: that), and stop early, with more set, past
 * COORD_FSM_READ_BYTES_MAX bytes. *out returns owned. Errors: RAFT_EINVAL,
 * RAFT_ENOMEM, RAFT_ECORRUPT, RAFT_EIO. Any thread. */
int coord_fsm_range(struct coord_fsm *fsm, const struct raft_buf *key,
                    const struct raft_buf *range_end, uint64_t limit, struct coord_fsm_read *out);

/* Release a read answer and zero it. A zeroed one is a no-op. */
void coord_fsm_read_release(struct coord_fsm_read *out);

/* Read up to max (>= 1) events at or after (from_revision, from_sub), in
 * order, into *out (returns owned: coord_fsm_events_release()). To go on,
 * call again from the last event's (revision, sub + 1).
 * Errors: RAFT_ECOMPACTED (from_revision is at or below the compacted
 * revision: the history asked for is gone), RAFT_EINVAL (max 0),
 * RAFT_ENOMEM, RAFT_ECORRUPT, RAFT_EIO. Any thread. */
int coord_fsm_events_read(struct coord_fsm *fsm, uint64_t from_revision, uint32_t from_sub,
                          size_t max, struct coord_fsm_events *out);

/* Release an events page and zero it. A zeroed one is a no-op. */
void coord_fsm_events_release(struct coord_fsm_events *out);

#endif /* COORD_FSM_H */
