/* SPDX-License-Identifier: MIT */
/* script: build, run and model the crash tests' workload (see script.h).
 * The builder draws every size and choice from one seeded PRNG, so a seed
 * names one workload exactly. */
#include "tests/crash/script.h"

#include <stdio.h>
#include <string.h>

#include "coord/codec_cmd.h"
#include "raft/base/alloc.h"
#include "raft/base/assert.h"
#include "raft/base/rand.h"

#define N_KEYS        24u                   /* plain keys "k00".."k23" */
#define N_PREFIXES    4u                    /* prefixes "p/0/".."p/3/", each with up to 8 keys */
#define VALUE_MAX     3000u                 /* bytes of the largest value drawn */
#define TRAILING_MAX  24u                   /* entries a compaction may keep below the snapshot */
#define TXN_OPS_MAX   3u                    /* ops per txn branch drawn */
#define TXN_VALUE_MAX 256u                  /* bytes of a value put by a txn */
#define TXN_KEYS      (2 * TXN_OPS_MAX + 1) /* keys of one txn: its ops' and the compare's */
#define KEY_LEN       16u                   /* bytes for a drawn key */
#define SERVERS_MIN   3u                    /* voters in a drawn configuration */
#define ADDR_LEN      32u                   /* bytes for a drawn address */
#define ERR_LEN       200u                  /* bytes of a run's error line */

/* ---- building ---------------------------------------------------------------------------- */

struct gen {
    struct raft_rand rand;
    struct script *s;
    size_t batch_max; /* commands in one batch's append, at most */
    bool log_only;
    raft_term term;
    raft_id vote;
    raft_index last;
    raft_index commit;
    raft_index hs_commit; /* commit last written with a hard state */
    raft_index applied;
    raft_index snap;
    uint64_t n_cmds; /* commands drawn: their seq and time */
};

static int push_op(struct gen *g, const struct script_op *op)
{
    struct script *s = g->s;
    struct script_op *ops;
    size_t cap;

    if (s->n_ops == s->cap_ops) {
        cap = s->cap_ops == 0 ? 256 : s->cap_ops * 2;
        ops = raft_realloc(s->ops, cap * sizeof(*ops));
        if (ops == NULL) {
            return RAFT_ENOMEM;
        }
        s->ops = ops;
        s->cap_ops = cap;
    }
    s->ops[s->n_ops++] = *op;
    return 0;
}

static int push_simple(struct gen *g, uint8_t type, raft_index index)
{
    struct script_op op = {.type = type, .index = index};

    return push_op(g, &op);
}

/* Take data (owned, raft_malloc) into the pool as the next entry of the
 * current term; on failure data is freed. */
static int push_entry(struct gen *g, uint8_t type, struct raft_buf data)
{
    struct script *s = g->s;
    struct raft_entry *pool;
    size_t cap;

    if (s->n_pool == s->cap_pool) {
        cap = s->cap_pool == 0 ? 256 : s->cap_pool * 2;
        pool = raft_realloc(s->pool, cap * sizeof(*pool));
        if (pool == NULL) {
            raft_free(data.base);
            return RAFT_ENOMEM;
        }
        s->pool = pool;
        s->cap_pool = cap;
    }
    g->last++;
    s->pool[s->n_pool].term = g->term;
    s->pool[s->n_pool].index = g->last;
    s->pool[s->n_pool].type = type;
    s->pool[s->n_pool].data = data;
    s->n_pool++;
    return 0;
}

static struct raft_buf str_buf(char *s)
{
    struct raft_buf b = {s, strlen(s)};

    return b;
}

/* A key into buf: mostly plain keys, some under prefixes (for range ops). */
static struct raft_buf draw_key(struct gen *g, char *buf)
{
    if (raft_rand_chance(&g->rand, 750)) {
        (void)snprintf(buf, KEY_LEN, "k%02u", (unsigned)raft_rand_below(&g->rand, N_KEYS));
    } else {
        (void)snprintf(buf, KEY_LEN, "p/%u/%u", (unsigned)raft_rand_below(&g->rand, N_PREFIXES),
                       (unsigned)raft_rand_below(&g->rand, 8));
    }
    return str_buf(buf);
}

/* A value into buf (VALUE_MAX bytes): mostly short, sometimes a few KiB so
 * that segments roll. */
static struct raft_buf draw_value(struct gen *g, uint8_t *buf)
{
    struct raft_buf b = {buf, 0};
    size_t i;

    if (raft_rand_chance(&g->rand, 700)) {
        b.len = (size_t)raft_rand_below(&g->rand, 64);
    } else if (raft_rand_chance(&g->rand, 850)) {
        b.len = 64 + (size_t)raft_rand_below(&g->rand, 448);
    } else {
        b.len = 1000 + (size_t)raft_rand_below(&g->rand, VALUE_MAX - 1000);
    }
    for (i = 0; i < b.len; i++) {
        buf[i] = (uint8_t)raft_rand_next(&g->rand);
    }
    return b;
}

/* A delete of one key, or of every key under a prefix (range_end is the
 * prefix with its last byte + 1). */
static void draw_delete(struct gen *g, struct coord_cmd_delete *del, char *key, char *end)
{
    unsigned p;

    del->prev_kv = raft_rand_chance(&g->rand, 300);
    if (raft_rand_chance(&g->rand, 700)) {
        del->key = draw_key(g, key);
        del->range_end.base = NULL;
        del->range_end.len = 0;
        return;
    }
    p = (unsigned)raft_rand_below(&g->rand, N_PREFIXES);
    (void)snprintf(key, KEY_LEN, "p/%u/", p);
    (void)snprintf(end, KEY_LEN, "p/%u0", p); /* '0' is '/' + 1 */
    del->key = str_buf(key);
    del->range_end = str_buf(end);
}

/* Storage for the bufs of one drawn txn. */
struct txn_bufs {
    struct coord_cmd_compare cmp;
    struct coord_txn_op ops[2 * TXN_OPS_MAX];
    char keys[TXN_KEYS][KEY_LEN];
    char ends[2 * TXN_OPS_MAX][KEY_LEN];
    uint8_t value[VALUE_MAX];
    uint8_t cmp_value[2];
};

static void draw_txn_op(struct gen *g, struct txn_bufs *b, size_t i)
{
    struct coord_txn_op *op = &b->ops[i];
    uint64_t pick = raft_rand_below(&g->rand, 10);

    memset(op, 0, sizeof(*op));
    if (pick < 6) {
        op->type = COORD_OP_PUT;
        op->put.key = draw_key(g, b->keys[i]);
        op->put.value = draw_value(g, b->value); /* shared: each put gets the same bytes */
        if (op->put.value.len > TXN_VALUE_MAX) {
            op->put.value.len = TXN_VALUE_MAX; /* six puts must fit in one entry */
        }
    } else if (pick < 9) {
        op->type = COORD_OP_DELETE_RANGE;
        draw_delete(g, &op->del, b->keys[i], b->ends[i]);
    } else {
        op->type = COORD_OP_RANGE;
        op->range.key = draw_key(g, b->keys[i]);
        op->range.limit = raft_rand_below(&g->rand, 4);
    }
}

/* If one compare holds, some ops, else others. */
static void draw_txn(struct gen *g, struct coord_cmd_txn *txn, struct txn_bufs *b)
{
    static const uint8_t targets[] = {COORD_CMP_VALUE, COORD_CMP_VERSION, COORD_CMP_CREATE_REVISION,
                                      COORD_CMP_MOD_REVISION, COORD_CMP_EXISTS};
    struct coord_cmd_compare *c = &b->cmp;
    size_t i;

    memset(c, 0, sizeof(*c));
    c->key = draw_key(g, b->keys[TXN_KEYS - 1]);
    c->target = targets[raft_rand_below(&g->rand, sizeof(targets))];
    c->op = (uint8_t)(COORD_CMP_EQ + raft_rand_below(&g->rand, 4));
    if (c->target == COORD_CMP_EXISTS) {
        c->op = raft_rand_chance(&g->rand, 500) ? COORD_CMP_EQ : COORD_CMP_NE;
        c->exists = raft_rand_chance(&g->rand, 500);
    } else if (c->target == COORD_CMP_VALUE) {
        c->value.base = b->cmp_value;
        c->value.len = (size_t)raft_rand_below(&g->rand, sizeof(b->cmp_value) + 1);
        memset(b->cmp_value, 'a', sizeof(b->cmp_value));
    } else {
        c->number = raft_rand_below(&g->rand, 4 + g->n_cmds);
    }
    txn->compares = c;
    txn->n_compares = 1;
    txn->n_success = 1 + (size_t)raft_rand_below(&g->rand, TXN_OPS_MAX);
    txn->n_failure = (size_t)raft_rand_below(&g->rand, TXN_OPS_MAX + 1);
    txn->success = b->ops;
    txn->failure = &b->ops[TXN_OPS_MAX];
    for (i = 0; i < txn->n_success; i++) {
        draw_txn_op(g, b, i);
    }
    for (i = 0; i < txn->n_failure; i++) {
        draw_txn_op(g, b, TXN_OPS_MAX + i);
    }
}

/* One NORMAL entry: an encoded put, delete or txn, or now and then bytes
 * that are no command at all (the state machine applies them as no-ops). */
static int push_command(struct gen *g)
{
    static struct txn_bufs b; /* large; the builder is single-threaded */
    struct coord_cmd cmd = {.version = COORD_CMD_VERSION};
    struct raft_buf data;
    uint64_t pick = raft_rand_below(&g->rand, 100);
    int rv;

    g->n_cmds++;
    cmd.client_id = 1 + raft_rand_below(&g->rand, 4);
    cmd.seq = g->n_cmds;
    cmd.time_ms = 1700000000000u + 10 * g->n_cmds;
    if (pick < 3) {
        data.len = 1 + (size_t)raft_rand_below(&g->rand, 40);
        data.base = raft_malloc(data.len);
        if (data.base == NULL) {
            return RAFT_ENOMEM;
        }
        memset(data.base, 0xff, data.len);
        return push_entry(g, RAFT_ENTRY_NORMAL, data);
    }
    if (pick < 55) {
        cmd.type = COORD_CMD_PUT;
        cmd.put.key = draw_key(g, b.keys[0]);
        cmd.put.value = draw_value(g, b.value);
        cmd.put.prev_kv = raft_rand_chance(&g->rand, 200);
    } else if (pick < 75) {
        cmd.type = COORD_CMD_DELETE_RANGE;
        draw_delete(g, &cmd.del, b.keys[0], b.ends[0]);
    } else {
        cmd.type = COORD_CMD_TXN;
        draw_txn(g, &cmd.txn, &b);
    }
    rv = coord_cmd_encode(&cmd, &data);
    if (rv != 0) {
        return rv;
    }
    return push_entry(g, RAFT_ENTRY_NORMAL, data);
}

/* A configuration: 3 to 5 voters, maybe a learner. */
static void draw_conf(struct gen *g, struct raft_conf *conf)
{
    char addr[ADDR_LEN];
    unsigned n = SERVERS_MIN + (unsigned)raft_rand_below(&g->rand, 3);
    unsigned i;

    memset(conf, 0, sizeof(*conf));
    for (i = 1; i <= n; i++) {
        (void)snprintf(addr, sizeof(addr), "10.0.0.%u:7000", i);
        RAFT_ASSERT(raft_conf_add(conf, i, RAFT_VOTER, addr) == 0);
    }
    if (raft_rand_chance(&g->rand, 300)) {
        RAFT_ASSERT(raft_conf_add(conf, n + 1, RAFT_LEARNER, "10.0.0.99:7000") == 0);
    }
}

static int push_conf(struct gen *g)
{
    struct raft_conf conf;
    struct raft_buf data;

    draw_conf(g, &conf);
    data.len = raft_conf_encoded_len(&conf);
    data.base = raft_malloc(data.len);
    if (data.base == NULL) {
        return RAFT_ENOMEM;
    }
    raft_conf_encode(&conf, data.base);
    return push_entry(g, RAFT_ENTRY_CONF, data);
}

static int push_hard_state(struct gen *g)
{
    struct script_op op = {.type = SCRIPT_HARD_STATE};

    op.term = g->term;
    op.vote = g->vote;
    op.index = g->commit;
    g->hs_commit = g->commit;
    return push_op(g, &op);
}

/* A snapshot from the new leader, covering our committed entries, some of
 * the uncommitted ones or more than we have; it drops the whole log. */
static int install(struct gen *g)
{
    struct script_op op = {.type = SCRIPT_INSTALL};

    op.meta.index = g->commit + raft_rand_below(&g->rand, g->last - g->commit + 8);
    op.meta.index = op.meta.index > 0 ? op.meta.index : 1;
    op.meta.term = g->term;
    draw_conf(g, &op.meta.conf);
    g->last = op.meta.index;
    g->commit = op.meta.index;
    return push_op(g, &op);
}

/* A new term: a vote now or later, and, as a new leader would cause, maybe
 * the uncommitted suffix dropped, or (log-only scripts) the whole log for a
 * snapshot. The batch then starts with a NOOP. */
static int new_term(struct gen *g)
{
    raft_index from;
    int rv;

    g->term += 1 + raft_rand_below(&g->rand, 2);
    RAFT_ASSERT(g->term < SCRIPT_TERMS_MAX);
    g->vote = raft_rand_chance(&g->rand, 400) ? 0 : 1 + raft_rand_below(&g->rand, 3);
    rv = push_hard_state(g);
    if (rv == 0 && g->log_only && raft_rand_chance(&g->rand, 350)) {
        return install(g);
    }
    if (rv == 0 && g->last > g->commit && raft_rand_chance(&g->rand, 750)) {
        from = g->commit + 1 + raft_rand_below(&g->rand, g->last - g->commit);
        g->last = from - 1;
        rv = push_simple(g, SCRIPT_TRUNCATE, from);
    }
    return rv;
}

/* The entries of one batch, appended by one op. */
static int batch_entries(struct gen *g, bool leader_noop)
{
    struct script_op op = {.type = SCRIPT_APPEND};
    size_t n = 1 + (size_t)raft_rand_below(&g->rand, g->batch_max);
    size_t i;
    int rv = 0;

    op.first = g->s->n_pool;
    op.index = g->last + 1;
    if (leader_noop) {
        rv = push_entry(g, RAFT_ENTRY_NOOP, (struct raft_buf){NULL, 0});
    }
    if (rv == 0 && raft_rand_chance(&g->rand, 40)) {
        rv = push_conf(g);
    }
    for (i = 0; rv == 0 && i < n; i++) {
        rv = push_command(g);
    }
    op.n = g->s->n_pool - op.first;
    return rv != 0 ? rv : push_op(g, &op);
}

/* After a batch: commit behind the durable index, apply, and now and then
 * sync the state machine, snapshot it and compact the log below. */
static int after_batch(struct gen *g)
{
    raft_index below;
    int rv = 0;

    if (g->last > g->commit && raft_rand_chance(&g->rand, 800)) {
        g->commit += 1 + raft_rand_below(&g->rand, g->last - g->commit);
        rv = push_simple(g, SCRIPT_COMMIT, g->commit);
    }
    if (g->log_only) {
        return rv;
    }
    if (rv == 0 && g->commit > g->applied && raft_rand_chance(&g->rand, 500)) {
        g->applied = g->commit;
        rv = push_simple(g, SCRIPT_APPLY, g->applied);
    }
    if (rv == 0 && raft_rand_chance(&g->rand, 80)) {
        rv = push_simple(g, SCRIPT_FSM_SYNC, 0);
    }
    if (rv == 0 && g->applied > g->snap && raft_rand_chance(&g->rand, 100)) {
        g->snap = g->applied;
        rv = push_simple(g, SCRIPT_SNAPSHOT, g->snap);
        /* Never past what the state machine synced: the snapshot did. */
        below = g->snap + 1 -
                raft_rand_below(&g->rand, g->snap < TRAILING_MAX ? g->snap : TRAILING_MAX);
        if (rv == 0 && raft_rand_chance(&g->rand, 800)) {
            rv = push_simple(g, SCRIPT_COMPACT, below);
        }
    }
    return rv;
}

static int batch(struct gen *g)
{
    bool noop = false;
    int rv = 0;

    if (raft_rand_chance(&g->rand, 110)) {
        rv = new_term(g);
        noop = true;
    } else if (g->vote == 0 && raft_rand_chance(&g->rand, 500)) {
        g->vote = 1 + raft_rand_below(&g->rand, 3); /* a vote later in the term */
        rv = push_hard_state(g);
    } else if (g->commit != g->hs_commit && raft_rand_chance(&g->rand, 300)) {
        rv = push_hard_state(g); /* commit alone: written, flushed lazily */
    }
    if (rv == 0) {
        rv = batch_entries(g, noop);
    }
    if (rv == 0) {
        rv = push_simple(g, SCRIPT_SYNC, g->last);
    }
    return rv != 0 ? rv : after_batch(g);
}

int script_build(uint64_t seed, size_t n_batches, size_t batch_max, bool log_only, struct script *s)
{
    struct gen g;
    size_t i;
    int rv;

    memset(s, 0, sizeof(*s));
    memset(&g, 0, sizeof(g));
    s->seed = seed;
    raft_rand_seed(&g.rand, seed);
    RAFT_ASSERT(batch_max > 0);
    g.s = s;
    g.batch_max = batch_max;
    g.log_only = log_only;
    g.term = 1;
    g.vote = 1;
    /* A node bootstrapping: its vote, the first configuration, a NOOP. */
    rv = push_hard_state(&g);
    if (rv == 0) {
        rv = push_conf(&g);
    }
    if (rv == 0) {
        rv = push_entry(&g, RAFT_ENTRY_NOOP, (struct raft_buf){NULL, 0});
    }
    if (rv == 0) {
        struct script_op op = {.type = SCRIPT_APPEND, .index = 1, .first = 0, .n = 2};

        rv = push_op(&g, &op);
    }
    if (rv == 0) {
        rv = push_simple(&g, SCRIPT_SYNC, g.last);
    }
    for (i = 0; rv == 0 && i < n_batches; i++) {
        rv = batch(&g);
    }
    if (rv != 0) {
        script_free(s);
    }
    return rv;
}

void script_free(struct script *s)
{
    size_t i;

    for (i = 0; i < s->n_pool; i++) {
        raft_free(s->pool[i].data.base);
    }
    raft_free(s->pool);
    raft_free(s->ops);
    memset(s, 0, sizeof(*s));
}

/* ---- the model --------------------------------------------------------------------------- */

const struct raft_entry *script_model_entry(const struct script *s, const struct script_model *m,
                                            raft_index index)
{
    RAFT_ASSERT(index >= 1 && index <= m->last);
    return &s->pool[m->log[index]];
}

/* The configuration in force at index: the last CONF entry at or below it. */
static void conf_at(const struct script *s, const struct script_model *m, raft_index index,
                    struct raft_conf *conf)
{
    const struct raft_entry *e;
    raft_index i;

    memset(conf, 0, sizeof(*conf));
    for (i = index; i >= 1; i--) {
        e = script_model_entry(s, m, i);
        if (e->type == RAFT_ENTRY_CONF) {
            RAFT_ASSERT(raft_conf_decode(&e->data, conf) == 0);
            return;
        }
    }
}

void script_model_step(const struct script *s, const struct script_op *op, struct script_model *m)
{
    size_t i;

    switch (op->type) {
    case SCRIPT_HARD_STATE:
        m->term = op->term;
        m->vote = op->vote;
        m->votes[op->term] = op->vote;
        m->hs_commit_max = op->index > m->hs_commit_max ? op->index : m->hs_commit_max;
        break;
    case SCRIPT_TRUNCATE:
        m->last = op->index - 1;
        m->durable = m->durable < m->last ? m->durable : m->last;
        break;
    case SCRIPT_APPEND:
        RAFT_ASSERT(op->index == m->last + 1 && op->index + op->n <= m->cap);
        for (i = 0; i < op->n; i++) {
            m->log[op->index + i] = op->first + i;
        }
        m->last += op->n;
        break;
    case SCRIPT_SYNC:
        m->durable = m->last;
        m->d_term = m->term;
        m->d_vote = m->vote;
        break;
    case SCRIPT_COMMIT:
        m->commit = op->index;
        break;
    case SCRIPT_APPLY:
        m->applied = op->index;
        break;
    case SCRIPT_FSM_SYNC:
        m->fsm_synced = m->applied;
        break;
    case SCRIPT_SNAPSHOT:
        m->fsm_synced = m->applied;
        m->snap.index = m->applied;
        m->snap.term = script_model_entry(s, m, m->applied)->term;
        conf_at(s, m, m->applied, &m->snap.conf);
        break;
    case SCRIPT_COMPACT:
        break;
    case SCRIPT_INSTALL:
        m->snap = op->meta;
        m->last = op->meta.index;
        m->durable = op->meta.index; /* durable on return: covered by the snapshot */
        m->commit = op->meta.index > m->commit ? op->meta.index : m->commit;
        break;
    default:
        RAFT_UNREACHABLE();
    }
}

int script_model_init(const struct script *s, size_t n_ops, struct script_model *m)
{
    size_t i;

    RAFT_ASSERT(n_ops <= s->n_ops);
    memset(m, 0, sizeof(*m));
    m->cap = 1;
    for (i = 0; i < s->n_ops; i++) {
        if (s->ops[i].type == SCRIPT_APPEND && s->ops[i].index + s->ops[i].n > m->cap) {
            m->cap = s->ops[i].index + s->ops[i].n; /* one past the last index written */
        }
    }
    m->log = raft_calloc(m->cap, sizeof(*m->log));
    if (m->log == NULL) {
        return RAFT_ENOMEM;
    }
    for (i = 0; i < n_ops; i++) {
        script_model_step(s, &s->ops[i], m);
    }
    return 0;
}

void script_model_free(struct script_model *m)
{
    raft_free(m->log);
    memset(m, 0, sizeof(*m));
}

/* ---- running ----------------------------------------------------------------------------- */

int script_apply(const struct script *s, const struct script_model *m, struct coord_fsm *fsm,
                 raft_index from, raft_index to)
{
    static struct raft_entry chunk[COORD_FSM_APPLY_MAX];
    struct coord_fsm_output out;
    size_t n;
    int rv = 0;

    while (rv == 0 && from <= to) {
        for (n = 0; n < COORD_FSM_APPLY_MAX && from + n <= to; n++) {
            chunk[n] = *script_model_entry(s, m, from + n);
        }
        rv = coord_fsm_apply(fsm, chunk, n, &out);
        if (rv == 0) {
            coord_fsm_output_release(&out);
        }
        from += n;
    }
    return rv;
}

struct run {
    const struct script *s;
    const struct script_env *env;
    const struct script_report *rep;
    struct coord_log *log;
    struct coord_fsm *fsm;
    struct script_model m; /* the model after the ops run so far */
    char err[ERR_LEN];     /* why the model and the run disagree, or empty */
};

/* The run and the model disagree. */
static int disagree(struct run *r, const char *what, uint64_t got, uint64_t want)
{
    (void)snprintf(r->err, sizeof(r->err), "%s: got %llu, want %llu", what, (unsigned long long)got,
                   (unsigned long long)want);
    return RAFT_EINVAL;
}

static int run_sync(struct run *r, const struct script_op *op)
{
    struct coord_log_stats st;
    int rv = coord_log_sync(r->log);

    if (rv != 0) {
        return rv;
    }
    coord_log_stats(r->log, &st);
    if (st.last_index != op->index) {
        return disagree(r, "last index after sync", st.last_index, op->index);
    }
    if (r->rep->durable != NULL) {
        r->rep->durable(r->rep->arg, op->index, r->m.term, r->m.vote);
    }
    return 0;
}

static int run_apply(struct run *r, const struct script_op *op)
{
    int rv = script_apply(r->s, &r->m, r->fsm, r->m.applied + 1, op->index);

    if (rv != 0) {
        return rv;
    }
    if (coord_fsm_applied_index(r->fsm) != op->index) {
        return disagree(r, "applied index", coord_fsm_applied_index(r->fsm), op->index);
    }
    if (r->rep->applied != NULL) {
        r->rep->applied(r->rep->arg, op->index);
    }
    return 0;
}

static int run_snapshot(struct run *r)
{
    struct raft_snapshot_meta meta;
    int rv = coord_fsm_snapshot(r->fsm, r->env->snap_path, &meta);

    if (rv != 0) {
        return rv;
    }
    if (meta.index != r->m.applied) {
        return disagree(r, "snapshot index", meta.index, r->m.applied);
    }
    return coord_log_set_snapshot(r->log, &meta);
}

static int run_op(struct run *r, const struct script_op *op)
{
    switch (op->type) {
    case SCRIPT_HARD_STATE:
        return coord_log_set_hard_state(r->log, op->term, op->vote, op->index);
    case SCRIPT_TRUNCATE:
        return coord_log_truncate(r->log, op->index);
    case SCRIPT_APPEND:
        return coord_log_append(r->log, &r->s->pool[op->first], op->n);
    case SCRIPT_SYNC:
        return run_sync(r, op);
    case SCRIPT_COMMIT:
        return 0;
    case SCRIPT_APPLY:
        return run_apply(r, op);
    case SCRIPT_FSM_SYNC:
        return coord_fsm_sync(r->fsm);
    case SCRIPT_SNAPSHOT:
        return run_snapshot(r);
    case SCRIPT_COMPACT:
        return coord_log_compact(r->log, op->index);
    case SCRIPT_INSTALL:
        return coord_log_install_snapshot(r->log, &op->meta);
    default:
        RAFT_UNREACHABLE();
    }
    return RAFT_EINVAL;
}

static int run_ops(struct run *r, size_t *failed_op)
{
    size_t i;
    int rv;

    for (i = 0; i < r->s->n_ops; i++) {
        if (r->rep->op != NULL) {
            r->rep->op(r->rep->arg, i);
        }
        rv = run_op(r, &r->s->ops[i]);
        if (rv != 0) {
            *failed_op = i;
            return rv;
        }
        script_model_step(r->s, &r->s->ops[i], &r->m);
    }
    if (r->rep->op != NULL) {
        r->rep->op(r->rep->arg, r->s->n_ops);
    }
    return 0;
}

int script_run(const struct script *s, const struct script_env *env,
               const struct script_report *rep, char *err, size_t err_len)
{
    struct coord_log_recovered rec;
    struct run r;
    size_t op = 0;
    int rv;

    memset(&r, 0, sizeof(r));
    r.s = s;
    r.env = env;
    r.rep = rep;
    rv = coord_log_open(env->log_dir, env->log, &r.log, &rec, err, err_len);
    if (rv != 0) {
        return rv;
    }
    coord_log_recovered_free(&rec);
    rv = script_model_init(s, 0, &r.m);
    if (rv == 0) {
        rv = coord_fsm_open(env->fsm_dir, env->fsm, &r.fsm);
    }
    if (rv == 0) {
        rv = run_ops(&r, &op);
        if (rv != 0) {
            (void)snprintf(err, err_len, "seed %llu op %zu (type %u) failed: %s %s",
                           (unsigned long long)s->seed, op, s->ops[op].type, raft_err_name(rv),
                           r.err);
        }
    }
    if (rv == 0 && rep->end != NULL) {
        rep->end(rep->arg);
    }
    coord_fsm_close(r.fsm);
    coord_log_close(r.log);
    script_model_free(&r.m);
    return rv;
}
