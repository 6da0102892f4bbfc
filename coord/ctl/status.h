/* SPDX-License-Identifier: MIT */
/* status: `coordctl status`. Every endpoint is asked for its own status at
 * once, by one pinned async client each on one private loop, so a down or
 * paused node costs one timeout in total, not one per node. Members of the
 * configuration that were not among the endpoints are asked in a second
 * round. The answers are joined by join.c, which also defines the output. */
#ifndef COORD_CTL_STATUS_H
#define COORD_CTL_STATUS_H

#include "coord/ctl/ctl.h"

/* A ctl_cmd_fn. Exit 0 when at least one node answered, else 1. */
int ctl_status_run(const struct ctl_ctx *ctx, const char *const *pos, size_t n_pos);

#endif /* COORD_CTL_STATUS_H */
