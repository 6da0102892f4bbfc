/* SPDX-License-Identifier: MIT */
/* client: writes, reads, membership changes and transfers at random times. */
#include "tests/sim/client.h"

#include <stdio.h>
#include <string.h>

#include "tests/sim/node.h"
#include "tests/sim/world.h"

#define LLU(x) ((unsigned long long)(x))

void sim_client_values(struct sim *s, struct raft_buf *bufs, size_t n, uint8_t *store)
{
    size_t i;
    size_t k;

    for (i = 0; i < n; i++) {
        uint8_t *p = store + i * SIM_CLIENT_VALUE_MAX;
        uint64_t v = ++s->next_value;
        size_t len = 8 + (size_t)sim_world_below(s, SIM_CLIENT_VALUE_MAX - 8 + 1);

        memcpy(p, &v, sizeof v);
        for (k = 8; k < len; k++) {
            p[k] = (uint8_t)(v * 31 + k);
        }
        bufs[i].base = p;
        bufs[i].len = len;
    }
}

int sim_client_write(struct sim *s, struct sim_node *n)
{
    uint8_t store[SIM_CLIENT_MAX_BATCH * SIM_CLIENT_VALUE_MAX];
    struct raft_buf bufs[SIM_CLIENT_MAX_BATCH];
    size_t most = SIM_CLIENT_MAX_BATCH;
    size_t k;

    /* Mostly within the batch limit (a larger batch is refused: ETOOBIG). */
    if (s->p.cfg.max_msg_entries < most && !sim_world_chance(s, 100)) {
        most = s->p.cfg.max_msg_entries;
    }
    if (s->phase != SIM_PHASE_CHAOS) {
        most = 1; /* liveness probes */
    }
    k = (size_t)sim_world_range(s, 1, most);

    sim_client_values(s, bufs, k, store);
    return sim_node_submit(s, n, bufs, k);
}

/* A ready node, preferring one that believes it leads; NULL if none. */
static size_t candidates(struct sim *s, bool leaders, struct sim_node **cand)
{
    size_t n = 0;
    raft_id id;

    for (id = 1; id <= s->n_ids; id++) {
        struct sim_node *m = s->nodes[id];

        if (sim_node_ready(m) && (!leaders || m->role == RAFT_LEADER)) {
            cand[n++] = m;
        }
    }
    return n;
}

static struct sim_node *pick(struct sim *s, bool leader_only)
{
    struct sim_node *cand[SIM_MAX_IDS];
    bool leaders = leader_only || sim_world_chance(s, s->p.leader_pm);
    size_t n = candidates(s, leaders, cand);

    if (n == 0 && leaders && !leader_only) {
        n = candidates(s, false, cand);
    }
    return n == 0 ? NULL : cand[sim_world_below(s, n)];
}

/* A random member of conf with the given role (0: any), other than skip. */
static raft_id member(struct sim *s, const struct raft_conf *conf, uint8_t role, raft_id skip)
{
    raft_id cand[RAFT_MAX_SERVERS];
    size_t n = 0;
    uint32_t i;

    for (i = 0; i < conf->n; i++) {
        if ((role == 0 || conf->servers[i].role == role) && conf->servers[i].id != skip) {
            cand[n++] = conf->servers[i].id;
        }
    }
    return n == 0 ? 0 : cand[sim_world_below(s, n)];
}

/* May l take a membership change now? Only once an entry of its term is
 * committed (no change before the new leader's no-op commits: the 2015
 * single-server-change bug) and with no other change uncommitted. */
static bool may_change(const struct sim_node *l)
{
    raft_index commit = raft_commit_get(l->raft);
    raft_index i;

    if (raft_term_at(l->raft, commit) != raft_term_get(l->raft)) {
        return false;
    }
    for (i = commit + 1; i <= raft_last_index(l->raft); i++) {
        const struct raft_entry *e = raft_entry_at(l->raft, i);

        if (e != NULL && e->type == RAFT_ENTRY_CONF) {
            return false;
        }
    }
    return true;
}

/* The entry a successful change appended says what was asked. */
static bool change_done(const struct sim_node *l, raft_index at, uint8_t op, raft_id id)
{
    const struct raft_entry *e = raft_entry_at(l->raft, at);
    const struct raft_server *srv;
    struct raft_conf conf;

    if (e == NULL || e->type != RAFT_ENTRY_CONF || raft_conf_decode(&e->data, &conf) != 0) {
        return false;
    }
    srv = raft_conf_find(&conf, id);
    switch (op) {
    case RAFT_CONF_ADD_LEARNER:
    case RAFT_CONF_DEMOTE:
        return srv != NULL && srv->role == RAFT_LEARNER;
    case RAFT_CONF_PROMOTE:
        return srv != NULL && srv->role == RAFT_VOTER;
    default:
        return srv == NULL;
    }
}

static void change(struct sim *s, struct sim_node *l, uint8_t op, raft_id id)
{
    struct raft_event ev = {.type = RAFT_EV_CONF_CHANGE};
    struct raft_update up;
    bool allowed = may_change(l);
    char addr[16];
    int rv;

    (void)snprintf(addr, sizeof addr, "n%llu", LLU(id));
    ev.conf_change.op = op;
    ev.conf_change.id = id;
    ev.conf_change.address = op == RAFT_CONF_ADD_LEARNER ? addr : NULL;
    rv = sim_node_step(s, l, &ev, &up);
    SIM_TRACE(s, "n%llu conf change op=%u id=%llu: %s", LLU(l->id), op, LLU(id),
              rv == 0 ? "ok" : raft_err_name(rv));
    if (rv == RAFT_EINVAL) {
        sim_check_fail(&s->check, "request refused as invalid",
                       "leader n%llu: conf change op=%u id=%llu", LLU(l->id), op, LLU(id));
    }
    if (rv == 0 && !allowed) {
        sim_check_fail(&s->check, "unsafe membership change",
                       "leader n%llu accepted op=%u id=%llu before its term committed an entry "
                       "or while another change was uncommitted",
                       LLU(l->id), op, LLU(id));
    }
    if (rv == 0 && !change_done(l, up.submit_index, op, id)) {
        sim_check_fail(&s->check, "membership change",
                       "leader n%llu: entry %llu is not op=%u id=%llu", LLU(l->id),
                       LLU(up.submit_index), op, LLU(id));
    }
    if (rv == 0 && op == RAFT_CONF_ADD_LEARNER) {
        struct raft_conf empty = {0};
        raft_index at = up.submit_index;

        sim_node_new(s, id, &empty)->added_at = at;
    }
    sim_node_settle(s, l);
}

static void conf_change(struct sim *s, struct sim_node *l)
{
    const struct raft_conf *conf = raft_conf_get(l->raft);
    unsigned voters = raft_conf_n_voters(conf);
    raft_id id;

    switch (sim_world_below(s, 4)) {
    case 0:
        if (s->n_ids < SIM_MAX_IDS && conf->n < RAFT_MAX_SERVERS) {
            change(s, l, RAFT_CONF_ADD_LEARNER, s->n_ids + 1);
        }
        break;
    case 1:
        if ((id = member(s, conf, RAFT_LEARNER, 0)) != 0) {
            change(s, l, RAFT_CONF_PROMOTE, id);
        }
        break;
    case 2:
        if (voters > 3 && (id = member(s, conf, RAFT_VOTER, 0)) != 0) {
            change(s, l, RAFT_CONF_DEMOTE, id);
        }
        break;
    default:
        id = member(s, conf, 0, 0);
        if (id != 0 && (voters > 3 || raft_conf_find(conf, id)->role != RAFT_VOTER)) {
            change(s, l, RAFT_CONF_REMOVE, id);
        }
        break;
    }
}

static void transfer(struct sim *s, struct sim_node *l)
{
    struct raft_event ev = {.type = RAFT_EV_TRANSFER};
    raft_id other = member(s, raft_conf_get(l->raft), RAFT_VOTER, l->id);
    int rv;

    if (other == 0) {
        return; /* nobody to hand over to: a refusal would be right */
    }
    ev.transfer.to = sim_world_chance(s, 300) ? 0 : other;
    rv = sim_node_step(s, l, &ev, NULL);
    SIM_TRACE(s, "n%llu transfer to n%llu: %s", LLU(l->id), LLU(ev.transfer.to),
              rv == 0 ? "ok" : raft_err_name(rv));
    if (rv == RAFT_EINVAL) {
        sim_check_fail(&s->check, "request refused as invalid", "leader n%llu: transfer to %llu",
                       LLU(l->id), LLU(ev.transfer.to));
    }
    sim_node_settle(s, l);
}

/* An operator asks a follower to campaign now. */
static void campaign(struct sim *s)
{
    struct raft_event ev = {.type = RAFT_EV_CAMPAIGN};
    struct sim_node *n = pick(s, false);
    const struct raft_server *me;
    int rv;

    if (n == NULL || n->role == RAFT_LEADER) {
        return;
    }
    me = raft_conf_find(raft_conf_get(n->raft), n->id);
    if (me == NULL || me->role != RAFT_VOTER) {
        return;
    }
    rv = sim_node_step(s, n, &ev, NULL);
    SIM_TRACE(s, "n%llu campaign: %s", LLU(n->id), rv == 0 ? "ok" : raft_err_name(rv));
    if (rv == RAFT_EINVAL) {
        sim_check_fail(&s->check, "request refused as invalid", "voter n%llu (%s): campaign",
                       LLU(n->id), raft_role_name(n->role));
    }
    sim_node_settle(s, n);
}

void sim_client_tick(struct sim *s)
{
    const struct sim_params *p = &s->p;
    uint64_t r =
        sim_world_below(s, p->w_propose + p->w_read + p->w_conf + p->w_transfer + p->w_campaign);
    struct sim_event next = {.type = SIM_EV_CLIENT};
    struct sim_node *n;

    if (r < p->w_propose) {
        if ((n = pick(s, false)) != NULL) {
            int rv = sim_client_write(s, n);

            if (rv == RAFT_EINVAL) {
                sim_check_fail(&s->check, "request refused as invalid", "n%llu: submit",
                               LLU(n->id));
            }
        }
    } else if (r < p->w_propose + p->w_read) {
        if ((n = pick(s, false)) != NULL && sim_node_read(s, n) == RAFT_EINVAL) {
            sim_check_fail(&s->check, "request refused as invalid", "n%llu: read", LLU(n->id));
        }
    } else if (r < p->w_propose + p->w_read + p->w_conf) {
        if ((n = pick(s, true)) != NULL) {
            conf_change(s, n);
        }
    } else if (r < p->w_propose + p->w_read + p->w_conf + p->w_transfer) {
        if ((n = pick(s, true)) != NULL) {
            transfer(s, n);
        }
    } else {
        campaign(s);
    }
    next.at = s->now + sim_world_range(s, 1, 2 * (uint64_t)p->client_ms);
    sim_world_push(s, &next);
}
