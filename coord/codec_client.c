/* SPDX-License-Identifier: MIT */
/* codec_client: ClientFrames of the client port <-> plain structs, with an
 * arena for everything decoded. Not the place for semantics: coord/server.c
 * decides what a request means and coord/fsm.c checks a command's shape. */
#include "coord/codec_client.h"

#include <stdalign.h>
#include <string.h>

#include "coord/frame.h"
#include "proto/coord.pb-c.h"
#include "raft/base/alloc.h"
#include "raft/base/assert.h"

/* MemberChange.Op uses the numbers of enum raft_conf_op, so the codec can
 * cast. */
#define SAME(a, b) _Static_assert((int)(a) == (int)(b), #a " has the wire's number")
SAME(RAFT_CONF_ADD_LEARNER, COORD__API__MEMBER_CHANGE__OP__ADD_LEARNER);
SAME(RAFT_CONF_PROMOTE, COORD__API__MEMBER_CHANGE__OP__PROMOTE);
SAME(RAFT_CONF_DEMOTE, COORD__API__MEMBER_CHANGE__OP__DEMOTE);
SAME(RAFT_CONF_REMOVE, COORD__API__MEMBER_CHANGE__OP__REMOVE);
#undef SAME

#define ARENA_FIRST    (16u << 10) /* bytes of the arena's first block */
#define ARENA_KEEP_MAX (1u << 20)  /* the block kept across resets grows up to this */
#define ARENA_ALIGN    alignof(max_align_t)
#define OUT_MIN_CAP    (4u << 10)     /* first allocation of an output buffer */
#define PTR            sizeof(void *) /* an element of protobuf-c's arrays of message pointers */

_Static_assert(sizeof(Coord__Api__KeyValue *) == PTR, "pointer array layout");

/* An extra block, taken when the kept one is full; freed at reset. */
struct chunk {
    struct chunk *next;
    size_t cap;  /* bytes of data */
    size_t used; /* bytes of data handed out */
    alignas(max_align_t) unsigned char data[];
};

struct coord_codec_client {
    unsigned char *base; /* the kept block, cap bytes */
    size_t cap;
    size_t used;         /* bytes of base handed out since the last reset */
    struct chunk *extra; /* newest first */
    size_t extra_used;   /* bytes handed out of the extra blocks since the last reset */
    bool oom;            /* an allocation failed since the last unpack began */
};

/* ---- the arena -------------------------------------------------------------------------- */

static void *arena_alloc(struct coord_codec_client *cc, size_t size)
{
    struct chunk *c = cc->extra;
    size_t cap;
    void *p;

    if (size > SIZE_MAX / 4) {
        cc->oom = true;
        return NULL;
    }
    size = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (size <= cc->cap - cc->used) {
        p = cc->base + cc->used;
        cc->used += size;
        return p;
    }
    if (c == NULL || size > c->cap - c->used) {
        cap = c != NULL ? c->cap * 2 : ARENA_FIRST;
        cap = cap > size ? cap : size;
        c = raft_malloc(sizeof *c + cap);
        if (c == NULL) {
            cc->oom = true;
            return NULL;
        }
        c->next = cc->extra;
        c->cap = cap;
        c->used = 0;
        cc->extra = c;
    }
    p = c->data + c->used;
    c->used += size;
    cc->extra_used += size;
    return p;
}

static void *pb_alloc(void *data, size_t size)
{
    return arena_alloc(data, size);
}

static void pb_free(void *data, void *p)
{
    (void)data;
    (void)p; /* the arena releases everything at reset */
}

int coord_codec_client_new(struct coord_codec_client **out)
{
    struct coord_codec_client *cc = raft_calloc(1, sizeof *cc);

    *out = NULL;
    if (cc == NULL) {
        return RAFT_ENOMEM;
    }
    cc->base = raft_malloc(ARENA_FIRST);
    if (cc->base == NULL) {
        raft_free(cc);
        return RAFT_ENOMEM;
    }
    cc->cap = ARENA_FIRST;
    *out = cc;
    return 0;
}

void coord_codec_client_reset(struct coord_codec_client *cc)
{
    size_t want = cc->used + cc->extra_used;
    unsigned char *p;

    while (cc->extra != NULL) {
        struct chunk *c = cc->extra;

        cc->extra = c->next;
        raft_free(c);
    }
    /* A request that needed extra blocks will likely come again: grow the
     * kept block to fit it, up to a bound. On ENOMEM keep the old one. */
    if (cc->extra_used > 0 && cc->cap < ARENA_KEEP_MAX) {
        want = want < ARENA_KEEP_MAX ? want : ARENA_KEEP_MAX;
        p = raft_malloc(want);
        if (p != NULL) {
            raft_free(cc->base);
            cc->base = p;
            cc->cap = want;
        }
    }
    cc->used = 0;
    cc->extra_used = 0;
}

void coord_codec_client_free(struct coord_codec_client *cc)
{
    if (cc == NULL) {
        return;
    }
    coord_codec_client_reset(cc);
    raft_free(cc->base);
    raft_free(cc);
}

/* protobuf-c wants char * for string fields it only reads when packing. */
static char *unconst(const char *s)
{
    union {
        const char *c;
        char *m;
    } u = {s};

    return u.m;
}

/* ---- output frames ---------------------------------------------------------------------- */

void coord_codec_client_out_free(struct coord_api_out *out)
{
    raft_free(out->base);
    memset(out, 0, sizeof *out);
}

/* Make room for need more bytes in out. */
static int out_reserve(struct coord_api_out *out, size_t need)
{
    size_t cap = out->cap > 0 ? out->cap : OUT_MIN_CAP;
    uint8_t *p;

    if (need > SIZE_MAX / 4 - out->len) {
        return RAFT_ENOMEM;
    }
    if (out->len + need <= out->cap) {
        return 0;
    }
    while (cap < out->len + need) {
        cap *= 2;
    }
    p = raft_realloc(out->base, cap);
    if (p == NULL) {
        return RAFT_ENOMEM;
    }
    out->base = p;
    out->cap = cap;
    return 0;
}

/* Append f as one frame. */
static int append_frame(struct coord_api_out *out, const Coord__Api__ClientFrame *f)
{
    size_t len = coord__api__client_frame__get_packed_size(f);
    size_t n;
    int rv;

    if (len > COORD_FRAME_MAX) {
        return RAFT_ETOOBIG;
    }
    rv = out_reserve(out, COORD_FRAME_HEADER_LEN + len);
    if (rv != 0) {
        return rv;
    }
    n = coord__api__client_frame__pack(f, out->base + out->len + COORD_FRAME_HEADER_LEN);
    RAFT_ASSERT(n == len);
    coord_frame_header_encode(out->base + out->len, len);
    out->len += COORD_FRAME_HEADER_LEN + len;
    return 0;
}

static int append_response(struct coord_api_out *out, Coord__Api__Response *r)
{
    Coord__Api__ClientFrame f = COORD__API__CLIENT_FRAME__INIT;

    f.has_version = 1;
    f.version = COORD_API_VERSION;
    f.response = r;
    return append_frame(out, &f);
}

/* ---- decoding --------------------------------------------------------------------------- */

#define PB_FIELD_MAX 536870911u /* the largest field number protobuf allows, 2^29 - 1 */
#define PB_DEPTH_MAX 16u        /* nesting of coord.proto's messages is far less */

/* Are the unknown fields of m and of every message below it ones that
 * protobuf-c packs back into bytes it reads again? It reads a field number
 * 0 when the tag is written in more than one byte (a one-byte 0 it refuses),
 * keeps it as an unknown field and packs it back in one byte: a request
 * forwarded to the leader would no longer decode there (and the leader
 * closes the follower's connection, failing every request in flight on it),
 * nor would the Command a write proposes. No valid protobuf has field number
 * 0, nor one above PB_FIELD_MAX (only such overlong tags can express them):
 * both are refused as malformed. */
static bool tags_ok(const ProtobufCMessage *m, unsigned depth)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;
    size_t i;
    size_t j;

    if (depth > PB_DEPTH_MAX) {
        return false;
    }
    for (i = 0; i < m->n_unknown_fields; i++) {
        if (m->unknown_fields[i].tag == 0 || m->unknown_fields[i].tag > PB_FIELD_MAX) {
            return false;
        }
    }
    for (i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];

        if (f->type != PROTOBUF_C_TYPE_MESSAGE ||
            ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
             *(const uint32_t *)(const void *)(base + f->quantifier_offset) != f->id)) {
            continue; /* not a message, or a oneof member not set (its union holds another) */
        }
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(const void *)(base + f->quantifier_offset);
            ProtobufCMessage *const *v =
                *(ProtobufCMessage *const *const *)(const void *)(base + f->offset);

            for (j = 0; j < n; j++) {
                if (!tags_ok(v[j], depth + 1)) {
                    return false;
                }
            }
        } else {
            const ProtobufCMessage *sub =
                *(ProtobufCMessage *const *)(const void *)(base + f->offset);

            if (sub != NULL && !tags_ok(sub, depth + 1)) {
                return false;
            }
        }
    }
    return true;
}

/* Unpack body into the arena; NULL with cc->oom telling memory from bad
 * bytes (protobuf-c does not say which). */
static Coord__Api__ClientFrame *unpack(struct coord_codec_client *cc, const struct raft_buf *body)
{
    ProtobufCAllocator alloc = {pb_alloc, pb_free, cc};
    Coord__Api__ClientFrame *f;

    cc->oom = false;
    if (body->len > 0 && body->base == NULL) {
        return NULL;
    }
    f = coord__api__client_frame__unpack(&alloc, body->len, body->base);
    return f != NULL && tags_ok(&f->base, 0) ? f : NULL; /* the arena frees f at reset */
}

static void decode_op(const Coord__Api__Request *r, struct coord_api_request *req)
{
    const Coord__Cmd__Range *range = r->range;
    const Coord__Api__MemberChange *mc = r->member_change;

    switch (r->op_case) {
    case COORD__API__REQUEST__OP_PUT:
        req->op = COORD_API_PUT;
        break;
    case COORD__API__REQUEST__OP_DELETE_RANGE:
        req->op = COORD_API_DELETE_RANGE;
        break;
    case COORD__API__REQUEST__OP_TXN:
        req->op = COORD_API_TXN;
        break;
    case COORD__API__REQUEST__OP_RANGE:
        req->op = COORD_API_RANGE;
        req->key.base = range->has_key ? range->key.data : NULL;
        req->key.len = range->has_key ? range->key.len : 0;
        req->range_end.base = range->has_range_end ? range->range_end.data : NULL;
        req->range_end.len = range->has_range_end ? range->range_end.len : 0;
        req->limit = range->has_limit ? range->limit : 0;
        break;
    case COORD__API__REQUEST__OP_STATUS:
        req->op = COORD_API_STATUS;
        break;
    case COORD__API__REQUEST__OP_MEMBER_CHANGE:
        if (!mc->has_op || mc->op < COORD__API__MEMBER_CHANGE__OP__ADD_LEARNER ||
            mc->op > COORD__API__MEMBER_CHANGE__OP__REMOVE) {
            req->invalid = "member_change: missing or unknown op";
            break;
        }
        req->op = COORD_API_MEMBER_CHANGE;
        req->conf_op = (uint8_t)mc->op;
        req->member_id = mc->has_id ? mc->id : 0;
        req->peer_addr = mc->peer_addr != NULL ? mc->peer_addr : "";
        req->client_addr = mc->client_addr != NULL ? mc->client_addr : "";
        break;
    case COORD__API__REQUEST__OP_LEADER_TRANSFER:
        req->op = COORD_API_LEADER_TRANSFER;
        req->transfer_to = r->leader_transfer->has_to ? r->leader_transfer->to : 0;
        break;
    default:
        /* protobuf-c leaves NOT_SET for a request without an op; a newer
         * client's op unknown here lands in unknown fields, also NOT_SET. */
        req->invalid = "request has no operation this node knows";
        break;
    }
}

int coord_codec_client_decode(struct coord_codec_client *cc, const struct raft_buf *body,
                              struct coord_api_request *req)
{
    Coord__Api__ClientFrame *f;
    const Coord__Api__Request *r;

    memset(req, 0, sizeof *req);
    f = unpack(cc, body);
    if (f == NULL) {
        return cc->oom ? RAFT_ENOMEM : RAFT_EPROTO;
    }
    r = f->request;
    if (r != NULL && r->has_id) {
        req->id = r->id;
    }
    if (f->has_version && f->version != COORD_API_VERSION) {
        req->invalid = "unsupported protocol version (this node speaks 1)";
        return 0;
    }
    if (r == NULL) {
        req->invalid = "frame carries no request";
        return 0;
    }
    req->timeout_ms = r->has_timeout_ms ? r->timeout_ms : 0;
    req->serializable = r->has_serializable && r->serializable;
    req->no_forward = r->has_no_forward && r->no_forward;
    req->pb = r;
    decode_op(r, req);
    return 0;
}

/* ---- writes and forwarding -------------------------------------------------------------- */

int coord_codec_client_command(struct coord_codec_client *cc, const struct coord_api_request *req,
                               uint64_t time_ms, struct raft_buf *out)
{
    const Coord__Api__Request *r = req->pb;
    Coord__Cmd__Command cmd = COORD__CMD__COMMAND__INIT;
    size_t len;
    uint8_t *p;

    out->base = NULL;
    out->len = 0;
    if (r == NULL) {
        return RAFT_EINVAL;
    }
    cmd.has_version = 1;
    cmd.version = COORD_CMD_VERSION;
    cmd.request = r->request;
    cmd.has_time_ms = 1;
    cmd.time_ms = time_ms;
    /* The client's sub-message itself, no copy: what the client sent is what
     * is logged and applied. */
    switch (r->op_case) {
    case COORD__API__REQUEST__OP_PUT:
        cmd.op_case = COORD__CMD__COMMAND__OP_PUT;
        cmd.put = r->put;
        break;
    case COORD__API__REQUEST__OP_DELETE_RANGE:
        cmd.op_case = COORD__CMD__COMMAND__OP_DELETE_RANGE;
        cmd.delete_range = r->delete_range;
        break;
    case COORD__API__REQUEST__OP_TXN:
        cmd.op_case = COORD__CMD__COMMAND__OP_TXN;
        cmd.txn = r->txn;
        break;
    default:
        return RAFT_EINVAL;
    }
    len = coord__cmd__command__get_packed_size(&cmd);
    p = arena_alloc(cc, len > 0 ? len : 1);
    if (p == NULL) {
        return RAFT_ENOMEM;
    }
    RAFT_ASSERT(coord__cmd__command__pack(&cmd, p) == len);
    out->base = p;
    out->len = len;
    return 0;
}

int coord_codec_client_forward(struct coord_codec_client *cc, const struct coord_api_request *req,
                               uint64_t id, uint32_t timeout_ms, struct coord_api_out *out)
{
    Coord__Api__ClientFrame f = COORD__API__CLIENT_FRAME__INIT;
    Coord__Api__Request copy;

    (void)cc;
    RAFT_ASSERT(req->pb != NULL);
    /* A shallow copy: the sub-messages (and unknown fields) are the client's. */
    copy = *(const Coord__Api__Request *)req->pb;
    copy.has_id = 1;
    copy.id = id;
    copy.has_timeout_ms = 1;
    copy.timeout_ms = timeout_ms;
    copy.has_no_forward = 1;
    copy.no_forward = 1;
    f.has_version = 1;
    f.version = COORD_API_VERSION;
    f.request = &copy;
    return append_frame(out, &f);
}

/* ---- answers ---------------------------------------------------------------------------- */

static void fill_header(Coord__Api__Response *r, const struct coord_api_header *h)
{
    r->has_id = 1;
    r->id = h->id;
    if (h->error != 0) {
        r->has_error = 1;
        r->error = (uint32_t)-h->error;
    }
    r->message = h->message != NULL ? unconst(h->message) : NULL;
    if (h->leader_id != 0) {
        r->has_leader_id = 1;
        r->leader_id = h->leader_id;
    }
    if (h->leader_addr != NULL && h->leader_addr[0] != '\0') {
        r->leader_addr = unconst(h->leader_addr);
    }
    if (h->revision != 0) {
        r->has_revision = 1;
        r->revision = h->revision;
    }
    if (h->applied_index != 0) {
        r->has_applied_index = 1;
        r->applied_index = h->applied_index;
    }
}

int coord_codec_client_answer(struct coord_codec_client *cc, const struct coord_api_header *h,
                              struct coord_api_out *out)
{
    Coord__Api__Response r = COORD__API__RESPONSE__INIT;

    (void)cc;
    fill_header(&r, h);
    return append_response(out, &r);
}

static void fill_kv(Coord__Api__KeyValue *pb, const struct coord_kv *kv)
{
    coord__api__key_value__init(pb);
    pb->has_key = 1;
    pb->key.data = kv->key.base;
    pb->key.len = kv->key.len;
    pb->has_value = 1;
    pb->value.data = kv->value.base;
    pb->value.len = kv->value.len;
    pb->has_create_revision = 1;
    pb->create_revision = kv->create_revision;
    pb->has_mod_revision = 1;
    pb->mod_revision = kv->mod_revision;
    pb->has_version = 1;
    pb->version = kv->version;
    if (kv->session != 0) {
        pb->has_session = 1;
        pb->session = kv->session;
    }
}

/* A KeyValues in the arena holding kvs (borrowed until packed). */
static Coord__Api__KeyValues *build_kvs(struct coord_codec_client *cc, const struct coord_kv *kvs,
                                        size_t n, bool more, bool deleted, uint64_t n_deleted)
{
    Coord__Api__KeyValues *pb = arena_alloc(cc, sizeof *pb);
    Coord__Api__KeyValue *items;
    size_t i;

    if (pb == NULL || n > SIZE_MAX / (sizeof *items + PTR)) {
        return NULL;
    }
    coord__api__key_values__init(pb);
    if (n > 0) {
        items = arena_alloc(cc, n * sizeof *items);
        pb->kvs = arena_alloc(cc, n * PTR);
        if (items == NULL || pb->kvs == NULL) {
            return NULL;
        }
        for (i = 0; i < n; i++) {
            fill_kv(&items[i], &kvs[i]);
            pb->kvs[i] = &items[i];
        }
        pb->n_kvs = n;
    }
    if (more) {
        pb->has_more = 1;
        pb->more = 1;
    }
    if (deleted) {
        pb->has_deleted = 1;
        pb->deleted = n_deleted;
    }
    return pb;
}

static Coord__Api__KeyValues *build_op(struct coord_codec_client *cc,
                                       const struct coord_op_result *op)
{
    bool del = op->type == COORD_OP_DELETE_RANGE;

    return build_kvs(cc, op->kvs, op->n_kvs, op->more, del, op->n_deleted);
}

static Coord__Api__TxnResult *build_txn(struct coord_codec_client *cc,
                                        const struct coord_cmd_result *res)
{
    Coord__Api__TxnResult *t = arena_alloc(cc, sizeof *t);
    size_t i;

    if (t == NULL || res->n_ops > SIZE_MAX / PTR) {
        return NULL;
    }
    coord__api__txn_result__init(t);
    t->has_succeeded = 1;
    t->succeeded = res->succeeded;
    if (res->n_ops > 0) {
        t->results = arena_alloc(cc, res->n_ops * PTR);
        if (t->results == NULL) {
            return NULL;
        }
        for (i = 0; i < res->n_ops; i++) {
            t->results[i] = build_op(cc, &res->ops[i]);
            if (t->results[i] == NULL) {
                return NULL;
            }
        }
        t->n_results = res->n_ops;
    }
    return t;
}

int coord_codec_client_answer_cmd(struct coord_codec_client *cc, const struct coord_api_header *h,
                                  const struct coord_cmd_result *res, bool txn,
                                  struct coord_api_out *out)
{
    Coord__Api__Response r = COORD__API__RESPONSE__INIT;

    fill_header(&r, h);
    if (txn) {
        r.result_case = COORD__API__RESPONSE__RESULT_TXN;
        r.txn = build_txn(cc, res);
        if (r.txn == NULL) {
            return RAFT_ENOMEM;
        }
    } else if (res->n_ops > 0) {
        r.result_case = COORD__API__RESPONSE__RESULT_KVS;
        r.kvs = build_op(cc, &res->ops[0]);
        if (r.kvs == NULL) {
            return RAFT_ENOMEM;
        }
    }
    return append_response(out, &r);
}

int coord_codec_client_answer_kvs(struct coord_codec_client *cc, const struct coord_api_header *h,
                                  const struct coord_kv *kvs, size_t n, bool more,
                                  struct coord_api_out *out)
{
    Coord__Api__Response r = COORD__API__RESPONSE__INIT;

    fill_header(&r, h);
    r.result_case = COORD__API__RESPONSE__RESULT_KVS;
    r.kvs = build_kvs(cc, kvs, n, more, false, 0);
    if (r.kvs == NULL) {
        return RAFT_ENOMEM;
    }
    return append_response(out, &r);
}

static const char *role_name(const struct coord_node_status *st)
{
    if (st->learner) {
        return "learner";
    }
    switch (st->role) {
    case RAFT_LEADER:
        return "leader";
    case RAFT_CANDIDATE:
        return "candidate";
    case RAFT_PRECANDIDATE:
        return "precandidate";
    default:
        return "follower";
    }
}

static Coord__Api__NodeStatus *build_status(struct coord_codec_client *cc,
                                            const struct coord_node_status *st)
{
    Coord__Api__NodeStatus *s = arena_alloc(cc, sizeof *s);
    uint32_t n = st->n_members < RAFT_MAX_SERVERS ? st->n_members : RAFT_MAX_SERVERS;
    Coord__Api__Member *m = arena_alloc(cc, (n > 0 ? n : 1) * sizeof *m);
    uint32_t i;

    if (s == NULL || m == NULL) {
        return NULL;
    }
    coord__api__node_status__init(s);
    s->has_id = s->has_term = s->has_leader_id = s->has_commit_index = 1;
    s->has_applied_index = s->has_last_index = s->has_revision = 1;
    s->id = st->id;
    s->role = unconst(role_name(st));
    s->term = st->term;
    s->leader_id = st->leader;
    s->commit_index = st->commit_index;
    s->applied_index = st->applied_index;
    s->last_index = st->last_index;
    s->revision = st->revision;
    s->members = arena_alloc(cc, (n > 0 ? n : 1) * PTR);
    if (s->members == NULL) {
        return NULL;
    }
    for (i = 0; i < n; i++) {
        const struct coord_node_member *src = &st->members[i];

        coord__api__member__init(&m[i]);
        m[i].has_id = m[i].has_voter = m[i].has_match_index = 1;
        m[i].id = src->id;
        m[i].voter = src->voter;
        m[i].peer_addr = unconst(src->peer_addr);
        m[i].client_addr = unconst(src->client_addr);
        m[i].match_index = src->match_index;
        s->members[i] = &m[i];
    }
    s->n_members = n;
    return s;
}

int coord_codec_client_answer_status(struct coord_codec_client *cc,
                                     const struct coord_api_header *h,
                                     const struct coord_node_status *st, struct coord_api_out *out)
{
    Coord__Api__Response r = COORD__API__RESPONSE__INIT;

    fill_header(&r, h);
    r.result_case = COORD__API__RESPONSE__RESULT_STATUS;
    r.status = build_status(cc, st);
    if (r.status == NULL) {
        return RAFT_ENOMEM;
    }
    return append_response(out, &r);
}

/* ---- relaying a leader's answers -------------------------------------------------------- */

int coord_codec_client_decode_response(struct coord_codec_client *cc, const struct raft_buf *body,
                                       struct coord_api_response *resp)
{
    Coord__Api__ClientFrame *f;

    memset(resp, 0, sizeof *resp);
    f = unpack(cc, body);
    if (f == NULL) {
        return cc->oom ? RAFT_ENOMEM : RAFT_EPROTO;
    }
    if (f->response == NULL || (f->has_version && f->version != COORD_API_VERSION)) {
        return RAFT_EPROTO;
    }
    resp->id = f->response->has_id ? f->response->id : 0;
    resp->error = f->response->has_error ? f->response->error : 0;
    resp->pb = f->response;
    return 0;
}

int coord_codec_client_relay(struct coord_codec_client *cc, const struct coord_api_response *resp,
                             uint64_t id, struct coord_api_out *out)
{
    Coord__Api__Response copy;

    (void)cc;
    RAFT_ASSERT(resp->pb != NULL);
    copy = *(const Coord__Api__Response *)resp->pb;
    copy.has_id = 1;
    copy.id = id;
    return append_response(out, &copy);
}
