/* SPDX-License-Identifier: MIT */
/* rand: a small seeded PRNG (xoshiro256**, seeded by splitmix64). The core
 * and the simulator draw all randomness from one of these, never rand(). */
#ifndef RAFT_BASE_RAND_H
#define RAFT_BASE_RAND_H

#include <stdint.h>

struct raft_rand {
    uint64_t s[4]; /* never all zero */
};

/* Seed the generator; every seed, 0 included, gives a valid state. */
void raft_rand_seed(struct raft_rand *r, uint64_t seed);

/* Next 64 uniformly distributed bits. */
uint64_t raft_rand_next(struct raft_rand *r);

/* Uniform integer in [0, n); n must be > 0. */
uint64_t raft_rand_below(struct raft_rand *r, uint64_t n);

/* True with probability per_mille / 1000. */
int raft_rand_chance(struct raft_rand *r, unsigned per_mille);

#endif /* RAFT_BASE_RAND_H */
