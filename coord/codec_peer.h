/* SPDX-License-Identifier: MIT */
/* codec_peer: struct raft_msg and the handshake <-> proto/peer.proto frames
 * (protobuf-c). The only file that includes proto/peer.pb-c.h. It guarantees
 * well-formed structs, not meaningful ones: the Raft core validates
 * semantics again, and coord/transport.c checks who may send what.
 *
 * Encoders produce whole frames: the 4-byte header of coord/frame.h, then the
 * PeerFrame, whose last 5 bytes are its crc32c field (peer.proto). The
 * decoder takes a frame body (what coord_frame_reader_next() hands out),
 * without the header, and checks that CRC before anything else. */
#ifndef COORD_CODEC_PEER_H
#define COORD_CODEC_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

#define COORD_PEER_VERSION     1u          /* the peer protocol version this code speaks */
#define COORD_PEER_MAX_MSGS    4096u       /* messages in one frame */
#define COORD_PEER_MAX_ENTRIES 65536u      /* entries in one frame, all messages together */
#define COORD_PEER_MAX_CHUNK   (16u << 20) /* data bytes of one snapshot chunk */
#define COORD_PEER_HELLO_MAX                                                                       \
    256u /* body bytes of a Hello frame; readers set their                                         \
          * limit to this until the handshake is done */

/* The handshake (peer.proto Hello). */
struct coord_peer_hello {
    uint32_t version;    /* protocol version the sender speaks, > 0 */
    uint64_t cluster_id; /* 0 = not yet known */
    raft_id node_id;     /* the sender, > 0 */
    raft_id to_id;       /* whom the sender believes it reached; 0 = unknown */
};

/* A piece of a snapshot file (peer.proto SnapshotChunk). */
struct coord_peer_chunk {
    raft_index snapshot_index;  /* > 0 */
    uint64_t offset;            /* bytes, offset of data in the file */
    uint64_t total_len;         /* bytes of the whole file; offset + data.len <= total_len */
    struct raft_buf data;       /* at most COORD_PEER_MAX_CHUNK bytes */
    bool last;                  /* offset + data.len == total_len */
    const struct raft_msg *msg; /* last chunk: the RAFT_MSG_SNAPSHOT message with
                                 * snapshot->index == snapshot_index (its snapshot_data
                                 * is not sent); NULL on the others */
};

/* A decoded frame: a hello, or messages and/or one chunk, or nothing (a
 * keepalive: no hello, no messages, no chunk). */
struct coord_peer_frame {
    uint32_t version; /* the frame's protocol version */
    bool has_hello;
    struct coord_peer_hello hello;
    struct raft_msg *msgs; /* n_msgs messages in send order, never RAFT_MSG_SNAPSHOT */
    size_t n_msgs;
    bool has_chunk;
    struct coord_peer_chunk chunk;
    void *pb;    /* private: the unpacked protobuf, owner of entry and chunk bytes */
    void *arena; /* private: msgs, entries and snapshot meta in one block */
};

/* Decode one frame body. Every pointer in *f (msgs, their entries and
 * snapshot, entry data, chunk data and msg) returns view: valid until
 * coord_codec_peer_frame_free(f). On error *f holds nothing to free (freeing
 * it anyway is a no-op). Checks the framing rules of peer.proto: the crc32c
 * trailer (so a truncated or corrupted body always fails), a version,
 * a hello alone or messages/chunk without a hello, known message types, ids
 * > 0, entries only in APPEND (term, index > 0, known type), a snapshot meta
 * exactly in SNAPSHOT (at most RAFT_MAX_SERVERS servers sorted by id, ids
 * > 0, known roles, addresses < RAFT_ADDR_MAX bytes), chunk offsets within
 * total_len, and the limits above. Any thread.
 * Errors: RAFT_EPROTO (malformed), RAFT_ENOMEM. */
int coord_codec_peer_decode(const struct raft_buf *body, struct coord_peer_frame *f);

/* Release what a decode left in f and zero it. Zeroed f: no-op. Never fails. */
void coord_codec_peer_frame_free(struct coord_peer_frame *f);

/* Whether m (borrowed) can be encoded: in a batch, or, when it is a
 * RAFT_MSG_SNAPSHOT, in a last chunk. Returns 0 or RAFT_EINVAL. Any thread. */
int coord_codec_peer_check(const struct raft_msg *m);

/* Encode a keepalive frame (a PeerFrame with only its version). *out
 * returns owned (raft_free(out->base)). Any thread. Errors: RAFT_ENOMEM. */
int coord_codec_peer_encode_keepalive(struct raft_buf *out);

/* Encode a Hello frame. *out returns owned: header and body in one block,
 * release with raft_free(out->base). Any thread.
 * Errors: RAFT_EINVAL (version or node_id 0), RAFT_ENOMEM. */
int coord_codec_peer_encode_hello(const struct coord_peer_hello *h, struct raft_buf *out);

/* Encode a frame with one chunk. *out returns owned (raft_free(out->base)).
 * Any thread.
 * Errors: RAFT_EINVAL (breaks a rule of struct coord_peer_chunk or of the
 * decoder above), RAFT_ENOMEM. */
int coord_codec_peer_encode_chunk(const struct coord_peer_chunk *c, struct raft_buf *out);

/* Encode n messages (none of type RAFT_MSG_SNAPSHOT) into one frame of at
 * most max_len body bytes. *out returns owned (raft_free(out->base)). Any
 * thread. Errors: RAFT_EINVAL (a malformed message, n == 0 or over
 * COORD_PEER_MAX_MSGS), RAFT_ETOOBIG (over max_len or the entry limit),
 * RAFT_ENOMEM. */
int coord_codec_peer_encode_msgs(const struct raft_msg *msgs, size_t n, size_t max_len,
                                 struct raft_buf *out);

/* A frame of messages under construction: each message is encoded as it is
 * added (the caller's message may die right after), and the frame grows until
 * it is taken. Used by the transport to batch what one loop iteration sends
 * to a peer into one write. */
struct coord_peer_batch {
    uint8_t *base;    /* owned: header space, then the PeerFrame so far; NULL when empty */
    size_t len;       /* bytes used in base, header included */
    size_t cap;       /* bytes allocated */
    size_t max_len;   /* largest body, <= COORD_FRAME_MAX */
    size_t n_msgs;    /* messages added, <= COORD_PEER_MAX_MSGS */
    size_t n_entries; /* entries of those, <= COORD_PEER_MAX_ENTRIES */
};

/* An empty batch whose frames hold at most max_len body bytes. Allocates
 * nothing; never fails. */
void coord_codec_peer_batch_init(struct coord_peer_batch *b, size_t max_len);

/* Encode m (borrowed) and append it. On error b is unchanged.
 * Errors: RAFT_EINVAL (malformed message or RAFT_MSG_SNAPSHOT), RAFT_EBUSY
 * (b is not empty and m does not fit: take the batch and add m again),
 * RAFT_ETOOBIG (m alone exceeds the limits of an empty batch), RAFT_ENOMEM. */
int coord_codec_peer_batch_add(struct coord_peer_batch *b, const struct raft_msg *m);

/* Finish the frame and hand it out: *out returns owned (raft_free(out->base)),
 * header included; b is empty again. b must hold at least one message. */
void coord_codec_peer_batch_take(struct coord_peer_batch *b, struct raft_buf *out);

/* Drop whatever b holds. A zeroed or empty batch: no-op. Never fails. */
void coord_codec_peer_batch_close(struct coord_peer_batch *b);

#endif /* COORD_CODEC_PEER_H */
