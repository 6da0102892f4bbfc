/* SPDX-License-Identifier: MIT */
/* assert: the failure path of RAFT_ASSERT. */
#include "raft/base/assert.h"

#include <execinfo.h>
#include <stdio.h>
#include <stdlib.h>

_Noreturn void raft_assert_fail(const char *expr, const char *file, int line)
{
    void *frames[64];
    int n;

    fprintf(stderr, "assertion failed: %s (%s:%d)\n", expr, file, line);
    n = backtrace(frames, 64);
    backtrace_symbols_fd(frames, n, 2);
    abort();
}
