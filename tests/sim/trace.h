/* SPDX-License-Identifier: MIT */
/* trace: the simulator's event log. Off by default (formatting costs time);
 * RING keeps the last SIM_TRACE_RING lines for a violation report; PRINT
 * also writes every line to stdout (--trace). Lines look like
 * "t=123 n2 term=3 FOLLOWER->CANDIDATE". Not a logger for the core: core
 * trace messages come in through sim_trace_core(), a raft_trace_cb. */
#ifndef SIM_TRACE_H
#define SIM_TRACE_H

#include <stdbool.h>
#include <stdio.h>

#include "raft/raft.h"

enum sim_trace_mode {
    SIM_TRACE_OFF = 0,
    SIM_TRACE_RING = 1,
    SIM_TRACE_PRINT = 2,
};

#define SIM_TRACE_RING 40  /* lines kept for a violation report */
#define SIM_TRACE_LINE 240 /* bytes per line, NUL included; longer lines are cut */

struct sim_trace {
    enum sim_trace_mode mode;
    char ring[SIM_TRACE_RING][SIM_TRACE_LINE];
    unsigned next; /* slot the next line goes to */
    unsigned n;    /* lines held, <= SIM_TRACE_RING */
};

void sim_trace_init(struct sim_trace *t, enum sim_trace_mode mode);

/* True when lines are recorded; callers skip building costly arguments. */
bool sim_trace_on(const struct sim_trace *t);

/* Record one line "t=<now> " + fmt. No-op when off. */
void sim_trace_line(struct sim_trace *t, raft_time now, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Write the recorded lines, oldest first, to f. */
void sim_trace_dump(const struct sim_trace *t, FILE *f);

/* raft_trace_cb: arg is the struct sim_trace. Records "t=<now> n<id> core: msg". */
void sim_trace_core(void *arg, raft_id id, raft_time now, const char *msg);

#endif /* SIM_TRACE_H */
