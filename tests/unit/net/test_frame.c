/* SPDX-License-Identifier: MIT */
/* test_frame: the length-prefixed framing of coord/frame.c: any split of the
 * input gives the same frames, limits are enforced before any allocation,
 * and allocation failures are clean. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above. */
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "coord/frame.h"
#include "raft/base/alloc.h"
#include "raft/base/err.h"

#define MAX_FRAMES 16

/* A stream of frames with known bodies: body i is n_i bytes of value i+1. */
struct stream {
    uint8_t bytes[16384];
    size_t len;
    size_t n_frames;
    size_t body_len[MAX_FRAMES];
};

static void stream_add(struct stream *s, size_t body_len)
{
    size_t i = s->n_frames;

    assert_true(s->len + COORD_FRAME_HEADER_LEN + body_len <= sizeof s->bytes);
    coord_frame_header_encode(s->bytes + s->len, body_len);
    memset(s->bytes + s->len + COORD_FRAME_HEADER_LEN, (int)(i + 1), body_len);
    s->len += COORD_FRAME_HEADER_LEN + body_len;
    s->body_len[s->n_frames++] = body_len;
}

static void stream_default(struct stream *s)
{
    memset(s, 0, sizeof *s);
    stream_add(s, 0);
    stream_add(s, 1);
    stream_add(s, 7);
    stream_add(s, 300);
    stream_add(s, 0);
    stream_add(s, 5000);
    stream_add(s, 2);
}

/* Check one frame against the stream's frame number i. */
static void check_frame(const struct stream *s, size_t i, const struct raft_buf *frame)
{
    size_t k;

    assert_true(i < s->n_frames);
    assert_int_equal(frame->len, s->body_len[i]);
    assert_non_null(frame->base);
    for (k = 0; k < frame->len; k++) {
        assert_int_equal(((const uint8_t *)frame->base)[k], i + 1);
    }
}

/* Feed pieces [0, cut) and [cut, len) of s to r; returns frames seen. Every
 * frame is checked right away (views die at the next call). */
static size_t feed(struct coord_frame_reader *r, const struct stream *s, const size_t *cuts,
                   size_t n_cuts, int *err)
{
    size_t seen = 0;
    size_t from = 0;
    size_t c;

    *err = 0;
    for (c = 0; c <= n_cuts; c++) {
        size_t to = c < n_cuts ? cuts[c] : s->len;
        struct raft_buf in = {NULL, to - from};
        struct raft_buf frame;
        int rv;

        memcpy(&in.base, &(const void *){s->bytes + from}, sizeof in.base); /* drop const */
        while ((rv = coord_frame_reader_next(r, &in, &frame)) == 1) {
            check_frame(s, seen++, &frame);
        }
        if (rv < 0) {
            *err = rv;
            return seen;
        }
        assert_int_equal(in.len, 0);
        from = to;
    }
    return seen;
}

static void test_frame_header_round_trip(void **state)
{
    static const uint32_t values[] = {0, 1, 255, 256, 0x01020304u, 0xfffffffeu, 0xffffffffu};
    uint8_t hdr[4];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof values / sizeof values[0]; i++) {
        coord_frame_header_encode(hdr, values[i]);
        assert_int_equal(coord_frame_header_decode(hdr), values[i]);
    }
    coord_frame_header_encode(hdr, 0x01020304u);
    assert_int_equal(hdr[0], 1); /* big-endian on the wire */
    assert_int_equal(hdr[3], 4);
}

static void test_frame_split_at_every_offset(void **state)
{
    struct stream s;
    long live = raft_alloc_live();
    size_t cut;
    int err;

    (void)state;
    stream_default(&s);
    for (cut = 0; cut <= s.len; cut++) {
        struct coord_frame_reader r;

        coord_frame_reader_init(&r, 1u << 20);
        assert_int_equal(feed(&r, &s, &cut, 1, &err), s.n_frames);
        assert_int_equal(err, 0);
        assert_false(r.in_body);
        assert_int_equal(r.hdr_len, 0);
        coord_frame_reader_close(&r);
        assert_int_equal(raft_alloc_live(), live);
    }
}

static void test_frame_two_splits_everywhere_near_headers(void **state)
{
    struct stream s;
    size_t a;
    size_t b;
    int err;

    (void)state;
    stream_default(&s);
    for (a = 0; a < 400; a++) {
        for (b = a; b < a + 12 && b <= s.len; b++) {
            struct coord_frame_reader r;
            size_t cuts[2] = {a, b};

            coord_frame_reader_init(&r, 1u << 20);
            assert_int_equal(feed(&r, &s, cuts, 2, &err), s.n_frames);
            assert_int_equal(err, 0);
            coord_frame_reader_close(&r);
        }
    }
}

static void test_frame_one_byte_at_a_time(void **state)
{
    static struct stream s;
    static size_t cuts[sizeof s.bytes];
    struct coord_frame_reader r;
    long live = raft_alloc_live();
    size_t i;
    int err;

    (void)state;
    stream_default(&s);
    for (i = 0; i < s.len; i++) {
        cuts[i] = i + 1;
    }
    coord_frame_reader_init(&r, 1u << 20);
    assert_int_equal(feed(&r, &s, cuts, s.len, &err), s.n_frames);
    assert_int_equal(err, 0);
    coord_frame_reader_close(&r);
    assert_int_equal(raft_alloc_live(), live);
}

static void test_frame_whole_frames_are_views(void **state)
{
    struct stream s;
    struct coord_frame_reader r;
    struct raft_buf in;
    struct raft_buf frame;
    long count;
    size_t i = 0;

    (void)state;
    stream_default(&s);
    in.base = s.bytes;
    in.len = s.len;
    coord_frame_reader_init(&r, 1u << 20);
    raft_alloc_fail_at(0);
    while (coord_frame_reader_next(&r, &in, &frame) == 1) {
        check_frame(&s, i, &frame);
        if (frame.len > 0) {
            /* Points into the input: no copy. */
            assert_true((uint8_t *)frame.base > s.bytes && (uint8_t *)frame.base < s.bytes + s.len);
        }
        i++;
    }
    count = raft_alloc_count();
    assert_int_equal(i, s.n_frames);
    assert_int_equal(count, 0);
    assert_int_equal(in.len, 0);
    coord_frame_reader_close(&r);
}

static void test_frame_zero_length(void **state)
{
    uint8_t hdr[4];
    struct coord_frame_reader r;
    struct raft_buf in = {hdr, sizeof hdr};
    struct raft_buf frame = {NULL, 99};

    (void)state;
    coord_frame_header_encode(hdr, 0);
    coord_frame_reader_init(&r, 0); /* even a limit of 0 admits empty frames */
    assert_int_equal(coord_frame_reader_next(&r, &in, &frame), 1);
    assert_int_equal(frame.len, 0);
    assert_non_null(frame.base);
    assert_int_equal(coord_frame_reader_next(&r, &in, &frame), 0);
    coord_frame_reader_close(&r);
}

static void test_frame_max_size_boundary(void **state)
{
    static uint8_t buf[2 * (COORD_FRAME_HEADER_LEN + 101)];
    struct coord_frame_reader r;
    struct raft_buf in;
    struct raft_buf frame;

    (void)state;
    coord_frame_header_encode(buf, 100);
    coord_frame_header_encode(buf + COORD_FRAME_HEADER_LEN + 100, 101);
    in.base = buf;
    in.len = sizeof buf;
    coord_frame_reader_init(&r, 100);
    assert_int_equal(coord_frame_reader_next(&r, &in, &frame), 1);
    assert_int_equal(frame.len, 100);
    assert_int_equal(coord_frame_reader_next(&r, &in, &frame), RAFT_ETOOBIG);
    /* Sticky: the connection is to be closed. */
    assert_int_equal(coord_frame_reader_next(&r, &in, &frame), RAFT_ETOOBIG);
    coord_frame_reader_close(&r);

    /* Raising the limit admits it. */
    in.base = buf + COORD_FRAME_HEADER_LEN + 100;
    in.len = COORD_FRAME_HEADER_LEN + 101;
    coord_frame_reader_init(&r, 100);
    coord_frame_reader_set_max(&r, 101);
    assert_int_equal(coord_frame_reader_next(&r, &in, &frame), 1);
    assert_int_equal(frame.len, 101);
    coord_frame_reader_close(&r);
}

static void test_frame_oversized_header_refused_without_allocation(void **state)
{
    uint8_t hdr[4];
    struct coord_frame_reader r;
    struct raft_buf in;
    struct raft_buf frame;
    long live = raft_alloc_live();

    (void)state;
    coord_frame_header_encode(hdr, 0xffffffffu);
    coord_frame_reader_init(&r, 64u << 20);
    raft_alloc_fail_at(0); /* reset the attempt counter */
    in.base = hdr;
    in.len = 3; /* the header split: still nothing allocated */
    assert_int_equal(coord_frame_reader_next(&r, &in, &frame), 0);
    in.base = hdr + 3;
    in.len = 1;
    assert_int_equal(coord_frame_reader_next(&r, &in, &frame), RAFT_ETOOBIG);
    assert_int_equal(raft_alloc_count(), 0);
    assert_int_equal(raft_alloc_live(), live);
    coord_frame_reader_close(&r);
}

static void test_frame_announced_length_is_not_preallocated(void **state)
{
    uint8_t bytes[COORD_FRAME_HEADER_LEN + 10] = {0};
    struct coord_frame_reader r;
    struct raft_buf in = {bytes, sizeof bytes};
    struct raft_buf frame;

    (void)state;
    coord_frame_header_encode(bytes, 60u << 20); /* 60 MiB announced, 10 bytes sent */
    coord_frame_reader_init(&r, 64u << 20);
    assert_int_equal(coord_frame_reader_next(&r, &in, &frame), 0);
    assert_true(r.buf_cap <= 4096);
    coord_frame_reader_close(&r);
}

static void test_frame_large_buffer_released_after_use(void **state)
{
    static uint8_t bytes[2 * COORD_FRAME_HEADER_LEN + COORD_FRAME_KEEP + 1];
    struct coord_frame_reader r;
    struct raft_buf in;
    struct raft_buf frame;
    long live = raft_alloc_live();

    (void)state;
    coord_frame_header_encode(bytes, COORD_FRAME_KEEP + 1);
    coord_frame_header_encode(bytes + COORD_FRAME_HEADER_LEN + COORD_FRAME_KEEP + 1, 0);
    coord_frame_reader_init(&r, 1u << 20);
    in.base = bytes;
    in.len = 10; /* split: assembled in the reader's buffer */
    assert_int_equal(coord_frame_reader_next(&r, &in, &frame), 0);
    in.base = bytes + 10;
    in.len = sizeof bytes - 10;
    assert_int_equal(coord_frame_reader_next(&r, &in, &frame), 1);
    assert_int_equal(frame.len, COORD_FRAME_KEEP + 1);
    assert_ptr_equal(frame.base, r.buf);
    assert_int_equal(raft_alloc_live(), live + 1);
    assert_int_equal(coord_frame_reader_next(&r, &in, &frame), 1); /* the empty frame */
    assert_int_equal(raft_alloc_live(), live);                     /* too big to keep */
    coord_frame_reader_close(&r);
}

static void test_frame_oom_sweep(void **state)
{
    static struct stream s;
    static size_t cuts[64];
    long live = raft_alloc_live();
    size_t i;
    long k;

    (void)state;
    stream_default(&s);
    for (i = 0; i < 64; i++) {
        cuts[i] = (i + 1) * s.len / 65; /* frames split across pieces */
    }
    for (k = 1;; k++) {
        struct coord_frame_reader r;
        size_t seen;
        int err;

        coord_frame_reader_init(&r, 1u << 20);
        raft_alloc_fail_at(k);
        seen = feed(&r, &s, cuts, 64, &err);
        raft_alloc_fail_at(0);
        coord_frame_reader_close(&r);
        assert_int_equal(raft_alloc_live(), live);
        if (err == 0) {
            assert_int_equal(seen, s.n_frames);
            break;
        }
        assert_int_equal(err, RAFT_ENOMEM);
        assert_true(k < 1000);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_header_round_trip),
        cmocka_unit_test(test_frame_split_at_every_offset),
        cmocka_unit_test(test_frame_two_splits_everywhere_near_headers),
        cmocka_unit_test(test_frame_one_byte_at_a_time),
        cmocka_unit_test(test_frame_whole_frames_are_views),
        cmocka_unit_test(test_frame_zero_length),
        cmocka_unit_test(test_frame_max_size_boundary),
        cmocka_unit_test(test_frame_oversized_header_refused_without_allocation),
        cmocka_unit_test(test_frame_announced_length_is_not_preallocated),
        cmocka_unit_test(test_frame_large_buffer_released_after_use),
        cmocka_unit_test(test_frame_oom_sweep),
    };

    return cmocka_run_group_tests_name("frame", tests, NULL, NULL);
}
