/* SPDX-License-Identifier: MIT */
/* log: format a line with time, node and term, hand it to the sink or write
 * it to stderr. */
#include "coord/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 512 /* bytes of one line, newline included */

static int threshold = COORD_LOG_INFO;
static coord_log_sink_cb sink_cb;
static void *sink_arg;
static atomic_uint_fast64_t node_id;
static atomic_uint_fast64_t cur_term;

static const char *level_name(int level)
{
    static const char *const names[] = {"ERROR", "WARN", "INFO", "DEBUG", "TRACE"};

    return level >= 0 && level <= COORD_LOG_TRACE ? names[level] : "?";
}

/* "2026-11-22T06:20:01.123Z LEVEL n=1 term=3 " into line; returns length. */
static size_t prefix(char *line, size_t cap, int level)
{
    struct timespec ts;
    struct tm tm;
    uint64_t id = atomic_load(&node_id);
    int n;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = snprintf(line, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
                 level_name(level));
    if (n > 0 && id != 0 && (size_t)n < cap) {
        int m = snprintf(line + n, cap - (size_t)n, "n=%llu term=%llu ", (unsigned long long)id,
                         (unsigned long long)atomic_load(&cur_term));

        n = m > 0 ? n + m : n;
    }
    return n > 0 ? ((size_t)n < cap ? (size_t)n : cap - 1) : 0;
}

void coord_log_write(int level, const char *fmt, ...)
{
    char line[LOG_LINE_MAX];
    va_list ap;
    size_t len;
    int n;

    if (level > threshold) {
        return;
    }
    len = sink_cb != NULL ? 0 : prefix(line, sizeof line, level);
    va_start(ap, fmt);
    /* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): va_start is above */
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
     * of the loop and worker threads. A failed write to stderr has no better
     * place to be reported. */
    if (write(STDERR_FILENO, line, len + 1) < 0) {
        return;
    }
}

int coord_log_enabled(int level)
{
    return level <= threshold;
}

void coord_log_set_level(int level)
{
    threshold = level;
}

int coord_log_level_parse(const char *name)
{
    static const char *const names[] = {"error", "warn", "info", "debug", "trace"};
    int i;

    for (i = 0; i <= COORD_LOG_TRACE; i++) {
        if (strcmp(name, names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

void coord_log_set_sink(coord_log_sink_cb sink, void *arg)
{
    sink_cb = sink;
    sink_arg = arg;
}

void coord_log_set_node(uint64_t id)
{
    atomic_store(&node_id, id);
}

void coord_log_set_term(uint64_t term)
{
    atomic_store(&cur_term, term);
}
