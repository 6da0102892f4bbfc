/* SPDX-License-Identifier: MIT */
/* server: coordd's client port on the libuv loop thread. It accepts client
 * connections (proto/coord.proto ClientFrames, framed by coord/frame.h),
 * pipelines their requests into the node (coord/node.h) and answers each by
 * id as it completes, in any order. Writes that reach a follower are
 * forwarded to the leader's client port over one pipelined connection per
 * leader, unless the request says no_forward. It holds no replicated state
 * and makes no Raft decision: the node does.
 *
 * Bounds: at most cfg->max_clients connections (more are accepted and
 * closed at once); frames of at most cfg->max_request_bytes (a larger one
 * is answered RAFT_ETOOBIG, then the connection closed); per connection at
 * most COORD_SERVER_MAX_INFLIGHT requests in flight and
 * COORD_SERVER_OUT_PAUSE bytes of unsent answers before it stops reading
 * that connection, which is closed when its unsent answers pass
 * COORD_SERVER_OUT_MAX bytes or it takes none for COORD_SERVER_STALL_MULT
 * request timeouts (at least COORD_SERVER_STALL_MIN_MS).
 *
 * Errors go to the client as Response.error = the positive RAFT_E* number
 * and a readable message; a client can never crash the server.
 *
 * Callbacks run on the loop thread. */
#ifndef COORD_SERVER_H
#define COORD_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "coord/config.h"

#define COORD_SERVER_MAX_INFLIGHT 4096u        /* requests of one connection in flight */
#define COORD_SERVER_OUT_PAUSE    (8u << 20)   /* unsent answer bytes: stop reading */
#define COORD_SERVER_OUT_MAX      (64u << 20)  /* unsent answer bytes: close */
#define COORD_SERVER_STALL_MULT   2u           /* request timeouts without write progress */
#define COORD_SERVER_STALL_MIN_MS 1000u        /* ... but never less than this: close */
#define COORD_SERVER_MAX_FORWARD  65536u       /* forwarded requests in flight, all clients */
#define COORD_SERVER_UP_MAX_FRAME (256u << 20) /* largest answer accepted from a leader */

struct coord_node;
struct coord_server;

/* Counters since coord_server_new(). */
struct coord_server_stats {
    uint64_t accepted;          /* connections accepted and served */
    uint64_t refused;           /* connections closed at once: max_clients reached */
    uint64_t n_conns;           /* client connections open now */
    uint64_t requests;          /* requests decoded */
    uint64_t errors;            /* answers carrying an error (forwarded ones included) */
    uint64_t protocol_errors;   /* bad frames: undecodable, oversized, no request or op */
    uint64_t forwarded;         /* requests sent to the leader */
    uint64_t paused;            /* times a connection stopped being read (backpressure) */
    uint64_t overflows;         /* connections closed for unsent answers over the bound or stuck */
    uint64_t out_bytes;         /* unsent answer bytes now, all connections */
    uint64_t out_bytes_peak;    /* the most one connection ever held unsent */
    uint64_t upstream_connects; /* connections to a leader established */
};

typedef void (*coord_server_close_cb)(void *arg);

/* Listen on cfg->client_addr ("host:port", "[v6]:port"; port 0 picks one:
 * see coord_server_port()) and serve clients for node. loop and node are
 * borrowed until coord_server_close() (node's callbacks may still run after
 * it: see there); cfg is copied. *out returns owned: release with
 * coord_server_close(). On error *out is NULL, err gets a one-line reason,
 * and nothing is left to free, but handles created before the failure close
 * on the next loop iteration: run the loop before uv_loop_close(). Loop
 * thread.
 * Errors: RAFT_ECONFIG (address unparsable, unresolvable or not available),
 * RAFT_EBUSY (address in use), RAFT_EIO (other socket errors),
 * RAFT_ENOMEM. */
int coord_server_new(uv_loop_t *loop, struct coord_node *node, const struct coord_config *cfg,
                     struct coord_server **out, char *err, size_t err_len);

/* The port the listener is bound to. Loop thread. */
int coord_server_port(const struct coord_server *s);

/* Fill *stats. Loop thread. */
void coord_server_stats(const struct coord_server *s, struct coord_server_stats *stats);

/* Stop accepting and reading, answer nothing more, close every client
 * connection and every connection to a leader. Requests still in the node
 * keep the server's memory (not the node) until their callbacks run, which
 * the node does at the latest when it closes (RAFT_ESHUTDOWN), before or
 * after this call: both orders are safe. The server touches node no more
 * after this call, except that its callbacks may still run. cb(arg) runs
 * once everything is freed (cb may be NULL), never from inside this call.
 * So: close the server, then the node, without waiting for cb in between
 * (cb would otherwise wait for the node's request timeouts). Loop thread;
 * once only. */
void coord_server_close(struct coord_server *s, coord_server_close_cb cb, void *arg);

#endif /* COORD_SERVER_H */
