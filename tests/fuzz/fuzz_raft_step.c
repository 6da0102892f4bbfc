/* SPDX-License-Identifier: MIT */
/* fuzz_raft_step: the input is a schedule for the simulator of tests/sim,
 * whose checker (tests/sim/check.c) asserts the safety invariants after
 * every event: one leader per term, log matching, leader completeness, no
 * two nodes applying different entries at an index, commit never going back,
 * acknowledged writes never lost. The simulator's own modules run the
 * cluster (linked, not copied); this file only turns bytes into actions.
 *
 * Input: two bytes of seed (the run's parameters: timeouts, pre-vote,
 * check-quorum, batch sizes, snapshot interval, allocation failures inside
 * raft_step), one byte for the cluster size (3, 5 or 7 voters), then one
 * action per byte: low nibble the action, high nibble its argument a.
 *   0-5  let (a + 1) * 10 virtual ms pass: messages arrive, disks complete,
 *        timers fire
 *   6    crash node a (restart within 20 ms if a & 8, else up to 2 s)
 *   7    pause node a for (a + 1) * 20 ms
 *   8    isolate node a for (a + 1) * 50 ms
 *   9    cut node a & 3 off from node a >> 2, one way, for 200 ms
 *   10   lift every partition
 *   11   a client write at node a (at a leader when a & 8)
 *   12   a ReadIndex read at node a
 *   13   one request of the simulator's workload (tests/sim/client.c) of
 *        kind a % 5: write, read, membership change, transfer, campaign
 *   14   node a campaigns
 *   15   the network loses (a & 3) * 100 and duplicates (a >> 2) * 50 per
 *        mille of the messages sent from now on
 * Node a means node 1 + a % (nodes created). The calm world starts with no
 * loss and no workload of its own. After the last action the simulator
 * heals everything and requires a leader, a committed write and a read
 * within its liveness bound, then checks every acknowledged write.
 *
 * A violation prints the checker's finding and the last trace lines of a
 * traced replay of the same input, then aborts. FUZZ_SIM_TRACE=1 in the
 * environment prints the whole trace of every input (to replay one). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raft/base/alloc.h"
#include "tests/fuzz/fuzz.h"
#include "tests/sim/chaos.h"
#include "tests/sim/client.h"
#include "tests/sim/net.h"
#include "tests/sim/node.h"
#include "tests/sim/world.h"

#define HEADER_LEN  3   /* seed (2 bytes), cluster size */
#define MAX_ACTIONS 400 /* bytes after the header that are read */
#define STEP_MS     10
#define PAUSE_MS    20
#define ISOLATE_MS  50
#define CUT_MS      200
#define FAR_AWAY    UINT32_MAX /* a workload interval that never comes round in a run */

static struct sim world; /* large: static */

static struct sim_node *node_at(struct sim *s, unsigned a)
{
    return s->n_ids > 0 ? sim_world_node(s, 1 + a % s->n_ids) : NULL;
}

static uint64_t everyone(const struct sim *s)
{
    uint64_t mask = 0;
    raft_id id;

    for (id = 1; id <= s->n_ids; id++) {
        if (s->nodes[id] != NULL && s->nodes[id]->state != SIM_NODE_GONE) {
            mask |= 1ull << id;
        }
    }
    return mask;
}

static struct sim_node *a_leader(struct sim *s)
{
    raft_id id;

    for (id = 1; id <= s->n_ids; id++) {
        if (sim_node_ready(s->nodes[id]) && s->nodes[id]->role == RAFT_LEADER) {
            return s->nodes[id];
        }
    }
    return NULL;
}

/* One request of client.c's workload, of one kind: its weights are set to
 * that kind alone, and the next request it schedules is put out of reach. */
static void workload(struct sim *s, unsigned kind)
{
    struct sim_params saved = s->p;
    unsigned *w[] = {&s->p.w_propose, &s->p.w_read, &s->p.w_conf, &s->p.w_transfer,
                     &s->p.w_campaign};
    unsigned i;

    for (i = 0; i < 5; i++) {
        *w[i] = i == kind ? 1 : 0;
    }
    s->p.client_ms = FAR_AWAY;
    sim_client_tick(s);
    s->p = saved;
}

static void campaign(struct sim *s, struct sim_node *n)
{
    struct raft_event ev = {.type = RAFT_EV_CAMPAIGN};
    const struct raft_server *me;

    if (!sim_node_ready(n) || n->role == RAFT_LEADER) {
        return;
    }
    me = raft_conf_find(raft_conf_get(n->raft), n->id);
    if (me != NULL && me->role == RAFT_VOTER) {
        (void)sim_node_step(s, n, &ev, NULL);
        sim_node_settle(s, n);
    }
}

static void pause_node(struct sim *s, struct sim_node *n, unsigned a)
{
    struct sim_event ev = {.type = SIM_EV_UNPAUSE};

    if (!sim_node_ready(n)) {
        return;
    }
    sim_node_pause(s, n);
    ev.at = s->now + (raft_time)(a + 1) * PAUSE_MS;
    ev.node = n->id;
    ev.inc = n->inc;
    sim_world_push(s, &ev);
}

static void act(struct sim *s, uint8_t b)
{
    unsigned op = b & 0x0fu;
    unsigned a = b >> 4;
    struct sim_node *n = node_at(s, a);
    uint64_t all = everyone(s);

    switch (op) {
    case 6:
        if (n != NULL && n->state == SIM_NODE_UP) {
            sim_chaos_crash(s, n, (a & 8) != 0);
        }
        break;
    case 7:
        pause_node(s, n, a);
        break;
    case 8:
        if (n != NULL && (all & ~(1ull << n->id)) != 0) {
            sim_net_partition(s, 1ull << n->id, all & ~(1ull << n->id), false,
                              s->now + (raft_time)(a + 1) * ISOLATE_MS);
        }
        break;
    case 9: {
        struct sim_node *x = node_at(s, a & 3);
        struct sim_node *y = node_at(s, a >> 2);

        if (x != NULL && y != NULL && x != y) {
            sim_net_partition(s, 1ull << x->id, 1ull << y->id, true, s->now + CUT_MS);
        }
        break;
    }
    case 10:
        sim_net_unblock_all(s);
        break;
    case 11:
        n = a & 8 ? a_leader(s) : n;
        if (sim_node_ready(n)) {
            (void)sim_client_write(s, n);
        }
        break;
    case 12:
        if (sim_node_ready(n)) {
            (void)sim_node_read(s, n);
        }
        break;
    case 13:
        workload(s, a % 5);
        break;
    case 14:
        campaign(s, n);
        break;
    case 15:
        s->net.drop_pm = (a & 3) * 100;
        s->net.dup_pm = (a >> 2) * 50;
        break;
    default:
        sim_world_run_until(s, NULL, NULL, s->now + (raft_time)(a + 1) * STEP_MS);
        break;
    }
}

/* Run the schedule; true when the checker found nothing. */
static bool run(const uint8_t *data, size_t size, enum sim_trace_mode trace)
{
    struct sim *s = &world;
    struct sim_opts o = {0};
    size_t i;

    o.seed = (uint64_t)data[0] | (uint64_t)data[1] << 8;
    o.nodes = 3 + 2 * (data[2] % 3u);
    o.time_ms = 0;
    o.trace = trace;
    o.calm = true;
    FUZZ_CHECK(sim_world_init(s, &o) == 0);
    for (i = HEADER_LEN; i < size && i < HEADER_LEN + MAX_ACTIONS && !s->check.failed; i++) {
        act(s, data[i]);
    }
    if (!s->check.failed) {
        /* Heal, then liveness and the acknowledged writes (sim_world_run
         * skips its chaos phase: it ends now). */
        s->o.time_ms = s->now;
        (void)sim_world_run(s);
    }
    return !s->check.failed;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    long live = raft_alloc_live();
    char what[sizeof world.check.what + sizeof world.check.detail + 32];
    bool ok;

    fuzz_input(data, size);
    if (size < HEADER_LEN) {
        return 0;
    }
    ok = run(data, size, getenv("FUZZ_SIM_TRACE") != NULL ? SIM_TRACE_PRINT : SIM_TRACE_OFF);
    if (!ok) {
        (void)snprintf(what, sizeof what, "%s at t=%llu: %s", world.check.what,
                       (unsigned long long)world.check.at, world.check.detail);
    }
    sim_world_close(&world);
    if (!ok) {
        /* The run is a function of the input: replay it with a trace ring. */
        (void)run(data, size, SIM_TRACE_RING);
        (void)fprintf(stderr, "fuzz_raft_step: violation: %s\nlast trace lines:\n", what);
        sim_trace_dump(&world.trace, stderr);
        sim_world_close(&world);
        fuzz_fail(__FILE__, __LINE__, "the simulator's checker: %s", what);
    }
    FUZZ_CHECK_NO_LEAK(live);
    return 0;
}
