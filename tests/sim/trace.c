/* SPDX-License-Identifier: MIT */
/* trace: a ring of recent lines, optionally echoed to stdout. */
#include "tests/sim/trace.h"

#include <stdarg.h>
#include <string.h>

void sim_trace_init(struct sim_trace *t, enum sim_trace_mode mode)
{
    memset(t, 0, sizeof *t);
    t->mode = mode;
}

bool sim_trace_on(const struct sim_trace *t)
{
    return t->mode != SIM_TRACE_OFF;
}

static void record(struct sim_trace *t, const char *line)
{
    (void)snprintf(t->ring[t->next], SIM_TRACE_LINE, "%s", line);
    t->next = (t->next + 1) % SIM_TRACE_RING;
    if (t->n < SIM_TRACE_RING) {
        t->n++;
    }
    if (t->mode == SIM_TRACE_PRINT) {
        (void)fputs(line, stdout);
        (void)fputc('\n', stdout);
    }
}

void sim_trace_line(struct sim_trace *t, raft_time now, const char *fmt, ...)
{
    char line[SIM_TRACE_LINE];
    int off;
    va_list ap;

    if (t->mode == SIM_TRACE_OFF) {
        return;
    }
    off = snprintf(line, sizeof line, "t=%llu ", (unsigned long long)now);
    va_start(ap, fmt);
    (void)vsnprintf(line + off, sizeof line - (size_t)off, fmt, ap);
    va_end(ap);
    record(t, line);
}

void sim_trace_dump(const struct sim_trace *t, FILE *f)
{
    unsigned first = (t->next + SIM_TRACE_RING - t->n) % SIM_TRACE_RING;
    unsigned i;

    for (i = 0; i < t->n; i++) {
        (void)fprintf(f, "  %s\n", t->ring[(first + i) % SIM_TRACE_RING]);
    }
}

void sim_trace_core(void *arg, raft_id id, raft_time now, const char *msg)
{
    sim_trace_line(arg, now, "n%llu core: %s", (unsigned long long)id, msg);
}
