/* SPDX-License-Identifier: MIT */
/* codec_cmd: struct coord_cmd <-> proto/command.proto bytes (protobuf-c).
 * Not the place for semantics: coord/fsm.c decides what a command means. */
#include "coord/codec_cmd.h"

#include <string.h>

#include "proto/command.pb-c.h"
#include "raft/base/alloc.h"
#include "raft/base/assert.h"

/* The C enums of coord/cmd.h use the wire's numbers, so the codec can cast. */
#define SAME(a, b) _Static_assert((int)(a) == (int)(b), #a " has the wire's number")
SAME(COORD_CMP_VALUE, COORD__CMD__COMPARE__TARGET__VALUE);
SAME(COORD_CMP_VERSION, COORD__CMD__COMPARE__TARGET__VERSION);
SAME(COORD_CMP_CREATE_REVISION, COORD__CMD__COMPARE__TARGET__CREATE_REVISION);
SAME(COORD_CMP_MOD_REVISION, COORD__CMD__COMPARE__TARGET__MOD_REVISION);
SAME(COORD_CMP_EXISTS, COORD__CMD__COMPARE__TARGET__EXISTS);
SAME(COORD_CMP_EQ, COORD__CMD__COMPARE__RESULT__EQUAL);
SAME(COORD_CMP_NE, COORD__CMD__COMPARE__RESULT__NOT_EQUAL);
SAME(COORD_CMP_LT, COORD__CMD__COMPARE__RESULT__LESS);
SAME(COORD_CMP_GT, COORD__CMD__COMPARE__RESULT__GREATER);
#undef SAME

/* ---- validation of the plain structs (shared by encode and decode) ----
 * Malformed input is reported as RAFT_EPROTO here; encode turns it into
 * RAFT_EINVAL, since there the caller is at fault, not the bytes. */

static int check_buf(const struct raft_buf *b, size_t max)
{
    if (b->len > 0 && b->base == NULL) {
        return RAFT_EPROTO;
    }
    return b->len > max ? RAFT_ETOOBIG : 0;
}

static int check_key(const struct raft_buf *key)
{
    if (key->len == 0) {
        return RAFT_EPROTO;
    }
    return check_buf(key, COORD_CMD_KEY_MAX);
}

static int check_range(const struct raft_buf *key, const struct raft_buf *range_end)
{
    int rv = check_key(key);

    return rv != 0 ? rv : check_buf(range_end, COORD_CMD_KEY_MAX);
}

static int check_put(const struct coord_cmd_put *put)
{
    int rv = check_key(&put->key);

    return rv != 0 ? rv : check_buf(&put->value, COORD_CMD_VALUE_MAX);
}

static int check_compare(const struct coord_cmd_compare *c)
{
    int rv = check_key(&c->key);

    if (rv != 0) {
        return rv;
    }
    if (c->op < COORD_CMP_EQ || c->op > COORD_CMP_GT) {
        return RAFT_EPROTO;
    }
    switch (c->target) {
    case COORD_CMP_VALUE:
        return check_buf(&c->value, COORD_CMD_VALUE_MAX);
    case COORD_CMP_VERSION:
    case COORD_CMP_CREATE_REVISION:
    case COORD_CMP_MOD_REVISION:
        return 0;
    case COORD_CMP_EXISTS:
        return c->op == COORD_CMP_EQ || c->op == COORD_CMP_NE ? 0 : RAFT_EPROTO;
    default:
        return RAFT_EPROTO;
    }
}

static int check_op(const struct coord_txn_op *op)
{
    switch (op->type) {
    case COORD_OP_PUT:
        return check_put(&op->put);
    case COORD_OP_DELETE_RANGE:
        return check_range(&op->del.key, &op->del.range_end);
    case COORD_OP_RANGE:
        return check_range(&op->range.key, &op->range.range_end);
    default:
        return RAFT_EPROTO;
    }
}

static int check_ops(const struct coord_txn_op *ops, size_t n)
{
    size_t i;
    int rv;

    if (n > COORD_CMD_TXN_OPS_MAX) {
        return RAFT_ETOOBIG;
    }
    for (i = 0; i < n; i++) {
        rv = check_op(&ops[i]);
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

static int check_txn(const struct coord_cmd_txn *txn)
{
    size_t i;
    int rv;

    if (txn->n_compares > COORD_CMD_TXN_OPS_MAX) {
        return RAFT_ETOOBIG;
    }
    for (i = 0; i < txn->n_compares; i++) {
        rv = check_compare(&txn->compares[i]);
        if (rv != 0) {
            return rv;
        }
    }
    rv = check_ops(txn->success, txn->n_success);
    return rv != 0 ? rv : check_ops(txn->failure, txn->n_failure);
}

static int check_cmd(const struct coord_cmd *cmd)
{
    switch (cmd->type) {
    case COORD_CMD_PUT:
        return check_put(&cmd->put);
    case COORD_CMD_DELETE_RANGE:
        return check_range(&cmd->del.key, &cmd->del.range_end);
    case COORD_CMD_TXN:
        return check_txn(&cmd->txn);
    default:
        return RAFT_EPROTO;
    }
}

/* ---- encode: plain structs -> generated structs -> bytes ---- */

static ProtobufCBinaryData pb_bytes(const struct raft_buf *b)
{
    ProtobufCBinaryData d = {.len = b->len, .data = b->base};

    return d;
}

static void put_to_pb(const struct coord_cmd_put *put, Coord__Cmd__Put *pb)
{
    coord__cmd__put__init(pb);
    pb->has_key = 1;
    pb->key = pb_bytes(&put->key);
    pb->has_value = put->value.len > 0;
    pb->value = pb_bytes(&put->value);
    pb->has_session = put->session != 0;
    pb->session = put->session;
    pb->has_prev_kv = put->prev_kv;
    pb->prev_kv = put->prev_kv;
}

static void delete_to_pb(const struct coord_cmd_delete *del, Coord__Cmd__DeleteRange *pb)
{
    coord__cmd__delete_range__init(pb);
    pb->has_key = 1;
    pb->key = pb_bytes(&del->key);
    pb->has_range_end = del->range_end.len > 0;
    pb->range_end = pb_bytes(&del->range_end);
    pb->has_prev_kv = del->prev_kv;
    pb->prev_kv = del->prev_kv;
}

static void range_to_pb(const struct coord_cmd_range *range, Coord__Cmd__Range *pb)
{
    coord__cmd__range__init(pb);
    pb->has_key = 1;
    pb->key = pb_bytes(&range->key);
    pb->has_range_end = range->range_end.len > 0;
    pb->range_end = pb_bytes(&range->range_end);
    pb->has_limit = range->limit != 0;
    pb->limit = range->limit;
}

static void compare_to_pb(const struct coord_cmd_compare *c, Coord__Cmd__Compare *pb)
{
    coord__cmd__compare__init(pb);
    pb->has_key = 1;
    pb->key = pb_bytes(&c->key);
    pb->has_target = 1;
    pb->target = (Coord__Cmd__Compare__Target)c->target;
    pb->has_result = 1;
    pb->result = (Coord__Cmd__Compare__Result)c->op;
    switch (c->target) {
    case COORD_CMP_VALUE:
        pb->operand_case = COORD__CMD__COMPARE__OPERAND_VALUE;
        pb->value = pb_bytes(&c->value);
        break;
    case COORD_CMP_EXISTS:
        pb->operand_case = COORD__CMD__COMPARE__OPERAND_EXISTS;
        pb->exists = c->exists;
        break;
    default:
        pb->operand_case = COORD__CMD__COMPARE__OPERAND_NUMBER;
        pb->number = c->number;
        break;
    }
}

/* A TxnOp with room for its one sub-message. */
struct pb_txn_op {
    Coord__Cmd__TxnOp op;
    union {
        Coord__Cmd__Put put;
        Coord__Cmd__DeleteRange del;
        Coord__Cmd__Range range;
    };
};

static void op_to_pb(const struct coord_txn_op *op, struct pb_txn_op *pb)
{
    coord__cmd__txn_op__init(&pb->op);
    switch (op->type) {
    case COORD_OP_PUT:
        put_to_pb(&op->put, &pb->put);
        pb->op.op_case = COORD__CMD__TXN_OP__OP_PUT;
        pb->op.put = &pb->put;
        break;
    case COORD_OP_DELETE_RANGE:
        delete_to_pb(&op->del, &pb->del);
        pb->op.op_case = COORD__CMD__TXN_OP__OP_DELETE_RANGE;
        pb->op.delete_range = &pb->del;
        break;
    default:
        RAFT_ASSERT(op->type == COORD_OP_RANGE); /* check_cmd() ran */
        range_to_pb(&op->range, &pb->range);
        pb->op.op_case = COORD__CMD__TXN_OP__OP_RANGE;
        pb->op.range = &pb->range;
        break;
    }
}

/* The generated structs of a txn, in one block: compares, ops, then the
 * pointer arrays protobuf-c wants. Every part has pointer alignment. */
struct pb_txn_block {
    Coord__Cmd__Compare *cmps;
    struct pb_txn_op *ops;
    Coord__Cmd__Compare **cmp_ptrs;
    Coord__Cmd__TxnOp **op_ptrs;
};

static int txn_block_alloc(const struct coord_cmd_txn *txn, struct pb_txn_block *b, void **mem)
{
    size_t n_ops = txn->n_success + txn->n_failure;
    size_t size = txn->n_compares * (sizeof *b->cmps + sizeof *b->cmp_ptrs) +
                  n_ops * (sizeof *b->ops + sizeof *b->op_ptrs);
    char *p = raft_calloc(1, size);

    _Static_assert(sizeof(Coord__Cmd__Compare) % sizeof(void *) == 0, "alignment");
    _Static_assert(sizeof(struct pb_txn_op) % sizeof(void *) == 0, "alignment");
    if (p == NULL) {
        return RAFT_ENOMEM;
    }
    *mem = p;
    b->cmps = (Coord__Cmd__Compare *)(void *)p;
    p += txn->n_compares * sizeof *b->cmps;
    b->ops = (struct pb_txn_op *)(void *)p;
    p += n_ops * sizeof *b->ops;
    b->cmp_ptrs = (Coord__Cmd__Compare **)(void *)p;
    p += txn->n_compares * sizeof *b->cmp_ptrs;
    b->op_ptrs = (Coord__Cmd__TxnOp **)(void *)p;
    return 0;
}

/* Fill pb from txn; *mem returns owned (raft_free) the block pb points into. */
static int txn_to_pb(const struct coord_cmd_txn *txn, Coord__Cmd__Txn *pb, void **mem)
{
    struct pb_txn_block b;
    size_t i;
    int rv = txn_block_alloc(txn, &b, mem);

    if (rv != 0) {
        return rv;
    }
    coord__cmd__txn__init(pb);
    for (i = 0; i < txn->n_compares; i++) {
        compare_to_pb(&txn->compares[i], &b.cmps[i]);
        b.cmp_ptrs[i] = &b.cmps[i];
    }
    for (i = 0; i < txn->n_success + txn->n_failure; i++) {
        const struct coord_txn_op *op =
            i < txn->n_success ? &txn->success[i] : &txn->failure[i - txn->n_success];

        op_to_pb(op, &b.ops[i]);
        b.op_ptrs[i] = &b.ops[i].op;
    }
    pb->n_compare = txn->n_compares;
    pb->compare = b.cmp_ptrs;
    pb->n_success = txn->n_success;
    pb->success = b.op_ptrs;
    pb->n_failure = txn->n_failure;
    pb->failure = b.op_ptrs + txn->n_success;
    return 0;
}

static int pack(const Coord__Cmd__Command *pb, struct raft_buf *out)
{
    size_t len = coord__cmd__command__get_packed_size(pb);
    size_t packed;
    void *base;

    if (len > COORD_CMD_ENCODED_MAX) {
        return RAFT_ETOOBIG;
    }
    base = raft_malloc(len);
    if (base == NULL) {
        return RAFT_ENOMEM;
    }
    packed = coord__cmd__command__pack(pb, base);
    RAFT_ASSERT(packed == len);
    out->base = base;
    out->len = len;
    return 0;
}

int coord_cmd_encode(const struct coord_cmd *cmd, struct raft_buf *out)
{
    Coord__Cmd__Command pb = COORD__CMD__COMMAND__INIT;
    Coord__Cmd__RequestId req = COORD__CMD__REQUEST_ID__INIT;
    Coord__Cmd__Put put;
    Coord__Cmd__DeleteRange del;
    Coord__Cmd__Txn txn;
    void *mem = NULL;
    int rv;

    out->base = NULL;
    out->len = 0;
    if (cmd->version != 0 && cmd->version != COORD_CMD_VERSION) {
        return RAFT_EINVAL;
    }
    rv = check_cmd(cmd);
    if (rv != 0) {
        return rv == RAFT_EPROTO ? RAFT_EINVAL : rv;
    }
    pb.has_version = 1;
    pb.version = COORD_CMD_VERSION;
    if (cmd->client_id != 0 || cmd->seq != 0) {
        req.has_client_id = 1;
        req.client_id = cmd->client_id;
        req.has_seq = 1;
        req.seq = cmd->seq;
        pb.request = &req;
    }
    pb.has_time_ms = 1;
    pb.time_ms = cmd->time_ms;
    switch (cmd->type) {
    case COORD_CMD_PUT:
        put_to_pb(&cmd->put, &put);
        pb.op_case = COORD__CMD__COMMAND__OP_PUT;
        pb.put = &put;
        break;
    case COORD_CMD_DELETE_RANGE:
        delete_to_pb(&cmd->del, &del);
        pb.op_case = COORD__CMD__COMMAND__OP_DELETE_RANGE;
        pb.delete_range = &del;
        break;
    default:
        rv = txn_to_pb(&cmd->txn, &txn, &mem);
        if (rv != 0) {
            return rv;
        }
        pb.op_case = COORD__CMD__COMMAND__OP_TXN;
        pb.txn = &txn;
        break;
    }
    rv = pack(&pb, out);
    raft_free(mem);
    return rv;
}

/* ---- decode: bytes -> generated structs (through raft_malloc) -> plain ---- */

/* protobuf-c's unpack returns NULL both for bad bytes and for a failed
 * allocation; the allocator remembers which it was. */
struct pb_alloc_state {
    bool failed;
};

static void *pb_alloc(void *data, size_t size)
{
    struct pb_alloc_state *st = data;
    void *p = raft_malloc(size);

    if (p == NULL && st != NULL) {
        st->failed = true;
    }
    return p;
}

static void pb_free(void *data, void *p)
{
    (void)data;
    raft_free(p);
}

static struct raft_buf buf_of(protobuf_c_boolean has, ProtobufCBinaryData d)
{
    struct raft_buf b = {NULL, 0};

    if (has && d.len > 0) {
        b.base = d.data;
        b.len = d.len;
    }
    return b;
}

static int put_from_pb(const Coord__Cmd__Put *pb, struct coord_cmd_put *put)
{
    if (pb == NULL || !pb->has_key) {
        return RAFT_EPROTO;
    }
    put->key = buf_of(pb->has_key, pb->key);
    put->value = buf_of(pb->has_value, pb->value);
    put->session = pb->has_session ? pb->session : 0;
    put->prev_kv = pb->has_prev_kv && pb->prev_kv;
    return 0;
}

static int delete_from_pb(const Coord__Cmd__DeleteRange *pb, struct coord_cmd_delete *del)
{
    if (pb == NULL || !pb->has_key) {
        return RAFT_EPROTO;
    }
    del->key = buf_of(pb->has_key, pb->key);
    del->range_end = buf_of(pb->has_range_end, pb->range_end);
    del->prev_kv = pb->has_prev_kv && pb->prev_kv;
    return 0;
}

static int range_from_pb(const Coord__Cmd__Range *pb, struct coord_cmd_range *range)
{
    if (pb == NULL || !pb->has_key) {
        return RAFT_EPROTO;
    }
    range->key = buf_of(pb->has_key, pb->key);
    range->range_end = buf_of(pb->has_range_end, pb->range_end);
    range->limit = pb->has_limit ? pb->limit : 0;
    return 0;
}

/* The operand case each target needs. */
static Coord__Cmd__Compare__OperandCase operand_for(uint8_t target)
{
    switch (target) {
    case COORD_CMP_VALUE:
        return COORD__CMD__COMPARE__OPERAND_VALUE;
    case COORD_CMP_EXISTS:
        return COORD__CMD__COMPARE__OPERAND_EXISTS;
    default:
        return COORD__CMD__COMPARE__OPERAND_NUMBER;
    }
}

static int compare_from_pb(const Coord__Cmd__Compare *pb, struct coord_cmd_compare *c)
{
    if (pb == NULL || !pb->has_key || !pb->has_target || !pb->has_result) {
        return RAFT_EPROTO;
    }
    /* Enums are not checked by protobuf-c: any int32 may arrive. */
    if (pb->target < COORD__CMD__COMPARE__TARGET__VALUE ||
        pb->target > COORD__CMD__COMPARE__TARGET__EXISTS ||
        pb->result < COORD__CMD__COMPARE__RESULT__EQUAL ||
        pb->result > COORD__CMD__COMPARE__RESULT__GREATER) {
        return RAFT_EPROTO;
    }
    c->key = buf_of(pb->has_key, pb->key);
    c->target = (uint8_t)pb->target;
    c->op = (uint8_t)pb->result;
    if (pb->operand_case != operand_for(c->target)) {
        return RAFT_EPROTO;
    }
    c->value = buf_of(pb->operand_case == COORD__CMD__COMPARE__OPERAND_VALUE, pb->value);
    c->number = pb->operand_case == COORD__CMD__COMPARE__OPERAND_NUMBER ? pb->number : 0;
    c->exists = pb->operand_case == COORD__CMD__COMPARE__OPERAND_EXISTS && pb->exists;
    return 0;
}

static int op_from_pb(const Coord__Cmd__TxnOp *pb, struct coord_txn_op *op)
{
    if (pb == NULL) {
        return RAFT_EPROTO;
    }
    switch (pb->op_case) {
    case COORD__CMD__TXN_OP__OP_PUT:
        op->type = COORD_OP_PUT;
        return put_from_pb(pb->put, &op->put);
    case COORD__CMD__TXN_OP__OP_DELETE_RANGE:
        op->type = COORD_OP_DELETE_RANGE;
        return delete_from_pb(pb->delete_range, &op->del);
    case COORD__CMD__TXN_OP__OP_RANGE:
        op->type = COORD_OP_RANGE;
        return range_from_pb(pb->range, &op->range);
    default:
        return RAFT_EPROTO; /* unknown or absent op */
    }
}

static int ops_from_pb(Coord__Cmd__TxnOp *const *pb, size_t n, struct coord_txn_op *ops)
{
    size_t i;
    int rv;

    for (i = 0; i < n; i++) {
        rv = op_from_pb(pb[i], &ops[i]);
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

/* Fill txn from pb; cmd->arena returns owned the arrays (even on error). */
static int txn_from_pb(const Coord__Cmd__Txn *pb, struct coord_cmd *cmd)
{
    struct coord_cmd_txn *txn = &cmd->txn;
    struct coord_txn_op *ops;
    size_t i;
    int rv;

    if (pb == NULL) {
        return RAFT_EPROTO;
    }
    if (pb->n_compare > COORD_CMD_TXN_OPS_MAX || pb->n_success > COORD_CMD_TXN_OPS_MAX ||
        pb->n_failure > COORD_CMD_TXN_OPS_MAX) {
        return RAFT_ETOOBIG; /* checked before sizing the arena */
    }
    cmd->arena = raft_calloc(1, pb->n_compare * sizeof *txn->compares +
                                    (pb->n_success + pb->n_failure) * sizeof *ops);
    if (cmd->arena == NULL) {
        return RAFT_ENOMEM;
    }
    _Static_assert(sizeof(struct coord_cmd_compare) % _Alignof(struct coord_txn_op) == 0,
                   "ops follow compares in the arena");
    txn->compares = cmd->arena;
    txn->n_compares = pb->n_compare;
    ops = (struct coord_txn_op *)(void *)(txn->compares + pb->n_compare);
    txn->success = ops;
    txn->n_success = pb->n_success;
    txn->failure = ops + pb->n_success;
    txn->n_failure = pb->n_failure;
    for (i = 0; i < pb->n_compare; i++) {
        rv = compare_from_pb(pb->compare[i], &txn->compares[i]);
        if (rv != 0) {
            return rv;
        }
    }
    rv = ops_from_pb(pb->success, pb->n_success, txn->success);
    return rv != 0 ? rv : ops_from_pb(pb->failure, pb->n_failure, txn->failure);
}

static int cmd_from_pb(const Coord__Cmd__Command *pb, struct coord_cmd *cmd)
{
    if (!pb->has_version || pb->version != COORD_CMD_VERSION) {
        return RAFT_EPROTO;
    }
    cmd->version = pb->version;
    if (pb->request != NULL) {
        cmd->client_id = pb->request->has_client_id ? pb->request->client_id : 0;
        cmd->seq = pb->request->has_seq ? pb->request->seq : 0;
    }
    cmd->time_ms = pb->has_time_ms ? pb->time_ms : 0;
    switch (pb->op_case) {
    case COORD__CMD__COMMAND__OP_PUT:
        cmd->type = COORD_CMD_PUT;
        return put_from_pb(pb->put, &cmd->put);
    case COORD__CMD__COMMAND__OP_DELETE_RANGE:
        cmd->type = COORD_CMD_DELETE_RANGE;
        return delete_from_pb(pb->delete_range, &cmd->del);
    case COORD__CMD__COMMAND__OP_TXN:
        cmd->type = COORD_CMD_TXN;
        return txn_from_pb(pb->txn, cmd);
    default:
        return RAFT_EPROTO; /* no op, or one this version does not know */
    }
}

int coord_cmd_decode(const struct raft_buf *in, struct coord_cmd *cmd)
{
    struct pb_alloc_state st = {false};
    ProtobufCAllocator alloc = {pb_alloc, pb_free, &st};
    Coord__Cmd__Command *pb;
    int rv;

    memset(cmd, 0, sizeof *cmd);
    if (in->len > COORD_CMD_ENCODED_MAX) {
        return RAFT_ETOOBIG;
    }
    if (in->len == 0 || in->base == NULL) {
        return RAFT_EPROTO;
    }
    pb = coord__cmd__command__unpack(&alloc, in->len, in->base);
    if (pb == NULL) {
        return st.failed ? RAFT_ENOMEM : RAFT_EPROTO;
    }
    cmd->priv = pb;
    rv = cmd_from_pb(pb, cmd);
    if (rv == 0) {
        rv = check_cmd(cmd);
    }
    if (rv != 0) {
        coord_cmd_release(cmd);
    }
    return rv;
}

void coord_cmd_release(struct coord_cmd *cmd)
{
    ProtobufCAllocator alloc = {pb_alloc, pb_free, NULL};

    if (cmd->priv != NULL) {
        coord__cmd__command__free_unpacked(cmd->priv, &alloc);
    }
    raft_free(cmd->arena);
    memset(cmd, 0, sizeof *cmd);
}
