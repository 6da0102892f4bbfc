/* SPDX-License-Identifier: MIT */
/* Tests for coord/storage/crc32c.c: RFC 3720 vectors, chaining, and the
 * portable implementation against the SSE4.2 one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above. */
#include <cmocka.h>
#include <string.h>

#include "coord/storage/crc32c.h"
#include "raft/base/rand.h"

typedef uint32_t (*crc_fn)(uint32_t crc, const void *buf, size_t len);

static const uint8_t iscsi_pdu[48] = {
    0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18,
    0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

static void check_vectors(crc_fn fn)
{
    uint8_t buf[32];
    int i;

    memset(buf, 0, sizeof(buf));
    assert_int_equal(fn(0, buf, sizeof(buf)), 0x8A9136AAu);
    memset(buf, 0xff, sizeof(buf));
    assert_int_equal(fn(0, buf, sizeof(buf)), 0x62A8AB43u);
    for (i = 0; i < 32; i++) {
        buf[i] = (uint8_t)i;
    }
    assert_int_equal(fn(0, buf, sizeof(buf)), 0x46DD794Eu);
    for (i = 0; i < 32; i++) {
        buf[i] = (uint8_t)(31 - i);
    }
    assert_int_equal(fn(0, buf, sizeof(buf)), 0x113FDB5Cu);
    assert_int_equal(fn(0, iscsi_pdu, sizeof(iscsi_pdu)), 0xD9963A56u);
    assert_int_equal(fn(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(fn(0, NULL, 0), 0);
}

static void test_crc32c_rfc3720_vectors(void **state)
{
    (void)state;
    check_vectors(coord_crc32c);
}

static void test_crc32c_portable_rfc3720_vectors(void **state)
{
    (void)state;
    check_vectors(coord_crc32c_portable);
}

static void test_crc32c_hw_rfc3720_vectors(void **state)
{
    (void)state;
    if (!coord_crc32c_hw_available()) {
        skip();
    }
    check_vectors(coord_crc32c_hw);
}

/* Splitting the input anywhere and chaining gives the same value. */
static void test_crc32c_chaining_is_exact(void **state)
{
    uint8_t buf[100];
    uint32_t whole;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(buf); i++) {
        buf[i] = (uint8_t)(i * 7 + 3);
    }
    whole = coord_crc32c(0, buf, sizeof(buf));
    for (i = 0; i <= sizeof(buf); i++) {
        assert_int_equal(coord_crc32c(coord_crc32c(0, buf, i), buf + i, sizeof(buf) - i), whole);
        assert_int_equal(
            coord_crc32c_portable(coord_crc32c_portable(0, buf, i), buf + i, sizeof(buf) - i),
            whole);
    }
}

/* Every length 0..300 at every alignment 0..7, random bytes, both ways. */
static void test_crc32c_portable_matches_hw(void **state)
{
    uint8_t buf[320];
    struct raft_rand rnd;
    size_t len;
    size_t align;
    size_t i;

    (void)state;
    if (!coord_crc32c_hw_available()) {
        skip();
    }
    raft_rand_seed(&rnd, 42);
    for (i = 0; i < sizeof(buf); i++) {
        buf[i] = (uint8_t)raft_rand_next(&rnd);
    }
    for (align = 0; align < 8; align++) {
        for (len = 0; len + align <= 300; len++) {
            assert_int_equal(coord_crc32c_portable(0x12345678u, buf + align, len),
                             coord_crc32c_hw(0x12345678u, buf + align, len));
        }
    }
}

/* A single flipped bit always changes the CRC (CRC-32C detects all 1-bit
 * errors). */
static void test_crc32c_detects_every_single_bit_flip(void **state)
{
    uint8_t buf[64];
    uint32_t good;
    size_t bit;

    (void)state;
    memset(buf, 0x5a, sizeof(buf));
    good = coord_crc32c(0, buf, sizeof(buf));
    for (bit = 0; bit < sizeof(buf) * 8; bit++) {
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_not_equal(coord_crc32c(0, buf, sizeof(buf)), good);
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_rfc3720_vectors),
        cmocka_unit_test(test_crc32c_portable_rfc3720_vectors),
        cmocka_unit_test(test_crc32c_hw_rfc3720_vectors),
        cmocka_unit_test(test_crc32c_chaining_is_exact),
        cmocka_unit_test(test_crc32c_portable_matches_hw),
        cmocka_unit_test(test_crc32c_detects_every_single_bit_flip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
