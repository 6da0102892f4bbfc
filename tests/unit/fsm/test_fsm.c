/* SPDX-License-Identifier: MIT */
/* test_fsm: coord/fsm.c, the replicated state machine. Key space semantics
 * (put, delete, prefix delete, txn compares and ops, counters), events and
 * their window, atomicity of the applied index, determinism, a full map,
 * snapshots, and out-of-memory sweeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above. */
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord/codec_cmd.h"
#include "coord/fsm.h"
#include "coord/storage/kvstore.h"
#include "raft/base/alloc.h"
#include "raft/base/rand.h"
#include "tests/lib/fsutil.h"

#define SWEEP_MAX 5000           /* bound on out-of-memory sweeps */
#define TINY_MAP  (256u * 1024u) /* bytes */

struct fixture {
    char *dir;  /* the state machine's directory */
    char *dir2; /* a second one */
    char *snap; /* a snapshot file path (in dir2's parent dir) */
    char *snap_dir;
    struct coord_fsm *fsm;
    long live; /* raft_alloc_live() at setup */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);

    assert_non_null(f);
    raft_alloc_fail_at(0);
    f->live = raft_alloc_live();
    f->dir = fsutil_mkdtemp();
    f->dir2 = fsutil_mkdtemp();
    f->snap_dir = fsutil_mkdtemp();
    f->snap = fsutil_join(f->snap_dir, "snap");
    assert_int_equal(coord_fsm_open(f->dir, NULL, &f->fsm), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    long live = f->live;

    raft_alloc_fail_at(0);
    coord_fsm_close(f->fsm);
    /* Directories first, so a failed check below leaves nothing in /tmp. */
    fsutil_rm_rf(f->dir);
    fsutil_rm_rf(f->dir2);
    fsutil_rm_rf(f->snap_dir);
    free(f->dir);
    free(f->dir2);
    free(f->snap_dir);
    free(f->snap);
    free(f);
    assert_int_equal(raft_alloc_live(), live);
    return 0;
}

/* Reopen the fixture's fsm with opts (NULL: defaults). */
static void reopen(struct fixture *f, const struct coord_fsm_opts *opts)
{
    coord_fsm_close(f->fsm);
    f->fsm = NULL;
    assert_int_equal(coord_fsm_open(f->dir, opts, &f->fsm), 0);
}

static struct raft_buf str(const char *s)
{
    struct raft_buf b = {(void *)(uintptr_t)s, strlen(s)};

    return b;
}

static struct raft_buf all_keys(void)
{
    static char zero[1] = {0};
    struct raft_buf b = {zero, 1};

    return b;
}

static void assert_buf_eq(const struct raft_buf *a, const char *s)
{
    assert_int_equal(a->len, strlen(s));
    if (a->len > 0) {
        assert_memory_equal(a->base, s, a->len);
    }
}

/* ---- commands and entries ---- */

static struct coord_cmd put_cmd(const char *k, const char *v)
{
    struct coord_cmd c = {.type = COORD_CMD_PUT};

    c.put.key = str(k);
    c.put.value = str(v);
    return c;
}

static struct coord_cmd del_cmd(const char *k, struct raft_buf end)
{
    struct coord_cmd c = {.type = COORD_CMD_DELETE_RANGE};

    c.del.key = str(k);
    c.del.range_end = end;
    return c;
}

/* An entry holding cmd (data returns owned: raft_free()). */
static struct raft_entry cmd_entry(const struct coord_cmd *cmd, raft_index index)
{
    struct raft_entry e = {.term = 1, .index = index, .type = RAFT_ENTRY_NORMAL};

    assert_int_equal(coord_cmd_encode(cmd, &e.data), 0);
    return e;
}

static struct raft_entry raw_entry(uint8_t type, raft_index index, const void *data, size_t len)
{
    struct raft_entry e = {.term = 2, .index = index, .type = type};

    e.data.base = raft_memdup(data, len);
    e.data.len = len;
    return e;
}

static void entries_free(struct raft_entry *e, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        raft_free(e[i].data.base);
    }
}

/* Apply cmd as the next entry; *out returns owned. */
static int apply_cmd(struct coord_fsm *fsm, const struct coord_cmd *cmd,
                     struct coord_fsm_output *out)
{
    struct raft_entry e = cmd_entry(cmd, coord_fsm_applied_index(fsm) + 1);
    int rv = coord_fsm_apply(fsm, &e, 1, out);

    entries_free(&e, 1);
    return rv;
}

/* Apply cmd, which must succeed; returns the result's revision. */
static uint64_t apply_ok(struct coord_fsm *fsm, const struct coord_cmd *cmd)
{
    struct coord_fsm_output out;
    uint64_t revision;

    assert_int_equal(apply_cmd(fsm, cmd, &out), 0);
    assert_int_equal(out.n_results, 1);
    assert_int_equal(out.results[0].status, 0);
    revision = out.results[0].revision;
    coord_fsm_output_release(&out);
    return revision;
}

static uint64_t put(struct coord_fsm *fsm, const char *k, const char *v)
{
    struct coord_cmd c = put_cmd(k, v);

    return apply_ok(fsm, &c);
}

/* Assert key k holds v with the given counters. */
static void expect_kv(struct coord_fsm *fsm, const char *k, const char *v, uint64_t create,
                      uint64_t mod, uint64_t version)
{
    struct raft_buf key = str(k);
    struct coord_fsm_read r;

    assert_int_equal(coord_fsm_get(fsm, &key, &r), 0);
    assert_int_equal(r.n_kvs, 1);
    assert_buf_eq(&r.kvs[0].key, k);
    assert_buf_eq(&r.kvs[0].value, v);
    assert_int_equal(r.kvs[0].create_revision, create);
    assert_int_equal(r.kvs[0].mod_revision, mod);
    assert_int_equal(r.kvs[0].version, version);
    coord_fsm_read_release(&r);
}

static void expect_missing(struct coord_fsm *fsm, const char *k)
{
    struct raft_buf key = str(k);
    struct coord_fsm_read r;

    assert_int_equal(coord_fsm_get(fsm, &key, &r), RAFT_ENOTFOUND);
    assert_int_equal(r.n_kvs, 0);
    assert_null(r.arena);
    coord_fsm_read_release(&r);
}

/* ---- the key space ---- */

static void test_fsm_put_get_counters(void **state)
{
    struct fixture *f = *state;
    struct coord_cmd c = put_cmd("a", "2");
    struct coord_fsm_output out;
    struct coord_op_result *op;

    assert_int_equal(coord_fsm_revision(f->fsm), 0);
    assert_int_equal(put(f->fsm, "a", "1"), 1);
    expect_kv(f->fsm, "a", "1", 1, 1, 1);
    assert_int_equal(put(f->fsm, "b", ""), 2);
    expect_kv(f->fsm, "b", "", 2, 2, 1);
    c.put.prev_kv = true;
    c.put.session = 77;
    assert_int_equal(apply_cmd(f->fsm, &c, &out), 0);
    assert_int_equal(out.results[0].revision, 3);
    assert_int_equal(out.results[0].n_ops, 1);
    op = &out.results[0].ops[0];
    assert_int_equal(op->type, COORD_OP_PUT);
    assert_int_equal(op->n_kvs, 1); /* the previous kv, as asked */
    assert_buf_eq(&op->kvs[0].value, "1");
    assert_int_equal(op->kvs[0].mod_revision, 1);
    coord_fsm_output_release(&out);
    coord_fsm_output_release(&out); /* zeroed: no-op */
    expect_kv(f->fsm, "a", "2", 1, 3, 2);
    assert_int_equal(coord_fsm_revision(f->fsm), 3);
    assert_int_equal(coord_fsm_applied_index(f->fsm), 3);
    assert_int_equal(coord_fsm_applied_term(f->fsm), 1);
    expect_missing(f->fsm, "c");
}

static void test_fsm_put_session_and_prev_kv_of_new_key(void **state)
{
    struct fixture *f = *state;
    struct coord_cmd c = put_cmd("eph", "v");
    struct coord_fsm_output out;
    struct raft_buf key = str("eph");
    struct coord_fsm_read r;

    c.put.session = 99;
    c.put.prev_kv = true;
    assert_int_equal(apply_cmd(f->fsm, &c, &out), 0);
    assert_int_equal(out.results[0].ops[0].n_kvs, 0); /* nothing before */
    coord_fsm_output_release(&out);
    assert_int_equal(coord_fsm_get(f->fsm, &key, &r), 0);
    assert_int_equal(r.kvs[0].session, 99);
    assert_int_equal(r.revision, 1);
    coord_fsm_read_release(&r);
}

static void test_fsm_delete_single_key(void **state)
{
    struct fixture *f = *state;
    struct raft_buf none = {NULL, 0};
    struct coord_cmd c = del_cmd("a", none);
    struct coord_fsm_output out;

    put(f->fsm, "a", "1");
    put(f->fsm, "ab", "2"); /* not deleted: a single key is exact */
    c.del.prev_kv = true;
    assert_int_equal(apply_cmd(f->fsm, &c, &out), 0);
    assert_int_equal(out.results[0].revision, 3);
    assert_int_equal(out.results[0].ops[0].n_deleted, 1);
    assert_int_equal(out.results[0].ops[0].n_kvs, 1);
    assert_buf_eq(&out.results[0].ops[0].kvs[0].value, "1");
    assert_int_equal(out.n_events, 1);
    assert_int_equal(out.events[0].type, COORD_EVENT_DELETE);
    assert_int_equal(out.events[0].prev_mod_revision, 1);
    assert_int_equal(out.events[0].kv.mod_revision, 3);
    coord_fsm_output_release(&out);
    expect_missing(f->fsm, "a");
    expect_kv(f->fsm, "ab", "2", 2, 2, 1);
    /* Deleting nothing changes nothing: no revision, no event. */
    assert_int_equal(apply_cmd(f->fsm, &c, &out), 0);
    assert_int_equal(out.results[0].ops[0].n_deleted, 0);
    assert_int_equal(out.results[0].revision, 3);
    assert_int_equal(out.n_events, 0);
    coord_fsm_output_release(&out);
    assert_int_equal(coord_fsm_revision(f->fsm), 3);
    /* A re-created key starts again at version 1. */
    put(f->fsm, "a", "new");
    expect_kv(f->fsm, "a", "new", 4, 4, 1);
}

static void test_fsm_delete_prefix_and_to_end(void **state)
{
    struct fixture *f = *state;
    struct coord_cmd c = del_cmd("p/", str("p0"));
    struct coord_fsm_output out;
    unsigned i;

    put(f->fsm, "p", "x");
    put(f->fsm, "p/a", "1");
    put(f->fsm, "p/b", "2");
    put(f->fsm, "p/c", "3");
    put(f->fsm, "p0", "y");
    put(f->fsm, "q", "z");
    c.del.prev_kv = true;
    assert_int_equal(apply_cmd(f->fsm, &c, &out), 0);
    assert_int_equal(out.results[0].ops[0].n_deleted, 3);
    assert_int_equal(out.results[0].ops[0].n_kvs, 3);
    assert_int_equal(out.n_events, 3);
    for (i = 0; i < 3; i++) {
        char want[4] = {'p', '/', (char)('a' + i), 0};

        assert_buf_eq(&out.results[0].ops[0].kvs[i].key, want);
        assert_buf_eq(&out.events[i].kv.key, want);
        assert_int_equal(out.events[i].revision, 7); /* one revision for all */
        assert_int_equal(out.events[i].sub, i);
        assert_int_equal(out.events[i].prev_mod_revision, 2 + i);
    }
    coord_fsm_output_release(&out);
    expect_kv(f->fsm, "p", "x", 1, 1, 1);
    expect_missing(f->fsm, "p/b");
    expect_kv(f->fsm, "p0", "y", 5, 5, 1);
    /* range_end "\0": every key from p0 on. */
    c = del_cmd("p0", all_keys());
    assert_int_equal(apply_cmd(f->fsm, &c, &out), 0);
    assert_int_equal(out.results[0].ops[0].n_deleted, 2);
    assert_int_equal(out.results[0].ops[0].n_kvs, 0); /* not asked */
    coord_fsm_output_release(&out);
    expect_missing(f->fsm, "q");
    expect_kv(f->fsm, "p", "x", 1, 1, 1);
}

static void test_fsm_range_reads_with_limit(void **state)
{
    struct fixture *f = *state;
    struct raft_buf key = str("p/");
    struct raft_buf end = str("p0");
    struct raft_buf big = {NULL, COORD_CMD_KEY_MAX + 1};
    struct coord_fsm_read r;
    char k[8];
    unsigned i;

    for (i = 0; i < 5; i++) {
        (void)snprintf(k, sizeof k, "p/%u", 4 - i);
        put(f->fsm, k, "v");
    }
    put(f->fsm, "p0", "v");
    assert_int_equal(coord_fsm_range(f->fsm, &key, &end, 0, &r), 0);
    assert_int_equal(r.n_kvs, 5);
    assert_false(r.more);
    assert_int_equal(r.revision, 6);
    for (i = 0; i < 5; i++) {
        (void)snprintf(k, sizeof k, "p/%u", i);
        assert_buf_eq(&r.kvs[i].key, k); /* in key order */
    }
    coord_fsm_read_release(&r);
    assert_int_equal(coord_fsm_range(f->fsm, &key, &end, 2, &r), 0);
    assert_int_equal(r.n_kvs, 2);
    assert_true(r.more);
    coord_fsm_read_release(&r);
    end = all_keys();
    assert_int_equal(coord_fsm_range(f->fsm, &key, &end, 0, &r), 0);
    assert_int_equal(r.n_kvs, 6);
    coord_fsm_read_release(&r);
    assert_int_equal(coord_fsm_range(f->fsm, &big, &end, 0, &r), RAFT_EINVAL);
}

/* One compare against the state k = "m" (create 1, mod 2, version 2), with
 * "z" missing. */
struct cmp_case {
    const char *key;
    uint8_t target;
    uint8_t op;
    const char *value;
    uint64_t number;
    bool exists;
    bool holds;
};

static const struct cmp_case cmp_cases[] = {
    {"k", COORD_CMP_VALUE, COORD_CMP_EQ, "m", 0, false, true},
    {"k", COORD_CMP_VALUE, COORD_CMP_NE, "m", 0, false, false},
    {"k", COORD_CMP_VALUE, COORD_CMP_LT, "n", 0, false, true},
    {"k", COORD_CMP_VALUE, COORD_CMP_LT, "m", 0, false, false},
    {"k", COORD_CMP_VALUE, COORD_CMP_GT, "l", 0, false, true},
    {"k", COORD_CMP_VALUE, COORD_CMP_GT, "mm", 0, false, false},
    {"z", COORD_CMP_VALUE, COORD_CMP_EQ, "", 0, false, false},
    {"z", COORD_CMP_VALUE, COORD_CMP_NE, "x", 0, false, false},
    {"k", COORD_CMP_VERSION, COORD_CMP_EQ, "", 2, false, true},
    {"k", COORD_CMP_VERSION, COORD_CMP_NE, "", 2, false, false},
    {"k", COORD_CMP_VERSION, COORD_CMP_LT, "", 2, false, false},
    {"k", COORD_CMP_VERSION, COORD_CMP_GT, "", 1, false, true},
    {"z", COORD_CMP_VERSION, COORD_CMP_EQ, "", 0, false, true},
    {"k", COORD_CMP_CREATE_REVISION, COORD_CMP_EQ, "", 1, false, true},
    {"k", COORD_CMP_CREATE_REVISION, COORD_CMP_GT, "", 1, false, false},
    {"z", COORD_CMP_CREATE_REVISION, COORD_CMP_LT, "", 1, false, true},
    {"k", COORD_CMP_MOD_REVISION, COORD_CMP_EQ, "", 2, false, true},
    {"k", COORD_CMP_MOD_REVISION, COORD_CMP_LT, "", 3, false, true},
    {"k", COORD_CMP_MOD_REVISION, COORD_CMP_GT, "", 2, false, false},
    {"z", COORD_CMP_MOD_REVISION, COORD_CMP_NE, "", 0, false, false},
    {"k", COORD_CMP_EXISTS, COORD_CMP_EQ, "", 0, true, true},
    {"k", COORD_CMP_EXISTS, COORD_CMP_NE, "", 0, true, false},
    {"z", COORD_CMP_EXISTS, COORD_CMP_EQ, "", 0, false, true},
    {"z", COORD_CMP_EXISTS, COORD_CMP_EQ, "", 0, true, false},
    {"z", COORD_CMP_EXISTS, COORD_CMP_NE, "", 0, true, true},
};

static struct coord_cmd_compare compare_of(const struct cmp_case *cc)
{
    struct coord_cmd_compare c = {.target = cc->target, .op = cc->op};

    c.key = str(cc->key);
    c.value = str(cc->value);
    c.number = cc->number;
    c.exists = cc->exists;
    return c;
}

static void test_fsm_txn_compare_semantics(void **state)
{
    struct fixture *f = *state;
    struct coord_txn_op read = {.type = COORD_OP_RANGE};
    struct coord_cmd c = {.type = COORD_CMD_TXN};
    struct coord_cmd_compare cmp[2];
    struct coord_fsm_output out;
    size_t i;

    put(f->fsm, "k", "x");
    put(f->fsm, "k", "m");
    read.range.key = str("k");
    c.txn.compares = cmp;
    c.txn.n_compares = 1;
    c.txn.success = &read;
    c.txn.n_success = 1;
    for (i = 0; i < sizeof cmp_cases / sizeof cmp_cases[0]; i++) {
        cmp[0] = compare_of(&cmp_cases[i]);
        assert_int_equal(apply_cmd(f->fsm, &c, &out), 0);
        if (out.results[0].succeeded != cmp_cases[i].holds) {
            fail_msg("compare case %zu: expected %d", i, cmp_cases[i].holds);
        }
        assert_int_equal(out.results[0].n_ops, cmp_cases[i].holds ? 1 : 0);
        assert_int_equal(out.results[0].revision, 2); /* reads only: no new revision */
        coord_fsm_output_release(&out);
    }
    /* Every compare must hold. */
    cmp[0] = compare_of(&cmp_cases[0]);
    cmp[1] = compare_of(&cmp_cases[1]);
    c.txn.n_compares = 2;
    assert_int_equal(apply_cmd(f->fsm, &c, &out), 0);
    assert_false(out.results[0].succeeded);
    coord_fsm_output_release(&out);
    assert_int_equal(coord_fsm_revision(f->fsm), 2);
}

static void test_fsm_txn_ops_share_one_revision(void **state)
{
    struct fixture *f = *state;
    struct coord_txn_op ops[4];
    struct coord_txn_op fail_op = {.type = COORD_OP_PUT};
    struct coord_cmd_compare cmp = {.target = COORD_CMP_EXISTS, .op = COORD_CMP_EQ};
    struct coord_cmd c = {.type = COORD_CMD_TXN};
    struct coord_fsm_output out;
    const struct coord_cmd_result *r;

    put(f->fsm, "x", "1");
    memset(ops, 0, sizeof ops);
    ops[0].type = COORD_OP_PUT;
    ops[0].put.key = str("x");
    ops[0].put.value = str("2");
    ops[1].type = COORD_OP_PUT;
    ops[1].put.key = str("y");
    ops[1].put.value = str("1");
    ops[2].type = COORD_OP_RANGE;
    ops[2].range.key = str("x");
    ops[2].range.range_end = str("z");
    ops[3].type = COORD_OP_DELETE_RANGE;
    ops[3].del.key = str("x");
    fail_op.put.key = str("f");
    cmp.key = str("x");
    cmp.exists = true;
    c.txn.compares = &cmp;
    c.txn.n_compares = 1;
    c.txn.success = ops;
    c.txn.n_success = 4;
    c.txn.failure = &fail_op;
    c.txn.n_failure = 1;
    assert_int_equal(apply_cmd(f->fsm, &c, &out), 0);
    r = &out.results[0];
    assert_true(r->succeeded);
    assert_int_equal(r->revision, 2);
    assert_int_equal(r->n_ops, 4);
    assert_int_equal(r->ops[0].type, COORD_OP_PUT);
    assert_int_equal(r->ops[2].type, COORD_OP_RANGE);
    assert_int_equal(r->ops[2].n_kvs, 2); /* the range sees the txn's writes */
    assert_buf_eq(&r->ops[2].kvs[0].value, "2");
    assert_int_equal(r->ops[2].kvs[0].version, 2);
    assert_buf_eq(&r->ops[2].kvs[1].key, "y");
    assert_int_equal(r->ops[3].n_deleted, 1);
    assert_int_equal(out.n_events, 3);
    assert_int_equal(out.events[0].type, COORD_EVENT_PUT);
    assert_int_equal(out.events[0].prev_mod_revision, 1);
    assert_int_equal(out.events[2].type, COORD_EVENT_DELETE);
    assert_int_equal(out.events[2].prev_mod_revision, 2); /* the txn's own put */
    assert_int_equal(out.events[2].sub, 2);
    coord_fsm_output_release(&out);
    expect_missing(f->fsm, "x");
    expect_kv(f->fsm, "y", "1", 2, 2, 1);
    /* Now x is gone: the failure branch runs. */
    assert_int_equal(apply_cmd(f->fsm, &c, &out), 0);
    assert_false(out.results[0].succeeded);
    assert_int_equal(out.results[0].n_ops, 1);
    assert_int_equal(out.results[0].revision, 3);
    coord_fsm_output_release(&out);
    expect_kv(f->fsm, "f", "", 3, 3, 1);
}

/* ---- events ---- */

static void test_fsm_events_order_and_paging(void **state)
{
    struct fixture *f = *state;
    struct coord_txn_op ops[3];
    struct coord_cmd c = {.type = COORD_CMD_TXN};
    struct coord_fsm_events ev;
    size_t i;
    static const struct {
        uint64_t revision;
        uint32_t sub;
        uint8_t type;
        const char *key;
        uint64_t prev_mod;
    } want[] = {
        {1, 0, COORD_EVENT_PUT, "a", 0},    {2, 0, COORD_EVENT_PUT, "b", 0},
        {3, 0, COORD_EVENT_PUT, "a", 1},    {3, 1, COORD_EVENT_PUT, "c", 0},
        {3, 2, COORD_EVENT_DELETE, "b", 2},
    };

    put(f->fsm, "a", "1");
    put(f->fsm, "b", "2");
    memset(ops, 0, sizeof ops);
    ops[0].type = ops[1].type = COORD_OP_PUT;
    ops[0].put.key = str("a");
    ops[0].put.value = str("3");
    ops[1].put.key = str("c");
    ops[2].type = COORD_OP_DELETE_RANGE;
    ops[2].del.key = str("b");
    c.txn.success = ops;
    c.txn.n_success = 3;
    apply_ok(f->fsm, &c);
    assert_int_equal(coord_fsm_events_read(f->fsm, 0, 0, 100, &ev), 0);
    assert_int_equal(ev.n_events, 5);
    assert_false(ev.more);
    assert_int_equal(ev.revision, 3);
    for (i = 0; i < 5; i++) {
        assert_int_equal(ev.events[i].revision, want[i].revision);
        assert_int_equal(ev.events[i].sub, want[i].sub);
        assert_int_equal(ev.events[i].type, want[i].type);
        assert_buf_eq(&ev.events[i].kv.key, want[i].key);
        assert_int_equal(ev.events[i].prev_mod_revision, want[i].prev_mod);
    }
    assert_buf_eq(&ev.events[2].kv.value, "3");
    assert_int_equal(ev.events[2].kv.version, 2);
    assert_int_equal(ev.events[2].kv.create_revision, 1);
    coord_fsm_events_release(&ev);
    /* Paging: resume from (revision, sub + 1) of the last one seen. */
    assert_int_equal(coord_fsm_events_read(f->fsm, 3, 1, 1, &ev), 0);
    assert_int_equal(ev.n_events, 1);
    assert_true(ev.more);
    assert_buf_eq(&ev.events[0].kv.key, "c");
    coord_fsm_events_release(&ev);
    assert_int_equal(coord_fsm_events_read(f->fsm, 4, 0, 1, &ev), 0);
    assert_int_equal(ev.n_events, 0);
    coord_fsm_events_release(&ev);
    assert_int_equal(coord_fsm_events_read(f->fsm, 1, 0, 0, &ev), RAFT_EINVAL);
}

static void test_fsm_event_window_compaction(void **state)
{
    struct fixture *f = *state;
    struct coord_fsm_opts opts;
    struct coord_fsm_events ev;
    unsigned i;

    coord_fsm_opts_default(&opts);
    opts.event_window = 3;
    reopen(f, &opts);
    for (i = 0; i < 10; i++) {
        put(f->fsm, "k", "v");
    }
    assert_int_equal(coord_fsm_compact_revision(f->fsm), 7);
    assert_int_equal(coord_fsm_events_read(f->fsm, 7, 0, 10, &ev), RAFT_ECOMPACTED);
    assert_int_equal(coord_fsm_events_read(f->fsm, 0, 0, 10, &ev), RAFT_ECOMPACTED);
    assert_null(ev.arena);
    assert_int_equal(coord_fsm_events_read(f->fsm, 8, 0, 10, &ev), 0);
    assert_int_equal(ev.n_events, 3);
    assert_int_equal(ev.events[0].revision, 8);
    coord_fsm_events_release(&ev);
    coord_fsm_close(f->fsm);
    f->fsm = NULL;
    assert_int_equal(fsutil_count(f->dir, COORD_DB_EVENTS), 3);
    reopen(f, &opts);
    assert_int_equal(coord_fsm_compact_revision(f->fsm), 7);
}

/* ---- entries: kinds, errors, replay ---- */

static void test_fsm_malformed_entries_are_noops_with_status(void **state)
{
    struct fixture *f = *state;
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0x01};
    struct raft_entry e[4];
    struct coord_fsm_output out;
    size_t i;

    put(f->fsm, "a", "1");
    e[0] = raw_entry(RAFT_ENTRY_NORMAL, 2, junk, sizeof junk);
    e[1] = raw_entry(RAFT_ENTRY_NORMAL, 3, NULL, 0);
    e[2] = raw_entry(42, 4, junk, sizeof junk);    /* unknown entry type */
    e[3] = raw_entry(RAFT_ENTRY_CONF, 5, junk, 1); /* bad configuration */
    assert_int_equal(coord_fsm_apply(f->fsm, e, 4, &out), 0);
    for (i = 0; i < 4; i++) {
        assert_int_equal(out.results[i].index, i + 2);
        assert_int_equal(out.results[i].status, RAFT_EPROTO);
        assert_false(out.results[i].skipped);
        assert_int_equal(out.results[i].revision, 1);
    }
    assert_int_equal(out.n_events, 0);
    coord_fsm_output_release(&out);
    entries_free(e, 4);
    assert_int_equal(coord_fsm_applied_index(f->fsm), 5);
    assert_int_equal(coord_fsm_applied_term(f->fsm), 2);
    assert_int_equal(coord_fsm_revision(f->fsm), 1);
    expect_kv(f->fsm, "a", "1", 1, 1, 1);
}

static void test_fsm_noop_and_conf_entries(void **state)
{
    struct fixture *f = *state;
    struct raft_conf conf = {0};
    struct raft_snapshot_meta meta;
    uint8_t raw[256];
    struct raft_entry e[2];
    struct coord_fsm_output out;

    assert_int_equal(raft_conf_add(&conf, 1, RAFT_VOTER, "n1:7000"), 0);
    assert_int_equal(raft_conf_add(&conf, 3, RAFT_LEARNER, "n3:7000"), 0);
    raft_conf_encode(&conf, raw);
    e[0] = raw_entry(RAFT_ENTRY_NOOP, 1, NULL, 0);
    e[1] = raw_entry(RAFT_ENTRY_CONF, 2, raw, raft_conf_encoded_len(&conf));
    assert_int_equal(coord_fsm_apply(f->fsm, e, 2, &out), 0);
    assert_int_equal(out.results[0].status, 0);
    assert_int_equal(out.results[1].status, 0);
    coord_fsm_output_release(&out);
    entries_free(e, 2);
    reopen(f, NULL);
    coord_fsm_snapshot_meta(f->fsm, &meta);
    assert_int_equal(meta.index, 2);
    assert_int_equal(meta.term, 2);
    assert_int_equal(meta.conf.n, 2);
    assert_memory_equal(&meta.conf, &conf, sizeof conf);
    assert_int_equal(coord_fsm_revision(f->fsm), 0);
}

static void test_fsm_gap_is_refused(void **state)
{
    struct fixture *f = *state;
    struct coord_cmd c = put_cmd("a", "1");
    struct raft_entry e[2];
    struct coord_fsm_output out;

    e[0] = cmd_entry(&c, 1);
    e[1] = cmd_entry(&c, 3);
    assert_int_equal(coord_fsm_apply(f->fsm, e, 2, &out), RAFT_EINVAL);
    assert_int_equal(out.n_results, 0);
    assert_null(out.arena);
    assert_int_equal(coord_fsm_applied_index(f->fsm), 0);
    expect_missing(f->fsm, "a");
    assert_int_equal(coord_fsm_apply(f->fsm, e, COORD_FSM_APPLY_MAX + 1, &out), RAFT_EINVAL);
    entries_free(e, 2);
}

/* begin computes a batch's results without making them visible; commit
 * makes them visible and moves the applied index; a batch begun but never
 * committed is gone after a reopen and applies again. */
static void test_fsm_begin_then_commit(void **state)
{
    struct fixture *f = *state;
    struct coord_cmd b = put_cmd("b", "2");
    struct coord_cmd c = put_cmd("c", "3");
    struct raft_entry e[2];
    struct coord_fsm_output out;

    assert_int_equal(put(f->fsm, "a", "1"), 1);
    e[0] = cmd_entry(&b, 2);
    e[1] = cmd_entry(&c, 3);
    assert_int_equal(coord_fsm_apply_begin(f->fsm, &e[0], 1, &out), 0);
    assert_int_equal(out.n_results, 1);
    assert_int_equal(out.results[0].status, 0);
    assert_int_equal(out.results[0].revision, 2);
    assert_int_equal(coord_fsm_applied_index(f->fsm), 1);
    assert_int_equal(coord_fsm_revision(f->fsm), 1);
    expect_missing(f->fsm, "b");
    assert_int_equal(coord_fsm_apply_commit(f->fsm), 0);
    coord_fsm_output_release(&out);
    assert_int_equal(coord_fsm_applied_index(f->fsm), 2);
    assert_int_equal(coord_fsm_revision(f->fsm), 2);
    expect_kv(f->fsm, "b", "2", 2, 2, 1);

    assert_int_equal(coord_fsm_apply_begin(f->fsm, &e[1], 1, &out), 0);
    assert_int_equal(out.results[0].revision, 3);
    coord_fsm_output_release(&out);
    reopen(f, NULL); /* closes with the batch pending */
    assert_int_equal(coord_fsm_applied_index(f->fsm), 2);
    expect_missing(f->fsm, "c");
    assert_int_equal(coord_fsm_apply(f->fsm, &e[1], 1, &out), 0);
    assert_int_equal(out.results[0].revision, 3);
    coord_fsm_output_release(&out);
    expect_kv(f->fsm, "c", "3", 3, 3, 1);

    /* Batches begun one after another share the transaction and one commit. */
    {
        struct coord_cmd d = put_cmd("d", "4");
        struct coord_cmd c2 = put_cmd("c", "5");
        struct raft_entry more[2];
        struct coord_fsm_output out2;

        more[0] = cmd_entry(&d, 4);
        more[1] = cmd_entry(&c2, 5);
        assert_int_equal(coord_fsm_apply_begin(f->fsm, &more[0], 1, &out), 0);
        assert_int_equal(coord_fsm_apply_begin(f->fsm, &more[1], 1, &out2), 0);
        assert_int_equal(out.results[0].revision, 4);
        assert_int_equal(out2.results[0].revision, 5);
        assert_int_equal(out2.n_events, 1);
        assert_int_equal(out2.events[0].prev_mod_revision, 3); /* sees the pending state */
        expect_kv(f->fsm, "c", "3", 3, 3, 1);
        assert_int_equal(coord_fsm_apply_commit(f->fsm), 0);
        coord_fsm_output_release(&out);
        coord_fsm_output_release(&out2);
        entries_free(more, 2);
        assert_int_equal(coord_fsm_applied_index(f->fsm), 5);
        expect_kv(f->fsm, "d", "4", 4, 4, 1);
        expect_kv(f->fsm, "c", "5", 3, 5, 2);
    }

    /* A batch of skipped entries only: nothing to commit, nothing moves. */
    assert_int_equal(coord_fsm_apply_begin(f->fsm, e, 2, &out), 0);
    assert_true(out.results[0].skipped && out.results[1].skipped);
    assert_int_equal(coord_fsm_apply_commit(f->fsm), 0);
    coord_fsm_output_release(&out);
    assert_int_equal(coord_fsm_applied_index(f->fsm), 5);
    entries_free(e, 2);
}

/* Entries first..last, each a put of "k<index>". */
static void make_puts(struct raft_entry *e, raft_index first, raft_index last)
{
    raft_index i;
    char k[16];

    for (i = first; i <= last; i++) {
        struct coord_cmd c;

        (void)snprintf(k, sizeof k, "k%02u", (unsigned)i);
        c = put_cmd(k, "v");
        e[i - first] = cmd_entry(&c, i);
    }
}

static void test_fsm_applied_index_is_atomic_with_data(void **state)
{
    struct fixture *f = *state;
    struct raft_entry e[7];
    struct coord_fsm_output out;
    uint8_t *before;
    uint8_t *after;
    size_t before_len;
    size_t after_len;

    make_puts(e, 1, 5);
    assert_int_equal(coord_fsm_apply(f->fsm, e, 5, &out), 0);
    assert_int_equal(out.n_events, 5);
    coord_fsm_output_release(&out);
    /* Close without syncing, reopen: data and applied index agree. */
    reopen(f, NULL);
    assert_int_equal(coord_fsm_applied_index(f->fsm), 5);
    assert_int_equal(coord_fsm_revision(f->fsm), 5);
    expect_kv(f->fsm, "k05", "v", 5, 5, 1);
    coord_fsm_close(f->fsm);
    f->fsm = NULL;
    before = fsutil_dump(f->dir, &before_len);
    reopen(f, NULL);
    /* Replaying the same entries is a no-op. */
    assert_int_equal(coord_fsm_apply(f->fsm, e, 5, &out), 0);
    assert_true(out.results[0].skipped && out.results[4].skipped);
    assert_int_equal(out.n_events, 0);
    coord_fsm_output_release(&out);
    coord_fsm_close(f->fsm);
    f->fsm = NULL;
    after = fsutil_dump(f->dir, &after_len);
    assert_int_equal(before_len, after_len);
    assert_memory_equal(before, after, before_len);
    /* A batch overlapping the applied index applies only what is new. */
    reopen(f, NULL);
    entries_free(e, 5);
    make_puts(e, 3, 7);
    assert_int_equal(coord_fsm_apply(f->fsm, e, 5, &out), 0);
    assert_true(out.results[2].skipped);
    assert_false(out.results[3].skipped);
    assert_int_equal(out.results[4].revision, 7);
    coord_fsm_output_release(&out);
    expect_kv(f->fsm, "k03", "v", 3, 3, 1);
    assert_int_equal(coord_fsm_applied_index(f->fsm), 7);
    entries_free(e, 5);
    free(before);
    free(after);
}

/* ---- determinism ---- */

static const char *const rand_keys[] = {"a", "a/1", "a/2", "a/3", "b", "b/x", "c", "d/1/2"};
#define N_RAND_KEYS (sizeof rand_keys / sizeof rand_keys[0])

static void rand_put(struct raft_rand *r, struct coord_cmd_put *put, char *value)
{
    size_t len = (size_t)raft_rand_below(r, 24);
    size_t i;

    for (i = 0; i < len; i++) {
        value[i] = (char)('a' + raft_rand_below(r, 26));
    }
    put->key = str(rand_keys[raft_rand_below(r, N_RAND_KEYS)]);
    put->value.base = value;
    put->value.len = len;
    put->session = raft_rand_below(r, 3);
    put->prev_kv = raft_rand_chance(r, 500);
}

static void rand_op(struct raft_rand *r, struct coord_txn_op *op, char *value)
{
    static const char *const ends[] = {"", "a0", "c", "\x7f"};

    memset(op, 0, sizeof *op);
    op->type = (uint8_t)(1 + raft_rand_below(r, 3));
    if (op->type == COORD_OP_PUT) {
        rand_put(r, &op->put, value);
        return;
    }
    op->del.key = str(rand_keys[raft_rand_below(r, N_RAND_KEYS)]);
    op->del.range_end = str(ends[raft_rand_below(r, 4)]);
    if (op->type == COORD_OP_RANGE) {
        op->range.limit = raft_rand_below(r, 4);
    } else {
        op->del.prev_kv = raft_rand_chance(r, 500);
    }
}

static void rand_compare(struct raft_rand *r, struct coord_cmd_compare *c)
{
    memset(c, 0, sizeof *c);
    c->key = str(rand_keys[raft_rand_below(r, N_RAND_KEYS)]);
    c->target = (uint8_t)(1 + raft_rand_below(r, 5));
    c->op = (uint8_t)(1 + raft_rand_below(r, c->target == COORD_CMP_EXISTS ? 2 : 4));
    c->value = str(raft_rand_chance(r, 500) ? "m" : "");
    c->number = raft_rand_below(r, 20);
    c->exists = raft_rand_chance(r, 500);
}

/* A random NORMAL entry at index. */
static struct raft_entry rand_cmd_entry(struct raft_rand *r, raft_index index)
{
    char values[8][24];
    struct coord_cmd_compare cmps[2];
    struct coord_txn_op ops[4];
    struct coord_cmd c = {.time_ms = index * 10};
    unsigned i;
    unsigned kind = (unsigned)raft_rand_below(r, 3);

    if (kind == 0) {
        c.type = COORD_CMD_PUT;
        rand_put(r, &c.put, values[0]);
    } else if (kind == 1) {
        c.type = COORD_CMD_DELETE_RANGE;
        rand_op(r, &ops[0], values[0]);
        c.del.key = ops[0].del.key;
        c.del.range_end = ops[0].del.range_end;
        c.del.prev_kv = raft_rand_chance(r, 500);
    } else {
        c.type = COORD_CMD_TXN;
        c.txn.n_compares = (size_t)raft_rand_below(r, 3);
        c.txn.n_success = (size_t)raft_rand_below(r, 3);
        c.txn.n_failure = 3 - c.txn.n_success;
        for (i = 0; i < c.txn.n_compares; i++) {
            rand_compare(r, &cmps[i]);
        }
        for (i = 0; i < 3; i++) {
            rand_op(r, &ops[i], values[i]);
        }
        c.txn.compares = cmps;
        c.txn.success = ops;
        c.txn.failure = ops + c.txn.n_success;
    }
    return cmd_entry(&c, index);
}

static struct raft_entry rand_entry(struct raft_rand *r, raft_index index)
{
    static const uint8_t junk[] = {0x0a, 0x0b, 0xff};
    struct raft_conf conf = {0};
    uint8_t raw[256];
    unsigned roll = (unsigned)raft_rand_below(r, 100);

    if (roll < 5) {
        return raw_entry(RAFT_ENTRY_NOOP, index, NULL, 0);
    }
    if (roll < 8) {
        assert_int_equal(raft_conf_add(&conf, 1 + raft_rand_below(r, 5), RAFT_VOTER, "x"), 0);
        raft_conf_encode(&conf, raw);
        return raw_entry(RAFT_ENTRY_CONF, index, raw, raft_conf_encoded_len(&conf));
    }
    if (roll < 10) {
        return raw_entry(RAFT_ENTRY_NORMAL, index, junk, sizeof junk);
    }
    return rand_cmd_entry(r, index);
}

/* Apply e[0..n) to fsm in batches of random sizes drawn from r. */
static void apply_in_batches(struct coord_fsm *fsm, const struct raft_entry *e, size_t n,
                             struct raft_rand *r, size_t max_batch)
{
    size_t i = 0;

    while (i < n) {
        size_t b = 1 + (size_t)raft_rand_below(r, max_batch);
        struct coord_fsm_output out;

        if (b > n - i) {
            b = n - i;
        }
        assert_int_equal(coord_fsm_apply(fsm, e + i, b, &out), 0);
        coord_fsm_output_release(&out);
        i += b;
    }
}

static void run_determinism(struct fixture *f, uint64_t seed, size_t n)
{
    struct coord_fsm_opts opts;
    struct raft_entry *e = calloc(n, sizeof *e);
    struct coord_fsm *other;
    struct raft_rand r;
    uint8_t *a;
    uint8_t *b;
    size_t a_len;
    size_t b_len;
    size_t i;

    assert_non_null(e);
    raft_rand_seed(&r, seed);
    for (i = 0; i < n; i++) {
        e[i] = rand_entry(&r, i + 1);
    }
    coord_fsm_opts_default(&opts);
    opts.event_window = 40; /* so compaction runs, at different batch ends */
    reopen(f, &opts);
    assert_int_equal(coord_fsm_open(f->dir2, &opts, &other), 0);
    apply_in_batches(f->fsm, e, n, &r, 3);
    apply_in_batches(other, e, n, &r, 64);
    apply_in_batches(other, e, n, &r, 64); /* replay: all skipped */
    if (coord_fsm_revision(f->fsm) != coord_fsm_revision(other)) {
        fail_msg("determinism: revisions differ, seed=%llu", (unsigned long long)seed);
    }
    coord_fsm_close(other);
    coord_fsm_close(f->fsm);
    f->fsm = NULL;
    a = fsutil_dump(f->dir, &a_len);
    b = fsutil_dump(f->dir2, &b_len);
    if (a_len != b_len || memcmp(a, b, a_len) != 0) {
        fail_msg("determinism: stores differ, seed=%llu", (unsigned long long)seed);
    }
    free(a);
    free(b);
    entries_free(e, n);
    free(e);
    reopen(f, NULL);
}

static void test_fsm_same_entries_same_contents(void **state)
{
    struct fixture *f = *state;
    const char *env = getenv("COORD_TEST_SEED");
    uint64_t seed = env != NULL ? strtoull(env, NULL, 10) : 20240601u;
    unsigned round;

    for (round = 0; round < 3; round++) {
        print_message("determinism seed=%llu\n", (unsigned long long)(seed + round));
        run_determinism(f, seed + round, 300);
        fsutil_rm_rf(f->dir2);
        coord_fsm_close(f->fsm);
        f->fsm = NULL;
        fsutil_rm_rf(f->dir);
        reopen(f, NULL);
    }
}

/* ---- a full map ---- */

/* Assert that k holds the 32 KiB value of the map-full test, last written
 * at revision mod (version = mod: one put per revision). */
static void check_big(struct coord_fsm *fsm, uint64_t mod)
{
    struct raft_buf key = str("k");
    struct coord_fsm_read r;

    assert_int_equal(coord_fsm_get(fsm, &key, &r), 0);
    assert_int_equal(r.kvs[0].value.len, 32 * 1024);
    assert_int_equal(r.kvs[0].mod_revision, mod);
    assert_int_equal(r.kvs[0].version, mod);
    coord_fsm_read_release(&r);
}

/* Start over with an empty store in a TINY_MAP map (*opts), and make *c put
 * the big value (len bytes of 'v' in big). */
static void open_tiny(struct fixture *f, struct coord_fsm_opts *opts, struct coord_cmd *c,
                      char *big, size_t len)
{
    coord_fsm_opts_default(opts);
    opts->map_size = TINY_MAP;
    coord_fsm_close(f->fsm);
    fsutil_rm_rf(f->dir);
    assert_int_equal(coord_fsm_open(f->dir, opts, &f->fsm), 0);
    memset(big, 'v', len);
    c->put.value.base = big;
    c->put.value.len = len;
}

static void test_fsm_map_full_refuses_the_batch(void **state)
{
    struct fixture *f = *state;
    struct coord_fsm_opts opts;
    static char big[32 * 1024];
    struct coord_cmd c = put_cmd("k", "");
    struct coord_fsm_output out;
    raft_index applied = 0;
    unsigned i;
    int rv = 0;

    open_tiny(f, &opts, &c, big, sizeof big);
    for (i = 0; i < 100 && rv == 0; i++) {
        applied = coord_fsm_applied_index(f->fsm);
        rv = apply_cmd(f->fsm, &c, &out);
        coord_fsm_output_release(&out);
    }
    assert_int_equal(rv, RAFT_ENOSPC);
    assert_true(applied > 1);
    /* Nothing of the refused batch is there; what was before still reads. */
    assert_int_equal(coord_fsm_applied_index(f->fsm), applied);
    assert_int_equal(coord_fsm_revision(f->fsm), applied);
    check_big(f->fsm, applied);
    /* It stays refused; the state after reopening is the same. */
    assert_int_equal(apply_cmd(f->fsm, &c, &out), RAFT_ENOSPC);
    coord_fsm_close(f->fsm);
    assert_int_equal(coord_fsm_open(f->dir, &opts, &f->fsm), 0);
    assert_int_equal(coord_fsm_applied_index(f->fsm), applied);
    check_big(f->fsm, applied);
}

/* A batch that fails (a full map) while others are pending is not applied;
 * the pending ones stay pending and commit. */
static void test_fsm_failed_begin_keeps_pending_batches(void **state)
{
    struct fixture *f = *state;
    struct coord_fsm_opts opts;
    static char big[32 * 1024];
    struct coord_cmd small = put_cmd("a", "1");
    struct coord_cmd c = put_cmd("k", "");
    struct coord_fsm_output out;
    struct raft_entry e;
    raft_index next = 3;
    int rv = 0;

    open_tiny(f, &opts, &c, big, sizeof big);
    assert_int_equal(put(f->fsm, "z", "0"), 1);
    e = cmd_entry(&small, 2);
    assert_int_equal(coord_fsm_apply_begin(f->fsm, &e, 1, &out), 0);
    coord_fsm_output_release(&out);
    entries_free(&e, 1);
    while (next < 100 && rv == 0) {
        e = cmd_entry(&c, next);
        rv = coord_fsm_apply_begin(f->fsm, &e, 1, &out);
        coord_fsm_output_release(&out);
        entries_free(&e, 1);
        next += rv == 0;
    }
    assert_int_equal(rv, RAFT_ENOSPC);
    assert_true(next > 4); /* big batches were pending when one failed */
    assert_int_equal(coord_fsm_applied_index(f->fsm), 1);
    expect_missing(f->fsm, "a");
    assert_int_equal(coord_fsm_apply_commit(f->fsm), 0);
    assert_int_equal(coord_fsm_applied_index(f->fsm), next - 1);
    assert_int_equal(coord_fsm_revision(f->fsm), next - 1);
    expect_kv(f->fsm, "a", "1", 2, 2, 1);
    coord_fsm_close(f->fsm);
    assert_int_equal(coord_fsm_open(f->dir, &opts, &f->fsm), 0);
    assert_int_equal(coord_fsm_applied_index(f->fsm), next - 1);
    expect_kv(f->fsm, "a", "1", 2, 2, 1);
}

/* ---- snapshots ---- */

/* Apply a little of everything to fsm. */
static void populate(struct coord_fsm *fsm)
{
    struct raft_conf conf = {0};
    uint8_t raw[256];
    struct raft_entry e;
    struct coord_fsm_output out;
    struct raft_rand r;
    raft_index i;

    assert_int_equal(raft_conf_add(&conf, 2, RAFT_VOTER, "n2:7000"), 0);
    raft_conf_encode(&conf, raw);
    e = raw_entry(RAFT_ENTRY_CONF, coord_fsm_applied_index(fsm) + 1, raw,
                  raft_conf_encoded_len(&conf));
    assert_int_equal(coord_fsm_apply(fsm, &e, 1, &out), 0);
    coord_fsm_output_release(&out);
    entries_free(&e, 1);
    raft_rand_seed(&r, 7);
    for (i = 0; i < 40; i++) {
        e = rand_cmd_entry(&r, coord_fsm_applied_index(fsm) + 1);
        assert_int_equal(coord_fsm_apply(fsm, &e, 1, &out), 0);
        coord_fsm_output_release(&out);
        entries_free(&e, 1);
    }
}

static void test_fsm_snapshot_install_gives_same_contents(void **state)
{
    struct fixture *f = *state;
    struct raft_snapshot_meta meta;
    struct raft_snapshot_meta meta2;
    struct coord_fsm *other;
    uint8_t *a;
    uint8_t *b;
    size_t a_len;
    size_t b_len;

    populate(f->fsm);
    assert_int_equal(coord_fsm_snapshot(f->fsm, f->snap, &meta), 0);
    assert_int_equal(meta.index, coord_fsm_applied_index(f->fsm));
    assert_int_equal(meta.conf.n, 1);
    assert_int_equal(coord_fsm_open(f->dir2, NULL, &other), 0);
    put(other, "to-be-replaced", "x");
    assert_int_equal(coord_fsm_install(other, f->snap), 0);
    assert_int_equal(coord_fsm_applied_index(other), meta.index);
    assert_int_equal(coord_fsm_revision(other), coord_fsm_revision(f->fsm));
    coord_fsm_snapshot_meta(other, &meta2);
    assert_memory_equal(&meta, &meta2, sizeof meta);
    expect_missing(other, "to-be-replaced");
    /* Both go on alike after the snapshot. */
    put(other, "after", "1");
    put(f->fsm, "after", "1");
    coord_fsm_close(other);
    coord_fsm_close(f->fsm);
    f->fsm = NULL;
    a = fsutil_dump(f->dir, &a_len);
    b = fsutil_dump(f->dir2, &b_len);
    assert_int_equal(a_len, b_len);
    assert_memory_equal(a, b, a_len);
    free(a);
    free(b);
    reopen(f, NULL);
}

static void test_fsm_failed_install_keeps_old_state(void **state)
{
    struct fixture *f = *state;
    char junk[8192];
    char *leftover = fsutil_join(f->dir, "data.mdb.install");

    put(f->fsm, "a", "1");
    memset(junk, 0x42, sizeof junk);
    fsutil_write_file(f->snap, junk, sizeof junk);
    assert_int_equal(coord_fsm_install(f->fsm, f->snap), RAFT_ECORRUPT);
    expect_kv(f->fsm, "a", "1", 1, 1, 1);
    put(f->fsm, "b", "2"); /* still writable */
    /* An install that crashed before its rename left its copy behind: the
     * old state opens, and the next install goes through. */
    coord_fsm_close(f->fsm);
    f->fsm = NULL;
    fsutil_write_file(leftover, junk, sizeof junk);
    reopen(f, NULL);
    expect_kv(f->fsm, "b", "2", 2, 2, 1);
    assert_int_equal(coord_fsm_applied_index(f->fsm), 2);
    assert_int_equal(coord_fsm_snapshot(f->fsm, f->snap, &(struct raft_snapshot_meta){0}), 0);
    put(f->fsm, "c", "3");
    assert_int_equal(coord_fsm_install(f->fsm, f->snap), 0);
    expect_missing(f->fsm, "c");
    assert_int_equal(coord_fsm_applied_index(f->fsm), 2);
    free(leftover);
}

static void test_fsm_cluster_id_is_checked(void **state)
{
    struct fixture *f = *state;
    struct coord_fsm_opts opts;
    struct coord_fsm *other;

    coord_fsm_opts_default(&opts);
    opts.cluster_id = 5;
    reopen(f, &opts);
    assert_int_equal(coord_fsm_cluster_id(f->fsm), 5);
    coord_fsm_close(f->fsm);
    f->fsm = NULL;
    opts.cluster_id = 6;
    assert_int_equal(coord_fsm_open(f->dir, &opts, &f->fsm), RAFT_ECONFIG);
    assert_null(f->fsm);
    reopen(f, NULL);
    assert_int_equal(coord_fsm_cluster_id(f->fsm), 5);
    /* Another cluster's snapshot is refused before anything is replaced. */
    put(f->fsm, "a", "1");
    assert_int_equal(coord_fsm_snapshot(f->fsm, f->snap, &(struct raft_snapshot_meta){0}), 0);
    assert_int_equal(coord_fsm_open(f->dir2, &opts, &other), 0);
    assert_int_equal(coord_fsm_install(other, f->snap), RAFT_ECONFIG);
    expect_missing(other, "a");
    coord_fsm_close(other);
}

/* ---- out of memory ---- */

/* A batch touching every allocating path of apply. */
static size_t oom_batch(struct raft_entry *e)
{
    static const uint8_t junk[] = {0xff};
    struct coord_cmd c = put_cmd("a", "1");
    struct coord_txn_op ops[3];
    struct coord_cmd_compare cmp = {.target = COORD_CMP_VALUE, .op = COORD_CMP_EQ};
    struct raft_conf conf = {0};
    uint8_t raw[64];

    e[0] = cmd_entry(&c, 1);
    c = put_cmd("a/b", "2");
    e[1] = cmd_entry(&c, 2);
    c.put.prev_kv = true;
    e[2] = cmd_entry(&c, 3);
    memset(ops, 0, sizeof ops);
    ops[0].type = COORD_OP_PUT;
    ops[0].put.key = str("a/c");
    ops[1].type = COORD_OP_RANGE;
    ops[1].range.key = str("a");
    ops[1].range.range_end = all_keys();
    ops[2].type = COORD_OP_DELETE_RANGE;
    ops[2].del.key = str("a");
    ops[2].del.prev_kv = true;
    cmp.key = str("a");
    cmp.value = str("1");
    c = (struct coord_cmd){.type = COORD_CMD_TXN};
    c.txn.compares = &cmp;
    c.txn.n_compares = 1;
    c.txn.success = ops;
    c.txn.n_success = 3;
    e[3] = cmd_entry(&c, 4);
    c = del_cmd("a/", str("a0"));
    c.del.prev_kv = true;
    e[4] = cmd_entry(&c, 5);
    assert_int_equal(raft_conf_add(&conf, 1, RAFT_VOTER, "x"), 0);
    raft_conf_encode(&conf, raw);
    e[5] = raw_entry(RAFT_ENTRY_CONF, 6, raw, raft_conf_encoded_len(&conf));
    e[6] = raw_entry(RAFT_ENTRY_NORMAL, 7, junk, sizeof junk);
    return 7;
}

static void test_fsm_oom_sweep_apply(void **state)
{
    struct fixture *f = *state;
    struct raft_entry e[8];
    size_t n = oom_batch(e);
    struct coord_fsm *ref;
    struct coord_fsm_output out;
    long k;
    long live;
    int rv = RAFT_ENOMEM;
    uint8_t *a;
    uint8_t *b;
    size_t a_len;
    size_t b_len;

    assert_int_equal(coord_fsm_open(f->dir2, NULL, &ref), 0);
    assert_int_equal(coord_fsm_apply(ref, e, n, &out), 0);
    coord_fsm_output_release(&out);
    coord_fsm_close(ref);
    live = raft_alloc_live();
    for (k = 1; k < SWEEP_MAX && rv != 0; k++) {
        raft_alloc_fail_at(k);
        rv = coord_fsm_apply(f->fsm, e, n, &out);
        raft_alloc_fail_at(0);
        if (rv != 0) {
            assert_int_equal(rv, RAFT_ENOMEM);
            assert_int_equal(raft_alloc_live(), live);
            assert_null(out.arena);
            assert_int_equal(coord_fsm_applied_index(f->fsm), 0);
            assert_int_equal(coord_fsm_revision(f->fsm), 0);
            expect_missing(f->fsm, "a");
        }
    }
    assert_int_equal(rv, 0);
    assert_true(k > 10);
    assert_int_equal(out.n_results, n);
    coord_fsm_output_release(&out);
    entries_free(e, n);
    coord_fsm_close(f->fsm);
    f->fsm = NULL;
    a = fsutil_dump(f->dir, &a_len);
    b = fsutil_dump(f->dir2, &b_len);
    assert_int_equal(a_len, b_len);
    assert_memory_equal(a, b, a_len);
    free(a);
    free(b);
    reopen(f, NULL);
}

static void test_fsm_oom_sweep_reads_and_open(void **state)
{
    struct fixture *f = *state;
    struct raft_buf key = str("k");
    struct raft_buf end = all_keys();
    struct coord_fsm_read r;
    struct coord_fsm_events ev;
    struct coord_fsm *other;
    long live = raft_alloc_live();
    long k;
    int rv = RAFT_ENOMEM;

    put(f->fsm, "k", "v");
    put(f->fsm, "l", "w");
    for (k = 1; k < SWEEP_MAX && rv != 0; k++) {
        raft_alloc_fail_at(k);
        rv = coord_fsm_range(f->fsm, &key, &end, 0, &r);
        raft_alloc_fail_at(0);
        assert_true(rv == 0 || (rv == RAFT_ENOMEM && raft_alloc_live() == live));
    }
    assert_int_equal(r.n_kvs, 2);
    coord_fsm_read_release(&r);
    rv = RAFT_ENOMEM;
    for (k = 1; k < SWEEP_MAX && rv != 0; k++) {
        raft_alloc_fail_at(k);
        rv = coord_fsm_events_read(f->fsm, 1, 0, 10, &ev);
        raft_alloc_fail_at(0);
        assert_true(rv == 0 || (rv == RAFT_ENOMEM && raft_alloc_live() == live));
    }
    assert_int_equal(ev.n_events, 2);
    coord_fsm_events_release(&ev);
    rv = RAFT_ENOMEM;
    for (k = 1; k < SWEEP_MAX && rv != 0; k++) {
        raft_alloc_fail_at(k);
        rv = coord_fsm_open(f->dir2, NULL, &other);
        raft_alloc_fail_at(0);
        assert_true(rv == 0 || (rv == RAFT_ENOMEM && raft_alloc_live() == live));
    }
    assert_int_equal(rv, 0);
    coord_fsm_close(other);
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(test_fsm_put_get_counters),
        TEST(test_fsm_put_session_and_prev_kv_of_new_key),
        TEST(test_fsm_delete_single_key),
        TEST(test_fsm_delete_prefix_and_to_end),
        TEST(test_fsm_range_reads_with_limit),
        TEST(test_fsm_txn_compare_semantics),
        TEST(test_fsm_txn_ops_share_one_revision),
        TEST(test_fsm_events_order_and_paging),
        TEST(test_fsm_event_window_compaction),
        TEST(test_fsm_malformed_entries_are_noops_with_status),
        TEST(test_fsm_noop_and_conf_entries),
        TEST(test_fsm_gap_is_refused),
        TEST(test_fsm_begin_then_commit),
        TEST(test_fsm_failed_begin_keeps_pending_batches),
        TEST(test_fsm_applied_index_is_atomic_with_data),
        TEST(test_fsm_same_entries_same_contents),
        TEST(test_fsm_map_full_refuses_the_batch),
        TEST(test_fsm_snapshot_install_gives_same_contents),
        TEST(test_fsm_failed_install_keeps_old_state),
        TEST(test_fsm_cluster_id_is_checked),
        TEST(test_fsm_oom_sweep_apply),
        TEST(test_fsm_oom_sweep_reads_and_open),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
