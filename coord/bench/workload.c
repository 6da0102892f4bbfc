/* SPDX-License-Identifier: MIT */
/* workload: keys, values, percentiles, options and the RESULT line. */
#include "coord/bench/workload.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raft/base/assert.h"
#include "raft/base/err.h"

static const char usage[] =
    "usage: coordbench --endpoints HOST:PORT[,...] --workload write|read|sread [options]\n"
    "  --ops W            op indexes handed out (20000)\n"
    "  --vsize V          value bytes (256)\n"
    "  --conc C           slots, each with one request outstanding (64)\n"
    "  --conns K          connections; connection j goes to endpoint j mod N only\n"
    "                     (default: N, the number of endpoints)\n"
    "  --nkeys R          read/sread: keys written first, untimed, then read (1000)\n"
    "  --key-offset N     write: op i creates /lgbench/w%010d of N + i (0)\n"
    "  --op-timeout-ms T  per-request timeout (2000)\n"
    "  --extra 'k=v ...'  appended to the RESULT line\n"
    "  --help             this text\n"
    "Prints one line: RESULT system=coord nodes=N workload=... ops= conc= conns= vsize=\n"
    "errors= secs= ops_per_s= p50_us= p90_us= p99_us= max_us= client_cpu_s= [extra].\n"
    "The workload is the one of the peers benchmark (etcd, ZooKeeper).\n";

const char *bench_workload_usage(void)
{
    return usage;
}

const char *bench_workload_name(enum bench_kind kind)
{
    switch (kind) {
    case BENCH_WRITE:
        return "write";
    case BENCH_READ:
        return "read";
    case BENCH_SREAD:
        return "sread";
    }
    RAFT_UNREACHABLE();
}

/* Strict decimal in [min, max]. */
static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;

    if (*s == '\0') {
        return RAFT_EINVAL;
    }
    for (; *s != '\0'; s++) {
        uint64_t d = (uint64_t)(*s - '0');

        if (*s < '0' || *s > '9' || v > (UINT64_MAX - d) / 10) {
            return RAFT_EINVAL;
        }
        v = v * 10 + d;
    }
    if (v < min || v > max) {
        return RAFT_EINVAL;
    }
    *out = v;
    return 0;
}

/* Count the items of an endpoint list; 0 when an item is empty. */
static size_t count_endpoints(const char *s)
{
    size_t n = 1;
    size_t item = 0;

    for (; *s != '\0'; s++) {
        if (*s == ',') {
            if (item == 0) {
                return 0;
            }
            n++;
            item = 0;
        } else {
            item++;
        }
    }
    return item == 0 ? 0 : n;
}

/* The numeric options: name, bounds, where the value goes. */
struct num_opt {
    const char *name;
    uint64_t min;
    uint64_t max;
    size_t offset; /* of the uint64_t field in struct bench_opts */
};

static const struct num_opt num_opts[] = {
    {"ops", 1, BENCH_MAX_OPS, offsetof(struct bench_opts, ops)},
    {"vsize", 0, BENCH_MAX_VSIZE, offsetof(struct bench_opts, vsize)},
    {"conc", 1, BENCH_MAX_CONC, offsetof(struct bench_opts, conc)},
    {"conns", 1, BENCH_MAX_CONNS, offsetof(struct bench_opts, conns)},
    {"nkeys", 1, BENCH_MAX_OPS, offsetof(struct bench_opts, nkeys)},
    {"key-offset", 0, UINT64_MAX / 2, offsetof(struct bench_opts, key_offset)},
};

static int set_workload(struct bench_opts *o, const char *v)
{
    if (strcmp(v, "write") == 0) {
        o->kind = BENCH_WRITE;
    } else if (strcmp(v, "read") == 0) {
        o->kind = BENCH_READ;
    } else if (strcmp(v, "sread") == 0) {
        o->kind = BENCH_SREAD;
    } else {
        return RAFT_EINVAL;
    }
    return 0;
}

/* Apply option name (name_len bytes) with value v. */
static int set_opt(struct bench_opts *o, const char *name, size_t name_len, const char *v,
                   char *err, size_t err_len)
{
    uint64_t timeout = 0;
    size_t i;

#define IS(s) (name_len == strlen(s) && memcmp(name, s, name_len) == 0)
    for (i = 0; i < sizeof(num_opts) / sizeof(num_opts[0]); i++) {
        const struct num_opt *n = &num_opts[i];

        if (IS(n->name)) {
            if (parse_u64(v, n->min, n->max, (uint64_t *)((char *)o + n->offset)) != 0) {
                (void)snprintf(err, err_len,
                               "--%s wants a number from %" PRIu64 " to %" PRIu64 ", not '%s'",
                               n->name, n->min, n->max, v);
                return RAFT_EINVAL;
            }
            return 0;
        }
    }
    if (IS("endpoints")) {
        o->endpoints = v;
    } else if (IS("workload")) {
        if (set_workload(o, v) != 0) {
            (void)snprintf(err, err_len, "--workload is write, read or sread, not '%s'", v);
            return RAFT_EINVAL;
        }
    } else if (IS("extra")) {
        o->extra = v;
    } else if (IS("op-timeout-ms")) {
        if (parse_u64(v, 1, BENCH_MAX_TIMEOUT_MS, &timeout) != 0) {
            (void)snprintf(err, err_len, "--op-timeout-ms wants 1 to %d, not '%s'",
                           BENCH_MAX_TIMEOUT_MS, v);
            return RAFT_EINVAL;
        }
        o->op_timeout_ms = (uint32_t)timeout;
    } else {
        (void)snprintf(err, err_len, "unknown option --%.*s", (int)name_len, name);
        return RAFT_EINVAL;
    }
#undef IS
    return 0;
}

static void set_defaults(struct bench_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->kind = BENCH_WRITE;
    o->ops = 20000;
    o->vsize = 256;
    o->conc = 64;
    o->nkeys = 1000;
    o->op_timeout_ms = 2000;
    o->extra = "";
}

int bench_workload_parse(int argc, char *const *argv, struct bench_opts *o, char *err,
                         size_t err_len)
{
    int i;
    int rv;

    set_defaults(o);
    for (i = 0; i < argc; i++) {
        const char *arg = argv[i];
        const char *eq;
        const char *name;
        size_t name_len;

        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            o->help = true;
            return 0;
        }
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            (void)snprintf(err, err_len, "unexpected argument '%s'", arg);
            return RAFT_EINVAL;
        }
        name = arg + 2;
        eq = strchr(name, '=');
        name_len = eq != NULL ? (size_t)(eq - name) : strlen(name);
        if (eq == NULL && i + 1 >= argc) {
            (void)snprintf(err, err_len, "option --%s needs a value", name);
            return RAFT_EINVAL;
        }
        rv = set_opt(o, name, name_len, eq != NULL ? eq + 1 : argv[++i], err, err_len);
        if (rv != 0) {
            return rv;
        }
    }
    if (o->endpoints == NULL) {
        (void)snprintf(err, err_len, "--endpoints is required");
        return RAFT_EINVAL;
    }
    o->n_endpoints = count_endpoints(o->endpoints);
    if (o->n_endpoints == 0 || o->n_endpoints > BENCH_MAX_ENDPOINTS) {
        (void)snprintf(err, err_len, "--endpoints wants 1 to %d host:port items, not '%s'",
                       BENCH_MAX_ENDPOINTS, o->endpoints);
        return RAFT_EINVAL;
    }
    if (o->conns == 0) {
        o->conns = o->n_endpoints;
    }
    return 0;
}

size_t bench_workload_key(char *buf, char letter, uint64_t i)
{
    int n = snprintf(buf, BENCH_KEY_MAX, "/lgbench/%c%010" PRIu64, letter, i);

    RAFT_ASSERT(n > 0 && n < BENCH_KEY_MAX);
    return (size_t)n;
}

void bench_workload_value(uint8_t *buf, size_t vsize, uint64_t i)
{
    size_t b;
    unsigned start = (unsigned)(i % 26);

    for (b = 0; b < vsize; b++) {
        buf[b] = (uint8_t)('a' + (start + b % 26) % 26);
    }
}

static int cmp_u64(const void *pa, const void *pb)
{
    uint64_t a = *(const uint64_t *)pa;
    uint64_t b = *(const uint64_t *)pb;

    return a < b ? -1 : (a > b ? 1 : 0);
}

void bench_workload_sort(uint64_t *v, size_t n)
{
    if (n > 1) {
        qsort(v, n, sizeof(*v), cmp_u64);
    }
}

uint64_t bench_workload_percentile(const uint64_t *sorted, size_t n, unsigned p)
{
    size_t rank;

    RAFT_ASSERT(p >= 1 && p <= 100);
    if (n == 0) {
        return 0;
    }
    /* ceil(p * n / 100) in integers: exact, unlike the floating point. */
    rank = (p * n + 99) / 100;
    rank = rank < 1 ? 1 : rank;
    return sorted[rank - 1];
}

void bench_workload_stats(const uint64_t *sorted, size_t n, struct bench_stats *s)
{
    s->p50_ns = bench_workload_percentile(sorted, n, 50);
    s->p90_ns = bench_workload_percentile(sorted, n, 90);
    s->p99_ns = bench_workload_percentile(sorted, n, 99);
    s->max_ns = n > 0 ? sorted[n - 1] : 0;
}

/* ns to integer µs, rounded half up. */
static uint64_t us(uint64_t ns)
{
    return (ns + 500) / 1000;
}

int bench_workload_result(char *buf, size_t len, const struct bench_opts *o,
                          const struct bench_stats *s)
{
    double secs = (double)s->elapsed_ns / 1e9;
    double rate = secs > 0 ? (double)s->n_ok / secs : 0;

    return snprintf(buf, len,
                    "RESULT system=coord nodes=%zu workload=%s ops=%" PRIu64 " conc=%" PRIu64
                    " conns=%" PRIu64 " vsize=%" PRIu64 " errors=%" PRIu64
                    " secs=%.3f ops_per_s=%.0f p50_us=%" PRIu64 " p90_us=%" PRIu64
                    " p99_us=%" PRIu64 " max_us=%" PRIu64 " client_cpu_s=%.2f%s%s\n",
                    o->n_endpoints, bench_workload_name(o->kind), o->ops, o->conc, o->conns,
                    o->vsize, s->errors, secs, rate, us(s->p50_ns), us(s->p90_ns), us(s->p99_ns),
                    us(s->max_ns), s->cpu_s, o->extra[0] != '\0' ? " " : "", o->extra);
}
