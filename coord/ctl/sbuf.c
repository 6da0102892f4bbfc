/* SPDX-License-Identifier: MIT */
/* sbuf: a growable, always NUL-terminated byte buffer with a sticky error. */
#include "coord/ctl/sbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "raft/base/alloc.h"
#include "raft/base/assert.h"
#include "raft/base/err.h"

#define SBUF_MIN_CAP 256 /* bytes of the first allocation */

void ctl_sbuf_init(struct ctl_sbuf *b)
{
    b->base = NULL;
    b->len = 0;
    b->cap = 0;
    b->err = 0;
}

void ctl_sbuf_close(struct ctl_sbuf *b)
{
    raft_free(b->base);
    ctl_sbuf_init(b);
}

/* Make room for extra more bytes plus the NUL. Returns 0 or sets b->err. */
static int reserve(struct ctl_sbuf *b, size_t extra)
{
    size_t need;
    size_t cap;
    char *p;

    if (b->err != 0) {
        return b->err;
    }
    if (extra > CTL_SBUF_MAX - b->len) {
        b->err = RAFT_ETOOBIG;
        return b->err;
    }
    need = b->len + extra + 1;
    if (need <= b->cap) {
        return 0;
    }
    cap = b->cap > 0 ? b->cap : SBUF_MIN_CAP;
    while (cap < need) {
        cap *= 2;
    }
    p = raft_realloc(b->base, cap);
    if (p == NULL) {
        b->err = RAFT_ENOMEM;
        return b->err;
    }
    b->base = p;
    b->cap = cap;
    return 0;
}

void ctl_sbuf_append(struct ctl_sbuf *b, const void *p, size_t len)
{
    if (reserve(b, len) != 0) {
        return;
    }
    if (len > 0) {
        memcpy(b->base + b->len, p, len);
    }
    b->len += len;
    b->base[b->len] = '\0';
    RAFT_DASSERT(b->len < b->cap);
}

void ctl_sbuf_puts(struct ctl_sbuf *b, const char *s)
{
    ctl_sbuf_append(b, s, strlen(s));
}

void ctl_sbuf_putc(struct ctl_sbuf *b, char c)
{
    ctl_sbuf_append(b, &c, 1);
}

void ctl_sbuf_printf(struct ctl_sbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    char small[128];

    va_start(ap, fmt);
    /* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): va_start is above */
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->err = b->err != 0 ? b->err : RAFT_EINVAL;
        return;
    }
    if ((size_t)n < sizeof(small)) {
        ctl_sbuf_append(b, small, (size_t)n);
        return;
    }
    /* Too long for the stack buffer: format straight into the reserve. */
    if (reserve(b, (size_t)n) != 0) {
        return;
    }
    va_start(ap, fmt);
    /* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): va_start is above */
    n = vsnprintf(b->base + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    RAFT_ASSERT(n >= 0);
    b->len += (size_t)n;
}
