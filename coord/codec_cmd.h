/* SPDX-License-Identifier: MIT */
/* codec_cmd: struct coord_cmd <-> the bytes of a Raft NORMAL entry
 * (proto/command.proto, protobuf-c). The only file that includes the
 * generated command.pb-c.h. It validates every limit of coord/cmd.h, so the
 * state machine may trust a decoded command's shape, never its meaning. */
#ifndef COORD_CODEC_CMD_H
#define COORD_CODEC_CMD_H

#include "coord/cmd.h"

/* Encode cmd (borrowed; version 0 means COORD_CMD_VERSION) into *out, which
 * returns owned: release out->base with raft_free(). On error *out is
 * {NULL, 0}. The encoding is deterministic: equal commands, equal bytes.
 * Errors: RAFT_EINVAL (unknown type or version, an empty key, a compare whose
 * target and op do not fit, a buf with len > 0 and no base), RAFT_ETOOBIG (a
 * limit of coord/cmd.h exceeded, the encoding included), RAFT_ENOMEM.
 * Any thread. */
int coord_cmd_encode(const struct coord_cmd *cmd, struct raft_buf *out);

/* Decode in (borrowed) into *cmd (overwritten). On success *cmd returns
 * owned: every buf and array in it lives until coord_cmd_release(cmd); in is
 * not referenced afterwards. On error *cmd is zeroed and needs no release.
 * Bytes from disk or a peer can never crash it.
 * Errors: RAFT_EPROTO (not a Command, unknown version or op, a field we need
 * missing or malformed), RAFT_ETOOBIG (in longer than COORD_CMD_ENCODED_MAX,
 * or a key, value or txn list over its limit), RAFT_ENOMEM. Any thread. */
int coord_cmd_decode(const struct raft_buf *in, struct coord_cmd *cmd);

/* Release what coord_cmd_decode() put in cmd and zero it. A zeroed cmd is a
 * no-op; never call it on a command built by hand. */
void coord_cmd_release(struct coord_cmd *cmd);

#endif /* COORD_CODEC_CMD_H */
