/* SPDX-License-Identifier: MIT */
/* check: the run-wide safety invariants, fed by the nodes' shells as they
 * carry out updates. It remembers across crashes and incarnations:
 *   - term -> the leader elected in it (election safety);
 *   - (index, term) -> chain hash of the log prefix up to it (log matching);
 *   - index -> the term committed there, once known (leader completeness);
 *   - index -> the entry first applied there (state-machine safety);
 *   - every write acknowledged to a client.
 * The first violation is recorded (what + detail) and later ones ignored;
 * the world stops the run when failed is set. */
#ifndef SIM_CHECK_H
#define SIM_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

struct sim_check_chain {
    raft_term term;
    uint64_t chain; /* hash of the log prefix ending with (index, term) */
};

struct sim_check_slot {
    raft_term commit_term;  /* term committed at this index, 0 while unknown */
    raft_term commit_by;    /* lowest current term of a node that saw it committed: the
                             * commit happened in this term or before */
    raft_term applied_term; /* term of the entry applied here, 0 while none */
    uint64_t applied_hash;  /* hash of (term, type, data) of that entry */
    raft_id applied_by;     /* first node that applied it */
    uint32_t n_chains;
    uint32_t cap_chains;
    struct sim_check_chain *chains; /* one per term seen at this index */
};

struct sim_check_ack {
    raft_index index;
    raft_term term;
    uint64_t hash; /* entry hash, as in sim_check_slot.applied_hash */
};

struct sim_check {
    raft_time now;    /* virtual time, kept current by the world */
    bool failed;      /* a violation was recorded */
    char what[96];    /* e.g. "election safety" */
    char detail[512]; /* ids, terms, indexes */
    raft_time at;     /* when it happened */
    raft_id *leaders; /* leaders[term], 0 when none known */
    size_t cap_leaders;
    struct sim_check_slot *slots; /* slots[index], index >= 1 */
    size_t cap_slots;
    raft_index max_committed; /* highest index known committed */
    raft_index max_acked;     /* highest index of an acknowledged write */
    struct sim_check_ack *acks;
    size_t n_acks;
    size_t cap_acks;
};

/* Set up an empty checker (storage owned by the caller). */
void sim_check_init(struct sim_check *c);

/* Free what the checker allocated; a zeroed checker is a no-op. */
void sim_check_close(struct sim_check *c);

/* Record a violation (only the first one sticks). Returns false so callers
 * can write `return sim_check_fail(...)`. */
bool sim_check_fail(struct sim_check *c, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Hash of one entry's (term, type, data): what "the same entry" means. */
uint64_t sim_check_entry_hash(const struct raft_entry *e);

/* Chain hash: prev folded with the entry's (term, type, data). */
uint64_t sim_check_chain_next(uint64_t prev, const struct raft_entry *e);

/* Election safety: node id became leader in term. */
bool sim_check_leader(struct sim_check *c, raft_term term, raft_id id);

/* Log matching: node id holds (index, term) with this prefix hash. */
bool sim_check_chain(struct sim_check *c, raft_id id, raft_index index, raft_term term,
                     uint64_t chain);

/* Node id, in term now, has its commit index cover (index, term): the entry
 * is committed for good. */
bool sim_check_commit(struct sim_check *c, raft_id id, raft_index index, raft_term term,
                      raft_term now);

/* The term of the entry known committed at index, or 0; *by gets the term
 * by which the commit had happened. */
raft_term sim_check_committed(const struct sim_check *c, raft_index index, raft_term *by);

/* State-machine safety: node id applied an entry with this hash at index. */
bool sim_check_apply(struct sim_check *c, raft_id id, raft_index index, raft_term term,
                     uint64_t hash);

/* A client got the answer that its write at (index, term) is applied. */
void sim_check_ack(struct sim_check *c, raft_index index, raft_term term, uint64_t hash);

/* End of run: every acknowledged write is what was applied at its index. */
bool sim_check_acks(struct sim_check *c);

#endif /* SIM_CHECK_H */
