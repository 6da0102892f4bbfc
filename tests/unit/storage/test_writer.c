/* SPDX-License-Identifier: MIT */
/* test_writer: the log-writer thread (coord/storage/writer.c): group commit,
 * ordered completions, sticky failures, bounded queue, clean shutdown.
 * Timing is never assumed: a gate in the fdatasync hook holds the thread
 * while the test queues jobs behind it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above. */
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coord/log.h"
#include "coord/storage/log.h"
#include "coord/storage/writer.h"
#include "raft/base/alloc.h"

#define MAX_JOBS 4096

/* The fdatasync hook, run on the writer thread. */
struct gate {
    atomic_bool armed;   /* the next fdatasync waits for sem */
    atomic_bool failing; /* every fdatasync fails with EIO */
    atomic_int n_calls;
    uv_sem_t sem;     /* posted by the test to let a gated call go on */
    uv_sem_t entered; /* posted by a gated call as it starts to wait */
};

struct fx {
    char dir[64];
    long live; /* raft_alloc_live() at setup */
    struct gate gate;
    struct coord_log_opts opts;
    struct coord_log *log;
    uv_loop_t loop;
    struct coord_writer *w;
    int n_done;                  /* completions seen */
    uint64_t done_arg[MAX_JOBS]; /* job_arg of each, in order */
    int status[MAX_JOBS];        /* status of each, in order */
    bool close_called;           /* coord_writer_close() was called */
    bool closed;                 /* its callback ran */
    int close_at;                /* the close_at-th completion closes the writer; 0: none */
    bool submit_in_cb;           /* completions try to submit: */
    int submit_rv;               /* ... with this result */
};

static int gate_sync(void *arg, int fd)
{
    struct gate *g = arg;

    atomic_fetch_add(&g->n_calls, 1);
    if (atomic_exchange(&g->armed, false)) {
        uv_sem_post(&g->entered);
        uv_sem_wait(&g->sem);
    }
    if (atomic_load(&g->failing)) {
        errno = EIO;
        return -1;
    }
    return fdatasync(fd);
}

static void quiet(void *arg, int level, const char *line)
{
    (void)arg;
    (void)level;
    (void)line;
}

static void on_closed(void *arg)
{
    struct fx *f = arg;

    f->closed = true;
}

static void close_writer(struct fx *f)
{
    f->close_called = true;
    coord_writer_close(f->w, on_closed, f);
}

static void on_done(void *arg, void *job_arg, int status)
{
    struct fx *f = arg;
    struct coord_persist p = {0};

    assert_true(f->n_done < MAX_JOBS);
    f->done_arg[f->n_done] = (uint64_t)(uintptr_t)job_arg;
    f->status[f->n_done] = status;
    f->n_done++;
    if (f->close_at > 0 && f->n_done == f->close_at) {
        close_writer(f);
    }
    if (f->submit_in_cb) {
        f->submit_rv = coord_writer_submit(f->w, &p, NULL);
    }
}

static void open_log(struct fx *f)
{
    struct coord_log_recovered rec;
    char err[256];
    int rv = coord_log_open(f->dir, &f->opts, &f->log, &rec, err, sizeof(err));

    if (rv != 0) {
        fail_msg("open: %s", err);
    }
    coord_log_recovered_free(&rec);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/coord-test-writer-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->live = raft_alloc_live();
    coord_log_set_sink(quiet, NULL);
    assert_int_equal(uv_sem_init(&f->gate.sem, 0), 0);
    assert_int_equal(uv_sem_init(&f->gate.entered, 0), 0);
    coord_log_opts_default(&f->opts);
    f->opts.segment_size = 64 * 1024;
    f->opts.max_entry_size = 1024;
    f->opts.preallocate = false;
    f->opts.io.fdatasync = gate_sync;
    f->opts.io.arg = &f->gate;
    open_log(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(coord_writer_new(&f->loop, f->log, NULL, on_done, f, &f->w), 0);
    *state = f;
    return 0;
}

static void rm_dir(const char *path)
{
    char p[512];
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

/* Close the writer (if the test did not), then the loop (which must have
 * no handle left), then the log; no allocation may be left. */
static int teardown(void **state)
{
    struct fx *f = *state;

    raft_alloc_fail_at(0);
    if (!f->close_called) {
        close_writer(f);
    }
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_true(f->closed);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    coord_log_close(f->log);
    uv_sem_destroy(&f->gate.sem);
    uv_sem_destroy(&f->gate.entered);
    coord_log_set_sink(NULL, NULL);
    rm_dir(f->dir);
    assert_int_equal(raft_alloc_live(), f->live);
    free(f);
    return 0;
}

/* One entry at index, term, with 16 bytes of data. */
static int submit_entry(struct fx *f, raft_index index, raft_term term)
{
    uint8_t data[16];
    struct raft_entry e = {.index = index, .term = term, .type = RAFT_ENTRY_NORMAL};
    struct coord_persist p = {.entries = &e, .n_entries = 1};

    memset(data, (int)(index + term), sizeof(data));
    e.data.base = data;
    e.data.len = sizeof(data);
    return coord_writer_submit(f->w, &p, (void *)(uintptr_t)index);
}

static void run_until(struct fx *f, int n_done)
{
    while (f->n_done < n_done) {
        uv_run(&f->loop, UV_RUN_ONCE);
    }
}

/* Reopen the log after the writer is gone and return its entries. */
static void reopen(struct fx *f, struct coord_log_recovered *rec)
{
    char err[256];

    coord_log_close(f->log);
    f->log = NULL;
    memset(&f->opts.io, 0, sizeof(f->opts.io));
    if (coord_log_open(f->dir, &f->opts, &f->log, rec, err, sizeof(err)) != 0) {
        fail_msg("reopen: %s", err);
    }
}

/* Close the writer and wait for its callback. */
static void close_and_wait(struct fx *f)
{
    close_writer(f);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_true(f->closed);
}

/* ---- tests ------------------------------------------------------------------------------ */

/* Jobs queued while a flush runs share the next one; completions come back
 * in submission order. */
static void test_writer_group_commit_fewer_syncs_than_jobs(void **state)
{
    struct fx *f = *state;
    struct coord_writer_stats st;
    struct coord_log_recovered rec;
    int n = 200;
    int i;

    atomic_store(&f->gate.armed, true);
    for (i = 1; i <= n; i++) {
        assert_int_equal(submit_entry(f, (raft_index)i, 1), 0);
    }
    uv_sem_post(&f->gate.sem);
    run_until(f, n);
    for (i = 0; i < n; i++) {
        assert_int_equal(f->done_arg[i], i + 1);
        assert_int_equal(f->status[i], 0);
    }
    coord_writer_stats(f->w, &st);
    assert_int_equal(st.n_jobs, n);
    assert_true(st.n_batches <= 2); /* the gated one, then all the others */
    assert_true(st.n_syncs <= 2);
    assert_true(st.max_batch >= (uint64_t)n / 2);
    assert_true(st.n_flushes <= 9); /* with open's three and the first segment's creation */
    close_and_wait(f);
    reopen(f, &rec);
    assert_int_equal(rec.n_entries, n);
    assert_int_equal(rec.entries[n - 1].index, n);
    coord_log_recovered_free(&rec);
}

/* Hard state, truncation and snapshot installs, in the order of the jobs. */
static void test_writer_applies_jobs_in_order(void **state)
{
    struct fx *f = *state;
    struct raft_snapshot_meta meta = {.index = 100, .term = 4};
    struct coord_persist p = {.has_hard_state = true, .term = 2, .vote = 1};
    struct coord_log_recovered rec;
    raft_index i;

    assert_int_equal(coord_writer_submit(f->w, &p, (void *)1), 0);
    for (i = 1; i <= 10; i++) {
        assert_int_equal(submit_entry(f, i, 2), 0);
    }
    /* A new leader overwrites 6.. with term 3. */
    for (i = 6; i <= 8; i++) {
        assert_int_equal(submit_entry(f, i, 3), 0);
    }
    p.term = 3;
    p.vote = 0;
    p.commit = 7;
    assert_int_equal(coord_writer_submit(f->w, &p, (void *)2), 0);
    run_until(f, 15);
    for (i = 0; i < 15; i++) {
        assert_int_equal(f->status[i], 0);
    }
    close_and_wait(f);
    reopen(f, &rec);
    assert_int_equal(rec.term, 3);
    assert_int_equal(rec.vote, 0);
    assert_int_equal(rec.commit, 7);
    assert_int_equal(rec.n_entries, 8);
    assert_int_equal(rec.entries[4].term, 2);
    assert_int_equal(rec.entries[5].term, 3);
    coord_log_recovered_free(&rec);

    /* A snapshot install drops the log; entries after it follow. */
    coord_log_close(f->log);
    f->log = NULL;
    open_log(f);
    f->closed = false;
    f->close_called = false;
    f->n_done = 0;
    assert_int_equal(coord_writer_new(&f->loop, f->log, NULL, on_done, f, &f->w), 0);
    p.snapshot = &meta;
    p.term = 4;
    p.commit = 100;
    assert_int_equal(coord_writer_submit(f->w, &p, (void *)3), 0);
    assert_int_equal(submit_entry(f, 101, 4), 0);
    run_until(f, 2);
    assert_int_equal(f->status[0], 0);
    assert_int_equal(f->status[1], 0);
    close_and_wait(f);
    reopen(f, &rec);
    assert_int_equal(rec.snapshot.index, 100);
    assert_int_equal(rec.n_entries, 1);
    assert_int_equal(rec.entries[0].index, 101);
    coord_log_recovered_free(&rec);
}

/* A snapshot the state machine took is recorded and the log compacted
 * below it, on the writer thread. */
static void test_writer_records_taken_snapshot_and_compacts(void **state)
{
    struct fx *f = *state;
    struct raft_snapshot_meta meta = {.index = 3000, .term = 1};
    struct coord_persist p = {.taken = &meta, .compact_below = 3001};
    struct coord_log_recovered rec;
    struct coord_log_stats st;
    raft_index i;

    for (i = 1; i <= 4000; i++) {
        assert_int_equal(submit_entry(f, i, 1), 0);
    }
    assert_int_equal(coord_writer_submit(f->w, &p, NULL), 0);
    run_until(f, 4001);
    assert_int_equal(f->status[4000], 0);
    close_and_wait(f);
    coord_log_stats(f->log, &st);
    assert_true(st.first_index > 1);
    assert_true(st.first_index <= 3001);
    reopen(f, &rec);
    assert_int_equal(rec.snapshot.index, 3000);
    assert_int_equal(rec.n_entries, 1000);
    assert_int_equal(rec.entries[0].index, 3001);
    coord_log_recovered_free(&rec);
}

/* A failed flush is reported as RAFT_EIO for its whole batch, and every job
 * after it fails too, even once the disk would work again. */
static void test_writer_sync_failure_is_reported_and_sticks(void **state)
{
    struct fx *f = *state;
    struct coord_writer_stats st;
    int i;

    assert_int_equal(submit_entry(f, 1, 1), 0);
    run_until(f, 1);
    assert_int_equal(f->status[0], 0);

    atomic_store(&f->gate.failing, true);
    for (i = 2; i <= 5; i++) {
        assert_int_equal(submit_entry(f, (raft_index)i, 1), 0);
    }
    run_until(f, 5);
    atomic_store(&f->gate.failing, false);
    assert_int_equal(submit_entry(f, 6, 1), 0);
    run_until(f, 6);
    for (i = 1; i < 6; i++) {
        assert_int_equal(f->done_arg[i], i + 1);
        assert_int_equal(f->status[i], RAFT_EIO);
    }
    coord_writer_stats(f->w, &st);
    assert_int_equal(st.n_jobs, 6);
    close_and_wait(f);
    assert_int_equal(coord_log_sync(f->log), RAFT_EIO); /* the log is failed too */
}

/* The queue is bounded in jobs and bytes; a refusal says so and changes
 * nothing. */
static void test_writer_queue_full_is_refused(void **state)
{
    struct fx *f = *state;
    struct coord_writer_opts opts = {.max_jobs = 4, .max_bytes = 40};
    uint8_t big[41] = {0};
    struct raft_entry e = {.index = 5, .term = 1, .data = {big, sizeof(big)}};
    struct coord_persist p = {.entries = &e, .n_entries = 1};
    raft_index i;

    close_and_wait(f);
    f->closed = false;
    f->close_called = false;
    assert_int_equal(coord_writer_new(&f->loop, f->log, &opts, on_done, f, &f->w), 0);
    atomic_store(&f->gate.armed, true);
    assert_int_equal(coord_writer_submit(f->w, &p, NULL), RAFT_ETOOBIG);
    for (i = 1; i <= 2; i++) {
        assert_int_equal(submit_entry(f, i, 1), 0); /* 16 bytes each */
    }
    assert_int_equal(submit_entry(f, 3, 1), RAFT_EBUSY); /* 48 > 40 bytes */
    e.index = 3;
    e.data.len = 8;
    assert_int_equal(coord_writer_submit(f->w, &p, (void *)3), 0);
    p.n_entries = 0;
    assert_int_equal(coord_writer_submit(f->w, &p, (void *)4), 0);
    assert_int_equal(coord_writer_submit(f->w, &p, (void *)5), RAFT_EBUSY); /* 4 jobs */
    uv_sem_post(&f->gate.sem);
    run_until(f, 4);
    assert_int_equal(submit_entry(f, 4, 1), 0);
    run_until(f, 5);
    for (i = 0; i < 5; i++) {
        assert_int_equal(f->status[i], 0);
    }
}

/* Close writes and reports every queued job before it returns; a submit
 * from a completion during close is refused. */
static void test_writer_close_finishes_queued_jobs(void **state)
{
    struct fx *f = *state;
    struct coord_log_recovered rec;
    raft_index i;

    for (i = 1; i <= 50; i++) {
        assert_int_equal(submit_entry(f, i, 1), 0);
    }
    f->submit_in_cb = true;
    close_writer(f);
    assert_int_equal(f->n_done, 50);
    assert_int_equal(f->submit_rv, RAFT_ESHUTDOWN);
    assert_false(f->closed); /* the handle closes on the loop */
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_true(f->closed);
    reopen(f, &rec);
    assert_int_equal(rec.n_entries, 50);
    coord_log_recovered_free(&rec);
}

/* A completion callback may close the writer while later completions of
 * the same batch wait: they are all reported, in order, before close
 * returns. */
static void test_writer_close_from_callback(void **state)
{
    struct fx *f = *state;
    int i;

    atomic_store(&f->gate.armed, true);
    for (i = 1; i <= 10; i++) {
        assert_int_equal(submit_entry(f, (raft_index)i, 1), 0);
    }
    f->close_at = 3;
    uv_sem_post(&f->gate.sem);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_true(f->closed);
    assert_int_equal(f->n_done, 10);
    for (i = 0; i < 10; i++) {
        assert_int_equal(f->done_arg[i], i + 1);
        assert_int_equal(f->status[i], 0);
    }
}

/* Allocation k fails in submit, for k = 1, 2, ...: RAFT_ENOMEM, no leak,
 * and the writer goes on. Fault injection counts the allocations of every
 * thread, so the writer thread is held in a flush meanwhile. */
static void test_writer_oom_sweep_submit(void **state)
{
    struct fx *f = *state;
    long live;
    long k;
    int rv;

    atomic_store(&f->gate.armed, true);
    assert_int_equal(submit_entry(f, 1, 1), 0);
    uv_sem_wait(&f->gate.entered);
    live = raft_alloc_live();
    for (k = 1;; k++) {
        raft_alloc_fail_at(k);
        rv = submit_entry(f, 2, 1);
        raft_alloc_fail_at(0);
        if (rv == 0) {
            break;
        }
        assert_int_equal(rv, RAFT_ENOMEM);
        assert_int_equal(raft_alloc_live(), live);
    }
    assert_true(k > 1);
    uv_sem_post(&f->gate.sem);
    run_until(f, 2);
    assert_int_equal(f->status[0], 0);
    assert_int_equal(f->status[1], 0);
}

/* Allocation k fails in coord_writer_new. */
static void test_writer_oom_sweep_new(void **state)
{
    struct fx *f = *state;
    struct coord_writer *w = NULL;
    long live;
    long k;
    int rv;

    close_and_wait(f);
    live = raft_alloc_live(); /* the log's */
    for (k = 1;; k++) {
        raft_alloc_fail_at(k);
        rv = coord_writer_new(&f->loop, f->log, NULL, on_done, f, &w);
        raft_alloc_fail_at(0);
        if (rv == 0) {
            break;
        }
        assert_int_equal(rv, RAFT_ENOMEM);
        assert_int_equal(raft_alloc_live(), live);
    }
    f->w = w;
    f->closed = false;
    f->close_called = false;
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_writer_group_commit_fewer_syncs_than_jobs),
        T(test_writer_applies_jobs_in_order),
        T(test_writer_records_taken_snapshot_and_compacts),
        T(test_writer_sync_failure_is_reported_and_sticks),
        T(test_writer_queue_full_is_refused),
        T(test_writer_close_finishes_queued_jobs),
        T(test_writer_close_from_callback),
        T(test_writer_oom_sweep_submit),
        T(test_writer_oom_sweep_new),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
