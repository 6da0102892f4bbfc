/* SPDX-License-Identifier: MIT */
/* node: one coordd node. The libuv loop thread owns the Raft core, the peer
 * transport, every waiting request and the timers; the log-writer thread
 * (coord/storage/writer.c) owns the log files; the apply thread (below) owns
 * LMDB write transactions. This file is the shell of STYLE.md section 5.
 *
 * Design notes
 * ============
 *
 * 1. One step, one update, carried out in raft.h's order (carry_out()):
 *    messages now; then one writer job with everything to persist and the
 *    messages to send after it; committed entries to the apply queue; read
 *    answers; the timer. Nothing in carry_out() calls a request callback:
 *    completions are queued (done list) and run from drain(), which every
 *    libuv entry point calls last, so no callback ever runs inside a step
 *    and a callback may call any coord_node_* function.
 * 2. Writer jobs complete in order (writer.h). On completion: msgs_after are
 *    sent, RAFT_EV_PERSISTED is fed, and a received snapshot, now recorded by
 *    the log, is queued for installation into LMDB. A writer error is fatal
 *    (DESIGN: a failed fsync is never retried): the node logs it and stops.
 * 3. The apply thread takes jobs in order: APPLY (consecutive ones merged
 *    into one LMDB transaction, up to COORD_FSM_APPLY_MAX entries), SNAPSHOT
 *    (coord_fsm_snapshot into snap/, then renamed to its index) and INSTALL.
 *    Results come back in order through an async handle; an APPLY run's
 *    results come back before its commit, which is published after it
 *    (struct published), and runs share one commit for up to
 *    COMMIT_DELAY_MS unless a read waits (why that is safe: thread_apply()).
 * 4. Snapshot files: snap/snapshot-<index>.mdb, one per index. The file of
 *    the log's recorded snapshot is kept until a newer one is recorded.
 *    Received snapshots are renamed there before the core sees them, so
 *    when the log records an installed snapshot the file is already durable:
 *    a crash between the log's install and LMDB's is repaired at start
 *    (open_state(): LMDB behind the log's snapshot installs that file).
 * 5. Requests wait in three lists: proposals sorted by index (queued ones,
 *    index 0, in the submit list until flush()), reads, and conf/transfer.
 *    A proposal is answered when its entry's result is computed: with the
 *    result when the entry has the proposal's term, RAFT_EDROPPED otherwise.
 *    Reads wait for the applied (committed) index: linearizable ones for
 *    their read index, serializable ones for the last result computed.
 *    Every request has a deadline checked by the housekeeping timer.
 * 6. Proposals and reads of one loop iteration are flushed as one SUBMIT and
 *    one READ_INDEX in the check phase; an idle handle keeps the loop from
 *    blocking while anything is queued.
 */
#include "coord/node.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "coord/log.h"
#include "coord/storage/log.h"
#include "coord/storage/writer.h"
#include "coord/transport.h"
#include "raft/base/alloc.h"
#include "raft/base/assert.h"

typedef unsigned long long ull;

#define DIR_LEN           (COORD_CONFIG_STR_MAX + 16)
#define PATH_LEN          (DIR_LEN + 64)
#define HOUSEKEEPING_MS   50u
#define COMMIT_DELAY_MS   10u /* applied runs share one LMDB commit this long: thread_apply() */
#define SNAP_PREFIX       "snapshot-"
#define SNAP_SUFFIX       ".mdb"
#define MAX_SENT_FAILURES RAFT_MAX_SERVERS

/* ---- requests ------------------------------------------------------------------------- */

enum req_kind { REQ_PROPOSE = 1, REQ_READ = 2, REQ_CONF = 3, REQ_TRANSFER = 4 };

enum req_state {
    RS_QUEUED = 1, /* propose / read: waiting for flush() */
    RS_INDEX = 2,  /* read: waiting for its ReadIndex round */
    RS_WAIT = 3,   /* index known: waiting for apply */
    RS_DONE = 4,   /* result set, in the done list */
};

struct req {
    struct req *prev;
    struct req *next;
    uint8_t kind;  /* enum req_kind */
    uint8_t state; /* enum req_state */
    bool linearizable;
    raft_index index;  /* entry index, or the read index */
    raft_term term;    /* propose, conf: the term the entry was appended in */
    uint64_t round;    /* read: the READ_INDEX id it waits for */
    uint64_t deadline; /* uv_now() ms */
    size_t off;        /* queued propose: where its bytes start in submit_buf */
    size_t len;
    int status; /* RS_DONE: the outcome */
    const char *message;
    raft_id leader;
    coord_node_cb cb;
    void *arg;
};

struct req_list {
    struct req *head;
    struct req *tail;
    size_t n;
};

/* ---- jobs ------------------------------------------------------------------------------ */

/* One writer job's loop-side half: what to do once it is durable. */
struct persist_job {
    struct raft_msg *msgs_after; /* owned copies (no entries: asserted) */
    size_t n_msgs_after;
    raft_index persisted_index; /* 0: nothing to report */
    raft_term persisted_term;
    bool installed;                 /* it recorded a received snapshot */
    struct raft_snapshot_meta meta; /* installed or taken snapshot */
    bool taken;
};

enum apply_type { AJ_APPLY = 1, AJ_SNAPSHOT = 2, AJ_INSTALL = 3, AJ_STOP = 4 };

/* One apply-thread job. Owned by the queue it is in: submitted (loop ->
 * thread) then done (thread -> loop); the loop frees it. */
struct apply_job {
    struct apply_job *next;
    uint8_t type;               /* enum apply_type */
    struct raft_entry *entries; /* AJ_APPLY: one block with their data */
    size_t n_entries;
    char path[PATH_LEN]; /* AJ_INSTALL: the file; AJ_SNAPSHOT: the snap dir */
    uint64_t queued_ms;  /* AJ_SNAPSHOT: uv_now() when queued, for the log */
    /* Filled by the thread: */
    int status;
    bool has_output; /* AJ_APPLY: out holds this and earlier merged jobs */
    struct coord_fsm_output out;
    struct raft_snapshot_meta meta; /* AJ_SNAPSHOT: what the snapshot covers */
    raft_index applied;
    raft_term applied_term;
    uint64_t revision;
};

struct apply_queue {
    struct apply_job *head;
    struct apply_job *tail;
};

/* The state machine's committed state, as the apply thread last saw it. A
 * batch's results reach the loop (in its job) before its commit does (here):
 * see "Answers before the commit" in thread_apply(). */
struct published {
    raft_index applied;
    raft_term applied_term;
    uint64_t revision;
    int status; /* the first apply failure, sticky */
};

struct coord_node {
    uv_loop_t *loop;
    struct coord_config cfg;
    uint64_t cluster_id;
    char log_dir[DIR_LEN];
    char lmdb_dir[DIR_LEN];
    char snap_dir[DIR_LEN];

    struct raft *raft;
    struct coord_log *log;
    struct coord_writer *writer;
    struct coord_fsm *fsm;
    struct coord_transport *transport;

    uv_timer_t raft_timer;
    uv_timer_t house_timer;
    uv_check_t flush_check;
    uv_idle_t flush_idle;
    uv_async_t apply_async;
    int n_handles; /* open handles, for close */

    /* The apply thread. */
    uv_thread_t apply_thread;
    bool apply_started;
    uv_mutex_t mu;  /* guards submitted, done_jobs, pub */
    uv_cond_t cond; /* signalled on submitted */
    struct apply_queue submitted;
    struct apply_queue done_jobs;
    struct published pub; /* what the state machine holds: set by the thread */
    struct raft_entry apply_batch[COORD_FSM_APPLY_MAX]; /* the apply thread's alone */
    raft_index commit_wanted; /* under mu: a read waits for this index to be applied */
    raft_index wanted;        /* loop: the last commit_wanted it set */
    /* The apply thread's alone: */
    int apply_failed;           /* the first failure; applies stop */
    bool apply_pending;         /* batches applied, not yet committed */
    uint64_t commit_by_ns;      /* uv_hrtime() by which the pending batches commit */
    uv_thread_t snap_thread;    /* copies a snapshot while applies go on */
    bool snap_running;          /* snap_thread was started and not joined */
    struct apply_job *snap_job; /* the snapshot thread's until it hands it over */
    bool installing;            /* loop: an AJ_INSTALL is queued or running */
    bool snapshotting;          /* loop: an AJ_SNAPSHOT is queued or running */

    /* The state machine as the loop knows it. */
    raft_index computed; /* results known up to here; committed up to applied */
    raft_index applied;
    raft_term applied_term;
    uint64_t revision;
    int apply_error; /* sticky: the state machine stopped (RAFT_ENOSPC...) */
    int storage_error;

    /* Snapshots. */
    raft_index snap_index; /* of the file snap/snapshot-<index>.mdb we serve */

    /* Requests. */
    struct req_list props;   /* sorted by index */
    struct req_list submits; /* queued proposals, in order */
    struct req_list reads;
    struct req_list others; /* conf changes, transfers */
    struct req_list done;
    struct req *free_reqs;
    size_t n_free;
    uint8_t *submit_buf;
    struct raft_buf submit_views[COORD_NODE_MAX_PENDING]; /* flush_submits' scratch */
    size_t submit_len;
    size_t submit_cap;
    uint64_t read_round;
    bool draining;

    raft_id sent_fail[MAX_SENT_FAILURES]; /* snapshot sends to report failed */
    size_t n_sent_fail;

    struct raft_conf book; /* the peers last given to the transport */
    bool member;           /* this node is in the configuration in force */
    enum raft_role role;
    raft_id leader;
    raft_term term;
    bool taking; /* during the SNAPSHOT_TAKEN step: record the core's new snapshot */
    bool closing;
    bool fatal;
    coord_node_fatal_cb fatal_cb;
    void *fatal_arg;
    coord_node_close_cb close_cb;
    void *close_arg;
};

/* ---- small helpers ---------------------------------------------------------------------- */

static void list_push(struct req_list *l, struct req *r)
{
    r->next = NULL;
    r->prev = l->tail;
    if (l->tail != NULL) {
        l->tail->next = r;
    } else {
        l->head = r;
    }
    l->tail = r;
    l->n++;
}

static void list_unlink(struct req_list *l, struct req *r)
{
    if (r->prev != NULL) {
        r->prev->next = r->next;
    } else {
        l->head = r->next;
    }
    if (r->next != NULL) {
        r->next->prev = r->prev;
    } else {
        l->tail = r->prev;
    }
    r->prev = r->next = NULL;
    RAFT_ASSERT(l->n > 0);
    l->n--;
}

/* Insert r into props keeping it sorted by index (ties: arrival order). */
static void props_insert(struct coord_node *n, struct req *r)
{
    struct req *at = n->props.tail;

    if (at == NULL || at->index <= r->index) {
        list_push(&n->props, r);
        return;
    }
    while (at != NULL && at->index > r->index) {
        at = at->prev;
    }
    r->prev = at;
    r->next = at != NULL ? at->next : n->props.head;
    if (at != NULL) {
        at->next = r;
    } else {
        n->props.head = r;
    }
    r->next->prev = r;
    n->props.n++;
}

static struct req *req_new(struct coord_node *n, uint8_t kind, uint32_t timeout_ms,
                           coord_node_cb cb, void *arg)
{
    struct req *r = n->free_reqs;

    if (r != NULL) {
        n->free_reqs = r->next;
        n->n_free--;
    } else {
        r = raft_malloc(sizeof *r);
        if (r == NULL) {
            return NULL;
        }
    }
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->deadline = uv_now(n->loop) + (timeout_ms != 0 ? timeout_ms : n->cfg.request_timeout_ms);
    r->cb = cb;
    r->arg = arg;
    return r;
}

static void req_free(struct coord_node *n, struct req *r)
{
    if (n->n_free >= 1024) {
        raft_free(r);
        return;
    }
    r->next = n->free_reqs;
    n->free_reqs = r;
    n->n_free++;
}

/* Take r out of list l and queue its answer for drain(). */
static void finish(struct coord_node *n, struct req_list *l, struct req *r, int status,
                   const char *message)
{
    list_unlink(l, r);
    r->state = RS_DONE;
    r->status = status;
    r->message = message;
    r->leader = n->leader;
    list_push(&n->done, r);
}

/* Run the callbacks of finished requests. Reentrant calls return at once:
 * the outermost loop runs what they added. */
static void drain(struct coord_node *n)
{
    struct req *r;

    if (n->draining) {
        return;
    }
    n->draining = true;
    while ((r = n->done.head) != NULL) {
        struct coord_node_result res = {0};

        list_unlink(&n->done, r);
        res.status = r->status;
        res.message = r->message;
        res.index = r->index;
        res.revision = n->revision;
        res.leader = r->leader;
        r->cb(r->arg, &res);
        req_free(n, r);
    }
    n->draining = false;
}

static void snap_path(const struct coord_node *n, raft_index index, char *out)
{
    (void)snprintf(out, PATH_LEN, "%s/" SNAP_PREFIX "%020llu" SNAP_SUFFIX, n->snap_dir, (ull)index);
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rv = 0;

    if (fd < 0) {
        COORD_LOG(ERROR, "open dir failed path=%s err=%s", dir, strerror(errno));
        return RAFT_EIO;
    }
    if (fsync(fd) != 0) {
        COORD_LOG(ERROR, "fsync dir failed path=%s err=%s", dir, strerror(errno));
        rv = RAFT_EIO;
    }
    (void)close(fd);
    return rv;
}

static int make_dir(const char *dir, char *err, size_t err_len)
{
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        (void)snprintf(err, err_len, "data_dir: cannot create %s: %s", dir, strerror(errno));
        return errno == ENOSPC ? RAFT_ENOSPC : RAFT_ECONFIG;
    }
    return 0;
}

/* Delete the snapshot files below index keep (the log records keep; files
 * above it may be waiting to be recorded), and temporaries when all is set. */
static void snap_cleanup(const struct coord_node *n, raft_index keep, bool temporaries)
{
    DIR *d = opendir(n->snap_dir);
    struct dirent *e;
    char path[PATH_LEN + 256];

    if (d == NULL) {
        return;
    }
    while ((e = readdir(d)) != NULL) {
        size_t plen = strlen(SNAP_PREFIX);
        bool old = strncmp(e->d_name, SNAP_PREFIX, plen) == 0 &&
                   strtoull(e->d_name + plen, NULL, 10) < keep;
        bool tmp = temporaries && strncmp(e->d_name, SNAP_PREFIX, plen) != 0 && e->d_name[0] != '.';

        if (!old && !tmp) {
            continue;
        }
        (void)snprintf(path, sizeof path, "%s/%s", n->snap_dir, e->d_name);
        if (unlink(path) != 0) {
            COORD_LOG(WARN, "snapshot delete failed path=%s err=%s", path, strerror(errno));
        }
    }
    (void)closedir(d);
}

/* ---- member addresses -------------------------------------------------------------------- */

int coord_node_addr_split(const char *address, char *peer, char *client)
{
    const char *slash = strchr(address, '/');
    size_t peer_len = slash != NULL ? (size_t)(slash - address) : strlen(address);
    const char *c = slash != NULL ? slash + 1 : "";

    if (peer_len == 0 || peer_len >= RAFT_ADDR_MAX || strlen(c) >= RAFT_ADDR_MAX ||
        strchr(c, '/') != NULL) {
        return RAFT_EINVAL;
    }
    memcpy(peer, address, peer_len);
    peer[peer_len] = '\0';
    strcpy(client, c);
    return 0;
}

int coord_node_addr_join(const char *peer, const char *client, char *out)
{
    int len;

    if (client == NULL) {
        client = "";
    }
    if (peer == NULL || peer[0] == '\0' || strchr(peer, '/') != NULL ||
        strchr(client, '/') != NULL) {
        return RAFT_EINVAL;
    }
    len = client[0] != '\0' ? snprintf(out, RAFT_ADDR_MAX, "%s/%s", peer, client)
                            : snprintf(out, RAFT_ADDR_MAX, "%s", peer);
    return len < 0 || len >= RAFT_ADDR_MAX ? RAFT_EINVAL : 0;
}

/* The configuration with peer addresses only, for the transport. */
static void peer_conf(const struct raft_conf *in, struct raft_conf *out)
{
    char client[RAFT_ADDR_MAX];
    uint32_t i;

    *out = *in;
    for (i = 0; i < out->n; i++) {
        if (coord_node_addr_split(in->servers[i].address, out->servers[i].address, client) != 0) {
            out->servers[i].address[0] = '\0';
        }
    }
}

/* ---- the apply thread ------------------------------------------------------------------ */

static void queue_push(struct apply_queue *q, struct apply_job *j)
{
    j->next = NULL;
    if (q->tail != NULL) {
        q->tail->next = j;
    } else {
        q->head = j;
    }
    q->tail = j;
}

static void apply_job_free(struct apply_job *j)
{
    coord_fsm_output_release(&j->out);
    raft_free(j->entries);
    raft_free(j);
}

static void thread_fill(struct coord_node *n, struct apply_job *j)
{
    j->applied = coord_fsm_applied_index(n->fsm);
    j->applied_term = coord_fsm_applied_term(n->fsm);
    j->revision = coord_fsm_revision(n->fsm);
}

/* Hand the jobs first..last (linked) to the loop. They are the loop's once
 * pushed: read what follows last before. */
static void thread_done(struct coord_node *n, struct apply_job *first, struct apply_job *last)
{
    uv_mutex_lock(&n->mu);
    if (n->done_jobs.tail != NULL) {
        n->done_jobs.tail->next = first;
    } else {
        n->done_jobs.head = first;
    }
    n->done_jobs.tail = last;
    last->next = NULL;
    uv_mutex_unlock(&n->mu);
    (void)uv_async_send(&n->apply_async);
}

/* Publish the state machine's committed state, and a failure (status). */
static void thread_publish(struct coord_node *n, int status)
{
    uv_mutex_lock(&n->mu);
    n->pub.applied = coord_fsm_applied_index(n->fsm);
    n->pub.applied_term = coord_fsm_applied_term(n->fsm);
    n->pub.revision = coord_fsm_revision(n->fsm);
    if (n->pub.status == 0) {
        n->pub.status = status;
    }
    uv_mutex_unlock(&n->mu);
    (void)uv_async_send(&n->apply_async);
}

/* Commit the pending batches and publish the result. */
static void thread_commit(struct coord_node *n)
{
    int rv;

    if (!n->apply_pending) {
        return;
    }
    n->apply_pending = false;
    rv = coord_fsm_apply_commit(n->fsm);
    if (rv != 0 && n->apply_failed == 0) {
        n->apply_failed = rv;
    }
    thread_publish(n, rv);
}

/* Apply the run of AJ_APPLY jobs starting at first in one transaction (up to
 * COORD_FSM_APPLY_MAX entries); the last job of the run gets the output.
 * Returns the first job after the run.
 *
 * Answers before the commit. The run's jobs, with the results, go to the
 * loop as soon as the transaction has computed them; the loop answers the
 * writers at once but moves its applied index, which every read waits for,
 * only when a commit is published. The transaction stays open: later runs
 * continue it, and it commits (one fsync for all of them) COMMIT_DELAY_MS
 * after its first run, or as soon as a read waits for an index it holds
 * (commit_wanted), or before a snapshot, an install or the end. This is
 * safe because an entry given here is committed: it is in a majority of
 * durable logs, so if the commit fails or the node crashes, the entry is
 * applied again after the restart, with the same result (the state machine
 * is deterministic), and the log is compacted only below what LMDB synced.
 * A failed commit stops the state machine like a failed apply. */
static struct apply_job *thread_apply(struct coord_node *n, struct apply_job *first)
{
    struct raft_entry *batch = n->apply_batch;
    struct apply_job *j = first;
    struct apply_job *last = first;
    struct apply_job *after;
    size_t nb = 0;
    int rv;

    while (j != NULL && j->type == AJ_APPLY && nb + j->n_entries <= COORD_FSM_APPLY_MAX) {
        memcpy(&batch[nb], j->entries, j->n_entries * sizeof *batch);
        nb += j->n_entries;
        last = j;
        j = j->next;
    }
    after = last->next;
    rv = n->apply_failed;
    if (rv == 0) {
        rv = coord_fsm_apply_begin(n->fsm, batch, nb, &last->out);
    }
    for (j = first; j != after; j = j->next) {
        j->status = rv;
    }
    last->has_output = rv == 0;
    thread_done(n, first, last);
    if (rv != 0) {
        thread_commit(n); /* the runs before it: answered, so made visible */
        n->apply_failed = n->apply_failed != 0 ? n->apply_failed : rv;
        thread_publish(n, rv);
    } else if (!n->apply_pending) {
        n->apply_pending = true;
        n->commit_by_ns = uv_hrtime() + COMMIT_DELAY_MS * 1000000u;
    }
    return after;
}

static void thread_snapshot(struct coord_node *n, struct apply_job *j)
{
    char tmp[PATH_LEN + 16];
    char final[PATH_LEN + 64];

    (void)snprintf(tmp, sizeof tmp, "%s/tmp-snapshot", j->path);
    (void)unlink(tmp);
    j->status = coord_fsm_snapshot(n->fsm, tmp, &j->meta);
    if (j->status == 0) {
        (void)snprintf(final, sizeof final, "%s/" SNAP_PREFIX "%020llu" SNAP_SUFFIX, j->path,
                       (ull)j->meta.index);
        if (rename(tmp, final) != 0) {
            COORD_LOG(ERROR, "snapshot rename failed path=%s err=%s", final, strerror(errno));
            j->status = RAFT_EIO;
        } else {
            j->status = fsync_dir(j->path);
        }
    }
}

/* Under mu: the pending batches must commit now. */
static bool commit_due(struct coord_node *n)
{
    return n->apply_pending &&
           (n->commit_wanted > coord_fsm_applied_index(n->fsm) || uv_hrtime() >= n->commit_by_ns);
}

/* The snapshot thread: LMDB copies from a read transaction, so the apply
 * thread goes on applying (and answering writes) during a copy, which took
 * 70-140 ms for a few MB on this machine's disk. */
static void snap_main(void *arg)
{
    struct coord_node *n = arg;
    struct apply_job *j = n->snap_job;

    thread_snapshot(n, j);
    thread_done(n, j, j);
}

/* Wait for the snapshot thread: before the store is replaced or closed. */
static void snap_join(struct coord_node *n)
{
    if (n->snap_running) {
        (void)uv_thread_join(&n->snap_thread);
        n->snap_running = false;
    }
}

static void *thread_main_ret(struct coord_node *n)
{
    struct apply_job *j;
    struct apply_job *next;
    bool stop = false;
    bool due;

    while (!stop) {
        uv_mutex_lock(&n->mu);
        while (!(due = commit_due(n)) && n->submitted.head == NULL) {
            if (n->apply_pending) {
                uint64_t now = uv_hrtime();

                (void)uv_cond_timedwait(&n->cond, &n->mu,
                                        n->commit_by_ns > now ? n->commit_by_ns - now : 0);
            } else {
                uv_cond_wait(&n->cond, &n->mu);
            }
        }
        j = n->submitted.head;
        n->submitted.head = n->submitted.tail = NULL;
        uv_mutex_unlock(&n->mu);

        if (due) {
            thread_commit(n);
        }
        while (j != NULL) {
            if (j->type == AJ_APPLY) {
                j = thread_apply(n, j);
                continue;
            }
            thread_commit(n); /* snapshots, installs and the end see it all */
            next = j->next;
            snap_join(n);
            if (j->type == AJ_SNAPSHOT) {
                n->snap_job = j;
                n->snap_running = uv_thread_create(&n->snap_thread, snap_main, n) == 0;
                if (!n->snap_running) {
                    snap_main(n); /* no thread: copy here */
                }
            } else if (j->type == AJ_INSTALL) {
                j->status = coord_fsm_install(n->fsm, j->path);
                thread_fill(n, j);
                thread_done(n, j, j);
                thread_publish(n, 0);
            } else {
                stop = true;
                j->status = coord_fsm_sync(n->fsm);
                thread_done(n, j, j);
            }
            j = next;
        }
    }
    return NULL;
}

static void thread_main(void *arg)
{
    (void)thread_main_ret(arg);
}

static void apply_submit(struct coord_node *n, struct apply_job *j)
{
    uv_mutex_lock(&n->mu);
    queue_push(&n->submitted, j);
    uv_cond_signal(&n->cond);
    uv_mutex_unlock(&n->mu);
}

/* ---- stepping ------------------------------------------------------------------------- */

static void carry_out(struct coord_node *n, const struct raft_update *up);
static void fatal(struct coord_node *n, int err, const char *what);

static int step1(struct coord_node *n, struct raft_event *ev, raft_index *submit_index)
{
    struct raft_update up;
    int rv;

    ev->now = uv_now(n->loop);
    rv = raft_step(n->raft, ev, &up);
    if (submit_index != NULL) {
        *submit_index = up.submit_index;
    }
    carry_out(n, &up);
    return rv;
}

/* Step ev, then the events carrying out produced (failed snapshot sends).
 * submit_index (may be NULL) gets the update's submit_index. */
static int step(struct coord_node *n, struct raft_event *ev, raft_index *submit_index)
{
    int rv = step1(n, ev, submit_index);

    while (n->n_sent_fail > 0 && !n->fatal) {
        struct raft_event sent = {.type = RAFT_EV_SNAPSHOT_SENT};

        sent.snapshot_sent.to = n->sent_fail[--n->n_sent_fail];
        sent.snapshot_sent.ok = false;
        (void)step1(n, &sent, NULL);
    }
    return rv;
}

static void send_msgs(struct coord_node *n, const struct raft_msg *msgs, size_t n_msgs)
{
    char path[PATH_LEN];
    size_t i;

    for (i = 0; i < n_msgs; i++) {
        const struct raft_msg *m = &msgs[i];

        if (m->type != RAFT_MSG_SNAPSHOT) {
            (void)coord_transport_send(n->transport, m);
            continue;
        }
        snap_path(n, m->snapshot->index, path);
        if (m->snapshot->index != n->snap_index ||
            coord_transport_send_snapshot(n->transport, m, path) != 0) {
            if (n->n_sent_fail < MAX_SENT_FAILURES) {
                n->sent_fail[n->n_sent_fail++] = m->to;
            }
            continue;
        }
        COORD_LOG(INFO, "snapshot send started to=%llu index=%llu", (ull)m->to,
                  (ull)m->snapshot->index);
    }
}

static struct raft_msg *msgs_copy(const struct raft_msg *msgs, size_t n_msgs)
{
    struct raft_msg *out = raft_malloc(n_msgs * sizeof *out);
    size_t i;

    if (out == NULL) {
        return NULL;
    }
    for (i = 0; i < n_msgs; i++) {
        /* Messages sent after persisting are answers: votes and acks. */
        RAFT_ASSERT(msgs[i].n_entries == 0 && msgs[i].type != RAFT_MSG_SNAPSHOT);
        out[i] = msgs[i];
        out[i].entries = NULL;
        out[i].snapshot = NULL;
    }
    return out;
}

static void persist(struct coord_node *n, const struct raft_update *up,
                    const struct raft_snapshot_meta *taken)
{
    struct coord_persist p = {0};
    struct persist_job *j;
    int rv;

    if (up->snapshot == NULL && up->n_entries == 0 && !up->hs_changed && up->compact_index == 0 &&
        up->n_msgs_after == 0 && taken == NULL) {
        return;
    }
    j = raft_calloc(1, sizeof *j);
    if (j == NULL || (up->n_msgs_after > 0 &&
                      (j->msgs_after = msgs_copy(up->msgs_after, up->n_msgs_after)) == NULL)) {
        raft_free(j);
        fatal(n, RAFT_ENOMEM, "persist job");
        return;
    }
    j->n_msgs_after = up->n_msgs_after;
    p.snapshot = up->snapshot;
    p.entries = up->entries;
    p.n_entries = up->n_entries;
    p.taken = taken;
    p.compact_below = up->compact_index;
    p.has_hard_state = true;
    p.term = up->term;
    p.vote = up->vote;
    p.commit = up->commit;
    if (up->n_entries > 0) {
        j->persisted_index = up->entries[up->n_entries - 1].index;
        j->persisted_term = up->entries[up->n_entries - 1].term;
    } else if (up->snapshot != NULL) {
        j->persisted_index = up->snapshot->index;
        j->persisted_term = up->snapshot->term;
    }
    if (up->snapshot != NULL) {
        j->installed = true;
        j->meta = *up->snapshot;
    } else if (taken != NULL) {
        j->taken = true;
        j->meta = *taken;
    }
    rv = coord_writer_submit(n->writer, &p, j);
    if (rv != 0) {
        raft_free(j->msgs_after);
        raft_free(j);
        fatal(n, rv, "log write could not be queued");
    }
}

/* Copy the committed entries into an apply job for the thread. */
static void queue_apply(struct coord_node *n, const struct raft_entry *entries, size_t count)
{
    while (count > 0) {
        size_t k = count < COORD_FSM_APPLY_MAX ? count : COORD_FSM_APPLY_MAX;
        size_t bytes = k * sizeof(struct raft_entry);
        struct apply_job *j;
        uint8_t *data;
        size_t i;

        for (i = 0; i < k; i++) {
            bytes += entries[i].data.len;
        }
        j = raft_calloc(1, sizeof *j);
        if (j == NULL || (j->entries = raft_malloc(bytes)) == NULL) {
            raft_free(j);
            fatal(n, RAFT_ENOMEM, "apply job");
            return;
        }
        j->type = AJ_APPLY;
        j->n_entries = k;
        data = (uint8_t *)(j->entries + k);
        for (i = 0; i < k; i++) {
            j->entries[i] = entries[i];
            j->entries[i].data.base = data;
            if (entries[i].data.len > 0) {
                memcpy(data, entries[i].data.base, entries[i].data.len);
            }
            data += entries[i].data.len;
        }
        apply_submit(n, j);
        entries += k;
        count -= k;
    }
}

static void complete_reads(struct coord_node *n);

static void take_reads(struct coord_node *n, const struct raft_read *reads, size_t n_reads)
{
    size_t i;

    for (i = 0; i < n_reads; i++) {
        struct req *r = n->reads.head;

        while (r != NULL) {
            struct req *next = r->next;

            if (r->state == RS_INDEX && r->round == reads[i].id) {
                if (reads[i].status != 0) {
                    finish(n, &n->reads, r, reads[i].status, "read index round failed");
                } else {
                    r->state = RS_WAIT;
                    r->index = reads[i].index;
                }
            }
            r = next;
        }
    }
}

/* Give the transport the configuration's peers, plus the leader when it is
 * no longer in it: a leader that removes itself must still reach the others
 * until its removal commits, and they learn the new configuration (without
 * it) as soon as they append it. Called again when the leader changes. */
static void set_peers(struct coord_node *n)
{
    struct raft_conf pc;

    peer_conf(raft_conf_get(n->raft), &pc);
    if (n->leader != 0 && n->leader != n->cfg.id && raft_conf_find(&pc, n->leader) == NULL) {
        const struct raft_server *s = raft_conf_find(&n->book, n->leader);

        if (s != NULL) {
            (void)raft_conf_add(&pc, s->id, s->role, s->address);
        }
    }
    if (coord_transport_set_peers(n->transport, &pc) != 0) {
        COORD_LOG(WARN, "peer address book update failed");
        return;
    }
    n->book = pc;
}

static void observe(struct coord_node *n, const struct raft_update *up)
{
    struct req *r;

    if (up->term != n->term) {
        n->term = up->term;
        coord_log_set_term(up->term);
    }
    if (up->role != n->role || up->leader != n->leader) {
        if (up->role == RAFT_LEADER && n->role != RAFT_LEADER) {
            COORD_LOG(INFO, "became leader");
        } else if (up->leader != n->leader) {
            COORD_LOG(INFO, "leader changed leader=%llu role=%s", (ull)up->leader,
                      raft_role_name(up->role));
        }
        n->role = up->role;
        if (up->leader != n->leader) {
            n->leader = up->leader;
            set_peers(n); /* a removed leader leaves the book only now */
        }
        /* A transfer is done once somebody else leads. */
        for (r = n->others.head; r != NULL && up->leader != 0 && up->role != RAFT_LEADER;) {
            struct req *next = r->next;

            if (r->kind == REQ_TRANSFER) {
                finish(n, &n->others, r, 0, NULL);
            }
            r = next;
        }
    }
    if (up->conf_changed) {
        const struct raft_conf *c = raft_conf_get(n->raft);

        bool member = raft_conf_find(c, n->cfg.id) != NULL;

        COORD_LOG(INFO, "configuration changed servers=%u voters=%u", c->n, raft_conf_n_voters(c));
        if (n->member && !member) {
            COORD_LOG(WARN, "this node was removed from the configuration: it no longer votes "
                            "or takes part; stop it");
        }
        n->member = member;
        set_peers(n);
    }
}

static void on_raft_timer(uv_timer_t *h);

static void carry_out(struct coord_node *n, const struct raft_update *up)
{
    uint64_t now = uv_now(n->loop);

    if (n->fatal) {
        return;
    }
    observe(n, up);
    if (up->snapshot != NULL) {
        n->snap_index = up->snapshot->index; /* its file is in place (snapshot_received) */
    }
    send_msgs(n, up->msgs, up->n_msgs);
    /* The core's meta, not the state machine's: only the core knows the
     * configuration at that index (the bootstrap one is in no entry). */
    persist(n, up, n->taking ? raft_snapshot_get(n->raft) : NULL);
    n->taking = false;
    if (up->n_apply > 0 && n->apply_error == 0) {
        queue_apply(n, up->apply, up->n_apply);
    }
    take_reads(n, up->reads, up->n_reads);
    complete_reads(n);
    if (!n->closing) {
        (void)uv_timer_start(&n->raft_timer, on_raft_timer,
                             up->timeout > now ? up->timeout - now : 0, 0);
    }
}

static void on_raft_timer(uv_timer_t *h)
{
    struct coord_node *n = h->data;
    struct raft_event ev = {.type = RAFT_EV_TIMEOUT};

    (void)step(n, &ev, NULL);
    drain(n);
}

/* ---- failure ------------------------------------------------------------------------------ */

static void fail_list(struct coord_node *n, struct req_list *l, int status, const char *message)
{
    while (l->head != NULL) {
        finish(n, l, l->head, status, message);
    }
}

static void fail_all(struct coord_node *n, int status, const char *message)
{
    fail_list(n, &n->submits, status, message);
    fail_list(n, &n->props, status, message);
    fail_list(n, &n->reads, status, message);
    fail_list(n, &n->others, status, message);
    n->submit_len = 0;
}

static void fatal(struct coord_node *n, int err, const char *what)
{
    if (n->fatal) {
        return;
    }
    n->fatal = true;
    n->storage_error = err;
    COORD_LOG(ERROR, "storage failed, node stopping what=\"%s\" err=%s (%s)", what,
              raft_err_name(err), raft_err_str(err));
    (void)uv_timer_stop(&n->raft_timer);
    fail_all(n, RAFT_ESHUTDOWN, "the node stopped: storage failure");
    if (n->fatal_cb != NULL) {
        n->fatal_cb(n->fatal_arg, err);
    }
}

void coord_node_on_fatal(struct coord_node *n, coord_node_fatal_cb cb, void *arg)
{
    n->fatal_cb = cb;
    n->fatal_arg = arg;
}

/* ---- the writer's completions ---------------------------------------------------------- */

static void on_persisted(void *arg, void *job_arg, int status)
{
    struct coord_node *n = arg;
    struct persist_job *j = job_arg;

    if (status != 0) {
        fatal(n, status, "log write or fsync");
    } else if (!n->fatal && !n->closing) {
        send_msgs(n, j->msgs_after, j->n_msgs_after);
        if (j->installed || j->taken) {
            snap_cleanup(n, j->meta.index, false);
        }
        if (j->installed) {
            struct apply_job *aj = raft_calloc(1, sizeof *aj);

            if (aj == NULL) {
                fatal(n, RAFT_ENOMEM, "install job");
            } else {
                aj->type = AJ_INSTALL;
                snap_path(n, j->meta.index, aj->path);
                n->installing = true;
                COORD_LOG(INFO, "snapshot install started index=%llu term=%llu", (ull)j->meta.index,
                          (ull)j->meta.term);
                apply_submit(n, aj);
            }
        }
        if (j->persisted_index > 0 && !n->fatal) {
            struct raft_event ev = {.type = RAFT_EV_PERSISTED};

            ev.persisted.index = j->persisted_index;
            ev.persisted.term = j->persisted_term;
            (void)step(n, &ev, NULL);
        }
    }
    raft_free(j->msgs_after);
    raft_free(j);
    drain(n);
}

/* ---- the apply thread's completions ---------------------------------------------------- */

/* Answer proposal r (unlinked from props here) at once: cmd is a view into
 * the apply output, alive only now. */
static void answer(struct coord_node *n, struct req *r, int status, const char *message,
                   const struct coord_cmd_result *cmd)
{
    struct coord_node_result res = {0};

    list_unlink(&n->props, r);
    res.status = status;
    res.message = message;
    res.index = r->index;
    res.revision = cmd != NULL ? cmd->revision : n->revision;
    res.leader = n->leader;
    res.cmd = status == 0 ? cmd : NULL;
    r->cb(r->arg, &res);
    req_free(n, r);
}

/* Entry (index, term) was applied with result cmd (NULL for NOOP/CONF). */
static void applied_one(struct coord_node *n, raft_index index, raft_term term,
                        const struct coord_cmd_result *cmd)
{
    struct req *r;

    while ((r = n->props.head) != NULL && r->index <= index) {
        if (r->index == index && r->term == term) {
            answer(n, r, 0, NULL, r->kind == REQ_PROPOSE ? cmd : NULL);
        } else {
            answer(n, r, RAFT_EDROPPED, "another leader's entry took its place", NULL);
        }
    }
}

static void apply_failed(struct coord_node *n, int status)
{
    struct req *r;
    struct req *next;

    /* Serializable reads serve what the store holds from now on. */
    for (r = n->reads.head; r != NULL; r = next) {
        next = r->next;
        if (r->state == RS_WAIT && !r->linearizable) {
            finish(n, &n->reads, r, 0, NULL);
        }
    }

    /* The entries are committed: they apply after a restart that fixes the
     * cause (a larger map), so their writers learn that, not a refusal. */
    while ((r = n->props.head) != NULL) {
        answer(n, r, status,
               "committed but not applied: the state machine stopped; it applies after the "
               "node restarts with the cause fixed",
               NULL);
    }
    if (n->apply_error == 0) {
        n->apply_error = status;
        COORD_LOG(ERROR,
                  "state machine stopped applying at index=%llu err=%s (%s): writes are "
                  "refused, reads serve the applied state; %s",
                  (ull)(n->applied + 1), raft_err_name(status), raft_err_str(status),
                  status == RAFT_ENOSPC ? "raise map_size_mb and restart the node"
                                        : "check the disk and restart the node");
    }
}

/* The run of APPLY jobs [first, last] was applied with last's output. */
static void apply_done(struct coord_node *n, struct apply_job *first, struct apply_job *last)
{
    const struct coord_fsm_output *out = &last->out;
    struct apply_job *j = first;
    size_t k = 0;
    size_t i;

    for (i = 0; i < out->n_results; i++) {
        const struct coord_cmd_result *res = &out->results[i];
        const struct raft_entry *e;

        while (k == j->n_entries) {
            j = j->next;
            k = 0;
        }
        e = &j->entries[k++];
        RAFT_ASSERT(e->index == res->index);
        applied_one(n, e->index, e->term, e->type == RAFT_ENTRY_NORMAL ? res : NULL);
        n->computed = e->index > n->computed ? e->index : n->computed;
    }
}

static void snapshot_done(struct coord_node *n, struct apply_job *j)
{
    struct raft_event ev = {.type = RAFT_EV_SNAPSHOT_TAKEN};
    raft_index old;
    int rv;

    n->snapshotting = false;
    if (n->closing || n->fatal) {
        return;
    }
    if (j->status != 0) {
        COORD_LOG(ERROR, "snapshot failed err=%s", raft_err_name(j->status));
        return;
    }
    /* Set before the step, which may already send the new snapshot. */
    old = n->snap_index;
    n->snap_index = j->meta.index;
    ev.snapshot_taken.index = j->meta.index;
    n->taking = true;
    rv = step(n, &ev, NULL);
    n->taking = false;
    if (rv != 0) {
        n->snap_index = old; /* e.g. a received snapshot overtook it */
        COORD_LOG(WARN, "snapshot refused by the core index=%llu err=%s", (ull)j->meta.index,
                  raft_err_name(rv));
        return;
    }
    COORD_LOG(INFO, "snapshot taken index=%llu term=%llu ms=%llu", (ull)j->meta.index,
              (ull)j->meta.term, (ull)(uv_now(n->loop) - j->queued_ms));
}

static void install_done(struct coord_node *n, struct apply_job *j)
{
    struct req *r;

    n->installing = false;
    if (n->closing) {
        return;
    }
    if (j->status != 0) {
        fatal(n, j->status, "snapshot install into the state machine");
        return;
    }
    n->applied = j->applied;
    n->applied_term = j->applied_term;
    n->revision = j->revision;
    n->computed = n->applied > n->computed ? n->applied : n->computed;
    COORD_LOG(INFO, "snapshot installed index=%llu revision=%llu", (ull)n->applied,
              (ull)n->revision);
    while ((r = n->props.head) != NULL && r->index <= n->applied) {
        answer(n, r, RAFT_ETIMEDOUT, "outcome unknown: the state was replaced by a snapshot", NULL);
    }
}

static void maybe_snapshot(struct coord_node *n)
{
    struct apply_job *j;

    if (n->snapshotting || n->installing || n->apply_error != 0 || n->closing || n->fatal ||
        n->applied < n->snap_index + n->cfg.snapshot_entries) {
        return;
    }
    j = raft_calloc(1, sizeof *j);
    if (j == NULL) {
        return; /* tried again at the next apply */
    }
    j->type = AJ_SNAPSHOT;
    (void)snprintf(j->path, sizeof j->path, "%s", n->snap_dir);
    n->snapshotting = true;
    j->queued_ms = uv_now(n->loop);
    apply_submit(n, j);
}

static void on_apply_async(uv_async_t *h)
{
    struct coord_node *n = h->data;
    struct apply_job *jobs;
    struct apply_job *run = NULL;
    struct apply_job *j;
    struct published pub;

    uv_mutex_lock(&n->mu);
    jobs = n->done_jobs.head;
    n->done_jobs.head = n->done_jobs.tail = NULL;
    pub = n->pub;
    uv_mutex_unlock(&n->mu);
    for (j = jobs; j != NULL; j = j->next) {
        if (j->type != AJ_APPLY) {
            if (j->type == AJ_SNAPSHOT) {
                snapshot_done(n, j);
            } else if (j->type == AJ_INSTALL) {
                install_done(n, j);
            }
            continue;
        }
        run = run != NULL ? run : j;
        if (j->status != 0) {
            apply_failed(n, j->status);
            run = NULL;
        } else if (j->has_output) {
            apply_done(n, run, j);
            run = NULL;
        }
    }
    while (jobs != NULL) {
        j = jobs->next;
        apply_job_free(jobs);
        jobs = j;
    }
    /* pub was read with the jobs, and a batch's jobs are handed over before
     * its commit is published: results never lag the applied index. */
    if (pub.applied > n->applied) {
        n->applied = pub.applied;
        n->applied_term = pub.applied_term;
        n->revision = pub.revision;
    }
    if (pub.status != 0) {
        apply_failed(n, pub.status);
    }
    complete_reads(n);
    maybe_snapshot(n);
    drain(n);
}

/* ---- reads and proposals of one iteration ---------------------------------------------- */

/* A read waits for index to be applied: have the apply thread commit what
 * it holds now rather than at its deadline. */
static void want_applied(struct coord_node *n, raft_index index)
{
    if (index <= n->wanted) {
        return;
    }
    n->wanted = index;
    uv_mutex_lock(&n->mu);
    n->commit_wanted = index;
    uv_cond_signal(&n->cond);
    uv_mutex_unlock(&n->mu);
}

static void complete_reads(struct coord_node *n)
{
    struct req *r = n->reads.head;
    raft_index wait = 0;

    if (n->installing) {
        return;
    }
    while (r != NULL) {
        struct req *next = r->next;

        if (r->state == RS_WAIT && r->index <= n->applied) {
            finish(n, &n->reads, r, 0, NULL);
        } else if (r->state == RS_WAIT && r->index > wait) {
            wait = r->index;
        }
        r = next;
    }
    want_applied(n, wait);
}

static void flush_submits(struct coord_node *n)
{
    struct raft_buf *bufs = n->submit_views;
    struct raft_event ev = {.type = RAFT_EV_SUBMIT};
    raft_index first = 0;
    raft_term term;
    struct req *r;
    size_t k = 0;
    int rv;

    for (r = n->submits.head; r != NULL; r = r->next) {
        bufs[k].base = n->submit_buf + r->off;
        bufs[k].len = r->len;
        k++;
    }
    ev.submit.data = bufs;
    ev.submit.n = k;
    rv = step(n, &ev, &first);
    term = raft_term_get(n->raft);
    k = 0;
    while ((r = n->submits.head) != NULL) {
        if (rv != 0) {
            finish(n, &n->submits, r, rv, "the entry could not be appended");
            continue;
        }
        list_unlink(&n->submits, r);
        r->state = RS_WAIT;
        r->index = first + k++;
        r->term = term;
        props_insert(n, r);
    }
    n->submit_len = 0;
}

static void flush_reads(struct coord_node *n)
{
    struct raft_event ev = {.type = RAFT_EV_READ_INDEX};
    uint64_t round = ++n->read_round;
    struct req *r;
    size_t k = 0;
    int rv;

    for (r = n->reads.head; r != NULL;) {
        struct req *next = r->next;

        if (r->state == RS_QUEUED && !r->linearizable && n->computed > n->applied &&
            n->apply_error == 0) {
            /* Writes this node answered are seen by its serializable reads. */
            r->index = n->computed;
            r->state = RS_WAIT;
            want_applied(n, r->index);
        } else if (r->state == RS_QUEUED && !r->linearizable && !n->installing) {
            r->index = n->applied;
            finish(n, &n->reads, r, 0, NULL);
        } else if (r->state == RS_QUEUED && r->linearizable) {
            r->state = RS_INDEX;
            r->round = round;
            k++;
        }
        r = next;
    }
    if (k == 0) {
        return;
    }
    ev.read_index.id = round;
    rv = step(n, &ev, NULL);
    if (rv == 0) {
        return;
    }
    for (r = n->reads.head; r != NULL;) {
        struct req *next = r->next;

        if (r->state == RS_INDEX && r->round == round) {
            finish(n, &n->reads, r, rv, "no read index: no leader reachable");
        }
        r = next;
    }
}

static void flush(struct coord_node *n)
{
    (void)uv_idle_stop(&n->flush_idle);
    if (n->closing || n->fatal) {
        drain(n);
        return;
    }
    if (n->submits.n > 0) {
        flush_submits(n);
    }
    if (n->reads.n > 0) {
        flush_reads(n);
    }
    drain(n);
}

static void on_flush_check(uv_check_t *h)
{
    flush(h->data);
}

static void on_flush_idle(uv_idle_t *h)
{
    flush(h->data);
}

static void expire(struct coord_node *n, struct req_list *l, uint64_t now)
{
    struct req *r = l->head;

    while (r != NULL) {
        struct req *next = r->next;

        if (r->deadline <= now) {
            finish(n, l, r, RAFT_ETIMEDOUT,
                   r->kind == REQ_READ ? "the read timed out"
                                       : "timed out: the outcome is unknown");
        }
        r = next;
    }
}

static void on_house_timer(uv_timer_t *h)
{
    struct coord_node *n = h->data;
    uint64_t now = uv_now(n->loop);

    expire(n, &n->props, now);
    expire(n, &n->reads, now);
    expire(n, &n->others, now);
    maybe_snapshot(n);
    drain(n);
}

/* ---- the transport's callbacks --------------------------------------------------------- */

static void on_recv(void *arg, const struct raft_msg *m)
{
    struct coord_node *n = arg;
    struct raft_event ev = {.type = RAFT_EV_RECEIVE};

    if (n->closing || n->fatal) {
        return;
    }
    ev.receive.msg = m;
    (void)step(n, &ev, NULL);
    drain(n);
}

static void on_snapshot_received(void *arg, const struct raft_msg *m)
{
    struct coord_node *n = arg;
    struct raft_event ev = {.type = RAFT_EV_RECEIVE};
    struct raft_msg copy = *m;
    char path[PATH_LEN];

    if (n->closing || n->fatal || m->snapshot == NULL) {
        (void)unlink((const char *)m->snapshot_data.base);
        return;
    }
    snap_path(n, m->snapshot->index, path);
    /* Durable under its final name before the core may record it (note 4). */
    if (rename((const char *)m->snapshot_data.base, path) != 0 || fsync_dir(n->snap_dir) != 0) {
        COORD_LOG(ERROR, "received snapshot not kept path=%s err=%s", path, strerror(errno));
        (void)unlink((const char *)m->snapshot_data.base);
        return;
    }
    COORD_LOG(INFO, "snapshot received from=%llu index=%llu", (ull)m->from,
              (ull)m->snapshot->index);
    copy.snapshot_data.base = path;
    copy.snapshot_data.len = strlen(path) + 1;
    ev.receive.msg = &copy;
    (void)step(n, &ev, NULL);
    drain(n);
}

static void on_snapshot_sent(void *arg, raft_id to, bool ok)
{
    struct coord_node *n = arg;
    struct raft_event ev = {.type = RAFT_EV_SNAPSHOT_SENT};

    if (n->closing || n->fatal) {
        return;
    }
    COORD_LOG(INFO, "snapshot send ended to=%llu ok=%d", (ull)to, ok);
    ev.snapshot_sent.to = to;
    ev.snapshot_sent.ok = ok;
    (void)step(n, &ev, NULL);
    drain(n);
}

static void on_trace(void *arg, raft_id id, raft_time now, const char *msg)
{
    (void)arg;
    (void)id;
    (void)now;
    COORD_LOG(DEBUG, "raft %s", msg);
}

/* ---- requests from the server ------------------------------------------------------------ */

static void kick(struct coord_node *n)
{
    if (!uv_is_active((uv_handle_t *)&n->flush_idle)) {
        (void)uv_idle_start(&n->flush_idle, on_flush_idle);
    }
}

static int writable(const struct coord_node *n)
{
    if (n->closing || n->fatal) {
        return RAFT_ESHUTDOWN;
    }
    if (n->apply_error != 0) {
        return RAFT_ENOSPC;
    }
    return n->role == RAFT_LEADER ? 0 : RAFT_ENOTLEADER;
}

int coord_node_propose(struct coord_node *n, const struct raft_buf *cmd, uint32_t timeout_ms,
                       coord_node_cb cb, void *arg)
{
    struct req *r;
    int rv = writable(n);

    if (rv != 0) {
        return rv;
    }
    if (cmd->len == 0 || cmd->len > n->cfg.max_request_bytes) {
        return cmd->len == 0 ? RAFT_EINVAL : RAFT_ETOOBIG;
    }
    if (n->props.n + n->submits.n >= COORD_NODE_MAX_PENDING) {
        return RAFT_EBUSY;
    }
    if (n->submit_len + cmd->len > n->submit_cap) {
        size_t cap = n->submit_cap > 0 ? n->submit_cap : 65536;
        uint8_t *buf;

        while (cap < n->submit_len + cmd->len) {
            cap *= 2;
        }
        buf = raft_realloc(n->submit_buf, cap);
        if (buf == NULL) {
            return RAFT_ENOMEM;
        }
        n->submit_buf = buf;
        n->submit_cap = cap;
    }
    r = req_new(n, REQ_PROPOSE, timeout_ms, cb, arg);
    if (r == NULL) {
        return RAFT_ENOMEM;
    }
    memcpy(n->submit_buf + n->submit_len, cmd->base, cmd->len);
    r->off = n->submit_len;
    r->len = cmd->len;
    r->state = RS_QUEUED;
    n->submit_len += cmd->len;
    list_push(&n->submits, r);
    kick(n);
    return 0;
}

int coord_node_read(struct coord_node *n, bool linearizable, uint32_t timeout_ms, coord_node_cb cb,
                    void *arg)
{
    struct req *r;

    if (n->closing || n->fatal) {
        return RAFT_ESHUTDOWN;
    }
    if (n->reads.n >= COORD_NODE_MAX_PENDING) {
        return RAFT_EBUSY;
    }
    r = req_new(n, REQ_READ, timeout_ms, cb, arg);
    if (r == NULL) {
        return RAFT_ENOMEM;
    }
    r->state = RS_QUEUED;
    r->linearizable = linearizable;
    list_push(&n->reads, r);
    kick(n);
    return 0;
}

struct coord_fsm *coord_node_fsm(struct coord_node *n)
{
    return n->fsm;
}

int coord_node_conf_change(struct coord_node *n, uint8_t op, raft_id id, const char *peer_addr,
                           const char *client_addr, uint32_t timeout_ms, coord_node_cb cb,
                           void *arg)
{
    struct raft_event ev = {.type = RAFT_EV_CONF_CHANGE};
    char address[RAFT_ADDR_MAX];
    raft_index index = 0;
    struct req *r;
    int rv = writable(n);

    if (rv != 0) {
        return rv;
    }
    if (op < RAFT_CONF_ADD_LEARNER || op > RAFT_CONF_REMOVE || id == 0) {
        return RAFT_EINVAL;
    }
    if (op == RAFT_CONF_ADD_LEARNER) {
        if (peer_addr == NULL || coord_node_addr_join(peer_addr, client_addr, address) != 0) {
            return RAFT_EINVAL;
        }
        ev.conf_change.address = address;
    }
    r = req_new(n, REQ_CONF, timeout_ms, cb, arg);
    if (r == NULL) {
        return RAFT_ENOMEM;
    }
    ev.conf_change.op = op;
    ev.conf_change.id = id;
    rv = step(n, &ev, &index);
    kick(n); /* answers the step produced run from the next flush, not from here */
    if (rv != 0) {
        req_free(n, r);
        return rv;
    }
    COORD_LOG(INFO, "membership change proposed op=%u id=%llu index=%llu", op, (ull)id, (ull)index);
    r->state = RS_WAIT;
    r->index = index;
    r->term = raft_term_get(n->raft);
    props_insert(n, r);
    return 0;
}

int coord_node_transfer(struct coord_node *n, raft_id to, uint32_t timeout_ms, coord_node_cb cb,
                        void *arg)
{
    struct raft_event ev = {.type = RAFT_EV_TRANSFER};
    struct req *r;
    int rv;

    if (n->closing || n->fatal) {
        return RAFT_ESHUTDOWN;
    }
    if (n->role != RAFT_LEADER) {
        return RAFT_ENOTLEADER;
    }
    r = req_new(n, REQ_TRANSFER, timeout_ms, cb, arg);
    if (r == NULL) {
        return RAFT_ENOMEM;
    }
    r->state = RS_WAIT;
    list_push(&n->others, r);
    kick(n); /* every answer, this one's too, runs from the next flush */
    if (to == n->cfg.id) {
        finish(n, &n->others, r, 0, NULL); /* already done */
        return 0;
    }
    ev.transfer.to = to;
    rv = step(n, &ev, NULL);
    if (rv != 0) {
        list_unlink(&n->others, r);
        req_free(n, r);
        return rv;
    }
    COORD_LOG(INFO, "leadership transfer started to=%llu", (ull)to);
    if (n->role != RAFT_LEADER && n->leader != 0) {
        finish(n, &n->others, r, 0, NULL);
    }
    return 0;
}

void coord_node_status(const struct coord_node *n, struct coord_node_status *st)
{
    const struct raft_conf *c = raft_conf_get(n->raft);
    struct coord_transport_peer_stats peers[RAFT_MAX_SERVERS];
    struct coord_transport_stats ts;
    uint32_t i;
    size_t k;

    memset(st, 0, sizeof *st);
    st->id = n->cfg.id;
    st->role = raft_role_get(n->raft);
    st->term = raft_term_get(n->raft);
    st->leader = raft_leader_get(n->raft);
    st->commit_index = raft_commit_get(n->raft);
    st->applied_index = n->applied;
    st->last_index = raft_last_index(n->raft);
    st->snapshot_index = raft_snapshot_get(n->raft)->index;
    st->revision = n->revision;
    st->storage_error = n->storage_error != 0 ? n->storage_error : n->apply_error;
    coord_transport_stats(n->transport, &ts, peers, RAFT_MAX_SERVERS);
    for (i = 0; i < c->n && i < RAFT_MAX_SERVERS; i++) {
        struct coord_node_member *m = &st->members[st->n_members++];
        raft_index next;

        m->id = c->servers[i].id;
        m->voter = c->servers[i].role == RAFT_VOTER;
        if (coord_node_addr_split(c->servers[i].address, m->peer_addr, m->client_addr) != 0) {
            m->peer_addr[0] = m->client_addr[0] = '\0';
        }
        if (m->id == n->cfg.id && st->role == RAFT_LEADER) {
            m->match_index = raft_persisted_get(n->raft); /* the leader's own durable log */
        } else if (raft_progress_get(n->raft, m->id, &m->match_index, &next) != 0) {
            m->match_index = 0;
        }
        m->reachable = m->id == n->cfg.id;
        for (k = 0; k < ts.n_peers && k < RAFT_MAX_SERVERS; k++) {
            m->reachable = m->reachable || (peers[k].id == m->id && peers[k].connected);
        }
        if (m->id == n->cfg.id) {
            st->learner = !m->voter;
        }
    }
}

int coord_node_leader(const struct coord_node *n, raft_id *id, char *addr, size_t addr_len)
{
    raft_id leader = raft_leader_get(n->raft);
    const struct raft_server *s;
    char peer[RAFT_ADDR_MAX];
    char client[RAFT_ADDR_MAX];

    *id = leader;
    if (addr_len > 0) {
        addr[0] = '\0';
    }
    if (leader == 0) {
        return RAFT_ELEADERLESS;
    }
    s = raft_conf_find(raft_conf_get(n->raft), leader);
    if (s != NULL && coord_node_addr_split(s->address, peer, client) == 0 && addr_len > 0) {
        (void)snprintf(addr, addr_len, "%s", client);
    }
    return leader == n->cfg.id && raft_role_get(n->raft) == RAFT_LEADER ? 1 : 0;
}

/* ---- start -------------------------------------------------------------------------------- */

/* FNV-1a over the initial members, sorted by id: every node of a new
 * cluster derives the same id from the same initial_members. */
static uint64_t derive_cluster_id(const struct coord_config *cfg)
{
    uint64_t h = 14695981039346656037ull;
    raft_id last = 0;
    uint32_t k;
    uint32_t i;

    for (k = 0; k < cfg->n_members; k++) {
        const struct coord_config_member *next = NULL;
        char item[RAFT_ADDR_MAX + 32];
        size_t len;

        for (i = 0; i < cfg->n_members; i++) {
            if (cfg->members[i].id > last && (next == NULL || cfg->members[i].id < next->id)) {
                next = &cfg->members[i];
            }
        }
        last = next->id;
        len = (size_t)snprintf(item, sizeof item, "%llu=%s,", (ull)next->id, next->peer_addr);
        for (i = 0; i < len && i < sizeof item; i++) {
            h ^= (uint8_t)item[i];
            h *= 1099511628211ull;
        }
    }
    return h != 0 ? h : 1;
}

/* The log's snapshot is ahead of LMDB (a crash between the two installs, or
 * a node restored from a snapshot): install its file (note 4). */
static int reconcile(struct coord_node *n, const struct coord_log_recovered *rec, char *err,
                     size_t err_len)
{
    raft_index applied = coord_fsm_applied_index(n->fsm);
    raft_index last = rec->snapshot.index + rec->n_entries;
    char path[PATH_LEN];
    int rv;

    if (applied > last) {
        (void)snprintf(err, err_len,
                       "state machine in %s is at index %llu, past the log's end %llu in %s",
                       n->lmdb_dir, (ull)applied, (ull)last, n->log_dir);
        return RAFT_ECORRUPT;
    }
    if (applied >= rec->snapshot.index) {
        return 0;
    }
    snap_path(n, rec->snapshot.index, path);
    COORD_LOG(WARN,
              "state machine behind the log's snapshot applied=%llu snapshot=%llu: installing %s",
              (ull)applied, (ull)rec->snapshot.index, path);
    rv = coord_fsm_install(n->fsm, path);
    if (rv != 0) {
        (void)snprintf(err, err_len, "cannot install snapshot %s: %s", path, raft_err_str(rv));
    }
    return rv;
}

/* A new cluster: record the initial configuration as the index-0 snapshot,
 * so that it is durable before anything else is. */
static int bootstrap(struct coord_node *n, struct coord_log_recovered *rec, char *err,
                     size_t err_len)
{
    struct raft_snapshot_meta meta = {0};
    char address[RAFT_ADDR_MAX];
    uint32_t i;
    int rv;

    if (rec->term != 0 || rec->snapshot.index != 0 || rec->n_entries != 0 ||
        rec->snapshot.conf.n != 0 || n->cfg.n_members == 0) {
        return 0;
    }
    for (i = 0; i < n->cfg.n_members; i++) {
        const struct coord_config_member *m = &n->cfg.members[i];
        const char *client =
            m->id == n->cfg.id && m->client_addr[0] == '\0' ? n->cfg.client_addr : m->client_addr;

        rv = coord_node_addr_join(m->peer_addr, client, address);
        if (rv == 0) {
            rv = raft_conf_add(&meta.conf, m->id, RAFT_VOTER, address);
        }
        if (rv != 0) {
            (void)snprintf(err, err_len, "initial_members: member %llu: %s", (ull)m->id,
                           raft_err_str(rv));
            return RAFT_ECONFIG;
        }
    }
    rv = coord_log_set_snapshot(n->log, &meta);
    if (rv != 0) {
        (void)snprintf(err, err_len, "cannot record the initial configuration in %s: %s",
                       n->log_dir, raft_err_str(rv));
        return rv;
    }
    rec->snapshot = meta;
    COORD_LOG(INFO, "bootstrapped a new cluster voters=%u", meta.conf.n);
    return 0;
}

static int open_storage(struct coord_node *n, struct coord_log_recovered *rec, char *err,
                        size_t err_len)
{
    struct coord_fsm_opts fo;
    int rv;

    rv = make_dir(n->cfg.data_dir, err, err_len);
    if (rv == 0) {
        rv = make_dir(n->snap_dir, err, err_len);
    }
    if (rv != 0) {
        return rv;
    }
    rv = coord_log_open(n->log_dir, NULL, &n->log, rec, err, err_len);
    if (rv != 0) {
        return rv;
    }
    coord_fsm_opts_default(&fo);
    fo.map_size = n->cfg.map_size_mb << 20;
    fo.cluster_id = n->cluster_id;
    rv = coord_fsm_open(n->lmdb_dir, &fo, &n->fsm);
    if (rv != 0) {
        (void)snprintf(err, err_len, "cannot open the state machine in %s: %s%s", n->lmdb_dir,
                       raft_err_str(rv),
                       rv == RAFT_ECONFIG ? " (it belongs to another cluster)" : "");
        return rv;
    }
    rv = reconcile(n, rec, err, err_len);
    if (rv == 0) {
        rv = bootstrap(n, rec, err, err_len);
    }
    if (rv == 0) {
        n->applied = coord_fsm_applied_index(n->fsm);
        n->applied_term = coord_fsm_applied_term(n->fsm);
        n->revision = coord_fsm_revision(n->fsm);
        n->snap_index = rec->snapshot.index;
        snap_cleanup(n, rec->snapshot.index, true);
    }
    return rv;
}

static int open_net(struct coord_node *n, char *err, size_t err_len)
{
    struct coord_transport_opts to;
    struct coord_transport_cbs cbs = {n, on_recv, on_snapshot_received, on_snapshot_sent, NULL};
    struct coord_writer_opts wo;
    int rv;

    coord_transport_opts_default(&to);
    to.id = n->cfg.id;
    to.cluster_id = n->cluster_id;
    to.listen_address = n->cfg.peer_addr;
    to.snapshot_dir = n->snap_dir;
    to.max_frame = n->cfg.max_peer_frame_bytes;
    to.seed = n->cfg.id ^ uv_hrtime();
    to.accept_unknown = true;
    if (to.snapshot_chunk + 4096 > to.max_frame) {
        to.snapshot_chunk = to.max_frame / 2;
    }
    rv = coord_transport_new(n->loop, &to, &cbs, &n->transport);
    if (rv != 0) {
        (void)snprintf(err, err_len, "peer_addr: cannot listen on %s: %s", n->cfg.peer_addr,
                       rv == RAFT_EBUSY ? "address in use" : raft_err_str(rv));
        return rv;
    }
    coord_writer_opts_default(&wo);
    wo.max_jobs = 1u << 20;
    wo.max_bytes = (size_t)1 << 30;
    rv = coord_writer_new(n->loop, n->log, &wo, on_persisted, n, &n->writer);
    if (rv != 0) {
        (void)snprintf(err, err_len, "cannot start the log writer: %s", raft_err_str(rv));
    }
    return rv;
}

static int start_apply(struct coord_node *n, char *err, size_t err_len)
{
    if (uv_mutex_init(&n->mu) != 0 || uv_cond_init(&n->cond) != 0 ||
        uv_async_init(n->loop, &n->apply_async, on_apply_async) != 0) {
        (void)snprintf(err, err_len, "cannot create the apply thread's handles");
        return RAFT_EIO;
    }
    n->apply_async.data = n;
    n->n_handles++;
    if (uv_thread_create(&n->apply_thread, thread_main, n) != 0) {
        (void)snprintf(err, err_len, "cannot start the apply thread");
        return RAFT_EIO;
    }
    n->apply_started = true;
    return 0;
}

static void init_handles(struct coord_node *n)
{
    (void)uv_timer_init(n->loop, &n->raft_timer);
    (void)uv_timer_init(n->loop, &n->house_timer);
    (void)uv_check_init(n->loop, &n->flush_check);
    (void)uv_idle_init(n->loop, &n->flush_idle);
    n->raft_timer.data = n->house_timer.data = n;
    n->flush_check.data = n->flush_idle.data = n;
    n->n_handles += 4;
    (void)uv_timer_start(&n->house_timer, on_house_timer, HOUSEKEEPING_MS, HOUSEKEEPING_MS);
    (void)uv_check_start(&n->flush_check, on_flush_check);
}

static int start_raft(struct coord_node *n, const struct coord_log_recovered *rec, char *err,
                      size_t err_len)
{
    struct raft_config rc;
    struct raft_event ev = {.type = RAFT_EV_START};
    int rv;

    raft_config_default(&rc);
    rc.id = n->cfg.id;
    rc.election_timeout_ms = n->cfg.election_timeout_ms;
    rc.heartbeat_ms = n->cfg.heartbeat_ms;
    rc.snapshot_trailing = n->cfg.snapshot_trailing;
    rc.seed = n->cfg.id * 0x9e3779b97f4a7c15ull ^ uv_hrtime();
    if (coord_log_enabled(COORD_LOG_DEBUG)) {
        rc.trace = on_trace;
        rc.trace_arg = n;
    }
    rv = raft_new(&rc, &n->raft);
    if (rv != 0) {
        (void)snprintf(err, err_len, "cannot create the raft core: %s", raft_err_str(rv));
        return rv;
    }
    ev.start.term = rec->term;
    ev.start.vote = rec->vote;
    ev.start.commit = rec->commit;
    ev.start.applied = n->applied;
    ev.start.snapshot = &rec->snapshot;
    ev.start.entries = rec->entries;
    ev.start.n_entries = rec->n_entries;
    n->term = rec->term;
    coord_log_set_term(rec->term);
    rv = step(n, &ev, NULL);
    if (rv != 0) {
        (void)snprintf(err, err_len, "the raft core refused the recovered state: %s",
                       raft_err_str(rv));
        return rv;
    }
    set_peers(n);
    COORD_LOG(INFO, "node started peer=%s client=%s term=%llu applied=%llu last=%llu members=%u",
              n->cfg.peer_addr, n->cfg.client_addr, (ull)rec->term, (ull)n->applied,
              (ull)raft_last_index(n->raft), raft_conf_get(n->raft)->n);
    return 0;
}

int coord_node_new(uv_loop_t *loop, const struct coord_config *cfg, struct coord_node **out,
                   char *err, size_t err_len)
{
    struct coord_log_recovered rec = {0};
    struct coord_node *n = raft_calloc(1, sizeof *n);
    int rv;

    if (n == NULL) {
        (void)snprintf(err, err_len, "out of memory");
        return RAFT_ENOMEM;
    }
    n->loop = loop;
    n->cfg = *cfg;
    n->cluster_id = cfg->cluster_id != 0 ? cfg->cluster_id
                    : cfg->n_members > 0 ? derive_cluster_id(cfg)
                                         : 0;
    (void)snprintf(n->log_dir, sizeof n->log_dir, "%s/log", cfg->data_dir);
    (void)snprintf(n->lmdb_dir, sizeof n->lmdb_dir, "%s/lmdb", cfg->data_dir);
    (void)snprintf(n->snap_dir, sizeof n->snap_dir, "%s/snap", cfg->data_dir);
    coord_log_set_node(cfg->id);
    rv = open_storage(n, &rec, err, err_len);
    if (rv == 0) {
        rv = open_net(n, err, err_len);
    }
    if (rv == 0) {
        rv = start_apply(n, err, err_len);
    }
    if (rv != 0) {
        /* coordd exits on this path; what libuv still holds is released
         * with the process. */
        coord_log_recovered_free(&rec);
        return rv;
    }
    init_handles(n);
    rv = start_raft(n, &rec, err, err_len);
    coord_log_recovered_free(&rec);
    if (rv != 0) {
        return rv;
    }
    *out = n;
    return 0;
}

/* ---- close -------------------------------------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h)
{
    struct coord_node *n = h->data;

    RAFT_ASSERT(n->n_handles > 0);
    if (--n->n_handles > 0) {
        return;
    }
    raft_destroy(n->raft);
    while (n->free_reqs != NULL) {
        struct req *r = n->free_reqs;

        n->free_reqs = r->next;
        raft_free(r);
    }
    raft_free(n->submit_buf);
    if (n->close_cb != NULL) {
        n->close_cb(n->close_arg);
    }
    raft_free(n);
}

static void stop_apply(struct coord_node *n)
{
    struct apply_job *stop = raft_calloc(1, sizeof *stop);
    struct apply_job *j;

    if (!n->apply_started) {
        return;
    }
    /* The thread needs the STOP job to end: without memory for it, wait. */
    RAFT_ASSERT(stop != NULL);
    stop->type = AJ_STOP;
    apply_submit(n, stop);
    (void)uv_thread_join(&n->apply_thread);
    n->apply_started = false;
    while ((j = n->done_jobs.head) != NULL) {
        n->done_jobs.head = j->next;
        if (j->type == AJ_STOP && j->status != 0) {
            COORD_LOG(ERROR, "state machine sync at close failed err=%s", raft_err_name(j->status));
        }
        apply_job_free(j);
    }
    n->done_jobs.tail = NULL;
}

static void on_writer_closed(void *arg)
{
    struct coord_node *n = arg;

    n->writer = NULL;
    stop_apply(n);
    coord_fsm_close(n->fsm);
    n->fsm = NULL;
    coord_log_close(n->log);
    n->log = NULL;
    uv_mutex_destroy(&n->mu);
    uv_cond_destroy(&n->cond);
    COORD_LOG(INFO, "node stopped applied=%llu", (ull)n->applied);
    uv_close((uv_handle_t *)&n->raft_timer, on_handle_closed);
    uv_close((uv_handle_t *)&n->house_timer, on_handle_closed);
    uv_close((uv_handle_t *)&n->flush_check, on_handle_closed);
    uv_close((uv_handle_t *)&n->flush_idle, on_handle_closed);
    uv_close((uv_handle_t *)&n->apply_async, on_handle_closed);
}

static void on_transport_closed(void *arg)
{
    struct coord_node *n = arg;

    n->transport = NULL;
    coord_writer_close(n->writer, on_writer_closed, n);
}

void coord_node_close(struct coord_node *n, coord_node_close_cb cb, void *arg)
{
    RAFT_ASSERT(!n->closing);
    n->closing = true;
    n->close_cb = cb;
    n->close_arg = arg;
    COORD_LOG(INFO, "node stopping");
    fail_all(n, RAFT_ESHUTDOWN, "the node is shutting down");
    (void)uv_timer_stop(&n->raft_timer);
    (void)uv_timer_stop(&n->house_timer);
    (void)uv_check_stop(&n->flush_check);
    (void)uv_idle_stop(&n->flush_idle);
    drain(n);
    coord_transport_close(n->transport, on_transport_closed, n);
}
