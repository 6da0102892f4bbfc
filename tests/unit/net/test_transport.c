/* SPDX-License-Identifier: MIT */
/* test_transport: coord/transport.c with two or three transports and raw
 * sockets in one libuv loop on 127.0.0.1, ports picked by the kernel. No
 * sleeps: each wait runs the loop until a condition holds, bounded by a
 * guard timer and an iteration count. Every test ends by closing all
 * transports and checking that nothing leaks and the loop closes cleanly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above. */
#include <cmocka.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "coord/codec_peer.h"
#include "coord/frame.h"
#include "coord/log.h"
#include "coord/transport.h"
#include "raft/base/alloc.h"
#include "raft/base/rand.h"
#include "tests/lib/uvwait.h"

#define GUARD_MS  5000   /* a wait fails after this long */
#define MAX_ITERS 200000 /* ... or after this many loop iterations */
#define N_NODES   3
#define MAX_RECV  8192
#define MAX_RAWS  8
#define MAX_IDS   16
#define LOG_LINES 512

struct fx;

/* What a node saw of one message. */
struct rec {
    uint8_t type;
    raft_id from;
    raft_index index;
    uint32_t n_entries;
};

struct node {
    struct fx *f;
    raft_id id;
    struct coord_transport *t; /* NULL when not started or closed */
    bool closing;
    char dir[96]; /* snapshot dir */
    int port;
    struct rec recv[MAX_RECV];
    size_t n_recv;
    size_t n_bad; /* messages whose entries did not match what was sent */
    bool up[MAX_IDS];
    int n_up[MAX_IDS];
    int n_down[MAX_IDS];
    int n_snap_recv;
    char snap_path[256];
    struct raft_snapshot_meta snap_meta;
    raft_id snap_from;
    int n_snap_sent;
    bool snap_ok;
    raft_id snap_to;
};

/* A plain TCP client (or an accepted socket of a raw server). */
struct raw {
    struct fx *f;
    uv_tcp_t tcp;
    uv_connect_t req;
    bool open; /* tcp initialised, to be closed */
    bool connected;
    bool eof; /* the other side closed or reset */
    size_t n_read;
};

struct fx {
    uv_loop_t loop;
    uv_timer_t guard;
    uv_timer_t tick; /* wakes the loop while a test resends */
    bool timed_out;
    long live;
    char root[64];
    struct node nodes[N_NODES];
    struct raw raws[MAX_RAWS];
    size_t n_raws;
    uv_tcp_t server; /* a raw listener, when server_open */
    bool server_open;
    int server_port;
    int n_server_accepted;
    char log[LOG_LINES][256];
    size_t n_log;
    uint32_t idle_ms; /* idle_timeout_ms of the nodes started from now on; 0: default */
};

#define RUN_UNTIL(f, cond)                                                                         \
    UVWAIT_UNTIL(&(f)->loop, &(f)->guard, on_guard, (f)->timed_out, GUARD_MS, MAX_ITERS, cond,     \
                 dump_log(f))

static void on_guard(uv_timer_t *h)
{
    struct fx *f = h->data;

    f->timed_out = true;
}

static void on_tick(uv_timer_t *h)
{
    (void)h;
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
        (void)snprintf(f->log[f->n_log++], sizeof f->log[0], "%s %s",
                       level == COORD_LOG_WARN    ? "WARN"
                       : level == COORD_LOG_ERROR ? "ERROR"
                                                  : "INFO",
                       line);
    }
    if (getenv("COORD_TEST_VERBOSE") != NULL) {
        (void)fprintf(stderr, "%d %s\n", level, line);
    }
}

/* Number of captured lines containing both a and b. */
static int log_count(const struct fx *f, const char *a, const char *b)
{
    int n = 0;
    size_t i;

    for (i = 0; i < f->n_log; i++) {
        if (strstr(f->log[i], a) != NULL && (b == NULL || strstr(f->log[i], b) != NULL)) {
            n++;
        }
    }
    return n;
}

/* ---- message contents ------------------------------------------------------------------- */

static uint8_t pattern(raft_id from, raft_index index, size_t k)
{
    return (uint8_t)(from * 131 + index * 31 + k);
}

static void check_entries(struct node *n, const struct raft_msg *m)
{
    uint32_t i;
    size_t k;

    for (i = 0; i < m->n_entries; i++) {
        const struct raft_entry *e = &m->entries[i];
        const uint8_t *p = e->data.base;

        if (e->index != m->index + 1 + i || e->term != m->term) {
            n->n_bad++;
            return;
        }
        for (k = 0; k < e->data.len; k++) {
            if (p[k] != pattern(m->from, e->index, k)) {
                n->n_bad++;
                return;
            }
        }
    }
}

/* An APPEND from `from` to `to` after index, with n_entries entries of len
 * bytes each, filled with pattern(). */
static int send_append(struct node *from, raft_id to, raft_index index, uint32_t n_entries,
                       size_t len)
{
    struct raft_entry *entries = calloc(n_entries + 1, sizeof *entries);
    uint8_t *data = malloc(n_entries * len + 1);
    struct raft_msg m;
    uint32_t i;
    size_t k;
    int rv;

    assert_non_null(entries);
    assert_non_null(data);
    for (i = 0; i < n_entries; i++) {
        uint8_t *p = data + i * len;

        for (k = 0; k < len; k++) {
            p[k] = pattern(from->id, index + 1 + i, k);
        }
        entries[i] = (struct raft_entry){7, index + 1 + i, RAFT_ENTRY_NORMAL, {p, len}};
    }
    memset(&m, 0, sizeof m);
    m.type = RAFT_MSG_APPEND;
    m.from = from->id;
    m.to = to;
    m.term = 7;
    m.index = index;
    m.log_term = 7;
    m.commit = index;
    m.entries = entries;
    m.n_entries = n_entries;
    rv = coord_transport_send(from->t, &m);
    free(entries); /* the transport copied it: the view dies here */
    free(data);
    return rv;
}

static int send_heartbeat(struct node *from, raft_id to, uint64_t ctx)
{
    struct raft_msg m;

    memset(&m, 0, sizeof m);
    m.type = RAFT_MSG_HEARTBEAT;
    m.from = from->id;
    m.to = to;
    m.term = 7;
    m.commit = 3;
    m.ctx = ctx;
    return coord_transport_send(from->t, &m);
}

static size_t count_from(const struct node *n, raft_id from)
{
    size_t c = 0;
    size_t i;

    for (i = 0; i < n->n_recv; i++) {
        c += n->recv[i].from == from ? 1 : 0;
    }
    return c;
}

static void exchange_still_works(struct fx *f, uint64_t ctx);

/* ---- transport callbacks ---------------------------------------------------------------- */

static void on_recv(void *arg, const struct raft_msg *m)
{
    struct node *n = arg;

    assert_int_equal(m->to, n->id);
    assert_true(n->n_recv < MAX_RECV);
    n->recv[n->n_recv++] = (struct rec){m->type, m->from, m->index, m->n_entries};
    check_entries(n, m);
}

static void on_snapshot_received(void *arg, const struct raft_msg *m)
{
    struct node *n = arg;
    const char *path = m->snapshot_data.base;

    assert_int_equal(m->type, RAFT_MSG_SNAPSHOT);
    assert_int_equal(m->snapshot_data.len, strlen(path) + 1);
    (void)snprintf(n->snap_path, sizeof n->snap_path, "%s", path);
    n->snap_meta = *m->snapshot;
    n->snap_from = m->from;
    n->n_snap_recv++;
}

static void on_snapshot_sent(void *arg, raft_id to, bool ok)
{
    struct node *n = arg;

    n->n_snap_sent++;
    n->snap_ok = ok;
    n->snap_to = to;
}

static void on_peer_state(void *arg, raft_id id, bool connected)
{
    struct node *n = arg;

    assert_true(id < MAX_IDS);
    assert_true(n->up[id] != connected); /* reports are transitions */
    n->up[id] = connected;
    if (connected) {
        n->n_up[id]++;
    } else {
        n->n_down[id]++;
    }
}

static void on_closed(void *arg)
{
    struct node *n = arg;

    n->t = NULL;
    n->closing = false;
}

/* ---- nodes ------------------------------------------------------------------------------ */

static void node_opts(struct fx *f, size_t i, raft_id id, struct coord_transport_opts *o)
{
    struct node *n = &f->nodes[i];

    n->f = f;
    n->id = id;
    coord_transport_opts_default(o);
    o->id = id;
    o->cluster_id = 1;
    o->listen_address = "127.0.0.1:0";
    o->snapshot_dir = n->dir;
    o->seed = id;
    if (f->idle_ms != 0) {
        o->idle_timeout_ms = f->idle_ms;
    }
}

static void node_start(struct fx *f, size_t i, const struct coord_transport_opts *o)
{
    struct node *n = &f->nodes[i];
    struct coord_transport_cbs cbs = {n, on_recv, on_snapshot_received, on_snapshot_sent,
                                      on_peer_state};

    assert_null(n->t);
    assert_int_equal(coord_transport_new(&f->loop, o, &cbs, &n->t), 0);
    n->port = coord_transport_port(n->t);
    assert_true(n->port > 0);
}

static void node_close(struct node *n)
{
    assert_non_null(n->t);
    n->closing = true;
    coord_transport_close(n->t, on_closed, n);
}

static void conf_add(struct raft_conf *c, raft_id id, int port)
{
    char address[RAFT_ADDR_MAX];

    (void)snprintf(address, sizeof address, "127.0.0.1:%d", port);
    assert_int_equal(raft_conf_add(c, id, RAFT_VOTER, address), 0);
}

/* Give nodes [0, n) a book of all of them, and wait until all pairs are up. */
static void connect_all(struct fx *f, size_t n)
{
    struct raft_conf conf;
    size_t i;
    size_t j;

    memset(&conf, 0, sizeof conf);
    for (i = 0; i < n; i++) {
        conf_add(&conf, f->nodes[i].id, f->nodes[i].port);
    }
    for (i = 0; i < n; i++) {
        assert_int_equal(coord_transport_set_peers(f->nodes[i].t, &conf), 0);
    }
    for (i = 0; i < n; i++) {
        for (j = 0; j < n; j++) {
            if (i != j) {
                RUN_UNTIL(f, f->nodes[i].up[f->nodes[j].id]);
            }
        }
    }
}

static void start_pair(struct fx *f)
{
    struct coord_transport_opts o;

    node_opts(f, 0, 1, &o);
    node_start(f, 0, &o);
    node_opts(f, 1, 2, &o);
    node_start(f, 1, &o);
    connect_all(f, 2);
}

static struct coord_transport_peer_stats peer_stats(const struct node *n, raft_id id)
{
    struct coord_transport_stats st;
    struct coord_transport_peer_stats ps[MAX_IDS];
    size_t i;

    coord_transport_stats(n->t, &st, ps, MAX_IDS);
    for (i = 0; i < st.n_peers; i++) {
        if (ps[i].id == id) {
            return ps[i];
        }
    }
    fail_msg("no peer %llu", (unsigned long long)id);
    return ps[0];
}

static struct coord_transport_stats node_stats(const struct node *n)
{
    struct coord_transport_stats st;

    coord_transport_stats(n->t, &st, NULL, 0);
    return st;
}

/* ---- raw sockets ------------------------------------------------------------------------ */

static void raw_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char sink[65536];

    (void)h;
    (void)suggested;
    buf->base = sink;
    buf->len = sizeof sink;
}

static void raw_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct raw *r = s->data;

    (void)buf;
    if (n < 0) {
        r->eof = true;
        uv_read_stop(s);
    } else {
        r->n_read += (size_t)n;
    }
}

static void raw_on_connect(uv_connect_t *req, int status)
{
    struct raw *r = req->data;

    assert_int_equal(status, 0);
    r->connected = true;
    assert_int_equal(uv_read_start((uv_stream_t *)&r->tcp, raw_alloc, raw_on_read), 0);
}

static struct raw *raw_new(struct fx *f)
{
    struct raw *r;

    assert_true(f->n_raws < MAX_RAWS);
    r = &f->raws[f->n_raws++];
    memset(r, 0, sizeof *r);
    r->f = f;
    assert_int_equal(uv_tcp_init(&f->loop, &r->tcp), 0);
    r->tcp.data = r;
    r->open = true;
    return r;
}

static struct raw *raw_connect(struct fx *f, int port)
{
    struct raw *r = raw_new(f);
    struct sockaddr_in sa;

    assert_int_equal(uv_ip4_addr("127.0.0.1", port, &sa), 0);
    r->req.data = r;
    assert_int_equal(uv_tcp_connect(&r->req, &r->tcp, (struct sockaddr *)&sa, raw_on_connect), 0);
    RUN_UNTIL(f, r->connected);
    return r;
}

static void raw_on_write(uv_write_t *req, int status)
{
    (void)status; /* the other side may have closed already */
    free(req->data);
    free(req);
}

static void raw_send(struct raw *r, const void *p, size_t len)
{
    uv_write_t *req = malloc(sizeof *req);
    void *copy = malloc(len);
    uv_buf_t buf = uv_buf_init(copy, (unsigned)len);

    assert_non_null(req);
    assert_non_null(copy);
    memcpy(copy, p, len);
    req->data = copy;
    assert_int_equal(uv_write(req, (uv_stream_t *)&r->tcp, &buf, 1, raw_on_write), 0);
}

static void raw_send_hello(struct raw *r, uint32_t version, uint64_t cluster, raft_id id,
                           raft_id to)
{
    struct coord_peer_hello h = {version, cluster, id, to};
    struct raft_buf frame;

    assert_int_equal(coord_codec_peer_encode_hello(&h, &frame), 0);
    raw_send(r, frame.base, frame.len);
    raft_free(frame.base);
}

static void raw_on_connection(uv_stream_t *server, int status)
{
    struct fx *f = server->data;
    struct raw *r = raw_new(f);

    assert_int_equal(status, 0);
    assert_int_equal(uv_accept(server, (uv_stream_t *)&r->tcp), 0);
    r->connected = true;
    f->n_server_accepted++;
    assert_int_equal(uv_read_start((uv_stream_t *)&r->tcp, raw_alloc, raw_on_read), 0);
}

/* A raw listener that accepts and reads, and never says anything. */
static void raw_server_start(struct fx *f)
{
    struct sockaddr_in sa;
    struct sockaddr_storage bound;
    int len = (int)sizeof bound;

    assert_int_equal(uv_tcp_init(&f->loop, &f->server), 0);
    f->server.data = f;
    f->server_open = true;
    assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &sa), 0);
    assert_int_equal(uv_tcp_bind(&f->server, (struct sockaddr *)&sa, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&f->server, 16, raw_on_connection), 0);
    assert_int_equal(uv_tcp_getsockname(&f->server, (struct sockaddr *)&bound, &len), 0);
    f->server_port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
}

/* ---- files ------------------------------------------------------------------------------ */

static size_t dir_count(const char *dir)
{
    DIR *d = opendir(dir);
    const struct dirent *e;
    size_t n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        n += e->d_name[0] != '.' ? 1 : 0;
    }
    closedir(d);
    return n;
}

/* Delete the files in dir, then dir itself. */
static void rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    const struct dirent *e;
    char path[256];

    if (d == NULL) {
        return;
    }
    while ((e = readdir(d)) != NULL) {
        int n = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);

        if (e->d_name[0] != '.' && n > 0 && (size_t)n < sizeof path) {
            (void)unlink(path);
        }
    }
    closedir(d);
    (void)rmdir(dir);
}

/* Write len PRNG bytes (seeded) to path. */
static void write_file(const char *path, size_t len, uint64_t seed)
{
    FILE *fp = fopen(path, "wb");
    struct raft_rand r;
    uint8_t buf[4096];
    size_t done = 0;

    assert_non_null(fp);
    raft_rand_seed(&r, seed);
    while (done < len) {
        size_t n = len - done < sizeof buf ? len - done : sizeof buf;
        size_t i;

        for (i = 0; i < n; i++) {
            buf[i] = (uint8_t)raft_rand_next(&r);
        }
        assert_int_equal(fwrite(buf, 1, n, fp), n);
        done += n;
    }
    assert_int_equal(fclose(fp), 0);
}

static bool files_equal(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb");
    FILE *fb = fopen(b, "rb");
    bool same = fa != NULL && fb != NULL;

    while (same) {
        int ca = fgetc(fa);
        int cb = fgetc(fb);

        same = ca == cb;
        if (ca == EOF || cb == EOF) {
            break;
        }
    }
    if (fa != NULL) {
        (void)fclose(fa);
    }
    if (fb != NULL) {
        (void)fclose(fb);
    }
    return same;
}

static void snapshot_msg(struct raft_msg *m, struct raft_snapshot_meta *meta, raft_id from,
                         raft_id to, raft_index index)
{
    memset(meta, 0, sizeof *meta);
    meta->index = index;
    meta->term = 4;
    assert_int_equal(raft_conf_add(&meta->conf, from, RAFT_VOTER, "127.0.0.1:1"), 0);
    assert_int_equal(raft_conf_add(&meta->conf, to, RAFT_LEARNER, "127.0.0.1:2"), 0);
    memset(m, 0, sizeof *m);
    m->type = RAFT_MSG_SNAPSHOT;
    m->from = from;
    m->to = to;
    m->term = 4;
    m->snapshot = meta;
}

/* ---- fixture ---------------------------------------------------------------------------- */

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    size_t i;

    assert_non_null(f);
    f->live = raft_alloc_live();
    (void)snprintf(f->root, sizeof f->root, "/tmp/coord-net-XXXXXX");
    assert_non_null(mkdtemp(f->root));
    for (i = 0; i < N_NODES; i++) {
        (void)snprintf(f->nodes[i].dir, sizeof f->nodes[i].dir, "%s/n%zu", f->root, i);
        assert_int_equal(mkdir(f->nodes[i].dir, 0700), 0);
    }
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(uv_timer_init(&f->loop, &f->guard), 0);
    assert_int_equal(uv_timer_init(&f->loop, &f->tick), 0);
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

    raft_alloc_fail_at(0);
    for (i = 0; i < N_NODES; i++) {
        if (f->nodes[i].t != NULL && !f->nodes[i].closing) {
            node_close(&f->nodes[i]);
        }
    }
    for (i = 0; i < f->n_raws; i++) {
        if (f->raws[i].open) {
            uv_close((uv_handle_t *)&f->raws[i].tcp, NULL);
        }
    }
    if (f->server_open) {
        uv_close((uv_handle_t *)&f->server, NULL);
    }
    RUN_UNTIL(f, f->nodes[0].t == NULL && f->nodes[1].t == NULL && f->nodes[2].t == NULL);
    uv_close((uv_handle_t *)&f->guard, NULL);
    uv_close((uv_handle_t *)&f->tick, NULL);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    assert_int_equal(raft_alloc_live(), f->live);
    for (i = 0; i < N_NODES; i++) {
        /* Whatever a test left in a snapshot dir, no partial stream. */
        DIR *d = opendir(f->nodes[i].dir);
        const struct dirent *e;

        assert_non_null(d);
        while ((e = readdir(d)) != NULL) {
            assert_null(strstr(e->d_name, ".tmp"));
        }
        closedir(d);
    }
    coord_log_set_sink(NULL, NULL);
    coord_log_set_level(COORD_LOG_INFO);
    for (i = 0; i < N_NODES; i++) {
        rm_dir(f->nodes[i].dir);
    }
    rm_dir(f->root);
    free(f);
    return 0;
}

/* ---- messages --------------------------------------------------------------------------- */

static void test_transport_messages_arrive_intact_both_ways_in_order(void **state)
{
    struct fx *f = *state;
    struct node *a = &f->nodes[0];
    struct node *b = &f->nodes[1];
    raft_index i;
    size_t k;

    start_pair(f);
    for (i = 0; i < 300; i++) {
        /* Several iterations' worth, some with large entries. */
        assert_int_equal(send_append(a, 2, i * 10, 1 + (uint32_t)(i % 5), i % 7 == 0 ? 70000 : 33),
                         0);
        assert_int_equal(send_append(b, 1, i * 10, (uint32_t)(i % 3), 100), 0);
        if (i % 50 == 0) {
            uv_run(&f->loop, UV_RUN_NOWAIT);
        }
    }
    RUN_UNTIL(f, a->n_recv == 300 && b->n_recv == 300);
    for (k = 0; k < 300; k++) {
        assert_int_equal(b->recv[k].type, RAFT_MSG_APPEND);
        assert_int_equal(b->recv[k].from, 1);
        assert_int_equal(b->recv[k].index, k * 10);
        assert_int_equal(b->recv[k].n_entries, 1 + k % 5);
        assert_int_equal(a->recv[k].from, 2);
        assert_int_equal(a->recv[k].index, k * 10);
    }
    assert_int_equal(a->n_bad, 0);
    assert_int_equal(b->n_bad, 0);
    assert_int_equal(peer_stats(a, 2).msgs_sent, 300);
    assert_int_equal(peer_stats(b, 1).msgs_received, 300);
    assert_int_equal(peer_stats(a, 2).msgs_dropped, 0);
}

static void test_transport_sends_of_one_iteration_share_a_frame(void **state)
{
    struct fx *f = *state;
    struct node *a = &f->nodes[0];
    struct coord_transport_peer_stats before;
    struct coord_transport_peer_stats after;
    uint64_t i;

    start_pair(f);
    before = peer_stats(a, 2);
    for (i = 0; i < 2000; i++) {
        assert_int_equal(send_heartbeat(a, 2, i), 0);
    }
    RUN_UNTIL(f, f->nodes[1].n_recv == 2000);
    after = peer_stats(a, 2);
    assert_int_equal(after.msgs_sent - before.msgs_sent, 2000);
    assert_true(after.frames_sent - before.frames_sent <= 2); /* one, or two if split */
    print_message("2000 heartbeats in %llu frame(s), %llu bytes\n",
                  (unsigned long long)(after.frames_sent - before.frames_sent),
                  (unsigned long long)(after.bytes_sent - before.bytes_sent));
}

static void test_transport_send_errors_are_values(void **state)
{
    struct fx *f = *state;
    struct node *a = &f->nodes[0];
    struct coord_transport_opts o;
    struct raft_conf conf;
    struct raft_msg m;
    struct raft_snapshot_meta meta;

    node_opts(f, 0, 1, &o);
    node_start(f, 0, &o);
    memset(&conf, 0, sizeof conf);
    conf_add(&conf, 1, a->port);
    conf_add(&conf, 3, 1); /* nobody listens on port 1 */
    assert_int_equal(coord_transport_set_peers(a->t, &conf), 0);
    assert_int_equal(send_heartbeat(a, 9, 0), RAFT_ENOTFOUND);
    assert_int_equal(send_heartbeat(a, 3, 0), RAFT_ENOCONN);
    assert_int_equal(peer_stats(a, 3).msgs_dropped, 1);
    snapshot_msg(&m, &meta, 1, 3, 10);
    assert_int_equal(coord_transport_send(a->t, &m), RAFT_EINVAL);
    assert_int_equal(coord_transport_send_snapshot(a->t, &m, "/nonexistent"), RAFT_ENOCONN);
    m.snapshot = NULL;
    assert_int_equal(coord_transport_send_snapshot(a->t, &m, "/nonexistent"), RAFT_EINVAL);
    conf.servers[0].id = 0;
    assert_int_equal(coord_transport_set_peers(a->t, &conf), RAFT_EINVAL);
    /* Dialing a closed port goes on quietly with backoff. */
    RUN_UNTIL(f, log_count(f, "peer dial failed", "id=3") >= 2);
}

/* ---- connections ------------------------------------------------------------------------ */

static void test_transport_reconnects_when_the_acceptor_comes_back(void **state)
{
    struct fx *f = *state;
    struct node *a = &f->nodes[0];
    struct node *b = &f->nodes[1];
    struct coord_transport_opts o;
    struct raft_conf conf;
    char address[32];
    int port;

    start_pair(f);
    port = b->port;
    node_close(b);
    RUN_UNTIL(f, b->t == NULL && !a->up[2]);
    assert_int_equal(a->n_down[2], 1);
    /* A new node 2 on the same port. */
    node_opts(f, 1, 2, &o);
    (void)snprintf(address, sizeof address, "127.0.0.1:%d", port);
    o.listen_address = address;
    memset(b->up, 0, sizeof b->up);
    node_start(f, 1, &o);
    assert_int_equal(b->port, port);
    memset(&conf, 0, sizeof conf);
    conf_add(&conf, 1, a->port);
    conf_add(&conf, 2, port);
    assert_int_equal(coord_transport_set_peers(b->t, &conf), 0);
    RUN_UNTIL(f, a->up[2] && b->up[1]);
    assert_int_equal(a->n_up[2], 2);
    assert_int_equal(peer_stats(a, 2).reconnects, 1);
    assert_int_equal(send_heartbeat(a, 2, 1), 0);
    assert_int_equal(send_heartbeat(b, 1, 1), 0);
    RUN_UNTIL(f, count_from(b, 1) >= 1 && count_from(a, 2) >= 1);
}

static void test_transport_dials_host_names(void **state)
{
    struct fx *f = *state;
    struct coord_transport_opts o;
    struct raft_conf conf;
    char address[RAFT_ADDR_MAX];

    node_opts(f, 0, 1, &o);
    node_start(f, 0, &o);
    node_opts(f, 1, 2, &o);
    o.listen_address = "localhost:0"; /* resolved once, at start */
    node_start(f, 1, &o);
    memset(&conf, 0, sizeof conf);
    conf_add(&conf, 1, f->nodes[0].port);
    (void)snprintf(address, sizeof address, "localhost:%d", f->nodes[1].port);
    assert_int_equal(raft_conf_add(&conf, 2, RAFT_VOTER, address), 0);
    assert_int_equal(coord_transport_set_peers(f->nodes[0].t, &conf), 0);
    assert_int_equal(coord_transport_set_peers(f->nodes[1].t, &conf), 0);
    RUN_UNTIL(f, f->nodes[0].up[2] && f->nodes[1].up[1]);
    exchange_still_works(f, 0);
}

static void test_transport_refuses_another_cluster(void **state)
{
    struct fx *f = *state;
    struct coord_transport_opts o;
    struct raft_conf conf;

    node_opts(f, 0, 1, &o);
    o.backoff_min_ms = 1;
    o.backoff_max_ms = 5;
    node_start(f, 0, &o);
    node_opts(f, 1, 2, &o);
    o.cluster_id = 2;
    node_start(f, 1, &o);
    memset(&conf, 0, sizeof conf);
    conf_add(&conf, 1, f->nodes[0].port);
    conf_add(&conf, 2, f->nodes[1].port);
    assert_int_equal(coord_transport_set_peers(f->nodes[0].t, &conf), 0);
    assert_int_equal(coord_transport_set_peers(f->nodes[1].t, &conf), 0);
    RUN_UNTIL(f, node_stats(&f->nodes[1]).refused >= 3);
    assert_true(log_count(f, "WARN", "reason=cluster_id theirs=1 ours=2") >= 3);
    assert_false(f->nodes[0].up[2]);
    assert_false(f->nodes[1].up[1]);
}

static void test_transport_refuses_unknown_ids_and_bad_hellos(void **state)
{
    struct fx *f = *state;
    struct node *b = &f->nodes[1];
    struct coord_transport_opts o;
    struct raft_conf conf;
    struct raw *r;

    /* Node 1 knows node 5; node 5 knows nobody. */
    node_opts(f, 0, 1, &o);
    node_start(f, 0, &o);
    node_opts(f, 1, 5, &o);
    node_start(f, 1, &o);
    memset(&conf, 0, sizeof conf);
    conf_add(&conf, 1, f->nodes[0].port);
    conf_add(&conf, 5, b->port);
    assert_int_equal(coord_transport_set_peers(f->nodes[0].t, &conf), 0);
    RUN_UNTIL(f, log_count(f, "WARN", "reason=unknown_id") >= 1);
    assert_int_equal(log_count(f, "WARN", "id=1"), log_count(f, "WARN", NULL));

    /* Now node 5 knows 1, 3 and 7; raw peers break one rule each. */
    memset(&conf, 0, sizeof conf);
    conf_add(&conf, 1, f->nodes[0].port);
    conf_add(&conf, 3, 1);
    conf_add(&conf, 5, b->port);
    conf_add(&conf, 7, 1);
    assert_int_equal(coord_transport_set_peers(b->t, &conf), 0);
    RUN_UNTIL(f, f->nodes[0].up[5]);
    r = raw_connect(f, b->port);
    raw_send_hello(r, 2, 1, 3, 5); /* version 2 */
    RUN_UNTIL(f, r->eof);
    r = raw_connect(f, b->port);
    raw_send_hello(r, 1, 1, 3, 4); /* meant for node 4 */
    RUN_UNTIL(f, r->eof);
    r = raw_connect(f, b->port);
    raw_send_hello(r, 1, 1, 7, 5); /* 7 > 5 must be dialed, not dial */
    RUN_UNTIL(f, r->eof);
    assert_int_equal(log_count(f, "WARN", "reason=version theirs=2"), 1);
    assert_int_equal(log_count(f, "WARN", "reason=addressed_to id=4"), 1);
    assert_int_equal(log_count(f, "WARN", "reason=wrong_direction"), 1);
    /* The real peer was never disturbed. */
    assert_int_equal(f->nodes[0].n_down[5], 0);
    assert_false(b->up[3]);
}

/* Node 1 and node 5 connected; node 5 also knows 3 (a raw socket plays it). */
static void start_pair_with_raw_peer(struct fx *f, size_t max_frame, size_t max_queue)
{
    struct coord_transport_opts o;
    struct raft_conf conf;

    node_opts(f, 0, 1, &o);
    node_start(f, 0, &o);
    node_opts(f, 1, 5, &o);
    o.max_frame = max_frame;
    o.max_queue = max_queue;
    o.snapshot_chunk = 64u << 10;
    node_start(f, 1, &o);
    memset(&conf, 0, sizeof conf);
    conf_add(&conf, 1, f->nodes[0].port);
    conf_add(&conf, 5, f->nodes[1].port);
    assert_int_equal(coord_transport_set_peers(f->nodes[0].t, &conf), 0);
    conf_add(&conf, 3, 1);
    assert_int_equal(coord_transport_set_peers(f->nodes[1].t, &conf), 0);
    RUN_UNTIL(f, f->nodes[0].up[5] && f->nodes[1].up[1]);
}

/* A raw socket that completed the handshake as node 3 with node 5. */
static struct raw *raw_peer(struct fx *f)
{
    struct raw *r = raw_connect(f, f->nodes[1].port);

    raw_send_hello(r, 1, 1, 3, 5);
    RUN_UNTIL(f, f->nodes[1].up[3] && r->n_read > 0);
    return r;
}

/* Nodes 0 and 1 still exchange messages both ways. */
static void exchange_still_works(struct fx *f, uint64_t ctx)
{
    struct node *x = &f->nodes[0];
    struct node *y = &f->nodes[1];
    size_t a = count_from(x, y->id);
    size_t b = count_from(y, x->id);

    assert_int_equal(send_heartbeat(x, y->id, ctx), 0);
    assert_int_equal(send_heartbeat(y, x->id, ctx), 0);
    RUN_UNTIL(f, count_from(x, y->id) > a && count_from(y, x->id) > b);
}

/* A node waiting to be added (accept_unknown) takes the leader's dial
 * although it knows nobody, answers over that connection, and keeps the
 * peer once its configuration names it. */
static void test_transport_accept_unknown_adopts_the_dialer(void **state)
{
    struct fx *f = *state;
    struct node *a = &f->nodes[0];
    struct node *b = &f->nodes[1];
    struct coord_transport_opts o;
    struct raft_conf conf;

    node_opts(f, 0, 1, &o);
    node_start(f, 0, &o);
    node_opts(f, 1, 6, &o);
    o.accept_unknown = true;
    node_start(f, 1, &o);
    memset(&conf, 0, sizeof conf);
    conf_add(&conf, 1, a->port);
    conf_add(&conf, 6, b->port);
    assert_int_equal(coord_transport_set_peers(a->t, &conf), 0);
    RUN_UNTIL(f, b->up[1] && a->up[6]);
    assert_int_equal(node_stats(b).n_peers, 1);
    assert_int_equal(send_heartbeat(a, 6, 7), 0);
    assert_int_equal(send_heartbeat(b, 1, 8), 0);
    RUN_UNTIL(f, count_from(b, 1) == 1 && count_from(a, 6) == 1);
    /* Learning the configuration keeps the connection. */
    assert_int_equal(coord_transport_set_peers(b->t, &conf), 0);
    assert_int_equal(send_heartbeat(b, 1, 9), 0);
    RUN_UNTIL(f, count_from(a, 6) == 2);
    assert_int_equal(peer_stats(b, 1).connects, 1);
}

static void test_transport_bad_bytes_close_only_their_connection(void **state)
{
    struct fx *f = *state;
    static const uint8_t garbage[] = "\0\0\0\x10this is not a PeerFrame at all";
    uint8_t big_hello[4];
    uint8_t big_frame[4];
    struct raw *r;

    start_pair_with_raw_peer(f, 1u << 20, 64u << 20);
    /* Before the handshake: garbage, then a header far over the Hello limit. */
    r = raw_connect(f, f->nodes[1].port);
    raw_send(r, garbage, sizeof garbage);
    RUN_UNTIL(f, r->eof);
    r = raw_connect(f, f->nodes[1].port);
    coord_frame_header_encode(big_hello, 1000);
    raw_send(r, big_hello, sizeof big_hello);
    RUN_UNTIL(f, r->eof);
    exchange_still_works(f, 1);

    /* After it: a header over max_frame closes at once, without its body. */
    r = raw_peer(f);
    coord_frame_header_encode(big_frame, (1u << 20) + 1);
    raw_send(r, big_frame, sizeof big_frame);
    RUN_UNTIL(f, r->eof && !f->nodes[1].up[3]);
    r = raw_peer(f);
    raw_send(r, garbage, sizeof garbage);
    RUN_UNTIL(f, r->eof && !f->nodes[1].up[3]);
    r = raw_peer(f);
    raw_send_hello(r, 1, 1, 3, 5); /* a second Hello */
    RUN_UNTIL(f, r->eof && !f->nodes[1].up[3]);
    exchange_still_works(f, 2);

    assert_int_equal(node_stats(&f->nodes[1]).protocol_errors, 3);
    assert_true(node_stats(&f->nodes[1]).refused >= 2);
    assert_int_equal(log_count(f, "WARN", "reason=frame_too_large"), 2);
    assert_int_equal(log_count(f, "WARN", "reason=malformed_frame"), 2);
    assert_int_equal(log_count(f, "WARN", "reason=hello_after_handshake"), 1);
    assert_int_equal(f->nodes[0].n_down[5], 0);
}

static void test_transport_newer_duplicate_replaces_the_older(void **state)
{
    struct fx *f = *state;
    struct node *b = &f->nodes[1];
    struct raw *old;
    struct raw *r;

    start_pair_with_raw_peer(f, 1u << 20, 64u << 20);
    old = raw_peer(f);
    r = raw_connect(f, b->port);
    raw_send_hello(r, 1, 1, 3, 5); /* node 3 again, e.g. after a half-open drop */
    RUN_UNTIL(f, old->eof && r->n_read > 0);
    assert_int_equal(log_count(f, "WARN", "duplicate connection closed id=3"), 1);
    assert_true(b->up[3]); /* one report of each kind, no flapping */
    assert_int_equal(b->n_up[3], 1);
    assert_int_equal(b->n_down[3], 0);
    assert_true(peer_stats(b, 3).connected);
    assert_int_equal(peer_stats(b, 3).connects, 2);
    uv_close((uv_handle_t *)&r->tcp, NULL);
    r->open = false;
    RUN_UNTIL(f, !b->up[3]);
    assert_int_equal(b->n_down[3], 1);
    exchange_still_works(f, 0);
}

static void test_transport_quiet_connections_stay_up_on_keepalives(void **state)
{
    struct fx *f = *state;
    struct node *a = &f->nodes[0];
    struct node *b = &f->nodes[1];
    uint64_t sent_a;
    uint64_t sent_b;

    f->idle_ms = 40;
    start_pair(f);
    sent_a = peer_stats(a, 2).bytes_sent;
    sent_b = peer_stats(b, 1).bytes_sent;
    /* Ten keepalives (11 bytes each) each way: several idle timeouts
     * without a message. */
    RUN_UNTIL(f, peer_stats(a, 2).bytes_sent >= sent_a + 110 &&
                     peer_stats(b, 1).bytes_sent >= sent_b + 110);
    assert_int_equal(a->n_down[2], 0);
    assert_int_equal(b->n_down[1], 0);
    assert_int_equal(peer_stats(a, 2).msgs_sent, 0);
    exchange_still_works(f, 0);
}

static void test_transport_silent_established_peer_is_closed(void **state)
{
    struct fx *f = *state;
    struct node *b = &f->nodes[1];
    struct raw *r;

    f->idle_ms = 40;
    start_pair_with_raw_peer(f, 1u << 20, 64u << 20);
    r = raw_peer(f); /* handshakes as node 3, then never says a thing */
    RUN_UNTIL(f, r->eof && !b->up[3]);
    assert_true(r->n_read > 11); /* it was sent keepalives meanwhile */
    assert_int_equal(log_count(f, "peer disconnected id=3", "idle 40ms"), 1);
    exchange_still_works(f, 0); /* the real peers keep each other alive */
}

static void test_transport_silent_peers_time_out(void **state)
{
    struct fx *f = *state;
    struct coord_transport_opts o;
    struct raft_conf conf;
    struct raw *r;

    /* Acceptor side: a client that connects and says nothing. */
    node_opts(f, 1, 5, &o);
    o.hello_timeout_ms = 50;
    node_start(f, 1, &o);
    r = raw_connect(f, f->nodes[1].port);
    RUN_UNTIL(f, r->eof);
    assert_int_equal(log_count(f, "WARN", "reason=timeout"), 1);

    /* Dialer side: a server that accepts and says nothing; node 1 gives up
     * on it and dials again. */
    raw_server_start(f);
    node_opts(f, 0, 1, &o);
    o.hello_timeout_ms = 50;
    o.backoff_min_ms = 1;
    o.backoff_max_ms = 2;
    node_start(f, 0, &o);
    memset(&conf, 0, sizeof conf);
    conf_add(&conf, 1, f->nodes[0].port);
    conf_add(&conf, 2, f->server_port);
    assert_int_equal(coord_transport_set_peers(f->nodes[0].t, &conf), 0);
    RUN_UNTIL(f, f->n_server_accepted >= 3);
    assert_true(log_count(f, "WARN", "reason=timeout") >= 3);
    assert_false(f->nodes[0].up[2]);
}

static void test_transport_slow_reader_hits_the_queue_bound(void **state)
{
    struct fx *f = *state;
    struct node *b = &f->nodes[1];
    struct raw *r;
    int rv = 0;
    int i;

    start_pair_with_raw_peer(f, 1u << 20, 256u << 10);
    r = raw_peer(f);
    uv_read_stop((uv_stream_t *)&r->tcp); /* it stops reading */
    for (i = 0; i < 20000 && rv == 0; i++) {
        rv = send_append(b, 3, (raft_index)i, 1, 64u << 10);
        if (i % 4 == 3) {
            uv_run(&f->loop, UV_RUN_NOWAIT);
        }
    }
    assert_int_equal(rv, RAFT_EBUSY);
    assert_true(peer_stats(b, 3).msgs_dropped >= 1);
    assert_int_equal(send_heartbeat(b, 3, 0), RAFT_EBUSY);
    /* Nobody else is held up. */
    exchange_still_works(f, 1);
    print_message("bound reached after %d x 64 KiB\n", i);
}

static void test_transport_removed_peers_are_disconnected(void **state)
{
    struct fx *f = *state;
    struct node *a = &f->nodes[0];
    struct node *b = &f->nodes[1];
    struct raft_conf conf;

    start_pair(f);
    memset(&conf, 0, sizeof conf);
    conf_add(&conf, 1, a->port);
    assert_int_equal(coord_transport_set_peers(a->t, &conf), 0);
    RUN_UNTIL(f, !a->up[2] && !b->up[1]);
    assert_int_equal(send_heartbeat(a, 2, 0), RAFT_ENOTFOUND);
    /* Back in the book: connected again. */
    conf_add(&conf, 2, b->port);
    assert_int_equal(coord_transport_set_peers(a->t, &conf), 0);
    RUN_UNTIL(f, a->up[2] && b->up[1]);
    exchange_still_works(f, 0);
    assert_int_equal(a->n_up[2], 2);

    /* Removed and added back before the old connection finished closing:
     * one down, then one up, never two of a kind in a row. */
    memset(&conf, 0, sizeof conf);
    conf_add(&conf, 1, a->port);
    assert_int_equal(coord_transport_set_peers(a->t, &conf), 0);
    conf_add(&conf, 2, b->port);
    assert_int_equal(coord_transport_set_peers(a->t, &conf), 0);
    RUN_UNTIL(f, a->n_up[2] == 3 && a->up[2] && b->up[1]);
    assert_int_equal(a->n_down[2], 2);
    exchange_still_works(f, 1);
}

/* ---- snapshots -------------------------------------------------------------------------- */

static void start_pair_chunked(struct fx *f, size_t chunk)
{
    struct coord_transport_opts o;

    node_opts(f, 0, 1, &o);
    o.snapshot_chunk = chunk;
    node_start(f, 0, &o);
    node_opts(f, 1, 2, &o);
    o.snapshot_chunk = chunk;
    node_start(f, 1, &o);
    connect_all(f, 2);
}

static void test_transport_snapshot_streams_a_file(void **state)
{
    struct fx *f = *state;
    struct node *a = &f->nodes[0];
    struct node *b = &f->nodes[1];
    struct raft_msg m;
    struct raft_snapshot_meta meta;
    char path[128];
    uint64_t ctx = 0;

    start_pair_chunked(f, 256u << 10);
    (void)snprintf(path, sizeof path, "%s/outgoing.snap", f->root);
    write_file(path, (3u << 20) + 123, 42);
    snapshot_msg(&m, &meta, 1, 2, 50);
    assert_int_equal(coord_transport_send_snapshot(a->t, &m, path), 0);
    assert_int_equal(coord_transport_send_snapshot(a->t, &m, path), RAFT_EBUSY);
    /* Messages keep flowing while it streams. */
    while (a->n_snap_sent == 0 || b->n_snap_recv == 0) {
        assert_int_equal(send_heartbeat(a, 2, ctx++), 0);
        assert_true(ctx < MAX_ITERS);
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    assert_true(a->snap_ok);
    assert_int_equal(a->snap_to, 2);
    assert_int_equal(b->snap_from, 1);
    assert_int_equal(b->snap_meta.index, 50);
    assert_int_equal(b->snap_meta.term, 4);
    assert_memory_equal(&b->snap_meta.conf, &meta.conf, sizeof meta.conf);
    assert_non_null(strstr(b->snap_path, b->dir));
    assert_true(files_equal(path, b->snap_path));
    assert_int_equal(peer_stats(a, 2).chunks_sent, 13);
    assert_int_equal(peer_stats(b, 1).chunks_received, 13);
    assert_int_equal(peer_stats(a, 2).snapshots_sent, 1);
    assert_int_equal(peer_stats(b, 1).snapshots_received, 1);
    assert_true(count_from(b, 1) > 0);
    assert_int_equal(dir_count(b->dir), 1);    /* the snapshot, no leftovers */
    assert_int_equal(unlink(b->snap_path), 0); /* the callee's file */

    /* An empty file is one empty chunk. */
    (void)snprintf(path, sizeof path, "%s/empty.snap", f->root);
    write_file(path, 0, 1);
    snapshot_msg(&m, &meta, 1, 2, 51);
    assert_int_equal(coord_transport_send_snapshot(a->t, &m, path), 0);
    RUN_UNTIL(f, a->n_snap_sent == 2 && b->n_snap_recv == 2);
    assert_true(a->snap_ok);
    assert_int_equal(b->snap_meta.index, 51);
    assert_true(files_equal(path, b->snap_path));
    assert_int_equal(unlink(b->snap_path), 0);
}

/* Every chunk of a snapshot, in one read: the queue for the disk fills and
 * pauses reading before the last chunk arrives. Reading must resume once the
 * stream is complete, or the connection hears nothing more (CI, under TSan,
 * once found exactly that). */
static void test_transport_snapshot_in_one_read_resumes_reading(void **state)
{
    struct fx *f = *state;
    struct node *b = &f->nodes[1];
    enum { CHUNK = 1024, N_CHUNKS = 6 };
    static uint8_t data[CHUNK * N_CHUNKS];
    static uint8_t all[CHUNK * N_CHUNKS + 4096];
    struct raft_snapshot_meta meta;
    struct raft_msg m;
    struct raft_msg hb;
    struct raft_buf frame;
    size_t len = 0;
    struct raw *r;
    int i;

    start_pair_with_raw_peer(f, 1u << 20, 64u << 20);
    r = raw_peer(f);
    snapshot_msg(&m, &meta, 3, 5, 9);
    memset(data, 7, sizeof data);
    for (i = 0; i < N_CHUNKS; i++) {
        struct coord_peer_chunk ch = {9,   (uint64_t)i * CHUNK, sizeof data, {NULL, CHUNK}, false,
                                      NULL};

        ch.data.base = data + (size_t)i * CHUNK;
        ch.last = i == N_CHUNKS - 1;
        ch.msg = ch.last ? &m : NULL;
        assert_int_equal(coord_codec_peer_encode_chunk(&ch, &frame), 0);
        assert_true(len + frame.len <= sizeof all);
        memcpy(all + len, frame.base, frame.len);
        len += frame.len;
        raft_free(frame.base);
    }
    raw_send(r, all, len);
    RUN_UNTIL(f, b->n_snap_recv == 1);
    assert_int_equal(b->snap_from, 3);
    assert_int_equal(unlink(b->snap_path), 0);

    memset(&hb, 0, sizeof hb);
    hb.type = RAFT_MSG_HEARTBEAT;
    hb.from = 3;
    hb.to = 5;
    hb.term = 4;
    assert_int_equal(coord_codec_peer_encode_msgs(&hb, 1, 1u << 20, &frame), 0);
    raw_send(r, frame.base, frame.len);
    raft_free(frame.base);
    RUN_UNTIL(f, count_from(b, 3) == 1);
}

static void test_transport_snapshot_of_a_missing_file_fails(void **state)
{
    struct fx *f = *state;
    struct node *a = &f->nodes[0];
    struct raft_msg m;
    struct raft_snapshot_meta meta;

    start_pair(f);
    snapshot_msg(&m, &meta, 1, 2, 50);
    assert_int_equal(coord_transport_send_snapshot(a->t, &m, "/nonexistent/snap"), 0);
    RUN_UNTIL(f, a->n_snap_sent == 1);
    assert_false(a->snap_ok);
    assert_int_equal(log_count(f, "WARN", "snapshot read failed"), 1);
    exchange_still_works(f, 0); /* the connection is fine */
}

/* Start a chunked pair and stream a 16 MiB snapshot (file contents from
 * fill, snapshot index) from node 0 to node 1; the tests then cut it short. */
static void start_big_snapshot(struct fx *f, uint64_t fill, raft_index index)
{
    struct node *a = &f->nodes[0];
    struct raft_msg m;
    struct raft_snapshot_meta meta;
    char path[128];

    start_pair_chunked(f, 512u << 10);
    (void)snprintf(path, sizeof path, "%s/big.snap", f->root);
    write_file(path, 16u << 20, fill);
    snapshot_msg(&m, &meta, 1, 2, index);
    assert_int_equal(coord_transport_send_snapshot(a->t, &m, path), 0);
}

static void test_transport_snapshot_to_a_peer_that_leaves_fails(void **state)
{
    struct fx *f = *state;
    struct node *a = &f->nodes[0];
    struct node *b = &f->nodes[1];

    start_big_snapshot(f, 7, 70);
    RUN_UNTIL(f, peer_stats(b, 1).chunks_received >= 2);
    node_close(b); /* the receiver goes away mid-stream */
    RUN_UNTIL(f, b->t == NULL && a->n_snap_sent == 1);
    assert_false(a->snap_ok);
    assert_int_equal(b->n_snap_recv, 0);
    assert_int_equal(dir_count(b->dir), 0); /* the partial file is gone */
}

static void test_transport_snapshot_from_a_peer_that_leaves_is_deleted(void **state)
{
    struct fx *f = *state;
    struct node *a = &f->nodes[0];
    struct node *b = &f->nodes[1];

    start_big_snapshot(f, 8, 80);
    /* The partial file exists once its (asynchronous) open completed. */
    RUN_UNTIL(f, peer_stats(b, 1).chunks_received >= 2 && dir_count(b->dir) == 1);
    node_close(a); /* the sender goes away mid-stream: no callback after close */
    RUN_UNTIL(f, a->t == NULL && !b->up[1] && dir_count(b->dir) == 0);
    assert_int_equal(a->n_snap_sent, 0);
    assert_int_equal(b->n_snap_recv, 0);
}

/* ---- lifecycle -------------------------------------------------------------------------- */

static void test_transport_close_with_everything_open_leaks_nothing(void **state)
{
    struct fx *f = *state;
    struct coord_transport_opts o;
    struct raft_msg m;
    struct raft_snapshot_meta meta;
    char path[128];
    size_t i;

    for (i = 0; i < 3; i++) {
        node_opts(f, i, i + 1, &o);
        o.snapshot_chunk = 64u << 10;
        node_start(f, i, &o);
    }
    connect_all(f, 3);
    raw_connect(f, f->nodes[2].port); /* in handshake */
    (void)snprintf(path, sizeof path, "%s/s.snap", f->root);
    write_file(path, 4u << 20, 9);
    snapshot_msg(&m, &meta, 1, 3, 5);
    assert_int_equal(coord_transport_send_snapshot(f->nodes[0].t, &m, path), 0);
    RUN_UNTIL(f, peer_stats(&f->nodes[2], 1).chunks_received >= 1);
    for (i = 0; i < 100; i++) {
        assert_int_equal(send_append(&f->nodes[1], 3, i, 2, 1000), 0); /* queued, unsent */
    }
    /* teardown() closes all three at once and checks the loop and leaks. */
}

static void test_transport_new_refuses_bad_options(void **state)
{
    struct fx *f = *state;
    struct coord_transport_opts o;
    struct coord_transport_cbs cbs = {&f->nodes[0], on_recv, on_snapshot_received, NULL, NULL};
    struct coord_transport *t = NULL;
    char address[32];

    node_opts(f, 0, 1, &o);
    node_start(f, 0, &o);
    node_opts(f, 1, 2, &o);
    o.id = 0;
    assert_int_equal(coord_transport_new(&f->loop, &o, &cbs, &t), RAFT_EINVAL);
    node_opts(f, 1, 2, &o);
    o.snapshot_chunk = o.max_frame;
    assert_int_equal(coord_transport_new(&f->loop, &o, &cbs, &t), RAFT_EINVAL);
    node_opts(f, 1, 2, &o);
    o.listen_address = "no-port-here";
    assert_int_equal(coord_transport_new(&f->loop, &o, &cbs, &t), RAFT_ECONFIG);
    o.listen_address = "127.0.0.1:99999";
    assert_int_equal(coord_transport_new(&f->loop, &o, &cbs, &t), RAFT_ECONFIG);
    o.listen_address = "127.0.0.1:0";
    o.snapshot_dir = "/nonexistent/dir";
    assert_int_equal(coord_transport_new(&f->loop, &o, &cbs, &t), RAFT_ECONFIG);
    node_opts(f, 1, 2, &o);
    (void)snprintf(address, sizeof address, "127.0.0.1:%d", f->nodes[0].port);
    o.listen_address = address;
    assert_int_equal(coord_transport_new(&f->loop, &o, &cbs, &t), RAFT_EBUSY);
    assert_null(t);
    assert_int_equal(log_count(f, "ERROR", "listen failed"), 1);
    /* The failed one's handles close in the loop; teardown checks leaks. */
    o.listen_address = "[::1]:0"; /* IPv6 literals parse (when the host has ::1) */
    if (coord_transport_new(&f->loop, &o, &cbs, &t) == 0) {
        coord_transport_close(t, NULL, NULL);
    }
}

/* Every allocation of a connect-and-exchange scenario fails in turn: no
 * crash, no leak, the loop closes, and when both transports were created
 * the pair recovers (redial, re-accept, resend) and the exchange completes. */
static void oom_run(struct fx *f, long k, long *n_allocs)
{
    struct coord_transport_opts o;
    struct coord_transport_cbs cbs[2];
    struct raft_conf conf;
    int rv[2];
    size_t i;

    memset(f->nodes, 0, sizeof f->nodes);
    for (i = 0; i < N_NODES; i++) {
        (void)snprintf(f->nodes[i].dir, sizeof f->nodes[i].dir, "%s/n%zu", f->root, i);
    }
    raft_alloc_fail_at(k);
    for (i = 0; i < 2; i++) {
        node_opts(f, i, i + 1, &o);
        o.backoff_min_ms = 1;
        o.backoff_max_ms = 2;
        cbs[i] = (struct coord_transport_cbs){&f->nodes[i], on_recv, on_snapshot_received,
                                              on_snapshot_sent, on_peer_state};
        rv[i] = coord_transport_new(&f->loop, &o, &cbs[i], &f->nodes[i].t);
        assert_true(rv[i] == 0 || rv[i] == RAFT_ENOMEM);
        f->nodes[i].port = rv[i] == 0 ? coord_transport_port(f->nodes[i].t) : 1;
    }
    memset(&conf, 0, sizeof conf);
    conf_add(&conf, 1, f->nodes[0].port);
    conf_add(&conf, 2, f->nodes[1].port);
    for (i = 0; i < 2; i++) {
        if (rv[i] == 0 && coord_transport_set_peers(f->nodes[i].t, &conf) != 0) {
            /* ENOMEM leaves the book as it was: the caller retries. */
            assert_int_equal(coord_transport_set_peers(f->nodes[i].t, &conf), 0);
        }
    }
    if (rv[0] == 0 && rv[1] == 0) {
        uint64_t ctx = 0;

        /* A dropped heartbeat leaves nothing pending: the ticker keeps the
         * loop turning so that the condition resends. */
        uv_timer_start(&f->tick, on_tick, 1, 1);
        RUN_UNTIL(f, count_from(&f->nodes[1], 1) > 0 ||
                         (f->nodes[0].up[2] && send_heartbeat(&f->nodes[0], 2, ctx++) && false));
        uv_timer_stop(&f->tick);
    }
    *n_allocs = raft_alloc_count();
    raft_alloc_fail_at(0);
    for (i = 0; i < 2; i++) {
        if (f->nodes[i].t != NULL) {
            node_close(&f->nodes[i]);
        }
    }
    RUN_UNTIL(f, f->nodes[0].t == NULL && f->nodes[1].t == NULL);
    uv_run(&f->loop, UV_RUN_NOWAIT); /* close callbacks of a failed new */
    assert_int_equal(raft_alloc_live(), f->live);
}

static void test_transport_oom_sweep(void **state)
{
    struct fx *f = *state;
    long n_allocs = 0;
    long k;

    for (k = 1; k < 2000; k++) {
        oom_run(f, k, &n_allocs);
        if (k > n_allocs) {
            break; /* k is past every allocation of a whole run */
        }
    }
    print_message("swept %ld allocation points (a clean run makes %ld)\n", k, n_allocs);
    assert_true(k < 2000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_transport_messages_arrive_intact_both_ways_in_order,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_transport_sends_of_one_iteration_share_a_frame, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_transport_send_errors_are_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transport_reconnects_when_the_acceptor_comes_back,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_transport_dials_host_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transport_refuses_another_cluster, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transport_refuses_unknown_ids_and_bad_hellos, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_transport_accept_unknown_adopts_the_dialer, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_transport_bad_bytes_close_only_their_connection, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_transport_newer_duplicate_replaces_the_older, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_transport_quiet_connections_stay_up_on_keepalives,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_transport_silent_established_peer_is_closed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_transport_silent_peers_time_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transport_slow_reader_hits_the_queue_bound, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_transport_removed_peers_are_disconnected, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_transport_snapshot_streams_a_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transport_snapshot_in_one_read_resumes_reading, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_transport_snapshot_of_a_missing_file_fails, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_transport_snapshot_to_a_peer_that_leaves_fails, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_transport_snapshot_from_a_peer_that_leaves_is_deleted,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_transport_close_with_everything_open_leaks_nothing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_transport_new_refuses_bad_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transport_oom_sweep, setup, teardown),
    };

    /* Sockets closed under a pending write raise SIGPIPE; coordd ignores it (main.c). */
    (void)signal(SIGPIPE, SIG_IGN);

    return cmocka_run_group_tests_name("transport", tests, NULL, NULL);
}
