/* SPDX-License-Identifier: MIT */
/* disk: simulated durable storage of one node. */
#include "tests/sim/disk.h"

#include <string.h>

#include "raft/base/assert.h"
#include "tests/sim/util.h"

#define LLU(x) ((unsigned long long)(x))

void sim_disk_init(struct sim_disk *d, const struct raft_conf *conf)
{
    memset(d, 0, sizeof *d);
    d->snap.conf = *conf;
    d->data.magic = SIM_SNAP_MAGIC;
}

struct raft_entry *sim_disk_entries_copy(const struct raft_entry *e, size_t n)
{
    struct raft_entry *out;
    size_t i;

    if (n == 0) {
        return NULL;
    }
    out = sim_util_malloc(n * sizeof *out);
    for (i = 0; i < n; i++) {
        out[i] = e[i];
        out[i].data.base = sim_util_memdup(e[i].data.base, e[i].data.len);
    }
    return out;
}

void sim_disk_entries_free(struct raft_entry *e, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        sim_util_free(e[i].data.base);
    }
    sim_util_free(e);
}

static void drop_from(struct sim_disk *d, size_t pos)
{
    size_t i;

    for (i = pos; i < d->n; i++) {
        sim_util_free(d->entries[i].data.base);
    }
    if (pos < d->n) {
        d->n = pos;
    }
}

void sim_disk_close(struct sim_disk *d)
{
    drop_from(d, 0);
    sim_util_free(d->entries);
    memset(d, 0, sizeof *d);
}

void sim_disk_check(const struct sim_disk *d)
{
    if (d->n > 0) {
        RAFT_ASSERT(d->entries[d->n - 1].index - d->entries[0].index == d->n - 1);
        RAFT_ASSERT(d->entries[0].index <= d->snap.index + 1);
    }
    RAFT_ASSERT(d->commit <= sim_disk_last_index(d));
    RAFT_ASSERT(d->data.magic == SIM_SNAP_MAGIC);
}

raft_index sim_disk_last_index(const struct sim_disk *d)
{
    raft_index last = d->n > 0 ? d->entries[d->n - 1].index : 0;

    return last > d->snap.index ? last : d->snap.index;
}

raft_term sim_disk_last_term(const struct sim_disk *d)
{
    if (d->n > 0 && d->entries[d->n - 1].index > d->snap.index) {
        return d->entries[d->n - 1].term;
    }
    return d->snap.term;
}

static const struct raft_entry *find(const struct sim_disk *d, raft_index index)
{
    if (d->n == 0 || index < d->entries[0].index || index > d->entries[d->n - 1].index) {
        return NULL;
    }
    return &d->entries[index - d->entries[0].index];
}

bool sim_disk_holds(const struct sim_disk *d, raft_index index, raft_term term)
{
    const struct raft_entry *e = find(d, index);

    if (e != NULL) {
        return e->term == term;
    }
    if (index == d->snap.index) {
        return d->snap.term == term;
    }
    return index < d->snap.index;
}

const struct raft_entry *sim_disk_entry(const struct sim_disk *d, raft_index index)
{
    return find(d, index);
}

void sim_disk_copy(struct sim_disk *d, const struct sim_disk *src)
{
    sim_disk_close(d);
    *d = *src;
    d->entries = sim_disk_entries_copy(src->entries, src->n);
    d->cap = src->n;
}

void sim_disk_load(struct sim_disk *d, raft_term term, raft_id vote, raft_index commit,
                   const struct raft_snapshot_meta *snap, const struct sim_snapdata *data,
                   const struct raft_entry *entries, size_t n)
{
    sim_disk_close(d);
    d->term = term;
    d->vote = vote;
    d->commit = commit;
    d->snap = *snap;
    d->data = *data;
    d->entries = sim_disk_entries_copy(entries, n);
    d->n = n;
    d->cap = n;
    RAFT_DASSERT((sim_disk_check(d), true));
}

static void install(struct sim_disk *d, const struct sim_job *j)
{
    drop_from(d, 0);
    d->snap = *j->snap;
    d->data = j->data;
    if (d->commit < j->snap->index) {
        d->commit = j->snap->index;
    }
}

/* Truncate at entries[0].index and append: the contract of raft_update. */
static bool append(struct sim_disk *d, const struct sim_job *j, struct sim_check *c, raft_id id)
{
    raft_index first = j->entries[0].index;
    raft_index last = sim_disk_last_index(d);
    size_t i;

    if (first <= d->snap.index) {
        return sim_check_fail(c, "persist below snapshot",
                              "n%llu persists entries from %llu, durable snapshot at %llu", LLU(id),
                              LLU(first), LLU(d->snap.index));
    }
    if (first > last + 1) {
        return sim_check_fail(c, "persist gap", "n%llu persists entries from %llu, last is %llu",
                              LLU(id), LLU(first), LLU(last));
    }
    for (i = 0; i < j->n_entries && j->entries[i].index <= d->commit; i++) {
        const struct raft_entry *old = find(d, j->entries[i].index);

        if (old != NULL && old->term != j->entries[i].term) {
            return sim_check_fail(c, "committed entry overwritten",
                                  "n%llu overwrites (index=%llu, term=%llu) with term %llu, "
                                  "durable commit %llu",
                                  LLU(id), LLU(old->index), LLU(old->term), LLU(j->entries[i].term),
                                  LLU(d->commit));
        }
    }
    if (d->n > 0 && first <= d->entries[d->n - 1].index) {
        drop_from(d, (size_t)(first - d->entries[0].index));
    }
    sim_util_reserve((void **)&d->entries, &d->cap, d->n + j->n_entries, sizeof *d->entries);
    memcpy(d->entries + d->n, j->entries, j->n_entries * sizeof *d->entries);
    for (i = 0; i < j->n_entries; i++) {
        d->entries[d->n + i].data.base =
            sim_util_memdup(j->entries[i].data.base, j->entries[i].data.len);
    }
    d->n += j->n_entries;
    return true;
}

bool sim_disk_write(struct sim_disk *d, const struct sim_job *j, struct sim_check *c, raft_id id)
{
    if (j->snap != NULL) {
        if (j->snap->index <= d->snap.index) {
            return sim_check_fail(c, "snapshot goes back",
                                  "n%llu installs snapshot %llu over durable snapshot %llu",
                                  LLU(id), LLU(j->snap->index), LLU(d->snap.index));
        }
        install(d, j);
    }
    if (j->n_entries > 0 && !append(d, j, c, id)) {
        return false;
    }
    if (j->hs_changed) {
        if (j->term < d->term) {
            return sim_check_fail(c, "term goes back", "n%llu persists term %llu over term %llu",
                                  LLU(id), LLU(j->term), LLU(d->term));
        }
        d->term = j->term;
        d->vote = j->vote;
    }
    if (j->commit > d->commit) {
        d->commit = j->commit;
    }
    if (d->commit > sim_disk_last_index(d)) {
        return sim_check_fail(c, "commit beyond log",
                              "n%llu persists commit %llu with last durable index %llu", LLU(id),
                              LLU(d->commit), LLU(sim_disk_last_index(d)));
    }
    RAFT_DASSERT((sim_disk_check(d), true));
    return true;
}

void sim_disk_snapshot(struct sim_disk *d, const struct raft_snapshot_meta *meta,
                       const struct sim_snapdata *data)
{
    d->snap = *meta;
    d->data = *data;
    RAFT_DASSERT((sim_disk_check(d), true));
}

void sim_disk_compact(struct sim_disk *d, raft_index upto)
{
    size_t k;
    size_t i;

    if (upto > d->snap.index + 1) {
        upto = d->snap.index + 1;
    }
    if (d->n == 0 || upto <= d->entries[0].index) {
        return;
    }
    k = (size_t)(upto - d->entries[0].index);
    if (k > d->n) {
        k = d->n;
    }
    for (i = 0; i < k; i++) {
        sim_util_free(d->entries[i].data.base);
    }
    memmove(d->entries, d->entries + k, (d->n - k) * sizeof *d->entries);
    d->n -= k;
    RAFT_DASSERT((sim_disk_check(d), true));
}

const struct raft_entry *sim_disk_after_snapshot(const struct sim_disk *d, size_t *n)
{
    const struct raft_entry *e = find(d, d->snap.index + 1);

    *n = e == NULL ? 0 : d->n - (size_t)(e - d->entries);
    return e;
}

uint64_t sim_disk_hash(const struct sim_disk *d, uint64_t h)
{
    size_t i;

    h = sim_util_mix(h, d->term);
    h = sim_util_mix(h, d->vote);
    h = sim_util_mix(h, d->commit);
    h = sim_util_mix(h, d->snap.index);
    h = sim_util_mix(h, d->snap.term);
    h = sim_util_mix(h, d->data.hash);
    h = sim_util_mix(h, d->data.chain);
    for (i = 0; i < d->n; i++) {
        h = sim_util_mix(h, d->entries[i].index);
        h = sim_util_mix(h, sim_check_entry_hash(&d->entries[i]));
    }
    return h;
}

void sim_disk_job_clear(struct sim_job *j)
{
    sim_disk_entries_free(j->entries, j->n_entries);
    sim_util_free(j->snap);
    sim_util_free(j->chains);
    memset(j, 0, sizeof *j);
}
