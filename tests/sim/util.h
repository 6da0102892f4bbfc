/* SPDX-License-Identifier: MIT */
/* util: allocation and hashing shared by the simulator's modules.
 * Allocation goes through raft/base/alloc (leak counting) and aborts on
 * failure: the simulator tests the core's logic, not its own OOM paths.
 * The hashes are fixed functions of their input bytes (no seeds, no pointer
 * values), so a seed reproduces the same hashes everywhere. */
#ifndef SIM_UTIL_H
#define SIM_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Like malloc/calloc/realloc, but never return NULL (abort instead). */
void *sim_util_malloc(size_t size);
void *sim_util_calloc(size_t n, size_t size);
void *sim_util_realloc(void *p, size_t size);
void sim_util_free(void *p);

/* Copy len bytes (returns owned; sim_util_free). NULL when len is 0. */
void *sim_util_memdup(const void *p, size_t len);

/* Make room for need items of size bytes in *items (capacity *cap). */
void sim_util_reserve(void **items, size_t *cap, size_t need, size_t size);

/* Fold v into the running hash h. */
uint64_t sim_util_mix(uint64_t h, uint64_t v);

/* Fold len bytes at p into the running hash h. */
uint64_t sim_util_hash_bytes(uint64_t h, const void *p, size_t len);

/* Number of live allocations made through raft/base/alloc. */
long sim_util_live(void);

/* Make the k-th allocation from now fail (k >= 1); 0 disarms. For faults
 * injected into the core: arm just before raft_step(), disarm right after,
 * so the simulator's own allocations never see a failure. */
void sim_util_fail_at(long k);

#endif /* SIM_UTIL_H */
