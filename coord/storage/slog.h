/* SPDX-License-Identifier: MIT */
/* slog: the storage layer's minimal logger, one `LEVEL message key=value ...`
 * line per event on stderr. A stand-in until coord/log.h exists; it adds no
 * time, node id or term. Tests may redirect lines to a sink to check them. */
#ifndef COORD_STORAGE_SLOG_H
#define COORD_STORAGE_SLOG_H

enum coord_slog_level {
    COORD_SLOG_ERROR = 0, /* an operator must act */
    COORD_SLOG_WARN = 1,
    COORD_SLOG_INFO = 2, /* lifecycle events only */
    COORD_SLOG_DEBUG = 3,
};

/* Receives one formatted line, without the trailing newline (borrowed). */
typedef void (*coord_slog_sink_cb)(void *arg, int level, const char *line);

#if defined(__GNUC__) || defined(__clang__)
#define COORD_SLOG_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define COORD_SLOG_PRINTF(f, a)
#endif

/* Format and emit one line at level (enum coord_slog_level) if level is at or
 * below the threshold. Lines longer than 512 bytes are cut. Any thread; each
 * line is written with one call, so lines of two threads do not interleave. */
void coord_slog(int level, const char *fmt, ...) COORD_SLOG_PRINTF(2, 3);

/* Drop lines above level (default COORD_SLOG_INFO). Not thread-safe: call
 * before starting threads. */
void coord_slog_set_level(int level);

/* Send lines to sink instead of stderr; NULL restores stderr. Not
 * thread-safe: call before starting threads. */
void coord_slog_set_sink(coord_slog_sink_cb sink, void *arg);

#endif /* COORD_STORAGE_SLOG_H */
