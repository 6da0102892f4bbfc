/* SPDX-License-Identifier: MIT */
/* test_codec_peer: coord/codec_peer.c. Every message type round-trips with
 * every field set; malformed frames, truncations and random bytes give
 * RAFT_EPROTO and never crash; allocation failures are clean.
 *
 * This test includes the generated proto/peer.pb-c.h, as only the codec
 * does otherwise: it plays a hostile peer that packs well-formed protobuf
 * with bad contents. Random inputs come from a seeded PRNG; set
 * COORD_TEST_SEED to replay a failing seed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above. */
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord/codec_peer.h"
#include "coord/frame.h"
#include "coord/storage/crc32c.h"
#include "proto/peer.pb-c.h"
#include "raft/base/alloc.h"
#include "raft/base/rand.h"

#define N_TYPES 12

/* Storage for one test message of each type. */
struct sample {
    struct raft_msg msgs[N_TYPES]; /* msgs[i] has type i + 1 */
    struct raft_entry entries[4];
    uint8_t data[3][40];
    struct raft_snapshot_meta meta;
};

static uint64_t seed_get(void)
{
    const char *s = getenv("COORD_TEST_SEED");

    return s != NULL ? strtoull(s, NULL, 0) : 0x5eed0001u;
}

/* Every field set, with values that differ per type and per field. */
static void sample_init(struct sample *s)
{
    unsigned i;

    memset(s, 0, sizeof *s);
    for (i = 0; i < 3; i++) {
        memset(s->data[i], (int)(0xa0 + i), sizeof s->data[i]);
    }
    s->entries[0] = (struct raft_entry){7, 100, RAFT_ENTRY_NORMAL, {s->data[0], 40}};
    s->entries[1] = (struct raft_entry){7, 101, RAFT_ENTRY_NOOP, {NULL, 0}};
    s->entries[2] = (struct raft_entry){8, 102, RAFT_ENTRY_CONF, {s->data[1], 17}};
    s->entries[3] = (struct raft_entry){8, 103, RAFT_ENTRY_NORMAL, {s->data[2], 1}};
    s->meta.index = 99;
    s->meta.term = 6;
    for (i = 0; i < RAFT_MAX_SERVERS; i++) {
        struct raft_server *sv = &s->meta.conf.servers[i];

        sv->id = 10 + i * 3;
        sv->role = i % 3 == 0 ? RAFT_LEARNER : RAFT_VOTER;
        /* The longest address allowed: 63 bytes and the NUL. */
        memset(sv->address, 'a' + (int)i, RAFT_ADDR_MAX - 1);
        sv->address[RAFT_ADDR_MAX - 1] = '\0';
    }
    s->meta.conf.n = RAFT_MAX_SERVERS;
    for (i = 0; i < N_TYPES; i++) {
        struct raft_msg *m = &s->msgs[i];

        m->type = (uint8_t)(i + 1);
        m->from = 1 + i;
        m->to = 2 + i;
        m->term = 1000 + i;
        m->index = 2000 + i;
        m->log_term = 3000 + i;
        m->commit = 4000 + i;
        m->hint_index = 5000 + i;
        m->hint_term = 6000 + i;
        m->ctx = 0xffffffffffffff00u + i; /* a large varint */
        m->reject = true;
        m->transfer = true;
        if (m->type == RAFT_MSG_APPEND) {
            m->entries = s->entries;
            m->n_entries = 4;
        }
        if (m->type == RAFT_MSG_SNAPSHOT) {
            m->snapshot = &s->meta;
        }
    }
}

static void assert_msg_equal(const struct raft_msg *a, const struct raft_msg *b)
{
    uint32_t i;

    assert_int_equal(a->type, b->type);
    assert_int_equal(a->from, b->from);
    assert_int_equal(a->to, b->to);
    assert_int_equal(a->term, b->term);
    assert_int_equal(a->index, b->index);
    assert_int_equal(a->log_term, b->log_term);
    assert_int_equal(a->commit, b->commit);
    assert_int_equal(a->hint_index, b->hint_index);
    assert_int_equal(a->hint_term, b->hint_term);
    assert_true(a->ctx == b->ctx);
    assert_int_equal(a->reject, b->reject);
    assert_int_equal(a->transfer, b->transfer);
    assert_int_equal(a->n_entries, b->n_entries);
    for (i = 0; i < a->n_entries; i++) {
        const struct raft_entry *x = &a->entries[i];
        const struct raft_entry *y = &b->entries[i];

        assert_int_equal(x->term, y->term);
        assert_int_equal(x->index, y->index);
        assert_int_equal(x->type, y->type);
        assert_int_equal(x->data.len, y->data.len);
        if (x->data.len > 0) {
            assert_memory_equal(x->data.base, y->data.base, x->data.len);
        }
    }
    assert_int_equal(a->snapshot != NULL, b->snapshot != NULL);
    if (a->snapshot != NULL) {
        assert_int_equal(a->snapshot->index, b->snapshot->index);
        assert_int_equal(a->snapshot->term, b->snapshot->term);
        assert_int_equal(a->snapshot->conf.n, b->snapshot->conf.n);
        assert_memory_equal(&a->snapshot->conf, &b->snapshot->conf, sizeof a->snapshot->conf);
    }
}

/* The body of an encoded frame, after checking its header. */
static struct raft_buf body_of(const struct raft_buf *frame)
{
    struct raft_buf body = {(uint8_t *)frame->base + COORD_FRAME_HEADER_LEN,
                            frame->len - COORD_FRAME_HEADER_LEN};

    assert_true(frame->len >= COORD_FRAME_HEADER_LEN);
    assert_int_equal(coord_frame_header_decode(frame->base), body.len);
    return body;
}

/* The 11 types allowed in a batch, in order. */
static size_t batch_msgs(const struct sample *s, struct raft_msg *out)
{
    size_t n = 0;
    size_t i;

    for (i = 0; i < N_TYPES; i++) {
        if (s->msgs[i].type != RAFT_MSG_SNAPSHOT) {
            out[n++] = s->msgs[i];
        }
    }
    return n;
}

static void test_codec_peer_round_trip_every_message_type(void **state)
{
    struct sample s;
    struct raft_msg msgs[N_TYPES];
    struct raft_buf frame;
    struct raft_buf body;
    struct coord_peer_frame f;
    size_t n;
    size_t i;

    (void)state;
    sample_init(&s);
    n = batch_msgs(&s, msgs);
    assert_int_equal(coord_codec_peer_encode_msgs(msgs, n, 1u << 20, &frame), 0);
    body = body_of(&frame);
    assert_int_equal(coord_codec_peer_decode(&body, &f), 0);
    assert_false(f.has_hello);
    assert_false(f.has_chunk);
    assert_int_equal(f.version, COORD_PEER_VERSION);
    assert_int_equal(f.n_msgs, n);
    for (i = 0; i < n; i++) {
        assert_msg_equal(&msgs[i], &f.msgs[i]);
    }
    coord_codec_peer_frame_free(&f);
    coord_codec_peer_frame_free(&f); /* twice: a no-op */
    raft_free(frame.base);
    assert_int_equal(raft_alloc_live(), 0);
}

static void test_codec_peer_round_trip_snapshot_chunks(void **state)
{
    struct sample s;
    uint8_t data[1000];
    struct coord_peer_chunk c = {99, 5000, 6000, {data, sizeof data}, true, NULL};
    struct raft_buf frame;
    struct raft_buf body;
    struct coord_peer_frame f;

    (void)state;
    sample_init(&s);
    memset(data, 0x5a, sizeof data);
    c.msg = &s.msgs[RAFT_MSG_SNAPSHOT - 1];
    assert_int_equal(coord_codec_peer_encode_chunk(&c, &frame), 0);
    body = body_of(&frame);
    assert_int_equal(coord_codec_peer_decode(&body, &f), 0);
    assert_true(f.has_chunk);
    assert_int_equal(f.n_msgs, 0);
    assert_int_equal(f.chunk.snapshot_index, 99);
    assert_int_equal(f.chunk.offset, 5000);
    assert_int_equal(f.chunk.total_len, 6000);
    assert_true(f.chunk.last);
    assert_int_equal(f.chunk.data.len, sizeof data);
    assert_memory_equal(f.chunk.data.base, data, sizeof data);
    assert_non_null(f.chunk.msg);
    assert_msg_equal(c.msg, f.chunk.msg);
    coord_codec_peer_frame_free(&f);
    raft_free(frame.base);

    /* A middle chunk carries no message; an empty file is one empty chunk. */
    c.last = false;
    c.msg = NULL;
    c.offset = 0;
    assert_int_equal(coord_codec_peer_encode_chunk(&c, &frame), 0);
    body = body_of(&frame);
    assert_int_equal(coord_codec_peer_decode(&body, &f), 0);
    assert_false(f.chunk.last);
    assert_null(f.chunk.msg);
    coord_codec_peer_frame_free(&f);
    raft_free(frame.base);
    c = (struct coord_peer_chunk){99, 0, 0, {NULL, 0}, true, &s.msgs[RAFT_MSG_SNAPSHOT - 1]};
    assert_int_equal(coord_codec_peer_encode_chunk(&c, &frame), 0);
    body = body_of(&frame);
    assert_int_equal(coord_codec_peer_decode(&body, &f), 0);
    assert_int_equal(f.chunk.data.len, 0);
    coord_codec_peer_frame_free(&f);
    raft_free(frame.base);
    assert_int_equal(raft_alloc_live(), 0);
}

static void test_codec_peer_round_trip_hello(void **state)
{
    struct coord_peer_hello h = {COORD_PEER_VERSION, 0xc1c1c1c1c1c1u, 3, 5};
    struct raft_buf frame;
    struct raft_buf body;
    struct coord_peer_frame f;

    (void)state;
    assert_int_equal(coord_codec_peer_encode_hello(&h, &frame), 0);
    body = body_of(&frame);
    assert_true(body.len <= COORD_PEER_HELLO_MAX);
    assert_int_equal(coord_codec_peer_decode(&body, &f), 0);
    assert_true(f.has_hello);
    assert_int_equal(f.hello.version, h.version);
    assert_true(f.hello.cluster_id == h.cluster_id);
    assert_int_equal(f.hello.node_id, 3);
    assert_int_equal(f.hello.to_id, 5);
    coord_codec_peer_frame_free(&f);
    raft_free(frame.base);
    h.node_id = 0;
    assert_int_equal(coord_codec_peer_encode_hello(&h, &frame), RAFT_EINVAL);
    assert_int_equal(raft_alloc_live(), 0);
}

static void test_codec_peer_round_trip_keepalive(void **state)
{
    struct raft_buf frame;
    struct raft_buf body;
    struct coord_peer_frame f;

    (void)state;
    assert_int_equal(coord_codec_peer_encode_keepalive(&frame), 0);
    body = body_of(&frame);
    assert_int_equal(body.len, 7); /* version, then the crc32c trailer */
    assert_int_equal(coord_codec_peer_decode(&body, &f), 0);
    assert_false(f.has_hello);
    assert_false(f.has_chunk);
    assert_int_equal(f.n_msgs, 0);
    coord_codec_peer_frame_free(&f);
    raft_free(frame.base);
    assert_int_equal(raft_alloc_live(), 0);
}

static void test_codec_peer_batch_fills_then_asks_to_take(void **state)
{
    struct sample s;
    struct coord_peer_batch b;
    struct raft_buf frame;
    struct raft_buf body;
    struct coord_peer_frame f;
    const struct raft_msg *hb;
    size_t n = 0;

    (void)state;
    sample_init(&s);
    hb = &s.msgs[RAFT_MSG_HEARTBEAT - 1];
    coord_codec_peer_batch_init(&b, 400);
    while (coord_codec_peer_batch_add(&b, hb) == 0) {
        n++;
        assert_true(n < 100);
    }
    assert_true(n > 1);
    assert_int_equal(coord_codec_peer_batch_add(&b, hb), RAFT_EBUSY);
    assert_int_equal(b.n_msgs, n);
    coord_codec_peer_batch_take(&b, &frame);
    assert_true(frame.len <= 400 + COORD_FRAME_HEADER_LEN);
    assert_int_equal(b.n_msgs, 0);
    body = body_of(&frame);
    assert_int_equal(coord_codec_peer_decode(&body, &f), 0);
    assert_int_equal(f.n_msgs, n);
    assert_msg_equal(hb, &f.msgs[n - 1]);
    coord_codec_peer_frame_free(&f);
    raft_free(frame.base);

    /* An APPEND larger than a whole frame: too big, not busy. */
    assert_int_equal(coord_codec_peer_batch_add(&b, &s.msgs[RAFT_MSG_APPEND - 1]), 0);
    coord_codec_peer_batch_close(&b);
    coord_codec_peer_batch_init(&b, 60);
    assert_int_equal(coord_codec_peer_batch_add(&b, &s.msgs[RAFT_MSG_APPEND - 1]), RAFT_ETOOBIG);
    assert_int_equal(coord_codec_peer_encode_msgs(&s.msgs[0], 1, 60, &frame), RAFT_ETOOBIG);
    coord_codec_peer_batch_close(&b);
    assert_int_equal(raft_alloc_live(), 0);
}

static void test_codec_peer_encode_refuses_malformed(void **state)
{
    struct sample s;
    struct raft_msg m;
    struct raft_entry e;
    struct raft_snapshot_meta meta;
    struct coord_peer_chunk c;
    struct raft_buf frame;

    (void)state;
    sample_init(&s);
    assert_int_equal(
        coord_codec_peer_encode_msgs(&s.msgs[RAFT_MSG_SNAPSHOT - 1], 1, 1u << 20, &frame),
        RAFT_EINVAL);
    m = s.msgs[0];
    m.type = 0;
    assert_int_equal(coord_codec_peer_check(&m), RAFT_EINVAL);
    m.type = 13;
    assert_int_equal(coord_codec_peer_check(&m), RAFT_EINVAL);
    m = s.msgs[RAFT_MSG_VOTE - 1];
    m.from = 0;
    assert_int_equal(coord_codec_peer_check(&m), RAFT_EINVAL);
    m = s.msgs[RAFT_MSG_VOTE - 1];
    m.entries = s.entries;
    m.n_entries = 1;
    assert_int_equal(coord_codec_peer_check(&m), RAFT_EINVAL);
    m = s.msgs[RAFT_MSG_APPEND - 1];
    e = s.entries[0];
    e.type = 4;
    m.entries = &e;
    m.n_entries = 1;
    assert_int_equal(coord_codec_peer_check(&m), RAFT_EINVAL);
    m = s.msgs[RAFT_MSG_SNAPSHOT - 1];
    meta = s.meta;
    meta.conf.servers[3].id = meta.conf.servers[2].id; /* not strictly sorted */
    m.snapshot = &meta;
    assert_int_equal(coord_codec_peer_check(&m), RAFT_EINVAL);
    meta = s.meta;
    meta.conf.servers[0].address[RAFT_ADDR_MAX - 1] = 'x'; /* no NUL */
    assert_int_equal(coord_codec_peer_check(&m), RAFT_EINVAL);
    meta = s.meta;
    meta.conf.servers[5].role = 3;
    assert_int_equal(coord_codec_peer_check(&m), RAFT_EINVAL);

    /* Chunks: the last one carries the message and ends the file. */
    c = (struct coord_peer_chunk){99, 0, 10, {s.data[0], 10}, true, NULL};
    assert_int_equal(coord_codec_peer_encode_chunk(&c, &frame), RAFT_EINVAL);
    c.msg = &s.msgs[RAFT_MSG_SNAPSHOT - 1];
    c.total_len = 11;
    assert_int_equal(coord_codec_peer_encode_chunk(&c, &frame), RAFT_EINVAL);
    c.total_len = 9;
    assert_int_equal(coord_codec_peer_encode_chunk(&c, &frame), RAFT_EINVAL);
    c.total_len = 10;
    c.snapshot_index = 98;
    assert_int_equal(coord_codec_peer_encode_chunk(&c, &frame), RAFT_EINVAL);
    assert_int_equal(raft_alloc_live(), 0);
}

/* ---- hostile frames --------------------------------------------------------------------- */

/* Pack pb and append a valid crc32c trailer: only the contents are bad. */
static int decode_pb(const Coord__Peer__PeerFrame *pb)
{
    size_t len = coord__peer__peer_frame__get_packed_size(pb);
    uint8_t *p = malloc(len + 5);
    struct raft_buf body = {p, len + 5};
    struct coord_peer_frame f;
    uint32_t crc;
    int rv;

    assert_non_null(p);
    coord__peer__peer_frame__pack(pb, p);
    crc = coord_crc32c(0, p, len);
    p[len] = 0x7d;
    p[len + 1] = (uint8_t)crc;
    p[len + 2] = (uint8_t)(crc >> 8);
    p[len + 3] = (uint8_t)(crc >> 16);
    p[len + 4] = (uint8_t)(crc >> 24);
    rv = coord_codec_peer_decode(&body, &f);
    coord_codec_peer_frame_free(&f);
    free(p);
    assert_int_equal(raft_alloc_live(), 0);
    return rv;
}

struct hostile {
    Coord__Peer__PeerFrame frame;
    Coord__Peer__Message msg;
    Coord__Peer__Message *msgs[1];
    Coord__Peer__Entry entry;
    Coord__Peer__Entry *entries[1];
    Coord__Peer__SnapshotMeta meta;
    Coord__Peer__Server servers[RAFT_MAX_SERVERS + 1];
    Coord__Peer__Server *server_ptrs[RAFT_MAX_SERVERS + 1];
    Coord__Peer__SnapshotChunk chunk;
    Coord__Peer__Hello hello;
    char address[32];
};

/* A valid frame with one APPEND of one entry; tests then break one thing. */
static void hostile_init(struct hostile *h)
{
    size_t i;

    memset(h, 0, sizeof *h);
    (void)snprintf(h->address, sizeof h->address, "127.0.0.1:7000");
    coord__peer__peer_frame__init(&h->frame);
    coord__peer__message__init(&h->msg);
    coord__peer__entry__init(&h->entry);
    coord__peer__snapshot_meta__init(&h->meta);
    coord__peer__snapshot_chunk__init(&h->chunk);
    coord__peer__hello__init(&h->hello);
    h->frame.has_version = true;
    h->frame.version = 1;
    h->frame.n_messages = 1;
    h->frame.messages = h->msgs;
    h->msgs[0] = &h->msg;
    h->msg.has_type = h->msg.has_from = h->msg.has_to = true;
    h->msg.type = COORD__PEER__MESSAGE_TYPE__APPEND;
    h->msg.from = 1;
    h->msg.to = 2;
    h->msg.n_entries = 1;
    h->msg.entries = h->entries;
    h->entries[0] = &h->entry;
    h->entry.has_term = h->entry.has_index = h->entry.has_type = true;
    h->entry.term = 1;
    h->entry.index = 1;
    h->entry.type = RAFT_ENTRY_NORMAL;
    h->meta.has_index = true;
    h->meta.index = 5;
    h->meta.servers = h->server_ptrs;
    for (i = 0; i <= RAFT_MAX_SERVERS; i++) {
        coord__peer__server__init(&h->servers[i]);
        h->servers[i].has_id = h->servers[i].has_role = true;
        h->servers[i].id = i + 1;
        h->servers[i].role = RAFT_VOTER;
        h->servers[i].address = h->address;
        h->server_ptrs[i] = &h->servers[i];
    }
    h->meta.n_servers = 3;
    h->chunk.has_snapshot_index = h->chunk.has_total_len = h->chunk.has_last = true;
    h->chunk.snapshot_index = 5;
    h->chunk.total_len = 0;
    h->chunk.last = true;
}

/* Turn h's message into the SNAPSHOT of a last, empty chunk. */
static void hostile_snapshot(struct hostile *h)
{
    h->frame.n_messages = 0;
    h->frame.chunk = &h->chunk;
    h->chunk.message = &h->msg;
    h->msg.type = COORD__PEER__MESSAGE_TYPE__SNAPSHOT;
    h->msg.n_entries = 0;
    h->msg.snapshot = &h->meta;
}

static void test_codec_peer_decode_refuses_bad_messages(void **state)
{
    static char long_address[RAFT_ADDR_MAX + 1];
    struct hostile h;

    (void)state;
    hostile_init(&h);
    assert_int_equal(decode_pb(&h.frame), 0); /* the baseline is valid */
    h.msg.type = (Coord__Peer__MessageType)13;
    assert_int_equal(decode_pb(&h.frame), RAFT_EPROTO);
    h.msg.type = COORD__PEER__MESSAGE_TYPE__MESSAGE_TYPE_UNSPECIFIED;
    assert_int_equal(decode_pb(&h.frame), RAFT_EPROTO);
    hostile_init(&h);
    h.msg.has_type = false;
    assert_int_equal(decode_pb(&h.frame), RAFT_EPROTO);
    hostile_init(&h);
    h.msg.has_from = false;
    assert_int_equal(decode_pb(&h.frame), RAFT_EPROTO);
    hostile_init(&h);
    h.msg.type = COORD__PEER__MESSAGE_TYPE__VOTE; /* entries only in APPEND */
    assert_int_equal(decode_pb(&h.frame), RAFT_EPROTO);
    hostile_init(&h);
    h.entry.has_index = false;
    assert_int_equal(decode_pb(&h.frame), RAFT_EPROTO);
    hostile_init(&h);
    h.entry.type = 300;
    assert_int_equal(decode_pb(&h.frame), RAFT_EPROTO);
    hostile_init(&h);
    h.msg.snapshot = &h.meta; /* a snapshot on an APPEND */
    assert_int_equal(decode_pb(&h.frame), RAFT_EPROTO);
    hostile_init(&h);
    h.msg.type = COORD__PEER__MESSAGE_TYPE__SNAPSHOT; /* SNAPSHOT outside a chunk */
    h.msg.n_entries = 0;
    h.msg.snapshot = &h.meta;
    assert_int_equal(decode_pb(&h.frame), RAFT_EPROTO);

    /* Snapshot configurations. */
    hostile_init(&h);
    hostile_snapshot(&h);
    assert_int_equal(decode_pb(&h.frame), 0);
    h.meta.n_servers = RAFT_MAX_SERVERS + 1;
    assert_int_equal(decode_pb(&h.frame), RAFT_EPROTO);
    h.meta.n_servers = RAFT_MAX_SERVERS;
    assert_int_equal(decode_pb(&h.frame), 0);
    h.servers[2].role = 3;
    assert_int_equal(decode_pb(&h.frame), RAFT_EPROTO);
    h.servers[2].role = 0x102; /* beyond a byte: must not wrap to a valid role */
    assert_int_equal(decode_pb(&h.frame), RAFT_EPROTO);
    h.servers[2].role = RAFT_LEARNER;
    h.servers[4].id = 0;
    assert_int_equal(decode_pb(&h.frame), RAFT_EPROTO);
    h.servers[4].id = 3; /* == servers[2]: duplicate */
    assert_int_equal(decode_pb(&h.frame), RAFT_EPROTO);
    h.servers[4].id = 5;
    memset(long_address, 'x', RAFT_ADDR_MAX);
    h.servers[7].address = long_address;
    assert_int_equal(decode_pb(&h.frame), RAFT_EPROTO);
    long_address[RAFT_ADDR_MAX - 1] = '\0';
    assert_int_equal(decode_pb(&h.frame), 0);
    h.msg.snapshot = NULL;
    assert_int_equal(decode_pb(&h.frame), RAFT_EPROTO);
}

static void test_codec_peer_decode_refuses_bad_frames(void **state)
{
    struct hostile h;

    (void)state;
    hostile_init(&h);
    h.frame.has_version = false;
    assert_int_equal(decode_pb(&h.frame), RAFT_EPROTO);
    h.frame.has_version = true;
    h.frame.version = 2; /* a version this code does not speak */
    assert_int_equal(decode_pb(&h.frame), RAFT_EPROTO);
    h.frame.version = 1;
    h.frame.n_messages = 0; /* nothing in it: a keepalive */
    assert_int_equal(decode_pb(&h.frame), 0);

    /* Hello: alone, with an id. */
    hostile_init(&h);
    h.frame.n_messages = 0;
    h.frame.hello = &h.hello;
    h.hello.has_version = h.hello.has_node_id = true;
    h.hello.version = 1;
    h.hello.node_id = 4;
    assert_int_equal(decode_pb(&h.frame), 0);
    h.frame.version = 7; /* a Hello of any version decodes: the transport refuses it */
    h.hello.version = 7;
    assert_int_equal(decode_pb(&h.frame), 0);
    h.hello.has_node_id = false;
    assert_int_equal(decode_pb(&h.frame), RAFT_EPROTO);
    h.hello.has_node_id = true;
    h.frame.n_messages = 1;
    assert_int_equal(decode_pb(&h.frame), RAFT_EPROTO);

    /* Chunks. */
    hostile_init(&h);
    hostile_snapshot(&h);
    h.chunk.last = false; /* offset + len == total but not last */
    assert_int_equal(decode_pb(&h.frame), RAFT_EPROTO);
    h.chunk.total_len = 10;
    assert_int_equal(decode_pb(&h.frame), RAFT_EPROTO); /* a message on a middle chunk */
    h.chunk.message = NULL;
    assert_int_equal(decode_pb(&h.frame), 0);
    h.chunk.has_offset = true;
    h.chunk.offset = 11; /* beyond the file */
    assert_int_equal(decode_pb(&h.frame), RAFT_EPROTO);
    hostile_init(&h);
    hostile_snapshot(&h);
    h.chunk.message = NULL; /* last without the message */
    assert_int_equal(decode_pb(&h.frame), RAFT_EPROTO);
    h.chunk.message = &h.msg;
    h.meta.index = 6; /* not the chunk's snapshot */
    assert_int_equal(decode_pb(&h.frame), RAFT_EPROTO);
    h.meta.index = 5;
    h.chunk.snapshot_index = 0;
    h.meta.index = 0;
    assert_int_equal(decode_pb(&h.frame), RAFT_EPROTO);
}

static void test_codec_peer_decode_enforces_count_limits(void **state)
{
    struct hostile h;
    Coord__Peer__Message **msgs = calloc(COORD_PEER_MAX_MSGS + 1, sizeof(void *));
    Coord__Peer__Entry **entries = calloc(COORD_PEER_MAX_ENTRIES + 1, sizeof(void *));
    size_t i;

    (void)state;
    assert_non_null(msgs);
    assert_non_null(entries);
    hostile_init(&h);
    h.msg.n_entries = 0;
    for (i = 0; i <= COORD_PEER_MAX_MSGS; i++) {
        msgs[i] = &h.msg;
    }
    h.frame.messages = msgs;
    h.frame.n_messages = COORD_PEER_MAX_MSGS;
    assert_int_equal(decode_pb(&h.frame), 0);
    h.frame.n_messages = COORD_PEER_MAX_MSGS + 1;
    assert_int_equal(decode_pb(&h.frame), RAFT_EPROTO);

    hostile_init(&h);
    for (i = 0; i <= COORD_PEER_MAX_ENTRIES; i++) {
        entries[i] = &h.entry;
    }
    h.msg.entries = entries;
    h.msg.n_entries = COORD_PEER_MAX_ENTRIES;
    assert_int_equal(decode_pb(&h.frame), 0);
    h.msg.n_entries = COORD_PEER_MAX_ENTRIES + 1;
    assert_int_equal(decode_pb(&h.frame), RAFT_EPROTO);
    free(msgs);
    free(entries);
}

/* ---- truncation, corruption, garbage ---------------------------------------------------- */

/* Frames of each kind, for the byte-level tests. */
static size_t sample_frames(struct raft_buf *frames)
{
    struct sample s;
    struct raft_msg msgs[N_TYPES];
    struct coord_peer_hello h = {COORD_PEER_VERSION, 77, 1, 2};
    struct coord_peer_chunk c = {99, 0, 20, {NULL, 20}, true, NULL};
    size_t n;

    sample_init(&s);
    c.data.base = s.data[0];
    c.msg = &s.msgs[RAFT_MSG_SNAPSHOT - 1];
    n = batch_msgs(&s, msgs);
    assert_int_equal(coord_codec_peer_encode_msgs(msgs, n, 1u << 20, &frames[0]), 0);
    assert_int_equal(coord_codec_peer_encode_chunk(&c, &frames[1]), 0);
    assert_int_equal(coord_codec_peer_encode_hello(&h, &frames[2]), 0);
    return 3;
}

static void test_codec_peer_every_truncation_is_eproto(void **state)
{
    struct raft_buf frames[3];
    size_t n = sample_frames(frames);
    size_t i;
    size_t len;

    (void)state;
    for (i = 0; i < n; i++) {
        struct raft_buf body = body_of(&frames[i]);

        for (len = 0; len < body.len; len++) {
            struct raft_buf cut = {body.base, len};
            struct coord_peer_frame f;

            assert_int_equal(coord_codec_peer_decode(&cut, &f), RAFT_EPROTO);
            assert_null(f.pb);
        }
        raft_free(frames[i].base);
    }
    assert_int_equal(raft_alloc_live(), 0);
}

/* Decode body; a success must describe well-formed messages. Returns the
 * result. */
static int decode_any(const struct raft_buf *body, uint64_t seed, size_t iter)
{
    struct coord_peer_frame f;
    int rv = coord_codec_peer_decode(body, &f);
    size_t i;

    if (rv != 0 && rv != RAFT_EPROTO) {
        print_error("seed=%llu iter=%zu rv=%d\n", (unsigned long long)seed, iter, rv);
        fail();
    }
    for (i = 0; rv == 0 && i < f.n_msgs; i++) {
        if (coord_codec_peer_check(&f.msgs[i]) != 0) {
            print_error("seed=%llu iter=%zu: decoded an ill-formed message\n",
                        (unsigned long long)seed, iter);
            fail();
        }
    }
    coord_codec_peer_frame_free(&f);
    return rv;
}

/* Fix up the crc32c trailer of a mutated body, so the parser sees it. */
static void fix_trailer(uint8_t *p, size_t len)
{
    uint32_t crc;

    if (len < 5) {
        return;
    }
    crc = coord_crc32c(0, p, len - 5);
    p[len - 5] = 0x7d;
    p[len - 4] = (uint8_t)crc;
    p[len - 3] = (uint8_t)(crc >> 8);
    p[len - 2] = (uint8_t)(crc >> 16);
    p[len - 1] = (uint8_t)(crc >> 24);
}

static void test_codec_peer_garbage_and_mutations_never_crash(void **state)
{
    static uint8_t buf[4096];
    struct raft_buf frames[3];
    size_t n = sample_frames(frames);
    uint64_t seed = seed_get();
    struct raft_rand r;
    size_t n_ok = 0;
    size_t n_refused = 0;
    size_t iter;

    (void)state;
    raft_rand_seed(&r, seed);
    for (iter = 0; iter < 30000; iter++) {
        struct raft_buf body;
        size_t k;

        if (iter % 3 == 0) {
            /* Pure garbage, with and without a valid trailer. */
            body.len = (size_t)raft_rand_below(&r, 300);
            for (k = 0; k < body.len; k++) {
                buf[k] = (uint8_t)raft_rand_next(&r);
            }
            if (iter % 2 == 0) {
                fix_trailer(buf, body.len);
            }
        } else {
            /* A valid frame with a few bytes changed, re-checksummed. */
            struct raft_buf src = body_of(&frames[raft_rand_below(&r, n)]);
            size_t flips = 1 + (size_t)raft_rand_below(&r, 4);

            assert_true(src.len <= sizeof buf);
            memcpy(buf, src.base, src.len);
            body.len = src.len;
            for (k = 0; k < flips; k++) {
                buf[raft_rand_below(&r, body.len - 5)] = (uint8_t)raft_rand_next(&r);
            }
            fix_trailer(buf, body.len);
        }
        body.base = buf;
        if (decode_any(&body, seed, iter) == 0) {
            n_ok++;
        } else {
            n_refused++;
        }
        if (raft_alloc_live() != 3) {
            print_error("seed=%llu iter=%zu: leak\n", (unsigned long long)seed, iter);
            fail();
        }
    }
    for (iter = 0; iter < n; iter++) {
        raft_free(frames[iter].base);
    }
    /* Both outcomes happen: the parser and the checks behind the CRC ran. */
    print_message("seed=%llu decoded=%zu refused=%zu\n", (unsigned long long)seed, n_ok, n_refused);
    assert_true(n_ok > 100 && n_refused > 100);
}

static void test_codec_peer_corruption_fails_the_crc(void **state)
{
    struct raft_buf frames[3];
    size_t n = sample_frames(frames);
    size_t i;
    size_t k;

    (void)state;
    for (i = 0; i < n; i++) {
        struct raft_buf body = body_of(&frames[i]);
        uint8_t *p = body.base;

        for (k = 0; k < body.len; k++) {
            struct coord_peer_frame f;

            p[k] ^= 0x10; /* any single bit flip */
            assert_int_equal(coord_codec_peer_decode(&body, &f), RAFT_EPROTO);
            p[k] ^= 0x10;
        }
        raft_free(frames[i].base);
    }
}

/* ---- out of memory ---------------------------------------------------------------------- */

static void test_codec_peer_oom_sweep(void **state)
{
    struct sample s;
    struct raft_msg msgs[N_TYPES];
    struct coord_peer_chunk c = {99, 0, 40, {NULL, 40}, true, NULL};
    size_t n;
    long k;

    (void)state;
    sample_init(&s);
    c.data.base = s.data[0];
    c.msg = &s.msgs[RAFT_MSG_SNAPSHOT - 1];
    n = batch_msgs(&s, msgs);
    for (k = 1;; k++) {
        struct raft_buf frames[2] = {{NULL, 0}, {NULL, 0}};
        struct coord_peer_frame f[2];
        int rv;
        int i;

        raft_alloc_fail_at(k);
        rv = coord_codec_peer_encode_msgs(msgs, n, 1u << 20, &frames[0]);
        rv = rv == 0 ? coord_codec_peer_encode_chunk(&c, &frames[1]) : rv;
        memset(f, 0, sizeof f);
        for (i = 0; i < 2 && rv == 0; i++) {
            struct raft_buf body = body_of(&frames[i]);

            rv = coord_codec_peer_decode(&body, &f[i]);
        }
        raft_alloc_fail_at(0);
        for (i = 0; i < 2; i++) {
            coord_codec_peer_frame_free(&f[i]);
            raft_free(frames[i].base);
        }
        assert_int_equal(raft_alloc_live(), 0);
        if (rv == 0) {
            break;
        }
        assert_int_equal(rv, RAFT_ENOMEM);
        assert_true(k < 10000);
    }
    assert_true(k > 10); /* protobuf-c's allocations were swept too */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codec_peer_round_trip_every_message_type),
        cmocka_unit_test(test_codec_peer_round_trip_snapshot_chunks),
        cmocka_unit_test(test_codec_peer_round_trip_hello),
        cmocka_unit_test(test_codec_peer_round_trip_keepalive),
        cmocka_unit_test(test_codec_peer_batch_fills_then_asks_to_take),
        cmocka_unit_test(test_codec_peer_encode_refuses_malformed),
        cmocka_unit_test(test_codec_peer_decode_refuses_bad_messages),
        cmocka_unit_test(test_codec_peer_decode_refuses_bad_frames),
        cmocka_unit_test(test_codec_peer_decode_enforces_count_limits),
        cmocka_unit_test(test_codec_peer_every_truncation_is_eproto),
        cmocka_unit_test(test_codec_peer_garbage_and_mutations_never_crash),
        cmocka_unit_test(test_codec_peer_corruption_fails_the_crc),
        cmocka_unit_test(test_codec_peer_oom_sweep),
    };

    return cmocka_run_group_tests_name("codec_peer", tests, NULL, NULL);
}
