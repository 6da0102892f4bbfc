/* SPDX-License-Identifier: MIT */
/* raft: the entry point of the core. raft_step() validates an event,
 * dispatches it to election.c, replication.c, membership.c or read.c, and
 * assembles the update. Also construction, introspection and tracing.
 *
 * Design notes
 *  1. Every output of a step is collected in r->out_* and turned into the
 *     raft_update by finish(); views into the log are resolved only there,
 *     because the log array may move while the step runs.
 *  2. A message is sent "after persist" when it acknowledges entries or a
 *     vote, or asks for votes, or when the hard state changed in this step:
 *     a peer must never learn of a term, vote or entry we could forget.
 *  3. Entries go to apply only up to min(commit, persisted): the state
 *     machine never runs ahead of the local disk.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "raft/base/alloc.h"
#include "raft/base/assert.h"
#include "raft/raft_internal.h"

void raft_config_default(struct raft_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->election_timeout_ms = 1000;
    cfg->heartbeat_ms = 100;
    cfg->max_inflight = 64;
    cfg->max_msg_entries = 512;
    cfg->max_msg_bytes = 1024 * 1024;
    cfg->snapshot_trailing = 4096;
    cfg->promote_max_lag = 1000;
    cfg->pre_vote = true;
    cfg->check_quorum = true;
}

static int check_config(const struct raft_config *cfg)
{
    if (cfg->id == 0 || cfg->election_timeout_ms == 0 || cfg->heartbeat_ms == 0 ||
        cfg->heartbeat_ms >= cfg->election_timeout_ms || cfg->max_inflight == 0 ||
        cfg->max_inflight > 65536 || cfg->max_msg_entries == 0 || cfg->max_msg_bytes == 0) {
        return RAFT_EINVAL;
    }
#ifdef RAFT_MUTATIONS
    if (cfg->bug >= RAFT_BUG_N) {
        return RAFT_EINVAL;
    }
#endif
    return 0;
}

int raft_new(const struct raft_config *cfg, struct raft **out)
{
    struct raft *r;
    int rv = check_config(cfg);

    if (rv != 0) {
        return rv;
    }
    r = raft_calloc(1, sizeof *r);
    if (r == NULL) {
        return RAFT_ENOMEM;
    }
    r->cfg = *cfg;
    r->inflight_pool =
        raft_calloc((size_t)RAFT_MAX_SERVERS * cfg->max_inflight, sizeof *r->inflight_pool);
    if (r->inflight_pool == NULL) {
        raft_free(r);
        return RAFT_ENOMEM;
    }
    raft_rand_seed(&r->rng, cfg->seed ^ (cfg->id * 0x9e3779b97f4a7c15ULL));
    raft_log_init(&r->log, 0, 0);
    *out = r;
    return 0;
}

void raft_destroy(struct raft *r)
{
    if (r == NULL) {
        return;
    }
    raft_log_close(&r->log);
    raft_vec_free(&r->reads);
    raft_vec_free(&r->fwd_reads);
    raft_vec_free(&r->out_msgs);
    raft_vec_free(&r->out_after);
    raft_vec_free(&r->out_msg_first);
    raft_vec_free(&r->out_reads);
    raft_free(r->inflight_pool);
    raft_free(r);
}

int raft_vec_push(struct raft_vec *v, const void *item, size_t size)
{
    if (v->n == v->cap) {
        size_t cap = v->cap == 0 ? 16 : v->cap * 2;
        void *items = raft_realloc(v->items, cap * size);

        if (items == NULL) {
            return RAFT_ENOMEM;
        }
        v->items = items;
        v->cap = cap;
    }
    memcpy((char *)v->items + v->n * size, item, size);
    v->n++;
    return 0;
}

void raft_vec_free(struct raft_vec *v)
{
    raft_free(v->items);
    memset(v, 0, sizeof *v);
}

void raft_trace(struct raft *r, const char *fmt, ...)
{
    char buf[256];
    va_list ap;

    if (r->cfg.trace == NULL) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    r->cfg.trace(r->cfg.trace_arg, r->cfg.id, r->now, buf);
}

/* Does m have to wait until this step's persistence is done (note 2)? */
static bool needs_persist(const struct raft *r, const struct raft_msg *m)
{
    switch (m->type) {
    case RAFT_MSG_VOTE_RESP:
        return !RAFT_BUG(r, RAFT_BUG_VOTE_NO_PERSIST);
    case RAFT_MSG_APPEND_RESP:
    case RAFT_MSG_VOTE:
        return true;
    default:
        return false;
    }
}

/* Queue m for sending. Entries are copied as a reference to the log (note
 * 1). A message that cannot be queued for lack of memory is dropped, as the
 * network may drop it. */
void raft_send(struct raft *r, const struct raft_msg *m)
{
    struct raft_vec *v = needs_persist(r, m) ? &r->out_after : &r->out_msgs;
    raft_index first = m->n_entries > 0 ? m->entries[0].index : 0;
    struct raft_msg copy = *m;

    RAFT_ASSERT(m->to != 0 && m->to != r->cfg.id);
    copy.from = r->cfg.id;
    copy.entries = NULL;
    if (v == &r->out_msgs) {
        if (raft_vec_push(&r->out_msg_first, &first, sizeof first) != 0) {
            return;
        }
        if (raft_vec_push(v, &copy, sizeof copy) != 0) {
            r->out_msg_first.n--;
        }
        return;
    }
    RAFT_ASSERT(m->n_entries == 0);
    (void)raft_vec_push(v, &copy, sizeof copy);
}

bool raft_is_voter(const struct raft *r, raft_id id)
{
    const struct raft_server *s = raft_conf_find(&r->conf, id);

    return s != NULL && s->role == RAFT_VOTER;
}

unsigned raft_quorum(const struct raft *r)
{
    return raft_conf_n_voters(&r->conf) / 2 + 1;
}

void raft_emit_read(struct raft *r, uint64_t id, raft_index index, int status)
{
    struct raft_read rd = {.id = id, .index = index, .status = status};

    (void)raft_vec_push(&r->out_reads, &rd, sizeof rd);
}

static int check_start(const struct raft *r, const struct raft_event *ev)
{
    const struct raft_snapshot_meta *snap = ev->start.snapshot;
    raft_index want;
    raft_term prev_term;
    size_t i;

    if (r->started || snap == NULL || ev->start.term < snap->term) {
        return RAFT_EINVAL;
    }
    want = snap->index + 1;
    prev_term = snap->term;
    for (i = 0; i < ev->start.n_entries; i++) {
        const struct raft_entry *e = &ev->start.entries[i];

        if (e->index != want || e->term < prev_term || e->term > ev->start.term) {
            return RAFT_EINVAL;
        }
        want++;
        prev_term = e->term;
    }
    return 0;
}

static int start(struct raft *r, const struct raft_event *ev)
{
    const struct raft_snapshot_meta *snap = ev->start.snapshot;
    raft_index last;
    size_t i;
    int rv = check_start(r, ev);

    if (rv != 0) {
        return rv;
    }
    raft_log_reset(&r->log, snap->index, snap->term);
    r->snapshot = *snap;
    r->conf = snap->conf;
    r->conf_index = snap->index;
    for (i = 0; i < ev->start.n_entries; i++) {
        rv = raft_log_append(&r->log, &ev->start.entries[i]);
        if (rv != 0) {
            raft_log_reset(&r->log, 0, 0);
            return rv;
        }
    }
    raft_conf_recompute(r);
    r->term = ev->start.term;
    r->vote = ev->start.vote;
    r->out_term = r->term;
    r->out_vote = r->vote;
    last = raft_log_last_index(&r->log);
    r->persisted = last;
    r->unstable_from = last + 1;
    r->commit = ev->start.commit > snap->index ? ev->start.commit : snap->index;
    r->applying = ev->start.applied > snap->index ? ev->start.applied : snap->index;
    if (r->applying > r->commit) {
        r->commit = r->applying; /* only committed entries are ever applied */
    }
    if (r->commit > last) {
        r->commit = last;
        if (r->applying > last) {
            r->applying = last;
        }
    }
    r->role = RAFT_FOLLOWER;
    r->leader = 0;
    r->started = true;
    raft_reset_election_timer(r);
    r->out_conf_changed = true;
    raft_trace(r, "start term=%llu vote=%llu snapshot=%llu last=%llu commit=%llu voters=%u",
               (unsigned long long)r->term, (unsigned long long)r->vote,
               (unsigned long long)snap->index, (unsigned long long)last,
               (unsigned long long)r->commit, raft_conf_n_voters(&r->conf));
    return 0;
}

/* Validate a received message; the core never trusts bytes from peers. */
static bool msg_valid(const struct raft *r, const struct raft_msg *m)
{
    uint32_t i;

    if (m->to != r->cfg.id || m->from == 0 || m->from == r->cfg.id || m->type < RAFT_MSG_APPEND ||
        m->type > RAFT_MSG_READ_INDEX_RESP) {
        return false;
    }
    if (m->n_entries > 0 && (m->type != RAFT_MSG_APPEND || m->entries == NULL)) {
        return false;
    }
    for (i = 0; i < m->n_entries; i++) {
        const struct raft_entry *e = &m->entries[i];
        raft_term prev = i == 0 ? m->log_term : m->entries[i - 1].term;

        if (e->index != m->index + i + 1 || e->term < prev || e->term > m->term ||
            e->type < RAFT_ENTRY_NORMAL || e->type > RAFT_ENTRY_CONF ||
            (e->data.len > 0 && e->data.base == NULL)) {
            return false;
        }
    }
    if (m->type == RAFT_MSG_SNAPSHOT &&
        (m->snapshot == NULL || m->snapshot->conf.n > RAFT_MAX_SERVERS)) {
        return false;
    }
    return true;
}

/* Term handling common to all messages (Raft section 5.1, with pre-vote and
 * the leader lease of check-quorum). Returns false when m is done with. */
static bool step_term(struct raft *r, const struct raft_msg *m)
{
    if (m->term > r->term) {
        bool campaign = m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PREVOTE;
        /* A leader is in its own lease: check-quorum deposes it if it
         * loses a majority, a stray candidate must not. */
        bool in_lease =
            r->cfg.check_quorum &&
            (r->role == RAFT_LEADER ||
             (r->leader != 0 && r->now < r->last_leader_contact + r->cfg.election_timeout_ms));

        if (campaign && in_lease && !m->transfer) {
            raft_trace(r, "ignore %s from %llu term=%llu: leader lease",
                       raft_msg_type_name(m->type), (unsigned long long)m->from,
                       (unsigned long long)m->term);
            return false;
        }
        if (m->type == RAFT_MSG_PREVOTE || (m->type == RAFT_MSG_PREVOTE_RESP && !m->reject)) {
            return true; /* a pre-vote never changes terms */
        }
        if (m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT ||
            m->type == RAFT_MSG_SNAPSHOT) {
            raft_become_follower(r, m->term, m->from);
        } else {
            raft_become_follower(r, m->term, 0);
        }
        return true;
    }
    if (m->term < r->term) {
        struct raft_msg resp = {.to = m->from, .term = r->term};

        if (m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT) {
            /* Tell a stale leader (perhaps cut off, then back) of our term,
             * or it may never step down while pre-vote keeps us quiet. */
            resp.type = RAFT_MSG_APPEND_RESP;
            resp.index = m->index;
            resp.reject = true;
            resp.hint_index = raft_log_last_index(&r->log) + 1;
            raft_send(r, &resp);
        } else if (m->type == RAFT_MSG_PREVOTE) {
            resp.type = RAFT_MSG_PREVOTE_RESP;
            resp.reject = true;
            raft_send(r, &resp);
        }
        return false;
    }
    return true;
}

static void step_receive(struct raft *r, const struct raft_msg *m)
{
    if (!msg_valid(r, m)) {
        raft_trace(r, "drop invalid message type=%u from=%llu", m->type,
                   (unsigned long long)m->from);
        return;
    }
    if (!step_term(r, m)) {
        return;
    }
    switch (m->type) {
    case RAFT_MSG_VOTE:
    case RAFT_MSG_PREVOTE:
        raft_handle_vote(r, m);
        break;
    case RAFT_MSG_VOTE_RESP:
    case RAFT_MSG_PREVOTE_RESP:
        raft_handle_vote_resp(r, m);
        break;
    case RAFT_MSG_APPEND:
        raft_handle_append(r, m);
        break;
    case RAFT_MSG_APPEND_RESP:
        raft_handle_append_resp(r, m);
        break;
    case RAFT_MSG_HEARTBEAT:
        raft_handle_heartbeat(r, m);
        break;
    case RAFT_MSG_HEARTBEAT_RESP:
        raft_handle_heartbeat_resp(r, m);
        break;
    case RAFT_MSG_SNAPSHOT:
        raft_handle_snapshot(r, m);
        break;
    case RAFT_MSG_TIMEOUT_NOW:
        if (r->role != RAFT_LEADER && raft_is_voter(r, r->cfg.id)) {
            raft_trace(r, "timeout-now from %llu", (unsigned long long)m->from);
            raft_campaign(r, false, true);
        }
        break;
    case RAFT_MSG_READ_INDEX:
        raft_handle_read_index(r, m);
        break;
    case RAFT_MSG_READ_INDEX_RESP:
        raft_handle_read_index_resp(r, m);
        break;
    default:
        RAFT_UNREACHABLE();
    }
}

static int submit(struct raft *r, const struct raft_event *ev)
{
    size_t i;
    int rv;

    if (r->role != RAFT_LEADER) {
        return RAFT_ENOTLEADER;
    }
    if (r->transferee != 0) {
        return RAFT_EBUSY;
    }
    if (ev->submit.n == 0 || ev->submit.n > r->cfg.max_msg_entries) {
        return ev->submit.n == 0 ? RAFT_EINVAL : RAFT_ETOOBIG;
    }
    for (i = 0; i < ev->submit.n; i++) {
        rv = raft_append_local(r, RAFT_ENTRY_NORMAL, &ev->submit.data[i]);
        if (rv != 0) {
            /* Entries already appended stay: each is a valid proposal. */
            break;
        }
        if (i == 0) {
            r->out_submit = raft_log_last_index(&r->log);
        }
    }
    if (i > 0) {
        raft_broadcast_append(r, false);
    }
    return i == ev->submit.n ? 0 : rv;
}

static void persisted(struct raft *r, raft_index index, raft_term term)
{
    raft_term t;

    if (!raft_log_term(&r->log, index, &t) || t != term || index >= r->unstable_from ||
        index <= r->persisted) {
        return; /* stale: that write was overtaken by a truncation */
    }
    r->persisted = index;
    if (r->role == RAFT_LEADER) {
        raft_maybe_commit(r);
    }
}

static int dispatch(struct raft *r, const struct raft_event *ev)
{
    switch (ev->type) {
    case RAFT_EV_RECEIVE:
        if (ev->receive.msg == NULL) {
            return RAFT_EINVAL;
        }
        step_receive(r, ev->receive.msg);
        return 0;
    case RAFT_EV_TIMEOUT:
        return raft_election_tick(r);
    case RAFT_EV_PERSISTED:
        persisted(r, ev->persisted.index, ev->persisted.term);
        return 0;
    case RAFT_EV_SUBMIT:
        return submit(r, ev);
    case RAFT_EV_CONF_CHANGE:
        return raft_conf_change(r, ev->conf_change.op, ev->conf_change.id, ev->conf_change.address);
    case RAFT_EV_TRANSFER:
        return raft_transfer(r, ev->transfer.to);
    case RAFT_EV_READ_INDEX:
        return raft_read_index(r, ev->read_index.id, 0);
    case RAFT_EV_SNAPSHOT_TAKEN:
        return raft_snapshot_taken(r, ev->snapshot_taken.index);
    case RAFT_EV_SNAPSHOT_SENT:
        raft_snapshot_sent(r, ev->snapshot_sent.to, ev->snapshot_sent.ok);
        return 0;
    case RAFT_EV_CAMPAIGN:
        if (r->role == RAFT_LEADER || !raft_is_voter(r, r->cfg.id)) {
            return RAFT_EINVAL;
        }
        raft_campaign(r, r->cfg.pre_vote, false);
        return 0;
    default:
        return RAFT_EINVAL;
    }
}

static raft_time next_timeout(const struct raft *r)
{
    raft_time t = r->election_deadline;
    size_t i;

    if (r->role == RAFT_LEADER) {
        t = r->heartbeat_deadline;
        if (r->cfg.check_quorum && r->quorum_deadline < t) {
            t = r->quorum_deadline;
        }
        if (r->transferee != 0 && r->transfer_deadline < t) {
            t = r->transfer_deadline;
        }
    }
    for (i = 0; i < r->fwd_reads.n; i++) {
        const struct raft_pending_read *p = (struct raft_pending_read *)r->fwd_reads.items + i;

        if (p->deadline < t) {
            t = p->deadline;
        }
    }
    return t;
}

/* With a changed hard state every message waits for it (note 2). Messages
 * that carry views into the log cannot wait (the views die with the step):
 * they are dropped, as a network may drop them, and the follower is probed
 * again. This happens only to a single-voter cluster's new leader. */
static void hold_all(struct raft *r)
{
    struct raft_msg *msgs = r->out_msgs.items;
    size_t i;

    for (i = 0; i < r->out_msgs.n; i++) {
        if (msgs[i].n_entries > 0 || msgs[i].type == RAFT_MSG_SNAPSHOT) {
            raft_trace(r, "drop %s to %llu: hard state not yet durable",
                       raft_msg_type_name(msgs[i].type), (unsigned long long)msgs[i].to);
            if (msgs[i].type == RAFT_MSG_SNAPSHOT) {
                raft_snapshot_sent(r, msgs[i].to, false);
            }
            continue;
        }
        (void)raft_vec_push(&r->out_after, &msgs[i], sizeof msgs[i]);
    }
    r->out_msgs.n = 0;
}

/* Assemble the update from the step's outputs (design note 1). */
static void finish(struct raft *r, struct raft_update *up)
{
    raft_index last = raft_log_last_index(&r->log);
    raft_index target = r->commit < r->persisted ? r->commit : r->persisted;
    struct raft_msg *msgs = r->out_msgs.items;
    const raft_index *first = r->out_msg_first.items;
    size_t i;

    memset(up, 0, sizeof *up);
    up->hs_changed = r->term != r->out_term || r->vote != r->out_vote;
    up->term = r->out_term = r->term;
    up->vote = r->out_vote = r->vote;
    up->commit = r->commit;
    if (r->install_snapshot) {
        up->snapshot = &r->snapshot;
        up->snapshot_data = r->install_data;
    }
    if (last >= r->unstable_from) {
        up->entries = raft_log_get(&r->log, r->unstable_from);
        up->n_entries = (size_t)(last - r->unstable_from + 1);
        r->unstable_from = last + 1;
    }
    for (i = 0; i < r->out_msgs.n; i++) {
        if (msgs[i].n_entries > 0) {
            msgs[i].entries = raft_log_get(&r->log, first[i]);
            RAFT_ASSERT(msgs[i].entries != NULL &&
                        first[i] + msgs[i].n_entries - 1 <= raft_log_last_index(&r->log));
        }
        if (msgs[i].type == RAFT_MSG_SNAPSHOT) {
            msgs[i].snapshot = &r->snapshot;
        }
    }
    if (up->hs_changed && !RAFT_BUG(r, RAFT_BUG_VOTE_NO_PERSIST)) {
        hold_all(r);
    }
    up->msgs = r->out_msgs.items;
    up->n_msgs = r->out_msgs.n;
    up->msgs_after = r->out_after.items;
    up->n_msgs_after = r->out_after.n;
    if (target > r->applying) {
        up->apply = raft_log_get(&r->log, r->applying + 1);
        up->n_apply = (size_t)(target - r->applying);
        RAFT_ASSERT(up->apply != NULL);
        r->applying = target;
    }
    up->reads = r->out_reads.items;
    up->n_reads = r->out_reads.n;
    up->compact_index = r->out_compact;
    up->submit_index = r->out_submit;
    up->timeout = next_timeout(r);
    up->role = r->role;
    up->leader = r->leader;
    up->conf_changed = r->out_conf_changed;
}

int raft_step(struct raft *r, const struct raft_event *ev, struct raft_update *up)
{
    int rv;

    raft_log_empty_trash(&r->log);
    r->out_msgs.n = 0;
    r->out_after.n = 0;
    r->out_msg_first.n = 0;
    r->out_reads.n = 0;
    r->out_conf_changed = false;
    r->out_compact = 0;
    r->out_submit = 0;
    r->install_snapshot = false;
    if (ev->now > r->now) {
        r->now = ev->now;
    }
    if (ev->type == RAFT_EV_START) {
        rv = start(r, ev);
    } else if (!r->started) {
        rv = RAFT_EINVAL;
    } else {
        rv = dispatch(r, ev);
    }
    finish(r, up);
    RAFT_DASSERT(r->commit <= raft_log_last_index(&r->log));
    RAFT_DASSERT(r->applying <= r->commit);
    return rv;
}

raft_id raft_id_get(const struct raft *r)
{
    return r->cfg.id;
}

enum raft_role raft_role_get(const struct raft *r)
{
    return r->role;
}

raft_term raft_term_get(const struct raft *r)
{
    return r->term;
}

raft_id raft_leader_get(const struct raft *r)
{
    return r->leader;
}

raft_index raft_commit_get(const struct raft *r)
{
    return r->commit;
}

raft_index raft_applying_get(const struct raft *r)
{
    return r->applying;
}

raft_index raft_persisted_get(const struct raft *r)
{
    return r->persisted;
}

raft_index raft_first_index(const struct raft *r)
{
    return r->log.offset + 1;
}

raft_index raft_last_index(const struct raft *r)
{
    return raft_log_last_index(&r->log);
}

raft_term raft_last_term(const struct raft *r)
{
    return raft_log_last_term(&r->log);
}

const struct raft_snapshot_meta *raft_snapshot_get(const struct raft *r)
{
    return &r->snapshot;
}

const struct raft_conf *raft_conf_get(const struct raft *r)
{
    return &r->conf;
}

raft_term raft_term_at(const struct raft *r, raft_index index)
{
    raft_term t = 0;

    if (!raft_log_term(&r->log, index, &t) && index == r->snapshot.index) {
        t = r->snapshot.term;
    }
    return t;
}

const struct raft_entry *raft_entry_at(const struct raft *r, raft_index index)
{
    return raft_log_get(&r->log, index);
}

int raft_progress_get(const struct raft *r, raft_id id, raft_index *match, raft_index *next)
{
    unsigned i;

    if (r->role != RAFT_LEADER) {
        return RAFT_ENOTLEADER;
    }
    for (i = 0; i < r->n_prs; i++) {
        if (r->prs[i].id == id) {
            *match = r->prs[i].match;
            *next = r->prs[i].next;
            return 0;
        }
    }
    return RAFT_ENOTFOUND;
}

const char *raft_role_name(enum raft_role role)
{
    switch (role) {
    case RAFT_FOLLOWER:
        return "follower";
    case RAFT_PRECANDIDATE:
        return "precandidate";
    case RAFT_CANDIDATE:
        return "candidate";
    case RAFT_LEADER:
        return "leader";
    default:
        return "?";
    }
}

const char *raft_msg_type_name(uint8_t type)
{
    static const char *const names[] = {
        "?",           "APPEND",       "APPEND_RESP",     "VOTE",           "VOTE_RESP",
        "PREVOTE",     "PREVOTE_RESP", "HEARTBEAT",       "HEARTBEAT_RESP", "SNAPSHOT",
        "TIMEOUT_NOW", "READ_INDEX",   "READ_INDEX_RESP",
    };

    return type < sizeof names / sizeof names[0] ? names[type] : "?";
}
