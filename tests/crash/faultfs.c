/* SPDX-License-Identifier: MIT */
/* faultfs: numbered write and sync points, and the two crashes (see
 * faultfs.h). A power loss here treats each file with writes since its last
 * flush in one of two ways, drawn per file. Either it keeps a random prefix
 * of those writes, maybe tears the first write it drops at a random byte,
 * and undoes the rest from their pre-images, newest first; or it keeps a
 * random subset of the pages they touched and puts every other page back as
 * it was before them (zeros where the file had not reached), so a later
 * page may survive an earlier one, within one write too. Files that grew
 * are cut back to what they keep. That is what an fdatasync promises and
 * no more: earlier flushes hold, and a disk writes dirty pages back in any
 * order, so any part of the later writes may be lost. */
#include "tests/crash/faultfs.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATH_LEN 64 /* bytes for "/proc/self/fd/<n>" */

/* faultfs is test scaffolding: a broken assumption stops the process loudly
 * (the parent sees a signal, not a crash it asked for). */
static _Noreturn void die(const char *what)
{
    (void)fprintf(stderr, "faultfs: %s\n", what);
    abort();
}

void faultfs_init(struct faultfs *fs, enum faultfs_mode mode, uint64_t crash_at, uint64_t seed)
{
    memset(fs, 0, sizeof(*fs));
    fs->mode = mode;
    fs->crash_at = crash_at;
    fs->pages_pm = FAULTFS_PAGES_PM;
    raft_rand_seed(&fs->rand, seed);
}

/* Count one point; true if it is the one that crashes. */
static bool point(struct faultfs *fs)
{
    fs->n_points++;
    return fs->crash_at != 0 && fs->n_points == fs->crash_at;
}

static struct faultfs_file *find(struct faultfs *fs, const struct stat *st)
{
    size_t i;

    for (i = 0; i < fs->n_files; i++) {
        if (fs->files[i].dev == (uint64_t)st->st_dev && fs->files[i].ino == (uint64_t)st->st_ino) {
            return &fs->files[i];
        }
    }
    return NULL;
}

/* Stop tracking files[i]: forget its writes, close our descriptor. */
static void untrack(struct faultfs *fs, size_t i)
{
    struct faultfs_file *f = &fs->files[i];
    size_t k;

    for (k = 0; k < f->n_writes; k++) {
        free(f->writes[k].pre);
    }
    free(f->writes);
    close(f->fd);
    *f = fs->files[fs->n_files - 1];
    fs->n_files--;
}

/* Make room in a full table: files deleted since then no longer matter, as
 * no crash can bring them back. */
static void purge_unlinked(struct faultfs *fs)
{
    struct stat st;
    size_t i = 0;

    while (i < fs->n_files) {
        if (fstat(fs->files[i].fd, &st) != 0) {
            die("fstat of a tracked file failed");
        }
        if (st.st_nlink == 0) {
            untrack(fs, i);
        } else {
            i++;
        }
    }
}

/* Our own read-write descriptor of fd's file: the log may close fd before
 * the crash. A duplicate when fd is read-write (cheap), else a reopen
 * through /proc, since the log may hold fd write-only. */
static int own_fd(int fd)
{
    char path[PATH_LEN];
    int flags = fcntl(fd, F_GETFL);

    if (flags >= 0 && (flags & O_ACCMODE) == O_RDWR) {
        return fcntl(fd, F_DUPFD_CLOEXEC, 0);
    }
    (void)snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    return open(path, O_RDWR | O_CLOEXEC);
}

/* The tracked file behind fd, added when new. */
static struct faultfs_file *track(struct faultfs *fs, int fd)
{
    struct faultfs_file *f;
    struct stat st;

    if (fstat(fd, &st) != 0) {
        die("fstat of a hooked descriptor failed");
    }
    f = find(fs, &st);
    if (f != NULL) {
        return f;
    }
    if (fs->n_files == FAULTFS_FILES_MAX) {
        purge_unlinked(fs);
    }
    if (fs->n_files == FAULTFS_FILES_MAX) {
        die("too many files with unflushed writes");
    }
    f = &fs->files[fs->n_files];
    memset(f, 0, sizeof(*f));
    f->fd = own_fd(fd);
    if (f->fd < 0) {
        die("cannot reopen a hooked file read-write");
    }
    f->dev = (uint64_t)st.st_dev;
    f->ino = (uint64_t)st.st_ino;
    fs->n_files++;
    return f;
}

static uint64_t file_size(int fd)
{
    struct stat st;

    if (fstat(fd, &st) != 0) {
        die("fstat failed");
    }
    return (uint64_t)st.st_size;
}

/* Read exactly len bytes at off. */
static void read_exact(int fd, uint8_t *buf, size_t len, uint64_t off)
{
    ssize_t n;

    while (len > 0) {
        n = pread(fd, buf, len, (off_t)off);
        if (n <= 0) {
            die("pread of a pre-image failed");
        }
        buf += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
}

static void write_exact(int fd, const uint8_t *buf, size_t len, uint64_t off)
{
    ssize_t n;

    while (len > 0) {
        n = pwrite(fd, buf, len, (off_t)off);
        if (n <= 0) {
            die("pwrite while undoing failed");
        }
        buf += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
}

/* The kernel writes dirty pages back on its own: the oldest half of f's
 * writes reach the disk and can no longer be undone. */
static void write_back(struct faultfs_file *f)
{
    size_t k = f->n_writes / 2;
    size_t i;

    for (i = 0; i < k; i++) {
        free(f->writes[i].pre);
    }
    memmove(f->writes, f->writes + k, (f->n_writes - k) * sizeof(*f->writes));
    f->n_writes -= k;
}

/* Save what a write of len bytes at off into fd is about to overwrite. */
static struct faultfs_write *record(struct faultfs *fs, int fd, size_t len, uint64_t off)
{
    struct faultfs_file *f = track(fs, fd);
    struct faultfs_write *w;
    size_t cap;

    if (f->n_writes == FAULTFS_WRITES_MAX) {
        write_back(f);
    }
    if (f->n_writes == f->cap_writes) {
        cap = f->cap_writes == 0 ? 16 : 2 * f->cap_writes;
        w = realloc(f->writes, cap * sizeof(*w));
        if (w == NULL) {
            die("out of memory");
        }
        f->writes = w;
        f->cap_writes = cap;
    }
    w = &f->writes[f->n_writes++];
    w->off = off;
    w->len = len;
    w->old_size = file_size(f->fd);
    w->pre_len = off < w->old_size ? (size_t)(w->old_size - off) : 0;
    w->pre_len = w->pre_len < len ? w->pre_len : len;
    w->pre = w->pre_len > 0 ? malloc(w->pre_len) : NULL;
    if (w->pre_len > 0 && w->pre == NULL) {
        die("out of memory");
    }
    read_exact(f->fd, w->pre, w->pre_len, off);
    return w;
}

/* fd was flushed: its writes are durable, nothing to undo any more. */
static void flushed(struct faultfs *fs, int fd)
{
    struct faultfs_file *f;
    struct stat st;

    if (fstat(fd, &st) != 0) {
        die("fstat of a hooked descriptor failed");
    }
    f = find(fs, &st);
    if (f != NULL) {
        untrack(fs, (size_t)(f - fs->files));
    }
}

static ssize_t hook_pwrite(void *arg, int fd, const void *buf, size_t len, off_t off)
{
    struct faultfs *fs = arg;
    struct faultfs_write *w = NULL;
    bool crash;
    ssize_t n;

    if (fs->down) {
        die("pwrite by a process that crashed");
    }
    crash = point(fs);
    fs->n_writes++;
    if (crash && fs->mode != FAULTFS_POWER) {
        faultfs_crash(fs); /* the write never happens */
    }
    if (fs->mode == FAULTFS_POWER) {
        w = record(fs, fd, len, (uint64_t)off);
    }
    n = pwrite(fd, buf, len, off);
    if (w != NULL && n >= 0 && (size_t)n < len) {
        w->len = (size_t)n;
    }
    if (crash) {
        faultfs_crash(fs); /* the write may survive, torn or not at all */
    }
    return n;
}

static int hook_fdatasync(void *arg, int fd)
{
    struct faultfs *fs = arg;

    if (fs->down) {
        return 0; /* the process is gone: nothing reaches the disk */
    }
    fs->n_syncs++;
    if (point(fs)) {
        faultfs_crash(fs); /* before the flush: it promised nothing yet */
    }
    if (fs->mode == FAULTFS_POWER) {
        flushed(fs, fd);
    }
    return 0;
}

void faultfs_io(struct faultfs *fs, struct coord_log_io *io)
{
    io->pwrite = hook_pwrite;
    io->fdatasync = hook_fdatasync;
    io->arg = fs;
}

/* Put back the bytes of w from keep on (keep < w->len), and the size the
 * file had with only keep bytes of w written. */
static void undo(int fd, const struct faultfs_write *w, size_t keep)
{
    uint64_t size;

    if (keep < w->pre_len) {
        write_exact(fd, w->pre + keep, w->pre_len - keep, w->off + keep);
    }
    size = keep == 0 || w->off + keep < w->old_size ? w->old_size : w->off + keep;
    if (file_size(fd) > size && ftruncate(fd, (off_t)size) != 0) {
        die("ftruncate while undoing failed");
    }
}

/* One file loses the unflushed writes after a random prefix, the first
 * one lost maybe torn. */
static void lose_prefix(struct faultfs *fs, struct faultfs_file *f)
{
    size_t kept = (size_t)raft_rand_below(&fs->rand, f->n_writes + 1);
    const struct faultfs_write *w;
    size_t torn = 0; /* bytes of the first lost write that made it */
    size_t i;

    for (i = f->n_writes; i > kept + 1; i--) {
        undo(f->fd, &f->writes[i - 1], 0);
    }
    if (kept == f->n_writes) {
        return;
    }
    w = &f->writes[kept];
    if (w->len > 1 && raft_rand_chance(&fs->rand, 500)) {
        torn = (size_t)raft_rand_below(&fs->rand, w->len);
    }
    undo(f->fd, w, torn);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* The pages f's unflushed writes touched, ascending, each once (returns
 * owned: free); *n returns how many. */
static uint64_t *touched_pages(const struct faultfs_file *f, size_t *n)
{
    const struct faultfs_write *w;
    uint64_t *pages = NULL;
    uint64_t *grown;
    size_t cap = 0;
    size_t i;
    size_t k;
    uint64_t p;

    *n = 0;
    for (i = 0; i < f->n_writes; i++) {
        w = &f->writes[i];
        for (p = w->off / FAULTFS_PAGE; w->len > 0 && p <= (w->off + w->len - 1) / FAULTFS_PAGE;
             p++) {
            if (*n == cap) {
                cap = cap == 0 ? 64 : 2 * cap;
                grown = realloc(pages, cap * sizeof(*pages));
                if (grown == NULL) {
                    die("out of memory");
                }
                pages = grown;
            }
            pages[(*n)++] = p;
        }
    }
    if (*n > 0) {
        qsort(pages, *n, sizeof(*pages), cmp_u64);
    }
    for (i = 0, k = 0; i < *n; i++) {
        if (k == 0 || pages[k - 1] != pages[i]) {
            pages[k++] = pages[i];
        }
    }
    *n = k;
    return pages;
}

/* One file keeps a random subset of the pages its unflushed writes
 * touched, as they are now; every other page goes back to what it held
 * before those writes. */
static void lose_pages(struct faultfs *fs, struct faultfs_file *f)
{
    unsigned keep_pm = (unsigned)raft_rand_below(&fs->rand, 1001);
    uint64_t size = file_size(f->fd);
    bool lost_before = false;
    bool reordered = false;
    uint64_t *pages;
    uint8_t *saved;
    size_t *lens;
    size_t n;
    size_t i;
    uint64_t off;

    pages = touched_pages(f, &n);
    saved = malloc(n * FAULTFS_PAGE + 1);
    lens = calloc(n + 1, sizeof(*lens));
    if (saved == NULL || lens == NULL) {
        die("out of memory");
    }
    /* What the kept pages hold now (a page beyond the end, cut off since
     * the write, holds nothing to keep). */
    for (i = 0; i < n; i++) {
        off = pages[i] * FAULTFS_PAGE;
        if (off < size && raft_rand_chance(&fs->rand, keep_pm)) {
            lens[i] = size - off < FAULTFS_PAGE ? (size_t)(size - off) : FAULTFS_PAGE;
            read_exact(f->fd, saved + i * FAULTFS_PAGE, lens[i], off);
            reordered = reordered || lost_before;
        } else {
            lost_before = true;
        }
    }
    /* Every page as it was before the writes, then the kept ones again. */
    for (i = f->n_writes; i > 0; i--) {
        undo(f->fd, &f->writes[i - 1], 0);
    }
    for (i = 0; i < n; i++) {
        write_exact(f->fd, saved + i * FAULTFS_PAGE, lens[i], pages[i] * FAULTFS_PAGE);
    }
    fs->n_reordered += reordered ? 1 : 0;
    free(lens);
    free(saved);
    free(pages);
}

/* One file loses part of its unflushed writes, one way or the other. */
static void lose_file(struct faultfs *fs, struct faultfs_file *f)
{
    if (f->n_writes == 0) {
        return;
    }
    if (raft_rand_chance(&fs->rand, fs->pages_pm)) {
        lose_pages(fs, f);
    } else {
        lose_prefix(fs, f);
    }
}

/* A power loss: each file loses part of its unflushed writes. */
static void lose_all(struct faultfs *fs)
{
    size_t i;

    for (i = 0; i < fs->n_files; i++) {
        lose_file(fs, &fs->files[i]);
    }
}

_Noreturn void faultfs_crash(struct faultfs *fs)
{
    if (fs->mode == FAULTFS_POWER) {
        lose_all(fs);
    }
    _exit(FAULTFS_EXIT_CRASHED);
}

void faultfs_crash_here(struct faultfs *fs, enum faultfs_mode mode)
{
    if (fs->mode != FAULTFS_POWER || fs->down) {
        die("faultfs_crash_here needs a running fs in mode POWER");
    }
    if (mode == FAULTFS_POWER) {
        lose_all(fs);
        /* What survived is on the disk now: nothing is left to undo. */
        while (fs->n_files > 0) {
            untrack(fs, fs->n_files - 1);
        }
    }
    fs->down = true;
}

void faultfs_restart(struct faultfs *fs)
{
    fs->down = false;
}

void faultfs_close(struct faultfs *fs)
{
    while (fs->n_files > 0) {
        untrack(fs, fs->n_files - 1);
    }
}
