/* SPDX-License-Identifier: MIT */
/* codec: libcoord's encoder of requests and decoder of responses
 * (proto/coord.proto), and the arena answers live in. Validates the shape of
 * what nodes send, never its meaning. */
#include "coord/client/codec.h"

#include <limits.h>
#include <stdalign.h>
#include <stddef.h>
#include <string.h>

#include "coord/frame.h"
#include "proto/coord.pb-c.h"
#include "raft/base/alloc.h"
#include "raft/base/assert.h"
#include "raft/base/err.h"

/* enum coord_member_op uses the wire's numbers, so the encoder can cast. */
#define SAME(a, b) _Static_assert((int)(a) == (int)(b), #a " has the wire's number")
SAME(COORD_MEMBER_ADD_LEARNER, COORD__API__MEMBER_CHANGE__OP__ADD_LEARNER);
SAME(COORD_MEMBER_PROMOTE, COORD__API__MEMBER_CHANGE__OP__PROMOTE);
SAME(COORD_MEMBER_DEMOTE, COORD__API__MEMBER_CHANGE__OP__DEMOTE);
SAME(COORD_MEMBER_REMOVE, COORD__API__MEMBER_CHANGE__OP__REMOVE);
#undef SAME

/* ---- arena ------------------------------------------------------------------------------ */

#define ARENA_ALIGN     alignof(max_align_t)
#define ARENA_CHUNK_MIN (4u << 10) /* bytes of the first chunk */
#define ARENA_CHUNK_MAX (1u << 20) /* chunks grow by doubling up to this (unless asked more) */

struct coord_client_arena_chunk {
    struct coord_client_arena_chunk *next; /* older chunk */
    size_t cap;                            /* bytes of data */
    size_t used;                           /* bytes handed out, a multiple of ARENA_ALIGN */
    alignas(max_align_t) unsigned char data[];
};

void coord_client_arena_init(struct coord_client_arena *a)
{
    a->head = NULL;
}

static size_t round_up(size_t n)
{
    return (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
}

static struct coord_client_arena_chunk *chunk_new(struct coord_client_arena *a, size_t size)
{
    size_t cap = a->head != NULL ? a->head->cap * 2 : ARENA_CHUNK_MIN;
    struct coord_client_arena_chunk *k;

    if (cap > ARENA_CHUNK_MAX) {
        cap = ARENA_CHUNK_MAX;
    }
    if (cap < size) {
        cap = size;
    }
    if (cap > SIZE_MAX - sizeof *k) {
        return NULL;
    }
    k = raft_malloc(sizeof *k + cap);
    if (k == NULL) {
        return NULL;
    }
    k->next = a->head;
    k->cap = cap;
    k->used = 0;
    a->head = k;
    return k;
}

void *coord_client_arena_alloc(struct coord_client_arena *a, size_t size)
{
    struct coord_client_arena_chunk *k = a->head;
    void *p;

    if (size > SIZE_MAX - ARENA_ALIGN) {
        return NULL;
    }
    size = round_up(size);
    if (k == NULL || k->cap - k->used < size) {
        k = chunk_new(a, size);
        if (k == NULL) {
            return NULL;
        }
    }
    p = k->data + k->used;
    k->used += size;
    RAFT_DASSERT(k->used <= k->cap);
    return p;
}

char *coord_client_arena_strdup(struct coord_client_arena *a, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = coord_client_arena_alloc(a, n);

    if (p != NULL) {
        memcpy(p, s, n);
    }
    return p;
}

void coord_client_arena_reset(struct coord_client_arena *a)
{
    struct coord_client_arena_chunk *keep = NULL;
    struct coord_client_arena_chunk *k = a->head;

    /* Keep the largest chunk within the bound: the next answer of the same
     * size then fits without allocating. */
    while (k != NULL) {
        struct coord_client_arena_chunk *next = k->next;

        if (k->cap <= COORD_CLIENT_ARENA_KEEP && (keep == NULL || k->cap > keep->cap)) {
            raft_free(keep);
            keep = k;
        } else {
            raft_free(k);
        }
        k = next;
    }
    if (keep != NULL) {
        keep->next = NULL;
        keep->used = 0;
    }
    a->head = keep;
}

void coord_client_arena_close(struct coord_client_arena *a)
{
    struct coord_client_arena_chunk *k = a->head;

    while (k != NULL) {
        struct coord_client_arena_chunk *next = k->next;

        raft_free(k);
        k = next;
    }
    a->head = NULL;
}

void coord_client_arena_swap(struct coord_client_arena *a, struct coord_client_arena *b)
{
    struct coord_client_arena_chunk *t = a->head;

    a->head = b->head;
    b->head = t;
}

/* protobuf-c's allocator over an arena: frees are no-ops, the arena's reset
 * frees everything at once. */
struct pb_arena {
    struct coord_client_arena *a;
    bool oom; /* an allocation failed: unpack's NULL means ENOMEM, not EPROTO */
};

static void *pb_alloc(void *data, size_t size)
{
    struct pb_arena *pa = data;
    void *p = coord_client_arena_alloc(pa->a, size);

    if (p == NULL) {
        pa->oom = true;
    }
    return p;
}

static void pb_free(void *data, void *p)
{
    (void)data;
    (void)p;
}

/* ---- encoding --------------------------------------------------------------------------- */

static void *unconst(const void *p)
{
    union {
        const void *c;
        void *m;
    } u;

    u.c = p;
    return u.m;
}

static ProtobufCBinaryData pb_bytes(const uint8_t *p, size_t len)
{
    ProtobufCBinaryData d = {.len = len, .data = len > 0 ? unconst(p) : NULL};

    return d;
}

/* The op's messages, on the encoder's stack. */
struct enc {
    Coord__Cmd__Put put;
    Coord__Cmd__Range range;
    Coord__Cmd__DeleteRange del;
    Coord__Api__StatusRequest status;
    Coord__Api__MemberChange member;
    Coord__Api__LeaderTransfer transfer;
};

static void fill_kv_op(const struct coord_client_req_desc *d, Coord__Api__Request *r, struct enc *e)
{
    bool has_end = d->range_end != NULL && d->range_end_len > 0;

    switch (d->op) {
    case COORD_CLIENT_OP_PUT:
        coord__cmd__put__init(&e->put);
        e->put.has_key = true;
        e->put.key = pb_bytes(d->key, d->key_len);
        e->put.has_value = true;
        e->put.value = pb_bytes(d->value, d->value_len);
        e->put.has_prev_kv = d->prev_kv;
        e->put.prev_kv = d->prev_kv;
        r->op_case = COORD__API__REQUEST__OP_PUT;
        r->put = &e->put;
        break;
    case COORD_CLIENT_OP_RANGE:
        coord__cmd__range__init(&e->range);
        e->range.has_key = true;
        e->range.key = pb_bytes(d->key, d->key_len);
        e->range.has_range_end = has_end;
        e->range.range_end = pb_bytes(d->range_end, has_end ? d->range_end_len : 0);
        e->range.has_limit = d->limit > 0;
        e->range.limit = d->limit;
        r->op_case = COORD__API__REQUEST__OP_RANGE;
        r->range = &e->range;
        break;
    default:
        RAFT_ASSERT(d->op == COORD_CLIENT_OP_DEL);
        coord__cmd__delete_range__init(&e->del);
        e->del.has_key = true;
        e->del.key = pb_bytes(d->key, d->key_len);
        e->del.has_range_end = has_end;
        e->del.range_end = pb_bytes(d->range_end, has_end ? d->range_end_len : 0);
        e->del.has_prev_kv = d->prev_kv;
        e->del.prev_kv = d->prev_kv;
        r->op_case = COORD__API__REQUEST__OP_DELETE_RANGE;
        r->delete_range = &e->del;
        break;
    }
}

static void fill_cluster_op(const struct coord_client_req_desc *d, Coord__Api__Request *r,
                            struct enc *e)
{
    switch (d->op) {
    case COORD_CLIENT_OP_STATUS:
        coord__api__status_request__init(&e->status);
        r->op_case = COORD__API__REQUEST__OP_STATUS;
        r->status = &e->status;
        break;
    case COORD_CLIENT_OP_MEMBER:
        coord__api__member_change__init(&e->member);
        e->member.has_op = true;
        e->member.op = (Coord__Api__MemberChange__Op)d->member_op;
        e->member.has_id = true;
        e->member.id = d->target;
        e->member.peer_addr = unconst(d->peer_addr);
        e->member.client_addr = unconst(d->client_addr);
        r->op_case = COORD__API__REQUEST__OP_MEMBER_CHANGE;
        r->member_change = &e->member;
        break;
    default:
        RAFT_ASSERT(d->op == COORD_CLIENT_OP_TRANSFER);
        coord__api__leader_transfer__init(&e->transfer);
        e->transfer.has_to = true;
        e->transfer.to = d->target;
        r->op_case = COORD__API__REQUEST__OP_LEADER_TRANSFER;
        r->leader_transfer = &e->transfer;
        break;
    }
}

int coord_client_codec_encode(const struct coord_client_req_desc *d, uint8_t **buf, size_t *cap,
                              size_t *len)
{
    Coord__Api__ClientFrame f = COORD__API__CLIENT_FRAME__INIT;
    Coord__Api__Request r = COORD__API__REQUEST__INIT;
    struct enc e;
    size_t body_len;
    size_t total;

    RAFT_ASSERT(d->op >= COORD_CLIENT_OP_PUT && d->op <= COORD_CLIENT_OP_TRANSFER);
    f.has_version = true;
    f.version = COORD_CLIENT_WIRE_VERSION;
    f.request = &r;
    r.has_id = true;
    r.id = d->id;
    r.has_timeout_ms = d->timeout_ms > 0;
    r.timeout_ms = d->timeout_ms;
    r.has_serializable = d->serializable;
    r.serializable = d->serializable;
    r.has_no_forward = d->no_forward;
    r.no_forward = d->no_forward;
    if (d->op <= COORD_CLIENT_OP_DEL) {
        fill_kv_op(d, &r, &e);
    } else {
        fill_cluster_op(d, &r, &e);
    }
    body_len = coord__api__client_frame__get_packed_size(&f);
    RAFT_ASSERT(body_len <= COORD_FRAME_MAX); /* the caller checked the sizes */
    total = COORD_FRAME_HEADER_LEN + body_len;
    if (total > *cap) {
        uint8_t *p = raft_realloc(*buf, total);

        if (p == NULL) {
            return RAFT_ENOMEM;
        }
        *buf = p;
        *cap = total;
    }
    coord_frame_header_encode(*buf, body_len);
    RAFT_ASSERT(coord__api__client_frame__pack(&f, *buf + COORD_FRAME_HEADER_LEN) == body_len);
    *len = total;
    return 0;
}

/* ---- decoding --------------------------------------------------------------------------- */

static const char *str_or_empty(const char *s)
{
    return s != NULL ? s : "";
}

static int convert_kvs(const Coord__Api__KeyValues *pb, struct coord_client_arena *a,
                       struct coord_result *res)
{
    struct coord_client_kv *kvs = NULL;
    size_t i;

    if (pb->n_kvs > 0) {
        if (pb->n_kvs > SIZE_MAX / sizeof *kvs) {
            return RAFT_EPROTO;
        }
        kvs = coord_client_arena_alloc(a, pb->n_kvs * sizeof *kvs);
        if (kvs == NULL) {
            return RAFT_ENOMEM;
        }
    }
    for (i = 0; i < pb->n_kvs; i++) {
        const Coord__Api__KeyValue *kv = pb->kvs[i];

        kvs[i] = (struct coord_client_kv){
            .key = kv->key.data,
            .key_len = kv->key.len,
            .value = kv->value.data,
            .value_len = kv->value.len,
            .create_revision = kv->create_revision,
            .mod_revision = kv->mod_revision,
            .version = kv->version,
            .session = kv->session,
        };
    }
    res->kvs = kvs;
    res->n_kvs = pb->n_kvs;
    res->more = pb->more;
    res->deleted = pb->deleted;
    return 0;
}

static int convert_status(const Coord__Api__NodeStatus *pb, struct coord_client_arena *a,
                          struct coord_result *res)
{
    struct coord_client_status *st = coord_client_arena_alloc(a, sizeof *st);
    struct coord_client_member *members = NULL;
    size_t i;

    if (st == NULL) {
        return RAFT_ENOMEM;
    }
    if (pb->n_members > 0) {
        if (pb->n_members > SIZE_MAX / sizeof *members) {
            return RAFT_EPROTO;
        }
        members = coord_client_arena_alloc(a, pb->n_members * sizeof *members);
        if (members == NULL) {
            return RAFT_ENOMEM;
        }
    }
    for (i = 0; i < pb->n_members; i++) {
        const Coord__Api__Member *m = pb->members[i];

        members[i] = (struct coord_client_member){
            .id = m->id,
            .voter = m->voter,
            .peer_addr = str_or_empty(m->peer_addr),
            .client_addr = str_or_empty(m->client_addr),
            .match_index = m->match_index,
        };
    }
    *st = (struct coord_client_status){
        .id = pb->id,
        .role = str_or_empty(pb->role),
        .term = pb->term,
        .leader_id = pb->leader_id,
        .commit_index = pb->commit_index,
        .applied_index = pb->applied_index,
        .last_index = pb->last_index,
        .revision = pb->revision,
        .members = members,
        .n_members = pb->n_members,
    };
    res->node_status = st;
    return 0;
}

static int convert_response(const Coord__Api__Response *pb, struct coord_client_arena *a,
                            struct coord_client_answer *out)
{
    struct coord_result *res = &out->res;

    if (pb->error > (uint32_t)INT_MAX) {
        return RAFT_EPROTO;
    }
    out->response = true;
    out->id = pb->id;
    res->status = -(int)pb->error;
    res->message = str_or_empty(pb->message);
    res->leader_id = pb->leader_id;
    res->leader_addr = str_or_empty(pb->leader_addr);
    res->revision = pb->revision;
    res->applied_index = pb->applied_index;
    switch (pb->result_case) {
    case COORD__API__RESPONSE__RESULT_KVS:
        return convert_kvs(pb->kvs, a, res);
    case COORD__API__RESPONSE__RESULT_STATUS:
        return convert_status(pb->status, a, res);
    default:
        /* No result, or one this version has no view for (txn): the
         * status and counters above are the answer. */
        return 0;
    }
}

int coord_client_codec_decode(const struct raft_buf *body, struct coord_client_arena *a,
                              struct coord_client_answer *out)
{
    struct pb_arena pa = {.a = a, .oom = false};
    ProtobufCAllocator alloc = {.alloc = pb_alloc, .free = pb_free, .allocator_data = &pa};
    Coord__Api__ClientFrame *f;

    memset(out, 0, sizeof *out);
    out->res.message = "";
    out->res.leader_addr = "";
    f = coord__api__client_frame__unpack(&alloc, body->len, body->base);
    if (f == NULL) {
        return pa.oom ? RAFT_ENOMEM : RAFT_EPROTO;
    }
    if (!f->has_version || f->version != COORD_CLIENT_WIRE_VERSION || f->request != NULL) {
        return RAFT_EPROTO;
    }
    if (f->response == NULL) {
        return 0; /* watch events, or an empty frame: nothing for a request */
    }
    return convert_response(f->response, a, out);
}
