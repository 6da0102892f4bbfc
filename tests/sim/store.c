/* SPDX-License-Identifier: MIT */
/* store: a simulated node's durable state on the real log (see store.h).
 *
 * Design notes
 *  1. node.c writes a job when the in-memory mode would have completed it
 *     and reports it durable only after a later sim_store_sync(), so a crash
 *     in between finds it written but not flushed. Writes that are durable
 *     on return (truncate, install, snapshot meta, compaction) flush what
 *     came before them too; that only makes more durable than promised.
 *  2. Two models bound what recovery may find. acked (the node's sim_disk)
 *     is what the core was told is durable; written is acked plus every job
 *     written since the last open. floor is the lowest index a written,
 *     unflushed job may have removed on disk (truncate and install are
 *     durable at once, whether or not the job that asked for them is).
 *     Below floor, recovery must hold acked's entries; anything it holds
 *     must be written's entry at that index.
 *  3. The snapshot data stays in memory: acked's and written's are the only
 *     snapshots the disk can hold (a snapshot meta changes by rename, which
 *     faultfs never undoes), and the recovered meta must match one of them.
 *  4. Nothing here depends on the directory's name: paths appear only in
 *     coord's messages (log lines, open's error), stripped of it before
 *     they reach the output (sim_store_unroot).
 */
#include "tests/sim/store.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "raft/base/assert.h"
#include "tests/sim/util.h"

#define LLU(x) ((unsigned long long)(x))

#define MAX_ENTRY_BYTES 1024 /* sim entries: values of up to 32 bytes, configurations */
#define ERR_LEN         400  /* bytes of coord_log_open()'s message */
#define NAME_MAX_LEN    32   /* bytes of "/n<id>" */
#define NO_FLOOR        UINT64_MAX

struct sim_store *sim_store_new(const char *root, raft_id id, uint64_t segment_size,
                                bool preallocate, uint64_t seed)
{
    struct sim_store *st = sim_util_calloc(1, sizeof *st);
    char name[NAME_MAX_LEN];
    size_t len;

    (void)snprintf(name, sizeof name, "/n%llu", LLU(id));
    len = strlen(root) + strlen(name) + 1;
    st->dir = sim_util_malloc(len);
    (void)snprintf(st->dir, len, "%s%s", root, name);
    st->id = id;
    st->root = root;
    coord_log_opts_default(&st->opts);
    st->opts.segment_size = segment_size;
    st->opts.max_entry_size = MAX_ENTRY_BYTES;
    st->opts.preallocate = preallocate;
    /* POWER records every write so that any crash can undo it; crash_at 0:
     * faultfs never crashes on its own, the simulator decides. */
    faultfs_init(&st->fs, FAULTFS_POWER, 0, seed);
    faultfs_io(&st->fs, &st->opts.io);
    st->floor = NO_FLOOR;
    return st;
}

void sim_store_free(struct sim_store *st)
{
    if (st == NULL) {
        return;
    }
    coord_log_close(st->log);
    faultfs_close(&st->fs);
    sim_disk_close(&st->written);
    sim_util_free(st->dir);
    sim_util_free(st);
}

static bool failed(struct sim_store *st, struct sim_check *c, const char *op, int rv)
{
    return sim_check_fail(c, "storage error", "n%llu %s: %s", LLU(st->id), op, raft_err_name(rv));
}

static bool not_open(struct sim_store *st, struct sim_check *c)
{
    return sim_check_fail(c, "storage error", "n%llu: the log is not open", LLU(st->id));
}

/* ---- recovery (design notes 2 and 3) ---- */

static bool meta_equal(const struct raft_snapshot_meta *a, const struct raft_snapshot_meta *b)
{
    return a->index == b->index && a->term == b->term && raft_conf_equal(&a->conf, &b->conf);
}

/* The data of the recovered snapshot, or NULL after a violation. */
static const struct sim_snapdata *recovered_data(const struct sim_store *st,
                                                 const struct sim_disk *acked,
                                                 const struct coord_log_recovered *rec,
                                                 struct sim_check *c)
{
    const struct raft_snapshot_meta *m = &rec->snapshot;
    const struct sim_snapdata *d = NULL;

    if (m->index < acked->snap.index) {
        sim_check_fail(c, "recovered snapshot goes back",
                       "n%llu recovered snapshot %llu/%llu, its durable snapshot is %llu/%llu",
                       LLU(st->id), LLU(m->index), LLU(m->term), LLU(acked->snap.index),
                       LLU(acked->snap.term));
        return NULL;
    }
    if (meta_equal(m, &acked->snap)) {
        d = &acked->data;
    } else if (meta_equal(m, &st->written.snap)) {
        d = &st->written.data;
    }
    if (d == NULL || d->index != m->index || d->term != m->term) {
        sim_check_fail(c, "recovered snapshot unknown",
                       "n%llu recovered snapshot %llu/%llu (%u servers), which it never recorded "
                       "(durable %llu/%llu, written %llu/%llu)",
                       LLU(st->id), LLU(m->index), LLU(m->term), m->conf.n, LLU(acked->snap.index),
                       LLU(acked->snap.term), LLU(st->written.snap.index),
                       LLU(st->written.snap.term));
        return NULL;
    }
    return d;
}

/* Every entry reported durable is there, unless a written job removed it. */
static bool durable_entries_kept(const struct sim_store *st, const struct sim_disk *acked,
                                 const struct coord_log_recovered *rec, struct sim_check *c)
{
    raft_index base = rec->snapshot.index;
    raft_index last = sim_disk_last_index(acked);
    raft_index i;

    for (i = base + 1; i <= last && i < st->floor; i++) {
        const struct raft_entry *want = sim_disk_entry(acked, i);
        const struct raft_entry *got =
            i - base - 1 < rec->n_entries ? &rec->entries[i - base - 1] : NULL;

        RAFT_ASSERT(want != NULL); /* acked keeps every entry after its snapshot */
        if (got == NULL) {
            return sim_check_fail(c, "durable entry lost",
                                  "n%llu was told (index=%llu, term=%llu) is durable; its "
                                  "recovered log ends at %llu",
                                  LLU(st->id), LLU(i), LLU(want->term), LLU(base + rec->n_entries));
        }
        if (sim_check_entry_hash(got) != sim_check_entry_hash(want)) {
            return sim_check_fail(c, "durable entry changed",
                                  "n%llu was told (index=%llu, term=%llu) is durable; it "
                                  "recovered term %llu there",
                                  LLU(st->id), LLU(i), LLU(want->term), LLU(got->term));
        }
    }
    return true;
}

/* Every recovered entry is one that was written at its index. */
static bool recovered_entries_written(const struct sim_store *st, const struct sim_disk *acked,
                                      const struct coord_log_recovered *rec, struct sim_check *c)
{
    size_t k;

    for (k = 0; k < rec->n_entries; k++) {
        const struct raft_entry *e = &rec->entries[k];
        const struct raft_entry *want =
            e->index < st->floor ? sim_disk_entry(acked, e->index) : NULL;

        if (want == NULL) {
            want = sim_disk_entry(&st->written, e->index);
        }
        if (e->index != rec->snapshot.index + 1 + k || want == NULL ||
            sim_check_entry_hash(e) != sim_check_entry_hash(want)) {
            return sim_check_fail(c, "recovered entry never written",
                                  "n%llu recovered (index=%llu, term=%llu) after snapshot %llu, "
                                  "not an entry it wrote there",
                                  LLU(st->id), LLU(e->index), LLU(e->term),
                                  LLU(rec->snapshot.index));
        }
    }
    return true;
}

/* Term and vote never go back or appear from nowhere; commit is never
 * beyond what was written (it may lag: it is flushed lazily). */
static bool hard_state_ok(const struct sim_store *st, const struct sim_disk *acked,
                          const struct coord_log_recovered *rec, struct sim_check *c)
{
    const struct sim_disk *w = &st->written;
    raft_index commit_max = w->commit > rec->snapshot.index ? w->commit : rec->snapshot.index;

    if (rec->term < acked->term || rec->term > w->term) {
        return sim_check_fail(c, "recovered term",
                              "n%llu recovered term %llu; durable term %llu, written term %llu",
                              LLU(st->id), LLU(rec->term), LLU(acked->term), LLU(w->term));
    }
    if ((rec->term == acked->term && acked->vote != 0 && rec->vote != acked->vote) ||
        (rec->term == w->term && rec->vote != 0 && rec->vote != w->vote)) {
        return sim_check_fail(c, "recovered vote",
                              "n%llu recovered vote %llu in term %llu; durable vote %llu in term "
                              "%llu, written vote %llu in term %llu",
                              LLU(st->id), LLU(rec->vote), LLU(rec->term), LLU(acked->vote),
                              LLU(acked->term), LLU(w->vote), LLU(w->term));
    }
    if (rec->commit > commit_max) {
        return sim_check_fail(c, "recovered commit",
                              "n%llu recovered commit %llu, wrote up to %llu", LLU(st->id),
                              LLU(rec->commit), LLU(commit_max));
    }
    return true;
}

/* A brand-new log records the initial configuration as a snapshot meta at
 * index 0, as coordd bootstraps a cluster. */
static bool bootstrap(struct sim_store *st, const struct sim_disk *acked,
                      struct coord_log_recovered *rec, struct sim_check *c)
{
    int rv;

    if (rec->snapshot.index != 0 || rec->snapshot.conf.n != 0 || acked->snap.index != 0 ||
        acked->snap.conf.n == 0) {
        return true;
    }
    rv = coord_log_set_snapshot(st->log, &acked->snap);
    if (rv != 0) {
        return failed(st, c, "bootstrap", rv);
    }
    rec->snapshot = acked->snap;
    return true;
}

void sim_store_unroot(char *line, const char *root)
{
    size_t n = strlen(root);
    char *at = line;
    size_t cut;

    while (n > 0 && (at = strstr(at, root)) != NULL) {
        cut = at[n] == '/' ? n + 1 : n;
        memmove(at, at + cut, strlen(at + cut) + 1);
    }
}

bool sim_store_open(struct sim_store *st, struct sim_disk *acked, struct sim_check *c)
{
    struct coord_log_recovered rec;
    struct sim_snapdata data;
    const struct sim_snapdata *d;
    char err[ERR_LEN];
    bool ok;
    int rv;

    RAFT_ASSERT(st->log == NULL);
    if (!st->opened) {
        sim_disk_copy(&st->written, acked);
    }
    rv = coord_log_open(st->dir, &st->opts, &st->log, &rec, err, sizeof err);
    if (rv != 0) {
        sim_store_unroot(err, st->root);
        return sim_check_fail(c, "storage open failed", "n%llu: %s", LLU(st->id), err);
    }
    ok = st->opened || bootstrap(st, acked, &rec, c);
    st->opened = true;
    st->n_opens++;
    d = ok ? recovered_data(st, acked, &rec, c) : NULL;
    ok = d != NULL && durable_entries_kept(st, acked, &rec, c) &&
         recovered_entries_written(st, acked, &rec, c) && hard_state_ok(st, acked, &rec, c);
    if (ok) {
        data = *d; /* d points into acked or written, both replaced now */
        sim_disk_load(acked, rec.term, rec.vote, rec.commit, &rec.snapshot, &data, rec.entries,
                      rec.n_entries);
        sim_disk_copy(&st->written, acked);
        st->term = rec.term;
        st->vote = rec.vote;
        st->commit = rec.commit;
    }
    st->floor = NO_FLOOR;
    st->n_written = 0;
    st->sync_queued = false;
    coord_log_recovered_free(&rec);
    return ok;
}

/* ---- writing ---- */

static bool write_entries(struct sim_store *st, const struct sim_job *j, struct sim_check *c)
{
    struct coord_log_stats stats;
    raft_index first = j->entries[0].index;
    int rv;

    coord_log_stats(st->log, &stats);
    if (first <= stats.last_index) {
        rv = coord_log_truncate(st->log, first);
        if (rv != 0) {
            return failed(st, c, "truncate", rv);
        }
    }
    rv = coord_log_append(st->log, j->entries, j->n_entries);
    if (rv != 0) {
        return failed(st, c, "append", rv);
    }
    if (first < st->floor) {
        st->floor = first;
    }
    return true;
}

static bool write_hard_state(struct sim_store *st, const struct sim_job *j, struct sim_check *c)
{
    raft_term term = j->hs_changed ? j->term : st->term;
    raft_id vote = j->hs_changed ? j->vote : st->vote;
    raft_index commit = j->commit > st->commit ? j->commit : st->commit;
    int rv;

    if (term == st->term && vote == st->vote && commit == st->commit) {
        return true;
    }
    rv = coord_log_set_hard_state(st->log, term, vote, commit);
    if (rv != 0) {
        return failed(st, c, "set_hard_state", rv);
    }
    st->term = term;
    st->vote = vote;
    st->commit = commit;
    return true;
}

bool sim_store_write(struct sim_store *st, const struct sim_job *j, struct sim_check *c)
{
    int rv;

    if (st->log == NULL) {
        return not_open(st, c);
    }
    /* The model first: it names a job that breaks the disk's rules better
     * than the log's RAFT_EINVAL would. */
    if (!sim_disk_write(&st->written, j, c, st->id)) {
        return false;
    }
    if (j->snap != NULL) {
        rv = coord_log_install_snapshot(st->log, j->snap);
        if (rv != 0) {
            return failed(st, c, "install_snapshot", rv);
        }
        if (j->snap->index + 1 < st->floor) {
            st->floor = j->snap->index + 1;
        }
    }
    if (j->n_entries > 0 && !write_entries(st, j, c)) {
        return false;
    }
    return write_hard_state(st, j, c);
}

bool sim_store_sync(struct sim_store *st, struct sim_check *c)
{
    int rv;

    if (st->log == NULL) {
        return not_open(st, c);
    }
    rv = coord_log_sync(st->log);
    if (rv != 0) {
        return failed(st, c, "sync", rv);
    }
    st->floor = NO_FLOOR; /* every written job is durable: acked catches up */
    return true;
}

bool sim_store_snapshot(struct sim_store *st, const struct raft_snapshot_meta *meta,
                        const struct sim_snapdata *data, struct sim_check *c)
{
    int rv;

    if (st->log == NULL) {
        return not_open(st, c);
    }
    rv = coord_log_set_snapshot(st->log, meta);
    if (rv != 0) {
        return failed(st, c, "set_snapshot", rv);
    }
    sim_disk_snapshot(&st->written, meta, data);
    return true;
}

bool sim_store_compact(struct sim_store *st, raft_index upto, struct sim_check *c)
{
    raft_index below = upto;
    int rv;

    if (st->log == NULL) {
        return not_open(st, c);
    }
    /* An install still waiting in a job has not moved the log's snapshot. */
    if (below > st->written.snap.index + 1) {
        below = st->written.snap.index + 1;
    }
    rv = coord_log_compact(st->log, below);
    if (rv != 0) {
        return failed(st, c, "compact", rv);
    }
    sim_disk_compact(&st->written, below);
    return true;
}

void sim_store_crash(struct sim_store *st, bool power)
{
    if (st->log == NULL) {
        return;
    }
    if (st->fs.n_files > 0) {
        st->n_dirty++;
    }
    faultfs_crash_here(&st->fs, power ? FAULTFS_POWER : FAULTFS_KILL);
    coord_log_close(st->log); /* its flushes reach nothing: faultfs is down */
    st->log = NULL;
    faultfs_restart(&st->fs);
    st->n_written = 0;
    st->sync_queued = false;
    if (power) {
        st->n_power++;
    } else {
        st->n_kills++;
    }
}

void sim_store_stats_add(const struct sim_store *st, struct sim_store_stats *stats)
{
    stats->n_opens += st->n_opens;
    stats->n_power += st->n_power;
    stats->n_kills += st->n_kills;
    stats->n_dirty += st->n_dirty;
    stats->n_reordered += st->fs.n_reordered;
    stats->n_writes += st->fs.n_writes;
    stats->n_syncs += st->fs.n_syncs;
}

/* ---- the run's directory ---- */

char *sim_store_root_new(void)
{
    static const char tmpl[] = "/coord-sim-XXXXXX";
    const char *tmp = getenv("TMPDIR");
    size_t len;
    char *root;

    if (tmp == NULL || tmp[0] == '\0') {
        tmp = "/tmp";
    }
    len = strlen(tmp) + sizeof tmpl;
    root = sim_util_malloc(len);
    (void)snprintf(root, len, "%s%s", tmp, tmpl);
    if (mkdtemp(root) == NULL) {
        perror("sim: mkdtemp");
        sim_util_free(root);
        return NULL;
    }
    return root;
}

/* Remove dir's entries and dir. Entries that are directories are emptied
 * first when nested; below them only plain files are expected (a run's
 * directory holds one directory of log files per node). */
static void rm_dir(const char *dir, bool nested)
{
    struct dirent *de;
    struct dirent *de2;
    struct stat st;
    char path[512];
    char path2[800]; /* path, "/", a name of up to 255 bytes */
    DIR *d = opendir(dir);
    DIR *d2;

    if (d == NULL) {
        return;
    }
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
            continue;
        }
        (void)snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        d2 = nested && lstat(path, &st) == 0 && S_ISDIR(st.st_mode) ? opendir(path) : NULL;
        while (d2 != NULL && (de2 = readdir(d2)) != NULL) {
            (void)snprintf(path2, sizeof path2, "%s/%s", path, de2->d_name);
            (void)unlink(path2); /* fails harmlessly on "." and ".." */
        }
        if (d2 != NULL) {
            closedir(d2);
            (void)rmdir(path);
        } else {
            (void)unlink(path);
        }
    }
    closedir(d);
    (void)rmdir(dir);
}

void sim_store_root_free(char *root)
{
    if (root == NULL) {
        return;
    }
    rm_dir(root, true);
    sim_util_free(root);
}
