/* SPDX-License-Identifier: MIT */
/* fuzz: what the fuzz targets of tests/fuzz/ share. Each target is one file
 * defining LLVMFuzzerTestOneInput(); it is linked either with libFuzzer (the
 * fuzz build flavour, clang) or with replay_main.c, a plain main() that runs
 * it over the files of a corpus directory (every other flavour). A target
 * reports a broken property with FUZZ_CHECK, which aborts: libFuzzer saves
 * the input as a crash artifact, and a replay test fails. */
#ifndef TESTS_FUZZ_FUZZ_H
#define TESTS_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* The libFuzzer entry point, defined by each target. Returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Print "fuzz: <file>:<line>: <what>" and a hex dump of the current input
 * (when the target registered it with fuzz_input()), then abort(). */
_Noreturn void fuzz_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Check a property of the code under test; never compiled out. FUZZ_CHECKF
 * adds a printf-style message. */
#define FUZZ_CHECK(x)                                                                              \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fuzz_fail(__FILE__, __LINE__, "check failed: %s", #x);                                 \
        }                                                                                          \
    } while (0)
#define FUZZ_CHECKF(x, ...)                                                                        \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fuzz_fail(__FILE__, __LINE__, __VA_ARGS__);                                            \
        }                                                                                          \
    } while (0)

/* Remember the input being run, for fuzz_fail()'s report (borrowed). */
void fuzz_input(const uint8_t *data, size_t size);

/* Send coord's log lines (COORD_LOG) nowhere, so that millions of runs do
 * not flood stderr; FUZZ_VERBOSE=1 in the environment keeps them. Idempotent. */
void fuzz_quiet_logs(void);

/* Fail unless raft/base/alloc counts as many live allocations as before:
 * every input must release what it allocated. */
void fuzz_check_no_leak(long live_before, const char *file, int line);
#define FUZZ_CHECK_NO_LEAK(before) fuzz_check_no_leak((before), __FILE__, __LINE__)

#endif /* TESTS_FUZZ_FUZZ_H */
