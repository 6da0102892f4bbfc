/* SPDX-License-Identifier: MIT */
/* read: linearizable reads by ReadIndex (thesis 6.4), no log write per read.
 *
 * Design notes
 *  1. The leader answers a read with its commit index only after (a) an
 *     entry of its own term committed, so that index covers every write
 *     acknowledged before, and (b) a quorum of voters acknowledged a
 *     heartbeat sent after the read arrived, so no newer leader existed.
 *  2. Heartbeats carry the latest read round; every heartbeat with round k
 *     was sent after read k registered, so acks of k confirm it (and all
 *     earlier reads). Rounds only grow while a leader leads.
 *  3. A follower forwards reads to its leader and waits for the answer, or
 *     gives up after an election timeout (RAFT_ETIMEDOUT).
 *  4. At most one round is in flight: reads that arrive meanwhile share the
 *     next one, so a read-heavy load costs a heartbeat per round trip, not
 *     per read.
 */
#include <string.h>

#include "raft/base/assert.h"
#include "raft/raft_internal.h"

#define READS(v) ((struct raft_pending_read *)(v)->items)

static bool committed_in_term(const struct raft *r)
{
    raft_term t = 0;

    (void)raft_log_term(&r->log, r->commit, &t);
    return t == r->term;
}

static void answer(struct raft *r, const struct raft_pending_read *p, int status)
{
    struct raft_msg m = {.type = RAFT_MSG_READ_INDEX_RESP, .to = p->reply_to, .term = r->term};

    if (p->reply_to == 0) {
        raft_emit_read(r, p->id, p->index, status);
        return;
    }
    m.index = p->index;
    m.ctx = p->id;
    m.reject = status != 0;
    raft_send(r, &m);
}

static bool confirmed(const struct raft *r, uint64_t round)
{
    unsigned acks = raft_is_voter(r, r->cfg.id) ? 1 : 0;
    unsigned i;

    if (RAFT_BUG(r, RAFT_BUG_READ_NO_QUORUM)) {
        return true;
    }
    for (i = 0; i < r->n_prs; i++) {
        if (r->prs[i].read_ack >= round && raft_is_voter(r, r->prs[i].id)) {
            acks++;
        }
    }
    return acks >= raft_quorum(r);
}

/* Start the next heartbeat round; reads registered since the last one
 * started wait for it (note 4). */
static void start_round(struct raft *r)
{
    r->read_round++;
    r->round_busy = true;
    raft_broadcast_heartbeat(r);
}

/* Answer the reads whose round a quorum confirmed; true if some read waits
 * for a round not yet started. */
static bool answer_confirmed(struct raft *r)
{
    struct raft_pending_read *p = READS(&r->reads);
    bool waiting_next = false;
    size_t kept = 0;
    size_t i;

    for (i = 0; i < r->reads.n; i++) {
        if (p[i].index != 0 && p[i].round <= r->read_round && confirmed(r, p[i].round)) {
            answer(r, &p[i], 0);
            continue;
        }
        waiting_next = waiting_next || (p[i].index != 0 && p[i].round > r->read_round);
        p[kept++] = p[i];
    }
    r->reads.n = kept;
    return waiting_next;
}

/* Answer what a quorum confirmed (note 2), then start the round the other
 * reads wait for once the last one is done (note 4). Two passes: a
 * single-voter cluster confirms a new round at once. */
void raft_reads_on_ack(struct raft *r)
{
    int pass;

    for (pass = 0; pass < 2; pass++) {
        bool waiting_next = answer_confirmed(r);

        if (r->round_busy && confirmed(r, r->read_round)) {
            r->round_busy = false;
        }
        if (!waiting_next || r->round_busy) {
            return;
        }
        start_round(r);
    }
}

/* Reads that waited for the term's first commit get an index and wait for
 * the next round. */
void raft_reads_on_commit(struct raft *r)
{
    struct raft_pending_read *p = READS(&r->reads);
    bool any = false;
    size_t i;

    if (!committed_in_term(r)) {
        return;
    }
    for (i = 0; i < r->reads.n; i++) {
        if (p[i].index == 0) {
            p[i].index = r->commit;
            p[i].round = r->read_round + 1;
            any = true;
        }
    }
    if (any) {
        raft_reads_on_ack(r);
    }
}

static int leader_read(struct raft *r, uint64_t id, raft_id reply_to)
{
    struct raft_pending_read p = {.id = id, .reply_to = reply_to};
    int rv;

    if (r->reads.n >= RAFT_MAX_PENDING_READS) {
        return RAFT_EBUSY;
    }
    if (committed_in_term(r)) {
        p.index = r->commit;
        p.round = r->read_round + 1;
    }
    rv = raft_vec_push(&r->reads, &p, sizeof p);
    if (rv != 0) {
        return rv;
    }
    if (p.index != 0) {
        raft_reads_on_ack(r);
    }
    return 0;
}

int raft_read_index(struct raft *r, uint64_t id, raft_id reply_to)
{
    struct raft_pending_read p = {.id = id};
    struct raft_msg m = {.type = RAFT_MSG_READ_INDEX, .term = r->term, .ctx = id};
    int rv;

    if (r->role == RAFT_LEADER) {
        return leader_read(r, id, reply_to);
    }
    if (r->leader == 0) {
        return RAFT_ELEADERLESS;
    }
    if (r->fwd_reads.n >= RAFT_MAX_PENDING_READS) {
        return RAFT_EBUSY;
    }
    p.deadline = r->now + r->cfg.election_timeout_ms;
    rv = raft_vec_push(&r->fwd_reads, &p, sizeof p);
    if (rv != 0) {
        return rv;
    }
    m.to = r->leader;
    raft_send(r, &m);
    return 0;
}

void raft_reads_fail(struct raft *r, int status)
{
    struct raft_pending_read *p = READS(&r->reads);
    size_t i;

    for (i = 0; i < r->reads.n; i++) {
        answer(r, &p[i], status);
    }
    r->reads.n = 0;
    r->round_busy = false;
}

void raft_handle_read_index(struct raft *r, const struct raft_msg *m)
{
    struct raft_pending_read p = {.id = m->ctx, .reply_to = m->from};

    if (r->role != RAFT_LEADER || leader_read(r, m->ctx, m->from) != 0) {
        answer(r, &p, RAFT_ENOTLEADER);
    }
}

void raft_handle_read_index_resp(struct raft *r, const struct raft_msg *m)
{
    struct raft_pending_read *p = READS(&r->fwd_reads);
    size_t i;

    for (i = 0; i < r->fwd_reads.n; i++) {
        if (p[i].id == m->ctx) {
            raft_emit_read(r, m->ctx, m->index, m->reject ? RAFT_ENOTLEADER : 0);
            p[i] = p[r->fwd_reads.n - 1];
            r->fwd_reads.n--;
            return;
        }
    }
}

void raft_reads_tick(struct raft *r)
{
    struct raft_pending_read *p = READS(&r->fwd_reads);
    size_t kept = 0;
    size_t i;

    for (i = 0; i < r->fwd_reads.n; i++) {
        if (p[i].deadline <= r->now) {
            raft_emit_read(r, p[i].id, 0, RAFT_ETIMEDOUT);
        } else {
            p[kept++] = p[i];
        }
    }
    r->fwd_reads.n = kept;
}
