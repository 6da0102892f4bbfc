/* SPDX-License-Identifier: MIT */
/* check: run-wide safety invariants (election safety, log matching, leader
 * completeness via committed terms, state-machine safety, acked writes). */
#include "tests/sim/check.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tests/sim/util.h"

#define LLU(x) ((unsigned long long)(x))

void sim_check_init(struct sim_check *c)
{
    memset(c, 0, sizeof *c);
}

void sim_check_close(struct sim_check *c)
{
    size_t i;

    for (i = 0; i < c->cap_slots; i++) {
        sim_util_free(c->slots[i].chains);
    }
    sim_util_free(c->slots);
    sim_util_free(c->leaders);
    sim_util_free(c->acks);
    memset(c, 0, sizeof *c);
}

bool sim_check_fail(struct sim_check *c, const char *what, const char *fmt, ...)
{
    va_list ap;

    if (c->failed) {
        return false;
    }
    c->failed = true;
    c->at = c->now;
    (void)snprintf(c->what, sizeof c->what, "%s", what);
    va_start(ap, fmt);
    (void)vsnprintf(c->detail, sizeof c->detail, fmt, ap);
    va_end(ap);
    return false;
}

uint64_t sim_check_entry_hash(const struct raft_entry *e)
{
    uint64_t h = sim_util_mix(0x5eed, e->term);

    h = sim_util_mix(h, e->type);
    return sim_util_hash_bytes(h, e->data.base, e->data.len);
}

uint64_t sim_check_chain_next(uint64_t prev, const struct raft_entry *e)
{
    return sim_util_mix(prev, sim_check_entry_hash(e));
}

static struct sim_check_slot *slot(struct sim_check *c, raft_index index)
{
    size_t old = c->cap_slots;

    if (index >= c->cap_slots) {
        sim_util_reserve((void **)&c->slots, &c->cap_slots, (size_t)index + 1, sizeof *c->slots);
        memset(c->slots + old, 0, (c->cap_slots - old) * sizeof *c->slots);
    }
    return &c->slots[index];
}

bool sim_check_leader(struct sim_check *c, raft_term term, raft_id id)
{
    size_t old = c->cap_leaders;

    if (term >= c->cap_leaders) {
        sim_util_reserve((void **)&c->leaders, &c->cap_leaders, (size_t)term + 1,
                         sizeof *c->leaders);
        memset(c->leaders + old, 0, (c->cap_leaders - old) * sizeof *c->leaders);
    }
    if (c->leaders[term] != 0 && c->leaders[term] != id) {
        return sim_check_fail(c, "election safety", "two leaders in term %llu: n%llu and n%llu",
                              LLU(term), LLU(c->leaders[term]), LLU(id));
    }
    c->leaders[term] = id;
    return true;
}

bool sim_check_chain(struct sim_check *c, raft_id id, raft_index index, raft_term term,
                     uint64_t chain)
{
    struct sim_check_slot *s = slot(c, index);
    uint32_t i;

    for (i = 0; i < s->n_chains; i++) {
        if (s->chains[i].term != term) {
            continue;
        }
        if (s->chains[i].chain != chain) {
            return sim_check_fail(c, "log matching",
                                  "n%llu holds (index=%llu, term=%llu) with a log prefix that "
                                  "differs from another node's",
                                  LLU(id), LLU(index), LLU(term));
        }
        return true;
    }
    if (s->n_chains == s->cap_chains) {
        size_t cap = s->cap_chains;

        sim_util_reserve((void **)&s->chains, &cap, s->n_chains + 1U, sizeof *s->chains);
        s->cap_chains = (uint32_t)cap;
    }
    s->chains[s->n_chains].term = term;
    s->chains[s->n_chains].chain = chain;
    s->n_chains++;
    return true;
}

bool sim_check_commit(struct sim_check *c, raft_id id, raft_index index, raft_term term,
                      raft_term now)
{
    struct sim_check_slot *s = slot(c, index);

    if (s->commit_term != 0 && s->commit_term != term) {
        return sim_check_fail(c, "committed entry changed",
                              "n%llu commits index %llu with term %llu, but term %llu was "
                              "committed there before",
                              LLU(id), LLU(index), LLU(term), LLU(s->commit_term));
    }
    s->commit_term = term;
    if (s->commit_by == 0 || now < s->commit_by) {
        s->commit_by = now;
    }
    if (index > c->max_committed) {
        c->max_committed = index;
    }
    return true;
}

raft_term sim_check_committed(const struct sim_check *c, raft_index index, raft_term *by)
{
    if (index >= c->cap_slots) {
        *by = 0;
        return 0;
    }
    *by = c->slots[index].commit_by;
    return c->slots[index].commit_term;
}

bool sim_check_apply(struct sim_check *c, raft_id id, raft_index index, raft_term term,
                     uint64_t hash)
{
    struct sim_check_slot *s = slot(c, index);

    if (s->applied_term == 0) {
        s->applied_term = term;
        s->applied_hash = hash;
        s->applied_by = id;
        return true;
    }
    if (s->applied_term != term || s->applied_hash != hash) {
        return sim_check_fail(c, "state machine safety",
                              "n%llu applied (index=%llu, term=%llu) but n%llu applied "
                              "(index=%llu, term=%llu) with %s data",
                              LLU(id), LLU(index), LLU(term), LLU(s->applied_by), LLU(index),
                              LLU(s->applied_term),
                              s->applied_term == term ? "different" : "its own");
    }
    return true;
}

void sim_check_ack(struct sim_check *c, raft_index index, raft_term term, uint64_t hash)
{
    struct sim_check_ack *a;

    sim_util_reserve((void **)&c->acks, &c->cap_acks, c->n_acks + 1, sizeof *c->acks);
    a = &c->acks[c->n_acks++];
    a->index = index;
    a->term = term;
    a->hash = hash;
    if (index > c->max_acked) {
        c->max_acked = index;
    }
}

bool sim_check_acks(struct sim_check *c)
{
    size_t i;

    for (i = 0; i < c->n_acks; i++) {
        const struct sim_check_ack *a = &c->acks[i];
        const struct sim_check_slot *s = slot(c, a->index);

        if (s->applied_term != a->term || s->applied_hash != a->hash) {
            return sim_check_fail(c, "acknowledged write lost",
                                  "write acknowledged at (index=%llu, term=%llu) is not what "
                                  "was applied there (term %llu)",
                                  LLU(a->index), LLU(a->term), LLU(s->applied_term));
        }
        if (s->commit_term != 0 && s->commit_term != a->term) {
            return sim_check_fail(c, "acknowledged write lost",
                                  "write acknowledged at (index=%llu, term=%llu) but term %llu "
                                  "is committed there",
                                  LLU(a->index), LLU(a->term), LLU(s->commit_term));
        }
    }
    return true;
}
