/* SPDX-License-Identifier: MIT */
/* world: one seeded run: parameters, the event loop, the heal phase and its
 * liveness check, and the final state hash. */
#include "tests/sim/world.h"

#include <stdio.h>
#include <string.h>

#include "coord/log.h"
#include "raft/base/assert.h"
#include "tests/sim/chaos.h"
#include "tests/sim/client.h"
#include "tests/sim/util.h"

#define LLU(x) ((unsigned long long)(x))

#define MAX_NODES         9               /* initial voters, at most */
#define LIVENESS_TIMEOUTS 30              /* HEAL must succeed within this many election timeouts */
#define MAX_SAME_TIME     1000000         /* events at one instant before we call it a livelock */
#define STORE_SEED_SALT   0x73746f7265ULL /* "store": store_rng's seed is the run's, salted */
#define LOG_LINE_MAX      600             /* bytes of one coord log line in the trace */

uint64_t sim_world_below(struct sim *s, uint64_t n)
{
    return raft_rand_below(&s->rng, n);
}

uint64_t sim_world_range(struct sim *s, uint64_t lo, uint64_t hi)
{
    return hi <= lo ? lo : lo + raft_rand_below(&s->rng, hi - lo + 1);
}

bool sim_world_chance(struct sim *s, unsigned per_mille)
{
    return per_mille > 0 && raft_rand_chance(&s->rng, per_mille) != 0;
}

void sim_world_push(struct sim *s, const struct sim_event *ev)
{
    sim_queue_push(&s->q, ev);
}

struct sim_node *sim_world_node(struct sim *s, raft_id id)
{
    return id >= 1 && id <= SIM_MAX_IDS ? s->nodes[id] : NULL;
}

struct sim_snapdata *sim_world_blob(struct sim *s, const struct sim_snapdata *d)
{
    struct sim_snapdata *copy = sim_util_malloc(sizeof *copy);

    *copy = *d;
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
    sim_util_reserve((void **)&s->blobs, &s->cap_blobs, s->n_blobs + 1, sizeof *s->blobs);
    s->blobs[s->n_blobs++] = copy;
    return copy;
}

/* Core configuration: timeouts, flow control and snapshots vary per run. */
static void draw_config(struct sim *s, struct raft_config *cfg)
{
    raft_config_default(cfg);
    cfg->election_timeout_ms = (uint32_t)sim_world_range(s, 100, 300);
    cfg->heartbeat_ms = cfg->election_timeout_ms / 5;
    cfg->pre_vote = sim_world_chance(s, 800);
    cfg->check_quorum = sim_world_chance(s, 800);
    cfg->max_inflight = sim_world_chance(s, 500) ? (uint32_t)sim_world_range(s, 2, 64) : 64;
    /* Small batches often: a follower then acknowledges an old leader's
     * entries apart from the new leader's no-op (Raft figure 8). */
    cfg->max_msg_entries = sim_world_chance(s, 250)   ? 1
                           : sim_world_chance(s, 300) ? (uint32_t)sim_world_range(s, 2, 8)
                           : sim_world_chance(s, 500) ? (uint32_t)sim_world_range(s, 9, 64)
                                                      : 64;
    if (sim_world_chance(s, 200)) {
        cfg->max_msg_bytes = sim_world_range(s, 16, 256);
    }
    cfg->snapshot_trailing = sim_world_range(s, 0, 50);
    cfg->promote_max_lag = 20;
}

/* Fault weights of a run. Three characters: mixed (everything, now and
 * then), storm (frequent crashes, leaders first, many right before an fsync
 * completes, fast restarts: election and durability bugs) and net (heavy
 * loss, duplication and partitions: replication and read bugs). */
static void draw_faults(struct sim *s)
{
    struct sim_params *p = &s->p;
    unsigned profile = (unsigned)sim_world_below(s, 10);

    p->w_crash = (unsigned)sim_world_range(s, 0, 10);
    p->w_pause = (unsigned)sim_world_range(s, 0, 10);
    p->w_isolate = (unsigned)sim_world_range(s, 0, 10);
    p->w_pair = (unsigned)sim_world_range(s, 0, 10);
    p->w_oneway = (unsigned)sim_world_range(s, 0, 10);
    p->w_split = (unsigned)sim_world_range(s, 0, 10);
    p->w_heal = (unsigned)sim_world_range(s, 1, 10);
    p->chaos_ms = (uint32_t)sim_world_range(s, 100, 800);
    p->fast_restart_pm = (unsigned)sim_world_range(s, 100, 600);
    p->leader_crash_pm = (unsigned)sim_world_range(s, 0, 700);
    p->sync_crash_pm = sim_world_chance(s, 500) ? 0 : (unsigned)sim_world_range(s, 1, 30);
    /* Votes are rare events, so crashing right after many of them costs a
     * run little and tests that a vote is durable before it is revealed. */
    p->vote_crash_pm = sim_world_chance(s, 300) ? 0 : (unsigned)sim_world_range(s, 100, 600);
    p->new_leader_pm = sim_world_chance(s, 500) ? 0 : (unsigned)sim_world_range(s, 10, 100);
    s->net.drop_pm = sim_world_chance(s, 300) ? 0 : (unsigned)sim_world_range(s, 1, 100);
    s->net.dup_pm = (unsigned)sim_world_range(s, 0, 30);
    s->net.tail_pm = (unsigned)sim_world_range(s, 0, 30);
    if (profile < 3) { /* storm */
        p->w_crash = (unsigned)sim_world_range(s, 10, 30);
        p->chaos_ms = (uint32_t)sim_world_range(s, 50, 250);
        p->fast_restart_pm = (unsigned)sim_world_range(s, 500, 900);
        p->leader_crash_pm = (unsigned)sim_world_range(s, 500, 900);
        p->sync_crash_pm = (unsigned)sim_world_range(s, 20, 150);
        p->new_leader_pm = (unsigned)sim_world_range(s, 100, 500);
    } else if (profile < 6) { /* net */
        p->w_crash = (unsigned)sim_world_range(s, 0, 2);
        p->chaos_ms = (uint32_t)sim_world_range(s, 30, 300);
        s->net.drop_pm = (unsigned)sim_world_range(s, 50, 200);
        s->net.dup_pm = (unsigned)sim_world_range(s, 10, 100);
        s->net.tail_pm = (unsigned)sim_world_range(s, 10, 100);
    }
}

/* The real disks of --storage real, from their own PRNG: the run's other
 * parameters stay those of the same seed without it. */
static void draw_storage(struct sim *s)
{
    struct sim_params *p = &s->p;
    struct raft_rand *r = &s->store_rng;

    raft_rand_seed(r, sim_util_mix(s->o.seed, STORE_SEED_SALT));
    p->segment_size = (uint64_t)4096 << raft_rand_below(r, 5); /* 4 KiB .. 64 KiB */
    p->preallocate = raft_rand_chance(r, 500) != 0;
    p->power_pm = (unsigned)raft_rand_below(r, 1001);
    p->sync_max_ms = (uint32_t)raft_rand_below(r, 6);
    p->torn_crash_pm = raft_rand_chance(r, 300) ? 0 : 1 + (unsigned)raft_rand_below(r, 30);
}

/* coord's log lines (storage warnings: torn tails cut, terms raised) go to
 * the trace, without the run's directory. */
static void log_sink(void *arg, int level, const char *line)
{
    struct sim *s = arg;
    char buf[LOG_LINE_MAX];

    if (level == COORD_LOG_WARN && strstr(line, "torn tail") != NULL) {
        s->n_torn++;
    }
    if (level == COORD_LOG_WARN && strstr(line, "unflushed batch") != NULL) {
        s->n_batch_cut++;
    }
    if (!sim_trace_on(&s->trace)) {
        return;
    }
    (void)snprintf(buf, sizeof buf, "%s", line);
    sim_store_unroot(buf, s->store_root);
    SIM_TRACE(s, "storage: %s", buf);
}

/* Disk, workload and network delays of a run. */
static void draw_params(struct sim *s)
{
    struct sim_params *p = &s->p;

    draw_config(s, &p->cfg);
    draw_faults(s);
    p->snap_every = (uint32_t)sim_world_range(s, 20, 200);
    p->disk_max_ms = 5;
    p->disk_slow_pm = (unsigned)sim_world_range(s, 0, 50);
    p->disk_slow_ms = (uint32_t)sim_world_range(s, 10, 80);
    p->client_ms = (uint32_t)sim_world_range(s, 5, 40);
    p->w_propose = 60;
    p->w_read = 25;
    p->w_conf = (unsigned)sim_world_range(s, 0, 10);
    p->w_transfer = (unsigned)sim_world_range(s, 0, 5);
    p->w_campaign = (unsigned)sim_world_range(s, 0, 2);
    p->oom_pm = sim_world_chance(s, 700) ? 0 : (unsigned)sim_world_range(s, 1, 20);
    p->leader_pm = 800;
    s->net.delay_min_ms = 1;
    s->net.delay_max_ms = 20;
    s->net.tail_max_ms = (uint32_t)sim_world_range(s, 50, 500);
}

int sim_world_init(struct sim *s, const struct sim_opts *o)
{
    struct raft_conf conf = {0};
    struct sim_event ev = {0};
    raft_id id;

    memset(s, 0, sizeof *s);
    if (o->nodes < 1 || o->nodes > MAX_NODES) {
        (void)fprintf(stderr, "sim: --nodes must be 1..%d\n", MAX_NODES);
        return -1;
    }
    s->o = *o;
    raft_rand_seed(&s->rng, o->seed);
    sim_queue_init(&s->q);
    sim_trace_init(&s->trace, o->trace);
    sim_check_init(&s->check);
    draw_params(s);
    if (o->calm) {
        s->net.drop_pm = s->net.dup_pm = s->net.tail_pm = 0;
        s->p.disk_slow_pm = 0;
    }
    if (o->storage) {
        s->store_root = sim_store_root_new();
        if (s->store_root == NULL) {
            sim_queue_close(&s->q);
            sim_check_close(&s->check);
            return -1;
        }
        draw_storage(s);
        coord_log_set_sink(log_sink, s);
    }
    for (id = 1; id <= o->nodes; id++) {
        char addr[16];

        (void)snprintf(addr, sizeof addr, "n%llu", LLU(id));
        raft_conf_add(&conf, id, RAFT_VOTER, addr);
    }
    SIM_TRACE(s,
              "run: election=%ums heartbeat=%ums pre_vote=%d check_quorum=%d inflight=%u "
              "batch=%u bytes=%llu trailing=%llu snap_every=%u drop=%u dup=%u tail=%u "
              "chaos=%ums crash=%u vote_crash=%u sync_crash=%u new_leader=%u oom=%u",
              s->p.cfg.election_timeout_ms, s->p.cfg.heartbeat_ms, s->p.cfg.pre_vote,
              s->p.cfg.check_quorum, s->p.cfg.max_inflight, s->p.cfg.max_msg_entries,
              LLU(s->p.cfg.max_msg_bytes), LLU(s->p.cfg.snapshot_trailing), s->p.snap_every,
              s->net.drop_pm, s->net.dup_pm, s->net.tail_pm, s->p.chaos_ms, s->p.w_crash,
              s->p.vote_crash_pm, s->p.sync_crash_pm, s->p.new_leader_pm, s->p.oom_pm);
    for (id = 1; id <= o->nodes; id++) {
        sim_node_new(s, id, &conf);
    }
    if (!o->calm) {
        ev.type = SIM_EV_CHAOS;
        ev.at = sim_world_range(s, 1, s->p.chaos_ms);
        sim_world_push(s, &ev);
        ev.type = SIM_EV_CLIENT;
        ev.at = sim_world_range(s, 1, s->p.client_ms);
        sim_world_push(s, &ev);
    }
    return 0;
}

void sim_world_close(struct sim *s)
{
    struct sim_event ev;
    size_t i;
    raft_id id;

    while (sim_queue_pop(&s->q, &ev)) {
        sim_net_msg_free(ev.msg);
    }
    sim_queue_close(&s->q);
    for (id = 1; id <= SIM_MAX_IDS; id++) {
        sim_node_free(s->nodes[id]);
        s->nodes[id] = NULL;
    }
    for (i = 0; i < s->n_blobs; i++) {
        sim_util_free(s->blobs[i]);
    }
    sim_util_free(s->blobs);
    sim_check_close(&s->check);
    if (s->store_root != NULL) {
        coord_log_set_sink(NULL, NULL);
        sim_store_root_free(s->store_root);
        s->store_root = NULL;
    }
}

void sim_world_store_stats(const struct sim *s, struct sim_store_stats *stats)
{
    raft_id id;

    memset(stats, 0, sizeof *stats);
    for (id = 1; id <= s->n_ids; id++) {
        if (s->nodes[id] != NULL && s->nodes[id]->store != NULL) {
            sim_store_stats_add(s->nodes[id]->store, stats);
        }
    }
    stats->n_torn = s->n_torn;
    stats->n_batch_cut = s->n_batch_cut;
}

uint64_t sim_world_hash(const struct sim *s)
{
    uint64_t h = sim_util_mix(0, s->n_ids);
    raft_id id;

    for (id = 1; id <= s->n_ids; id++) {
        const struct sim_node *n = s->nodes[id];

        if (n == NULL) {
            continue;
        }
        h = sim_util_mix(h, id);
        h = sim_util_mix(h, n->state);
        h = sim_disk_hash(&n->disk, h);
    }
    return h;
}

void sim_world_heal(struct sim *s)
{
    raft_id id;

    s->phase = SIM_PHASE_HEAL;
    s->heal_at = s->now;
    s->deadline = s->now + (raft_time)LIVENESS_TIMEOUTS * s->p.cfg.election_timeout_ms;
    s->probe_value = s->next_value + 1;
    s->probe_next = s->now;
    SIM_TRACE(s, "HEAL: network healed, nodes resumed and restarted; liveness by t=%llu",
              LLU(s->deadline));
    sim_net_heal_all(s);
    for (id = 1; id <= s->n_ids; id++) {
        struct sim_node *n = s->nodes[id];

        if (n == NULL) {
            continue;
        }
        if (n->state == SIM_NODE_UP && n->paused) {
            sim_node_unpause(s, n);
        } else if (n->state == SIM_NODE_DOWN) {
            sim_node_start(s, n);
        }
    }
}

static void dispatch(struct sim *s, struct sim_event *ev)
{
    bool chaos = s->phase == SIM_PHASE_CHAOS;

    switch (ev->type) {
    case SIM_EV_DELIVER:
        if (ev->flag) {
            sim_node_event(s, ev); /* waited at a paused node: past the network */
        } else {
            sim_net_deliver(s, ev);
        }
        break;
    case SIM_EV_PERSISTED:
    case SIM_EV_SYNC:
    case SIM_EV_TIMEOUT:
    case SIM_EV_SNAP_SENT:
        sim_node_event(s, ev);
        break;
    case SIM_EV_RESTART:
        sim_chaos_restart(s, ev);
        break;
    case SIM_EV_CRASH:
        if (chaos) {
            sim_chaos_crash_event(s, ev);
        }
        break;
    case SIM_EV_UNPAUSE:
        sim_chaos_unpause(s, ev);
        break;
    case SIM_EV_HEAL:
        sim_net_heal(s, ev);
        break;
    case SIM_EV_CHAOS:
        if (chaos) {
            sim_chaos_tick(s);
        }
        break;
    case SIM_EV_CLIENT:
        if (chaos) {
            sim_client_tick(s);
        }
        break;
    default:
        RAFT_UNREACHABLE();
    }
}

/* Stop nodes whose removal was committed during the event (never while one
 * of their own updates is being carried out). */
static void stop_removed(struct sim *s)
{
    raft_id id;

    for (id = 1; id <= s->n_ids; id++) {
        struct sim_node *n = s->nodes[id];

        if (n != NULL && n->stop_pending) {
            sim_node_stop(s, n);
        }
    }
}

/* Pop and process one event. Returns false when nothing is left to do. */
static bool next_event(struct sim *s, raft_time *same_since, uint64_t *same_count)
{
    struct sim_event ev;

    if (!sim_queue_pop(&s->q, &ev)) {
        sim_check_fail(&s->check, "liveness", "no events left");
        return false;
    }
    s->now = ev.at;
    s->check.now = ev.at;
    if (ev.at == *same_since && ++*same_count > MAX_SAME_TIME) {
        sim_check_fail(&s->check, "livelock", "more than %d events at one instant", MAX_SAME_TIME);
    } else if (ev.at != *same_since) {
        *same_since = ev.at;
        *same_count = 0;
    }
    dispatch(s, &ev);
    stop_removed(s);
    s->n_events++;
    return !s->check.failed;
}

bool sim_world_run_until(struct sim *s, bool (*pred)(struct sim *s, void *arg), void *arg,
                         raft_time limit)
{
    raft_time same_since = s->now;
    uint64_t same_count = 0;

    while (!s->check.failed && s->q.n > 0 && s->q.heap[0].at <= limit) {
        if (!next_event(s, &same_since, &same_count)) {
            return false;
        }
        if (pred != NULL && pred(s, arg)) {
            return true;
        }
    }
    if (s->now < limit && !s->check.failed) {
        s->now = limit;
        s->check.now = limit;
    }
    return false;
}

struct sim_node *sim_world_leader(struct sim *s)
{
    struct sim_node *best = NULL;
    const struct raft_conf *conf;
    unsigned voters = 0;
    unsigned know = 0;
    raft_id id;
    uint32_t i;

    for (id = 1; id <= s->n_ids; id++) {
        struct sim_node *n = s->nodes[id];

        if (sim_node_ready(n) && n->role == RAFT_LEADER && (best == NULL || n->term > best->term)) {
            best = n;
        }
    }
    if (best == NULL) {
        return NULL;
    }
    conf = raft_conf_get(best->raft);
    for (i = 0; i < conf->n; i++) {
        const struct sim_node *m = sim_world_node(s, conf->servers[i].id);

        if (conf->servers[i].role != RAFT_VOTER) {
            continue;
        }
        voters++;
        if (sim_node_ready(m) && m->term == best->term && (m->leader == best->id || m == best)) {
            know++;
        }
    }
    return know * 2 > voters ? best : NULL;
}

/* Voters of l's configuration that applied a probe write. */
static bool probe_applied(struct sim *s, struct sim_node *l)
{
    const struct raft_conf *conf = raft_conf_get(l->raft);
    unsigned voters = 0;
    unsigned seen = 0;
    uint32_t i;

    for (i = 0; i < conf->n; i++) {
        const struct sim_node *m = sim_world_node(s, conf->servers[i].id);

        if (conf->servers[i].role != RAFT_VOTER) {
            continue;
        }
        voters++;
        if (sim_node_ready(m) && m->probe_seen) {
            seen++;
        }
    }
    return seen * 2 > voters;
}

static bool liveness_done(struct sim *s, void *arg)
{
    struct sim_node *l = sim_world_leader(s);

    (void)arg;
    if (l == NULL) {
        return false;
    }
    if (!probe_applied(s, l)) {
        if (s->now >= s->probe_next) {
            int rv = sim_client_write(s, l);

            SIM_TRACE(s, "probe write at n%llu: %s", LLU(l->id),
                      rv == 0 ? "ok" : raft_err_name(rv));
            s->probe_next = s->now + s->p.cfg.election_timeout_ms;
        }
        return false;
    }
    if (s->probe_read_done) {
        SIM_TRACE(s, "LIVE: n%llu leads term %llu, probe write applied by a majority, read done",
                  LLU(l->id), LLU(l->term));
        return true;
    }
    if (s->probe_read == 0 && s->now >= s->probe_next) {
        /* Then a ReadIndex read at the leader must complete too. */
        s->probe_read = s->next_read + 1;
        if (sim_node_read(s, l) != 0) {
            s->probe_read = 0;
            s->probe_next = s->now + s->p.cfg.election_timeout_ms;
        }
    }
    return false;
}

static void liveness_fail(struct sim *s)
{
    struct sim_node *l = sim_world_leader(s);
    char buf[256] = "";
    size_t off = 0;
    raft_id id;

    for (id = 1; id <= s->n_ids && off < sizeof buf - 48; id++) {
        const struct sim_node *n = s->nodes[id];

        if (n != NULL && n->state == SIM_NODE_UP) {
            off += (size_t)snprintf(buf + off, sizeof buf - off, " n%llu:%s/t%llu/c%llu", LLU(id),
                                    raft_role_name(n->role), LLU(n->term), LLU(n->commit));
        }
    }
    sim_check_fail(&s->check, "liveness", "%s within %llu ms of healing;%s",
                   l == NULL              ? "no leader known to a majority"
                   : !probe_applied(s, l) ? "probe write not applied by a majority"
                                          : "probe read not completed",
                   LLU(s->deadline - s->heal_at), buf);
}

int sim_world_run(struct sim *s)
{
    sim_world_run_until(s, NULL, NULL, s->o.time_ms);
    if (!s->check.failed) {
        sim_world_heal(s);
    }
    if (!s->check.failed) {
        if (sim_world_run_until(s, liveness_done, NULL, s->deadline)) {
            s->phase = SIM_PHASE_DONE;
        } else if (!s->check.failed) {
            liveness_fail(s);
        }
    }
    if (!s->check.failed) {
        sim_check_acks(&s->check);
    }
    return s->check.failed ? 1 : 0;
}
