/* SPDX-License-Identifier: MIT */
/* transport: peer connections, handshake, batching, bounded queues, redial
 * with backoff, and snapshot streams to and from files, all on the loop
 * thread. Translates libuv codes into RAFT_E* at its boundary and logs them
 * once, here. */

/* Design notes
 * ============
 *
 * One connection per pair of nodes; the lower id dials. A connection:
 *
 *              peer_dial()                      on_connect(): send Hello
 *   (dialer) -------------> CONNECTING ------------------------------+
 *                             | (resolve, connect)                    v
 *   (acceptor) on_connection() ----------------------------------> HELLO
 *                                                                     |
 *             on_hello(): Hello checked (the acceptor answers with    |
 *             its own Hello; the dialer checks the answer)            v
 *                                                                  ACTIVE
 *   any state --conn_close(): EOF, error, bad frame, refused Hello,    |
 *               handshake timeout (on_timer), silence for             |
 *               idle_timeout_ms (conn_tick), peer removed, replaced   |
 *               by a newer connection, transport closing ----------> CLOSING
 *   CLOSING --on_conn_closed(): pending writes cancelled, snapshot
 *               streams ended, peer_state(false), redial scheduled --> freed
 *
 * A dialer's peer: connected (conn ACTIVE) -> conn closed -> redial_at set
 * (backoff, doubling, jittered) -> on_timer() -> peer_dial() -> ...
 *
 * ACTIVE connections that wrote nothing for idle_timeout_ms / 4 send a
 * keepalive (conn_tick()), so silence means a dead path, not a quiet pair.
 *
 * Sending: coord_transport_send() encodes into the connection's batch at
 * once; the prepare and check handles (armed by the first send of an
 * iteration) write each batch as one frame with one uv_write, at the end of
 * the loop phase that sent it. Snapshot chunks go out as frames of their
 * own, the next one read from the file only when the previous one is
 * written, so normal traffic interleaves. Received chunks queue as decoded
 * frames for the disk; reading pauses while too many wait.
 *
 * Invariants (check() asserts them in debug builds after each mutation):
 * 1. A peer has at most one connection, p->conn, and p->conn->peer == p;
 *    p->conn is never CLOSING.
 * 2. A connection with peer == NULL is an accepted one still in HELLO
 *    (counted in n_pending, at most MAX_PENDING) or a CLOSING one.
 * 3. Only ACTIVE connections hold batched messages or snapshot streams.
 * 4. c->tx->c == c and c->rx->c == c; a complete rx is detached from its
 *    connection and finishes on its own.
 * 5. busy counts open handles, file and DNS requests in flight and live
 *    snapshot streams; t is freed when it is closing and busy reaches 0.
 * 6. No callback of the caller runs from inside a coord_transport_* call
 *    or once closing is set.
 * 7. Peers are sorted by id, unique, never this node.
 * 8. peer_state reports alternate per peer id: p->up says which was last;
 *    a closing connection reports "down" only when no ACTIVE one replaced
 *    it, and a removed peer's "down" is owed by exactly one of its
 *    connections (peer epochs tell a re-added peer from the removed one).
 *
 * A duplicate connection (the acceptor gets a Hello from a peer it already
 * has a connection with) replaces the older one, which is closed with a WARN
 * line: the dialer keeps one connection and dials only without one, so the
 * older one is dead on the dialer's side, and keeping it would stall the
 * pair until TCP keepalive noticed. An impostor with a stolen id would make
 * the two flap, loudly; mutual TLS on the peer port is the real answer.
 */
#include "coord/transport.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coord/addr.h"
#include "coord/codec_peer.h"
#include "coord/frame.h"
#include "coord/log.h"
#include "coord/uverr.h"
#include "raft/base/alloc.h"
#include "raft/base/assert.h"
#include "raft/base/rand.h"

#define DEFAULT_MAX_FRAME        (64u << 20)
#define DEFAULT_MAX_QUEUE        (64u << 20)
#define DEFAULT_BACKOFF_MIN_MS   50u
#define DEFAULT_BACKOFF_MAX_MS   2000u
#define DEFAULT_HELLO_TIMEOUT_MS 5000u
#define DEFAULT_IDLE_TIMEOUT_MS  5000u
#define DEFAULT_SNAPSHOT_CHUNK   (1u << 20)
#define DEFAULT_MAX_SNAPSHOT     (64ull << 30)
#define READ_BUF_LEN             (64u << 10) /* bytes per read */
#define MAX_PENDING              64u         /* accepted connections still in handshake */
#define BATCH_FLUSH_LEN          (4u << 20)  /* a batch this large is written at once */
#define RX_QUEUE_MAX             4u          /* chunks waiting for the disk; reading pauses */
#define KEEPALIVE_S              10u         /* TCP keepalive idle time */
#define LISTEN_BACKLOG           128
#define PATH_LEN_MAX             4096u

enum conn_state {
    CONN_CONNECTING, /* dialer: resolving the address or connecting */
    CONN_HELLO,      /* open; waiting for the other side's Hello */
    CONN_ACTIVE,     /* handshake done: PeerFrames flow both ways */
    CONN_CLOSING,    /* uv_close() called; freed in on_conn_closed() */
};

/* What a received snapshot stream does next (rx_pump()). */
enum rx_stage {
    RX_OPEN,      /* create the temporary file */
    RX_WRITE,     /* write queued chunks; wait for more */
    RX_SYNC,      /* fsync the file */
    RX_CLOSE,     /* close it */
    RX_RENAME,    /* give it its final name */
    RX_DIR_OPEN,  /* fsync the directory: open, */
    RX_DIR_SYNC,  /* sync, */
    RX_DIR_CLOSE, /* close */
    RX_DELIVER,   /* hand it to snapshot_received */
};

struct conn;

struct peer {
    raft_id id;
    char address[RAFT_ADDR_MAX];
    struct conn *conn;   /* the one connection (invariant 1), or NULL */
    uint64_t redial_at;  /* uv_now() ms of the next dial; 0: none scheduled */
    uint32_t backoff_ms; /* the next redial delay before jitter */
    bool up;             /* peer_state(connected) reported, (false) not yet */
    uint64_t epoch;      /* tells this peer from an earlier one with the same id */
    uint32_t n_dials;    /* dial attempts: picks which resolved address to try */
    struct coord_transport_peer_stats stats;
};

struct wreq {
    uv_write_t req;
    struct conn *c;
    struct raft_buf buf; /* owned: the whole frame */
    size_t n_msgs;       /* messages in the frame; 0 for a hello or a chunk */
    bool chunk;          /* a chunk of c->tx */
};

struct rx_chunk {
    struct rx_chunk *next;
    struct coord_peer_frame frame; /* owned: its chunk data waits for the disk */
};

/* A snapshot being sent. Lives until snapshot_sent is reported. */
struct snap_tx {
    struct coord_transport *t;
    struct conn *c; /* NULL once the connection closed */
    raft_id to;
    struct raft_msg msg; /* copy of the caller's; snapshot points to meta */
    struct raft_snapshot_meta meta;
    char *path;       /* owned */
    uv_fs_t req;      /* the one file operation in flight */
    bool fs_busy;     /* req is in flight */
    uv_file fd;       /* -1 when not open */
    uint64_t total;   /* bytes of the file */
    uint64_t offset;  /* bytes already written to the socket */
    size_t chunk_len; /* bytes of the chunk being read or written */
    uint8_t *buf;     /* owned, opts.snapshot_chunk bytes */
};

/* A snapshot being received. Lives until delivered or deleted. */
struct snap_rx {
    struct coord_transport *t;
    struct conn *c; /* NULL once complete or once the connection closed */
    raft_id from;
    raft_index index;
    uint64_t total;    /* bytes announced */
    uint64_t received; /* bytes of the chunks accepted so far */
    enum rx_stage stage;
    bool complete;  /* the last chunk arrived */
    bool aborted;   /* delete and free when no file operation is in flight */
    bool delivered; /* the file was handed to snapshot_received */
    bool fs_busy;
    uv_fs_t req;
    uv_file fd;            /* the temporary file, -1 when not open */
    uv_file dir_fd;        /* the directory while it is synced, else -1 */
    char *tmp_path;        /* owned */
    char *path;            /* owned: the final name */
    struct rx_chunk *head; /* chunks waiting for the disk, in offset order */
    struct rx_chunk *tail;
    size_t n_queued;
    size_t head_off;              /* bytes of head's data already written */
    struct coord_peer_frame last; /* the last chunk's frame, holding the message */
};

struct conn {
    struct coord_transport *t;
    struct conn *prev; /* t->conns */
    struct conn *next;
    struct peer *peer; /* see invariants 1 and 2 */
    raft_id peer_id;   /* once known; kept for logs after peer is gone */
    uint64_t epoch;    /* the peer's epoch once bound to it (dialed or activated) */
    enum conn_state state;
    bool dialed;         /* we dialed (peer has the higher id) */
    bool pending;        /* accepted, counted in t->n_pending */
    bool resolving;      /* gai in flight: free only after its callback */
    bool tcp_open;       /* uv_tcp_init() done: close before freeing */
    bool read_paused;    /* reading stopped while received chunks wait for the disk */
    bool was_active;     /* reached ACTIVE: its close may owe peer_state(false) */
    uint64_t deadline;   /* uv_now() ms by which the handshake must be done; 0: none */
    uint64_t last_read;  /* uv_now() ms of the last bytes read (ACTIVE) */
    uint64_t last_write; /* uv_now() ms of the last frame queued (ACTIVE) */
    char address[RAFT_ADDR_MAX];
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_getaddrinfo_t gai;
    struct coord_frame_reader reader;
    uint8_t *rbuf;                 /* owned, READ_BUF_LEN bytes */
    struct coord_peer_batch batch; /* messages of this iteration */
    size_t inflight;               /* bytes in uv_write requests not yet completed */
    struct snap_tx *tx;
    struct snap_rx *rx;
};

struct coord_transport {
    uv_loop_t *loop; /* borrowed */
    struct coord_transport_opts opts;
    char *listen_address; /* owned copies of the opts strings */
    char *snapshot_dir;
    struct coord_transport_cbs cbs;
    uv_tcp_t listener;
    uv_timer_t timer;     /* redials and handshake deadlines */
    uv_prepare_t prepare; /* flush batches before the loop blocks */
    uv_check_t check;     /* flush batches sent from I/O callbacks */
    int port;
    struct raft_rand rand;                /* backoff jitter */
    struct peer *peers[RAFT_MAX_SERVERS]; /* owned, n_peers of them, sorted (invariant 7) */
    size_t n_peers;
    struct conn *conns;  /* every connection not yet freed */
    size_t n_pending;    /* accepted connections without a peer yet */
    uint64_t epochs;     /* the last peer epoch handed out */
    bool flush_armed;    /* prepare and check are started */
    bool accept_stalled; /* an accept failed for memory: the timer retries it */
    bool closing;
    unsigned busy; /* invariant 5 */
    coord_transport_close_cb close_cb;
    void *close_arg;
    struct coord_transport_stats stats;
};

static void conn_close(struct conn *c);
static void tx_finish(struct snap_tx *tx, bool ok);
static void rx_abort(struct snap_rx *rx);
static void rx_pump(struct snap_rx *rx);
static void peer_dial(struct coord_transport *t, struct peer *p);
static void arm_timer(struct coord_transport *t);

typedef unsigned long long ull; /* for printf */

/* ---- errors, checks, lifetime ----------------------------------------------------------- */

#ifndef NDEBUG
static bool check(const struct coord_transport *t)
{
    const struct conn *c;
    size_t n_pending = 0;
    size_t i;

    for (i = 0; i < t->n_peers; i++) {
        const struct peer *p = t->peers[i];

        RAFT_ASSERT(p->id != t->opts.id && (i == 0 || t->peers[i - 1]->id < p->id));
        RAFT_ASSERT(p->conn == NULL || (p->conn->peer == p && p->conn->state != CONN_CLOSING));
    }
    for (c = t->conns; c != NULL; c = c->next) {
        RAFT_ASSERT(c->peer == NULL || c->peer->conn == c);
        RAFT_ASSERT(c->peer != NULL || c->pending || c->state == CONN_CLOSING);
        RAFT_ASSERT(c->state == CONN_ACTIVE || (c->batch.n_msgs == 0 && c->tx == NULL));
        RAFT_ASSERT(c->tx == NULL || c->tx->c == c);
        RAFT_ASSERT(c->rx == NULL || (c->rx->c == c && !c->rx->complete));
        n_pending += c->pending ? 1 : 0;
    }
    RAFT_ASSERT(n_pending == t->n_pending && n_pending <= MAX_PENDING);
    return true;
}
#endif

static void destroy(struct coord_transport *t)
{
    coord_transport_close_cb cb = t->close_cb;
    void *arg = t->close_arg;
    size_t i;

    RAFT_ASSERT(t->closing && t->busy == 0 && t->conns == NULL);
    for (i = 0; i < t->n_peers; i++) {
        raft_free(t->peers[i]);
    }
    raft_free(t->listen_address);
    raft_free(t->snapshot_dir);
    raft_free(t);
    if (cb != NULL) {
        cb(arg);
    }
}

static void busy_dec(struct coord_transport *t)
{
    RAFT_ASSERT(t->busy > 0);
    t->busy--;
    if (t->closing && t->busy == 0) {
        destroy(t);
    }
}

static void on_handle_closed(uv_handle_t *h)
{
    busy_dec(h->data);
}

static struct peer *find_peer(const struct coord_transport *t, raft_id id)
{
    size_t i;

    for (i = 0; i < t->n_peers; i++) {
        if (t->peers[i]->id == id) {
            return t->peers[i];
        }
    }
    return NULL;
}

/* ---- addresses -------------------------------------------------------------------------- */

static void format_sockaddr(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    char ip[64] = "?";
    int port = 0;

    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

        uv_ip4_name(sin, ip, sizeof ip);
        port = ntohs(sin->sin_port);
        (void)snprintf(out, cap, "%s:%d", ip, port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

        uv_ip6_name(sin6, ip, sizeof ip);
        port = ntohs(sin6->sin6_port);
        (void)snprintf(out, cap, "[%s]:%d", ip, port);
    } else {
        (void)snprintf(out, cap, "?");
    }
}

/* ---- connections: creation, teardown ---------------------------------------------------- */

static struct conn *conn_new(struct coord_transport *t)
{
    struct conn *c = raft_calloc(1, sizeof *c);

    if (c == NULL) {
        return NULL;
    }
    c->rbuf = raft_malloc(READ_BUF_LEN);
    if (c->rbuf == NULL) {
        raft_free(c);
        return NULL;
    }
    c->t = t;
    c->deadline = uv_now(t->loop) + t->opts.hello_timeout_ms;
    coord_frame_reader_init(&c->reader, COORD_PEER_HELLO_MAX);
    coord_codec_peer_batch_init(&c->batch, t->opts.max_frame);
    RAFT_ASSERT(uv_tcp_init(t->loop, &c->tcp) == 0); /* AF_UNSPEC: no socket yet, cannot fail */
    c->tcp.data = c;
    c->tcp_open = true;
    c->next = t->conns;
    if (t->conns != NULL) {
        t->conns->prev = c;
    }
    t->conns = c;
    t->busy++;
    return c;
}

static void conn_free(struct conn *c)
{
    struct coord_transport *t = c->t;

    RAFT_ASSERT(c->state == CONN_CLOSING && !c->tcp_open && !c->resolving);
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        t->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    coord_frame_reader_close(&c->reader);
    coord_codec_peer_batch_close(&c->batch);
    raft_free(c->rbuf);
    raft_free(c);
    busy_dec(t);
}

/* The connection is gone: end its snapshot streams and report the peer
 * down unless a newer connection already took over. */
static void on_conn_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    struct coord_transport *t = c->t;
    struct peer *p = find_peer(t, c->peer_id);

    c->tcp_open = false;
    if (p != NULL && p->epoch != c->epoch) {
        p = NULL; /* removed, and a new peer with that id added since */
    }
    if (c->tx != NULL) {
        struct snap_tx *tx = c->tx;

        c->tx = NULL;
        tx->c = NULL;
        if (!tx->fs_busy) {
            tx_finish(tx, false);
        }
    }
    if (c->was_active && p != NULL && p->up && (p->conn == NULL || p->conn->state != CONN_ACTIVE)) {
        p->up = false;
        if (!t->closing && t->cbs.peer_state != NULL) {
            t->cbs.peer_state(t->cbs.arg, c->peer_id, false);
        }
    } else if (c->was_active && p == NULL && !t->closing && t->cbs.peer_state != NULL) {
        t->cbs.peer_state(t->cbs.arg, c->peer_id, false); /* removed from the book */
    }
    if (!c->resolving) {
        conn_free(c);
    }
}

static void schedule_redial(struct coord_transport *t, struct peer *p)
{
    uint32_t b = p->backoff_ms;
    uint64_t delay = b / 2 + raft_rand_below(&t->rand, b / 2 + 1);

    p->redial_at = uv_now(t->loop) + delay;
    p->backoff_ms = b * 2 < t->opts.backoff_max_ms ? b * 2 : t->opts.backoff_max_ms;
    arm_timer(t);
}

/* Start closing c, from any state but CLOSING. Never calls the caller's
 * callbacks (those run from on_conn_closed()). */
static void conn_close(struct conn *c)
{
    struct coord_transport *t = c->t;
    struct peer *p = c->peer;

    if (c->state == CONN_CLOSING) {
        return;
    }
    c->state = CONN_CLOSING;
    c->deadline = 0;
    if (c->pending) {
        c->pending = false;
        t->n_pending--;
    }
    if (p != NULL) {
        p->stats.msgs_dropped += c->batch.n_msgs;
        p->conn = NULL;
        c->peer = NULL;
        if (c->dialed && !t->closing) {
            schedule_redial(t, p);
        }
    }
    coord_codec_peer_batch_close(&c->batch);
    if (c->rx != NULL) {
        struct snap_rx *rx = c->rx;

        c->rx = NULL;
        rx->c = NULL;
        rx_abort(rx);
    }
    if (c->resolving) {
        uv_cancel((uv_req_t *)&c->gai); /* may fail when already running: the callback copes */
    }
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

/* A protocol violation or refused handshake: one WARN line, then close. */
static void conn_fail(struct conn *c, const char *what, const char *reason, int err)
{
    COORD_LOG(WARN, "peer %s id=%llu address=%s reason=%s err=%s", what, (ull)c->peer_id,
              c->address, reason, raft_err_name(err));
    if (c->state == CONN_ACTIVE) {
        c->t->stats.protocol_errors++;
    } else {
        c->t->stats.refused++;
    }
    conn_close(c);
}

/* EOF or a socket error. */
static void conn_lost(struct conn *c, int uv_err)
{
    if (c->state == CONN_ACTIVE) {
        COORD_LOG(INFO, "peer disconnected id=%llu address=%s err=%s detail=\"%s\"",
                  (ull)c->peer_id, c->address, raft_err_name(coord_uv_err(uv_err)),
                  uv_strerror(uv_err));
    } else {
        COORD_LOG(DEBUG, "peer connection lost id=%llu address=%s detail=\"%s\"", (ull)c->peer_id,
                  c->address, uv_strerror(uv_err));
    }
    conn_close(c);
}

/* ---- writing and batching --------------------------------------------------------------- */

static void tx_written(struct snap_tx *tx);

static void on_write(uv_write_t *req, int status)
{
    struct wreq *w = req->data;
    struct conn *c = w->c;
    struct peer *p = find_peer(c->t, c->peer_id);
    bool chunk = w->chunk;

    c->inflight -= w->buf.len;
    if (p != NULL && status == 0) {
        p->stats.msgs_sent += w->n_msgs;
        p->stats.frames_sent += w->n_msgs > 0 ? 1 : 0;
        p->stats.bytes_sent += w->buf.len;
    } else if (p != NULL) {
        p->stats.msgs_dropped += w->n_msgs;
    }
    raft_free(w->buf.base);
    raft_free(w);
    if (status != 0 && c->state != CONN_CLOSING) {
        conn_lost(c, status);
    }
    if (chunk && c->tx != NULL) {
        if (status == 0) {
            tx_written(c->tx);
        } else {
            tx_finish(c->tx, false);
        }
    }
}

/* Write frame (takes it) to c. On failure the frame is freed, its messages
 * counted as dropped, and c closed unless the failure was ENOMEM. */
static int conn_write(struct conn *c, struct raft_buf frame, size_t n_msgs, bool chunk)
{
    struct wreq *w = raft_malloc(sizeof *w);
    struct peer *p = find_peer(c->t, c->peer_id);
    uv_buf_t buf;
    int rv;

    RAFT_ASSERT(frame.len <= UINT32_MAX);
    if (w == NULL) {
        rv = RAFT_ENOMEM;
        goto err_after_frame;
    }
    w->req.data = w;
    w->c = c;
    w->buf = frame;
    w->n_msgs = n_msgs;
    w->chunk = chunk;
    buf = uv_buf_init(frame.base, (unsigned)frame.len);
    rv = uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_write);
    if (rv != 0) {
        raft_free(w);
        conn_lost(c, rv);
        rv = coord_uv_err(rv);
        goto err_after_frame;
    }
    c->inflight += frame.len;
    c->last_write = uv_now(c->t->loop);
    return 0;

err_after_frame:
    raft_free(frame.base);
    if (p != NULL) {
        p->stats.msgs_dropped += n_msgs;
    }
    return rv;
}

static void conn_flush(struct conn *c)
{
    struct raft_buf frame;
    size_t n = c->batch.n_msgs;

    if (n == 0) {
        return;
    }
    coord_codec_peer_batch_take(&c->batch, &frame);
    conn_write(c, frame, n, false); /* a failure is counted and logged inside */
}

static void flush_all(struct coord_transport *t)
{
    struct conn *c;

    t->flush_armed = false;
    uv_prepare_stop(&t->prepare);
    uv_check_stop(&t->check);
    for (c = t->conns; c != NULL; c = c->next) {
        if (c->state == CONN_ACTIVE) {
            conn_flush(c);
        }
    }
    RAFT_DASSERT(check(t));
}

static void on_prepare(uv_prepare_t *h)
{
    flush_all(h->data);
}

static void on_check(uv_check_t *h)
{
    flush_all(h->data);
}

static void arm_flush(struct coord_transport *t)
{
    if (!t->flush_armed) {
        uv_prepare_start(&t->prepare, on_prepare);
        uv_check_start(&t->check, on_check);
        t->flush_armed = true;
    }
}

static int send_hello(struct conn *c)
{
    struct coord_transport *t = c->t;
    struct coord_peer_hello h = {COORD_PEER_VERSION, t->opts.cluster_id, t->opts.id, c->peer_id};
    struct raft_buf frame;
    int rv = coord_codec_peer_encode_hello(&h, &frame);

    if (rv != 0) {
        return rv;
    }
    return conn_write(c, frame, 0, false);
}

/* ---- the handshake ---------------------------------------------------------------------- */

/* Why the Hello in f is refused (written to why), or NULL when it is fine. */
static const char *hello_refusal(const struct conn *c, const struct coord_peer_frame *f, char *why,
                                 size_t cap)
{
    const struct coord_transport *t = c->t;
    const struct coord_peer_hello *h = &f->hello;

    if (!f->has_hello) {
        return "no_hello";
    }
    if (h->version != COORD_PEER_VERSION) {
        (void)snprintf(why, cap, "version theirs=%u ours=%u", h->version, COORD_PEER_VERSION);
    } else if (t->opts.cluster_id != 0 && h->cluster_id != 0 &&
               h->cluster_id != t->opts.cluster_id) {
        (void)snprintf(why, cap, "cluster_id theirs=%llu ours=%llu", (ull)h->cluster_id,
                       (ull)t->opts.cluster_id);
    } else if (h->to_id != 0 && h->to_id != t->opts.id) {
        (void)snprintf(why, cap, "addressed_to id=%llu", (ull)h->to_id);
    } else if (c->dialed && h->node_id != c->peer_id) {
        (void)snprintf(why, cap, "unexpected_id theirs=%llu", (ull)h->node_id);
    } else if (h->node_id == t->opts.id) {
        return "same_id";
    } else if (!c->dialed && find_peer(t, h->node_id) == NULL &&
               (!t->opts.accept_unknown || t->n_peers == RAFT_MAX_SERVERS)) {
        return "unknown_id";
    } else if (!c->dialed && h->node_id > t->opts.id) {
        return "wrong_direction"; /* the lower id dials */
    } else {
        return NULL;
    }
    return why;
}

/* The handshake of c is done: it becomes p's connection. */
static void activate(struct conn *c, struct peer *p)
{
    struct coord_transport *t = c->t;

    c->state = CONN_ACTIVE;
    c->deadline = 0;
    c->last_read = uv_now(t->loop);
    c->last_write = c->last_read;
    c->peer = p;
    c->peer_id = p->id;
    c->epoch = p->epoch;
    c->was_active = true;
    p->conn = c;
    p->redial_at = 0;
    p->backoff_ms = t->opts.backoff_min_ms;
    p->stats.connects++;
    p->stats.reconnects += p->stats.connects > 1 ? 1 : 0;
    coord_frame_reader_set_max(&c->reader, t->opts.max_frame);
    COORD_LOG(INFO, "peer connected id=%llu address=%s dir=%s", (ull)p->id, c->address,
              c->dialed ? "out" : "in");
    arm_timer(t);
    RAFT_DASSERT(check(t));
    if (!p->up) {
        p->up = true;
        if (t->cbs.peer_state != NULL) {
            t->cbs.peer_state(t->cbs.arg, p->id, true);
        }
    }
}

/* A peer not in the address book dialed us and opts.accept_unknown is set:
 * it joins the book (kept sorted, invariant 7) with no address. Its id is
 * below ours (hello_refusal()), so it is never dialed, only accepted. */
static struct peer *adopt_peer(struct coord_transport *t, raft_id id)
{
    struct peer *p = raft_calloc(1, sizeof *p);
    size_t i;

    if (p == NULL) {
        return NULL;
    }
    RAFT_ASSERT(t->n_peers < RAFT_MAX_SERVERS && id < t->opts.id);
    p->id = id;
    p->epoch = ++t->epochs;
    p->stats.id = id;
    p->backoff_ms = t->opts.backoff_min_ms;
    i = t->n_peers;
    while (i > 0 && t->peers[i - 1]->id > id) {
        t->peers[i] = t->peers[i - 1];
        i--;
    }
    t->peers[i] = p;
    t->n_peers++;
    COORD_LOG(INFO, "peer adopted id=%llu (not yet in the configuration)", (ull)id);
    return p;
}

static void on_hello(struct conn *c, const struct coord_peer_frame *f)
{
    struct coord_transport *t = c->t;
    struct peer *p;
    char why[96];
    const char *refusal;

    if (!c->dialed && f->has_hello) {
        c->peer_id = f->hello.node_id; /* claimed, for the log lines */
    }
    refusal = hello_refusal(c, f, why, sizeof why);
    if (refusal != NULL) {
        conn_fail(c, "handshake refused", refusal, RAFT_EPROTO);
        return;
    }
    if (c->dialed) {
        activate(c, c->peer);
        return;
    }
    p = find_peer(t, f->hello.node_id);
    if (p == NULL) {
        p = adopt_peer(t, f->hello.node_id);
        if (p == NULL) {
            conn_close(c);
            return;
        }
    }
    if (p->conn != NULL) {
        /* The dialer keeps one connection and dials only without one, so the
         * older connection is dead on its side: keeping it would stall the
         * pair until TCP noticed. The newer one wins. */
        COORD_LOG(WARN, "peer duplicate connection closed id=%llu address=%s newer=%s", (ull)p->id,
                  p->conn->address, c->address);
        t->stats.refused++;
        conn_close(p->conn);
    }
    if (send_hello(c) != 0) {
        conn_close(c);
        return;
    }
    c->pending = false;
    t->n_pending--;
    activate(c, p);
}

/* ---- reading ---------------------------------------------------------------------------- */

static void on_chunk(struct conn *c, struct coord_peer_frame *f);

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct conn *c = h->data;

    (void)suggested;
    buf->base = (char *)c->rbuf;
    buf->len = READ_BUF_LEN;
}

static void deliver(struct conn *c, const struct coord_peer_frame *f)
{
    struct coord_transport *t = c->t;
    size_t i;

    for (i = 0; i < f->n_msgs && c->state == CONN_ACTIVE; i++) {
        const struct raft_msg *m = &f->msgs[i];

        if (m->from != c->peer_id || m->to != t->opts.id) {
            conn_fail(c, "protocol error", "wrong_sender_or_receiver", RAFT_EPROTO);
            return;
        }
        c->peer->stats.msgs_received++;
        t->cbs.recv(t->cbs.arg, m); /* may close c, or t */
    }
}

static void on_frame(struct conn *c, const struct raft_buf *body)
{
    struct coord_peer_frame f;
    int rv = coord_codec_peer_decode(body, &f);

    if (rv != 0) {
        conn_fail(c, c->state == CONN_ACTIVE ? "protocol error" : "handshake refused",
                  rv == RAFT_ENOMEM ? "out_of_memory" : "malformed_frame", rv);
        return;
    }
    if (c->state != CONN_ACTIVE) {
        on_hello(c, &f);
        coord_codec_peer_frame_free(&f);
        return;
    }
    if (f.has_hello) {
        conn_fail(c, "protocol error", "hello_after_handshake", RAFT_EPROTO);
        coord_codec_peer_frame_free(&f);
        return;
    }
    deliver(c, &f);
    if (f.has_chunk && c->state == CONN_ACTIVE) {
        on_chunk(c, &f); /* takes f */
        return;
    }
    coord_codec_peer_frame_free(&f);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct conn *c = s->data;
    struct raft_buf in = {buf->base, n > 0 ? (size_t)n : 0};
    struct raft_buf body;
    int rv;

    if (n < 0 && c->state != CONN_CLOSING) {
        conn_lost(c, (int)n);
    }
    if (n <= 0 || c->state == CONN_CLOSING) {
        return;
    }
    c->last_read = uv_now(c->t->loop);
    if (c->peer != NULL) {
        c->peer->stats.bytes_received += (uint64_t)n;
    }
    while (c->state != CONN_CLOSING) {
        rv = coord_frame_reader_next(&c->reader, &in, &body);
        if (rv == 0) {
            break;
        }
        if (rv < 0) {
            conn_fail(c, c->state == CONN_ACTIVE ? "protocol error" : "handshake refused",
                      rv == RAFT_ETOOBIG ? "frame_too_large" : "out_of_memory", rv);
            break;
        }
        on_frame(c, &body);
    }
    RAFT_DASSERT(check(c->t));
}

/* The socket of c is connected: tune it and start reading. */
static int conn_open(struct conn *c)
{
    int rv;

    /* Raft messages are small and latency-bound; batching is ours to do. */
    uv_tcp_nodelay(&c->tcp, 1);
    uv_tcp_keepalive(&c->tcp, 1, KEEPALIVE_S);
    rv = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rv != 0) {
        conn_lost(c, rv);
        return coord_uv_err(rv);
    }
    c->state = CONN_HELLO;
    return 0;
}

/* ---- accepting -------------------------------------------------------------------------- */

static void accept_one(struct coord_transport *t)
{
    struct conn *c = conn_new(t);
    struct sockaddr_storage ss;
    int len = (int)sizeof ss;
    int rv;

    if (c == NULL) {
        /* libuv stops watching the listener until uv_accept() runs; the
         * timer retries shortly. */
        if (!t->accept_stalled) {
            COORD_LOG(WARN, "peer accept failed err=ENOMEM");
        }
        t->accept_stalled = true;
        arm_timer(t);
        return;
    }
    t->accept_stalled = false;
    c->state = CONN_HELLO;
    c->pending = true;
    t->n_pending++;
    rv = uv_accept((uv_stream_t *)&t->listener, (uv_stream_t *)&c->tcp);
    if (rv != 0) {
        COORD_LOG(WARN, "peer accept failed err=%s detail=\"%s\"", raft_err_name(coord_uv_err(rv)),
                  uv_strerror(rv));
        conn_close(c);
        return;
    }
    t->stats.accepted++;
    memset(&ss, 0, sizeof ss);
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        format_sockaddr(&ss, c->address, sizeof c->address);
    }
    if (t->n_pending > MAX_PENDING) {
        conn_fail(c, "handshake refused", "too_many_pending", RAFT_EBUSY);
        return;
    }
    if (conn_open(c) == 0) {
        arm_timer(t);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    struct coord_transport *t = server->data;

    if (status != 0) {
        COORD_LOG(WARN, "peer accept failed err=%s detail=\"%s\"",
                  raft_err_name(coord_uv_err(status)), uv_strerror(status));
        return;
    }
    if (!t->closing) {
        accept_one(t);
    }
    RAFT_DASSERT(t->closing || check(t));
}

/* ---- dialing ---------------------------------------------------------------------------- */

static void on_connect(uv_connect_t *req, int status)
{
    struct conn *c = req->data;

    if (c->state == CONN_CLOSING) {
        return;
    }
    if (status != 0) {
        COORD_LOG(DEBUG, "peer dial failed id=%llu address=%s detail=\"%s\"", (ull)c->peer_id,
                  c->address, uv_strerror(status));
        conn_close(c);
        return;
    }
    if (conn_open(c) == 0 && send_hello(c) != 0) {
        conn_close(c);
    }
    RAFT_DASSERT(check(c->t));
}

static void connect_to(struct conn *c, const struct sockaddr *sa)
{
    int rv;

    c->connect.data = c;
    rv = uv_tcp_connect(&c->connect, &c->tcp, sa, on_connect);
    if (rv != 0) {
        COORD_LOG(WARN, "peer dial failed id=%llu address=%s err=%s detail=\"%s\"", (ull)c->peer_id,
                  c->address, raft_err_name(coord_uv_err(rv)), uv_strerror(rv));
        conn_close(c);
    }
}

/* A name may resolve to several addresses (say ::1 and 127.0.0.1) of which
 * only some accept: successive dials take them in turn. */
static const struct addrinfo *pick_address(const struct addrinfo *res, uint32_t n_dials)
{
    const struct addrinfo *a;
    uint32_t n = 0;

    for (a = res; a != NULL; a = a->ai_next) {
        n++;
    }
    for (a = res, n = n_dials % n; n > 0; n--) {
        a = a->ai_next;
    }
    return a;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct conn *c = req->data;

    c->resolving = false;
    if (c->state == CONN_CLOSING) {
        uv_freeaddrinfo(res);
        if (!c->tcp_open) {
            conn_free(c); /* on_conn_closed() already ran */
        }
        return;
    }
    if (status != 0 || res == NULL) {
        status = status != 0 ? status : UV_EAI_NONAME;
        COORD_LOG(WARN, "peer dial failed id=%llu address=%s err=%s detail=\"%s\"", (ull)c->peer_id,
                  c->address, raft_err_name(coord_uv_err(status)), uv_strerror(status));
        uv_freeaddrinfo(res);
        conn_close(c);
        return;
    }
    connect_to(c, pick_address(res, c->peer->n_dials)->ai_addr);
    uv_freeaddrinfo(res);
}

/* Open a connection to p (we have the lower id). Failures close it, which
 * schedules the next attempt. */
static void peer_dial(struct coord_transport *t, struct peer *p)
{
    struct conn *c;
    struct sockaddr_storage ss;
    int rv;

    RAFT_ASSERT(p->conn == NULL && p->id > t->opts.id && !t->closing);
    p->redial_at = 0;
    p->n_dials++;
    c = conn_new(t);
    if (c == NULL) {
        COORD_LOG(WARN, "peer dial failed id=%llu address=%s err=ENOMEM", (ull)p->id, p->address);
        schedule_redial(t, p);
        return;
    }
    c->dialed = true;
    c->peer = p;
    c->peer_id = p->id;
    c->epoch = p->epoch;
    c->state = CONN_CONNECTING;
    p->conn = c;
    (void)snprintf(c->address, sizeof c->address, "%s", p->address);
    c->gai.data = c;
    rv = coord_addr_resolve(t->loop, p->address, &ss, &c->gai, on_resolved);
    if (rv == 0) {
        connect_to(c, (const struct sockaddr *)&ss);
        return;
    }
    if (rv < 0) {
        COORD_LOG(WARN, "peer dial failed id=%llu address=%s err=%s", (ull)p->id, p->address,
                  raft_err_name(coord_uv_err(rv)));
        conn_close(c);
        return;
    }
    c->resolving = true;
}

/* ---- the timer: redials, handshake deadlines, stalled accepts --------------------------- */

#define ACCEPT_RETRY_MS 100u

/* The next time c needs the timer: its handshake deadline, or (ACTIVE)
 * when it turns idle or owes a keepalive; UINT64_MAX for none. Reading is
 * not expected while it is paused for the disk. */
static uint64_t conn_due(const struct conn *c)
{
    uint32_t idle = c->t->opts.idle_timeout_ms;
    uint64_t due = c->last_write + idle / 4;

    if (c->state == CONN_ACTIVE) {
        return c->read_paused || c->last_read + idle > due ? due : c->last_read + idle;
    }
    return c->state != CONN_CLOSING && c->deadline != 0 ? c->deadline : UINT64_MAX;
}

/* Keepalives and idle connections: a connection cut off without a FIN (a
 * partition) falls silent, and is closed so that the dialer redials. */
static void conn_tick(struct conn *c, uint64_t now)
{
    struct raft_buf frame;

    if (!c->read_paused && c->last_read + c->t->opts.idle_timeout_ms <= now) {
        COORD_LOG(INFO, "peer disconnected id=%llu address=%s err=ETIMEDOUT detail=\"idle %ums\"",
                  (ull)c->peer_id, c->address, c->t->opts.idle_timeout_ms);
        conn_close(c);
    } else if (c->last_write + c->t->opts.idle_timeout_ms / 4 <= now &&
               coord_codec_peer_encode_keepalive(&frame) == 0) {
        conn_write(c, frame, 0, false); /* a failure is logged, or retried next tick */
    }
}

static void on_timer(uv_timer_t *h)
{
    struct coord_transport *t = h->data;
    uint64_t now = uv_now(t->loop);
    struct conn *c;
    size_t i;

    for (c = t->conns; c != NULL; c = c->next) {
        if (conn_due(c) > now) {
            continue;
        }
        if (c->state == CONN_ACTIVE) {
            conn_tick(c, now);
        } else {
            conn_fail(c, "handshake refused", "timeout", RAFT_ETIMEDOUT);
        }
    }
    for (i = 0; i < t->n_peers; i++) {
        struct peer *p = t->peers[i];

        if (p->redial_at != 0 && p->redial_at <= now && p->conn == NULL) {
            peer_dial(t, p);
        }
    }
    if (t->accept_stalled) {
        accept_one(t);
    }
    arm_timer(t);
    RAFT_DASSERT(check(t));
}

static void arm_timer(struct coord_transport *t)
{
    uint64_t now = uv_now(t->loop);
    uint64_t next = t->accept_stalled ? now + ACCEPT_RETRY_MS : UINT64_MAX;
    const struct conn *c;
    size_t i;

    if (t->closing) {
        return;
    }
    for (i = 0; i < t->n_peers; i++) {
        if (t->peers[i]->redial_at != 0 && t->peers[i]->redial_at < next) {
            next = t->peers[i]->redial_at;
        }
    }
    for (c = t->conns; c != NULL; c = c->next) {
        uint64_t due = conn_due(c);

        next = due < next ? due : next;
    }
    if (next == UINT64_MAX) {
        uv_timer_stop(&t->timer);
        return;
    }
    uv_timer_start(&t->timer, on_timer, next > now ? next - now : 0, 0);
}

/* ---- sending a snapshot ----------------------------------------------------------------- */

static void tx_on_fs(uv_fs_t *req);

/* Report and free tx. Detaches it from its connection first, so the
 * callback may start another snapshot to the same peer. */
static void tx_finish(struct snap_tx *tx, bool ok)
{
    struct coord_transport *t = tx->t;
    struct peer *p = find_peer(t, tx->to);
    raft_id to = tx->to;
    uv_fs_t req;

    RAFT_ASSERT(!tx->fs_busy);
    if (tx->c != NULL) {
        tx->c->tx = NULL;
        tx->c = NULL;
    }
    if (tx->fd >= 0) {
        /* Closing a file opened for reading does not wait for the disk. */
        uv_fs_close(t->loop, &req, tx->fd, NULL);
        uv_fs_req_cleanup(&req);
    }
    if (ok && p != NULL) {
        p->stats.snapshots_sent++;
    }
    COORD_LOG(INFO, "snapshot send %s to=%llu index=%llu bytes=%llu", ok ? "done" : "failed",
              (ull)to, (ull)tx->meta.index, (ull)tx->offset);
    raft_free(tx->path);
    raft_free(tx->buf);
    raft_free(tx);
    if (!t->closing && t->cbs.snapshot_sent != NULL) {
        t->cbs.snapshot_sent(t->cbs.arg, to, ok);
    }
    busy_dec(t);
}

/* Encode and write the chunk just read (chunk_len bytes at offset). */
static void tx_send(struct snap_tx *tx)
{
    struct coord_peer_chunk ch;
    struct raft_buf frame;
    int rv;

    ch.snapshot_index = tx->meta.index;
    ch.offset = tx->offset;
    ch.total_len = tx->total;
    ch.data.base = tx->buf;
    ch.data.len = tx->chunk_len;
    ch.last = tx->offset + tx->chunk_len == tx->total;
    ch.msg = ch.last ? &tx->msg : NULL;
    rv = coord_codec_peer_encode_chunk(&ch, &frame);
    if (rv == 0) {
        rv = conn_write(tx->c, frame, 0, true);
    }
    if (rv != 0) {
        COORD_LOG(WARN, "snapshot send failed to=%llu err=%s", (ull)tx->to, raft_err_name(rv));
        tx_finish(tx, false);
    }
}

static void tx_read(struct snap_tx *tx)
{
    uint64_t left = tx->total - tx->offset;
    uv_buf_t buf;
    int rv;

    tx->chunk_len = left < tx->t->opts.snapshot_chunk ? (size_t)left : tx->t->opts.snapshot_chunk;
    if (tx->chunk_len == 0) {
        tx_send(tx); /* an empty file: one empty, last chunk */
        return;
    }
    buf = uv_buf_init((char *)tx->buf, (unsigned)tx->chunk_len);
    rv = uv_fs_read(tx->t->loop, &tx->req, tx->fd, &buf, 1, (int64_t)tx->offset, tx_on_fs);
    if (rv != 0) {
        COORD_LOG(WARN, "snapshot read failed path=%s detail=\"%s\"", tx->path, uv_strerror(rv));
        tx_finish(tx, false);
        return;
    }
    tx->fs_busy = true;
}

/* The chunk write completed. */
static void tx_written(struct snap_tx *tx)
{
    struct peer *p = find_peer(tx->t, tx->to);

    if (p != NULL) {
        p->stats.chunks_sent++;
    }
    tx->offset += tx->chunk_len;
    if (tx->offset == tx->total) {
        tx_finish(tx, true);
    } else if (tx->c->state == CONN_ACTIVE) {
        tx_read(tx);
    } /* else on_conn_closed() ends it */
}

static void tx_on_fs(uv_fs_t *req)
{
    struct snap_tx *tx = req->data;
    ssize_t res = req->result;
    uv_fs_type type = req->fs_type;
    uint64_t size = req->statbuf.st_size;

    uv_fs_req_cleanup(req);
    tx->fs_busy = false;
    if (type == UV_FS_OPEN && res >= 0) {
        tx->fd = (uv_file)res;
    }
    if (tx->c == NULL || tx->c->state != CONN_ACTIVE || tx->t->closing) {
        tx_finish(tx, false);
        return;
    }
    if (res < 0 || (type == UV_FS_READ && (size_t)res != tx->chunk_len)) {
        COORD_LOG(WARN, "snapshot read failed path=%s detail=\"%s\"", tx->path,
                  res < 0 ? uv_strerror((int)res) : "file shrank while sent");
        tx_finish(tx, false);
        return;
    }
    if (type == UV_FS_OPEN) {
        int rv = uv_fs_fstat(tx->t->loop, &tx->req, tx->fd, tx_on_fs);

        if (rv != 0) {
            tx_finish(tx, false);
            return;
        }
        tx->fs_busy = true;
    } else if (type == UV_FS_FSTAT) {
        tx->total = size;
        tx_read(tx);
    } else {
        tx_send(tx);
    }
}

/* ---- receiving a snapshot --------------------------------------------------------------- */

static void rx_on_fs(uv_fs_t *req);

static void rx_unlink(struct coord_transport *t, const char *path)
{
    uv_fs_t req;

    uv_fs_unlink(t->loop, &req, path, NULL);
    uv_fs_req_cleanup(&req);
}

/* Free rx. Files not handed to the caller are deleted, synchronously: this
 * runs only on failure or shutdown, and it guarantees that no partial file
 * outlives the stream (nor the transport's close callback). */
static void rx_destroy(struct snap_rx *rx)
{
    struct coord_transport *t = rx->t;
    uv_fs_t req;

    RAFT_ASSERT(!rx->fs_busy && rx->c == NULL);
    if (rx->fd >= 0) {
        uv_fs_close(t->loop, &req, rx->fd, NULL);
        uv_fs_req_cleanup(&req);
    }
    if (rx->dir_fd >= 0) {
        uv_fs_close(t->loop, &req, rx->dir_fd, NULL);
        uv_fs_req_cleanup(&req);
    }
    if (rx->stage > RX_OPEN && rx->stage <= RX_RENAME) {
        rx_unlink(t, rx->tmp_path);
    } else if (rx->stage > RX_RENAME && !rx->delivered) {
        rx_unlink(t, rx->path);
    }
    while (rx->head != NULL) {
        struct rx_chunk *q = rx->head;

        rx->head = q->next;
        coord_codec_peer_frame_free(&q->frame);
        raft_free(q);
    }
    coord_codec_peer_frame_free(&rx->last);
    raft_free(rx->tmp_path);
    raft_free(rx->path);
    raft_free(rx);
    busy_dec(t);
}

/* The stream cannot finish (connection gone, error, shutdown): delete it as
 * soon as no file operation is in flight. rx is already detached. */
static void rx_abort(struct snap_rx *rx)
{
    RAFT_ASSERT(rx->c == NULL);
    rx->aborted = true;
    if (!rx->fs_busy) {
        rx_destroy(rx);
    }
}

static void rx_deliver(struct snap_rx *rx)
{
    struct coord_transport *t = rx->t;
    struct peer *p = find_peer(t, rx->from);
    struct raft_msg m = *rx->last.chunk.msg;

    m.snapshot_data.base = rx->path;
    m.snapshot_data.len = strlen(rx->path) + 1;
    if (p != NULL) {
        p->stats.snapshots_received++;
    }
    COORD_LOG(INFO, "snapshot received from=%llu index=%llu bytes=%llu path=%s", (ull)rx->from,
              (ull)rx->index, (ull)rx->total, rx->path);
    rx->delivered = true;
    t->cbs.snapshot_received(t->cbs.arg, &m); /* the file is the callee's now */
    rx_destroy(rx);
}

/* Read from c again after chunks waiting for the disk paused it. */
static void conn_resume_read(struct conn *c)
{
    if (!c->read_paused) {
        return;
    }
    c->read_paused = false;
    c->last_read = uv_now(c->t->loop); /* silence while paused was ours */
    /* Fails only on a connection already closing, which ends rx anyway. */
    (void)uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* Drop the head chunk once written (keeping the last one's frame for its
 * message) and resume reading when the queue has room again. */
static void rx_pop(struct snap_rx *rx)
{
    struct rx_chunk *q = rx->head;

    rx->head = q->next;
    rx->tail = rx->head != NULL ? rx->tail : NULL;
    rx->n_queued--;
    rx->head_off = 0;
    if (q->frame.chunk.last) {
        rx->last = q->frame;
    } else {
        coord_codec_peer_frame_free(&q->frame);
    }
    raft_free(q);
    if (rx->c != NULL && rx->n_queued < RX_QUEUE_MAX) {
        conn_resume_read(rx->c);
    }
}

/* Start the next write; 1 when there is nothing to write yet. */
static int rx_write(struct snap_rx *rx)
{
    uv_buf_t buf;
    const struct coord_peer_chunk *ch;

    while (rx->head != NULL && rx->head->frame.chunk.data.len == 0) {
        rx_pop(rx);
    }
    if (rx->head == NULL) {
        return 1;
    }
    ch = &rx->head->frame.chunk;
    buf =
        uv_buf_init((char *)ch->data.base + rx->head_off, (unsigned)(ch->data.len - rx->head_off));
    return uv_fs_write(rx->t->loop, &rx->req, rx->fd, &buf, 1, (int64_t)(ch->offset + rx->head_off),
                       rx_on_fs);
}

static const char *const rx_stage_names[] = {
    "open", "write", "fsync", "close", "rename", "dir_open", "dir_fsync", "dir_close", "deliver",
};

/* A file operation of rx failed (logged by the caller): delete it. While the
 * stream is still arriving, close its connection too, so that the sender
 * hears of it (ok=false) instead of streaming into nothing. */
static void rx_fail(struct snap_rx *rx)
{
    RAFT_ASSERT(!rx->fs_busy);
    rx->aborted = true;
    if (rx->c != NULL) {
        conn_close(rx->c); /* detaches rx and aborts it: rx_abort() */
    } else {
        rx_destroy(rx);
    }
}

/* Start the next file operation of rx, or deliver it, or delete it. */
static void rx_pump(struct snap_rx *rx)
{
    struct coord_transport *t = rx->t;
    int rv = 0;

    if (rx->fs_busy) {
        return;
    }
    if (rx->aborted || t->closing) {
        if (rx->c != NULL) {
            rx->c->rx = NULL;
            rx->c = NULL;
        }
        rx_destroy(rx);
        return;
    }
    switch (rx->stage) {
    case RX_OPEN:
        rv = uv_fs_open(t->loop, &rx->req, rx->tmp_path, O_WRONLY | O_CREAT | O_EXCL, 0600,
                        rx_on_fs);
        break;
    case RX_WRITE:
        rv = rx_write(rx);
        if (rv == 1 && !rx->complete) {
            return; /* wait for the next chunk */
        }
        if (rv == 1) {
            rx->stage = RX_SYNC;
            rv = uv_fs_fsync(t->loop, &rx->req, rx->fd, rx_on_fs);
        }
        break;
    case RX_SYNC:
        rv = uv_fs_fsync(t->loop, &rx->req, rx->fd, rx_on_fs);
        break;
    case RX_CLOSE:
        rv = uv_fs_close(t->loop, &rx->req, rx->fd, rx_on_fs);
        break;
    case RX_RENAME:
        rv = uv_fs_rename(t->loop, &rx->req, rx->tmp_path, rx->path, rx_on_fs);
        break;
    case RX_DIR_OPEN:
        rv = uv_fs_open(t->loop, &rx->req, t->snapshot_dir, O_RDONLY, 0, rx_on_fs);
        break;
    case RX_DIR_SYNC:
        rv = uv_fs_fsync(t->loop, &rx->req, rx->dir_fd, rx_on_fs);
        break;
    case RX_DIR_CLOSE:
        rv = uv_fs_close(t->loop, &rx->req, rx->dir_fd, rx_on_fs);
        break;
    case RX_DELIVER:
        rx_deliver(rx);
        return;
    }
    if (rv != 0) {
        COORD_LOG(WARN, "snapshot receive failed from=%llu op=%s path=%s detail=\"%s\"",
                  (ull)rx->from, rx_stage_names[rx->stage], rx->tmp_path, uv_strerror(rv));
        rx_fail(rx);
        return;
    }
    rx->fs_busy = true;
}

/* A file operation of rx completed: record it, move to the next stage. */
static void rx_on_fs(uv_fs_t *req)
{
    struct snap_rx *rx = req->data;
    ssize_t res = req->result;

    uv_fs_req_cleanup(req);
    rx->fs_busy = false;
    if (res < 0) {
        COORD_LOG(WARN, "snapshot receive failed from=%llu op=%s path=%s detail=\"%s\"",
                  (ull)rx->from, rx_stage_names[rx->stage], rx->tmp_path, uv_strerror((int)res));
        rx->fd = rx->stage == RX_CLOSE ? -1 : rx->fd; /* a failed close still closes */
        rx->dir_fd = rx->stage == RX_DIR_CLOSE ? -1 : rx->dir_fd;
        rx_fail(rx);
        return;
    }
    switch (rx->stage) {
    case RX_OPEN:
        rx->fd = (uv_file)res;
        rx->stage = RX_WRITE;
        break;
    case RX_WRITE:
        rx->head_off += (size_t)res;
        if (rx->head_off == rx->head->frame.chunk.data.len) {
            rx_pop(rx);
        }
        break;
    case RX_CLOSE:
        rx->fd = -1;
        rx->stage = RX_RENAME;
        break;
    case RX_DIR_OPEN:
        rx->dir_fd = (uv_file)res;
        rx->stage = RX_DIR_SYNC;
        break;
    case RX_DIR_CLOSE:
        rx->dir_fd = -1;
        rx->stage = RX_DELIVER;
        break;
    default: /* RX_SYNC, RX_RENAME, RX_DIR_SYNC: nothing to record */
        rx->stage++;
        break;
    }
    rx_pump(rx);
}

static struct snap_rx *rx_new(struct conn *c, const struct coord_peer_chunk *ch)
{
    struct coord_transport *t = c->t;
    struct snap_rx *rx = raft_calloc(1, sizeof *rx);
    size_t cap = strlen(t->snapshot_dir) + 80;

    if (rx == NULL) {
        return NULL;
    }
    rx->tmp_path = raft_malloc(cap);
    rx->path = raft_malloc(cap);
    if (rx->tmp_path == NULL || rx->path == NULL) {
        raft_free(rx->tmp_path);
        raft_free(rx->path);
        raft_free(rx);
        return NULL;
    }
    /* Unique per process run (hrtime) and per stream; "*.tmp" files left by a
     * crash are deleted at the next start (clean_snapshot_dir()). */
    (void)snprintf(rx->tmp_path, cap, "%s/snap-%llu-%llu-%llu.tmp", t->snapshot_dir,
                   (ull)c->peer_id, (ull)ch->snapshot_index, (ull)uv_hrtime());
    (void)snprintf(rx->path, cap, "%.*s.snap", (int)(strlen(rx->tmp_path) - 4), rx->tmp_path);
    rx->t = t;
    rx->c = c;
    rx->from = c->peer_id;
    rx->index = ch->snapshot_index;
    rx->total = ch->total_len;
    rx->fd = -1;
    rx->dir_fd = -1;
    rx->req.data = rx;
    rx->stage = RX_OPEN;
    c->rx = rx;
    t->busy++;
    COORD_LOG(INFO, "snapshot receive started from=%llu index=%llu bytes=%llu", (ull)rx->from,
              (ull)rx->index, (ull)rx->total);
    return rx;
}

/* Why chunk ch may not continue c's stream, or NULL. */
static const char *chunk_refusal(const struct conn *c, const struct coord_peer_chunk *ch)
{
    const struct snap_rx *rx = c->rx;

    if (ch->last && (ch->msg->from != c->peer_id || ch->msg->to != c->t->opts.id)) {
        return "wrong_sender_or_receiver";
    }
    if (ch->offset == 0) {
        return ch->total_len > c->t->opts.max_snapshot ? "snapshot_too_large" : NULL;
    }
    if (rx == NULL || rx->index != ch->snapshot_index || rx->received != ch->offset ||
        rx->total != ch->total_len) {
        return "chunk_out_of_sequence";
    }
    return NULL;
}

/* A frame with a chunk arrived on an active connection: queue it (takes f)
 * for the disk. */
static void on_chunk(struct conn *c, struct coord_peer_frame *f)
{
    const char *why = chunk_refusal(c, &f->chunk);
    int err = RAFT_EPROTO;
    struct rx_chunk *q = NULL;
    struct snap_rx *rx = c->rx;

    if (why == NULL && f->chunk.offset == 0) {
        if (rx != NULL) {
            c->rx = NULL; /* a new stream replaces an unfinished one */
            rx->c = NULL;
            rx_abort(rx);
        }
        rx = rx_new(c, &f->chunk);
    }
    if (why == NULL && rx != NULL) {
        q = raft_malloc(sizeof *q);
    }
    if (why == NULL && q == NULL) {
        why = "out_of_memory";
        err = RAFT_ENOMEM;
    }
    if (why != NULL) {
        coord_codec_peer_frame_free(f);
        conn_fail(c, err == RAFT_ENOMEM ? "receive failed" : "protocol error", why, err);
        return;
    }
    q->next = NULL;
    q->frame = *f;
    if (rx->tail != NULL) {
        rx->tail->next = q;
    } else {
        rx->head = q;
    }
    rx->tail = q;
    rx->n_queued++;
    rx->received += f->chunk.data.len;
    c->peer->stats.chunks_received++;
    if (f->chunk.last) {
        rx->complete = true; /* it finishes on its own now (invariant 4) */
        c->rx = NULL;
        rx->c = NULL;
        /* A chunk read with this one may have paused c; rx cannot resume it
         * any more, and no more of its chunks will come. */
        conn_resume_read(c);
    } else if (rx->n_queued >= RX_QUEUE_MAX && !c->read_paused) {
        c->read_paused = true;
        uv_read_stop((uv_stream_t *)&c->tcp);
    }
    rx_pump(rx);
}

/* ---- the API ---------------------------------------------------------------------------- */

void coord_transport_opts_default(struct coord_transport_opts *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->max_frame = DEFAULT_MAX_FRAME;
    opts->max_queue = DEFAULT_MAX_QUEUE;
    opts->backoff_min_ms = DEFAULT_BACKOFF_MIN_MS;
    opts->backoff_max_ms = DEFAULT_BACKOFF_MAX_MS;
    opts->hello_timeout_ms = DEFAULT_HELLO_TIMEOUT_MS;
    opts->idle_timeout_ms = DEFAULT_IDLE_TIMEOUT_MS;
    opts->snapshot_chunk = DEFAULT_SNAPSHOT_CHUNK;
    opts->max_snapshot = DEFAULT_MAX_SNAPSHOT;
}

/* Room a chunk frame needs beyond its data: the chunk's fields and a
 * SNAPSHOT message with a full configuration. */
#define CHUNK_OVERHEAD 4096u
_Static_assert(RAFT_MAX_SERVERS *(RAFT_ADDR_MAX + 32) + 256 <= CHUNK_OVERHEAD,
               "a snapshot message fits the chunk overhead");

static int check_opts(const struct coord_transport_opts *o, const struct coord_transport_cbs *cbs)
{
    if (o->id == 0 || o->listen_address == NULL || o->snapshot_dir == NULL ||
        strlen(o->snapshot_dir) >= PATH_LEN_MAX - 128 || cbs->recv == NULL ||
        cbs->snapshot_received == NULL) {
        return RAFT_EINVAL;
    }
    if (o->max_frame > COORD_TRANSPORT_MAX_FRAME || o->max_queue == 0 || o->backoff_min_ms == 0 ||
        o->backoff_max_ms < o->backoff_min_ms || o->hello_timeout_ms == 0 ||
        o->idle_timeout_ms < 4 || o->max_snapshot == 0) {
        return RAFT_EINVAL;
    }
    if (o->snapshot_chunk == 0 || o->snapshot_chunk > COORD_PEER_MAX_CHUNK ||
        o->snapshot_chunk + CHUNK_OVERHEAD > o->max_frame) {
        return RAFT_EINVAL;
    }
    return 0;
}

/* Delete "snap-*.tmp" files a crash left behind: they are partial streams,
 * never snapshots. Runs once, at start, before the loop serves anything. */
static int clean_snapshot_dir(const char *dir)
{
    DIR *d = opendir(dir);
    const struct dirent *e;
    char path[PATH_LEN_MAX];
    unsigned n = 0;

    if (d == NULL) {
        COORD_LOG(ERROR, "transport snapshot dir unusable path=%s err=ECONFIG", dir);
        return RAFT_ECONFIG;
    }
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);

        if (len > 9 && strncmp(e->d_name, "snap-", 5) == 0 &&
            strcmp(e->d_name + len - 4, ".tmp") == 0) {
            int len_path = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);

            if (len_path > 0 && (size_t)len_path < sizeof path && unlink(path) == 0) {
                n++;
            }
        }
    }
    closedir(d);
    if (n > 0) {
        COORD_LOG(INFO, "transport removed partial snapshots n=%u dir=%s", n, dir);
    }
    return 0;
}

static void close_handles(struct coord_transport *t)
{
    uv_close((uv_handle_t *)&t->listener, on_handle_closed);
    uv_close((uv_handle_t *)&t->timer, on_handle_closed);
    uv_close((uv_handle_t *)&t->prepare, on_handle_closed);
    uv_close((uv_handle_t *)&t->check, on_handle_closed);
}

/* Bind and listen; on failure the handles close and free t later. */
static int start(struct coord_transport *t, const struct sockaddr_storage *ss)
{
    struct sockaddr_storage bound;
    int len = (int)sizeof bound;
    int rv;

    RAFT_ASSERT(uv_tcp_init(t->loop, &t->listener) == 0); /* AF_UNSPEC: cannot fail */
    RAFT_ASSERT(uv_timer_init(t->loop, &t->timer) == 0);
    RAFT_ASSERT(uv_prepare_init(t->loop, &t->prepare) == 0);
    RAFT_ASSERT(uv_check_init(t->loop, &t->check) == 0);
    t->listener.data = t;
    t->timer.data = t;
    t->prepare.data = t;
    t->check.data = t;
    t->busy = 4;
    rv = uv_tcp_bind(&t->listener, (const struct sockaddr *)ss, 0);
    if (rv == 0) {
        rv = uv_listen((uv_stream_t *)&t->listener, LISTEN_BACKLOG, on_connection);
    }
    if (rv == 0) {
        rv = uv_tcp_getsockname(&t->listener, (struct sockaddr *)&bound, &len);
    }
    if (rv != 0) {
        int err = coord_uv_err(rv);

        err = err == RAFT_EBUSY || err == RAFT_ENOMEM || err == RAFT_ECONFIG ? err : RAFT_EIO;
        COORD_LOG(ERROR, "transport listen failed address=%s err=%s detail=\"%s\"",
                  t->listen_address, raft_err_name(err), uv_strerror(rv));
        t->closing = true;
        close_handles(t);
        return err;
    }
    t->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                : ((struct sockaddr_in *)&bound)->sin_port);
    COORD_LOG(INFO, "transport listening id=%llu address=%s port=%d", (ull)t->opts.id,
              t->listen_address, t->port);
    return 0;
}

int coord_transport_new(uv_loop_t *loop, const struct coord_transport_opts *opts,
                        const struct coord_transport_cbs *cbs, struct coord_transport **out)
{
    struct coord_transport *t;
    struct sockaddr_storage ss;
    uv_getaddrinfo_t gai;
    int rv = check_opts(opts, cbs);

    if (rv != 0) {
        return rv;
    }
    t = raft_calloc(1, sizeof *t);
    if (t == NULL) {
        return RAFT_ENOMEM;
    }
    t->listen_address = raft_memdup(opts->listen_address, strlen(opts->listen_address) + 1);
    t->snapshot_dir = raft_memdup(opts->snapshot_dir, strlen(opts->snapshot_dir) + 1);
    if (t->listen_address == NULL || t->snapshot_dir == NULL) {
        rv = RAFT_ENOMEM;
        goto err_after_t;
    }
    t->loop = loop;
    t->opts = *opts;
    t->opts.listen_address = t->listen_address;
    t->opts.snapshot_dir = t->snapshot_dir;
    t->cbs = *cbs;
    raft_rand_seed(&t->rand, opts->seed);
    memset(&ss, 0, sizeof ss);
    rv = coord_uv_err(coord_addr_resolve(loop, t->listen_address, &ss, &gai, NULL));
    if (rv != 0) {
        COORD_LOG(ERROR, "transport listen address unusable address=%s err=%s", t->listen_address,
                  raft_err_name(rv));
        goto err_after_t;
    }
    rv = clean_snapshot_dir(t->snapshot_dir);
    if (rv != 0) {
        goto err_after_t;
    }
    rv = start(t, &ss);
    if (rv != 0) {
        return rv; /* t is freed when its handles have closed */
    }
    *out = t;
    return 0;

err_after_t:
    raft_free(t->listen_address);
    raft_free(t->snapshot_dir);
    raft_free(t);
    return rv;
}

int coord_transport_port(const struct coord_transport *t)
{
    return t->port;
}

/* Forget p: close its connection (no redial) and free it. When p was
 * reported up, exactly one of its connections reports it down as it closes
 * (on_conn_closed(), which then finds no peer of its epoch). */
static void peer_remove(struct coord_transport *t, struct peer *p)
{
    struct conn *c = p->conn;
    bool owed = p->up;

    COORD_LOG(INFO, "peer removed id=%llu address=%s", (ull)p->id, p->address);
    if (c != NULL) {
        c->peer = NULL;
        p->conn = NULL;
        conn_close(c);
    }
    for (c = t->conns; c != NULL; c = c->next) {
        if (c->peer_id == p->id && c->epoch == p->epoch && c->was_active) {
            c->was_active = owed;
            owed = false;
        }
    }
    raft_free(p);
}

/* p's address changed: reconnect there (dialer), at once. */
static void peer_readdress(struct coord_transport *t, struct peer *p, const char *address)
{
    COORD_LOG(INFO, "peer address changed id=%llu old=%s new=%s", (ull)p->id, p->address, address);
    (void)snprintf(p->address, sizeof p->address, "%s", address);
    if (p->id < t->opts.id) {
        return; /* it dials us */
    }
    if (p->conn != NULL) {
        conn_close(p->conn);
    }
    p->backoff_ms = t->opts.backoff_min_ms;
    p->redial_at = uv_now(t->loop);
}

static int check_conf(const struct raft_conf *conf)
{
    uint32_t i;

    if (conf->n > RAFT_MAX_SERVERS) {
        return RAFT_EINVAL;
    }
    for (i = 0; i < conf->n; i++) {
        const struct raft_server *s = &conf->servers[i];

        if (s->id == 0 || memchr(s->address, '\0', RAFT_ADDR_MAX) == NULL ||
            (i > 0 && s->id <= conf->servers[i - 1].id)) {
            return RAFT_EINVAL;
        }
    }
    return 0;
}

static bool has_peer(struct peer *const *peers, size_t n, const struct peer *p)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (peers[i] == p) {
            return true;
        }
    }
    return false;
}

int coord_transport_set_peers(struct coord_transport *t, const struct raft_conf *conf)
{
    struct peer *next[RAFT_MAX_SERVERS];
    const char *address[RAFT_MAX_SERVERS];
    bool fresh[RAFT_MAX_SERVERS];
    size_t n = 0;
    size_t i;

    if (check_conf(conf) != 0) {
        return RAFT_EINVAL;
    }
    if (t->closing) {
        return RAFT_ESHUTDOWN;
    }
    for (i = 0; i < conf->n; i++) {
        const struct raft_server *s = &conf->servers[i];

        if (s->id == t->opts.id) {
            continue;
        }
        next[n] = find_peer(t, s->id);
        fresh[n] = next[n] == NULL;
        address[n] = s->address;
        if (fresh[n]) {
            next[n] = raft_calloc(1, sizeof *next[n]);
            if (next[n] == NULL) {
                goto err_after_fresh;
            }
            next[n]->id = s->id;
            next[n]->epoch = ++t->epochs;
            next[n]->stats.id = s->id;
            next[n]->backoff_ms = t->opts.backoff_min_ms;
            (void)snprintf(next[n]->address, sizeof next[n]->address, "%s", s->address);
        }
        n++;
    }
    for (i = 0; i < t->n_peers; i++) {
        if (!has_peer(next, n, t->peers[i])) {
            peer_remove(t, t->peers[i]);
        }
    }
    for (i = 0; i < n; i++) {
        if (fresh[i]) {
            COORD_LOG(INFO, "peer added id=%llu address=%s", (ull)next[i]->id, next[i]->address);
        } else if (strcmp(next[i]->address, address[i]) != 0) {
            peer_readdress(t, next[i], address[i]);
        }
        t->peers[i] = next[i];
    }
    t->n_peers = n;
    for (i = 0; i < n; i++) {
        if (fresh[i] && next[i]->id > t->opts.id) {
            peer_dial(t, next[i]);
        }
    }
    arm_timer(t);
    RAFT_DASSERT(check(t));
    return 0;

err_after_fresh:
    while (n-- > 0) {
        if (fresh[n]) {
            raft_free(next[n]);
        }
    }
    return RAFT_ENOMEM;
}

int coord_transport_send(struct coord_transport *t, const struct raft_msg *m)
{
    struct peer *p;
    struct conn *c;
    int rv;

    if (t->closing) {
        return RAFT_ESHUTDOWN;
    }
    if (m->type == RAFT_MSG_SNAPSHOT || coord_codec_peer_check(m) != 0) {
        return RAFT_EINVAL;
    }
    p = find_peer(t, m->to);
    if (p == NULL) {
        return RAFT_ENOTFOUND;
    }
    c = p->conn;
    if (c == NULL || c->state != CONN_ACTIVE) {
        p->stats.msgs_dropped++;
        return RAFT_ENOCONN;
    }
    if (c->inflight + c->batch.len >= t->opts.max_queue) {
        p->stats.msgs_dropped++;
        return RAFT_EBUSY;
    }
    rv = coord_codec_peer_batch_add(&c->batch, m);
    if (rv == RAFT_EBUSY) {
        conn_flush(c); /* the batch is full: it leaves now, m starts the next */
        rv = c->state == CONN_ACTIVE ? coord_codec_peer_batch_add(&c->batch, m) : RAFT_ENOCONN;
    }
    if (rv != 0) {
        p->stats.msgs_dropped++;
        if (rv == RAFT_ETOOBIG) {
            COORD_LOG(WARN, "peer message too large dropped id=%llu type=%s entries=%u", (ull)p->id,
                      raft_msg_type_name(m->type), m->n_entries);
        }
        return rv;
    }
    if (c->batch.len >= BATCH_FLUSH_LEN) {
        conn_flush(c);
    } else {
        arm_flush(t);
    }
    RAFT_DASSERT(check(t));
    return 0;
}

int coord_transport_send_snapshot(struct coord_transport *t, const struct raft_msg *m,
                                  const char *path)
{
    struct snap_tx *tx;
    struct peer *p;
    int rv;

    if (t->closing) {
        return RAFT_ESHUTDOWN;
    }
    if (m->type != RAFT_MSG_SNAPSHOT || coord_codec_peer_check(m) != 0 || path == NULL ||
        strlen(path) >= PATH_LEN_MAX) {
        return RAFT_EINVAL;
    }
    p = find_peer(t, m->to);
    if (p == NULL) {
        return RAFT_ENOTFOUND;
    }
    if (p->conn == NULL || p->conn->state != CONN_ACTIVE) {
        return RAFT_ENOCONN;
    }
    if (p->conn->tx != NULL) {
        return RAFT_EBUSY;
    }
    tx = raft_calloc(1, sizeof *tx);
    if (tx == NULL) {
        return RAFT_ENOMEM;
    }
    tx->path = raft_memdup(path, strlen(path) + 1);
    tx->buf = raft_malloc(t->opts.snapshot_chunk);
    if (tx->path == NULL || tx->buf == NULL) {
        rv = RAFT_ENOMEM;
        goto err_after_tx;
    }
    tx->t = t;
    tx->to = m->to;
    tx->fd = -1;
    tx->meta = *m->snapshot;
    tx->msg = *m;
    tx->msg.snapshot = &tx->meta;
    tx->msg.snapshot_data.base = NULL;
    tx->msg.snapshot_data.len = 0;
    tx->req.data = tx;
    rv = uv_fs_open(t->loop, &tx->req, tx->path, O_RDONLY, 0, tx_on_fs);
    if (rv != 0) {
        COORD_LOG(WARN, "snapshot open failed path=%s detail=\"%s\"", path, uv_strerror(rv));
        rv = coord_uv_err(rv);
        goto err_after_tx;
    }
    tx->fs_busy = true;
    tx->c = p->conn;
    p->conn->tx = tx;
    t->busy++;
    COORD_LOG(INFO, "snapshot send started to=%llu index=%llu path=%s", (ull)m->to,
              (ull)m->snapshot->index, path);
    RAFT_DASSERT(check(t));
    return 0;

err_after_tx:
    raft_free(tx->path);
    raft_free(tx->buf);
    raft_free(tx);
    return rv;
}

void coord_transport_stats(const struct coord_transport *t, struct coord_transport_stats *stats,
                           struct coord_transport_peer_stats *peers, size_t n_peers)
{
    size_t i;

    *stats = t->stats;
    stats->n_peers = t->n_peers;
    for (i = 0; peers != NULL && i < n_peers && i < t->n_peers; i++) {
        const struct peer *p = t->peers[i];

        peers[i] = p->stats;
        peers[i].id = p->id;
        peers[i].connected = p->conn != NULL && p->conn->state == CONN_ACTIVE;
    }
}

void coord_transport_close(struct coord_transport *t, coord_transport_close_cb cb, void *arg)
{
    struct conn *c;

    RAFT_ASSERT(!t->closing);
    t->closing = true;
    t->close_cb = cb;
    t->close_arg = arg;
    for (c = t->conns; c != NULL; c = c->next) {
        conn_close(c);
    }
    close_handles(t);
    COORD_LOG(INFO, "transport closing id=%llu", (ull)t->opts.id);
}
