/* SPDX-License-Identifier: MIT */
/* fixture: see fixture.h. Included by the test files that use it. */
#include "tests/unit/raft/fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raft/base/alloc.h"
#include "raft/base/assert.h"

static void msg_copy(struct fx_msg *dst, const struct raft_msg *m)
{
    uint32_t i;

    memset(dst, 0, sizeof *dst);
    dst->m = *m;
    if (m->n_entries > 0) {
        dst->entries = calloc(m->n_entries, sizeof *dst->entries);
        RAFT_ASSERT(dst->entries != NULL);
        for (i = 0; i < m->n_entries; i++) {
            dst->entries[i] = m->entries[i];
            dst->entries[i].data.base = malloc(m->entries[i].data.len + 1);
            if (m->entries[i].data.len > 0) {
                memcpy(dst->entries[i].data.base, m->entries[i].data.base, m->entries[i].data.len);
            }
        }
    }
    dst->m.entries = dst->entries;
    if (m->snapshot != NULL) {
        dst->snap = *m->snapshot;
        dst->m.snapshot = &dst->snap;
    }
}

static void msg_free(struct fx_msg *x)
{
    uint32_t i;

    for (i = 0; i < x->m.n_entries; i++) {
        free(x->entries[i].data.base);
    }
    free(x->entries);
    x->entries = NULL;
}

static void enqueue(struct fx *f, const struct fx_msg *x)
{
    RAFT_ASSERT(f->q_tail - f->q_head < FX_MAX_MSGS);
    f->queue[f->q_tail % FX_MAX_MSGS] = *x;
    f->q_tail++;
}

static void send_now(struct fx *f, const struct raft_msg *m)
{
    struct fx_msg x;

    msg_copy(&x, m);
    if (m->type == RAFT_MSG_SNAPSHOT) {
        f->n_snapshot_msgs++;
    }
    enqueue(f, &x);
}

static void apply_entries(struct fx_node *n, const struct raft_update *up)
{
    size_t i;
    size_t j;

    for (i = 0; i < up->n_apply; i++) {
        const struct raft_entry *e = &up->apply[i];

        RAFT_ASSERT(e->index == n->applied + 1);
        n->applied = e->index;
        for (j = 0; j < e->data.len; j++) {
            n->apply_hash = n->apply_hash * 31 + ((const uint8_t *)e->data.base)[j];
        }
    }
}

static void carry_out(struct fx *f, raft_id id, const struct raft_update *up)
{
    struct fx_node *n = &f->nodes[id];
    size_t i;
    unsigned k;

    for (i = 0; i < up->n_msgs; i++) {
        send_now(f, &up->msgs[i]);
    }
    if (up->snapshot != NULL) {
        n->applied = up->snapshot->index;
        n->n_snapshots_installed++;
    }
    if (up->n_entries > 0 || up->hs_changed || up->n_msgs_after > 0 || up->snapshot != NULL) {
        RAFT_ASSERT(n->n_pend < 64);
        k = n->n_pend++;
        n->pend_index[k] = 0;
        n->pend_term[k] = 0;
        if (up->n_entries > 0) {
            n->pend_index[k] = up->entries[up->n_entries - 1].index;
            n->pend_term[k] = up->entries[up->n_entries - 1].term;
        } else if (up->snapshot != NULL) {
            n->pend_index[k] = up->snapshot->index;
            n->pend_term[k] = up->snapshot->term;
        }
        n->pend_n_msgs[k] = up->n_msgs_after;
        n->pend_msgs[k] = up->n_msgs_after ? calloc(up->n_msgs_after, sizeof(struct fx_msg)) : NULL;
        for (i = 0; i < up->n_msgs_after; i++) {
            msg_copy(&n->pend_msgs[k][i], &up->msgs_after[i]);
        }
    }
    apply_entries(n, up);
    for (i = 0; i < up->n_reads && n->n_reads < FX_MAX_READS; i++) {
        n->reads[n->n_reads++] = up->reads[i];
    }
    n->timeout = up->timeout;
}

int fx_step(struct fx *f, raft_id id, struct raft_event *ev)
{
    struct fx_node *n = &f->nodes[id];
    struct raft_update up;
    int rv;

    ev->now = f->now;
    rv = raft_step(n->r, ev, &up);
    carry_out(f, id, &up);
    while (n->auto_persist && n->n_pend > 0) {
        fx_persist_one(f, id);
    }
    return rv;
}

void fx_persist_one(struct fx *f, raft_id id)
{
    struct fx_node *n = &f->nodes[id];
    struct raft_event ev = {.type = RAFT_EV_PERSISTED};
    raft_index idx = n->pend_index[0];
    raft_term term = n->pend_term[0];
    struct fx_msg *msgs = n->pend_msgs[0];
    size_t n_msgs = n->pend_n_msgs[0];
    size_t i;

    RAFT_ASSERT(n->n_pend > 0);
    memmove(n->pend_index, n->pend_index + 1, (n->n_pend - 1) * sizeof n->pend_index[0]);
    memmove(n->pend_term, n->pend_term + 1, (n->n_pend - 1) * sizeof n->pend_term[0]);
    memmove(n->pend_msgs, n->pend_msgs + 1, (n->n_pend - 1) * sizeof n->pend_msgs[0]);
    memmove(n->pend_n_msgs, n->pend_n_msgs + 1, (n->n_pend - 1) * sizeof n->pend_n_msgs[0]);
    n->n_pend--;
    for (i = 0; i < n_msgs; i++) {
        enqueue(f, &msgs[i]);
    }
    free(msgs);
    if (idx > 0) {
        ev.persisted.index = idx;
        ev.persisted.term = term;
        fx_step(f, id, &ev);
    }
}

void fx_init(struct fx *f, unsigned n, unsigned n_voters)
{
    struct raft_snapshot_meta boot;
    unsigned i;

    memset(f, 0, sizeof *f);
    memset(&boot, 0, sizeof boot);
    f->n = n;
    f->now = 1000;
    for (i = 1; i <= n; i++) {
        char addr[16];

        snprintf(addr, sizeof addr, "n%u", i);
        RAFT_ASSERT(raft_conf_add(&boot.conf, i, i <= n_voters ? RAFT_VOTER : RAFT_LEARNER, addr) ==
                    0);
    }
    for (i = 1; i <= n; i++) {
        struct raft_config cfg;
        struct raft_event ev = {.type = RAFT_EV_START};

        raft_config_default(&cfg);
        cfg.id = i;
        cfg.seed = 42;
        cfg.election_timeout_ms = 100;
        cfg.heartbeat_ms = 20;
        cfg.snapshot_trailing = 2;
        cfg.promote_max_lag = 5;
        RAFT_ASSERT(raft_new(&cfg, &f->nodes[i].r) == 0);
        f->nodes[i].up = true;
        f->nodes[i].auto_persist = true;
        ev.start.snapshot = &boot;
        RAFT_ASSERT(fx_step(f, i, &ev) == 0);
    }
}

void fx_close(struct fx *f)
{
    unsigned i;
    unsigned k;
    size_t j;

    for (; f->q_head != f->q_tail; f->q_head++) {
        msg_free(&f->queue[f->q_head % FX_MAX_MSGS]);
    }
    for (i = 1; i <= f->n; i++) {
        struct fx_node *n = &f->nodes[i];

        for (k = 0; k < n->n_pend; k++) {
            for (j = 0; j < n->pend_n_msgs[k]; j++) {
                msg_free(&n->pend_msgs[k][j]);
            }
            free(n->pend_msgs[k]);
        }
        raft_destroy(n->r);
    }
}

bool fx_deliver_one(struct fx *f)
{
    struct fx_msg x;
    struct raft_event ev = {.type = RAFT_EV_RECEIVE};

    if (f->q_head == f->q_tail) {
        return false;
    }
    x = f->queue[f->q_head % FX_MAX_MSGS];
    f->q_head++;
    {
        if (x.m.to <= f->n && f->nodes[x.m.to].up && !f->cut[x.m.from][x.m.to]) {
            ev.receive.msg = &x.m;
            fx_step(f, x.m.to, &ev);
            if (x.m.type == RAFT_MSG_SNAPSHOT) {
                struct raft_event sent = {.type = RAFT_EV_SNAPSHOT_SENT};

                sent.snapshot_sent.to = x.m.to;
                sent.snapshot_sent.ok = true;
                fx_step(f, x.m.from, &sent);
            }
        } else if (x.m.type == RAFT_MSG_SNAPSHOT && f->nodes[x.m.from].up) {
            struct raft_event sent = {.type = RAFT_EV_SNAPSHOT_SENT};

            sent.snapshot_sent.to = x.m.to;
            sent.snapshot_sent.ok = false;
            fx_step(f, x.m.from, &sent);
        }
        msg_free(&x);
    }
    return true;
}

void fx_deliver_all(struct fx *f)
{
    unsigned budget = 100000;

    while (fx_deliver_one(f) && budget-- > 0) {
    }
    RAFT_ASSERT(budget > 0);
}

void fx_advance(struct fx *f, raft_time ms)
{
    raft_time end = f->now + ms;
    unsigned i;

    while (f->now < end) {
        f->now++;
        for (i = 1; i <= f->n; i++) {
            if (f->nodes[i].up && f->nodes[i].timeout <= f->now) {
                struct raft_event ev = {.type = RAFT_EV_TIMEOUT};

                fx_step(f, i, &ev);
            }
        }
        fx_deliver_all(f);
    }
}

raft_id fx_leader(struct fx *f)
{
    raft_id best = 0;
    raft_term term = 0;
    unsigned i;

    for (i = 1; i <= f->n; i++) {
        if (f->nodes[i].up && raft_role_get(f->nodes[i].r) == RAFT_LEADER &&
            raft_term_get(f->nodes[i].r) >= term) {
            best = i;
            term = raft_term_get(f->nodes[i].r);
        }
    }
    return best;
}

void fx_elect(struct fx *f, raft_id id)
{
    struct raft_event ev = {.type = RAFT_EV_CAMPAIGN};

    RAFT_ASSERT(fx_step(f, id, &ev) == 0);
    fx_deliver_all(f);
}

int fx_submit(struct fx *f, raft_id id, const char *value)
{
    struct raft_buf b = {(void *)(uintptr_t)value, strlen(value)};
    struct raft_event ev = {.type = RAFT_EV_SUBMIT};

    ev.submit.data = &b;
    ev.submit.n = 1;
    return fx_step(f, id, &ev);
}
