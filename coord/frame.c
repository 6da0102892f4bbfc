/* SPDX-License-Identifier: MIT */
/* frame: the 4-byte big-endian length prefix, and a decoder that cuts a byte
 * stream into frames with at most one copy and no allocation sized by what a
 * peer merely announces. */
#include "coord/frame.h"

#include <string.h>

#include "raft/base/alloc.h"
#include "raft/base/assert.h"
#include "raft/base/err.h"

#define MIN_GROW 4096u /* smallest assembly buffer worth allocating */

_Static_assert(COORD_FRAME_HEADER_LEN == sizeof(uint32_t), "the header is one uint32");

void coord_frame_header_encode(uint8_t *out, size_t len)
{
    RAFT_ASSERT(len <= COORD_FRAME_MAX);
    out[0] = (uint8_t)(len >> 24);
    out[1] = (uint8_t)(len >> 16);
    out[2] = (uint8_t)(len >> 8);
    out[3] = (uint8_t)len;
}

uint32_t coord_frame_header_decode(const uint8_t *in)
{
    return (uint32_t)in[0] << 24 | (uint32_t)in[1] << 16 | (uint32_t)in[2] << 8 | (uint32_t)in[3];
}

void coord_frame_reader_init(struct coord_frame_reader *r, size_t max_len)
{
    RAFT_ASSERT(max_len <= COORD_FRAME_MAX);
    memset(r, 0, sizeof *r);
    r->max_len = max_len;
}

void coord_frame_reader_set_max(struct coord_frame_reader *r, size_t max_len)
{
    RAFT_ASSERT(max_len <= COORD_FRAME_MAX);
    r->max_len = max_len;
}

void coord_frame_reader_close(struct coord_frame_reader *r)
{
    raft_free(r->buf);
    r->buf = NULL;
    r->buf_cap = 0;
    r->buf_len = 0;
}

static void consume(struct raft_buf *in, size_t n)
{
    RAFT_ASSERT(n <= in->len);
    in->base = (uint8_t *)in->base + n;
    in->len -= n;
}

/* Read the header from *in; 1 when complete, 0 when more bytes are needed. */
static int read_header(struct coord_frame_reader *r, struct raft_buf *in)
{
    uint32_t len;

    if (r->hdr_len == 0 && in->len >= COORD_FRAME_HEADER_LEN) {
        len = coord_frame_header_decode(in->base);
        consume(in, COORD_FRAME_HEADER_LEN);
    } else {
        size_t take = COORD_FRAME_HEADER_LEN - r->hdr_len;

        take = take < in->len ? take : in->len;
        if (take == 0) {
            return 0; /* memcpy must not see a NULL base, even for 0 bytes */
        }
        memcpy(r->hdr + r->hdr_len, in->base, take);
        r->hdr_len += take;
        consume(in, take);
        if (r->hdr_len < COORD_FRAME_HEADER_LEN) {
            return 0;
        }
        len = coord_frame_header_decode(r->hdr);
        r->hdr_len = 0;
    }
    if (len > r->max_len) {
        r->err = RAFT_ETOOBIG;
        return r->err;
    }
    r->in_body = true;
    r->body_len = len;
    r->buf_len = 0;
    return 1;
}

/* Make room for need bytes of the current body in buf: grow geometrically,
 * but never beyond the announced length and never ahead of what arrived. */
static int reserve(struct coord_frame_reader *r, size_t need)
{
    size_t cap;
    uint8_t *p;

    RAFT_ASSERT(need <= r->body_len);
    if (need <= r->buf_cap) {
        return 0;
    }
    cap = r->buf_cap * 2 > MIN_GROW ? r->buf_cap * 2 : MIN_GROW;
    cap = cap > need ? cap : need;
    cap = cap < r->body_len ? cap : r->body_len;
    p = raft_realloc(r->buf, cap);
    if (p == NULL) {
        r->err = RAFT_ENOMEM;
        return r->err;
    }
    r->buf = p;
    r->buf_cap = cap;
    return 0;
}

int coord_frame_reader_next(struct coord_frame_reader *r, struct raft_buf *in,
                            struct raft_buf *frame)
{
    size_t take;
    int rv;

    if (r->err != 0) {
        return r->err;
    }
    if (!r->in_body) {
        if (r->buf_cap > COORD_FRAME_KEEP) {
            coord_frame_reader_close(r); /* the last frame's view is no longer promised */
        }
        rv = read_header(r, in);
        if (rv <= 0) {
            return rv;
        }
    }
    RAFT_ASSERT(r->in_body && r->buf_len <= r->body_len);
    if (r->buf_len == 0 && in->len >= r->body_len) {
        /* The whole body is in the caller's bytes: hand out a view. */
        frame->base = r->body_len > 0 ? in->base : (void *)r->hdr;
        frame->len = r->body_len;
        consume(in, r->body_len);
        r->in_body = false;
        return 1;
    }
    take = r->body_len - r->buf_len;
    take = take < in->len ? take : in->len;
    if (take == 0) {
        return 0;
    }
    rv = reserve(r, r->buf_len + take);
    if (rv != 0) {
        return rv;
    }
    memcpy(r->buf + r->buf_len, in->base, take);
    r->buf_len += take;
    consume(in, take);
    if (r->buf_len < r->body_len) {
        return 0;
    }
    frame->base = r->buf;
    frame->len = r->body_len;
    r->in_body = false;
    r->buf_len = 0;
    return 1;
}
