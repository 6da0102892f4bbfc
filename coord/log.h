/* SPDX-License-Identifier: MIT */
/* log: coord's logger. One line per event on stderr:
 *   2026-11-22T06:20:01.123Z INFO n=1 term=3 became leader key=value ...
 * The logger adds the time, the node id and the current term; callers write
 * a short message and key=value fields (STYLE.md section 6). Not for the
 * Raft core, which reports through its trace callback. */
#ifndef COORD_LOG_H
#define COORD_LOG_H

#include <stdint.h>

enum coord_log_level {
    COORD_LOG_ERROR = 0, /* an operator must act */
    COORD_LOG_WARN = 1,
    COORD_LOG_INFO = 2, /* lifecycle events only, never per request */
    COORD_LOG_DEBUG = 3,
    COORD_LOG_TRACE = 4,
};

/* Receives one formatted line without its trailing newline (borrowed). */
typedef void (*coord_log_sink_cb)(void *arg, int level, const char *line);

#if defined(__GNUC__) || defined(__clang__)
#define COORD_LOG_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define COORD_LOG_PRINTF(f, a)
#endif

/* COORD_LOG(WARN, "append failed err=%s index=%llu", ...). */
#define COORD_LOG(level, ...) coord_log_write(COORD_LOG_##level, __VA_ARGS__)

/* Format and emit one line at level (enum coord_log_level) if level is at or
 * below the threshold. Lines longer than 512 bytes are cut. Any thread; each
 * line is written with one write(2), so lines of two threads never mix. */
void coord_log_write(int level, const char *fmt, ...) COORD_LOG_PRINTF(2, 3);

/* True when a line at level would be emitted (to skip costly formatting). */
int coord_log_enabled(int level);

/* Drop lines above level (default COORD_LOG_INFO). Call before starting
 * threads. */
void coord_log_set_level(int level);

/* Parse "error", "warn", "info", "debug" or "trace". Returns the level, or
 * -1 for anything else. */
int coord_log_level_parse(const char *name);

/* Send lines to sink instead of stderr; NULL restores stderr. Call before
 * starting threads. */
void coord_log_set_sink(coord_log_sink_cb sink, void *arg);

/* Node id and term shown on every line (0 hides them). Any thread. */
void coord_log_set_node(uint64_t node_id);
void coord_log_set_term(uint64_t term);

#endif /* COORD_LOG_H */
