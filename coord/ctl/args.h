/* SPDX-License-Identifier: MIT */
/* args: coordctl's command line turned into values, with no I/O: flags and
 * positional arguments, decimal numbers, endpoint lists and the key range of
 * a prefix. Every function is pure, so the rules are unit-tested. */
#ifndef COORD_CTL_ARGS_H
#define COORD_CTL_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CTL_ARGS_MAX_POS   8  /* positional arguments of one command line */
#define CTL_ARGS_MAX_FLAGS 32 /* entries of a flag table */

/* One known flag, spelled `--name`, `--name value` or `--name=value`. */
struct ctl_flag {
    const char *name; /* without the dashes; "help" also answers to -h */
    bool takes_value; /* else a boolean: --name=... is an error */
};

struct ctl_args {
    const char *pos[CTL_ARGS_MAX_POS];     /* views into argv, in order */
    size_t n_pos;                          /* <= CTL_ARGS_MAX_POS */
    const char *value[CTL_ARGS_MAX_FLAGS]; /* by flag index: NULL when absent, */
                                           /* "" for a boolean, else a view of argv */
};

/* Split argv[0..argc) (the program name excluded) into the flags of spec
 * (n_spec <= CTL_ARGS_MAX_FLAGS) and positional arguments. Flags may come
 * anywhere; `--` makes every later argument positional; a lone `-` or a
 * word starting with one dash (`-5`) is positional, except `-h`. A flag
 * given twice keeps its last value. On error a one-line reason goes to err.
 * Errors: RAFT_EINVAL (unknown flag, missing or unexpected value, more than
 * CTL_ARGS_MAX_POS positional arguments). */
int ctl_args_parse(const struct ctl_flag *spec, size_t n_spec, int argc, char *const *argv,
                   struct ctl_args *out, char *err, size_t err_len);

/* Parse a decimal number without sign, spaces or leading junk, up to max.
 * Errors: RAFT_EINVAL (empty, not a number, above max). */
int ctl_args_u64(const char *s, uint64_t max, uint64_t *out);

/* Split the comma-separated list s in place (commas become NULs; spaces
 * around items are cut): items returns views into s. Errors: RAFT_EINVAL (an
 * empty item, or no item), RAFT_ETOOBIG (more than max_items). */
int ctl_args_split(char *s, const char **items, size_t max_items, size_t *n_items);

/* The end of the key range holding every key that starts with prefix, as
 * etcd computes it: prefix with its last byte below 0xFF incremented and the
 * bytes after it dropped; when there is none (prefix empty or all 0xFF), the
 * one byte "\0", which means "every key >= key". out has room for
 * max(prefix_len, 1) bytes; *out_len returns the length written. */
void ctl_args_prefix_end(const void *prefix, size_t prefix_len, uint8_t *out, size_t *out_len);

#endif /* COORD_CTL_ARGS_H */
