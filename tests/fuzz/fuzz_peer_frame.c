/* SPDX-License-Identifier: MIT */
/* fuzz_peer_frame: a frame body from a peer into coord/codec_peer.c, and
 * the messages it decodes into a Raft core, as coord/transport.c and
 * coord/node.c do.
 *
 * Input: one flags byte, then the body. With bit 0 of the flags set the
 * target appends the crc32c trailer itself (peer.proto field 15: tag 0x7d,
 * then the CRC-32C of the body bytes before it), so mutations reach past the
 * CRC check; with it clear the body is taken as it is, trailer and all.
 *
 * Properties, for every input:
 *   - nothing crashes, leaks or trips ASan/UBSan;
 *   - the decoder returns 0 or RAFT_EPROTO; on 0 the frame is a hello, a
 *     keepalive, or messages and/or one chunk, and every message passes
 *     coord_codec_peer_check();
 *   - what decoded encodes again (hello, keepalive, messages as a batch,
 *     chunk) and decodes to the same structs; encoding those gives the same
 *     bytes (a fixpoint);
 *   - the messages a transport would hand on (from peer 2 or 3 to this node,
 *     1) go through raft_step() of a started follower of {1, 2, 3}: any
 *     result but a crash or an invariant broken is fine. */
#include <stdbool.h>
#include <string.h>

#include "coord/codec_peer.h"
#include "coord/frame.h"
#include "coord/storage/crc32c.h"
#include "raft/base/alloc.h"
#include "tests/fuzz/fuzz.h"

#define FLAG_FIX_CRC 0x01u
#define TAG_CRC      0x7du      /* PeerFrame.crc32c: field 15, fixed32 */
#define TRAILER_LEN  5u         /* its tag and 4 bytes */
#define BODY_MAX     (1u << 20) /* inputs are far smaller; bounds the copy */
#define SELF         1u         /* the node the messages are for */
#define NOW_MS       100000u

static bool buf_eq(const struct raft_buf *a, const struct raft_buf *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->base, b->base, a->len) == 0);
}

static bool msg_eq(const struct raft_msg *a, const struct raft_msg *b)
{
    uint32_t i;

    if (a->type != b->type || a->from != b->from || a->to != b->to || a->term != b->term ||
        a->index != b->index || a->log_term != b->log_term || a->commit != b->commit ||
        a->hint_index != b->hint_index || a->hint_term != b->hint_term || a->ctx != b->ctx ||
        a->reject != b->reject || a->transfer != b->transfer || a->n_entries != b->n_entries ||
        (a->snapshot == NULL) != (b->snapshot == NULL)) {
        return false;
    }
    for (i = 0; i < a->n_entries; i++) {
        const struct raft_entry *x = &a->entries[i];
        const struct raft_entry *y = &b->entries[i];

        if (x->term != y->term || x->index != y->index || x->type != y->type ||
            !buf_eq(&x->data, &y->data)) {
            return false;
        }
    }
    return a->snapshot == NULL ||
           (a->snapshot->index == b->snapshot->index && a->snapshot->term == b->snapshot->term &&
            raft_conf_equal(&a->snapshot->conf, &b->snapshot->conf));
}

static bool chunk_eq(const struct coord_peer_chunk *a, const struct coord_peer_chunk *b)
{
    return a->snapshot_index == b->snapshot_index && a->offset == b->offset &&
           a->total_len == b->total_len && a->last == b->last && buf_eq(&a->data, &b->data) &&
           (a->msg == NULL) == (b->msg == NULL) && (a->msg == NULL || msg_eq(a->msg, b->msg));
}

/* Decode a whole frame an encoder wrote (header included); it must decode. */
static void decode_encoded(const struct raft_buf *frame, struct coord_peer_frame *f)
{
    struct raft_buf body;
    int rv;

    FUZZ_CHECK(frame->len >= COORD_FRAME_HEADER_LEN);
    body.base = (uint8_t *)frame->base + COORD_FRAME_HEADER_LEN;
    body.len = frame->len - COORD_FRAME_HEADER_LEN;
    FUZZ_CHECK(coord_frame_header_decode(frame->base) == body.len);
    rv = coord_codec_peer_decode(&body, f);
    FUZZ_CHECKF(rv == 0, "an encoded frame does not decode: %s", raft_err_name(rv));
}

/* Encode the decoded frame's parts again and compare. */
static void check_roundtrip(const struct coord_peer_frame *f)
{
    struct coord_peer_frame g;
    struct raft_buf a = {0};
    struct raft_buf b = {0};
    size_t i;

    if (f->has_hello) {
        FUZZ_CHECK(coord_codec_peer_encode_hello(&f->hello, &a) == 0);
        decode_encoded(&a, &g);
        FUZZ_CHECK(g.has_hello && g.hello.version == f->hello.version &&
                   g.hello.cluster_id == f->hello.cluster_id &&
                   g.hello.node_id == f->hello.node_id && g.hello.to_id == f->hello.to_id);
        FUZZ_CHECK(coord_codec_peer_encode_hello(&g.hello, &b) == 0);
        FUZZ_CHECK(buf_eq(&a, &b));
        coord_codec_peer_frame_free(&g);
        raft_free(a.base);
        raft_free(b.base);
        return;
    }
    if (f->n_msgs == 0 && !f->has_chunk) {
        FUZZ_CHECK(coord_codec_peer_encode_keepalive(&a) == 0);
        decode_encoded(&a, &g);
        FUZZ_CHECK(!g.has_hello && g.n_msgs == 0 && !g.has_chunk);
        coord_codec_peer_frame_free(&g);
        raft_free(a.base);
        return;
    }
    if (f->n_msgs > 0) {
        int rv = coord_codec_peer_encode_msgs(f->msgs, f->n_msgs, COORD_FRAME_MAX, &a);

        FUZZ_CHECKF(rv == 0, "decoded messages do not encode: %s", raft_err_name(rv));
        decode_encoded(&a, &g);
        FUZZ_CHECK(g.n_msgs == f->n_msgs && !g.has_chunk && !g.has_hello);
        for (i = 0; i < f->n_msgs; i++) {
            FUZZ_CHECKF(msg_eq(&f->msgs[i], &g.msgs[i]), "message %zu changed", i);
        }
        FUZZ_CHECK(coord_codec_peer_encode_msgs(g.msgs, g.n_msgs, COORD_FRAME_MAX, &b) == 0);
        FUZZ_CHECK(buf_eq(&a, &b));
        coord_codec_peer_frame_free(&g);
        raft_free(a.base);
        raft_free(b.base);
    }
    if (f->has_chunk) {
        int rv = coord_codec_peer_encode_chunk(&f->chunk, &a);

        FUZZ_CHECKF(rv == 0, "a decoded chunk does not encode: %s", raft_err_name(rv));
        decode_encoded(&a, &g);
        FUZZ_CHECK(g.has_chunk && g.n_msgs == 0 && chunk_eq(&f->chunk, &g.chunk));
        FUZZ_CHECK(coord_codec_peer_encode_chunk(&g.chunk, &b) == 0);
        FUZZ_CHECK(buf_eq(&a, &b));
        coord_codec_peer_frame_free(&g);
        raft_free(a.base);
        raft_free(b.base);
    }
}

/* A follower of {1, 2, 3} with an empty log. */
static struct raft *follower(void)
{
    struct raft_snapshot_meta boot;
    struct raft_config cfg;
    struct raft_event ev = {.type = RAFT_EV_START, .now = NOW_MS};
    struct raft_update up;
    struct raft *r;
    raft_id id;

    memset(&boot, 0, sizeof boot);
    for (id = 1; id <= 3; id++) {
        FUZZ_CHECK(raft_conf_add(&boot.conf, id, RAFT_VOTER, id == 1 ? "n1" : "nx") == 0);
    }
    raft_config_default(&cfg);
    cfg.id = SELF;
    cfg.seed = 1;
    FUZZ_CHECK(raft_new(&cfg, &r) == 0);
    ev.start.snapshot = &boot;
    FUZZ_CHECK(raft_step(r, &ev, &up) == 0);
    return r;
}

/* What the transport lets through reaches the core (transport.c checks
 * from and to against the connection). */
static void step_msgs(const struct coord_peer_frame *f)
{
    struct raft *r = NULL;
    struct raft_update up;
    size_t i;

    for (i = 0; i < f->n_msgs + (f->has_chunk && f->chunk.msg != NULL ? 1 : 0); i++) {
        const struct raft_msg *m = i < f->n_msgs ? &f->msgs[i] : f->chunk.msg;
        struct raft_event ev = {.type = RAFT_EV_RECEIVE, .now = NOW_MS + i};
        int rv;

        if (m->to != SELF || (m->from != 2 && m->from != 3)) {
            continue;
        }
        if (r == NULL) {
            r = follower();
        }
        ev.receive.msg = m;
        rv = raft_step(r, &ev, &up);
        FUZZ_CHECKF(rv == 0 || rv == RAFT_ENOMEM, "raft_step on a received message: %s",
                    raft_err_name(rv));
    }
    raft_destroy(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t body[BODY_MAX + TRAILER_LEN];
    long live = raft_alloc_live();
    struct coord_peer_frame f;
    struct raft_buf in;
    int rv;

    fuzz_input(data, size);
    if (size < 1 || size - 1 > BODY_MAX) {
        return 0;
    }
    in.base = body;
    in.len = size - 1;
    memcpy(body, data + 1, in.len);
    if (data[0] & FLAG_FIX_CRC) {
        uint32_t crc = coord_crc32c(0, body, in.len);

        body[in.len] = TAG_CRC;
        body[in.len + 1] = (uint8_t)crc;
        body[in.len + 2] = (uint8_t)(crc >> 8);
        body[in.len + 3] = (uint8_t)(crc >> 16);
        body[in.len + 4] = (uint8_t)(crc >> 24);
        in.len += TRAILER_LEN;
    }
    rv = coord_codec_peer_decode(&in, &f);
    FUZZ_CHECKF(rv == 0 || rv == RAFT_EPROTO, "decode: %s", raft_err_name(rv));
    if (rv == 0) {
        size_t i;

        FUZZ_CHECK(!f.has_hello || (f.n_msgs == 0 && !f.has_chunk));
        for (i = 0; i < f.n_msgs; i++) {
            FUZZ_CHECK(coord_codec_peer_check(&f.msgs[i]) == 0);
        }
        FUZZ_CHECK(!f.has_chunk || f.chunk.msg == NULL || coord_codec_peer_check(f.chunk.msg) == 0);
        check_roundtrip(&f);
        step_msgs(&f);
    }
    coord_codec_peer_frame_free(&f);
    FUZZ_CHECK_NO_LEAK(live);
    return 0;
}
