/* SPDX-License-Identifier: MIT */
/* kvstore: the LMDB environment of the state machine (see kvstore.h). The
 * only file that includes lmdb.h; it translates MDB_* codes to RAFT_E*.
 *
 * Design notes
 * ============
 * Files in the store's directory:
 *   data.mdb          the LMDB data file: every named database
 *   lock.mdb          LMDB's reader table; rebuilt by the first opener
 *   data.mdb.install  a snapshot being installed (coord_kvstore_install)
 * The database names ("meta", "kv", "sessions", "brokers", "topics",
 * "partitions", "events") are on disk: renaming one loses its data.
 *
 * Durability. The Raft log, not LMDB, is the durability point: an entry is
 * committed once it is fsynced in a majority of logs. The state machine writes
 * the applied index in the same LMDB transaction as the changes it applies,
 * so whatever LMDB holds after a crash is the state after some applied index
 * i, and the node replays its log from i + 1. Hence:
 *   1. MDB_NOMETASYNC: a commit fsyncs the data pages but not the meta page.
 *      A system crash may lose the last few transactions (the old meta page
 *      still points to a complete older tree, as LMDB never overwrites live
 *      pages), but never corrupts the file. MDB_NOSYNC is NOT used: without
 *      the data fsync, a meta page could reach the disk before the pages it
 *      points to, and a crash would leave a torn tree.
 *   2. Because a crash may lose applied transactions, the Raft log must still
 *      hold every entry above LMDB's durable applied index. So
 *      coord_kvstore_sync() (mdb_env_sync, force) runs before the log below
 *      the applied index is compacted and before a snapshot is published.
 *   3. MDB_NOTLS: read transactions are not tied to threads, so the loop
 *      thread may read while the apply thread writes. Read transactions stay
 *      short: a long one pins old pages and the file grows.
 *   4. No MDB_WRITEMAP by default: with it, a stray write through a pointer
 *      into the map corrupts the database silently, and dirty pages reach the
 *      file at the kernel's whim. The small speed gain is not worth that.
 *   5. The map size bounds the data file. When it is full, a write fails with
 *      RAFT_ENOSPC and its transaction is aborted whole; readers go on.
 *
 * Install, as file states (each arrow is atomic, each state recoverable):
 *
 *   [data.mdb old] --copy+fsync--> [data.mdb old, data.mdb.install new]
 *        ^                               |                  |
 *        +---- unlink (error, or next ---+   rename+fsync dir
 *              coord_kvstore_install)                       v
 *                                                 [data.mdb new]
 */
#include "coord/storage/kvstore.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coord/log.h"
#include "raft/base/alloc.h"
#include "raft/base/assert.h"

#define DATA_FILE    "data.mdb"
#define INSTALL_FILE "data.mdb.install"
#define FILE_MODE    0640
#define DIR_MODE     0750
#define COPY_CHUNK   (64u * 1024u) /* bytes per read() when copying a file */

struct coord_kvstore {
    MDB_env *env;
    MDB_dbi dbis[COORD_DB_N]; /* valid for every transaction once open */
    char *dir;                /* owned; the directory, or the snapshot file */
    bool read_only;           /* opened by coord_kvstore_open_snapshot() */
};

static const char *const db_names[COORD_DB_N] = {
    [COORD_DB_META] = "meta",         [COORD_DB_KV] = "kv",
    [COORD_DB_SESSIONS] = "sessions", [COORD_DB_BROKERS] = "brokers",
    [COORD_DB_TOPICS] = "topics",     [COORD_DB_PARTITIONS] = "partitions",
    [COORD_DB_EVENTS] = "events",
};

const char *coord_kvstore_db_name(enum coord_kvstore_db db)
{
    RAFT_ASSERT(db < COORD_DB_N);
    return db_names[db];
}

/* ---- errors ---- */

/* MDB_* or errno value -> RAFT_E*. */
static int mdb_to_raft(int rc)
{
    switch (rc) {
    case MDB_NOTFOUND:
        return RAFT_ENOTFOUND;
    case MDB_MAP_FULL:
    case ENOSPC:
        return RAFT_ENOSPC;
    case MDB_CORRUPTED:
    case MDB_INVALID:
    case MDB_PAGE_NOTFOUND:
    case MDB_VERSION_MISMATCH:
        return RAFT_ECORRUPT;
    case ENOMEM:
        return RAFT_ENOMEM;
    default:
        return RAFT_EIO;
    }
}

/* Translate rc, log it once with its context, return the RAFT_E* code. */
static int fail(const char *op, const char *path, int rc)
{
    int code = mdb_to_raft(rc);

    COORD_LOG(ERROR, "kvstore %s failed path=%s err=%s cause=\"%s\"", op, path, raft_err_name(code),
              mdb_strerror(rc));
    return code;
}

/* ---- small file helpers ---- */

/* a + sep + b, returns owned (raft_free) or NULL. */
static char *path_join(const char *a, const char *sep, const char *b)
{
    size_t la = strlen(a);
    size_t ls = strlen(sep);
    size_t lb = strlen(b);
    char *p = raft_malloc(la + ls + lb + 1);

    if (p != NULL) {
        memcpy(p, a, la);
        memcpy(p + la, sep, ls);
        memcpy(p + la + ls, b, lb + 1);
    }
    return p;
}

/* The directory holding path, returns owned (raft_free) or NULL. */
static char *parent_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t len;
    char *p;

    if (slash == NULL) {
        return path_join(".", "", "");
    }
    len = slash == path ? 1 : (size_t)(slash - path);
    p = raft_malloc(len + 1);
    if (p != NULL) {
        memcpy(p, path, len);
        p[len] = '\0';
    }
    return p;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rv = 0;

    if (fd < 0) {
        return fail("open dir", dir, errno);
    }
    if (fsync(fd) != 0) {
        rv = fail("fsync dir", dir, errno);
    }
    (void)close(fd);
    return rv;
}

static int fsync_parent(const char *path)
{
    char *parent = parent_of(path);
    int rv;

    if (parent == NULL) {
        return RAFT_ENOMEM;
    }
    rv = fsync_dir(parent);
    raft_free(parent);
    return rv;
}

/* Create dir if it does not exist (and make that durable). */
static int ensure_dir(const char *dir)
{
    if (mkdir(dir, DIR_MODE) == 0) {
        return fsync_parent(dir);
    }
    if (errno == EEXIST) {
        return 0;
    }
    return fail("mkdir", dir, errno);
}

static int write_all(int fd, const char *buf, size_t len, const char *path)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return fail("write", path, errno);
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Copy every byte of from_fd to to_fd. */
static int copy_fd(int from_fd, const char *from, int to_fd, const char *to)
{
    char *buf = raft_malloc(COPY_CHUNK);
    int rv = 0;

    if (buf == NULL) {
        return RAFT_ENOMEM;
    }
    for (;;) {
        ssize_t n = read(from_fd, buf, COPY_CHUNK);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            rv = fail("read", from, errno);
            break;
        }
        if (n == 0) {
            break;
        }
        rv = write_all(to_fd, buf, (size_t)n, to);
        if (rv != 0) {
            break;
        }
    }
    raft_free(buf);
    return rv;
}

/* Copy the file from to the new file to, and fsync it. */
static int copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    int out;
    int rv;

    if (in < 0) {
        return fail("open", from, errno);
    }
    out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, FILE_MODE);
    if (out < 0) {
        rv = fail("create", to, errno);
        goto err_after_in;
    }
    rv = copy_fd(in, from, out, to);
    if (rv == 0 && fsync(out) != 0) {
        rv = fail("fsync", to, errno);
    }
    if (close(out) != 0 && rv == 0) {
        rv = fail("close", to, errno);
    }
err_after_in:
    (void)close(in);
    return rv;
}

/* ---- open and close ---- */

/* Open (or, when create, create) every named database in one transaction. */
static int open_dbs(struct coord_kvstore *ks, bool create)
{
    MDB_txn *txn;
    unsigned i;
    int rc;

    rc = mdb_txn_begin(ks->env, NULL, create ? 0 : MDB_RDONLY, &txn);
    if (rc != 0) {
        return fail("begin", ks->dir, rc);
    }
    for (i = 0; i < COORD_DB_N; i++) {
        rc = mdb_dbi_open(txn, db_names[i], create ? MDB_CREATE : 0, &ks->dbis[i]);
        if (rc != 0) {
            mdb_txn_abort(txn);
            /* A snapshot without one of our databases is not one of ours. */
            return fail(db_names[i], ks->dir, rc == MDB_NOTFOUND ? MDB_INVALID : rc);
        }
    }
    rc = mdb_txn_commit(txn);
    return rc != 0 ? fail("commit", ks->dir, rc) : 0;
}

/* Create ks with its environment handle, not yet opened. */
static int env_new(const char *path, uint64_t map_size, struct coord_kvstore **out)
{
    struct coord_kvstore *ks = raft_calloc(1, sizeof *ks);
    int rc;

    if (ks == NULL) {
        return RAFT_ENOMEM;
    }
    ks->dir = path_join(path, "", "");
    if (ks->dir == NULL) {
        raft_free(ks);
        return RAFT_ENOMEM;
    }
    rc = mdb_env_create(&ks->env);
    if (rc == 0) {
        rc = mdb_env_set_maxdbs(ks->env, COORD_DB_N);
    }
    if (rc == 0 && map_size != 0) {
        rc = mdb_env_set_mapsize(ks->env, (size_t)map_size);
    }
    if (rc != 0) {
        rc = fail("env create", path, rc);
        coord_kvstore_close(ks);
        return rc;
    }
    *out = ks;
    return 0;
}

int coord_kvstore_open(const char *dir, const struct coord_kvstore_opts *opts,
                       struct coord_kvstore **out)
{
    struct coord_kvstore_opts def = {COORD_KVSTORE_MAP_SIZE_DEFAULT, false};
    struct coord_kvstore *ks;
    unsigned flags = MDB_NOMETASYNC | MDB_NOTLS;
    int rv;

    *out = NULL;
    if (opts == NULL) {
        opts = &def;
    }
    rv = ensure_dir(dir);
    if (rv != 0) {
        return rv;
    }
    rv = env_new(dir, opts->map_size != 0 ? opts->map_size : def.map_size, &ks);
    if (rv != 0) {
        return rv;
    }
    if (mdb_env_get_maxkeysize(ks->env) < (int)COORD_KVSTORE_KEY_MAX) {
        COORD_LOG(ERROR, "kvstore open failed path=%s err=ECONFIG cause=\"LMDB key limit %d < %u\"",
                  dir, mdb_env_get_maxkeysize(ks->env), COORD_KVSTORE_KEY_MAX);
        rv = RAFT_ECONFIG;
        goto err_after_env;
    }
    flags |= opts->write_map ? MDB_WRITEMAP : 0u;
    rv = mdb_env_open(ks->env, dir, flags, FILE_MODE);
    if (rv != 0) {
        rv = fail("open", dir, rv);
        goto err_after_env;
    }
    rv = fsync_dir(dir); /* data.mdb and lock.mdb may have just been created */
    if (rv == 0) {
        rv = open_dbs(ks, true);
    }
    if (rv != 0) {
        goto err_after_env;
    }
    *out = ks;
    return 0;

err_after_env:
    coord_kvstore_close(ks);
    return rv;
}

int coord_kvstore_open_snapshot(const char *path, struct coord_kvstore **out)
{
    struct coord_kvstore *ks;
    int rv;

    *out = NULL;
    rv = env_new(path, 0, &ks);
    if (rv != 0) {
        return rv;
    }
    ks->read_only = true;
    rv = mdb_env_open(ks->env, path, MDB_NOSUBDIR | MDB_RDONLY | MDB_NOLOCK | MDB_NOTLS, FILE_MODE);
    if (rv != 0) {
        rv = fail("open snapshot", path, rv);
        goto err_after_env;
    }
    rv = open_dbs(ks, false);
    if (rv != 0) {
        goto err_after_env;
    }
    *out = ks;
    return 0;

err_after_env:
    coord_kvstore_close(ks);
    return rv;
}

void coord_kvstore_close(struct coord_kvstore *ks)
{
    if (ks == NULL) {
        return;
    }
    if (ks->env != NULL) {
        mdb_env_close(ks->env);
    }
    raft_free(ks->dir);
    raft_free(ks);
}

int coord_kvstore_sync(struct coord_kvstore *ks)
{
    int rc;

    if (ks->read_only) {
        return 0;
    }
    rc = mdb_env_sync(ks->env, 1);
    return rc != 0 ? fail("sync", ks->dir, rc) : 0;
}

const char *coord_kvstore_dir(const struct coord_kvstore *ks)
{
    return ks->dir;
}

/* ---- transactions ---- */

int coord_kvstore_txn_begin(struct coord_kvstore *ks, bool write, struct coord_kvstore_txn *txn)
{
    MDB_txn *t;
    int rc;

    txn->ks = ks;
    txn->handle = NULL;
    txn->write = write;
    if (write && ks->read_only) {
        return RAFT_EINVAL;
    }
    rc = mdb_txn_begin(ks->env, NULL, write ? 0 : MDB_RDONLY, &t);
    if (rc != 0) {
        return fail(write ? "begin write" : "begin read", ks->dir, rc);
    }
    txn->handle = t;
    return 0;
}

int coord_kvstore_txn_begin_child(struct coord_kvstore_txn *parent, struct coord_kvstore_txn *child)
{
    MDB_txn *t;
    int rc;

    RAFT_ASSERT(parent->handle != NULL && parent->write);
    child->ks = parent->ks;
    child->handle = NULL;
    child->write = true;
    rc = mdb_txn_begin(parent->ks->env, parent->handle, 0, &t);
    if (rc != 0) {
        return fail("begin nested write", parent->ks->dir, rc);
    }
    child->handle = t;
    return 0;
}

int coord_kvstore_txn_commit(struct coord_kvstore_txn *txn)
{
    int rc;

    RAFT_ASSERT(txn->handle != NULL);
    rc = mdb_txn_commit(txn->handle); /* frees the txn, also on failure */
    txn->handle = NULL;
    return rc != 0 ? fail("commit", txn->ks->dir, rc) : 0;
}

void coord_kvstore_txn_abort(struct coord_kvstore_txn *txn)
{
    if (txn->handle != NULL) {
        mdb_txn_abort(txn->handle);
        txn->handle = NULL;
    }
}

static bool key_ok(const struct raft_buf *key)
{
    return key->len > 0 && key->len <= COORD_KVSTORE_KEY_MAX && key->base != NULL;
}

static MDB_val val_of(const struct raft_buf *b)
{
    MDB_val v = {b->len, b->base};

    return v;
}

static struct raft_buf buf_of(const MDB_val *v)
{
    struct raft_buf b = {v->mv_data, v->mv_size};

    return b;
}

int coord_kvstore_get(struct coord_kvstore_txn *txn, enum coord_kvstore_db db,
                      const struct raft_buf *key, struct raft_buf *val)
{
    MDB_val k = val_of(key);
    MDB_val v;
    int rc;

    RAFT_ASSERT(txn->handle != NULL && db < COORD_DB_N);
    if (!key_ok(key)) {
        return RAFT_EINVAL;
    }
    rc = mdb_get(txn->handle, txn->ks->dbis[db], &k, &v);
    if (rc == MDB_NOTFOUND) {
        return RAFT_ENOTFOUND;
    }
    if (rc != 0) {
        return fail("get", txn->ks->dir, rc);
    }
    *val = buf_of(&v);
    return 0;
}

static int put(struct coord_kvstore_txn *txn, enum coord_kvstore_db db, const struct raft_buf *key,
               MDB_val *v, unsigned flags)
{
    MDB_val k = val_of(key);
    int rc;

    RAFT_ASSERT(txn->handle != NULL && db < COORD_DB_N);
    if (!txn->write || !key_ok(key)) {
        return RAFT_EINVAL;
    }
    rc = mdb_put(txn->handle, txn->ks->dbis[db], &k, v, flags);
    return rc != 0 ? fail("put", txn->ks->dir, rc) : 0;
}

int coord_kvstore_put(struct coord_kvstore_txn *txn, enum coord_kvstore_db db,
                      const struct raft_buf *key, const struct raft_buf *val)
{
    MDB_val v = val_of(val);

    return put(txn, db, key, &v, 0);
}

int coord_kvstore_put_reserve(struct coord_kvstore_txn *txn, enum coord_kvstore_db db,
                              const struct raft_buf *key, size_t len, void **val)
{
    MDB_val v = {len, NULL};
    int rv = put(txn, db, key, &v, MDB_RESERVE);

    *val = rv == 0 ? v.mv_data : NULL;
    return rv;
}

int coord_kvstore_del(struct coord_kvstore_txn *txn, enum coord_kvstore_db db,
                      const struct raft_buf *key)
{
    MDB_val k = val_of(key);
    int rc;

    RAFT_ASSERT(txn->handle != NULL && db < COORD_DB_N);
    if (!txn->write || !key_ok(key)) {
        return RAFT_EINVAL;
    }
    rc = mdb_del(txn->handle, txn->ks->dbis[db], &k, NULL);
    if (rc == MDB_NOTFOUND) {
        return RAFT_ENOTFOUND;
    }
    return rc != 0 ? fail("del", txn->ks->dir, rc) : 0;
}

/* ---- cursors ---- */

int coord_kvstore_cursor_open(struct coord_kvstore_txn *txn, enum coord_kvstore_db db,
                              struct coord_kvstore_cursor *cur)
{
    MDB_cursor *c;
    int rc;

    RAFT_ASSERT(txn->handle != NULL && db < COORD_DB_N);
    cur->txn = txn;
    cur->handle = NULL;
    rc = mdb_cursor_open(txn->handle, txn->ks->dbis[db], &c);
    if (rc != 0) {
        return fail("cursor open", txn->ks->dir, rc);
    }
    cur->handle = c;
    return 0;
}

void coord_kvstore_cursor_close(struct coord_kvstore_cursor *cur)
{
    if (cur->handle != NULL) {
        mdb_cursor_close(cur->handle);
        cur->handle = NULL;
    }
}

static int cursor_get(struct coord_kvstore_cursor *cur, MDB_val *k, MDB_cursor_op op,
                      struct raft_buf *key_out, struct raft_buf *val_out)
{
    MDB_val v;
    int rc;

    RAFT_ASSERT(cur->handle != NULL);
    rc = mdb_cursor_get(cur->handle, k, &v, op);
    if (rc == MDB_NOTFOUND) {
        return RAFT_ENOTFOUND;
    }
    if (rc != 0) {
        return fail("cursor get", cur->txn->ks->dir, rc);
    }
    *key_out = buf_of(k);
    *val_out = buf_of(&v);
    return 0;
}

int coord_kvstore_cursor_seek(struct coord_kvstore_cursor *cur, const struct raft_buf *key,
                              struct raft_buf *key_out, struct raft_buf *val_out)
{
    MDB_val k = {0, NULL};

    if (key == NULL) {
        return cursor_get(cur, &k, MDB_FIRST, key_out, val_out);
    }
    if (!key_ok(key)) {
        return RAFT_EINVAL;
    }
    k = val_of(key);
    return cursor_get(cur, &k, MDB_SET_RANGE, key_out, val_out);
}

int coord_kvstore_cursor_next(struct coord_kvstore_cursor *cur, struct raft_buf *key_out,
                              struct raft_buf *val_out)
{
    MDB_val k = {0, NULL};

    return cursor_get(cur, &k, MDB_NEXT, key_out, val_out);
}

int coord_kvstore_cursor_del(struct coord_kvstore_cursor *cur)
{
    int rc;

    RAFT_ASSERT(cur->handle != NULL);
    if (!cur->txn->write) {
        return RAFT_EINVAL;
    }
    rc = mdb_cursor_del(cur->handle, 0);
    return rc != 0 ? fail("cursor del", cur->txn->ks->dir, rc) : 0;
}

/* ---- snapshots ---- */

/* Write the compacted copy of ks into the new file tmp and fsync it. */
static int copy_env(struct coord_kvstore *ks, const char *tmp)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, FILE_MODE);
    int rv = 0;
    int rc;

    if (fd < 0) {
        return fail("create", tmp, errno);
    }
    rc = mdb_env_copyfd2(ks->env, fd, MDB_CP_COMPACT);
    if (rc != 0) {
        rv = fail("copy", tmp, rc);
    }
    if (rv == 0 && fsync(fd) != 0) {
        rv = fail("fsync", tmp, errno);
    }
    if (close(fd) != 0 && rv == 0) {
        rv = fail("close", tmp, errno);
    }
    return rv;
}

int coord_kvstore_snapshot(struct coord_kvstore *ks, const char *path)
{
    char *tmp = path_join(path, "", ".tmp");
    int rv;

    if (tmp == NULL) {
        return RAFT_ENOMEM;
    }
    rv = copy_env(ks, tmp);
    if (rv != 0) {
        goto err_after_tmp;
    }
    if (rename(tmp, path) != 0) {
        rv = fail("rename", path, errno);
        goto err_after_tmp;
    }
    rv = fsync_parent(path);
    raft_free(tmp);
    return rv;

err_after_tmp:
    (void)unlink(tmp);
    raft_free(tmp);
    return rv;
}

/* Check that path is a store with every named database. */
static int check_snapshot(const char *path)
{
    struct coord_kvstore *ks;
    int rv = coord_kvstore_open_snapshot(path, &ks);

    coord_kvstore_close(ks);
    return rv;
}

int coord_kvstore_install(const char *dir, const char *snapshot_path)
{
    char *tmp = path_join(dir, "/", INSTALL_FILE);
    char *data = path_join(dir, "/", DATA_FILE);
    int rv = RAFT_ENOMEM;

    if (tmp == NULL || data == NULL) {
        goto out;
    }
    if (unlink(tmp) != 0 && errno != ENOENT) { /* left by an earlier crash */
        rv = fail("unlink", tmp, errno);
        goto out;
    }
    rv = copy_file(snapshot_path, tmp);
    if (rv == 0) {
        rv = check_snapshot(tmp);
    }
    if (rv != 0) {
        goto err_after_tmp;
    }
    if (rename(tmp, data) != 0) {
        rv = fail("rename", data, errno);
        goto err_after_tmp;
    }
    rv = fsync_dir(dir);
    goto out;

err_after_tmp:
    (void)unlink(tmp);
out:
    raft_free(data);
    raft_free(tmp);
    return rv;
}
