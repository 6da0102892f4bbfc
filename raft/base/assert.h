/* SPDX-License-Identifier: MIT */
/* assert: invariant checks that stay on in every build. Bugs are assertions;
 * bad input from disk or network is an error value, never an assertion. */
#ifndef RAFT_BASE_ASSERT_H
#define RAFT_BASE_ASSERT_H

/* Print file, line, expression and a backtrace to stderr, then abort(). */
_Noreturn void raft_assert_fail(const char *expr, const char *file, int line);

#define RAFT_ASSERT(x) ((x) ? (void)0 : raft_assert_fail(#x, __FILE__, __LINE__))

#ifdef NDEBUG
#define RAFT_DASSERT(x) ((void)0)
#else
#define RAFT_DASSERT(x) RAFT_ASSERT(x)
#endif

#define RAFT_UNREACHABLE() raft_assert_fail("unreachable", __FILE__, __LINE__)

#endif /* RAFT_BASE_ASSERT_H */
