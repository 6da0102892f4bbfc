/* SPDX-License-Identifier: MIT */
/* log: the durable Raft log in segment files, the hard state and the latest
 * snapshot's meta. Translates errno into RAFT_E* codes and logs each failure
 * once, with the path. Not thread-safe: one thread at a time. */

/* Design notes
 * ============
 *
 * Files in the directory. All integers are little-endian.
 *
 *   hardstate             two 64-byte slots, at offsets 0 and 512
 *   snapshot.meta         the latest snapshot's meta; absent until one is recorded
 *   <first index>.seg     a segment: "%020" PRIu64 of its first entry's index
 *   *.tmp                 a file being created; open() deletes leftovers
 *
 * Segment header, 32 bytes:
 *   0  u8[8] magic "COORDSEG"
 *   8  u32   format version, 2
 *   12 u32   CRC32C of bytes 0..11 and 16..31
 *   16 u64   index of the first record; equals the file's name
 *   24 u64   epoch: snapshot.meta's epoch when the segment was created
 * then records back to back, each 8 + len bytes:
 *   0  u32   len: bytes after this 8-byte prefix, 21 + data length
 *   4  u32   CRC32C of bytes 0..3 (len) followed by the len bytes from 8 on
 *   8  u64   term
 *   16 u64   index
 *   24 u32   batch: offset in this segment at which the record's flush batch
 *            began, i.e. the segment's flushed end when it was written
 *            (invariant 10)
 *   28 u8    type (enum raft_entry_type)
 *   29 ...   data
 * then zeros (preallocated space) up to the end of the file. A len of 0 is
 * where the data ends. Format 1 had no batch field (type at 24, data at
 * 25); open refuses a version-1 segment as an unsupported format.
 *
 * Hard-state slot, 64 bytes: 0 magic "COORDHST", 8 u32 version 1, 12 u32
 * CRC32C of bytes 0..11 and 16..63, 16 u64 sequence, 24 u64 term, 32 u64
 * vote, 40 u64 commit, 48 zeros. The valid slot with the higher sequence is
 * the hard state.
 *
 * snapshot.meta: 0 magic "COORDSNP", 8 u32 version 1, 12 u32 CRC32C of bytes
 * 0..11 and 16..end, 16 u64 index, 24 u64 term, 32 u64 epoch, 40 u32 conf
 * length, 44 the configuration as raft_conf_encode() writes it.
 *
 * These bytes are the node's durable state. Changing a layout, a magic, the
 * CRC's coverage or the file names makes existing data directories fail to
 * open with RAFT_ECORRUPT (or worse, be misread); a change needs a new
 * version number. Before the first release open refuses an older version
 * with a message saying so (segments: version 1); after it, a change also
 * needs code that still reads the old one.
 *
 * Why the hard state has a file of its own rather than records in the log:
 * a vote must be durable without any entry, and a record in the log would
 * have to be carried across compaction and truncation, which delete
 * segments. Two slots with a sequence number make each update a single
 * in-place write that a crash can tear without losing the previous value.
 * The price is a second fdatasync in the batches that change term or vote
 * (elections only); commit changes are written but flushed lazily.
 *
 * Why each record carries where its batch began: a power loss may persist
 * any subset of the pages written since the last flush, so it can leave a
 * bad record followed by good ones of the same batch. Bit rot in a flushed
 * region leaves the same bytes. The batch field tells the two apart: a
 * good record after the damage that belongs to a later batch proves the
 * damage was flushed before (Recovery below).
 *
 * Invariants. check() asserts 1 and 2 and the in-memory bookkeeping after
 * every mutation; the others are kept by the functions named and shown by
 * tests/unit/storage/test_log.c:
 * 1. Segments are consecutive: segs[i + 1].first == segs[i].last + 1. An
 *    empty segment has last == first - 1.
 * 2. With segments, segs[0].first <= snap.index + 1 <= next_index: the log
 *    covers everything after the snapshot. Without, next_index ==
 *    snap.index + 1.
 * 3. Only the last segment is written. roll() cut each older one to its
 *    last record and flushed it before creating the next, so damage in an
 *    older segment is corruption, never a torn write.
 * 4. Beyond seg.end the last segment holds only zeros or bytes written since
 *    the last flush: cut() flushes a truncation (ftruncate drops the bytes;
 *    the preallocation after it adds zeros) before anything is written over
 *    it, a failed append is cut back and flushed before returning, and open
 *    cuts a damaged tail the same way. So no record of a truncated suffix
 *    is ever read again, as an entry or as evidence (Recovery). After a
 *    crash, only the bytes of the last segment written since its last flush
 *    can be damaged.
 * 5. A segment appears under its final name only with its header durable:
 *    created as *.tmp, flushed, renamed, directory flushed.
 * 6. The hard-state slot holding the last durable state is never written;
 *    writes go to the other one, which becomes the durable one when a flush
 *    of the file succeeds.
 * 7. snapshot.meta changes only by rename. Segments with an epoch below its
 *    epoch belong to a log that install_snapshot dropped; open deletes them.
 * 8. failed is sticky: after a failed flush, or an I/O error that leaves the
 *    disk in an unknown state, every call but close returns RAFT_EIO.
 * 9. What open returns is durable. A process that crashed (kill -9) leaves
 *    its unflushed writes in the page cache, where open reads them, and the
 *    core takes what open returns as durable (RAFT_EV_START): open flushes
 *    the last segment, the hard-state file and the directory before it
 *    returns (flush_recovered()). This also makes the hard-state slot it
 *    chose durable before the other one is written (invariant 6). Older
 *    segments were flushed when sealed (3), snapshot.meta before its rename.
 * 10. A record's batch field is seg_flushed when it was written: the last
 *    segment's end at its last flush (create_segment() sets it to the
 *    header's end, flush_last() to seg.end after every flush of the last
 *    segment: sync, set_snapshot, roll, cut, open). So the records written
 *    since the last flush all carry the same value b, b is a record
 *    boundary, and a record written after a later flush carries a value
 *    beyond the end of every record written before that flush. A batch
 *    never spans segments: roll() flushes the old segment before
 *    create_segment() starts the next.
 *
 * States:
 *
 *   coord_log_open() ---> OPEN ---(append, truncate, set_hard_state, sync,
 *                           |      compact, set_snapshot, install_snapshot)
 *                           |  <--/
 *                           +--(failed flush: fail_io(), flush())--> FAILED
 *   OPEN, FAILED ---coord_log_close()---> closed
 *
 * Recovery (open): the first record of a segment that does not check out
 * (short, zero or impossible length, bad CRC) ends that segment's data, at
 * offset X. In an older segment that is corruption (invariant 3). In the
 * last segment (classify()):
 *   - nothing but zeros after X: the clean end;
 *   - no valid record starts anywhere after X: a torn tail, cut off at X
 *     (ftruncate, flush) and logged at WARN;
 *   - valid records start after X, all with the same batch b <= X, b is X
 *     or the offset of a good record before X, and every good record from
 *     b to X carries b too: X lies in the batch written since the last
 *     flush, which a power loss left partly persisted (a later page
 *     written, an earlier one not). Cut off at X the same way, logged at
 *     WARN with the number of good-looking records dropped;
 *   - otherwise (a valid record after X with b > X: X was in a batch that
 *     a later flush made durable; or batches that disagree): corruption.
 * Corruption is RAFT_ECORRUPT naming the file and offset. A record with a
 * good CRC but an index or term out of sequence (or the first entry after
 * the snapshot in a term below the snapshot's) is always corruption.
 *
 * Why the cuts drop nothing reported durable. A crash can damage only the
 * bytes written since the last flush (invariants 3 and 4), which begin at
 * the flushed end b; every record before b was flushed, checks out, and so
 * X >= b. Whatever follows X was written since b too, or is zeros: stale
 * records of a truncated suffix are gone (4). Conversely, damage at X in
 * a batch that a later flush made durable is refused as long as one record
 * of a later batch is intact after it: its batch field is beyond X (10).
 * What no rule can tell from a torn write is damage by other means (bit
 * rot, a misdirected write) in the last batch written before the crash
 * when no record of a later batch follows it; if that batch had been
 * flushed, open cuts acknowledged entries. The torn-tail rule has always
 * taken that risk. etcd's WAL and ZooKeeper's transaction log take a
 * larger one without looking at what follows: etcd truncates its last file
 * at a bad record holding an all-zero sector, ZooKeeper stops reading a
 * file at a zero length.
 */
#include "coord/storage/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coord/log.h"
#include "coord/storage/crc32c.h"
#include "raft/base/alloc.h"
#include "raft/base/assert.h"

#define FORMAT_VERSION     1u         /* of the hard-state slots and snapshot.meta */
#define SEG_VERSION        2u         /* of segments: header and records */
#define SEG_HDR_LEN        32u        /* bytes */
#define REC_HDR_LEN        8u         /* bytes: len + crc */
#define REC_BODY_MIN       21u        /* bytes: term + index + batch + type */
#define REC_TERM           8u         /* offset of the term in a record */
#define REC_INDEX          16u        /* ... of the index */
#define REC_BATCH          24u        /* ... of the batch */
#define REC_TYPE           28u        /* ... of the type; the data follows */
#define HS_SLOT_LEN        64u        /* bytes */
#define HS_SLOT_STRIDE     512u       /* bytes: slot 1 starts in another sector */
#define HS_FILE_LEN        1024u      /* bytes */
#define SNAP_HDR_LEN       44u        /* bytes before the configuration */
#define SNAP_FILE_MAX      4096u      /* bytes */
#define SEG_SIZE_MIN       4096u      /* bytes */
#define NAME_LEN           40         /* bytes for "%020" PRIu64 ".seg.tmp" and NUL */
#define SCRATCH_MAX        (1u << 20) /* bytes per pwrite beyond one record */
#define HS_NAME            "hardstate"
#define SNAP_NAME          "snapshot.meta"
#define TMP_SUFFIX         ".tmp"
#define DEFAULT_SEG_SIZE   (64u << 20)
#define DEFAULT_MAX_ENTRY  (8u << 20)
#define REC_MAX_OVERHEAD   (REC_HDR_LEN + REC_BODY_MIN)
#define MAX_APPEND_ENTRIES (1u << 24) /* entries in one coord_log_append() */

/* Magic numbers: 8 bytes, no NUL. */
static const char seg_magic[8] = "COORDSEG";
static const char hs_magic[8] = "COORDHST";
static const char snap_magic[8] = "COORDSNP";

/* The largest configuration must fit in snapshot.meta. */
_Static_assert(SNAP_HDR_LEN + 2 + RAFT_MAX_SERVERS * (10 + RAFT_ADDR_MAX) <= SNAP_FILE_MAX,
               "snapshot.meta too small for a configuration");
_Static_assert(HS_SLOT_STRIDE + HS_SLOT_LEN <= HS_FILE_LEN, "hard-state slots overlap");
_Static_assert(REC_TYPE + 1 == REC_HDR_LEN + REC_BODY_MIN, "record layout and length disagree");

struct seg {
    raft_index first; /* index of the first record; the file's name */
    raft_index last;  /* index of the last record; first - 1 when empty */
    uint64_t epoch;   /* snapshot epoch the segment was created in */
    uint64_t end;     /* bytes: offset just past the last record */
    uint32_t *offs;   /* offs[i]: byte offset of record first + i (last - first + 1 of them) */
    size_t cap;       /* elements allocated in offs */
};

struct coord_log {
    char *dir;                      /* owned path of the directory */
    int dir_fd;                     /* the directory, for *at() calls and flushes */
    struct coord_log_opts opts;     /* copied at open */
    struct seg *segs;               /* n_segs segments ordered by index; the last is open */
    size_t n_segs;                  /* segments in use */
    size_t cap_segs;                /* elements allocated in segs */
    int fd;                         /* the last segment, read-write; -1 when n_segs == 0 */
    bool seg_dirty;                 /* fd written since its last flush */
    uint64_t seg_flushed;           /* bytes: the last segment's end at its last flush;
                                     * the batch field of records written (invariant 10) */
    raft_index next_index;          /* index the next append must carry */
    raft_term last_term;            /* term of next_index - 1 (the snapshot's when empty) */
    struct raft_snapshot_meta snap; /* latest recorded snapshot */
    uint64_t epoch;                 /* snapshot.meta's epoch, 0 without the file */
    int hs_fd;                      /* the hardstate file */
    unsigned hs_slot;               /* 0 or 1: the slot holding the durable hard state */
    uint64_t hs_seq;                /* sequence number in that slot */
    raft_term term;                 /* hard state last written */
    raft_id vote;                   /* ditto */
    raft_index commit;              /* ditto */
    raft_term d_term;               /* hard state known durable */
    raft_id d_vote;                 /* ditto */
    bool hs_pending;                /* the other slot was written since the last hs flush */
    bool hs_need_sync;              /* ... and term or vote changed: the next sync flushes it */
    uint8_t *scratch;               /* records being encoded for one pwrite */
    size_t scratch_cap;             /* bytes allocated in scratch */
    bool failed;                    /* sticky, invariant 8 */
    uint64_t n_syncs;               /* flushes issued */
    char *err;                      /* during open only: the caller's message buffer */
    size_t err_len;                 /* bytes of err */
};

/* ---- bytes ------------------------------------------------------------------------------ */

static void put32(uint8_t *p, uint32_t v)
{
    unsigned i;

    for (i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void put64(uint8_t *p, uint64_t v)
{
    unsigned i;

    for (i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* CRC of a header whose CRC field sits at bytes 12..15. */
static uint32_t hdr_crc(const uint8_t *p, size_t len)
{
    return coord_crc32c(coord_crc32c(0, p, 12), p + 16, len - 16);
}

/* CRC of a record whose body (after the 8-byte prefix) is len bytes. */
static uint32_t rec_crc(const uint8_t *p, uint32_t len)
{
    return coord_crc32c(coord_crc32c(0, p, 4), p + REC_HDR_LEN, len);
}

static uint32_t max_body(const struct coord_log *log)
{
    return REC_BODY_MIN + log->opts.max_entry_size;
}

static void seg_name(char *buf, raft_index first, bool tmp)
{
    (void)snprintf(buf, NAME_LEN, "%020" PRIu64 ".seg%s", first, tmp ? TMP_SUFFIX : "");
}

/* ---- errors ----------------------------------------------------------------------------- */

static int xlate(int e)
{
    if (e == ENOSPC) {
        return RAFT_ENOSPC;
    }
#ifdef EDQUOT
    if (e == EDQUOT) {
        return RAFT_ENOSPC;
    }
#endif
    if (e == ENOMEM) {
        return RAFT_ENOMEM;
    }
    return RAFT_EIO;
}

/* Log line at ERROR once and, while opening, copy it to the caller's buffer.
 * Returns code, so that callers can `return report(...)`. */
static int report(struct coord_log *log, int code, const char *fmt, ...) COORD_LOG_PRINTF(3, 4);

static int report(struct coord_log *log, int code, const char *fmt, ...)
{
    char line[400];
    va_list ap;

    va_start(ap, fmt);
    /* A line cut at 400 bytes is still worth logging. */
    /* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): false positive, va_start is above */
    (void)vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    COORD_LOG(ERROR, "%s", line);
    if (log->err != NULL && log->err_len > 0) {
        (void)snprintf(log->err, log->err_len, "%s", line);
    }
    return code;
}

/* A system call on dir/name (dir itself when name is NULL) failed with errno e. */
static int sys_error(struct coord_log *log, const char *op, const char *name, int e)
{
    char msg[128];

    if (strerror_r(e, msg, sizeof(msg)) != 0) {
        (void)snprintf(msg, sizeof(msg), "errno %d", e);
    }
    return report(log, xlate(e), "storage %s failed path=%s%s%s err=\"%s\"", op, log->dir,
                  name != NULL ? "/" : "", name != NULL ? name : "", msg);
}

static int corrupt(struct coord_log *log, const char *name, uint64_t off, const char *why)
{
    return report(log, RAFT_ECORRUPT, "corrupt log file=%s/%s offset=%" PRIu64 " reason=%s",
                  log->dir, name, off, why);
}

/* A segment whose header checks out but has a format this build cannot
 * read (the design notes on versions). */
static int unsupported(struct coord_log *log, const char *name, uint32_t version)
{
    return report(log, RAFT_ECORRUPT,
                  "unsupported log format file=%s/%s offset=8 version=%" PRIu32
                  " supported=%u reason=segment-format-version-not-supported",
                  log->dir, name, version, SEG_VERSION);
}

/* An I/O error left the disk in a state the log cannot vouch for. */
static int fail_io(struct coord_log *log, const char *op, const char *name, int e)
{
    log->failed = true;
    (void)sys_error(log, op, name, e);
    return RAFT_EIO;
}

/* ---- system calls ----------------------------------------------------------------------- */

/* Flush fd. Never retried: a failed fdatasync may have dropped the dirty
 * pages, so a retry that succeeds would vouch for data that is gone. */
static int flush(struct coord_log *log, int fd, const char *name)
{
    int rv;

    log->n_syncs++;
    if (log->opts.io.fdatasync != NULL) {
        rv = log->opts.io.fdatasync(log->opts.io.arg, fd);
    } else {
        rv = fdatasync(fd);
    }
    if (rv != 0) {
        return fail_io(log, "fdatasync", name, errno);
    }
    return 0;
}

/* Write all len bytes at off. Returns 0 or an errno value. */
static int write_all(struct coord_log *log, int fd, const void *buf, size_t len, uint64_t off)
{
    const uint8_t *p = buf;
    ssize_t n;

    while (len > 0) {
        if (log->opts.io.pwrite != NULL) {
            n = log->opts.io.pwrite(log->opts.io.arg, fd, p, len, (off_t)off);
        } else {
            n = pwrite(fd, p, len, (off_t)off);
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return errno;
        }
        if (n == 0) {
            return EIO;
        }
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

/* Reserve the segment's space so appends do not change the file's size.
 * Best effort: without it appends still work, only slower. */
static void preallocate(struct coord_log *log, int fd)
{
    int e;

    if (!log->opts.preallocate) {
        return;
    }
    e = posix_fallocate(fd, 0, (off_t)log->opts.segment_size);
    if (e != 0) {
        COORD_LOG(WARN, "storage preallocation failed dir=%s err=%d", log->dir, e);
    }
}

/* Write a small file atomically: name.tmp, flush, rename, flush the dir. */
static int write_file_atomic(struct coord_log *log, const char *name, const uint8_t *buf,
                             size_t len)
{
    char tmp[NAME_LEN];
    int fd;
    int e;
    int rv;

    (void)snprintf(tmp, sizeof(tmp), "%s%s", name, TMP_SUFFIX);
    fd = openat(log->dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return sys_error(log, "open", tmp, errno);
    }
    e = write_all(log, fd, buf, len, 0);
    if (e != 0) {
        rv = sys_error(log, "write", tmp, e);
        goto err_after_open;
    }
    rv = flush(log, fd, tmp);
    if (rv != 0) {
        goto err_after_open;
    }
    close(fd);
    if (renameat(log->dir_fd, tmp, log->dir_fd, name) != 0) {
        rv = sys_error(log, "rename", tmp, errno);
        goto err_after_close;
    }
    return flush(log, log->dir_fd, ".");

err_after_open:
    close(fd);
err_after_close:
    unlinkat(log->dir_fd, tmp, 0);
    return rv;
}

/* ---- invariants ------------------------------------------------------------------------- */

static size_t seg_count(const struct seg *s)
{
    return (size_t)(s->last + 1 - s->first);
}

static bool check(const struct coord_log *log)
{
    const struct seg *s;
    size_t i;

    if (log->failed) {
        return true;
    }
    RAFT_ASSERT(log->next_index > log->snap.index);
    RAFT_ASSERT(log->hs_slot <= 1);
    if (log->n_segs == 0) {
        RAFT_ASSERT(log->next_index == log->snap.index + 1);
        RAFT_ASSERT(log->fd < 0);
        return true;
    }
    RAFT_ASSERT(log->fd >= 0);
    RAFT_ASSERT(log->segs[0].first <= log->snap.index + 1);
    for (i = 0; i < log->n_segs; i++) {
        s = &log->segs[i];
        RAFT_ASSERT(s->last + 1 >= s->first);
        RAFT_ASSERT(seg_count(s) <= s->cap);
        RAFT_ASSERT(s->end >= SEG_HDR_LEN && s->end <= UINT32_MAX);
        RAFT_ASSERT(i == 0 || s->first == log->segs[i - 1].last + 1);
        RAFT_ASSERT(seg_count(s) == 0 ||
                    (s->offs[0] == SEG_HDR_LEN && s->offs[seg_count(s) - 1] < s->end));
    }
    RAFT_ASSERT(log->next_index == log->segs[log->n_segs - 1].last + 1);
    RAFT_ASSERT(log->seg_flushed >= SEG_HDR_LEN && log->seg_flushed <= s->end); /* 10 */
    return true;
}

#ifdef NDEBUG
#define CHECK(log) ((void)sizeof(check(log))) /* not evaluated */
#else
#define CHECK(log) RAFT_ASSERT(check(log))
#endif

/* ---- segments in memory ----------------------------------------------------------------- */

static int seg_reserve(struct seg *s, size_t n)
{
    size_t cap = s->cap == 0 ? 64 : s->cap;
    uint32_t *offs;

    if (n <= s->cap) {
        return 0;
    }
    while (cap < n) {
        cap *= 2;
    }
    offs = raft_realloc(s->offs, cap * sizeof(*offs));
    if (offs == NULL) {
        return RAFT_ENOMEM;
    }
    s->offs = offs;
    s->cap = cap;
    return 0;
}

static int segs_reserve(struct coord_log *log, size_t n)
{
    size_t cap = log->cap_segs == 0 ? 8 : log->cap_segs;
    struct seg *segs;

    if (n <= log->cap_segs) {
        return 0;
    }
    while (cap < n) {
        cap *= 2;
    }
    segs = raft_realloc(log->segs, cap * sizeof(*segs));
    if (segs == NULL) {
        return RAFT_ENOMEM;
    }
    memset(segs + log->cap_segs, 0, (cap - log->cap_segs) * sizeof(*segs));
    log->segs = segs;
    log->cap_segs = cap;
    return 0;
}

static struct seg *last_seg(struct coord_log *log)
{
    RAFT_ASSERT(log->n_segs > 0);
    return &log->segs[log->n_segs - 1];
}

/* Forget segs[i] in memory (the file is the caller's business). */
static void seg_release(struct seg *s)
{
    raft_free(s->offs);
    memset(s, 0, sizeof(*s));
}

static int open_last(struct coord_log *log)
{
    char name[NAME_LEN];

    seg_name(name, last_seg(log)->first, false);
    log->fd = openat(log->dir_fd, name, O_RDWR | O_CLOEXEC);
    if (log->fd < 0) {
        return fail_io(log, "open", name, errno);
    }
    return 0;
}

/* Flush the last segment. Its end is durable now, and the records written
 * next begin a new batch there (invariant 10). */
static int flush_last(struct coord_log *log)
{
    char name[NAME_LEN];
    const struct seg *s = last_seg(log);
    int rv;

    RAFT_ASSERT(log->fd >= 0);
    seg_name(name, s->first, false);
    rv = flush(log, log->fd, name);
    if (rv != 0) {
        return rv;
    }
    log->seg_dirty = false;
    log->seg_flushed = s->end;
    return 0;
}

/* Term of entry index, which is on disk or is the snapshot's. */
static int term_at(struct coord_log *log, raft_index index, raft_term *term)
{
    char name[NAME_LEN];
    uint8_t buf[8];
    const struct seg *s;
    size_t i;
    ssize_t n;
    int fd;

    for (i = 0; i < log->n_segs; i++) {
        s = &log->segs[i];
        if (index < s->first || index > s->last) {
            continue;
        }
        seg_name(name, s->first, false);
        fd = openat(log->dir_fd, name, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            return fail_io(log, "open", name, errno);
        }
        n = pread(fd, buf, sizeof(buf), (off_t)s->offs[index - s->first] + REC_TERM);
        close(fd);
        if (n != (ssize_t)sizeof(buf)) {
            return fail_io(log, "read", name, n < 0 ? errno : EIO);
        }
        *term = get64(buf);
        return 0;
    }
    RAFT_ASSERT(index == log->snap.index);
    *term = log->snap.term;
    return 0;
}

/* ---- writing segments ------------------------------------------------------------------- */

/* Create the segment whose first record will be first, and make it the open
 * one (invariant 5). On failure nothing changed, except a failed flush. */
static int create_segment(struct coord_log *log, raft_index first)
{
    char tmp[NAME_LEN];
    char name[NAME_LEN];
    uint8_t hdr[SEG_HDR_LEN] = {0};
    struct seg *s;
    int fd;
    int e;
    int rv;

    rv = segs_reserve(log, log->n_segs + 1);
    if (rv != 0) {
        return rv;
    }
    s = &log->segs[log->n_segs];
    rv = seg_reserve(s, 1);
    if (rv != 0) {
        return rv;
    }
    seg_name(tmp, first, true);
    seg_name(name, first, false);
    fd = openat(log->dir_fd, tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return sys_error(log, "open", tmp, errno);
    }
    if (log->opts.preallocate) {
        e = posix_fallocate(fd, 0, (off_t)log->opts.segment_size);
        if (e != 0 && e != EINVAL && e != EOPNOTSUPP) {
            rv = sys_error(log, "fallocate", tmp, e);
            goto err_after_open;
        }
    }
    memcpy(hdr, seg_magic, sizeof(seg_magic));
    put32(hdr + 8, SEG_VERSION);
    put64(hdr + 16, first);
    put64(hdr + 24, log->epoch);
    put32(hdr + 12, hdr_crc(hdr, sizeof(hdr)));
    e = write_all(log, fd, hdr, sizeof(hdr), 0);
    if (e != 0) {
        rv = sys_error(log, "write", tmp, e);
        goto err_after_open;
    }
    rv = flush(log, fd, tmp);
    if (rv != 0) {
        goto err_after_open;
    }
    if (renameat(log->dir_fd, tmp, log->dir_fd, name) != 0) {
        rv = sys_error(log, "rename", tmp, errno);
        goto err_after_open;
    }
    rv = flush(log, log->dir_fd, ".");
    if (rv != 0) {
        close(fd);
        return rv;
    }
    if (log->fd >= 0) {
        close(log->fd);
    }
    log->fd = fd;
    log->seg_dirty = false;
    log->seg_flushed = SEG_HDR_LEN; /* the header's flush above */
    s->first = first;
    s->last = first - 1;
    s->epoch = log->epoch;
    s->end = SEG_HDR_LEN;
    log->n_segs++;
    return 0;

err_after_open:
    close(fd);
    unlinkat(log->dir_fd, tmp, 0);
    return rv;
}

/* Seal the open segment (cut its unused preallocation, flush it: invariant
 * 3) and start a new one at first. */
static int roll(struct coord_log *log, raft_index first)
{
    char name[NAME_LEN];
    struct seg *s;
    int rv;

    if (log->n_segs > 0) {
        s = last_seg(log);
        seg_name(name, s->first, false);
        if (ftruncate(log->fd, (off_t)s->end) != 0) {
            return sys_error(log, "ftruncate", name, errno);
        }
        /* The batch being written ends here: none spans two segments. */
        rv = flush_last(log);
        if (rv != 0) {
            return rv;
        }
    }
    return create_segment(log, first);
}

/* Delete entries >= from: whole segments from the newest, then the tail of
 * the segment holding from - 1, cut and flushed (invariant 4). Also trims
 * whatever a failed write left beyond the last record. Every failure is
 * sticky: the disk may be half-way. */
static int cut(struct coord_log *log, raft_index from)
{
    char name[NAME_LEN];
    struct seg *s;
    bool removed = false;
    uint64_t end;
    int rv;

    while (log->n_segs > 0 && last_seg(log)->first >= from) {
        s = last_seg(log);
        if (log->fd >= 0) {
            close(log->fd);
            log->fd = -1;
        }
        seg_name(name, s->first, false);
        if (unlinkat(log->dir_fd, name, 0) != 0) {
            return fail_io(log, "unlink", name, errno);
        }
        seg_release(s);
        log->n_segs--;
        removed = true;
    }
    if (removed) {
        rv = flush(log, log->dir_fd, ".");
        if (rv != 0) {
            return rv;
        }
    }
    log->next_index = from;
    log->seg_dirty = false;
    if (log->n_segs == 0) {
        return 0;
    }
    s = last_seg(log);
    if (log->fd < 0) {
        rv = open_last(log);
        if (rv != 0) {
            return rv;
        }
    }
    end = from <= s->last ? s->offs[from - s->first] : s->end;
    seg_name(name, s->first, false);
    if (ftruncate(log->fd, (off_t)end) != 0) {
        return fail_io(log, "ftruncate", name, errno);
    }
    s->last = from - 1;
    s->end = end;
    rv = flush_last(log);
    if (rv != 0) {
        return rv;
    }
    /* Only zeros beyond end now, durable before anything is written there
     * (invariant 4): no stale record of the cut suffix can come back. */
    preallocate(log, log->fd);
    return 0;
}

static int check_entries(const struct coord_log *log, const struct raft_entry *entries, size_t n)
{
    raft_term term = log->last_term;
    size_t i;

    if (n > MAX_APPEND_ENTRIES) {
        return RAFT_EINVAL;
    }
    for (i = 0; i < n; i++) {
        if (entries[i].index != log->next_index + i || entries[i].term < term ||
            (entries[i].data.len > 0 && entries[i].data.base == NULL)) {
            return RAFT_EINVAL;
        }
        if (entries[i].data.len > log->opts.max_entry_size) {
            return RAFT_ETOOBIG;
        }
        term = entries[i].term;
    }
    return 0;
}

static uint32_t rec_len(const struct raft_entry *e)
{
    return (uint32_t)(REC_MAX_OVERHEAD + e->data.len);
}

/* batch: where the record's flush batch began (invariant 10). */
static void encode_record(uint8_t *p, const struct raft_entry *e, uint32_t batch)
{
    uint32_t len = REC_BODY_MIN + (uint32_t)e->data.len;

    put32(p, len);
    put64(p + REC_TERM, e->term);
    put64(p + REC_INDEX, e->index);
    put32(p + REC_BATCH, batch);
    p[REC_TYPE] = e->type;
    if (e->data.len > 0) {
        memcpy(p + REC_HDR_LEN + REC_BODY_MIN, e->data.base, e->data.len);
    }
    put32(p + 4, rec_crc(p, len));
}

/* Write as many of the n entries as fit in the open segment, in one pwrite
 * of at most SCRATCH_MAX bytes (or one record); *done returns how many. */
static int write_some(struct coord_log *log, const struct raft_entry *entries, size_t n,
                      size_t *done)
{
    char name[NAME_LEN];
    struct seg *s = last_seg(log);
    size_t have = seg_count(s);
    size_t bytes = 0;
    size_t k = 0;
    size_t i;
    uint8_t *p;
    int e;
    int rv;

    while (k < n && s->end + bytes + rec_len(&entries[k]) <= log->opts.segment_size &&
           (k == 0 || bytes + rec_len(&entries[k]) <= SCRATCH_MAX)) {
        bytes += rec_len(&entries[k]);
        k++;
    }
    RAFT_ASSERT(k > 0);
    if (bytes > log->scratch_cap) {
        p = raft_realloc(log->scratch, bytes);
        if (p == NULL) {
            return RAFT_ENOMEM;
        }
        log->scratch = p;
        log->scratch_cap = bytes;
    }
    rv = seg_reserve(s, have + k);
    if (rv != 0) {
        return rv;
    }
    RAFT_ASSERT(log->seg_flushed >= SEG_HDR_LEN && log->seg_flushed <= s->end);
    for (i = 0, p = log->scratch; i < k; i++) {
        encode_record(p, &entries[i], (uint32_t)log->seg_flushed);
        s->offs[have + i] = (uint32_t)(s->end + (size_t)(p - log->scratch));
        p += rec_len(&entries[i]);
    }
    log->seg_dirty = true;
    e = write_all(log, log->fd, log->scratch, bytes, s->end);
    if (e != 0) {
        seg_name(name, s->first, false);
        return sys_error(log, "write", name, e);
    }
    s->end += bytes;
    s->last += k;
    log->next_index += k;
    *done = k;
    return 0;
}

/* Roll before entry e if the open segment cannot take it. */
static int make_room(struct coord_log *log, const struct raft_entry *e)
{
    const struct seg *s;

    if (log->n_segs == 0) {
        return create_segment(log, e->index);
    }
    s = last_seg(log);
    if (s->end + rec_len(e) > log->opts.segment_size && s->last >= s->first) {
        return roll(log, e->index);
    }
    return 0;
}

int coord_log_append(struct coord_log *log, const struct raft_entry *entries, size_t n)
{
    raft_index orig_next = log->next_index;
    size_t i = 0;
    size_t k = 0;
    int rv;

    if (log->failed) {
        return RAFT_EIO;
    }
    rv = check_entries(log, entries, n);
    if (rv != 0 || n == 0) {
        return rv;
    }
    while (i < n) {
        rv = make_room(log, &entries[i]);
        if (rv != 0) {
            goto err_undo;
        }
        rv = write_some(log, entries + i, n - i, &k);
        if (rv != 0) {
            goto err_undo;
        }
        i += k;
    }
    log->last_term = entries[n - 1].term;
    CHECK(log);
    return 0;

err_undo:
    /* Leave no record of this call behind, not even a partial one that a
     * later, shorter append would not overwrite. */
    if (!log->failed && cut(log, orig_next) != 0) {
        rv = RAFT_EIO;
    }
    CHECK(log);
    return rv;
}

int coord_log_truncate(struct coord_log *log, raft_index from)
{
    int rv;

    if (log->failed) {
        return RAFT_EIO;
    }
    if (from <= log->snap.index || from > log->next_index) {
        return RAFT_EINVAL;
    }
    if (from == log->next_index) {
        return 0;
    }
    rv = cut(log, from);
    if (rv == 0) {
        rv = term_at(log, from - 1, &log->last_term);
    }
    CHECK(log);
    return rv;
}

/* ---- hard state ------------------------------------------------------------------------- */

static void hs_encode(uint8_t *p, uint64_t seq, raft_term term, raft_id vote, raft_index commit)
{
    memset(p, 0, HS_SLOT_LEN);
    memcpy(p, hs_magic, sizeof(hs_magic));
    put32(p + 8, FORMAT_VERSION);
    put64(p + 16, seq);
    put64(p + 24, term);
    put64(p + 32, vote);
    put64(p + 40, commit);
    put32(p + 12, hdr_crc(p, HS_SLOT_LEN));
}

static bool hs_valid(const uint8_t *p)
{
    return memcmp(p, hs_magic, sizeof(hs_magic)) == 0 && get32(p + 8) == FORMAT_VERSION &&
           get32(p + 12) == hdr_crc(p, HS_SLOT_LEN);
}

int coord_log_set_hard_state(struct coord_log *log, raft_term term, raft_id vote, raft_index commit)
{
    uint8_t slot[HS_SLOT_LEN];
    unsigned other = 1 - log->hs_slot;
    int e;

    if (log->failed) {
        return RAFT_EIO;
    }
    if (term < log->term || (term == log->term && log->vote != 0 && vote != log->vote)) {
        return RAFT_EINVAL;
    }
    if (term == log->term && vote == log->vote && commit == log->commit) {
        return 0;
    }
    /* Invariant 6: only the slot not holding the durable state is written,
     * as often as needed, with the next sequence number. */
    hs_encode(slot, log->hs_seq + 1, term, vote, commit);
    e = write_all(log, log->hs_fd, slot, sizeof(slot), (uint64_t)other * HS_SLOT_STRIDE);
    if (e != 0) {
        return fail_io(log, "write", HS_NAME, e);
    }
    log->term = term;
    log->vote = vote;
    log->commit = commit;
    log->hs_pending = true;
    if (term != log->d_term || vote != log->d_vote) {
        log->hs_need_sync = true;
    }
    return 0;
}

static int hs_flush(struct coord_log *log)
{
    int rv = flush(log, log->hs_fd, HS_NAME);

    if (rv != 0) {
        return rv;
    }
    log->hs_slot = 1 - log->hs_slot;
    log->hs_seq++;
    log->d_term = log->term;
    log->d_vote = log->vote;
    log->hs_pending = false;
    log->hs_need_sync = false;
    return 0;
}

int coord_log_sync(struct coord_log *log)
{
    int rv;

    if (log->failed) {
        return RAFT_EIO;
    }
    if (log->seg_dirty) {
        rv = flush_last(log);
        if (rv != 0) {
            return rv;
        }
    }
    if (log->hs_need_sync) {
        return hs_flush(log);
    }
    return 0;
}

/* ---- snapshots and compaction ----------------------------------------------------------- */

static int write_snap(struct coord_log *log, const struct raft_snapshot_meta *meta, uint64_t epoch)
{
    uint8_t buf[SNAP_FILE_MAX];
    size_t conf_len;

    if (meta->conf.n > RAFT_MAX_SERVERS) {
        return RAFT_EINVAL;
    }
    conf_len = raft_conf_encoded_len(&meta->conf);
    RAFT_ASSERT(SNAP_HDR_LEN + conf_len <= sizeof(buf));
    memset(buf, 0, SNAP_HDR_LEN);
    memcpy(buf, snap_magic, sizeof(snap_magic));
    put32(buf + 8, FORMAT_VERSION);
    put64(buf + 16, meta->index);
    put64(buf + 24, meta->term);
    put64(buf + 32, epoch);
    put32(buf + 40, (uint32_t)conf_len);
    raft_conf_encode(&meta->conf, buf + SNAP_HDR_LEN);
    put32(buf + 12, hdr_crc(buf, SNAP_HDR_LEN + conf_len));
    return write_file_atomic(log, SNAP_NAME, buf, SNAP_HDR_LEN + conf_len);
}

int coord_log_set_snapshot(struct coord_log *log, const struct raft_snapshot_meta *meta)
{
    int rv;

    if (log->failed) {
        return RAFT_EIO;
    }
    if (meta->index < log->snap.index || meta->index >= log->next_index) {
        return RAFT_EINVAL;
    }
    /* The entries up to meta->index must be durable before the meta that
     * says the log covers them (invariant 2 after a crash). */
    if (log->seg_dirty) {
        rv = flush_last(log);
        if (rv != 0) {
            return rv;
        }
    }
    rv = write_snap(log, meta, log->epoch);
    if (rv != 0) {
        return rv;
    }
    log->snap = *meta;
    CHECK(log);
    return 0;
}

int coord_log_install_snapshot(struct coord_log *log, const struct raft_snapshot_meta *meta)
{
    int rv;

    if (log->failed) {
        return RAFT_EIO;
    }
    if (meta->index < log->snap.index) {
        return RAFT_EINVAL;
    }
    /* The rename of snapshot.meta with a new epoch is the atomic switch
     * (invariant 7); deleting the old segments afterwards is tidying up. */
    rv = write_snap(log, meta, log->epoch + 1);
    if (rv != 0) {
        return rv;
    }
    log->epoch++;
    log->snap = *meta;
    rv = cut(log, 0);
    log->next_index = meta->index + 1;
    log->last_term = meta->term;
    CHECK(log);
    return rv;
}

int coord_log_compact(struct coord_log *log, raft_index below_index)
{
    char name[NAME_LEN];
    size_t n = 0;
    size_t i;
    int rv = 0;

    if (log->failed) {
        return RAFT_EIO;
    }
    if (below_index > log->snap.index + 1) {
        return RAFT_EINVAL;
    }
    /* Oldest first, so that a crash half-way leaves no gap (invariant 1). */
    while (n + 1 < log->n_segs && log->segs[n].last < below_index) {
        seg_name(name, log->segs[n].first, false);
        if (unlinkat(log->dir_fd, name, 0) != 0) {
            rv = fail_io(log, "unlink", name, errno);
            break;
        }
        n++;
    }
    if (n == 0) {
        return rv;
    }
    for (i = 0; i < n; i++) {
        seg_release(&log->segs[i]);
    }
    memmove(log->segs, log->segs + n, (log->n_segs - n) * sizeof(*log->segs));
    memset(log->segs + log->n_segs - n, 0, n * sizeof(*log->segs));
    log->n_segs -= n;
    if (rv == 0) {
        rv = flush(log, log->dir_fd, ".");
    }
    CHECK(log);
    return rv;
}

void coord_log_stats(const struct coord_log *log, struct coord_log_stats *stats)
{
    memset(stats, 0, sizeof(*stats));
    stats->n_syncs = log->n_syncs;
    stats->n_segments = log->n_segs;
    stats->last_index = log->next_index - 1;
    if (log->n_segs > 0 && log->segs[0].last >= log->segs[0].first) {
        stats->first_index = log->segs[0].first;
    }
}

void coord_log_close(struct coord_log *log)
{
    size_t i;

    if (log == NULL) {
        return;
    }
    if (!log->failed && coord_log_sync(log) == 0 && log->hs_pending) {
        (void)hs_flush(log);
    }
    if (log->fd >= 0) {
        close(log->fd);
    }
    if (log->hs_fd >= 0) {
        close(log->hs_fd);
    }
    if (log->dir_fd >= 0) {
        close(log->dir_fd);
    }
    for (i = 0; i < log->cap_segs; i++) {
        raft_free(log->segs[i].offs);
    }
    raft_free(log->segs);
    raft_free(log->scratch);
    raft_free(log->dir);
    raft_free(log);
}

/* ---- open: the directory ---------------------------------------------------------------- */

void coord_log_opts_default(struct coord_log_opts *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->segment_size = DEFAULT_SEG_SIZE;
    opts->max_entry_size = DEFAULT_MAX_ENTRY;
    opts->preallocate = true;
}

static bool opts_valid(const struct coord_log_opts *o)
{
    return o->segment_size >= SEG_SIZE_MIN && o->segment_size <= UINT32_MAX &&
           o->max_entry_size <= o->segment_size - SEG_HDR_LEN - REC_MAX_OVERHEAD;
}

/* Create dir if missing, flushing its parent so the new entry is durable. */
static int ensure_dir(struct coord_log *log)
{
    char *slash;
    int fd;
    int rv;

    if (mkdir(log->dir, 0755) != 0) {
        if (errno == EEXIST) {
            return 0;
        }
        return sys_error(log, "mkdir", NULL, errno);
    }
    slash = strrchr(log->dir, '/');
    if (slash == log->dir) {
        fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    } else if (slash != NULL) {
        *slash = '\0';
        fd = open(log->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        *slash = '/';
    } else {
        fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    if (fd < 0) {
        return sys_error(log, "open", "..", errno);
    }
    rv = flush(log, fd, "..");
    close(fd);
    return rv;
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s);
    size_t m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* "%020" PRIu64 ".seg" exactly. */
static bool parse_seg_name(const char *s, raft_index *first)
{
    raft_index v = 0;
    int i;

    for (i = 0; i < 20; i++) {
        if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - 9) / 10) {
            return false;
        }
        v = v * 10 + (raft_index)(s[i] - '0');
    }
    if (strcmp(s + 20, ".seg") != 0) {
        return false;
    }
    *first = v;
    return true;
}

static int cmp_index(const void *a, const void *b)
{
    raft_index x = *(const raft_index *)a;
    raft_index y = *(const raft_index *)b;

    return x < y ? -1 : x > y;
}

/* Delete leftover *.tmp files and return the segments' first indexes, sorted
 * (*firsts returns owned: raft_free). */
static int list_dir(struct coord_log *log, raft_index **firsts, size_t *n)
{
    struct dirent *de;
    raft_index *v = NULL;
    raft_index *grown;
    raft_index first;
    size_t cap = 0;
    bool removed = false;
    DIR *d;
    int fd;
    int rv = 0;

    *n = 0;
    fd = openat(log->dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d == NULL) {
        rv = sys_error(log, "opendir", ".", errno);
        if (fd >= 0) {
            close(fd);
        }
        return rv;
    }
    while (rv == 0 && (de = readdir(d)) != NULL) {
        if (has_suffix(de->d_name, TMP_SUFFIX)) {
            if (unlinkat(log->dir_fd, de->d_name, 0) != 0) {
                rv = sys_error(log, "unlink", de->d_name, errno);
            }
            removed = true;
        } else if (parse_seg_name(de->d_name, &first)) {
            if (*n == cap) {
                cap = cap == 0 ? 16 : cap * 2;
                grown = raft_realloc(v, cap * sizeof(*v));
                if (grown == NULL) {
                    rv = RAFT_ENOMEM;
                    break;
                }
                v = grown;
            }
            v[(*n)++] = first;
        }
    }
    closedir(d);
    if (rv == 0 && removed) {
        rv = flush(log, log->dir_fd, ".");
    }
    if (rv != 0) {
        raft_free(v);
        return rv;
    }
    if (*n > 0) {
        qsort(v, *n, sizeof(*v), cmp_index);
    }
    *firsts = v;
    return 0;
}

/* Read a whole small file of at most max bytes. *len returns its size;
 * a missing file returns RAFT_ENOTFOUND without logging. */
static int read_small(struct coord_log *log, const char *name, uint8_t *buf, size_t max,
                      size_t *len)
{
    ssize_t n;
    int fd;

    *len = 0;
    fd = openat(log->dir_fd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno == ENOENT ? RAFT_ENOTFOUND : sys_error(log, "open", name, errno);
    }
    while (*len < max) {
        n = pread(fd, buf + *len, max - *len, (off_t)*len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            int e = errno;

            close(fd);
            return sys_error(log, "read", name, e);
        }
        if (n == 0) {
            break;
        }
        *len += (size_t)n;
    }
    close(fd);
    return 0;
}

static int load_snapshot(struct coord_log *log, bool *found)
{
    uint8_t buf[SNAP_FILE_MAX + 1];
    struct raft_buf conf;
    size_t len;
    int rv;

    rv = read_small(log, SNAP_NAME, buf, sizeof(buf), &len);
    *found = rv != RAFT_ENOTFOUND;
    if (rv != 0) {
        return rv == RAFT_ENOTFOUND ? 0 : rv;
    }
    if (len < SNAP_HDR_LEN || len > SNAP_FILE_MAX ||
        memcmp(buf, snap_magic, sizeof(snap_magic)) != 0 || get32(buf + 8) != FORMAT_VERSION ||
        get32(buf + 40) != len - SNAP_HDR_LEN) {
        return corrupt(log, SNAP_NAME, 0, "bad-header");
    }
    if (get32(buf + 12) != hdr_crc(buf, len)) {
        return corrupt(log, SNAP_NAME, 0, "bad-crc");
    }
    conf.base = buf + SNAP_HDR_LEN;
    conf.len = len - SNAP_HDR_LEN;
    if (raft_conf_decode(&conf, &log->snap.conf) != 0) {
        return corrupt(log, SNAP_NAME, SNAP_HDR_LEN, "bad-configuration");
    }
    log->snap.index = get64(buf + 16);
    log->snap.term = get64(buf + 24);
    log->epoch = get64(buf + 32);
    return 0;
}

/* Load the hard state, or create the file in a directory with nothing else
 * in it. Any other directory without one has lost it. */
static int load_hs(struct coord_log *log, bool fresh)
{
    uint8_t buf[HS_FILE_LEN] = {0};
    const uint8_t *slot;
    size_t len;
    bool found = false;
    unsigned i;
    int rv;

    rv = read_small(log, HS_NAME, buf, sizeof(buf), &len);
    if (rv == RAFT_ENOTFOUND && fresh) {
        hs_encode(buf, 1, 0, 0, 0);
        rv = write_file_atomic(log, HS_NAME, buf, sizeof(buf));
    } else if (rv == RAFT_ENOTFOUND) {
        return corrupt(log, HS_NAME, 0, "missing-with-log-present");
    }
    if (rv != 0) {
        return rv;
    }
    for (i = 0; i < 2; i++) {
        slot = buf + (size_t)i * HS_SLOT_STRIDE;
        if (hs_valid(slot) && (!found || get64(slot + 16) > log->hs_seq)) {
            found = true;
            log->hs_slot = i;
            log->hs_seq = get64(slot + 16);
            log->d_term = get64(slot + 24);
            log->d_vote = get64(slot + 32);
            log->commit = get64(slot + 40);
        }
    }
    if (!found) {
        return corrupt(log, HS_NAME, 0, "no-valid-slot");
    }
    log->term = log->d_term;
    log->vote = log->d_vote;
    log->hs_fd = openat(log->dir_fd, HS_NAME, O_RDWR | O_CLOEXEC);
    if (log->hs_fd < 0) {
        return sys_error(log, "open", HS_NAME, errno);
    }
    return 0;
}

/* Check each segment's header; delete those of a log dropped by an install
 * (invariant 7) and register the others in log->segs. */
static int load_headers(struct coord_log *log, const raft_index *firsts, size_t n)
{
    char name[NAME_LEN];
    uint8_t hdr[SEG_HDR_LEN];
    bool removed = false;
    uint64_t epoch;
    ssize_t got;
    size_t i;
    int fd;
    int rv;

    for (i = 0; i < n; i++) {
        seg_name(name, firsts[i], false);
        fd = openat(log->dir_fd, name, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            return sys_error(log, "open", name, errno);
        }
        got = pread(fd, hdr, sizeof(hdr), 0);
        close(fd);
        if (got < 0) {
            return sys_error(log, "read", name, errno);
        }
        if (firsts[i] == 0 || (size_t)got < sizeof(hdr) ||
            memcmp(hdr, seg_magic, sizeof(seg_magic)) != 0 ||
            get32(hdr + 12) != hdr_crc(hdr, sizeof(hdr)) || get64(hdr + 16) != firsts[i]) {
            return corrupt(log, name, 0, "bad-segment-header");
        }
        if (get32(hdr + 8) != SEG_VERSION) {
            return unsupported(log, name, get32(hdr + 8));
        }
        epoch = get64(hdr + 24);
        if (epoch > log->epoch) {
            return corrupt(log, name, 24, "epoch-ahead-of-snapshot");
        }
        if (epoch < log->epoch) {
            COORD_LOG(INFO, "storage removing segment dropped by a snapshot file=%s/%s", log->dir,
                      name);
            if (unlinkat(log->dir_fd, name, 0) != 0) {
                return sys_error(log, "unlink", name, errno);
            }
            removed = true;
            continue;
        }
        rv = segs_reserve(log, log->n_segs + 1);
        if (rv != 0) {
            return rv;
        }
        log->segs[log->n_segs].first = firsts[i];
        log->segs[log->n_segs].last = firsts[i] - 1;
        log->segs[log->n_segs].epoch = epoch;
        log->n_segs++;
    }
    return removed ? flush(log, log->dir_fd, ".") : 0;
}

/* ---- open: the records ------------------------------------------------------------------ */

/* Offset of the first non-zero byte in m[from, size), or size. */
static size_t skip_zeros(const uint8_t *m, size_t size, size_t from)
{
    uint64_t word;

    while (from < size && (from & 7) != 0 && m[from] == 0) {
        from++;
    }
    while (size - from >= 8) {
        memcpy(&word, m + from, sizeof(word));
        if (word != 0) {
            break;
        }
        from += 8;
    }
    while (from < size && m[from] == 0) {
        from++;
    }
    return from;
}

/* Does a record of sane length and good CRC start at off? */
static bool valid_at(const uint8_t *m, size_t size, size_t off, uint32_t max)
{
    uint32_t len;

    if (size - off < REC_MAX_OVERHEAD) {
        return false;
    }
    len = get32(m + off);
    return len >= REC_BODY_MIN && len <= max && len <= size - off - REC_HDR_LEN &&
           rec_crc(m + off, len) == get32(m + off + 4);
}

/* The valid records found after the first bad one of a segment. */
struct after {
    size_t n_valid;     /* records */
    uint32_t batch_min; /* their smallest batch field; UINT32_MAX when none */
    uint32_t batch_max; /* their largest; 0 when none */
};

/* Find the valid records that start after off. Zero runs are skipped,
 * since a record cannot start with a zero length. A valid record is
 * stepped over whole: its data may hold anything, records included, and a
 * byte-by-byte scan of a long run of good records would cost a CRC of up
 * to max bytes at many of its offsets. */
static void scan_after(const uint8_t *m, size_t size, size_t off, uint32_t max, struct after *a)
{
    uint32_t batch;
    size_t nz;

    a->n_valid = 0;
    a->batch_min = UINT32_MAX;
    a->batch_max = 0;
    off++;
    while (off + REC_MAX_OVERHEAD <= size) {
        nz = skip_zeros(m, size, off);
        if (nz >= off + 4) {
            off = nz - 3; /* first offset whose length field holds m[nz] */
        }
        if (off + REC_MAX_OVERHEAD > size || !valid_at(m, size, off, max)) {
            off++;
            continue;
        }
        batch = get32(m + off + REC_BATCH);
        a->batch_min = batch < a->batch_min ? batch : a->batch_min;
        a->batch_max = batch > a->batch_max ? batch : a->batch_max;
        a->n_valid++;
        off += REC_HDR_LEN + get32(m + off);
    }
}

/* Do the valid records after the walk's stop prove that it lies inside the
 * batch written since the last flush (Recovery in the design notes)? They
 * must agree on one batch b at or before the stop, b must be the stop or a
 * good record's offset (a batch begins at a record boundary), and every
 * good record from b on must carry b (they were written in that batch). */
static bool in_last_batch(const struct seg *s, const uint8_t *m, const struct after *a)
{
    uint32_t b = a->batch_min;
    size_t i = seg_count(s);

    if (a->n_valid == 0 || a->batch_max != b || b > s->end) {
        return false;
    }
    if (b == s->end) {
        return true;
    }
    while (i > 0 && s->offs[i - 1] >= b) {
        if (get32(m + s->offs[i - 1] + REC_BATCH) != b) {
            return false;
        }
        i--;
    }
    return i < seg_count(s) && s->offs[i] == b;
}

/* Walk the records of one segment while they check out, filling s->offs,
 * s->last and s->end (where the walk stopped). *term carries the last term
 * across segments. Fails only on what no crash explains: a good CRC on a
 * record whose index or term is out of sequence. */
static int walk(struct coord_log *log, struct seg *s, const char *name, const uint8_t *m,
                size_t size, raft_term *term, const char **why)
{
    size_t off = SEG_HDR_LEN;
    uint32_t len;
    int rv;

    *why = NULL;
    while (off < size) {
        if (size - off < REC_HDR_LEN) {
            *why = "short-record";
            break;
        }
        len = get32(m + off);
        if (len == 0) {
            *why = "zero-length";
            break;
        }
        if (len < REC_BODY_MIN || len > max_body(log)) {
            *why = "bad-length";
            break;
        }
        if (len > size - off - REC_HDR_LEN) {
            *why = "short-record";
            break;
        }
        if (rec_crc(m + off, len) != get32(m + off + 4)) {
            *why = "bad-crc";
            break;
        }
        if (get64(m + off + REC_INDEX) != s->last + 1) {
            return corrupt(log, name, off, "index-out-of-sequence");
        }
        if (get64(m + off + REC_TERM) < *term) {
            return corrupt(log, name, off, "term-goes-back");
        }
        /* Entries after a snapshot were appended after the entry it covers. */
        if (s->last == log->snap.index && get64(m + off + REC_TERM) < log->snap.term) {
            return corrupt(log, name, off, "term-below-snapshot");
        }
        rv = seg_reserve(s, seg_count(s) + 1);
        if (rv != 0) {
            return rv;
        }
        s->offs[seg_count(s)] = (uint32_t)off;
        s->last++;
        *term = get64(m + off + REC_TERM);
        off += REC_HDR_LEN + len;
    }
    s->end = off;
    return 0;
}

/* Decide what the bytes after the walk's stop are (see Recovery in the
 * design notes); *torn is set when they must be cut off. */
static int classify(struct coord_log *log, const struct seg *s, const char *name, const uint8_t *m,
                    size_t size, bool is_last, const char *why, bool *torn)
{
    size_t stop = (size_t)s->end;
    char reason[96];
    struct after a;

    *torn = false;
    if (why == NULL || skip_zeros(m, size, stop) == size) {
        return 0;
    }
    if (!is_last) {
        return corrupt(log, name, stop, why);
    }
    scan_after(m, size, stop, max_body(log), &a);
    if (a.n_valid == 0) {
        COORD_LOG(WARN,
                  "storage cutting torn tail file=%s/%s offset=%zu dropped_bytes=%zu reason=%s",
                  log->dir, name, stop, size - stop, why);
    } else if (in_last_batch(s, m, &a)) {
        COORD_LOG(WARN,
                  "storage cutting partly persisted unflushed batch file=%s/%s offset=%zu "
                  "batch_start=%" PRIu32 " dropped_records=%zu dropped_bytes=%zu reason=%s",
                  log->dir, name, stop, a.batch_min, a.n_valid, size - stop, why);
    } else {
        /* A record of a later batch follows (or the batches disagree): the
         * damage was flushed before, it is no crash's doing. */
        (void)snprintf(reason, sizeof(reason), "%s-followed-by-%s", why,
                       a.batch_max > stop ? "a-later-batch" : "records-of-another-batch");
        return corrupt(log, name, stop, reason);
    }
    *torn = true;
    return 0;
}

static int grow_rec(struct coord_log_recovered *rec, size_t n_entries)
{
    struct raft_entry *entries;
    void **bufs;

    entries = raft_realloc(rec->entries, n_entries * sizeof(*entries));
    if (entries == NULL) {
        return RAFT_ENOMEM;
    }
    rec->entries = entries;
    bufs = raft_realloc(rec->bufs, (rec->n_bufs + 1) * sizeof(*bufs));
    if (bufs == NULL) {
        return RAFT_ENOMEM;
    }
    rec->bufs = bufs;
    return 0;
}

/* Copy the entries of s after the snapshot into rec, their data into one
 * block per segment. */
static int collect(struct coord_log *log, const struct seg *s, const uint8_t *m,
                   struct coord_log_recovered *rec)
{
    raft_index from = s->first > log->snap.index ? s->first : log->snap.index + 1;
    struct raft_entry *e;
    size_t bytes = 0;
    uint8_t *block;
    raft_index i;
    const uint8_t *r;
    int rv;

    if (from > s->last) {
        return 0;
    }
    for (i = from; i <= s->last; i++) {
        bytes += get32(m + s->offs[i - s->first]) - REC_BODY_MIN;
    }
    rv = grow_rec(rec, rec->n_entries + (size_t)(s->last - from + 1));
    if (rv != 0) {
        return rv;
    }
    block = bytes > 0 ? raft_malloc(bytes) : NULL;
    if (bytes > 0 && block == NULL) {
        return RAFT_ENOMEM;
    }
    if (block != NULL) {
        rec->bufs[rec->n_bufs++] = block;
    }
    for (i = from; i <= s->last; i++) {
        r = m + s->offs[i - s->first];
        e = &rec->entries[rec->n_entries++];
        e->term = get64(r + REC_TERM);
        e->index = get64(r + REC_INDEX);
        e->type = r[REC_TYPE];
        e->data.len = get32(r) - REC_BODY_MIN;
        e->data.base = e->data.len > 0 ? block : NULL;
        if (e->data.len > 0) {
            RAFT_ASSERT(block != NULL);
            memcpy(block, r + REC_HDR_LEN + REC_BODY_MIN, e->data.len);
            block += e->data.len;
        }
    }
    return 0;
}

/* Map one segment, walk it, classify its end, collect its entries. The last
 * segment stays open as log->fd, a damaged tail cut off. */
static int load_segment(struct coord_log *log, size_t i, raft_term *term,
                        struct coord_log_recovered *rec)
{
    char name[NAME_LEN];
    struct seg *s = &log->segs[i];
    bool is_last = i + 1 == log->n_segs;
    const char *why;
    struct stat st;
    uint8_t *m;
    size_t size;
    bool torn = false;
    int fd;
    int rv;

    seg_name(name, s->first, false);
    fd = openat(log->dir_fd, name, (is_last ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) {
        return sys_error(log, "open", name, errno);
    }
    if (fstat(fd, &st) != 0) {
        rv = sys_error(log, "fstat", name, errno);
        goto err_after_open;
    }
    if (st.st_size < (off_t)SEG_HDR_LEN || (uint64_t)st.st_size > UINT32_MAX) {
        rv = corrupt(log, name, 0, "bad-file-size");
        goto err_after_open;
    }
    size = (size_t)st.st_size;
    m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
        rv = sys_error(log, "mmap", name, errno);
        goto err_after_open;
    }
    rv = walk(log, s, name, m, size, term, &why);
    if (rv == 0) {
        rv = classify(log, s, name, m, size, is_last, why, &torn);
    }
    if (rv == 0) {
        rv = collect(log, s, m, rec);
    }
    munmap(m, size);
    if (rv != 0) {
        goto err_after_open;
    }
    if (!is_last) {
        close(fd);
        return 0;
    }
    log->fd = fd;
    if (torn) {
        if (ftruncate(fd, (off_t)s->end) != 0) {
            return sys_error(log, "ftruncate", name, errno);
        }
        rv = flush_last(log);
    }
    if (rv == 0 && (torn || (uint64_t)st.st_size < log->opts.segment_size)) {
        preallocate(log, fd);
    }
    return rv;

err_after_open:
    close(fd);
    return rv;
}

static int load_segments(struct coord_log *log, struct coord_log_recovered *rec)
{
    char name[NAME_LEN];
    raft_term term = 0;
    size_t i;
    int rv;

    for (i = 0; i < log->n_segs; i++) {
        seg_name(name, log->segs[i].first, false);
        if (i == 0 && log->segs[0].first > log->snap.index + 1) {
            return corrupt(log, name, 16, "entries-missing-after-snapshot");
        }
        if (i > 0 && log->segs[i].first != log->segs[i - 1].last + 1) {
            return corrupt(log, name, 16, "index-gap-before-segment");
        }
        rv = load_segment(log, i, &term, rec);
        if (rv != 0) {
            return rv;
        }
    }
    if (log->n_segs > 0 && last_seg(log)->last < log->snap.index) {
        seg_name(name, last_seg(log)->first, false);
        return corrupt(log, name, last_seg(log)->end, "log-ends-before-snapshot");
    }
    log->next_index = log->n_segs > 0 ? last_seg(log)->last + 1 : log->snap.index + 1;
    log->last_term =
        log->n_segs > 0 && last_seg(log)->last > log->snap.index ? term : log->snap.term;
    return 0;
}

/* Fill the hard state of rec from what was loaded. Writes made before a
 * crash may have reached the disk in any order, so the hard state can lag
 * the log: a term below the last entry's (or the snapshot's) is raised, with
 * no vote in it (no vote in that term was ever sent: its flush never
 * completed); commit is a lower bound, kept within the log. */
static void finish(struct coord_log *log, struct coord_log_recovered *rec)
{
    raft_index last = log->next_index - 1;
    raft_term term = log->term;

    if (log->last_term > term || log->snap.term > term) {
        term = log->last_term > log->snap.term ? log->last_term : log->snap.term;
        COORD_LOG(WARN,
                  "storage raising term to the log's dir=%s term=%" PRIu64 " stored_term=%" PRIu64,
                  log->dir, term, log->term);
        log->term = term;
        log->vote = 0;
    }
    if (log->commit > last) {
        log->commit = last;
    }
    if (log->commit < log->snap.index) {
        log->commit = log->snap.index;
    }
    rec->term = log->term;
    rec->vote = log->vote;
    rec->commit = log->commit;
    rec->snapshot = log->snap;
}

/* Invariant 9: flush what open found, in case a crashed process left it
 * in the page cache only. */
static int flush_recovered(struct coord_log *log)
{
    int rv = 0;

    if (log->n_segs > 0) {
        rv = flush_last(log);
    }
    if (rv == 0) {
        rv = flush(log, log->hs_fd, HS_NAME);
    }
    if (rv == 0) {
        rv = flush(log, log->dir_fd, ".");
    }
    return rv;
}

static int open_dir(struct coord_log *log, const char *dir)
{
    size_t len = strlen(dir);
    int rv;

    while (len > 1 && dir[len - 1] == '/') {
        len--;
    }
    log->dir = raft_malloc(len + 1);
    if (log->dir == NULL) {
        return RAFT_ENOMEM;
    }
    memcpy(log->dir, dir, len);
    log->dir[len] = '\0';
    rv = ensure_dir(log);
    if (rv != 0) {
        return rv;
    }
    log->dir_fd = open(log->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (log->dir_fd < 0) {
        return sys_error(log, "open", ".", errno);
    }
    return 0;
}

int coord_log_open(const char *dir, const struct coord_log_opts *opts, struct coord_log **out,
                   struct coord_log_recovered *rec, char *err, size_t err_len)
{
    struct coord_log *log;
    raft_index *firsts = NULL;
    size_t n_firsts = 0;
    bool have_snap;
    int rv;

    memset(rec, 0, sizeof(*rec));
    if (err != NULL && err_len > 0) {
        err[0] = '\0';
    }
    log = raft_calloc(1, sizeof(*log));
    if (log == NULL) {
        return RAFT_ENOMEM;
    }
    log->fd = -1;
    log->hs_fd = -1;
    log->dir_fd = -1;
    log->err = err;
    log->err_len = err_len;
    if (opts != NULL) {
        log->opts = *opts;
    } else {
        coord_log_opts_default(&log->opts);
    }
    if (!opts_valid(&log->opts)) {
        rv = report(log, RAFT_EINVAL,
                    "storage bad options segment_size=%" PRIu64 " max_entry_size=%" PRIu32,
                    log->opts.segment_size, log->opts.max_entry_size);
        goto err_after_alloc;
    }
    rv = open_dir(log, dir);
    if (rv == 0) {
        rv = list_dir(log, &firsts, &n_firsts);
    }
    if (rv == 0) {
        rv = load_snapshot(log, &have_snap);
    }
    if (rv == 0) {
        rv = load_hs(log, n_firsts == 0 && !have_snap);
    }
    if (rv == 0) {
        rv = load_headers(log, firsts, n_firsts);
    }
    raft_free(firsts);
    if (rv == 0) {
        rv = load_segments(log, rec);
    }
    if (rv == 0) {
        rv = flush_recovered(log);
    }
    if (rv != 0) {
        goto err_after_alloc;
    }
    finish(log, rec);
    log->err = NULL;
    log->err_len = 0;
    CHECK(log);
    *out = log;
    return 0;

err_after_alloc:
    if (err != NULL && err_len > 0 && err[0] == '\0') {
        (void)snprintf(err, err_len, "storage open failed dir=%s err=%s", dir, raft_err_name(rv));
    }
    log->failed = true; /* close must not flush a half-opened log */
    coord_log_close(log);
    coord_log_recovered_free(rec);
    return rv;
}

void coord_log_recovered_free(struct coord_log_recovered *rec)
{
    size_t i;

    for (i = 0; i < rec->n_bufs; i++) {
        raft_free(rec->bufs[i]);
    }
    raft_free(rec->bufs);
    raft_free(rec->entries);
    memset(rec, 0, sizeof(*rec));
}
