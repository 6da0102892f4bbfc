/* SPDX-License-Identifier: MIT */
/* addr: the one reader of "host:port" and "[v6]:port" that the settings,
 * the peer transport, the client port and libcoord share, so an address
 * one of them accepts means the same to all of them. */
#ifndef COORD_ADDR_H
#define COORD_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define COORD_ADDR_HOST_MAX 256 /* bytes of a host, NUL included */
#define COORD_ADDR_PORT_MAX 6   /* bytes of a port, "65535" and NUL */

struct coord_addr {
    char host[COORD_ADDR_HOST_MAX]; /* a name or an IP literal, brackets stripped */
    char port[COORD_ADDR_PORT_MAX]; /* 1 to 5 decimal digits */
    uint16_t port_num;              /* 0 only for a listener's "any port" */
};

/* Parse the len bytes at s (no NUL needed) as "host:port" or "[v6]:port".
 * The port is 1 to 5 digits, at most 65535; 0 is accepted (a listener
 * binding any port) and refused by callers that dial.
 * Errors: RAFT_EINVAL (no colon, empty or too long host, bad port). */
int coord_addr_parse(const char *s, size_t len, struct coord_addr *out);

/* Resolve address ("host:port" or "[v6]:port") into *ss: an IP literal at
 * once; a name through getaddrinfo on gai, synchronously when cb is NULL
 * (only at start: a listener's address, looked up with AI_PASSIVE), else
 * started for cb, which receives the answer.
 * Returns 0 (*ss set), 1 (a lookup for cb is in flight) or a libuv error:
 * UV_EINVAL when address does not parse, UV_EAI_* from the lookup. */
int coord_addr_resolve(uv_loop_t *loop, const char *address, struct sockaddr_storage *ss,
                       uv_getaddrinfo_t *gai, uv_getaddrinfo_cb cb);

#endif /* COORD_ADDR_H */
