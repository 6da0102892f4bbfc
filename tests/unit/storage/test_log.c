/* SPDX-License-Identifier: MIT */
/* test_log: the durable log (coord/storage/log.c): round trips, truncation,
 * compaction, hard state, snapshots, torn tails, corruption, I/O faults and
 * out-of-memory. Each test gets a fresh directory under /tmp. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above. */
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coord/log.h"
#include "coord/storage/crc32c.h"
#include "coord/storage/log.h"
#include "raft/base/alloc.h"
#include "tests/crash/faultfs.h"

#define SEG_SIZE   4096 /* small segments: a few dozen records each */
#define MAX_ENTRY  1024
#define SEG_HDR    32
#define REC_HDR    29 /* len, crc, term, index, batch, type */
#define REC_BATCH  24 /* offset of a record's batch field */
#define PAGE       ((size_t)4096)
#define BIG_SEG    65536 /* bytes: segments of several pages, for batches that span pages */
#define MAX_SEGS   64
#define MAX_RECS   1024
#define OPEN_SYNCS 3 /* flushes of an open: last segment, hard state, directory */

/* ---- fixture ---------------------------------------------------------------------------- */

struct fx {
    char root[64]; /* mkdtemp'ed */
    char dir[96];  /* root/log: the log's directory, created by open */
    long live;     /* raft_alloc_live() at setup */
    struct coord_log_opts opts;
};

/* Log lines are captured, not printed: tests check what was logged. */
static int n_lines[4];
static int n_torn;      /* WARN lines about a torn tail */
static int n_batch_cut; /* WARN lines about a partly persisted batch cut off */
static char last_line[512];

static void sink(void *arg, int level, const char *line)
{
    (void)arg;
    n_lines[level]++;
    if (level == COORD_LOG_WARN && strstr(line, "torn") != NULL) {
        n_torn++;
    }
    if (level == COORD_LOG_WARN && strstr(line, "unflushed batch") != NULL) {
        n_batch_cut++;
    }
    snprintf(last_line, sizeof(last_line), "%s", line);
}

static void reset_lines(void)
{
    memset(n_lines, 0, sizeof(n_lines));
    n_torn = 0;
    n_batch_cut = 0;
    last_line[0] = '\0';
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    snprintf(f->root, sizeof(f->root), "/tmp/coord-test-log-XXXXXX");
    assert_non_null(mkdtemp(f->root));
    snprintf(f->dir, sizeof(f->dir), "%s/log", f->root);
    coord_log_opts_default(&f->opts);
    f->opts.segment_size = SEG_SIZE;
    f->opts.max_entry_size = MAX_ENTRY;
    f->opts.preallocate = false;
    f->live = raft_alloc_live();
    coord_log_set_sink(sink, NULL);
    reset_lines();
    *state = f;
    return 0;
}

/* Remove a directory of plain files (the log's). */
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
            (void)snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
            (void)unlink(p);
        }
    }
    closedir(d);
    (void)rmdir(path);
}

static int teardown(void **state)
{
    struct fx *f = *state;

    raft_alloc_fail_at(0);
    coord_log_set_sink(NULL, NULL);
    rm_dir(f->dir);
    rm_dir(f->root);
    assert_int_equal(raft_alloc_live(), f->live);
    free(f);
    return 0;
}

/* ---- entries ---------------------------------------------------------------------------- */

/* Entry data depends on index and term, so a stale entry never passes for a
 * new one; no byte is zero. */
static uint8_t pattern(raft_index index, raft_term term, size_t i)
{
    return (uint8_t)((index * 131 + term * 17 + i * 7) % 251 + 1);
}

static size_t size_of(raft_index index)
{
    return (size_t)((index * 37) % 160);
}

static struct raft_entry *mk(raft_index first, size_t n, raft_term term)
{
    struct raft_entry *e = calloc(n, sizeof(*e));
    uint8_t *d;
    size_t i;
    size_t j;

    assert_non_null(e);
    for (i = 0; i < n; i++) {
        e[i].index = first + i;
        e[i].term = term;
        e[i].type = (uint8_t)(1 + (first + i) % 3);
        e[i].data.len = size_of(first + i);
        d = e[i].data.len > 0 ? malloc(e[i].data.len) : NULL;
        for (j = 0; j < e[i].data.len; j++) {
            d[j] = pattern(first + i, term, j);
        }
        e[i].data.base = d;
    }
    return e;
}

static void unmk(struct raft_entry *e, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        free(e[i].data.base);
    }
    free(e);
}

/* Append [first, last] with term, in batches of up to 7. */
static void append_range(struct coord_log *log, raft_index first, raft_index last, raft_term term)
{
    raft_index i;
    size_t n;
    struct raft_entry *e;

    for (i = first; i <= last; i += n) {
        n = (size_t)(last - i + 1) < 7 ? (size_t)(last - i + 1) : 7;
        e = mk(i, n, term);
        assert_int_equal(coord_log_append(log, e, n), 0);
        unmk(e, n);
    }
}

/* Entries first..last are in rec in order, with term before split and
 * term_after from split on. */
static void verify(const struct coord_log_recovered *rec, raft_index first, raft_index last,
                   raft_index split, raft_term term, raft_term term_after)
{
    const struct raft_entry *e;
    raft_term t;
    size_t i;
    size_t j;

    assert_int_equal(rec->n_entries, last + 1 - first);
    for (i = 0; i < rec->n_entries; i++) {
        e = &rec->entries[i];
        t = first + i < split ? term : term_after;
        assert_int_equal(e->index, first + i);
        assert_int_equal(e->term, t);
        assert_int_equal(e->type, 1 + (first + i) % 3);
        assert_int_equal(e->data.len, size_of(first + i));
        for (j = 0; j < e->data.len; j++) {
            assert_int_equal(((const uint8_t *)e->data.base)[j], pattern(first + i, t, j));
        }
    }
}

static struct coord_log *open_ok(struct fx *f, struct coord_log_recovered *rec)
{
    struct coord_log *log = NULL;
    char err[256];
    int rv = coord_log_open(f->dir, &f->opts, &log, rec, err, sizeof(err));

    if (rv != 0) {
        fail_msg("open: %s: %s", raft_err_name(rv), err);
    }
    return log;
}

/* Open, check the entries, close. */
static void reopen_verify(struct fx *f, raft_index first, raft_index last, raft_index split,
                          raft_term term, raft_term term_after)
{
    struct coord_log_recovered rec;
    struct coord_log *log = open_ok(f, &rec);

    verify(&rec, first, last, split, term, term_after);
    coord_log_recovered_free(&rec);
    coord_log_close(log);
}

/* A log of entries 1..ends[n - 1] with term 1, closed, written in n flush
 * batches: 1..ends[0], then up to ends[1], and so on, each synced before
 * the next is written. */
static void build_batches(struct fx *f, const raft_index *ends, size_t n)
{
    struct coord_log_recovered rec;
    struct coord_log *log = open_ok(f, &rec);
    raft_index first = 1;
    size_t i;

    coord_log_recovered_free(&rec);
    assert_int_equal(coord_log_set_hard_state(log, 1, 0, 0), 0);
    for (i = 0; i < n; i++) {
        append_range(log, first, ends[i], 1);
        assert_int_equal(coord_log_sync(log), 0);
        first = ends[i] + 1;
    }
    coord_log_close(log);
}

/* A log of entries 1..n with term 1 in one batch, synced and closed. */
static void build(struct fx *f, raft_index n)
{
    build_batches(f, &n, 1);
}

/* ---- files ------------------------------------------------------------------------------ */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Segment file names in the log's directory, sorted. */
static size_t list_segs(const struct fx *f, char names[][32])
{
    struct dirent *de;
    DIR *d = opendir(f->dir);
    size_t n = 0;
    size_t len;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        len = strlen(de->d_name);
        if (len > 4 && len < 32 && strcmp(de->d_name + len - 4, ".seg") == 0) {
            assert_true(n < MAX_SEGS);
            memcpy(names[n++], de->d_name, len + 1);
        }
    }
    closedir(d);
    qsort(names, n, 32, cmp_str);
    return n;
}

static void path_of(const struct fx *f, const char *name, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", f->dir, name);
}

static uint8_t *read_file(const char *path, size_t *len)
{
    struct stat st;
    uint8_t *buf;
    FILE *fp = fopen(path, "rb");

    assert_non_null(fp);
    assert_int_equal(fstat(fileno(fp), &st), 0);
    *len = (size_t)st.st_size;
    buf = malloc(*len + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, *len, fp), *len);
    fclose(fp);
    return buf;
}

static void write_file(const char *path, const uint8_t *buf, size_t len)
{
    FILE *fp = fopen(path, "wb");

    assert_non_null(fp);
    assert_int_equal(fwrite(buf, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

static size_t file_size(const char *path)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    return (size_t)st.st_size;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    int i;

    for (i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

/* Byte offsets of the records of a segment file, plus the end of the last
 * one in offs[n]. Walks the format documented in log.c. */
static size_t rec_offsets(const uint8_t *buf, size_t len, size_t *offs)
{
    size_t off = SEG_HDR;
    size_t n = 0;
    uint32_t rl;

    while (off + 8 <= len && (rl = le32(buf + off)) != 0 && off + 8 + rl <= len) {
        assert_true(n < MAX_RECS);
        offs[n++] = off;
        off += 8 + rl;
    }
    offs[n] = off;
    return n;
}

/* ---- round trips ------------------------------------------------------------------------ */

static void test_log_open_creates_empty_log(void **state)
{
    struct fx *f = *state;
    struct coord_log_recovered rec;
    struct coord_log_stats st;
    struct coord_log *log = open_ok(f, &rec);

    assert_int_equal(rec.term, 0);
    assert_int_equal(rec.vote, 0);
    assert_int_equal(rec.commit, 0);
    assert_int_equal(rec.snapshot.index, 0);
    assert_int_equal(rec.snapshot.conf.n, 0);
    assert_int_equal(rec.n_entries, 0);
    coord_log_stats(log, &st);
    assert_int_equal(st.last_index, 0);
    assert_int_equal(st.first_index, 0);
    assert_int_equal(st.n_segments, 0);
    coord_log_recovered_free(&rec);
    coord_log_close(log);
    reopen_verify(f, 1, 0, 1, 1, 1);
}

static void test_log_round_trip_across_segments(void **state)
{
    struct fx *f = *state;
    char names[MAX_SEGS][32];
    struct coord_log_stats st;
    struct coord_log_recovered rec;
    struct coord_log *log;

    build(f, 300);
    assert_true(list_segs(f, names) >= 5);
    assert_string_equal(names[0], "00000000000000000001.seg");
    reopen_verify(f, 1, 300, 1, 1, 1);

    /* Appending after a reopen continues the last segment. */
    log = open_ok(f, &rec);
    coord_log_recovered_free(&rec);
    append_range(log, 301, 320, 2);
    coord_log_stats(log, &st);
    assert_int_equal(st.first_index, 1);
    assert_int_equal(st.last_index, 320);
    assert_int_equal(coord_log_sync(log), 0);
    coord_log_close(log);
    reopen_verify(f, 1, 320, 301, 1, 2);
    assert_int_equal(n_lines[COORD_LOG_WARN] + n_lines[COORD_LOG_ERROR], 1); /* term 2 */
}

static void test_log_round_trip_preallocated(void **state)
{
    struct fx *f = *state;
    char names[MAX_SEGS][32];
    char path[256];
    size_t n;

    f->opts.preallocate = true;
    build(f, 150);
    n = list_segs(f, names);
    path_of(f, names[n - 1], path, sizeof(path));
    assert_int_equal(file_size(path), SEG_SIZE); /* the open one keeps its reserve */
    path_of(f, names[0], path, sizeof(path));
    assert_true(file_size(path) < SEG_SIZE); /* sealed ones are cut to their data */
    reopen_verify(f, 1, 150, 1, 1, 1);
    assert_int_equal(n_lines[COORD_LOG_WARN], 0);
    assert_int_equal(n_torn, 0);
}

static void test_log_truncate_then_append(void **state)
{
    struct fx *f = *state;
    struct coord_log_recovered rec;
    struct coord_log_stats st;
    struct coord_log *log;

    build(f, 200);
    log = open_ok(f, &rec);
    coord_log_recovered_free(&rec);
    /* Across several segments, into the middle of one. */
    assert_int_equal(coord_log_truncate(log, 60), 0);
    coord_log_stats(log, &st);
    assert_int_equal(st.last_index, 59);
    append_range(log, 60, 90, 2);
    assert_int_equal(coord_log_sync(log), 0);
    coord_log_close(log);
    reopen_verify(f, 1, 90, 60, 1, 2);

    /* Within the open segment; and a no-op at last + 1. */
    log = open_ok(f, &rec);
    coord_log_recovered_free(&rec);
    assert_int_equal(coord_log_truncate(log, 91), 0);
    assert_int_equal(coord_log_truncate(log, 88), 0);
    append_range(log, 88, 95, 3);
    coord_log_close(log);
    log = open_ok(f, &rec);
    assert_int_equal(rec.entries[86].term, 2);
    assert_int_equal(rec.entries[87].term, 3);
    assert_int_equal(rec.n_entries, 95);
    coord_log_recovered_free(&rec);

    /* Everything. */
    assert_int_equal(coord_log_truncate(log, 1), 0);
    coord_log_stats(log, &st);
    assert_int_equal(st.last_index, 0);
    assert_int_equal(st.n_segments, 0);
    append_range(log, 1, 10, 4);
    coord_log_close(log);
    reopen_verify(f, 1, 10, 1, 4, 4);
}

/* A truncation at a segment's first index deletes that whole file. */
static void test_log_truncate_at_segment_boundary(void **state)
{
    struct fx *f = *state;
    char names[MAX_SEGS][32];
    struct coord_log_recovered rec;
    struct coord_log *log;
    raft_index second;
    size_t n;

    build(f, 200);
    n = list_segs(f, names);
    second = strtoull(names[1], NULL, 10);
    log = open_ok(f, &rec);
    coord_log_recovered_free(&rec);
    assert_int_equal(coord_log_truncate(log, second), 0);
    assert_int_equal(list_segs(f, names), 1);
    assert_true(n > 1);
    append_range(log, second, second + 5, 2);
    coord_log_close(log);
    reopen_verify(f, 1, second + 5, second, 1, 2);
}

static void test_log_truncate_rejects_out_of_range(void **state)
{
    struct fx *f = *state;
    struct coord_log_recovered rec;
    struct coord_log *log;

    build(f, 20);
    log = open_ok(f, &rec);
    coord_log_recovered_free(&rec);
    assert_int_equal(coord_log_truncate(log, 22), RAFT_EINVAL);
    assert_int_equal(coord_log_truncate(log, 0), RAFT_EINVAL);
    coord_log_close(log);
    reopen_verify(f, 1, 20, 1, 1, 1);
}

static void test_log_append_rejects_bad_entries(void **state)
{
    struct fx *f = *state;
    struct coord_log_recovered rec;
    struct coord_log *log;
    struct raft_entry *e;

    build(f, 10);
    log = open_ok(f, &rec);
    coord_log_recovered_free(&rec);
    e = mk(12, 1, 1);
    assert_int_equal(coord_log_append(log, e, 1), RAFT_EINVAL); /* gap */
    unmk(e, 1);
    e = mk(11, 1, 0);
    assert_int_equal(coord_log_append(log, e, 1), RAFT_EINVAL); /* term goes back */
    unmk(e, 1);
    e = mk(11, 2, 1);
    e[1].index = 13;
    assert_int_equal(coord_log_append(log, e, 2), RAFT_EINVAL); /* gap inside */
    unmk(e, 2);
    e = mk(11, 1, 1);
    free(e[0].data.base);
    e[0].data.len = MAX_ENTRY + 1;
    e[0].data.base = calloc(1, MAX_ENTRY + 1);
    assert_int_equal(coord_log_append(log, e, 1), RAFT_ETOOBIG);
    e[0].data.len = MAX_ENTRY; /* exactly the limit is fine */
    assert_int_equal(coord_log_append(log, e, 1), 0);
    unmk(e, 1);
    coord_log_close(log);
    log = open_ok(f, &rec);
    assert_int_equal(rec.n_entries, 11);
    assert_int_equal(rec.entries[10].data.len, MAX_ENTRY);
    coord_log_recovered_free(&rec);
    coord_log_close(log);
}

/* ---- hard state ------------------------------------------------------------------------- */

static void test_log_hard_state_survives_reopen(void **state)
{
    struct fx *f = *state;
    struct coord_log_recovered rec;
    struct coord_log *log = open_ok(f, &rec);

    coord_log_recovered_free(&rec);
    assert_int_equal(coord_log_set_hard_state(log, 5, 2, 0), 0);
    assert_int_equal(coord_log_sync(log), 0);
    append_range(log, 1, 30, 5);
    assert_int_equal(coord_log_set_hard_state(log, 5, 2, 25), 0);
    assert_int_equal(coord_log_sync(log), 0);
    coord_log_close(log);

    log = open_ok(f, &rec);
    assert_int_equal(rec.term, 5);
    assert_int_equal(rec.vote, 2);
    assert_int_equal(rec.commit, 25); /* flushed by close */
    coord_log_recovered_free(&rec);
    assert_int_equal(coord_log_set_hard_state(log, 7, 0, 25), 0);
    assert_int_equal(coord_log_set_hard_state(log, 7, 3, 25), 0);
    assert_int_equal(coord_log_sync(log), 0);
    coord_log_close(log);

    log = open_ok(f, &rec);
    assert_int_equal(rec.term, 7);
    assert_int_equal(rec.vote, 3);
    coord_log_recovered_free(&rec);
    coord_log_close(log);
}

static void test_log_hard_state_rejects_going_back(void **state)
{
    struct fx *f = *state;
    struct coord_log_recovered rec;
    struct coord_log *log = open_ok(f, &rec);

    coord_log_recovered_free(&rec);
    assert_int_equal(coord_log_set_hard_state(log, 5, 2, 0), 0);
    assert_int_equal(coord_log_set_hard_state(log, 4, 2, 0), RAFT_EINVAL);
    assert_int_equal(coord_log_set_hard_state(log, 5, 3, 0), RAFT_EINVAL);
    assert_int_equal(coord_log_set_hard_state(log, 5, 0, 0), RAFT_EINVAL);
    assert_int_equal(coord_log_set_hard_state(log, 5, 2, 0), 0);
    coord_log_close(log);
}

/* The slot written last is torn: the previous hard state comes back. */
static void test_log_hard_state_torn_slot_falls_back(void **state)
{
    struct fx *f = *state;
    struct coord_log_recovered rec;
    struct coord_log *log = open_ok(f, &rec);
    char path[256];
    uint8_t *buf;
    size_t len;
    size_t newer;

    coord_log_recovered_free(&rec);
    assert_int_equal(coord_log_set_hard_state(log, 3, 1, 0), 0);
    assert_int_equal(coord_log_sync(log), 0);
    assert_int_equal(coord_log_set_hard_state(log, 4, 2, 0), 0);
    assert_int_equal(coord_log_sync(log), 0);
    coord_log_close(log);

    path_of(f, "hardstate", path, sizeof(path));
    buf = read_file(path, &len);
    assert_int_equal(len, 1024);
    /* Sequence numbers at byte 16 of each slot: tear the newer one. */
    newer = buf[16] > buf[512 + 16] ? 0 : 512;
    memset(buf + newer + 30, 0, 20);
    write_file(path, buf, len);
    log = open_ok(f, &rec);
    assert_int_equal(rec.term, 3);
    assert_int_equal(rec.vote, 1);
    coord_log_recovered_free(&rec);
    coord_log_close(log);

    /* Both slots bad: refused. */
    memset(buf, 0xee, len);
    write_file(path, buf, len);
    free(buf);
    assert_int_equal(coord_log_open(f->dir, &f->opts, &log, &rec, NULL, 0), RAFT_ECORRUPT);
}

/* Entries of a newer term reached the disk but the hard state did not: the
 * term is raised to the log's, without a vote. */
static void test_log_term_raised_when_hard_state_lags(void **state)
{
    struct fx *f = *state;
    struct coord_log_recovered rec;
    struct coord_log *log = open_ok(f, &rec);

    coord_log_recovered_free(&rec);
    assert_int_equal(coord_log_set_hard_state(log, 2, 7, 0), 0);
    assert_int_equal(coord_log_sync(log), 0);
    append_range(log, 1, 5, 4);
    assert_int_equal(coord_log_sync(log), 0);
    coord_log_close(log);
    log = open_ok(f, &rec);
    assert_int_equal(rec.term, 4);
    assert_int_equal(rec.vote, 0);
    coord_log_recovered_free(&rec);
    coord_log_close(log);
}

/* A process crash in mode (faultfs.h) while log is open: log's handle is
 * released without its final flush reaching the disk. */
static void crash(struct faultfs *fs, struct coord_log *log, enum faultfs_mode mode)
{
    faultfs_crash_here(fs, mode);
    coord_log_close(log);
    faultfs_restart(fs);
}

/* What open recovers is what the core starts from: durable state. After a
 * process crash (kill -9) the writes it never flushed are still in the page
 * cache, and open reads them; unless open flushes them, a power loss later
 * takes back a vote or entries the node has acted on since. Found by
 * `sim --storage real` (tests/sim/README.md). faultfs keeps a random part
 * of unflushed writes: several seeds make a miss unlikely. */
static void test_log_open_makes_what_it_recovers_durable(void **state)
{
    struct fx *f = *state;
    struct coord_log_recovered rec;
    struct coord_log *log;
    struct faultfs fs;
    uint64_t seed;

    for (seed = 1; seed <= 16; seed++) {
        rm_dir(f->dir);
        faultfs_init(&fs, FAULTFS_POWER, 0, seed);
        faultfs_io(&fs, &f->opts.io);
        log = open_ok(f, &rec);
        coord_log_recovered_free(&rec);
        assert_int_equal(coord_log_set_hard_state(log, 5, 2, 0), 0);
        append_range(log, 1, 10, 5);
        assert_int_equal(coord_log_sync(log), 0);
        /* Written, never flushed: a vote in term 6 and entries 11..20. */
        assert_int_equal(coord_log_set_hard_state(log, 6, 3, 0), 0);
        append_range(log, 11, 20, 6);
        crash(&fs, log, FAULTFS_KILL);

        log = open_ok(f, &rec);
        assert_int_equal(rec.term, 6);
        assert_int_equal(rec.vote, 3);
        verify(&rec, 1, 20, 11, 5, 6);
        coord_log_recovered_free(&rec);
        /* A change of commit alone is flushed lazily; it must not put the
         * recovered hard state at risk either. */
        assert_int_equal(coord_log_set_hard_state(log, 6, 3, 15), 0);
        crash(&fs, log, FAULTFS_POWER);

        log = open_ok(f, &rec);
        assert_int_equal(rec.term, 6);
        assert_int_equal(rec.vote, 3);
        verify(&rec, 1, 20, 11, 5, 6);
        coord_log_recovered_free(&rec);
        coord_log_close(log);
        faultfs_close(&fs);
    }
    memset(&f->opts.io, 0, sizeof(f->opts.io));
}

/* ---- snapshots and compaction ----------------------------------------------------------- */

static void three_servers(struct raft_conf *c)
{
    memset(c, 0, sizeof(*c));
    assert_int_equal(raft_conf_add(c, 1, RAFT_VOTER, "10.0.0.1:7000"), 0);
    assert_int_equal(raft_conf_add(c, 2, RAFT_VOTER, "10.0.0.2:7000"), 0);
    assert_int_equal(raft_conf_add(c, 3, RAFT_LEARNER, "10.0.0.3:7000"), 0);
}

static void test_log_compact_deletes_old_segments(void **state)
{
    struct fx *f = *state;
    char names[MAX_SEGS][32];
    struct raft_snapshot_meta meta = {.index = 150, .term = 1};
    struct coord_log_recovered rec;
    struct coord_log_stats st;
    struct coord_log *log;
    size_t before;
    size_t i;

    build(f, 200);
    before = list_segs(f, names);
    three_servers(&meta.conf);
    log = open_ok(f, &rec);
    coord_log_recovered_free(&rec);
    assert_int_equal(coord_log_compact(log, 151), RAFT_EINVAL); /* not covered yet */
    assert_int_equal(coord_log_set_snapshot(log, &meta), 0);
    assert_int_equal(coord_log_compact(log, 151), 0);
    coord_log_stats(log, &st);
    assert_true(st.first_index > 1 && st.first_index <= 151);
    assert_int_equal(st.n_segments, list_segs(f, names));
    assert_true(st.n_segments < before);
    for (i = 0; i < st.n_segments; i++) {
        assert_true(strtoull(names[i], NULL, 10) >= st.first_index);
    }
    append_range(log, 201, 210, 1);
    coord_log_close(log);

    log = open_ok(f, &rec);
    assert_int_equal(rec.snapshot.index, 150);
    assert_int_equal(rec.snapshot.term, 1);
    assert_memory_equal(&rec.snapshot.conf, &meta.conf, sizeof(meta.conf));
    assert_int_equal(rec.commit, 150); /* a snapshot is committed */
    verify(&rec, 151, 210, 1, 1, 1);
    coord_log_recovered_free(&rec);
    /* The last segment is never deleted, even when wholly covered. */
    meta.index = 210;
    assert_int_equal(coord_log_set_snapshot(log, &meta), 0);
    assert_int_equal(coord_log_compact(log, 211), 0);
    coord_log_stats(log, &st);
    assert_int_equal(st.n_segments, 1);
    coord_log_close(log);
    reopen_verify(f, 211, 210, 1, 1, 1);
}

static void test_log_install_snapshot_then_reopen(void **state)
{
    struct fx *f = *state;
    char names[MAX_SEGS][32];
    struct raft_snapshot_meta meta = {.index = 500, .term = 3};
    struct coord_log_recovered rec;
    struct coord_log_stats st;
    struct coord_log *log;
    struct raft_entry *e;

    build(f, 100);
    three_servers(&meta.conf);
    log = open_ok(f, &rec);
    coord_log_recovered_free(&rec);
    assert_int_equal(coord_log_install_snapshot(log, &meta), 0);
    assert_int_equal(list_segs(f, names), 0);
    coord_log_stats(log, &st);
    assert_int_equal(st.last_index, 500);
    e = mk(100, 1, 3);
    assert_int_equal(coord_log_append(log, e, 1), RAFT_EINVAL);
    unmk(e, 1);
    coord_log_close(log);

    log = open_ok(f, &rec);
    assert_int_equal(rec.snapshot.index, 500);
    assert_int_equal(rec.snapshot.term, 3);
    assert_memory_equal(&rec.snapshot.conf, &meta.conf, sizeof(meta.conf));
    assert_int_equal(rec.n_entries, 0);
    assert_int_equal(rec.term, 3);
    coord_log_recovered_free(&rec);
    append_range(log, 501, 520, 3);
    coord_log_close(log);
    reopen_verify(f, 501, 520, 1, 3, 3);
}

/* A crash between the rename of snapshot.meta and the deletion of the old
 * segments: open deletes them and does not return their entries. */
static void test_log_install_snapshot_crash_before_delete(void **state)
{
    struct fx *f = *state;
    char names[MAX_SEGS][32];
    char path[256];
    struct raft_snapshot_meta meta = {.index = 50, .term = 2};
    struct coord_log_recovered rec;
    struct coord_log *log;
    uint8_t *saved[MAX_SEGS];
    size_t lens[MAX_SEGS];
    size_t n;
    size_t i;

    build(f, 120);
    n = list_segs(f, names);
    for (i = 0; i < n; i++) {
        path_of(f, names[i], path, sizeof(path));
        saved[i] = read_file(path, &lens[i]);
    }
    log = open_ok(f, &rec);
    coord_log_recovered_free(&rec);
    assert_int_equal(coord_log_install_snapshot(log, &meta), 0);
    coord_log_close(log);
    for (i = 0; i < n; i++) {
        path_of(f, names[i], path, sizeof(path));
        write_file(path, saved[i], lens[i]);
        free(saved[i]);
    }
    log = open_ok(f, &rec);
    assert_int_equal(rec.snapshot.index, 50);
    assert_int_equal(rec.n_entries, 0);
    assert_int_equal(list_segs(f, names), 0);
    coord_log_recovered_free(&rec);
    append_range(log, 51, 60, 2);
    coord_log_close(log);
    reopen_verify(f, 51, 60, 1, 2, 2);
}

static void test_log_leftover_tmp_files_are_removed(void **state)
{
    struct fx *f = *state;
    char path[256];
    uint8_t junk[10] = {1, 2, 3};

    build(f, 5);
    path_of(f, "00000000000000000006.seg.tmp", path, sizeof(path));
    write_file(path, junk, sizeof(junk));
    path_of(f, "snapshot.meta.tmp", path, sizeof(path));
    write_file(path, junk, sizeof(junk));
    reopen_verify(f, 1, 5, 1, 1, 1);
    assert_int_equal(access(path, F_OK), -1);
}

/* ---- torn tails and corruption ---------------------------------------------------------- */

/* The last segment's bytes and its records' offsets. */
struct tail {
    char name[32];
    char path[256];
    uint8_t *buf;
    size_t len;
    size_t offs[MAX_RECS + 1];
    size_t n;
};

/* The batch field of record i of t. */
static uint32_t rec_batch(const struct tail *t, size_t i)
{
    return le32(t->buf + t->offs[i] + REC_BATCH);
}

static void load_tail(struct fx *f, struct tail *t, size_t which_from_end)
{
    char names[MAX_SEGS][32];
    size_t n = list_segs(f, names);

    assert_true(n > which_from_end);
    snprintf(t->name, sizeof(t->name), "%s", names[n - 1 - which_from_end]);
    path_of(f, t->name, t->path, sizeof(t->path));
    t->buf = read_file(t->path, &t->len);
    t->n = rec_offsets(t->buf, t->len, t->offs);
    assert_true(t->n >= 3);
}

/* Write bytes (t->len of them) as t's segment: open must refuse it. */
static void open_refused(struct fx *f, const struct tail *t, const uint8_t *bytes,
                         struct coord_log_recovered *rec, char *err, size_t err_len)
{
    struct coord_log *log = NULL;

    write_file(t->path, bytes, t->len);
    reset_lines();
    assert_int_equal(coord_log_open(f->dir, &f->opts, &log, rec, err, err_len), RAFT_ECORRUPT);
}

/* Put t's segment back as it was, check entries 1..last (all in term 1)
 * read back, and free t and copy. */
static void restore_tail(struct fx *f, struct tail *t, uint8_t *copy, raft_index last)
{
    write_file(t->path, t->buf, t->len);
    reopen_verify(f, 1, last, 1, 1, 1);
    free(copy);
    free(t->buf);
}

/* Open expecting entries 1..last and a last segment of cut_to bytes, with
 * only zeros beyond; exactly cut_to bytes when exact and not preallocated
 * (a tail of zeros alone is a clean end and is left as it is). */
static void expect_recovered(struct fx *f, const struct tail *t, raft_index last, size_t cut_to,
                             bool exact)
{
    size_t len;
    uint8_t *buf;
    size_t i;

    reopen_verify(f, 1, last, 1, 1, 1);
    buf = read_file(t->path, &len);
    assert_true(len >= cut_to);
    assert_memory_equal(buf, t->buf, cut_to);
    for (i = cut_to; i < len; i++) {
        assert_int_equal(buf[i], 0);
    }
    if (exact && !f->opts.preallocate) {
        assert_int_equal(len, cut_to);
    }
    free(buf);
}

/* Garbage for byte k of a file: never a valid record. */
static uint8_t junk(size_t k)
{
    return (uint8_t)(0xa5 ^ (k * 13));
}

static void torn_tail_sweep(struct fx *f)
{
    struct tail t;
    raft_index last = 180; /* 32 records in the last segment */
    uint8_t *copy;
    size_t x;
    size_t end;
    size_t l;
    size_t k;

    build(f, last);
    load_tail(f, &t, 0);
    x = t.offs[t.n - 1];
    end = t.offs[t.n];
    copy = malloc(t.len);
    assert_non_null(copy);

    /* Cut short at every length of the last record. */
    for (l = x; l < end; l++) {
        reset_lines();
        write_file(t.path, t.buf, l);
        expect_recovered(f, &t, last - 1, x, true);
        assert_int_equal(n_torn, l > x ? 1 : 0);
        assert_int_equal(n_lines[COORD_LOG_ERROR], 0);
    }
    /* The tail from every offset of the last record on overwritten with
     * zeros, then with garbage, the file keeping its length. */
    for (k = 0; k < end - x; k++) {
        memcpy(copy, t.buf, t.len);
        memset(copy + x + k, 0, end - x - k);
        write_file(t.path, copy, t.len);
        expect_recovered(f, &t, last - 1, x, k > 0);
        for (l = x + k; l < end; l++) {
            copy[l] = junk(l);
        }
        write_file(t.path, copy, t.len);
        expect_recovered(f, &t, last - 1, x, true);
    }
    /* The log goes on from there. */
    restore_tail(f, &t, copy, last);
}

static void test_log_torn_tail_every_offset_is_cut(void **state)
{
    torn_tail_sweep(*state);
}

static void test_log_torn_tail_every_offset_is_cut_preallocated(void **state)
{
    struct fx *f = *state;

    f->opts.preallocate = true;
    torn_tail_sweep(f);
}

/* After the cut, appends continue where the good records end. */
static void test_log_torn_tail_then_append(void **state)
{
    struct fx *f = *state;
    struct coord_log_recovered rec;
    struct coord_log *log;
    struct tail t;

    build(f, 100);
    load_tail(f, &t, 0);
    write_file(t.path, t.buf, t.offs[t.n - 1] + 5);
    log = open_ok(f, &rec);
    verify(&rec, 1, 99, 1, 1, 1);
    coord_log_recovered_free(&rec);
    append_range(log, 100, 110, 2);
    coord_log_close(log);
    reopen_verify(f, 1, 110, 100, 1, 2);
    free(t.buf);
}

/* Flip one bit in every byte of a record that has records of later flush
 * batches after it (so the damage cannot be a power loss's). */
static void flip_sweep(struct fx *f, size_t which_from_end)
{
    struct coord_log_recovered rec;
    struct coord_log *log = NULL;
    raft_index ends[180 / 7 + 1];
    char err[256];
    char want[320];
    struct tail t;
    size_t n;
    size_t x;
    size_t end;
    size_t i;
    int rv;

    for (n = 0; n * 7 < 180; n++) {
        ends[n] = (n + 1) * 7 < 180 ? (n + 1) * 7 : 180;
    }
    build_batches(f, ends, n);
    load_tail(f, &t, which_from_end);
    x = t.offs[t.n / 2];
    end = t.offs[t.n / 2 + 1];
    assert_true(rec_batch(&t, t.n - 1) > x);
    snprintf(want, sizeof(want), "file=%s offset=%zu ", t.path, x);
    for (i = x; i < end; i++) {
        reset_lines();
        t.buf[i] ^= (uint8_t)(1u << (i % 8));
        write_file(t.path, t.buf, t.len);
        rv = coord_log_open(f->dir, &f->opts, &log, &rec, err, sizeof(err));
        assert_int_equal(rv, RAFT_ECORRUPT);
        if (strstr(err, want) == NULL) {
            fail_msg("byte %zu: want \"%s\" in \"%s\"", i - x, want, err);
        }
        assert_int_equal(n_lines[COORD_LOG_ERROR], 1); /* logged once */
        assert_string_equal(last_line, err);
        assert_int_equal(rec.n_entries, 0);
        t.buf[i] ^= (uint8_t)(1u << (i % 8));
    }
    restore_tail(f, &t, NULL, 180);
}

static void test_log_bit_flip_in_last_segment_is_corrupt(void **state)
{
    flip_sweep(*state, 0);
}

static void test_log_bit_flip_in_older_segment_is_corrupt(void **state)
{
    flip_sweep(*state, 2);
}

/* Damage at the very end of an older segment is not a torn tail: it was
 * flushed before the next segment began. */
static void test_log_torn_end_of_older_segment_is_corrupt(void **state)
{
    struct fx *f = *state;
    struct coord_log_recovered rec;
    struct coord_log *log;
    char err[256];
    struct tail t;

    build(f, 150);
    load_tail(f, &t, 1);
    write_file(t.path, t.buf, t.offs[t.n] - 1);
    assert_int_equal(coord_log_open(f->dir, &f->opts, &log, &rec, err, sizeof(err)), RAFT_ECORRUPT);
    assert_non_null(strstr(err, t.name));
    free(t.buf);
}

/* ---- partly persisted batches ---------------------------------------------------------- */

/* copy = t's bytes with [lo, hi) lost: zeros (what a page of the batch held
 * before the batch was written there), or garbage when garble. Returns the
 * index of the first record the damage touches. */
static size_t damage(const struct tail *t, uint8_t *copy, size_t lo, size_t hi, bool garble)
{
    size_t i;
    size_t k;

    memcpy(copy, t->buf, t->len);
    for (k = lo; k < hi; k++) {
        copy[k] = garble ? junk(k) : 0;
    }
    for (i = 0; t->offs[i + 1] <= lo; i++) {
    }
    return i;
}

/* The part of page p that lies in [b, e) is [*lo, *hi). */
static void page_in(size_t p, size_t b, size_t e, size_t *lo, size_t *hi)
{
    *lo = p * PAGE > b ? p * PAGE : b;
    *hi = (p + 1) * PAGE < e ? (p + 1) * PAGE : e;
}

/* A batch of several pages, written after a flush and never flushed itself
 * (close flushes it, but the bytes on disk are those a power loss before
 * that flush could have left), of which a page is lost while later ones
 * are kept: open cuts the log before the first damaged record and says so,
 * and every entry flushed before the batch is there. Every page of the
 * batch, lost as zeros and as garbage, with and without preallocation. */
static void test_log_unflushed_batch_lost_page_is_cut(void **state)
{
    struct fx *f = *state;
    const raft_index ends[2] = {20, 200}; /* 1..20 flushed, 21..200 the batch */
    struct coord_log_recovered rec;
    struct coord_log *log;
    struct tail t;
    uint8_t *copy;
    size_t lo;
    size_t hi;
    size_t b;
    size_t e;
    size_t p;
    size_t i;
    int v;

    f->opts.segment_size = BIG_SEG;
    for (v = 0; v < 4; v++) {
        f->opts.preallocate = v >= 2;
        rm_dir(f->dir);
        build_batches(f, ends, 2);
        load_tail(f, &t, 0);
        assert_int_equal(t.n, 200);
        b = t.offs[20];
        e = t.offs[t.n];
        assert_true(e - b > 3 * PAGE);
        /* The format: each record names where its batch began (log.c
         * invariant 10): the segment's header, then b. */
        for (i = 0; i < t.n; i++) {
            assert_int_equal(rec_batch(&t, i), i < 20 ? SEG_HDR : b);
        }
        copy = malloc(t.len);
        assert_non_null(copy);
        for (p = b / PAGE; p * PAGE < e; p++) {
            page_in(p, b, e, &lo, &hi);
            i = damage(&t, copy, lo, hi, v % 2 == 1);
            reset_lines();
            write_file(t.path, copy, t.len);
            expect_recovered(f, &t, i, t.offs[i], true);
            /* A good record after the damage: the new rule; else a torn tail. */
            assert_int_equal(n_batch_cut, t.offs[t.n - 1] >= hi ? 1 : 0);
            assert_int_equal(n_torn, t.offs[t.n - 1] >= hi ? 0 : 1);
            assert_int_equal(n_lines[COORD_LOG_ERROR], 0);
        }
        free(copy);
        free(t.buf);
    }

    /* The log goes on from the cut, and the next open finds nothing wrong. */
    rm_dir(f->dir);
    build_batches(f, ends, 2);
    load_tail(f, &t, 0);
    copy = malloc(t.len);
    assert_non_null(copy);
    page_in(b / PAGE + 1, b, e, &lo, &hi);
    i = damage(&t, copy, lo, hi, false);
    write_file(t.path, copy, t.len);
    free(copy);
    free(t.buf);
    log = open_ok(f, &rec);
    verify(&rec, 1, i, 1, 1, 1);
    coord_log_recovered_free(&rec);
    append_range(log, i + 1, i + 10, 1);
    coord_log_close(log);
    reset_lines();
    reopen_verify(f, 1, i + 10, 1, 1, 1);
    assert_int_equal(n_lines[COORD_LOG_WARN] + n_lines[COORD_LOG_ERROR], 0);
}

/* Rewrite the batch field of record i of copy (laid out as t), CRC and all:
 * good records that no append of log.c would write. */
static void forge_batch(const struct tail *t, uint8_t *copy, size_t i, uint32_t batch)
{
    uint8_t *r = copy + t->offs[i];

    put_le32(r + REC_BATCH, batch);
    put_le32(r + 4, coord_crc32c(coord_crc32c(0, r, 4), r + 8, le32(r)));
}

/* The records after a lost page must prove the damage lies in the last
 * batch: good records whose batch fields disagree, name an offset that is
 * no record's, or one from which the records before the damage do not
 * carry it, are refused. */
static void test_log_lost_page_needs_consistent_batch(void **state)
{
    struct fx *f = *state;
    const raft_index ends[2] = {20, 200};
    struct coord_log_recovered rec;
    char err[256];
    struct tail t;
    uint8_t *copy;
    size_t lo;
    size_t hi;
    size_t b;
    size_t i;
    size_t k;
    int c;

    f->opts.segment_size = BIG_SEG;
    build_batches(f, ends, 2);
    load_tail(f, &t, 0);
    b = t.offs[20];
    copy = malloc(t.len);
    assert_non_null(copy);
    page_in(b / PAGE + 1, b, t.offs[t.n], &lo, &hi);
    for (c = 0; c < 3; c++) {
        i = damage(&t, copy, lo, hi, false);
        for (k = i + 1; k < t.n; k++) {
            if (t.offs[k] < hi) {
                continue;
            }
            if (c == 0) { /* one of them from the batch before */
                forge_batch(&t, copy, k, k == t.n - 1 ? SEG_HDR : (uint32_t)b);
            } else if (c == 1) { /* in the middle of the last record kept */
                forge_batch(&t, copy, k, (uint32_t)t.offs[i - 1] + 8);
            } else { /* a record boundary, but b was where the batch began */
                forge_batch(&t, copy, k, (uint32_t)t.offs[21]);
            }
        }
        open_refused(f, &t, copy, &rec, err, sizeof(err));
        assert_non_null(strstr(err, "records-of-another-batch"));
        assert_int_equal(n_lines[COORD_LOG_WARN], 0);
    }
    restore_tail(f, &t, copy, 200);
}

/* The same damage in a batch that a flush made durable, with a flushed
 * batch after it: no power loss does that, so open refuses, naming the
 * file and the offset of the first damaged record. */
static void test_log_lost_page_in_flushed_batch_is_corrupt(void **state)
{
    struct fx *f = *state;
    const raft_index ends[3] = {20, 120, 200}; /* 21..120 flushed, then 121..200 */
    struct coord_log_recovered rec;
    char err[256];
    char want[320];
    struct tail t;
    uint8_t *copy;
    size_t lo;
    size_t hi;
    size_t b;
    size_t e;
    size_t p;
    size_t i;
    int garble;

    f->opts.segment_size = BIG_SEG;
    build_batches(f, ends, 3);
    load_tail(f, &t, 0);
    b = t.offs[20];
    e = t.offs[120];
    assert_int_equal(rec_batch(&t, 119), b);
    assert_int_equal(rec_batch(&t, 120), e);
    copy = malloc(t.len);
    assert_non_null(copy);
    for (p = b / PAGE; p * PAGE < e; p++) {
        for (garble = 0; garble < 2; garble++) {
            page_in(p, b, e, &lo, &hi);
            i = damage(&t, copy, lo, hi, garble == 1);
            open_refused(f, &t, copy, &rec, err, sizeof(err));
            (void)snprintf(want, sizeof(want), "file=%s offset=%zu ", t.path, t.offs[i]);
            if (strstr(err, want) == NULL) {
                fail_msg("page %zu: want \"%s\" in \"%s\"", p, want, err);
            }
            assert_non_null(strstr(err, "later-batch"));
            assert_int_equal(n_lines[COORD_LOG_ERROR], 1);
            assert_int_equal(n_lines[COORD_LOG_WARN], 0);
            assert_int_equal(rec.n_entries, 0);
        }
    }
    restore_tail(f, &t, copy, 200);
}

/* A segment of format 1 (before records carried their batch) is refused
 * with a message that says so, even with a good header CRC. */
static void test_log_segment_format_1_is_refused(void **state)
{
    struct fx *f = *state;
    struct coord_log_recovered rec;
    char err[256];
    struct tail t;

    build(f, 100);
    load_tail(f, &t, 0);
    assert_int_equal(le32(t.buf + 8), 2);
    put_le32(t.buf + 8, 1);
    put_le32(t.buf + 12, coord_crc32c(coord_crc32c(0, t.buf, 12), t.buf + 16, SEG_HDR - 16));
    open_refused(f, &t, t.buf, &rec, err, sizeof(err));
    assert_non_null(strstr(err, "unsupported log format"));
    assert_non_null(strstr(err, t.path));
    assert_non_null(strstr(err, "version=1 supported=2"));
    assert_int_equal(n_lines[COORD_LOG_ERROR], 1);
    free(t.buf);
}

static void test_log_missing_segment_is_corrupt(void **state)
{
    struct fx *f = *state;
    char names[MAX_SEGS][32];
    char path[256];
    struct coord_log_recovered rec;
    struct coord_log *log;
    char err[256];

    build(f, 200);
    assert_true(list_segs(f, names) >= 4);
    path_of(f, names[2], path, sizeof(path));
    assert_int_equal(unlink(path), 0);
    assert_int_equal(coord_log_open(f->dir, &f->opts, &log, &rec, err, sizeof(err)), RAFT_ECORRUPT);
    assert_non_null(strstr(err, names[3])); /* the file after the gap */
    assert_non_null(strstr(err, "gap"));

    /* The first segment missing while no snapshot covers it. */
    path_of(f, names[0], path, sizeof(path));
    assert_int_equal(unlink(path), 0);
    assert_int_equal(coord_log_open(f->dir, &f->opts, &log, &rec, err, sizeof(err)), RAFT_ECORRUPT);
    assert_non_null(strstr(err, names[1]));
}

/* The entry after a snapshot carries a term below the snapshot's: the log
 * cannot be the one the snapshot was taken from, so open names the record. */
static void test_log_term_below_snapshot_is_corrupt(void **state)
{
    struct fx *f = *state;
    struct raft_snapshot_meta meta = {.index = 150, .term = 1};
    struct coord_log_recovered rec;
    struct coord_log *log;
    char err[256];

    build(f, 200); /* every entry in term 1 */
    log = open_ok(f, &rec);
    coord_log_recovered_free(&rec);
    assert_int_equal(coord_log_set_snapshot(log, &meta), 0);
    coord_log_close(log);
    log = open_ok(f, &rec); /* the snapshot's term matches the log's */
    coord_log_recovered_free(&rec);
    meta.term = 5;
    assert_int_equal(coord_log_set_snapshot(log, &meta), 0);
    coord_log_close(log);
    assert_int_equal(coord_log_open(f->dir, &f->opts, &log, &rec, err, sizeof(err)), RAFT_ECORRUPT);
    assert_non_null(strstr(err, "reason=term-below-snapshot"));
    assert_non_null(strstr(err, "offset="));
}

static void test_log_bad_segment_header_is_corrupt(void **state)
{
    struct fx *f = *state;
    struct coord_log_recovered rec;
    struct coord_log *log;
    char err[256];
    char want[320];
    struct tail t;
    size_t i;

    build(f, 100);
    load_tail(f, &t, 1);
    snprintf(want, sizeof(want), "file=%s offset=0 ", t.path);
    for (i = 0; i < SEG_HDR; i++) {
        t.buf[i] ^= 0x10;
        write_file(t.path, t.buf, t.len);
        assert_int_equal(coord_log_open(f->dir, &f->opts, &log, &rec, err, sizeof(err)),
                         RAFT_ECORRUPT);
        assert_non_null(strstr(err, want));
        t.buf[i] ^= 0x10;
    }
    /* A segment of 10 bytes, too short for a header, even as the last. */
    free(t.buf);
    load_tail(f, &t, 0);
    write_file(t.path, t.buf, 10);
    assert_int_equal(coord_log_open(f->dir, &f->opts, &log, &rec, err, sizeof(err)), RAFT_ECORRUPT);
    free(t.buf);
}

/* A length field beyond max_entry_size is corruption, not an allocation:
 * reopening with a smaller limit refuses records written under a larger. */
static void test_log_length_beyond_limit_is_corrupt(void **state)
{
    struct fx *f = *state;
    struct coord_log_recovered rec;
    struct coord_log *log;
    char err[256];

    build(f, 100);
    f->opts.max_entry_size = 8;
    assert_int_equal(coord_log_open(f->dir, &f->opts, &log, &rec, err, sizeof(err)), RAFT_ECORRUPT);
    assert_non_null(strstr(err, "offset=32 "));
    f->opts.max_entry_size = MAX_ENTRY;
    reopen_verify(f, 1, 100, 1, 1, 1);
}

static void test_log_open_rejects_bad_opts(void **state)
{
    struct fx *f = *state;
    struct coord_log_recovered rec;
    struct coord_log *log;

    f->opts.segment_size = 100;
    assert_int_equal(coord_log_open(f->dir, &f->opts, &log, &rec, NULL, 0), RAFT_EINVAL);
    f->opts.segment_size = SEG_SIZE;
    f->opts.max_entry_size = SEG_SIZE;
    assert_int_equal(coord_log_open(f->dir, &f->opts, &log, &rec, NULL, 0), RAFT_EINVAL);
}

/* ---- I/O faults --------------------------------------------------------------------------- */

struct faults {
    int sync_fail_at;  /* fail the n-th fdatasync and every later one; 0: never */
    int n_sync;        /* fdatasync calls seen */
    int write_fail_at; /* fail the n-th pwrite with fail_errno; 0: never */
    int n_write;       /* pwrite calls seen */
    int fail_errno;
    bool half;    /* the failing pwrite first writes half its bytes */
    bool failing; /* a half write happened: the next call fails */
};

static int hook_sync(void *arg, int fd)
{
    struct faults *x = arg;

    x->n_sync++;
    if (x->sync_fail_at > 0 && x->n_sync >= x->sync_fail_at) {
        errno = EIO;
        return -1;
    }
    return fdatasync(fd);
}

static ssize_t hook_pwrite(void *arg, int fd, const void *buf, size_t len, off_t off)
{
    struct faults *x = arg;

    x->n_write++;
    if (x->failing || (x->n_write == x->write_fail_at && (!x->half || len < 2))) {
        x->failing = false;
        errno = x->fail_errno;
        return -1;
    }
    if (x->n_write == x->write_fail_at) {
        x->failing = true;
        return pwrite(fd, buf, len / 2, off);
    }
    return pwrite(fd, buf, len, off);
}

static void use_faults(struct fx *f, struct faults *x)
{
    f->opts.io.fdatasync = hook_sync;
    f->opts.io.pwrite = hook_pwrite;
    f->opts.io.arg = x;
}

static void no_faults(struct fx *f)
{
    memset(&f->opts.io, 0, sizeof(f->opts.io));
}

/* ENOSPC at every write of an append that rolls segments: the append is
 * refused, and the log is exactly as before, in memory and on disk. */
static void test_log_enospc_append_leaves_log_usable(void **state)
{
    struct fx *f = *state;
    struct coord_log_recovered rec;
    struct coord_log_stats st;
    struct coord_log *log;
    struct faults x;
    struct raft_entry *e = mk(61, 60, 2);
    int at;
    int rv;

    for (at = 1;; at++) {
        rm_dir(f->dir);
        build(f, 60);
        memset(&x, 0, sizeof(x));
        x.write_fail_at = at;
        x.fail_errno = ENOSPC;
        x.half = at % 2 == 0;
        use_faults(f, &x);
        log = open_ok(f, &rec);
        coord_log_recovered_free(&rec);
        rv = coord_log_append(log, e, 60);
        if (rv == 0) {
            coord_log_close(log);
            break;
        }
        assert_int_equal(rv, RAFT_ENOSPC);
        coord_log_stats(log, &st);
        assert_int_equal(st.last_index, 60);
        /* Usable: the same append now succeeds. */
        no_faults(f);
        f->opts.io.arg = NULL;
        assert_int_equal(coord_log_append(log, e, 30), 0);
        assert_int_equal(coord_log_truncate(log, 61), 0);
        coord_log_close(log);
        reset_lines();
        reopen_verify(f, 1, 60, 1, 1, 1);
        assert_int_equal(n_torn, 0); /* nothing torn was left */
    }
    assert_true(at > 3); /* several writes were failed in turn */
    no_faults(f);
    reopen_verify(f, 1, 120, 61, 1, 2);
    unmk(e, 60);
}

/* A failed flush is fatal: reported as RAFT_EIO, never retried, and every
 * later call fails too. */
static void test_log_sync_failure_is_sticky(void **state)
{
    struct fx *f = *state;
    struct raft_snapshot_meta meta = {.index = 5, .term = 1};
    struct coord_log_recovered rec;
    struct coord_log *log;
    struct faults x;
    struct raft_entry *e;

    build(f, 20);
    memset(&x, 0, sizeof(x));
    x.sync_fail_at = OPEN_SYNCS + 1;
    use_faults(f, &x);
    log = open_ok(f, &rec);
    coord_log_recovered_free(&rec);
    append_range(log, 21, 25, 1);
    reset_lines();
    assert_int_equal(coord_log_sync(log), RAFT_EIO);
    assert_int_equal(n_lines[COORD_LOG_ERROR], 1);
    assert_int_equal(x.n_sync, OPEN_SYNCS + 1);
    e = mk(26, 1, 1);
    assert_int_equal(coord_log_append(log, e, 1), RAFT_EIO);
    unmk(e, 1);
    assert_int_equal(coord_log_sync(log), RAFT_EIO);
    assert_int_equal(coord_log_truncate(log, 10), RAFT_EIO);
    assert_int_equal(coord_log_set_hard_state(log, 9, 1, 0), RAFT_EIO);
    assert_int_equal(coord_log_compact(log, 1), RAFT_EIO);
    assert_int_equal(coord_log_set_snapshot(log, &meta), RAFT_EIO);
    assert_int_equal(coord_log_install_snapshot(log, &meta), RAFT_EIO);
    coord_log_close(log);
    assert_int_equal(x.n_sync, OPEN_SYNCS + 1); /* never retried, not even by close */
    no_faults(f);
    log = open_ok(f, &rec);
    assert_true(rec.n_entries >= 20);
    coord_log_recovered_free(&rec);
    coord_log_close(log);
}

/* A failed flush while rolling to a new segment is as fatal. */
static void test_log_sync_failure_while_rolling_is_sticky(void **state)
{
    struct fx *f = *state;
    struct coord_log_recovered rec;
    struct coord_log *log;
    struct faults x;
    struct raft_entry *e = mk(21, 60, 1);

    build(f, 20);
    memset(&x, 0, sizeof(x));
    x.sync_fail_at = OPEN_SYNCS + 1;
    use_faults(f, &x);
    log = open_ok(f, &rec);
    coord_log_recovered_free(&rec);
    assert_int_equal(coord_log_append(log, e, 60), RAFT_EIO);
    assert_int_equal(coord_log_sync(log), RAFT_EIO);
    assert_int_equal(x.n_sync, OPEN_SYNCS + 1);
    coord_log_close(log);
    unmk(e, 60);
}

/* Open flushes what it read (log.c invariant 9); when it cannot, it fails. */
static void test_log_open_fails_when_its_flush_fails(void **state)
{
    struct fx *f = *state;
    struct coord_log_recovered rec;
    struct coord_log *log = NULL;
    struct faults x;
    int at;

    build(f, 20);
    for (at = 1; at <= OPEN_SYNCS; at++) {
        memset(&x, 0, sizeof(x));
        x.sync_fail_at = at;
        use_faults(f, &x);
        assert_int_equal(coord_log_open(f->dir, &f->opts, &log, &rec, NULL, 0), RAFT_EIO);
        assert_int_equal(x.n_sync, at);
    }
    no_faults(f);
    reopen_verify(f, 1, 20, 1, 1, 1);
}

/* ---- out of memory ---------------------------------------------------------------------- */

/* Allocation k fails, for k = 1, 2, ... over open of a log of several
 * segments and an append that rolls: each failure is RAFT_ENOMEM, leaks
 * nothing and leaves the log intact. */
static void test_log_oom_sweep_open_append(void **state)
{
    struct fx *f = *state;
    struct coord_log_recovered rec;
    struct coord_log *log = NULL;
    struct raft_entry *e = mk(121, 40, 2);
    long k;
    int rv;
    int rv2;

    build(f, 120);
    for (k = 1;; k++) {
        raft_alloc_fail_at(k);
        rv = coord_log_open(f->dir, &f->opts, &log, &rec, NULL, 0);
        rv2 = rv == 0 ? coord_log_append(log, e, 40) : 0;
        raft_alloc_fail_at(0);
        if (rv != 0) {
            assert_int_equal(rv, RAFT_ENOMEM);
            assert_int_equal(raft_alloc_live(), f->live);
            continue;
        }
        coord_log_recovered_free(&rec);
        coord_log_close(log);
        assert_int_equal(raft_alloc_live(), f->live);
        if (rv2 == 0) {
            break;
        }
        assert_int_equal(rv2, RAFT_ENOMEM);
        reopen_verify(f, 1, 120, 1, 1, 1);
    }
    assert_true(k > 5);
    reopen_verify(f, 1, 160, 121, 1, 2);
    unmk(e, 40);
}

/* The same on a directory that does not exist yet. */
static void test_log_oom_sweep_create(void **state)
{
    struct fx *f = *state;
    struct coord_log_recovered rec;
    struct coord_log *log = NULL;
    long k;
    int rv;

    for (k = 1;; k++) {
        raft_alloc_fail_at(k);
        rv = coord_log_open(f->dir, &f->opts, &log, &rec, NULL, 0);
        raft_alloc_fail_at(0);
        if (rv == 0) {
            break;
        }
        assert_int_equal(rv, RAFT_ENOMEM);
        assert_int_equal(raft_alloc_live(), f->live);
    }
    coord_log_recovered_free(&rec);
    append_range(log, 1, 5, 1);
    coord_log_close(log);
    reopen_verify(f, 1, 5, 1, 1, 1);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_log_open_creates_empty_log),
        T(test_log_round_trip_across_segments),
        T(test_log_round_trip_preallocated),
        T(test_log_truncate_then_append),
        T(test_log_truncate_at_segment_boundary),
        T(test_log_truncate_rejects_out_of_range),
        T(test_log_append_rejects_bad_entries),
        T(test_log_hard_state_survives_reopen),
        T(test_log_hard_state_rejects_going_back),
        T(test_log_hard_state_torn_slot_falls_back),
        T(test_log_term_raised_when_hard_state_lags),
        T(test_log_open_makes_what_it_recovers_durable),
        T(test_log_compact_deletes_old_segments),
        T(test_log_install_snapshot_then_reopen),
        T(test_log_install_snapshot_crash_before_delete),
        T(test_log_leftover_tmp_files_are_removed),
        T(test_log_torn_tail_every_offset_is_cut),
        T(test_log_torn_tail_every_offset_is_cut_preallocated),
        T(test_log_torn_tail_then_append),
        T(test_log_bit_flip_in_last_segment_is_corrupt),
        T(test_log_bit_flip_in_older_segment_is_corrupt),
        T(test_log_torn_end_of_older_segment_is_corrupt),
        T(test_log_unflushed_batch_lost_page_is_cut),
        T(test_log_lost_page_in_flushed_batch_is_corrupt),
        T(test_log_lost_page_needs_consistent_batch),
        T(test_log_segment_format_1_is_refused),
        T(test_log_missing_segment_is_corrupt),
        T(test_log_term_below_snapshot_is_corrupt),
        T(test_log_bad_segment_header_is_corrupt),
        T(test_log_length_beyond_limit_is_corrupt),
        T(test_log_open_rejects_bad_opts),
        T(test_log_enospc_append_leaves_log_usable),
        T(test_log_sync_failure_is_sticky),
        T(test_log_sync_failure_while_rolling_is_sticky),
        T(test_log_open_fails_when_its_flush_fails),
        T(test_log_oom_sweep_open_append),
        T(test_log_oom_sweep_create),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
