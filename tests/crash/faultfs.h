/* SPDX-License-Identifier: MIT */
/* faultfs: a storage-fault layer for tests, plugged into the durable log
 * through struct coord_log_io. Every pwrite and every fdatasync the log
 * issues is one numbered "point"; at a chosen point the process dies as a
 * kill -9 would leave it, or as a power loss would: the writes since each
 * file's last flush are partly undone, either from some write on (maybe
 * torn) or page by page in any order (a later page kept, an earlier one
 * lost), as a disk may persist dirty pages. faultfs_crash_here() does the same
 * without leaving the process (the simulator crashes nodes in-process).
 * Directory operations (rename, unlink, ftruncate, fallocate) and LMDB's I/O
 * are not hooked: they survive a crash whole. Single-threaded: one thread at
 * a time calls the hooks. Test builds only; never linked into coordd. */
#ifndef TESTS_CRASH_FAULTFS_H
#define TESTS_CRASH_FAULTFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coord/storage/log.h"
#include "raft/base/rand.h"

/* The exit status of a process that faultfs crashed on purpose. */
#define FAULTFS_EXIT_CRASHED 42

#define FAULTFS_FILES_MAX 64   /* files with unflushed writes at once */
#define FAULTFS_PAGE      4096 /* bytes: what a power loss keeps or loses whole */
#define FAULTFS_PAGES_PM  500  /* default chance a file's power loss goes page by page */
#define FAULTFS_WRITES_MAX                                                                         \
    4096 /* unflushed writes per file; at this many, the oldest                                    \
          * half is taken as written back by the kernel */

enum faultfs_mode {
    FAULTFS_COUNT = 0, /* only count the points; flushes succeed */
    FAULTFS_KILL = 1,  /* at the crash point: _exit(), page cache kept (kill -9) */
    FAULTFS_POWER = 2, /* at the crash point: undo unflushed writes, then _exit() */
};

/* One pwrite since its file's last flush, with what it overwrote. */
struct faultfs_write {
    uint64_t off;      /* bytes */
    size_t len;        /* bytes written */
    uint64_t old_size; /* the file's size before the write */
    uint8_t *pre;      /* the old bytes of [off, min(off + len, old_size)) (malloc) */
    size_t pre_len;    /* bytes in pre */
};

/* A file with unflushed writes, known by its inode: the log closes and
 * reopens descriptors, and descriptor numbers are reused. */
struct faultfs_file {
    uint64_t dev;
    uint64_t ino;
    int fd; /* our own read-write descriptor of the inode */
    struct faultfs_write *writes;
    size_t n_writes;
    size_t cap_writes; /* elements allocated in writes */
};

struct faultfs {
    enum faultfs_mode mode;
    uint64_t crash_at;     /* point that crashes (1-based); 0: never */
    uint64_t n_points;     /* points seen so far */
    uint64_t n_writes;     /* of which pwrites */
    uint64_t n_syncs;      /* of which fdatasyncs */
    struct raft_rand rand; /* POWER: what survives */
    unsigned pages_pm;     /* POWER: chance per file that it goes page by page; set
                            * to FAULTFS_PAGES_PM by faultfs_init(), tests may change it */
    uint64_t n_reordered;  /* files a power loss left with a later page kept and an
                            * earlier one lost */
    bool down;             /* crashed in-process (faultfs_crash_here): flushes do nothing */
    struct faultfs_file files[FAULTFS_FILES_MAX];
    size_t n_files;
};

/* Start fs in mode, crashing at point crash_at (0: never); seed drives the
 * choices of a power loss. */
void faultfs_init(struct faultfs *fs, enum faultfs_mode mode, uint64_t crash_at, uint64_t seed);

/* Point io's hooks at fs (borrowed until the log using io is closed). The
 * hooks skip the real fdatasync: durability is what faultfs models, and
 * the test stays fast. */
void faultfs_io(struct faultfs *fs, struct coord_log_io *io);

/* Crash now, as the mode says (KILL for COUNT), without returning: exits the
 * process with FAULTFS_EXIT_CRASHED. */
_Noreturn void faultfs_crash(struct faultfs *fs);

/* Crash now without leaving the process: POWER undoes unflushed writes as
 * faultfs_crash() does, and what is left is durable; KILL keeps them, still
 * unflushed (a later power loss may still undo them: they are only in the
 * page cache). The hooks then act for a dead process until
 * faultfs_restart(): an fdatasync does nothing and returns 0, a pwrite
 * aborts. So the crashed process's log handle can be released with
 * coord_log_close() without its final flush reaching the disk. Requires
 * mode POWER at faultfs_init() (writes are recorded only then). */
void faultfs_crash_here(struct faultfs *fs, enum faultfs_mode mode);

/* The process came back: the hooks work again. */
void faultfs_restart(struct faultfs *fs);

/* Release what fs holds (descriptors, pre-images). */
void faultfs_close(struct faultfs *fs);

#endif /* TESTS_CRASH_FAULTFS_H */
