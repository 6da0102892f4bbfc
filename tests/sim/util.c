/* SPDX-License-Identifier: MIT */
/* util: checked allocation and deterministic hashing for the simulator. */
#include "tests/sim/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raft/base/alloc.h"

static void *check(void *p, size_t size)
{
    if (p == NULL && size > 0) {
        (void)fprintf(stderr, "sim: out of memory (%zu bytes)\n", size);
        abort();
    }
    return p;
}

void *sim_util_malloc(size_t size)
{
    return check(raft_malloc(size), size);
}

void *sim_util_calloc(size_t n, size_t size)
{
    return check(raft_calloc(n, size), n * size);
}

void *sim_util_realloc(void *p, size_t size)
{
    return check(raft_realloc(p, size), size);
}

void sim_util_free(void *p)
{
    raft_free(p);
}

void *sim_util_memdup(const void *p, size_t len)
{
    void *q;

    if (len == 0) {
        return NULL;
    }
    q = sim_util_malloc(len);
    memcpy(q, p, len);
    return q;
}

void sim_util_reserve(void **items, size_t *cap, size_t need, size_t size)
{
    size_t n = *cap == 0 ? 8 : *cap;

    if (need <= *cap) {
        return;
    }
    while (n < need) {
        n *= 2;
    }
    *items = sim_util_realloc(*items, n * size);
    *cap = n;
}

uint64_t sim_util_mix(uint64_t h, uint64_t v)
{
    /* splitmix64's finalizer over (h, v): cheap and well distributed. */
    uint64_t z = h ^ (v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t sim_util_hash_bytes(uint64_t h, const void *p, size_t len)
{
    const unsigned char *b = p;
    size_t i;

    h = sim_util_mix(h, len);
    for (i = 0; i + 8 <= len; i += 8) {
        uint64_t w;

        memcpy(&w, b + i, 8);
        h = sim_util_mix(h, w);
    }
    if (i < len) {
        uint64_t w = 0;

        memcpy(&w, b + i, len - i);
        h = sim_util_mix(h, w);
    }
    return h;
}

long sim_util_live(void)
{
    return raft_alloc_live();
}

void sim_util_fail_at(long k)
{
    raft_alloc_fail_at(k);
}
