/* SPDX-License-Identifier: MIT */
/* test_crash: the crash-point test of the storage layer. A scripted workload
 * (script.h) runs in a forked child against coord/storage/log.c and
 * coord/fsm.c; faultfs.h numbers every pwrite and fdatasync of the log, and
 * the child dies at point k, for each k, as a kill -9 or as a power loss
 * would leave it. The parent then reopens the log and the state machine and
 * checks: every entry reported durable is there, unchanged (or under the
 * recorded snapshot); nothing else is there but entries the workload wrote at
 * that index; the hard state kept every durable term and vote; and the state
 * machine, replayed from its applied index up to the commit index from the
 * reopened log, equals one built from scratch from the committed entries.
 * The log-writer thread (writer.h) gets the same treatment once, and a
 * log-only workload of batches that span pages is crashed at every point
 * by power losses that keep a random subset of the unflushed pages.
 *
 * LMDB does its own I/O, which faultfs cannot reach: under a power loss the
 * state machine is taken to survive whole, as under a kill. Its own
 * durability rests on the rule this test does check: the applied index is in
 * the same LMDB transaction as the data, and the log replays the rest.
 *
 * COORD_TEST_SEED=<n> runs one seed at every point (and the writer and
 * page-by-page tests from it); COORD_TEST_POINT=<k> narrows the first test
 * to point k (both crash modes), and the page-by-page test too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above. */
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "coord/fsm.h"
#include "coord/log.h"
#include "coord/storage/kvstore.h"
#include "coord/storage/log.h"
#include "coord/storage/writer.h"
#include "raft/base/alloc.h"
#include "raft/base/rand.h"
#include "tests/crash/faultfs.h"
#include "tests/crash/script.h"
#include "tests/lib/fsutil.h"

#define SEEDS_DEFAULT     3           /* seeds run without COORD_TEST_SEED */
#define SEED_BASE         20240611u   /* the first of them */
#define N_BATCHES         40          /* persist batches of the workload */
#define SAMPLE_POINTS     24          /* points per seed after the first (each in both modes) */
#define POINTS_MAX        5000u       /* bound on the points of one workload */
#define CHILD_ALARM_S     60          /* a child still running then is killed */
#define MSGS_MAX          200000u     /* messages read from one child */
#define SEGMENT_SIZE      8192u       /* bytes: small, so segments roll and get compacted */
#define MAX_ENTRY         4096u       /* bytes */
#define EVENT_WINDOW      16u         /* revisions: small, so events get compacted */
#define MAP_SIZE          (64u << 20) /* bytes of an LMDB map */
#define REFS_MAX          512u        /* reference dumps kept per seed */
#define PAGE_MAX          256u        /* keys or events per read while dumping */
#define PAGES_MAX         4096u       /* reads of one dump */
#define WHY_LEN           512u        /* bytes of a failure message */
#define PATH_LEN          256u        /* bytes of a path */
#define CHILD_EXIT_FAILED 3           /* the workload itself failed in the child */
#define WRITER_BATCHES    24          /* persist jobs of the writer workload */
#define WRITER_ROUND      6u          /* jobs submitted at once */
#define WRITER_SEEDS_MAX  100u        /* seeds tried for a writer script with all it needs */
#define WINDOW_SNAPS_MAX  16u         /* snapshots recorded by the ops of one crash window */
#define PAGES_BATCHES     16          /* persist batches of the page-by-page workload */
#define PAGES_BATCH_MAX   48u         /* commands per batch there: batches span pages */
#define PAGES_SEGMENT     (64u << 10) /* bytes: segments of many pages there */

static const char *const mode_names[] = {"count", "kill", "power"};

/* ---- files --------------------------------------------------------------------------------- */

static void join(char *out, const char *dir, const char *name)
{
    int n = snprintf(out, PATH_LEN, "%s/%s", dir, name);

    assert_true(n > 0 && (size_t)n < PATH_LEN);
}

/* ---- the log's lines ------------------------------------------------------------------------- */

/* Torn tails and partly persisted batches the reopened logs cut (coverage,
 * printed at the end), and the last ERROR line, for failure messages. Set
 * before any thread starts. */
static unsigned long n_torn_cut;
static unsigned long n_batch_cut;
static char last_error[WHY_LEN];

static void log_sink(void *arg, int level, const char *line)
{
    (void)arg;
    if (level == COORD_LOG_ERROR) {
        (void)snprintf(last_error, sizeof(last_error), "%s", line);
    } else if (strstr(line, "cutting torn tail") != NULL) {
        n_torn_cut++;
    } else if (strstr(line, "cutting partly persisted unflushed batch") != NULL) {
        n_batch_cut++;
    }
}

/* ---- the fixture ----------------------------------------------------------------------------- */

/* A reference state machine: the dump of entries 1..commit applied from
 * scratch. */
struct ref {
    raft_index commit;
    uint8_t *dump; /* malloc */
    size_t len;
};

struct wjob;

struct fixture {
    char root[PATH_LEN]; /* $TMPDIR/coord-crash-XXXXXX, /tmp without TMPDIR */
    char case_dir[PATH_LEN];
    char log_dir[PATH_LEN];
    char fsm_dir[PATH_LEN];
    char snap_path[PATH_LEN];
    char ref_dir[PATH_LEN];
    struct coord_log_opts log_opts; /* without hooks */
    struct coord_fsm_opts fsm_opts;
    struct script script;
    struct ref refs[REFS_MAX];
    size_t n_refs;
    struct wjob *jobs; /* the writer test's jobs (malloc) */
    size_t n_jobs;
    uint64_t n_cases; /* children verified */
    long live;        /* raft_alloc_live() at setup */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    const char *tmp = getenv("TMPDIR");

    assert_non_null(f);
    f->live = raft_alloc_live();
    (void)snprintf(f->root, sizeof(f->root), "%s/coord-crash-XXXXXX",
                   tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    assert_non_null(mkdtemp(f->root));
    join(f->case_dir, f->root, "case");
    join(f->log_dir, f->case_dir, "log");
    join(f->fsm_dir, f->case_dir, "fsm");
    join(f->snap_path, f->case_dir, "snap");
    join(f->ref_dir, f->root, "ref");
    coord_log_opts_default(&f->log_opts);
    f->log_opts.segment_size = SEGMENT_SIZE;
    f->log_opts.max_entry_size = MAX_ENTRY;
    coord_fsm_opts_default(&f->fsm_opts);
    f->fsm_opts.map_size = MAP_SIZE;
    f->fsm_opts.event_window = EVENT_WINDOW;
    coord_log_set_sink(log_sink, NULL);
    *state = f;
    return 0;
}

static void refs_free(struct fixture *f)
{
    size_t i;

    for (i = 0; i < f->n_refs; i++) {
        free(f->refs[i].dump);
    }
    f->n_refs = 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    long live = f->live;

    fsutil_rm_rf(f->root);
    refs_free(f);
    script_free(&f->script);
    free(f->jobs);
    coord_log_set_sink(NULL, NULL);
    free(f);
    assert_int_equal(raft_alloc_live(), live);
    return 0;
}

/* A fresh, empty directory for the next child. */
static void fresh_case(struct fixture *f)
{
    fsutil_rm_rf(f->case_dir);
    assert_int_equal(mkdir(f->case_dir, 0755), 0);
}

static uint64_t env_u64(const char *name, uint64_t def)
{
    const char *v = getenv(name);

    return v != NULL && v[0] != '\0' ? strtoull(v, NULL, 0) : def;
}

/* ---- failures -------------------------------------------------------------------------------- */

static bool failf(char *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Write the reason into why (WHY_LEN bytes); returns false for `return
 * failf(...)`. */
static bool failf(char *why, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(why, WHY_LEN, fmt, ap);
    va_end(ap);
    return false;
}

/* ---- what a child tells the parent ----------------------------------------------------------- */

enum msg_type {
    MSG_OP = 1,      /* ops [0, index) returned, ops [0, op) may have run */
    MSG_DURABLE = 2, /* after ops [0, op): entries up to index and (term, vote) durable */
    MSG_APPLIED = 3, /* the state machine applied up to index */
    MSG_POINTS = 4,  /* the run is over; index = the points it went through */
};

/* One message: 40 bytes, below PIPE_BUF, so each write is atomic. */
struct msg {
    uint64_t type; /* enum msg_type */
    uint64_t op;
    uint64_t index;
    uint64_t term;
    uint64_t vote;
};

/* Where a child crashes. */
struct crash_case {
    enum faultfs_mode mode;
    uint64_t point; /* 0: run to the end, count the points, then die */
    bool pages;     /* POWER: every file loses its unflushed writes page by page */
};

/* The child's end of the pipe. */
struct child {
    int fd;
    struct faultfs *fs;
    size_t op;    /* the op running */
    size_t n_ops; /* of the script */
};

static void send_msg(struct child *c, uint64_t type, uint64_t op, uint64_t index, uint64_t term,
                     uint64_t vote)
{
    struct msg m = {type, op, index, term, vote};

    if (write(c->fd, &m, sizeof(m)) != (ssize_t)sizeof(m)) {
        _exit(CHILD_EXIT_FAILED);
    }
}

/* What the parent heard from one child. */
struct heard {
    size_t lo_ops;     /* the last MSG_OP's index, 0 before */
    size_t hi_ops;     /* the last MSG_OP's op, 0 before */
    bool durable;      /* an MSG_DURABLE came */
    size_t durable_op; /* the last one's: */
    raft_index durable_index;
    raft_term durable_term;
    raft_id durable_vote;
    raft_index applied; /* the last MSG_APPLIED's index, 0 before */
    bool ended;         /* an MSG_POINTS came */
    uint64_t n_points;  /* its index */
    uint64_t extra;     /* its term: the writer's largest batch */
    size_t n_msgs;
};

static void heard_msg(struct heard *h, const struct msg *m)
{
    switch (m->type) {
    case MSG_OP:
        h->lo_ops = (size_t)m->index;
        h->hi_ops = (size_t)m->op;
        break;
    case MSG_DURABLE:
        h->durable = true;
        h->durable_op = (size_t)m->op;
        h->durable_index = m->index;
        h->durable_term = m->term;
        h->durable_vote = m->vote;
        break;
    case MSG_APPLIED:
        h->applied = m->index;
        break;
    case MSG_POINTS:
        h->ended = true;
        h->n_points = m->index;
        h->extra = m->term;
        break;
    default:
        fail_msg("unknown message type %" PRIu64, m->type);
    }
}

/* Read messages until the child closes the pipe (it dies), then reap it. */
static void hear(int fd, pid_t pid, struct heard *h, int *status)
{
    struct msg m;
    size_t got = 0;
    ssize_t n;

    memset(h, 0, sizeof(*h));
    while (h->n_msgs < MSGS_MAX) {
        n = read(fd, (uint8_t *)&m + got, sizeof(m) - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        assert_true(n >= 0);
        if (n == 0) {
            break;
        }
        got += (size_t)n;
        if (got == sizeof(m)) {
            heard_msg(h, &m);
            h->n_msgs++;
            got = 0;
        }
    }
    assert_int_equal(got, 0);
    close(fd);
    assert_int_equal(waitpid(pid, status, 0), pid);
}

/* Fork a child that runs body(f, arg, child) with its end of a pipe; the
 * child never returns. Reap it and fill *h; fail unless faultfs crashed it. */
static void fork_child(struct fixture *f,
                       void (*body)(struct fixture *, const struct crash_case *, struct child *),
                       const struct crash_case *cc, struct heard *h, const char *what)
{
    struct child c = {-1, NULL, 0, f->script.n_ops};
    int fds[2];
    int status;
    pid_t pid;

    fresh_case(f);
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        c.fd = fds[1];
        coord_log_set_sink(NULL, NULL); /* a child's errors go to stderr as they are */
        alarm(CHILD_ALARM_S);
        body(f, cc, &c);
        _exit(CHILD_EXIT_FAILED);
    }
    close(fds[1]);
    hear(fds[0], pid, h, &status);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != FAULTFS_EXIT_CRASHED) {
        fail_msg("%s: seed %" PRIu64 " point %" PRIu64 " mode %s: the child did not crash as "
                 "asked: %s %d",
                 what, f->script.seed, cc->point, mode_names[cc->mode],
                 WIFEXITED(status) ? "exit status" : "signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    }
    f->n_cases++;
}

/* ---- what must be on disk -------------------------------------------------------------------- */

/* The crash came while ops [lo_ops, hi_ops) may have been running: every op
 * before lo_ops returned, none from hi_ops on began. */
struct window {
    size_t lo_ops;
    size_t hi_ops;
    struct script_model lo; /* after ops [0, lo_ops) */
    struct script_model hi; /* after ops [0, hi_ops) */
    raft_index must;        /* entries up to here must be on disk: durable and never
                             * truncated by an op that may have run */
    /* The snapshots the log may hold: lo's, then each one an op of the
     * window recorded, with that op (SIZE_MAX for lo's). */
    struct raft_snapshot_meta snaps[WINDOW_SNAPS_MAX];
    size_t snap_ops[WINDOW_SNAPS_MAX];
    size_t n_snaps;
};

static void window_init(const struct script *s, size_t lo_ops, size_t hi_ops, struct window *w)
{
    size_t i;

    assert_true(lo_ops <= hi_ops && hi_ops <= s->n_ops);
    w->lo_ops = lo_ops;
    w->hi_ops = hi_ops;
    assert_int_equal(script_model_init(s, lo_ops, &w->lo), 0);
    assert_int_equal(script_model_init(s, lo_ops, &w->hi), 0);
    w->must = w->lo.durable;
    w->snaps[0] = w->lo.snap;
    w->snap_ops[0] = SIZE_MAX;
    w->n_snaps = 1;
    for (i = lo_ops; i < hi_ops; i++) {
        script_model_step(s, &s->ops[i], &w->hi);
        w->must = w->hi.durable < w->must ? w->hi.durable : w->must;
        if (s->ops[i].type == SCRIPT_SNAPSHOT || s->ops[i].type == SCRIPT_INSTALL) {
            assert_true(w->n_snaps < WINDOW_SNAPS_MAX);
            w->snaps[w->n_snaps] = w->hi.snap;
            w->snap_ops[w->n_snaps++] = i;
        }
    }
}

static void window_free(struct window *w)
{
    script_model_free(&w->lo);
    script_model_free(&w->hi);
}

/* What the child reported, read the way the durability contract does:
 * entries up to the last reported index stay, except those an op begun
 * since may have truncated (coord_log_truncate() is durable on return) or
 * dropped with the log for a snapshot (coord_log_install_snapshot()). */
static raft_index reported_must(const struct script *s, const struct heard *h,
                                const struct window *w)
{
    raft_index must;
    size_t i;

    if (!h->durable) {
        return 0;
    }
    must = h->durable_index;
    for (i = h->durable_op; i < w->hi_ops; i++) {
        if (s->ops[i].type == SCRIPT_TRUNCATE && s->ops[i].index - 1 < must) {
            must = s->ops[i].index - 1;
        }
        if (s->ops[i].type == SCRIPT_INSTALL && s->ops[i].meta.index < must) {
            must = s->ops[i].meta.index; /* the rest went with the log it dropped */
        }
    }
    return must;
}

static bool entry_eq(const struct raft_entry *a, const struct raft_entry *b)
{
    return a->term == b->term && a->index == b->index && a->type == b->type &&
           a->data.len == b->data.len &&
           (a->data.len == 0 || memcmp(a->data.base, b->data.base, a->data.len) == 0);
}

/* Is e one the workload left at its index: the one there before the window,
 * or one an op in the window appended? With the log holding snaps[k] of an
 * install, only those appended after it. */
static bool entry_allowed(const struct script *s, const struct window *w, size_t k,
                          const struct raft_entry *e)
{
    size_t from = w->lo_ops;
    const struct script_op *op;
    size_t i;

    if (w->snap_ops[k] != SIZE_MAX && s->ops[w->snap_ops[k]].type == SCRIPT_INSTALL) {
        from = w->snap_ops[k] + 1;
    } else if (e->index <= w->lo.last && entry_eq(e, script_model_entry(s, &w->lo, e->index))) {
        return true;
    }
    for (i = from; i < w->hi_ops; i++) {
        op = &s->ops[i];
        if (op->type == SCRIPT_APPEND && e->index >= op->index && e->index < op->index + op->n &&
            entry_eq(e, &s->pool[op->first + (e->index - op->index)])) {
            return true;
        }
    }
    return false;
}

static bool meta_eq(const struct raft_snapshot_meta *a, const struct raft_snapshot_meta *b)
{
    return a->index == b->index && a->term == b->term && raft_conf_equal(&a->conf, &b->conf);
}

/* The hard state: no durable term or vote lost, no vote invented. */
static bool check_hard_state(const struct window *w, const struct heard *h,
                             const struct coord_log_recovered *rec, raft_index last, char *why)
{
    if (h->durable && (h->durable_term != w->lo.d_term || h->durable_vote != w->lo.d_vote)) {
        return failf(why,
                     "harness: reported hard state (%" PRIu64 ", %" PRIu64
                     ") is not the model's (%" PRIu64 ", %" PRIu64 ")",
                     h->durable_term, h->durable_vote, w->lo.d_term, w->lo.d_vote);
    }
    if (rec->term < w->lo.d_term) {
        return failf(why, "durable term %" PRIu64 " lost: recovered term %" PRIu64, w->lo.d_term,
                     rec->term);
    }
    if (rec->term == w->lo.d_term && w->lo.d_vote != 0 && rec->vote != w->lo.d_vote) {
        return failf(why, "durable vote %" PRIu64 " in term %" PRIu64 " lost: recovered %" PRIu64,
                     w->lo.d_vote, rec->term, rec->vote);
    }
    if (rec->term > w->hi.term || (rec->vote != 0 && rec->vote != w->hi.votes[rec->term])) {
        return failf(why, "hard state (%" PRIu64 ", %" PRIu64 ") was never written", rec->term,
                     rec->vote);
    }
    if (rec->commit > last ||
        rec->commit > (w->hi.hs_commit_max > rec->snapshot.index ? w->hi.hs_commit_max
                                                                 : rec->snapshot.index)) {
        return failf(why,
                     "recovered commit %" PRIu64 " beyond the log (%" PRIu64
                     ") or any commit written (%" PRIu64 ")",
                     rec->commit, last, w->hi.hs_commit_max);
    }
    return true;
}

/* The reopened log against the window: snapshot, entries, hard state. */
static bool check_log(const struct script *s, const struct window *w, const struct heard *h,
                      const struct coord_log_recovered *rec, char *why)
{
    const struct raft_snapshot_meta *snap = &rec->snapshot;
    raft_index last = snap->index + rec->n_entries;
    const struct raft_entry *e;
    size_t k;
    size_t i;

    if (reported_must(s, h, w) != w->must) {
        return failf(why, "harness: durable reports say %" PRIu64 ", the model %" PRIu64,
                     reported_must(s, h, w), w->must);
    }
    for (k = 0; k < w->n_snaps && !meta_eq(snap, &w->snaps[k]); k++) {
    }
    if (k == w->n_snaps) {
        return failf(why, "snapshot meta (%" PRIu64 ", %" PRIu64 ") was never recorded",
                     snap->index, snap->term);
    }
    if (last < w->must) {
        return failf(why,
                     "log ends at %" PRIu64 " (snapshot %" PRIu64 " + %zu entries) but "
                     "entries up to %" PRIu64 " were reported durable",
                     last, snap->index, rec->n_entries, w->must);
    }
    for (i = 0; i < rec->n_entries; i++) {
        e = &rec->entries[i];
        if (e->index != snap->index + 1 + i || !entry_allowed(s, w, k, e)) {
            return failf(why,
                         "entry %" PRIu64 " (term %" PRIu64 ", type %u, %zu bytes) at position "
                         "%zu is not one the workload left there%s",
                         e->index, e->term, e->type, e->data.len, i,
                         e->index <= w->must ? " (it was durable)" : "");
        }
    }
    return check_hard_state(w, h, rec, last, why);
}

/* ---- state machine contents ------------------------------------------------------------------ */

/* A byte string holding everything a state machine shows. */
struct dump {
    uint8_t *base; /* malloc */
    size_t len;
    size_t cap;
};

static void dump_bytes(struct dump *d, const void *p, size_t n)
{
    size_t cap = d->cap == 0 ? 4096 : d->cap;

    while (d->len + n > cap) {
        cap *= 2;
    }
    if (cap != d->cap) {
        d->base = realloc(d->base, cap);
        assert_non_null(d->base);
        d->cap = cap;
    }
    if (n > 0) {
        memcpy(d->base + d->len, p, n);
    }
    d->len += n;
}

static void dump_u64(struct dump *d, uint64_t v)
{
    dump_bytes(d, &v, sizeof(v));
}

static void dump_buf(struct dump *d, const struct raft_buf *b)
{
    dump_u64(d, b->len);
    dump_bytes(d, b->base, b->len);
}

static void dump_kv(struct dump *d, const struct coord_kv *kv)
{
    dump_buf(d, &kv->key);
    dump_buf(d, &kv->value);
    dump_u64(d, kv->create_revision);
    dump_u64(d, kv->mod_revision);
    dump_u64(d, kv->version);
    dump_u64(d, kv->session);
}

static void dump_meta(struct dump *d, struct coord_fsm *fsm)
{
    struct raft_snapshot_meta meta;
    uint32_t i;

    dump_u64(d, coord_fsm_applied_index(fsm));
    dump_u64(d, coord_fsm_applied_term(fsm));
    dump_u64(d, coord_fsm_revision(fsm));
    dump_u64(d, coord_fsm_compact_revision(fsm));
    dump_u64(d, coord_fsm_cluster_id(fsm));
    coord_fsm_snapshot_meta(fsm, &meta);
    dump_u64(d, meta.conf.n);
    for (i = 0; i < meta.conf.n; i++) {
        dump_u64(d, meta.conf.servers[i].id);
        dump_u64(d, meta.conf.servers[i].role);
        dump_bytes(d, meta.conf.servers[i].address, strlen(meta.conf.servers[i].address));
    }
}

/* Every key, through coord_fsm_range(), a page at a time. */
static int dump_keys(struct dump *d, struct coord_fsm *fsm)
{
    uint8_t from[COORD_CMD_KEY_MAX + 1] = {0};
    uint8_t zero = 0;
    struct raft_buf key = {from, 1};
    struct raft_buf all = {&zero, 1};
    struct coord_fsm_read r;
    const struct coord_kv *kv;
    size_t page;
    size_t i;
    int rv;

    for (page = 0; page < PAGES_MAX; page++) {
        rv = coord_fsm_range(fsm, &key, &all, PAGE_MAX, &r);
        if (rv != 0) {
            return rv;
        }
        for (i = 0; i < r.n_kvs; i++) {
            dump_kv(d, &r.kvs[i]);
        }
        if (!r.more || r.n_kvs == 0) {
            coord_fsm_read_release(&r);
            return 0;
        }
        kv = &r.kvs[r.n_kvs - 1];
        assert_true(kv->key.len < COORD_CMD_KEY_MAX);
        memcpy(from, kv->key.base, kv->key.len);
        from[kv->key.len] = 0; /* the next key after it */
        key.len = kv->key.len + 1;
        coord_fsm_read_release(&r);
    }
    return RAFT_ETOOBIG;
}

/* Every event kept, through coord_fsm_events_read(), a page at a time. */
static int dump_events(struct dump *d, struct coord_fsm *fsm)
{
    uint64_t revision = coord_fsm_compact_revision(fsm) + 1;
    uint32_t sub = 0;
    struct coord_fsm_events ev;
    const struct coord_event *e;
    size_t page;
    size_t i;
    int rv;

    for (page = 0; page < PAGES_MAX; page++) {
        rv = coord_fsm_events_read(fsm, revision, sub, PAGE_MAX, &ev);
        if (rv != 0) {
            return rv;
        }
        for (i = 0; i < ev.n_events; i++) {
            e = &ev.events[i];
            dump_u64(d, e->revision);
            dump_u64(d, e->sub);
            dump_u64(d, e->type);
            dump_u64(d, e->prev_mod_revision);
            dump_kv(d, &e->kv);
        }
        if (!ev.more || ev.n_events == 0) {
            coord_fsm_events_release(&ev);
            return 0;
        }
        revision = ev.events[ev.n_events - 1].revision;
        sub = ev.events[ev.n_events - 1].sub + 1;
        coord_fsm_events_release(&ev);
    }
    return RAFT_ETOOBIG;
}

/* Every record of one named database. */
static int dump_db(struct dump *d, struct coord_kvstore_txn *txn, int db)
{
    struct coord_kvstore_cursor cur;
    struct raft_buf k;
    struct raft_buf v;
    int rv;

    dump_u64(d, (uint64_t)db);
    rv = coord_kvstore_cursor_open(txn, (enum coord_kvstore_db)db, &cur);
    if (rv != 0) {
        return rv;
    }
    for (rv = coord_kvstore_cursor_seek(&cur, NULL, &k, &v); rv == 0;
         rv = coord_kvstore_cursor_next(&cur, &k, &v)) {
        dump_buf(d, &k);
        dump_buf(d, &v);
    }
    coord_kvstore_cursor_close(&cur);
    return rv == RAFT_ENOTFOUND ? 0 : rv;
}

/* Every record of every named database of the (closed) store in dir. */
static int dump_raw(struct dump *d, const char *dir)
{
    struct coord_kvstore *ks;
    struct coord_kvstore_txn txn;
    int db;
    int rv;

    rv = coord_kvstore_open(dir, NULL, &ks);
    if (rv != 0) {
        return rv;
    }
    rv = coord_kvstore_txn_begin(ks, false, &txn);
    for (db = 0; rv == 0 && db < COORD_DB_N; db++) {
        rv = dump_db(d, &txn, db);
    }
    coord_kvstore_txn_abort(&txn);
    coord_kvstore_close(ks);
    return rv;
}

/* Dump the open state machine in dir through its read API, close it, and
 * add the raw contents of its store. */
static int dump_and_close(struct dump *d, struct coord_fsm *fsm, const char *dir)
{
    int rv;

    dump_meta(d, fsm);
    rv = dump_keys(d, fsm);
    if (rv == 0) {
        rv = dump_events(d, fsm);
    }
    coord_fsm_close(fsm);
    return rv != 0 ? rv : dump_raw(d, dir);
}

/* The dump of entries 1..commit of m applied from scratch, in a fresh
 * directory; kept per commit index. NULL after failf(why). */
static const struct ref *reference(struct fixture *f, const struct script_model *m,
                                   raft_index commit, char *why)
{
    struct coord_fsm *fsm;
    struct dump d = {NULL, 0, 0};
    struct ref *r;
    size_t i;
    int rv;

    for (i = 0; i < f->n_refs; i++) {
        if (f->refs[i].commit == commit) {
            return &f->refs[i];
        }
    }
    assert_true(f->n_refs < REFS_MAX);
    fsutil_rm_rf(f->ref_dir);
    assert_int_equal(coord_fsm_open(f->ref_dir, &f->fsm_opts, &fsm), 0);
    rv = script_apply(&f->script, m, fsm, 1, commit);
    if (rv == 0) {
        rv = dump_and_close(&d, fsm, f->ref_dir);
    } else {
        coord_fsm_close(fsm);
    }
    fsutil_rm_rf(f->ref_dir);
    if (rv != 0) {
        free(d.base);
        (void)failf(why, "the reference state machine up to %" PRIu64 " failed: %s", commit,
                    raft_err_name(rv));
        return NULL;
    }
    r = &f->refs[f->n_refs++];
    r->commit = commit;
    r->dump = d.base;
    r->len = d.len;
    return r;
}

/* Apply the recovered entries from..to (borrowed from rec) to fsm. */
static int replay(struct coord_fsm *fsm, const struct coord_log_recovered *rec, raft_index from,
                  raft_index to)
{
    struct coord_fsm_output out;
    size_t n;
    int rv;

    while (from <= to) {
        n = to - from + 1 < COORD_FSM_APPLY_MAX ? (size_t)(to - from + 1) : COORD_FSM_APPLY_MAX;
        rv = coord_fsm_apply(fsm, &rec->entries[from - rec->snapshot.index - 1], n, &out);
        if (rv != 0) {
            return rv;
        }
        coord_fsm_output_release(&out);
        from += n;
    }
    return 0;
}

static size_t first_difference(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    size_t i;

    for (i = 0; i < a_len && i < b_len && a[i] == b[i]; i++) {
    }
    return i;
}

/* The reopened state machine's applied index, then the replay into it of
 * the committed entries after it, from the reopened log. */
static bool check_applied(struct coord_fsm *fsm, const struct window *w, const struct heard *h,
                          const struct coord_log_recovered *rec, raft_index commit, char *why)
{
    raft_index last = rec->snapshot.index + rec->n_entries;
    raft_index applied = coord_fsm_applied_index(fsm);
    int rv;

    if (applied != h->applied || (applied != w->lo.applied && applied != w->hi.applied)) {
        return failf(why, "applied index %" PRIu64 ": the child reported %" PRIu64, applied,
                     h->applied);
    }
    if (applied > last || applied < rec->snapshot.index || commit > w->must) {
        return failf(why,
                     "applied index %" PRIu64 " outside the log [%" PRIu64 ", %" PRIu64
                     "], or commit %" PRIu64 " not durable",
                     applied, rec->snapshot.index, last, commit);
    }
    rv = replay(fsm, rec, applied + 1, commit);
    if (rv != 0) {
        return failf(why, "replay of %" PRIu64 "..%" PRIu64 " failed: %s", applied + 1, commit,
                     raft_err_name(rv));
    }
    return true;
}

/* The reopened state machine, brought up to the commit index, against one
 * built from scratch: every byte it shows must be equal. */
static bool check_fsm(struct fixture *f, const struct window *w, const struct heard *h,
                      const struct coord_log_recovered *rec, char *why)
{
    raft_index commit = w->lo.commit < w->hi.commit ? w->lo.commit : w->hi.commit;
    struct dump d = {NULL, 0, 0};
    const struct ref *ref;
    struct coord_fsm *fsm;
    raft_index applied;
    bool ok = true;
    int rv;

    rv = coord_fsm_open(f->fsm_dir, &f->fsm_opts, &fsm);
    if (rv != 0) {
        return failf(why, "state machine open failed: %s", raft_err_name(rv));
    }
    applied = coord_fsm_applied_index(fsm);
    if (!check_applied(fsm, w, h, rec, commit, why)) {
        coord_fsm_close(fsm);
        return false;
    }
    rv = dump_and_close(&d, fsm, f->fsm_dir);
    if (rv != 0) {
        free(d.base);
        return failf(why, "reading the state machine back failed: %s", raft_err_name(rv));
    }
    ref = reference(f, &w->hi, commit, why);
    if (ref == NULL) {
        ok = false;
    } else if (d.len != ref->len || memcmp(d.base, ref->dump, d.len) != 0) {
        ok = failf(why,
                   "state machine after replay to %" PRIu64 " (applied was %" PRIu64
                   ") differs from a replay from scratch: %zu vs %zu bytes, first "
                   "difference at byte %zu",
                   commit, applied, d.len, ref->len,
                   first_difference(d.base, d.len, ref->dump, ref->len));
    }
    free(d.base);
    return ok;
}

/* ---- the scripted workload, crashed at every point ------------------------------------------- */

static void on_op(void *arg, size_t op_no)
{
    struct child *c = arg;

    c->op = op_no;
    send_msg(c, MSG_OP, op_no < c->n_ops ? op_no + 1 : c->n_ops, op_no, 0, 0);
}

static void on_durable(void *arg, raft_index index, raft_term term, raft_id vote)
{
    struct child *c = arg;

    /* The sync is op c->op: the promise holds after ops [0, c->op + 1). */
    send_msg(c, MSG_DURABLE, c->op + 1, index, term, vote);
}

static void on_applied(void *arg, raft_index index)
{
    struct child *c = arg;

    send_msg(c, MSG_APPLIED, c->op, index, 0, 0);
}

/* The whole script ran: the crash after the last point. */
static void on_end(void *arg)
{
    struct child *c = arg;

    send_msg(c, MSG_POINTS, c->op, c->fs->n_points, 0, 0);
    faultfs_crash(c->fs);
}

static void script_child(struct fixture *f, const struct crash_case *cc, struct child *c)
{
    static struct faultfs fs; /* large; one per child process */
    struct coord_log_opts opts = f->log_opts;
    struct script_env env = {f->log_dir, f->fsm_dir, f->snap_path, &opts, &f->fsm_opts};
    struct script_report rep = {on_op, on_durable, on_applied, on_end, c};
    char err[WHY_LEN];

    faultfs_init(&fs, cc->point == 0 ? FAULTFS_COUNT : cc->mode, cc->point,
                 f->script.seed * 1000003u + cc->point);
    if (cc->pages) {
        fs.pages_pm = 1000;
    }
    faultfs_io(&fs, &opts.io);
    c->fs = &fs;
    (void)script_run(&f->script, &env, &rep, err, sizeof(err));
    /* Only a failure returns: the crash exits from a hook or from on_end. */
    (void)fprintf(stderr, "crash child: %s\n", err);
    _exit(CHILD_EXIT_FAILED);
}

/* Reopen what the child left and check all of it; with_fsm: the state
 * machine too. The window runs from what returned or was reported durable
 * to what may have begun. */
static bool verify(struct fixture *f, const struct heard *h, bool with_fsm, char *why)
{
    size_t lo_ops = h->durable && h->durable_op > h->lo_ops ? h->durable_op : h->lo_ops;
    struct coord_log_recovered rec;
    struct coord_log *log;
    struct window w;
    char err[WHY_LEN];
    bool ok;
    int rv;

    window_init(&f->script, lo_ops, h->hi_ops, &w);
    last_error[0] = '\0';
    rv = coord_log_open(f->log_dir, &f->log_opts, &log, &rec, err, sizeof(err));
    if (rv != 0) {
        window_free(&w);
        return failf(why, "log open failed: %s: %s", raft_err_name(rv), err);
    }
    ok = check_log(&f->script, &w, h, &rec, why) && (!with_fsm || check_fsm(f, &w, h, &rec, why));
    coord_log_close(log);
    coord_log_recovered_free(&rec);
    window_free(&w);
    return ok;
}

/* Crash a child at cc's point and verify (with_fsm: the state machine too);
 * returns the points of the run when it went to the end. */
static uint64_t crash_script(struct fixture *f, const struct crash_case *cc, bool with_fsm)
{
    char why[WHY_LEN];
    struct heard h;

    fork_child(f, script_child, cc, &h, "script");
    if (cc->point != 0 && h.ended) {
        fail_msg("seed %" PRIu64 " point %" PRIu64 ": the run ended before the point: the "
                 "workload is not deterministic",
                 f->script.seed, cc->point);
    }
    if (!verify(f, &h, with_fsm, why)) {
        fail_msg("seed %" PRIu64 " point %" PRIu64 " mode %s%s (op %zu of %zu): %s%s%s\n"
                 "reproduce: COORD_TEST_SEED=%" PRIu64 " COORD_TEST_POINT=%" PRIu64
                 " (point 0 is the dry run: crashed after the last point)",
                 f->script.seed, cc->point, mode_names[cc->mode], cc->pages ? " (pages)" : "",
                 h.lo_ops, f->script.n_ops, why, last_error[0] != '\0' ? "; log said: " : "",
                 last_error, f->script.seed, cc->point);
    }
    return h.n_points;
}

static size_t count_ops(const struct script *s, uint8_t type)
{
    size_t n = 0;
    size_t i;

    for (i = 0; i < s->n_ops; i++) {
        n += s->ops[i].type == type ? 1 : 0;
    }
    return n;
}

/* One seed: a dry run counts the N points, then crashes at the chosen ones
 * in both modes. all: every point; else n_sample drawn ones. */
static void run_seed(struct fixture *f, uint64_t seed, bool all, size_t n_sample, uint64_t only)
{
    struct crash_case cc = {FAULTFS_KILL, 0, false};
    struct raft_rand rand;
    uint64_t n_points;
    uint64_t k;
    size_t i;

    script_free(&f->script);
    refs_free(f);
    assert_int_equal(script_build(seed, N_BATCHES, SCRIPT_BATCH_MAX, false, &f->script), 0);
    n_points = crash_script(f, &cc, true);
    assert_true(n_points > 0 && n_points <= POINTS_MAX);
    raft_rand_seed(&rand, seed);
    for (i = 0; i < (all ? n_points : n_sample); i++) {
        k = all ? i + 1 : 1 + raft_rand_below(&rand, n_points);
        if (only != 0 && k != only) {
            continue;
        }
        cc.point = k;
        cc.mode = FAULTFS_KILL;
        (void)crash_script(f, &cc, true);
        cc.mode = FAULTFS_POWER;
        (void)crash_script(f, &cc, true);
    }
    print_message("seed %" PRIu64 ": %zu ops (%zu truncations, %zu snapshots, %zu compactions), "
                  "%zu entries, N = %" PRIu64 " points, %s\n",
                  seed, f->script.n_ops, count_ops(&f->script, SCRIPT_TRUNCATE),
                  count_ops(&f->script, SCRIPT_SNAPSHOT), count_ops(&f->script, SCRIPT_COMPACT),
                  f->script.n_pool, n_points, all ? "all crashed" : "sampled");
}

static void test_crash_script_every_point(void **state)
{
    struct fixture *f = *state;
    uint64_t seed = env_u64("COORD_TEST_SEED", 0);
    uint64_t only = env_u64("COORD_TEST_POINT", 0);
    uint64_t i;

    if (seed != 0) {
        run_seed(f, seed, true, 0, only);
    } else {
        for (i = 0; i < SEEDS_DEFAULT; i++) {
            run_seed(f, SEED_BASE + i, i == 0, SAMPLE_POINTS, only);
        }
    }
    print_message("%" PRIu64 " crashes verified, %lu torn tails and %lu partly persisted batches "
                  "cut on reopen\n",
                  f->n_cases, n_torn_cut, n_batch_cut);
}

/* A power loss may keep a later page of the batch written since the last
 * flush and lose an earlier one; open must then cut the log where the
 * damage begins (log.c, Recovery) and keep everything reported durable,
 * never refuse. Batches of up to PAGES_BATCH_MAX commands in segments of
 * many pages span pages; every point of a log-only script is crashed by a
 * power loss that goes page by page. Some crash must have left good records
 * after a lost page, or the case was never tried. */
static void test_crash_power_loss_keeps_later_pages(void **state)
{
    struct fixture *f = *state;
    struct crash_case cc = {FAULTFS_POWER, 0, true};
    uint64_t seed = env_u64("COORD_TEST_SEED", SEED_BASE);
    uint64_t only = env_u64("COORD_TEST_POINT", 0);
    unsigned long cut_before = n_batch_cut;
    uint64_t n_points;
    uint64_t k;

    f->log_opts.segment_size = PAGES_SEGMENT;
    assert_int_equal(script_build(seed, PAGES_BATCHES, PAGES_BATCH_MAX, true, &f->script), 0);
    cc.mode = FAULTFS_KILL;
    n_points = crash_script(f, &cc, false);
    assert_true(n_points > 0 && n_points <= POINTS_MAX);
    cc.mode = FAULTFS_POWER;
    for (k = 1; k <= n_points; k++) {
        if (only == 0 || k == only) {
            cc.point = k;
            (void)crash_script(f, &cc, false);
        }
    }
    print_message("pages: seed %" PRIu64 ", %zu entries in %zu batches, N = %" PRIu64
                  " points, every one a page-by-page power loss: %lu partly persisted batches "
                  "cut on reopen\n",
                  seed, f->script.n_pool, count_ops(&f->script, SCRIPT_SYNC), n_points,
                  n_batch_cut - cut_before);
    if (only == 0 && env_u64("COORD_TEST_SEED", 0) == 0) {
        assert_true(n_batch_cut > cut_before);
    }
}

/* ---- the log-writer thread ------------------------------------------------------------------- */

/* One persist job: the ops of one batch of a log-only script, up to and
 * including its sync. */
struct wjob {
    struct coord_persist p;
    size_t end_op;   /* ops [0, end_op) are this job and those before it */
    raft_index last; /* the log's last index after it */
    raft_term term;  /* the hard state after it */
    raft_id vote;
};

struct wrun {
    struct wjob *jobs; /* the fixture's */
    size_t n_jobs;
    size_t next;      /* first job not yet submitted */
    size_t n_waiting; /* submitted, not yet done */
    uv_loop_t loop;
    struct coord_writer *w;
    struct child *c;
    uint64_t max_batch; /* jobs in the largest group commit, read before closing */
};

/* Cut s into jobs: hard state, entries (a truncation is implied by the
 * first entry's index, as coord_persist says), sync. */
static void build_jobs(struct fixture *f)
{
    const struct script *s = &f->script;
    struct script_model m;
    struct wjob *j;
    size_t i;

    f->jobs = calloc(s->n_ops, sizeof(*f->jobs));
    assert_non_null(f->jobs);
    f->n_jobs = 0;
    assert_int_equal(script_model_init(s, 0, &m), 0);
    j = &f->jobs[0];
    for (i = 0; i < s->n_ops; i++) {
        const struct script_op *op = &s->ops[i];

        script_model_step(s, op, &m);
        if (op->type == SCRIPT_HARD_STATE) {
            j->p.has_hard_state = true;
            j->p.term = op->term;
            j->p.vote = op->vote;
            j->p.commit = op->index;
        } else if (op->type == SCRIPT_INSTALL) {
            j->p.snapshot = &op->meta;
        } else if (op->type == SCRIPT_APPEND) {
            assert_null(j->p.entries);
            j->p.entries = &s->pool[op->first];
            j->p.n_entries = op->n;
        } else if (op->type == SCRIPT_SYNC) {
            j->end_op = i + 1;
            j->last = m.last;
            j->term = m.term;
            j->vote = m.vote;
            j = &f->jobs[++f->n_jobs];
        }
    }
    script_model_free(&m);
}

static void submit_round(struct wrun *r)
{
    size_t n;

    for (n = 0; n < WRITER_ROUND && r->next < r->n_jobs; n++, r->next++) {
        /* Announced first: once submitted, the thread may write it. */
        send_msg(r->c, MSG_OP, r->jobs[r->next].end_op, 0, 0, 0); /* none returned */
        if (coord_writer_submit(r->w, &r->jobs[r->next].p, &r->jobs[r->next]) != 0) {
            _exit(CHILD_EXIT_FAILED);
        }
        r->n_waiting++;
    }
}

static void on_job_done(void *arg, void *job_arg, int status)
{
    struct wrun *r = arg;
    const struct wjob *j = job_arg;
    struct coord_writer_stats st;

    if (status != 0) {
        (void)fprintf(stderr, "crash child: writer job failed: %s\n", raft_err_name(status));
        _exit(CHILD_EXIT_FAILED);
    }
    send_msg(r->c, MSG_DURABLE, j->end_op, j->last, j->term, j->vote);
    if (--r->n_waiting > 0) {
        return;
    }
    if (r->next < r->n_jobs) {
        submit_round(r);
    } else {
        coord_writer_stats(r->w, &st);
        r->max_batch = st.max_batch;
        coord_writer_close(r->w, NULL, NULL);
    }
}

static void writer_child(struct fixture *f, const struct crash_case *cc, struct child *c)
{
    static struct faultfs fs;
    struct coord_log_opts opts = f->log_opts;
    struct coord_log_recovered rec;
    struct coord_log *log;
    struct wrun r;

    memset(&r, 0, sizeof(r));
    r.jobs = f->jobs;
    r.n_jobs = f->n_jobs;
    r.c = c;
    faultfs_init(&fs, cc->point == 0 ? FAULTFS_COUNT : cc->mode, cc->point,
                 f->script.seed * 1000003u + cc->point);
    faultfs_io(&fs, &opts.io);
    c->fs = &fs;
    if (uv_loop_init(&r.loop) != 0 || coord_log_open(f->log_dir, &opts, &log, &rec, NULL, 0) != 0) {
        _exit(CHILD_EXIT_FAILED);
    }
    coord_log_recovered_free(&rec);
    if (coord_writer_new(&r.loop, log, NULL, on_job_done, &r, &r.w) != 0) {
        _exit(CHILD_EXIT_FAILED);
    }
    submit_round(&r);
    (void)uv_run(&r.loop, UV_RUN_DEFAULT);
    send_msg(c, MSG_POINTS, f->script.n_ops, fs.n_points, r.max_batch, 0);
    faultfs_crash(&fs); /* the log is never closed */
}

static uint64_t crash_writer(struct fixture *f, const struct crash_case *cc, uint64_t *max_batch)
{
    char why[WHY_LEN];
    struct heard h;

    fork_child(f, writer_child, cc, &h, "writer");
    if (!verify(f, &h, false, why)) {
        fail_msg("writer: seed %" PRIu64 " point %" PRIu64 " mode %s: %s", f->script.seed,
                 cc->point, mode_names[cc->mode], why);
    }
    *max_batch = h.extra;
    return h.n_points;
}

/* Jobs go in rounds of WRITER_ROUND, so the thread takes several at once
 * (group commit) and a crash point falls inside such a batch. Batching
 * depends on thread timing, so N is the dry run's; a child that runs out of
 * points first dies at the end, which is checked all the same. */
static void test_crash_writer_group_commit(void **state)
{
    struct fixture *f = *state;
    struct crash_case cc = {FAULTFS_KILL, 0, false};
    uint64_t base = env_u64("COORD_TEST_SEED", SEED_BASE);
    uint64_t max_batch;
    uint64_t unused;
    uint64_t seed;
    uint64_t n_points;
    uint64_t k;

    /* The first seed from SEED_BASE (or COORD_TEST_SEED) on whose script
     * both truncates and installs a snapshot. */
    for (seed = base; seed < base + WRITER_SEEDS_MAX; seed++) {
        script_free(&f->script);
        assert_int_equal(script_build(seed, WRITER_BATCHES, SCRIPT_BATCH_MAX, true, &f->script), 0);
        if (count_ops(&f->script, SCRIPT_TRUNCATE) > 0 &&
            count_ops(&f->script, SCRIPT_INSTALL) > 0) {
            break;
        }
    }
    assert_true(seed < base + WRITER_SEEDS_MAX);
    build_jobs(f);
    n_points = crash_writer(f, &cc, &max_batch);
    assert_true(n_points > 0 && n_points <= POINTS_MAX);
    for (k = 1; k <= n_points; k++) {
        cc.point = k;
        cc.mode = FAULTFS_KILL;
        (void)crash_writer(f, &cc, &unused);
        cc.mode = FAULTFS_POWER;
        (void)crash_writer(f, &cc, &unused);
    }
    print_message("writer: seed %" PRIu64
                  ", %zu jobs (%zu truncations, %zu snapshots installed), largest group "
                  "commit %" PRIu64 " jobs (dry run), N = %" PRIu64 " points, every one crashed\n",
                  seed, count_ops(&f->script, SCRIPT_SYNC), count_ops(&f->script, SCRIPT_TRUNCATE),
                  count_ops(&f->script, SCRIPT_INSTALL), max_batch, n_points);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_crash_script_every_point, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_writer_group_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_power_loss_keeps_later_pages, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
