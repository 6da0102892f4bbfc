/* SPDX-License-Identifier: MIT */
/* server: the client port. Connections, framing, pipelined dispatch into
 * the node, batched answers with backpressure, and forwarding of writes to
 * the leader's client port, all on the loop thread. Translates libuv codes
 * into RAFT_E* at its boundary and logs them once, here. Never logs
 * payloads. */

/* Design notes
 * ============
 *
 * A client connection:
 *
 *   on_connection() --> OPEN --conn_drain(): bad frame answered--> DRAINING
 *                        |  ^                                          |
 *     update_reading():  |  | (reading paused while too many requests  |
 *                        |  |  are in flight or answers unsent)        |
 *                        v  |                      output written      |
 *   conn_close(): EOF, error, overflow, stall, server closing  <-------+
 *                        |
 *                        v
 *                     CLOSING --on_conn_closed()--> CLOSED --last request
 *                                                     done (req_done())--> freed
 *
 * A request taken from a connection becomes a struct req (from the free
 * list) that the node or an upstream holds until it completes; the req holds
 * its connection (c->n_inflight), so a node callback that comes after the
 * connection closed finds it CLOSED, drops the answer and frees it last.
 *
 * An upstream (forwarding connection to the leader's client port):
 *
 *   upstream_new() --> RESOLVING --> CONNECTING --on_up_connect()--> ACTIVE
 *   any state --upstream_close(): error, EOF, bad frame, retired and empty,
 *               server closing: forwarded requests failed --> CLOSING --> freed
 *
 * s->up is the upstream of the leader the node names now; a leader change
 * retires it (no new requests; closed once its requests are answered or
 * timed out) and dials the new one.
 *
 * Output: answers are encoded into w->pending at once; the prepare and
 * check handles (armed by the first answer of an iteration) hand each
 * connection's pending bytes to one uv_write at the end of the loop phase.
 * At most one write per connection is in flight; what comes meanwhile waits
 * in pending and goes out when it completes. Reading stops above
 * COORD_SERVER_OUT_PAUSE unsent bytes or COORD_SERVER_MAX_INFLIGHT requests
 * and resumes below half / three quarters of them; bytes already read but
 * not yet dispatched wait in c->backlog. Past COORD_SERVER_OUT_MAX unsent
 * bytes, or without write progress for the stall time, the connection is
 * closed.
 *
 * Invariants (check() asserts them in debug builds):
 * 1. A wire is on the dirty list iff w->dirty; only OPEN or DRAINING
 *    connections and ACTIVE upstreams are on it.
 * 2. n_open counts the OPEN and DRAINING connections (<= max_clients).
 * 3. A CLOSED connection has requests in flight (else it is freed).
 * 4. A reading connection has no backlog.
 * 5. n_forwarded is the sum of the upstreams' outstanding requests; each
 *    forwarded req is in exactly one upstream's deadline list and table.
 * 6. s->up, when set, is neither CLOSING nor retired.
 * 7. busy counts open server handles, live connections, live upstreams and
 *    requests not in the free list; s is freed when closing and busy is 0.
 */
#include "coord/server.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "coord/addr.h"
#include "coord/codec_client.h"
#include "coord/frame.h"
#include "coord/fsm.h"
#include "coord/log.h"
#include "coord/node.h"
#include "coord/uverr.h"
#include "raft/base/alloc.h"
#include "raft/base/assert.h"

#define READ_BUF_LEN     (64u << 10) /* bytes per read; one buffer for the whole server */
#define LISTEN_BACKLOG   511
#define OUT_KEEP         (256u << 10) /* output buffer capacity kept between writes */
#define FREE_REQS_MAX    1024u        /* idle request structs kept for reuse */
#define UP_BUCKETS       4096u        /* forwarded-request table size (power of two) */
#define UP_OUT_MAX       (64u << 20)  /* bytes queued for one upstream: EBUSY beyond */
#define FORWARD_GRACE_MS 100u         /* a forwarded request's local deadline: timeout + this */
#define DIAL_RETRY_MS    100u         /* after a failed dial, answer at once for this long */
#define ACCEPT_RETRY_MS  100u         /* an accept that failed for memory is retried after */
#define REFUSED_LOG_MS   1000u        /* one WARN line per this long for refused clients */
#define MSG_LEN          256u         /* bytes of an error message */
#define KEEPALIVE_S      30u          /* TCP keepalive idle time: dead peers free their slot */

_Static_assert((UP_BUCKETS & (UP_BUCKETS - 1)) == 0, "UP_BUCKETS is a power of two");
_Static_assert(COORD_SERVER_OUT_PAUSE < COORD_SERVER_OUT_MAX, "pause before closing");

enum conn_state {
    CONN_OPEN,     /* reading (unless paused) and answering */
    CONN_DRAINING, /* a last answer queued: no reading or answering; closed once written */
    CONN_CLOSING,  /* uv_close() called */
    CONN_CLOSED,   /* handle closed; freed when its last request is done */
};

enum up_state {
    UP_RESOLVING,  /* getaddrinfo in flight */
    UP_CONNECTING, /* uv_tcp_connect in flight */
    UP_ACTIVE,     /* connected: requests written, answers read */
    UP_CLOSING,    /* uv_close() called */
};

enum req_kind {
    REQ_PROPOSE,
    REQ_READ,
    REQ_CONF,
    REQ_TRANSFER,
    REQ_FORWARD,
};

struct coord_server;
struct conn;
struct upstream;

/* What client connections and upstreams share: a socket and its output. */
struct wire {
    struct coord_server *s;
    bool is_up;         /* the owner is a struct upstream, else a struct conn */
    bool dirty;         /* on s->dirty (invariant 1) */
    bool write_busy;    /* wreq is in flight with writing */
    struct wire *dprev; /* s->dirty */
    struct wire *dnext;
    uv_tcp_t tcp;
    uv_write_t wreq;
    struct coord_api_out pending; /* frames not yet handed to libuv */
    struct coord_api_out writing; /* the frames of wreq */
    struct coord_frame_reader reader;
};

struct req {
    struct coord_server *s;
    struct conn *c;   /* the client's connection (counted in c->n_inflight) */
    struct req *prev; /* FORWARD: up's deadline list; free list uses next */
    struct req *next;
    struct req *hnext;   /* FORWARD: up's table chain */
    struct upstream *up; /* FORWARD */
    uint64_t id;         /* the client's id */
    uint64_t up_id;      /* FORWARD: the id on the upstream */
    uint64_t deadline;   /* FORWARD: uv_now() ms of the local timeout */
    uint32_t timeout_ms;
    uint8_t kind;   /* enum req_kind */
    bool txn;       /* PROPOSE: a txn (answered with a TxnResult) */
    bool get;       /* READ: a single key */
    uint64_t limit; /* READ */
    size_t key_len; /* READ: bytes of key */
    size_t end_len; /* READ: bytes of end */
    uint8_t key[COORD_CMD_KEY_MAX];
    uint8_t end[COORD_CMD_KEY_MAX];
};

struct conn {
    struct wire w;     /* first: a struct wire * of a connection is its struct conn * */
    struct conn *prev; /* s->conns */
    struct conn *next;
    enum conn_state state;
    uint64_t no;          /* connection number, for logs */
    char peer[64];        /* the client's address, for logs */
    uint32_t n_inflight;  /* requests taken and not yet done */
    bool reading;         /* uv_read_start() is in effect */
    bool feeding;         /* inside conn_feed() */
    bool want_feed;       /* resumed with a backlog: flush_all() dispatches it */
    uint8_t *backlog;     /* owned: bytes read but not yet dispatched (reading paused) */
    size_t backlog_off;   /* bytes of backlog already dispatched */
    size_t backlog_len;   /* bytes of backlog */
    uint64_t progress_at; /* uv_now() ms of the last write progress */
    size_t last_wqs;      /* libuv's write queue size at the last stall scan */
};

struct upstream {
    struct wire w;         /* first */
    struct upstream *prev; /* s->ups */
    struct upstream *next;
    enum up_state state;
    bool retired;    /* a newer leader took over: no new requests */
    bool resolving;  /* gai in flight: freed only after its callback */
    bool tcp_closed; /* on_up_closed() ran */
    raft_id leader;
    char addr[RAFT_ADDR_MAX];
    uv_connect_t connect;
    uv_getaddrinfo_t gai;
    uint64_t next_id;
    size_t n_out;     /* forwarded requests waiting for an answer */
    struct req *head; /* ... by deadline, earliest first */
    struct req *tail;
    struct req *table[UP_BUCKETS]; /* ... by up_id */
};

struct coord_server {
    uv_loop_t *loop;          /* borrowed */
    struct coord_node *node;  /* borrowed until close */
    char addr[RAFT_ADDR_MAX]; /* the listen address */
    uint32_t max_clients;
    size_t max_request;  /* bytes of a request frame */
    uint32_t timeout_ms; /* the default request timeout */
    uint64_t stall_ms;   /* a connection without write progress this long is closed */
    int port;
    uv_tcp_t listener;
    uv_timer_t timer;     /* forward deadlines, stall scans, accept retries */
    uv_prepare_t prepare; /* flush answers before the loop blocks */
    uv_check_t check;     /* flush answers produced by I/O callbacks */
    struct coord_codec_client *cc;
    uint8_t *rbuf;         /* owned, READ_BUF_LEN bytes, shared by every read */
    struct conn *conns;    /* every connection not yet freed */
    struct wire *dirty;    /* wires with pending output (invariant 1) */
    struct upstream *ups;  /* every upstream not yet freed */
    struct upstream *up;   /* the current leader's, or NULL (invariant 6) */
    struct req *free_reqs; /* idle request structs */
    size_t n_free;
    uint32_t n_open;    /* invariant 2 */
    size_t n_forwarded; /* invariant 5 */
    uint64_t next_conn_no;
    uint64_t next_stall_scan; /* uv_now() ms */
    raft_id dial_failed_leader;
    uint64_t dial_failed_at; /* uv_now() ms of the last failed dial of that leader */
    uint64_t refused_logged_at;
    uint64_t refused_unlogged;
    bool flush_armed;
    bool accept_stalled;
    bool closing;
    unsigned busy; /* invariant 7 */
    coord_server_close_cb close_cb;
    void *close_arg;
    struct coord_server_stats stats;
};

typedef unsigned long long ull; /* for printf */

static void conn_close(struct conn *c);
static void conn_flush_done(struct conn *c, int status, size_t written);
static void update_reading(struct conn *c);
static void upstream_close(struct upstream *up);
static void up_flush_done(struct upstream *up, int status);
static void arm_timer(struct coord_server *s);

/* ---- errors, checks, lifetime ----------------------------------------------------------- */

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

static size_t out_queued(const struct wire *w)
{
    return w->pending.len + w->writing.len;
}

#ifndef NDEBUG
static bool check(const struct coord_server *s)
{
    const struct conn *c;
    const struct upstream *up;
    const struct wire *w;
    uint32_t n_open = 0;
    size_t n_forwarded = 0;
    size_t n_dirty = 0;

    for (c = s->conns; c != NULL; c = c->next) {
        RAFT_ASSERT(c->state != CONN_CLOSED || c->n_inflight > 0);
        RAFT_ASSERT(!c->reading || c->backlog == NULL);
        RAFT_ASSERT(!c->w.dirty || c->state == CONN_OPEN || c->state == CONN_DRAINING);
        n_open += c->state == CONN_OPEN || c->state == CONN_DRAINING ? 1u : 0u;
        n_dirty += c->w.dirty ? 1u : 0u;
    }
    for (up = s->ups; up != NULL; up = up->next) {
        RAFT_ASSERT(!up->w.dirty || up->state == UP_ACTIVE);
        RAFT_ASSERT((up->head == NULL) == (up->n_out == 0));
        n_forwarded += up->n_out;
        n_dirty += up->w.dirty ? 1u : 0u;
    }
    for (w = s->dirty; w != NULL; w = w->dnext) {
        RAFT_ASSERT(w->dirty && n_dirty > 0);
        n_dirty--;
    }
    RAFT_ASSERT(n_dirty == 0);
    RAFT_ASSERT(n_open == s->n_open && n_forwarded == s->n_forwarded);
    RAFT_ASSERT(s->up == NULL || (s->up->state != UP_CLOSING && !s->up->retired));
    return true;
}
#endif

static void destroy(struct coord_server *s)
{
    coord_server_close_cb cb = s->close_cb;
    void *arg = s->close_arg;

    RAFT_ASSERT(s->closing && s->busy == 0 && s->conns == NULL && s->ups == NULL);
    while (s->free_reqs != NULL) {
        struct req *r = s->free_reqs;

        s->free_reqs = r->next;
        raft_free(r);
    }
    coord_codec_client_free(s->cc);
    raft_free(s->rbuf);
    raft_free(s);
    if (cb != NULL) {
        cb(arg);
    }
}

static void busy_dec(struct coord_server *s)
{
    RAFT_ASSERT(s->busy > 0);
    s->busy--;
    if (s->closing && s->busy == 0) {
        destroy(s);
    }
}

static void on_handle_closed(uv_handle_t *h)
{
    busy_dec(h->data);
}

static uint64_t wall_ms(void)
{
    uv_timeval64_t tv;

    if (uv_gettimeofday(&tv) != 0) {
        return 0;
    }
    return (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
}

/* ---- requests --------------------------------------------------------------------------- */

static struct req *req_get(struct coord_server *s)
{
    struct req *r = s->free_reqs;

    if (r != NULL) {
        s->free_reqs = r->next;
        s->n_free--;
    } else {
        r = raft_malloc(sizeof *r);
        if (r == NULL) {
            return NULL;
        }
    }
    memset(r, 0, offsetof(struct req, key)); /* the key bytes are written before use */
    r->s = s;
    s->busy++;
    return r;
}

/* Return r to the free list. May free s (closing): touch nothing after. */
static void req_put(struct req *r)
{
    struct coord_server *s = r->s;

    if (s->n_free < FREE_REQS_MAX && !s->closing) {
        r->next = s->free_reqs;
        s->free_reqs = r;
        s->n_free++;
    } else {
        raft_free(r);
    }
    busy_dec(s);
}

static void req_attach(struct req *r, struct conn *c, uint64_t id, uint8_t kind)
{
    r->c = c;
    r->id = id;
    r->kind = kind;
    c->n_inflight++;
    if (c->n_inflight >= COORD_SERVER_MAX_INFLIGHT) {
        update_reading(c);
    }
}

static void conn_free(struct conn *c);

/* r is complete: release its hold on its connection, then r itself. May free
 * s: touch nothing after. */
static void req_done(struct req *r)
{
    struct conn *c = r->c;

    RAFT_ASSERT(c != NULL && c->n_inflight > 0);
    r->c = NULL;
    c->n_inflight--;
    if (c->state == CONN_CLOSED && c->n_inflight == 0) {
        conn_free(c);
    } else if (c->state == CONN_OPEN) {
        update_reading(c);
    }
    req_put(r);
}

/* ---- output: batching and writing ------------------------------------------------------- */

static void dirty_remove(struct wire *w)
{
    struct coord_server *s = w->s;

    if (!w->dirty) {
        return;
    }
    if (w->dprev != NULL) {
        w->dprev->dnext = w->dnext;
    } else {
        s->dirty = w->dnext;
    }
    if (w->dnext != NULL) {
        w->dnext->dprev = w->dprev;
    }
    w->dprev = w->dnext = NULL;
    w->dirty = false;
}

static void on_write(uv_write_t *req, int status)
{
    struct wire *w = req->data;
    size_t written = w->writing.len;

    w->write_busy = false;
    w->writing.len = 0;
    if (w->writing.cap > OUT_KEEP) {
        coord_codec_client_out_free(&w->writing);
    }
    if (w->is_up) {
        up_flush_done((struct upstream *)w, status);
    } else {
        conn_flush_done((struct conn *)w, status, written);
    }
}

/* Hand w's pending frames to one uv_write unless one is in flight (its
 * completion writes them). Returns 0 or the libuv error. */
static int wire_write(struct wire *w)
{
    struct coord_api_out tmp;
    uv_buf_t buf;
    int rv;

    if (w->write_busy || w->pending.len == 0) {
        return 0;
    }
    tmp = w->writing;
    w->writing = w->pending;
    w->pending = tmp;
    RAFT_ASSERT(w->pending.len == 0);
    buf = uv_buf_init((char *)w->writing.base, (unsigned)w->writing.len);
    w->wreq.data = w;
    rv = uv_write(&w->wreq, (uv_stream_t *)&w->tcp, &buf, 1, on_write);
    if (rv != 0) {
        /* Nothing was written: put the bytes back so the accounting holds. */
        tmp = w->pending;
        w->pending = w->writing;
        w->writing = tmp;
        return rv;
    }
    w->write_busy = true;
    return 0;
}

static void conn_lost(struct conn *c, int uv_err);
static void upstream_lost(struct upstream *up, int uv_err);
static void resume_feed(struct conn *c);

static void flush_all(struct coord_server *s)
{
    s->flush_armed = false;
    uv_prepare_stop(&s->prepare);
    uv_check_stop(&s->check);
    while (s->dirty != NULL) {
        struct wire *w = s->dirty;
        int rv;

        dirty_remove(w);
        if (!w->is_up && ((struct conn *)w)->want_feed) {
            resume_feed((struct conn *)w); /* may mark w dirty again */
            dirty_remove(w);
            if (((struct conn *)w)->state >= CONN_CLOSING) {
                continue;
            }
        }
        rv = wire_write(w);
        if (rv != 0 && w->is_up) {
            upstream_lost((struct upstream *)w, rv);
        } else if (rv != 0) {
            conn_lost((struct conn *)w, rv);
        }
    }
    RAFT_DASSERT(check(s));
}

static void on_prepare(uv_prepare_t *h)
{
    flush_all(h->data);
}

static void on_check(uv_check_t *h)
{
    flush_all(h->data);
}

static void mark_dirty(struct wire *w)
{
    struct coord_server *s = w->s;

    if (!w->dirty) {
        w->dirty = true;
        w->dprev = NULL;
        w->dnext = s->dirty;
        if (s->dirty != NULL) {
            s->dirty->dprev = w;
        }
        s->dirty = w;
    }
    if (!s->flush_armed) {
        uv_prepare_start(&s->prepare, on_prepare);
        uv_check_start(&s->check, on_check);
        s->flush_armed = true;
    }
}

/* ---- client connections: teardown ------------------------------------------------------- */

static void conn_free(struct conn *c)
{
    struct coord_server *s = c->w.s;

    RAFT_ASSERT(c->state == CONN_CLOSED && c->n_inflight == 0 && !c->w.dirty);
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        s->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    coord_frame_reader_close(&c->w.reader);
    coord_codec_client_out_free(&c->w.pending);
    coord_codec_client_out_free(&c->w.writing);
    raft_free(c->backlog);
    raft_free(c);
    busy_dec(s);
}

static void on_conn_closed(uv_handle_t *h)
{
    struct conn *c = h->data;

    c->state = CONN_CLOSED;
    if (c->n_inflight == 0) {
        conn_free(c);
    }
}

/* Start closing c: its unsent answers are dropped, and so are the answers
 * of its requests still in flight when they come. */
static void conn_close(struct conn *c)
{
    struct coord_server *s = c->w.s;

    if (c->state == CONN_CLOSING || c->state == CONN_CLOSED) {
        return;
    }
    s->n_open--;
    s->stats.n_conns--;
    s->stats.out_bytes -= out_queued(&c->w);
    c->state = CONN_CLOSING;
    c->reading = false;
    dirty_remove(&c->w);
    raft_free(c->backlog);
    c->backlog = NULL;
    c->backlog_len = c->backlog_off = 0;
    uv_close((uv_handle_t *)&c->w.tcp, on_conn_closed);
}

static void conn_lost(struct conn *c, int uv_err)
{
    if (uv_err != UV_EOF) {
        COORD_LOG(DEBUG, "client connection lost conn=%llu peer=%s err=%s detail=\"%s\"",
                  (ull)c->no, c->peer, raft_err_name(coord_uv_err(uv_err)), uv_strerror(uv_err));
    }
    conn_close(c);
}

/* Too much unsent, or nothing taken for too long: the client does not read. */
static void conn_overflow(struct conn *c, const char *why)
{
    struct coord_server *s = c->w.s;

    s->stats.overflows++;
    COORD_LOG(WARN, "client connection closed conn=%llu peer=%s reason=%s unsent=%zu", (ull)c->no,
              c->peer, why, out_queued(&c->w));
    conn_close(c);
}

/* A last answer is queued: write it, then close. */
static void conn_drain(struct conn *c)
{
    if (c->state != CONN_OPEN) {
        return;
    }
    c->state = CONN_DRAINING;
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->w.tcp);
        c->reading = false;
    }
    if (out_queued(&c->w) == 0) {
        conn_close(c);
    }
}

static void conn_flush_done(struct conn *c, int status, size_t written)
{
    struct coord_server *s = c->w.s;
    int rv;

    if (c->state == CONN_CLOSING || c->state == CONN_CLOSED) {
        return; /* cancelled by the close, which did the accounting */
    }
    s->stats.out_bytes -= written;
    if (status != 0) {
        conn_lost(c, status);
        return;
    }
    c->progress_at = uv_now(s->loop);
    rv = wire_write(&c->w); /* what came while the last write was in flight */
    if (rv != 0) {
        conn_lost(c, rv);
        return;
    }
    if (c->state == CONN_DRAINING && out_queued(&c->w) == 0) {
        conn_close(c);
        return;
    }
    update_reading(c);
}

/* ---- answers ---------------------------------------------------------------------------- */

/* Account for what the last encode appended to c's output (before = its
 * length before), then enforce the output bounds. */
static void conn_appended(struct conn *c, size_t before)
{
    struct coord_server *s = c->w.s;
    size_t queued;

    bool was_empty = before == 0 && c->w.writing.len == 0;

    if (was_empty) {
        c->progress_at = uv_now(s->loop); /* the stall clock runs from the first unsent byte */
    }
    s->stats.out_bytes += c->w.pending.len - before;
    queued = out_queued(&c->w);
    if (queued > s->stats.out_bytes_peak) {
        s->stats.out_bytes_peak = queued;
    }
    mark_dirty(&c->w);
    if (queued > COORD_SERVER_OUT_MAX) {
        conn_overflow(c, "unsent_answers_over_bound");
    } else if (queued > COORD_SERVER_OUT_PAUSE) {
        update_reading(c);
        arm_timer(s);
    } else if (was_empty && !uv_is_active((uv_handle_t *)&s->timer)) {
        arm_timer(s); /* for the stall scan; an armed timer re-arms itself when it fires */
    }
}

/* An encode failed: the answer is lost, so the client would wait for it
 * forever; close the connection instead. */
static void conn_encode_failed(struct conn *c, int rv)
{
    COORD_LOG(WARN, "client answer lost conn=%llu peer=%s err=%s", (ull)c->no, c->peer,
              raft_err_name(rv));
    conn_close(c);
}

static bool conn_answers(const struct conn *c)
{
    return c->state == CONN_OPEN;
}

/* Answer h (no result) on c. */
static void reply(struct conn *c, const struct coord_api_header *h)
{
    struct coord_server *s = c->w.s;
    size_t before = c->w.pending.len;
    int rv;

    if (!conn_answers(c)) {
        return;
    }
    s->stats.errors += h->error != 0 ? 1u : 0u;
    rv = coord_codec_client_answer(s->cc, h, &c->w.pending);
    if (rv != 0) {
        conn_encode_failed(c, rv);
        return;
    }
    conn_appended(c, before);
}

/* Answer code with "<raft_err_str(code)>: <detail>" (detail may be NULL). */
static void reply_error(struct conn *c, uint64_t id, int code, const char *fmt, ...)
    COORD_LOG_PRINTF(4, 5);

static void reply_error(struct conn *c, uint64_t id, int code, const char *fmt, ...)
{
    struct coord_api_header h = {0};
    char msg[MSG_LEN];
    int n = snprintf(msg, sizeof msg, "%s", raft_err_str(code));
    va_list ap;

    RAFT_ASSERT(code < 0);
    if (fmt != NULL && n > 0 && (size_t)n < sizeof msg - 2) {
        msg[n++] = ':';
        msg[n++] = ' ';
        va_start(ap, fmt);
        (void)vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
        va_end(ap);
    }
    h.id = id;
    h.error = code;
    h.message = msg;
    reply(c, &h);
}

/* Answer ENOTLEADER with whom this node takes for the leader. */
static void reply_not_leader(struct conn *c, uint64_t id, raft_id hint, const char *detail)
{
    struct coord_server *s = c->w.s;
    struct coord_api_header h = {0};
    char addr[RAFT_ADDR_MAX] = "";
    char msg[MSG_LEN];
    raft_id leader = 0;

    if (!conn_answers(c)) {
        return; /* and the node may be gone: the server is closing */
    }
    if (coord_node_leader(s->node, &leader, addr, sizeof addr) != 0) {
        leader = hint; /* none known now, or this node leads again: the report's */
        addr[0] = '\0';
    }
    if (leader != 0 && addr[0] != '\0') {
        (void)snprintf(msg, sizeof msg, "%s: leader is %llu at %s%s%s",
                       raft_err_str(RAFT_ENOTLEADER), (ull)leader, addr, detail != NULL ? "; " : "",
                       detail != NULL ? detail : "");
    } else {
        (void)snprintf(msg, sizeof msg, "%s: leader %s%s%s", raft_err_str(RAFT_ENOTLEADER),
                       leader != 0 ? "known, its client address is not" : "unknown",
                       detail != NULL ? "; " : "", detail != NULL ? detail : "");
    }
    h.id = id;
    h.error = RAFT_ENOTLEADER;
    h.message = msg;
    h.leader_id = leader;
    h.leader_addr = addr;
    reply(c, &h);
}

/* Answer a failed node request. */
static void reply_node_error(struct conn *c, uint64_t id, const struct coord_node_result *res)
{
    if (res->status == RAFT_ENOTLEADER) {
        reply_not_leader(c, id, res->leader, res->message);
        return;
    }
    if (res->message != NULL) {
        reply_error(c, id, res->status, "%s", res->message);
    } else {
        reply_error(c, id, res->status, NULL);
    }
}

/* ---- node callbacks --------------------------------------------------------------------- */

static void on_propose_done(void *arg, const struct coord_node_result *res)
{
    struct req *r = arg;
    struct conn *c = r->c;
    struct coord_server *s = r->s;
    struct coord_api_header h = {0};
    size_t before = c->w.pending.len;
    int rv;

    if (!conn_answers(c)) {
        req_done(r);
        return;
    }
    h.id = r->id;
    if (res->status != 0) {
        reply_node_error(c, r->id, res);
    } else if (res->cmd != NULL && res->cmd->status != 0) {
        /* Logged and applied as a no-op: the fsm refused its shape. */
        reply_error(c, r->id, res->cmd->status, "malformed command at index %llu", (ull)res->index);
    } else if (res->cmd == NULL) {
        h.revision = res->revision;
        h.applied_index = res->index;
        reply(c, &h);
    } else {
        h.revision = res->cmd->revision;
        h.applied_index = res->index;
        rv = coord_codec_client_answer_cmd(s->cc, &h, res->cmd, r->txn, &c->w.pending);
        if (rv != 0) {
            conn_encode_failed(c, rv);
        } else {
            conn_appended(c, before);
        }
    }
    coord_codec_client_reset(s->cc);
    req_done(r);
}

/* Read what r asks from the node's state machine and answer it. */
static void answer_read(struct req *r, raft_index index)
{
    struct conn *c = r->c;
    struct coord_server *s = r->s;
    struct coord_fsm *fsm = coord_node_fsm(s->node);
    struct raft_buf key = {r->key, r->key_len};
    struct raft_buf end = {r->end, r->end_len};
    struct coord_fsm_read rd;
    struct coord_api_header h = {0};
    size_t before = c->w.pending.len;
    int rv;

    if (r->get) {
        rv = coord_fsm_get(fsm, &key, &rd);
        if (rv == RAFT_ENOTFOUND) {
            rv = 0; /* no such key: an empty answer, not an error */
        }
    } else {
        rv = coord_fsm_range(fsm, &key, &end, r->limit, &rd);
    }
    if (rv != 0) {
        COORD_LOG(WARN, "client read failed conn=%llu err=%s", (ull)c->no, raft_err_name(rv));
        reply_error(c, r->id, rv, "reading the store");
        return;
    }
    h.id = r->id;
    h.revision = rd.revision;
    h.applied_index = index;
    rv = coord_codec_client_answer_kvs(s->cc, &h, rd.kvs, rd.n_kvs, rd.more, &c->w.pending);
    coord_fsm_read_release(&rd);
    if (rv != 0) {
        conn_encode_failed(c, rv);
        return;
    }
    conn_appended(c, before);
}

static void on_read_done(void *arg, const struct coord_node_result *res)
{
    struct req *r = arg;
    struct coord_server *s = r->s;

    if (!conn_answers(r->c)) {
        req_done(r); /* the connection or the server is gone: do not touch the node */
        return;
    }
    if (res->status != 0) {
        reply_node_error(r->c, r->id, res);
    } else {
        answer_read(r, res->index);
    }
    coord_codec_client_reset(s->cc);
    req_done(r);
}

/* Member changes and leader transfers: no result but the index (and the
 * new leader). */
static void on_admin_done(void *arg, const struct coord_node_result *res)
{
    struct req *r = arg;
    struct coord_api_header h = {0};

    if (conn_answers(r->c) && res->status != 0) {
        reply_node_error(r->c, r->id, res);
    } else if (conn_answers(r->c)) {
        h.id = r->id;
        h.applied_index = res->index;
        h.revision = res->revision;
        h.leader_id = r->kind == REQ_TRANSFER ? res->leader : 0;
        reply(r->c, &h);
    }
    req_done(r);
}

/* ---- dispatch --------------------------------------------------------------------------- */

static void forward(struct conn *c, const struct coord_api_request *req);

/* The node is not the leader: forward req, or tell the client who is. */
static void not_leader(struct conn *c, const struct coord_api_request *req)
{
    if (req->no_forward) {
        reply_not_leader(c, req->id, 0, NULL);
        return;
    }
    forward(c, req);
}

/* The node refused req at once with rv. */
static void refused(struct conn *c, const struct coord_api_request *req, int rv)
{
    if (rv == RAFT_ENOTLEADER) {
        not_leader(c, req);
    } else {
        reply_error(c, req->id, rv, NULL);
    }
}

static void dispatch_write(struct conn *c, const struct coord_api_request *req)
{
    struct coord_server *s = c->w.s;
    struct req *r = req_get(s);
    struct raft_buf cmd;
    int rv;

    if (r == NULL) {
        reply_error(c, req->id, RAFT_ENOMEM, NULL);
        return;
    }
    rv = coord_codec_client_command(s->cc, req, wall_ms(), &cmd);
    if (rv == 0) {
        rv = coord_node_propose(s->node, &cmd, req->timeout_ms, on_propose_done, r);
    }
    if (rv != 0) {
        req_put(r); /* never the last busy count: s is not closing */
        refused(c, req, rv);
        return;
    }
    r->txn = req->op == COORD_API_TXN;
    req_attach(r, c, req->id, REQ_PROPOSE);
}

static void dispatch_read(struct conn *c, const struct coord_api_request *req)
{
    struct coord_server *s = c->w.s;
    struct req *r;
    int rv;

    if (req->key.len == 0 || req->key.len > COORD_CMD_KEY_MAX ||
        req->range_end.len > COORD_CMD_KEY_MAX) {
        s->stats.protocol_errors++;
        reply_error(c, req->id, req->key.len == 0 ? RAFT_EPROTO : RAFT_ETOOBIG,
                    "range: key of 1 to %u bytes and range_end of at most %u", COORD_CMD_KEY_MAX,
                    COORD_CMD_KEY_MAX);
        return;
    }
    r = req_get(s);
    if (r == NULL) {
        reply_error(c, req->id, RAFT_ENOMEM, NULL);
        return;
    }
    r->get = req->range_end.len == 0;
    r->limit = req->limit;
    r->key_len = req->key.len;
    r->end_len = req->range_end.len;
    memcpy(r->key, req->key.base, req->key.len);
    if (req->range_end.len > 0) {
        memcpy(r->end, req->range_end.base, req->range_end.len);
    }
    rv = coord_node_read(s->node, !req->serializable, req->timeout_ms, on_read_done, r);
    if (rv != 0) {
        req_put(r);
        reply_error(c, req->id, rv, NULL);
        return;
    }
    req_attach(r, c, req->id, REQ_READ);
}

static void dispatch_status(struct conn *c, const struct coord_api_request *req)
{
    struct coord_server *s = c->w.s;
    struct coord_node_status st;
    struct coord_api_header h = {0};
    size_t before = c->w.pending.len;
    int rv;

    memset(&st, 0, sizeof st);
    coord_node_status(s->node, &st);
    h.id = req->id;
    h.revision = st.revision;
    h.applied_index = st.applied_index;
    h.leader_id = st.leader;
    rv = coord_codec_client_answer_status(s->cc, &h, &st, &c->w.pending);
    if (rv != 0) {
        conn_encode_failed(c, rv);
        return;
    }
    conn_appended(c, before);
}

static void dispatch_admin(struct conn *c, const struct coord_api_request *req)
{
    struct coord_server *s = c->w.s;
    struct req *r = req_get(s);
    uint8_t kind = req->op == COORD_API_MEMBER_CHANGE ? REQ_CONF : REQ_TRANSFER;
    int rv;

    if (r == NULL) {
        reply_error(c, req->id, RAFT_ENOMEM, NULL);
        return;
    }
    if (kind == REQ_CONF) {
        rv = coord_node_conf_change(s->node, req->conf_op, req->member_id, req->peer_addr,
                                    req->client_addr, req->timeout_ms, on_admin_done, r);
    } else {
        rv = coord_node_transfer(s->node, req->transfer_to, req->timeout_ms, on_admin_done, r);
    }
    if (rv != 0) {
        req_put(r);
        refused(c, req, rv);
        return;
    }
    req_attach(r, c, req->id, kind);
}

/* One frame from a client. The codec's arena is reset by the caller. */
static void on_frame(struct conn *c, const struct raft_buf *body)
{
    struct coord_server *s = c->w.s;
    struct coord_api_request req;
    int rv = coord_codec_client_decode(s->cc, body, &req);

    if (rv != 0) {
        s->stats.protocol_errors++;
        COORD_LOG(DEBUG, "client frame refused conn=%llu peer=%s len=%zu err=%s", (ull)c->no,
                  c->peer, body->len, raft_err_name(rv));
        reply_error(c, 0, rv,
                    rv == RAFT_EPROTO ? "undecodable frame: closing the connection"
                                      : "decoding a frame: closing the connection");
        conn_drain(c);
        return;
    }
    s->stats.requests++;
    switch (req.op) {
    case COORD_API_PUT:
    case COORD_API_DELETE_RANGE:
    case COORD_API_TXN:
        dispatch_write(c, &req);
        break;
    case COORD_API_RANGE:
        dispatch_read(c, &req);
        break;
    case COORD_API_STATUS:
        dispatch_status(c, &req);
        break;
    case COORD_API_MEMBER_CHANGE:
    case COORD_API_LEADER_TRANSFER:
        dispatch_admin(c, &req);
        break;
    default:
        s->stats.protocol_errors++;
        COORD_LOG(DEBUG, "client request refused conn=%llu peer=%s id=%llu reason=\"%s\"",
                  (ull)c->no, c->peer, (ull)req.id, req.invalid);
        reply_error(c, req.id, RAFT_EPROTO, "%s", req.invalid != NULL ? req.invalid : "?");
        break;
    }
}

/* ---- reading and backpressure ----------------------------------------------------------- */

static bool must_pause(const struct conn *c)
{
    return c->n_inflight >= COORD_SERVER_MAX_INFLIGHT || out_queued(&c->w) > COORD_SERVER_OUT_PAUSE;
}

/* Paused: resume only well below the bounds, so reading does not flap. */
static bool may_resume(const struct conn *c)
{
    return c->n_inflight <= COORD_SERVER_MAX_INFLIGHT / 4 * 3 &&
           out_queued(&c->w) <= COORD_SERVER_OUT_PAUSE / 2;
}

/* A frame the reader refused (too large, or no memory for it). */
static void frame_error(struct conn *c, int rv)
{
    struct coord_server *s = c->w.s;

    s->stats.protocol_errors++;
    if (rv == RAFT_ETOOBIG) {
        COORD_LOG(DEBUG, "client frame too large conn=%llu peer=%s max=%zu", (ull)c->no, c->peer,
                  s->max_request);
        reply_error(c, 0, rv, "frame over max_request_bytes (%zu): closing the connection",
                    s->max_request);
    } else {
        reply_error(c, 0, rv, "reading a frame: closing the connection");
    }
    conn_drain(c);
}

/* Dispatch the frames in *in until it is used up or c must pause. */
static void conn_feed(struct conn *c, struct raft_buf *in)
{
    struct coord_server *s = c->w.s;
    struct raft_buf body;
    int rv;

    c->feeding = true;
    while (c->state == CONN_OPEN && in->len > 0 && !must_pause(c)) {
        rv = coord_frame_reader_next(&c->w.reader, in, &body);
        if (rv == 0) {
            break;
        }
        if (rv < 0) {
            frame_error(c, rv);
            break;
        }
        on_frame(c, &body);
        coord_codec_client_reset(s->cc);
    }
    c->feeding = false;
}

/* Keep the bytes of in not yet dispatched for when c resumes. */
static void save_backlog(struct conn *c, const struct raft_buf *in)
{
    RAFT_ASSERT(c->backlog == NULL);
    c->backlog = raft_memdup(in->base, in->len);
    if (c->backlog == NULL) {
        COORD_LOG(WARN, "client connection closed conn=%llu peer=%s err=ENOMEM", (ull)c->no,
                  c->peer);
        conn_close(c);
        return;
    }
    c->backlog_off = 0;
    c->backlog_len = in->len;
}

/* Dispatch what waits in c's backlog. Returns true when it is used up. */
static bool feed_backlog(struct conn *c)
{
    struct raft_buf in;

    if (c->backlog == NULL) {
        return true;
    }
    in.base = c->backlog + c->backlog_off;
    in.len = c->backlog_len - c->backlog_off;
    conn_feed(c, &in);
    if (c->backlog == NULL) {
        return true; /* closed meanwhile */
    }
    c->backlog_off = c->backlog_len - in.len;
    if (in.len > 0) {
        return false;
    }
    raft_free(c->backlog);
    c->backlog = NULL;
    c->backlog_len = c->backlog_off = 0;
    return true;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct wire *w = h->data;

    (void)suggested;
    /* One buffer for every connection: libuv hands each read to its
     * callback before it allocates for the next. */
    buf->base = (char *)w->s->rbuf;
    buf->len = READ_BUF_LEN;
}

static void on_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf);

/* Start or stop reading c as its bounds say. Never dispatches anything
 * itself: a backlog to dispatch first is left to flush_all(), which runs
 * from the loop, so dispatches never nest (they share the codec's arena). */
static void update_reading(struct conn *c)
{
    struct coord_server *s = c->w.s;
    int rv;

    if (c->state != CONN_OPEN || c->feeding) {
        return;
    }
    if (must_pause(c) || (!c->reading && !may_resume(c))) {
        if (c->reading) {
            uv_read_stop((uv_stream_t *)&c->w.tcp);
            c->reading = false;
            s->stats.paused++;
            COORD_LOG(DEBUG, "client reading paused conn=%llu inflight=%u unsent=%zu", (ull)c->no,
                      c->n_inflight, out_queued(&c->w));
        }
        return;
    }
    if (c->reading) {
        return;
    }
    if (c->backlog != NULL) {
        c->want_feed = true;
        mark_dirty(&c->w);
        return;
    }
    rv = uv_read_start((uv_stream_t *)&c->w.tcp, on_alloc, on_read);
    if (rv != 0) {
        conn_lost(c, rv);
        return;
    }
    c->reading = true;
}

/* From flush_all(): dispatch c's backlog, then read again if it is used up
 * and the bounds allow. */
static void resume_feed(struct conn *c)
{
    c->want_feed = false;
    if (c->state == CONN_OPEN && !must_pause(c) && feed_backlog(c)) {
        update_reading(c);
    }
}

static void on_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf)
{
    struct conn *c = stream->data;
    struct raft_buf in = {buf->base, n > 0 ? (size_t)n : 0};

    if (n < 0) {
        conn_lost(c, (int)n);
        return;
    }
    if (c->state != CONN_OPEN) {
        return;
    }
    conn_feed(c, &in);
    if (c->state == CONN_OPEN && in.len > 0) {
        save_backlog(c, &in); /* paused with bytes left */
    }
    update_reading(c);
    RAFT_DASSERT(check(c->w.s));
}

/* ---- accepting -------------------------------------------------------------------------- */

static void format_peer(uv_tcp_t *tcp, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    int len = (int)sizeof ss;
    char ip[64] = "?";
    int port = 0;

    memset(&ss, 0, sizeof ss);
    (void)snprintf(out, cap, "?");
    if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len) != 0) {
        return;
    }
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;

        (void)uv_ip4_name(sin, ip, sizeof ip);
        port = ntohs(sin->sin_port);
        (void)snprintf(out, cap, "%s:%d", ip, port);
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;

        (void)uv_ip6_name(sin6, ip, sizeof ip);
        port = ntohs(sin6->sin6_port);
        (void)snprintf(out, cap, "[%s]:%d", ip, port);
    }
}

static void on_refused_closed(uv_handle_t *h)
{
    struct coord_server *s = h->data;

    raft_free(h);
    busy_dec(s);
}

/* max_clients reached: accept the connection and close it at once, so the
 * client learns now instead of waiting in the backlog. One WARN line per
 * REFUSED_LOG_MS at most. */
static void refuse(struct coord_server *s)
{
    uv_tcp_t *tcp = raft_malloc(sizeof *tcp);
    uint64_t now = uv_now(s->loop);

    if (tcp == NULL) {
        s->accept_stalled = true;
        arm_timer(s);
        return;
    }
    RAFT_ASSERT(uv_tcp_init(s->loop, tcp) == 0); /* AF_UNSPEC: no socket yet, cannot fail */
    tcp->data = s;
    s->busy++;
    (void)uv_accept((uv_stream_t *)&s->listener, (uv_stream_t *)tcp);
    uv_close((uv_handle_t *)tcp, on_refused_closed);
    s->stats.refused++;
    s->refused_unlogged++;
    if (s->refused_logged_at == 0 || now >= s->refused_logged_at + REFUSED_LOG_MS) {
        COORD_LOG(WARN, "client refused reason=max_clients max_clients=%u refused=%llu",
                  s->max_clients, (ull)s->refused_unlogged);
        s->refused_logged_at = now > 0 ? now : 1;
        s->refused_unlogged = 0;
    }
}

static struct conn *conn_new(struct coord_server *s)
{
    struct conn *c = raft_calloc(1, sizeof *c);

    if (c == NULL) {
        return NULL;
    }
    c->w.s = s;
    RAFT_ASSERT(uv_tcp_init(s->loop, &c->w.tcp) == 0); /* AF_UNSPEC: cannot fail */
    c->w.tcp.data = c;
    coord_frame_reader_init(&c->w.reader, s->max_request);
    c->state = CONN_OPEN;
    c->no = ++s->next_conn_no;
    c->next = s->conns;
    if (s->conns != NULL) {
        s->conns->prev = c;
    }
    s->conns = c;
    s->n_open++;
    s->stats.n_conns++;
    s->busy++;
    return c;
}

static void accept_one(struct coord_server *s)
{
    struct conn *c;
    int rv;

    if (s->n_open >= s->max_clients) {
        refuse(s);
        return;
    }
    c = conn_new(s);
    if (c == NULL) {
        /* libuv stops watching the listener until uv_accept() runs; the
         * timer retries shortly. */
        if (!s->accept_stalled) {
            COORD_LOG(WARN, "client accept failed err=ENOMEM");
        }
        s->accept_stalled = true;
        arm_timer(s);
        return;
    }
    s->accept_stalled = false;
    rv = uv_accept((uv_stream_t *)&s->listener, (uv_stream_t *)&c->w.tcp);
    if (rv != 0) {
        COORD_LOG(WARN, "client accept failed err=%s detail=\"%s\"",
                  raft_err_name(coord_uv_err(rv)), uv_strerror(rv));
        conn_close(c);
        return;
    }
    s->stats.accepted++;
    format_peer(&c->w.tcp, c->peer, sizeof c->peer);
    (void)uv_tcp_nodelay(&c->w.tcp, 1); /* answers are batched by us */
    (void)uv_tcp_keepalive(&c->w.tcp, 1, KEEPALIVE_S);
    COORD_LOG(DEBUG, "client connected conn=%llu peer=%s", (ull)c->no, c->peer);
    update_reading(c);
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct coord_server *s = listener->data;

    if (status != 0) {
        COORD_LOG(WARN, "client accept failed err=%s detail=\"%s\"",
                  raft_err_name(coord_uv_err(status)), uv_strerror(status));
        return;
    }
    if (!s->closing) {
        accept_one(s);
    }
    RAFT_DASSERT(s->closing || check(s));
}

/* ---- forwarded requests of an upstream -------------------------------------------------- */

static size_t bucket(uint64_t up_id)
{
    return (size_t)(up_id & (UP_BUCKETS - 1));
}

/* Add r to up's deadline list (kept in order: most share one timeout, so
 * the walk from the tail is short) and table. */
static void fwd_insert(struct upstream *up, struct req *r)
{
    struct req *after = up->tail;
    size_t b = bucket(r->up_id);

    while (after != NULL && after->deadline > r->deadline) {
        after = after->prev;
    }
    r->prev = after;
    r->next = after != NULL ? after->next : up->head;
    if (r->next != NULL) {
        r->next->prev = r;
    } else {
        up->tail = r;
    }
    if (after != NULL) {
        after->next = r;
    } else {
        up->head = r;
    }
    r->hnext = up->table[b];
    up->table[b] = r;
    r->up = up;
    up->n_out++;
    up->w.s->n_forwarded++;
}

static void fwd_remove(struct upstream *up, struct req *r)
{
    struct req **p = &up->table[bucket(r->up_id)];

    while (*p != r) {
        RAFT_ASSERT(*p != NULL);
        p = &(*p)->hnext;
    }
    *p = r->hnext;
    if (r->prev != NULL) {
        r->prev->next = r->next;
    } else {
        up->head = r->next;
    }
    if (r->next != NULL) {
        r->next->prev = r->prev;
    } else {
        up->tail = r->prev;
    }
    r->prev = r->next = r->hnext = NULL;
    r->up = NULL;
    up->n_out--;
    up->w.s->n_forwarded--;
}

static struct req *fwd_find(const struct upstream *up, uint64_t up_id)
{
    struct req *r = up->table[bucket(up_id)];

    while (r != NULL && r->up_id != up_id) {
        r = r->hnext;
    }
    return r;
}

/* r will get no answer from up: answer code and detail instead. */
static void fwd_fail(struct upstream *up, struct req *r, int code, const char *detail)
{
    fwd_remove(up, r);
    if (conn_answers(r->c)) {
        reply_error(r->c, r->id, code, "%s", detail);
    }
    req_done(r);
}

/* A retired upstream with nothing left to answer has served its purpose. */
static void maybe_retire(struct upstream *up)
{
    if (up->retired && up->n_out == 0 && up->state != UP_CLOSING) {
        upstream_close(up);
    }
}

/* ---- upstreams: connections to the leader's client port --------------------------------- */

static void up_free(struct upstream *up)
{
    struct coord_server *s = up->w.s;

    RAFT_ASSERT(up->state == UP_CLOSING && up->tcp_closed && !up->resolving && up->n_out == 0);
    if (up->prev != NULL) {
        up->prev->next = up->next;
    } else {
        s->ups = up->next;
    }
    if (up->next != NULL) {
        up->next->prev = up->prev;
    }
    coord_frame_reader_close(&up->w.reader);
    coord_codec_client_out_free(&up->w.pending);
    coord_codec_client_out_free(&up->w.writing);
    raft_free(up);
    busy_dec(s);
}

static void on_up_closed(uv_handle_t *h)
{
    struct upstream *up = h->data;

    up->tcp_closed = true;
    if (!up->resolving) {
        up_free(up); /* else on_up_resolved() does */
    }
}

/* Close up and fail what it still owes: "outcome unknown" once it was
 * connected (any request may have been written), "not sent" before. */
static void upstream_close(struct upstream *up)
{
    struct coord_server *s = up->w.s;
    bool sent = up->state == UP_ACTIVE;
    char detail[MSG_LEN];

    if (up->state == UP_CLOSING) {
        return;
    }
    up->state = UP_CLOSING;
    if (s->up == up) {
        s->up = NULL;
    }
    dirty_remove(&up->w);
    if (sent) {
        (void)snprintf(detail, sizeof detail,
                       "forwarding connection to leader %llu lost: outcome unknown",
                       (ull)up->leader);
    } else {
        (void)snprintf(detail, sizeof detail, "leader %llu at %s unreachable: request not sent",
                       (ull)up->leader, up->addr);
    }
    while (up->head != NULL) {
        fwd_fail(up, up->head, sent ? RAFT_ENOCONN : RAFT_ELEADERLESS, detail);
    }
    if (up->resolving) {
        (void)uv_cancel((uv_req_t *)&up->gai); /* may be too late: on_up_resolved() copes */
    }
    uv_close((uv_handle_t *)&up->w.tcp, on_up_closed);
}

static void upstream_lost(struct upstream *up, int uv_err)
{
    if (up->state == UP_ACTIVE && up->n_out > 0) {
        COORD_LOG(WARN,
                  "forwarding connection lost leader=%llu address=%s inflight=%zu "
                  "err=%s detail=\"%s\"",
                  (ull)up->leader, up->addr, up->n_out, raft_err_name(coord_uv_err(uv_err)),
                  uv_strerror(uv_err));
    } else {
        COORD_LOG(DEBUG, "forwarding connection closed leader=%llu address=%s detail=\"%s\"",
                  (ull)up->leader, up->addr, uv_strerror(uv_err));
    }
    if (up->state != UP_ACTIVE) {
        up->w.s->dial_failed_leader = up->leader;
        up->w.s->dial_failed_at = uv_now(up->w.s->loop);
    }
    upstream_close(up);
}

static void up_flush_done(struct upstream *up, int status)
{
    int rv;

    if (up->state == UP_CLOSING) {
        return;
    }
    if (status != 0) {
        upstream_lost(up, status);
        return;
    }
    rv = wire_write(&up->w);
    if (rv != 0) {
        upstream_lost(up, rv);
    }
}

/* One answer from the leader: relay it to the client that asked. */
static void on_up_frame(struct upstream *up, const struct raft_buf *body)
{
    struct coord_server *s = up->w.s;
    struct coord_api_response resp;
    struct req *r;
    struct conn *c;
    size_t before;
    int rv = coord_codec_client_decode_response(s->cc, body, &resp);

    if (rv != 0) {
        COORD_LOG(WARN, "forwarding connection refused a frame leader=%llu address=%s err=%s",
                  (ull)up->leader, up->addr, raft_err_name(rv));
        upstream_close(up);
        return;
    }
    r = fwd_find(up, resp.id);
    if (r == NULL) {
        return; /* timed out here already */
    }
    fwd_remove(up, r);
    c = r->c;
    if (conn_answers(c)) {
        before = c->w.pending.len;
        s->stats.errors += resp.error != 0 ? 1u : 0u;
        rv = coord_codec_client_relay(s->cc, &resp, r->id, &c->w.pending);
        if (rv != 0) {
            conn_encode_failed(c, rv);
        } else {
            conn_appended(c, before);
        }
    }
    req_done(r);
    maybe_retire(up);
}

static void on_up_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf)
{
    struct upstream *up = stream->data;
    struct coord_server *s = up->w.s;
    struct raft_buf in = {buf->base, n > 0 ? (size_t)n : 0};
    struct raft_buf body;
    int rv;

    if (n < 0) {
        upstream_lost(up, (int)n);
        return;
    }
    while (up->state == UP_ACTIVE && in.len > 0) {
        rv = coord_frame_reader_next(&up->w.reader, &in, &body);
        if (rv == 0) {
            break;
        }
        if (rv < 0) {
            COORD_LOG(WARN, "forwarding connection refused a frame leader=%llu address=%s err=%s",
                      (ull)up->leader, up->addr, raft_err_name(rv));
            upstream_close(up);
            break;
        }
        on_up_frame(up, &body);
        coord_codec_client_reset(s->cc);
    }
    RAFT_DASSERT(check(s));
}

static void on_up_connect(uv_connect_t *req, int status)
{
    struct upstream *up = req->data;
    struct coord_server *s = up->w.s;
    int rv;

    if (up->state == UP_CLOSING) {
        return;
    }
    if (status != 0) {
        upstream_lost(up, status);
        return;
    }
    (void)uv_tcp_nodelay(&up->w.tcp, 1);
    (void)uv_tcp_keepalive(&up->w.tcp, 1, KEEPALIVE_S);
    rv = uv_read_start((uv_stream_t *)&up->w.tcp, on_alloc, on_up_read);
    if (rv != 0) {
        upstream_lost(up, rv);
        return;
    }
    up->state = UP_ACTIVE;
    s->stats.upstream_connects++;
    COORD_LOG(DEBUG, "forwarding to leader=%llu address=%s queued=%zu", (ull)up->leader, up->addr,
              up->n_out);
    if (up->w.pending.len > 0) {
        mark_dirty(&up->w);
    }
    maybe_retire(up);
}

static void up_connect(struct upstream *up, const struct sockaddr *sa)
{
    int rv;

    up->state = UP_CONNECTING;
    up->connect.data = up;
    rv = uv_tcp_connect(&up->connect, &up->w.tcp, sa, on_up_connect);
    if (rv != 0) {
        upstream_lost(up, rv);
    }
}

static void on_up_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct upstream *up = req->data;

    up->resolving = false;
    if (up->state == UP_CLOSING) {
        uv_freeaddrinfo(res);
        if (up->tcp_closed) {
            up_free(up);
        }
        return;
    }
    if (status != 0 || res == NULL) {
        uv_freeaddrinfo(res);
        upstream_lost(up, status != 0 ? status : UV_EAI_NONAME);
        return;
    }
    up_connect(up, res->ai_addr);
    uv_freeaddrinfo(res);
}

/* Dial up's leader. Failures close up (which fails what it queued). */
static void upstream_dial(struct upstream *up)
{
    struct coord_server *s = up->w.s;
    struct sockaddr_storage ss;
    int rv;

    up->gai.data = up;
    rv = coord_addr_resolve(s->loop, up->addr, &ss, &up->gai, on_up_resolved);
    if (rv == 1) {
        up->resolving = true;
        return;
    }
    if (rv != 0) {
        COORD_LOG(WARN, "forwarding dial failed leader=%llu address=%s detail=\"%s\"",
                  (ull)up->leader, up->addr, uv_strerror(rv));
        upstream_lost(up, rv);
        return;
    }
    up_connect(up, (const struct sockaddr *)&ss);
}

/* Make a new upstream dialing leader at addr the current one (s->up).
 * Errors: RAFT_ENOMEM, RAFT_ELEADERLESS (the dial failed at once: it is
 * closed again). */
static int upstream_new(struct coord_server *s, raft_id leader, const char *addr)
{
    struct upstream *up = raft_calloc(1, sizeof *up);

    if (up == NULL) {
        return RAFT_ENOMEM;
    }
    up->w.s = s;
    up->w.is_up = true;
    RAFT_ASSERT(uv_tcp_init(s->loop, &up->w.tcp) == 0); /* AF_UNSPEC: cannot fail */
    up->w.tcp.data = up;
    coord_frame_reader_init(&up->w.reader, COORD_SERVER_UP_MAX_FRAME);
    up->leader = leader;
    (void)snprintf(up->addr, sizeof up->addr, "%s", addr);
    up->state = UP_RESOLVING;
    up->next = s->ups;
    if (s->ups != NULL) {
        s->ups->prev = up;
    }
    s->ups = up;
    s->busy++;
    s->up = up;
    upstream_dial(up); /* a failure closes up, which clears s->up */
    return s->up != NULL ? 0 : RAFT_ELEADERLESS;
}

/* Retire the current upstream: it takes no new requests and closes once it
 * owes no answers. */
static void upstream_retire(struct coord_server *s)
{
    struct upstream *up = s->up;

    if (up != NULL) {
        up->retired = true;
        s->up = NULL;
        maybe_retire(up);
    }
}

/* The upstream to forward to leader at addr: the current one, or a new one
 * (the old one retires). NULL with *code set when there is none. */
static struct upstream *upstream_get(struct coord_server *s, raft_id leader, const char *addr,
                                     int *code)
{
    const struct upstream *old = s->up;
    uint64_t now = uv_now(s->loop);

    if (old != NULL && (old->leader != leader || strcmp(old->addr, addr) != 0)) {
        COORD_LOG(DEBUG, "forwarding leader changed from=%llu to=%llu", (ull)old->leader,
                  (ull)leader);
        upstream_retire(s);
    }
    if (s->up != NULL) {
        return s->up;
    }
    if (leader == s->dial_failed_leader && now < s->dial_failed_at + DIAL_RETRY_MS) {
        *code = RAFT_ELEADERLESS; /* it failed a moment ago: do not hammer it */
        return NULL;
    }
    *code = upstream_new(s, leader, addr);
    return s->up;
}

/* Queue req on up under a new id, bound to c until answered or failed. */
static void forward_on(struct conn *c, const struct coord_api_request *req, struct upstream *up,
                       uint32_t timeout)
{
    struct coord_server *s = c->w.s;
    size_t before = up->w.pending.len;
    struct req *r = req_get(s);
    int rv = r != NULL
                 ? coord_codec_client_forward(s->cc, req, up->next_id + 1, timeout, &up->w.pending)
                 : RAFT_ENOMEM;

    /* The copy is a few bytes longer than the client's frame: one at the
     * limit would make the leader (same limit) close the whole connection. */
    if (rv == 0 && up->w.pending.len - before - COORD_FRAME_HEADER_LEN > s->max_request) {
        up->w.pending.len = before;
        rv = RAFT_ETOOBIG;
    }
    if (rv != 0) {
        if (r != NULL) {
            req_put(r); /* never the last busy count: s is not closing */
        }
        reply_error(c, req->id, rv, "forwarding to leader %llu", (ull)up->leader);
        return;
    }
    r->up_id = ++up->next_id;
    r->timeout_ms = timeout;
    r->deadline = uv_now(s->loop) + timeout + FORWARD_GRACE_MS;
    req_attach(r, c, req->id, REQ_FORWARD);
    fwd_insert(up, r);
    s->stats.forwarded++;
    if (up->state == UP_ACTIVE) {
        mark_dirty(&up->w);
    }
    if (up->head == r) {
        arm_timer(s);
    }
}

/* Send req, which this follower cannot serve, to the leader's client port;
 * its answer goes back to c under the client's id. */
static void forward(struct conn *c, const struct coord_api_request *req)
{
    struct coord_server *s = c->w.s;
    char addr[RAFT_ADDR_MAX] = "";
    raft_id leader = 0;
    struct upstream *up;
    uint32_t timeout = req->timeout_ms != 0 ? req->timeout_ms : s->timeout_ms;
    int code = RAFT_ENOMEM;
    int rv = coord_node_leader(s->node, &leader, addr, sizeof addr);

    if (rv != 0) {
        /* None known; or this node leads again as a transfer ends. */
        reply_error(c, req->id, RAFT_ELEADERLESS, "%s",
                    rv == 1 ? "leadership is moving: retry" : "no leader to forward to");
        return;
    }
    if (addr[0] == '\0') {
        reply_not_leader(c, req->id, leader, "cannot forward");
        return;
    }
    if (s->n_forwarded >= COORD_SERVER_MAX_FORWARD) {
        reply_error(c, req->id, RAFT_EBUSY, "%zu forwarded requests in flight", s->n_forwarded);
        return;
    }
    up = upstream_get(s, leader, addr, &code);
    if (up == NULL && code == RAFT_ENOMEM) {
        reply_error(c, req->id, code, "forwarding to leader %llu", (ull)leader);
        return;
    }
    if (up == NULL) {
        reply_error(c, req->id, code, "leader %llu at %s unreachable: request not sent",
                    (ull)leader, addr);
        return;
    }
    if (up->w.pending.len > UP_OUT_MAX) {
        reply_error(c, req->id, RAFT_EBUSY, "forwarding queue to leader %llu full", (ull)leader);
        return;
    }
    forward_on(c, req, up, timeout);
}

/* ---- the timer: forward deadlines, stalled connections, accept retries ------------------ */

static void expire_forwards(struct coord_server *s, uint64_t now)
{
    struct upstream *up;
    char detail[MSG_LEN];

    for (up = s->ups; up != NULL; up = up->next) {
        bool expired = false;

        while (up->head != NULL && up->head->deadline <= now) {
            (void)snprintf(detail, sizeof detail,
                           "leader %llu did not answer the forwarded request within %u ms: "
                           "outcome unknown",
                           (ull)up->leader, up->head->timeout_ms);
            fwd_fail(up, up->head, RAFT_ETIMEDOUT, detail);
            expired = true;
        }
        /* The leader answers ETIMEDOUT itself before our grace ends: silence
         * past it suggests a dead path. New requests take a fresh
         * connection; this one stays for the answers it still owes. */
        if (expired && up == s->up) {
            COORD_LOG(DEBUG, "forwarding connection retired leader=%llu reason=timeout",
                      (ull)up->leader);
            upstream_retire(s);
        }
        maybe_retire(up); /* closing frees nothing at once: the walk stays valid */
    }
}

/* Close connections whose answers have not moved for stall_ms. */
static void stall_scan(struct coord_server *s, uint64_t now)
{
    struct conn *c;

    s->next_stall_scan = now + s->stall_ms / 4;
    for (c = s->conns; c != NULL; c = c->next) {
        size_t wqs;

        if ((c->state != CONN_OPEN && c->state != CONN_DRAINING) || out_queued(&c->w) == 0) {
            continue;
        }
        wqs = uv_stream_get_write_queue_size((const uv_stream_t *)&c->w.tcp);
        if (wqs < c->last_wqs) {
            c->progress_at = now; /* libuv wrote part of a large write */
        }
        c->last_wqs = wqs;
        if (now - c->progress_at >= s->stall_ms) {
            conn_overflow(c, "no_write_progress"); /* frees nothing at once */
        }
    }
}

static void on_timer(uv_timer_t *h)
{
    struct coord_server *s = h->data;
    uint64_t now = uv_now(s->loop);

    if (s->closing) {
        return;
    }
    if (s->accept_stalled) {
        accept_one(s);
    }
    expire_forwards(s, now);
    if (now >= s->next_stall_scan) {
        stall_scan(s, now);
    }
    arm_timer(s);
    RAFT_DASSERT(check(s));
}

static void arm_timer(struct coord_server *s)
{
    uint64_t now = uv_now(s->loop);
    uint64_t due = UINT64_MAX;
    const struct upstream *up;

    if (s->closing) {
        return;
    }
    for (up = s->ups; up != NULL; up = up->next) {
        if (up->head != NULL) {
            due = min_u64(due, up->head->deadline);
        }
    }
    if (s->stats.out_bytes > 0) {
        if (s->next_stall_scan <= now) {
            s->next_stall_scan = now + s->stall_ms / 4;
        }
        due = min_u64(due, s->next_stall_scan);
    }
    if (s->accept_stalled) {
        due = min_u64(due, now + ACCEPT_RETRY_MS);
    }
    if (due == UINT64_MAX) {
        uv_timer_stop(&s->timer);
        return;
    }
    uv_timer_start(&s->timer, on_timer, due > now ? due - now : 0, 0);
}

/* ---- the server ------------------------------------------------------------------------- */

static int listen_on(struct coord_server *s, char *err, size_t err_len)
{
    struct sockaddr_storage ss;
    uv_getaddrinfo_t gai;
    int len = (int)sizeof ss;
    int rv = coord_addr_resolve(s->loop, s->addr, &ss, &gai, NULL);
    const char *what = "resolve";

    if (rv == 0) {
        what = "bind";
        rv = uv_tcp_bind(&s->listener, (const struct sockaddr *)&ss, 0);
    }
    if (rv == 0) {
        what = "listen";
        rv = uv_listen((uv_stream_t *)&s->listener, LISTEN_BACKLOG, on_connection);
    }
    if (rv == 0) {
        what = "getsockname";
        rv = uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len);
    }
    if (rv != 0) {
        (void)snprintf(err, err_len, "client_addr %s: %s failed: %s", s->addr, what,
                       uv_strerror(rv));
        return coord_uv_err(rv) == RAFT_ENOCONN ? RAFT_EIO : coord_uv_err(rv);
    }
    s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
    return 0;
}

static void init_handles(struct coord_server *s)
{
    /* None of these can fail: no socket exists yet. */
    RAFT_ASSERT(uv_tcp_init(s->loop, &s->listener) == 0);
    RAFT_ASSERT(uv_timer_init(s->loop, &s->timer) == 0);
    RAFT_ASSERT(uv_prepare_init(s->loop, &s->prepare) == 0);
    RAFT_ASSERT(uv_check_init(s->loop, &s->check) == 0);
    s->listener.data = s;
    s->timer.data = s;
    s->prepare.data = s;
    s->check.data = s;
    s->busy += 4;
}

static void close_handles(struct coord_server *s)
{
    uv_close((uv_handle_t *)&s->listener, on_handle_closed);
    uv_close((uv_handle_t *)&s->timer, on_handle_closed);
    uv_close((uv_handle_t *)&s->prepare, on_handle_closed);
    uv_close((uv_handle_t *)&s->check, on_handle_closed);
}

int coord_server_new(uv_loop_t *loop, struct coord_node *node, const struct coord_config *cfg,
                     struct coord_server **out, char *err, size_t err_len)
{
    struct coord_server *s = raft_calloc(1, sizeof *s);
    int rv;

    *out = NULL;
    if (s == NULL || (s->rbuf = raft_malloc(READ_BUF_LEN)) == NULL ||
        coord_codec_client_new(&s->cc) != 0) {
        (void)snprintf(err, err_len, "client port: out of memory");
        if (s != NULL) {
            raft_free(s->rbuf);
            raft_free(s);
        }
        return RAFT_ENOMEM;
    }
    s->loop = loop;
    s->node = node;
    s->max_clients = cfg->max_clients > 0 ? cfg->max_clients : 1;
    s->max_request =
        cfg->max_request_bytes < COORD_FRAME_MAX ? (size_t)cfg->max_request_bytes : COORD_FRAME_MAX;
    s->timeout_ms = cfg->request_timeout_ms > 0 ? cfg->request_timeout_ms : 5000;
    s->stall_ms = (uint64_t)COORD_SERVER_STALL_MULT * s->timeout_ms;
    s->stall_ms = s->stall_ms > COORD_SERVER_STALL_MIN_MS ? s->stall_ms : COORD_SERVER_STALL_MIN_MS;
    (void)snprintf(s->addr, sizeof s->addr, "%s", cfg->client_addr);
    init_handles(s);
    rv = listen_on(s, err, err_len);
    if (rv != 0) {
        s->closing = true; /* freed once the handles are closed */
        close_handles(s);
        return rv;
    }
    COORD_LOG(INFO, "client port listening address=%s port=%d max_clients=%u", s->addr, s->port,
              s->max_clients);
    *out = s;
    return 0;
}

int coord_server_port(const struct coord_server *s)
{
    return s->port;
}

void coord_server_stats(const struct coord_server *s, struct coord_server_stats *stats)
{
    *stats = s->stats;
}

void coord_server_close(struct coord_server *s, coord_server_close_cb cb, void *arg)
{
    struct conn *c;
    struct upstream *up;

    RAFT_ASSERT(!s->closing);
    COORD_LOG(INFO, "client port closing address=%s conns=%llu forwarded_inflight=%zu", s->addr,
              (ull)s->stats.n_conns, s->n_forwarded);
    s->closing = true;
    s->close_cb = cb;
    s->close_arg = arg;
    s->flush_armed = false;
    for (c = s->conns; c != NULL; c = c->next) {
        conn_close(c); /* frees nothing at once */
    }
    for (up = s->ups; up != NULL; up = up->next) {
        upstream_close(up);
    }
    s->up = NULL;
    RAFT_ASSERT(s->dirty == NULL);
    close_handles(s);
}
