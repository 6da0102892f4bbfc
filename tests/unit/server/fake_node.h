/* SPDX-License-Identifier: MIT */
/* fake_node: every function of coord/node.h, without Raft, for the client
 * server's unit tests. It opens a real coord_fsm in cfg->data_dir and, when
 * it leads, applies each proposed command to it at the end of the loop
 * iteration that proposed it (a uv_check handle; a uv_idle one keeps the
 * loop from blocking meanwhile); callbacks never run from inside the call
 * that accepted the request. Knobs below make it a follower, leaderless,
 * hold requests, time them out or refuse them, and count what it was asked.
 * coord_node_close() fails what is still waiting with RAFT_ESHUTDOWN from
 * inside the call (the harsher of the orders a real node may use). */
#ifndef TESTS_UNIT_SERVER_FAKE_NODE_H
#define TESTS_UNIT_SERVER_FAKE_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coord/node.h"

/* What the node was asked, from coord_node_new() on. */
struct fake_node_calls {
    unsigned propose;           /* coord_node_propose() calls, refused ones included */
    unsigned proposed;          /* ... accepted */
    unsigned read_linearizable; /* coord_node_read() calls by kind */
    unsigned read_serializable;
    unsigned conf_change;
    unsigned transfer;
    uint32_t last_timeout_ms; /* of the last request of any kind */
    uint8_t last_conf_op;
    raft_id last_conf_id;
    char last_peer_addr[RAFT_ADDR_MAX];
    char last_client_addr[RAFT_ADDR_MAX];
    raft_id last_transfer_to;
};

/* Lead (the default). */
void fake_node_set_leader(struct coord_node *n);

/* Follow leader, whose client port is client_addr ("" = unknown). Writes,
 * member changes and transfers are refused with RAFT_ENOTLEADER; reads are
 * served from the local store. */
void fake_node_set_follower(struct coord_node *n, raft_id leader, const char *client_addr);

/* Know no leader: writes are refused with RAFT_ENOTLEADER and linearizable
 * reads report RAFT_ELEADERLESS. */
void fake_node_set_leaderless(struct coord_node *n);

/* Report being a learner in the status. */
void fake_node_set_learner(struct coord_node *n, bool learner);

/* hold: accepted requests wait, unanswered, until fake_node_release() or the
 * close. expire: requests waiting (held or not) past their timeout fail
 * with RAFT_ETIMEDOUT. */
void fake_node_hold(struct coord_node *n, bool hold, bool expire);

/* Answer the held requests at the end of this loop iteration. */
void fake_node_release(struct coord_node *n);

/* Requests waiting now (held or about to be answered). */
size_t fake_node_waiting(const struct coord_node *n);

/* Refuse the next proposals at once with rv (0: stop refusing). */
void fake_node_refuse_proposals(struct coord_node *n, int rv);

const struct fake_node_calls *fake_node_calls(const struct coord_node *n);

#endif /* TESTS_UNIT_SERVER_FAKE_NODE_H */
