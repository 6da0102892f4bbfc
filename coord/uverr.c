/* SPDX-License-Identifier: MIT */
/* uverr: see uverr.h. */
#include "coord/uverr.h"

#include <uv.h>

#include "raft/base/err.h"

int coord_uv_err(int uv_err)
{
    switch (uv_err) {
    case 0:
        return 0;
    case UV_ENOMEM:
        return RAFT_ENOMEM;
    case UV_EADDRINUSE:
        return RAFT_EBUSY;
    case UV_EINVAL:
    case UV_EADDRNOTAVAIL:
    case UV_EAFNOSUPPORT:
    case UV_EACCES:
    case UV_EAI_NONAME:
    case UV_EAI_AGAIN:
    case UV_EAI_FAIL:
    case UV_EAI_FAMILY:
    case UV_EAI_SERVICE:
        return RAFT_ECONFIG;
    case UV_ECONNREFUSED:
    case UV_ECONNRESET:
    case UV_ECONNABORTED:
    case UV_EPIPE:
    case UV_ENOTCONN:
    case UV_EOF:
    case UV_ETIMEDOUT:
    case UV_EHOSTUNREACH:
    case UV_ENETUNREACH:
    case UV_ECANCELED:
        return RAFT_ENOCONN;
    case UV_ENOSPC:
        return RAFT_ENOSPC;
    case UV_ENOENT:
        return RAFT_ENOTFOUND;
    default:
        return RAFT_EIO;
    }
}
