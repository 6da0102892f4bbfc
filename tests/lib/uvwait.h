/* SPDX-License-Identifier: MIT */
/* uvwait: the one bounded wait of the loopback tests. Runs a libuv loop one
 * iteration at a time until a condition holds, bounded in time (a guard
 * timer whose callback sets a flag) and in count (iterations); on failure it
 * names the condition and its line, runs on_fail (e.g. a log dump) and fails
 * the cmocka test. Include after <cmocka.h> and <uv.h>. */
#ifndef TESTS_LIB_UVWAIT_H
#define TESTS_LIB_UVWAIT_H

/* loop: uv_loop_t *; guard: uv_timer_t * whose callback on_guard sets the
 * bool lvalue expired; guard_ms, max_iters: the bounds. */
#define UVWAIT_UNTIL(loop, guard, on_guard, expired, guard_ms, max_iters, cond, on_fail)           \
    do {                                                                                           \
        long iter_;                                                                                \
        (expired) = false;                                                                         \
        (void)uv_timer_start((guard), (on_guard), (guard_ms), 0);                                  \
        for (iter_ = 0; iter_ < (max_iters) && !(cond) && !(expired); iter_++) {                   \
            (void)uv_run((loop), UV_RUN_ONCE);                                                     \
        }                                                                                          \
        (void)uv_timer_stop(guard);                                                                \
        if (!(cond)) {                                                                             \
            print_error("%s:%d: gave up waiting for: %s\n", __FILE__, __LINE__, #cond);            \
            on_fail;                                                                               \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

#endif /* TESTS_LIB_UVWAIT_H */
