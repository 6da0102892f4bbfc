/* SPDX-License-Identifier: MIT */
/* slog: format a line, hand it to the sink or write it to stderr. */
#include "coord/storage/slog.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#define SLOG_LINE_MAX 512 /* bytes of one line, newline included */

static int threshold = COORD_SLOG_INFO;
static coord_slog_sink_cb sink_cb;
static void *sink_arg;

static const char *level_name(int level)
{
    switch (level) {
    case COORD_SLOG_ERROR:
        return "ERROR";
    case COORD_SLOG_WARN:
        return "WARN";
    case COORD_SLOG_INFO:
        return "INFO";
    default:
        return "DEBUG";
    }
}

void coord_slog(int level, const char *fmt, ...)
{
    char line[SLOG_LINE_MAX];
    va_list ap;
    int n;
    size_t len;

    if (level > threshold) {
        return;
    }
    n = snprintf(line, sizeof(line), "%s ", level_name(level));
    len = n > 0 ? (size_t)n : 0;
    va_start(ap, fmt);
    /* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): false positive, va_start is above */
    n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
    va_end(ap);
    len = n > 0 ? len + (size_t)n : len;
    if (len > sizeof(line) - 2) {
        len = sizeof(line) - 2;
    }
    line[len] = '\0';
    if (sink_cb != NULL) {
        sink_cb(sink_arg, level, line);
        return;
    }
    line[len] = '\n';
    /* One write(2) per line: stdio buffering could split or interleave lines
     * of the loop and log-writer threads. A failed write to stderr has no
     * better place to be reported. */
    if (write(STDERR_FILENO, line, len + 1) < 0) {
        return;
    }
}

void coord_slog_set_level(int level)
{
    threshold = level;
}

void coord_slog_set_sink(coord_slog_sink_cb sink, void *arg)
{
    sink_cb = sink;
    sink_arg = arg;
}
