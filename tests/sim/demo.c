/* SPDX-License-Identifier: MIT */
/* demo: a scripted, fault-free run told in plain lines. */
#include "tests/sim/demo.h"

#include <stdio.h>

#include "tests/sim/client.h"
#include "tests/sim/util.h"
#include "tests/sim/world.h"

#define LLU(x) ((unsigned long long)(x))

#define DEMO_SEED  7
#define DEMO_NODES 5
#define STAGE_MS   5000 /* each stage must finish within this much virtual time */

static bool has_leader(struct sim *s, void *arg)
{
    struct sim_node *l = sim_world_leader(s);

    return l != NULL && l->id != *(raft_id *)arg;
}

/* Every up node applied at least *arg. */
static bool applied_all(struct sim *s, void *arg)
{
    raft_id id;

    for (id = 1; id <= s->n_ids; id++) {
        if (s->nodes[id]->state == SIM_NODE_UP && s->nodes[id]->sm.applied < *(raft_index *)arg) {
            return false;
        }
    }
    return true;
}

static void progress(struct sim *s)
{
    raft_id id;

    printf("t=%-5llu", LLU(s->now));
    for (id = 1; id <= s->n_ids; id++) {
        const struct sim_node *n = s->nodes[id];

        if (n->state == SIM_NODE_UP) {
            printf("  n%llu c=%llu a=%llu", LLU(id), LLU(n->commit), LLU(n->sm.applied));
        } else {
            printf("  n%llu down     ", LLU(id));
        }
    }
    printf("\n");
}

static struct sim_node *elect(struct sim *s, raft_id not )
{
    struct sim_node *l;

    if (!sim_world_run_until(s, has_leader, &not, s->now + STAGE_MS)) {
        return NULL;
    }
    l = sim_world_leader(s);
    printf("t=%llu n%llu elected leader of term %llu (%s)\n", LLU(s->now), LLU(l->id), LLU(l->term),
           raft_role_name(l->role));
    return l;
}

/* Submit k writes at l, one value each; wait until every up node applied
 * them. */
static bool writes(struct sim *s, struct sim_node *l, int k)
{
    uint8_t store[SIM_CLIENT_VALUE_MAX];
    struct raft_buf buf;
    raft_index target = 0;
    int i;

    for (i = 0; i < k; i++) {
        sim_client_values(s, &buf, 1, store);
        if (sim_node_submit(s, l, &buf, 1) != 0) {
            return false;
        }
        target = raft_last_index(l->raft);
        printf("t=%llu client write -> n%llu, appended at index %llu\n", LLU(s->now), LLU(l->id),
               LLU(target));
        sim_world_run_until(s, NULL, NULL, s->now + 5);
    }
    if (!sim_world_run_until(s, applied_all, &target, s->now + STAGE_MS)) {
        return false;
    }
    progress(s);
    return true;
}

static void table(struct sim *s)
{
    raft_id id;

    printf("node  role       term  commit  applied\n");
    for (id = 1; id <= s->n_ids; id++) {
        const struct sim_node *n = s->nodes[id];

        printf("n%-4llu %-10s %4llu  %6llu  %7llu\n", LLU(id), raft_role_name(n->role),
               LLU(n->term), LLU(n->commit), LLU(n->sm.applied));
    }
}

static bool story(struct sim *s)
{
    struct sim_node *l;
    struct sim_node *old;
    raft_index target;

    printf("t=0 %d nodes start as followers; no faults, message delays 1-20 ms\n", DEMO_NODES);
    printf("(c = commit index, a = applied index; a new leader first appends a no-op)\n");
    if ((l = elect(s, 0)) == NULL || !writes(s, l, 3)) {
        return false;
    }
    old = l;
    printf("t=%llu n%llu (the leader) crashes\n", LLU(s->now), LLU(old->id));
    sim_node_crash(s, old);
    if ((l = elect(s, old->id)) == NULL || !writes(s, l, 3)) {
        return false;
    }
    printf("t=%llu n%llu restarts from its disk (term %llu, last index %llu)\n", LLU(s->now),
           LLU(old->id), LLU(old->disk.term), LLU(sim_disk_last_index(&old->disk)));
    sim_node_start(s, old);
    target = l->sm.applied;
    if (!sim_world_run_until(s, applied_all, &target, s->now + STAGE_MS)) {
        return false;
    }
    printf("t=%llu n%llu caught up to index %llu\n", LLU(s->now), LLU(old->id),
           LLU(old->sm.applied));
    progress(s);
    return true;
}

int sim_demo_run(void)
{
    struct sim_opts o = {.seed = DEMO_SEED, .nodes = DEMO_NODES, .calm = true};
    struct sim *s = sim_util_calloc(1, sizeof *s);
    bool ok;

    o.time_ms = 0;
    if (sim_world_init(s, &o) != 0) {
        sim_util_free(s);
        return 1;
    }
    ok = story(s) && !s->check.failed;
    if (ok) {
        table(s);
    } else {
        printf("demo failed: %s %s\n", s->check.what, s->check.detail);
    }
    sim_world_close(s);
    sim_util_free(s);
    return ok ? 0 : 1;
}
