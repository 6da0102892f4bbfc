/* SPDX-License-Identifier: MIT */
/* log: the core's in-memory copy of the Raft log, from just after the
 * compaction point to the last entry. Not durable: the shell persists what
 * the core hands out. Entry data is owned by the log; data of removed
 * entries goes to a trash list that is emptied at the start of the next
 * raft_step(), so views handed out in an update stay valid until then. */
#ifndef RAFT_LOG_H
#define RAFT_LOG_H

#include <stdbool.h>

#include "raft/raft.h"

struct raft_log {
    struct raft_entry *entries; /* entries[start .. start + n) */
    size_t cap;                 /* allocated slots */
    size_t start;               /* slot of index offset + 1 */
    size_t n;                   /* entries held */
    raft_index offset;          /* index just before the first entry held */
    raft_term offset_term;      /* term at offset (0 when offset is 0) */
    void **trash;               /* data buffers to free at the next step */
    size_t n_trash;
    size_t cap_trash;
};

/* Set up an empty log whose base is (offset, offset_term). */
void raft_log_init(struct raft_log *l, raft_index offset, raft_term offset_term);

/* Free everything, trash included. A zeroed log is fine. */
void raft_log_close(struct raft_log *l);

/* Free the trash. Called at the start of each step. */
void raft_log_empty_trash(struct raft_log *l);

raft_index raft_log_last_index(const struct raft_log *l);
raft_term raft_log_last_term(const struct raft_log *l);

/* True and *term set when the term of index is known (offset..last). */
bool raft_log_term(const struct raft_log *l, raft_index index, raft_term *term);

/* Entry at index in offset+1..last (view until the next step), else NULL. */
struct raft_entry *raft_log_get(const struct raft_log *l, raft_index index);

/* Append a copy of e (data copied) at last + 1; e->index must be last + 1.
 * Errors: RAFT_ENOMEM (log unchanged). */
int raft_log_append(struct raft_log *l, const struct raft_entry *e);

/* Remove entries with index >= from (from > offset). */
void raft_log_truncate(struct raft_log *l, raft_index from);

/* Drop entries with index <= upto (upto <= last), making upto the new
 * offset. */
void raft_log_compact(struct raft_log *l, raft_index upto);

/* Drop everything and restart the log at (offset, offset_term). */
void raft_log_reset(struct raft_log *l, raft_index offset, raft_term offset_term);

#endif /* RAFT_LOG_H */
