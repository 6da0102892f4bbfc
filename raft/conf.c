/* SPDX-License-Identifier: MIT */
/* conf: cluster configurations (voters and learners) and their byte format
 * inside CONF entries. Pure helpers; no core state. */
#include <string.h>

#include "raft/base/assert.h"
#include "raft/raft.h"

#define CONF_FORMAT_VERSION 1

const struct raft_server *raft_conf_find(const struct raft_conf *c, raft_id id)
{
    uint32_t i;

    for (i = 0; i < c->n; i++) {
        if (c->servers[i].id == id) {
            return &c->servers[i];
        }
    }
    return NULL;
}

unsigned raft_conf_n_voters(const struct raft_conf *c)
{
    unsigned n = 0;
    uint32_t i;

    for (i = 0; i < c->n; i++) {
        if (c->servers[i].role == RAFT_VOTER) {
            n++;
        }
    }
    return n;
}

bool raft_conf_equal(const struct raft_conf *a, const struct raft_conf *b)
{
    uint32_t i;

    if (a->n != b->n) {
        return false;
    }
    for (i = 0; i < a->n; i++) {
        if (a->servers[i].id != b->servers[i].id || a->servers[i].role != b->servers[i].role ||
            strcmp(a->servers[i].address, b->servers[i].address) != 0) {
            return false;
        }
    }
    return true;
}

int raft_conf_add(struct raft_conf *c, raft_id id, uint8_t role, const char *address)
{
    size_t addr_len = address != NULL ? strlen(address) : 0;
    uint32_t pos = 0;

    if (id == 0 || addr_len >= RAFT_ADDR_MAX || (role != RAFT_VOTER && role != RAFT_LEARNER)) {
        return RAFT_EINVAL;
    }
    if (raft_conf_find(c, id) != NULL) {
        return RAFT_EEXIST;
    }
    if (c->n >= RAFT_MAX_SERVERS) {
        return RAFT_ETOOBIG;
    }
    while (pos < c->n && c->servers[pos].id < id) {
        pos++;
    }
    memmove(&c->servers[pos + 1], &c->servers[pos], (c->n - pos) * sizeof c->servers[0]);
    memset(&c->servers[pos], 0, sizeof c->servers[pos]);
    c->servers[pos].id = id;
    c->servers[pos].role = role;
    if (addr_len > 0) {
        memcpy(c->servers[pos].address, address, addr_len);
    }
    c->n++;
    return 0;
}

size_t raft_conf_encoded_len(const struct raft_conf *c)
{
    size_t len = 2;
    uint32_t i;

    for (i = 0; i < c->n; i++) {
        len += 8 + 1 + 1 + strlen(c->servers[i].address);
    }
    return len;
}

static void put_u64(uint8_t *p, uint64_t v)
{
    int i;

    for (i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    int i;

    for (i = 0; i < 8; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

void raft_conf_encode(const struct raft_conf *c, uint8_t *out)
{
    uint8_t *p = out;
    uint32_t i;

    RAFT_ASSERT(c->n <= RAFT_MAX_SERVERS);
    *p++ = CONF_FORMAT_VERSION;
    *p++ = (uint8_t)c->n;
    for (i = 0; i < c->n; i++) {
        const struct raft_server *s = &c->servers[i];
        size_t addr_len = strlen(s->address);

        put_u64(p, s->id);
        p += 8;
        *p++ = s->role;
        *p++ = (uint8_t)addr_len;
        memcpy(p, s->address, addr_len);
        p += addr_len;
    }
    RAFT_ASSERT((size_t)(p - out) == raft_conf_encoded_len(c));
}

int raft_conf_decode(const struct raft_buf *in, struct raft_conf *c)
{
    const uint8_t *p = in->base;
    size_t left = in->len;
    unsigned n;
    unsigned i;

    memset(c, 0, sizeof *c);
    if (left < 2 || p[0] != CONF_FORMAT_VERSION || p[1] > RAFT_MAX_SERVERS) {
        return RAFT_EPROTO;
    }
    n = p[1];
    p += 2;
    left -= 2;
    for (i = 0; i < n; i++) {
        struct raft_server *s = &c->servers[i];
        size_t addr_len;

        if (left < 10) {
            return RAFT_EPROTO;
        }
        s->id = get_u64(p);
        s->role = p[8];
        addr_len = p[9];
        p += 10;
        left -= 10;
        if (s->id == 0 || (s->role != RAFT_VOTER && s->role != RAFT_LEARNER) ||
            addr_len >= RAFT_ADDR_MAX || addr_len > left || (i > 0 && s->id <= s[-1].id)) {
            return RAFT_EPROTO;
        }
        memcpy(s->address, p, addr_len);
        p += addr_len;
        left -= addr_len;
    }
    if (left != 0) {
        return RAFT_EPROTO;
    }
    c->n = n;
    return 0;
}
