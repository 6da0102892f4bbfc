/* SPDX-License-Identifier: MIT */
/* err: the one table of error codes shared by raft/ and coord/.
 * Every fallible function returns 0 or a negative RAFT_E* code. */
#ifndef RAFT_BASE_ERR_H
#define RAFT_BASE_ERR_H

/* X(NAME, value, message). The numeric values appear on the wire in client
 * responses (coord.proto) and must never be renumbered. */
#define RAFT_ERR_TABLE(X)                                                                          \
    X(ENOMEM, 1, "out of memory")                                                                  \
    X(EINVAL, 2, "invalid argument")                                                               \
    X(ENOTLEADER, 3, "not the leader")                                                             \
    X(EBUSY, 4, "busy: an earlier operation is still in progress")                                 \
    X(EPROTO, 5, "protocol error: malformed message")                                              \
    X(ECORRUPT, 6, "data corruption detected")                                                     \
    X(ENOSPC, 7, "no space left")                                                                  \
    X(EIO, 8, "input/output error")                                                                \
    X(ENOTFOUND, 9, "not found")                                                                   \
    X(ECOMPACTED, 10, "requested revision has been compacted")                                     \
    X(ETIMEDOUT, 11, "timed out")                                                                  \
    X(ETOOBIG, 12, "too large")                                                                    \
    X(ESHUTDOWN, 13, "shutting down")                                                              \
    X(ECANCELED, 14, "canceled")                                                                   \
    X(EEXIST, 15, "already exists")                                                                \
    X(ENOCONN, 16, "no connection")                                                                \
    X(ELEADERLESS, 17, "no leader is known")                                                       \
    X(EDROPPED, 18, "entry was overwritten by another leader")                                     \
    X(ECONFIG, 19, "bad configuration")                                                            \
    X(EFAILED, 20, "precondition failed")

enum {
#define RAFT_ERR_ENUM(name, value, msg) RAFT_##name = -(value),
    RAFT_ERR_TABLE(RAFT_ERR_ENUM)
#undef RAFT_ERR_ENUM
};

/* Human-readable message for code; "unknown error" for codes not in the
 * table. Returns a static string. Any thread. */
const char *raft_err_str(int code);

/* Symbolic name ("ENOMEM") for code; "E?" for codes not in the table. */
const char *raft_err_name(int code);

#endif /* RAFT_BASE_ERR_H */
