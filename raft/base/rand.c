/* SPDX-License-Identifier: MIT */
/* rand: xoshiro256** by Blackman and Vigna, seeded with splitmix64. */
#include "raft/base/rand.h"

#include "raft/base/assert.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void raft_rand_seed(struct raft_rand *r, uint64_t seed)
{
    uint64_t x = seed;
    int i;

    for (i = 0; i < 4; i++) {
        r->s[i] = splitmix64(&x);
    }
}

uint64_t raft_rand_next(struct raft_rand *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t raft_rand_below(struct raft_rand *r, uint64_t n)
{
    RAFT_ASSERT(n > 0);
    /* Lemire's multiply-shift would avoid the modulo bias; at the ranges used
     * here (timeouts, probabilities) the bias is below 2^-40 and harmless. */
    return raft_rand_next(r) % n;
}

int raft_rand_chance(struct raft_rand *r, unsigned per_mille)
{
    return raft_rand_below(r, 1000) < per_mille;
}
