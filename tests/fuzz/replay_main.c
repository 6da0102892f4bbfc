/* SPDX-License-Identifier: MIT */
/* replay_main: a plain main() for a fuzz target, for builds without
 * libFuzzer (gcc). It runs LLVMFuzzerTestOneInput() once on every file named
 * on the command line and on every regular file of every directory named,
 * in name order, so CTest checks the committed corpus on every CI run. It
 * does not fuzz: it only replays.
 *
 *   <target>_replay FILE|DIR...
 *
 * Exit status 0 when every input ran (a failing one aborts), 2 on a usage or
 * I/O error. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/fuzz/fuzz.h"

#define INPUT_MAX (16u << 20) /* bytes of one input; corpus files are far smaller */

/* Run the target on the file at path. Returns 0, or -1 after a message. */
static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    uint8_t *buf;
    size_t len;

    if (f == NULL || fstat(fileno(f), &st) != 0 || st.st_size > (off_t)INPUT_MAX) {
        (void)fprintf(stderr, "replay: cannot read %s (or larger than %u bytes)\n", path,
                      INPUT_MAX);
        if (f != NULL) {
            (void)fclose(f);
        }
        return -1;
    }
    len = (size_t)st.st_size;
    /* Exactly len bytes, so that ASan sees a read past the input. */
    buf = malloc(len > 0 ? len : 1);
    if (buf == NULL || fread(buf, 1, len, f) != len) {
        (void)fprintf(stderr, "replay: cannot read %s\n", path);
        free(buf);
        (void)fclose(f);
        return -1;
    }
    (void)fclose(f);
    (void)LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Run the target on every regular file of dir, in name order. *n counts
 * the inputs run. Returns 0 or -1 (after a message). */
static int run_dir(const char *dir, unsigned *n)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **names = NULL;
    size_t n_names = 0;
    size_t i;
    int rv = 0;

    if (d == NULL) {
        (void)fprintf(stderr, "replay: cannot open %s: %s\n", dir, strerror(errno));
        return -1;
    }
    while (rv == 0 && (de = readdir(d)) != NULL) {
        char **grown;
        char *name;

        if (de->d_name[0] == '.') {
            continue;
        }
        grown = realloc(names, (n_names + 1) * sizeof *names);
        name = malloc(strlen(dir) + strlen(de->d_name) + 2);
        if (grown != NULL) {
            names = grown;
        }
        if (grown == NULL || name == NULL) {
            (void)fprintf(stderr, "replay: out of memory listing %s\n", dir);
            free(name);
            rv = -1;
            break;
        }
        (void)sprintf(name, "%s/%s", dir, de->d_name);
        names[n_names++] = name;
    }
    (void)closedir(d);
    if (n_names > 0) {
        qsort(names, n_names, sizeof *names, cmp_names);
    }
    for (i = 0; i < n_names; i++) {
        struct stat st;

        if (rv == 0 && stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
            rv = run_file(names[i]);
            *n += rv == 0 ? 1 : 0;
        }
        free(names[i]);
    }
    free(names);
    return rv;
}

int main(int argc, char **argv)
{
    unsigned n = 0;
    int i;

    if (argc < 2) {
        (void)fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
    }
    for (i = 1; i < argc; i++) {
        struct stat st;
        int rv;

        if (stat(argv[i], &st) != 0) {
            (void)fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            return 2;
        }
        if (S_ISDIR(st.st_mode)) {
            rv = run_dir(argv[i], &n);
        } else {
            rv = run_file(argv[i]);
            n += rv == 0 ? 1 : 0;
        }
        if (rv != 0) {
            return 2;
        }
    }
    if (n == 0) {
        (void)fprintf(stderr, "replay: no inputs found\n");
        return 2;
    }
    printf("replay: %u inputs ran\n", n);
    return 0;
}
