/* SPDX-License-Identifier: MIT */
/* demo: `sim --demo`, a short readable story of a 5-node cluster without
 * random faults: election, replication, the leader's crash, re-election,
 * the old leader's return and catch-up. Deterministic; for people, not CI
 * coverage (the seeded runs are that). */
#ifndef SIM_DEMO_H
#define SIM_DEMO_H

/* Print the story to stdout. Returns 0, or 1 if the story went wrong. */
int sim_demo_run(void);

#endif /* SIM_DEMO_H */
