/* SPDX-License-Identifier: MIT */
/* fuzz_client_frame: the bytes a client sends to coordd's client port, cut
 * into frames by coord/frame.c and decoded by coord/codec_client.c, as
 * coord/server.c does (conn_feed(), on_frame()). The input is the byte
 * stream itself: 4-byte big-endian length, ClientFrame, repeated.
 *
 * Properties, for every input:
 *   - nothing crashes, leaks (raft/base/alloc counts) or trips ASan/UBSan;
 *   - the stream cut into pieces (sizes derived from the input) gives the
 *     same frames as the stream fed whole;
 *   - a frame decodes to 0 or RAFT_EPROTO; op NONE comes with a reason;
 *   - a write's Command (coord_codec_client_command) decodes with
 *     coord/codec_cmd.c to the same type and time, or is refused as
 *     RAFT_EPROTO/RAFT_ETOOBIG (the client's operation may be malformed);
 *   - a request forwarded to the leader (coord_codec_client_forward) decodes
 *     to the same request with the new id, timeout and no_forward, its
 *     Command is byte for byte the original's, and forwarding it again
 *     gives the same bytes;
 *   - the frame read as a leader's answer (decode_response, the forwarding
 *     path) relays to a frame that decodes to the same id and error, and
 *     relays again to the same bytes; libcoord's response decoder
 *     (coord/client/codec.c) takes it without crashing;
 *   - an error answer to the request decodes to its id and error. */
#include <stdbool.h>
#include <string.h>

#include "coord/client/codec.h"
#include "coord/codec_client.h"
#include "coord/codec_cmd.h"
#include "coord/frame.h"
#include "raft/base/alloc.h"
#include "tests/fuzz/fuzz.h"

#define MAX_FRAME    (64u << 10) /* the reader's limit: larger headers give RAFT_ETOOBIG */
#define MAX_FRAMES   256         /* frames compared between whole and cut feeding */
#define FWD_ID       0x1122334455667788ull
#define FWD_TIMEOUT  4321u
#define RELAY_ID     77u
#define CMD_TIME_MS  1700000000000ull
#define CUT_SIZE_MAX 13 /* pieces of 1..CUT_SIZE_MAX bytes */

struct frame_list {
    struct raft_buf frames[MAX_FRAMES]; /* owned copies (raft_malloc) */
    size_t n;
    int end; /* what the reader returned last: 0 (input used up) or an error */
};

static void list_free(struct frame_list *l)
{
    size_t i;

    for (i = 0; i < l->n; i++) {
        raft_free(l->frames[i].base);
    }
    l->n = 0;
}

/* Feed data to a fresh reader in pieces of piece bytes (0: all at once). */
static void cut(const uint8_t *data, size_t size, size_t piece, struct frame_list *l)
{
    struct coord_frame_reader r;
    size_t off = 0;

    memset(l, 0, sizeof *l);
    coord_frame_reader_init(&r, MAX_FRAME);
    while (off < size && l->end == 0) {
        size_t len = piece == 0 || size - off < piece ? size - off : piece;
        struct raft_buf in = {(void *)(uintptr_t)(data + off), len};
        struct raft_buf body;
        int rv;

        while (in.len > 0 && (rv = coord_frame_reader_next(&r, &in, &body)) != 0) {
            if (rv < 0) {
                FUZZ_CHECKF(rv == RAFT_ETOOBIG, "reader: %s", raft_err_name(rv));
                l->end = rv;
                break;
            }
            FUZZ_CHECK(body.base != NULL && body.len <= MAX_FRAME);
            if (l->n < MAX_FRAMES) {
                struct raft_buf *f = &l->frames[l->n++];

                f->len = body.len;
                f->base = raft_malloc(body.len > 0 ? body.len : 1);
                FUZZ_CHECK(f->base != NULL);
                memcpy(f->base, body.base, body.len);
            }
        }
        off += len;
    }
    /* A sticky error stays. */
    if (l->end != 0) {
        struct raft_buf empty = {(void *)(uintptr_t)data, 0};
        struct raft_buf body;

        FUZZ_CHECK(coord_frame_reader_next(&r, &empty, &body) == l->end);
    }
    coord_frame_reader_close(&r);
}

static bool buf_eq(const struct raft_buf *a, const struct raft_buf *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->base, b->base, a->len) == 0);
}

/* The one frame in out, as a body view. */
static struct raft_buf only_frame(const struct coord_api_out *out)
{
    struct raft_buf body;

    FUZZ_CHECK(out->len >= COORD_FRAME_HEADER_LEN);
    body.base = out->base + COORD_FRAME_HEADER_LEN;
    body.len = coord_frame_header_decode(out->base);
    FUZZ_CHECK(body.len == out->len - COORD_FRAME_HEADER_LEN);
    return body;
}

/* The Command a write proposes must be one the state machine's codec takes,
 * or refuses as bad bytes; never anything else. */
static void check_command(struct coord_codec_client *cc, const struct coord_api_request *req,
                          struct raft_buf *cmd_bytes)
{
    static const uint8_t types[] = {[COORD_API_PUT] = COORD_CMD_PUT,
                                    [COORD_API_DELETE_RANGE] = COORD_CMD_DELETE_RANGE,
                                    [COORD_API_TXN] = COORD_CMD_TXN};
    struct coord_cmd cmd;
    int rv = coord_codec_client_command(cc, req, CMD_TIME_MS, cmd_bytes);

    FUZZ_CHECKF(rv == 0, "command: %s", raft_err_name(rv));
    rv = coord_cmd_decode(cmd_bytes, &cmd);
    FUZZ_CHECKF(rv == 0 || rv == RAFT_EPROTO || rv == RAFT_ETOOBIG, "cmd decode: %s",
                raft_err_name(rv));
    if (rv == 0) {
        FUZZ_CHECK(cmd.type == types[req->op]);
        FUZZ_CHECK(cmd.time_ms == CMD_TIME_MS);
        coord_cmd_release(&cmd);
    }
}

static bool str_eq(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Forward req to a leader: what the leader decodes is req with the new
 * id, timeout and no_forward. */
static void check_forward(struct coord_codec_client *cc, const struct coord_api_request *req)
{
    struct coord_api_out out = {0};
    struct coord_api_out again = {0};
    struct coord_codec_client *leader;
    struct coord_api_request fwd;
    struct raft_buf body;
    struct raft_buf cmd_a;
    struct raft_buf cmd_b;
    bool write =
        req->op == COORD_API_PUT || req->op == COORD_API_DELETE_RANGE || req->op == COORD_API_TXN;
    int rv;

    FUZZ_CHECK(coord_codec_client_new(&leader) == 0);
    rv = coord_codec_client_forward(cc, req, FWD_ID, FWD_TIMEOUT, &out);
    FUZZ_CHECKF(rv == 0, "forward: %s", raft_err_name(rv));
    body = only_frame(&out);
    rv = coord_codec_client_decode(leader, &body, &fwd);
    FUZZ_CHECKF(rv == 0, "forwarded frame: %s", raft_err_name(rv));
    FUZZ_CHECK(fwd.op == req->op && fwd.invalid == NULL);
    FUZZ_CHECK(fwd.id == FWD_ID && fwd.timeout_ms == FWD_TIMEOUT && fwd.no_forward);
    FUZZ_CHECK(fwd.serializable == req->serializable);
    FUZZ_CHECK(buf_eq(&fwd.key, &req->key) && buf_eq(&fwd.range_end, &req->range_end));
    FUZZ_CHECK(fwd.limit == req->limit && fwd.transfer_to == req->transfer_to);
    FUZZ_CHECK(fwd.conf_op == req->conf_op && fwd.member_id == req->member_id);
    FUZZ_CHECK(str_eq(fwd.peer_addr, req->peer_addr) && str_eq(fwd.client_addr, req->client_addr));
    if (write) {
        check_command(cc, req, &cmd_a);
        check_command(leader, &fwd, &cmd_b);
        FUZZ_CHECKF(buf_eq(&cmd_a, &cmd_b), "the leader proposes other bytes (%zu, %zu)", cmd_a.len,
                    cmd_b.len);
    }
    rv = coord_codec_client_forward(leader, &fwd, FWD_ID, FWD_TIMEOUT, &again);
    FUZZ_CHECK(rv == 0);
    FUZZ_CHECKF(out.len == again.len && memcmp(out.base, again.base, out.len) == 0,
                "forwarding twice changes the frame (%zu, %zu bytes)", out.len, again.len);
    coord_codec_client_out_free(&out);
    coord_codec_client_out_free(&again);
    coord_codec_client_free(leader);
}

/* The frame as a leader's answer to a forwarded request. */
static void check_relay(struct coord_codec_client *cc, const struct raft_buf *frame)
{
    struct coord_api_response resp;
    struct coord_api_response back;
    struct coord_api_out out = {0};
    struct coord_api_out again = {0};
    struct coord_codec_client *client;
    struct raft_buf body;
    int rv = coord_codec_client_decode_response(cc, frame, &resp);

    FUZZ_CHECKF(rv == 0 || rv == RAFT_EPROTO, "decode_response: %s", raft_err_name(rv));
    if (rv != 0) {
        return;
    }
    FUZZ_CHECK(coord_codec_client_new(&client) == 0);
    FUZZ_CHECK(coord_codec_client_relay(cc, &resp, RELAY_ID, &out) == 0);
    body = only_frame(&out);
    rv = coord_codec_client_decode_response(client, &body, &back);
    FUZZ_CHECKF(rv == 0, "relayed frame: %s", raft_err_name(rv));
    FUZZ_CHECK(back.id == RELAY_ID && back.error == resp.error);
    FUZZ_CHECK(coord_codec_client_relay(client, &back, RELAY_ID, &again) == 0);
    FUZZ_CHECKF(out.len == again.len && memcmp(out.base, again.base, out.len) == 0,
                "relaying twice changes the frame (%zu, %zu bytes)", out.len, again.len);
    coord_codec_client_out_free(&out);
    coord_codec_client_out_free(&again);
    coord_codec_client_free(client);
}

/* libcoord reads the same bytes as a node's answer. */
static void check_libcoord(const struct raft_buf *frame)
{
    struct coord_client_arena a;
    struct coord_client_answer ans;
    int rv;

    coord_client_arena_init(&a);
    rv = coord_client_codec_decode(frame, &a, &ans);
    FUZZ_CHECKF(rv == 0 || rv == RAFT_EPROTO, "libcoord decode: %s", raft_err_name(rv));
    coord_client_arena_close(&a);
}

/* An error answer, as coord/server.c's reply_error() sends, decodes back. */
static void check_answer(struct coord_codec_client *cc, const struct coord_api_request *req)
{
    struct coord_api_header h = {.id = req->id, .error = RAFT_EPROTO, .message = req->invalid};
    struct coord_api_out out = {0};
    struct coord_api_response resp;
    struct raft_buf body;

    FUZZ_CHECK(coord_codec_client_answer(cc, &h, &out) == 0);
    body = only_frame(&out);
    FUZZ_CHECK(coord_codec_client_decode_response(cc, &body, &resp) == 0);
    FUZZ_CHECK(resp.id == req->id && resp.error == (uint32_t)-RAFT_EPROTO);
    coord_codec_client_out_free(&out);
}

static void check_frame(struct coord_codec_client *cc, const struct raft_buf *frame)
{
    struct coord_api_request req;
    int rv = coord_codec_client_decode(cc, frame, &req);

    FUZZ_CHECKF(rv == 0 || rv == RAFT_EPROTO, "decode: %s", raft_err_name(rv));
    if (rv == 0) {
        FUZZ_CHECK(req.op <= COORD_API_LEADER_TRANSFER);
        FUZZ_CHECK((req.op == COORD_API_NONE) == (req.invalid != NULL));
        if (req.op != COORD_API_NONE) {
            check_forward(cc, &req);
        }
        check_answer(cc, &req);
    }
    coord_codec_client_reset(cc);
    check_relay(cc, frame);
    coord_codec_client_reset(cc);
    check_libcoord(frame);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct frame_list whole;
    static struct frame_list pieces;
    long live = raft_alloc_live();
    struct coord_codec_client *cc;
    size_t i;

    fuzz_input(data, size);
    cut(data, size, 0, &whole);
    cut(data, size, 1 + size % CUT_SIZE_MAX, &pieces);
    FUZZ_CHECKF(whole.n == pieces.n && whole.end == pieces.end,
                "whole: %zu frames (%d), in pieces: %zu frames (%d)", whole.n, whole.end, pieces.n,
                pieces.end);
    for (i = 0; i < whole.n; i++) {
        FUZZ_CHECKF(buf_eq(&whole.frames[i], &pieces.frames[i]), "frame %zu differs", i);
    }
    FUZZ_CHECK(coord_codec_client_new(&cc) == 0);
    for (i = 0; i < whole.n; i++) {
        check_frame(cc, &whole.frames[i]);
    }
    coord_codec_client_free(cc);
    list_free(&whole);
    list_free(&pieces);
    FUZZ_CHECK_NO_LEAK(live);
    return 0;
}
