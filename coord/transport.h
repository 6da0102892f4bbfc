/* SPDX-License-Identifier: MIT */
/* transport: coordd's peer connections on the libuv loop thread. One TCP
 * connection per pair of nodes carries batched Raft messages and snapshot
 * streams both ways (proto/peer.proto, framed by coord/frame.h). It moves
 * messages and files; it does not interpret them (the Raft core does), and
 * it never blocks the loop: what cannot be sent at once is queued up to a
 * bound, then dropped and counted, as Raft tolerates loss.
 *
 * Who dials: for each pair the node with the lower id dials (and redials
 * with backoff when the connection drops); the higher id accepts. The first
 * frame each way is a Hello (protocol version, cluster id, node id).
 *
 * Callbacks run on the loop thread, from libuv callbacks only: never from
 * inside a coord_transport_* call, and never after coord_transport_close().
 * A callback may call any coord_transport_* function, close included. */
#ifndef COORD_TRANSPORT_H
#define COORD_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "raft/raft.h"

#define COORD_TRANSPORT_MAX_FRAME (1u << 30) /* the largest max_frame accepted */

struct coord_transport_opts {
    raft_id id;                 /* this node, > 0 */
    uint64_t cluster_id;        /* 0 = accept peers of any cluster */
    const char *listen_address; /* "host:port" or "[v6]:port"; port 0 picks one; borrowed */
    const char *snapshot_dir;   /* received snapshots land here; must exist; borrowed */
    size_t max_frame;           /* bytes of a frame body; default 64 MiB, at most
                                 * COORD_TRANSPORT_MAX_FRAME */
    size_t max_queue;           /* bytes queued for one peer before drops; default 64 MiB */
    uint32_t backoff_min_ms;    /* first redial delay; default 50 */
    uint32_t backoff_max_ms;    /* the delay doubles up to this; default 2000 */
    uint32_t hello_timeout_ms;  /* dial or accept to handshake done; default 5000 */
    uint32_t idle_timeout_ms;   /* an established connection that reads nothing for
                                 * this long is closed and redialed; a quiet one sends
                                 * a keepalive every quarter of it; default 5000 */
    size_t snapshot_chunk;      /* bytes per snapshot chunk; default 1 MiB, at most
                                 * COORD_PEER_MAX_CHUNK and below max_frame */
    uint64_t max_snapshot;      /* bytes of a received snapshot; default 64 GiB */
    uint64_t seed;              /* PRNG seed for the backoff jitter */
    bool accept_unknown;        /* accept a handshake from an id not in the address
                                 * book (it joins the book without an address, so
                                 * it is never dialed): a node waiting to be added
                                 * knows nobody until the leader reaches it */
};

/* One message arrived. m and everything it points to returns view: valid
 * during the call only. m->from is the connection's peer, m->to this node;
 * never RAFT_MSG_SNAPSHOT (see snapshot_received). */
typedef void (*coord_transport_recv_cb)(void *arg, const struct raft_msg *m);

/* A snapshot arrived whole and is durable: m is its RAFT_MSG_SNAPSHOT message
 * (view, during the call) and m->snapshot_data holds the NUL-terminated path
 * of the file (len counts the NUL; the bytes are a view, the file is the
 * callee's from now on: it must rename or delete it). */
typedef void (*coord_transport_snapshot_received_cb)(void *arg, const struct raft_msg *m);

/* The snapshot sent to peer to ended: ok when its last chunk was written to
 * the socket, false when the connection dropped or the file could not be
 * read. Exactly once per successful coord_transport_send_snapshot(). */
typedef void (*coord_transport_snapshot_sent_cb)(void *arg, raft_id to, bool ok);

/* Peer id became reachable (a connection finished its handshake) or
 * unreachable (its last connection closed, or it left the address book).
 * Transitions only: a newer connection replacing an older one reports
 * nothing. For logs and metrics; Raft does not need it. */
typedef void (*coord_transport_peer_state_cb)(void *arg, raft_id id, bool connected);

struct coord_transport_cbs {
    void *arg; /* passed to each callback */
    coord_transport_recv_cb recv;
    coord_transport_snapshot_received_cb snapshot_received;
    coord_transport_snapshot_sent_cb snapshot_sent; /* may be NULL */
    coord_transport_peer_state_cb peer_state;       /* may be NULL */
};

/* Counters of one peer, from coord_transport_new() on (they survive
 * reconnects, not the peer's removal from the address book). */
struct coord_transport_peer_stats {
    raft_id id;
    bool connected;         /* handshake done, connection open */
    uint64_t msgs_sent;     /* messages written to the socket */
    uint64_t msgs_received; /* messages handed to recv */
    uint64_t msgs_dropped;  /* sends dropped: not connected, queue full, too big, closed */
    uint64_t frames_sent;   /* frames of messages written (one uv_write each) */
    uint64_t bytes_sent;    /* frame bytes written, headers included */
    uint64_t bytes_received;
    uint64_t connects;    /* handshakes completed */
    uint64_t reconnects;  /* handshakes completed after the first */
    uint64_t chunks_sent; /* snapshot chunks written */
    uint64_t chunks_received;
    uint64_t snapshots_sent;     /* completed, ok */
    uint64_t snapshots_received; /* handed to snapshot_received */
};

struct coord_transport_stats {
    uint64_t accepted;        /* connections accepted */
    uint64_t refused;         /* connections closed for a bad or missing handshake */
    uint64_t protocol_errors; /* established connections closed for bad frames */
    size_t n_peers;           /* peers in the address book (entries of peers below) */
};

struct coord_transport;

typedef void (*coord_transport_close_cb)(void *arg);

/* Fill *opts with the defaults above; id, listen_address and snapshot_dir
 * are left NULL / 0 for the caller. */
void coord_transport_opts_default(struct coord_transport_opts *opts);

/* Bind and listen on opts->listen_address. The address book starts empty
 * (coord_transport_set_peers()). loop is borrowed until the close callback;
 * opts and cbs are copied (the strings too). *out returns owned: release
 * with coord_transport_close(). On error nothing is returned and nothing is
 * left to free, but handles created before the failure close on the next
 * loop iteration: run the loop before uv_loop_close(). Loop thread.
 * Errors: RAFT_EINVAL (id 0, missing callbacks, bad limits), RAFT_ECONFIG
 * (address unparsable, unresolvable or not available), RAFT_EBUSY (address
 * in use), RAFT_EIO (other socket errors), RAFT_ENOMEM. */
int coord_transport_new(uv_loop_t *loop, const struct coord_transport_opts *opts,
                        const struct coord_transport_cbs *cbs, struct coord_transport **out);

/* The port the listener is bound to (useful after port 0). Loop thread. */
int coord_transport_port(const struct coord_transport *t);

/* Make the address book the servers of conf (borrowed) other than this
 * node. New peers with a higher id are dialed at once; peers no longer in
 * conf are disconnected (a snapshot to them reports ok=false); a peer whose
 * address changed is redialed there. Loop thread.
 * Errors: RAFT_EINVAL (a server with id 0, ids not sorted, an address
 * without its NUL), RAFT_ESHUTDOWN (closing), RAFT_ENOMEM (the book is
 * unchanged: call again). */
int coord_transport_set_peers(struct coord_transport *t, const struct raft_conf *conf);

/* Queue m (borrowed: encoded before returning) for m->to. Messages queued for
 * one peer within one loop iteration leave in one frame and one write, at the
 * end of the iteration. Never blocks. A dropped message is counted in the
 * peer's msgs_dropped. Loop thread.
 * Errors: RAFT_EINVAL (malformed, or RAFT_MSG_SNAPSHOT: use
 * coord_transport_send_snapshot()), RAFT_ENOTFOUND (m->to not in the address
 * book), RAFT_ENOCONN (no established connection: dropped), RAFT_EBUSY (the
 * peer's queue is over max_queue: dropped), RAFT_ETOOBIG (larger than a
 * frame: dropped), RAFT_ESHUTDOWN (closing), RAFT_ENOMEM (dropped). */
int coord_transport_send(struct coord_transport *t, const struct raft_msg *m);

/* Stream the file at path (borrowed) to m->to as snapshot chunks,
 * interleaved with its other traffic, the next chunk only once the previous
 * one is written; m (RAFT_MSG_SNAPSHOT, borrowed) rides in the last chunk.
 * On success snapshot_sent(m->to, ok) follows exactly once, later; on error
 * it does not (the caller reports the failure to Raft itself). Loop thread.
 * A file that cannot be opened or read is reported through snapshot_sent
 * (ok=false), logged once.
 * Errors: RAFT_EINVAL (not a well-formed RAFT_MSG_SNAPSHOT, path NULL or too
 * long), RAFT_ENOTFOUND (m->to not in the address book), RAFT_ENOCONN (not
 * connected), RAFT_EBUSY (a snapshot to that peer is still in flight),
 * RAFT_ESHUTDOWN, RAFT_ENOMEM, RAFT_EIO (the file request could not even be
 * queued). */
int coord_transport_send_snapshot(struct coord_transport *t, const struct raft_msg *m,
                                  const char *path);

/* Fill *stats and, when peers is not NULL, up to n_peers entries of peers
 * (sorted by id); stats->n_peers says how many exist. Loop thread. */
void coord_transport_stats(const struct coord_transport *t, struct coord_transport_stats *stats,
                           struct coord_transport_peer_stats *peers, size_t n_peers);

/* Close every connection and handle, drop queued messages, delete partly
 * received snapshots; cb(arg) runs from the loop once t is freed (cb may be
 * NULL). No other callback runs from the moment of this call. Loop thread;
 * once only. */
void coord_transport_close(struct coord_transport *t, coord_transport_close_cb cb, void *arg);

#endif /* COORD_TRANSPORT_H */
