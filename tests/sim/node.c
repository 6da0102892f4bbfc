/* SPDX-License-Identifier: MIT */
/* node: the simulator's shell around one struct raft (see node.h).
 *
 * Design notes
 *  1. Everything kept from an update is copied before the next raft_step():
 *     entries into persist jobs, messages into the network, snapshot meta.
 *  2. Persist jobs complete in order: each completes no earlier than the one
 *     before it. A job with nothing to write (only msgs_after) completes as
 *     soon as the jobs before it did.
 *  3. The shell keeps its own view of the core's log as chain hashes
 *     (chain_base, last]; every entry it is handed extends or truncates that
 *     view, and each (index, term, chain) is checked run-wide (log matching).
 *  4. The state machine is replaced by an installed snapshot only when the
 *     install is durable (its job completes), as raft.h orders.
 *  5. No raft_step() happens while an update is being carried out: steps
 *     caused by carrying out (PERSISTED, SNAPSHOT_TAKEN) come from events or
 *     from sim_node_settle(), so update views stay valid throughout.
 *  6. --storage real: the PERSISTED event of a job writes it to the real log
 *     (job_write) and queues a flush (SIM_EV_SYNC) unless one is queued; the
 *     flush completes every job written before it (job_sync -> job_done), as
 *     a log writer's group commit would. A job with nothing to write whose
 *     predecessors are all complete completes at once, as in memory. A crash
 *     between write and flush leaves the job on disk unflushed: a power
 *     loss may undo or tear it, and the restart checks what was recovered
 *     (store.h) before starting the core from it.
 */
#include "tests/sim/node.h"

#include <stdio.h>
#include <string.h>

#include "raft/base/assert.h"
#include "tests/sim/check.h"
#include "tests/sim/net.h"
#include "tests/sim/util.h"
#include "tests/sim/world.h"

#define LLU(x) ((unsigned long long)(x))

static struct sim_check *chk(struct sim *s)
{
    return &s->check;
}

/* ---- the shell's view of the log (design note 3) ---- */

static bool chain_get(const struct sim_node *n, raft_index index, uint64_t *out)
{
    if (index == n->chain_base) {
        *out = n->chain_base_hash;
        return true;
    }
    if (index < n->chain_base || index > n->chain_base + n->n_chain) {
        return false;
    }
    *out = n->chain[index - n->chain_base - 1];
    return true;
}

static void chain_reset(struct sim_node *n, raft_index base, uint64_t hash)
{
    n->chain_base = base;
    n->chain_base_hash = hash;
    n->n_chain = 0;
}

/* Entries handed out by the core replace the view from e[0].index on. */
static bool chain_append(struct sim *s, struct sim_node *n, const struct raft_entry *e, size_t k)
{
    raft_index first = e[0].index;
    uint64_t h;
    size_t i;

    if (!chain_get(n, first - 1, &h)) {
        return sim_check_fail(
            chk(s), "log gap", "n%llu is handed entries from %llu but its log is %llu..%llu",
            LLU(n->id), LLU(first), LLU(n->chain_base), LLU(n->chain_base + n->n_chain));
    }
    sim_util_reserve((void **)&n->chain, &n->cap_chain, (size_t)(first - 1 - n->chain_base) + k,
                     sizeof *n->chain);
    for (i = 0; i < k; i++) {
        size_t pos = (size_t)(first - 1 - n->chain_base) + i;

        if (e[i].index != first + i) {
            return sim_check_fail(chk(s), "log gap", "n%llu is handed non-contiguous entries",
                                  LLU(n->id));
        }
        h = sim_check_chain_next(h, &e[i]);
        if (e[i].index <= n->commit && pos < n->n_chain && n->chain[pos] != h) {
            return sim_check_fail(chk(s), "committed entry truncated",
                                  "n%llu replaces (index=%llu) at or below its commit %llu",
                                  LLU(n->id), LLU(e[i].index), LLU(n->commit));
        }
        n->chain[pos] = h;
    }
    n->n_chain = (size_t)(first - 1 - n->chain_base) + k;
    return true;
}

/* Log matching is checked run-wide for entries once they are durable on a
 * node: an entry that only ever lived in the memory of an incarnation that
 * crashed was seen by nobody (a single-voter leader may re-run a term whose
 * hard state it lost, with other entries). */
static void chain_check(struct sim *s, struct sim_node *n, const struct raft_entry *e,
                        const uint64_t *chains, size_t k)
{
    size_t i;

    for (i = 0; i < k; i++) {
        if (!sim_check_chain(chk(s), n->id, e[i].index, e[i].term, chains[i])) {
            return;
        }
    }
}

/* ---- state machine ---- */

static void sm_load(struct sim_node *n, const struct raft_snapshot_meta *meta,
                    const struct sim_snapdata *d)
{
    n->sm.applied = meta->index;
    n->sm.applied_term = meta->term;
    n->sm.hash = d->hash;
    n->sm.chain = d->chain;
    n->sm.n_normal = d->n_normal;
    n->sm.conf = meta->conf;
}

static void complete_reads(struct sim *s, struct sim_node *n)
{
    size_t i = 0;

    while (i < n->n_reads) {
        struct sim_read *rd = &n->reads[i];

        if (!rd->answered || rd->index > n->sm.applied) {
            i++;
            continue;
        }
        if (rd->index < rd->min_index) {
            sim_check_fail(chk(s), "stale read",
                           "n%llu read %llu returned index %llu, but index %llu was "
                           "acknowledged before it was asked",
                           LLU(n->id), LLU(rd->id), LLU(rd->index), LLU(rd->min_index));
        }
        SIM_TRACE(s, "n%llu read %llu done index=%llu", LLU(n->id), LLU(rd->id), LLU(rd->index));
        if (rd->id == s->probe_read) {
            s->probe_read_done = true;
        }
        n->reads[i] = n->reads[--n->n_reads];
    }
}

static void ack_props(struct sim *s, struct sim_node *n, const struct raft_entry *e, uint64_t eh)
{
    size_t i = 0;

    while (i < n->n_props) {
        struct sim_prop *p = &n->props[i];

        if (p->index != e->index) {
            i++;
            continue;
        }
        if (p->term == e->term && p->hash == eh) {
            sim_check_ack(chk(s), e->index, e->term, eh);
            SIM_TRACE(s, "n%llu ack write index=%llu term=%llu", LLU(n->id), LLU(e->index),
                      LLU(e->term));
        }
        n->props[i] = n->props[--n->n_props];
    }
}

/* A committed CONF entry: nodes it leaves out are removed for good. */
static void conf_applied(struct sim *s, const struct raft_conf *conf, raft_index index)
{
    raft_id id;

    for (id = 1; id <= s->n_ids; id++) {
        struct sim_node *m = s->nodes[id];

        if (m != NULL && m->state != SIM_NODE_GONE && !m->stop_pending && m->added_at < index &&
            raft_conf_find(conf, id) == NULL) {
            m->stop_pending = true;
        }
    }
}

static void apply_data(struct sim *s, struct sim_node *n, const struct raft_entry *e)
{
    struct raft_conf conf;
    uint64_t v = 0;

    if (e->type == RAFT_ENTRY_NORMAL) {
        n->sm.hash = sim_util_mix(sim_util_mix(n->sm.hash, e->index), e->term);
        n->sm.hash = sim_util_hash_bytes(n->sm.hash, e->data.base, e->data.len);
        n->sm.n_normal++;
        if (e->data.len >= sizeof v) {
            memcpy(&v, e->data.base, sizeof v);
        }
        if (s->probe_value != 0 && v >= s->probe_value) {
            n->probe_seen = true;
        }
    } else if (e->type == RAFT_ENTRY_CONF) {
        if (raft_conf_decode(&e->data, &conf) != 0) {
            sim_check_fail(chk(s), "bad configuration entry", "n%llu applies index %llu",
                           LLU(n->id), LLU(e->index));
            return;
        }
        n->sm.conf = conf;
        conf_applied(s, &conf, e->index);
    }
}

static void apply_one(struct sim *s, struct sim_node *n, const struct raft_entry *e)
{
    uint64_t eh = sim_check_entry_hash(e);
    uint64_t want = 0;

    if (e->index != n->sm.applied + 1) {
        sim_check_fail(chk(s), "apply out of order", "n%llu applies %llu after %llu", LLU(n->id),
                       LLU(e->index), LLU(n->sm.applied));
        return;
    }
    if (!sim_disk_holds(&n->disk, e->index, e->term)) {
        sim_check_fail(chk(s), "apply before durable",
                       "n%llu applies (index=%llu, term=%llu), not on its disk", LLU(n->id),
                       LLU(e->index), LLU(e->term));
    }
    sim_check_apply(chk(s), n->id, e->index, e->term, eh);
    n->sm.chain = sim_check_chain_next(n->sm.chain, e);
    if (!chain_get(n, e->index, &want) || want != n->sm.chain) {
        sim_check_fail(chk(s), "apply differs from log",
                       "n%llu applies (index=%llu, term=%llu), not the entry its log holds",
                       LLU(n->id), LLU(e->index), LLU(e->term));
    }
    apply_data(s, n, e);
    n->sm.applied = e->index;
    n->sm.applied_term = e->term;
    ack_props(s, n, e, eh);
}

/* ---- persist jobs (design note 2) ---- */

static bool snapdata_of(struct sim *s, struct sim_node *n, const struct raft_update *up,
                        struct sim_snapdata *out)
{
    const struct sim_snapdata *d = up->snapshot_data.base;

    if (d == NULL || up->snapshot_data.len != sizeof *d || d->magic != SIM_SNAP_MAGIC ||
        d->index != up->snapshot->index || d->term != up->snapshot->term) {
        return sim_check_fail(chk(s), "snapshot data",
                              "n%llu installs snapshot %llu/%llu with data that is not its own",
                              LLU(n->id), LLU(up->snapshot->index), LLU(up->snapshot->term));
    }
    *out = *d;
    return true;
}

static raft_time persist_latency(struct sim *s, bool empty)
{
    if (empty) {
        return 0;
    }
    if (s->p.disk_slow_pm > 0 && sim_world_chance(s, s->p.disk_slow_pm)) {
        return sim_world_range(s, s->p.disk_max_ms, s->p.disk_slow_ms);
    }
    return sim_world_range(s, 0, s->p.disk_max_ms);
}

/* A new zeroed job at the back of the FIFO. */
static struct sim_job *job_push(struct sim_node *n)
{
    struct sim_job *j;

    if (n->job_head + n->n_jobs == n->cap_jobs && n->job_head > 0) {
        memmove(n->jobs, n->jobs + n->job_head, n->n_jobs * sizeof *n->jobs);
        n->job_head = 0;
    }
    sim_util_reserve((void **)&n->jobs, &n->cap_jobs, n->job_head + n->n_jobs + 1, sizeof *n->jobs);
    j = &n->jobs[n->job_head + n->n_jobs++];
    memset(j, 0, sizeof *j);
    return j;
}

/* The nemesis likes moments when the hard state is not yet durable,
 * above all a vote just granted: crash before the write completes. */
static void maybe_crash_unsynced(struct sim *s, struct sim_node *n, const struct raft_update *up)
{
    struct sim_event crash = {.type = SIM_EV_CRASH, .node = n->id, .inc = n->inc};
    bool voted = up->vote != 0 && up->vote != n->id && up->vote != n->vote;
    unsigned pm = voted ? s->p.vote_crash_pm : s->p.sync_crash_pm;

    if (!up->hs_changed || s->phase != SIM_PHASE_CHAOS || !sim_world_chance(s, pm)) {
        return;
    }
    /* A vote is lost for sure (the crash is queued before the write's
     * completion); other hard state only when the crash comes first. */
    crash.at = s->now + (voted ? 0 : sim_world_range(s, 0, s->p.disk_max_ms));
    crash.flag = true; /* a blip: back within a few ms */
    sim_world_push(s, &crash);
}

static void job_queue(struct sim *s, struct sim_node *n, const struct raft_update *up)
{
    bool empty = up->snapshot == NULL && up->n_entries == 0 && !up->hs_changed;
    struct sim_event ev = {.type = SIM_EV_PERSISTED, .node = n->id};
    struct sim_job *j;
    uint64_t h;
    size_t i;

    if (empty && up->n_msgs_after == 0) {
        return;
    }
    j = job_push(n);
    j->seq = n->job_seq++;
    if (up->snapshot != NULL && snapdata_of(s, n, up, &j->data)) {
        j->snap = sim_util_malloc(sizeof *j->snap);
        *j->snap = *up->snapshot;
        n->install_pending = true;
    }
    j->entries = sim_disk_entries_copy(up->entries, up->n_entries);
    j->n_entries = up->n_entries;
    if (up->n_entries > 0 && chain_get(n, up->entries[0].index, &h)) {
        j->chains = sim_util_memdup(&n->chain[up->entries[0].index - n->chain_base - 1],
                                    up->n_entries * sizeof *j->chains);
    }
    j->hs_changed = up->hs_changed;
    j->term = up->term;
    j->vote = up->vote;
    j->commit = up->commit;
    if (up->n_msgs_after > 0) {
        /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
        j->msgs_after = sim_util_malloc(up->n_msgs_after * sizeof *j->msgs_after);
        for (i = 0; i < up->n_msgs_after; i++) {
            j->msgs_after[i] = sim_net_msg_copy(&up->msgs_after[i], NULL);
        }
        j->n_msgs_after = up->n_msgs_after;
    }
    maybe_crash_unsynced(s, n, up);
    ev.at = s->now + persist_latency(s, empty);
    if (ev.at < n->job_done_at) {
        ev.at = n->job_done_at;
    }
    n->job_done_at = ev.at;
    ev.inc = n->inc;
    ev.a = j->seq;
    sim_world_push(s, &ev);
    n->vote = up->vote;
}

static void job_free(struct sim_job *j)
{
    size_t i;

    for (i = 0; i < j->n_msgs_after; i++) {
        sim_net_msg_free(j->msgs_after[i]);
    }
    sim_util_free(j->msgs_after);
    sim_disk_job_clear(j);
}

static void install_sm(struct sim *s, struct sim_node *n, const struct sim_job *j)
{
    size_t i;

    if (n->sm.applied > j->snap->index) {
        sim_check_fail(chk(s), "applied index goes back",
                       "n%llu installs snapshot %llu with %llu applied", LLU(n->id),
                       LLU(j->snap->index), LLU(n->sm.applied));
    }
    sm_load(n, j->snap, &j->data);
    n->install_pending = false;
    for (i = 0; i < n->n_jobs; i++) {
        n->install_pending = n->install_pending || n->jobs[n->job_head + i].snap != NULL;
    }
    SIM_TRACE(s, "n%llu snapshot %llu/%llu installed", LLU(n->id), LLU(j->snap->index),
              LLU(j->snap->term));
}

/* The oldest job is durable: write it, send msgs_after, feed PERSISTED. */
static void job_done(struct sim *s, struct sim_node *n, uint64_t seq)
{
    struct raft_event ev = {.type = RAFT_EV_PERSISTED};
    struct sim_job j;
    size_t i;

    RAFT_ASSERT(n->n_jobs > 0 && n->jobs[n->job_head].seq == seq);
    j = n->jobs[n->job_head];
    n->job_head++;
    n->n_jobs--;
    if (n->n_jobs == 0) {
        n->job_head = 0;
    }
    if (j.snap != NULL) {
        install_sm(s, n, &j);
    }
    sim_disk_write(&n->disk, &j, chk(s), n->id);
    if (j.chains != NULL) {
        chain_check(s, n, j.entries, j.chains, j.n_entries);
    }
    for (i = 0; i < j.n_msgs_after; i++) {
        sim_net_send(s, n, j.msgs_after[i]);
    }
    if (j.n_entries > 0) {
        ev.persisted.index = j.entries[j.n_entries - 1].index;
        ev.persisted.term = j.entries[j.n_entries - 1].term;
    } else if (j.snap != NULL) {
        ev.persisted.index = j.snap->index;
        ev.persisted.term = j.snap->term;
    }
    job_free(&j);
    if (ev.persisted.index > 0) {
        sim_node_step(s, n, &ev, NULL);
    }
    complete_reads(s, n);
}

/* The nemesis likes the window between a write and its flush, when a
 * power loss can undo or tear it: crash in it (queued before the flush, so
 * a crash due at the same time comes first), back within a few ms. */
static void crash_before_sync(struct sim *s, struct sim_node *n, raft_time sync_at)
{
    struct sim_event crash = {.type = SIM_EV_CRASH, .node = n->id, .inc = n->inc, .flag = true};

    if (s->phase != SIM_PHASE_CHAOS || !raft_rand_chance(&s->store_rng, s->p.torn_crash_pm)) {
        return;
    }
    crash.at = s->now + raft_rand_below(&s->store_rng, sync_at - s->now + 1);
    sim_world_push(s, &crash);
}

/* The job's time has come (design note 6): write it to the real log, and
 * make sure a flush follows. */
static void job_write(struct sim *s, struct sim_node *n, uint64_t seq)
{
    struct sim_store *st = n->store;
    struct sim_event ev = {.type = SIM_EV_SYNC, .node = n->id};
    const struct sim_job *j;
    bool empty;

    RAFT_ASSERT(st->n_written < n->n_jobs && n->jobs[n->job_head + st->n_written].seq == seq);
    j = &n->jobs[n->job_head + st->n_written];
    empty = j->snap == NULL && j->n_entries == 0 && !j->hs_changed;
    if (!sim_store_write(st, j, chk(s))) {
        return;
    }
    if (empty && st->n_written == 0) {
        job_done(s, n, seq);
        return;
    }
    st->n_written++;
    if (!st->sync_queued) {
        ev.at = s->now + raft_rand_below(&s->store_rng, (uint64_t)s->p.sync_max_ms + 1);
        ev.inc = n->inc;
        crash_before_sync(s, n, ev.at);
        sim_world_push(s, &ev);
        st->sync_queued = true;
    }
}

/* Flush the log; every job written so far is durable and completes. */
static void job_sync(struct sim *s, struct sim_node *n)
{
    struct sim_store *st = n->store;
    size_t k = st->n_written;

    st->sync_queued = false;
    if (!sim_store_sync(st, chk(s))) {
        return;
    }
    while (k-- > 0) {
        st->n_written--;
        job_done(s, n, n->jobs[n->job_head].seq);
    }
}

/* ---- what an update tells the checker ---- */

/* Leader completeness: a new leader of term T holds every entry known
 * committed in a term before T (Raft's Leader Completeness Property; a
 * stale node that wins an old term's election late need not). */
static void leader_complete(struct sim *s, struct sim_node *n)
{
    const struct raft_snapshot_meta *snap = raft_snapshot_get(n->raft);
    raft_term by;
    raft_term want = sim_check_committed(chk(s), snap->index, &by);
    raft_index i;

    if (snap->index > 0 && want != 0 && want != snap->term) {
        sim_check_fail(chk(s), "leader completeness",
                       "n%llu leads term %llu from snapshot %llu/%llu, committed term there is "
                       "%llu",
                       LLU(n->id), LLU(n->term), LLU(snap->index), LLU(snap->term), LLU(want));
        return;
    }
    for (i = snap->index + 1; i <= chk(s)->max_committed; i++) {
        raft_term got;

        want = sim_check_committed(chk(s), i, &by);
        if (want == 0 || by >= n->term) {
            continue;
        }
        got = raft_term_at(n->raft, i);
        if (got != want) {
            sim_check_fail(chk(s), "leader completeness",
                           "n%llu leads term %llu without (index=%llu, term=%llu), committed by "
                           "term %llu: its term there is %llu",
                           LLU(n->id), LLU(n->term), LLU(i), LLU(want), LLU(by), LLU(got));
            return;
        }
    }
}

/* The nemesis also likes fresh leaders: cut one off before its no-op
 * leaves (observe() runs before the update's messages are sent), or crash
 * it soon after, leaving its log different from everyone's. */
static void maybe_hit_leader(struct sim *s, struct sim_node *n)
{
    struct sim_event crash = {.type = SIM_EV_CRASH, .node = n->id, .inc = n->inc};
    uint64_t others = 0;
    raft_id id;

    if (s->phase != SIM_PHASE_CHAOS || !sim_world_chance(s, s->p.new_leader_pm)) {
        return;
    }
    if (sim_world_chance(s, 500)) {
        crash.at = s->now + sim_world_range(s, 0, s->net.delay_max_ms);
        sim_world_push(s, &crash);
        return;
    }
    for (id = 1; id <= s->n_ids; id++) {
        if (id != n->id && s->nodes[id] != NULL && s->nodes[id]->state != SIM_NODE_GONE) {
            others |= 1ULL << id;
        }
    }
    if (others != 0) {
        sim_net_partition(s, 1ULL << n->id, others, false, s->now + sim_world_range(s, 50, 1000));
    }
}

static void observe(struct sim *s, struct sim_node *n, const struct raft_update *up)
{
    if (up->term < n->term) {
        sim_check_fail(chk(s), "term goes back", "n%llu from term %llu to %llu", LLU(n->id),
                       LLU(n->term), LLU(up->term));
    }
    if (up->role != n->role || up->term != n->term) {
        if (up->role != n->role) {
            SIM_TRACE(s, "n%llu term=%llu %s->%s", LLU(n->id), LLU(up->term),
                      raft_role_name(n->role), raft_role_name(up->role));
        }
        n->term = up->term;
        if (up->role == RAFT_LEADER) {
            const struct raft_server *me = raft_conf_find(raft_conf_get(n->raft), n->id);

            s->n_elections++;
            if (me == NULL || me->role != RAFT_VOTER) {
                sim_check_fail(chk(s), "leader not a voter",
                               "n%llu leads term %llu but is not a voter in its configuration",
                               LLU(n->id), LLU(up->term));
            }
            sim_check_leader(chk(s), up->term, n->id);
            leader_complete(s, n);
            maybe_hit_leader(s, n);
        }
    }
    if (up->leader != n->leader && up->leader != 0 && up->leader != n->id) {
        SIM_TRACE(s, "n%llu term=%llu follows n%llu", LLU(n->id), LLU(up->term), LLU(up->leader));
    }
    n->role = up->role;
    n->leader = up->leader;
}

/* A leader's commit index never exceeds what a majority holds durably. */
static void durable_majority(struct sim *s, struct sim_node *n, raft_index index, raft_term term)
{
    const struct raft_conf *conf = raft_conf_get(n->raft);
    unsigned voters = 0;
    unsigned held = 0;
    uint32_t i;

    for (i = 0; i < conf->n; i++) {
        const struct sim_node *m = sim_world_node(s, conf->servers[i].id);

        if (conf->servers[i].role != RAFT_VOTER) {
            continue;
        }
        voters++;
        if (m != NULL && sim_disk_holds(&m->disk, index, term)) {
            held++;
        }
    }
    if (held * 2 <= voters) {
        sim_check_fail(chk(s), "commit without durable majority",
                       "leader n%llu commits (index=%llu, term=%llu), durable on %u of %u voters",
                       LLU(n->id), LLU(index), LLU(term), held, voters);
    }
}

/* Would voter v grant a vote to x, comparing their durable logs (what
 * each would have after a crash)? */
static bool could_grant(const struct sim_node *x, const struct sim_node *v)
{
    raft_term xt = sim_disk_last_term(&x->disk);
    raft_term vt = sim_disk_last_term(&v->disk);

    return xt > vt || (xt == vt && sim_disk_last_index(&x->disk) >= sim_disk_last_index(&v->disk));
}

/* Once (index, term) is committed, no voter that lacks it can win an
 * election: a majority holds it durably with a log no candidate lacking it
 * can beat (Raft 5.4.3). A commit that leaves such a candidate is unsafe
 * at once, whether or not it later wins (the Figure 8 case). */
static void commit_safe(struct sim *s, struct sim_node *n, raft_index index, raft_term term)
{
    const struct raft_conf *conf = raft_conf_get(n->raft);
    unsigned voters = raft_conf_n_voters(conf);
    uint32_t i;
    uint32_t k;

    for (i = 0; i < conf->n; i++) {
        const struct sim_node *x = sim_world_node(s, conf->servers[i].id);
        unsigned votes = 0;

        if (conf->servers[i].role != RAFT_VOTER || x == NULL ||
            sim_disk_holds(&x->disk, index, term)) {
            continue;
        }
        for (k = 0; k < conf->n; k++) {
            const struct sim_node *v = sim_world_node(s, conf->servers[k].id);

            if (conf->servers[k].role == RAFT_VOTER && v != NULL && could_grant(x, v)) {
                votes++;
            }
        }
        if (votes * 2 > voters) {
            sim_check_fail(chk(s), "unsafe commit",
                           "leader n%llu commits (index=%llu, term=%llu) in term %llu, but "
                           "n%llu (last %llu/%llu) lacks it and could win %u of %u votes",
                           LLU(n->id), LLU(index), LLU(term), LLU(n->term), LLU(x->id),
                           LLU(sim_disk_last_index(&x->disk)), LLU(sim_disk_last_term(&x->disk)),
                           votes, voters);
            return;
        }
    }
}

static void track_commit(struct sim *s, struct sim_node *n, const struct raft_update *up)
{
    const struct raft_snapshot_meta *snap = raft_snapshot_get(n->raft);
    raft_index i = n->commit + 1;

    if (up->commit < n->commit) {
        sim_check_fail(chk(s), "commit goes back", "n%llu from %llu to %llu", LLU(n->id),
                       LLU(n->commit), LLU(up->commit));
        return;
    }
    if (up->commit == n->commit) {
        return;
    }
    if (up->commit > raft_last_index(n->raft)) {
        sim_check_fail(chk(s), "commit beyond log", "n%llu commit %llu, last index %llu",
                       LLU(n->id), LLU(up->commit), LLU(raft_last_index(n->raft)));
        return;
    }
    if (i <= snap->index) {
        sim_check_commit(chk(s), n->id, snap->index, snap->term, up->term);
        i = snap->index + 1;
    }
    for (; i <= up->commit; i++) {
        raft_term t = raft_term_at(n->raft, i);

        if (t == 0) {
            sim_check_fail(chk(s), "commit of unknown entry", "n%llu commits %llu", LLU(n->id),
                           LLU(i));
            return;
        }
        sim_check_commit(chk(s), n->id, i, t, up->term);
    }
    if (up->role == RAFT_LEADER) {
        durable_majority(s, n, up->commit, raft_term_at(n->raft, up->commit));
        commit_safe(s, n, up->commit, raft_term_at(n->raft, up->commit));
    }
    SIM_TRACE(s, "n%llu commit=%llu", LLU(n->id), LLU(up->commit));
    n->commit = up->commit;
}

static void take_reads(struct sim *s, struct sim_node *n, const struct raft_update *up)
{
    size_t i;
    size_t k;

    for (i = 0; i < up->n_reads; i++) {
        const struct raft_read *rd = &up->reads[i];

        for (k = 0; k < n->n_reads && n->reads[k].id != rd->id; k++) {
        }
        if (k == n->n_reads || n->reads[k].answered) {
            sim_check_fail(chk(s), "unexpected read answer", "n%llu gets read %llu status %d",
                           LLU(n->id), LLU(rd->id), rd->status);
            continue;
        }
        if (rd->status != 0) {
            SIM_TRACE(s, "n%llu read %llu failed: %s", LLU(n->id), LLU(rd->id),
                      raft_err_name(rd->status));
            if (rd->id == s->probe_read) {
                s->probe_read = 0; /* ask again */
            }
            n->reads[k] = n->reads[--n->n_reads];
            continue;
        }
        n->reads[k].answered = true;
        n->reads[k].index = rd->index;
    }
}

static void arm(struct sim *s, struct sim_node *n, raft_time at)
{
    struct sim_event ev = {.type = SIM_EV_TIMEOUT, .node = n->id};

    if (at == n->timer_at && n->timer_gen > 0) {
        return;
    }
    n->timer_at = at;
    n->timer_gen++;
    ev.at = at > s->now ? at : s->now;
    ev.inc = n->inc;
    ev.a = n->timer_gen;
    sim_world_push(s, &ev);
}

/* Carry out an update in the order of struct raft_update. */
static void carry_out(struct sim *s, struct sim_node *n, const struct raft_update *up)
{
    struct sim_snapdata data;
    size_t i;

    observe(s, n, up);
    if (up->snapshot != NULL && snapdata_of(s, n, up, &data)) {
        sim_check_chain(chk(s), n->id, up->snapshot->index, up->snapshot->term, data.chain);
        chain_reset(n, up->snapshot->index, data.chain);
    }
    if (up->n_entries > 0) {
        chain_append(s, n, up->entries, up->n_entries);
    }
    for (i = 0; i < up->n_msgs; i++) {
        sim_net_send(s, n, &up->msgs[i]);
    }
    job_queue(s, n, up);
    for (i = 0; i < up->n_apply; i++) {
        apply_one(s, n, &up->apply[i]);
    }
    take_reads(s, n, up);
    track_commit(s, n, up);
    if (up->compact_index > 0) {
        sim_disk_compact(&n->disk, up->compact_index);
        if (n->store != NULL) {
            sim_store_compact(n->store, up->compact_index, chk(s));
        }
    }
    arm(s, n, up->timeout);
    complete_reads(s, n);
}

int sim_node_step(struct sim *s, struct sim_node *n, struct raft_event *ev, struct raft_update *out)
{
    struct raft_update up;
    bool oom;
    int rv;

    RAFT_ASSERT(n->state == SIM_NODE_UP && n->raft != NULL);
    ev->now = s->now;
    /* Out of memory inside the core drops what was being built, as the
     * network may (raft.h); START and SNAPSHOT_TAKEN are left alone, as a
     * shell would retry them. */
    oom = ev->type != RAFT_EV_START && ev->type != RAFT_EV_SNAPSHOT_TAKEN &&
          s->phase == SIM_PHASE_CHAOS && sim_world_chance(s, s->p.oom_pm);
    if (oom) {
        long k = (long)sim_world_range(s, 1, 4);

        SIM_TRACE(s, "n%llu allocation %ld of the next step fails", LLU(n->id), k);
        sim_util_fail_at(k);
    }
    rv = raft_step(n->raft, ev, &up);
    if (oom) {
        sim_util_fail_at(0);
    }
    carry_out(s, n, &up);
    if (out != NULL) {
        *out = up;
    }
    return rv;
}

/* ---- snapshots taken by the shell ---- */

void sim_node_settle(struct sim *s, struct sim_node *n)
{
    struct raft_event ev = {.type = RAFT_EV_SNAPSHOT_TAKEN};
    struct raft_snapshot_meta meta = {0};
    struct sim_snapdata d = {.magic = SIM_SNAP_MAGIC};
    const struct raft_snapshot_meta *got;
    int rv;

    if (!sim_node_ready(n) || n->install_pending ||
        n->sm.applied < n->disk.snap.index + s->p.snap_every) {
        return;
    }
    meta.index = d.index = n->sm.applied;
    meta.term = d.term = n->sm.applied_term;
    meta.conf = n->sm.conf;
    d.hash = n->sm.hash;
    d.chain = n->sm.chain;
    d.n_normal = n->sm.n_normal;
    if (n->store != NULL && !sim_store_snapshot(n->store, &meta, &d, chk(s))) {
        return;
    }
    sim_disk_snapshot(&n->disk, &meta, &d);
    s->n_snapshots++;
    SIM_TRACE(s, "n%llu snapshot taken at %llu/%llu", LLU(n->id), LLU(meta.index), LLU(meta.term));
    ev.snapshot_taken.index = meta.index;
    rv = sim_node_step(s, n, &ev, NULL);
    got = raft_snapshot_get(n->raft);
    if (rv != 0) {
        sim_check_fail(chk(s), "snapshot refused", "n%llu SNAPSHOT_TAKEN %llu: %s", LLU(n->id),
                       LLU(meta.index), raft_err_name(rv));
    } else if (got->index != meta.index || got->term != meta.term ||
               !raft_conf_equal(&got->conf, &meta.conf)) {
        sim_check_fail(chk(s), "snapshot meta differs",
                       "n%llu took %llu/%llu (%u servers), core says %llu/%llu (%u servers)",
                       LLU(n->id), LLU(meta.index), LLU(meta.term), meta.conf.n, LLU(got->index),
                       LLU(got->term), got->conf.n);
    }
}

/* ---- lifecycle ---- */

static void start_event(struct sim *s, struct sim_node *n, struct raft_event *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->type = RAFT_EV_START;
    ev->start.term = n->disk.term;
    ev->start.vote = n->disk.vote;
    ev->start.commit = n->disk.commit;
    /* The state machine is rebuilt from the snapshot: say so, or say 0. */
    ev->start.applied = sim_world_chance(s, 500) ? n->disk.snap.index : 0;
    ev->start.snapshot = &n->disk.snap;
    ev->start.entries = sim_disk_after_snapshot(&n->disk, &ev->start.n_entries);
}

void sim_node_start(struct sim *s, struct sim_node *n)
{
    struct raft_config cfg = s->p.cfg;
    struct raft_event ev;
    int rv;

    /* The core starts from what the real log recovered (the check of it
     * against disk, on failure, stops the run after this event). */
    if (n->store != NULL) {
        sim_store_open(n->store, &n->disk, chk(s));
    }
    cfg.id = n->id;
    cfg.seed = sim_util_mix(sim_util_mix(s->o.seed, n->id), n->inc);
    if (sim_trace_on(&s->trace)) {
        cfg.trace = sim_trace_core;
        cfg.trace_arg = &s->trace;
    }
#ifdef RAFT_MUTATIONS
    cfg.bug = s->o.bug;
#endif
    rv = raft_new(&cfg, &n->raft);
    RAFT_ASSERT(rv == 0);
    n->state = SIM_NODE_UP;
    n->paused = false;
    n->role = RAFT_FOLLOWER;
    n->term = n->disk.term;
    n->vote = n->disk.vote;
    n->leader = 0;
    n->commit = 0;
    n->job_done_at = s->now;
    sm_load(n, &n->disk.snap, &n->disk.data);
    chain_reset(n, n->disk.snap.index, n->disk.data.chain);
    start_event(s, n, &ev);
    if (ev.start.n_entries > 0 && chain_append(s, n, ev.start.entries, ev.start.n_entries)) {
        chain_check(s, n, ev.start.entries, n->chain, ev.start.n_entries);
    }
    SIM_TRACE(s, "n%llu start inc=%llu term=%llu vote=%llu snapshot=%llu last=%llu commit=%llu",
              LLU(n->id), LLU(n->inc), LLU(n->disk.term), LLU(n->disk.vote),
              LLU(n->disk.snap.index), LLU(sim_disk_last_index(&n->disk)), LLU(n->disk.commit));
    rv = sim_node_step(s, n, &ev, NULL);
    if (rv != 0) {
        sim_check_fail(chk(s), "start refused", "n%llu START: %s", LLU(n->id), raft_err_name(rv));
    }
}

void sim_node_crash(struct sim *s, struct sim_node *n)
{
    size_t i;

    raft_destroy(n->raft);
    n->raft = NULL;
    if (n->store != NULL) {
        bool power = raft_rand_chance(&s->store_rng, s->p.power_pm) != 0;

        sim_store_crash(n->store, power);
        SIM_TRACE(s, "n%llu storage: %s", LLU(n->id),
                  power ? "power loss, unflushed writes undone" : "page cache survives");
    }
    for (i = 0; i < n->n_jobs; i++) {
        job_free(&n->jobs[n->job_head + i]);
    }
    n->n_jobs = 0;
    n->job_head = 0;
    n->install_pending = false;
    for (i = 0; i < n->n_deferred; i++) {
        sim_net_msg_free(n->deferred[i].msg);
    }
    n->n_deferred = 0;
    n->n_props = 0;
    n->n_reads = 0;
    memset(&n->sm, 0, sizeof n->sm);
    chain_reset(n, 0, 0);
    n->inc++;
    n->state = SIM_NODE_DOWN;
    n->paused = false;
    n->role = RAFT_FOLLOWER;
    n->leader = 0;
    n->commit = 0;
    n->probe_seen = false;
    SIM_TRACE(s, "n%llu CRASH (durable: term=%llu vote=%llu last=%llu)", LLU(n->id),
              LLU(n->disk.term), LLU(n->disk.vote), LLU(sim_disk_last_index(&n->disk)));
}

void sim_node_stop(struct sim *s, struct sim_node *n)
{
    if (n->state == SIM_NODE_UP) {
        sim_node_crash(s, n);
    }
    n->state = SIM_NODE_GONE;
    n->stop_pending = false;
    SIM_TRACE(s, "n%llu removed: stopped for good", LLU(n->id));
}

void sim_node_pause(struct sim *s, struct sim_node *n)
{
    n->paused = true;
    SIM_TRACE(s, "n%llu PAUSE", LLU(n->id));
}

void sim_node_unpause(struct sim *s, struct sim_node *n)
{
    size_t i;

    n->paused = false;
    for (i = 0; i < n->n_deferred; i++) {
        struct sim_event ev = n->deferred[i];

        ev.at = s->now;
        sim_world_push(s, &ev);
    }
    SIM_TRACE(s, "n%llu UNPAUSE (%zu events waited)", LLU(n->id), n->n_deferred);
    n->n_deferred = 0;
}

bool sim_node_ready(const struct sim_node *n)
{
    return n != NULL && n->state == SIM_NODE_UP && !n->paused;
}

/* ---- events and client requests ---- */

static bool stale(const struct sim_node *n, const struct sim_event *ev)
{
    if (n == NULL || n->state != SIM_NODE_UP) {
        return true;
    }
    if (ev->type == SIM_EV_DELIVER) {
        return false; /* a message reaches whichever incarnation is up */
    }
    return ev->inc != n->inc || (ev->type == SIM_EV_TIMEOUT && ev->a != n->timer_gen);
}

static void defer(struct sim_node *n, struct sim_event *ev)
{
    sim_util_reserve((void **)&n->deferred, &n->cap_deferred, n->n_deferred + 1,
                     sizeof *n->deferred);
    n->deferred[n->n_deferred] = *ev;
    n->deferred[n->n_deferred].flag = true; /* DELIVER: past the network already */
    n->n_deferred++;
    ev->msg = NULL;
}

static void internal_step(struct sim *s, struct sim_node *n, struct raft_event *ev,
                          const char *what)
{
    int rv = sim_node_step(s, n, ev, NULL);

    if (rv != 0 && rv != RAFT_ENOMEM) {
        sim_check_fail(chk(s), "event refused", "n%llu %s: %s", LLU(n->id), what,
                       raft_err_name(rv));
    }
}

void sim_node_event(struct sim *s, struct sim_event *ev)
{
    struct sim_node *n = sim_world_node(s, ev->node);
    struct raft_event rev = {0};

    if (stale(n, ev)) {
        sim_net_msg_free(ev->msg);
        ev->msg = NULL;
        return;
    }
    if (n->paused) {
        defer(n, ev);
        return;
    }
    switch (ev->type) {
    case SIM_EV_DELIVER:
        rev.type = RAFT_EV_RECEIVE;
        rev.receive.msg = ev->msg;
        internal_step(s, n, &rev, "RECEIVE");
        sim_net_msg_free(ev->msg);
        ev->msg = NULL;
        break;
    case SIM_EV_PERSISTED:
        if (n->store != NULL) {
            job_write(s, n, ev->a);
        } else {
            job_done(s, n, ev->a);
        }
        break;
    case SIM_EV_SYNC:
        job_sync(s, n);
        break;
    case SIM_EV_TIMEOUT:
        rev.type = RAFT_EV_TIMEOUT;
        internal_step(s, n, &rev, "TIMEOUT");
        break;
    case SIM_EV_SNAP_SENT:
        rev.type = RAFT_EV_SNAPSHOT_SENT;
        rev.snapshot_sent.to = ev->a;
        rev.snapshot_sent.ok = ev->b != 0;
        internal_step(s, n, &rev, "SNAPSHOT_SENT");
        break;
    default:
        RAFT_UNREACHABLE();
    }
    sim_node_settle(s, n);
}

/* Check the entries the leader appended for us carry our data. */
static void check_submitted(struct sim *s, struct sim_node *n, const struct raft_update *up,
                            const struct raft_buf *bufs, size_t n_bufs)
{
    size_t i;

    for (i = 0; i < n_bufs; i++) {
        const struct raft_entry *e = raft_entry_at(n->raft, up->submit_index + i);
        struct raft_entry want = {.term = up->term, .type = RAFT_ENTRY_NORMAL, .data = bufs[i]};

        if (e == NULL || sim_check_entry_hash(e) != sim_check_entry_hash(&want)) {
            sim_check_fail(chk(s), "submit", "n%llu: entry %llu is not the one submitted",
                           LLU(n->id), LLU(up->submit_index + i));
            return;
        }
        sim_util_reserve((void **)&n->props, &n->cap_props, n->n_props + 1, sizeof *n->props);
        n->props[n->n_props].index = e->index;
        n->props[n->n_props].term = e->term;
        n->props[n->n_props].hash = sim_check_entry_hash(e);
        n->n_props++;
    }
}

int sim_node_submit(struct sim *s, struct sim_node *n, const struct raft_buf *bufs, size_t n_bufs)
{
    struct raft_event ev = {.type = RAFT_EV_SUBMIT};
    struct raft_update up;
    int rv;

    ev.submit.data = bufs;
    ev.submit.n = n_bufs;
    rv = sim_node_step(s, n, &ev, &up);
    if (rv == 0) {
        check_submitted(s, n, &up, bufs, n_bufs);
        SIM_TRACE(s, "n%llu submit %zu at %llu term=%llu", LLU(n->id), n_bufs, LLU(up.submit_index),
                  LLU(up.term));
    } else {
        SIM_TRACE(s, "n%llu submit %zu: %s", LLU(n->id), n_bufs, raft_err_name(rv));
    }
    sim_node_settle(s, n);
    return rv;
}

int sim_node_read(struct sim *s, struct sim_node *n)
{
    struct raft_event ev = {.type = RAFT_EV_READ_INDEX};
    struct sim_read *rd;
    uint64_t id = ++s->next_read;
    size_t k;
    int rv;

    sim_util_reserve((void **)&n->reads, &n->cap_reads, n->n_reads + 1, sizeof *n->reads);
    rd = &n->reads[n->n_reads++];
    memset(rd, 0, sizeof *rd);
    rd->id = id;
    rd->min_index = chk(s)->max_acked;
    ev.read_index.id = id;
    rv = sim_node_step(s, n, &ev, NULL);
    if (rv != 0) {
        for (k = 0; k < n->n_reads; k++) {
            if (n->reads[k].id == id) {
                n->reads[k] = n->reads[--n->n_reads];
                break;
            }
        }
    }
    SIM_TRACE(s, "n%llu read %llu asked: %s", LLU(n->id), LLU(id),
              rv == 0 ? "ok" : raft_err_name(rv));
    sim_node_settle(s, n);
    return rv;
}

struct sim_node *sim_node_new(struct sim *s, raft_id id, const struct raft_conf *conf)
{
    struct sim_node *n = sim_util_calloc(1, sizeof *n);

    n->id = id;
    (void)snprintf(n->address, sizeof n->address, "n%llu", LLU(id));
    sim_disk_init(&n->disk, conf);
    if (s->o.storage) {
        n->store = sim_store_new(s->store_root, id, s->p.segment_size, s->p.preallocate,
                                 raft_rand_next(&s->store_rng));
    }
    n->state = SIM_NODE_DOWN;
    RAFT_ASSERT(id <= SIM_MAX_IDS && s->nodes[id] == NULL);
    s->nodes[id] = n;
    if (id > s->n_ids) {
        s->n_ids = id;
    }
    sim_node_start(s, n);
    return n;
}

void sim_node_free(struct sim_node *n)
{
    size_t i;

    if (n == NULL) {
        return;
    }
    raft_destroy(n->raft);
    for (i = 0; i < n->n_jobs; i++) {
        job_free(&n->jobs[n->job_head + i]);
    }
    for (i = 0; i < n->n_deferred; i++) {
        sim_net_msg_free(n->deferred[i].msg);
    }
    sim_util_free(n->jobs);
    sim_util_free(n->deferred);
    sim_util_free(n->props);
    sim_util_free(n->reads);
    sim_util_free(n->chain);
    sim_disk_close(&n->disk);
    sim_store_free(n->store);
    sim_util_free(n);
}
