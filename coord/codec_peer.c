/* SPDX-License-Identifier: MIT */
/* codec_peer: struct raft_msg <-> proto/peer.proto (protobuf-c). Validates
 * shape, not meaning. Every allocation, protobuf-c's included, goes through
 * raft/base/alloc.h. */
#include "coord/codec_peer.h"

#include <string.h>

#include "coord/frame.h"
#include "coord/storage/crc32c.h"
#include "proto/peer.pb-c.h"
#include "raft/base/alloc.h"
#include "raft/base/assert.h"

/* The wire's MessageType numbers are enum raft_msg_type's, so the codec can
 * cast after checking the range. */
#define SAME(a, b) _Static_assert((int)(a) == (int)(b), #a " has the wire's number")
SAME(RAFT_MSG_APPEND, COORD__PEER__MESSAGE_TYPE__APPEND);
SAME(RAFT_MSG_APPEND_RESP, COORD__PEER__MESSAGE_TYPE__APPEND_RESP);
SAME(RAFT_MSG_VOTE, COORD__PEER__MESSAGE_TYPE__VOTE);
SAME(RAFT_MSG_VOTE_RESP, COORD__PEER__MESSAGE_TYPE__VOTE_RESP);
SAME(RAFT_MSG_PREVOTE, COORD__PEER__MESSAGE_TYPE__PREVOTE);
SAME(RAFT_MSG_PREVOTE_RESP, COORD__PEER__MESSAGE_TYPE__PREVOTE_RESP);
SAME(RAFT_MSG_HEARTBEAT, COORD__PEER__MESSAGE_TYPE__HEARTBEAT);
SAME(RAFT_MSG_HEARTBEAT_RESP, COORD__PEER__MESSAGE_TYPE__HEARTBEAT_RESP);
SAME(RAFT_MSG_SNAPSHOT, COORD__PEER__MESSAGE_TYPE__SNAPSHOT);
SAME(RAFT_MSG_TIMEOUT_NOW, COORD__PEER__MESSAGE_TYPE__TIMEOUT_NOW);
SAME(RAFT_MSG_READ_INDEX, COORD__PEER__MESSAGE_TYPE__READ_INDEX);
SAME(RAFT_MSG_READ_INDEX_RESP, COORD__PEER__MESSAGE_TYPE__READ_INDEX_RESP);
#undef SAME

/* A batch is written by hand as PeerFrame fields: "version = 1" (field 1,
 * varint), then each message as field 2 (length-delimited). These bytes are
 * the protobuf encoding of peer.proto's PeerFrame; renumbering those fields
 * there breaks this. */
#define TAG_VERSION  0x08u /* (1 << 3) | 0: field 1, varint */
#define TAG_MESSAGES 0x12u /* (2 << 3) | 2: field 2, length-delimited */
#define BATCH_PREFIX (COORD_FRAME_HEADER_LEN + 2u)
/* Every frame body ends with PeerFrame.crc32c (field 15, fixed32): the tag,
 * then the CRC-32C of the body bytes before it, little-endian. */
#define TAG_CRC     0x7du /* (15 << 3) | 5: field 15, fixed32 */
#define TRAILER_LEN 5u
#define BATCH_MIN   4096u /* first allocation of a batch */
_Static_assert(COORD_PEER_VERSION < 128, "the version is one varint byte in a batch");

/* ---- allocation ------------------------------------------------------------------------- */

struct pb_state {
    bool oom; /* an allocation failed: unpack's NULL means ENOMEM, not EPROTO */
};

static void *pb_alloc(void *data, size_t size)
{
    void *p = raft_malloc(size);
    struct pb_state *st = data;

    if (p == NULL && st != NULL) {
        st->oom = true;
    }
    return p;
}

static void pb_free(void *data, void *p)
{
    (void)data;
    raft_free(p);
}

/* ---- validation of the plain structs (shared by encode and decode) ----------------------
 * Malformed input is RAFT_EPROTO here; encoders turn it into RAFT_EINVAL,
 * since there the caller is at fault, not the bytes. */

static int check_buf(const struct raft_buf *b)
{
    return b->len > 0 && b->base == NULL ? RAFT_EPROTO : 0;
}

static int check_conf(const struct raft_conf *c)
{
    uint32_t i;

    if (c->n > RAFT_MAX_SERVERS) {
        return RAFT_EPROTO;
    }
    for (i = 0; i < c->n; i++) {
        const struct raft_server *s = &c->servers[i];

        if (s->id == 0 || (s->role != RAFT_VOTER && s->role != RAFT_LEARNER) ||
            memchr(s->address, '\0', RAFT_ADDR_MAX) == NULL ||
            (i > 0 && s->id <= c->servers[i - 1].id)) {
            return RAFT_EPROTO;
        }
    }
    return 0;
}

static int check_entry(const struct raft_entry *e)
{
    if (e->term == 0 || e->index == 0) {
        return RAFT_EPROTO;
    }
    if (e->type != RAFT_ENTRY_NORMAL && e->type != RAFT_ENTRY_NOOP && e->type != RAFT_ENTRY_CONF) {
        return RAFT_EPROTO;
    }
    return check_buf(&e->data);
}

/* in_chunk: m rides in the last snapshot chunk, the only place for SNAPSHOT. */
static int check_msg(const struct raft_msg *m, bool in_chunk)
{
    uint32_t i;

    if (m->type < RAFT_MSG_APPEND || m->type > RAFT_MSG_READ_INDEX_RESP ||
        (m->type == RAFT_MSG_SNAPSHOT) != in_chunk || m->from == 0 || m->to == 0) {
        return RAFT_EPROTO;
    }
    if (m->n_entries > 0 && (m->type != RAFT_MSG_APPEND || m->entries == NULL)) {
        return RAFT_EPROTO;
    }
    for (i = 0; i < m->n_entries; i++) {
        if (check_entry(&m->entries[i]) != 0) {
            return RAFT_EPROTO;
        }
    }
    if ((m->snapshot != NULL) != (m->type == RAFT_MSG_SNAPSHOT)) {
        return RAFT_EPROTO;
    }
    if (m->snapshot != NULL && (m->snapshot->index == 0 || check_conf(&m->snapshot->conf) != 0)) {
        return RAFT_EPROTO;
    }
    return 0;
}

static int check_chunk(const struct coord_peer_chunk *c)
{
    if (c->snapshot_index == 0 || c->data.len > COORD_PEER_MAX_CHUNK || check_buf(&c->data) != 0) {
        return RAFT_EPROTO;
    }
    if (c->offset > c->total_len || c->data.len > c->total_len - c->offset) {
        return RAFT_EPROTO;
    }
    if (c->last != (c->offset + c->data.len == c->total_len) || (c->msg != NULL) != c->last) {
        return RAFT_EPROTO;
    }
    if (c->msg != NULL &&
        (check_msg(c->msg, true) != 0 || c->msg->snapshot->index != c->snapshot_index)) {
        return RAFT_EPROTO;
    }
    return 0;
}

int coord_codec_peer_check(const struct raft_msg *m)
{
    return check_msg(m, m->type == RAFT_MSG_SNAPSHOT) != 0 ? RAFT_EINVAL : 0;
}

/* ---- struct -> protobuf ----------------------------------------------------------------- */

/* Storage for the protobuf structs of one message while it is packed. */
struct scratch {
    Coord__Peer__Entry *ents; /* owned, n_entries of them, or NULL */
    Coord__Peer__Entry **ent_ptrs;
    Coord__Peer__SnapshotMeta meta;
    Coord__Peer__Server servers[RAFT_MAX_SERVERS];
    Coord__Peer__Server *server_ptrs[RAFT_MAX_SERVERS];
};

/* protobuf-c's structs are not const-correct; packing only reads them. */
static void *unconst(const void *p)
{
    union {
        const void *c;
        void *m;
    } u;

    u.c = p;
    return u.m;
}

#define SET(pb, field, v)                                                                          \
    do {                                                                                           \
        (pb)->field = (v);                                                                         \
        (pb)->has_##field = (v) != 0;                                                              \
    } while (0)

static void meta_to_pb(const struct raft_snapshot_meta *meta, struct scratch *s)
{
    uint32_t i;

    coord__peer__snapshot_meta__init(&s->meta);
    SET(&s->meta, index, meta->index);
    SET(&s->meta, term, meta->term);
    for (i = 0; i < meta->conf.n; i++) {
        Coord__Peer__Server *pb = &s->servers[i];

        coord__peer__server__init(pb);
        SET(pb, id, meta->conf.servers[i].id);
        SET(pb, role, meta->conf.servers[i].role);
        pb->address = unconst(meta->conf.servers[i].address);
        s->server_ptrs[i] = pb;
    }
    s->meta.n_servers = meta->conf.n;
    s->meta.servers = s->server_ptrs;
}

static int entries_to_pb(const struct raft_msg *m, Coord__Peer__Message *pb, struct scratch *s)
{
    uint32_t i;

    /* The entries, then an array of pointers to them, in one block. */
    s->ents = raft_malloc(m->n_entries * (sizeof(Coord__Peer__Entry) + sizeof(void *)));
    if (s->ents == NULL) {
        return RAFT_ENOMEM;
    }
    _Static_assert(sizeof(Coord__Peer__Entry *) == sizeof(void *), "pointer array layout");
    _Static_assert(_Alignof(Coord__Peer__Entry) % _Alignof(void *) == 0, "pointer alignment");
    s->ent_ptrs = (Coord__Peer__Entry **)(void *)(s->ents + m->n_entries);
    for (i = 0; i < m->n_entries; i++) {
        const struct raft_entry *e = &m->entries[i];
        Coord__Peer__Entry *pe = &s->ents[i];

        coord__peer__entry__init(pe);
        SET(pe, term, e->term);
        SET(pe, index, e->index);
        SET(pe, type, e->type);
        pe->has_data = e->data.len > 0;
        pe->data.len = e->data.len;
        pe->data.data = unconst(e->data.base);
        s->ent_ptrs[i] = pe;
    }
    pb->n_entries = m->n_entries;
    pb->entries = s->ent_ptrs;
    return 0;
}

/* Fill pb from m (already checked). pb points into m and s; release s with
 * scratch_free() after packing. */
static int msg_to_pb(const struct raft_msg *m, Coord__Peer__Message *pb, struct scratch *s)
{
    coord__peer__message__init(pb);
    s->ents = NULL;
    pb->has_type = true;
    pb->type = (Coord__Peer__MessageType)m->type;
    SET(pb, from, m->from);
    SET(pb, to, m->to);
    SET(pb, term, m->term);
    SET(pb, index, m->index);
    SET(pb, log_term, m->log_term);
    SET(pb, commit, m->commit);
    SET(pb, hint_index, m->hint_index);
    SET(pb, hint_term, m->hint_term);
    SET(pb, ctx, m->ctx);
    SET(pb, reject, m->reject);
    SET(pb, transfer, m->transfer);
    if (m->snapshot != NULL) {
        meta_to_pb(m->snapshot, s);
        pb->snapshot = &s->meta;
    }
    return m->n_entries > 0 ? entries_to_pb(m, pb, s) : 0;
}

static void scratch_free(struct scratch *s)
{
    raft_free(s->ents);
    s->ents = NULL;
}

/* Append the crc32c trailer to the len body bytes at body. */
static void put_trailer(uint8_t *body, size_t len)
{
    uint32_t crc = coord_crc32c(0, body, len);

    body[len] = TAG_CRC;
    body[len + 1] = (uint8_t)crc;
    body[len + 2] = (uint8_t)(crc >> 8);
    body[len + 3] = (uint8_t)(crc >> 16);
    body[len + 4] = (uint8_t)(crc >> 24);
}

/* Pack a whole PeerFrame behind a frame header into a new block. */
static int pack_frame(const Coord__Peer__PeerFrame *pb, struct raft_buf *out)
{
    size_t len = coord__peer__peer_frame__get_packed_size(pb);
    uint8_t *p;

    if (len > COORD_FRAME_MAX - TRAILER_LEN) {
        return RAFT_ETOOBIG;
    }
    p = raft_malloc(COORD_FRAME_HEADER_LEN + len + TRAILER_LEN);
    if (p == NULL) {
        return RAFT_ENOMEM;
    }
    coord_frame_header_encode(p, len + TRAILER_LEN);
    RAFT_ASSERT(coord__peer__peer_frame__pack(pb, p + COORD_FRAME_HEADER_LEN) == len);
    put_trailer(p + COORD_FRAME_HEADER_LEN, len);
    out->base = p;
    out->len = COORD_FRAME_HEADER_LEN + len + TRAILER_LEN;
    return 0;
}

int coord_codec_peer_encode_keepalive(struct raft_buf *out)
{
    Coord__Peer__PeerFrame frame;

    coord__peer__peer_frame__init(&frame);
    SET(&frame, version, COORD_PEER_VERSION);
    return pack_frame(&frame, out);
}

int coord_codec_peer_encode_hello(const struct coord_peer_hello *h, struct raft_buf *out)
{
    Coord__Peer__PeerFrame frame;
    Coord__Peer__Hello hello;

    if (h->version == 0 || h->node_id == 0) {
        return RAFT_EINVAL;
    }
    coord__peer__peer_frame__init(&frame);
    coord__peer__hello__init(&hello);
    SET(&frame, version, COORD_PEER_VERSION);
    SET(&hello, version, h->version);
    SET(&hello, cluster_id, h->cluster_id);
    SET(&hello, node_id, h->node_id);
    SET(&hello, to_id, h->to_id);
    frame.hello = &hello;
    return pack_frame(&frame, out);
}

int coord_codec_peer_encode_chunk(const struct coord_peer_chunk *c, struct raft_buf *out)
{
    Coord__Peer__PeerFrame frame;
    Coord__Peer__SnapshotChunk chunk;
    Coord__Peer__Message msg;
    struct scratch s = {0};
    int rv;

    if (check_chunk(c) != 0) {
        return RAFT_EINVAL;
    }
    coord__peer__peer_frame__init(&frame);
    coord__peer__snapshot_chunk__init(&chunk);
    SET(&frame, version, COORD_PEER_VERSION);
    SET(&chunk, snapshot_index, c->snapshot_index);
    SET(&chunk, offset, c->offset);
    SET(&chunk, total_len, c->total_len);
    SET(&chunk, last, c->last);
    chunk.has_data = c->data.len > 0;
    chunk.data.len = c->data.len;
    chunk.data.data = unconst(c->data.base);
    if (c->msg != NULL) {
        rv = msg_to_pb(c->msg, &msg, &s);
        if (rv != 0) {
            goto err;
        }
        chunk.message = &msg;
    }
    frame.chunk = &chunk;
    rv = pack_frame(&frame, out);
err:
    scratch_free(&s);
    return rv;
}

/* ---- batches ---------------------------------------------------------------------------- */

static size_t varint_len(size_t v)
{
    size_t n = 1;

    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static size_t varint_put(uint8_t *p, size_t v)
{
    size_t n = 0;

    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

void coord_codec_peer_batch_init(struct coord_peer_batch *b, size_t max_len)
{
    RAFT_ASSERT(max_len <= COORD_FRAME_MAX);
    memset(b, 0, sizeof *b);
    b->max_len = max_len;
}

void coord_codec_peer_batch_close(struct coord_peer_batch *b)
{
    size_t max_len = b->max_len;

    raft_free(b->base);
    memset(b, 0, sizeof *b);
    b->max_len = max_len;
}

static int batch_reserve(struct coord_peer_batch *b, size_t need)
{
    size_t cap = b->cap > 0 ? b->cap : BATCH_MIN;
    uint8_t *p;

    if (need <= b->cap) {
        return 0;
    }
    while (cap < need) {
        cap *= 2;
    }
    p = raft_realloc(b->base, cap);
    if (p == NULL) {
        return RAFT_ENOMEM;
    }
    b->base = p;
    b->cap = cap;
    return 0;
}

/* Where m would go: full batch (EBUSY) or too big alone (ETOOBIG). */
static int batch_fits(const struct coord_peer_batch *b, size_t n_entries, size_t field_len)
{
    size_t body = (b->len > 0 ? b->len : BATCH_PREFIX) - COORD_FRAME_HEADER_LEN + TRAILER_LEN;
    int full = b->n_msgs > 0 ? RAFT_EBUSY : RAFT_ETOOBIG;

    if (b->n_msgs + 1 > COORD_PEER_MAX_MSGS) {
        return RAFT_EBUSY;
    }
    if (n_entries > COORD_PEER_MAX_ENTRIES - b->n_entries) {
        return full;
    }
    return field_len > b->max_len || body > b->max_len - field_len ? full : 0;
}

int coord_codec_peer_batch_add(struct coord_peer_batch *b, const struct raft_msg *m)
{
    Coord__Peer__Message pb;
    struct scratch s;
    size_t len;
    size_t field_len;
    int rv;

    if (check_msg(m, false) != 0) {
        return RAFT_EINVAL;
    }
    rv = batch_fits(b, m->n_entries, 0);
    if (rv != 0) {
        return rv;
    }
    rv = msg_to_pb(m, &pb, &s);
    if (rv != 0) {
        goto err;
    }
    len = coord__peer__message__get_packed_size(&pb);
    field_len = 1 + varint_len(len) + len;
    rv = batch_fits(b, m->n_entries, field_len);
    if (rv == 0) {
        rv = batch_reserve(b, (b->len > 0 ? b->len : BATCH_PREFIX) + field_len + TRAILER_LEN);
    }
    if (rv != 0) {
        goto err;
    }
    if (b->len == 0) {
        b->base[COORD_FRAME_HEADER_LEN] = TAG_VERSION;
        b->base[COORD_FRAME_HEADER_LEN + 1] = COORD_PEER_VERSION;
        b->len = BATCH_PREFIX;
    }
    b->base[b->len++] = TAG_MESSAGES;
    b->len += varint_put(b->base + b->len, len);
    RAFT_ASSERT(coord__peer__message__pack(&pb, b->base + b->len) == len);
    b->len += len;
    b->n_msgs++;
    b->n_entries += m->n_entries;
err:
    scratch_free(&s);
    return rv;
}

void coord_codec_peer_batch_take(struct coord_peer_batch *b, struct raft_buf *out)
{
    size_t max_len = b->max_len;

    RAFT_ASSERT(b->n_msgs > 0 && b->len > BATCH_PREFIX && b->len + TRAILER_LEN <= b->cap);
    put_trailer(b->base + COORD_FRAME_HEADER_LEN, b->len - COORD_FRAME_HEADER_LEN);
    coord_frame_header_encode(b->base, b->len - COORD_FRAME_HEADER_LEN + TRAILER_LEN);
    out->base = b->base;
    out->len = b->len + TRAILER_LEN;
    memset(b, 0, sizeof *b);
    b->max_len = max_len;
}

int coord_codec_peer_encode_msgs(const struct raft_msg *msgs, size_t n, size_t max_len,
                                 struct raft_buf *out)
{
    struct coord_peer_batch b;
    size_t i;
    int rv;

    if (n == 0 || n > COORD_PEER_MAX_MSGS || max_len > COORD_FRAME_MAX) {
        return RAFT_EINVAL;
    }
    coord_codec_peer_batch_init(&b, max_len);
    for (i = 0; i < n; i++) {
        rv = coord_codec_peer_batch_add(&b, &msgs[i]);
        if (rv != 0) {
            coord_codec_peer_batch_close(&b);
            return rv == RAFT_EBUSY ? RAFT_ETOOBIG : rv;
        }
    }
    coord_codec_peer_batch_take(&b, out);
    return 0;
}

/* ---- protobuf -> struct ----------------------------------------------------------------- */

/* Room for what one frame decodes to, in one block. */
struct arena {
    struct raft_msg *msgs;           /* n_messages, then the chunk's message */
    struct raft_entry *entries;      /* all entries of all messages */
    struct raft_snapshot_meta *meta; /* the chunk message's */
};

static int meta_from_pb(const Coord__Peer__SnapshotMeta *pb, struct raft_snapshot_meta *meta)
{
    size_t i;

    if (pb->n_servers > RAFT_MAX_SERVERS) {
        return RAFT_EPROTO;
    }
    meta->index = pb->index;
    meta->term = pb->term;
    meta->conf.n = (uint32_t)pb->n_servers;
    for (i = 0; i < pb->n_servers; i++) {
        const Coord__Peer__Server *ps = pb->servers[i];
        struct raft_server *s = &meta->conf.servers[i];
        size_t len = ps->address != NULL ? strlen(ps->address) : 0;

        if (len >= RAFT_ADDR_MAX || ps->role > UINT8_MAX) {
            return RAFT_EPROTO;
        }
        s->id = ps->id;
        s->role = (uint8_t)ps->role;
        memset(s->address, 0, sizeof s->address);
        if (len > 0) {
            memcpy(s->address, ps->address, len);
        }
    }
    return 0;
}

/* Convert pb into m; entries go to *ents (advanced), the snapshot meta to
 * meta (NULL: none allowed). in_chunk as for check_msg(). */
static int msg_from_pb(const Coord__Peer__Message *pb, struct raft_msg *m, struct raft_entry **ents,
                       struct raft_snapshot_meta *meta, bool in_chunk)
{
    size_t i;

    if (!pb->has_type || (int)pb->type < RAFT_MSG_APPEND ||
        (int)pb->type > RAFT_MSG_READ_INDEX_RESP) {
        return RAFT_EPROTO;
    }
    m->type = (uint8_t)pb->type;
    m->from = pb->from;
    m->to = pb->to;
    m->term = pb->term;
    m->index = pb->index;
    m->log_term = pb->log_term;
    m->commit = pb->commit;
    m->hint_index = pb->hint_index;
    m->hint_term = pb->hint_term;
    m->ctx = pb->ctx;
    m->reject = pb->reject != 0;
    m->transfer = pb->transfer != 0;
    m->n_entries = (uint32_t)pb->n_entries;
    m->entries = pb->n_entries > 0 ? *ents : NULL;
    for (i = 0; i < pb->n_entries; i++) {
        const Coord__Peer__Entry *pe = pb->entries[i];
        struct raft_entry *e = &(*ents)[i];

        if (pe->type > UINT8_MAX) {
            return RAFT_EPROTO;
        }
        e->term = pe->term;
        e->index = pe->index;
        e->type = (uint8_t)pe->type;
        e->data.base = pe->data.len > 0 ? pe->data.data : NULL;
        e->data.len = pe->data.len;
    }
    *ents += pb->n_entries;
    if (pb->snapshot != NULL) {
        if (meta == NULL || meta_from_pb(pb->snapshot, meta) != 0) {
            return RAFT_EPROTO;
        }
        m->snapshot = meta;
    }
    return check_msg(m, in_chunk);
}

static int chunk_from_pb(const Coord__Peer__SnapshotChunk *pb, struct coord_peer_chunk *c,
                         struct arena *a, struct raft_entry **ents, size_t n_msgs)
{
    int rv;

    c->snapshot_index = pb->snapshot_index;
    c->offset = pb->offset;
    c->total_len = pb->total_len;
    c->last = pb->last != 0;
    c->data.base = pb->data.len > 0 ? pb->data.data : NULL;
    c->data.len = pb->data.len;
    if (pb->message != NULL) {
        rv = msg_from_pb(pb->message, &a->msgs[n_msgs], ents, a->meta, true);
        if (rv != 0) {
            return rv;
        }
        c->msg = &a->msgs[n_msgs];
    }
    return check_chunk(c);
}

/* Size the arena from the counts (checked against the limits first). */
static int arena_new(const Coord__Peer__PeerFrame *pb, struct arena *a, void **block)
{
    size_t n_entries = 0;
    size_t n_msgs = pb->n_messages + (pb->chunk != NULL ? 1 : 0);
    size_t i;
    uint8_t *p;

    if (pb->n_messages > COORD_PEER_MAX_MSGS) {
        return RAFT_EPROTO;
    }
    for (i = 0; i < pb->n_messages; i++) {
        n_entries += pb->messages[i]->n_entries;
    }
    if (pb->chunk != NULL && pb->chunk->message != NULL) {
        n_entries += pb->chunk->message->n_entries;
    }
    if (n_entries > COORD_PEER_MAX_ENTRIES) {
        return RAFT_EPROTO;
    }
    p = raft_calloc(1, n_msgs * sizeof *a->msgs + n_entries * sizeof *a->entries + sizeof *a->meta);
    if (p == NULL) {
        return RAFT_ENOMEM;
    }
    a->msgs = (struct raft_msg *)p;
    a->entries = (struct raft_entry *)(p + n_msgs * sizeof *a->msgs);
    a->meta = (struct raft_snapshot_meta *)(p + n_msgs * sizeof *a->msgs +
                                            n_entries * sizeof *a->entries);
    *block = p;
    return 0;
}

static int hello_from_pb(const Coord__Peer__PeerFrame *pb, struct coord_peer_frame *f)
{
    const Coord__Peer__Hello *h = pb->hello;

    if (pb->n_messages > 0 || pb->chunk != NULL || h->version == 0 || h->node_id == 0) {
        return RAFT_EPROTO;
    }
    f->has_hello = true;
    f->hello.version = h->version;
    f->hello.cluster_id = h->cluster_id;
    f->hello.node_id = h->node_id;
    f->hello.to_id = h->to_id;
    return 0;
}

static int frame_from_pb(const Coord__Peer__PeerFrame *pb, struct coord_peer_frame *f)
{
    struct arena a;
    struct raft_entry *ents;
    size_t i;
    int rv;

    if (!pb->has_version || pb->version == 0) {
        return RAFT_EPROTO;
    }
    f->version = pb->version;
    if (pb->hello != NULL) {
        /* Any version: the transport refuses a mismatch with a clear reason. */
        return hello_from_pb(pb, f);
    }
    if (pb->version != COORD_PEER_VERSION) {
        return RAFT_EPROTO;
    }
    if (pb->n_messages == 0 && pb->chunk == NULL) {
        return 0; /* a keepalive */
    }
    rv = arena_new(pb, &a, &f->arena);
    if (rv != 0) {
        return rv;
    }
    ents = a.entries;
    for (i = 0; i < pb->n_messages; i++) {
        rv = msg_from_pb(pb->messages[i], &a.msgs[i], &ents, NULL, false);
        if (rv != 0) {
            return rv;
        }
    }
    f->msgs = pb->n_messages > 0 ? a.msgs : NULL;
    f->n_msgs = pb->n_messages;
    if (pb->chunk != NULL) {
        f->has_chunk = true;
        return chunk_from_pb(pb->chunk, &f->chunk, &a, &ents, pb->n_messages);
    }
    return 0;
}

/* The body ends with a crc32c trailer that matches the bytes before it. */
static bool trailer_ok(const struct raft_buf *body)
{
    const uint8_t *p = body->base;
    size_t len = body->len;
    uint32_t crc;

    if (len < TRAILER_LEN || p[len - TRAILER_LEN] != TAG_CRC) {
        return false;
    }
    crc = (uint32_t)p[len - 4] | (uint32_t)p[len - 3] << 8 | (uint32_t)p[len - 2] << 16 |
          (uint32_t)p[len - 1] << 24;
    return coord_crc32c(0, p, len - TRAILER_LEN) == crc;
}

int coord_codec_peer_decode(const struct raft_buf *body, struct coord_peer_frame *f)
{
    struct pb_state st = {false};
    ProtobufCAllocator alloc = {pb_alloc, pb_free, &st};
    Coord__Peer__PeerFrame *pb;
    int rv;

    memset(f, 0, sizeof *f);
    if (check_buf(body) != 0 || !trailer_ok(body)) {
        return RAFT_EPROTO;
    }
    pb = coord__peer__peer_frame__unpack(&alloc, body->len - TRAILER_LEN, body->base);
    if (pb == NULL) {
        return st.oom ? RAFT_ENOMEM : RAFT_EPROTO;
    }
    f->pb = pb;
    rv = frame_from_pb(pb, f);
    if (rv != 0) {
        coord_codec_peer_frame_free(f);
    }
    return rv;
}

void coord_codec_peer_frame_free(struct coord_peer_frame *f)
{
    ProtobufCAllocator alloc = {pb_alloc, pb_free, NULL};

    if (f->pb != NULL) {
        coord__peer__peer_frame__free_unpacked(f->pb, &alloc);
    }
    raft_free(f->arena);
    memset(f, 0, sizeof *f);
}
