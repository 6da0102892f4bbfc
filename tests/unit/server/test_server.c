/* SPDX-License-Identifier: MIT */
/* test_server: coord/server.c over real loopback sockets (127.0.0.1, ports
 * picked by the kernel), in front of fake nodes (fake_node.c) that apply
 * commands to a real coord_fsm. Test clients speak coord.proto with
 * protobuf-c directly. No sleeps: each wait runs the loop until a condition
 * holds, bounded by a guard timer and an iteration count. Every test ends by
 * closing servers and nodes and checking that nothing leaks and the loop
 * closes cleanly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above. */
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "coord/frame.h"
#include "coord/log.h"
#include "coord/server.h"
#include "proto/coord.pb-c.h"
#include "raft/base/alloc.h"
#include "tests/lib/fsutil.h"
#include "tests/lib/uvwait.h"
#include "tests/unit/server/fake_node.h"

#define GUARD_MS  8000    /* a wait fails after this long */
#define MAX_ITERS 1000000 /* ... or after this many loop iterations */
#define N_SRV     2
#define MAX_TC    8
#define MAX_RESP  1024
#define LOG_LINES 256
#define BIG_VALUE 1000000u /* bytes: just under COORD_CMD_VALUE_MAX */

struct fx;

/* A test client: a plain TCP connection speaking coord.proto. */
struct tc {
    struct fx *f;
    uv_tcp_t tcp;
    uv_connect_t req;
    bool open;
    bool connected;
    bool eof;
    bool reading;
    struct coord_frame_reader reader;
    Coord__Api__Response *resp[MAX_RESP]; /* answers, in arrival order (malloc'd) */
    size_t n_resp;
    size_t n_bad; /* frames that did not decode */
};

/* A fake node and the server in front of it. */
struct srv {
    struct coord_node *node;
    struct coord_server *server;
    char *dir;
    char addr[64]; /* the client port, "127.0.0.1:PORT" */
    bool node_closing;
    bool node_closed;
    bool server_closing;
    bool server_closed;
};

struct fx {
    uv_loop_t loop;
    uv_timer_t guard;
    bool timed_out;
    long live;
    struct srv srv[N_SRV];
    struct tc *tcs[MAX_TC];
    size_t n_tc;
    char log[LOG_LINES][256];
    size_t n_log;
};

/* A growing byte string of frames. */
struct bytes {
    uint8_t *base;
    size_t len;
    size_t cap;
};

/* Request options. */
struct ro {
    bool serializable;
    bool no_forward;
    uint32_t timeout_ms;
};

#define RUN_UNTIL(f, cond)                                                                         \
    UVWAIT_UNTIL(&(f)->loop, &(f)->guard, on_guard, (f)->timed_out, GUARD_MS, MAX_ITERS, cond,     \
                 dump_log(f))

/* Run n loop iterations (without blocking when nothing is ready). */
static void spin(struct fx *f, int n)
{
    int i;

    for (i = 0; i < n; i++) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
    }
}

static void on_guard(uv_timer_t *h)
{
    struct fx *f = h->data;

    f->timed_out = true;
}

static void dump_log(const struct fx *f)
{
    size_t i;

    for (i = 0; i < f->n_log; i++) {
        print_error("log: %s\n", f->log[i]);
    }
}

static void log_sink(void *arg, int level, const char *line)
{
    struct fx *f = arg;

    if (f->n_log < LOG_LINES) {
        (void)snprintf(f->log[f->n_log++], sizeof f->log[0], "%d %s", level, line);
    }
    if (getenv("COORD_TEST_VERBOSE") != NULL) {
        (void)fprintf(stderr, "%d %s\n", level, line);
    }
}

static int log_count(const struct fx *f, const char *a)
{
    int n = 0;
    size_t i;

    for (i = 0; i < f->n_log; i++) {
        n += strstr(f->log[i], a) != NULL ? 1 : 0;
    }
    return n;
}

static uint8_t *mut(const void *p)
{
    union {
        const void *c;
        uint8_t *m;
    } u = {p};

    return u.m;
}

static char *mut_str(const char *p)
{
    union {
        const char *c;
        char *m;
    } u = {p};

    return u.m;
}

/* ---- frames ----------------------------------------------------------------------------- */

static void bytes_add(struct bytes *b, const void *data, size_t len)
{
    if (b->len + len > b->cap) {
        b->cap = (b->len + len) * 2;
        b->base = realloc(b->base, b->cap);
        assert_non_null(b->base);
    }
    memcpy(b->base + b->len, data, len);
    b->len += len;
}

static void add_frame(struct bytes *b, const Coord__Api__ClientFrame *f)
{
    size_t len = coord__api__client_frame__get_packed_size(f);
    uint8_t hdr[4];
    uint8_t *body = malloc(len + 1);

    assert_non_null(body);
    assert_int_equal(coord__api__client_frame__pack(f, body), len);
    coord_frame_header_encode(hdr, len);
    bytes_add(b, hdr, sizeof hdr);
    bytes_add(b, body, len);
    free(body);
}

static void add_request(struct bytes *b, Coord__Api__Request *r, uint64_t id, const struct ro *o)
{
    Coord__Api__ClientFrame f = COORD__API__CLIENT_FRAME__INIT;

    r->has_id = 1;
    r->id = id;
    if (o != NULL) {
        r->has_serializable = o->serializable;
        r->serializable = o->serializable;
        r->has_no_forward = o->no_forward;
        r->no_forward = o->no_forward;
        r->has_timeout_ms = o->timeout_ms != 0;
        r->timeout_ms = o->timeout_ms;
    }
    f.has_version = 1;
    f.version = 1;
    f.request = r;
    add_frame(b, &f);
}

static void add_put(struct bytes *b, uint64_t id, const char *key, const void *value,
                    size_t value_len, const struct ro *o)
{
    Coord__Api__Request r = COORD__API__REQUEST__INIT;
    Coord__Cmd__Put put = COORD__CMD__PUT__INIT;

    put.has_key = 1;
    put.key.data = mut(key);
    put.key.len = strlen(key);
    put.has_value = 1;
    put.value.data = mut(value);
    put.value.len = value_len;
    r.op_case = COORD__API__REQUEST__OP_PUT;
    r.put = &put;
    add_request(b, &r, id, o);
}

static void add_put_str(struct bytes *b, uint64_t id, const char *key, const char *value)
{
    add_put(b, id, key, value, strlen(value), NULL);
}

static void add_range(struct bytes *b, uint64_t id, const char *key, const char *end,
                      uint64_t limit, const struct ro *o)
{
    Coord__Api__Request r = COORD__API__REQUEST__INIT;
    Coord__Cmd__Range range = COORD__CMD__RANGE__INIT;

    range.has_key = 1;
    range.key.data = mut(key);
    range.key.len = strlen(key);
    if (end != NULL) {
        range.has_range_end = 1;
        range.range_end.data = mut(end);
        range.range_end.len = strlen(end);
    }
    range.has_limit = limit != 0;
    range.limit = limit;
    r.op_case = COORD__API__REQUEST__OP_RANGE;
    r.range = &range;
    add_request(b, &r, id, o);
}

static void add_status(struct bytes *b, uint64_t id)
{
    Coord__Api__Request r = COORD__API__REQUEST__INIT;
    Coord__Api__StatusRequest st = COORD__API__STATUS_REQUEST__INIT;

    r.op_case = COORD__API__REQUEST__OP_STATUS;
    r.status = &st;
    add_request(b, &r, id, NULL);
}

/* ---- test clients ----------------------------------------------------------------------- */

static void tc_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    buf->base = malloc(suggested);
    buf->len = buf->base != NULL ? suggested : 0;
}

static void tc_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct tc *t = s->data;
    struct raft_buf in = {buf->base, n > 0 ? (size_t)n : 0};
    struct raft_buf body;
    Coord__Api__ClientFrame *f;

    if (n < 0) {
        t->eof = true;
        uv_read_stop(s);
        t->reading = false;
    }
    while (n > 0 && coord_frame_reader_next(&t->reader, &in, &body) == 1) {
        f = coord__api__client_frame__unpack(NULL, body.len, body.base);
        if (f == NULL || f->response == NULL || t->n_resp == MAX_RESP) {
            t->n_bad++;
        } else {
            t->resp[t->n_resp++] = f->response;
            f->response = NULL;
        }
        if (f != NULL) {
            coord__api__client_frame__free_unpacked(f, NULL);
        }
    }
    free(buf->base);
}

static void tc_read(struct tc *t, bool on)
{
    if (on && !t->reading && !t->eof) {
        assert_int_equal(uv_read_start((uv_stream_t *)&t->tcp, tc_on_alloc, tc_on_read), 0);
    } else if (!on && t->reading) {
        uv_read_stop((uv_stream_t *)&t->tcp);
    }
    t->reading = on && !t->eof;
}

static void tc_on_connect(uv_connect_t *req, int status)
{
    struct tc *t = req->data;

    if (status != 0) {
        t->eof = true;
        return;
    }
    t->connected = true;
    tc_read(t, true);
}

/* A client connected to port. */
static struct tc *tc_connect(struct fx *f, const char *addr)
{
    struct tc *t = calloc(1, sizeof *t);
    struct sockaddr_in sin;
    const char *colon = strrchr(addr, ':');

    assert_non_null(t);
    assert_true(f->n_tc < MAX_TC);
    f->tcs[f->n_tc++] = t;
    t->f = f;
    coord_frame_reader_init(&t->reader, 256u << 20);
    assert_int_equal(uv_ip4_addr("127.0.0.1", atoi(colon + 1), &sin), 0);
    assert_int_equal(uv_tcp_init(&f->loop, &t->tcp), 0);
    t->tcp.data = t;
    t->open = true;
    t->req.data = t;
    assert_int_equal(uv_tcp_connect(&t->req, &t->tcp, (struct sockaddr *)&sin, tc_on_connect), 0);
    RUN_UNTIL(f, t->connected || t->eof);
    return t;
}

static void tc_on_write(uv_write_t *req, int status)
{
    (void)status;
    free(req);
}

/* Send b's bytes (b is emptied). */
static void tc_send(struct tc *t, struct bytes *b)
{
    uv_write_t *req = malloc(sizeof *req + b->len);
    uv_buf_t buf;

    assert_non_null(req);
    memcpy(req + 1, b->base, b->len);
    buf = uv_buf_init((char *)(req + 1), (unsigned)b->len);
    assert_int_equal(uv_write(req, (uv_stream_t *)&t->tcp, &buf, 1, tc_on_write), 0);
    free(b->base);
    memset(b, 0, sizeof *b);
}

static void tc_send_raw(struct tc *t, const void *data, size_t len)
{
    struct bytes b = {0};

    bytes_add(&b, data, len);
    tc_send(t, &b);
}

/* The last answer with id, or NULL. */
static const Coord__Api__Response *tc_answer(const struct tc *t, uint64_t id)
{
    size_t i;

    for (i = t->n_resp; i > 0; i--) {
        if (t->resp[i - 1]->id == id) {
            return t->resp[i - 1];
        }
    }
    return NULL;
}

/* Send one request and wait for its answer. */
static const Coord__Api__Response *tc_call(struct tc *t, struct bytes *b, uint64_t id)
{
    size_t before = t->n_resp;

    tc_send(t, b);
    RUN_UNTIL(t->f, t->n_resp > before || t->eof);
    assert_true(t->n_resp > before);
    assert_int_equal(t->resp[t->n_resp - 1]->id, id);
    return t->resp[t->n_resp - 1];
}

static void tc_close(struct tc *t)
{
    size_t i;

    if (t->open) {
        uv_close((uv_handle_t *)&t->tcp, NULL);
        t->open = false;
    }
    for (i = 0; i < t->n_resp; i++) {
        coord__api__response__free_unpacked(t->resp[i], NULL);
    }
    t->n_resp = 0;
    coord_frame_reader_close(&t->reader);
}

static uint32_t err_of(const Coord__Api__Response *r)
{
    return r->has_error ? r->error : 0;
}

/* ---- nodes and servers ------------------------------------------------------------------ */

static void on_node_closed(void *arg)
{
    struct srv *s = arg;

    s->node_closed = true;
    s->node = NULL;
}

static void on_server_closed(void *arg)
{
    struct srv *s = arg;

    s->server_closed = true;
    s->server = NULL;
}

static void srv_config(struct fx *f, int i, struct coord_config *cfg)
{
    struct srv *s = &f->srv[i];

    coord_config_default(cfg);
    cfg->id = (uint64_t)i + 1;
    s->dir = fsutil_mkdtemp();
    (void)snprintf(cfg->data_dir, sizeof cfg->data_dir, "%s", s->dir);
    (void)snprintf(cfg->client_addr, sizeof cfg->client_addr, "127.0.0.1:0");
    (void)snprintf(cfg->peer_addr, sizeof cfg->peer_addr, "127.0.0.1:9%d", i);
    cfg->request_timeout_ms = 2000;
    cfg->n_members = 2;
    cfg->members[0].id = 1;
    (void)snprintf(cfg->members[0].peer_addr, RAFT_ADDR_MAX, "127.0.0.1:90");
    (void)snprintf(cfg->members[0].client_addr, RAFT_ADDR_MAX, "127.0.0.1:80");
    cfg->members[1].id = 2;
    (void)snprintf(cfg->members[1].peer_addr, RAFT_ADDR_MAX, "127.0.0.1:91");
}

/* Start fake node i and its server with cfg. */
static struct srv *srv_start_cfg(struct fx *f, int i, const struct coord_config *cfg)
{
    struct srv *s = &f->srv[i];
    char err[256];

    assert_int_equal(coord_node_new(&f->loop, cfg, &s->node, err, sizeof err), 0);
    assert_int_equal(coord_server_new(&f->loop, s->node, cfg, &s->server, err, sizeof err), 0);
    (void)snprintf(s->addr, sizeof s->addr, "127.0.0.1:%d", coord_server_port(s->server));
    return s;
}

static struct srv *srv_start(struct fx *f, int i)
{
    struct coord_config cfg;

    srv_config(f, i, &cfg);
    return srv_start_cfg(f, i, &cfg);
}

static void srv_close_server(struct srv *s)
{
    if (s->server != NULL && !s->server_closing) {
        s->server_closing = true;
        coord_server_close(s->server, on_server_closed, s);
    }
}

static void srv_close_node(struct srv *s)
{
    if (s->node != NULL && !s->node_closing) {
        s->node_closing = true;
        coord_node_close(s->node, on_node_closed, s);
    }
}

static struct coord_server_stats stats_of(const struct srv *s)
{
    struct coord_server_stats st;

    coord_server_stats(s->server, &st);
    return st;
}

/* ---- fixture ---------------------------------------------------------------------------- */

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);

    assert_non_null(f);
    f->live = raft_alloc_live();
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(uv_timer_init(&f->loop, &f->guard), 0);
    f->guard.data = f;
    coord_log_set_sink(log_sink, f);
    coord_log_set_level(COORD_LOG_DEBUG);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    size_t i;

    for (i = 0; i < N_SRV; i++) {
        srv_close_server(&f->srv[i]);
        srv_close_node(&f->srv[i]);
    }
    RUN_UNTIL(f, f->srv[0].server == NULL && f->srv[1].server == NULL && f->srv[0].node == NULL &&
                     f->srv[1].node == NULL);
    for (i = 0; i < f->n_tc; i++) {
        tc_close(f->tcs[i]);
    }
    uv_close((uv_handle_t *)&f->guard, NULL);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    assert_int_equal(raft_alloc_live(), f->live);
    for (i = 0; i < N_SRV; i++) {
        if (f->srv[i].dir != NULL) {
            fsutil_rm_rf(f->srv[i].dir);
            free(f->srv[i].dir);
        }
    }
    for (i = 0; i < f->n_tc; i++) {
        free(f->tcs[i]);
    }
    coord_log_set_sink(NULL, NULL);
    free(f);
    return 0;
}

/* ---- the key space ---------------------------------------------------------------------- */

static void test_server_put_then_get_roundtrip(void **state)
{
    struct fx *f = *state;
    struct srv *s = srv_start(f, 0);
    struct tc *t = tc_connect(f, s->addr);
    struct bytes b = {0};
    const Coord__Api__Response *r;

    add_put_str(&b, 1, "alpha", "one");
    r = tc_call(t, &b, 1);
    assert_int_equal(err_of(r), 0);
    assert_int_equal(r->revision, 1);
    assert_int_equal(r->applied_index, 1);

    add_range(&b, 2, "alpha", NULL, 0, NULL);
    r = tc_call(t, &b, 2);
    assert_int_equal(err_of(r), 0);
    assert_int_equal(r->result_case, COORD__API__RESPONSE__RESULT_KVS);
    assert_int_equal(r->kvs->n_kvs, 1);
    assert_memory_equal(r->kvs->kvs[0]->key.data, "alpha", 5);
    assert_int_equal(r->kvs->kvs[0]->value.len, 3);
    assert_memory_equal(r->kvs->kvs[0]->value.data, "one", 3);
    assert_int_equal(r->kvs->kvs[0]->mod_revision, 1);
    assert_int_equal(r->kvs->kvs[0]->version, 1);
    assert_int_equal(r->revision, 1);

    /* A missing key is an empty answer, not an error. */
    add_range(&b, 3, "beta", NULL, 0, NULL);
    r = tc_call(t, &b, 3);
    assert_int_equal(err_of(r), 0);
    assert_int_equal(r->result_case, COORD__API__RESPONSE__RESULT_KVS);
    assert_int_equal(r->kvs->n_kvs, 0);
    assert_int_equal(stats_of(s).requests, 3);
    assert_int_equal(stats_of(s).errors, 0);
}

static void test_server_pipelined_requests_are_answered_by_id(void **state)
{
    struct fx *f = *state;
    struct srv *s = srv_start(f, 0);
    struct tc *t = tc_connect(f, s->addr);
    struct bytes b = {0};
    bool seen[200] = {false};
    char key[16];
    size_t i;

    /* 100 puts and 100 gets, in one write, ids not in order. */
    for (i = 0; i < 100; i++) {
        (void)snprintf(key, sizeof key, "k%03zu", i);
        add_put_str(&b, 1000 + i * 7 % 100, key, "v");
        add_range(&b, 2000 + i, key, NULL, 0, &(struct ro){.serializable = (i % 2) == 0});
    }
    tc_send(t, &b);
    RUN_UNTIL(f, t->n_resp == 200);
    for (i = 0; i < t->n_resp; i++) {
        const Coord__Api__Response *r = t->resp[i];
        size_t slot = r->id >= 2000 ? 100 + (r->id - 2000) : r->id - 1000;

        assert_true(slot < 200);
        assert_false(seen[slot]);
        seen[slot] = true;
        assert_int_equal(err_of(r), 0);
    }
    assert_int_equal(fake_node_calls(s->node)->proposed, 100);
}

static void test_server_answers_may_come_out_of_order(void **state)
{
    struct fx *f = *state;
    struct srv *s = srv_start(f, 0);
    struct tc *t = tc_connect(f, s->addr);
    struct bytes b = {0};

    fake_node_hold(s->node, true, false);
    add_put_str(&b, 1, "a", "1");
    add_status(&b, 2);
    tc_send(t, &b);
    RUN_UNTIL(f, t->n_resp == 1);
    assert_int_equal(t->resp[0]->id, 2);
    assert_int_equal(fake_node_waiting(s->node), 1);
    fake_node_release(s->node);
    RUN_UNTIL(f, t->n_resp == 2);
    assert_int_equal(t->resp[1]->id, 1);
    assert_int_equal(err_of(t->resp[1]), 0);
}

static void add_txn(struct bytes *b, uint64_t id, const char *cmp_key, const char *cmp_value)
{
    Coord__Api__Request r = COORD__API__REQUEST__INIT;
    Coord__Cmd__Txn txn = COORD__CMD__TXN__INIT;
    Coord__Cmd__Compare cmp;
    Coord__Cmd__Compare *cmps[1] = {&cmp};
    Coord__Cmd__TxnOp op_put = COORD__CMD__TXN_OP__INIT;
    Coord__Cmd__TxnOp op_range = COORD__CMD__TXN_OP__INIT;
    Coord__Cmd__TxnOp op_fail = COORD__CMD__TXN_OP__INIT;
    Coord__Cmd__TxnOp *success[2] = {&op_put, &op_range};
    Coord__Cmd__TxnOp *failure[1] = {&op_fail};
    Coord__Cmd__Put put = COORD__CMD__PUT__INIT;
    Coord__Cmd__Range range = COORD__CMD__RANGE__INIT;
    Coord__Cmd__Range fail_range = COORD__CMD__RANGE__INIT;

    coord__cmd__compare__init(&cmp);
    cmp.has_key = 1;
    cmp.key.data = mut(cmp_key);
    cmp.key.len = strlen(cmp_key);
    cmp.has_target = 1;
    cmp.target = COORD__CMD__COMPARE__TARGET__VALUE;
    cmp.has_result = 1;
    cmp.result = COORD__CMD__COMPARE__RESULT__EQUAL;
    cmp.operand_case = COORD__CMD__COMPARE__OPERAND_VALUE;
    cmp.value.data = mut(cmp_value);
    cmp.value.len = strlen(cmp_value);
    put.has_key = put.has_value = 1;
    put.key.data = mut("b");
    put.key.len = 1;
    put.value.data = mut("2");
    put.value.len = 1;
    op_put.op_case = COORD__CMD__TXN_OP__OP_PUT;
    op_put.put = &put;
    range.has_key = 1;
    range.key.data = mut("a");
    range.key.len = 1;
    op_range.op_case = COORD__CMD__TXN_OP__OP_RANGE;
    op_range.range = &range;
    fail_range.has_key = 1;
    fail_range.key.data = mut("a");
    fail_range.key.len = 1;
    op_fail.op_case = COORD__CMD__TXN_OP__OP_RANGE;
    op_fail.range = &fail_range;
    txn.n_compare = 1;
    txn.compare = cmps;
    txn.n_success = 2;
    txn.success = success;
    txn.n_failure = 1;
    txn.failure = failure;
    r.op_case = COORD__API__REQUEST__OP_TXN;
    r.txn = &txn;
    add_request(b, &r, id, NULL);
}

static void test_server_txn_answers_each_operation(void **state)
{
    struct fx *f = *state;
    struct srv *s = srv_start(f, 0);
    struct tc *t = tc_connect(f, s->addr);
    struct bytes b = {0};
    const Coord__Api__Response *r;

    add_put_str(&b, 1, "a", "1");
    assert_int_equal(err_of(tc_call(t, &b, 1)), 0);

    add_txn(&b, 2, "a", "1");
    r = tc_call(t, &b, 2);
    assert_int_equal(err_of(r), 0);
    assert_int_equal(r->result_case, COORD__API__RESPONSE__RESULT_TXN);
    assert_true(r->txn->succeeded);
    assert_int_equal(r->txn->n_results, 2);
    assert_int_equal(r->txn->results[1]->n_kvs, 1);
    assert_memory_equal(r->txn->results[1]->kvs[0]->value.data, "1", 1);
    assert_int_equal(r->revision, 2);

    add_txn(&b, 3, "a", "nope");
    r = tc_call(t, &b, 3);
    assert_int_equal(err_of(r), 0);
    assert_false(r->txn->succeeded);
    assert_int_equal(r->txn->n_results, 1);
    assert_int_equal(r->txn->results[0]->n_kvs, 1);
}

static void test_server_delete_range_returns_prev_kvs_and_count(void **state)
{
    struct fx *f = *state;
    struct srv *s = srv_start(f, 0);
    struct tc *t = tc_connect(f, s->addr);
    struct bytes b = {0};
    Coord__Api__Request req = COORD__API__REQUEST__INIT;
    Coord__Cmd__DeleteRange del = COORD__CMD__DELETE_RANGE__INIT;
    const Coord__Api__Response *r;

    add_put_str(&b, 1, "a", "1");
    add_put_str(&b, 2, "b", "2");
    add_put_str(&b, 3, "c", "3");
    tc_send(t, &b);
    RUN_UNTIL(f, t->n_resp == 3);
    del.has_key = del.has_range_end = del.has_prev_kv = 1;
    del.key.data = mut("a");
    del.key.len = 1;
    del.range_end.data = mut("c");
    del.range_end.len = 1;
    del.prev_kv = 1;
    req.op_case = COORD__API__REQUEST__OP_DELETE_RANGE;
    req.delete_range = &del;
    add_request(&b, &req, 4, NULL);
    r = tc_call(t, &b, 4);
    assert_int_equal(err_of(r), 0);
    assert_int_equal(r->kvs->deleted, 2);
    assert_int_equal(r->kvs->n_kvs, 2);
    assert_int_equal(r->revision, 4);
}

static void test_server_reads_take_the_path_asked(void **state)
{
    struct fx *f = *state;
    struct srv *s = srv_start(f, 0);
    struct tc *t = tc_connect(f, s->addr);
    struct bytes b = {0};
    const Coord__Api__Response *r;

    add_put_str(&b, 1, "p/1", "x");
    add_put_str(&b, 2, "p/2", "y");
    add_put_str(&b, 3, "p/3", "z");
    tc_send(t, &b);
    RUN_UNTIL(f, t->n_resp == 3);

    add_range(&b, 4, "p/", "p0", 0, NULL);
    r = tc_call(t, &b, 4);
    assert_int_equal(r->kvs->n_kvs, 3);
    assert_int_equal(fake_node_calls(s->node)->read_linearizable, 1);
    assert_int_equal(fake_node_calls(s->node)->read_serializable, 0);

    add_range(&b, 5, "p/", "p0", 2, &(struct ro){.serializable = true});
    r = tc_call(t, &b, 5);
    assert_int_equal(r->kvs->n_kvs, 2);
    assert_true(r->kvs->more);
    assert_int_equal(r->revision, 3);
    assert_int_equal(fake_node_calls(s->node)->read_linearizable, 1);
    assert_int_equal(fake_node_calls(s->node)->read_serializable, 1);

    /* Leaderless: a linearizable read fails, a serializable one is served. */
    fake_node_set_leaderless(s->node);
    add_range(&b, 6, "p/1", NULL, 0, NULL);
    assert_int_equal(err_of(tc_call(t, &b, 6)), (uint32_t)-RAFT_ELEADERLESS);
    add_range(&b, 7, "p/1", NULL, 0, &(struct ro){.serializable = true});
    r = tc_call(t, &b, 7);
    assert_int_equal(err_of(r), 0);
    assert_int_equal(r->kvs->n_kvs, 1);
}

static void test_server_status_reports_the_node(void **state)
{
    struct fx *f = *state;
    struct srv *s = srv_start(f, 0);
    struct tc *t = tc_connect(f, s->addr);
    struct bytes b = {0};
    const Coord__Api__Response *r;

    add_status(&b, 9);
    r = tc_call(t, &b, 9);
    assert_int_equal(err_of(r), 0);
    assert_int_equal(r->result_case, COORD__API__RESPONSE__RESULT_STATUS);
    assert_int_equal(r->status->id, 1);
    assert_string_equal(r->status->role, "leader");
    assert_int_equal(r->status->leader_id, 1);
    assert_int_equal(r->status->n_members, 2);
    assert_int_equal(r->status->members[0]->id, 1);
    assert_string_equal(r->status->members[0]->peer_addr, "127.0.0.1:90");
    assert_string_equal(r->status->members[0]->client_addr, "127.0.0.1:80");
    assert_true(r->status->members[1]->voter);
    assert_string_equal(r->status->members[1]->client_addr, "");

    fake_node_set_follower(s->node, 2, "127.0.0.1:1");
    add_status(&b, 10);
    r = tc_call(t, &b, 10);
    assert_string_equal(r->status->role, "follower");
    assert_int_equal(r->status->leader_id, 2);

    fake_node_set_learner(s->node, true);
    add_status(&b, 11);
    assert_string_equal(tc_call(t, &b, 11)->status->role, "learner");
    /* Never forwarded, even on a follower. */
    assert_int_equal(stats_of(s).forwarded, 0);
}

/* ---- refused requests ------------------------------------------------------------------- */

static void test_server_bad_requests_are_eproto_and_the_connection_stays(void **state)
{
    struct fx *f = *state;
    struct srv *s = srv_start(f, 0);
    struct tc *t = tc_connect(f, s->addr);
    struct bytes b = {0};
    Coord__Api__ClientFrame frame = COORD__API__CLIENT_FRAME__INIT;
    Coord__Api__Request req = COORD__API__REQUEST__INIT;
    const Coord__Api__Response *r;

    /* An unknown version. */
    req.has_id = 1;
    req.id = 7;
    frame.has_version = 1;
    frame.version = 2;
    frame.request = &req;
    add_frame(&b, &frame);
    r = tc_call(t, &b, 7);
    assert_int_equal(err_of(r), (uint32_t)-RAFT_EPROTO);
    assert_non_null(strstr(r->message, "version"));

    /* No version (taken as 1), no op. */
    frame.has_version = 0;
    req.id = 8;
    add_frame(&b, &frame);
    assert_int_equal(err_of(tc_call(t, &b, 8)), (uint32_t)-RAFT_EPROTO);

    /* A frame without a request. */
    frame.request = NULL;
    add_frame(&b, &frame);
    assert_int_equal(err_of(tc_call(t, &b, 0)), (uint32_t)-RAFT_EPROTO);

    /* A range without a key: refused before the node sees it. */
    add_range(&b, 9, "", NULL, 0, NULL);
    assert_int_equal(err_of(tc_call(t, &b, 9)), (uint32_t)-RAFT_EPROTO);
    assert_int_equal(fake_node_calls(s->node)->read_linearizable, 0);

    /* A put without a key: proposed, then applied as a malformed no-op. */
    add_put_str(&b, 10, "", "v");
    r = tc_call(t, &b, 10);
    assert_int_equal(err_of(r), (uint32_t)-RAFT_EPROTO);
    assert_non_null(strstr(r->message, "malformed"));

    /* The connection still serves. */
    add_put_str(&b, 11, "k", "v");
    assert_int_equal(err_of(tc_call(t, &b, 11)), 0);
    assert_false(t->eof);
    assert_int_equal(stats_of(s).protocol_errors, 4);
}

static void test_server_node_refusals_are_answered(void **state)
{
    struct fx *f = *state;
    struct srv *s = srv_start(f, 0);
    struct tc *t = tc_connect(f, s->addr);
    struct bytes b = {0};
    const Coord__Api__Response *r;

    fake_node_refuse_proposals(s->node, RAFT_ENOSPC);
    add_put_str(&b, 1, "k", "v");
    r = tc_call(t, &b, 1);
    assert_int_equal(err_of(r), (uint32_t)-RAFT_ENOSPC);
    assert_non_null(strstr(r->message, raft_err_str(RAFT_ENOSPC)));
    fake_node_refuse_proposals(s->node, 0);

    /* The timeout goes to the node as the client gave it; and times out. */
    fake_node_hold(s->node, true, true);
    add_put(&b, 2, "k", "v", 1, &(struct ro){.timeout_ms = 30});
    r = tc_call(t, &b, 2);
    assert_int_equal(err_of(r), (uint32_t)-RAFT_ETIMEDOUT);
    assert_int_equal(fake_node_calls(s->node)->last_timeout_ms, 30);
}

/* ---- bad bytes and bounds --------------------------------------------------------------- */

static void test_server_garbage_closes_only_that_connection(void **state)
{
    struct fx *f = *state;
    struct srv *s = srv_start(f, 0);
    struct tc *bad = tc_connect(f, s->addr);
    struct tc *good = tc_connect(f, s->addr);
    struct bytes b = {0};
    const uint8_t garbage[] = {0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0xff};

    tc_send_raw(bad, garbage, sizeof garbage);
    RUN_UNTIL(f, bad->eof);
    assert_int_equal(bad->n_resp, 1);
    assert_int_equal(bad->resp[0]->id, 0);
    assert_int_equal(err_of(bad->resp[0]), (uint32_t)-RAFT_EPROTO);
    assert_non_null(strstr(bad->resp[0]->message, "undecodable"));

    add_put_str(&b, 1, "k", "v");
    assert_int_equal(err_of(tc_call(good, &b, 1)), 0);
    RUN_UNTIL(f, stats_of(s).n_conns == 1);
    assert_int_equal(stats_of(s).protocol_errors, 1);
}

static void test_server_http_bytes_are_too_big_and_closed(void **state)
{
    struct fx *f = *state;
    struct srv *s = srv_start(f, 0);
    struct tc *t = tc_connect(f, s->addr);
    const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

    /* "GET " read as a length is about 1.2 GB: over max_request_bytes. */
    tc_send_raw(t, http, sizeof http - 1);
    RUN_UNTIL(f, t->eof);
    assert_int_equal(t->n_resp, 1);
    assert_int_equal(err_of(t->resp[0]), (uint32_t)-RAFT_ETOOBIG);
    assert_int_equal(t->resp[0]->id, 0);
}

static void test_server_oversized_frame_is_answered_then_closed(void **state)
{
    struct fx *f = *state;
    struct coord_config cfg;
    struct srv *s;
    struct tc *t;
    struct bytes b = {0};
    char *value = calloc(1, 2000);

    srv_config(f, 0, &cfg);
    cfg.max_request_bytes = 1024;
    s = srv_start_cfg(f, 0, &cfg);
    t = tc_connect(f, s->addr);
    add_put(&b, 1, "k", value, 900, NULL); /* fits */
    assert_int_equal(err_of(tc_call(t, &b, 1)), 0);
    add_put(&b, 2, "k", value, 2000, NULL);
    tc_send(t, &b);
    RUN_UNTIL(f, t->eof);
    assert_int_equal(t->n_resp, 2);
    assert_int_equal(t->resp[1]->id, 0);
    assert_int_equal(err_of(t->resp[1]), (uint32_t)-RAFT_ETOOBIG);
    assert_non_null(strstr(t->resp[1]->message, "max_request_bytes"));
    RUN_UNTIL(f, stats_of(s).n_conns == 0);
    free(value);
}

static void test_server_truncated_frame_then_close_is_cleaned_up(void **state)
{
    struct fx *f = *state;
    struct srv *s = srv_start(f, 0);
    struct tc *t = tc_connect(f, s->addr);
    struct tc *u;
    uint8_t part[14] = {0, 0, 0, 100, 0x10, 1};
    struct bytes b = {0};

    tc_send_raw(t, part, sizeof part);
    RUN_UNTIL(f, stats_of(s).n_conns == 1);
    spin(f, 10);
    tc_close(t);
    RUN_UNTIL(f, stats_of(s).n_conns == 0);
    u = tc_connect(f, s->addr);
    add_status(&b, 1);
    assert_int_equal(err_of(tc_call(u, &b, 1)), 0);
}

/* Put BIG_VALUE bytes under key "big". */
static void put_big(struct fx *f, struct tc *t)
{
    char *value = malloc(BIG_VALUE);
    struct bytes b = {0};

    memset(value, 'x', BIG_VALUE);
    add_put(&b, 1, "big", value, BIG_VALUE, NULL);
    assert_int_equal(err_of(tc_call(t, &b, 1)), 0);
    free(value);
    (void)f;
}

/* Make slow stop reading, then ask it for n serializable reads of the big
 * value (ids 100...): n * BIG_VALUE bytes of answers it will not take. */
static void flood_unread(struct fx *f, struct tc *slow, uint64_t n)
{
    struct bytes b = {0};
    uint64_t i;

    put_big(f, slow);
    tc_read(slow, false);
    for (i = 0; i < n; i++) {
        add_range(&b, 100 + i, "big", NULL, 0, &(struct ro){.serializable = true});
    }
    tc_send(slow, &b);
}

static void test_server_slow_reader_pauses_then_resumes(void **state)
{
    struct fx *f = *state;
    struct srv *s = srv_start(f, 0);
    struct tc *slow = tc_connect(f, s->addr);
    struct tc *other = tc_connect(f, s->addr);
    struct bytes b = {0};
    uint64_t i;

    flood_unread(f, slow, 30);
    RUN_UNTIL(f, stats_of(s).paused >= 1);
    assert_true(stats_of(s).out_bytes > COORD_SERVER_OUT_PAUSE);
    assert_true(stats_of(s).out_bytes_peak <= COORD_SERVER_OUT_MAX);

    /* Another client is served meanwhile. */
    add_status(&b, 1);
    assert_int_equal(err_of(tc_call(other, &b, 1)), 0);

    /* The slow one reads: every answer comes, and it is read again. */
    tc_read(slow, true);
    RUN_UNTIL(f, slow->n_resp == 31);
    for (i = 1; i < 31; i++) {
        assert_int_equal(err_of(slow->resp[i]), 0);
        assert_int_equal(slow->resp[i]->kvs->kvs[0]->value.len, BIG_VALUE);
    }
    add_status(&b, 2);
    assert_int_equal(err_of(tc_call(slow, &b, 2)), 0);
    RUN_UNTIL(f, stats_of(s).out_bytes == 0);
    assert_int_equal(stats_of(s).overflows, 0);
}

static void test_server_client_that_never_reads_is_closed_at_the_bound(void **state)
{
    struct fx *f = *state;
    struct srv *s = srv_start(f, 0);
    struct tc *slow = tc_connect(f, s->addr);
    struct tc *other = tc_connect(f, s->addr);
    struct bytes b = {0};

    flood_unread(f, slow, 100);
    RUN_UNTIL(f, stats_of(s).overflows == 1);
    assert_true(stats_of(s).out_bytes_peak <= COORD_SERVER_OUT_MAX + BIG_VALUE + 1024);
    assert_int_equal(log_count(f, "reason=unsent_answers_over_bound"), 1);
    RUN_UNTIL(f, stats_of(s).n_conns == 1 && stats_of(s).out_bytes == 0);

    add_status(&b, 1);
    assert_int_equal(err_of(tc_call(other, &b, 1)), 0);
}

static void test_server_client_that_stops_reading_is_closed_after_the_stall_time(void **state)
{
    struct fx *f = *state;
    struct coord_config cfg;
    struct srv *s;
    struct tc *slow;

    srv_config(f, 0, &cfg);
    cfg.request_timeout_ms = 100; /* stall time: the 1 s floor */
    s = srv_start_cfg(f, 0, &cfg);
    slow = tc_connect(f, s->addr);
    flood_unread(f, slow, 24);
    RUN_UNTIL(f, stats_of(s).overflows == 1);
    assert_int_equal(log_count(f, "reason=no_write_progress"), 1);
    assert_int_equal(stats_of(s).n_conns, 0);
}

static void test_server_max_clients_refuses_the_extra_ones(void **state)
{
    struct fx *f = *state;
    struct coord_config cfg;
    struct srv *s;
    struct tc *a;
    struct tc *c;
    struct bytes b = {0};

    srv_config(f, 0, &cfg);
    cfg.max_clients = 2;
    s = srv_start_cfg(f, 0, &cfg);
    a = tc_connect(f, s->addr);
    (void)tc_connect(f, s->addr);
    RUN_UNTIL(f, stats_of(s).n_conns == 2);
    c = tc_connect(f, s->addr);
    RUN_UNTIL(f, c->eof);
    c = tc_connect(f, s->addr);
    RUN_UNTIL(f, c->eof);
    assert_int_equal(stats_of(s).refused, 2);
    assert_int_equal(log_count(f, "client refused reason=max_clients"), 1); /* rate-limited */
    add_status(&b, 1);
    assert_int_equal(err_of(tc_call(a, &b, 1)), 0);
}

/* ---- forwarding ------------------------------------------------------------------------- */

/* srv 0 leads; srv 1 follows it. */
static void start_pair(struct fx *f)
{
    srv_start(f, 0);
    srv_start(f, 1);
    fake_node_set_follower(f->srv[1].node, 1, f->srv[0].addr);
}

static void test_server_follower_forwards_writes_to_the_leader(void **state)
{
    struct fx *f = *state;
    struct tc *t;
    struct tc *l;
    struct bytes b = {0};
    const Coord__Api__Response *r;
    char key[16];
    uint64_t i;

    start_pair(f);
    t = tc_connect(f, f->srv[1].addr);
    add_put_str(&b, 41, "fw", "x");
    r = tc_call(t, &b, 41);
    assert_int_equal(err_of(r), 0);
    assert_int_equal(r->revision, 1);
    assert_int_equal(fake_node_calls(f->srv[0].node)->proposed, 1);
    assert_int_equal(fake_node_calls(f->srv[1].node)->proposed, 0);
    assert_int_equal(stats_of(&f->srv[1]).forwarded, 1);
    assert_int_equal(stats_of(&f->srv[0]).forwarded, 0);
    assert_int_equal(fake_node_calls(f->srv[0].node)->last_timeout_ms, 2000);

    /* Pipelined through one upstream connection, answered by the client's ids. */
    for (i = 0; i < 50; i++) {
        (void)snprintf(key, sizeof key, "k%02u", (unsigned)i);
        add_put_str(&b, 500 - i, key, "v");
    }
    tc_send(t, &b);
    RUN_UNTIL(f, t->n_resp == 51);
    for (i = 0; i < 50; i++) {
        r = tc_answer(t, 500 - i);
        assert_non_null(r);
        assert_int_equal(err_of(r), 0);
    }
    assert_int_equal(stats_of(&f->srv[1]).upstream_connects, 1);

    /* The leader has it. */
    l = tc_connect(f, f->srv[0].addr);
    add_range(&b, 1, "fw", NULL, 0, NULL);
    r = tc_call(l, &b, 1);
    assert_int_equal(r->kvs->n_kvs, 1);
}

static void test_server_no_forward_answers_not_leader_with_its_address(void **state)
{
    struct fx *f = *state;
    struct tc *t;
    struct bytes b = {0};
    const Coord__Api__Response *r;

    start_pair(f);
    t = tc_connect(f, f->srv[1].addr);
    add_put(&b, 3, "k", "v", 1, &(struct ro){.no_forward = true});
    r = tc_call(t, &b, 3);
    assert_int_equal(err_of(r), (uint32_t)-RAFT_ENOTLEADER);
    assert_int_equal(r->leader_id, 1);
    assert_string_equal(r->leader_addr, f->srv[0].addr);
    assert_int_equal(stats_of(&f->srv[1]).forwarded, 0);
}

static void test_server_leaderless_follower_answers_eleaderless(void **state)
{
    struct fx *f = *state;
    struct srv *s = srv_start(f, 0);
    struct tc *t = tc_connect(f, s->addr);
    struct bytes b = {0};

    fake_node_set_leaderless(s->node);
    add_put_str(&b, 1, "k", "v");
    assert_int_equal(err_of(tc_call(t, &b, 1)), (uint32_t)-RAFT_ELEADERLESS);

    /* A leader without a known client address: ENOTLEADER naming it. */
    fake_node_set_follower(s->node, 3, "");
    add_put_str(&b, 2, "k", "v");
    assert_int_equal(err_of(tc_call(t, &b, 2)), (uint32_t)-RAFT_ENOTLEADER);
    assert_int_equal(t->resp[1]->leader_id, 3);
}

static void test_server_forwarded_copy_is_never_forwarded_again(void **state)
{
    struct fx *f = *state;
    struct tc *t;
    struct bytes b = {0};
    const Coord__Api__Response *r;

    /* A stale view on both sides: each takes the other for the leader. */
    start_pair(f);
    fake_node_set_follower(f->srv[0].node, 2, f->srv[1].addr);
    t = tc_connect(f, f->srv[1].addr);
    add_put_str(&b, 5, "k", "v");
    r = tc_call(t, &b, 5);
    assert_int_equal(err_of(r), (uint32_t)-RAFT_ENOTLEADER);
    assert_int_equal(r->leader_id, 2);
    assert_string_equal(r->leader_addr, f->srv[1].addr);
    assert_int_equal(stats_of(&f->srv[1]).forwarded, 1);
    assert_int_equal(stats_of(&f->srv[0]).forwarded, 0);
}

static void test_server_forwarded_copy_over_the_limit_is_refused_here(void **state)
{
    struct fx *f = *state;
    struct coord_config cfg;
    struct tc *t;
    struct bytes b = {0};
    char value[1024] = {0};
    size_t len;
    int i;

    for (i = 0; i < N_SRV; i++) {
        srv_config(f, i, &cfg);
        cfg.max_request_bytes = 1024;
        srv_start_cfg(f, i, &cfg);
    }
    fake_node_set_follower(f->srv[1].node, 1, f->srv[0].addr);
    t = tc_connect(f, f->srv[1].addr);
    /* A frame of exactly max_request_bytes: its forwarded copy is longer. */
    for (len = 900; len < sizeof value; len++) {
        add_put(&b, 1, "k", value, len, NULL);
        if (b.len - 4 >= 1024) {
            break;
        }
        free(b.base);
        memset(&b, 0, sizeof b);
    }
    assert_int_equal(b.len - 4, 1024);
    assert_int_equal(err_of(tc_call(t, &b, 1)), (uint32_t)-RAFT_ETOOBIG);
    add_put(&b, 2, "k", value, 100, NULL);
    assert_int_equal(err_of(tc_call(t, &b, 2)), 0);
    assert_int_equal(stats_of(&f->srv[1]).upstream_connects, 1);
    assert_int_equal(stats_of(&f->srv[0]).protocol_errors, 0);
}

/* An address nothing listens on. */
static void dead_addr(struct fx *f, char *out, size_t cap)
{
    uv_tcp_t tcp;
    struct sockaddr_in sin;
    struct sockaddr_storage ss;
    int len = (int)sizeof ss;

    assert_int_equal(uv_tcp_init(&f->loop, &tcp), 0);
    assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &sin), 0);
    assert_int_equal(uv_tcp_bind(&tcp, (struct sockaddr *)&sin, 0), 0);
    assert_int_equal(uv_tcp_getsockname(&tcp, (struct sockaddr *)&ss, &len), 0);
    (void)snprintf(out, cap, "127.0.0.1:%d", ntohs(((struct sockaddr_in *)&ss)->sin_port));
    uv_close((uv_handle_t *)&tcp, NULL);
    spin(f, 2);
}

static void test_server_unreachable_leader_fails_not_sent(void **state)
{
    struct fx *f = *state;
    struct srv *s = srv_start(f, 0);
    struct tc *t = tc_connect(f, s->addr);
    struct bytes b = {0};
    char addr[64];
    const Coord__Api__Response *r;

    dead_addr(f, addr, sizeof addr);
    fake_node_set_follower(s->node, 2, addr);
    add_put_str(&b, 1, "k", "v");
    r = tc_call(t, &b, 1);
    assert_int_equal(err_of(r), (uint32_t)-RAFT_ELEADERLESS);
    assert_non_null(strstr(r->message, "not sent"));
    /* Right after, answered at once without dialing again. */
    add_put_str(&b, 2, "k", "v");
    r = tc_call(t, &b, 2);
    assert_int_equal(err_of(r), (uint32_t)-RAFT_ELEADERLESS);
    assert_int_equal(stats_of(s).upstream_connects, 0);
}

static void test_server_forwarded_request_times_out_locally(void **state)
{
    struct fx *f = *state;
    struct tc *t;
    struct bytes b = {0};
    const Coord__Api__Response *r;

    start_pair(f);
    fake_node_hold(f->srv[0].node, true, false); /* the leader never answers */
    t = tc_connect(f, f->srv[1].addr);
    add_put(&b, 8, "k", "v", 1, &(struct ro){.timeout_ms = 50});
    r = tc_call(t, &b, 8);
    assert_int_equal(err_of(r), (uint32_t)-RAFT_ETIMEDOUT);
    assert_non_null(strstr(r->message, "outcome unknown"));
    assert_int_equal(fake_node_calls(f->srv[0].node)->last_timeout_ms, 50);

    /* The silent connection was retired: the next request dials afresh, and
     * the late answer to the first one finds nobody waiting. */
    fake_node_hold(f->srv[0].node, false, false);
    add_put_str(&b, 9, "k", "w");
    assert_int_equal(err_of(tc_call(t, &b, 9)), 0);
    assert_int_equal(stats_of(&f->srv[1]).upstream_connects, 2);
    assert_int_equal(t->n_resp, 2);
}

static void test_server_lost_forwarding_connection_fails_outcome_unknown(void **state)
{
    struct fx *f = *state;
    struct tc *t;
    struct bytes b = {0};
    const Coord__Api__Response *r;

    start_pair(f);
    fake_node_hold(f->srv[0].node, true, false);
    t = tc_connect(f, f->srv[1].addr);
    add_put_str(&b, 4, "k", "v");
    tc_send(t, &b);
    RUN_UNTIL(f, fake_node_waiting(f->srv[0].node) == 1);
    srv_close_server(&f->srv[0]); /* its connections go: the upstream sees EOF */
    RUN_UNTIL(f, t->n_resp == 1);
    r = t->resp[0];
    assert_int_equal(r->id, 4);
    assert_int_equal(err_of(r), (uint32_t)-RAFT_ENOCONN);
    assert_string_equal(r->message, "no connection: forwarding connection to leader 1 lost: "
                                    "outcome unknown");
    /* The leader's server waits for its node's callback before it is freed. */
    spin(f, 20);
    assert_false(f->srv[0].server_closed);
}

static void test_server_leader_change_dials_the_new_leader(void **state)
{
    struct fx *f = *state;
    struct tc *t;
    struct bytes b = {0};

    srv_start(f, 0);
    srv_start(f, 1);
    fake_node_set_follower(f->srv[0].node, 2, f->srv[1].addr); /* srv 1 leads */
    t = tc_connect(f, f->srv[0].addr);
    add_put_str(&b, 1, "k", "v");
    assert_int_equal(err_of(tc_call(t, &b, 1)), 0);
    assert_int_equal(fake_node_calls(f->srv[1].node)->proposed, 1);

    /* srv 0 leads now and srv 1 follows: srv 1's clients are forwarded back. */
    fake_node_set_leader(f->srv[0].node);
    fake_node_set_follower(f->srv[1].node, 1, f->srv[0].addr);
    add_put_str(&b, 2, "k", "w");
    assert_int_equal(err_of(tc_call(t, &b, 2)), 0);
    assert_int_equal(fake_node_calls(f->srv[0].node)->proposed, 1);
    t = tc_connect(f, f->srv[1].addr);
    add_put_str(&b, 3, "k", "y");
    assert_int_equal(err_of(tc_call(t, &b, 3)), 0);
    assert_int_equal(fake_node_calls(f->srv[0].node)->proposed, 2);
}

/* ---- membership and leadership ---------------------------------------------------------- */

static void add_member_change(struct bytes *b, uint64_t id, int op, uint64_t member)
{
    Coord__Api__Request r = COORD__API__REQUEST__INIT;
    Coord__Api__MemberChange mc = COORD__API__MEMBER_CHANGE__INIT;

    if (op != 0) {
        mc.has_op = 1;
        mc.op = (Coord__Api__MemberChange__Op)op;
    }
    mc.has_id = 1;
    mc.id = member;
    mc.peer_addr = mut_str("127.0.0.1:93");
    mc.client_addr = mut_str("127.0.0.1:83");
    r.op_case = COORD__API__REQUEST__OP_MEMBER_CHANGE;
    r.member_change = &mc;
    add_request(b, &r, id, NULL);
}

static void add_transfer(struct bytes *b, uint64_t id, uint64_t to)
{
    Coord__Api__Request r = COORD__API__REQUEST__INIT;
    Coord__Api__LeaderTransfer lt = COORD__API__LEADER_TRANSFER__INIT;

    lt.has_to = 1;
    lt.to = to;
    r.op_case = COORD__API__REQUEST__OP_LEADER_TRANSFER;
    r.leader_transfer = &lt;
    add_request(b, &r, id, NULL);
}

static void test_server_member_change_and_transfer_reach_the_leader(void **state)
{
    struct fx *f = *state;
    struct tc *t;
    struct bytes b = {0};
    const Coord__Api__Response *r;
    const struct fake_node_calls *calls;

    start_pair(f);
    calls = fake_node_calls(f->srv[0].node);
    t = tc_connect(f, f->srv[1].addr); /* through the follower */
    add_member_change(&b, 1, COORD__API__MEMBER_CHANGE__OP__ADD_LEARNER, 4);
    r = tc_call(t, &b, 1);
    assert_int_equal(err_of(r), 0);
    assert_true(r->applied_index > 0);
    assert_int_equal(calls->conf_change, 1);
    assert_int_equal(calls->last_conf_op, RAFT_CONF_ADD_LEARNER);
    assert_int_equal(calls->last_conf_id, 4);
    assert_string_equal(calls->last_peer_addr, "127.0.0.1:93");
    assert_string_equal(calls->last_client_addr, "127.0.0.1:83");

    add_transfer(&b, 2, 2);
    r = tc_call(t, &b, 2);
    assert_int_equal(err_of(r), 0);
    assert_int_equal(r->leader_id, 2);
    assert_int_equal(calls->last_transfer_to, 2);

    /* An op the protocol does not know: EPROTO, nothing asked. */
    add_member_change(&b, 3, 0, 4);
    assert_int_equal(err_of(tc_call(t, &b, 3)), (uint32_t)-RAFT_EPROTO);
    add_member_change(&b, 4, 9, 4);
    assert_int_equal(err_of(tc_call(t, &b, 4)), (uint32_t)-RAFT_EPROTO);
    assert_int_equal(calls->conf_change, 1);
}

/* ---- closing ---------------------------------------------------------------------------- */

static void test_server_close_waits_for_the_node_callbacks(void **state)
{
    struct fx *f = *state;
    struct srv *s = srv_start(f, 0);
    struct tc *t = tc_connect(f, s->addr);
    struct bytes b = {0};

    fake_node_hold(s->node, true, false);
    add_put_str(&b, 1, "k", "v");
    add_range(&b, 2, "k", NULL, 0, NULL);
    tc_send(t, &b);
    RUN_UNTIL(f, fake_node_waiting(s->node) == 2);
    srv_close_server(s);
    RUN_UNTIL(f, t->eof);
    spin(f, 20);
    assert_false(s->server_closed);
    fake_node_release(s->node); /* the callbacks come after the close: dropped */
    RUN_UNTIL(f, s->server_closed);
    assert_int_equal(t->n_resp, 0);
}

static void test_server_node_closing_first_answers_eshutdown(void **state)
{
    struct fx *f = *state;
    struct srv *s = srv_start(f, 0);
    struct tc *t = tc_connect(f, s->addr);
    struct bytes b = {0};

    fake_node_hold(s->node, true, false);
    add_put_str(&b, 1, "k", "v");
    tc_send(t, &b);
    RUN_UNTIL(f, fake_node_waiting(s->node) == 1);
    srv_close_node(s); /* fails the proposal from inside the call */
    RUN_UNTIL(f, t->n_resp == 1);
    assert_int_equal(err_of(t->resp[0]), (uint32_t)-RAFT_ESHUTDOWN);
    srv_close_server(s);
    RUN_UNTIL(f, s->server_closed && s->node_closed);
}

static void test_server_new_refuses_bad_addresses(void **state)
{
    struct fx *f = *state;
    struct coord_config cfg;
    struct coord_server *server = NULL;
    struct srv *s = srv_start(f, 0);
    char err[256];

    cfg = (struct coord_config){0};
    coord_config_default(&cfg);
    (void)snprintf(cfg.client_addr, sizeof cfg.client_addr, "no-port");
    assert_int_equal(coord_server_new(&f->loop, s->node, &cfg, &server, err, sizeof err),
                     RAFT_ECONFIG);
    assert_null(server);
    assert_non_null(strstr(err, "no-port"));
    (void)snprintf(cfg.client_addr, sizeof cfg.client_addr, "%s", s->addr);
    assert_int_equal(coord_server_new(&f->loop, s->node, &cfg, &server, err, sizeof err),
                     RAFT_EBUSY);
    assert_null(server);
    spin(f, 5); /* the failed servers' handles close */
}

/* ---- out of memory ---------------------------------------------------------------------- */

/* One run with allocation k failing from the servers' start on: a leader
 * and a follower, a client of the follower sending a forwarded put, a read
 * and a status. Every request must be answered or its connection closed,
 * and everything must be released. Returns whether allocation k was
 * reached. */
static bool oom_run(struct fx *f, long k)
{
    struct coord_config cfg[N_SRV];
    struct tc *t = NULL;
    struct bytes b = {0};
    char err[256];
    bool up = true;
    bool hit;
    int i;

    for (i = 0; i < N_SRV; i++) {
        memset(&f->srv[i], 0, sizeof f->srv[i]);
        srv_config(f, i, &cfg[i]);
        assert_int_equal(coord_node_new(&f->loop, &cfg[i], &f->srv[i].node, err, sizeof err), 0);
    }
    raft_alloc_fail_at(k);
    for (i = 0; i < N_SRV && up; i++) {
        up = coord_server_new(&f->loop, f->srv[i].node, &cfg[i], &f->srv[i].server, err,
                              sizeof err) == 0;
        if (up) {
            (void)snprintf(f->srv[i].addr, sizeof f->srv[i].addr, "127.0.0.1:%d",
                           coord_server_port(f->srv[i].server));
        }
    }
    if (up) {
        fake_node_set_follower(f->srv[1].node, 1, f->srv[0].addr);
        t = tc_connect(f, f->srv[1].addr);
        add_put_str(&b, 1, "k", "v");
        add_range(&b, 2, "k", NULL, 0, NULL);
        add_status(&b, 3);
        tc_send(t, &b);
        RUN_UNTIL(f, t->n_resp == 3 || t->eof || t->reader.err != 0);
    }
    hit = raft_alloc_count() >= k;
    raft_alloc_fail_at(0);
    for (i = 0; i < N_SRV; i++) {
        srv_close_server(&f->srv[i]);
        srv_close_node(&f->srv[i]);
    }
    RUN_UNTIL(f, f->srv[0].node == NULL && f->srv[1].node == NULL && f->srv[0].server == NULL &&
                     f->srv[1].server == NULL);
    for (i = 0; i < (int)f->n_tc; i++) {
        tc_close(f->tcs[i]);
    }
    spin(f, 5);
    for (i = 0; i < (int)f->n_tc; i++) {
        free(f->tcs[i]);
    }
    f->n_tc = 0;
    for (i = 0; i < N_SRV; i++) {
        fsutil_rm_rf(f->srv[i].dir);
        free(f->srv[i].dir);
        memset(&f->srv[i], 0, sizeof f->srv[i]);
    }
    assert_int_equal(raft_alloc_live(), f->live);
    return hit;
}

static void test_server_oom_sweep(void **state)
{
    struct fx *f = *state;
    long k;

    for (k = 1; k < 2000 && oom_run(f, k); k++) {
    }
    print_message("swept %ld allocation points\n", k);
    assert_true(k > 10 && k < 2000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_server_put_then_get_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_pipelined_requests_are_answered_by_id, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_server_answers_may_come_out_of_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_txn_answers_each_operation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_delete_range_returns_prev_kvs_and_count, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_server_reads_take_the_path_asked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_status_reports_the_node, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_server_bad_requests_are_eproto_and_the_connection_stays, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_node_refusals_are_answered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_garbage_closes_only_that_connection, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_server_http_bytes_are_too_big_and_closed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_server_oversized_frame_is_answered_then_closed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_server_truncated_frame_then_close_is_cleaned_up, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_server_slow_reader_pauses_then_resumes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_server_client_that_never_reads_is_closed_at_the_bound,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_server_client_that_stops_reading_is_closed_after_the_stall_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_max_clients_refuses_the_extra_ones, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_server_follower_forwards_writes_to_the_leader, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_server_no_forward_answers_not_leader_with_its_address,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_leaderless_follower_answers_eleaderless, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_server_forwarded_copy_is_never_forwarded_again, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_server_forwarded_copy_over_the_limit_is_refused_here,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_unreachable_leader_fails_not_sent, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_server_forwarded_request_times_out_locally, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_server_lost_forwarding_connection_fails_outcome_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_leader_change_dials_the_new_leader, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_server_member_change_and_transfer_reach_the_leader,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_close_waits_for_the_node_callbacks, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_server_node_closing_first_answers_eshutdown, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_server_new_refuses_bad_addresses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_oom_sweep, setup, teardown),
    };

    /* Sockets closed under a pending write raise SIGPIPE; coordd ignores it (main.c). */
    (void)signal(SIGPIPE, SIG_IGN);

    return cmocka_run_group_tests(tests, NULL, NULL);
}
