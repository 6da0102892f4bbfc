/* SPDX-License-Identifier: MIT */
/* client: libcoord's asynchronous core on the caller's libuv loop: endpoints
 * and failover, pipelined requests matched by id, batched writes, deadlines.
 * Encoding and decoding are coord/client/codec.c's; the synchronous face is
 * coord/client/sync.c. Translates libuv codes into RAFT_E* at its boundary. */

/* Design notes
 * ============
 *
 * A request (struct req) is either QUEUED (in c->queue, conn NULL) or SENT
 * (written on conn, waiting for its answer); it is in c->all from submission
 * to completion:
 *
 *   submit() --> QUEUED --conn_flush(): copied into a write--> SENT
 *                  ^                                            |
 *                  +--- requeue(): a retry-safe request, when --+
 *                       its connection broke (conn_fail()) or its
 *                       answer refused it before proposing (on_answer())
 *   QUEUED or SENT --finish(): answered, timed out (on_timer()), failed,
 *                    canceled (coord_client_close())--> free list
 *
 * A connection:
 *
 *   dial() --> RESOLVING --on_resolved()--> CONNECTING --on_connect()--> OPEN
 *   any state --conn_fail(): refused, lost, connect timeout, bad frame-------> CLOSING
 *   OPEN --redirect(), or ESHUTDOWN (retry_refused()): no longer c->conn
 *          --> OPEN + draining
 *   draining --last answer or timeout (unsend())--> CLOSING
 *   CLOSING --on_conn_closed()--> freed
 *
 * Sending: whatever queues a request arms the idle and check handles;
 * dispatch() runs from the check handle, after the loop's poll (which the
 * active idle handle keeps from blocking), so the requests of one iteration
 * leave in one write, and callbacks dispatch() runs (failed dials) come
 * after poll, never before a blocking one. The client dials lazily:
 * dispatch() dials c->cur when there is no current connection. A failed dial moves c->cur to the
 * next endpoint (not with opts.pin); after a round of failed dials (one per endpoint, one with pin)
 * the queued requests fail with RAFT_ENOCONN and dialing stops until the next
 * request.
 *
 * Ids: a request's id is (generation << 32) | slot, where slot is the index
 * of its struct in c->slots and the generation grows with each reuse, so an
 * answer is matched in O(1) and a late answer to a finished request matches
 * nothing. Every request has the same timeout, so c->all in submission order
 * is also in deadline order and one timer, armed for the earliest of the
 * head's deadline, the current dial's connect deadline and c->hold_until,
 * covers them all.
 *
 * Failures: a lost connection sends its reads (and writes not yet written)
 * again elsewhere, at most MAX_TRIES times each, and fails its written writes
 * with RAFT_ENOCONN; a frame too large, malformed bytes or memory running out
 * fail every request on the connection with that error instead (fatal_err()),
 * since a retry would likely meet it again. RAFT_ENOTLEADER, ELEADERLESS and
 * ESHUTDOWN answers are sent again (not with opts.pin): to the leader's
 * address when the answer names one, else after a pause (c->hold_until,
 * growing with the request's tries) or at the next endpoint.
 *
 * Memory: requests, writes and answer memory are recycled (free lists, one
 * arena reset after each callback), so steady traffic allocates nothing.
 *
 * Invariants (check() asserts them in debug builds):
 * 1. c->n_reqs counts c->all, whose deadlines never decrease.
 * 2. r->conn == NULL exactly when r is in c->queue; r->conn is then OPEN.
 * 3. conn->n_sent counts the requests whose conn it is.
 * 4. c->conn is NULL or neither draining nor CLOSING; draining connections
 *    are OPEN with n_sent > 0.
 * 5. Once closing, c->all is empty and no handle of c is (re)started.
 * 6. User callbacks never run inside a coord_client_* request call.
 */
#include "coord/client/client.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord/addr.h"
#include "coord/client/client_internal.h"
#include "coord/client/codec.h"
#include "coord/cmd.h"
#include "coord/frame.h"
#include "raft/base/alloc.h"
#include "raft/base/assert.h"
#include "raft/base/err.h"

#define DEFAULT_TIMEOUT_MS         5000u
#define DEFAULT_CONNECT_TIMEOUT_MS 2000u
#define DEFAULT_MAX_FRAME          (64u << 20)
#define DEFAULT_MAX_INFLIGHT       65536u
#define MAX_INFLIGHT_LIMIT         (1u << 30) /* slots are 32-bit */
#define ENDPOINT_MAX               256u       /* bytes of "host:port", NUL included */
#define READ_BUF_LEN               (64u << 10)
#define WRITE_MAX                  (1u << 20) /* bytes gathered into one write (or one frame) */
#define MAX_WRITES                 4u         /* uv_writes in flight per connection */
#define MAX_CONNS                  4u         /* the current one and draining ones */
#define MAX_TRIES                  8u         /* sends of one request */
#define RETRY_DELAY_MS             50u        /* first pause before resending a refused request */
#define RETRY_DELAY_MAX_MS         800u
#define REQ_BUF_KEEP               (64u << 10) /* frame buffer kept by a recycled request */
#define WRITE_BUF_KEEP             (1u << 20)  /* buffer kept by a recycled write */
#define KEEPALIVE_S                10u
#define ERR_DETAIL_LEN             160u

_Static_assert(RAFT_ADDR_MAX == 128, "client.h names 128 as coord_client_member()'s limit");

struct endpoint {
    char addr[ENDPOINT_MAX]; /* as given, trimmed: "host:port" or "[v6]:port" */
};

enum conn_state {
    CONN_RESOLVING,  /* getaddrinfo in flight */
    CONN_CONNECTING, /* uv_tcp_connect in flight */
    CONN_OPEN,       /* reading; requests flow */
    CONN_CLOSING,    /* uv_close() called; freed in on_conn_closed() */
};

struct coord_client;

struct conn {
    struct coord_client *c;
    struct conn *next; /* c->conns */
    enum conn_state state;
    uint32_t endpoint; /* index in c->endpoints */
    bool draining;     /* no longer c->conn; closes once n_sent is 0 (invariant 4) */
    bool resolving;    /* gai in flight: free only after its callback */
    bool tcp_closed;   /* the close callback ran */
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_getaddrinfo_t gai;
    uint64_t connect_deadline; /* uv_now() ms; while RESOLVING or CONNECTING */
    size_t n_sent;             /* requests sent on it, not answered (invariant 3) */
    size_t n_writes;           /* uv_writes in flight */
    struct coord_frame_reader reader;
    uint8_t *rbuf; /* owned, READ_BUF_LEN bytes */
};

struct wreq {
    uv_write_t req;
    struct conn *conn;
    struct wreq *next; /* c->free_wreqs */
    uint8_t *buf;      /* owned */
    size_t len;        /* bytes to write */
    size_t cap;        /* bytes allocated */
};

struct req {
    struct coord_client *c;
    struct req *prev; /* c->all */
    struct req *next;
    struct req *qprev; /* c->queue while QUEUED; a private list while failing */
    struct req *qnext;
    struct req *free_next; /* c->free_reqs */
    uint64_t id;           /* (gen << 32) | slot; 0 while free */
    uint32_t slot;         /* index in c->slots, for life */
    uint32_t gen;          /* generation of the slot's current use */
    uint64_t deadline;     /* uv_now() ms */
    struct conn *conn;     /* SENT on it; NULL: QUEUED (invariant 2) */
    uint8_t op;            /* enum coord_client_op */
    bool write;            /* put, del, member, transfer */
    bool sent;             /* written to some socket at least once */
    uint8_t n_tries;       /* sends so far, <= MAX_TRIES */
    uint32_t endpoint;     /* where it was last sent, for the result */
    coord_client_cb cb;
    void *arg;
    uint8_t *frame;   /* owned: the encoded frame, header included */
    size_t frame_len; /* bytes */
    size_t frame_cap; /* bytes allocated */
};

struct coord_client {
    uv_loop_t *loop;
    struct coord_client_opts opts; /* endpoints NULL: copied below */
    struct endpoint *endpoints;    /* owned, COORD_CLIENT_MAX_ENDPOINTS entries */
    uint32_t n_endpoints;
    uint32_t cur;         /* endpoint of the next dial */
    uint32_t n_dial_fail; /* dials failed since the last connect */
    struct conn *conn;    /* the current connection, or NULL (invariant 4) */
    struct conn *conns;   /* every connection not yet freed */
    size_t n_conns;       /* not CLOSING */
    struct req *all_head; /* every request not finished, by deadline */
    struct req *all_tail;
    struct req *q_head; /* QUEUED requests, to send in order */
    struct req *q_tail;
    size_t n_reqs;      /* in c->all, <= opts.max_inflight */
    struct req **slots; /* owned: every request struct ever made */
    uint32_t n_slots;
    uint32_t cap_slots;
    struct req *free_reqs;
    struct wreq *free_wreqs;
    uint64_t hold_until; /* uv_now() ms before which queued requests wait; 0: none */
    uv_timer_t timer;
    uint64_t timer_due; /* when the timer fires, uv_now() ms; 0: stopped */
    uv_idle_t idle;     /* active while armed: the poll before on_check() does not block */
    uv_check_t check;
    bool flush_armed;                             /* idle and check are started */
    char last_err[ENDPOINT_MAX + ERR_DETAIL_LEN]; /* last connection failure */
    struct coord_client_arena arena;              /* the memory of the answer being delivered */
    unsigned depth;                               /* user callbacks running (nested) */
    bool closing;
    unsigned n_handles; /* timer, idle, check not yet closed */
    coord_client_close_cb close_cb;
    void *close_arg;
};

static void dispatch(struct coord_client *c);
static void on_timer(uv_timer_t *h);
static void on_idle(uv_idle_t *h);
static void on_check(uv_check_t *h);
static void conn_fail(struct conn *conn, int err, const char *detail);
static void conn_flush(struct conn *conn);

/* ---- invariants ------------------------------------------------------------------------- */

#ifndef NDEBUG
static bool check(const struct coord_client *c)
{
    const struct req *r;
    const struct conn *conn;
    size_t n = 0;
    size_t n_queued = 0;
    size_t n_sent = 0;
    size_t n_conn_sent = 0;

    for (r = c->all_head; r != NULL; r = r->next) {
        RAFT_ASSERT(r->next == NULL || r->deadline <= r->next->deadline); /* 1 */
        RAFT_ASSERT(r->conn == NULL || r->conn->state == CONN_OPEN);      /* 2 */
        n++;
        n_sent += r->conn != NULL;
    }
    for (r = c->q_head; r != NULL; r = r->qnext) {
        RAFT_ASSERT(r->conn == NULL); /* 2 */
        n_queued++;
    }
    for (conn = c->conns; conn != NULL; conn = conn->next) {
        n_conn_sent += conn->n_sent;
        RAFT_ASSERT(!conn->draining || conn->state == CONN_CLOSING ||
                    (conn->state == CONN_OPEN && conn->n_sent > 0)); /* 4 */
    }
    RAFT_ASSERT(n == c->n_reqs && n == n_queued + n_sent); /* 1, 2 */
    RAFT_ASSERT(n_conn_sent == n_sent);                    /* 3 */
    RAFT_ASSERT(c->conn == NULL || (!c->conn->draining && c->conn->state != CONN_CLOSING));
    RAFT_ASSERT(!c->closing || n == 0); /* 5 */
    return true;
}
#endif

/* ---- endpoints -------------------------------------------------------------------------- */

/* Parse "host:port" or "[v6]:port" (s, len bytes, no NUL needed) into e. */
static int parse_endpoint(const char *s, size_t len, struct endpoint *e)
{
    struct coord_addr a;

    while (len > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        len--;
    }
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t')) {
        len--;
    }
    if (len == 0 || len >= ENDPOINT_MAX || coord_addr_parse(s, len, &a) != 0 || a.port_num == 0) {
        return RAFT_EINVAL;
    }
    memcpy(e->addr, s, len);
    e->addr[len] = '\0';
    return 0;
}

static int parse_endpoints(struct coord_client *c, const char *list)
{
    const char *p = list;

    if (list == NULL) {
        return RAFT_EINVAL;
    }
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        int rv;

        if (c->n_endpoints == COORD_CLIENT_MAX_ENDPOINTS) {
            return RAFT_EINVAL;
        }
        rv = parse_endpoint(p, len, &c->endpoints[c->n_endpoints]);
        if (rv != 0) {
            return rv;
        }
        c->n_endpoints++;
        if (comma == NULL) {
            return 0;
        }
        p = comma + 1;
    }
}

/* The index of addr among the endpoints, added when new; -1 when it is not
 * an address or the list is full. */
static int endpoint_find_or_add(struct coord_client *c, const char *addr)
{
    struct endpoint e;
    uint32_t i;

    if (parse_endpoint(addr, strlen(addr), &e) != 0) {
        return -1;
    }
    for (i = 0; i < c->n_endpoints; i++) {
        if (strcmp(c->endpoints[i].addr, e.addr) == 0) {
            return (int)i;
        }
    }
    if (c->n_endpoints == COORD_CLIENT_MAX_ENDPOINTS) {
        return -1;
    }
    c->endpoints[c->n_endpoints] = e;
    return (int)c->n_endpoints++;
}

/* ---- timer and flush handles ------------------------------------------------------------ */

/* Make the timer fire no later than due (uv_now() ms). */
static void arm_at(struct coord_client *c, uint64_t due)
{
    uint64_t now = uv_now(c->loop);

    if (c->closing || (c->timer_due != 0 && c->timer_due <= due)) {
        return;
    }
    c->timer_due = due;
    uv_timer_start(&c->timer, on_timer, due > now ? due - now : 0, 0);
}

static void arm_flush(struct coord_client *c)
{
    if (!c->flush_armed && !c->closing) {
        uv_idle_start(&c->idle, on_idle);
        uv_check_start(&c->check, on_check);
        c->flush_armed = true;
    }
}

/* ---- request lists ---------------------------------------------------------------------- */

static void q_push(struct coord_client *c, struct req *r)
{
    r->qnext = NULL;
    r->qprev = c->q_tail;
    if (c->q_tail != NULL) {
        c->q_tail->qnext = r;
    } else {
        c->q_head = r;
    }
    c->q_tail = r;
}

static void q_remove(struct coord_client *c, struct req *r)
{
    if (r->qprev != NULL) {
        r->qprev->qnext = r->qnext;
    } else {
        c->q_head = r->qnext;
    }
    if (r->qnext != NULL) {
        r->qnext->qprev = r->qprev;
    } else {
        c->q_tail = r->qprev;
    }
    r->qprev = NULL;
    r->qnext = NULL;
}

static void all_push(struct coord_client *c, struct req *r)
{
    r->next = NULL;
    r->prev = c->all_tail;
    if (c->all_tail != NULL) {
        c->all_tail->next = r;
    } else {
        c->all_head = r;
    }
    c->all_tail = r;
    c->n_reqs++;
}

static void all_remove(struct coord_client *c, struct req *r)
{
    if (r->prev != NULL) {
        r->prev->next = r->next;
    } else {
        c->all_head = r->next;
    }
    if (r->next != NULL) {
        r->next->prev = r->prev;
    } else {
        c->all_tail = r->prev;
    }
    r->prev = NULL;
    r->next = NULL;
    c->n_reqs--;
    /* The last request out stops the timer (unless a dial waits for its
     * deadline), so that an idle client leaves nothing active on the loop. */
    if (c->n_reqs == 0 && c->timer_due != 0 && (c->conn == NULL || c->conn->state == CONN_OPEN)) {
        uv_timer_stop(&c->timer);
        c->timer_due = 0;
    }
}

/* A connection keeps the loop alive only while answers are owed on it, so
 * that uv_run() returns once every request is answered. */
static void conn_ref(struct conn *conn)
{
    if (conn->state == CONN_OPEN) {
        if (conn->n_sent > 0) {
            uv_ref((uv_handle_t *)&conn->tcp);
        } else {
            uv_unref((uv_handle_t *)&conn->tcp);
        }
    }
}

static void conn_close(struct conn *conn);

/* Take r off its connection (it is SENT). */
static void unsend(struct req *r)
{
    struct conn *conn = r->conn;

    RAFT_ASSERT(conn != NULL && conn->n_sent > 0);
    r->conn = NULL;
    conn->n_sent--;
    if (conn->n_sent == 0 && conn->draining && conn->state == CONN_OPEN) {
        conn_close(conn);
    } else {
        conn_ref(conn);
    }
}

/* Take r out of every list; it is no longer counted. */
static void detach(struct req *r)
{
    if (r->conn != NULL) {
        unsend(r);
    } else {
        q_remove(r->c, r);
    }
    all_remove(r->c, r);
}

/* Put r, taken off its connection, back in the queue. */
static void requeue(struct req *r)
{
    RAFT_ASSERT(r->conn == NULL);
    q_push(r->c, r);
    arm_flush(r->c);
}

/* ---- request structs -------------------------------------------------------------------- */

static struct req *req_get(struct coord_client *c)
{
    struct req *r = c->free_reqs;

    if (r != NULL) {
        c->free_reqs = r->free_next;
    } else {
        if (c->n_slots == c->cap_slots) {
            uint32_t cap = c->cap_slots > 0 ? c->cap_slots * 2 : 64;
            struct req **slots = raft_realloc(c->slots, (size_t)cap * sizeof(struct req *));

            if (slots == NULL) {
                return NULL;
            }
            c->slots = slots;
            c->cap_slots = cap;
        }
        r = raft_calloc(1, sizeof *r);
        if (r == NULL) {
            return NULL;
        }
        r->c = c;
        r->slot = c->n_slots;
        c->slots[c->n_slots++] = r;
    }
    r->gen = r->gen == UINT32_MAX ? 1 : r->gen + 1;
    r->id = ((uint64_t)r->gen << 32) | r->slot;
    r->free_next = NULL;
    return r;
}

static void req_put(struct coord_client *c, struct req *r)
{
    r->id = 0;
    r->cb = NULL;
    r->arg = NULL;
    if (r->frame_cap > REQ_BUF_KEEP) {
        raft_free(r->frame);
        r->frame = NULL;
        r->frame_cap = 0;
    }
    r->free_next = c->free_reqs;
    c->free_reqs = r;
}

/* The request sent on conn with this id, or NULL (a late or bogus answer). */
static struct req *req_find(struct coord_client *c, const struct conn *conn, uint64_t id)
{
    uint32_t slot = (uint32_t)(id & 0xffffffffu);
    struct req *r;

    if (id == 0 || slot >= c->n_slots) {
        return NULL;
    }
    r = c->slots[slot];
    return r->id == id && r->conn == conn ? r : NULL;
}

/* ---- completion ------------------------------------------------------------------------- */

/* Deliver res for r, already detached, and recycle r. */
static void finish(struct req *r, struct coord_result *res)
{
    struct coord_client *c = r->c;
    coord_client_cb cb = r->cb;
    void *arg = r->arg;

    RAFT_ASSERT(r->id != 0 && r->prev == NULL && r->next == NULL && r->conn == NULL);
    res->endpoint = c->endpoints[r->endpoint].addr;
    req_put(c, r); /* first: the callback may submit and reuse it */
    c->depth++;
    cb(arg, res);
    c->depth--;
    /* A callback may close the client, whose cancellations then finish
     * other requests inside it: the outermost one frees the memory. */
    if (c->depth == 0) {
        coord_client_arena_reset(&c->arena);
    }
}

/* Finish r, already detached, with an error the client found; msg is
 * copied into the answer's memory. */
static void fail(struct req *r, int status, const char *msg)
{
    struct coord_result res;
    const char *kept = coord_client_arena_strdup(&r->c->arena, msg);

    memset(&res, 0, sizeof res);
    res.status = status;
    res.message = kept != NULL ? kept : "";
    res.leader_addr = "";
    finish(r, &res);
}

void coord_client_keep(struct coord_client *c, struct coord_client_arena *keeper)
{
    RAFT_ASSERT(c->depth == 1);
    coord_client_arena_reset(keeper);
    coord_client_arena_swap(&c->arena, keeper);
}

/* A private list of detached requests waiting for their callbacks. */
struct req_list {
    struct req *head;
    struct req *tail;
};

static void list_push(struct req_list *l, struct req *r)
{
    r->qnext = NULL;
    r->qprev = NULL;
    if (l->tail != NULL) {
        l->tail->qnext = r;
    } else {
        l->head = r;
    }
    l->tail = r;
}

/* Fail every request of l with status; msg is copied for each. */
static void fail_list(struct req_list *l, int status, const char *msg)
{
    struct req *r = l->head;

    while (r != NULL) {
        struct req *next = r->qnext;

        r->qnext = NULL;
        fail(r, status, msg);
        r = next;
    }
    l->head = NULL;
    l->tail = NULL;
}

/* Detach every QUEUED request into l. */
static void take_queued(struct coord_client *c, struct req_list *l)
{
    while (c->q_head != NULL) {
        struct req *r = c->q_head;

        detach(r);
        list_push(l, r);
    }
}

/* ---- connections ------------------------------------------------------------------------ */

static void client_maybe_free(struct coord_client *c);

static void conn_maybe_free(struct conn *conn)
{
    struct coord_client *c = conn->c;
    struct conn **pp;

    if (!conn->tcp_closed || conn->resolving) {
        return;
    }
    RAFT_ASSERT(conn->n_sent == 0 && conn->n_writes == 0);
    for (pp = &c->conns; *pp != conn; pp = &(*pp)->next) {
        RAFT_ASSERT(*pp != NULL);
    }
    *pp = conn->next;
    coord_frame_reader_close(&conn->reader);
    raft_free(conn->rbuf);
    raft_free(conn);
    client_maybe_free(c);
}

static void on_conn_closed(uv_handle_t *h)
{
    struct conn *conn = h->data;

    conn->tcp_closed = true;
    conn_maybe_free(conn);
}

/* Start closing conn. Requests still on it stay counted in n_sent until the
 * caller takes them off (conn_fail()); no callback runs here. */
static void conn_close(struct conn *conn)
{
    struct coord_client *c = conn->c;

    RAFT_ASSERT(conn->state != CONN_CLOSING);
    conn->state = CONN_CLOSING;
    c->n_conns--;
    if (c->conn == conn) {
        c->conn = NULL;
    }
    if (conn->resolving) {
        (void)uv_cancel((uv_req_t *)&conn->gai); /* its callback runs either way */
    }
    uv_close((uv_handle_t *)&conn->tcp, on_conn_closed);
}

/* conn is no longer where new requests go: it closes once its answers are
 * in (at once when none is owed). */
static void conn_drain(struct conn *conn)
{
    struct coord_client *c = conn->c;

    if (c->conn == conn) {
        c->conn = NULL;
    }
    if (conn->state != CONN_OPEN || conn->n_sent == 0) {
        conn_close(conn);
    } else {
        conn->draining = true;
    }
}

static struct conn *conn_new(struct coord_client *c, uint32_t endpoint)
{
    struct conn *conn = raft_calloc(1, sizeof *conn);

    if (conn == NULL) {
        return NULL;
    }
    conn->rbuf = raft_malloc(READ_BUF_LEN);
    if (conn->rbuf == NULL) {
        raft_free(conn);
        return NULL;
    }
    conn->c = c;
    conn->endpoint = endpoint;
    conn->state = CONN_RESOLVING;
    conn->connect_deadline = uv_now(c->loop) + c->opts.connect_timeout_ms;
    coord_frame_reader_init(&conn->reader, c->opts.max_frame);
    RAFT_ASSERT(uv_tcp_init(c->loop, &conn->tcp) == 0); /* AF_UNSPEC: no socket yet */
    conn->tcp.data = conn;
    conn->connect.data = conn;
    conn->gai.data = conn;
    conn->next = c->conns;
    c->conns = conn;
    c->n_conns++;
    return conn;
}

/* Failures of a connection that its requests report as they are, not
 * retried: the same answer would break the next connection too, or memory
 * is short. */
static bool fatal_err(int err)
{
    return err == RAFT_ETOOBIG || err == RAFT_EPROTO || err == RAFT_ENOMEM;
}

/* Take every request off conn (now CLOSING) after it failed with err:
 * retry-safe ones go back to the queue, the others into lost. */
static void take_sent(struct conn *conn, int err, struct req_list *lost)
{
    struct coord_client *c = conn->c;
    bool protocol = fatal_err(err);
    struct req *r = c->all_head;

    while (r != NULL && conn->n_sent > 0) {
        struct req *next = r->next;

        if (r->conn == conn) {
            unsend(r);
            if (!protocol && (!r->write || !r->sent) && r->n_tries < MAX_TRIES) {
                requeue(r);
            } else {
                all_remove(c, r);
                list_push(lost, r);
            }
        }
        r = next;
    }
}

/* conn failed (dial refused or timed out, connection lost, bad bytes):
 * close it, move on to the next endpoint, retry what is safe to retry and
 * fail the rest. detail is borrowed. Runs user callbacks. */
static void conn_fail(struct conn *conn, int err, const char *detail)
{
    struct coord_client *c = conn->c;
    bool current = conn == c->conn;
    bool was_open = conn->state == CONN_OPEN;
    struct req_list lost = {NULL, NULL};
    struct req_list unreachable = {NULL, NULL};
    char msg[sizeof c->last_err + 96];

    RAFT_ASSERT(conn->state != CONN_CLOSING);
    (void)snprintf(c->last_err, sizeof c->last_err, "%s: %s", c->endpoints[conn->endpoint].addr,
                   detail);
    conn_close(conn);
    if (current) {
        c->n_dial_fail += !was_open;
        if (!c->opts.pin) {
            c->cur = (conn->endpoint + 1) % c->n_endpoints;
        }
    }
    take_sent(conn, err, &lost);
    if (!was_open && c->n_dial_fail >= (c->opts.pin ? 1 : c->n_endpoints)) {
        struct req *r;

        c->n_dial_fail = 0;
        take_queued(c, &unreachable);
        for (r = unreachable.head; r != NULL; r = r->qnext) {
            r->endpoint = conn->endpoint; /* the last one tried */
        }
    }
    if (c->q_head != NULL) {
        arm_flush(c);
    }
    RAFT_DASSERT(check(c));
    if (fatal_err(err)) {
        (void)snprintf(msg, sizeof msg, "%s", c->last_err);
        fail_list(&lost, err, msg);
    } else {
        (void)snprintf(msg, sizeof msg, "%s (connection lost after the request was sent)",
                       c->last_err);
        fail_list(&lost, RAFT_ENOCONN, msg);
    }
    (void)snprintf(msg, sizeof msg, "no endpoint reachable (last: %s)", c->last_err);
    fail_list(&unreachable, RAFT_ENOCONN, msg);
}

static void conn_open(struct conn *conn);

static void on_connect(uv_connect_t *req, int status)
{
    struct conn *conn = req->data;

    if (conn->state == CONN_CLOSING) {
        return; /* canceled by uv_close() */
    }
    if (status < 0) {
        conn_fail(conn, RAFT_ENOCONN, uv_strerror(status));
        return;
    }
    conn_open(conn);
}

static void connect_to(struct conn *conn, const struct sockaddr *sa)
{
    int rv;

    conn->state = CONN_CONNECTING;
    rv = uv_tcp_connect(&conn->connect, &conn->tcp, sa, on_connect);
    if (rv != 0) {
        conn_fail(conn, RAFT_ENOCONN, uv_strerror(rv));
    }
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct conn *conn = req->data;
    char detail[ERR_DETAIL_LEN];

    conn->resolving = false;
    if (conn->state == CONN_CLOSING) {
        uv_freeaddrinfo(res);
        conn_maybe_free(conn);
        return;
    }
    if (status < 0 || res == NULL) {
        (void)snprintf(detail, sizeof detail, "cannot resolve: %s",
                       status < 0 ? uv_strerror(status) : "no address");
        conn_fail(conn, RAFT_ENOCONN, detail);
        return;
    }
    connect_to(conn, res->ai_addr);
    uv_freeaddrinfo(res);
}

/* Close the oldest draining connection when there are too many. */
static void make_room(struct coord_client *c)
{
    struct conn *oldest = NULL;
    struct conn *conn;

    if (c->n_conns < MAX_CONNS) {
        return;
    }
    for (conn = c->conns; conn != NULL; conn = conn->next) {
        if (conn->draining && conn->state == CONN_OPEN) {
            oldest = conn; /* the list is newest first */
        }
    }
    RAFT_ASSERT(oldest != NULL); /* c->conn is NULL: the others drain */
    conn_fail(oldest, RAFT_ENOCONN, "too many connections draining");
}

/* Open a connection to c->cur; it becomes c->conn. */
static void dial(struct coord_client *c)
{
    const struct endpoint *e;
    struct sockaddr_storage ss;
    struct conn *conn;
    int rv;

    RAFT_ASSERT(c->conn == NULL && !c->closing);
    make_room(c);
    if (c->closing || c->conn != NULL || c->q_head == NULL) {
        return; /* make_room() ran callbacks */
    }
    e = &c->endpoints[c->cur];
    conn = conn_new(c, c->cur);
    if (conn == NULL) {
        struct req_list l = {NULL, NULL};

        take_queued(c, &l);
        fail_list(&l, RAFT_ENOMEM, "out of memory");
        return;
    }
    c->conn = conn;
    arm_at(c, conn->connect_deadline);
    rv = coord_addr_resolve(c->loop, e->addr, &ss, &conn->gai, on_resolved);
    if (rv == 0) {
        connect_to(conn, (const struct sockaddr *)&ss);
        return;
    }
    if (rv < 0) {
        conn_fail(conn, RAFT_ENOCONN, uv_strerror(rv));
        return;
    }
    conn->resolving = true;
}

/* ---- writing ---------------------------------------------------------------------------- */

static struct wreq *wreq_get(struct coord_client *c)
{
    struct wreq *w = c->free_wreqs;

    if (w != NULL) {
        c->free_wreqs = w->next;
    } else {
        w = raft_calloc(1, sizeof *w);
        if (w == NULL) {
            return NULL;
        }
    }
    w->next = NULL;
    w->len = 0;
    w->req.data = w;
    return w;
}

static void wreq_put(struct coord_client *c, struct wreq *w)
{
    if (w->cap > WRITE_BUF_KEEP) {
        raft_free(w->buf);
        w->buf = NULL;
        w->cap = 0;
    }
    w->conn = NULL;
    w->next = c->free_wreqs;
    c->free_wreqs = w;
}

static void on_write(uv_write_t *req, int status)
{
    struct wreq *w = req->data;
    struct conn *conn = w->conn;
    struct coord_client *c = conn->c;

    conn->n_writes--;
    wreq_put(c, w);
    if (conn->state != CONN_OPEN) {
        return; /* closing: the requests were dealt with there */
    }
    if (status < 0) {
        conn_fail(conn, RAFT_ENOCONN, uv_strerror(status));
        return;
    }
    if (conn == c->conn) {
        conn_flush(conn);
    }
}

/* Bytes of the queued frames that go into one write: whole frames up to
 * WRITE_MAX, and at least one. */
static size_t batch_len(const struct coord_client *c)
{
    const struct req *r;
    size_t len = 0;

    for (r = c->q_head; r != NULL && (len == 0 || len + r->frame_len <= WRITE_MAX); r = r->qnext) {
        len += r->frame_len;
    }
    return len;
}

/* Move queued requests onto conn and write their frames with one uv_write.
 * Returns RAFT_ENOMEM when no buffer could be had (nothing moved), else 0
 * (a failed write has failed conn). */
static int write_batch(struct conn *conn)
{
    struct coord_client *c = conn->c;
    size_t len = batch_len(c);
    struct wreq *w = wreq_get(c);
    struct req *batch = NULL;
    struct req *r;
    uv_buf_t buf;
    int rv;

    if (w == NULL) {
        return RAFT_ENOMEM;
    }
    if (w->cap < len) {
        uint8_t *p = raft_realloc(w->buf, len);

        if (p == NULL) {
            wreq_put(c, w);
            return RAFT_ENOMEM;
        }
        w->buf = p;
        w->cap = len;
    }
    while (w->len < len) {
        r = c->q_head;
        RAFT_ASSERT(r != NULL); /* batch_len() counted queued frames only */
        memcpy(w->buf + w->len, r->frame, r->frame_len);
        w->len += r->frame_len;
        q_remove(c, r);
        r->conn = conn;
        r->n_tries++;
        r->endpoint = conn->endpoint;
        r->free_next = batch; /* unused while the request lives */
        batch = r;
        conn->n_sent++;
    }
    w->conn = conn;
    buf = uv_buf_init((char *)w->buf, (unsigned)w->len);
    rv = uv_write(&w->req, (uv_stream_t *)&conn->tcp, &buf, 1, on_write);
    if (rv != 0) {
        /* Nothing left: the requests keep their `sent` as it was. */
        wreq_put(c, w);
        conn_fail(conn, RAFT_ENOCONN, uv_strerror(rv));
        return 0;
    }
    for (r = batch; r != NULL; r = r->free_next) {
        r->sent = true;
    }
    conn->n_writes++;
    conn_ref(conn);
    return 0;
}

/* Write what is queued on conn, the current connection, as far as the
 * limits allow. May run user callbacks (failures). */
static void conn_flush(struct conn *conn)
{
    struct coord_client *c = conn->c;

    RAFT_ASSERT(conn == c->conn);
    while (c->q_head != NULL && conn->state == CONN_OPEN && conn == c->conn &&
           conn->n_writes < MAX_WRITES && c->hold_until == 0) {
        if (write_batch(conn) == RAFT_ENOMEM) {
            struct req *r = c->q_head;

            detach(r);
            fail(r, RAFT_ENOMEM, "out of memory");
        }
    }
    RAFT_DASSERT(c->closing || check(c));
}

/* ---- reading ---------------------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct conn *conn = h->data;

    (void)suggested;
    buf->base = (char *)conn->rbuf;
    buf->len = READ_BUF_LEN;
}

static void hold(struct coord_client *c, const struct req *r)
{
    unsigned shift = r->n_tries > 5 ? 4u : (unsigned)(r->n_tries > 0 ? r->n_tries - 1 : 0);
    uint64_t delay = (uint64_t)RETRY_DELAY_MS << shift;
    uint64_t until = uv_now(c->loop) + (delay < RETRY_DELAY_MAX_MS ? delay : RETRY_DELAY_MAX_MS);

    if (until > c->hold_until) {
        c->hold_until = until;
    }
    arm_at(c, c->hold_until);
}

/* Send new requests to addr (a leader's address) from now on. False when
 * addr is unusable or is conn's own endpoint. */
static bool redirect(struct coord_client *c, const struct conn *conn, const char *addr)
{
    int idx = endpoint_find_or_add(c, addr);

    if (idx < 0 || (uint32_t)idx == conn->endpoint) {
        return false;
    }
    c->cur = (uint32_t)idx;
    if (c->conn != NULL && c->conn->endpoint != c->cur) {
        conn_drain(c->conn);
    }
    return true;
}

/* r's answer on conn refused it before proposing anything: true when it is
 * to be sent again (then the client has been pointed elsewhere or holds). */
static bool retry_refused(struct coord_client *c, struct conn *conn, const struct req *r,
                          const struct coord_result *res)
{
    if (c->opts.pin || r->n_tries >= MAX_TRIES) {
        return false;
    }
    switch (res->status) {
    case RAFT_ENOTLEADER:
        if (res->leader_addr[0] == '\0' || !redirect(c, conn, res->leader_addr)) {
            hold(c, r);
        }
        return true;
    case RAFT_ELEADERLESS:
        hold(c, r);
        return true;
    case RAFT_EBUSY:
        /* A key write refused with EBUSY was never proposed (a leadership
         * transfer in progress, or the node's queue full): wait and resend.
         * A membership change's EBUSY is an answer for the operator. */
        if (r->op != COORD_CLIENT_OP_PUT && r->op != COORD_CLIENT_OP_DEL) {
            return false;
        }
        hold(c, r);
        return true;
    case RAFT_ESHUTDOWN:
        if (conn == c->conn) {
            c->cur = (conn->endpoint + 1) % c->n_endpoints;
            conn_drain(conn);
        }
        return true;
    default:
        return false;
    }
}

static void on_answer(struct conn *conn, struct req *r, struct coord_result *res)
{
    struct coord_client *c = conn->c;

    unsend(r);
    if (retry_refused(c, conn, r, res)) {
        requeue(r);
        if (c->depth == 0) {
            coord_client_arena_reset(&c->arena);
        }
        return;
    }
    all_remove(c, r);
    finish(r, res);
}

static void on_frame(struct conn *conn, const struct raft_buf *body)
{
    struct coord_client *c = conn->c;
    struct coord_client_answer a;
    char detail[ERR_DETAIL_LEN];
    struct req *r;
    int rv = coord_client_codec_decode(body, &c->arena, &a);

    if (rv == 0 && a.response && a.id == 0) {
        /* An answer to no request: the node refuses the connection. */
        (void)snprintf(detail, sizeof detail, "refused: %s", a.res.message);
        rv = a.res.status < 0 ? a.res.status : RAFT_EPROTO;
    } else if (rv != 0) {
        (void)snprintf(detail, sizeof detail, "%s",
                       rv == RAFT_ENOMEM ? "out of memory" : "malformed response");
    }
    r = rv == 0 && a.response ? req_find(c, conn, a.id) : NULL;
    if (r != NULL) {
        on_answer(conn, r, &a.res);
        return;
    }
    if (c->depth == 0) {
        coord_client_arena_reset(&c->arena); /* late answer, or watch events */
    }
    if (rv != 0) {
        conn_fail(conn, rv, detail);
    }
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct conn *conn = s->data;
    struct raft_buf in = {buf->base, n > 0 ? (size_t)n : 0};
    struct raft_buf body;
    int rv;

    if (conn->state != CONN_OPEN) {
        return;
    }
    if (n < 0) {
        conn_fail(conn, RAFT_ENOCONN,
                  n == UV_EOF ? "connection closed by the node" : uv_strerror((int)n));
        return;
    }
    while (conn->state == CONN_OPEN) {
        rv = coord_frame_reader_next(&conn->reader, &in, &body);
        if (rv == 0) {
            break;
        }
        if (rv < 0) {
            conn_fail(conn, rv,
                      rv == RAFT_ETOOBIG ? "response frame too large: is this a coord client port?"
                                         : "out of memory");
            break;
        }
        on_frame(conn, &body);
    }
}

static void conn_open(struct conn *conn)
{
    struct coord_client *c = conn->c;
    int rv;

    /* Requests are small and latency-bound; batching is ours to do. */
    uv_tcp_nodelay(&conn->tcp, 1);
    uv_tcp_keepalive(&conn->tcp, 1, KEEPALIVE_S);
    rv = uv_read_start((uv_stream_t *)&conn->tcp, on_alloc, on_read);
    if (rv != 0) {
        conn_fail(conn, RAFT_ENOCONN, uv_strerror(rv));
        return;
    }
    conn->state = CONN_OPEN;
    c->n_dial_fail = 0;
    conn_ref(conn);
    conn_flush(conn);
}

/* ---- the loop's handles ----------------------------------------------------------------- */

/* Send what is queued: dial when there is no connection, write when there is
 * an open one. */
static void dispatch(struct coord_client *c)
{
    if (c->flush_armed) {
        uv_idle_stop(&c->idle);
        uv_check_stop(&c->check);
        c->flush_armed = false;
    }
    if (c->closing || c->q_head == NULL) {
        return;
    }
    if (c->hold_until != 0) {
        if (uv_now(c->loop) < c->hold_until) {
            arm_at(c, c->hold_until);
            return;
        }
        c->hold_until = 0;
    }
    if (c->conn == NULL) {
        dial(c);
    } else if (c->conn->state == CONN_OPEN) {
        conn_flush(c->conn);
    }
}

static void on_idle(uv_idle_t *h)
{
    (void)h; /* only there to keep the poll from blocking */
}

static void on_check(uv_check_t *h)
{
    dispatch(h->data);
}

static void on_timer(uv_timer_t *h)
{
    struct coord_client *c = h->data;
    uint64_t now = uv_now(c->loop);
    char msg[64];
    struct req *r;

    c->timer_due = 0;
    (void)snprintf(msg, sizeof msg, "no answer within %u ms", (unsigned)c->opts.timeout_ms);
    if (c->conn != NULL && c->conn->state != CONN_OPEN && c->conn->connect_deadline <= now) {
        conn_fail(c->conn, RAFT_ETIMEDOUT, "connect timed out");
    }
    while (!c->closing && (r = c->all_head) != NULL && r->deadline <= now) {
        detach(r);
        fail(r, RAFT_ETIMEDOUT, msg);
    }
    if (c->closing) {
        return;
    }
    if (c->hold_until != 0 && c->hold_until <= now) {
        arm_flush(c);
    } else if (c->hold_until != 0) {
        arm_at(c, c->hold_until);
    }
    if (c->all_head != NULL) {
        arm_at(c, c->all_head->deadline);
    }
    if (c->conn != NULL && c->conn->state != CONN_OPEN) {
        arm_at(c, c->conn->connect_deadline);
    }
    RAFT_DASSERT(check(c));
}

/* ---- requests --------------------------------------------------------------------------- */

/* Queue the request d describes (d->id and d->timeout_ms are filled here). */
static int submit(struct coord_client *c, struct coord_client_req_desc *d, bool write,
                  coord_client_cb cb, void *arg)
{
    struct req *r;
    int rv;

    RAFT_ASSERT(cb != NULL);
    if (c->closing) {
        return RAFT_ESHUTDOWN;
    }
    if (c->n_reqs >= c->opts.max_inflight) {
        return RAFT_EBUSY;
    }
    r = req_get(c);
    if (r == NULL) {
        return RAFT_ENOMEM;
    }
    d->id = r->id;
    d->timeout_ms = c->opts.timeout_ms;
    rv = coord_client_codec_encode(d, &r->frame, &r->frame_cap, &r->frame_len);
    if (rv != 0) {
        req_put(c, r);
        return rv;
    }
    r->op = d->op;
    r->write = write;
    r->sent = false;
    r->n_tries = 0;
    r->endpoint = c->cur;
    r->conn = NULL;
    r->cb = cb;
    r->arg = arg;
    r->deadline = uv_now(c->loop) + c->opts.timeout_ms;
    all_push(c, r);
    q_push(c, r);
    arm_at(c, r->deadline);
    arm_flush(c);
    RAFT_DASSERT(check(c));
    return 0;
}

static int check_key(const void *key, size_t key_len)
{
    if (key == NULL || key_len == 0) {
        return RAFT_EINVAL;
    }
    return key_len > COORD_CMD_KEY_MAX ? RAFT_ETOOBIG : 0;
}

/* Fill d's key and range fields after checking them. */
static int kv_desc(struct coord_client_req_desc *d, uint8_t op, const void *key, size_t key_len,
                   const void *range_end, size_t range_end_len)
{
    int rv = check_key(key, key_len);

    if (rv != 0) {
        return rv;
    }
    if (range_end != NULL && range_end_len > COORD_CMD_KEY_MAX) {
        return RAFT_ETOOBIG;
    }
    memset(d, 0, sizeof *d);
    d->op = op;
    d->key = key;
    d->key_len = key_len;
    d->range_end = range_end;
    d->range_end_len = range_end != NULL ? range_end_len : 0;
    return 0;
}

int coord_client_put(struct coord_client *c, const void *key, size_t key_len, const void *value,
                     size_t value_len, unsigned flags, coord_client_cb cb, void *arg)
{
    struct coord_client_req_desc d;
    int rv = kv_desc(&d, COORD_CLIENT_OP_PUT, key, key_len, NULL, 0);

    if (rv != 0) {
        return rv;
    }
    if ((flags & ~(COORD_PREV_KV | COORD_NO_FORWARD)) != 0 || (value == NULL && value_len > 0)) {
        return RAFT_EINVAL;
    }
    if (value_len > (size_t)COORD_CMD_VALUE_MAX) {
        return RAFT_ETOOBIG;
    }
    d.value = value;
    d.value_len = value_len;
    d.prev_kv = (flags & COORD_PREV_KV) != 0;
    d.no_forward = (flags & COORD_NO_FORWARD) != 0;
    return submit(c, &d, true, cb, arg);
}

int coord_client_get(struct coord_client *c, const void *key, size_t key_len, unsigned flags,
                     coord_client_cb cb, void *arg)
{
    return coord_client_range(c, key, key_len, NULL, 0, 0, flags, cb, arg);
}

int coord_client_range(struct coord_client *c, const void *key, size_t key_len,
                       const void *range_end, size_t range_end_len, uint64_t limit, unsigned flags,
                       coord_client_cb cb, void *arg)
{
    struct coord_client_req_desc d;
    int rv = kv_desc(&d, COORD_CLIENT_OP_RANGE, key, key_len, range_end, range_end_len);

    if (rv != 0) {
        return rv;
    }
    if ((flags & ~COORD_SERIALIZABLE) != 0) {
        return RAFT_EINVAL;
    }
    d.limit = limit;
    d.serializable = (flags & COORD_SERIALIZABLE) != 0;
    return submit(c, &d, false, cb, arg);
}

int coord_client_del(struct coord_client *c, const void *key, size_t key_len, const void *range_end,
                     size_t range_end_len, unsigned flags, coord_client_cb cb, void *arg)
{
    struct coord_client_req_desc d;
    int rv = kv_desc(&d, COORD_CLIENT_OP_DEL, key, key_len, range_end, range_end_len);

    if (rv != 0) {
        return rv;
    }
    if ((flags & ~(COORD_PREV_KV | COORD_NO_FORWARD)) != 0) {
        return RAFT_EINVAL;
    }
    d.prev_kv = (flags & COORD_PREV_KV) != 0;
    d.no_forward = (flags & COORD_NO_FORWARD) != 0;
    return submit(c, &d, true, cb, arg);
}

int coord_client_status(struct coord_client *c, coord_client_cb cb, void *arg)
{
    struct coord_client_req_desc d;

    memset(&d, 0, sizeof d);
    d.op = COORD_CLIENT_OP_STATUS;
    return submit(c, &d, false, cb, arg);
}

int coord_client_member(struct coord_client *c, enum coord_member_op op, uint64_t id,
                        const char *peer_addr, const char *client_addr, coord_client_cb cb,
                        void *arg)
{
    struct coord_client_req_desc d;
    bool add = op == COORD_MEMBER_ADD_LEARNER;

    if (op < COORD_MEMBER_ADD_LEARNER || op > COORD_MEMBER_REMOVE || id == 0 ||
        (add && (peer_addr == NULL || peer_addr[0] == '\0'))) {
        return RAFT_EINVAL;
    }
    if (add && (strlen(peer_addr) >= RAFT_ADDR_MAX ||
                (client_addr != NULL && strlen(client_addr) >= RAFT_ADDR_MAX))) {
        return RAFT_ETOOBIG;
    }
    memset(&d, 0, sizeof d);
    d.op = COORD_CLIENT_OP_MEMBER;
    d.member_op = (uint8_t)op;
    d.target = id;
    d.peer_addr = add ? peer_addr : NULL;
    d.client_addr = add && client_addr != NULL && client_addr[0] != '\0' ? client_addr : NULL;
    return submit(c, &d, true, cb, arg);
}

int coord_client_transfer(struct coord_client *c, uint64_t to, coord_client_cb cb, void *arg)
{
    struct coord_client_req_desc d;

    memset(&d, 0, sizeof d);
    d.op = COORD_CLIENT_OP_TRANSFER;
    d.target = to;
    return submit(c, &d, true, cb, arg);
}

/* ---- lifecycle -------------------------------------------------------------------------- */

void coord_client_opts_default(struct coord_client_opts *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->timeout_ms = DEFAULT_TIMEOUT_MS;
    opts->connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
    opts->max_frame = DEFAULT_MAX_FRAME;
    opts->max_inflight = DEFAULT_MAX_INFLIGHT;
}

/* Zeros mean the defaults; limits are clamped to what the code can hold. */
static void opts_normalize(struct coord_client_opts *o)
{
    o->endpoints = NULL;
    if (o->timeout_ms == 0) {
        o->timeout_ms = DEFAULT_TIMEOUT_MS;
    }
    if (o->connect_timeout_ms == 0) {
        o->connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
    }
    if (o->max_frame == 0) {
        o->max_frame = DEFAULT_MAX_FRAME;
    }
    if (o->max_frame > COORD_FRAME_MAX) {
        o->max_frame = COORD_FRAME_MAX;
    }
    if (o->max_inflight == 0) {
        o->max_inflight = DEFAULT_MAX_INFLIGHT;
    }
    if (o->max_inflight > MAX_INFLIGHT_LIMIT) {
        o->max_inflight = MAX_INFLIGHT_LIMIT;
    }
}

/* A write to a connection the server has closed raises SIGPIPE, whose
 * default action kills the process before libuv can report EPIPE. Set it to
 * ignored, once, unless the program chose a disposition of its own. */
static void ignore_sigpipe(void)
{
    struct sigaction old;
    struct sigaction ign;

    if (sigaction(SIGPIPE, NULL, &old) != 0 || old.sa_handler != SIG_DFL ||
        (old.sa_flags & SA_SIGINFO) != 0) {
        return;
    }
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    (void)sigemptyset(&ign.sa_mask);
    (void)sigaction(SIGPIPE, &ign, NULL);
}

int coord_client_new(uv_loop_t *loop, const struct coord_client_opts *opts,
                     struct coord_client **out)
{
    struct coord_client *c = raft_calloc(1, sizeof *c);
    int rv;

    ignore_sigpipe();
    if (c == NULL) {
        return RAFT_ENOMEM;
    }
    c->endpoints = raft_calloc(COORD_CLIENT_MAX_ENDPOINTS, sizeof *c->endpoints);
    if (c->endpoints == NULL) {
        rv = RAFT_ENOMEM;
        goto err_after_client;
    }
    rv = parse_endpoints(c, opts->endpoints);
    if (rv == 0 && opts->first >= c->n_endpoints) {
        rv = RAFT_EINVAL;
    }
    if (rv != 0) {
        goto err_after_endpoints;
    }
    c->loop = loop;
    c->opts = *opts;
    opts_normalize(&c->opts);
    c->cur = opts->first;
    coord_client_arena_init(&c->arena);
    RAFT_ASSERT(uv_timer_init(loop, &c->timer) == 0);
    RAFT_ASSERT(uv_idle_init(loop, &c->idle) == 0);
    RAFT_ASSERT(uv_check_init(loop, &c->check) == 0);
    c->timer.data = c;
    c->idle.data = c;
    c->check.data = c;
    c->n_handles = 3;
    *out = c;
    return 0;

err_after_endpoints:
    raft_free(c->endpoints);
err_after_client:
    raft_free(c);
    return rv;
}

static void client_maybe_free(struct coord_client *c)
{
    coord_client_close_cb cb = c->close_cb;
    void *arg = c->close_arg;
    uint32_t i;

    if (!c->closing || c->n_handles > 0 || c->conns != NULL) {
        return;
    }
    for (i = 0; i < c->n_slots; i++) {
        raft_free(c->slots[i]->frame);
        raft_free(c->slots[i]);
    }
    raft_free(c->slots);
    while (c->free_wreqs != NULL) {
        struct wreq *w = c->free_wreqs;

        c->free_wreqs = w->next;
        raft_free(w->buf);
        raft_free(w);
    }
    coord_client_arena_close(&c->arena);
    raft_free(c->endpoints);
    raft_free(c);
    if (cb != NULL) {
        cb(arg);
    }
}

static void on_handle_closed(uv_handle_t *h)
{
    struct coord_client *c = h->data;

    c->n_handles--;
    client_maybe_free(c);
}

void coord_client_close(struct coord_client *c, coord_client_close_cb cb, void *arg)
{
    struct req_list l = {NULL, NULL};
    struct conn *conn;

    RAFT_ASSERT(!c->closing);
    c->closing = true;
    c->close_cb = cb;
    c->close_arg = arg;
    while (c->all_head != NULL) {
        struct req *r = c->all_head;

        detach(r);
        list_push(&l, r);
    }
    for (conn = c->conns; conn != NULL; conn = conn->next) {
        if (conn->state != CONN_CLOSING) {
            conn_close(conn);
        }
    }
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->idle, on_handle_closed);
    uv_close((uv_handle_t *)&c->check, on_handle_closed);
    fail_list(&l, RAFT_ECANCELED, "client closed");
}
