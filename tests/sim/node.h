/* SPDX-License-Identifier: MIT */
/* node: one simulated server, the shell around one struct raft. It carries
 * out every raft_update in the order raft.h prescribes (send msgs, queue a
 * persist job, on its completion send msgs_after and feed PERSISTED, apply,
 * answer reads, re-arm the timer), owns the node's disk and state machine,
 * and tells check what it sees: roles and terms, the log it is handed,
 * commits, applies. A crash loses the core, unfinished jobs, the state
 * machine and pending client work; a restart rebuilds all from the disk.
 * With --storage real, a job is written to the node's real log (store.h)
 * when it would complete and completes at the next flush (SIM_EV_SYNC); a
 * restart recovers from the real log.
 *
 *   (new) --sim_node_new--> UP --sim_node_crash--> DOWN --sim_node_start--> UP
 *   UP --sim_node_pause--> UP+paused (events queue up) --sim_node_unpause--> UP
 *   UP/DOWN --sim_node_stop (removal committed)--> GONE (disk kept for the hash)
 */
#ifndef SIM_NODE_H
#define SIM_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"
#include "tests/sim/disk.h"
#include "tests/sim/queue.h"
#include "tests/sim/store.h"

struct sim;

enum sim_node_state {
    SIM_NODE_UP = 1,
    SIM_NODE_DOWN = 2, /* crashed, restart pending */
    SIM_NODE_GONE = 3, /* removed from the cluster for good */
};

/* The replicated state machine: an applied index and hashes over what was
 * applied. Its snapshot is struct sim_snapdata plus the configuration. */
struct sim_sm {
    raft_index applied;
    raft_term applied_term;
    uint64_t hash;         /* over applied NORMAL entries' (index, term, data) */
    uint64_t chain;        /* log chain hash at applied (check.h) */
    uint64_t n_normal;     /* NORMAL entries applied */
    struct raft_conf conf; /* configuration as of applied */
};

/* A client write submitted at this node, waiting to be applied. */
struct sim_prop {
    raft_index index;
    raft_term term;
    uint64_t hash; /* sim_check_entry_hash of the entry we asked for */
};

/* A client ReadIndex request at this node. */
struct sim_read {
    uint64_t id;
    raft_index min_index; /* highest acknowledged write when it was asked */
    raft_index index;     /* the answer, once answered */
    bool answered;
};

struct sim_node {
    raft_id id;
    char address[16]; /* "n<id>" */
    enum sim_node_state state;
    bool paused;
    bool stop_pending;       /* its removal is committed: stop after this event */
    uint64_t inc;            /* incarnation, bumped by each crash */
    raft_index added_at;     /* index of its ADD_LEARNER entry, 0 for founders */
    struct raft *raft;       /* NULL unless UP */
    struct sim_disk disk;    /* what the core was told is durable */
    struct sim_store *store; /* --storage real: the real log under disk, else NULL */
    struct sim_job *jobs;    /* persist jobs in flight: jobs[job_head..+n_jobs), oldest first */
    size_t job_head;
    size_t n_jobs;
    size_t cap_jobs;
    uint64_t job_seq;      /* seq of the next job */
    raft_time job_done_at; /* completion time of the newest job */
    bool install_pending;  /* a job installs a snapshot */
    struct sim_sm sm;
    /* The shell's view of the core's log: chain hashes of (chain_base, last]. */
    raft_index chain_base;
    uint64_t chain_base_hash;
    uint64_t *chain;
    size_t n_chain;
    size_t cap_chain;
    uint64_t timer_gen;  /* only the TIMEOUT event with this generation counts */
    raft_time timer_at;  /* when the armed timer is due */
    enum raft_role role; /* as of the last update */
    raft_term term;
    raft_id vote; /* as of the last update that persisted a hard state */
    raft_id leader;
    raft_index commit;
    struct sim_prop *props;
    size_t n_props;
    size_t cap_props;
    struct sim_read *reads;
    size_t n_reads;
    size_t cap_reads;
    struct sim_event *deferred; /* events that arrived while paused */
    size_t n_deferred;
    size_t cap_deferred;
    bool probe_seen; /* applied a liveness probe */
};

/* Create node id with a fresh disk whose snapshot carries conf (the initial
 * members, or an empty configuration for a node to be added), register it
 * in s->nodes (which owns it; sim_world_close() frees it) and start it. */
struct sim_node *sim_node_new(struct sim *s, raft_id id, const struct raft_conf *conf);

/* Release everything; the node must not be referenced by queued events'
 * handling afterwards (events name nodes by id). NULL is a no-op. */
void sim_node_free(struct sim_node *n);

/* Create a core from the durable state and step RAFT_EV_START. */
void sim_node_start(struct sim *s, struct sim_node *n);

/* Lose everything volatile; the node is DOWN until sim_node_start(). */
void sim_node_crash(struct sim *s, struct sim_node *n);

/* The node's removal is committed: crash it for good. */
void sim_node_stop(struct sim *s, struct sim_node *n);

/* Stop n processing events (SIGSTOP): events due meanwhile wait in order. */
void sim_node_pause(struct sim *s, struct sim_node *n);

/* Resume n: the events that waited are queued again, now, in order. */
void sim_node_unpause(struct sim *s, struct sim_node *n);

/* UP and not paused: it can take client requests. */
bool sim_node_ready(const struct sim_node *n);

/* Step ev (its time is set here) and carry out the update. When out is
 * given it receives the update (views valid until the next step of n).
 * Returns what raft_step returned. */
int sim_node_step(struct sim *s, struct sim_node *n, struct raft_event *ev,
                  struct raft_update *out);

/* After a step from outside the node's own events: take a snapshot when
 * one is due (this steps again). */
void sim_node_settle(struct sim *s, struct sim_node *n);

/* A node-targeted event is due (PERSISTED, SYNC, TIMEOUT, SNAP_SENT, and DELIVER
 * after the network let it through). Stale events are dropped; a paused
 * node keeps them for later. Takes ev->msg. */
void sim_node_event(struct sim *s, struct sim_event *ev);

/* Client write: SUBMIT bufs; remembers the proposals to acknowledge them
 * when applied. Returns raft_step's result. */
int sim_node_submit(struct sim *s, struct sim_node *n, const struct raft_buf *bufs, size_t n_bufs);

/* Client read: READ_INDEX. Returns raft_step's result. */
int sim_node_read(struct sim *s, struct sim_node *n);

#endif /* SIM_NODE_H */
