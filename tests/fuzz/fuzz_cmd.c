/* SPDX-License-Identifier: MIT */
/* fuzz_cmd: the bytes of a Raft NORMAL entry (from the log on disk, or from
 * a leader) into the state-machine command decoder, coord/codec_cmd.c, as
 * coord/fsm.c does before applying an entry. The input is the entry's data.
 *
 * Properties, for every input:
 *   - nothing crashes, leaks or trips ASan/UBSan;
 *   - the decoder returns 0, RAFT_EPROTO or RAFT_ETOOBIG; on 0 the command
 *     keeps every limit of coord/cmd.h;
 *   - a decoded command encodes again, decodes to an equal command, and
 *     encodes to the same bytes (the encoding is deterministic). */
#include <stdbool.h>
#include <string.h>

#include "coord/codec_cmd.h"
#include "raft/base/alloc.h"
#include "tests/fuzz/fuzz.h"

static bool buf_eq(const struct raft_buf *a, const struct raft_buf *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->base, b->base, a->len) == 0);
}

static bool key_ok(const struct raft_buf *key)
{
    return key->len >= 1 && key->len <= COORD_CMD_KEY_MAX && key->base != NULL;
}

static bool put_eq(const struct coord_cmd_put *a, const struct coord_cmd_put *b)
{
    return buf_eq(&a->key, &b->key) && buf_eq(&a->value, &b->value) && a->session == b->session &&
           a->prev_kv == b->prev_kv;
}

static bool del_eq(const struct coord_cmd_delete *a, const struct coord_cmd_delete *b)
{
    return buf_eq(&a->key, &b->key) && buf_eq(&a->range_end, &b->range_end) &&
           a->prev_kv == b->prev_kv;
}

static bool op_eq(const struct coord_txn_op *a, const struct coord_txn_op *b)
{
    if (a->type != b->type) {
        return false;
    }
    switch (a->type) {
    case COORD_OP_PUT:
        return put_eq(&a->put, &b->put);
    case COORD_OP_DELETE_RANGE:
        return del_eq(&a->del, &b->del);
    default:
        return buf_eq(&a->range.key, &b->range.key) &&
               buf_eq(&a->range.range_end, &b->range.range_end) && a->range.limit == b->range.limit;
    }
}

static bool cmp_eq(const struct coord_cmd_compare *a, const struct coord_cmd_compare *b)
{
    return buf_eq(&a->key, &b->key) && a->target == b->target && a->op == b->op &&
           buf_eq(&a->value, &b->value) && a->number == b->number && a->exists == b->exists;
}

static bool ops_eq(const struct coord_txn_op *a, const struct coord_txn_op *b, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (!op_eq(&a[i], &b[i])) {
            return false;
        }
    }
    return true;
}

static bool txn_eq(const struct coord_cmd_txn *a, const struct coord_cmd_txn *b)
{
    size_t i;

    if (a->n_compares != b->n_compares || a->n_success != b->n_success ||
        a->n_failure != b->n_failure) {
        return false;
    }
    for (i = 0; i < a->n_compares; i++) {
        if (!cmp_eq(&a->compares[i], &b->compares[i])) {
            return false;
        }
    }
    return ops_eq(a->success, b->success, a->n_success) &&
           ops_eq(a->failure, b->failure, a->n_failure);
}

static bool cmd_eq(const struct coord_cmd *a, const struct coord_cmd *b)
{
    if (a->version != b->version || a->client_id != b->client_id || a->seq != b->seq ||
        a->time_ms != b->time_ms || a->type != b->type) {
        return false;
    }
    switch (a->type) {
    case COORD_CMD_PUT:
        return put_eq(&a->put, &b->put);
    case COORD_CMD_DELETE_RANGE:
        return del_eq(&a->del, &b->del);
    default:
        return txn_eq(&a->txn, &b->txn);
    }
}

/* The limits coord/cmd.h promises for a decoded command. */
static void check_ops(const struct coord_txn_op *ops, size_t n)
{
    size_t i;

    FUZZ_CHECK(n <= COORD_CMD_TXN_OPS_MAX);
    for (i = 0; i < n; i++) {
        const struct coord_txn_op *op = &ops[i];

        FUZZ_CHECK(op->type >= COORD_OP_PUT && op->type <= COORD_OP_RANGE);
        FUZZ_CHECK(key_ok(op->type == COORD_OP_PUT            ? &op->put.key
                          : op->type == COORD_OP_DELETE_RANGE ? &op->del.key
                                                              : &op->range.key));
        FUZZ_CHECK(op->type != COORD_OP_PUT || op->put.value.len <= COORD_CMD_VALUE_MAX);
    }
}

static void check_limits(const struct coord_cmd *c)
{
    size_t i;

    FUZZ_CHECK(c->version == COORD_CMD_VERSION);
    switch (c->type) {
    case COORD_CMD_PUT:
        FUZZ_CHECK(key_ok(&c->put.key) && c->put.value.len <= COORD_CMD_VALUE_MAX);
        break;
    case COORD_CMD_DELETE_RANGE:
        FUZZ_CHECK(key_ok(&c->del.key) && c->del.range_end.len <= COORD_CMD_KEY_MAX);
        break;
    case COORD_CMD_TXN:
        FUZZ_CHECK(c->txn.n_compares <= COORD_CMD_TXN_OPS_MAX);
        for (i = 0; i < c->txn.n_compares; i++) {
            const struct coord_cmd_compare *cmp = &c->txn.compares[i];

            FUZZ_CHECK(key_ok(&cmp->key));
            FUZZ_CHECK(cmp->target >= COORD_CMP_VALUE && cmp->target <= COORD_CMP_EXISTS);
            FUZZ_CHECK(cmp->op >= COORD_CMP_EQ && cmp->op <= COORD_CMP_GT);
        }
        check_ops(c->txn.success, c->txn.n_success);
        check_ops(c->txn.failure, c->txn.n_failure);
        break;
    default:
        FUZZ_CHECKF(false, "decoded type %u", c->type);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    long live = raft_alloc_live();
    struct raft_buf in = {(void *)(uintptr_t)data, size};
    struct raft_buf a;
    struct raft_buf b;
    struct coord_cmd cmd;
    struct coord_cmd again;
    int rv;

    fuzz_input(data, size);
    rv = coord_cmd_decode(&in, &cmd);
    FUZZ_CHECKF(rv == 0 || rv == RAFT_EPROTO || rv == RAFT_ETOOBIG, "decode: %s",
                raft_err_name(rv));
    if (rv == 0) {
        check_limits(&cmd);
        rv = coord_cmd_encode(&cmd, &a);
        FUZZ_CHECKF(rv == 0, "a decoded command does not encode: %s", raft_err_name(rv));
        rv = coord_cmd_decode(&a, &again);
        FUZZ_CHECKF(rv == 0, "an encoded command does not decode: %s", raft_err_name(rv));
        FUZZ_CHECK(cmd_eq(&cmd, &again));
        FUZZ_CHECK(coord_cmd_encode(&again, &b) == 0);
        FUZZ_CHECKF(buf_eq(&a, &b), "encoding is not a fixpoint (%zu, %zu bytes)", a.len, b.len);
        raft_free(a.base);
        raft_free(b.base);
        coord_cmd_release(&again);
        coord_cmd_release(&cmd);
    }
    FUZZ_CHECK_NO_LEAK(live);
    return 0;
}
