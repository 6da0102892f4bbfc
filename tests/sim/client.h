/* SPDX-License-Identifier: MIT */
/* client: the simulated workload. At random times it proposes writes (1..4
 * unique values) and ReadIndex reads, mostly at a node that believes it
 * leads, sometimes anywhere; asks the leader for membership changes (add a
 * learner, promote, demote, remove; never below 3 voters) and leadership
 * transfers. Refusals (ENOTLEADER, EBUSY, ...) are normal; EINVAL for a
 * request the simulator believed valid is a violation. */
#ifndef SIM_CLIENT_H
#define SIM_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

struct sim;
struct sim_node;

/* A CLIENT event is due: make one request, schedule the next. */
void sim_client_tick(struct sim *s);

/* Fill bufs[0..n) (n <= SIM_CLIENT_MAX_BATCH) with fresh unique values,
 * backed by store (n * SIM_CLIENT_VALUE_MAX bytes). */
#define SIM_CLIENT_MAX_BATCH 4
#define SIM_CLIENT_VALUE_MAX 32
void sim_client_values(struct sim *s, struct raft_buf *bufs, size_t n, uint8_t *store);

/* Submit one write at n; returns raft_step's result. */
int sim_client_write(struct sim *s, struct sim_node *n);

#endif /* SIM_CLIENT_H */
