/* SPDX-License-Identifier: MIT */
/* cmd: state-machine commands and their results as plain C structs.
 *
 * A struct coord_cmd is what one Raft NORMAL entry asks the state machine to
 * do; coord/codec_cmd.c turns it into bytes (proto/command.proto) and back,
 * coord/fsm.c executes it. Nothing here includes generated protobuf code.
 * Results (struct coord_cmd_result) are what a client is answered with.
 */
#ifndef COORD_CMD_H
#define COORD_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

/* Limits, checked by the codec on encode and decode. They bound what one log
 * entry can ask for; lowering one can make old log entries undecodable, so
 * they only ever grow. */
#define COORD_CMD_VERSION         1u              /* Command.version written and accepted */
#define COORD_CMD_KEY_MAX         511u            /* bytes; LMDB's key limit (MDB_MAXKEYSIZE) */
#define COORD_CMD_VALUE_MAX       (1024u * 1024u) /* bytes of one value */
#define COORD_CMD_TXN_OPS_MAX     128u            /* compares, success ops, failure ops: each */
#define COORD_CMD_RANGE_LIMIT_MAX 10000u          /* keys returned by one range */
#define COORD_CMD_ENCODED_MAX     (2u * 1024u * 1024u) /* bytes of one encoded command */

_Static_assert(COORD_CMD_VALUE_MAX + 2 * COORD_CMD_KEY_MAX + 64 <= COORD_CMD_ENCODED_MAX,
               "a put of the largest key and value must fit in one command");

/* Command types. Values are this header's, not the wire's (the codec maps). */
enum coord_cmd_type {
    COORD_CMD_PUT = 1,
    COORD_CMD_DELETE_RANGE = 2,
    COORD_CMD_TXN = 3,
};

/* Write one key. */
struct coord_cmd_put {
    struct raft_buf key;   /* 1..COORD_CMD_KEY_MAX bytes */
    struct raft_buf value; /* 0..COORD_CMD_VALUE_MAX bytes */
    uint64_t session;      /* owning session (ephemeral key), 0 = none */
    bool prev_kv;          /* return the previous kv in the result */
};

/* Delete the keys in [key, range_end). range_end empty: only key; range_end
 * "\0" (one zero byte): every key >= key; else keys k with key <= k < range_end
 * (for prefix p, range_end = p with its last byte + 1, as in etcd). */
struct coord_cmd_delete {
    struct raft_buf key;       /* 1..COORD_CMD_KEY_MAX bytes */
    struct raft_buf range_end; /* 0..COORD_CMD_KEY_MAX bytes, see above */
    bool prev_kv;              /* return the deleted kvs in the result */
};

/* Read [key, range_end) (same rules as coord_cmd_delete); only inside a txn. */
struct coord_cmd_range {
    struct raft_buf key;       /* 1..COORD_CMD_KEY_MAX bytes */
    struct raft_buf range_end; /* 0..COORD_CMD_KEY_MAX bytes */
    uint64_t limit;            /* max keys, 0 = COORD_CMD_RANGE_LIMIT_MAX */
};

/* What a compare looks at. A missing key has version, create_revision and
 * mod_revision 0, does not exist, and fails every VALUE compare (etcd). */
enum coord_cmp_target {
    COORD_CMP_VALUE = 1,           /* operand: value, compared bytewise */
    COORD_CMP_VERSION = 2,         /* operand: number */
    COORD_CMP_CREATE_REVISION = 3, /* operand: number */
    COORD_CMP_MOD_REVISION = 4,    /* operand: number */
    COORD_CMP_EXISTS = 5,          /* operand: exists; only EQ and NE */
};

/* The comparison: (property of key) OP operand. */
enum coord_cmp_op {
    COORD_CMP_EQ = 1,
    COORD_CMP_NE = 2,
    COORD_CMP_LT = 3,
    COORD_CMP_GT = 4,
};

struct coord_cmd_compare {
    struct raft_buf key;   /* 1..COORD_CMD_KEY_MAX bytes */
    uint8_t target;        /* enum coord_cmp_target */
    uint8_t op;            /* enum coord_cmp_op */
    struct raft_buf value; /* target VALUE: 0..COORD_CMD_VALUE_MAX bytes */
    uint64_t number;       /* target VERSION, CREATE_REVISION, MOD_REVISION */
    bool exists;           /* target EXISTS */
};

/* Operation types inside a txn, and of struct coord_op_result. */
enum coord_op_type {
    COORD_OP_PUT = 1,
    COORD_OP_DELETE_RANGE = 2,
    COORD_OP_RANGE = 3,
};

struct coord_txn_op {
    uint8_t type; /* enum coord_op_type; selects the union member */
    union {
        struct coord_cmd_put put;
        struct coord_cmd_delete del;
        struct coord_cmd_range range;
    };
};

/* If every compare holds, run success in order, else failure in order. */
struct coord_cmd_txn {
    struct coord_cmd_compare *compares; /* n_compares <= COORD_CMD_TXN_OPS_MAX */
    size_t n_compares;
    struct coord_txn_op *success; /* n_success <= COORD_CMD_TXN_OPS_MAX */
    size_t n_success;
    struct coord_txn_op *failure; /* n_failure <= COORD_CMD_TXN_OPS_MAX */
    size_t n_failure;
};

/* One command. Ownership of everything it points to:
 *  - built by a caller for coord_cmd_encode(): the caller's, borrowed by the
 *    encoder; leave priv and arena NULL;
 *  - filled by coord_cmd_decode(): owned by the command itself (priv and
 *    arena), released at once with coord_cmd_release(). */
struct coord_cmd {
    uint32_t version;   /* COORD_CMD_VERSION */
    uint64_t client_id; /* request id for deduplication of retries; 0 = none */
    uint64_t seq;       /* the client's request sequence number */
    uint64_t time_ms;   /* leader's wall clock at proposal, ms since the epoch */
    uint8_t type;       /* enum coord_cmd_type; selects the union member */
    union {
        struct coord_cmd_put put;
        struct coord_cmd_delete del;
        struct coord_cmd_txn txn;
    };
    void *priv;  /* decode only: the unpacked message the bufs point into */
    void *arena; /* decode only: one block holding the txn arrays */
};

/* A key and its metadata, as stored (see coord/fsm.c for the disk layout). */
struct coord_kv {
    struct raft_buf key;
    struct raft_buf value;
    uint64_t create_revision; /* revision of the put that created the key */
    uint64_t mod_revision;    /* revision of the last put */
    uint64_t version;         /* puts since creation, >= 1 */
    uint64_t session;         /* owning session, 0 = none */
};

/* The outcome of one put, delete-range or range. */
struct coord_op_result {
    uint8_t type;       /* enum coord_op_type */
    uint64_t n_deleted; /* DELETE_RANGE: number of keys deleted */
    /* PUT: the previous kv when prev_kv was asked and the key existed (0 or
     * 1); DELETE_RANGE: the deleted kvs when prev_kv was asked; RANGE: the
     * kvs found, in key order. */
    struct coord_kv *kvs;
    size_t n_kvs;
    bool more; /* RANGE: more keys matched than were returned */
};

/* The outcome of one applied Raft entry. */
struct coord_cmd_result {
    raft_index index;            /* the entry's index */
    bool skipped;                /* at or below the applied index already: not applied again */
    int status;                  /* 0, or why the entry was a no-op: RAFT_EPROTO / RAFT_ETOOBIG
                                  * (malformed command or configuration) */
    uint64_t revision;           /* the store's revision after this entry */
    bool succeeded;              /* TXN: the compares held and success ran */
    struct coord_op_result *ops; /* PUT, DELETE_RANGE: one; TXN: one per op of the
                                  * branch that ran; otherwise none */
    size_t n_ops;
};

#endif /* COORD_CMD_H */
