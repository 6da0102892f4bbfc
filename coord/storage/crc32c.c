/* SPDX-License-Identifier: MIT */
/* crc32c: table-driven CRC-32C (slicing-by-8) and an SSE4.2 variant chosen at
 * run time. The tables are computed once, at the first call, from the
 * polynomial; nothing here is copied from elsewhere. */
#include "coord/storage/crc32c.h"

#include <pthread.h>
#include <string.h>

#include "raft/base/assert.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CRC_HAVE_HW 1
#include <nmmintrin.h>
#else
#define CRC_HAVE_HW 0
#endif

#define CRC_POLY 0x82F63B78u /* Castagnoli, bit-reflected */

/* table[0] is the byte-at-a-time table; table[k][b] is the CRC of byte b
 * followed by k zero bytes, which lets the loop fold 8 bytes at once. */
static uint32_t table[8][256];
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static bool hw_ok;

static void init_tables(void)
{
    uint32_t i;
    uint32_t k;
    uint32_t c;

    for (i = 0; i < 256; i++) {
        c = i;
        for (k = 0; k < 8; k++) {
            c = (c & 1u) != 0 ? (c >> 1) ^ CRC_POLY : c >> 1;
        }
        table[0][i] = c;
    }
    for (i = 0; i < 256; i++) {
        c = table[0][i];
        for (k = 1; k < 8; k++) {
            c = (c >> 8) ^ table[0][c & 0xffu];
            table[k][i] = c;
        }
    }
#if CRC_HAVE_HW
    hw_ok = __builtin_cpu_supports("sse4.2") != 0;
#else
    hw_ok = false;
#endif
}

static void ensure_init(void)
{
    int rv = pthread_once(&init_once, init_tables);

    RAFT_ASSERT(rv == 0);
}

/* Little-endian load from bytes, so the result does not depend on the host's
 * byte order; compilers turn it into one load on little-endian machines. */
static uint32_t load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint32_t coord_crc32c_portable(uint32_t crc, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    uint32_t c = ~crc;
    uint32_t lo;
    uint32_t hi;

    ensure_init();
    while (len >= 8) {
        lo = load_le32(p) ^ c;
        hi = load_le32(p + 4);
        c = table[7][lo & 0xffu] ^ table[6][(lo >> 8) & 0xffu] ^ table[5][(lo >> 16) & 0xffu] ^
            table[4][lo >> 24] ^ table[3][hi & 0xffu] ^ table[2][(hi >> 8) & 0xffu] ^
            table[1][(hi >> 16) & 0xffu] ^ table[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len > 0) {
        c = (c >> 8) ^ table[0][(c ^ *p) & 0xffu];
        p++;
        len--;
    }
    return ~c;
}

bool coord_crc32c_hw_available(void)
{
    ensure_init();
    return hw_ok;
}

#if CRC_HAVE_HW
__attribute__((target("sse4.2"))) static uint32_t crc_sse42(uint32_t crc, const uint8_t *p,
                                                            size_t len)
{
    uint64_t c = ~crc;
    uint64_t word;

    while (len >= 8) {
        memcpy(&word, p, sizeof(word));
        c = _mm_crc32_u64(c, word);
        p += 8;
        len -= 8;
    }
    while (len > 0) {
        c = _mm_crc32_u8((uint32_t)c, *p);
        p++;
        len--;
    }
    return ~(uint32_t)c;
}
#endif

uint32_t coord_crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
    RAFT_ASSERT(coord_crc32c_hw_available());
#if CRC_HAVE_HW
    return crc_sse42(crc, buf, len);
#else
    (void)crc;
    (void)buf;
    (void)len;
    RAFT_UNREACHABLE();
#endif
}

uint32_t coord_crc32c(uint32_t crc, const void *buf, size_t len)
{
    ensure_init();
#if CRC_HAVE_HW
    if (hw_ok) {
        return crc_sse42(crc, buf, len);
    }
#endif
    return coord_crc32c_portable(crc, buf, len);
}
