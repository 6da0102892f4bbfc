/* SPDX-License-Identifier: MIT */
/* client: libcoord, the C client library of coordd's client port
 * (proto/coord.proto). Two faces over one implementation:
 *   - asynchronous, on the caller's libuv loop: coord_client_*;
 *   - synchronous, on a private loop: coord_sync_* (for CLIs and tests).
 * No generated protobuf type appears in this header.
 *
 * Endpoints and failover. A client is given "host:port,host:port,...". It
 * keeps one connection, to the first endpoint that answers (in order,
 * starting at opts.first), pipelining every request on it. When that
 * connection fails it moves to the next endpoint. A request whose answer is
 * RAFT_ENOTLEADER carries the leader's client address: the client then
 * prefers that endpoint. Retries are safe ones only: a read, or a write that
 * provably never left (not written to any socket, or refused with
 * RAFT_ENOTLEADER / RAFT_ELEADERLESS / RAFT_ESHUTDOWN before it was
 * proposed). A write whose connection broke after it was sent fails with
 * RAFT_ENOCONN: its outcome is unknown. With opts.pin the client never
 * leaves its first endpoint (benchmarks: connection j goes to node j). */
#ifndef COORD_CLIENT_CLIENT_H
#define COORD_CLIENT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define COORD_CLIENT_MAX_ENDPOINTS 64

struct coord_client_opts {
    const char *endpoints;       /* "host:port[,host:port...]", borrowed (copied) */
    uint32_t first;              /* index of the endpoint tried first; default 0 */
    bool pin;                    /* never fail over from endpoint `first` */
    uint32_t timeout_ms;         /* per request, sent to the node too; default 5000 */
    uint32_t connect_timeout_ms; /* per connection attempt; default 2000 */
    size_t max_frame;            /* largest response frame accepted; default 64 MiB */
    size_t max_inflight;         /* requests queued or sent and not answered; default 65536 */
};

/* One key as the store holds it. Returns view (see struct coord_result). */
struct coord_client_kv {
    const uint8_t *key;
    size_t key_len;
    const uint8_t *value;
    size_t value_len;
    uint64_t create_revision;
    uint64_t mod_revision;
    uint64_t version;
    uint64_t session;
};

struct coord_client_member {
    uint64_t id;
    bool voter;
    const char *peer_addr;
    const char *client_addr; /* "" when the node does not know it */
    uint64_t match_index;    /* only in a leader's answer */
};

/* One node's own view (the answer to coord_client_status()). */
struct coord_client_status {
    uint64_t id;
    const char *role; /* "leader", "follower", "candidate", "precandidate", "learner" */
    uint64_t term;
    uint64_t leader_id; /* 0 when unknown */
    uint64_t commit_index;
    uint64_t applied_index;
    uint64_t last_index;
    uint64_t revision;
    const struct coord_client_member *members;
    size_t n_members;
};

/* The answer to one request. Everything it points to returns view: valid
 * during the callback (async) or until the next coord_sync_* call on the
 * same handle (sync). */
struct coord_result {
    int status;              /* 0 or a negative RAFT_E* code (raft/base/err.h) */
    const char *message;     /* readable detail of a failure ("" when none) */
    uint64_t leader_id;      /* with RAFT_ENOTLEADER: who leads, 0 if unknown */
    const char *leader_addr; /* with RAFT_ENOTLEADER: its client address, or "" */
    uint64_t revision;       /* the store revision the answer reflects */
    uint64_t applied_index;
    const struct coord_client_kv *kvs; /* get/range: found keys; put/del with prev_kv */
    size_t n_kvs;
    bool more;                                     /* range cut short by its limit */
    uint64_t deleted;                              /* del: keys deleted */
    const struct coord_client_status *node_status; /* status: the node's view, else NULL */
    const char *endpoint;                          /* the endpoint that answered (or last tried) */
};

typedef void (*coord_client_cb)(void *arg, const struct coord_result *res);
typedef void (*coord_client_close_cb)(void *arg);

/* Flags of reads and writes. */
#define COORD_SERIALIZABLE 0x1u /* reads: served from the node's applied state */
#define COORD_PREV_KV      0x2u /* put/del: return the previous key(s) */
#define COORD_NO_FORWARD   0x4u /* writes: a follower answers ENOTLEADER, not forwards */

/* Membership operations (the values of raft/raft.h enum raft_conf_op). */
enum coord_member_op {
    COORD_MEMBER_ADD_LEARNER = 1,
    COORD_MEMBER_PROMOTE = 2,
    COORD_MEMBER_DEMOTE = 3,
    COORD_MEMBER_REMOVE = 4,
};

struct coord_client;

/* Fill opts with the defaults (endpoints NULL). */
void coord_client_opts_default(struct coord_client_opts *opts);

/* Create a client on loop (borrowed until the close callback). It connects
 * lazily, on the first request. While no request is outstanding it keeps
 * no handle of loop active (an open connection is unreferenced), so
 * uv_run(loop, UV_RUN_DEFAULT) returns once every request is answered.
 * Zeros in opts (timeout_ms, connect_timeout_ms, max_frame, max_inflight)
 * mean the defaults. *out returns owned: coord_client_close(). Sets
 * SIGPIPE to ignored when it is at its default action (a write to a
 * connection the server closed would otherwise kill the process); a
 * disposition the program set is left alone: then ignore it yourself.
 * Errors: RAFT_EINVAL (no endpoint, an endpoint not host:port, more than
 * COORD_CLIENT_MAX_ENDPOINTS, opts.first not below the number of endpoints),
 * RAFT_ENOMEM. Loop thread. */
int coord_client_new(uv_loop_t *loop, const struct coord_client_opts *opts,
                     struct coord_client **out);

/* Fail every request not yet answered with RAFT_ECANCELED (their callbacks
 * run inside this call; requests they submit fail with RAFT_ESHUTDOWN),
 * close the connection; cb(arg) runs once c is freed (cb may be NULL).
 * Call it once. Loop thread. */
void coord_client_close(struct coord_client *c, coord_client_close_cb cb, void *arg);

/* Requests. Each returns 0 and calls cb exactly once later (never from
 * inside the call), or returns an error and never calls cb. Key, value and
 * range_end are borrowed (copied before returning). range_end NULL (or
 * len 0): only key; "\0": every key >= key; else [key, range_end).
 * Errors: RAFT_EINVAL (empty key, bad flags), RAFT_ETOOBIG (over the limits
 * of coord/cmd.h), RAFT_EBUSY (max_inflight reached), RAFT_ESHUTDOWN
 * (closing), RAFT_ENOMEM. cb may report any RAFT_E* code the node sends,
 * and RAFT_ETIMEDOUT, RAFT_ENOCONN (no endpoint reachable, or the outcome
 * of a sent write is unknown), RAFT_ECANCELED (closed), and for every
 * request on a connection that had to be dropped: RAFT_ETOOBIG (an answer
 * over opts.max_frame), RAFT_EPROTO (a malformed answer), RAFT_ENOMEM.
 * Loop thread. */
int coord_client_put(struct coord_client *c, const void *key, size_t key_len, const void *value,
                     size_t value_len, unsigned flags, coord_client_cb cb, void *arg);
int coord_client_get(struct coord_client *c, const void *key, size_t key_len, unsigned flags,
                     coord_client_cb cb, void *arg);
int coord_client_range(struct coord_client *c, const void *key, size_t key_len,
                       const void *range_end, size_t range_end_len, uint64_t limit, unsigned flags,
                       coord_client_cb cb, void *arg);
int coord_client_del(struct coord_client *c, const void *key, size_t key_len, const void *range_end,
                     size_t range_end_len, unsigned flags, coord_client_cb cb, void *arg);
/* The status of the node the client is connected to (not forwarded). */
int coord_client_status(struct coord_client *c, coord_client_cb cb, void *arg);
/* Forwarded to the leader. peer_addr and client_addr: ADD_LEARNER only
 * (ignored otherwise; client_addr may be NULL). Also RAFT_EINVAL: op not an
 * enum coord_member_op, id 0, ADD_LEARNER without peer_addr; RAFT_ETOOBIG:
 * an address of 128 bytes or more (RAFT_ADDR_MAX, raft/raft.h). */
int coord_client_member(struct coord_client *c, enum coord_member_op op, uint64_t id,
                        const char *peer_addr, const char *client_addr, coord_client_cb cb,
                        void *arg);
/* Forwarded to the leader; to = 0: the most up-to-date voter. */
int coord_client_transfer(struct coord_client *c, uint64_t to, coord_client_cb cb, void *arg);

/* The synchronous face: one private loop and client per handle; each call
 * blocks until the answer (or opts.timeout_ms plus the connect time).
 * Not thread-safe: one thread at a time per handle. */
struct coord_sync;

/* Errors: those of coord_client_new(), RAFT_EIO (loop creation failed). */
int coord_sync_open(const struct coord_client_opts *opts, struct coord_sync **out);
/* Release s; NULL is a no-op. */
void coord_sync_close(struct coord_sync *s);

/* Each returns res->status (also filled into *res, which returns view
 * until the next call on s). */
int coord_sync_put(struct coord_sync *s, const void *key, size_t key_len, const void *value,
                   size_t value_len, unsigned flags, struct coord_result *res);
int coord_sync_get(struct coord_sync *s, const void *key, size_t key_len, unsigned flags,
                   struct coord_result *res);
int coord_sync_range(struct coord_sync *s, const void *key, size_t key_len, const void *range_end,
                     size_t range_end_len, uint64_t limit, unsigned flags,
                     struct coord_result *res);
int coord_sync_del(struct coord_sync *s, const void *key, size_t key_len, const void *range_end,
                   size_t range_end_len, unsigned flags, struct coord_result *res);
int coord_sync_status(struct coord_sync *s, struct coord_result *res);
int coord_sync_member(struct coord_sync *s, enum coord_member_op op, uint64_t id,
                      const char *peer_addr, const char *client_addr, struct coord_result *res);
int coord_sync_transfer(struct coord_sync *s, uint64_t to, struct coord_result *res);

#endif /* COORD_CLIENT_CLIENT_H */
