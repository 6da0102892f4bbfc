/* SPDX-License-Identifier: MIT */
/* election: roles, timers, pre-vote and vote (Raft section 5.2, thesis 9.6
 * for pre-vote, 6.2 for check-quorum).
 *
 * Design notes
 *  1. At most one vote per term: r->vote changes only from 0, within a term,
 *     and the VOTE_RESP that reveals it is sent only after it is durable.
 *  2. A pre-vote changes no state at the voter and no term at the candidate.
 *  3. A follower that heard from a leader within the election timeout
 *     ignores (pre-)vote requests unless they come from a transfer: a node
 *     cut off and back cannot depose a healthy leader.
 *
 *   FOLLOWER --timeout (pre_vote)--> PRECANDIDATE --majority--> CANDIDATE
 *   FOLLOWER --timeout-------------------------------------->  CANDIDATE
 *   CANDIDATE --majority of votes--> LEADER   (become_leader)
 *   any --higher term / lost election / lost quorum--> FOLLOWER
 *                                     (raft_become_follower)
 */
#include <string.h>

#include "raft/base/assert.h"
#include "raft/raft_internal.h"

void raft_reset_election_timer(struct raft *r)
{
    uint64_t base = r->cfg.election_timeout_ms;

    r->election_deadline = r->now + base + raft_rand_below(&r->rng, base);
}

static void set_role(struct raft *r, enum raft_role role)
{
    if (r->role != role) {
        raft_trace(r, "%s -> %s term=%llu", raft_role_name(r->role), raft_role_name(role),
                   (unsigned long long)r->term);
    }
    r->role = role;
}

void raft_become_follower(struct raft *r, raft_term term, raft_id leader)
{
    bool was_leader = r->role == RAFT_LEADER;

    RAFT_ASSERT(term >= r->term);
    if (term > r->term) {
        r->term = term;
        r->vote = 0;
    }
    set_role(r, RAFT_FOLLOWER);
    if (leader != r->leader && leader != 0) {
        raft_trace(r, "leader is %llu term=%llu", (unsigned long long)leader,
                   (unsigned long long)term);
    }
    r->leader = leader;
    if (leader != 0) {
        r->last_leader_contact = r->now;
    }
    r->transferee = 0;
    r->n_granted = 0;
    r->n_rejected = 0;
    if (was_leader) {
        raft_reads_fail(r, RAFT_ENOTLEADER);
    }
    raft_reset_election_timer(r);
}

static void become_leader(struct raft *r)
{
    int rv;

    set_role(r, RAFT_LEADER);
    r->leader = r->cfg.id;
    r->transferee = 0;
    r->heartbeat_deadline = r->now + r->cfg.heartbeat_ms;
    r->quorum_deadline = r->now + r->cfg.election_timeout_ms;
    raft_progress_reset(r);
    /* The no-op of the new term: until it commits, the leader knows of no
     * committed entry of its term, so it answers no ReadIndex and accepts no
     * membership change (the single-server-change bug of 2015). */
    rv = raft_append_local(r, RAFT_ENTRY_NOOP, NULL);
    if (rv != 0) {
        raft_trace(r, "cannot append no-op: %s; stepping down", raft_err_name(rv));
        raft_become_follower(r, r->term, 0);
        return;
    }
    raft_broadcast_append(r, true);
    raft_maybe_commit(r);
}

static bool has_voted(const raft_id *ids, unsigned n, raft_id id)
{
    unsigned i;

    for (i = 0; i < n; i++) {
        if (ids[i] == id) {
            return true;
        }
    }
    return false;
}

/* Count a (pre-)vote response; win or lose when a quorum decided. */
static void tally(struct raft *r, raft_id from, bool granted)
{
    unsigned quorum = raft_quorum(r);

    if (!raft_is_voter(r, from) || has_voted(r->granted, r->n_granted, from) ||
        has_voted(r->rejected, r->n_rejected, from)) {
        return;
    }
    if (granted) {
        r->granted[r->n_granted++] = from;
    } else {
        r->rejected[r->n_rejected++] = from;
    }
    if (r->n_granted >= quorum) {
        if (r->role == RAFT_PRECANDIDATE) {
            raft_campaign(r, false, false);
        } else {
            become_leader(r);
        }
    } else if (r->n_rejected >= quorum) {
        raft_become_follower(r, r->term, 0);
    }
}

void raft_campaign(struct raft *r, bool pre_vote, bool transfer)
{
    struct raft_msg m = {0};
    uint32_t i;

    RAFT_ASSERT(raft_is_voter(r, r->cfg.id));
    if (pre_vote) {
        set_role(r, RAFT_PRECANDIDATE);
        m.type = RAFT_MSG_PREVOTE;
        m.term = r->term + 1;
    } else {
        r->term++;
        r->vote = r->cfg.id;
        set_role(r, RAFT_CANDIDATE);
        m.type = RAFT_MSG_VOTE;
        m.term = r->term;
    }
    r->leader = 0;
    r->n_granted = 0;
    r->n_rejected = 0;
    raft_reset_election_timer(r);
    m.index = raft_log_last_index(&r->log);
    m.log_term = raft_log_last_term(&r->log);
    m.transfer = transfer;
    for (i = 0; i < r->conf.n; i++) {
        const struct raft_server *s = &r->conf.servers[i];

        if (s->role == RAFT_VOTER && s->id != r->cfg.id) {
            m.to = s->id;
            raft_send(r, &m);
        }
    }
    tally(r, r->cfg.id, true);
}

static bool log_up_to_date(const struct raft *r, raft_index index, raft_term term)
{
    raft_term last_term = raft_log_last_term(&r->log);

    if (RAFT_BUG(r, RAFT_BUG_VOTE_ANY_LOG)) {
        return true;
    }
    return term > last_term || (term == last_term && index >= raft_log_last_index(&r->log));
}

void raft_handle_vote(struct raft *r, const struct raft_msg *m)
{
    bool pre = m->type == RAFT_MSG_PREVOTE;
    bool can_vote =
        r->vote == m->from || (r->vote == 0 && r->leader == 0) || (pre && m->term > r->term);
    struct raft_msg resp = {.to = m->from};

    resp.type = pre ? RAFT_MSG_PREVOTE_RESP : RAFT_MSG_VOTE_RESP;
    if (can_vote && log_up_to_date(r, m->index, m->log_term)) {
        resp.term = m->term;
        resp.reject = false;
        if (!pre) {
            r->vote = m->from;
            raft_reset_election_timer(r);
        }
    } else {
        resp.term = r->term;
        resp.reject = true;
    }
    raft_trace(r, "%s %s for %llu term=%llu", resp.reject ? "reject" : "grant",
               pre ? "pre-vote" : "vote", (unsigned long long)m->from, (unsigned long long)m->term);
    raft_send(r, &resp);
}

void raft_handle_vote_resp(struct raft *r, const struct raft_msg *m)
{
    if ((r->role == RAFT_PRECANDIDATE && m->type == RAFT_MSG_PREVOTE_RESP) ||
        (r->role == RAFT_CANDIDATE && m->type == RAFT_MSG_VOTE_RESP)) {
        tally(r, m->from, !m->reject);
    }
}

/* Leader: step down unless a majority of voters was heard from during the
 * last election timeout (check-quorum). */
static void check_quorum(struct raft *r)
{
    unsigned active = raft_is_voter(r, r->cfg.id) ? 1 : 0;
    unsigned i;

    for (i = 0; i < r->n_prs; i++) {
        if (r->prs[i].recent_active && raft_is_voter(r, r->prs[i].id)) {
            active++;
        }
        r->prs[i].recent_active = false;
    }
    r->quorum_deadline = r->now + r->cfg.election_timeout_ms;
    if (active < raft_quorum(r)) {
        raft_trace(r, "lost contact with a quorum (%u active); stepping down", active);
        raft_become_follower(r, r->term, 0);
    }
}

static void leader_tick(struct raft *r)
{
    if (r->transferee != 0 && r->now >= r->transfer_deadline) {
        raft_trace(r, "transfer to %llu timed out", (unsigned long long)r->transferee);
        r->transferee = 0;
    }
    if (r->cfg.check_quorum && r->now >= r->quorum_deadline) {
        check_quorum(r);
        if (r->role != RAFT_LEADER) {
            return;
        }
    }
    if (r->now >= r->heartbeat_deadline) {
        r->heartbeat_deadline = r->now + r->cfg.heartbeat_ms;
        raft_broadcast_heartbeat(r);
    }
}

int raft_election_tick(struct raft *r)
{
    raft_reads_tick(r);
    if (r->role == RAFT_LEADER) {
        leader_tick(r);
        return 0;
    }
    if (r->now < r->election_deadline) {
        return 0;
    }
    if (!raft_is_voter(r, r->cfg.id)) {
        raft_reset_election_timer(r);
        return 0;
    }
    raft_campaign(r, r->cfg.pre_vote, false);
    return 0;
}
