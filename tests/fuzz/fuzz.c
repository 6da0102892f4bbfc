/* SPDX-License-Identifier: MIT */
/* fuzz: the failure report, quiet logs and the leak check of the fuzz
 * targets. */
#include "tests/fuzz/fuzz.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "coord/log.h"
#include "raft/base/alloc.h"

#define DUMP_MAX 256 /* input bytes shown in a failure report */

static const uint8_t *cur_data;
static size_t cur_size;

void fuzz_input(const uint8_t *data, size_t size)
{
    cur_data = data;
    cur_size = size;
}

_Noreturn void fuzz_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    size_t i;

    (void)fprintf(stderr, "fuzz: %s:%d: ", file, line);
    va_start(ap, fmt);
    (void)vfprintf(stderr, fmt, ap);
    va_end(ap);
    (void)fprintf(stderr, "\nfuzz: input of %zu bytes:", cur_size);
    for (i = 0; cur_data != NULL && i < cur_size && i < DUMP_MAX; i++) {
        (void)fprintf(stderr, "%s%02x", i % 32 == 0 ? "\n  " : " ", cur_data[i]);
    }
    (void)fprintf(stderr, "%s\n", cur_size > DUMP_MAX ? " ..." : "");
    abort();
}

static void drop_line(void *arg, int level, const char *line)
{
    (void)arg;
    (void)level;
    (void)line;
}

void fuzz_quiet_logs(void)
{
    const char *v = getenv("FUZZ_VERBOSE");

    if (v == NULL || v[0] == '\0' || v[0] == '0') {
        coord_log_set_sink(drop_line, NULL);
    }
}

void fuzz_check_no_leak(long live_before, const char *file, int line)
{
    long live = raft_alloc_live();

    if (live != live_before) {
        fuzz_fail(file, line, "leak: %ld allocations live after the input, %ld before", live,
                  live_before);
    }
}
