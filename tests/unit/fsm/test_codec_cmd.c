/* SPDX-License-Identifier: MIT */
/* test_codec_cmd: coord/codec_cmd.c. Round trips, the exact wire bytes (they
 * are on disk), and refusal of truncated, garbage and oversized input with
 * the right code, without leaks, also when allocations fail. Hostile bytes
 * are written by a tiny protobuf writer here, independent of protobuf-c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above. */
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "coord/codec_cmd.h"
#include "raft/base/alloc.h"
#include "raft/base/rand.h"

#define SWEEP_MAX 1000 /* bound on the out-of-memory sweep */

static long live_at_start;

static int setup(void **state)
{
    (void)state;
    raft_alloc_fail_at(0);
    live_at_start = raft_alloc_live();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    raft_alloc_fail_at(0);
    assert_int_equal(raft_alloc_live(), live_at_start);
    return 0;
}

static struct raft_buf str(const char *s)
{
    struct raft_buf b = {(void *)(uintptr_t)s, strlen(s)};

    return b;
}

static void assert_buf_eq(const struct raft_buf *a, const char *s)
{
    assert_int_equal(a->len, strlen(s));
    if (a->len > 0) {
        assert_memory_equal(a->base, s, a->len);
    }
}

/* ---- a minimal protobuf writer for hand-made (and hostile) input ---- */

struct pb {
    uint8_t *buf;
    size_t len;
    size_t cap;
};

static void pb_raw(struct pb *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->buf = realloc(b->buf, b->cap);
        assert_non_null(b->buf);
    }
    if (n > 0) {
        memcpy(b->buf + b->len, p, n);
    }
    b->len += n;
}

static void pb_varint(struct pb *b, uint64_t v)
{
    uint8_t c;

    do {
        c = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v != 0) {
            c |= 0x80;
        }
        pb_raw(b, &c, 1);
    } while (v != 0);
}

static void pb_uint(struct pb *b, unsigned field, uint64_t v)
{
    pb_varint(b, (uint64_t)field << 3);
    pb_varint(b, v);
}

static void pb_bytes(struct pb *b, unsigned field, const void *p, size_t n)
{
    pb_varint(b, (uint64_t)field << 3 | 2);
    pb_varint(b, n);
    pb_raw(b, p, n);
}

static void pb_msg(struct pb *b, unsigned field, struct pb *sub)
{
    pb_bytes(b, field, sub->buf, sub->len);
    free(sub->buf);
    memset(sub, 0, sizeof *sub);
}

static struct raft_buf pb_buf(const struct pb *b)
{
    struct raft_buf r = {b->buf, b->len};

    return r;
}

/* A Command envelope with version v around a Put of key/value. */
static void pb_put_cmd(struct pb *b, uint64_t v, const void *key, size_t key_len, size_t value_len)
{
    struct pb put = {0};
    uint8_t *value = calloc(1, value_len + 1);

    assert_non_null(value);
    pb_bytes(&put, 1, key, key_len);
    pb_bytes(&put, 2, value, value_len);
    free(value);
    pb_uint(b, 1, v);
    pb_msg(b, 10, &put);
}

static void expect_decode(const struct pb *b, int want)
{
    struct raft_buf in = pb_buf(b);
    struct coord_cmd cmd;

    assert_int_equal(coord_cmd_decode(&in, &cmd), want);
    if (want == 0) {
        coord_cmd_release(&cmd);
    }
}

/* ---- sample commands ---- */

static struct coord_cmd sample_put(void)
{
    struct coord_cmd c = {.type = COORD_CMD_PUT};

    c.client_id = 7;
    c.seq = 9;
    c.time_ms = 1700000000123u;
    c.put.key = str("broker/1");
    c.put.value = str("host:9092");
    c.put.session = 42;
    c.put.prev_kv = true;
    return c;
}

static struct coord_cmd_compare cmps[5];
static struct coord_txn_op success_ops[3];
static struct coord_txn_op failure_ops[1];

/* A txn that uses every compare target and every op type. */
static struct coord_cmd sample_txn(void)
{
    struct coord_cmd c = {.type = COORD_CMD_TXN, .time_ms = 5};
    unsigned i;

    for (i = 0; i < 5; i++) {
        memset(&cmps[i], 0, sizeof cmps[i]);
        cmps[i].key = str("k");
        cmps[i].target = (uint8_t)(COORD_CMP_VALUE + i);
        cmps[i].op = (uint8_t)(COORD_CMP_EQ + i % 4);
    }
    cmps[0].value = str("v");
    cmps[1].number = 3;
    cmps[2].number = 0;
    cmps[3].number = UINT64_MAX;
    cmps[4].op = COORD_CMP_NE;
    cmps[4].exists = true;
    memset(success_ops, 0, sizeof success_ops);
    success_ops[0].type = COORD_OP_PUT;
    success_ops[0].put.key = str("k");
    success_ops[1].type = COORD_OP_DELETE_RANGE;
    success_ops[1].del.key = str("a");
    success_ops[1].del.range_end = str("b");
    success_ops[1].del.prev_kv = true;
    success_ops[2].type = COORD_OP_RANGE;
    success_ops[2].range.key = str("p/");
    success_ops[2].range.range_end = str("p0");
    success_ops[2].range.limit = 10;
    memset(failure_ops, 0, sizeof failure_ops);
    failure_ops[0].type = COORD_OP_RANGE;
    failure_ops[0].range.key = str("k");
    c.txn.compares = cmps;
    c.txn.n_compares = 5;
    c.txn.success = success_ops;
    c.txn.n_success = 3;
    c.txn.failure = failure_ops;
    c.txn.n_failure = 1;
    return c;
}

/* ---- round trips ---- */

static void test_codec_put_round_trip(void **state)
{
    struct coord_cmd in = sample_put();
    struct coord_cmd out;
    struct raft_buf buf;

    (void)state;
    assert_int_equal(coord_cmd_encode(&in, &buf), 0);
    assert_int_equal(coord_cmd_decode(&buf, &out), 0);
    raft_free(buf.base);
    assert_int_equal(out.version, COORD_CMD_VERSION);
    assert_int_equal(out.client_id, 7);
    assert_int_equal(out.seq, 9);
    assert_int_equal(out.time_ms, 1700000000123u);
    assert_int_equal(out.type, COORD_CMD_PUT);
    assert_buf_eq(&out.put.key, "broker/1");
    assert_buf_eq(&out.put.value, "host:9092");
    assert_int_equal(out.put.session, 42);
    assert_true(out.put.prev_kv);
    coord_cmd_release(&out);
    coord_cmd_release(&out); /* a released command is zeroed: no-op */
}

static void test_codec_delete_round_trip(void **state)
{
    struct coord_cmd in = {.type = COORD_CMD_DELETE_RANGE};
    struct coord_cmd out;
    struct raft_buf buf;

    (void)state;
    in.del.key = str("a/");
    in.del.range_end = str("a0");
    assert_int_equal(coord_cmd_encode(&in, &buf), 0);
    assert_int_equal(coord_cmd_decode(&buf, &out), 0);
    raft_free(buf.base);
    assert_int_equal(out.type, COORD_CMD_DELETE_RANGE);
    assert_buf_eq(&out.del.key, "a/");
    assert_buf_eq(&out.del.range_end, "a0");
    assert_false(out.del.prev_kv);
    assert_int_equal(out.client_id, 0);
    coord_cmd_release(&out);
}

static void test_codec_txn_round_trip(void **state)
{
    struct coord_cmd in = sample_txn();
    struct coord_cmd out;
    struct raft_buf buf;
    unsigned i;

    (void)state;
    assert_int_equal(coord_cmd_encode(&in, &buf), 0);
    assert_int_equal(coord_cmd_decode(&buf, &out), 0);
    raft_free(buf.base);
    assert_int_equal(out.type, COORD_CMD_TXN);
    assert_int_equal(out.txn.n_compares, 5);
    for (i = 0; i < 5; i++) {
        assert_buf_eq(&out.txn.compares[i].key, "k");
        assert_int_equal(out.txn.compares[i].target, cmps[i].target);
        assert_int_equal(out.txn.compares[i].op, cmps[i].op);
        assert_int_equal(out.txn.compares[i].number, cmps[i].number);
        assert_int_equal(out.txn.compares[i].exists, cmps[i].exists);
    }
    assert_buf_eq(&out.txn.compares[0].value, "v");
    assert_int_equal(out.txn.n_success, 3);
    assert_int_equal(out.txn.success[0].type, COORD_OP_PUT);
    assert_buf_eq(&out.txn.success[0].put.value, "");
    assert_int_equal(out.txn.success[1].type, COORD_OP_DELETE_RANGE);
    assert_buf_eq(&out.txn.success[1].del.range_end, "b");
    assert_true(out.txn.success[1].del.prev_kv);
    assert_int_equal(out.txn.success[2].type, COORD_OP_RANGE);
    assert_int_equal(out.txn.success[2].range.limit, 10);
    assert_int_equal(out.txn.n_failure, 1);
    assert_int_equal(out.txn.failure[0].type, COORD_OP_RANGE);
    assert_buf_eq(&out.txn.failure[0].range.key, "k");
    coord_cmd_release(&out);
}

/* The bytes are on disk: this pins the field numbers and the encoding. */
static void test_codec_put_bytes_are_pinned(void **state)
{
    static const uint8_t want[] = {
        0x08, 0x01,      /* version = 1 */
        0x18, 0x05,      /* time_ms = 5 */
        0x52, 0x08,      /* field 10 (put), 8 bytes */
        0x0a, 0x01, 'a', /* key */
        0x12, 0x01, 'b', /* value */
        0x18, 0x03,      /* session = 3 */
    };
    struct coord_cmd in = {.type = COORD_CMD_PUT, .time_ms = 5};
    struct raft_buf buf;

    (void)state;
    in.put.key = str("a");
    in.put.value = str("b");
    in.put.session = 3;
    assert_int_equal(coord_cmd_encode(&in, &buf), 0);
    assert_int_equal(buf.len, sizeof want);
    assert_memory_equal(buf.base, want, sizeof want);
    raft_free(buf.base);
}

static void test_codec_encoding_is_deterministic(void **state)
{
    struct coord_cmd in = sample_txn();
    struct raft_buf a;
    struct raft_buf b;

    (void)state;
    assert_int_equal(coord_cmd_encode(&in, &a), 0);
    assert_int_equal(coord_cmd_encode(&in, &b), 0);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.base, b.base, a.len);
    raft_free(a.base);
    raft_free(b.base);
}

/* ---- refusals on decode ---- */

static void test_codec_decode_rejects_every_truncation(void **state)
{
    struct coord_cmd in = sample_txn();
    struct raft_buf buf;
    struct raft_buf cut;
    struct coord_cmd out;
    size_t n;

    (void)state;
    assert_int_equal(coord_cmd_encode(&in, &buf), 0);
    for (n = 0; n < buf.len; n++) {
        cut.base = buf.base;
        cut.len = n;
        assert_int_equal(coord_cmd_decode(&cut, &out), RAFT_EPROTO);
        assert_null(out.priv);
        assert_null(out.arena);
    }
    raft_free(buf.base);
}

static void test_codec_decode_survives_garbage(void **state)
{
    uint8_t bytes[256];
    struct raft_buf in = {bytes, 0};
    struct raft_rand r;
    struct coord_cmd out;
    unsigned i;
    size_t j;

    (void)state;
    memset(bytes, 0xff, sizeof bytes);
    in.len = 16;
    assert_int_equal(coord_cmd_decode(&in, &out), RAFT_EPROTO);
    raft_rand_seed(&r, 1234);
    for (i = 0; i < 2000; i++) {
        int rv;

        in.len = 1 + raft_rand_below(&r, sizeof bytes);
        for (j = 0; j < in.len; j++) {
            bytes[j] = (uint8_t)raft_rand_next(&r);
        }
        rv = coord_cmd_decode(&in, &out);
        assert_true(rv == 0 || rv == RAFT_EPROTO || rv == RAFT_ETOOBIG);
        coord_cmd_release(&out);
    }
}

static void test_codec_decode_rejects_oversized(void **state)
{
    struct pb b = {0};
    uint8_t key[COORD_CMD_KEY_MAX + 1];
    struct raft_buf big = {key, COORD_CMD_ENCODED_MAX + 1};
    struct coord_cmd out;

    (void)state;
    memset(key, 'k', sizeof key);
    /* Longer than any command may be: refused before parsing. */
    assert_int_equal(coord_cmd_decode(&big, &out), RAFT_ETOOBIG);
    pb_put_cmd(&b, 1, key, COORD_CMD_KEY_MAX, 0);
    expect_decode(&b, 0);
    b.len = 0;
    pb_put_cmd(&b, 1, key, COORD_CMD_KEY_MAX + 1, 0);
    expect_decode(&b, RAFT_ETOOBIG);
    b.len = 0;
    pb_put_cmd(&b, 1, key, 1, COORD_CMD_VALUE_MAX);
    expect_decode(&b, 0);
    b.len = 0;
    pb_put_cmd(&b, 1, key, 1, COORD_CMD_VALUE_MAX + 1);
    expect_decode(&b, RAFT_ETOOBIG);
    free(b.buf);
}

/* A txn of n range ops in list field (1 compare, 2 success, 3 failure). */
static void pb_txn_cmd(struct pb *b, unsigned field, unsigned n)
{
    struct pb txn = {0};
    unsigned i;

    for (i = 0; i < n; i++) {
        struct pb op = {0};
        struct pb sub = {0};

        pb_bytes(&sub, 1, "k", 1);
        if (field == 1) {
            pb_uint(&sub, 2, COORD_CMP_VERSION);
            pb_uint(&sub, 3, COORD_CMP_EQ);
            pb_uint(&sub, 5, 0);
            pb_msg(&txn, 1, &sub);
            continue;
        }
        pb_msg(&op, 3, &sub);
        pb_msg(&txn, field, &op);
    }
    pb_uint(b, 1, 1);
    pb_msg(b, 12, &txn);
}

static void test_codec_decode_rejects_too_many_txn_ops(void **state)
{
    unsigned field;

    (void)state;
    for (field = 1; field <= 3; field++) {
        struct pb b = {0};

        pb_txn_cmd(&b, field, COORD_CMD_TXN_OPS_MAX);
        expect_decode(&b, 0);
        b.len = 0;
        pb_txn_cmd(&b, field, COORD_CMD_TXN_OPS_MAX + 1);
        expect_decode(&b, RAFT_ETOOBIG);
        free(b.buf);
    }
}

static void test_codec_decode_rejects_bad_envelopes(void **state)
{
    struct pb b = {0};
    struct pb sub = {0};

    (void)state;
    pb_put_cmd(&b, 2, "k", 1, 1); /* a version from the future */
    expect_decode(&b, RAFT_EPROTO);
    b.len = 0;
    pb_put_cmd(&b, 0, "k", 1, 1);
    expect_decode(&b, RAFT_EPROTO);
    b.len = 0;
    pb_bytes(&sub, 1, "k", 1); /* no version at all */
    pb_msg(&b, 10, &sub);
    expect_decode(&b, RAFT_EPROTO);
    b.len = 0;
    pb_uint(&b, 1, 1); /* no op */
    pb_uint(&b, 3, 77);
    expect_decode(&b, RAFT_EPROTO);
    b.len = 0;
    pb_uint(&b, 1, 1); /* an op this version does not know (session_grant) */
    pb_bytes(&sub, 1, "x", 1);
    pb_msg(&b, 20, &sub);
    expect_decode(&b, RAFT_EPROTO);
    b.len = 0;
    pb_uint(&b, 1, 1); /* a put without a key */
    pb_bytes(&sub, 2, "v", 1);
    pb_msg(&b, 10, &sub);
    expect_decode(&b, RAFT_EPROTO);
    b.len = 0;
    pb_put_cmd(&b, 1, "", 0, 1); /* an empty key */
    expect_decode(&b, RAFT_EPROTO);
    free(b.buf);
}

/* A txn with one compare of the given target, result and operand field. */
static void pb_compare_cmd(struct pb *b, uint64_t target, uint64_t result, unsigned operand)
{
    struct pb cmp = {0};
    struct pb txn = {0};

    b->len = 0;
    pb_bytes(&cmp, 1, "k", 1);
    pb_uint(&cmp, 2, target);
    pb_uint(&cmp, 3, result);
    if (operand == 4) {
        pb_bytes(&cmp, 4, "v", 1);
    } else if (operand != 0) {
        pb_uint(&cmp, operand, 1);
    }
    pb_msg(&txn, 1, &cmp);
    pb_uint(b, 1, 1);
    pb_msg(b, 12, &txn);
}

static void test_codec_decode_rejects_bad_compares(void **state)
{
    struct pb b = {0};
    struct pb txn = {0};
    struct pb op = {0};

    (void)state;
    pb_compare_cmd(&b, COORD_CMP_VALUE, COORD_CMP_EQ, 4);
    expect_decode(&b, 0);
    pb_compare_cmd(&b, COORD_CMP_EXISTS, COORD_CMP_NE, 6);
    expect_decode(&b, 0);
    pb_compare_cmd(&b, 9, COORD_CMP_EQ, 5); /* unknown target */
    expect_decode(&b, RAFT_EPROTO);
    pb_compare_cmd(&b, COORD_CMP_VERSION, 0, 5); /* unknown result */
    expect_decode(&b, RAFT_EPROTO);
    pb_compare_cmd(&b, COORD_CMP_VERSION, COORD_CMP_EQ, 4); /* operand of another target */
    expect_decode(&b, RAFT_EPROTO);
    pb_compare_cmd(&b, COORD_CMP_VALUE, COORD_CMP_EQ, 0); /* no operand */
    expect_decode(&b, RAFT_EPROTO);
    pb_compare_cmd(&b, COORD_CMP_EXISTS, COORD_CMP_LT, 6); /* existence is not ordered */
    expect_decode(&b, RAFT_EPROTO);
    b.len = 0;
    pb_msg(&txn, 2, &op); /* a txn op with no op in it */
    pb_uint(&b, 1, 1);
    pb_msg(&b, 12, &txn);
    expect_decode(&b, RAFT_EPROTO);
    free(b.buf);
}

/* ---- refusals on encode ---- */

static void test_codec_encode_rejects_bad_commands(void **state)
{
    static uint8_t big[COORD_CMD_VALUE_MAX + 1];
    struct coord_cmd c = sample_put();
    struct coord_txn_op ops[2];
    struct raft_buf out;

    (void)state;
    c.put.key = str("");
    assert_int_equal(coord_cmd_encode(&c, &out), RAFT_EINVAL);
    assert_null(out.base);
    c.put.key.base = big;
    c.put.key.len = COORD_CMD_KEY_MAX + 1;
    assert_int_equal(coord_cmd_encode(&c, &out), RAFT_ETOOBIG);
    c.put.key = str("k");
    c.put.value.base = big;
    c.put.value.len = COORD_CMD_VALUE_MAX + 1;
    assert_int_equal(coord_cmd_encode(&c, &out), RAFT_ETOOBIG);
    c = sample_put();
    c.version = 2;
    assert_int_equal(coord_cmd_encode(&c, &out), RAFT_EINVAL);
    c = sample_put();
    c.type = 99;
    assert_int_equal(coord_cmd_encode(&c, &out), RAFT_EINVAL);
    c = sample_txn();
    cmps[4].op = COORD_CMP_GT;
    assert_int_equal(coord_cmd_encode(&c, &out), RAFT_EINVAL);
    c = sample_txn();
    c.txn.n_success = COORD_CMD_TXN_OPS_MAX + 1;
    assert_int_equal(coord_cmd_encode(&c, &out), RAFT_ETOOBIG);
    /* Two values at the limit: each fits, the whole command does not. */
    memset(ops, 0, sizeof ops);
    ops[0].type = ops[1].type = COORD_OP_PUT;
    ops[0].put.key = ops[1].put.key = str("k");
    ops[0].put.value.base = ops[1].put.value.base = big;
    ops[0].put.value.len = ops[1].put.value.len = COORD_CMD_VALUE_MAX;
    c = sample_txn();
    c.txn.success = ops;
    c.txn.n_success = 2;
    assert_int_equal(coord_cmd_encode(&c, &out), RAFT_ETOOBIG);
    assert_int_equal(out.len, 0);
}

/* ---- out of memory ---- */

static void test_codec_oom_sweep(void **state)
{
    struct coord_cmd in = sample_txn();
    struct raft_buf buf = {NULL, 0};
    struct coord_cmd out;
    long k;
    int rv = RAFT_ENOMEM;

    (void)state;
    for (k = 1; k < SWEEP_MAX && rv != 0; k++) {
        raft_alloc_fail_at(k);
        rv = coord_cmd_encode(&in, &buf);
        raft_alloc_fail_at(0);
        assert_true(rv == 0 || rv == RAFT_ENOMEM);
        assert_int_equal(raft_alloc_live(), live_at_start + (rv == 0 ? 1 : 0));
    }
    assert_int_equal(rv, 0);
    rv = RAFT_ENOMEM;
    for (k = 1; k < SWEEP_MAX && rv != 0; k++) {
        raft_alloc_fail_at(k);
        rv = coord_cmd_decode(&buf, &out);
        raft_alloc_fail_at(0);
        if (rv != 0) {
            assert_int_equal(rv, RAFT_ENOMEM);
            assert_null(out.priv);
            assert_int_equal(raft_alloc_live(), live_at_start + 1);
        }
    }
    assert_int_equal(rv, 0);
    assert_true(k > 3); /* the sweep did fail some allocations */
    assert_int_equal(out.txn.n_compares, 5);
    coord_cmd_release(&out);
    raft_free(buf.base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_codec_put_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_codec_delete_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_codec_txn_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_codec_put_bytes_are_pinned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_codec_encoding_is_deterministic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_codec_decode_rejects_every_truncation, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_codec_decode_survives_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_codec_decode_rejects_oversized, setup, teardown),
        cmocka_unit_test_setup_teardown(test_codec_decode_rejects_too_many_txn_ops, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_codec_decode_rejects_bad_envelopes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_codec_decode_rejects_bad_compares, setup, teardown),
        cmocka_unit_test_setup_teardown(test_codec_encode_rejects_bad_commands, setup, teardown),
        cmocka_unit_test_setup_teardown(test_codec_oom_sweep, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
