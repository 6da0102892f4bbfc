/* SPDX-License-Identifier: MIT */
/* fsm: the replicated state machine over LMDB (see fsm.h). Executes commands;
 * proposes nothing, reads no clock, logs nothing (errors are values).
 *
 * Design notes
 * ============
 * Invariants (state_ok() asserts the cheap ones after every apply):
 *   1. Atomic apply. One coord_fsm_apply() is one LMDB write transaction
 *      holding the changes of its entries AND the meta record of the last one
 *      (applied index and term, next revision, compacted revision,
 *      membership). So LMDB always holds exactly the state after its applied
 *      index; after a crash the node replays its log from there (entries at
 *      or below it are skipped, which makes replay idempotent).
 *   2. Determinism. The state after entry i is a function of entries 1..i
 *      only: no clock (time is what commands carry), no randomness, keys
 *      visited in LMDB's bytewise order, nothing depends on how entries were
 *      split into batches (compaction runs per entry, not per batch).
 *   3. Revisions. An entry that changes at least one key gets revision
 *      next_revision (then next_revision + 1); one txn is one revision. An
 *      entry that changes nothing (a failed compare with no failure ops, a
 *      delete of nothing, NOOP, CONF, a malformed command) gets none.
 *   4. Events. Each change writes one event keyed (revision, sub), sub = 0,
 *      1, ... in execution order. After entry i, exactly the events with
 *      revision > compact_revision = max(0, revision(i) - event_window)
 *      remain.
 *   5. Errors. A deterministic failure (a malformed command or
 *      configuration) is part of the entry's result and changes nothing but
 *      the applied index. An environmental one (ENOMEM, ENOSPC, EIO,
 *      ECORRUPT) aborts the whole batch: neither LMDB nor struct coord_fsm
 *      changes; the apply thread retries or the node stops.
 *
 * States (functions in brackets):
 *
 *   [coord_fsm_open] --> OPEN: fsm->st = meta in LMDB
 *      OPEN --[coord_fsm_apply_begin]--> APPLYING: write txn, working copy a.st
 *      APPLYING --error: abort txn--> OPEN, unchanged
 *      APPLYING --ok--> PENDING: txn open, output returned, fsm->pend_st = a.st
 *      PENDING --[coord_fsm_apply_begin]--> APPLYING in a child txn of the
 *                                           pending one, from a.st = pend_st;
 *                                           ok: the child commits into it;
 *                                           error: the child is aborted and
 *                                           the pending batches stay pending
 *      PENDING --[coord_fsm_apply_commit] ok--> OPEN with fsm->st = pend_st
 *      PENDING --commit error (LMDB frees the txn)--> OPEN, unchanged
 *      (coord_fsm_apply() is begin + commit.)
 *      OPEN --[coord_fsm_install]--> store closed, file replaced, reopened
 *                                    --> OPEN with fsm->st = the snapshot's
 *
 * On-disk layouts (all of them break old stores if changed; bump
 * FSM_FORMAT and convert):
 *   meta db: ASCII keys, values u64 little-endian unless noted:
 *     "format" (u32 LE, FSM_FORMAT), "cluster_id", "applied_index",
 *     "applied_term", "next_revision" (>= 1), "compact_revision",
 *     "conf_index", "conf" (raft_conf_encode() bytes; absent before the
 *     first CONF entry).
 *   kv db: key = the user key; value = record, little-endian:
 *     u8 layout (1) | u64 create_revision | u64 mod_revision | u64 version |
 *     u64 session | value bytes (the rest)                  (header 33 bytes)
 *   events db: key = u64 revision BIG-endian | u32 sub BIG-endian (12 bytes,
 *     so LMDB's bytewise order is (revision, sub) order); value:
 *     u8 layout (1) | u8 type | u64 prev_mod_revision | u64 create_revision |
 *     u64 version | u64 session | u16 key_len | key | value bytes (the rest)
 *     (header 36 bytes; all little-endian).
 */
#include "coord/fsm.h"

#include <stdalign.h>
#include <string.h>

#include "coord/codec_cmd.h"
#include "coord/storage/kvstore.h"
#include "raft/base/alloc.h"
#include "raft/base/assert.h"

_Static_assert(COORD_CMD_KEY_MAX <= COORD_KVSTORE_KEY_MAX, "keys must fit LMDB's key limit");
_Static_assert(COORD_KVSTORE_KEY_MAX <= UINT16_MAX, "event records store key_len in a u16");

#define FSM_FORMAT   1u /* meta "format": the layouts above */
#define KV_LAYOUT    1u /* first byte of a kv record */
#define KV_HDR       33u
#define EV_LAYOUT    1u /* first byte of an event record */
#define EV_HDR       36u
#define EV_KEY_LEN   12u
#define CHUNK_SIZE   (16u * 1024u)                                   /* bytes of an arena chunk */
#define CONF_MAX_LEN (2u + RAFT_MAX_SERVERS * (10u + RAFT_ADDR_MAX)) /* encoded conf bound */

/* ---- arena: everything handed out by one call, freed at once ---- */

struct chunk {
    struct chunk *next;
    size_t used; /* bytes of data in use */
    size_t cap;  /* bytes of data */
    max_align_t data[];
};

struct coord_fsm_arena {
    struct chunk *head; /* the chunk being filled; big allocations go behind it */
};

static void *arena_alloc(struct coord_fsm_arena *a, size_t size)
{
    size_t need = (size + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
    struct chunk *c = a->head;

    if (c == NULL || c->cap - c->used < need) {
        size_t cap = need > CHUNK_SIZE / 4 ? need : CHUNK_SIZE;

        c = raft_malloc(sizeof *c + cap);
        if (c == NULL) {
            return NULL;
        }
        c->used = 0;
        c->cap = cap;
        if (cap == CHUNK_SIZE || a->head == NULL) {
            c->next = a->head;
            a->head = c;
        } else { /* a big one: keep filling the current chunk */
            c->next = a->head->next;
            a->head->next = c;
        }
    }
    c->used += need;
    return (unsigned char *)c->data + c->used - need;
}

static void *arena_dup(struct coord_fsm_arena *a, const struct raft_buf *b, struct raft_buf *out)
{
    out->base = NULL;
    out->len = b->len;
    if (b->len == 0) {
        return a; /* non-NULL: success */
    }
    out->base = arena_alloc(a, b->len);
    if (out->base != NULL) {
        memcpy(out->base, b->base, b->len);
    }
    return out->base;
}

static struct coord_fsm_arena *arena_new(void)
{
    return raft_calloc(1, sizeof(struct coord_fsm_arena));
}

static void arena_free(struct coord_fsm_arena *a)
{
    struct chunk *c;

    if (a == NULL) {
        return;
    }
    while ((c = a->head) != NULL) {
        a->head = c->next;
        raft_free(c);
    }
    raft_free(a);
}

/* A growing array inside an arena (old copies stay until the arena goes). */
struct vec {
    void *items;
    size_t n;
    size_t cap;
};

/* Append a zeroed item of size bytes; returns it, or NULL on ENOMEM. */
static void *vec_push(struct coord_fsm_arena *a, struct vec *v, size_t size)
{
    unsigned char *slot;

    if (v->n == v->cap) {
        size_t cap = v->cap == 0 ? 8 : 2 * v->cap;
        void *items = arena_alloc(a, cap * size);

        if (items == NULL) {
            return NULL;
        }
        if (v->n > 0) {
            memcpy(items, v->items, v->n * size);
        }
        v->items = items;
        v->cap = cap;
    }
    slot = (unsigned char *)v->items + v->n * size;
    v->n++;
    memset(slot, 0, size);
    return slot;
}

/* ---- byte layouts ---- */

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
    unsigned i;

    for (i = 0; i < n; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint64_t get_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    unsigned i;

    for (i = 0; i < n; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

static void put_be(uint8_t *p, uint64_t v, unsigned n)
{
    unsigned i;

    for (i = 0; i < n; i++) {
        p[n - 1 - i] = (uint8_t)(v >> (8 * i));
    }
}

static uint64_t get_be(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    unsigned i;

    for (i = 0; i < n; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

/* A kv record: the metadata of struct coord_kv and a view of its value. */
struct record {
    uint64_t create_revision;
    uint64_t mod_revision;
    uint64_t version;
    uint64_t session;
    struct raft_buf value;
};

static int record_decode(const struct raft_buf *raw, struct record *r)
{
    const uint8_t *p = raw->base;

    if (raw->len < KV_HDR || p[0] != KV_LAYOUT) {
        return RAFT_ECORRUPT;
    }
    r->create_revision = get_le(p + 1, 8);
    r->mod_revision = get_le(p + 9, 8);
    r->version = get_le(p + 17, 8);
    r->session = get_le(p + 25, 8);
    r->value.base = (uint8_t *)raw->base + KV_HDR;
    r->value.len = raw->len - KV_HDR;
    return 0;
}

static int record_store(struct coord_kvstore_txn *txn, const struct raft_buf *key,
                        const struct record *r)
{
    uint8_t *p;
    void *mem;
    int rv = coord_kvstore_put_reserve(txn, COORD_DB_KV, key, KV_HDR + r->value.len, &mem);

    if (rv != 0) {
        return rv;
    }
    p = mem;
    p[0] = KV_LAYOUT;
    put_le(p + 1, r->create_revision, 8);
    put_le(p + 9, r->mod_revision, 8);
    put_le(p + 17, r->version, 8);
    put_le(p + 25, r->session, 8);
    if (r->value.len > 0) {
        memcpy(p + KV_HDR, r->value.base, r->value.len);
    }
    return 0;
}

/* Look key up in the kv db. Errors: RAFT_ENOTFOUND, RAFT_ECORRUPT, ... */
static int record_load(struct coord_kvstore_txn *txn, const struct raft_buf *key, struct record *r)
{
    struct raft_buf raw;
    int rv = coord_kvstore_get(txn, COORD_DB_KV, key, &raw);

    return rv != 0 ? rv : record_decode(&raw, r);
}

/* Copy key and r into *kv, inside a. */
static int kv_copy(struct coord_fsm_arena *a, const struct raft_buf *key, const struct record *r,
                   struct coord_kv *kv)
{
    if (arena_dup(a, key, &kv->key) == NULL || arena_dup(a, &r->value, &kv->value) == NULL) {
        return RAFT_ENOMEM;
    }
    kv->create_revision = r->create_revision;
    kv->mod_revision = r->mod_revision;
    kv->version = r->version;
    kv->session = r->session;
    return 0;
}

static void event_key(uint8_t *k, uint64_t revision, uint32_t sub)
{
    put_be(k, revision, 8);
    put_be(k + 8, sub, 4);
}

static int event_store(struct coord_kvstore_txn *txn, const struct coord_event *ev)
{
    uint8_t k[EV_KEY_LEN];
    struct raft_buf key = {k, sizeof k};
    const struct coord_kv *kv = &ev->kv;
    uint8_t *p;
    void *mem;
    int rv;

    event_key(k, ev->revision, ev->sub);
    rv = coord_kvstore_put_reserve(txn, COORD_DB_EVENTS, &key, EV_HDR + kv->key.len + kv->value.len,
                                   &mem);
    if (rv != 0) {
        return rv;
    }
    p = mem;
    p[0] = EV_LAYOUT;
    p[1] = ev->type;
    put_le(p + 2, ev->prev_mod_revision, 8);
    put_le(p + 10, kv->create_revision, 8);
    put_le(p + 18, kv->version, 8);
    put_le(p + 26, kv->session, 8);
    put_le(p + 34, kv->key.len, 2);
    memcpy(p + EV_HDR, kv->key.base, kv->key.len);
    if (kv->value.len > 0) {
        memcpy(p + EV_HDR + kv->key.len, kv->value.base, kv->value.len);
    }
    return 0;
}

/* Decode the event stored under k with record v into *ev, copying into a. */
static int event_decode(struct coord_fsm_arena *a, const struct raft_buf *k,
                        const struct raft_buf *v, struct coord_event *ev)
{
    const uint8_t *p = v->base;
    struct raft_buf key;
    struct raft_buf value;
    size_t key_len;

    if (k->len != EV_KEY_LEN || v->len < EV_HDR || p[0] != EV_LAYOUT ||
        (p[1] != COORD_EVENT_PUT && p[1] != COORD_EVENT_DELETE)) {
        return RAFT_ECORRUPT;
    }
    key_len = (size_t)get_le(p + 34, 2);
    if (key_len == 0 || v->len - EV_HDR < key_len) {
        return RAFT_ECORRUPT;
    }
    ev->revision = get_be(k->base, 8);
    ev->sub = (uint32_t)get_be((const uint8_t *)k->base + 8, 4);
    ev->type = p[1];
    ev->prev_mod_revision = get_le(p + 2, 8);
    ev->kv.create_revision = get_le(p + 10, 8);
    ev->kv.mod_revision = ev->revision;
    ev->kv.version = get_le(p + 18, 8);
    ev->kv.session = get_le(p + 26, 8);
    key.base = (uint8_t *)v->base + EV_HDR;
    key.len = key_len;
    value.base = (uint8_t *)key.base + key_len;
    value.len = v->len - EV_HDR - key_len;
    if (arena_dup(a, &key, &ev->kv.key) == NULL || arena_dup(a, &value, &ev->kv.value) == NULL) {
        return RAFT_ENOMEM;
    }
    return 0;
}

/* ---- key ranges ---- */

static int key_cmp(const struct raft_buf *a, const struct raft_buf *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int c = n > 0 ? memcmp(a->base, b->base, n) : 0;

    if (c != 0) {
        return c;
    }
    return a->len < b->len ? -1 : (a->len > b->len ? 1 : 0);
}

/* Whether k (>= start, as a seek from start found it) is in the range
 * [start, end) with the conventions of struct coord_cmd_delete. */
static bool in_range(const struct raft_buf *k, const struct raft_buf *start,
                     const struct raft_buf *end)
{
    if (end->len == 0) {
        return key_cmp(k, start) == 0;
    }
    if (end->len == 1 && *(const uint8_t *)end->base == 0) {
        return true;
    }
    return key_cmp(k, end) < 0;
}

/* Copy into kvs (struct coord_kv, inside a) the keys of [key, end), at most
 * limit of them and about COORD_FSM_READ_BYTES_MAX bytes; *more tells
 * whether any key of the range was left out. */
static int range_collect(struct coord_kvstore_txn *txn, struct coord_fsm_arena *a,
                         const struct raft_buf *key, const struct raft_buf *end, uint64_t limit,
                         struct vec *kvs, bool *more)
{
    struct coord_kvstore_cursor cur;
    struct raft_buf k;
    struct raft_buf v;
    struct record r;
    size_t bytes = 0;
    int rv;

    *more = false;
    if (limit == 0 || limit > COORD_CMD_RANGE_LIMIT_MAX) {
        limit = COORD_CMD_RANGE_LIMIT_MAX;
    }
    rv = coord_kvstore_cursor_open(txn, COORD_DB_KV, &cur);
    if (rv != 0) {
        return rv;
    }
    rv = coord_kvstore_cursor_seek(&cur, key, &k, &v);
    while (rv == 0 && in_range(&k, key, end)) {
        struct coord_kv *kv;

        if (kvs->n == limit || (kvs->n > 0 && bytes + k.len + v.len > COORD_FSM_READ_BYTES_MAX)) {
            *more = true;
            break;
        }
        rv = record_decode(&v, &r);
        if (rv != 0) {
            break;
        }
        kv = vec_push(a, kvs, sizeof *kv);
        rv = kv == NULL ? RAFT_ENOMEM : kv_copy(a, &k, &r, kv);
        if (rv != 0) {
            break;
        }
        bytes += k.len + v.len;
        rv = coord_kvstore_cursor_next(&cur, &k, &v);
    }
    coord_kvstore_cursor_close(&cur);
    return rv == RAFT_ENOTFOUND ? 0 : rv;
}

/* ---- the state kept in meta ---- */

struct state {
    raft_index applied_index;
    raft_term applied_term;
    uint64_t next_revision;    /* >= 1: the revision the next change gets */
    uint64_t compact_revision; /* events <= this are gone; < next_revision */
    raft_index conf_index;     /* index of the last CONF entry applied, 0 if none */
    struct raft_conf conf;     /* its membership */
};

struct coord_fsm {
    struct coord_kvstore *ks; /* NULL only after a failed reopen in install */
    char *dir;                /* owned */
    struct coord_fsm_opts opts;
    uint64_t cluster_id;
    struct state st; /* as committed in meta; apply thread */
    /* Between coord_fsm_apply_begin() and coord_fsm_apply_commit(): */
    bool pending;
    struct coord_kvstore_txn pend_txn; /* not active when the batch changed nothing */
    struct state pend_st;              /* becomes st on commit */
};

static bool state_ok(const struct state *st)
{
    return st->next_revision >= 1 && st->compact_revision < st->next_revision &&
           st->conf_index <= st->applied_index && (st->applied_index > 0 || st->applied_term == 0);
}

/* A meta key as a buf. raft_buf has no const variant; kvstore only reads
 * keys, so the string is never written through the pointer. */
static struct raft_buf meta_key(const char *name)
{
    struct raft_buf b = {(void *)(uintptr_t)name, strlen(name)};

    return b;
}

static int meta_put(struct coord_kvstore_txn *txn, const char *name, uint64_t v, unsigned n)
{
    uint8_t raw[8];
    struct raft_buf key = meta_key(name);
    struct raft_buf val = {raw, n};

    put_le(raw, v, n);
    return coord_kvstore_put(txn, COORD_DB_META, &key, &val);
}

/* Read a u64 (or, with n = 4, u32) from meta. A missing key is ECORRUPT. */
static int meta_get(struct coord_kvstore_txn *txn, const char *name, uint64_t *v, unsigned n)
{
    struct raft_buf key = meta_key(name);
    struct raft_buf val;
    int rv = coord_kvstore_get(txn, COORD_DB_META, &key, &val);

    if (rv == RAFT_ENOTFOUND || (rv == 0 && val.len != n)) {
        return RAFT_ECORRUPT;
    }
    if (rv == 0) {
        *v = get_le(val.base, n);
    }
    return rv;
}

static int conf_load(struct coord_kvstore_txn *txn, struct state *st)
{
    struct raft_buf key = meta_key("conf");
    struct raft_buf val;
    int rv = meta_get(txn, "conf_index", &st->conf_index, 8);

    if (rv != 0) {
        return rv;
    }
    memset(&st->conf, 0, sizeof st->conf);
    rv = coord_kvstore_get(txn, COORD_DB_META, &key, &val);
    if (rv == RAFT_ENOTFOUND) {
        return st->conf_index == 0 ? 0 : RAFT_ECORRUPT;
    }
    if (rv == 0 && raft_conf_decode(&val, &st->conf) != 0) {
        rv = RAFT_ECORRUPT;
    }
    return rv;
}

/* Load the state and cluster id from meta. */
static int state_load(struct coord_kvstore_txn *txn, struct state *st, uint64_t *cluster_id)
{
    uint64_t format = 0;
    int rv = meta_get(txn, "format", &format, 4);

    if (rv == 0 && format != FSM_FORMAT) {
        rv = RAFT_ECORRUPT;
    }
    if (rv == 0) {
        rv = meta_get(txn, "cluster_id", cluster_id, 8);
    }
    if (rv == 0) {
        rv = meta_get(txn, "applied_index", &st->applied_index, 8);
    }
    if (rv == 0) {
        rv = meta_get(txn, "applied_term", &st->applied_term, 8);
    }
    if (rv == 0) {
        rv = meta_get(txn, "next_revision", &st->next_revision, 8);
    }
    if (rv == 0) {
        rv = meta_get(txn, "compact_revision", &st->compact_revision, 8);
    }
    if (rv == 0) {
        rv = conf_load(txn, st);
    }
    if (rv == 0 && !state_ok(st)) {
        rv = RAFT_ECORRUPT;
    }
    return rv;
}

/* Write st to meta; the membership only when it changed. */
static int state_store(struct coord_kvstore_txn *txn, const struct state *st, bool conf_changed)
{
    uint8_t raw[CONF_MAX_LEN];
    struct raft_buf key = meta_key("conf");
    struct raft_buf val = {raw, 0};
    int rv = meta_put(txn, "applied_index", st->applied_index, 8);

    if (rv == 0) {
        rv = meta_put(txn, "applied_term", st->applied_term, 8);
    }
    if (rv == 0) {
        rv = meta_put(txn, "next_revision", st->next_revision, 8);
    }
    if (rv == 0) {
        rv = meta_put(txn, "compact_revision", st->compact_revision, 8);
    }
    if (rv == 0 && conf_changed) {
        val.len = raft_conf_encoded_len(&st->conf);
        RAFT_ASSERT(val.len <= sizeof raw);
        raft_conf_encode(&st->conf, raw);
        rv = meta_put(txn, "conf_index", st->conf_index, 8);
        if (rv == 0) {
            rv = coord_kvstore_put(txn, COORD_DB_META, &key, &val);
        }
    }
    return rv;
}

/* First open of an empty store: write the initial meta. */
static int state_init(struct coord_kvstore_txn *txn, uint64_t cluster_id)
{
    struct state st = {.next_revision = 1};
    int rv = meta_put(txn, "format", FSM_FORMAT, 4);

    if (rv == 0) {
        rv = meta_put(txn, "cluster_id", cluster_id, 8);
    }
    if (rv == 0) {
        rv = meta_put(txn, "conf_index", 0, 8);
    }
    return rv != 0 ? rv : state_store(txn, &st, false);
}

/* ---- apply ---- */

struct apply {
    struct coord_fsm *fsm;
    struct coord_kvstore_txn txn;
    struct coord_fsm_arena *arena;
    struct state st;   /* working copy; becomes fsm->st on commit */
    bool conf_changed; /* st.conf differs from fsm->st.conf */
    uint32_t sub;      /* changes made so far by the current entry */
    struct vec events; /* struct coord_event, for the output */
};

/* Record one change of the current entry: assign (revision, sub), store the
 * event, and add it (its bufs already inside the arena) to the output. */
static int event_add(struct apply *a, struct coord_event *ev)
{
    struct coord_event *slot;
    int rv;

    RAFT_ASSERT(a->sub < UINT32_MAX);
    ev->revision = a->st.next_revision;
    ev->sub = a->sub;
    rv = event_store(&a->txn, ev);
    if (rv != 0) {
        return rv;
    }
    slot = vec_push(a->arena, &a->events, sizeof *slot);
    if (slot == NULL) {
        return RAFT_ENOMEM;
    }
    *slot = *ev;
    a->sub++;
    return 0;
}

static int exec_put(struct apply *a, const struct coord_cmd_put *put, struct coord_op_result *op)
{
    struct coord_event ev = {.type = COORD_EVENT_PUT};
    struct record old;
    struct record r;
    bool found;
    int rv = record_load(&a->txn, &put->key, &old);

    if (rv != 0 && rv != RAFT_ENOTFOUND) {
        return rv;
    }
    found = rv == 0;
    op->type = COORD_OP_PUT;
    if (found && put->prev_kv) { /* copy before the write invalidates old */
        op->kvs = arena_alloc(a->arena, sizeof *op->kvs);
        if (op->kvs == NULL) {
            return RAFT_ENOMEM;
        }
        op->n_kvs = 1;
        rv = kv_copy(a->arena, &put->key, &old, op->kvs);
        if (rv != 0) {
            return rv;
        }
    }
    r.create_revision = found ? old.create_revision : a->st.next_revision;
    r.mod_revision = a->st.next_revision;
    r.version = found ? old.version + 1 : 1;
    r.session = put->session;
    r.value = put->value;
    ev.prev_mod_revision = found ? old.mod_revision : 0;
    rv = record_store(&a->txn, &put->key, &r);
    if (rv == 0) {
        rv = kv_copy(a->arena, &put->key, &r, &ev.kv);
    }
    return rv != 0 ? rv : event_add(a, &ev);
}

/* Delete the key cur is at (k, with record v), after copying what the
 * result and the event need. *k returns the key's copy in the arena. */
static int delete_one(struct apply *a, struct coord_kvstore_cursor *cur, struct raft_buf *k,
                      const struct raft_buf *v, bool prev_kv, struct vec *kvs)
{
    struct coord_event ev = {.type = COORD_EVENT_DELETE};
    struct record r;
    int rv = record_decode(v, &r);

    if (rv != 0) {
        return rv;
    }
    if (prev_kv) {
        struct coord_kv *kv = vec_push(a->arena, kvs, sizeof *kv);

        rv = kv == NULL ? RAFT_ENOMEM : kv_copy(a->arena, k, &r, kv);
        if (rv != 0) {
            return rv;
        }
    }
    if (arena_dup(a->arena, k, &ev.kv.key) == NULL) {
        return RAFT_ENOMEM;
    }
    *k = ev.kv.key;
    ev.kv.mod_revision = a->st.next_revision;
    ev.prev_mod_revision = r.mod_revision;
    rv = coord_kvstore_cursor_del(cur);
    return rv != 0 ? rv : event_add(a, &ev);
}

static int exec_delete(struct apply *a, const struct coord_cmd_delete *del,
                       struct coord_op_result *op)
{
    struct coord_kvstore_cursor cur;
    struct raft_buf from = del->key;
    struct raft_buf k;
    struct raft_buf v;
    struct vec kvs = {NULL, 0, 0};
    int rv;

    op->type = COORD_OP_DELETE_RANGE;
    rv = coord_kvstore_cursor_open(&a->txn, COORD_DB_KV, &cur);
    if (rv != 0) {
        return rv;
    }
    /* Seek again after each delete: the next key is the first >= the one
     * just deleted. */
    while ((rv = coord_kvstore_cursor_seek(&cur, &from, &k, &v)) == 0) {
        if (!in_range(&k, &del->key, &del->range_end)) {
            break;
        }
        rv = delete_one(a, &cur, &k, &v, del->prev_kv, &kvs);
        if (rv != 0) {
            break;
        }
        from = k;
        op->n_deleted++;
    }
    coord_kvstore_cursor_close(&cur);
    op->kvs = kvs.items;
    op->n_kvs = kvs.n;
    return rv == RAFT_ENOTFOUND ? 0 : rv;
}

static int exec_range(struct apply *a, const struct coord_cmd_range *range,
                      struct coord_op_result *op)
{
    struct vec kvs = {NULL, 0, 0};
    int rv = range_collect(&a->txn, a->arena, &range->key, &range->range_end, range->limit, &kvs,
                           &op->more);

    op->type = COORD_OP_RANGE;
    op->kvs = kvs.items;
    op->n_kvs = kvs.n;
    return rv;
}

static int u64_cmp(uint64_t a, uint64_t b)
{
    return a < b ? -1 : (a > b ? 1 : 0);
}

/* Whether compare c holds in the current state. */
static int compare_eval(struct apply *a, const struct coord_cmd_compare *c, bool *holds)
{
    struct record r = {0, 0, 0, 0, {NULL, 0}};
    int rv = record_load(&a->txn, &c->key, &r);
    bool found = rv == 0;
    int cmp;

    if (rv != 0 && rv != RAFT_ENOTFOUND) {
        return rv;
    }
    *holds = false;
    switch (c->target) {
    case COORD_CMP_VALUE:
        if (!found) {
            return 0; /* a missing key fails every value compare (etcd) */
        }
        cmp = key_cmp(&r.value, &c->value);
        break;
    case COORD_CMP_VERSION:
        cmp = u64_cmp(r.version, c->number);
        break;
    case COORD_CMP_CREATE_REVISION:
        cmp = u64_cmp(r.create_revision, c->number);
        break;
    case COORD_CMP_MOD_REVISION:
        cmp = u64_cmp(r.mod_revision, c->number);
        break;
    default: /* COORD_CMP_EXISTS; the codec checked the target */
        cmp = found == c->exists ? 0 : 1;
        break;
    }
    *holds = (c->op == COORD_CMP_EQ && cmp == 0) || (c->op == COORD_CMP_NE && cmp != 0) ||
             (c->op == COORD_CMP_LT && cmp < 0) || (c->op == COORD_CMP_GT && cmp > 0);
    return 0;
}

static int exec_op(struct apply *a, const struct coord_txn_op *op, struct coord_op_result *res)
{
    switch (op->type) {
    case COORD_OP_PUT:
        return exec_put(a, &op->put, res);
    case COORD_OP_DELETE_RANGE:
        return exec_delete(a, &op->del, res);
    default:
        return exec_range(a, &op->range, res);
    }
}

static int exec_txn(struct apply *a, const struct coord_cmd_txn *txn, struct coord_cmd_result *r)
{
    const struct coord_txn_op *ops;
    bool holds = true;
    size_t i;
    int rv;

    for (i = 0; i < txn->n_compares && holds; i++) {
        rv = compare_eval(a, &txn->compares[i], &holds);
        if (rv != 0) {
            return rv;
        }
    }
    r->succeeded = holds;
    ops = holds ? txn->success : txn->failure;
    r->n_ops = holds ? txn->n_success : txn->n_failure;
    if (r->n_ops == 0) {
        return 0;
    }
    r->ops = arena_alloc(a->arena, r->n_ops * sizeof *r->ops);
    if (r->ops == NULL) {
        return RAFT_ENOMEM;
    }
    memset(r->ops, 0, r->n_ops * sizeof *r->ops);
    for (i = 0; i < r->n_ops; i++) {
        rv = exec_op(a, &ops[i], &r->ops[i]);
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

/* Drop the events that fell out of the window (invariant 4). */
static int compact(struct apply *a)
{
    uint64_t window = a->fsm->opts.event_window;
    uint64_t revision = a->st.next_revision - 1;
    struct coord_kvstore_cursor cur;
    struct raft_buf k;
    struct raft_buf v;
    int rv;

    if (revision <= window || revision - window <= a->st.compact_revision) {
        return 0;
    }
    rv = coord_kvstore_cursor_open(&a->txn, COORD_DB_EVENTS, &cur);
    if (rv != 0) {
        return rv;
    }
    while ((rv = coord_kvstore_cursor_seek(&cur, NULL, &k, &v)) == 0) {
        if (k.len != EV_KEY_LEN) {
            rv = RAFT_ECORRUPT;
            break;
        }
        if (get_be(k.base, 8) > revision - window) {
            break;
        }
        rv = coord_kvstore_cursor_del(&cur);
        if (rv != 0) {
            break;
        }
    }
    coord_kvstore_cursor_close(&cur);
    a->st.compact_revision = revision - window;
    return rv == RAFT_ENOTFOUND ? 0 : rv;
}

static int exec_cmd(struct apply *a, const struct coord_cmd *cmd, struct coord_cmd_result *r)
{
    if (cmd->type == COORD_CMD_TXN) {
        return exec_txn(a, &cmd->txn, r);
    }
    r->ops = arena_alloc(a->arena, sizeof *r->ops);
    if (r->ops == NULL) {
        return RAFT_ENOMEM;
    }
    memset(r->ops, 0, sizeof *r->ops);
    r->n_ops = 1;
    if (cmd->type == COORD_CMD_PUT) {
        return exec_put(a, &cmd->put, r->ops);
    }
    return exec_delete(a, &cmd->del, r->ops);
}

static int apply_normal(struct apply *a, const struct raft_entry *e, struct coord_cmd_result *r)
{
    struct coord_cmd cmd;
    int rv = coord_cmd_decode(&e->data, &cmd);

    if (rv == RAFT_ENOMEM) {
        return rv; /* not the command's fault: the batch fails */
    }
    if (rv != 0) {
        r->status = rv; /* deterministic: every node refuses it alike */
        return 0;
    }
    a->sub = 0;
    rv = exec_cmd(a, &cmd, r);
    coord_cmd_release(&cmd);
    if (rv == 0 && a->sub > 0) {
        a->st.next_revision++;
        rv = compact(a);
    }
    return rv;
}

static int apply_conf(struct apply *a, const struct raft_entry *e, struct coord_cmd_result *r)
{
    struct raft_conf conf;

    if (raft_conf_decode(&e->data, &conf) != 0) {
        r->status = RAFT_EPROTO;
        return 0;
    }
    a->st.conf = conf;
    a->st.conf_index = e->index;
    a->conf_changed = true;
    return 0;
}

static int apply_entry(struct apply *a, const struct raft_entry *e, struct coord_cmd_result *r)
{
    int rv = 0;

    r->index = e->index;
    r->revision = a->st.next_revision - 1;
    if (e->index <= a->st.applied_index) {
        r->skipped = true;
        return 0;
    }
    if (e->index != a->st.applied_index + 1) {
        return RAFT_EINVAL; /* a gap: the caller lost entries */
    }
    switch (e->type) {
    case RAFT_ENTRY_NORMAL:
        rv = apply_normal(a, e, r);
        break;
    case RAFT_ENTRY_NOOP:
        break;
    case RAFT_ENTRY_CONF:
        rv = apply_conf(a, e, r);
        break;
    default:
        r->status = RAFT_EPROTO;
        break;
    }
    a->st.applied_index = e->index;
    a->st.applied_term = e->term;
    r->revision = a->st.next_revision - 1;
    return rv;
}

/* Apply entries in a new transaction: a child of parent (a pending batch's)
 * when there is one, committed into it at the end, or a top-level one left
 * open in a->txn. */
static int apply_all(struct apply *a, struct coord_kvstore_txn *parent,
                     const struct raft_entry *entries, size_t n, struct coord_fsm_output *out)
{
    raft_index base = a->st.applied_index;
    size_t i;
    int rv;

    out->results = arena_alloc(a->arena, (n > 0 ? n : 1) * sizeof *out->results);
    if (out->results == NULL) {
        return RAFT_ENOMEM;
    }
    memset(out->results, 0, (n > 0 ? n : 1) * sizeof *out->results);
    out->n_results = n;
    rv = parent != NULL ? coord_kvstore_txn_begin_child(parent, &a->txn)
                        : coord_kvstore_txn_begin(a->fsm->ks, true, &a->txn);
    if (rv != 0) {
        return rv;
    }
    for (i = 0; i < n; i++) {
        rv = apply_entry(a, &entries[i], &out->results[i]);
        if (rv != 0) {
            return rv;
        }
    }
    if (a->st.applied_index == base) {
        coord_kvstore_txn_abort(&a->txn); /* all skipped: nothing to write */
        return 0;
    }
    rv = state_store(&a->txn, &a->st, a->conf_changed);
    if (rv == 0 && parent != NULL) {
        rv = coord_kvstore_txn_commit(&a->txn);
    }
    return rv;
}

int coord_fsm_apply_begin(struct coord_fsm *fsm, const struct raft_entry *entries, size_t n,
                          struct coord_fsm_output *out)
{
    struct coord_kvstore_txn *parent = NULL;
    struct apply a;
    int rv;

    RAFT_ASSERT(fsm->ks != NULL);
    memset(out, 0, sizeof *out);
    if (n > COORD_FSM_APPLY_MAX) {
        return RAFT_EINVAL;
    }
    memset(&a, 0, sizeof a);
    a.fsm = fsm;
    a.st = fsm->st;
    if (fsm->pending) {
        a.st = fsm->pend_st;
        parent = fsm->pend_txn.handle != NULL ? &fsm->pend_txn : NULL;
    }
    a.arena = arena_new();
    rv = a.arena != NULL ? apply_all(&a, parent, entries, n, out) : RAFT_ENOMEM;
    if (rv != 0) {
        coord_kvstore_txn_abort(&a.txn); /* the child or the new txn: pending ones stay */
        arena_free(a.arena);
        memset(out, 0, sizeof *out);
        return rv;
    }
    RAFT_DASSERT(state_ok(&a.st));
    fsm->pending = true;
    if (parent == NULL) {
        fsm->pend_txn = a.txn; /* not active if all were skipped */
    }
    fsm->pend_st = a.st;
    out->events = a.events.items;
    out->n_events = a.events.n;
    out->arena = a.arena;
    return 0;
}

int coord_fsm_apply_commit(struct coord_fsm *fsm)
{
    int rv = 0;

    RAFT_ASSERT(fsm->pending);
    fsm->pending = false;
    if (fsm->pend_txn.handle != NULL) {
        rv = coord_kvstore_txn_commit(&fsm->pend_txn);
    }
    if (rv == 0) {
        fsm->st = fsm->pend_st;
    }
    return rv;
}

int coord_fsm_apply(struct coord_fsm *fsm, const struct raft_entry *entries, size_t n,
                    struct coord_fsm_output *out)
{
    int rv = coord_fsm_apply_begin(fsm, entries, n, out);

    if (rv == 0) {
        rv = coord_fsm_apply_commit(fsm);
        if (rv != 0) {
            coord_fsm_output_release(out);
        }
    }
    return rv;
}

void coord_fsm_output_release(struct coord_fsm_output *out)
{
    arena_free(out->arena);
    memset(out, 0, sizeof *out);
}

/* ---- open, close, accessors ---- */

void coord_fsm_opts_default(struct coord_fsm_opts *opts)
{
    opts->map_size = COORD_KVSTORE_MAP_SIZE_DEFAULT;
    opts->event_window = COORD_FSM_EVENT_WINDOW_DEFAULT;
    opts->cluster_id = 0;
}

/* Load fsm's state from its open store, initializing a new one. */
static int load(struct coord_fsm *fsm)
{
    struct coord_kvstore_txn txn;
    struct raft_buf key = meta_key("format");
    struct raft_buf val;
    uint64_t cluster_id = 0;
    int rv = coord_kvstore_txn_begin(fsm->ks, true, &txn);

    if (rv != 0) {
        return rv;
    }
    rv = coord_kvstore_get(&txn, COORD_DB_META, &key, &val);
    if (rv == RAFT_ENOTFOUND) {
        rv = state_init(&txn, fsm->opts.cluster_id);
    }
    if (rv == 0) {
        rv = state_load(&txn, &fsm->st, &cluster_id);
    }
    if (rv == 0 && cluster_id == 0 && fsm->opts.cluster_id != 0) {
        cluster_id = fsm->opts.cluster_id;
        rv = meta_put(&txn, "cluster_id", cluster_id, 8);
    }
    if (rv == 0 && fsm->opts.cluster_id != 0 && cluster_id != fsm->opts.cluster_id) {
        rv = RAFT_ECONFIG;
    }
    if (rv != 0) {
        coord_kvstore_txn_abort(&txn);
        return rv;
    }
    fsm->cluster_id = cluster_id;
    return coord_kvstore_txn_commit(&txn);
}

static int reopen(struct coord_fsm *fsm)
{
    struct coord_kvstore_opts kopts = {fsm->opts.map_size, false};
    int rv = coord_kvstore_open(fsm->dir, &kopts, &fsm->ks);

    if (rv == 0) {
        rv = load(fsm);
    }
    if (rv != 0) {
        coord_kvstore_close(fsm->ks);
        fsm->ks = NULL;
    }
    return rv;
}

int coord_fsm_open(const char *dir, const struct coord_fsm_opts *opts, struct coord_fsm **out)
{
    struct coord_fsm *fsm = raft_calloc(1, sizeof *fsm);
    size_t len = strlen(dir);
    int rv;

    *out = NULL;
    if (fsm == NULL) {
        return RAFT_ENOMEM;
    }
    coord_fsm_opts_default(&fsm->opts);
    if (opts != NULL) {
        fsm->opts = *opts;
        fsm->opts.map_size = opts->map_size != 0 ? opts->map_size : COORD_KVSTORE_MAP_SIZE_DEFAULT;
        fsm->opts.event_window =
            opts->event_window != 0 ? opts->event_window : COORD_FSM_EVENT_WINDOW_DEFAULT;
    }
    fsm->dir = raft_malloc(len + 1);
    if (fsm->dir == NULL) {
        rv = RAFT_ENOMEM;
        goto err_after_fsm;
    }
    memcpy(fsm->dir, dir, len + 1);
    rv = reopen(fsm);
    if (rv != 0) {
        goto err_after_fsm;
    }
    *out = fsm;
    return 0;

err_after_fsm:
    coord_fsm_close(fsm);
    return rv;
}

void coord_fsm_close(struct coord_fsm *fsm)
{
    if (fsm == NULL) {
        return;
    }
    coord_kvstore_txn_abort(&fsm->pend_txn); /* a begun batch not committed is lost */
    coord_kvstore_close(fsm->ks);
    raft_free(fsm->dir);
    raft_free(fsm);
}

raft_index coord_fsm_applied_index(const struct coord_fsm *fsm)
{
    return fsm->st.applied_index;
}

raft_term coord_fsm_applied_term(const struct coord_fsm *fsm)
{
    return fsm->st.applied_term;
}

uint64_t coord_fsm_revision(const struct coord_fsm *fsm)
{
    return fsm->st.next_revision - 1;
}

uint64_t coord_fsm_compact_revision(const struct coord_fsm *fsm)
{
    return fsm->st.compact_revision;
}

uint64_t coord_fsm_cluster_id(const struct coord_fsm *fsm)
{
    return fsm->cluster_id;
}

static void meta_of(const struct state *st, struct raft_snapshot_meta *meta)
{
    memset(meta, 0, sizeof *meta);
    meta->index = st->applied_index;
    meta->term = st->applied_term;
    meta->conf = st->conf;
}

void coord_fsm_snapshot_meta(const struct coord_fsm *fsm, struct raft_snapshot_meta *meta)
{
    meta_of(&fsm->st, meta);
}

int coord_fsm_sync(struct coord_fsm *fsm)
{
    RAFT_ASSERT(fsm->ks != NULL);
    return coord_kvstore_sync(fsm->ks);
}

/* ---- snapshots ---- */

/* Read the state and cluster id stored in the snapshot file path. */
static int snapshot_state(const char *path, struct state *st, uint64_t *cluster_id)
{
    struct coord_kvstore *ks;
    struct coord_kvstore_txn txn;
    int rv = coord_kvstore_open_snapshot(path, &ks);

    if (rv != 0) {
        return rv;
    }
    rv = coord_kvstore_txn_begin(ks, false, &txn);
    if (rv == 0) {
        rv = state_load(&txn, st, cluster_id);
        coord_kvstore_txn_abort(&txn);
    }
    coord_kvstore_close(ks);
    return rv;
}

int coord_fsm_snapshot(struct coord_fsm *fsm, const char *path, struct raft_snapshot_meta *meta)
{
    struct state st;
    uint64_t cluster_id;
    int rv;

    RAFT_ASSERT(fsm->ks != NULL);
    rv = coord_kvstore_sync(fsm->ks);
    if (rv == 0) {
        rv = coord_kvstore_snapshot(fsm->ks, path);
    }
    if (rv == 0) {
        rv = snapshot_state(path, &st, &cluster_id);
    }
    if (rv == 0) {
        meta_of(&st, meta);
    }
    return rv;
}

int coord_fsm_install(struct coord_fsm *fsm, const char *path)
{
    struct state st;
    uint64_t cluster_id = 0;
    int rv;
    int rv2;

    RAFT_ASSERT(fsm->ks != NULL && !fsm->pending);
    /* Refuse a snapshot we could not reopen before touching the store. */
    rv = snapshot_state(path, &st, &cluster_id);
    if (rv == 0 && fsm->cluster_id != 0 && cluster_id != 0 && cluster_id != fsm->cluster_id) {
        rv = RAFT_ECONFIG;
    }
    if (rv != 0) {
        return rv;
    }
    coord_kvstore_close(fsm->ks);
    fsm->ks = NULL;
    rv = coord_kvstore_install(fsm->dir, path);
    rv2 = reopen(fsm);
    return rv2 != 0 ? rv2 : rv;
}

/* ---- reads ---- */

/* Begin a read: a read txn, the arena for the answer, the store revision. */
static int read_begin(struct coord_fsm *fsm, struct coord_kvstore_txn *txn,
                      struct coord_fsm_arena **arena, struct state *st)
{
    int rv;

    RAFT_ASSERT(fsm->ks != NULL);
    *arena = arena_new();
    if (*arena == NULL) {
        return RAFT_ENOMEM;
    }
    rv = coord_kvstore_txn_begin(fsm->ks, false, txn);
    if (rv == 0) {
        rv = meta_get(txn, "next_revision", &st->next_revision, 8);
    }
    if (rv == 0) {
        rv = meta_get(txn, "compact_revision", &st->compact_revision, 8);
    }
    if (rv != 0) {
        coord_kvstore_txn_abort(txn);
        arena_free(*arena);
        *arena = NULL;
    }
    return rv;
}

int coord_fsm_range(struct coord_fsm *fsm, const struct raft_buf *key,
                    const struct raft_buf *range_end, uint64_t limit, struct coord_fsm_read *out)
{
    struct coord_kvstore_txn txn;
    struct state st;
    struct vec kvs = {NULL, 0, 0};
    int rv;

    memset(out, 0, sizeof *out);
    if (key->len == 0 || key->len > COORD_CMD_KEY_MAX || range_end->len > COORD_CMD_KEY_MAX) {
        return RAFT_EINVAL;
    }
    rv = read_begin(fsm, &txn, &out->arena, &st);
    if (rv != 0) {
        return rv;
    }
    rv = range_collect(&txn, out->arena, key, range_end, limit, &kvs, &out->more);
    coord_kvstore_txn_abort(&txn);
    if (rv != 0) {
        coord_fsm_read_release(out);
        return rv;
    }
    out->revision = st.next_revision - 1;
    out->kvs = kvs.items;
    out->n_kvs = kvs.n;
    return 0;
}

int coord_fsm_get(struct coord_fsm *fsm, const struct raft_buf *key, struct coord_fsm_read *out)
{
    struct raft_buf none = {NULL, 0};
    uint64_t revision;
    int rv = coord_fsm_range(fsm, key, &none, 1, out);

    if (rv == 0 && out->n_kvs == 0) {
        revision = out->revision;
        coord_fsm_read_release(out);
        out->revision = revision;
        return RAFT_ENOTFOUND;
    }
    return rv;
}

void coord_fsm_read_release(struct coord_fsm_read *out)
{
    arena_free(out->arena);
    memset(out, 0, sizeof *out);
}

/* Copy up to max events from (from_revision, from_sub) into ev. */
static int events_collect(struct coord_kvstore_txn *txn, struct coord_fsm_arena *a,
                          uint64_t from_revision, uint32_t from_sub, size_t max, struct vec *ev,
                          bool *more)
{
    uint8_t kb[EV_KEY_LEN];
    struct raft_buf from = {kb, sizeof kb};
    struct coord_kvstore_cursor cur;
    struct raft_buf k;
    struct raft_buf v;
    int rv;

    event_key(kb, from_revision, from_sub);
    rv = coord_kvstore_cursor_open(txn, COORD_DB_EVENTS, &cur);
    if (rv != 0) {
        return rv;
    }
    rv = coord_kvstore_cursor_seek(&cur, &from, &k, &v);
    while (rv == 0) {
        struct coord_event *e;

        if (ev->n == max) {
            *more = true;
            break;
        }
        e = vec_push(a, ev, sizeof *e);
        rv = e == NULL ? RAFT_ENOMEM : event_decode(a, &k, &v, e);
        if (rv == 0) {
            rv = coord_kvstore_cursor_next(&cur, &k, &v);
        }
    }
    coord_kvstore_cursor_close(&cur);
    return rv == RAFT_ENOTFOUND ? 0 : rv;
}

int coord_fsm_events_read(struct coord_fsm *fsm, uint64_t from_revision, uint32_t from_sub,
                          size_t max, struct coord_fsm_events *out)
{
    struct coord_kvstore_txn txn;
    struct state st;
    struct vec ev = {NULL, 0, 0};
    int rv;

    memset(out, 0, sizeof *out);
    if (max == 0) {
        return RAFT_EINVAL;
    }
    if (from_revision == 0) {
        from_revision = 1;
        from_sub = 0;
    }
    rv = read_begin(fsm, &txn, &out->arena, &st);
    if (rv != 0) {
        return rv;
    }
    rv = from_revision <= st.compact_revision ? RAFT_ECOMPACTED : 0;
    if (rv == 0) {
        rv = events_collect(&txn, out->arena, from_revision, from_sub, max, &ev, &out->more);
    }
    coord_kvstore_txn_abort(&txn);
    if (rv != 0) {
        coord_fsm_events_release(out);
        return rv;
    }
    out->revision = st.next_revision - 1;
    out->events = ev.items;
    out->n_events = ev.n;
    return 0;
}

void coord_fsm_events_release(struct coord_fsm_events *out)
{
    arena_free(out->arena);
    memset(out, 0, sizeof *out);
}
