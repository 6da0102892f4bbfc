/* SPDX-License-Identifier: MIT */
/* fuzz_log_open: a data directory's files into coord_log_open()
 * (coord/storage/log.c), the stored records a node recovers from.
 *
 * Input: an options byte, then files, each one a kind byte, a 16-bit
 * little-endian length and that many bytes (the last one cut short by the
 * end of the input). Options: segment size 4 KiB << (bits 0-1), the largest
 * entry allowed by it (bit 2 clear) or 1 KiB (set), preallocation (bit 3).
 * Kind bits 0-1: 0 a segment, named after the first index in its header
 * (bytes 16..23; too short: 1); 1 the hardstate file; 2 snapshot.meta;
 * 3 a stray entry named by bits 2-3 (a *.tmp file, a directory under a
 * segment's name, a segment name with a letter in it, an unrelated file).
 * Kind bit 7 makes the target fix the CRCs of the file first (a segment's
 * header and every record it can walk, both hard-state slots, the snapshot
 * header), so that mutations reach past the checksums.
 *
 * The directory is on tmpfs (/dev/shm) when there is one, emptied before
 * each input and reused, so an input costs a few system calls.
 *
 * Properties, for every input:
 *   - nothing crashes, leaks or trips ASan/UBSan;
 *   - coord_log_open() returns 0 or a RAFT_E* code, with a one-line error;
 *   - on 0 the recovery is consistent: entries consecutive from the
 *     snapshot's index + 1, terms never going back, commit within
 *     [snapshot index, last index], the term not below any entry's;
 *   - it is durable and stable: opening the directory again recovers the
 *     same state; an entry appended after the last one, synced and closed,
 *     is there on the next open;
 *   - the Raft core takes the recovered state in RAFT_EV_START (0, or
 *     RAFT_EINVAL for a state it refuses) without crashing. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coord/storage/crc32c.h"
#include "coord/storage/log.h"
#include "raft/base/alloc.h"
#include "tests/fuzz/fuzz.h"

#define MAX_FILES    16
#define KIND_SEG     0u
#define KIND_HS      1u
#define KIND_SNAP    2u
#define KIND_STRAY   3u
#define KIND_FIX_CRC 0x80u
#define SEG_HDR_LEN  32u
#define HS_SLOT_LEN  64u
#define HS_STRIDE    512u
#define SNAP_HDR_LEN 44u
#define PATH_LEN     512
#define ERR_LEN      512

static char dir[PATH_LEN]; /* the data directory, made once per process */

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* CRC of a header whose CRC field is at bytes 12..15 (log.c's hdr_crc). */
static void fix_hdr(uint8_t *p, size_t len)
{
    put32(p + 12, coord_crc32c(coord_crc32c(0, p, 12), p + 16, len - 16));
}

/* The CRCs log.c checks, made right wherever the layout allows. */
static void fix_crcs(unsigned kind, uint8_t *p, size_t len)
{
    size_t off;

    if (kind == KIND_SEG && len >= SEG_HDR_LEN) {
        fix_hdr(p, SEG_HDR_LEN);
        for (off = SEG_HDR_LEN; len - off >= 8;) {
            uint32_t rec = get32(p + off);

            if (rec == 0 || rec > len - off - 8) {
                break;
            }
            put32(p + off + 4, coord_crc32c(coord_crc32c(0, p + off, 4), p + off + 8, rec));
            off += 8 + (size_t)rec;
        }
    } else if (kind == KIND_HS) {
        for (off = 0; off + HS_SLOT_LEN <= len && off <= HS_STRIDE; off += HS_STRIDE) {
            fix_hdr(p + off, HS_SLOT_LEN);
        }
    } else if (kind == KIND_SNAP && len >= SNAP_HDR_LEN) {
        fix_hdr(p, len);
    }
}

static void must(bool ok, const char *what, const char *name)
{
    FUZZ_CHECKF(ok, "%s %s/%s: %s", what, dir, name, strerror(errno));
}

static void write_file(const char *name, const uint8_t *p, size_t len)
{
    char path[PATH_LEN + 64];
    int fd;

    (void)snprintf(path, sizeof path, "%s/%s", dir, name);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EISDIR) {
        return; /* a stray directory took the name first */
    }
    must(fd >= 0, "open", name);
    must(len == 0 || write(fd, p, len) == (ssize_t)len, "write", name);
    must(close(fd) == 0, "close", name);
}

/* Remove everything in dir (one level of subdirectories, which is all an
 * input can make). */
static void empty_dir(void)
{
    DIR *d = opendir(dir);
    struct dirent *de;

    must(d != NULL, "opendir", ".");
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            must(unlinkat(dirfd(d), de->d_name, 0) == 0 ||
                     (errno == EISDIR && unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) == 0),
                 "unlink", de->d_name);
        }
    }
    must(closedir(d) == 0, "closedir", ".");
}

static void remove_dir(void)
{
    empty_dir();
    (void)rmdir(dir);
}

static void make_dir(void)
{
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

    (void)snprintf(dir, sizeof dir, "%s/coord-fuzz-log-%ld", base, (long)getpid());
    must(mkdir(dir, 0755) == 0 || errno == EEXIST, "mkdir", ".");
    (void)atexit(remove_dir);
}

static void write_stray(unsigned variant, const uint8_t *p, size_t len)
{
    switch (variant) {
    case 0:
        write_file("00000000000000000001.seg.tmp", p, len);
        break;
    case 1: {
        char path[PATH_LEN + 64];

        (void)snprintf(path, sizeof path, "%s/00000000000000000002.seg", dir);
        must(mkdir(path, 0755) == 0 || errno == EEXIST, "mkdir", "00000000000000000002.seg");
        break;
    }
    case 2:
        write_file("0000000000000000000a.seg", p, len);
        break;
    default:
        write_file("README", p, len);
        break;
    }
}

/* Lay the input's files out in dir. */
static void write_files(const uint8_t *data, size_t size)
{
    static uint8_t buf[1u << 16];
    size_t off = 0;
    unsigned n;

    for (n = 0; n < MAX_FILES && size - off >= 3; n++) {
        unsigned kind = data[off];
        size_t len = (size_t)data[off + 1] | (size_t)data[off + 2] << 8;
        char name[64];

        off += 3;
        len = len < size - off ? len : size - off;
        memcpy(buf, data + off, len);
        off += len;
        if (kind & KIND_FIX_CRC) {
            fix_crcs(kind & 3u, buf, len);
        }
        switch (kind & 3u) {
        case KIND_SEG:
            (void)snprintf(name, sizeof name, "%020" PRIu64 ".seg",
                           len >= 24 ? get64(buf + 16) : 1);
            write_file(name, buf, len);
            break;
        case KIND_HS:
            write_file("hardstate", buf, len);
            break;
        case KIND_SNAP:
            write_file("snapshot.meta", buf, len);
            break;
        default:
            write_stray((kind >> 2) & 3u, buf, len);
            break;
        }
    }
}

static void check_err(int rv, const char *err)
{
    FUZZ_CHECKF(rv < 0 && raft_err_name(rv)[1] != '?', "open returned %d", rv);
    FUZZ_CHECKF(err[0] != '\0' && strchr(err, '\n') == NULL, "error message \"%s\"", err);
}

/* What coord/storage/log.h promises about a recovered log. */
static void check_recovered(const struct coord_log_recovered *rec)
{
    raft_term prev = rec->snapshot.term;
    raft_index last = rec->snapshot.index + rec->n_entries;
    size_t i;

    for (i = 0; i < rec->n_entries; i++) {
        const struct raft_entry *e = &rec->entries[i];

        FUZZ_CHECKF(e->index == rec->snapshot.index + 1 + i, "entry %zu has index %" PRIu64, i,
                    e->index);
        FUZZ_CHECK(e->data.len == 0 || e->data.base != NULL);
        FUZZ_CHECKF(i == 0 || e->term >= prev, "entry %" PRIu64 " term %" PRIu64 " after %" PRIu64,
                    e->index, e->term, prev);
        prev = e->term;
    }
    FUZZ_CHECKF(rec->commit >= rec->snapshot.index && rec->commit <= last,
                "commit %" PRIu64 " outside [%" PRIu64 ", %" PRIu64 "]", rec->commit,
                rec->snapshot.index, last);
    FUZZ_CHECK(rec->term >= rec->snapshot.term);
    FUZZ_CHECK(rec->n_entries == 0 || rec->term >= rec->entries[rec->n_entries - 1].term);
}

static bool same_recovery(const struct coord_log_recovered *a, const struct coord_log_recovered *b)
{
    size_t i;

    if (a->term != b->term || a->vote != b->vote || a->commit != b->commit ||
        a->snapshot.index != b->snapshot.index || a->snapshot.term != b->snapshot.term ||
        a->snapshot.conf.n != b->snapshot.conf.n || a->n_entries != b->n_entries) {
        return false;
    }
    for (i = 0; i < a->n_entries; i++) {
        const struct raft_entry *x = &a->entries[i];
        const struct raft_entry *y = &b->entries[i];

        if (x->index != y->index || x->term != y->term || x->type != y->type ||
            x->data.len != y->data.len ||
            (x->data.len > 0 && memcmp(x->data.base, y->data.base, x->data.len) != 0)) {
            return false;
        }
    }
    return true;
}

/* A core started on the recovered state, stepped once past its timeout. */
static void start_core(const struct coord_log_recovered *rec)
{
    struct raft_config cfg;
    struct raft_event ev = {.type = RAFT_EV_START, .now = 1000};
    struct raft_update up;
    struct raft *r;
    int rv;

    raft_config_default(&cfg);
    cfg.id = 1;
    cfg.seed = 1;
    FUZZ_CHECK(raft_new(&cfg, &r) == 0);
    ev.start.term = rec->term;
    ev.start.vote = rec->vote;
    ev.start.commit = rec->commit;
    ev.start.snapshot = &rec->snapshot;
    ev.start.entries = rec->entries;
    ev.start.n_entries = rec->n_entries;
    rv = raft_step(r, &ev, &up);
    FUZZ_CHECKF(rv == 0 || rv == RAFT_EINVAL, "start: %s", raft_err_name(rv));
    if (rv == 0) {
        struct raft_event t = {.type = RAFT_EV_TIMEOUT, .now = up.timeout};

        rv = raft_step(r, &t, &up);
        FUZZ_CHECKF(rv == 0, "timeout: %s", raft_err_name(rv));
    }
    raft_destroy(r);
}

/* Reopen: the same state; then one more entry survives a close. */
static void check_stable(const struct coord_log_opts *opts, struct coord_log *log,
                         const struct coord_log_recovered *rec)
{
    struct coord_log_recovered again;
    struct raft_entry e = {.type = RAFT_ENTRY_NOOP};
    char err[ERR_LEN];
    int rv;

    coord_log_close(log);
    rv = coord_log_open(dir, opts, &log, &again, err, sizeof err);
    FUZZ_CHECKF(rv == 0, "second open: %s", err);
    FUZZ_CHECK(same_recovery(rec, &again));
    coord_log_recovered_free(&again);
    e.index = rec->snapshot.index + rec->n_entries + 1;
    e.term = rec->term > 0 ? rec->term : 1;
    if (e.index == 0) {
        coord_log_close(log); /* the index space is used up: nothing can follow */
        return;
    }
    rv = coord_log_append(log, &e, 1);
    FUZZ_CHECKF(rv == 0 || rv == RAFT_ENOSPC, "append after open: %s", raft_err_name(rv));
    if (rv == 0) {
        rv = coord_log_sync(log);
        FUZZ_CHECKF(rv == 0, "sync: %s", raft_err_name(rv));
    }
    coord_log_close(log);
    if (rv != 0) {
        return;
    }
    rv = coord_log_open(dir, opts, &log, &again, err, sizeof err);
    FUZZ_CHECKF(rv == 0, "open after an append: %s", err);
    FUZZ_CHECK(again.n_entries == rec->n_entries + 1 &&
               again.entries[rec->n_entries].index == e.index &&
               again.entries[rec->n_entries].term == e.term);
    coord_log_recovered_free(&again);
    coord_log_close(log);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    long live = raft_alloc_live();
    struct coord_log_opts opts;
    struct coord_log_recovered rec;
    struct coord_log *log;
    char err[ERR_LEN];
    int rv;

    fuzz_input(data, size);
    if (size < 1) {
        return 0;
    }
    if (dir[0] == '\0') {
        fuzz_quiet_logs();
        make_dir();
    }
    empty_dir();
    coord_log_opts_default(&opts);
    opts.segment_size = (uint64_t)4096 << (data[0] & 3u);
    opts.max_entry_size = data[0] & 4u ? 1024u : (uint32_t)opts.segment_size - 61u;
    opts.preallocate = (data[0] & 8u) != 0;
    write_files(data + 1, size - 1);
    rv = coord_log_open(dir, &opts, &log, &rec, err, sizeof err);
    if (rv != 0) {
        check_err(rv, err);
    } else {
        check_recovered(&rec);
        start_core(&rec);
        check_stable(&opts, log, &rec);
        coord_log_recovered_free(&rec);
    }
    FUZZ_CHECK_NO_LEAK(live);
    return 0;
}
