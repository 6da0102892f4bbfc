/* SPDX-License-Identifier: MIT */
/* net: the simulated network between the nodes' shells. Every message is
 * deep-copied and delivered after a random delay (with an occasional long
 * tail), so messages reorder; some are dropped or duplicated; partitions
 * block directed pairs of nodes while they last (checked at send and at
 * delivery). Snapshot messages carry the sender's durable snapshot data,
 * and the sender learns the stream's outcome (RAFT_EV_SNAPSHOT_SENT) when
 * the message is delivered or lost. Not a transport model: no bandwidth,
 * no connections. */
#ifndef SIM_NET_H
#define SIM_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"
#include "tests/sim/disk.h"
#include "tests/sim/queue.h"

#define SIM_MAX_IDS 32 /* node ids 1..SIM_MAX_IDS over a whole run */

struct sim;
struct sim_node;

struct sim_net {
    unsigned drop_pm;      /* chance to lose a message, per mille */
    unsigned dup_pm;       /* chance to deliver a message twice, per mille */
    unsigned tail_pm;      /* chance of a long extra delay, per mille */
    uint32_t delay_min_ms; /* usual delay range */
    uint32_t delay_max_ms;
    uint32_t tail_max_ms; /* extra delay of the long tail, up to */
    uint64_t epoch;       /* bumped by sim_net_heal_all(): older HEAL events are void */
    uint16_t blocked[SIM_MAX_IDS + 1][SIM_MAX_IDS + 1]; /* [from][to]: partitions in force */
    uint64_t n_sent;
    uint64_t n_lost;
};

/* Deep copy of m (entries, their data, snapshot meta). snapshot_data of the
 * copy points at data when given (borrowed: the world keeps the blobs). */
struct raft_msg *sim_net_msg_copy(const struct raft_msg *m, struct sim_snapdata *data);

/* Free a copy made by sim_net_msg_copy(). NULL is a no-op. */
void sim_net_msg_free(struct raft_msg *m);

/* Short human form of m for traces, e.g. "APPEND term=3 index=5/3 n=2 commit=4". */
void sim_net_msg_str(const struct raft_msg *m, char *buf, size_t len);

/* Send m (borrowed) from node from. */
void sim_net_send(struct sim *s, struct sim_node *from, const struct raft_msg *m);

/* A DELIVER event is due: drop it (partition, receiver down) or hand it to
 * the receiver. Takes ev->msg. */
void sim_net_deliver(struct sim *s, struct sim_event *ev);

/* True while a partition blocks messages from -> to. */
bool sim_net_blocked(const struct sim_net *net, raft_id from, raft_id to);

/* Block side_a -> side_b (and back unless oneway) until heal_at. Sides are
 * bit masks of node ids. */
void sim_net_partition(struct sim *s, uint64_t side_a, uint64_t side_b, bool oneway,
                       raft_time heal_at);

/* A HEAL event is due: lift the partition it names (if still in force). */
void sim_net_heal(struct sim *s, const struct sim_event *ev);

/* Lift every partition now (pending HEAL events become void). */
void sim_net_unblock_all(struct sim *s);

/* Lift every partition and stop losing, duplicating and tail-delaying. */
void sim_net_heal_all(struct sim *s);

#endif /* SIM_NET_H */
