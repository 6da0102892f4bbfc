/* SPDX-License-Identifier: MIT */
/* fixture: a tiny synchronous cluster for the core's unit tests. Messages
 * go into one FIFO; persistence completes when the test says so (or at once
 * with fx_auto_persist). Not a simulator: no randomness, no faults beyond
 * what a test does by hand. */
#ifndef TESTS_UNIT_RAFT_FIXTURE_H
#define TESTS_UNIT_RAFT_FIXTURE_H

#include "raft/raft.h"

#define FX_MAX_NODES 7
#define FX_MAX_MSGS  4096
#define FX_MAX_READS 64

struct fx_msg {
    struct raft_msg m;
    struct raft_entry *entries; /* owned copies */
    struct raft_snapshot_meta snap;
};

struct fx_node {
    struct raft *r;
    bool up;
    bool auto_persist;
    /* persist jobs not yet durable: last (index, term) and held messages */
    raft_index pend_index[64];
    raft_term pend_term[64];
    struct fx_msg *pend_msgs[64];
    size_t pend_n_msgs[64];
    unsigned n_pend;
    raft_index applied;
    uint64_t apply_hash;
    struct raft_read reads[FX_MAX_READS];
    unsigned n_reads;
    raft_time timeout;
    int n_snapshots_installed;
};

struct fx {
    unsigned n;
    struct fx_node nodes[FX_MAX_NODES + 1]; /* by id, 1..n */
    struct fx_msg queue[FX_MAX_MSGS];
    unsigned q_head;
    unsigned q_tail;
    raft_time now;
    bool cut[FX_MAX_NODES + 1][FX_MAX_NODES + 1]; /* cut[a][b]: a's messages to b lost */
    unsigned n_snapshot_msgs;
};

/* n voters 1..n, bootstrap configuration, auto persistence on. */
void fx_init(struct fx *f, unsigned n, unsigned n_voters);
void fx_close(struct fx *f);
/* Step node id with ev, carrying out the update. Returns raft_step's result. */
int fx_step(struct fx *f, raft_id id, struct raft_event *ev);
/* Deliver the oldest queued message; false when none was queued. */
bool fx_deliver_one(struct fx *f);
/* Deliver queued messages until none is left (bounded). */
void fx_deliver_all(struct fx *f);
/* Advance time by ms, firing due timeouts, delivering messages in between. */
void fx_advance(struct fx *f, raft_time ms);
/* Complete the oldest pending persist job of node id. */
void fx_persist_one(struct fx *f, raft_id id);
/* Id of the leader of the highest term, or 0. */
raft_id fx_leader(struct fx *f);
/* Elect node id by campaigning it and delivering everything. */
void fx_elect(struct fx *f, raft_id id);
/* Submit one value at node id; returns raft_step's result. */
int fx_submit(struct fx *f, raft_id id, const char *value);

#endif
