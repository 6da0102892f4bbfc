/* SPDX-License-Identifier: MIT */
/* replication: log replication, commitment and snapshots (Raft sections 5.3,
 * 5.4, 7), with per-follower flow control.
 *
 * Design notes
 *  1. Per follower the leader is in one of three states:
 *
 *      PROBE --APPEND_RESP accepted--> REPLICATE      (handle_append_resp)
 *      REPLICATE --APPEND_RESP rejected--> PROBE      (handle_append_resp)
 *      PROBE/REPLICATE --entries compacted--> SNAPSHOT (send_snapshot)
 *      SNAPSHOT --SNAPSHOT_SENT / accepted--> PROBE / REPLICATE
 *
 *     PROBE sends one AppendEntries and waits (probe_sent) for an answer or
 *     a heartbeat response; REPLICATE pipelines up to max_inflight.
 *  2. match < next always; match only grows while a leader leads.
 *  3. The leader commits index i only when a quorum of voters holds i and
 *     i's term is the current term (section 5.4.2). The leader counts itself
 *     only up to its durable index (r->persisted).
 *  4. A follower never truncates a committed entry (asserted).
 *  5. Back-tracking uses the term hint both ways (the follower returns the
 *     largest index whose term is at most the probe's term; the leader skips
 *     to its own largest such index), so one round trip skips a whole term.
 */
#include <stdlib.h>
#include <string.h>

#include "raft/base/assert.h"
#include "raft/raft_internal.h"

static raft_term term_or_zero(const struct raft *r, raft_index i)
{
    raft_term t = 0;

    (void)raft_log_term(&r->log, i, &t);
    return t;
}

/* Inflight ring: last indexes of unacknowledged AppendEntries. */
static bool in_full(const struct raft *r, const struct raft_progress *pr)
{
    return pr->in_count >= r->cfg.max_inflight;
}

static void in_add(const struct raft *r, struct raft_progress *pr, raft_index last)
{
    RAFT_ASSERT(!in_full(r, pr));
    pr->inflight[(pr->in_start + pr->in_count) % r->cfg.max_inflight] = last;
    pr->in_count++;
}

static void in_free_to(const struct raft *r, struct raft_progress *pr, raft_index upto)
{
    while (pr->in_count > 0 && pr->inflight[pr->in_start] <= upto) {
        pr->in_start = (pr->in_start + 1) % r->cfg.max_inflight;
        pr->in_count--;
    }
}

static void in_free_first(const struct raft *r, struct raft_progress *pr)
{
    if (pr->in_count > 0) {
        pr->in_start = (pr->in_start + 1) % r->cfg.max_inflight;
        pr->in_count--;
    }
}

static void pr_init(struct raft *r, struct raft_progress *pr, raft_id id)
{
    raft_index *ring = pr->inflight;

    memset(pr, 0, sizeof *pr);
    pr->id = id;
    pr->next = raft_log_last_index(&r->log) + 1;
    pr->state = PR_PROBE;
    pr->inflight = ring;
}

/* A member that stays keeps its progress. Its inflight ring lives in the
 * pool at its slot: if the slot moved, the ring is lost and a pipelined
 * follower restarts as a probe from its match. */
static void keep_member(struct raft_progress *pr, const struct raft_progress *old, bool same_slot)
{
    raft_index *ring = pr->inflight;

    *pr = *old;
    pr->inflight = ring;
    if (same_slot) {
        return;
    }
    pr->in_start = 0;
    pr->in_count = 0;
    if (pr->state == PR_REPLICATE) {
        pr->state = PR_PROBE;
        pr->next = pr->match + 1;
        pr->probe_sent = false;
    }
}

/* Rebuild the progress table from r->conf, keeping what is known of members
 * that stay. */
static void progress_rebuild(struct raft *r, bool keep)
{
    struct raft_progress old[RAFT_MAX_SERVERS];
    unsigned n_old = keep ? r->n_prs : 0;
    unsigned i;
    unsigned j;

    memcpy(old, r->prs, sizeof old);
    r->n_prs = 0;
    for (i = 0; i < r->conf.n; i++) {
        raft_id id = r->conf.servers[i].id;
        struct raft_progress *pr;

        if (id == r->cfg.id) {
            continue;
        }
        pr = &r->prs[r->n_prs];
        pr->inflight = r->inflight_pool + (size_t)r->n_prs * r->cfg.max_inflight;
        r->n_prs++;
        for (j = 0; j < n_old && old[j].id != id; j++) {
        }
        if (j == n_old) {
            pr_init(r, pr, id);
            continue;
        }
        keep_member(pr, &old[j], j == r->n_prs - 1);
    }
}

void raft_progress_reset(struct raft *r)
{
    progress_rebuild(r, false);
}

void raft_progress_sync(struct raft *r)
{
    progress_rebuild(r, true);
}

struct raft_progress *raft_progress_find(struct raft *r, raft_id id)
{
    unsigned i;

    for (i = 0; i < r->n_prs; i++) {
        if (r->prs[i].id == id) {
            return &r->prs[i];
        }
    }
    return NULL;
}

static void send_snapshot(struct raft *r, struct raft_progress *pr)
{
    struct raft_msg m = {.type = RAFT_MSG_SNAPSHOT, .to = pr->id, .term = r->term};

    RAFT_ASSERT(r->snapshot.index >= r->log.offset);
    pr->state = PR_SNAPSHOT;
    pr->pending_snapshot = r->snapshot.index;
    pr->in_start = 0;
    pr->in_count = 0;
    m.snapshot = &r->snapshot;
    raft_trace(r, "send snapshot index=%llu to %llu", (unsigned long long)r->snapshot.index,
               (unsigned long long)pr->id);
    raft_send(r, &m);
}

/* Send pr what it needs next, within the limits of its state (note 1). An
 * empty AppendEntries is sent only to probe, or when allow_empty. */
void raft_send_append(struct raft *r, struct raft_progress *pr, bool allow_empty)
{
    struct raft_msg m = {.type = RAFT_MSG_APPEND, .to = pr->id, .term = r->term};
    raft_index last = raft_log_last_index(&r->log);
    raft_index i;
    uint64_t bytes = 0;
    uint32_t n = 0;

    if (pr->state == PR_SNAPSHOT || (pr->state == PR_PROBE && pr->probe_sent) ||
        (pr->state == PR_REPLICATE && in_full(r, pr))) {
        return;
    }
    m.index = pr->next - 1;
    if (!raft_log_term(&r->log, m.index, &m.log_term)) {
        send_snapshot(r, pr);
        return;
    }
    for (i = pr->next; i <= last && n < r->cfg.max_msg_entries; i++) {
        const struct raft_entry *e = raft_log_get(&r->log, i);

        if (n > 0 && bytes + e->data.len > r->cfg.max_msg_bytes) {
            break;
        }
        bytes += e->data.len;
        n++;
    }
    if (n == 0 && !allow_empty && pr->state == PR_REPLICATE) {
        return;
    }
    m.commit = r->commit;
    m.n_entries = n;
    m.entries = n > 0 ? raft_log_get(&r->log, pr->next) : NULL;
    raft_send(r, &m);
    if (pr->state == PR_REPLICATE) {
        if (n > 0) {
            pr->next += n;
            in_add(r, pr, pr->next - 1);
        }
    } else {
        pr->probe_sent = true;
    }
}

void raft_broadcast_append(struct raft *r, bool allow_empty)
{
    unsigned i;

    for (i = 0; i < r->n_prs; i++) {
        raft_send_append(r, &r->prs[i], allow_empty);
    }
}

static void send_heartbeat(struct raft *r, struct raft_progress *pr)
{
    struct raft_msg m = {.type = RAFT_MSG_HEARTBEAT, .to = pr->id, .term = r->term};

    /* Never tell a follower to commit what it may not hold yet. */
    m.commit = pr->match < r->commit ? pr->match : r->commit;
    m.ctx = r->read_round;
    raft_send(r, &m);
}

void raft_broadcast_heartbeat(struct raft *r)
{
    unsigned i;

    for (i = 0; i < r->n_prs; i++) {
        send_heartbeat(r, &r->prs[i]);
    }
}

/* Keep sending to pr while its state allows and there is something new. */
static void send_more(struct raft *r, struct raft_progress *pr)
{
    uint32_t k;

    for (k = 0; k < r->cfg.max_inflight; k++) {
        raft_index next = pr->next;

        if (next > raft_log_last_index(&r->log)) {
            return;
        }
        raft_send_append(r, pr, false);
        if (pr->next == next) {
            return; /* nothing was sent: paused, full or a snapshot */
        }
    }
}

void raft_commit_to(struct raft *r, raft_index index)
{
    raft_index last = raft_log_last_index(&r->log);

    if (index > last) {
        index = last;
    }
    if (index > r->commit) {
        r->commit = index;
    }
}

static int cmp_desc(const void *a, const void *b)
{
    raft_index x = *(const raft_index *)a;
    raft_index y = *(const raft_index *)b;

    return x < y ? 1 : (x > y ? -1 : 0);
}

/* Leader: advance the commit index by counting (note 3). */
void raft_maybe_commit(struct raft *r)
{
    raft_index matches[RAFT_MAX_SERVERS];
    unsigned n = 0;
    unsigned i;
    raft_index idx;

    if (r->role != RAFT_LEADER) {
        return;
    }
    if (raft_is_voter(r, r->cfg.id)) {
        matches[n++] =
            RAFT_BUG(r, RAFT_BUG_LEADER_UNDURABLE) ? raft_log_last_index(&r->log) : r->persisted;
    }
    for (i = 0; i < r->n_prs; i++) {
        if (raft_is_voter(r, r->prs[i].id)) {
            matches[n++] = r->prs[i].match;
        }
    }
    if (n == 0) {
        return;
    }
    qsort(matches, n, sizeof matches[0], cmp_desc);
    idx = matches[n / 2];
    if (idx <= r->commit) {
        return;
    }
    if (term_or_zero(r, idx) != r->term && !RAFT_BUG(r, RAFT_BUG_COMMIT_OLD_TERM)) {
        return;
    }
    r->commit = idx;
    raft_reads_on_commit(r);
    /* Tell followers at once, so their state machines and watches keep up. */
    raft_broadcast_heartbeat(r);
    raft_conf_on_commit(r);
}

int raft_append_local(struct raft *r, uint8_t type, const struct raft_buf *data)
{
    struct raft_entry e = {.term = r->term, .type = type};
    int rv;

    e.index = raft_log_last_index(&r->log) + 1;
    if (data != NULL) {
        e.data = *data;
    }
    rv = raft_log_append(&r->log, &e);
    if (rv != 0) {
        return rv;
    }
    if (type == RAFT_ENTRY_CONF) {
        rv = raft_conf_on_append(r, raft_log_get(&r->log, e.index));
        RAFT_ASSERT(rv == 0); /* the leader encoded it itself */
    }
    return 0;
}

/* Follower: the term hint for a rejected probe at (index, log_term): the
 * largest index <= index whose term is <= log_term (note 5). */
static void reject_hint(const struct raft *r, raft_index index, raft_term log_term,
                        struct raft_msg *resp)
{
    raft_index j = index;
    raft_index last = raft_log_last_index(&r->log);
    raft_term t = 0;

    if (j > last) {
        j = last;
    }
    while (j > r->log.offset && raft_log_term(&r->log, j, &t) && t > log_term) {
        j--;
    }
    (void)raft_log_term(&r->log, j, &t);
    resp->hint_index = j;
    resp->hint_term = t;
}

static void truncate_from(struct raft *r, raft_index from)
{
    RAFT_ASSERT(from > r->commit); /* note 4 */
    raft_trace(r, "truncate log from %llu (last %llu)", (unsigned long long)from,
               (unsigned long long)raft_log_last_index(&r->log));
    raft_log_truncate(&r->log, from);
    if (r->persisted >= from) {
        r->persisted = from - 1;
    }
    if (r->unstable_from > from) {
        r->unstable_from = from;
    }
    if (r->conf_index >= from) {
        raft_conf_recompute(r);
    }
}

static bool conf_entries_valid(const struct raft_msg *m)
{
    struct raft_conf c;
    uint32_t i;

    for (i = 0; i < m->n_entries; i++) {
        if (m->entries[i].type == RAFT_ENTRY_CONF &&
            raft_conf_decode(&m->entries[i].data, &c) != 0) {
            return false;
        }
    }
    return true;
}

/* Follower: append m's entries after a matching (index, log_term). Returns
 * the index of the last entry m made us hold, or 0 when out of memory. */
static raft_index append_entries(struct raft *r, const struct raft_msg *m)
{
    uint32_t i;

    for (i = 0; i < m->n_entries; i++) {
        const struct raft_entry *e = &m->entries[i];
        raft_term t;

        if (!raft_log_term(&r->log, e->index, &t)) {
            break; /* beyond our last: append from here */
        }
        if (t != e->term) {
            if (RAFT_BUG(r, RAFT_BUG_KEEP_CONFLICT)) {
                return m->index + m->n_entries;
            }
            truncate_from(r, e->index);
            break;
        }
    }
    for (; i < m->n_entries; i++) {
        if (raft_log_append(&r->log, &m->entries[i]) != 0) {
            return 0;
        }
        if (m->entries[i].type == RAFT_ENTRY_CONF) {
            (void)raft_conf_on_append(r, &m->entries[i]);
        }
    }
    return m->index + m->n_entries;
}

/* A message from the leader of our term: follow it. */
static void follow(struct raft *r, raft_id from)
{
    if (r->role != RAFT_FOLLOWER || r->leader != from) {
        raft_become_follower(r, r->term, from);
    }
    r->last_leader_contact = r->now;
    raft_reset_election_timer(r);
}

void raft_handle_append(struct raft *r, const struct raft_msg *m)
{
    struct raft_msg resp = {.type = RAFT_MSG_APPEND_RESP, .to = m->from, .term = r->term};
    raft_term t;
    raft_index last_new;

    follow(r, m->from);
    if (m->index < r->commit) {
        resp.index = r->commit; /* already committed here: nothing to check */
        raft_send(r, &resp);
        return;
    }
    if (!raft_log_term(&r->log, m->index, &t) || t != m->log_term) {
        resp.reject = true;
        resp.index = m->index;
        reject_hint(r, m->index, m->log_term, &resp);
        raft_send(r, &resp);
        return;
    }
    if (!conf_entries_valid(m)) {
        raft_trace(r, "drop append from %llu: malformed configuration entry",
                   (unsigned long long)m->from);
        return;
    }
    last_new = append_entries(r, m);
    if (last_new == 0) {
        return; /* out of memory: as if the message was lost */
    }
    raft_commit_to(r, m->commit < last_new ? m->commit : last_new);
    resp.index = last_new;
    raft_send(r, &resp);
}

/* Leader: where to probe next after a rejection (note 5). */
static raft_index probe_next(const struct raft *r, const struct raft_msg *m)
{
    raft_index k = m->hint_index < m->index ? m->hint_index : m->index - 1;
    raft_term t;

    while (raft_log_term(&r->log, k, &t) && t > m->hint_term && k > r->log.offset) {
        k--;
    }
    return k + 1;
}

static void handle_reject(struct raft *r, struct raft_progress *pr, const struct raft_msg *m)
{
    raft_index next;

    if (m->index <= pr->match || pr->state == PR_SNAPSHOT ||
        (pr->state == PR_PROBE && m->index != pr->next - 1)) {
        return; /* stale */
    }
    next = probe_next(r, m);
    if (next <= pr->match) {
        next = pr->match + 1;
    }
    pr->state = PR_PROBE;
    pr->probe_sent = false;
    pr->in_start = 0;
    pr->in_count = 0;
    pr->next = next;
    raft_send_append(r, pr, true);
}

void raft_handle_append_resp(struct raft *r, const struct raft_msg *m)
{
    struct raft_progress *pr = raft_progress_find(r, m->from);

    if (r->role != RAFT_LEADER || pr == NULL) {
        return;
    }
    pr->recent_active = true;
    if (m->reject) {
        handle_reject(r, pr, m);
        return;
    }
    if (m->index > raft_log_last_index(&r->log)) {
        return; /* cannot be ours */
    }
    if (m->index > pr->match) {
        pr->match = m->index;
    } else if (pr->state != PR_PROBE || m->index + 1 < pr->next) {
        /* A duplicate or reordered acknowledgement that adds nothing: do not
         * restart the send window on it (that multiplied traffic). */
        return;
    }
    in_free_to(r, pr, m->index);
    /* A probe is answered when the reply covers its prev index (next - 1);
     * an older reply only raises match. */
    if ((pr->state == PR_PROBE && m->index + 1 >= pr->next) ||
        (pr->state == PR_SNAPSHOT && pr->match >= pr->pending_snapshot)) {
        pr->state = PR_REPLICATE;
        pr->probe_sent = false;
        pr->next = pr->match + 1;
        pr->in_start = 0;
        pr->in_count = 0;
    } else if (pr->next <= pr->match) {
        pr->next = pr->match + 1;
    }
    raft_maybe_commit(r);
    if (r->role != RAFT_LEADER) {
        return; /* a committed removal of ourselves */
    }
    raft_transfer_check(r, pr);
    send_more(r, pr);
}

void raft_handle_heartbeat(struct raft *r, const struct raft_msg *m)
{
    struct raft_msg resp = {.type = RAFT_MSG_HEARTBEAT_RESP, .to = m->from, .term = r->term};

    follow(r, m->from);
    raft_commit_to(r, m->commit);
    resp.ctx = m->ctx;
    raft_send(r, &resp);
}

void raft_handle_heartbeat_resp(struct raft *r, const struct raft_msg *m)
{
    struct raft_progress *pr = raft_progress_find(r, m->from);

    if (r->role != RAFT_LEADER || pr == NULL) {
        return;
    }
    pr->recent_active = true;
    pr->probe_sent = false;
    if (pr->state == PR_REPLICATE && in_full(r, pr)) {
        in_free_first(r, pr); /* a lost append must not stall the pipeline */
    }
    if (m->ctx > pr->read_ack) {
        pr->read_ack = m->ctx;
        raft_reads_on_ack(r);
    }
    if (pr->match < raft_log_last_index(&r->log)) {
        /* Possibly empty: if the follower lacks next - 1 (appends were
         * lost) it rejects, and the leader falls back to probing. */
        raft_send_append(r, pr, true);
    }
}

/* Follower: a snapshot from the leader (section 7). */
void raft_handle_snapshot(struct raft *r, const struct raft_msg *m)
{
    const struct raft_snapshot_meta *s = m->snapshot;
    struct raft_msg resp = {.type = RAFT_MSG_APPEND_RESP, .to = m->from, .term = r->term};
    raft_term t;

    follow(r, m->from);
    if (s->index <= r->commit) {
        resp.index = r->commit;
        raft_send(r, &resp);
        return;
    }
    if (raft_log_term(&r->log, s->index, &t) && t == s->term) {
        /* We hold the snapshot's last entry: the log already covers it. */
        raft_commit_to(r, s->index);
        resp.index = s->index;
        raft_send(r, &resp);
        return;
    }
    raft_trace(r, "install snapshot index=%llu term=%llu from %llu", (unsigned long long)s->index,
               (unsigned long long)s->term, (unsigned long long)m->from);
    raft_log_reset(&r->log, s->index, s->term);
    r->snapshot = *s;
    r->conf = s->conf;
    r->conf_index = s->index;
    r->out_conf_changed = true;
    r->commit = s->index;
    r->applying = s->index;
    r->persisted = 0; /* until the shell reports the install durable */
    r->unstable_from = s->index + 1;
    r->install_snapshot = true;
    r->install_data = m->snapshot_data;
    resp.index = s->index;
    raft_send(r, &resp);
}

void raft_snapshot_sent(struct raft *r, raft_id to, bool ok)
{
    struct raft_progress *pr = raft_progress_find(r, to);

    if (r->role != RAFT_LEADER || pr == NULL || pr->state != PR_SNAPSHOT) {
        return;
    }
    raft_trace(r, "snapshot to %llu %s", (unsigned long long)to, ok ? "sent" : "failed");
    pr->state = PR_PROBE;
    pr->next = ok ? pr->pending_snapshot + 1 : pr->match + 1;
    if (pr->next <= pr->match) {
        pr->next = pr->match + 1;
    }
    pr->probe_sent = true; /* wait for the follower's answer or a heartbeat */
}

int raft_snapshot_taken(struct raft *r, raft_index index)
{
    struct raft_conf conf;
    raft_term term;
    raft_index upto;

    if (index <= r->snapshot.index) {
        return 0;
    }
    if (index > r->applying || !raft_log_term(&r->log, index, &term)) {
        return RAFT_EINVAL;
    }
    raft_conf_conf_at(r, index, &conf);
    r->snapshot.index = index;
    r->snapshot.term = term;
    r->snapshot.conf = conf;
    upto = index > r->cfg.snapshot_trailing ? index - r->cfg.snapshot_trailing : 0;
    if (upto > r->log.offset) {
        raft_log_compact(&r->log, upto);
        r->out_compact = upto + 1;
    }
    raft_trace(r, "snapshot taken index=%llu term=%llu, log from %llu", (unsigned long long)index,
               (unsigned long long)term, (unsigned long long)r->log.offset + 1);
    return 0;
}
