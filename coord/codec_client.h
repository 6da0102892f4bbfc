/* SPDX-License-Identifier: MIT */
/* codec_client: the frames of coordd's client port (proto/coord.proto
 * ClientFrame) <-> plain structs, for coord/server.c. The only file that
 * includes the generated coord.pb-c.h. It decodes requests, packs the
 * Command a write proposes straight from the client's own sub-message, and
 * appends encoded response frames (4-byte big-endian length + ClientFrame)
 * to an output buffer. It does no I/O and knows nothing of the node.
 *
 * Memory: everything decoded, and the temporary structures of encoding,
 * live in an arena that the codec owns and coord_codec_client_reset()
 * releases at once (STYLE.md: one arena per request). Once warm, decoding
 * and encoding allocate nothing but output bytes.
 *
 * ON THE WIRE: what this file writes is the client protocol; coord.proto
 * says what may never change. */
#ifndef COORD_CODEC_CLIENT_H
#define COORD_CODEC_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coord/cmd.h"
#include "coord/node.h"
#include "raft/raft.h"

#define COORD_API_VERSION 1u /* ClientFrame.version written and accepted (absent = 1) */

/* What a request asks for. Values are this header's, not the wire's. */
enum coord_api_op {
    COORD_API_NONE = 0, /* decoded, but cannot be served: see invalid */
    COORD_API_PUT = 1,
    COORD_API_RANGE = 2,
    COORD_API_DELETE_RANGE = 3,
    COORD_API_TXN = 4,
    COORD_API_STATUS = 5,
    COORD_API_MEMBER_CHANGE = 6,
    COORD_API_LEADER_TRANSFER = 7,
};

/* One decoded request. Every pointer returns view: valid until the next
 * coord_codec_client_reset() of the codec that decoded it. */
struct coord_api_request {
    uint64_t id;         /* the client's id, echoed in the answer; 0 when absent */
    uint32_t timeout_ms; /* 0 = the node's default */
    bool serializable;   /* reads: no ReadIndex round */
    bool no_forward;     /* writes on a follower: answer ENOTLEADER, do not forward */
    uint8_t op;          /* enum coord_api_op */
    const char *invalid; /* op NONE: why it cannot be served (static text), else NULL */
    /* RANGE: the key range and limit, as sent (not validated here). */
    struct raft_buf key;
    struct raft_buf range_end;
    uint64_t limit;
    /* MEMBER_CHANGE: conf_op is an enum raft_conf_op, checked to be one. */
    uint8_t conf_op;
    uint64_t member_id;
    const char *peer_addr;   /* "" when absent */
    const char *client_addr; /* "" when absent */
    /* LEADER_TRANSFER */
    uint64_t transfer_to; /* 0 = the most up-to-date voter */
    const void *pb;       /* private: the decoded Request */
};

/* A decoded response (from a leader we forwarded to): its id, and the whole
 * message for coord_codec_client_relay(). View until the next reset. */
struct coord_api_response {
    uint64_t id;
    uint32_t error; /* its error, a positive RAFT_E* number, 0 = success */
    const void *pb; /* private */
};

/* Everything of an answer but its result. */
struct coord_api_header {
    uint64_t id;              /* the request's id */
    int error;                /* 0 or a RAFT_E* code (written as a positive number) */
    const char *message;      /* detail of the error, or NULL */
    uint64_t leader_id;       /* 0: not written */
    const char *leader_addr;  /* NULL or "": not written */
    uint64_t revision;        /* 0: not written */
    raft_index applied_index; /* 0: not written */
};

/* Bytes of encoded frames, appended to. Owned by whoever holds the struct:
 * release with coord_codec_client_out_free(). A zeroed one is empty. */
struct coord_api_out {
    uint8_t *base;
    size_t len; /* bytes of complete frames */
    size_t cap; /* bytes allocated */
};

struct coord_codec_client; /* opaque: the arena */

/* A codec with an empty arena; *out returns owned (coord_codec_client_free).
 * Errors: RAFT_ENOMEM. Any thread, one owner at a time (all below too). */
int coord_codec_client_new(struct coord_codec_client **out);

/* Free cc and its arena. NULL is a no-op. */
void coord_codec_client_free(struct coord_codec_client *cc);

/* Release everything decoded or built since the last reset: every view
 * handed out dies. Keeps up to 1 MiB of the arena for the next request. */
void coord_codec_client_reset(struct coord_codec_client *cc);

/* Decode one frame body (borrowed; not referenced afterwards) into *req.
 * Returns 0 with op NONE and invalid set for a frame that decoded but is no
 * request this node serves (a version other than 1, no request, no op, an
 * unknown member change op); req->id is set when the frame had one.
 * Bytes from a client can never crash it.
 * Errors: RAFT_EPROTO (not a ClientFrame), RAFT_ENOMEM. */
int coord_codec_client_decode(struct coord_codec_client *cc, const struct raft_buf *body,
                              struct coord_api_request *req);

/* Pack the command.proto Command a write request (PUT, DELETE_RANGE, TXN)
 * proposes: version 1, the request's RequestId, time_ms and the client's
 * operation, unchanged. *out returns view into the arena (until reset).
 * Errors: RAFT_EINVAL (req is not a write), RAFT_ENOMEM. */
int coord_codec_client_command(struct coord_codec_client *cc, const struct coord_api_request *req,
                               uint64_t time_ms, struct raft_buf *out);

/* Append to out the frame that forwards req (decoded by cc, not yet reset)
 * to the leader: the client's request unchanged but for its id (id), its
 * timeout (timeout_ms) and no_forward (set, so the leader never forwards it
 * again). Errors: RAFT_ENOMEM (out unchanged). */
int coord_codec_client_forward(struct coord_codec_client *cc, const struct coord_api_request *req,
                               uint64_t id, uint32_t timeout_ms, struct coord_api_out *out);

/* Append an answer without a result (errors, member changes, transfers).
 * Errors: RAFT_ENOMEM (out unchanged). */
int coord_codec_client_answer(struct coord_codec_client *cc, const struct coord_api_header *h,
                              struct coord_api_out *out);

/* Append the answer to a write from what applying it did (res borrowed):
 * for a txn (txn true) a TxnResult with one KeyValues per operation run,
 * else the KeyValues of its one operation (prev kvs, deleted count).
 * Errors: RAFT_ENOMEM (out unchanged). */
int coord_codec_client_answer_cmd(struct coord_codec_client *cc, const struct coord_api_header *h,
                                  const struct coord_cmd_result *res, bool txn,
                                  struct coord_api_out *out);

/* Append the answer to a range: n kvs (borrowed) and whether a limit cut it.
 * Errors: RAFT_ENOMEM (out unchanged). */
int coord_codec_client_answer_kvs(struct coord_codec_client *cc, const struct coord_api_header *h,
                                  const struct coord_kv *kvs, size_t n, bool more,
                                  struct coord_api_out *out);

/* Append a NodeStatus answer built from st (borrowed). Role names:
 * "leader", "follower", "candidate", "precandidate", and "learner" when
 * st->learner. Errors: RAFT_ENOMEM (out unchanged). */
int coord_codec_client_answer_status(struct coord_codec_client *cc,
                                     const struct coord_api_header *h,
                                     const struct coord_node_status *st, struct coord_api_out *out);

/* Decode a frame body (borrowed) that should hold a Response.
 * Errors: RAFT_EPROTO (not a ClientFrame, or no response in it),
 * RAFT_ENOMEM. */
int coord_codec_client_decode_response(struct coord_codec_client *cc, const struct raft_buf *body,
                                       struct coord_api_response *resp);

/* Append resp (decoded by cc, not yet reset) unchanged but for its id.
 * Errors: RAFT_ENOMEM (out unchanged). */
int coord_codec_client_relay(struct coord_codec_client *cc, const struct coord_api_response *resp,
                             uint64_t id, struct coord_api_out *out);

/* Release out's bytes and zero it. A zeroed one is a no-op. */
void coord_codec_client_out_free(struct coord_api_out *out);

#endif /* COORD_CODEC_CLIENT_H */
