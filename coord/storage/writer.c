/* SPDX-License-Identifier: MIT */
/* writer: one thread that owns the coord_log and commits jobs in groups.
 * Translates libuv errors at its boundary. */

/* Design notes
 * ============
 *
 * Jobs move through three places, always in submission order:
 *
 *   coord_writer_submit()      run(): take all        run(): after one sync
 *   loop ---------------> queue ----------------> batch ----------------> done
 *                        (mu)                  (thread)                  (mu)
 *                                                   on_async(): report, free
 *                                             done --------------------> gone
 *
 * Invariants:
 * 1. A job is reported with status 0 only if a coord_log_sync() that began
 *    after its writes returned 0.
 * 2. err is sticky: once a job or a sync failed, every later job carries an
 *    error, so no completion ever follows a lost write with success.
 * 3. n_pending and pending_bytes count jobs submitted and not yet reported;
 *    they never exceed max_jobs and max_bytes (submit refuses first).
 * 4. Only the writer thread touches the log between coord_writer_new() and
 *    the join in coord_writer_close().
 * 5. Of the hard states in one batch only the last is written (they all
 *    become durable at the same flush, so the others are never seen).
 */
#include "coord/storage/writer.h"

#include <string.h>

#include "raft/base/alloc.h"
#include "raft/base/assert.h"

#define DEFAULT_MAX_JOBS  4096u
#define DEFAULT_MAX_BYTES (64u << 20)

struct job {
    struct job *next;  /* in queue or done */
    void *arg;         /* the caller's, passed back to done */
    int status;        /* set by the thread */
    bool has_snapshot; /* install snapshot first */
    struct raft_snapshot_meta snapshot;
    bool has_taken; /* record taken after the entries */
    struct raft_snapshot_meta taken;
    raft_index compact_below;   /* 0: no compaction */
    struct raft_entry *entries; /* owned: the array, then the data bytes, in one block */
    size_t n_entries;
    size_t bytes; /* data bytes of entries, counted in pending_bytes */
    bool has_hard_state;
    raft_term term;
    raft_id vote;
    raft_index commit;
};

struct coord_writer {
    uv_loop_t *loop;       /* borrowed */
    struct coord_log *log; /* borrowed; writer thread only (invariant 4) */
    struct coord_writer_opts opts;
    coord_writer_done_cb done_cb;
    void *done_arg;
    coord_writer_close_cb close_cb;
    void *close_arg;
    uv_thread_t thread;
    uv_mutex_t mu;
    uv_cond_t cond;                  /* signalled on submit and on stop; waited on by the thread */
    uv_async_t async;                /* wakes the loop when done gains jobs */
    struct job *queue_head;          /* guarded by mu: submitted, not yet taken */
    struct job *queue_tail;          /* guarded by mu */
    struct job *done_head;           /* guarded by mu: written, not yet reported */
    struct job *done_tail;           /* guarded by mu */
    struct job *reporting;           /* loop thread only: taken from done, being reported */
    bool stopping;                   /* guarded by mu: finish the queue, then exit */
    struct coord_writer_stats stats; /* guarded by mu */
    size_t n_pending;                /* loop thread only: submitted, not reported */
    size_t pending_bytes;            /* loop thread only: their data bytes */
    bool closing;                    /* loop thread only */
    int err;                         /* writer thread only: first failure, sticky */
};

void coord_writer_opts_default(struct coord_writer_opts *opts)
{
    opts->max_jobs = DEFAULT_MAX_JOBS;
    opts->max_bytes = DEFAULT_MAX_BYTES;
}

static int xlate_uv(int rv)
{
    return rv == UV_ENOMEM ? RAFT_ENOMEM : RAFT_EIO;
}

static void job_free(struct job *job)
{
    raft_free(job->entries);
    raft_free(job);
}

/* ---- the writer thread ------------------------------------------------------------------ */

static int apply_entries(struct coord_log *log, const struct job *job)
{
    struct coord_log_stats st;
    int rv;

    if (job->n_entries == 0) {
        return 0;
    }
    coord_log_stats(log, &st);
    if (job->entries[0].index <= st.last_index) {
        rv = coord_log_truncate(log, job->entries[0].index);
        if (rv != 0) {
            return rv;
        }
    }
    return coord_log_append(log, job->entries, job->n_entries);
}

/* Everything of job but its hard state, in the order of struct
 * coord_persist. */
static int apply(struct coord_log *log, const struct job *job)
{
    int rv = 0;

    if (job->has_snapshot) {
        rv = coord_log_install_snapshot(log, &job->snapshot);
    }
    if (rv == 0) {
        rv = apply_entries(log, job);
    }
    if (rv == 0 && job->has_taken) {
        rv = coord_log_set_snapshot(log, &job->taken);
    }
    if (rv == 0 && job->compact_below > 0) {
        rv = coord_log_compact(log, job->compact_below);
    }
    return rv;
}

/* The batch failed from the hard state or the sync on: every job not yet
 * failed takes rv (invariants 1 and 2). */
static void fail_batch(struct coord_writer *w, struct job *batch, int rv)
{
    struct job *job;

    w->err = rv;
    for (job = batch; job != NULL; job = job->next) {
        if (job->status == 0) {
            job->status = rv;
        }
    }
}

/* Write every job of the batch, then flush once. Only the last hard state
 * of the batch is stored: the earlier ones would be overwritten before the
 * flush anyway, and nothing is reported before it. */
static void process(struct coord_writer *w, struct job *batch, bool *synced)
{
    const struct job *hs = NULL;
    struct job *job;
    bool wrote = false;
    int rv;

    for (job = batch; job != NULL; job = job->next) {
        if (w->err != 0) {
            job->status = w->err;
            continue;
        }
        rv = apply(w->log, job);
        job->status = rv;
        if (rv != 0) {
            w->err = rv;
            continue;
        }
        wrote = true;
        hs = job->has_hard_state ? job : hs;
    }
    *synced = false;
    if (!wrote) {
        return;
    }
    if (hs != NULL) {
        rv = coord_log_set_hard_state(w->log, hs->term, hs->vote, hs->commit);
        if (rv != 0) {
            fail_batch(w, batch, rv);
            return;
        }
    }
    *synced = true;
    rv = coord_log_sync(w->log);
    if (rv != 0) {
        fail_batch(w, batch, rv);
    }
}

static void run(void *arg)
{
    struct coord_writer *w = arg;
    struct coord_log_stats st;
    struct job *batch;
    struct job *last;
    uint64_t n;
    bool synced;

    uv_mutex_lock(&w->mu);
    for (;;) {
        while (w->queue_head == NULL && !w->stopping) {
            uv_cond_wait(&w->cond, &w->mu);
        }
        if (w->queue_head == NULL) {
            break;
        }
        batch = w->queue_head;
        w->queue_head = NULL;
        w->queue_tail = NULL;
        uv_mutex_unlock(&w->mu);

        process(w, batch, &synced);
        coord_log_stats(w->log, &st);
        for (n = 1, last = batch; last->next != NULL; last = last->next) {
            n++;
        }

        uv_mutex_lock(&w->mu);
        if (w->done_tail != NULL) {
            w->done_tail->next = batch;
        } else {
            w->done_head = batch;
        }
        w->done_tail = last;
        w->stats.n_jobs += n;
        w->stats.n_batches++;
        w->stats.n_syncs += synced ? 1 : 0;
        w->stats.n_flushes = st.n_syncs;
        w->stats.max_batch = n > w->stats.max_batch ? n : w->stats.max_batch;
        uv_async_send(&w->async);
    }
    uv_mutex_unlock(&w->mu);
}

/* ---- the loop thread -------------------------------------------------------------------- */

/* Report every job the thread finished, in order. The jobs being reported
 * hang off w->reporting, so that a callback that closes the writer (which
 * reports the rest at once) and the loop it interrupted drain one list. */
static void report_done(struct coord_writer *w)
{
    struct job *job;

    for (;;) {
        if (w->reporting == NULL) {
            uv_mutex_lock(&w->mu);
            w->reporting = w->done_head;
            w->done_head = NULL;
            w->done_tail = NULL;
            uv_mutex_unlock(&w->mu);
        }
        job = w->reporting;
        if (job == NULL) {
            return;
        }
        w->reporting = job->next;
        RAFT_ASSERT(w->n_pending > 0 && w->pending_bytes >= job->bytes);
        w->n_pending--;
        w->pending_bytes -= job->bytes;
        w->done_cb(w->done_arg, job->arg, job->status);
        job_free(job);
    }
}

static void on_async(uv_async_t *async)
{
    report_done(async->data);
}

static void on_closed(uv_handle_t *handle)
{
    struct coord_writer *w = handle->data;
    coord_writer_close_cb cb = w->close_cb;
    void *arg = w->close_arg;

    uv_cond_destroy(&w->cond);
    uv_mutex_destroy(&w->mu);
    raft_free(w);
    if (cb != NULL) {
        cb(arg);
    }
}

int coord_writer_new(uv_loop_t *loop, struct coord_log *log, const struct coord_writer_opts *opts,
                     coord_writer_done_cb done, void *arg, struct coord_writer **out)
{
    struct coord_writer *w;
    int rv;

    w = raft_calloc(1, sizeof(*w));
    if (w == NULL) {
        return RAFT_ENOMEM;
    }
    if (opts != NULL) {
        w->opts = *opts;
    } else {
        coord_writer_opts_default(&w->opts);
    }
    if (w->opts.max_jobs == 0 || w->opts.max_bytes == 0) {
        rv = RAFT_EINVAL;
        goto err_after_alloc;
    }
    w->loop = loop;
    w->log = log;
    w->done_cb = done;
    w->done_arg = arg;
    rv = uv_mutex_init(&w->mu);
    if (rv != 0) {
        rv = xlate_uv(rv);
        goto err_after_alloc;
    }
    rv = uv_cond_init(&w->cond);
    if (rv != 0) {
        rv = xlate_uv(rv);
        goto err_after_mutex;
    }
    rv = uv_async_init(loop, &w->async, on_async);
    if (rv != 0) {
        rv = xlate_uv(rv);
        goto err_after_cond;
    }
    w->async.data = w;
    rv = uv_thread_create(&w->thread, run, w);
    if (rv != 0) {
        /* The async handle closes asynchronously: on_closed() frees the
         * writer on a later loop iteration. */
        uv_close((uv_handle_t *)&w->async, on_closed);
        return xlate_uv(rv);
    }
    *out = w;
    return 0;

err_after_cond:
    uv_cond_destroy(&w->cond);
err_after_mutex:
    uv_mutex_destroy(&w->mu);
err_after_alloc:
    raft_free(w);
    return rv;
}

/* Copy p into a job: the entries array and their data in one block. */
static int job_new(const struct coord_persist *p, void *arg, struct job **out)
{
    struct job *job;
    size_t bytes = 0;
    uint8_t *data;
    size_t i;

    for (i = 0; i < p->n_entries; i++) {
        bytes += p->entries[i].data.len;
    }
    job = raft_calloc(1, sizeof(*job));
    if (job == NULL) {
        return RAFT_ENOMEM;
    }
    if (p->n_entries > 0) {
        job->entries = raft_malloc(p->n_entries * sizeof(*job->entries) + bytes);
        if (job->entries == NULL) {
            raft_free(job);
            return RAFT_ENOMEM;
        }
        data = (uint8_t *)(job->entries + p->n_entries);
        for (i = 0; i < p->n_entries; i++) {
            job->entries[i] = p->entries[i];
            job->entries[i].data.base = p->entries[i].data.len > 0 ? data : NULL;
            if (p->entries[i].data.len > 0) {
                memcpy(data, p->entries[i].data.base, p->entries[i].data.len);
                data += p->entries[i].data.len;
            }
        }
    }
    job->arg = arg;
    job->n_entries = p->n_entries;
    job->bytes = bytes;
    job->has_snapshot = p->snapshot != NULL;
    if (p->snapshot != NULL) {
        job->snapshot = *p->snapshot;
    }
    job->has_taken = p->taken != NULL;
    if (p->taken != NULL) {
        job->taken = *p->taken;
    }
    job->compact_below = p->compact_below;
    job->has_hard_state = p->has_hard_state;
    job->term = p->term;
    job->vote = p->vote;
    job->commit = p->commit;
    *out = job;
    return 0;
}

int coord_writer_submit(struct coord_writer *w, const struct coord_persist *p, void *job_arg)
{
    struct job *job;
    size_t bytes = 0;
    size_t i;
    int rv;

    if (w->closing) {
        return RAFT_ESHUTDOWN;
    }
    for (i = 0; i < p->n_entries; i++) {
        bytes += p->entries[i].data.len;
    }
    if (bytes > w->opts.max_bytes) {
        return RAFT_ETOOBIG;
    }
    if (w->n_pending >= w->opts.max_jobs || bytes > w->opts.max_bytes - w->pending_bytes) {
        return RAFT_EBUSY;
    }
    rv = job_new(p, job_arg, &job);
    if (rv != 0) {
        return rv;
    }
    w->n_pending++;
    w->pending_bytes += bytes;
    uv_mutex_lock(&w->mu);
    if (w->queue_tail != NULL) {
        w->queue_tail->next = job;
    } else {
        w->queue_head = job;
    }
    w->queue_tail = job;
    uv_cond_signal(&w->cond);
    uv_mutex_unlock(&w->mu);
    return 0;
}

void coord_writer_stats(struct coord_writer *w, struct coord_writer_stats *stats)
{
    uv_mutex_lock(&w->mu);
    *stats = w->stats;
    uv_mutex_unlock(&w->mu);
}

void coord_writer_close(struct coord_writer *w, coord_writer_close_cb cb, void *arg)
{
    int rv;

    RAFT_ASSERT(!w->closing);
    w->closing = true;
    w->close_cb = cb;
    w->close_arg = arg;
    uv_mutex_lock(&w->mu);
    w->stopping = true;
    uv_cond_signal(&w->cond);
    uv_mutex_unlock(&w->mu);
    rv = uv_thread_join(&w->thread);
    RAFT_ASSERT(rv == 0);
    report_done(w);
    RAFT_ASSERT(w->n_pending == 0);
    /* The mutex lives on until on_closed(): a report_done() this close
     * interrupted (called from a callback) still looks at the list. */
    uv_close((uv_handle_t *)&w->async, on_closed);
}
