/* SPDX-License-Identifier: MIT */
/* kvstore: the LMDB environment that holds the state machine's applied state,
 * with the named databases of DESIGN.md. A thin, typed door to LMDB: MDB_*
 * never leaves kvstore.c, errors come back as RAFT_E* codes. It knows nothing
 * of what the bytes mean (coord/fsm.c does). Not the Raft log. */
#ifndef COORD_STORAGE_KVSTORE_H
#define COORD_STORAGE_KVSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

#define COORD_KVSTORE_MAP_SIZE_DEFAULT (1024ull * 1024ull * 1024ull) /* bytes, 1 GiB */
#define COORD_KVSTORE_KEY_MAX          511u /* bytes of a key (LMDB's MDB_MAXKEYSIZE) */

/* The named databases. Their names are on disk (see kvstore.c): never
 * rename one; add new ones at the end. */
enum coord_kvstore_db {
    COORD_DB_META = 0,       /* "meta": applied index, revision, membership */
    COORD_DB_KV = 1,         /* "kv": the general key space */
    COORD_DB_SESSIONS = 2,   /* "sessions" */
    COORD_DB_BROKERS = 3,    /* "brokers" */
    COORD_DB_TOPICS = 4,     /* "topics" */
    COORD_DB_PARTITIONS = 5, /* "partitions" */
    COORD_DB_EVENTS = 6,     /* "events": change history for watches */
    COORD_DB_N
};

struct coord_kvstore_opts {
    uint64_t map_size; /* bytes, the most the data file may grow to; 0 = default */
    bool write_map;    /* MDB_WRITEMAP; off by default (see Design notes) */
};

struct coord_kvstore; /* opaque */

/* A transaction. Caller-allocated; fields are private. A read transaction
 * may be used from any thread, one at a time (MDB_NOTLS), and must be short:
 * it pins the pages it sees. One write transaction at a time per store. */
struct coord_kvstore_txn {
    struct coord_kvstore *ks;
    void *handle; /* MDB_txn *, NULL when not active */
    bool write;
};

/* A cursor over one database, inside one transaction. Caller-allocated. */
struct coord_kvstore_cursor {
    struct coord_kvstore_txn *txn;
    void *handle; /* MDB_cursor *, NULL when closed */
};

/* Name of db as stored ("meta", "kv", ...). Static string. */
const char *coord_kvstore_db_name(enum coord_kvstore_db db);

/* Open the store in dir (borrowed), creating dir (its parent must exist) and
 * any missing named database. opts may be NULL for the defaults. *out
 * returns owned: release with coord_kvstore_close(). Never open one dir
 * twice in a process at once: LMDB's locks would break on the first close.
 * Errors: RAFT_ECORRUPT (data.mdb is not an LMDB file), RAFT_ECONFIG (LMDB
 * built with a key limit below COORD_KVSTORE_KEY_MAX), RAFT_ENOSPC,
 * RAFT_EIO, RAFT_ENOMEM. Any thread. */
int coord_kvstore_open(const char *dir, const struct coord_kvstore_opts *opts,
                       struct coord_kvstore **out);

/* Open the snapshot file at path (borrowed) read-only, to inspect it: every
 * named database must exist. No lock file is made. *out returns owned
 * (coord_kvstore_close()). Write transactions are refused with RAFT_EINVAL.
 * Errors: RAFT_ECORRUPT, RAFT_EIO, RAFT_ENOMEM. */
int coord_kvstore_open_snapshot(const char *path, struct coord_kvstore **out);

/* Close ks; no transaction may be active. Does not sync: committed writes
 * since the last coord_kvstore_sync() may be lost by a system crash (see
 * Design notes), never corrupted. NULL is a no-op. */
void coord_kvstore_close(struct coord_kvstore *ks);

/* Make every committed transaction durable (mdb_env_sync, force). Must run
 * before the Raft log below the applied index is compacted and before a
 * snapshot is published. A failure is fatal for the node: it must stop.
 * Errors: RAFT_EIO. Any thread; blocks on fsync. */
int coord_kvstore_sync(struct coord_kvstore *ks);

/* Directory the store lives in. A view valid until coord_kvstore_close(). */
const char *coord_kvstore_dir(const struct coord_kvstore *ks);

/* Begin a transaction into *txn. A write transaction blocks until any other
 * one ends. Errors: RAFT_EINVAL (write on a snapshot), RAFT_ENOSPC,
 * RAFT_EIO, RAFT_ENOMEM. */
int coord_kvstore_txn_begin(struct coord_kvstore *ks, bool write, struct coord_kvstore_txn *txn);

/* Begin a write transaction nested in the write transaction parent: its
 * writes reach parent when it commits, and an error inside it (a full map)
 * ends only it, leaving parent as it was. parent may not be used until
 * *child ends. Errors as coord_kvstore_txn_begin(). */
int coord_kvstore_txn_begin_child(struct coord_kvstore_txn *parent,
                                  struct coord_kvstore_txn *child);

/* Commit txn; it ends either way (a failed commit is aborted). Not durable
 * against a system crash until coord_kvstore_sync() (Design notes).
 * Errors: RAFT_ENOSPC (the map is full: nothing of txn was written),
 * RAFT_EIO, RAFT_ECORRUPT. */
int coord_kvstore_txn_commit(struct coord_kvstore_txn *txn);

/* Abort txn, discarding its writes. A txn that is not active is a no-op. */
void coord_kvstore_txn_abort(struct coord_kvstore_txn *txn);

/* Look key up in db. *val returns a view valid until the next write in txn
 * or its end. Errors: RAFT_ENOTFOUND, RAFT_EINVAL (empty or too long key),
 * RAFT_ECORRUPT, RAFT_EIO. */
int coord_kvstore_get(struct coord_kvstore_txn *txn, enum coord_kvstore_db db,
                      const struct raft_buf *key, struct raft_buf *val);

/* Set key to val (both borrowed) in db. After any error but RAFT_EINVAL the
 * transaction can only be aborted. Errors: RAFT_EINVAL (empty or too long
 * key, read txn), RAFT_ENOSPC (map full), RAFT_ECORRUPT, RAFT_EIO. */
int coord_kvstore_put(struct coord_kvstore_txn *txn, enum coord_kvstore_db db,
                      const struct raft_buf *key, const struct raft_buf *val);

/* Like coord_kvstore_put(), but reserves len bytes for the value and returns
 * in *val a view of them to fill before the next operation in txn. */
int coord_kvstore_put_reserve(struct coord_kvstore_txn *txn, enum coord_kvstore_db db,
                              const struct raft_buf *key, size_t len, void **val);

/* Delete key from db. Errors: RAFT_ENOTFOUND, and those of
 * coord_kvstore_put(). */
int coord_kvstore_del(struct coord_kvstore_txn *txn, enum coord_kvstore_db db,
                      const struct raft_buf *key);

/* Open a cursor on db in txn into *cur. Close it before txn ends.
 * Errors: RAFT_EIO, RAFT_ENOMEM. */
int coord_kvstore_cursor_open(struct coord_kvstore_txn *txn, enum coord_kvstore_db db,
                              struct coord_kvstore_cursor *cur);

/* Close cur. A closed or zeroed cursor is a no-op. */
void coord_kvstore_cursor_close(struct coord_kvstore_cursor *cur);

/* Position cur at the first key >= key (the first key of the db when key is
 * NULL) and return it and its value as views (valid until the next write in
 * the txn or its end). Keys sort bytewise (memcmp, shorter first).
 * Errors: RAFT_ENOTFOUND (no such key), RAFT_EINVAL (empty or too long key),
 * RAFT_ECORRUPT, RAFT_EIO. */
int coord_kvstore_cursor_seek(struct coord_kvstore_cursor *cur, const struct raft_buf *key,
                              struct raft_buf *key_out, struct raft_buf *val_out);

/* Step cur to the next key; as coord_kvstore_cursor_seek(). */
int coord_kvstore_cursor_next(struct coord_kvstore_cursor *cur, struct raft_buf *key_out,
                              struct raft_buf *val_out);

/* Delete the key cur is at (write txn). Seek again before reading on.
 * Errors: those of coord_kvstore_put(). */
int coord_kvstore_cursor_del(struct coord_kvstore_cursor *cur);

/* Write a consistent, compacted copy of ks to the file path (borrowed): into
 * path.tmp, fsync, rename to path, fsync the directory. It reads through one
 * read transaction, so writers go on meanwhile. A leftover path.tmp is
 * replaced. Call coord_kvstore_sync() first if the copy must not be newer
 * than what is durable in ks (it never is older).
 * Errors: RAFT_EIO (fsync failure: fatal, the node must stop), RAFT_ENOSPC,
 * RAFT_ENOMEM. Any thread. */
int coord_kvstore_snapshot(struct coord_kvstore *ks, const char *path);

/* Replace the store in dir (not open anywhere) by a copy of the snapshot
 * file snapshot_path (borrowed, left in place): copy to a temporary file in
 * dir, fsync, check that it is an LMDB file with every named database, rename
 * it over the data file, fsync dir. A crash or error at any point leaves
 * either the old or the new store whole. Open it again afterwards.
 * Errors: RAFT_ECORRUPT (snapshot unreadable as a store), RAFT_ENOSPC,
 * RAFT_EIO, RAFT_ENOMEM. */
int coord_kvstore_install(const char *dir, const char *snapshot_path);

#endif /* COORD_STORAGE_KVSTORE_H */
