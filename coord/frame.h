/* SPDX-License-Identifier: MIT */
/* frame: length-prefixed framing shared by the peer and client ports. A frame
 * is a 4-byte big-endian length, then that many bytes (one protobuf message).
 * This module cuts a byte stream into frames; it knows nothing of what the
 * frames hold and does no I/O.
 *
 * The header shapes bytes on the wire: changing its size or byte order breaks
 * every peer and client of other versions. */
#ifndef COORD_FRAME_H
#define COORD_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/base/buf.h"

#define COORD_FRAME_HEADER_LEN 4u          /* bytes of the length prefix */
#define COORD_FRAME_MAX        0xffffffffu /* largest length the header can express */

/* Write the header of a frame of len body bytes to out[0..3]. len must be at
 * most COORD_FRAME_MAX. Any thread. */
void coord_frame_header_encode(uint8_t *out, size_t len);

/* Read the length of the header in[0..3]. Any thread. */
uint32_t coord_frame_header_decode(const uint8_t *in);

/* An incremental decoder for one connection. Feed it whatever a read
 * returned, split anywhere; it hands out complete frame bodies.
 *
 * A frame that lies whole inside the bytes fed is handed out as a view into
 * them (no copy). A frame split across reads is assembled in a buffer the
 * reader owns, grown as its bytes arrive (never sized from the announced
 * length alone), so a peer that announces a large frame and sends nothing
 * costs nothing. The assembly buffer is kept for the next frame up to
 * COORD_FRAME_KEEP bytes and freed beyond that.
 *
 * After any error the reader is failed: coord_frame_reader_next() returns the
 * same error again and the caller closes the connection. */
struct coord_frame_reader {
    size_t max_len;  /* largest accepted body, <= COORD_FRAME_MAX */
    uint8_t hdr[4];  /* header bytes of a split header */
    size_t hdr_len;  /* bytes in hdr, < COORD_FRAME_HEADER_LEN */
    bool in_body;    /* a header was read; body_len is valid */
    size_t body_len; /* announced length of the current frame, <= max_len */
    uint8_t *buf;    /* owned: assembly buffer of a split body, or NULL */
    size_t buf_len;  /* bytes of the current body in buf */
    size_t buf_cap;  /* allocated bytes of buf */
    int err;         /* 0, or the sticky error */
};

#define COORD_FRAME_KEEP (256u << 10) /* assembly buffer kept between frames */

/* Prepare r to accept bodies of at most max_len bytes (<= COORD_FRAME_MAX).
 * Never fails; allocates nothing. Any thread, one owner at a time. */
void coord_frame_reader_init(struct coord_frame_reader *r, size_t max_len);

/* Change the largest accepted body from the next header on (e.g. after a
 * handshake). A frame whose header is already read keeps its length. */
void coord_frame_reader_set_max(struct coord_frame_reader *r, size_t max_len);

/* Release the assembly buffer. A zeroed reader is a no-op. Never fails. */
void coord_frame_reader_close(struct coord_frame_reader *r);

/* Consume bytes from *in (advancing in->base and shrinking in->len) until one
 * frame is complete or *in is empty.
 * Returns 1 with *frame set to the frame's body, 0 when *in is used up
 * without completing a frame (bytes kept for the next call), or an error.
 * *frame returns view: valid until the next call on r and, when it points
 * into *in, while the caller's input bytes are unchanged. A zero-length frame
 * gives len 0 and a non-NULL base.
 * Errors: RAFT_ETOOBIG (a header announces more than max_len: close the
 * connection; nothing was allocated for it), RAFT_ENOMEM. Both are sticky. */
int coord_frame_reader_next(struct coord_frame_reader *r, struct raft_buf *in,
                            struct raft_buf *frame);

#endif /* COORD_FRAME_H */
