/* SPDX-License-Identifier: MIT */
/* admin: the cluster commands of coordctl: the configuration (members list,
 * add, promote, demote, remove) and leadership transfer. Changes go to any
 * node, which forwards them to the leader. */
#ifndef COORD_CTL_ADMIN_H
#define COORD_CTL_ADMIN_H

#include "coord/ctl/ctl.h"

/* Each is a ctl_cmd_fn. */
int ctl_admin_members_list(const struct ctl_ctx *ctx, const char *const *pos, size_t n_pos);
int ctl_admin_members_add(const struct ctl_ctx *ctx, const char *const *pos, size_t n_pos);
int ctl_admin_members_promote(const struct ctl_ctx *ctx, const char *const *pos, size_t n_pos);
int ctl_admin_members_demote(const struct ctl_ctx *ctx, const char *const *pos, size_t n_pos);
int ctl_admin_members_remove(const struct ctl_ctx *ctx, const char *const *pos, size_t n_pos);
int ctl_admin_leader_transfer(const struct ctl_ctx *ctx, const char *const *pos, size_t n_pos);

#endif /* COORD_CTL_ADMIN_H */
