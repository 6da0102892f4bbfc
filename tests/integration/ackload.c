/* SPDX-License-Identifier: MIT */
/* ackload: the integration tests' write load and its check, over libcoord's
 * asynchronous API. `run` puts /ack/<seq> = <seq> with a fixed number of
 * writes outstanding and appends every acknowledged key to a file; `verify`
 * reads every key of such a file back. A write that fails with RAFT_ENOCONN
 * or RAFT_ETIMEDOUT has an unknown outcome: it is counted, never recorded.
 * Not a benchmark (coord/bench measures speed). */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "coord/client/client.h"
#include "raft/base/alloc.h"
#include "raft/base/err.h"

#define KEY_PREFIX      "/ack/"
#define KEY_LEN         32u        /* bytes of a key or value and its NUL */
#define MAX_OUTSTANDING 4096u      /* --inflight at most */
#define TICK_MS         50u        /* stop file, duration and progress checks */
#define REPORT_MS       1000u      /* progress lines on stderr */
#define BACKOFF_MS      20u        /* a failed write waits this long before the next */
#define RETRY_MS        100u       /* a failed read waits this long before it is retried */
#define VERIFY_TRIES    50u        /* reads of one key before it counts as unreadable */
#define DRAIN_GRACE_MS  5000u      /* after stopping: beyond the request timeout, then cancel */
#define MAX_KEYS        (1u << 24) /* keys of one verify file at most */

static void usage(void)
{
    (void)fprintf(stderr,
                  "usage: ackload run --endpoints E --out FILE [--inflight N] [--conns N]\n"
                  "                   [--duration-ms MS] [--stop-file PATH] [--start SEQ]\n"
                  "                   [--timeout-ms MS]\n"
                  "       ackload verify --endpoints E --in FILE [--pin] [--serializable]\n"
                  "                   [--inflight N] [--timeout-ms MS]\n"
                  "run: writes until the duration ends, the stop file exists or SIGTERM; each\n"
                  "acknowledged key is appended to FILE. verify: exit 0 iff every key of FILE\n"
                  "reads back with its value; lists the others.\n");
}

/* ---- options ---------------------------------------------------------------------------- */

struct opts {
    bool run;              /* run, else verify */
    const char *endpoints; /* "host:port,..." */
    const char *file;      /* --out (run) or --in (verify) */
    const char *stop_file; /* run: stop once it exists; NULL = none */
    uint64_t duration_ms;  /* run: 0 = until stopped */
    uint64_t start;        /* run: first sequence number */
    uint64_t inflight;     /* requests outstanding, 1..MAX_OUTSTANDING */
    uint64_t conns;        /* run: connections; 0 = one per endpoint */
    uint64_t timeout_ms;   /* per request */
    bool pin;              /* verify: stay on the first endpoint */
    bool serializable;     /* verify: serializable reads */
};

static int parse_u64(const char *name, const char *s, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-') {
        (void)fprintf(stderr, "ackload: %s needs a number, not '%s'\n", name, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* One "--name value" option. */
static int parse_valued(struct opts *o, const char *name, const char *value)
{
    if (strcmp(name, "--endpoints") == 0) {
        o->endpoints = value;
    } else if (strcmp(name, "--out") == 0 || strcmp(name, "--in") == 0) {
        o->file = value;
    } else if (strcmp(name, "--stop-file") == 0) {
        o->stop_file = value;
    } else if (strcmp(name, "--duration-ms") == 0) {
        return parse_u64(name, value, &o->duration_ms);
    } else if (strcmp(name, "--start") == 0) {
        return parse_u64(name, value, &o->start);
    } else if (strcmp(name, "--inflight") == 0) {
        return parse_u64(name, value, &o->inflight);
    } else if (strcmp(name, "--conns") == 0) {
        return parse_u64(name, value, &o->conns);
    } else if (strcmp(name, "--timeout-ms") == 0) {
        return parse_u64(name, value, &o->timeout_ms);
    } else {
        (void)fprintf(stderr, "ackload: unknown option '%s'\n", name);
        return -1;
    }
    return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
    int i;

    memset(o, 0, sizeof(*o));
    o->start = 1;
    o->timeout_ms = 2000;
    if (argc < 2 || (strcmp(argv[1], "run") != 0 && strcmp(argv[1], "verify") != 0)) {
        return -1;
    }
    o->run = strcmp(argv[1], "run") == 0;
    o->inflight = o->run ? 32 : 64;
    for (i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--pin") == 0) {
            o->pin = true;
        } else if (strcmp(argv[i], "--serializable") == 0) {
            o->serializable = true;
        } else if (i + 1 >= argc) {
            (void)fprintf(stderr, "ackload: '%s' needs a value\n", argv[i]);
            return -1;
        } else if (parse_valued(o, argv[i], argv[i + 1]) != 0) {
            return -1;
        } else {
            i++;
        }
    }
    if (o->endpoints == NULL || o->file == NULL) {
        (void)fprintf(stderr, "ackload: --endpoints and --%s are required\n",
                      o->run ? "out" : "in");
        return -1;
    }
    if (o->inflight < 1 || o->inflight > MAX_OUTSTANDING || o->conns > COORD_CLIENT_MAX_ENDPOINTS ||
        o->timeout_ms < 1 || o->timeout_ms > UINT32_MAX) {
        (void)fprintf(stderr, "ackload: --inflight 1..%u, --conns 0..%u, --timeout-ms 1.. please\n",
                      MAX_OUTSTANDING, COORD_CLIENT_MAX_ENDPOINTS);
        return -1;
    }
    return 0;
}

static size_t count_endpoints(const char *endpoints)
{
    size_t n = 1;

    for (; *endpoints != '\0'; endpoints++) {
        n += *endpoints == ',';
    }
    return n;
}

static bool is_unknown(int status)
{
    return status == RAFT_ENOCONN || status == RAFT_ETIMEDOUT || status == RAFT_ECANCELED;
}

/* ---- run ---------------------------------------------------------------------------------- */

struct load;

/* One write kept outstanding: re-issued with the next sequence number as
 * soon as the last one is answered (after BACKOFF_MS when it failed). */
struct slot {
    struct load *l;         /* owner */
    struct coord_client *c; /* borrowed from l->clients */
    uv_timer_t backoff;     /* armed after a failure */
    bool busy;              /* a put is outstanding */
    char key[KEY_LEN];      /* of the outstanding put */
    char value[KEY_LEN];    /* of the outstanding put */
};

struct load {
    const struct opts *o;
    uv_loop_t loop;
    uv_timer_t tick; /* every TICK_MS */
    uv_signal_t sigterm;
    uv_signal_t sigint;
    struct coord_client *clients[COORD_CLIENT_MAX_ENDPOINTS];
    size_t n_clients;
    struct slot *slots; /* owned, o->inflight of them */
    FILE *out;          /* the acknowledged keys */
    uint64_t next_seq;
    uint64_t start_ms; /* uv_now() at start */
    uint64_t stop_ms;  /* uv_now() when stopping began */
    uint64_t last_report_ms;
    uint64_t n_busy; /* puts outstanding */
    uint64_t acked;
    uint64_t unknown;      /* ENOCONN, ETIMEDOUT, ECANCELED */
    uint64_t failed;       /* any other error: not acknowledged either */
    uint64_t write_errors; /* of the output file */
    int last_err;          /* the last failure's code, for the report */
    bool stopping;
    bool closed;
};

static void issue(struct slot *s);
static void on_backoff(uv_timer_t *t);

static void report(const struct load *l, const char *what)
{
    (void)fprintf(stderr,
                  "ackload: %s acked=%" PRIu64 " unknown=%" PRIu64 " failed=%" PRIu64
                  " outstanding=%" PRIu64 " last_err=%s ms=%" PRIu64 "\n",
                  what, l->acked, l->unknown, l->failed, l->n_busy,
                  l->last_err != 0 ? raft_err_name(l->last_err) : "-",
                  uv_now(&l->loop) - l->start_ms);
}

static void close_all(struct load *l)
{
    size_t i;

    if (l->closed) {
        return;
    }
    l->closed = true;
    for (i = 0; i < l->n_clients; i++) {
        coord_client_close(l->clients[i], NULL, NULL);
    }
    for (i = 0; i < l->o->inflight; i++) {
        uv_close((uv_handle_t *)&l->slots[i].backoff, NULL);
    }
    uv_close((uv_handle_t *)&l->tick, NULL);
    uv_close((uv_handle_t *)&l->sigterm, NULL);
    uv_close((uv_handle_t *)&l->sigint, NULL);
}

static void begin_stop(struct load *l, const char *why)
{
    size_t i;

    if (l->stopping) {
        return;
    }
    l->stopping = true;
    l->stop_ms = uv_now(&l->loop);
    (void)fprintf(stderr, "ackload: stopping (%s)\n", why);
    for (i = 0; i < l->o->inflight; i++) {
        uv_timer_stop(&l->slots[i].backoff);
    }
    if (l->n_busy == 0) {
        close_all(l);
    }
}

static void record(struct load *l, const char *key)
{
    if (fprintf(l->out, "%s\n", key) < 0 || fflush(l->out) != 0) {
        l->write_errors++;
    }
}

static void on_put(void *arg, const struct coord_result *res)
{
    struct slot *s = arg;
    struct load *l = s->l;

    s->busy = false;
    l->n_busy--;
    if (res->status == 0) {
        l->acked++;
        record(l, s->key);
    } else {
        l->last_err = res->status;
        if (is_unknown(res->status)) {
            l->unknown++;
        } else {
            l->failed++;
        }
    }
    if (l->stopping) {
        if (l->n_busy == 0) {
            close_all(l);
        }
        return;
    }
    if (res->status == 0) {
        issue(s);
    } else {
        uv_timer_start(&s->backoff, on_backoff, BACKOFF_MS, 0);
    }
}

static void on_backoff(uv_timer_t *t)
{
    struct slot *s = t->data;

    if (!s->l->stopping) {
        issue(s);
    }
}

static void issue(struct slot *s)
{
    struct load *l = s->l;
    uint64_t seq = l->next_seq++;
    int rv;

    (void)snprintf(s->key, sizeof(s->key), KEY_PREFIX "%" PRIu64, seq);
    (void)snprintf(s->value, sizeof(s->value), "%" PRIu64, seq);
    rv = coord_client_put(s->c, s->key, strlen(s->key), s->value, strlen(s->value), 0, on_put, s);
    if (rv != 0) {
        l->failed++;
        l->last_err = rv;
        uv_timer_start(&s->backoff, on_backoff, BACKOFF_MS, 0);
        return;
    }
    s->busy = true;
    l->n_busy++;
}

static void on_tick(uv_timer_t *t)
{
    struct load *l = t->data;
    uint64_t now = uv_now(&l->loop);

    if (now - l->last_report_ms >= REPORT_MS) {
        l->last_report_ms = now;
        report(l, "progress");
    }
    if (l->stopping) {
        /* libcoord times requests out itself; this only bounds a bug. */
        if (now - l->stop_ms > l->o->timeout_ms + DRAIN_GRACE_MS) {
            (void)fprintf(stderr, "ackload: %" PRIu64 " writes unanswered; canceling\n", l->n_busy);
            close_all(l);
        }
        return;
    }
    if (l->o->duration_ms != 0 && now - l->start_ms >= l->o->duration_ms) {
        begin_stop(l, "duration");
    } else if (l->o->stop_file != NULL && access(l->o->stop_file, F_OK) == 0) {
        begin_stop(l, "stop file");
    }
}

static void on_signal(uv_signal_t *h, int signum)
{
    begin_stop(h->data, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* Clients, slots, timers and signals on l->loop. Returns 0 or -1 (reported). */
static int load_init(struct load *l, const struct opts *o)
{
    size_t n_endpoints = count_endpoints(o->endpoints);
    size_t i;
    int rv;

    l->o = o;
    l->next_seq = o->start;
    l->n_clients = o->conns != 0 ? o->conns : n_endpoints;
    if (l->n_clients > COORD_CLIENT_MAX_ENDPOINTS) {
        l->n_clients = COORD_CLIENT_MAX_ENDPOINTS;
    }
    for (i = 0; i < l->n_clients; i++) {
        struct coord_client_opts copts;

        coord_client_opts_default(&copts);
        copts.endpoints = o->endpoints;
        copts.first = (uint32_t)(i % n_endpoints);
        copts.timeout_ms = (uint32_t)o->timeout_ms;
        rv = coord_client_new(&l->loop, &copts, &l->clients[i]);
        if (rv != 0) {
            (void)fprintf(stderr, "ackload: client for '%s': %s\n", o->endpoints, raft_err_str(rv));
            l->n_clients = i; /* the ones to close */
            return -1;
        }
    }
    for (i = 0; i < o->inflight; i++) {
        struct slot *s = &l->slots[i];

        s->l = l;
        s->c = l->clients[i % l->n_clients];
        uv_timer_init(&l->loop, &s->backoff);
        s->backoff.data = s;
    }
    uv_timer_init(&l->loop, &l->tick);
    l->tick.data = l;
    uv_signal_init(&l->loop, &l->sigterm);
    l->sigterm.data = l;
    uv_signal_init(&l->loop, &l->sigint);
    l->sigint.data = l;
    return 0;
}

static int run_load(const struct opts *o)
{
    struct load l;
    size_t i;
    int rc = 1;

    memset(&l, 0, sizeof(l));
    l.out = fopen(o->file, "a");
    if (l.out == NULL) {
        (void)fprintf(stderr, "ackload: cannot open %s: %s\n", o->file, strerror(errno));
        goto err;
    }
    l.slots = raft_calloc(o->inflight, sizeof(*l.slots));
    if (l.slots == NULL || uv_loop_init(&l.loop) != 0) {
        (void)fprintf(stderr, "ackload: out of memory\n");
        goto err_after_open;
    }
    if (load_init(&l, o) != 0) {
        for (i = 0; i < l.n_clients; i++) {
            coord_client_close(l.clients[i], NULL, NULL);
        }
        uv_run(&l.loop, UV_RUN_DEFAULT);
        goto err_after_loop;
    }
    l.start_ms = l.last_report_ms = uv_now(&l.loop);
    uv_timer_start(&l.tick, on_tick, TICK_MS, TICK_MS);
    uv_signal_start(&l.sigterm, on_signal, SIGTERM);
    uv_signal_start(&l.sigint, on_signal, SIGINT);
    for (i = 0; i < o->inflight; i++) {
        issue(&l.slots[i]);
    }
    uv_run(&l.loop, UV_RUN_DEFAULT);
    report(&l, "done");
    (void)printf("acked=%" PRIu64 " unknown=%" PRIu64 " failed=%" PRIu64 " next_seq=%" PRIu64 "\n",
                 l.acked, l.unknown, l.failed, l.next_seq);
    rc = 0;
    if (l.write_errors != 0) {
        (void)fprintf(stderr, "ackload: %" PRIu64 " keys not written to %s\n", l.write_errors,
                      o->file);
        rc = 1;
    }
err_after_loop:
    if (uv_loop_close(&l.loop) != 0) {
        (void)fprintf(stderr, "ackload: loop not closed cleanly\n");
        rc = 1;
    }
err_after_open:
    raft_free(l.slots);
    if (fclose(l.out) != 0) {
        rc = 1;
    }
err:
    return rc;
}

/* ---- verify ------------------------------------------------------------------------------- */

struct verify;

/* One read kept outstanding: the next unread key after each answer. */
struct reader {
    struct verify *v; /* owner */
    uv_timer_t retry; /* armed after a failed read */
    size_t idx;       /* the key being read */
    unsigned tries;   /* failed reads of it */
    bool give_up;     /* tries used up: counted unreadable by on_retry() */
    bool active;      /* has a key */
};

struct verify {
    const struct opts *o;
    uv_loop_t loop;
    struct coord_client *client;
    char **keys; /* owned, n_keys of them, each owned */
    size_t n_keys;
    size_t next;            /* the next key to hand out */
    struct reader *readers; /* owned, o->inflight of them */
    size_t n_active;
    uint64_t present;
    uint64_t missing;
    uint64_t wrong;
    uint64_t unreadable;
};

static void verify_next(struct reader *r);
static void on_retry(uv_timer_t *t);

/* The value ackload run wrote for key: what follows the last '/'. */
static const char *expected_value(const char *key)
{
    const char *slash = strrchr(key, '/');

    return slash != NULL ? slash + 1 : key;
}

static void verify_finish(struct verify *v)
{
    size_t i;

    coord_client_close(v->client, NULL, NULL);
    for (i = 0; i < v->o->inflight; i++) {
        uv_close((uv_handle_t *)&v->readers[i].retry, NULL);
    }
}

static void judge(struct verify *v, const char *key, const struct coord_result *res)
{
    const char *want = expected_value(key);
    const struct coord_client_kv *kv = res->n_kvs > 0 ? &res->kvs[0] : NULL;

    if (kv == NULL) {
        v->missing++;
        (void)printf("missing %s\n", key);
    } else if (kv->key_len != strlen(key) || memcmp(kv->key, key, kv->key_len) != 0 ||
               kv->value_len != strlen(want) || memcmp(kv->value, want, kv->value_len) != 0) {
        v->wrong++;
        (void)printf("wrong %s value=%.*s\n", key, (int)(kv->value_len < 64 ? kv->value_len : 64),
                     (const char *)kv->value);
    } else {
        v->present++;
    }
}

/* A failed read: retried after RETRY_MS, VERIFY_TRIES times in all, then
 * given up (by on_retry(), so that no call chain here leads back to
 * read_key()). */
static void read_failed(struct reader *r, int err, const char *detail)
{
    if (++r->tries >= VERIFY_TRIES) {
        r->give_up = true;
        (void)printf("unreadable %s err=%s detail=\"%s\"\n", r->v->keys[r->idx], raft_err_name(err),
                     detail);
    }
    uv_timer_start(&r->retry, on_retry, r->give_up ? 0 : RETRY_MS, 0);
}

static void on_get(void *arg, const struct coord_result *res)
{
    struct reader *r = arg;

    if (res->status != 0) {
        read_failed(r, res->status, res->message);
        return;
    }
    judge(r->v, r->v->keys[r->idx], res);
    verify_next(r);
}

static void read_key(struct reader *r)
{
    struct verify *v = r->v;
    const char *key = v->keys[r->idx];
    unsigned flags = v->o->serializable ? COORD_SERIALIZABLE : 0;
    int rv = coord_client_get(v->client, key, strlen(key), flags, on_get, r);

    if (rv != 0) {
        read_failed(r, rv, "refused by libcoord");
    }
}

static void on_retry(uv_timer_t *t)
{
    struct reader *r = t->data;

    if (r->give_up) {
        r->v->unreadable++;
        verify_next(r);
    } else {
        read_key(r);
    }
}

/* Give r the next key, or retire it (closing everything after the last). */
static void verify_next(struct reader *r)
{
    struct verify *v = r->v;

    if (v->next < v->n_keys) {
        r->idx = v->next++;
        r->tries = 0;
        r->give_up = false;
        read_key(r);
        return;
    }
    if (r->active) {
        r->active = false;
        if (--v->n_active == 0) {
            verify_finish(v);
        }
    }
}

/* Read the keys of path, one a line, into v->keys. Returns 0 or -1 (reported). */
static int load_keys(struct verify *v, const char *path)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    size_t n_alloc = 0;
    ssize_t len;
    int rc = -1;

    if (f == NULL) {
        (void)fprintf(stderr, "ackload: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    while ((len = getline(&line, &cap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) {
            line[--len] = '\0';
        }
        if (len == 0) {
            continue;
        }
        if (v->n_keys == n_alloc) {
            size_t n_new = n_alloc == 0 ? 1024 : n_alloc * 2;
            char **keys = n_new <= MAX_KEYS ? raft_realloc(v->keys, n_new * sizeof(*keys)) : NULL;

            if (keys == NULL) {
                (void)fprintf(stderr, "ackload: %s: too many keys or out of memory\n", path);
                goto out;
            }
            v->keys = keys;
            n_alloc = n_new;
        }
        v->keys[v->n_keys] = raft_memdup(line, (size_t)len + 1);
        if (v->keys[v->n_keys] == NULL) {
            (void)fprintf(stderr, "ackload: out of memory\n");
            goto out;
        }
        v->n_keys++;
    }
    rc = 0;
out:
    free(line); /* getline's buffer comes from malloc */
    (void)fclose(f);
    return rc;
}

static void free_keys(struct verify *v)
{
    size_t i;

    for (i = 0; i < v->n_keys; i++) {
        raft_free(v->keys[i]);
    }
    raft_free(v->keys);
}

/* Client and readers on v->loop. Returns 0 or -1 (reported). */
static int verify_init(struct verify *v, const struct opts *o)
{
    struct coord_client_opts copts;
    size_t i;
    int rv;

    coord_client_opts_default(&copts);
    copts.endpoints = o->endpoints;
    copts.pin = o->pin;
    copts.timeout_ms = (uint32_t)o->timeout_ms;
    rv = coord_client_new(&v->loop, &copts, &v->client);
    if (rv != 0) {
        (void)fprintf(stderr, "ackload: client for '%s': %s\n", o->endpoints, raft_err_str(rv));
        return -1;
    }
    for (i = 0; i < o->inflight; i++) {
        struct reader *r = &v->readers[i];

        r->v = v;
        uv_timer_init(&v->loop, &r->retry);
        r->retry.data = r;
    }
    return 0;
}

static int run_verify(const struct opts *o)
{
    struct verify v;
    size_t i;
    int rc = 1;

    memset(&v, 0, sizeof(v));
    v.o = o;
    if (load_keys(&v, o->file) != 0) {
        goto err_after_keys;
    }
    v.readers = raft_calloc(o->inflight, sizeof(*v.readers));
    if (v.readers == NULL || uv_loop_init(&v.loop) != 0) {
        (void)fprintf(stderr, "ackload: out of memory\n");
        goto err_after_keys;
    }
    if (verify_init(&v, o) != 0) {
        goto err_after_loop;
    }
    for (i = 0; i < o->inflight; i++) {
        v.readers[i].active = true;
    }
    v.n_active = o->inflight;
    for (i = 0; i < o->inflight; i++) {
        verify_next(&v.readers[i]);
    }
    uv_run(&v.loop, UV_RUN_DEFAULT);
    (void)printf("verified keys=%zu present=%" PRIu64 " missing=%" PRIu64 " wrong=%" PRIu64
                 " unreadable=%" PRIu64 " endpoints=%s%s\n",
                 v.n_keys, v.present, v.missing, v.wrong, v.unreadable, o->endpoints,
                 o->serializable ? " serializable" : "");
    rc = v.present == v.n_keys ? 0 : 1;
err_after_loop:
    if (uv_loop_close(&v.loop) != 0) {
        (void)fprintf(stderr, "ackload: loop not closed cleanly\n");
        rc = 1;
    }
err_after_keys:
    raft_free(v.readers);
    free_keys(&v);
    return rc;
}

int main(int argc, char **argv)
{
    struct opts o;
    struct sigaction sa;

    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage();
        return 0;
    }
    if (parse_opts(argc, argv, &o) != 0) {
        usage();
        return 2;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    (void)sigaction(SIGPIPE, &sa, NULL);
    (void)setvbuf(stdout, NULL, _IOLBF, 0);
    return o.run ? run_load(&o) : run_verify(&o);
}
