/* SPDX-License-Identifier: MIT */
/* chaos: crashes, pauses and partitions at random times. */
#include "tests/sim/chaos.h"

#include "tests/sim/net.h"
#include "tests/sim/node.h"
#include "tests/sim/world.h"

#define PAUSE_MIN_MS     20
#define PAUSE_MAX_MS     1000
#define PARTITION_MIN_MS 50
#define PARTITION_MAX_MS 3000
#define BLIP_RESTART_MS  3    /* a crash before an fsync completes is back within this */
#define FAST_RESTART_MS  20   /* a fast restart comes back within this */
#define SLOW_RESTART_MS  2000 /* a slow one within this */

#define LLU(x) ((unsigned long long)(x))

/* A random node that is not gone (up: only UP ones); 0 if none. */
static raft_id pick(struct sim *s, bool up)
{
    raft_id cand[SIM_MAX_IDS];
    size_t n = 0;
    raft_id id;

    for (id = 1; id <= s->n_ids; id++) {
        const struct sim_node *m = s->nodes[id];

        if (m != NULL && m->state != SIM_NODE_GONE && (!up || sim_node_ready(m))) {
            cand[n++] = id;
        }
    }
    return n == 0 ? 0 : cand[sim_world_below(s, n)];
}

/* Bit mask of every node that is not gone. */
static uint64_t everyone(const struct sim *s)
{
    uint64_t mask = 0;
    raft_id id;

    for (id = 1; id <= s->n_ids; id++) {
        if (s->nodes[id] != NULL && s->nodes[id]->state != SIM_NODE_GONE) {
            mask |= 1ULL << id;
        }
    }
    return mask;
}

void sim_chaos_crash(struct sim *s, struct sim_node *n, bool fast)
{
    struct sim_event ev = {.type = SIM_EV_RESTART};

    sim_node_crash(s, n);
    ev.at = s->now + (fast ? sim_world_range(s, 1, FAST_RESTART_MS)
                           : sim_world_range(s, FAST_RESTART_MS, SLOW_RESTART_MS));
    ev.node = n->id;
    ev.inc = n->inc;
    sim_world_push(s, &ev);
}

void sim_chaos_crash_event(struct sim *s, const struct sim_event *ev)
{
    struct sim_node *n = sim_world_node(s, ev->node);
    struct sim_event restart = {.type = SIM_EV_RESTART, .node = ev->node};

    if (n == NULL || n->state != SIM_NODE_UP || n->inc != ev->inc) {
        return;
    }
    if (!ev->flag) {
        SIM_TRACE(s, "n%llu crashes as a fresh leader", LLU(n->id));
        sim_chaos_crash(s, n, sim_world_chance(s, s->p.fast_restart_pm));
        return;
    }
    /* A power blip: back before most messages in flight have landed. */
    SIM_TRACE(s, "n%llu crashes before its hard state is durable", LLU(n->id));
    sim_node_crash(s, n);
    restart.at = s->now + sim_world_range(s, 1, BLIP_RESTART_MS);
    restart.inc = n->inc;
    sim_world_push(s, &restart);
}

/* A node that thinks it leads, or 0. */
static raft_id pick_leader(struct sim *s)
{
    raft_id cand[SIM_MAX_IDS];
    size_t n = 0;
    raft_id id;

    for (id = 1; id <= s->n_ids; id++) {
        if (sim_node_ready(s->nodes[id]) && s->nodes[id]->role == RAFT_LEADER) {
            cand[n++] = id;
        }
    }
    return n == 0 ? 0 : cand[sim_world_below(s, n)];
}

static void crash(struct sim *s)
{
    raft_id id = sim_world_chance(s, s->p.leader_crash_pm) ? pick_leader(s) : 0;
    struct sim_node *n = sim_world_node(s, id != 0 ? id : pick(s, false));

    if (n != NULL && n->state == SIM_NODE_UP) {
        sim_chaos_crash(s, n, sim_world_chance(s, s->p.fast_restart_pm));
    }
}

static void pause_one(struct sim *s)
{
    struct sim_node *n = sim_world_node(s, pick(s, true));
    struct sim_event ev = {.type = SIM_EV_UNPAUSE};

    if (n == NULL) {
        return;
    }
    sim_node_pause(s, n);
    ev.at = s->now + sim_world_range(s, PAUSE_MIN_MS, PAUSE_MAX_MS);
    ev.node = n->id;
    ev.inc = n->inc;
    sim_world_push(s, &ev);
}

static void partition(struct sim *s, unsigned kind)
{
    uint64_t all = everyone(s);
    raft_id x = kind == 0 && sim_world_chance(s, s->p.leader_crash_pm) ? pick_leader(s) : 0;
    raft_id y = pick(s, false);
    uint64_t a;
    uint64_t b = 1ULL << y;
    raft_id id;

    if (x == 0) {
        x = pick(s, false);
    }
    a = 1ULL << x;
    if (x == 0 || (kind != 0 && kind != 3 && x == y)) {
        return;
    }
    if (kind == 0) { /* isolate x */
        b = all & ~a;
    } else if (kind == 3) { /* split in two random halves */
        a = 0;
        for (id = 1; id <= s->n_ids; id++) {
            if ((all & (1ULL << id)) && sim_world_chance(s, 500)) {
                a |= 1ULL << id;
            }
        }
        b = all & ~a;
    }
    if (a == 0 || b == 0) {
        return;
    }
    sim_net_partition(s, a, b, kind == 2,
                      s->now + sim_world_range(s, PARTITION_MIN_MS, PARTITION_MAX_MS));
}

void sim_chaos_tick(struct sim *s)
{
    const struct sim_params *p = &s->p;
    unsigned w[] = {p->w_crash,  p->w_pause, p->w_isolate, p->w_pair,
                    p->w_oneway, p->w_split, p->w_heal};
    unsigned total = 0;
    unsigned i;
    uint64_t r;
    struct sim_event next = {.type = SIM_EV_CHAOS};

    for (i = 0; i < sizeof w / sizeof w[0]; i++) {
        total += w[i];
    }
    r = sim_world_below(s, total);
    for (i = 0; r >= w[i]; i++) {
        r -= w[i];
    }
    if (i == 0) {
        crash(s);
    } else if (i == 1) {
        pause_one(s);
    } else if (i <= 5) {
        partition(s, i - 2);
    } else {
        sim_net_unblock_all(s);
    }
    next.at = s->now + sim_world_range(s, 1, 2 * (uint64_t)p->chaos_ms);
    sim_world_push(s, &next);
}

void sim_chaos_restart(struct sim *s, const struct sim_event *ev)
{
    struct sim_node *n = sim_world_node(s, ev->node);

    if (n != NULL && n->state == SIM_NODE_DOWN && n->inc == ev->inc) {
        sim_node_start(s, n);
    }
}

void sim_chaos_unpause(struct sim *s, const struct sim_event *ev)
{
    struct sim_node *n = sim_world_node(s, ev->node);

    if (n != NULL && n->state == SIM_NODE_UP && n->paused && n->inc == ev->inc) {
        sim_node_unpause(s, n);
    }
}
