/* SPDX-License-Identifier: MIT */
/* addr: "host:port" and "[v6]:port"; see addr.h. */
#include "coord/addr.h"

#include <netdb.h>
#include <string.h>

#include "raft/base/err.h"

int coord_addr_parse(const char *s, size_t len, struct coord_addr *out)
{
    const char *colon = NULL;
    const char *host = s;
    size_t host_len;
    size_t port_len;
    uint32_t port = 0;
    size_t i;

    for (i = len; i > 0; i--) {
        if (s[i - 1] == ':') {
            colon = &s[i - 1];
            break;
        }
    }
    if (colon == NULL) {
        return RAFT_EINVAL;
    }
    host_len = (size_t)(colon - s);
    port_len = len - host_len - 1;
    if (host_len >= 2 && host[0] == '[' && host[host_len - 1] == ']') {
        host++;
        host_len -= 2;
    }
    if (host_len == 0 || host_len >= sizeof out->host || memchr(host, '\0', host_len) != NULL ||
        port_len == 0 || port_len >= sizeof out->port) {
        return RAFT_EINVAL;
    }
    for (i = 0; i < port_len; i++) {
        if (colon[1 + i] < '0' || colon[1 + i] > '9') {
            return RAFT_EINVAL;
        }
        port = port * 10 + (uint32_t)(colon[1 + i] - '0');
    }
    if (port > 65535) {
        return RAFT_EINVAL;
    }
    memcpy(out->host, host, host_len);
    out->host[host_len] = '\0';
    memcpy(out->port, colon + 1, port_len);
    out->port[port_len] = '\0';
    out->port_num = (uint16_t)port;
    return 0;
}

int coord_addr_resolve(uv_loop_t *loop, const char *address, struct sockaddr_storage *ss,
                       uv_getaddrinfo_t *gai, uv_getaddrinfo_cb cb)
{
    struct coord_addr a;
    struct addrinfo hints;
    int rv;

    if (coord_addr_parse(address, strlen(address), &a) != 0) {
        return UV_EINVAL;
    }
    memset(ss, 0, sizeof *ss);
    if (uv_ip4_addr(a.host, a.port_num, (struct sockaddr_in *)ss) == 0 ||
        uv_ip6_addr(a.host, a.port_num, (struct sockaddr_in6 *)ss) == 0) {
        return 0;
    }
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = cb == NULL ? AI_PASSIVE : 0;
    rv = uv_getaddrinfo(loop, gai, cb, a.host, a.port, &hints);
    if (rv != 0 || cb != NULL) {
        return rv != 0 ? rv : 1;
    }
    if (gai->addrinfo == NULL) {
        return UV_EAI_NONAME;
    }
    memcpy(ss, gai->addrinfo->ai_addr, gai->addrinfo->ai_addrlen);
    uv_freeaddrinfo(gai->addrinfo);
    return 0;
}
