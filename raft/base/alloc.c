/* SPDX-License-Identifier: MIT */
/* alloc: counting allocator with fault injection for tests. */
#include "raft/base/alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_long live;
static atomic_long attempts;
static atomic_long fail_at;

static int should_fail(void)
{
    long n = atomic_fetch_add(&attempts, 1) + 1;
    long k = atomic_load(&fail_at);
    return k > 0 && n == k;
}

void *raft_malloc(size_t size)
{
    void *p;

    if (should_fail()) {
        return NULL;
    }
    p = malloc(size == 0 ? 1 : size);
    if (p != NULL) {
        atomic_fetch_add(&live, 1);
    }
    return p;
}

void *raft_calloc(size_t n, size_t size)
{
    void *p;

    if (should_fail()) {
        return NULL;
    }
    p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size);
    if (p != NULL) {
        atomic_fetch_add(&live, 1);
    }
    return p;
}

void *raft_realloc(void *p, size_t size)
{
    void *q;

    if (p == NULL) {
        return raft_malloc(size);
    }
    if (should_fail()) {
        return NULL;
    }
    q = realloc(p, size == 0 ? 1 : size);
    return q;
}

void raft_free(void *p)
{
    if (p == NULL) {
        return;
    }
    atomic_fetch_sub(&live, 1);
    free(p);
}

void *raft_memdup(const void *p, size_t len)
{
    void *q;

    if (len == 0) {
        return NULL;
    }
    q = raft_malloc(len);
    if (q != NULL) {
        memcpy(q, p, len);
    }
    return q;
}

long raft_alloc_live(void)
{
    return atomic_load(&live);
}

void raft_alloc_fail_at(long k)
{
    atomic_store(&attempts, 0);
    atomic_store(&fail_at, k);
}

long raft_alloc_count(void)
{
    return atomic_load(&attempts);
}
