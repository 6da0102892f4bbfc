/* SPDX-License-Identifier: MIT */
/* test_kvstore: coord/storage/kvstore.c, the LMDB door. Databases, txns,
 * cursors, key limits, a full map, snapshots and their atomic install. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above. */
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "coord/storage/kvstore.h"
#include "raft/base/alloc.h"
#include "tests/lib/fsutil.h"

#define TINY_MAP (256u * 1024u) /* bytes: a map that fills quickly */

struct fixture {
    char *dir;  /* the store's directory */
    char *dir2; /* a second, empty directory */
    long live;  /* raft_alloc_live() at setup */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);

    assert_non_null(f);
    raft_alloc_fail_at(0);
    f->live = raft_alloc_live();
    f->dir = fsutil_mkdtemp();
    f->dir2 = fsutil_mkdtemp();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    long live = f->live;

    raft_alloc_fail_at(0);
    /* Directories first, so a failed check below leaves nothing in /tmp. */
    fsutil_rm_rf(f->dir);
    fsutil_rm_rf(f->dir2);
    free(f->dir);
    free(f->dir2);
    free(f);
    assert_int_equal(raft_alloc_live(), live);
    return 0;
}

static struct raft_buf str(const char *s)
{
    struct raft_buf b = {(void *)(uintptr_t)s, strlen(s)};

    return b;
}

static void put_str(struct coord_kvstore_txn *txn, enum coord_kvstore_db db, const char *k,
                    const char *v)
{
    struct raft_buf key = str(k);
    struct raft_buf val = str(v);

    assert_int_equal(coord_kvstore_put(txn, db, &key, &val), 0);
}

/* Assert that k holds v in db (v NULL: that k is missing). */
static void expect(struct coord_kvstore *ks, enum coord_kvstore_db db, const char *k, const char *v)
{
    struct coord_kvstore_txn txn;
    struct raft_buf key = str(k);
    struct raft_buf val;
    int rv;

    assert_int_equal(coord_kvstore_txn_begin(ks, false, &txn), 0);
    rv = coord_kvstore_get(&txn, db, &key, &val);
    if (v == NULL) {
        assert_int_equal(rv, RAFT_ENOTFOUND);
    } else {
        assert_int_equal(rv, 0);
        assert_int_equal(val.len, strlen(v));
        assert_memory_equal(val.base, v, val.len);
    }
    coord_kvstore_txn_abort(&txn);
}

static void test_kvstore_open_creates_dir_and_dbs(void **state)
{
    struct fixture *f = *state;
    char *sub = fsutil_join(f->dir, "fresh");
    struct coord_kvstore *ks;
    struct stat st;
    int db;

    assert_int_equal(coord_kvstore_open(sub, NULL, &ks), 0);
    assert_string_equal(coord_kvstore_dir(ks), sub);
    coord_kvstore_close(ks);
    assert_int_equal(stat(sub, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    for (db = 0; db < COORD_DB_N; db++) {
        assert_int_equal(fsutil_count(sub, db), 0);
    }
    assert_string_equal(coord_kvstore_db_name(COORD_DB_META), "meta");
    assert_string_equal(coord_kvstore_db_name(COORD_DB_EVENTS), "events");
    coord_kvstore_close(NULL);
    free(sub);
}

static void test_kvstore_put_get_del_commit_abort(void **state)
{
    struct fixture *f = *state;
    struct coord_kvstore *ks;
    struct coord_kvstore_txn w;
    struct coord_kvstore_txn r;
    struct raft_buf key = str("a");
    struct raft_buf val;

    assert_int_equal(coord_kvstore_open(f->dir, NULL, &ks), 0);
    assert_int_equal(coord_kvstore_txn_begin(ks, true, &w), 0);
    put_str(&w, COORD_DB_KV, "a", "1");
    put_str(&w, COORD_DB_META, "a", "meta");
    /* A reader does not see uncommitted writes. */
    assert_int_equal(coord_kvstore_txn_begin(ks, false, &r), 0);
    assert_int_equal(coord_kvstore_get(&r, COORD_DB_KV, &key, &val), RAFT_ENOTFOUND);
    assert_int_equal(coord_kvstore_put(&r, COORD_DB_KV, &key, &key), RAFT_EINVAL);
    coord_kvstore_txn_abort(&r);
    assert_int_equal(coord_kvstore_txn_commit(&w), 0);
    expect(ks, COORD_DB_KV, "a", "1");
    expect(ks, COORD_DB_META, "a", "meta"); /* databases are separate */
    expect(ks, COORD_DB_SESSIONS, "a", NULL);
    /* Abort discards. */
    assert_int_equal(coord_kvstore_txn_begin(ks, true, &w), 0);
    assert_int_equal(coord_kvstore_del(&w, COORD_DB_KV, &key), 0);
    assert_int_equal(coord_kvstore_del(&w, COORD_DB_KV, &key), RAFT_ENOTFOUND);
    coord_kvstore_txn_abort(&w);
    coord_kvstore_txn_abort(&w); /* no-op */
    expect(ks, COORD_DB_KV, "a", "1");
    assert_int_equal(coord_kvstore_txn_begin(ks, true, &w), 0);
    assert_int_equal(coord_kvstore_del(&w, COORD_DB_KV, &key), 0);
    assert_int_equal(coord_kvstore_txn_commit(&w), 0);
    expect(ks, COORD_DB_KV, "a", NULL);
    coord_kvstore_close(ks);
}

static void test_kvstore_reopen_keeps_commits(void **state)
{
    struct fixture *f = *state;
    struct coord_kvstore *ks;
    struct coord_kvstore_txn w;

    assert_int_equal(coord_kvstore_open(f->dir, NULL, &ks), 0);
    assert_int_equal(coord_kvstore_txn_begin(ks, true, &w), 0);
    put_str(&w, COORD_DB_TOPICS, "t", "x");
    assert_int_equal(coord_kvstore_txn_commit(&w), 0);
    assert_int_equal(coord_kvstore_sync(ks), 0);
    coord_kvstore_close(ks);
    assert_int_equal(coord_kvstore_open(f->dir, NULL, &ks), 0);
    expect(ks, COORD_DB_TOPICS, "t", "x");
    coord_kvstore_close(ks);
}

static void test_kvstore_key_limits(void **state)
{
    struct fixture *f = *state;
    char big[COORD_KVSTORE_KEY_MAX + 1];
    struct coord_kvstore *ks;
    struct coord_kvstore_txn w;
    struct raft_buf key = {big, COORD_KVSTORE_KEY_MAX};
    struct raft_buf empty = {NULL, 0};
    struct raft_buf val = str("v");

    memset(big, 'k', sizeof big);
    assert_int_equal(coord_kvstore_open(f->dir, NULL, &ks), 0);
    assert_int_equal(coord_kvstore_txn_begin(ks, true, &w), 0);
    assert_int_equal(coord_kvstore_put(&w, COORD_DB_KV, &key, &val), 0);
    key.len++;
    assert_int_equal(coord_kvstore_put(&w, COORD_DB_KV, &key, &val), RAFT_EINVAL);
    assert_int_equal(coord_kvstore_get(&w, COORD_DB_KV, &key, &val), RAFT_EINVAL);
    assert_int_equal(coord_kvstore_put(&w, COORD_DB_KV, &empty, &val), RAFT_EINVAL);
    assert_int_equal(coord_kvstore_del(&w, COORD_DB_KV, &empty), RAFT_EINVAL);
    /* Refused before LMDB saw them: the txn is still good. */
    assert_int_equal(coord_kvstore_txn_commit(&w), 0);
    coord_kvstore_close(ks);
    assert_int_equal(fsutil_count(f->dir, COORD_DB_KV), 1);
}

static void test_kvstore_cursor_order_seek_and_delete(void **state)
{
    static const char *const keys[] = {"a", "ab", "b", "b\x01", "c"};
    struct fixture *f = *state;
    struct coord_kvstore *ks;
    struct coord_kvstore_txn w;
    struct coord_kvstore_cursor cur;
    struct raft_buf from = str("aa");
    struct raft_buf k;
    struct raft_buf v;
    unsigned i;
    int rv;

    assert_int_equal(coord_kvstore_open(f->dir, NULL, &ks), 0);
    assert_int_equal(coord_kvstore_txn_begin(ks, true, &w), 0);
    for (i = 5; i-- > 0;) { /* inserted backwards, read in order */
        put_str(&w, COORD_DB_KV, keys[i], keys[i]);
    }
    assert_int_equal(coord_kvstore_cursor_open(&w, COORD_DB_KV, &cur), 0);
    i = 0;
    for (rv = coord_kvstore_cursor_seek(&cur, NULL, &k, &v); rv == 0;
         rv = coord_kvstore_cursor_next(&cur, &k, &v)) {
        assert_int_equal(k.len, strlen(keys[i]));
        assert_memory_equal(k.base, keys[i], k.len);
        i++;
    }
    assert_int_equal(rv, RAFT_ENOTFOUND);
    assert_int_equal(i, 5);
    /* Seek lands on the first key >= the one asked for. */
    assert_int_equal(coord_kvstore_cursor_seek(&cur, &from, &k, &v), 0);
    assert_int_equal(k.len, 2);
    assert_memory_equal(k.base, "ab", 2);
    assert_int_equal(coord_kvstore_cursor_del(&cur), 0);
    assert_int_equal(coord_kvstore_cursor_seek(&cur, &from, &k, &v), 0);
    assert_memory_equal(k.base, "b", 1);
    from = str("d");
    assert_int_equal(coord_kvstore_cursor_seek(&cur, &from, &k, &v), RAFT_ENOTFOUND);
    coord_kvstore_cursor_close(&cur);
    coord_kvstore_cursor_close(&cur); /* no-op */
    assert_int_equal(coord_kvstore_txn_commit(&w), 0);
    expect(ks, COORD_DB_KV, "ab", NULL);
    coord_kvstore_close(ks);
}

static void test_kvstore_put_reserve(void **state)
{
    struct fixture *f = *state;
    struct coord_kvstore *ks;
    struct coord_kvstore_txn w;
    struct raft_buf key = str("r");
    void *p;

    assert_int_equal(coord_kvstore_open(f->dir, NULL, &ks), 0);
    assert_int_equal(coord_kvstore_txn_begin(ks, true, &w), 0);
    assert_int_equal(coord_kvstore_put_reserve(&w, COORD_DB_KV, &key, 5, &p), 0);
    memcpy(p, "hello", 5);
    assert_int_equal(coord_kvstore_txn_commit(&w), 0);
    expect(ks, COORD_DB_KV, "r", "hello");
    coord_kvstore_close(ks);
}

/* Fill a tiny map until a write is refused. */
/* Put 1 KiB values under key000000, key000001, ... in txn until the map is
 * full; returns how many fit. */
static unsigned fill_until_full(struct coord_kvstore_txn *txn)
{
    static char value[1024];
    struct raft_buf val = {value, sizeof value};
    char key[32];
    unsigned i;
    int rv = 0;

    memset(value, 'v', sizeof value);
    for (i = 0; i < 10000 && rv == 0; i++) {
        struct raft_buf k = {key, (size_t)snprintf(key, sizeof key, "key%06u", i)};

        rv = coord_kvstore_put(txn, COORD_DB_KV, &k, &val);
    }
    assert_int_equal(rv, RAFT_ENOSPC);
    return i - 1;
}

static void test_kvstore_map_full_is_enospc_and_reads_go_on(void **state)
{
    struct fixture *f = *state;
    struct coord_kvstore_opts opts = {TINY_MAP, false};
    struct coord_kvstore *ks;
    struct coord_kvstore_txn w;

    assert_int_equal(coord_kvstore_open(f->dir, &opts, &ks), 0);
    assert_int_equal(coord_kvstore_txn_begin(ks, true, &w), 0);
    put_str(&w, COORD_DB_KV, "before", "ok");
    assert_int_equal(coord_kvstore_txn_commit(&w), 0);
    assert_int_equal(coord_kvstore_txn_begin(ks, true, &w), 0);
    assert_true(fill_until_full(&w) > 10);
    coord_kvstore_txn_abort(&w);
    expect(ks, COORD_DB_KV, "before", "ok");
    expect(ks, COORD_DB_KV, "key000000", NULL); /* the failed txn left nothing */
    /* Small writes still fit. */
    assert_int_equal(coord_kvstore_txn_begin(ks, true, &w), 0);
    put_str(&w, COORD_DB_KV, "after", "ok");
    assert_int_equal(coord_kvstore_txn_commit(&w), 0);
    expect(ks, COORD_DB_KV, "after", "ok");
    coord_kvstore_close(ks);
}

/* A nested write: its writes reach the parent when it commits; aborting it,
 * or a full map inside it, leaves the parent as it was, still usable. */
static void test_kvstore_child_txn(void **state)
{
    struct fixture *f = *state;
    struct coord_kvstore_opts opts = {TINY_MAP, false};
    struct coord_kvstore *ks;
    struct coord_kvstore_txn w;
    struct coord_kvstore_txn c;

    assert_int_equal(coord_kvstore_open(f->dir, &opts, &ks), 0);
    assert_int_equal(coord_kvstore_txn_begin(ks, true, &w), 0);
    put_str(&w, COORD_DB_KV, "parent", "1");
    assert_int_equal(coord_kvstore_txn_begin_child(&w, &c), 0);
    put_str(&c, COORD_DB_KV, "kept", "2");
    assert_int_equal(coord_kvstore_txn_commit(&c), 0);
    assert_int_equal(coord_kvstore_txn_begin_child(&w, &c), 0);
    put_str(&c, COORD_DB_KV, "aborted", "3");
    coord_kvstore_txn_abort(&c);
    assert_int_equal(coord_kvstore_txn_begin_child(&w, &c), 0);
    (void)fill_until_full(&c);
    coord_kvstore_txn_abort(&c);
    put_str(&w, COORD_DB_KV, "last", "4");   /* the parent goes on */
    expect(ks, COORD_DB_KV, "parent", NULL); /* nothing is visible before the commit */
    assert_int_equal(coord_kvstore_txn_commit(&w), 0);
    expect(ks, COORD_DB_KV, "parent", "1");
    expect(ks, COORD_DB_KV, "kept", "2");
    expect(ks, COORD_DB_KV, "aborted", NULL);
    expect(ks, COORD_DB_KV, "key000000", NULL);
    expect(ks, COORD_DB_KV, "last", "4");
    coord_kvstore_close(ks);
}

static void fill(struct coord_kvstore *ks, unsigned n, const char *tag)
{
    struct coord_kvstore_txn w;
    char key[32];
    unsigned i;

    assert_int_equal(coord_kvstore_txn_begin(ks, true, &w), 0);
    for (i = 0; i < n; i++) {
        (void)snprintf(key, sizeof key, "k%05u", i);
        put_str(&w, (enum coord_kvstore_db)(i % COORD_DB_N), key, tag);
    }
    assert_int_equal(coord_kvstore_txn_commit(&w), 0);
}

static void test_kvstore_snapshot_and_install(void **state)
{
    struct fixture *f = *state;
    char *snap = fsutil_join(f->dir2, "snap");
    struct coord_kvstore *ks;
    struct coord_kvstore_txn txn;
    char *target = fsutil_join(f->dir2, "target");
    uint8_t *a;
    uint8_t *b;
    size_t a_len;
    size_t b_len;

    assert_int_equal(coord_kvstore_open(f->dir, NULL, &ks), 0);
    fill(ks, 500, "snap");
    assert_int_equal(coord_kvstore_snapshot(ks, snap), 0);
    fill(ks, 10, "later"); /* after the snapshot: not in it */
    coord_kvstore_close(ks);
    /* A snapshot opens read-only. */
    assert_int_equal(coord_kvstore_open_snapshot(snap, &ks), 0);
    assert_int_equal(coord_kvstore_txn_begin(ks, true, &txn), RAFT_EINVAL);
    expect(ks, COORD_DB_KV, "k00001", "snap");
    coord_kvstore_close(ks);
    /* Install into a store that had other data. */
    assert_int_equal(coord_kvstore_open(target, NULL, &ks), 0);
    fill(ks, 3, "old");
    coord_kvstore_close(ks);
    assert_int_equal(coord_kvstore_install(target, snap), 0);
    assert_int_equal(coord_kvstore_open(target, NULL, &ks), 0);
    expect(ks, COORD_DB_KV, "k00001", "snap");
    expect(ks, COORD_DB_META, "k00000", "snap");
    expect(ks, COORD_DB_KV, "k00000", NULL); /* the old contents are gone */
    coord_kvstore_close(ks);
    a = fsutil_dump(target, &a_len);
    assert_int_equal(coord_kvstore_open(f->dir, NULL, &ks), 0);
    fill(ks, 10, "snap"); /* undo "later": now equal to the snapshot */
    coord_kvstore_close(ks);
    b = fsutil_dump(f->dir, &b_len);
    assert_int_equal(a_len, b_len);
    assert_memory_equal(a, b, a_len);
    free(a);
    free(b);
    free(target);
    free(snap);
}

static void test_kvstore_bad_install_leaves_old_state(void **state)
{
    struct fixture *f = *state;
    char *snap = fsutil_join(f->dir2, "garbage");
    char *leftover = fsutil_join(f->dir, "data.mdb.install");
    char junk[8192];
    struct coord_kvstore *ks;

    memset(junk, 0x5a, sizeof junk);
    assert_int_equal(coord_kvstore_open(f->dir, NULL, &ks), 0);
    fill(ks, 20, "old");
    coord_kvstore_close(ks);
    fsutil_write_file(snap, junk, sizeof junk);
    assert_int_equal(coord_kvstore_install(f->dir, snap), RAFT_ECORRUPT);
    assert_int_equal(coord_kvstore_open_snapshot(snap, &ks), RAFT_ECORRUPT);
    assert_null(ks);
    assert_int_equal(coord_kvstore_install(f->dir, "/nonexistent/snap"), RAFT_EIO);
    /* A crash after the copy, before the rename, leaves the copy behind:
     * the store opens with its old state, and the next install replaces it. */
    fsutil_write_file(leftover, junk, sizeof junk);
    assert_int_equal(coord_kvstore_open(f->dir, NULL, &ks), 0);
    expect(ks, COORD_DB_KV, "k00001", "old");
    coord_kvstore_close(ks);
    free(leftover);
    free(snap);
}

static void test_kvstore_open_refuses_garbage(void **state)
{
    struct fixture *f = *state;
    char *data = fsutil_join(f->dir, "data.mdb");
    char junk[16384];
    struct coord_kvstore *ks;

    memset(junk, 0x11, sizeof junk);
    fsutil_write_file(data, junk, sizeof junk);
    assert_int_equal(coord_kvstore_open(f->dir, NULL, &ks), RAFT_ECORRUPT);
    assert_null(ks);
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kvstore_open_creates_dir_and_dbs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kvstore_put_get_del_commit_abort, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kvstore_reopen_keeps_commits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kvstore_key_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kvstore_cursor_order_seek_and_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kvstore_put_reserve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kvstore_map_full_is_enospc_and_reads_go_on, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_kvstore_child_txn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kvstore_snapshot_and_install, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kvstore_bad_install_leaves_old_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kvstore_open_refuses_garbage, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
