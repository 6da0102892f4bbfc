/* SPDX-License-Identifier: MIT */
/* chaos: the fault injector. At random times (weights drawn per run) it
 * crashes a node (restarted after a random delay, sometimes within a few
 * ms so old messages reach the new incarnation), pauses one (SIGSTOP-like:
 * its events wait), isolates one, cuts a pair in both or one direction,
 * splits the cluster in two, or lifts every partition early. Network loss,
 * duplication and delay are net.h's; this module only decides when. */
#ifndef SIM_CHAOS_H
#define SIM_CHAOS_H

#include <stdbool.h>

struct sim;
struct sim_event;
struct sim_node;

/* A CHAOS event is due: inject one fault, schedule the next decision. */
void sim_chaos_tick(struct sim *s);

/* Crash n now and schedule its restart: fast (within a few ms, so
 * messages sent to the old incarnation reach the new one) or slow. */
void sim_chaos_crash(struct sim *s, struct sim_node *n, bool fast);

/* A CRASH event is due: crash the node if still in the incarnation the
 * event names. */
void sim_chaos_crash_event(struct sim *s, const struct sim_event *ev);

/* A RESTART event is due: start the node if it is still down in the
 * incarnation the event names. */
void sim_chaos_restart(struct sim *s, const struct sim_event *ev);

/* An UNPAUSE event is due: resume the node if it is still paused in the
 * incarnation the event names. */
void sim_chaos_unpause(struct sim *s, const struct sim_event *ev);

#endif /* SIM_CHAOS_H */
