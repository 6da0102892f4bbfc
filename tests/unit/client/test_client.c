/* SPDX-License-Identifier: MIT */
/* test_client: libcoord (coord/client/) against fake nodes written here: uv
 * TCP listeners on 127.0.0.1, ports picked by the kernel, that decode
 * requests and answer by script. The asynchronous tests run client and fake
 * nodes in one loop; the synchronous test runs its fake node on a thread
 * with a loop of its own. No sleeps: each wait runs the loop until a
 * condition holds, bounded by a guard timer and an iteration count. Every
 * test ends by closing everything and checking that nothing leaks and the
 * loop closes cleanly. This file includes the generated proto/coord.pb-c.h:
 * the fake nodes speak the wire protocol themselves. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above. */
#include <cmocka.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "coord/client/client.h"
#include "coord/frame.h"
#include "proto/coord.pb-c.h"
#include "raft/base/alloc.h"
#include "raft/base/err.h"
#include "tests/lib/uvwait.h"

#define GUARD_MS   5000   /* a wait fails after this long */
#define MAX_ITERS  200000 /* ... or after this many loop iterations */
#define MAX_SCONNS 16
#define MAX_SREQS  256
#define MAX_GOT    256
#define N_SRV      3

/* ---- the fake node ---------------------------------------------------------------------- */

enum srv_mode {
    SRV_AUTO = 0,        /* answer every request at once, successfully */
    SRV_HOLD,            /* record requests, answer only when the test says */
    SRV_CLOSE,           /* close the connection when a request arrives */
    SRV_NOTLEADER,       /* answer ENOTLEADER naming leader_addr */
    SRV_LEADERLESS_ONCE, /* answer the first request ELEADERLESS, then AUTO */
    SRV_OVERSIZE_ONCE,   /* answer the first request with a 4 KiB value, then AUTO */
    SRV_SHUTDOWN,        /* answer every request ESHUTDOWN */
};

struct srv;

struct sconn {
    struct srv *s;
    uv_tcp_t tcp;
    bool open;   /* tcp initialised and not yet closing */
    bool closed; /* the close callback ran (or never opened) */
    struct coord_frame_reader reader;
    size_t n_reads; /* read callbacks with data */
    char rbuf[65536];
};

/* One request a fake node received. */
struct sreq {
    struct sconn *sc;
    uint64_t id;
    int op; /* Coord__Api__Request__OpCase */
    char key[64];
    char value[64];
    uint32_t timeout_ms;
    bool serializable;
    bool prev_kv;
    int member_op;        /* MemberChange.op */
    uint64_t target;      /* MemberChange.id or LeaderTransfer.to */
    char peer_addr[32];   /* MemberChange.peer_addr, "" when absent */
    char client_addr[32]; /* MemberChange.client_addr, "" when absent */
    size_t n_reads;       /* sc->n_reads when it arrived */
    bool answered;
};

struct srv {
    uv_loop_t *loop;
    uv_tcp_t listener;
    bool listening;
    bool listener_closed;
    int port;
    char addr[32];
    enum srv_mode mode;
    char leader_addr[32]; /* SRV_NOTLEADER */
    struct sconn conns[MAX_SCONNS];
    size_t n_conns;
    struct sreq reqs[MAX_SREQS];
    size_t n_reqs;
    uint64_t revision;
};

struct wbuf {
    uv_write_t req;
    uint8_t *data;
};

static void on_srv_written(uv_write_t *req, int status)
{
    struct wbuf *w = req->data;

    (void)status;
    free(w->data);
    free(w);
}

static void sconn_write(struct sconn *sc, uint8_t *data, size_t len)
{
    struct wbuf *w = calloc(1, sizeof *w);
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);

    assert_non_null(w);
    w->data = data;
    w->req.data = w;
    assert_int_equal(uv_write(&w->req, (uv_stream_t *)&sc->tcp, &b, 1, on_srv_written), 0);
}

static void send_response(struct sconn *sc, Coord__Api__Response *r)
{
    Coord__Api__ClientFrame f = COORD__API__CLIENT_FRAME__INIT;
    size_t n;
    uint8_t *buf;

    if (!sc->open) {
        return;
    }
    f.has_version = true;
    f.version = 1;
    f.response = r;
    n = coord__api__client_frame__get_packed_size(&f);
    buf = malloc(COORD_FRAME_HEADER_LEN + n);
    assert_non_null(buf);
    coord_frame_header_encode(buf, n);
    coord__api__client_frame__pack(&f, buf + COORD_FRAME_HEADER_LEN);
    sconn_write(sc, buf, COORD_FRAME_HEADER_LEN + n);
}

/* Answer q successfully, as a node would: a put bumps the revision, a
 * range finds the key with value "v:<key>", a status names three members. */
static void answer_ok(struct srv *s, struct sreq *q, size_t value_len)
{
    Coord__Api__Response r = COORD__API__RESPONSE__INIT;
    Coord__Api__KeyValues kvs = COORD__API__KEY_VALUES__INIT;
    Coord__Api__KeyValue kv = COORD__API__KEY_VALUE__INIT;
    Coord__Api__KeyValue *kvp = &kv;
    Coord__Api__NodeStatus st = COORD__API__NODE_STATUS__INIT;
    Coord__Api__Member m[3] = {COORD__API__MEMBER__INIT, COORD__API__MEMBER__INIT,
                               COORD__API__MEMBER__INIT};
    Coord__Api__Member *mp[3] = {&m[0], &m[1], &m[2]};
    char value[4096];
    char role[] = "leader";
    char peer_addr[] = "127.0.0.1:1";
    int i;

    r.has_id = true;
    r.id = q->id;
    r.has_revision = true;
    r.revision = q->op == COORD__API__REQUEST__OP_PUT ? ++s->revision : s->revision;
    if (q->op == COORD__API__REQUEST__OP_RANGE) {
        assert_true(value_len <= sizeof value);
        memset(value, 'x', sizeof value);
        (void)snprintf(value, sizeof value, "v:%s", q->key);
        kv.has_key = true;
        kv.key.data = (uint8_t *)q->key;
        kv.key.len = strlen(q->key);
        kv.has_value = true;
        kv.value.data = (uint8_t *)value;
        kv.value.len = value_len > 0 ? value_len : strlen(value);
        kv.has_mod_revision = true;
        kv.mod_revision = 7;
        kvs.n_kvs = 1;
        kvs.kvs = &kvp;
        r.result_case = COORD__API__RESPONSE__RESULT_KVS;
        r.kvs = &kvs;
    } else if (q->op == COORD__API__REQUEST__OP_DELETE_RANGE) {
        kvs.has_deleted = true;
        kvs.deleted = 1;
        r.result_case = COORD__API__RESPONSE__RESULT_KVS;
        r.kvs = &kvs;
    } else if (q->op == COORD__API__REQUEST__OP_STATUS) {
        st.has_id = true;
        st.id = 1;
        st.role = role;
        st.has_term = true;
        st.term = 4;
        for (i = 0; i < 3; i++) {
            m[i].has_id = true;
            m[i].id = (uint64_t)i + 1;
            m[i].has_voter = true;
            m[i].voter = true;
            m[i].peer_addr = peer_addr;
        }
        st.n_members = 3;
        st.members = mp;
        r.result_case = COORD__API__RESPONSE__RESULT_STATUS;
        r.status = &st;
    }
    q->answered = true;
    send_response(q->sc, &r);
}

static void answer_err(struct sreq *q, int err, char *leader_addr)
{
    Coord__Api__Response r = COORD__API__RESPONSE__INIT;
    char message[] = "refused by the fake node";

    r.has_id = true;
    r.id = q->id;
    r.has_error = true;
    r.error = (uint32_t)-err;
    r.message = message;
    if (leader_addr != NULL) {
        r.leader_addr = leader_addr;
        r.has_leader_id = true;
        r.leader_id = 2;
    }
    q->answered = true;
    send_response(q->sc, &r);
}

static void on_sconn_closed(uv_handle_t *h)
{
    struct sconn *sc = h->data;

    coord_frame_reader_close(&sc->reader);
    sc->closed = true;
}

static void sconn_close(struct sconn *sc)
{
    if (sc->open) {
        sc->open = false;
        uv_close((uv_handle_t *)&sc->tcp, on_sconn_closed);
    }
}

static void copy_str(char *dst, size_t cap, const char *src);

static void copy_bytes(char *dst, size_t cap, const ProtobufCBinaryData *b)
{
    size_t n = b->len < cap - 1 ? b->len : cap - 1;

    memcpy(dst, b->data, n);
    dst[n] = '\0';
}

static struct sreq *record(struct sconn *sc, const Coord__Api__Request *r)
{
    struct srv *s = sc->s;
    struct sreq *q;

    assert_true(s->n_reqs < MAX_SREQS);
    q = &s->reqs[s->n_reqs++];
    memset(q, 0, sizeof *q);
    q->sc = sc;
    q->id = r->id;
    q->op = (int)r->op_case;
    q->timeout_ms = r->timeout_ms;
    q->serializable = r->serializable;
    q->n_reads = sc->n_reads;
    if (r->op_case == COORD__API__REQUEST__OP_PUT) {
        copy_bytes(q->key, sizeof q->key, &r->put->key);
        copy_bytes(q->value, sizeof q->value, &r->put->value);
        q->prev_kv = r->put->prev_kv;
    } else if (r->op_case == COORD__API__REQUEST__OP_RANGE) {
        copy_bytes(q->key, sizeof q->key, &r->range->key);
    } else if (r->op_case == COORD__API__REQUEST__OP_DELETE_RANGE) {
        copy_bytes(q->key, sizeof q->key, &r->delete_range->key);
    } else if (r->op_case == COORD__API__REQUEST__OP_MEMBER_CHANGE) {
        q->member_op = (int)r->member_change->op;
        q->target = r->member_change->id;
        copy_str(q->peer_addr, sizeof q->peer_addr, r->member_change->peer_addr);
        copy_str(q->client_addr, sizeof q->client_addr, r->member_change->client_addr);
    } else if (r->op_case == COORD__API__REQUEST__OP_LEADER_TRANSFER) {
        q->target = r->leader_transfer->to;
    }
    return q;
}

static void srv_act(struct srv *s, struct sreq *q)
{
    switch (s->mode) {
    case SRV_AUTO:
        answer_ok(s, q, 0);
        break;
    case SRV_HOLD:
        break;
    case SRV_CLOSE:
        sconn_close(q->sc);
        break;
    case SRV_NOTLEADER:
        answer_err(q, RAFT_ENOTLEADER, s->leader_addr);
        break;
    case SRV_LEADERLESS_ONCE:
        answer_err(q, RAFT_ELEADERLESS, NULL);
        s->mode = SRV_AUTO;
        break;
    case SRV_OVERSIZE_ONCE:
        answer_ok(s, q, 4096);
        s->mode = SRV_AUTO;
        break;
    case SRV_SHUTDOWN:
        answer_err(q, RAFT_ESHUTDOWN, NULL);
        break;
    }
}

static void on_srv_frame(struct sconn *sc, const struct raft_buf *body)
{
    Coord__Api__ClientFrame *f = coord__api__client_frame__unpack(NULL, body->len, body->base);

    assert_non_null(f);
    assert_true(f->has_version && f->version == 1);
    assert_non_null(f->request);
    assert_true(f->request->has_id && f->request->id != 0);
    srv_act(sc->s, record(sc, f->request));
    coord__api__client_frame__free_unpacked(f, NULL);
}

static void on_srv_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct sconn *sc = h->data;

    (void)suggested;
    buf->base = sc->rbuf;
    buf->len = sizeof sc->rbuf;
}

static void on_srv_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf)
{
    struct sconn *sc = stream->data;
    struct raft_buf in = {buf->base, n > 0 ? (size_t)n : 0};
    struct raft_buf body;

    if (n < 0) {
        sconn_close(sc);
        return;
    }
    if (n > 0) {
        sc->n_reads++;
    }
    while (sc->open && coord_frame_reader_next(&sc->reader, &in, &body) == 1) {
        on_srv_frame(sc, &body);
    }
}

static void on_srv_connection(uv_stream_t *l, int status)
{
    struct srv *s = l->data;
    struct sconn *sc;

    assert_int_equal(status, 0);
    assert_true(s->n_conns < MAX_SCONNS);
    sc = &s->conns[s->n_conns++];
    sc->s = s;
    assert_int_equal(uv_tcp_init(s->loop, &sc->tcp), 0);
    sc->tcp.data = sc;
    sc->open = true;
    coord_frame_reader_init(&sc->reader, 1u << 20);
    assert_int_equal(uv_accept(l, (uv_stream_t *)&sc->tcp), 0);
    assert_int_equal(uv_read_start((uv_stream_t *)&sc->tcp, on_srv_alloc, on_srv_read), 0);
}

static int bound_port(uv_tcp_t *t)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;

    assert_int_equal(uv_tcp_getsockname(t, (struct sockaddr *)&ss, &len), 0);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void srv_start(struct srv *s, uv_loop_t *loop, enum srv_mode mode)
{
    struct sockaddr_in sa;

    memset(s, 0, sizeof *s);
    s->loop = loop;
    s->mode = mode;
    assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &sa), 0);
    assert_int_equal(uv_tcp_init(loop, &s->listener), 0);
    s->listener.data = s;
    assert_int_equal(uv_tcp_bind(&s->listener, (const struct sockaddr *)&sa, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&s->listener, 16, on_srv_connection), 0);
    s->listening = true;
    s->port = bound_port(&s->listener);
    (void)snprintf(s->addr, sizeof s->addr, "127.0.0.1:%d", s->port);
}

static void on_listener_closed(uv_handle_t *h)
{
    struct srv *s = h->data;

    s->listener_closed = true;
}

static void srv_stop(struct srv *s)
{
    size_t i;

    for (i = 0; i < s->n_conns; i++) {
        sconn_close(&s->conns[i]);
    }
    if (s->listening) {
        s->listening = false;
        uv_close((uv_handle_t *)&s->listener, on_listener_closed);
    }
}

/* ---- fixture ---------------------------------------------------------------------------- */

/* What one callback was given. */
struct got {
    int status;
    char message[256];
    char key[64];
    char value[64];
    size_t value_len;
    size_t n_kvs;
    uint64_t deleted;
    uint64_t revision;
    char endpoint[64];
    char leader_addr[64];
    char role[16];
    size_t n_members;
};

struct fx {
    uv_loop_t loop;
    uv_timer_t guard;
    bool timed_out;
    long live;
    struct srv srv[N_SRV];
    bool srv_started[N_SRV];
    struct coord_client *c;
    bool client_closed;
    struct got got[MAX_GOT];
    size_t n_got;
    int resubmit_rv; /* what a request submitted from a callback returned */
    bool resubmit;   /* the next callback submits a request */
};

#define RUN_UNTIL(f, cond)                                                                         \
    UVWAIT_UNTIL(&(f)->loop, &(f)->guard, on_guard, (f)->timed_out, GUARD_MS, MAX_ITERS, cond,     \
                 (void)0)

static void on_guard(uv_timer_t *h)
{
    struct fx *f = h->data;

    f->timed_out = true;
}

static void on_guard_stop(uv_timer_t *h)
{
    struct fx *f = h->data;

    f->timed_out = true;
    uv_stop(h->loop);
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    (void)snprintf(dst, cap, "%s", src != NULL ? src : "");
}

static void on_result(void *arg, const struct coord_result *res)
{
    struct fx *f = arg;
    struct got *g;

    assert_true(f->n_got < MAX_GOT);
    g = &f->got[f->n_got++];
    memset(g, 0, sizeof *g);
    g->status = res->status;
    copy_str(g->message, sizeof g->message, res->message);
    copy_str(g->endpoint, sizeof g->endpoint, res->endpoint);
    copy_str(g->leader_addr, sizeof g->leader_addr, res->leader_addr);
    g->n_kvs = res->n_kvs;
    g->deleted = res->deleted;
    g->revision = res->revision;
    if (res->n_kvs > 0) {
        size_t n = res->kvs[0].key_len < 63 ? res->kvs[0].key_len : 63;

        memcpy(g->key, res->kvs[0].key, n);
        n = res->kvs[0].value_len < 63 ? res->kvs[0].value_len : 63;
        memcpy(g->value, res->kvs[0].value, n);
        g->value_len = res->kvs[0].value_len;
    }
    if (res->node_status != NULL) {
        copy_str(g->role, sizeof g->role, res->node_status->role);
        g->n_members = res->node_status->n_members;
    }
    if (f->resubmit) {
        f->resubmit = false;
        f->resubmit_rv = coord_client_get(f->c, "again", 5, 0, on_result, f);
    }
}

static void on_client_closed(void *arg)
{
    struct fx *f = arg;

    f->client_closed = true;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);

    assert_non_null(f);
    f->live = raft_alloc_live();
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(uv_timer_init(&f->loop, &f->guard), 0);
    f->guard.data = f;
    *state = f;
    return 0;
}

static void client_close(struct fx *f)
{
    coord_client_close(f->c, on_client_closed, f);
    RUN_UNTIL(f, f->client_closed);
    f->c = NULL;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    size_t i;

    if (f->c != NULL) {
        client_close(f);
    }
    for (i = 0; i < N_SRV; i++) {
        if (f->srv_started[i]) {
            srv_stop(&f->srv[i]);
        }
    }
    uv_close((uv_handle_t *)&f->guard, NULL);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    assert_int_equal(raft_alloc_live(), f->live);
    free(f);
    return 0;
}

static struct srv *start(struct fx *f, int i, enum srv_mode mode)
{
    srv_start(&f->srv[i], &f->loop, mode);
    f->srv_started[i] = true;
    return &f->srv[i];
}

/* A port nobody listens on: bound, then closed. */
static int closed_port(struct fx *f)
{
    uv_tcp_t t;
    struct sockaddr_in sa;
    int port;

    assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &sa), 0);
    assert_int_equal(uv_tcp_init(&f->loop, &t), 0);
    assert_int_equal(uv_tcp_bind(&t, (const struct sockaddr *)&sa, 0), 0);
    port = bound_port(&t);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    return port;
}

static void client_open(struct fx *f, const char *endpoints, uint32_t timeout_ms)
{
    struct coord_client_opts o;

    coord_client_opts_default(&o);
    o.endpoints = endpoints;
    if (timeout_ms > 0) {
        o.timeout_ms = timeout_ms;
    }
    assert_int_equal(coord_client_new(&f->loop, &o, &f->c), 0);
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_client_put_get_del_status_roundtrip(void **state)
{
    struct fx *f = *state;
    struct srv *s = start(f, 0, SRV_AUTO);

    client_open(f, s->addr, 1234);
    assert_int_equal(coord_client_put(f->c, "k1", 2, "hello", 5, COORD_PREV_KV, on_result, f), 0);
    assert_int_equal(coord_client_get(f->c, "k1", 2, COORD_SERIALIZABLE, on_result, f), 0);
    assert_int_equal(coord_client_del(f->c, "k1", 2, NULL, 0, 0, on_result, f), 0);
    assert_int_equal(coord_client_status(f->c, on_result, f), 0);
    /* Never from inside the call. */
    assert_int_equal(f->n_got, 0);
    RUN_UNTIL(f, f->n_got == 4);

    assert_int_equal(f->got[0].status, 0);
    assert_int_equal(f->got[0].revision, 1);
    assert_string_equal(f->got[0].endpoint, s->addr);
    assert_string_equal(f->got[0].message, "");
    assert_int_equal(f->got[1].status, 0);
    assert_int_equal(f->got[1].n_kvs, 1);
    assert_string_equal(f->got[1].key, "k1");
    assert_string_equal(f->got[1].value, "v:k1");
    assert_int_equal(f->got[2].status, 0);
    assert_int_equal(f->got[2].deleted, 1);
    assert_int_equal(f->got[3].status, 0);
    assert_string_equal(f->got[3].role, "leader");
    assert_int_equal(f->got[3].n_members, 3);

    /* What the node saw: one connection, the client's timeout, the flags. */
    assert_int_equal(s->n_conns, 1);
    assert_int_equal(s->n_reqs, 4);
    assert_int_equal(s->reqs[0].op, COORD__API__REQUEST__OP_PUT);
    assert_string_equal(s->reqs[0].value, "hello");
    assert_true(s->reqs[0].prev_kv);
    assert_int_equal(s->reqs[0].timeout_ms, 1234);
    assert_true(s->reqs[1].serializable);
    assert_int_equal(s->reqs[3].op, COORD__API__REQUEST__OP_STATUS);
}

static void test_client_sends_membership_and_transfer_requests(void **state)
{
    struct fx *f = *state;
    struct srv *s = start(f, 0, SRV_AUTO);

    client_open(f, s->addr, 0);
    assert_int_equal(coord_client_member(f->c, COORD_MEMBER_ADD_LEARNER, 4, "10.0.0.4:7001",
                                         "10.0.0.4:7000", on_result, f),
                     0);
    assert_int_equal(
        coord_client_member(f->c, COORD_MEMBER_REMOVE, 2, "ignored", "ignored", on_result, f), 0);
    assert_int_equal(coord_client_transfer(f->c, 3, on_result, f), 0);
    RUN_UNTIL(f, f->n_got == 3);
    assert_int_equal(s->reqs[0].op, COORD__API__REQUEST__OP_MEMBER_CHANGE);
    assert_int_equal(s->reqs[0].member_op, COORD__API__MEMBER_CHANGE__OP__ADD_LEARNER);
    assert_int_equal(s->reqs[0].target, 4);
    assert_string_equal(s->reqs[0].peer_addr, "10.0.0.4:7001");
    assert_string_equal(s->reqs[0].client_addr, "10.0.0.4:7000");
    assert_int_equal(s->reqs[1].member_op, COORD__API__MEMBER_CHANGE__OP__REMOVE);
    assert_int_equal(s->reqs[1].target, 2);
    assert_string_equal(s->reqs[1].peer_addr, "");
    assert_int_equal(s->reqs[2].op, COORD__API__REQUEST__OP_LEADER_TRANSFER);
    assert_int_equal(s->reqs[2].target, 3);
}

static void test_client_pipelines_and_matches_answers_out_of_order(void **state)
{
    struct fx *f = *state;
    struct srv *s = start(f, 0, SRV_HOLD);
    char key[16];
    int i;

    client_open(f, s->addr, 0);
    for (i = 0; i < 10; i++) {
        (void)snprintf(key, sizeof key, "key%d", i);
        assert_int_equal(coord_client_get(f->c, key, strlen(key), 0, on_result, f), 0);
    }
    RUN_UNTIL(f, s->n_reqs == 10);
    /* One connection, and the ten requests of one iteration in one write. */
    assert_int_equal(s->n_conns, 1);
    assert_int_equal(s->reqs[9].n_reads, s->reqs[0].n_reads);
    for (i = 0; i < 10; i++) {
        (void)snprintf(key, sizeof key, "key%d", i);
        assert_string_equal(s->reqs[i].key, key);
    }
    /* Answer in reverse order: each callback gets its own answer. */
    for (i = 9; i >= 0; i--) {
        answer_ok(s, &s->reqs[i], 0);
    }
    RUN_UNTIL(f, f->n_got == 10);
    for (i = 0; i < 10; i++) {
        char value[24];

        (void)snprintf(key, sizeof key, "key%d", 9 - i);
        (void)snprintf(value, sizeof value, "v:%s", key);
        assert_int_equal(f->got[i].status, 0);
        assert_string_equal(f->got[i].key, key);
        assert_string_equal(f->got[i].value, value);
    }
}

static void test_client_times_out_unanswered_requests(void **state)
{
    struct fx *f = *state;
    struct srv *s = start(f, 0, SRV_HOLD);

    client_open(f, s->addr, 50);
    assert_int_equal(coord_client_put(f->c, "k", 1, "v", 1, 0, on_result, f), 0);
    assert_int_equal(coord_client_get(f->c, "k", 1, 0, on_result, f), 0);
    RUN_UNTIL(f, f->n_got == 2);
    assert_int_equal(f->got[0].status, RAFT_ETIMEDOUT);
    assert_int_equal(f->got[1].status, RAFT_ETIMEDOUT);
    assert_int_equal(s->n_reqs, 2);

    /* Late answers match nothing; the connection still serves. */
    answer_ok(s, &s->reqs[0], 0);
    answer_ok(s, &s->reqs[1], 0);
    s->mode = SRV_AUTO;
    assert_int_equal(coord_client_get(f->c, "k2", 2, 0, on_result, f), 0);
    RUN_UNTIL(f, f->n_got == 3);
    assert_int_equal(f->got[2].status, 0);
    assert_string_equal(f->got[2].key, "k2");
    assert_int_equal(s->n_conns, 1);
}

static void test_client_skips_a_refusing_endpoint(void **state)
{
    struct fx *f = *state;
    struct srv *s = start(f, 0, SRV_AUTO);
    char endpoints[96];

    (void)snprintf(endpoints, sizeof endpoints, "127.0.0.1:%d, %s", closed_port(f), s->addr);
    client_open(f, endpoints, 0);
    assert_int_equal(coord_client_put(f->c, "k", 1, "v", 1, 0, on_result, f), 0);
    RUN_UNTIL(f, f->n_got == 1);
    assert_int_equal(f->got[0].status, 0);
    assert_string_equal(f->got[0].endpoint, s->addr);
    assert_int_equal(s->n_reqs, 1);
}

static void test_client_reports_enoconn_when_no_endpoint_answers(void **state)
{
    struct fx *f = *state;
    char endpoints[96];

    (void)snprintf(endpoints, sizeof endpoints, "127.0.0.1:%d,localhost:%d", closed_port(f),
                   closed_port(f));
    client_open(f, endpoints, 0);
    assert_int_equal(coord_client_get(f->c, "k", 1, 0, on_result, f), 0);
    assert_int_equal(coord_client_put(f->c, "k", 1, "v", 1, 0, on_result, f), 0);
    RUN_UNTIL(f, f->n_got == 2);
    assert_int_equal(f->got[0].status, RAFT_ENOCONN);
    assert_int_equal(f->got[1].status, RAFT_ENOCONN);
    assert_non_null(strstr(f->got[0].message, "no endpoint reachable"));
}

static void test_client_sent_write_on_a_broken_connection_is_enoconn(void **state)
{
    struct fx *f = *state;
    struct srv *s0 = start(f, 0, SRV_CLOSE);
    struct srv *s1 = start(f, 1, SRV_AUTO);
    char endpoints[96];

    (void)snprintf(endpoints, sizeof endpoints, "%s,%s", s0->addr, s1->addr);
    client_open(f, endpoints, 0);
    assert_int_equal(coord_client_put(f->c, "k", 1, "v", 1, 0, on_result, f), 0);
    RUN_UNTIL(f, f->n_got == 1);
    /* It may have been applied: never retried, outcome unknown. */
    assert_int_equal(f->got[0].status, RAFT_ENOCONN);
    assert_string_equal(f->got[0].endpoint, s0->addr);
    assert_int_equal(s0->n_reqs, 1);
    assert_int_equal(s1->n_reqs, 0);

    /* The next request goes to the next endpoint. */
    assert_int_equal(coord_client_put(f->c, "k", 1, "v", 1, 0, on_result, f), 0);
    RUN_UNTIL(f, f->n_got == 2);
    assert_int_equal(f->got[1].status, 0);
    assert_string_equal(f->got[1].endpoint, s1->addr);
}

static void test_client_sent_read_on_a_broken_connection_is_retried(void **state)
{
    struct fx *f = *state;
    struct srv *s0 = start(f, 0, SRV_CLOSE);
    struct srv *s1 = start(f, 1, SRV_AUTO);
    char endpoints[96];

    (void)snprintf(endpoints, sizeof endpoints, "%s,%s", s0->addr, s1->addr);
    client_open(f, endpoints, 0);
    assert_int_equal(coord_client_get(f->c, "k", 1, 0, on_result, f), 0);
    RUN_UNTIL(f, f->n_got == 1);
    assert_int_equal(f->got[0].status, 0);
    assert_string_equal(f->got[0].key, "k");
    assert_string_equal(f->got[0].endpoint, s1->addr);
    assert_int_equal(s0->n_reqs, 1);
    assert_int_equal(s1->n_reqs, 1);
}

static void test_client_follows_enotleader_to_the_leader(void **state)
{
    struct fx *f = *state;
    struct srv *s0 = start(f, 0, SRV_NOTLEADER);
    struct srv *s1 = start(f, 1, SRV_AUTO);

    /* The leader is not among the endpoints the client was given. */
    (void)snprintf(s0->leader_addr, sizeof s0->leader_addr, "%s", s1->addr);
    client_open(f, s0->addr, 0);
    assert_int_equal(coord_client_get(f->c, "k", 1, 0, on_result, f), 0);
    assert_int_equal(coord_client_put(f->c, "k", 1, "v", 1, COORD_NO_FORWARD, on_result, f), 0);
    RUN_UNTIL(f, f->n_got == 2);
    assert_int_equal(f->got[0].status, 0);
    assert_string_equal(f->got[0].endpoint, s1->addr);
    assert_int_equal(f->got[1].status, 0);
    assert_string_equal(f->got[1].endpoint, s1->addr);
    assert_int_equal(s1->n_reqs, 2);

    /* Later requests go straight to the leader. */
    assert_int_equal(coord_client_get(f->c, "k", 1, 0, on_result, f), 0);
    RUN_UNTIL(f, f->n_got == 3);
    assert_int_equal(s0->n_reqs, 2);
    assert_int_equal(s1->n_reqs, 3);
}

static void test_client_retries_after_eleaderless(void **state)
{
    struct fx *f = *state;
    struct srv *s = start(f, 0, SRV_LEADERLESS_ONCE);

    uint64_t start;

    client_open(f, s->addr, 0);
    uv_update_time(&f->loop);
    start = uv_now(&f->loop);
    assert_int_equal(coord_client_put(f->c, "k", 1, "v", 1, 0, on_result, f), 0);
    RUN_UNTIL(f, f->n_got == 1);
    assert_int_equal(f->got[0].status, 0);
    assert_int_equal(s->n_reqs, 2);
    assert_int_equal(s->n_conns, 1);
    /* Sent again after a pause (50 ms), not at once. */
    assert_true(uv_now(&f->loop) - start >= 50);
}

static void test_client_moves_on_from_a_node_shutting_down(void **state)
{
    struct fx *f = *state;
    struct srv *s0 = start(f, 0, SRV_SHUTDOWN);
    struct srv *s1 = start(f, 1, SRV_AUTO);
    char endpoints[96];

    (void)snprintf(endpoints, sizeof endpoints, "%s,%s", s0->addr, s1->addr);
    client_open(f, endpoints, 0);
    assert_int_equal(coord_client_put(f->c, "k", 1, "v", 1, 0, on_result, f), 0);
    RUN_UNTIL(f, f->n_got == 1);
    assert_int_equal(f->got[0].status, 0);
    assert_string_equal(f->got[0].endpoint, s1->addr);
    assert_int_equal(s0->n_reqs, 1);
    assert_int_equal(s1->n_reqs, 1);
}

static void on_filler_connected(uv_connect_t *req, int status)
{
    int *connected = req->data;

    *connected = status == 0 ? 1 : -1;
}

static void on_filler_closed(uv_handle_t *h)
{
    int *connected = h->data;

    *connected = 2;
}

/* A dial that hangs: a listener whose accept queue (backlog 0) is filled by
 * one connection never accepted, so that Linux drops the next SYNs. The
 * client gives up after connect_timeout_ms and moves to the next endpoint. */
static void test_client_connect_timeout_moves_to_the_next_endpoint(void **state)
{
    struct fx *f = *state;
    struct srv *s = start(f, 1, SRV_AUTO);
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    uv_tcp_t filler;
    uv_connect_t req;
    int connected = 0;
    struct coord_client_opts o;
    char endpoints[96];

    assert_true(fd >= 0);
    assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &sa), 0);
    assert_int_equal(bind(fd, (const struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 0), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    assert_int_equal(uv_tcp_init(&f->loop, &filler), 0);
    req.data = &connected;
    assert_int_equal(
        uv_tcp_connect(&req, &filler, (const struct sockaddr *)&sa, on_filler_connected), 0);
    RUN_UNTIL(f, connected != 0);
    assert_int_equal(connected, 1);

    (void)snprintf(endpoints, sizeof endpoints, "127.0.0.1:%d,%s", ntohs(sa.sin_port), s->addr);
    coord_client_opts_default(&o);
    o.endpoints = endpoints;
    o.connect_timeout_ms = 100;
    assert_int_equal(coord_client_new(&f->loop, &o, &f->c), 0);
    assert_int_equal(coord_client_get(f->c, "k", 1, 0, on_result, f), 0);
    RUN_UNTIL(f, f->n_got == 1);
    assert_int_equal(f->got[0].status, 0);
    assert_string_equal(f->got[0].endpoint, s->addr);

    /* With only the hanging endpoint, the request fails after the timeout. */
    client_close(f);
    (void)snprintf(endpoints, sizeof endpoints, "127.0.0.1:%d", ntohs(sa.sin_port));
    assert_int_equal(coord_client_new(&f->loop, &o, &f->c), 0);
    assert_int_equal(coord_client_get(f->c, "k", 1, 0, on_result, f), 0);
    RUN_UNTIL(f, f->n_got == 2);
    assert_int_equal(f->got[1].status, RAFT_ENOCONN);
    assert_non_null(strstr(f->got[1].message, "connect timed out"));
    client_close(f);
    /* filler lives on this stack: wait until libuv is done with it. */
    filler.data = &connected;
    uv_close((uv_handle_t *)&filler, on_filler_closed);
    RUN_UNTIL(f, connected == 2);
    assert_int_equal(close(fd), 0);
}

static void test_client_pinned_never_leaves_its_endpoint(void **state)
{
    struct fx *f = *state;
    struct srv *s0 = start(f, 0, SRV_AUTO);
    struct srv *s1 = start(f, 1, SRV_NOTLEADER);
    struct coord_client_opts o;
    char endpoints[96];

    (void)snprintf(s1->leader_addr, sizeof s1->leader_addr, "%s", s0->addr);
    (void)snprintf(endpoints, sizeof endpoints, "%s,%s", s0->addr, s1->addr);
    coord_client_opts_default(&o);
    o.endpoints = endpoints;
    o.first = 1;
    o.pin = true;
    assert_int_equal(coord_client_new(&f->loop, &o, &f->c), 0);
    /* ENOTLEADER comes back to the caller, with the leader's address. */
    assert_int_equal(coord_client_get(f->c, "k", 1, 0, on_result, f), 0);
    RUN_UNTIL(f, f->n_got == 1);
    assert_int_equal(f->got[0].status, RAFT_ENOTLEADER);
    assert_string_equal(f->got[0].leader_addr, s0->addr);
    assert_string_equal(f->got[0].endpoint, s1->addr);

    /* A lost connection is retried on the same endpoint, never the next. */
    s1->mode = SRV_CLOSE;
    assert_int_equal(coord_client_get(f->c, "k", 1, 0, on_result, f), 0);
    RUN_UNTIL(f, f->n_got == 2);
    assert_int_not_equal(f->got[1].status, 0);
    assert_string_equal(f->got[1].endpoint, s1->addr);
    assert_int_equal(s0->n_conns, 0);
    assert_int_equal(s0->n_reqs, 0);
}

static void test_client_close_cancels_requests_in_flight(void **state)
{
    struct fx *f = *state;
    struct srv *s = start(f, 0, SRV_HOLD);
    size_t i;

    client_open(f, s->addr, 0);
    for (i = 0; i < 3; i++) {
        assert_int_equal(coord_client_get(f->c, "k", 1, 0, on_result, f), 0);
    }
    RUN_UNTIL(f, s->n_reqs == 3);
    /* One more, queued and not yet sent. */
    assert_int_equal(coord_client_put(f->c, "k", 1, "v", 1, 0, on_result, f), 0);
    f->resubmit = true; /* the first cancellation tries to submit again */
    coord_client_close(f->c, on_client_closed, f);
    assert_int_equal(f->n_got, 4);
    for (i = 0; i < 4; i++) {
        assert_int_equal(f->got[i].status, RAFT_ECANCELED);
    }
    assert_int_equal(f->resubmit_rv, RAFT_ESHUTDOWN);
    RUN_UNTIL(f, f->client_closed);
    f->c = NULL;
    assert_int_equal(f->n_got, 4);
}

static void test_client_oversized_response_fails_the_connection(void **state)
{
    struct fx *f = *state;
    struct srv *s = start(f, 0, SRV_OVERSIZE_ONCE);
    struct coord_client_opts o;

    coord_client_opts_default(&o);
    o.endpoints = s->addr;
    o.max_frame = 1024;
    assert_int_equal(coord_client_new(&f->loop, &o, &f->c), 0);
    assert_int_equal(coord_client_get(f->c, "k", 1, 0, on_result, f), 0);
    RUN_UNTIL(f, f->n_got == 1);
    assert_int_equal(f->got[0].status, RAFT_ETOOBIG);
    assert_non_null(strstr(f->got[0].message, "too large"));

    /* The client dials again for the next request. */
    assert_int_equal(coord_client_get(f->c, "k", 1, 0, on_result, f), 0);
    RUN_UNTIL(f, f->n_got == 2);
    assert_int_equal(f->got[1].status, 0);
    assert_int_equal(s->n_conns, 2);
}

static void test_client_submits_from_inside_a_callback(void **state)
{
    struct fx *f = *state;
    struct srv *s = start(f, 0, SRV_AUTO);

    client_open(f, s->addr, 0);
    f->resubmit = true;
    assert_int_equal(coord_client_get(f->c, "k", 1, 0, on_result, f), 0);
    RUN_UNTIL(f, f->n_got == 2);
    assert_int_equal(f->resubmit_rv, 0);
    assert_int_equal(f->got[1].status, 0);
    assert_string_equal(f->got[1].key, "again");
}

static void test_client_refuses_bad_arguments(void **state)
{
    struct fx *f = *state;
    struct coord_client_opts o;
    struct coord_client *c = NULL;
    static const char *bad[] = {"", "localhost", "h:0", "h:65536", "h:12a", ":80", "a:1,,b:2"};
    char many[COORD_CLIENT_MAX_ENDPOINTS * 16 + 32] = "";
    char key[COORD_CLIENT_MAX_ENDPOINTS * 16];
    size_t i;

    coord_client_opts_default(&o);
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o.endpoints = bad[i];
        assert_int_equal(coord_client_new(&f->loop, &o, &c), RAFT_EINVAL);
    }
    o.endpoints = NULL;
    assert_int_equal(coord_client_new(&f->loop, &o, &c), RAFT_EINVAL);
    for (i = 0; i <= COORD_CLIENT_MAX_ENDPOINTS; i++) {
        (void)snprintf(many + strlen(many), sizeof many - strlen(many), "%sh:%zu", i ? "," : "",
                       i + 1);
    }
    o.endpoints = many;
    assert_int_equal(coord_client_new(&f->loop, &o, &c), RAFT_EINVAL);
    o.endpoints = "h:1,[::1]:2";
    o.first = 2;
    assert_int_equal(coord_client_new(&f->loop, &o, &c), RAFT_EINVAL);
    o.first = 1;
    o.max_inflight = 2;
    assert_int_equal(coord_client_new(&f->loop, &o, &f->c), 0);

    memset(key, 'k', sizeof key);
    assert_int_equal(coord_client_put(f->c, "", 0, "v", 1, 0, on_result, f), RAFT_EINVAL);
    assert_int_equal(coord_client_put(f->c, key, 512, "v", 1, 0, on_result, f), RAFT_ETOOBIG);
    assert_int_equal(coord_client_put(f->c, "k", 1, "v", 1, COORD_SERIALIZABLE, on_result, f),
                     RAFT_EINVAL);
    assert_int_equal(coord_client_get(f->c, "k", 1, COORD_PREV_KV, on_result, f), RAFT_EINVAL);
    assert_int_equal(coord_client_range(f->c, "k", 1, key, 512, 0, 0, on_result, f), RAFT_ETOOBIG);
    assert_int_equal(
        coord_client_member(f->c, COORD_MEMBER_ADD_LEARNER, 4, NULL, NULL, on_result, f),
        RAFT_EINVAL);
    assert_int_equal(coord_client_member(f->c, COORD_MEMBER_REMOVE, 0, NULL, NULL, on_result, f),
                     RAFT_EINVAL);
    assert_int_equal(f->n_got, 0);

    /* max_inflight counts queued and sent requests alike. */
    assert_int_equal(coord_client_get(f->c, "k", 1, 0, on_result, f), 0);
    assert_int_equal(coord_client_transfer(f->c, 0, on_result, f), 0);
    assert_int_equal(coord_client_status(f->c, on_result, f), RAFT_EBUSY);
    client_close(f);
    assert_int_equal(f->n_got, 2);
    assert_int_equal(f->got[0].status, RAFT_ECANCELED);
}

static void test_client_leaves_nothing_active_once_answered(void **state)
{
    struct fx *f = *state;
    struct srv *s = start(f, 0, SRV_AUTO);

    client_open(f, s->addr, 0);
    assert_int_equal(coord_client_get(f->c, "k", 1, 0, on_result, f), 0);
    RUN_UNTIL(f, f->n_got == 1);
    /* The open connection and the client's handles keep the loop alive
     * only while answers are owed: with the fake node's handles and the
     * guard unreferenced, uv_run() returns at once, the client still open. */
    uv_unref((uv_handle_t *)&s->listener);
    uv_unref((uv_handle_t *)&s->conns[0].tcp);
    f->timed_out = false;
    uv_timer_start(&f->guard, on_guard_stop, GUARD_MS, 0);
    uv_unref((uv_handle_t *)&f->guard);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_false(f->timed_out);
    uv_ref((uv_handle_t *)&f->guard);
    uv_timer_stop(&f->guard);
    assert_int_equal(s->conns[0].open, true);

    /* And it serves on. */
    assert_int_equal(coord_client_get(f->c, "k", 1, 0, on_result, f), 0);
    RUN_UNTIL(f, f->n_got == 2);
    assert_int_equal(f->got[1].status, 0);
    assert_int_equal(s->n_conns, 1);
}

/* Out of memory at every allocation in turn, from coord_client_new() to the
 * close: each call and callback reports success or RAFT_ENOMEM, nothing
 * leaks, and the run that meets no failure ends the sweep. */
static void test_client_out_of_memory_sweep(void **state)
{
    struct fx *f = *state;
    struct srv *s = start(f, 0, SRV_AUTO);
    struct coord_client_opts o;
    long k;
    bool clean = false;

    coord_client_opts_default(&o);
    o.endpoints = s->addr;
    for (k = 1; k < 1000 && !clean; k++) {
        size_t n_ok = 0;
        size_t i;
        int rv;

        f->n_got = 0;
        f->client_closed = false;
        raft_alloc_fail_at(k);
        rv = coord_client_new(&f->loop, &o, &f->c);
        if (rv != 0) {
            assert_int_equal(rv, RAFT_ENOMEM);
            f->c = NULL;
            continue;
        }
        rv = coord_client_put(f->c, "k", 1, "v", 1, 0, on_result, f);
        assert_true(rv == 0 || rv == RAFT_ENOMEM);
        n_ok += rv == 0;
        rv = coord_client_get(f->c, "k", 1, 0, on_result, f);
        assert_true(rv == 0 || rv == RAFT_ENOMEM);
        n_ok += rv == 0;
        RUN_UNTIL(f, f->n_got == n_ok);
        for (i = 0; i < f->n_got; i++) {
            assert_true(f->got[i].status == 0 || f->got[i].status == RAFT_ENOMEM);
        }
        clean = raft_alloc_count() < k;
        client_close(f);
        raft_alloc_fail_at(0);
        assert_int_equal(raft_alloc_live(), f->live);
    }
    assert_true(clean);
    assert_true(k > 5);
}

/* ---- the synchronous face, against a fake node on a thread ------------------------------ */

struct node_thread {
    uv_loop_t loop;
    uv_async_t stop;
    struct srv srv;
    pthread_t thread;
};

static void on_stop(uv_async_t *h)
{
    struct node_thread *t = h->data;

    srv_stop(&t->srv);
    uv_close((uv_handle_t *)&t->stop, NULL);
}

static void *node_main(void *arg)
{
    struct node_thread *t = arg;

    (void)uv_run(&t->loop, UV_RUN_DEFAULT);
    return NULL;
}

static void test_client_sync_roundtrip(void **state)
{
    struct node_thread *t = calloc(1, sizeof *t);
    struct coord_client_opts o;
    struct coord_sync *s = NULL;
    struct coord_result res;
    long live = raft_alloc_live();

    (void)state;
    assert_non_null(t);
    assert_int_equal(uv_loop_init(&t->loop), 0);
    srv_start(&t->srv, &t->loop, SRV_AUTO);
    assert_int_equal(uv_async_init(&t->loop, &t->stop, on_stop), 0);
    t->stop.data = t;
    assert_int_equal(pthread_create(&t->thread, NULL, node_main, t), 0);

    coord_client_opts_default(&o);
    o.endpoints = t->srv.addr;
    assert_int_equal(coord_sync_open(&o, &s), 0);
    assert_int_equal(coord_sync_put(s, "k", 1, "v", 1, 0, &res), 0);
    assert_int_equal(res.revision, 1);
    assert_string_equal(res.endpoint, t->srv.addr);
    assert_int_equal(coord_sync_get(s, "abc", 3, 0, &res), 0);
    /* The views stay valid after the call, until the next one. */
    assert_int_equal(res.n_kvs, 1);
    assert_memory_equal(res.kvs[0].key, "abc", 3);
    assert_memory_equal(res.kvs[0].value, "v:abc", 5);
    assert_int_equal(coord_sync_status(s, &res), 0);
    assert_string_equal(res.node_status->role, "leader");
    assert_int_equal(res.node_status->n_members, 3);
    assert_int_equal(res.node_status->members[2].id, 3);
    assert_int_equal(coord_sync_range(s, "a", 1, "\0", 1, 10, COORD_SERIALIZABLE, &res), 0);
    assert_int_equal(coord_sync_del(s, "a", 1, "b", 1, COORD_PREV_KV, &res), 0);
    assert_int_equal(res.deleted, 1);
    assert_int_equal(coord_sync_get(s, "", 0, 0, &res), RAFT_EINVAL);
    assert_int_equal(res.status, RAFT_EINVAL);
    coord_sync_close(s);
    coord_sync_close(NULL);

    assert_int_equal(uv_async_send(&t->stop), 0);
    assert_int_equal(pthread_join(t->thread, NULL), 0);
    assert_int_equal(uv_loop_close(&t->loop), 0);
    assert_int_equal(t->srv.n_reqs, 5);
    assert_true(t->srv.reqs[3].serializable);
    free(t);
    assert_int_equal(raft_alloc_live(), live);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_client_put_get_del_status_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_sends_membership_and_transfer_requests, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_client_pipelines_and_matches_answers_out_of_order,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_times_out_unanswered_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_skips_a_refusing_endpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_reports_enoconn_when_no_endpoint_answers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_client_sent_write_on_a_broken_connection_is_enoconn,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_sent_read_on_a_broken_connection_is_retried,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_follows_enotleader_to_the_leader, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_client_retries_after_eleaderless, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_moves_on_from_a_node_shutting_down, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_client_connect_timeout_moves_to_the_next_endpoint,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_pinned_never_leaves_its_endpoint, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_client_close_cancels_requests_in_flight, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_client_oversized_response_fails_the_connection, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_client_submits_from_inside_a_callback, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_client_refuses_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_leaves_nothing_active_once_answered, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_client_out_of_memory_sweep, setup, teardown),
        cmocka_unit_test(test_client_sync_roundtrip),
    };

    /* Sockets closed under a pending write raise SIGPIPE; coordd ignores it (main.c). */
    (void)signal(SIGPIPE, SIG_IGN);

    return cmocka_run_group_tests(tests, NULL, NULL);
}
