/* SPDX-License-Identifier: MIT */
/* Unit tests of raft/base/alloc.c: live counting, fault injection of exactly
 * the k-th allocation, and the out-of-memory sweep pattern that every other
 * module's tests follow (STYLE.md section 9). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above. */
#include <cmocka.h>
#include <string.h>

#include "raft/base/alloc.h"
#include "raft/base/err.h"

/* Upper bound on k in the out-of-memory sweep, so a bug cannot loop forever. */
#define SWEEP_MAX 100

static long live_at_start;

static int setup(void **state)
{
    (void)state;
    raft_alloc_fail_at(0);
    live_at_start = raft_alloc_live();
    return 0;
}

/* Fails the test when it leaked: every test must return the live counter to
 * where it started. */
static int teardown(void **state)
{
    (void)state;
    raft_alloc_fail_at(0);
    assert_int_equal(raft_alloc_live(), live_at_start);
    return 0;
}

static void test_alloc_malloc_free_counts_live(void **state)
{
    void *a;
    void *b;

    (void)state;
    a = raft_malloc(16);
    assert_non_null(a);
    assert_int_equal(raft_alloc_live(), live_at_start + 1);
    b = raft_malloc(32);
    assert_non_null(b);
    assert_int_equal(raft_alloc_live(), live_at_start + 2);
    memset(a, 0xab, 16);
    memset(b, 0xcd, 32);
    raft_free(a);
    assert_int_equal(raft_alloc_live(), live_at_start + 1);
    raft_free(b);
    assert_int_equal(raft_alloc_live(), live_at_start);
}

static void test_alloc_zero_size_is_a_real_allocation(void **state)
{
    void *p;
    void *q;

    (void)state;
    p = raft_malloc(0);
    assert_non_null(p);
    q = raft_calloc(0, 8);
    assert_non_null(q);
    assert_int_equal(raft_alloc_live(), live_at_start + 2);
    raft_free(p);
    raft_free(q);
}

static void test_alloc_calloc_zeroes(void **state)
{
    unsigned char *p;
    size_t i;

    (void)state;
    p = raft_calloc(64, 4);
    assert_non_null(p);
    for (i = 0; i < 256; i++) {
        assert_int_equal(p[i], 0);
    }
    assert_int_equal(raft_alloc_live(), live_at_start + 1);
    raft_free(p);
}

static void test_alloc_free_null_is_noop(void **state)
{
    (void)state;
    raft_free(NULL);
    assert_int_equal(raft_alloc_live(), live_at_start);
}

static void test_alloc_realloc_null_acts_as_malloc(void **state)
{
    void *p;

    (void)state;
    p = raft_realloc(NULL, 24);
    assert_non_null(p);
    assert_int_equal(raft_alloc_live(), live_at_start + 1);
    raft_free(p);
}

static void test_alloc_realloc_keeps_contents_and_count(void **state)
{
    char *p;
    char *q;

    (void)state;
    p = raft_malloc(6);
    assert_non_null(p);
    memcpy(p, "coord", 6);
    q = raft_realloc(p, 4096);
    assert_non_null(q);
    assert_string_equal(q, "coord");
    assert_int_equal(raft_alloc_live(), live_at_start + 1);
    raft_free(q);
}

static void test_alloc_memdup_copies(void **state)
{
    static const char src[] = "raft";
    char *p;

    (void)state;
    p = raft_memdup(src, sizeof(src));
    assert_non_null(p);
    assert_ptr_not_equal(p, src);
    assert_memory_equal(p, src, sizeof(src));
    assert_int_equal(raft_alloc_live(), live_at_start + 1);
    raft_free(p);
}

static void test_alloc_memdup_empty_returns_null(void **state)
{
    (void)state;
    assert_null(raft_memdup("x", 0));
    assert_int_equal(raft_alloc_live(), live_at_start);
}

/* For each k, exactly the k-th of N allocations fails; the others succeed. */
static void test_alloc_fail_at_fails_exactly_kth(void **state)
{
    enum { N = 8 };
    void *p[N];
    long k;
    int i;

    (void)state;
    for (k = 1; k <= N; k++) {
        raft_alloc_fail_at(k);
        for (i = 0; i < N; i++) {
            p[i] = raft_malloc(8);
            if (i + 1 == k) {
                assert_null(p[i]);
            } else {
                assert_non_null(p[i]);
            }
        }
        assert_int_equal(raft_alloc_count(), N);
        assert_int_equal(raft_alloc_live(), live_at_start + N - 1);
        for (i = 0; i < N; i++) {
            raft_free(p[i]);
        }
        assert_int_equal(raft_alloc_live(), live_at_start);
    }
}

/* Only the k-th fails, not every k-th: fault injection is one-shot. */
static void test_alloc_fail_at_is_one_shot(void **state)
{
    void *p[12];
    int i;

    (void)state;
    raft_alloc_fail_at(3);
    for (i = 0; i < 12; i++) {
        p[i] = raft_malloc(1);
    }
    for (i = 0; i < 12; i++) {
        if (i == 2) {
            assert_null(p[i]);
        } else {
            assert_non_null(p[i]);
        }
        raft_free(p[i]);
    }
}

static void test_alloc_fail_at_covers_calloc_realloc_memdup(void **state)
{
    char *p;

    (void)state;
    raft_alloc_fail_at(1);
    assert_null(raft_calloc(4, 4));
    raft_alloc_fail_at(1);
    assert_null(raft_memdup("abc", 3));
    assert_int_equal(raft_alloc_live(), live_at_start);

    /* A failed realloc leaves the old block intact and still owned. */
    p = raft_malloc(4);
    assert_non_null(p);
    memcpy(p, "abc", 4);
    raft_alloc_fail_at(1);
    assert_null(raft_realloc(p, 1 << 20));
    assert_string_equal(p, "abc");
    assert_int_equal(raft_alloc_live(), live_at_start + 1);
    raft_free(p);
}

static void test_alloc_fail_at_zero_disarms(void **state)
{
    void *p;
    int i;

    (void)state;
    raft_alloc_fail_at(2);
    raft_alloc_fail_at(0);
    assert_int_equal(raft_alloc_count(), 0);
    for (i = 0; i < 100; i++) {
        p = raft_malloc(8);
        assert_non_null(p);
        raft_free(p);
    }
    assert_int_equal(raft_alloc_count(), 100);
}

/* A small object with three allocations and a goto ladder, the shape every
 * module uses; the sweep below checks it against every failing allocation. */
struct triple {
    void *a;
    void *b;
    void *c;
};

static int triple_init(struct triple *t)
{
    int rv = RAFT_ENOMEM;

    t->a = raft_malloc(8);
    if (t->a == NULL) {
        goto err;
    }
    t->b = raft_calloc(2, 8);
    if (t->b == NULL) {
        goto err_after_a;
    }
    t->c = raft_memdup("xyz", 3);
    if (t->c == NULL) {
        goto err_after_b;
    }
    return 0;

err_after_b:
    raft_free(t->b);
err_after_a:
    raft_free(t->a);
err:
    return rv;
}

static void triple_close(struct triple *t)
{
    raft_free(t->c);
    raft_free(t->b);
    raft_free(t->a);
}

static void test_alloc_oom_sweep_returns_enomem_and_leaks_nothing(void **state)
{
    struct triple t = {NULL, NULL, NULL};
    long k;
    int rv = RAFT_ENOMEM;

    (void)state;
    for (k = 1; k <= SWEEP_MAX; k++) {
        raft_alloc_fail_at(k);
        rv = triple_init(&t);
        if (rv == 0) {
            break;
        }
        assert_int_equal(rv, RAFT_ENOMEM);
        assert_int_equal(raft_alloc_live(), live_at_start);
    }
    assert_int_equal(rv, 0);
    /* Three allocations, so the first run that succeeds is k = 4. */
    assert_int_equal(k, 4);
    triple_close(&t);
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(test_alloc_malloc_free_counts_live),
        TEST(test_alloc_zero_size_is_a_real_allocation),
        TEST(test_alloc_calloc_zeroes),
        TEST(test_alloc_free_null_is_noop),
        TEST(test_alloc_realloc_null_acts_as_malloc),
        TEST(test_alloc_realloc_keeps_contents_and_count),
        TEST(test_alloc_memdup_copies),
        TEST(test_alloc_memdup_empty_returns_null),
        TEST(test_alloc_fail_at_fails_exactly_kth),
        TEST(test_alloc_fail_at_is_one_shot),
        TEST(test_alloc_fail_at_covers_calloc_realloc_memdup),
        TEST(test_alloc_fail_at_zero_disarms),
        TEST(test_alloc_oom_sweep_returns_enomem_and_leaks_nothing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
