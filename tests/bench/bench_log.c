/* SPDX-License-Identifier: MIT */
/* bench_log: appends/s and fsyncs/s of the durable log through the log-writer
 * thread (coord/storage/writer.c), next to the raw write+fdatasync rate of
 * the same disk. Not a test: it asserts nothing, it prints a table.
 *
 *   bench_log [--dir DIR] [--seconds S] [--no-prealloc]
 *
 * Each case runs for S seconds (default 2) in a fresh log under DIR
 * (default: a new directory under /tmp, removed at the end). A case with C
 * writers keeps C closed-loop clients on the loop thread, each with one
 * 256-byte entry in flight: when its completion arrives it submits the next.
 * That is how coordd drives the writer (requests arrive on the loop thread),
 * so no client threads or cross-thread hops are added to the figures. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "coord/storage/log.h"
#include "coord/storage/writer.h"

#define ENTRY_BYTES 256

struct bench {
    uv_loop_t loop;
    struct coord_writer *w;
    uint8_t data[ENTRY_BYTES];
    raft_index next;      /* index of the next entry */
    uint64_t deadline_ns; /* stop submitting after this (uv_hrtime) */
    uint64_t start_ns;
    uint64_t end_ns; /* time of the last completion */
    uint64_t done;   /* entries completed */
    unsigned in_flight;
    int err;                         /* first failure */
    struct coord_writer_stats stats; /* taken when the last completion arrives */
};

struct result {
    double appends_per_s;
    double syncs_per_s;
    double flushes_per_s;
    double mean_latency_us; /* Little's law: clients / throughput */
};

static int submit(struct bench *b)
{
    struct raft_entry e = {.index = b->next, .term = 1, .type = RAFT_ENTRY_NORMAL};
    /* As the node would: every update carries the hard state, commit moving. */
    struct coord_persist p = {
        .entries = &e, .n_entries = 1, .has_hard_state = true, .term = 1, .commit = b->next - 1};
    int rv;

    e.data.base = b->data;
    e.data.len = sizeof(b->data);
    rv = coord_writer_submit(b->w, &p, NULL);
    if (rv == 0) {
        b->next++;
        b->in_flight++;
    }
    return rv;
}

static void on_done(void *arg, void *job_arg, int status)
{
    struct bench *b = arg;

    (void)job_arg;
    b->in_flight--;
    if (status != 0) {
        b->err = b->err != 0 ? b->err : status;
    } else {
        b->done++;
        b->end_ns = uv_hrtime();
    }
    if (b->err == 0 && uv_hrtime() < b->deadline_ns) {
        b->err = submit(b);
    }
    if (b->in_flight == 0) {
        coord_writer_stats(b->w, &b->stats);
        coord_writer_close(b->w, NULL, NULL);
    }
}

static void rm_dir(const char *path)
{
    char p[1024];
    struct dirent *de;
    DIR *d = opendir(path);

    if (d == NULL) {
        return;
    }
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
            unlink(p);
        }
    }
    closedir(d);
    rmdir(path);
}

/* Closed loop of n_clients through the writer into a fresh log at dir. */
static int run_writer(const char *dir, unsigned n_clients, double seconds, bool prealloc,
                      struct result *r)
{
    struct coord_log_opts opts;
    struct coord_log_recovered rec;
    struct coord_log *log;
    struct bench b;
    char err[256];
    double secs;
    unsigned i;
    int rv;

    memset(&b, 0, sizeof(b));
    memset(b.data, 0x5a, sizeof(b.data));
    coord_log_opts_default(&opts);
    opts.preallocate = prealloc;
    rv = coord_log_open(dir, &opts, &log, &rec, err, sizeof(err));
    if (rv != 0) {
        fprintf(stderr, "bench_log: %s\n", err);
        return rv;
    }
    coord_log_recovered_free(&rec);
    b.next = 1;
    uv_loop_init(&b.loop);
    rv = coord_writer_new(&b.loop, log, NULL, on_done, &b, &b.w);
    if (rv != 0) {
        coord_log_close(log);
        return rv;
    }
    b.start_ns = uv_hrtime();
    b.deadline_ns = b.start_ns + (uint64_t)(seconds * 1e9);
    for (i = 0; i < n_clients && rv == 0; i++) {
        rv = submit(&b);
    }
    if (rv != 0) {
        coord_writer_close(b.w, NULL, NULL);
    }
    uv_run(&b.loop, UV_RUN_DEFAULT);
    uv_loop_close(&b.loop);
    coord_log_close(log);
    rv = rv != 0 ? rv : b.err;
    if (rv == 0) {
        secs = (double)(b.end_ns - b.start_ns) / 1e9;
        r->appends_per_s = (double)b.done / secs;
        r->syncs_per_s = (double)b.stats.n_syncs / secs;
        r->flushes_per_s = (double)b.stats.n_flushes / secs;
        r->mean_latency_us = (double)n_clients / r->appends_per_s * 1e6;
    }
    return rv;
}

/* The disk's own rate: write 256 bytes at the end of a file, fdatasync,
 * repeat (the file grows, as an unpreallocated log would). */
static int run_raw(const char *dir, double seconds, struct result *r)
{
    char path[1024];
    uint8_t data[ENTRY_BYTES];
    uint64_t start;
    uint64_t deadline;
    uint64_t n = 0;
    double secs;
    int fd;

    memset(data, 0x5a, sizeof(data));
    snprintf(path, sizeof(path), "%s/raw", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "bench_log: open %s: %s\n", path, strerror(errno));
        return -1;
    }
    start = uv_hrtime();
    deadline = start + (uint64_t)(seconds * 1e9);
    while (uv_hrtime() < deadline) {
        if (write(fd, data, sizeof(data)) != (ssize_t)sizeof(data) || fdatasync(fd) != 0) {
            fprintf(stderr, "bench_log: write+fdatasync: %s\n", strerror(errno));
            close(fd);
            return -1;
        }
        n++;
    }
    secs = (double)(uv_hrtime() - start) / 1e9;
    close(fd);
    unlink(path);
    r->appends_per_s = (double)n / secs;
    r->syncs_per_s = r->appends_per_s;
    r->flushes_per_s = r->appends_per_s;
    r->mean_latency_us = 1e6 / r->appends_per_s;
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_log [--dir DIR] [--seconds S] [--no-prealloc]\n");
    exit(2);
}

static void print_row(const char *name, const struct result *r)
{
    printf("%-24s %12.0f %10.0f %10.0f %12.1f %12.0f\n", name, r->appends_per_s, r->syncs_per_s,
           r->flushes_per_s, r->syncs_per_s > 0 ? r->appends_per_s / r->syncs_per_s : 0.0,
           r->mean_latency_us);
}

int main(int argc, char **argv)
{
    static const unsigned clients[] = {1, 16, 256};
    char root[1024] = "";
    char dir[1100];
    char name[64];
    struct result r;
    double seconds = 2.0;
    bool prealloc = true;
    bool own_root = false;
    size_t i;
    int rv = 0;
    int a;

    for (a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--dir") == 0 && a + 1 < argc) {
            snprintf(root, sizeof(root), "%s", argv[++a]);
        } else if (strcmp(argv[a], "--seconds") == 0 && a + 1 < argc) {
            seconds = atof(argv[++a]);
        } else if (strcmp(argv[a], "--no-prealloc") == 0) {
            prealloc = false;
        } else {
            usage();
        }
    }
    if (seconds <= 0) {
        usage();
    }
    if (root[0] == '\0') {
        snprintf(root, sizeof(root), "/tmp/coord-bench-log-XXXXXX");
        if (mkdtemp(root) == NULL) {
            fprintf(stderr, "bench_log: mkdtemp: %s\n", strerror(errno));
            return 1;
        }
        own_root = true;
    } else if (mkdir(root, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "bench_log: mkdir %s: %s\n", root, strerror(errno));
        return 1;
    }
    printf("dir=%s seconds=%.1f entry_bytes=%d preallocate=%s\n", root, seconds, ENTRY_BYTES,
           prealloc ? "yes" : "no");
    printf("%-24s %12s %10s %10s %12s %12s\n", "case", "appends/s", "syncs/s", "fsyncs/s",
           "appends/sync", "latency_us");
    if (run_raw(root, seconds, &r) == 0) {
        print_row("raw write+fdatasync", &r);
    } else {
        rv = 1;
    }
    for (i = 0; i < sizeof(clients) / sizeof(clients[0]); i++) {
        snprintf(dir, sizeof(dir), "%s/log-%u", root, clients[i]);
        rm_dir(dir);
        snprintf(name, sizeof(name), "writer, %u client%s", clients[i], clients[i] == 1 ? "" : "s");
        if (run_writer(dir, clients[i], seconds, prealloc, &r) == 0) {
            print_row(name, &r);
        } else {
            fprintf(stderr, "bench_log: case '%s' failed\n", name);
            rv = 1;
        }
        rm_dir(dir);
    }
    if (own_root) {
        rmdir(root);
    }
    return rv;
}
