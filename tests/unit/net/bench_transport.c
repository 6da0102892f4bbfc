/* SPDX-License-Identifier: MIT */
/* bench_transport: throughput of coord/transport.c between two transports
 * in one libuv loop on 127.0.0.1 (one thread does both ends, so the figures
 * are the whole CPU cost of encode, write, read and decode). Not a test:
 * it prints RESULT lines and asserts nothing about speed.
 *
 *   bench_transport [seconds]      default 2 per workload */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "coord/transport.h"
#include "raft/base/alloc.h"

#define WINDOW 200000 /* messages sent and not yet received */
#define BURST  1000   /* messages sent per loop iteration */

struct end {
    struct coord_transport *t;
    uint64_t n_recv;
    uint64_t bytes_recv;
    bool up;
    bool snap_done;
    bool snap_ok;
    char snap_path[512];
};

static void on_recv(void *arg, const struct raft_msg *m)
{
    struct end *e = arg;
    uint32_t i;

    e->n_recv++;
    for (i = 0; i < m->n_entries; i++) {
        e->bytes_recv += m->entries[i].data.len;
    }
}

static void on_snapshot_received(void *arg, const struct raft_msg *m)
{
    struct end *e = arg;

    (void)snprintf(e->snap_path, sizeof e->snap_path, "%s", (const char *)m->snapshot_data.base);
}

static void on_snapshot_sent(void *arg, raft_id to, bool ok)
{
    struct end *e = arg;

    (void)to;
    e->snap_done = true;
    e->snap_ok = ok;
}

static void on_peer_state(void *arg, raft_id id, bool connected)
{
    struct end *e = arg;

    (void)id;
    e->up = connected;
}

static void start(uv_loop_t *loop, struct end *e, raft_id id, const char *dir)
{
    struct coord_transport_opts o;
    struct coord_transport_cbs cbs = {e, on_recv, on_snapshot_received, on_snapshot_sent,
                                      on_peer_state};

    coord_transport_opts_default(&o);
    o.id = id;
    o.listen_address = "127.0.0.1:0";
    o.snapshot_dir = dir;
    o.seed = id;
    if (coord_transport_new(loop, &o, &cbs, &e->t) != 0) {
        (void)fprintf(stderr, "bench_transport: cannot start a transport\n");
        exit(1);
    }
}

/* Send messages of n_entries entries of len bytes from a to b for secs. */
static void run_msgs(uv_loop_t *loop, struct end *a, struct end *b, uint32_t n_entries, size_t len,
                     double secs, const char *name)
{
    static uint8_t data[1 << 16];
    struct raft_entry entries[8];
    struct raft_msg m;
    uint64_t sent = 0;
    uint64_t start_recv = b->n_recv;
    uint64_t start_bytes = b->bytes_recv;
    uint64_t t0 = uv_hrtime();
    uint64_t t1;
    double elapsed;
    uint32_t i;

    memset(&m, 0, sizeof m);
    m.type = n_entries > 0 ? RAFT_MSG_APPEND : RAFT_MSG_HEARTBEAT;
    m.from = 1;
    m.to = 2;
    m.term = 3;
    m.entries = entries;
    m.n_entries = n_entries;
    for (i = 0; i < n_entries; i++) {
        entries[i] = (struct raft_entry){3, i + 1, RAFT_ENTRY_NORMAL, {data, len}};
    }
    while ((double)(uv_hrtime() - t0) < secs * 1e9) {
        if (sent - (b->n_recv - start_recv) < WINDOW) {
            for (i = 0; i < BURST; i++) {
                m.index = sent;
                sent += coord_transport_send(a->t, &m) == 0 ? 1 : 0;
            }
        }
        uv_run(loop, UV_RUN_NOWAIT);
    }
    while (b->n_recv - start_recv < sent) {
        uv_run(loop, UV_RUN_ONCE);
    }
    t1 = uv_hrtime();
    elapsed = (double)(t1 - t0) / 1e9;
    printf("RESULT workload=%s msgs_per_s=%.0f MiB_per_s=%.1f msgs=%llu\n", name,
           (double)(b->n_recv - start_recv) / elapsed,
           (double)(b->bytes_recv - start_bytes) / elapsed / (1 << 20), (unsigned long long)sent);
}

static void run_snapshot(uv_loop_t *loop, struct end *a, struct end *b, const char *path,
                         size_t mib)
{
    FILE *fp = fopen(path, "wb");
    static uint8_t buf[1 << 20];
    struct raft_snapshot_meta meta;
    struct raft_msg m;
    uint64_t t0;
    double elapsed;
    size_t i;

    memset(buf, 0x5a, sizeof buf);
    for (i = 0; fp != NULL && i < mib; i++) {
        if (fwrite(buf, 1, sizeof buf, fp) != sizeof buf) {
            break;
        }
    }
    if (fp == NULL || fclose(fp) != 0 || i < mib) {
        (void)fprintf(stderr, "bench_transport: cannot write %s\n", path);
        exit(1);
    }
    memset(&meta, 0, sizeof meta);
    meta.index = 10;
    meta.term = 3;
    (void)raft_conf_add(&meta.conf, 1, RAFT_VOTER, "127.0.0.1:1");
    (void)raft_conf_add(&meta.conf, 2, RAFT_VOTER, "127.0.0.1:2");
    memset(&m, 0, sizeof m);
    m.type = RAFT_MSG_SNAPSHOT;
    m.from = 1;
    m.to = 2;
    m.term = 3;
    m.snapshot = &meta;
    t0 = uv_hrtime();
    if (coord_transport_send_snapshot(a->t, &m, path) != 0) {
        (void)fprintf(stderr, "bench_transport: send_snapshot failed\n");
        exit(1);
    }
    while (!a->snap_done || b->snap_path[0] == '\0') {
        uv_run(loop, UV_RUN_ONCE);
    }
    elapsed = (double)(uv_hrtime() - t0) / 1e9;
    printf("RESULT workload=snapshot_%zuMiB ok=%d MiB_per_s=%.1f (fsync included)\n", mib,
           a->snap_ok, (double)mib / elapsed);
    (void)unlink(b->snap_path);
    (void)unlink(path);
}

static void on_closed(void *arg)
{
    *(int *)arg += 1;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 2.0;
    char root[] = "/tmp/coord-bench-XXXXXX";
    char dir_a[64];
    char dir_b[64];
    char path[96];
    struct end a = {0};
    struct end b = {0};
    struct raft_conf conf;
    char addr[2][32];
    uv_loop_t loop;
    int closed = 0;

    if (mkdtemp(root) == NULL || uv_loop_init(&loop) != 0) {
        return 1;
    }
    (void)snprintf(dir_a, sizeof dir_a, "%s/a", root);
    (void)snprintf(dir_b, sizeof dir_b, "%s/b", root);
    (void)snprintf(path, sizeof path, "%s/out.snap", root);
    if (mkdir(dir_a, 0700) != 0 || mkdir(dir_b, 0700) != 0) {
        return 1;
    }
    start(&loop, &a, 1, dir_a);
    start(&loop, &b, 2, dir_b);
    memset(&conf, 0, sizeof conf);
    (void)snprintf(addr[0], sizeof addr[0], "127.0.0.1:%d", coord_transport_port(a.t));
    (void)snprintf(addr[1], sizeof addr[1], "127.0.0.1:%d", coord_transport_port(b.t));
    (void)raft_conf_add(&conf, 1, RAFT_VOTER, addr[0]);
    (void)raft_conf_add(&conf, 2, RAFT_VOTER, addr[1]);
    (void)coord_transport_set_peers(a.t, &conf);
    (void)coord_transport_set_peers(b.t, &conf);
    while (!a.up || !b.up) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    run_msgs(&loop, &a, &b, 0, 0, secs, "heartbeat");
    run_msgs(&loop, &a, &b, 1, 128, secs, "append_1x128B");
    run_msgs(&loop, &a, &b, 8, 1024, secs, "append_8x1KiB");
    run_msgs(&loop, &a, &b, 1, 65536, secs, "append_1x64KiB");
    run_snapshot(&loop, &a, &b, path, 256);
    coord_transport_close(a.t, on_closed, &closed);
    coord_transport_close(b.t, on_closed, &closed);
    while (closed < 2) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    (void)uv_loop_close(&loop);
    (void)rmdir(dir_a);
    (void)rmdir(dir_b);
    (void)rmdir(root);
    return raft_alloc_live() == 0 ? 0 : 1;
}
