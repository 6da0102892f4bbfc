/* SPDX-License-Identifier: MIT */
/* kv: the key-space commands of coordctl (put, get, del), over the
 * synchronous face of libcoord. Output formats are an interface:
 *   get KEY          the value's raw bytes and a newline
 *   get KEY --json   {"key","value","create_revision","mod_revision","version"}
 *   get --prefix P   key and value lines of each key (keys only with --keys-only)
 *   put KEY VALUE    "OK"                 (--json: {"revision": R})
 *   del KEY          the number deleted   (--json: {"deleted": N, "revision": R}) */
#ifndef COORD_CTL_KV_H
#define COORD_CTL_KV_H

#include "coord/ctl/ctl.h"

/* Each is a ctl_cmd_fn. Loop: none (they use coord_sync_*). */
int ctl_kv_put(const struct ctl_ctx *ctx, const char *const *pos, size_t n_pos);
int ctl_kv_get(const struct ctl_ctx *ctx, const char *const *pos, size_t n_pos);
int ctl_kv_del(const struct ctl_ctx *ctx, const char *const *pos, size_t n_pos);

#endif /* COORD_CTL_KV_H */
