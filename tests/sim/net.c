/* SPDX-License-Identifier: MIT */
/* net: message copies, delays, loss, duplication and partitions. */
#include "tests/sim/net.h"

#include <stdio.h>
#include <string.h>

#include "tests/sim/util.h"
#include "tests/sim/world.h"

#define LLU(x) ((unsigned long long)(x))

#define SNAP_FAIL_MIN_MS 5  /* a failed stream is noticed after this much... */
#define SNAP_FAIL_MAX_MS 60 /* ...up to this much */

struct raft_msg *sim_net_msg_copy(const struct raft_msg *m, struct sim_snapdata *data)
{
    struct raft_msg *c = sim_util_malloc(sizeof *c);

    *c = *m;
    c->entries = sim_disk_entries_copy(m->entries, m->n_entries);
    if (m->snapshot != NULL) {
        c->snapshot = sim_util_malloc(sizeof *c->snapshot);
        *c->snapshot = *m->snapshot;
    }
    c->snapshot_data.base = NULL;
    c->snapshot_data.len = 0;
    if (data != NULL) {
        c->snapshot_data.base = data;
        c->snapshot_data.len = sizeof *data;
    }
    return c;
}

void sim_net_msg_free(struct raft_msg *m)
{
    if (m == NULL) {
        return;
    }
    sim_disk_entries_free(m->entries, m->n_entries);
    sim_util_free(m->snapshot);
    sim_util_free(m);
}

void sim_net_msg_str(const struct raft_msg *m, char *buf, size_t len)
{
    const char *name = raft_msg_type_name(m->type);

    switch (m->type) {
    case RAFT_MSG_APPEND:
        (void)snprintf(buf, len, "%s term=%llu prev=%llu/%llu n=%u commit=%llu", name, LLU(m->term),
                       LLU(m->index), LLU(m->log_term), m->n_entries, LLU(m->commit));
        break;
    case RAFT_MSG_APPEND_RESP:
        (void)snprintf(buf, len, "%s term=%llu index=%llu%s hint=%llu/%llu", name, LLU(m->term),
                       LLU(m->index), m->reject ? " reject" : "", LLU(m->hint_index),
                       LLU(m->hint_term));
        break;
    case RAFT_MSG_VOTE:
    case RAFT_MSG_PREVOTE:
        (void)snprintf(buf, len, "%s term=%llu last=%llu/%llu%s", name, LLU(m->term), LLU(m->index),
                       LLU(m->log_term), m->transfer ? " transfer" : "");
        break;
    case RAFT_MSG_SNAPSHOT:
        (void)snprintf(buf, len, "%s term=%llu snapshot=%llu/%llu", name, LLU(m->term),
                       LLU(m->snapshot != NULL ? m->snapshot->index : 0),
                       LLU(m->snapshot != NULL ? m->snapshot->term : 0));
        break;
    default:
        (void)snprintf(buf, len, "%s term=%llu index=%llu commit=%llu ctx=%llu%s", name,
                       LLU(m->term), LLU(m->index), LLU(m->commit), LLU(m->ctx),
                       m->reject ? " reject" : "");
        break;
    }
}

bool sim_net_blocked(const struct sim_net *net, raft_id from, raft_id to)
{
    return from <= SIM_MAX_IDS && to <= SIM_MAX_IDS && net->blocked[from][to] > 0;
}

static raft_time delay(struct sim *s)
{
    const struct sim_net *net = &s->net;
    raft_time d = sim_world_range(s, net->delay_min_ms, net->delay_max_ms);

    if (net->tail_pm > 0 && sim_world_chance(s, net->tail_pm)) {
        d += sim_world_range(s, 1, net->tail_max_ms);
    }
    return d;
}

static void snap_report(struct sim *s, raft_id from, uint64_t inc, raft_id to, bool ok,
                        raft_time after)
{
    struct sim_event ev = {.at = s->now + after, .type = SIM_EV_SNAP_SENT, .node = from};

    ev.inc = inc;
    ev.a = to;
    ev.b = ok;
    sim_world_push(s, &ev);
}

static void trace_send(struct sim *s, const struct raft_msg *m, const char *what)
{
    char buf[160];

    if (!sim_trace_on(&s->trace)) {
        return;
    }
    sim_net_msg_str(m, buf, sizeof buf);
    SIM_TRACE(s, "n%llu->n%llu %s %s", LLU(m->from), LLU(m->to), buf, what);
}

/* The shell attaches its durable snapshot to an outgoing snapshot message,
 * or one it is still installing (received whole, committed state). */
static struct sim_snapdata *attach(struct sim *s, struct sim_node *from, const struct raft_msg *m)
{
    size_t i;

    if (m->snapshot != NULL && m->snapshot->index == from->disk.snap.index &&
        m->snapshot->term == from->disk.snap.term) {
        return sim_world_blob(s, &from->disk.data);
    }
    for (i = 0; m->snapshot != NULL && i < from->n_jobs; i++) {
        const struct sim_job *j = &from->jobs[from->job_head + i];

        if (j->snap != NULL && j->snap->index == m->snapshot->index &&
            j->snap->term == m->snapshot->term) {
            return sim_world_blob(s, &j->data);
        }
    }
    sim_check_fail(&s->check, "snapshot not durable",
                   "n%llu sends snapshot %llu/%llu but its durable snapshot is %llu/%llu",
                   LLU(from->id), LLU(m->snapshot != NULL ? m->snapshot->index : 0),
                   LLU(m->snapshot != NULL ? m->snapshot->term : 0), LLU(from->disk.snap.index),
                   LLU(from->disk.snap.term));
    return NULL;
}

void sim_net_send(struct sim *s, struct sim_node *from, const struct raft_msg *m)
{
    struct sim_snapdata *data = NULL;
    bool snap = m->type == RAFT_MSG_SNAPSHOT;
    unsigned copies = 1;
    unsigned i;

    s->net.n_sent++;
    if (snap && (data = attach(s, from, m)) == NULL) {
        return;
    }
    if (m->to == 0 || m->to > SIM_MAX_IDS || sim_net_blocked(&s->net, m->from, m->to) ||
        sim_world_chance(s, s->net.drop_pm)) {
        s->net.n_lost++;
        trace_send(s, m, "LOST");
        if (snap) {
            snap_report(s, from->id, from->inc, m->to, false,
                        sim_world_range(s, SNAP_FAIL_MIN_MS, SNAP_FAIL_MAX_MS));
        }
        return;
    }
    if (s->net.dup_pm > 0 && sim_world_chance(s, s->net.dup_pm)) {
        copies = 2;
    }
    for (i = 0; i < copies; i++) {
        struct sim_event ev = {.type = SIM_EV_DELIVER, .node = m->to};

        ev.at = s->now + delay(s);
        ev.a = from->inc;
        ev.b = snap && i == 0; /* the first copy reports the stream's end */
        ev.msg = sim_net_msg_copy(m, data);
        sim_world_push(s, &ev);
    }
    trace_send(s, m, copies > 1 ? "(twice)" : "");
}

void sim_net_deliver(struct sim *s, struct sim_event *ev)
{
    struct raft_msg *m = ev->msg;
    struct sim_node *to = sim_world_node(s, m->to);
    bool ok = to != NULL && to->state == SIM_NODE_UP && !sim_net_blocked(&s->net, m->from, m->to);

    if (ev->b) {
        snap_report(s, m->from, ev->a, m->to, ok,
                    ok ? delay(s) : sim_world_range(s, SNAP_FAIL_MIN_MS, SNAP_FAIL_MAX_MS));
    }
    if (!ok) {
        s->net.n_lost++;
        sim_net_msg_free(m);
        ev->msg = NULL;
        return;
    }
    sim_node_event(s, ev);
}

static void block(struct sim *s, uint64_t side_a, uint64_t side_b, bool oneway, int delta)
{
    raft_id x;
    raft_id y;

    for (x = 1; x <= SIM_MAX_IDS; x++) {
        if (!(side_a & (1ULL << x))) {
            continue;
        }
        for (y = 1; y <= SIM_MAX_IDS; y++) {
            if (x == y || !(side_b & (1ULL << y))) {
                continue;
            }
            s->net.blocked[x][y] = (uint16_t)(s->net.blocked[x][y] + delta);
            if (!oneway) {
                s->net.blocked[y][x] = (uint16_t)(s->net.blocked[y][x] + delta);
            }
        }
    }
}

void sim_net_partition(struct sim *s, uint64_t side_a, uint64_t side_b, bool oneway,
                       raft_time heal_at)
{
    struct sim_event ev = {.at = heal_at, .type = SIM_EV_HEAL};

    block(s, side_a, side_b, oneway, 1);
    ev.inc = s->net.epoch;
    ev.a = side_a;
    ev.b = side_b;
    ev.flag = oneway;
    sim_world_push(s, &ev);
    SIM_TRACE(s, "partition %#llx %s %#llx until t=%llu", LLU(side_a), oneway ? "-/->" : "<-/->",
              LLU(side_b), LLU(heal_at));
}

void sim_net_heal(struct sim *s, const struct sim_event *ev)
{
    if (ev->inc != s->net.epoch) {
        return; /* lifted already by sim_net_heal_all() */
    }
    block(s, ev->a, ev->b, ev->flag, -1);
    SIM_TRACE(s, "heal %#llx %s %#llx", LLU(ev->a), ev->flag ? "-/->" : "<-/->", LLU(ev->b));
}

void sim_net_unblock_all(struct sim *s)
{
    memset(s->net.blocked, 0, sizeof s->net.blocked);
    s->net.epoch++;
    SIM_TRACE(s, "all partitions lifted");
}

void sim_net_heal_all(struct sim *s)
{
    sim_net_unblock_all(s);
    s->net.drop_pm = 0;
    s->net.dup_pm = 0;
    s->net.tail_pm = 0;
    SIM_TRACE(s, "network healed: no partitions, no loss");
}
