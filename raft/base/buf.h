/* SPDX-License-Identifier: MIT */
/* buf: a pointer that never travels without its length. */
#ifndef RAFT_BASE_BUF_H
#define RAFT_BASE_BUF_H

#include <stddef.h>

struct raft_buf {
    void *base; /* may be NULL when len == 0 */
    size_t len; /* bytes */
};

#endif /* RAFT_BASE_BUF_H */
