/* SPDX-License-Identifier: MIT */
/* workload: the rules of coordbench, with no I/O, so they are unit-tested.
 * They follow the "Workload definition" of the peers benchmark
 * (shared/peers/README.md) that etcd and ZooKeeper were measured with:
 *   - keys: write op i creates /lgbench/w%010d of (key_offset + i); read and
 *     sread op i reads /lgbench/r%010d of (i mod nkeys);
 *   - the value of op i is vsize bytes, byte b = 'a' + ((i + b) mod 26);
 *   - percentiles by the nearest rank: p is the ceil(p/100 * n)-th smallest;
 *     latencies print as integer microseconds, rounded;
 *   - one RESULT line of key=value fields, the --extra text appended.
 * Changing any of these makes coord's figures incomparable with the peers'. */
#ifndef COORD_BENCH_WORKLOAD_H
#define COORD_BENCH_WORKLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BENCH_MAX_ENDPOINTS  64                  /* COORD_CLIENT_MAX_ENDPOINTS */
#define BENCH_MAX_OPS        ((uint64_t)1 << 30) /* ops of one run */
#define BENCH_MAX_VSIZE      ((uint64_t)1 << 20) /* bytes of a value */
#define BENCH_MAX_CONC       65536               /* outstanding requests */
#define BENCH_MAX_CONNS      1024                /* client connections */
#define BENCH_MAX_TIMEOUT_MS 3600000
#define BENCH_KEY_MAX        32 /* bytes of a key buffer: "/lgbench/w" + 20 digits + NUL */

enum bench_kind {
    BENCH_WRITE, /* create fresh keys w(key_offset + i) */
    BENCH_READ,  /* linearizable reads of r(i mod nkeys) */
    BENCH_SREAD, /* serializable reads, served by the node asked */
};

struct bench_opts {
    const char *endpoints;  /* "host:port,..." as given; view into argv */
    size_t n_endpoints;     /* 1..BENCH_MAX_ENDPOINTS */
    enum bench_kind kind;   /* --workload */
    uint64_t ops;           /* W: op indexes handed out, 1..BENCH_MAX_OPS */
    uint64_t vsize;         /* V: value bytes, 0..BENCH_MAX_VSIZE */
    uint64_t conc;          /* C: slots, 1..BENCH_MAX_CONC */
    uint64_t conns;         /* K: connections, 1..BENCH_MAX_CONNS; default n_endpoints */
    uint64_t nkeys;         /* R: read key set, >= 1 */
    uint64_t key_offset;    /* write: first key index */
    uint32_t op_timeout_ms; /* per request, 1..BENCH_MAX_TIMEOUT_MS */
    const char *extra;      /* appended to RESULT ("" when none); view into argv */
    bool help;              /* --help was given: print usage, run nothing */
};

/* Parse argv[0..argc) (the program name excluded) into o: `--name value` or
 * `--name=value`. On error a one-line reason goes to err. Errors:
 * RAFT_EINVAL (unknown option, missing or bad value, no --endpoints). */
int bench_workload_parse(int argc, char *const *argv, struct bench_opts *o, char *err,
                         size_t err_len);

/* The usage text (a static string). */
const char *bench_workload_usage(void);

/* The name of a workload: "write", "read", "sread". */
const char *bench_workload_name(enum bench_kind kind);

/* Write the key of index i for letter 'w' or 'r' into buf (BENCH_KEY_MAX
 * bytes). Returns its length. */
size_t bench_workload_key(char *buf, char letter, uint64_t i);

/* Fill buf (vsize bytes) with the value of op i. */
void bench_workload_value(uint8_t *buf, size_t vsize, uint64_t i);

/* Sort n latencies ascending, in place. */
void bench_workload_sort(uint64_t *v, size_t n);

/* The nearest-rank p-th percentile (1 <= p <= 100) of n sorted samples; 0
 * when n is 0. */
uint64_t bench_workload_percentile(const uint64_t *sorted, size_t n, unsigned p);

/* What one run measured. */
struct bench_stats {
    uint64_t n_ok;       /* successful ops: the latency samples */
    uint64_t errors;     /* ops that failed */
    uint64_t elapsed_ns; /* first issue to last completion */
    uint64_t p50_ns;
    uint64_t p90_ns;
    uint64_t p99_ns;
    uint64_t max_ns;
    double cpu_s; /* user + system CPU of the whole process */
};

/* Fill the percentile fields of s from n sorted samples (ns). */
void bench_workload_stats(const uint64_t *sorted, size_t n, struct bench_stats *s);

/* Write the RESULT line (newline included, NUL-terminated) into buf.
 * Returns the length it needs, as snprintf does. */
int bench_workload_result(char *buf, size_t len, const struct bench_opts *o,
                          const struct bench_stats *s);

#endif /* COORD_BENCH_WORKLOAD_H */
