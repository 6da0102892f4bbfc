/* SPDX-License-Identifier: MIT */
/* uverr: libuv error codes to RAFT_E* codes, for the modules that own
 * sockets on the loop (coord/transport.c, coord/server.c): one table, so a
 * refused connection or an address in use means the same everywhere. */
#ifndef COORD_UVERR_H
#define COORD_UVERR_H

/* The RAFT_E* code for uv_err (a negative UV_E* value, or 0 -> 0):
 * RAFT_ENOMEM, RAFT_EBUSY (address in use), RAFT_ECONFIG (addresses that do
 * not parse, resolve or bind), RAFT_ENOCONN (the connection failed or went
 * away, canceled included), RAFT_ENOSPC, RAFT_ENOTFOUND, else RAFT_EIO.
 * Any thread. */
int coord_uv_err(int uv_err);

#endif /* COORD_UVERR_H */
