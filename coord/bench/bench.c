/* SPDX-License-Identifier: MIT */
/* coordbench: the closed-loop load generator of the peers benchmark for
 * coord, over libcoord's async API on one libuv loop. The rules (keys,
 * values, percentiles, the RESULT line) are in workload.c; this file runs
 * them: K pinned connections (connection j to endpoint j mod N), C slots
 * (slot s on connection s mod K), each keeping one request outstanding and
 * taking the next op index from a shared counter until W were handed out.
 * Latency runs from just before the request is handed to libcoord to the
 * start of its completion callback; failed ops count as errors and are not
 * retried. It is a benchmark tool, not a library: it exits on setup errors. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "coord/bench/workload.h"
#include "coord/client/client.h"
#include "raft/base/alloc.h"
#include "raft/base/assert.h"
#include "raft/base/err.h"

/* One run may not take longer than this, whatever libcoord does with its
 * per-request timeouts: the peers' load generators use the same bound. */
#define BENCH_RUN_MAX_MS 600000
#define LAT_FAILED       UINT64_MAX /* lat[op] of an op that failed */

/* What a slot is doing in the current run. */
enum phase {
    PHASE_CONNECT, /* one status request per connection: connects before timing */
    PHASE_PRELOAD, /* read/sread: write r(0..nkeys-1), untimed */
    PHASE_MEASURE, /* the measured workload */
};

struct bench;

struct slot {
    struct bench *b;
    struct coord_client *client; /* borrowed from bench.clients */
    uint64_t op;                 /* op index in flight */
    uint64_t t0;                 /* ns, monotonic: just before the request went in */
};

struct bench {
    const struct bench_opts *o;
    uv_loop_t loop;
    uv_timer_t guard;              /* bounds one run to BENCH_RUN_MAX_MS */
    struct coord_client **clients; /* o->conns, owned */
    struct slot *slots;            /* owned; slot i uses clients[i mod conns] */
    uint64_t n_slots;              /* max(conc, conns): a connect phase has one per client */
    uint8_t *value;                /* o->vsize bytes; libcoord copies it per request */
    uint64_t *lat;                 /* per op of the current run: ns, or LAT_FAILED */
    uint64_t n_lat;                /* entries of lat: the most ops of any run */
    enum phase phase;
    uint64_t total;   /* op indexes of the current run */
    uint64_t next;    /* the next op index to hand out */
    uint64_t active;  /* slots still issuing */
    uint64_t errors;  /* failed ops of the current run */
    int first_error;  /* RAFT_E* of the first failure, for stderr */
    uint64_t t_start; /* ns: the first issue */
    uint64_t t_last;  /* ns: the last completion */
    bool timed_out;   /* the guard fired */
};

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double cpu_seconds(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void issue(struct slot *s);

static void slot_idle(struct bench *b)
{
    RAFT_ASSERT(b->active > 0);
    b->active--;
    if (b->active == 0) {
        uv_stop(&b->loop);
    }
}

static void record(struct bench *b, uint64_t op, uint64_t lat, int status)
{
    if (status == 0) {
        b->lat[op] = lat;
        return;
    }
    b->lat[op] = LAT_FAILED;
    if (b->errors == 0) {
        b->first_error = status;
    }
    b->errors++;
}

static void on_done(void *arg, const struct coord_result *res)
{
    struct slot *s = arg;
    struct bench *b = s->b;
    uint64_t t1 = now_ns();
    int status = res->status;

    if (b->timed_out) {
        return; /* abandoned: the run is over */
    }
    if (status == 0 && b->phase == PHASE_MEASURE && b->o->kind != BENCH_WRITE &&
        (res->n_kvs != 1 || res->kvs[0].value_len != b->o->vsize)) {
        status = RAFT_ENOTFOUND; /* a read counts only with its V-byte value */
    }
    b->t_last = t1 > b->t_last ? t1 : b->t_last;
    record(b, s->op, t1 - s->t0, status);
    issue(s);
}

/* Hand s its next request; submit errors count as failed ops. */
static int submit(struct slot *s, uint64_t op)
{
    struct bench *b = s->b;
    const struct bench_opts *o = b->o;
    char key[BENCH_KEY_MAX];
    size_t key_len;
    bool write = b->phase == PHASE_PRELOAD || o->kind == BENCH_WRITE;

    if (b->phase == PHASE_CONNECT) {
        s->t0 = now_ns();
        return coord_client_status(s->client, on_done, s);
    }
    if (b->phase == PHASE_PRELOAD) {
        key_len = bench_workload_key(key, 'r', op);
    } else if (o->kind == BENCH_WRITE) {
        key_len = bench_workload_key(key, 'w', o->key_offset + op);
    } else {
        key_len = bench_workload_key(key, 'r', op % o->nkeys);
    }
    if (write) {
        bench_workload_value(b->value, o->vsize, op);
        s->t0 = now_ns();
        return coord_client_put(s->client, key, key_len, b->value, o->vsize, 0, on_done, s);
    }
    s->t0 = now_ns();
    return coord_client_get(s->client, key, key_len,
                            o->kind == BENCH_SREAD ? COORD_SERIALIZABLE : 0, on_done, s);
}

static void issue(struct slot *s)
{
    struct bench *b = s->b;

    while (b->next < b->total) {
        uint64_t op = b->next++;
        int rv;

        s->op = op;
        rv = submit(s, op);
        if (rv == 0) {
            return;
        }
        record(b, op, 0, rv);
    }
    slot_idle(b);
}

static void on_guard(uv_timer_t *timer)
{
    struct bench *b = timer->data;

    (void)fprintf(stderr, "coordbench: run not finished after %d s; giving up\n",
                  BENCH_RUN_MAX_MS / 1000);
    b->timed_out = true;
    uv_stop(&b->loop);
}

/* Run total ops of phase with the first n_slots slots (PHASE_CONNECT: one
 * per connection) until all completed, or the guard fired. lat is set for
 * each op: its latency, or LAT_FAILED. */
static void run(struct bench *b, enum phase phase, uint64_t total, uint64_t n_slots)
{
    uint64_t i;

    RAFT_ASSERT(total <= b->n_lat && n_slots <= b->n_slots && !b->timed_out);
    b->phase = phase;
    b->total = total;
    b->next = 0;
    b->errors = 0;
    b->first_error = 0;
    b->active = n_slots;
    for (i = 0; i < total; i++) {
        b->lat[i] = LAT_FAILED; /* until it completes: ops cut off count as failed */
    }
    uv_timer_start(&b->guard, on_guard, BENCH_RUN_MAX_MS, 0);
    b->t_start = now_ns();
    b->t_last = b->t_start;
    for (i = 0; i < n_slots; i++) {
        issue(&b->slots[i]);
    }
    /* Loop: a uv_stop() from a run that never needed uv_run stops the next
     * uv_run at once. */
    while (b->active > 0 && !b->timed_out) {
        uv_run(&b->loop, UV_RUN_DEFAULT);
    }
    uv_timer_stop(&b->guard);
}

/* Open the loop, o->conns pinned clients and the slots. Exits on failure. */
static int setup(struct bench *b, const struct bench_opts *o)
{
    struct coord_client_opts copts;
    uint64_t conns = o->conns;
    uint64_t i;
    int rv;

    RAFT_ASSERT(o->n_endpoints > 0 && conns > 0 && o->conc > 0);
    memset(b, 0, sizeof(*b));
    b->o = o;
    b->clients = raft_calloc(o->conns, sizeof(struct coord_client *));
    b->n_slots = o->conc > o->conns ? o->conc : o->conns;
    b->slots = raft_calloc(b->n_slots, sizeof(*b->slots));
    b->value = raft_malloc(o->vsize + 1);
    b->n_lat = o->ops > o->nkeys ? o->ops : o->nkeys;
    b->n_lat = b->n_lat > o->conns ? b->n_lat : o->conns;
    b->lat = raft_calloc(b->n_lat, sizeof(*b->lat));
    if (b->clients == NULL || b->slots == NULL || b->value == NULL || b->lat == NULL) {
        return RAFT_ENOMEM;
    }
    if (uv_loop_init(&b->loop) != 0 || uv_timer_init(&b->loop, &b->guard) != 0) {
        return RAFT_EIO;
    }
    b->guard.data = b;
    coord_client_opts_default(&copts);
    copts.endpoints = o->endpoints;
    copts.pin = true;
    copts.timeout_ms = o->op_timeout_ms;
    for (i = 0; i < o->conns; i++) {
        copts.first = (uint32_t)(i % o->n_endpoints);
        rv = coord_client_new(&b->loop, &copts, &b->clients[i]);
        if (rv != 0) {
            return rv;
        }
    }
    for (i = 0; i < b->n_slots; i++) {
        b->slots[i].b = b;
        b->slots[i].client = b->clients[i % conns];
    }
    return 0;
}

static void on_client_closed(void *arg)
{
    (void)arg;
}

/* Close every client and the loop, free everything. */
static void teardown(struct bench *b)
{
    uint64_t i;

    for (i = 0; b->clients != NULL && i < b->o->conns; i++) {
        if (b->clients[i] != NULL) {
            coord_client_close(b->clients[i], on_client_closed, NULL);
        }
    }
    if (b->guard.data != NULL) {
        uv_close((uv_handle_t *)&b->guard, NULL);
        while (uv_run(&b->loop, UV_RUN_DEFAULT) != 0) {
        }
        (void)uv_loop_close(&b->loop);
    }
    raft_free(b->lat);
    raft_free(b->value);
    raft_free(b->slots);
    raft_free(b->clients);
}

/* Collect the successful latencies of the measured run and print RESULT. */
static int report(struct bench *b)
{
    const struct bench_opts *o = b->o;
    struct bench_stats s;
    char line[1024];
    size_t n = 0;
    uint64_t i;
    int len;

    memset(&s, 0, sizeof(s));
    for (i = 0; i < o->ops; i++) {
        if (b->lat[i] != LAT_FAILED) {
            b->lat[n++] = b->lat[i]; /* compact in place: n <= i */
        }
    }
    bench_workload_sort(b->lat, n);
    bench_workload_stats(b->lat, n, &s);
    s.n_ok = n;
    s.errors = o->ops - n;
    s.elapsed_ns = b->t_last - b->t_start;
    s.cpu_s = cpu_seconds();
    if (s.errors > 0) {
        (void)fprintf(stderr, "coordbench: %" PRIu64 " of %" PRIu64 " ops failed, the first: %s\n",
                      s.errors, o->ops, raft_err_str(b->first_error));
    }
    len = bench_workload_result(line, sizeof(line), o, &s);
    if (len < 0 || (size_t)len >= sizeof(line)) {
        (void)fprintf(stderr, "coordbench: RESULT line too long (--extra)\n");
        return 1;
    }
    (void)fputs(line, stdout);
    return fflush(stdout) == 0 ? 0 : 1;
}

/* The phases of o's workload; returns the exit code. A run cut off by the
 * guard ends the benchmark: its abandoned requests may still complete, and
 * must not be taken for the next run's. */
static int bench_main(struct bench *b)
{
    const struct bench_opts *o = b->o;

    run(b, PHASE_CONNECT, o->conns, o->conns);
    if (b->errors > 0) {
        (void)fprintf(stderr, "coordbench: %" PRIu64 " of %" PRIu64 " connections failed (%s)\n",
                      b->errors, o->conns, raft_err_str(b->first_error));
    }
    if (b->timed_out) {
        return 1;
    }
    if (o->kind != BENCH_WRITE) {
        run(b, PHASE_PRELOAD, o->nkeys, o->conc);
        if (b->timed_out || b->errors > 0) {
            (void)fprintf(stderr,
                          "coordbench: preload failed: %" PRIu64 " of %" PRIu64 " writes (%s)\n",
                          b->errors, o->nkeys, raft_err_str(b->first_error));
            return 1;
        }
    }
    run(b, PHASE_MEASURE, o->ops, o->conc);
    return report(b);
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    struct bench b;
    char err[256];
    int rv;

    rv = bench_workload_parse(argc - 1, argv + 1, &o, err, sizeof(err));
    if (rv != 0) {
        (void)fprintf(stderr, "coordbench: %s (try --help)\n", err);
        return 2;
    }
    if (o.help) {
        (void)fputs(bench_workload_usage(), stdout);
        return 0;
    }
    rv = setup(&b, &o);
    if (rv != 0) {
        (void)fprintf(stderr, "coordbench: setup: %s\n", raft_err_str(rv));
        teardown(&b);
        return 1;
    }
    rv = bench_main(&b);
    teardown(&b);
    return rv;
}
