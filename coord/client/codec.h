/* SPDX-License-Identifier: MIT */
/* codec: libcoord's side of proto/coord.proto. Encodes one request into a
 * whole frame (length header included) and decodes one response frame body
 * into a struct coord_result whose memory lives in an arena. The only file of
 * coord/client/ that includes generated protobuf-c code; it does no I/O.
 *
 * The bytes it writes and reads are the client wire protocol: changing how a
 * field is filled breaks coordd's client port (coord/server.c). */
#ifndef COORD_CLIENT_CODEC_H
#define COORD_CLIENT_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coord/client/client.h"
#include "raft/base/buf.h"

#define COORD_CLIENT_WIRE_VERSION 1u /* ClientFrame.version written and accepted */

/* ---- arena ----------------------------------------------------------------------------
 * A bump allocator for everything one answer points to: protobuf-c's unpacked
 * message, the converted arrays, formatted messages. Freed all at once by
 * coord_client_arena_reset(), which keeps one chunk (up to
 * COORD_CLIENT_ARENA_KEEP bytes) so that steady traffic allocates nothing. */

struct coord_client_arena_chunk;

struct coord_client_arena {
    struct coord_client_arena_chunk *head; /* owned: the chunk being filled, then older ones */
};

#define COORD_CLIENT_ARENA_KEEP (256u << 10) /* bytes of the chunk kept by reset */

/* A zeroed arena is an empty one. Never fails. */
void coord_client_arena_init(struct coord_client_arena *a);

/* size bytes aligned for any type, or NULL (out of memory). Returns view:
 * valid until the next reset or close of a. */
void *coord_client_arena_alloc(struct coord_client_arena *a, size_t size);

/* A copy of the NUL-terminated s in a, or NULL (out of memory). */
char *coord_client_arena_strdup(struct coord_client_arena *a, const char *s);

/* Free what a holds, keeping one chunk for reuse. Never fails. */
void coord_client_arena_reset(struct coord_client_arena *a);

/* Free everything; a becomes empty. A zeroed arena is a no-op. */
void coord_client_arena_close(struct coord_client_arena *a);

/* Exchange the contents of a and b (moves an answer's memory to a keeper). */
void coord_client_arena_swap(struct coord_client_arena *a, struct coord_client_arena *b);

/* ---- requests -------------------------------------------------------------------------- */

enum coord_client_op {
    COORD_CLIENT_OP_PUT = 1,
    COORD_CLIENT_OP_RANGE = 2,
    COORD_CLIENT_OP_DEL = 3,
    COORD_CLIENT_OP_STATUS = 4,
    COORD_CLIENT_OP_MEMBER = 5,
    COORD_CLIENT_OP_TRANSFER = 6,
};

/* One request as plain C. Every pointer is borrowed by the encoder. The
 * caller has checked the limits (key sizes, flags, member op). */
struct coord_client_req_desc {
    uint64_t id;              /* Request.id */
    uint32_t timeout_ms;      /* Request.timeout_ms */
    uint8_t op;               /* enum coord_client_op */
    bool serializable;        /* RANGE */
    bool no_forward;          /* PUT, DEL */
    bool prev_kv;             /* PUT, DEL */
    const uint8_t *key;       /* PUT, RANGE, DEL: 1.. bytes */
    size_t key_len;           /* bytes */
    const uint8_t *value;     /* PUT */
    size_t value_len;         /* bytes */
    const uint8_t *range_end; /* RANGE, DEL: NULL or len 0 = only key */
    size_t range_end_len;     /* bytes */
    uint64_t limit;           /* RANGE: 0 = the node's maximum */
    uint8_t member_op;        /* MEMBER: enum coord_member_op */
    uint64_t target;          /* MEMBER: the node's id; TRANSFER: to */
    const char *peer_addr;    /* MEMBER ADD_LEARNER, else NULL */
    const char *client_addr;  /* MEMBER ADD_LEARNER, NULL = none */
};

/* Encode d as one whole frame: the 4-byte length header, then a
 * ClientFrame{version, request}. *buf (owned by the caller, raft_malloc'ed,
 * *cap bytes, may be NULL with *cap 0) is grown with raft_realloc when too
 * small; *len is set to the frame's length.
 * Errors: RAFT_ENOMEM (*buf unchanged). Any thread. */
int coord_client_codec_encode(const struct coord_client_req_desc *d, uint8_t **buf, size_t *cap,
                              size_t *len);

/* ---- responses ------------------------------------------------------------------------- */

/* What one frame from a node held. */
struct coord_client_answer {
    bool response;           /* false: a frame the client does not use (watch events) */
    uint64_t id;             /* Response.id */
    struct coord_result res; /* every field but endpoint; views into the arena */
};

/* Decode one frame body. Everything out->res points to is allocated in a
 * (returns view: until a is reset). Unknown error numbers come through as
 * negative numbers all the same; raft_err_str() names them "unknown".
 * Errors: RAFT_EPROTO (not a ClientFrame, a version other than 1, a request,
 * or an error number beyond int), RAFT_ENOMEM. Any thread. */
int coord_client_codec_decode(const struct raft_buf *body, struct coord_client_arena *a,
                              struct coord_client_answer *out);

#endif /* COORD_CLIENT_CODEC_H */
