/* SPDX-License-Identifier: MIT */
/* alloc: the one door every allocation of raft/ and coord/ goes through.
 * It counts live allocations (tests fail on leaks) and can be told to fail
 * the k-th allocation (tests sweep out-of-memory paths). Counters are
 * process-wide atomics; fault injection is meant for single-threaded tests. */
#ifndef RAFT_BASE_ALLOC_H
#define RAFT_BASE_ALLOC_H

#include <stddef.h>

/* Same contracts as malloc/calloc/realloc/free, except that they may also
 * fail on purpose when fault injection is armed. Any thread. */
void *raft_malloc(size_t size);
void *raft_calloc(size_t n, size_t size);
void *raft_realloc(void *p, size_t size);
void raft_free(void *p);

/* Duplicate len bytes of p (returns owned; raft_free). NULL on ENOMEM or when
 * len is 0. */
void *raft_memdup(const void *p, size_t len);

/* Number of allocations not yet freed. */
long raft_alloc_live(void);

/* Arm fault injection: the k-th allocation from now fails (k >= 1), and only
 * that one. k = 0 disarms. */
void raft_alloc_fail_at(long k);

/* Number of allocations attempted since the last raft_alloc_fail_at(). */
long raft_alloc_count(void);

#endif /* RAFT_BASE_ALLOC_H */
