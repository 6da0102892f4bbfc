/* SPDX-License-Identifier: MIT */
/* node: one coordd node on a libuv loop. It drives the Raft core with the
 * durable log (log-writer thread), the LMDB state machine (apply thread) and
 * the peer transport, and offers the client server (coord/server.c) four
 * operations: propose a command, wait for a linearizable (or serializable)
 * read point, change membership, transfer leadership. It does not speak the
 * client protocol and does not forward to the leader: the server does.
 *
 * Member addresses. The Raft configuration holds one opaque address per
 * server; coordd stores "PEER_ADDR/CLIENT_ADDR" there (the client part may be
 * empty for members added without one). It is on disk (CONF entries,
 * snapshot metadata): changing the format breaks existing data dirs.
 *
 * Callbacks (coord_node_cb) run on the loop thread, exactly once per
 * accepted request, never from inside the call that accepted it, and also
 * when the node closes (status RAFT_ESHUTDOWN). */
#ifndef COORD_NODE_H
#define COORD_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "coord/cmd.h"
#include "coord/config.h"
#include "coord/fsm.h"
#include "raft/raft.h"

#define COORD_NODE_MAX_PENDING 65536u /* proposals and reads waiting, each kind */

/* The outcome of one request. Everything it points to returns view: valid
 * during the callback only. */
struct coord_node_result {
    int status;          /* 0 or a RAFT_E* code */
    const char *message; /* readable detail of a failure, or NULL */
    raft_index index;    /* propose: the entry's index; read: the read index */
    uint64_t revision;   /* the store's revision after the entry / when readable */
    raft_id leader;      /* transfer: the new leader; else the leader known, 0 if none */
    /* propose of a command: what applying it did (status 0 only). Its
     * status field may still say the command was malformed (RAFT_EPROTO). */
    const struct coord_cmd_result *cmd;
};

typedef void (*coord_node_cb)(void *arg, const struct coord_node_result *res);

/* One member as the status reports it. */
struct coord_node_member {
    raft_id id;
    bool voter;
    char peer_addr[RAFT_ADDR_MAX];
    char client_addr[RAFT_ADDR_MAX]; /* "" when unknown */
    raft_index match_index;          /* leader only: replicated up to here, else 0 */
    bool reachable;                  /* a peer connection is up (always true for self) */
};

struct coord_node_status {
    raft_id id;
    enum raft_role role;
    bool learner; /* this node is a learner in the configuration in force */
    raft_term term;
    raft_id leader; /* 0 when unknown */
    raft_index commit_index;
    raft_index applied_index;
    raft_index last_index;
    raft_index snapshot_index;
    uint64_t revision;
    uint32_t n_members;
    struct coord_node_member members[RAFT_MAX_SERVERS];
    int storage_error; /* 0, or the sticky error that stopped writes (RAFT_ENOSPC...) */
};

struct coord_node;

typedef void (*coord_node_close_cb)(void *arg);

/* Open the node's data dir (cfg->data_dir: log/, lmdb/, snap/), recover the
 * log and the state machine, bind the peer port and start Raft. A node with
 * initial members and an empty data dir bootstraps that configuration; one
 * without waits to be added. cfg is copied. *out returns owned: release with
 * coord_node_close(). err gets a one-line reason on failure.
 * Errors: RAFT_ECONFIG (bad settings, peer address unavailable, another
 * cluster's data), RAFT_ECORRUPT (damaged log or store: the message names
 * the file), RAFT_EIO, RAFT_ENOSPC, RAFT_ENOMEM, RAFT_EBUSY (port in use).
 * Loop thread. */
int coord_node_new(uv_loop_t *loop, const struct coord_config *cfg, struct coord_node **out,
                   char *err, size_t err_len);

/* Graceful stop: fail every waiting request with RAFT_ESHUTDOWN, finish the
 * log writes in flight, let the apply thread finish, close LMDB cleanly and
 * close the peer port. cb(arg) runs once everything is released. Loop
 * thread; once only. */
void coord_node_close(struct coord_node *n, coord_node_close_cb cb, void *arg);

/* Called once when the node stops itself because its storage failed (a log
 * write or fsync error, out of memory for a log job): err says why. The
 * node answers nothing more; the owner closes it and exits non-zero. */
typedef void (*coord_node_fatal_cb)(void *arg, int err);

/* Set the fatal callback (NULL: none). Loop thread. */
void coord_node_on_fatal(struct coord_node *n, coord_node_fatal_cb cb, void *arg);

/* Leader: append cmd (a coord_cmd_encode()d command, borrowed: copied) to the
 * log; cb runs once the entry is applied here (status 0, result in
 * res->cmd), or when it is known lost (RAFT_EDROPPED: another leader
 * overwrote it) or after timeout_ms (RAFT_ETIMEDOUT: the outcome is
 * unknown). Proposals of one loop iteration go to the core as one batch.
 * timeout_ms 0 = cfg->request_timeout_ms.
 * Errors: RAFT_ENOTLEADER (forward it; see coord_node_leader()),
 * RAFT_ETOOBIG (cmd over max_request_bytes), RAFT_ENOSPC (writes stopped:
 * disk or store full), RAFT_EBUSY (COORD_NODE_MAX_PENDING waiting),
 * RAFT_ESHUTDOWN, RAFT_ENOMEM. Loop thread. */
int coord_node_propose(struct coord_node *n, const struct raft_buf *cmd, uint32_t timeout_ms,
                       coord_node_cb cb, void *arg);

/* Wait until this node's state machine may be read: linearizable (a
 * ReadIndex round through the leader, then until applied >= that index) or
 * serializable (at the end of this loop iteration, from whatever is
 * applied). Inside cb (status 0), and only there, the caller reads with
 * coord_node_fsm(). Reads of one loop iteration share one ReadIndex round.
 * Errors: RAFT_EBUSY, RAFT_ESHUTDOWN, RAFT_ENOMEM. cb may report
 * RAFT_ELEADERLESS, RAFT_ENOTLEADER (leader changed), RAFT_ETIMEDOUT.
 * Loop thread. */
int coord_node_read(struct coord_node *n, bool linearizable, uint32_t timeout_ms, coord_node_cb cb,
                    void *arg);

/* The state machine, for reads inside a coord_node_read() callback only.
 * Returns view. */
struct coord_fsm *coord_node_fsm(struct coord_node *n);

/* Leader: change membership (op: enum raft_conf_op). ADD_LEARNER needs
 * peer_addr and takes client_addr (may be NULL or ""). cb runs once the
 * change is applied here, or with RAFT_ETIMEDOUT / RAFT_EDROPPED.
 * Errors: RAFT_ENOTLEADER, RAFT_EBUSY (a change is in progress, or PROMOTE
 * of a learner that has not caught up), RAFT_EINVAL (bad op or id, address
 * too long), RAFT_EEXIST, RAFT_ENOTFOUND, RAFT_ESHUTDOWN, RAFT_ENOMEM.
 * Loop thread. */
int coord_node_conf_change(struct coord_node *n, uint8_t op, raft_id id, const char *peer_addr,
                           const char *client_addr, uint32_t timeout_ms, coord_node_cb cb,
                           void *arg);

/* Leader: hand leadership to voter to (0: the most up-to-date one). cb runs
 * when another node leads (status 0, res->leader), or RAFT_ETIMEDOUT.
 * Errors: RAFT_ENOTLEADER, RAFT_EBUSY, RAFT_ENOTFOUND, RAFT_EINVAL,
 * RAFT_ESHUTDOWN. Loop thread. */
int coord_node_transfer(struct coord_node *n, raft_id to, uint32_t timeout_ms, coord_node_cb cb,
                        void *arg);

/* Fill *st from this node's own view. Loop thread. */
void coord_node_status(const struct coord_node *n, struct coord_node_status *st);

/* The leader this node knows: its id, and its client address copied into
 * addr (addr_len bytes, "" when unknown). Returns 1 when this node leads,
 * 0 when another does, RAFT_ELEADERLESS when none is known. Loop thread. */
int coord_node_leader(const struct coord_node *n, raft_id *id, char *addr, size_t addr_len);

/* Split a member address "PEER/CLIENT" (or "PEER") into its parts
 * (NUL-terminated; each buffer RAFT_ADDR_MAX bytes). Errors: RAFT_EINVAL. */
int coord_node_addr_split(const char *address, char *peer, char *client);

/* Join peer and client ("" allowed) into a member address in out
 * (RAFT_ADDR_MAX bytes). Errors: RAFT_EINVAL (empty peer, a '/' in either
 * part, too long). */
int coord_node_addr_join(const char *peer, const char *client, char *out);

#endif /* COORD_NODE_H */
