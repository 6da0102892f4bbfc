/* SPDX-License-Identifier: MIT */
/* membership: configuration changes one server at a time (thesis 4.1),
 * learners, and leadership transfer (thesis 3.10).
 *
 * Design notes
 *  1. A configuration takes effect as soon as its CONF entry is in the log,
 *     committed or not; truncating that entry reverts to the one before.
 *  2. The leader accepts a change only when (a) an entry of its own term is
 *     committed (its no-op), and (b) the previous change is committed. (a)
 *     closes the single-server-change bug of 2015: without it a new leader
 *     could commit a change based on a configuration that a leader of an
 *     earlier term had already overridden.
 *  3. A leader that removes or demotes itself keeps leading until the entry
 *     commits (counting a quorum without itself), then steps down.
 *  4. During a transfer the leader takes no proposals; the transfer ends when
 *     the target campaigns (we step down) or after an election timeout.
 */
#include <string.h>

#include "raft/base/assert.h"
#include "raft/raft_internal.h"

/* The configuration in force at index: the last CONF entry at or below it,
 * else the snapshot's (which covers everything at or below the log's start). */
void raft_conf_conf_at(const struct raft *r, raft_index index, struct raft_conf *out)
{
    raft_index last = raft_log_last_index(&r->log);
    raft_index i = index < last ? index : last;

    for (; i > r->log.offset; i--) {
        const struct raft_entry *e = raft_log_get(&r->log, i);

        if (e->type == RAFT_ENTRY_CONF && raft_conf_decode(&e->data, out) == 0) {
            return;
        }
    }
    *out = r->snapshot.conf;
}

static void conf_set(struct raft *r, const struct raft_conf *c, raft_index index)
{
    r->conf = *c;
    r->conf_index = index;
    r->out_conf_changed = true;
    if (r->role == RAFT_LEADER) {
        raft_progress_sync(r);
    }
    raft_trace(r, "configuration at %llu: %u servers, %u voters", (unsigned long long)index, c->n,
               raft_conf_n_voters(c));
}

void raft_conf_recompute(struct raft *r)
{
    raft_index last = raft_log_last_index(&r->log);
    struct raft_conf c;
    raft_index i;

    for (i = last; i > r->log.offset; i--) {
        const struct raft_entry *e = raft_log_get(&r->log, i);

        if (e->type == RAFT_ENTRY_CONF && raft_conf_decode(&e->data, &c) == 0) {
            conf_set(r, &c, i);
            return;
        }
    }
    conf_set(r, &r->snapshot.conf, r->snapshot.index);
}

int raft_conf_on_append(struct raft *r, const struct raft_entry *e)
{
    struct raft_conf c;
    int rv = raft_conf_decode(&e->data, &c);

    if (rv != 0) {
        return rv;
    }
    conf_set(r, &c, e->index);
    return 0;
}

void raft_conf_on_commit(struct raft *r)
{
    if (r->role == RAFT_LEADER && r->conf_index <= r->commit && !raft_is_voter(r, r->cfg.id)) {
        raft_trace(r, "no longer a voter; stepping down");
        raft_become_follower(r, r->term, 0);
    }
}

static void conf_remove(struct raft_conf *c, raft_id id)
{
    uint32_t i;

    for (i = 0; i < c->n && c->servers[i].id != id; i++) {
    }
    RAFT_ASSERT(i < c->n);
    memmove(&c->servers[i], &c->servers[i + 1], (c->n - i - 1) * sizeof c->servers[0]);
    c->n--;
    memset(&c->servers[c->n], 0, sizeof c->servers[0]);
}

/* Apply op to a copy of the configuration. Errors: RAFT_EINVAL,
 * RAFT_EEXIST, RAFT_ENOTFOUND, RAFT_ETOOBIG, RAFT_EBUSY (learner behind). */
static int conf_edit(struct raft *r, struct raft_conf *c, uint8_t op, raft_id id,
                     const char *address)
{
    struct raft_server *s = NULL;
    struct raft_progress *pr = raft_progress_find(r, id);
    uint32_t i;

    for (i = 0; i < c->n; i++) {
        if (c->servers[i].id == id) {
            s = &c->servers[i];
        }
    }
    switch (op) {
    case RAFT_CONF_ADD_LEARNER:
        return raft_conf_add(c, id, RAFT_LEARNER, address);
    case RAFT_CONF_PROMOTE:
        if (s == NULL || s->role != RAFT_LEARNER || pr == NULL) {
            return s == NULL ? RAFT_ENOTFOUND : RAFT_EINVAL;
        }
        if (pr->match + r->cfg.promote_max_lag < raft_log_last_index(&r->log)) {
            return RAFT_EBUSY; /* let it catch up first */
        }
        s->role = RAFT_VOTER;
        return 0;
    case RAFT_CONF_DEMOTE:
        if (s == NULL || s->role != RAFT_VOTER || raft_conf_n_voters(c) == 1) {
            return s == NULL ? RAFT_ENOTFOUND : RAFT_EINVAL;
        }
        s->role = RAFT_LEARNER;
        return 0;
    case RAFT_CONF_REMOVE:
        if (s == NULL) {
            return RAFT_ENOTFOUND;
        }
        if (s->role == RAFT_VOTER && raft_conf_n_voters(c) == 1) {
            return RAFT_EINVAL;
        }
        conf_remove(c, id);
        return 0;
    default:
        return RAFT_EINVAL;
    }
}

int raft_conf_change(struct raft *r, uint8_t op, raft_id id, const char *address)
{
    uint8_t buf[2 + RAFT_MAX_SERVERS * (10 + RAFT_ADDR_MAX)];
    struct raft_buf data;
    struct raft_conf c = r->conf;
    raft_term t = 0;
    int rv;

    if (r->role != RAFT_LEADER) {
        return RAFT_ENOTLEADER;
    }
    (void)raft_log_term(&r->log, r->commit, &t);
    if (r->transferee != 0 || t != r->term || r->conf_index > r->commit) {
        return RAFT_EBUSY; /* note 2 */
    }
    rv = conf_edit(r, &c, op, id, address);
    if (rv != 0) {
        return rv;
    }
    _Static_assert(sizeof buf >= 2 + RAFT_MAX_SERVERS * (8 + 1 + 1 + RAFT_ADDR_MAX - 1),
                   "buffer fits the largest encoded configuration");
    raft_conf_encode(&c, buf);
    data.base = buf;
    data.len = raft_conf_encoded_len(&c);
    rv = raft_append_local(r, RAFT_ENTRY_CONF, &data);
    if (rv != 0) {
        return rv;
    }
    r->out_submit = raft_log_last_index(&r->log);
    raft_broadcast_append(r, false);
    return 0;
}

static void send_timeout_now(struct raft *r, raft_id to)
{
    struct raft_msg m = {.type = RAFT_MSG_TIMEOUT_NOW, .to = to, .term = r->term};

    raft_trace(r, "transfer: %llu is up to date, timeout-now", (unsigned long long)to);
    r->transfer_sent = true;
    raft_send(r, &m);
}

static raft_id most_up_to_date(struct raft *r)
{
    raft_id best = 0;
    raft_index best_match = 0;
    unsigned i;

    for (i = 0; i < r->n_prs; i++) {
        if (raft_is_voter(r, r->prs[i].id) && (best == 0 || r->prs[i].match > best_match)) {
            best = r->prs[i].id;
            best_match = r->prs[i].match;
        }
    }
    return best;
}

int raft_transfer(struct raft *r, raft_id to)
{
    struct raft_progress *pr;

    if (r->role != RAFT_LEADER) {
        return RAFT_ENOTLEADER;
    }
    if (to == 0) {
        to = most_up_to_date(r);
    }
    if (to == r->cfg.id) {
        return 0;
    }
    pr = raft_progress_find(r, to);
    if (to == 0 || pr == NULL || !raft_is_voter(r, to)) {
        return RAFT_EINVAL;
    }
    if (r->transferee != 0) {
        return r->transferee == to ? 0 : RAFT_EBUSY;
    }
    r->transferee = to;
    r->transfer_sent = false;
    r->transfer_deadline = r->now + r->cfg.election_timeout_ms;
    raft_trace(r, "transfer leadership to %llu", (unsigned long long)to);
    if (pr->match == raft_log_last_index(&r->log)) {
        send_timeout_now(r, to);
    } else {
        raft_send_append(r, pr, false);
    }
    return 0;
}

void raft_transfer_check(struct raft *r, struct raft_progress *pr)
{
    if (r->transferee == pr->id && !r->transfer_sent && pr->match == raft_log_last_index(&r->log)) {
        send_timeout_now(r, pr->id);
    }
}
