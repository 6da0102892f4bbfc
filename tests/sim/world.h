/* SPDX-License-Identifier: MIT */
/* world: one simulated run. It owns the virtual clock, the event queue, the
 * nodes, the network and the checker, draws every random choice from one
 * PRNG seeded by the run's seed, and drives the run's phases:
 *
 *   CHAOS (faults + workload, opts.time_ms) --sim_world_heal--> HEAL
 *   HEAL --one leader known to a majority, probe write applied by a
 *          majority--> DONE;  HEAL --deadline--> violation "liveness"
 *
 * The same seed and options give the same run, event for event. */
#ifndef SIM_WORLD_H
#define SIM_WORLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/base/rand.h"
#include "raft/raft.h"
#include "tests/sim/check.h"
#include "tests/sim/disk.h"
#include "tests/sim/net.h"
#include "tests/sim/node.h"
#include "tests/sim/queue.h"
#include "tests/sim/store.h"
#include "tests/sim/trace.h"

struct sim_opts {
    uint64_t seed;
    unsigned nodes;    /* initial voters: 3, 5 or 7 */
    raft_time time_ms; /* length of the chaos phase, virtual ms */
    enum sim_trace_mode trace;
    unsigned bug; /* enum raft_bug (sim_mut only) */
    bool calm;    /* no faults, no workload (the demo drives) */
    bool storage; /* --storage real: durable state in coord_log files (store.h) */
};

/* Per-run parameters drawn from the seed. */
struct sim_params {
    struct raft_config cfg; /* template for every node (id, seed set per node) */
    uint32_t snap_every;    /* applied entries between snapshots */
    uint32_t disk_max_ms;   /* usual persist latency, up to */
    unsigned disk_slow_pm;  /* chance of a slow persist, per mille */
    uint32_t disk_slow_ms;  /* slow persist latency, up to */
    uint32_t chaos_ms;      /* mean gap between fault decisions */
    uint32_t client_ms;     /* mean gap between client requests */
    unsigned w_crash;       /* fault weights */
    unsigned w_pause;
    unsigned w_isolate;
    unsigned w_pair;
    unsigned w_oneway;
    unsigned w_split;
    unsigned w_heal;
    unsigned fast_restart_pm; /* chance a crashed node is back within 20 ms */
    unsigned leader_crash_pm; /* chance a crash picks a node that thinks it leads */
    unsigned sync_crash_pm;   /* chance to crash right after an update that changed
                               * the hard state, before it is durable */
    unsigned vote_crash_pm;   /* the same, when the change grants a vote */
    unsigned new_leader_pm;   /* chance to crash or cut off a leader right after its election */
    unsigned oom_pm;          /* chance an allocation fails inside a raft_step() */
    unsigned w_propose;       /* workload weights */
    unsigned w_read;
    unsigned w_conf;
    unsigned w_transfer;
    unsigned w_campaign;
    unsigned leader_pm; /* chance a request goes to a node that thinks it leads */
    /* --storage real only, drawn from store_rng so that the rest is the same
     * run as without it: */
    uint64_t segment_size;  /* bytes per log segment: small, so segments roll */
    bool preallocate;       /* segments reserve their size up front */
    unsigned power_pm;      /* chance a crash is a power loss (else the page cache survives) */
    uint32_t sync_max_ms;   /* a written job is flushed 0..this many ms later */
    unsigned torn_crash_pm; /* chance to crash between a write and its flush */
};

enum sim_phase {
    SIM_PHASE_CHAOS = 0,
    SIM_PHASE_HEAL = 1,
    SIM_PHASE_DONE = 2,
};

struct sim {
    struct sim_opts o;
    struct sim_params p;
    struct raft_rand rng;
    raft_time now; /* virtual ms */
    struct sim_queue q;
    struct sim_trace trace;
    struct sim_check check;
    struct sim_net net;
    struct sim_node *nodes[SIM_MAX_IDS + 1]; /* by id; NULL if never created */
    raft_id n_ids;                           /* highest id created */
    struct sim_snapdata **blobs;             /* snapshot data sent, kept to the end */
    size_t n_blobs;
    size_t cap_blobs;
    uint64_t next_value; /* client write values, unique in the run */
    uint64_t next_read;  /* read request ids */
    enum sim_phase phase;
    raft_time heal_at;    /* start of HEAL */
    raft_time deadline;   /* HEAL must end by then */
    uint64_t probe_value; /* first liveness probe value, 0 before HEAL */
    raft_time probe_next; /* when to submit the next probe */
    uint64_t probe_read;  /* id of the liveness ReadIndex probe, 0 when none pending */
    bool probe_read_done; /* it completed */
    uint64_t n_events;
    uint64_t n_elections;
    uint64_t n_snapshots;
    char *store_root;           /* --storage real: the run's temporary directory */
    struct raft_rand store_rng; /* --storage real: every choice about the real disks */
    uint64_t n_torn;            /* --storage real: torn tails the logs cut off at open */
    uint64_t n_batch_cut;       /* --storage real: partly persisted batches cut off at open */
};

/* Set up a run (nodes created and started). Returns 0, or -1 with a message
 * on stderr for bad options. */
int sim_world_init(struct sim *s, const struct sim_opts *o);

/* Run to the end. Returns 0 on success, 1 on a violation (s->check). */
int sim_world_run(struct sim *s);

/* Process events until pred(s, arg) holds after an event, or until time
 * limit. Returns true when pred held. Violations stop it too. */
bool sim_world_run_until(struct sim *s, bool (*pred)(struct sim *s, void *arg), void *arg,
                         raft_time limit);

/* Free everything the run holds (nodes, queued messages, blobs, checker).
 * The trace ring stays readable. */
void sim_world_close(struct sim *s);

/* Node id, or NULL. */
struct sim_node *sim_world_node(struct sim *s, raft_id id);

/* Random helpers over the run's PRNG. */
uint64_t sim_world_below(struct sim *s, uint64_t n);
uint64_t sim_world_range(struct sim *s, uint64_t lo, uint64_t hi); /* [lo, hi] */
bool sim_world_chance(struct sim *s, unsigned per_mille);

/* Queue ev (ownership of ev->msg moves to the queue). */
void sim_world_push(struct sim *s, const struct sim_event *ev);

/* Keep a copy of a snapshot's data until the end of the run; returns it
 * (owned by the world: the handle messages carry). */
struct sim_snapdata *sim_world_blob(struct sim *s, const struct sim_snapdata *d);

/* The ready leader of the highest term, if a majority of the voters of its
 * configuration are ready and follow it in that term; else NULL. */
struct sim_node *sim_world_leader(struct sim *s);

/* Hash of every node's durable state. */
uint64_t sim_world_hash(const struct sim *s);

/* --storage real: the stores' counters summed over every node. */
void sim_world_store_stats(const struct sim *s, struct sim_store_stats *stats);

/* End the chaos phase: heal the network, unpause and restart nodes. */
void sim_world_heal(struct sim *s);

/* Record a trace line when tracing (arguments are not evaluated otherwise). */
#define SIM_TRACE(s, ...)                                                                          \
    do {                                                                                           \
        if (sim_trace_on(&(s)->trace)) {                                                           \
            sim_trace_line(&(s)->trace, (s)->now, __VA_ARGS__);                                    \
        }                                                                                          \
    } while (0)

#endif /* SIM_WORLD_H */
