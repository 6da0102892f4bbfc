/* SPDX-License-Identifier: MIT */
/* crc32c: CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum
 * of every record the storage layer writes. Portable slicing-by-8, with the
 * SSE4.2 crc32 instruction used instead when the CPU has it. Not a
 * cryptographic hash: it detects torn writes and bit rot, not tampering. */
#ifndef COORD_STORAGE_CRC32C_H
#define COORD_STORAGE_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Extend crc (0 to start) with len bytes at buf and return the new value.
 * Chaining is exact: crc32c(crc32c(0, a), b) == crc32c(0, a || b). The
 * values are the standard ones (RFC 3720 appendix B.4): "123456789" gives
 * 0xE3069283. buf is borrowed and may be NULL when len is 0. Cannot fail.
 * Any thread; the first call builds the tables once (thread-safe). */
uint32_t coord_crc32c(uint32_t crc, const void *buf, size_t len);

/* The portable slicing-by-8 implementation, whatever the CPU. Same contract
 * as coord_crc32c(); exported so tests can compare it with the hardware one. */
uint32_t coord_crc32c_portable(uint32_t crc, const void *buf, size_t len);

/* True when coord_crc32c() uses the SSE4.2 instruction on this CPU. */
bool coord_crc32c_hw_available(void);

/* The SSE4.2 implementation. Same contract as coord_crc32c(); must only be
 * called when coord_crc32c_hw_available() is true (asserted). */
uint32_t coord_crc32c_hw(uint32_t crc, const void *buf, size_t len);

#endif /* COORD_STORAGE_CRC32C_H */
