/* SPDX-License-Identifier: MIT */
/* bench_client: libcoord's asynchronous path against a minimal fake node on
 * a thread of its own (127.0.0.1, a kernel-picked port), which answers every
 * request at once. Reports client-side operations per second with a fixed
 * number of requests outstanding over several clients, like coordbench.
 * Run by hand, never by CTest:
 *
 *   bench_client [ops=200000] [outstanding=64] [clients=5] [value_len=100]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "coord/client/client.h"
#include "coord/frame.h"
#include "proto/coord.pb-c.h"
#include "raft/base/alloc.h"

#define MAX_CLIENTS 64

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            (void)fprintf(stderr, "bench_client: %s:%d: %s\n", __FILE__, __LINE__, #x);            \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* ---- the fake node: answers each request with its id, revision + 1 ---------------------- */

struct nconn {
    uv_tcp_t tcp;
    struct coord_frame_reader reader;
    uint8_t *out; /* answers gathered during one read */
    size_t out_len;
    size_t out_cap;
    char rbuf[65536];
};

struct node {
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_async_t stop;
    pthread_t thread;
    int port;
    uint64_t revision;
};

static void on_nwritten(uv_write_t *req, int status)
{
    (void)status;
    free(req->data);
    free(req);
}

static void answer(struct node *n, struct nconn *nc, const struct raft_buf *body)
{
    Coord__Api__ClientFrame *in = coord__api__client_frame__unpack(NULL, body->len, body->base);
    Coord__Api__ClientFrame f = COORD__API__CLIENT_FRAME__INIT;
    Coord__Api__Response r = COORD__API__RESPONSE__INIT;
    size_t len;

    CHECK(in != NULL && in->request != NULL);
    f.has_version = true;
    f.version = 1;
    f.response = &r;
    r.has_id = true;
    r.id = in->request->id;
    r.has_revision = true;
    r.revision = ++n->revision;
    coord__api__client_frame__free_unpacked(in, NULL);
    len = coord__api__client_frame__get_packed_size(&f);
    if (nc->out_len + COORD_FRAME_HEADER_LEN + len > nc->out_cap) {
        nc->out_cap = (nc->out_cap + len + COORD_FRAME_HEADER_LEN) * 2;
        nc->out = realloc(nc->out, nc->out_cap);
        CHECK(nc->out != NULL);
    }
    coord_frame_header_encode(nc->out + nc->out_len, len);
    coord__api__client_frame__pack(&f, nc->out + nc->out_len + COORD_FRAME_HEADER_LEN);
    nc->out_len += COORD_FRAME_HEADER_LEN + len;
}

static void on_nalloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct nconn *nc = h->data;

    (void)suggested;
    buf->base = nc->rbuf;
    buf->len = sizeof nc->rbuf;
}

static void on_nclosed(uv_handle_t *h)
{
    struct nconn *nc = h->data;

    coord_frame_reader_close(&nc->reader);
    free(nc->out);
    free(nc);
}

static void on_nread(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct nconn *nc = s->data;
    struct node *n = s->loop->data;
    struct raft_buf in = {buf->base, nread > 0 ? (size_t)nread : 0};
    struct raft_buf body;
    uv_write_t *w;
    uv_buf_t b;

    if (nread < 0) {
        uv_close((uv_handle_t *)s, on_nclosed);
        return;
    }
    while (coord_frame_reader_next(&nc->reader, &in, &body) == 1) {
        answer(n, nc, &body);
    }
    if (nc->out_len == 0) {
        return;
    }
    w = malloc(sizeof *w);
    CHECK(w != NULL);
    w->data = nc->out; /* the write owns the buffer */
    b = uv_buf_init((char *)nc->out, (unsigned)nc->out_len);
    CHECK(uv_write(w, s, &b, 1, on_nwritten) == 0);
    nc->out = NULL;
    nc->out_len = 0;
    nc->out_cap = 0;
}

static void on_nconnection(uv_stream_t *l, int status)
{
    struct nconn *nc = calloc(1, sizeof *nc);

    CHECK(status == 0 && nc != NULL);
    CHECK(uv_tcp_init(l->loop, &nc->tcp) == 0);
    nc->tcp.data = nc;
    coord_frame_reader_init(&nc->reader, 1u << 20);
    CHECK(uv_accept(l, (uv_stream_t *)&nc->tcp) == 0);
    uv_tcp_nodelay(&nc->tcp, 1);
    CHECK(uv_read_start((uv_stream_t *)&nc->tcp, on_nalloc, on_nread) == 0);
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) {
        uv_close(h, h->type == UV_TCP && h->data != NULL ? on_nclosed : NULL);
    }
}

static void on_nstop(uv_async_t *h)
{
    uv_walk(h->loop, close_walk, NULL);
}

static void *node_main(void *arg)
{
    struct node *n = arg;

    uv_run(&n->loop, UV_RUN_DEFAULT);
    return NULL;
}

static void node_start(struct node *n)
{
    struct sockaddr_in sa;
    struct sockaddr_storage ss;
    int len = sizeof ss;

    CHECK(uv_loop_init(&n->loop) == 0);
    n->loop.data = n;
    CHECK(uv_ip4_addr("127.0.0.1", 0, &sa) == 0);
    CHECK(uv_tcp_init(&n->loop, &n->listener) == 0);
    CHECK(uv_tcp_bind(&n->listener, (const struct sockaddr *)&sa, 0) == 0);
    CHECK(uv_listen((uv_stream_t *)&n->listener, 128, on_nconnection) == 0);
    CHECK(uv_tcp_getsockname(&n->listener, (struct sockaddr *)&ss, &len) == 0);
    n->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    CHECK(uv_async_init(&n->loop, &n->stop, on_nstop) == 0);
    CHECK(pthread_create(&n->thread, NULL, node_main, n) == 0);
}

/* ---- the clients ------------------------------------------------------------------------ */

struct bench;

/* A callback's arg: which client of which bench. */
struct slot {
    struct bench *b;
    size_t i;
};

struct bench {
    uv_loop_t loop;
    struct coord_client *clients[MAX_CLIENTS];
    struct slot slots[MAX_CLIENTS];
    size_t n_clients;
    size_t ops; /* to issue */
    size_t issued;
    size_t done;
    size_t failed;
    size_t value_len;
    char value[65536];
    size_t n_closed;
};

static void issue(struct bench *b, size_t i);

static void on_done(void *arg, const struct coord_result *res)
{
    const struct slot *sl = arg;
    struct bench *b = sl->b;
    size_t i = sl->i;

    b->done++;
    b->failed += res->status != 0;
    if (b->issued < b->ops) {
        issue(b, i);
    }
}

static void issue(struct bench *b, size_t i)
{
    char key[32];
    int n = snprintf(key, sizeof key, "key%zu", b->issued % 10000);

    b->issued++;
    CHECK(coord_client_put(b->clients[i], key, (size_t)n, b->value, b->value_len, 0, on_done,
                           &b->slots[i]) == 0);
}

static void on_closed(void *arg)
{
    struct bench *b = arg;

    b->n_closed++;
}

int main(int argc, char **argv)
{
    static struct bench bench;
    struct bench *b = &bench;
    size_t outstanding = argc > 2 ? strtoul(argv[2], NULL, 10) : 64;
    struct coord_client_opts o;
    struct node n;
    char endpoint[32];
    uint64_t t0;
    uint64_t t1;
    long allocs0;
    size_t n_clients;
    size_t i;

    b->ops = argc > 1 ? strtoul(argv[1], NULL, 10) : 200000;
    b->n_clients = argc > 3 ? strtoul(argv[3], NULL, 10) : 5;
    b->value_len = argc > 4 ? strtoul(argv[4], NULL, 10) : 100;
    n_clients = b->n_clients;
    CHECK(n_clients > 0 && n_clients <= MAX_CLIENTS && b->value_len <= sizeof b->value);
    memset(b->value, 'v', b->value_len);
    memset(&n, 0, sizeof n);
    node_start(&n);
    CHECK(uv_loop_init(&b->loop) == 0);
    (void)snprintf(endpoint, sizeof endpoint, "127.0.0.1:%d", n.port);
    coord_client_opts_default(&o);
    o.endpoints = endpoint;
    for (i = 0; i < b->n_clients; i++) {
        CHECK(coord_client_new(&b->loop, &o, &b->clients[i]) == 0);
        b->slots[i].b = b;
        b->slots[i].i = i;
    }
    raft_alloc_fail_at(0); /* starts the allocation count */
    allocs0 = raft_alloc_count();
    t0 = uv_hrtime();
    for (i = 0; i < outstanding && b->issued < b->ops; i++) {
        issue(b, i % n_clients);
    }
    while (b->done < b->ops) {
        uv_run(&b->loop, UV_RUN_ONCE);
    }
    t1 = uv_hrtime();
    if (t1 == t0) {
        t1 = t0 + 1;
    }
    (void)printf("RESULT bench_client ops=%zu outstanding=%zu clients=%zu value_len=%zu failed=%zu "
                 "ops_per_s=%.0f allocs=%ld allocs_live=%ld\n",
                 b->ops, outstanding, b->n_clients, b->value_len, b->failed,
                 (double)b->ops / ((double)(t1 - t0) / 1e9), raft_alloc_count() - allocs0,
                 raft_alloc_live());
    for (i = 0; i < b->n_clients; i++) {
        coord_client_close(b->clients[i], on_closed, b);
    }
    while (b->n_closed < b->n_clients) {
        uv_run(&b->loop, UV_RUN_ONCE);
    }
    CHECK(uv_run(&b->loop, UV_RUN_DEFAULT) == 0);
    CHECK(uv_loop_close(&b->loop) == 0);
    CHECK(uv_async_send(&n.stop) == 0);
    CHECK(pthread_join(n.thread, NULL) == 0);
    CHECK(uv_loop_close(&n.loop) == 0);
    return b->failed == 0 ? 0 : 1;
}
