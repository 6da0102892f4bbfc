/* SPDX-License-Identifier: MIT */
/* sbuf: the growable byte buffer coordctl renders its output into, so that
 * every formatter is a pure function a unit test can call. The first failure
 * sticks: later appends are no-ops and the error is read once, at the end. */
#ifndef COORD_CTL_SBUF_H
#define COORD_CTL_SBUF_H

#include <stddef.h>

/* An output of coordctl never needs more; a bigger one is a bug or a hostile
 * server, and fails with RAFT_ETOOBIG instead of eating memory. */
#define CTL_SBUF_MAX ((size_t)256 << 20) /* bytes */

struct ctl_sbuf {
    char *base; /* NUL-terminated when not NULL; owned */
    size_t len; /* bytes written, the NUL excluded; <= CTL_SBUF_MAX */
    size_t cap; /* bytes allocated at base */
    int err;    /* 0, or the first RAFT_ENOMEM / RAFT_ETOOBIG met */
};

/* An empty buffer that owns nothing. */
void ctl_sbuf_init(struct ctl_sbuf *b);

/* Release the storage; b is empty again. No-op on a zeroed buffer. */
void ctl_sbuf_close(struct ctl_sbuf *b);

/* Append len bytes of p (borrowed). On failure sets b->err and appends
 * nothing more, ever. */
void ctl_sbuf_append(struct ctl_sbuf *b, const void *p, size_t len);

/* Append a NUL-terminated string. */
void ctl_sbuf_puts(struct ctl_sbuf *b, const char *s);

/* Append one byte. */
void ctl_sbuf_putc(struct ctl_sbuf *b, char c);

/* Append printf-formatted text. */
void ctl_sbuf_printf(struct ctl_sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif /* COORD_CTL_SBUF_H */
