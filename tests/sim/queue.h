/* SPDX-License-Identifier: MIT */
/* queue: the simulator's event queue, a binary min-heap on virtual time.
 * Events due at the same time pop in the order they were pushed (a sequence
 * number breaks ties), never in an order that depends on pointer values, so
 * a seed replays exactly. The queue stores events by value and does not
 * look inside them: a DELIVER event's message is owned by the event, and
 * whoever pops it (or drains the queue) frees it. */
#ifndef SIM_QUEUE_H
#define SIM_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

enum sim_event_type {
    SIM_EV_DELIVER = 1,   /* msg arrives at node; a = sender incarnation, b = snapshot report */
    SIM_EV_PERSISTED = 2, /* node's oldest persist job is durable; a = job seq */
    SIM_EV_TIMEOUT = 3,   /* node's timer; a = timer generation */
    SIM_EV_SNAP_SENT = 4, /* node learns a snapshot stream ended; a = to, b = ok */
    SIM_EV_RESTART = 5,   /* crashed node comes back */
    SIM_EV_UNPAUSE = 6,   /* paused node resumes */
    SIM_EV_HEAL = 7,      /* a partition ends; a, b = the two sides (id bit masks) */
    SIM_EV_CHAOS = 8,     /* the fault injector's next decision */
    SIM_EV_CLIENT = 9,    /* the workload's next request */
    SIM_EV_CRASH = 10,    /* node crashes, if still in incarnation inc; flag: a blip */
    SIM_EV_SYNC = 11,     /* --storage real: node's log flushes what its jobs wrote */
};

struct sim_event {
    raft_time at;         /* virtual ms when the event is due */
    uint64_t seq;         /* set by sim_queue_push(): ties pop in push order */
    uint8_t type;         /* enum sim_event_type */
    bool flag;            /* HEAL: one-way; CRASH: blip; DELIVER: past the network */
    raft_id node;         /* target node, 0 for world events */
    uint64_t inc;         /* incarnation of node the event belongs to (HEAL: epoch) */
    uint64_t a;           /* see enum sim_event_type */
    uint64_t b;           /* see enum sim_event_type */
    struct raft_msg *msg; /* DELIVER: owned by the event */
};

struct sim_queue {
    struct sim_event *heap; /* heap[0] is the earliest (at, seq) */
    size_t n;
    size_t cap;
    uint64_t next_seq; /* sequence number of the next push */
};

/* Set up an empty queue. */
void sim_queue_init(struct sim_queue *q);

/* Free the heap array. Messages of queued events are not freed: drain the
 * queue with sim_queue_pop() first when they matter. Zeroed queue: no-op. */
void sim_queue_close(struct sim_queue *q);

/* Insert a copy of *ev (ownership of ev->msg moves into the queue) and set
 * its sequence number, which is also returned. */
uint64_t sim_queue_push(struct sim_queue *q, const struct sim_event *ev);

/* Remove the earliest event into *out (ownership of out->msg moves to the
 * caller). Returns false when the queue is empty. */
bool sim_queue_pop(struct sim_queue *q, struct sim_event *out);

/* Number of queued events. */
size_t sim_queue_len(const struct sim_queue *q);

#endif /* SIM_QUEUE_H */
