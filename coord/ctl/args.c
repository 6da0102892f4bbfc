/* SPDX-License-Identifier: MIT */
/* args: flag parsing, numbers, lists and prefix ranges for coordctl. */
#include "coord/ctl/args.h"

#include <stdio.h>
#include <string.h>

#include "raft/base/assert.h"
#include "raft/base/err.h"

/* The index of the flag called name (name_len bytes) in spec, or -1. */
static int find_flag(const struct ctl_flag *spec, size_t n_spec, const char *name, size_t name_len)
{
    size_t i;

    for (i = 0; i < n_spec; i++) {
        if (strlen(spec[i].name) == name_len && memcmp(spec[i].name, name, name_len) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* Handle the flag argv[*i] (starting with "--", not "--" itself). */
static int parse_flag(const struct ctl_flag *spec, size_t n_spec, int argc, char *const *argv,
                      int *i, struct ctl_args *out, char *err, size_t err_len)
{
    const char *arg = argv[*i] + 2;
    const char *eq = strchr(arg, '=');
    size_t name_len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
    int k = find_flag(spec, n_spec, arg, name_len);

    if (k < 0) {
        (void)snprintf(err, err_len, "unknown flag --%.*s", (int)name_len, arg);
        return RAFT_EINVAL;
    }
    if (!spec[k].takes_value) {
        if (eq != NULL) {
            (void)snprintf(err, err_len, "flag --%s takes no value", spec[k].name);
            return RAFT_EINVAL;
        }
        out->value[k] = "";
        return 0;
    }
    if (eq != NULL) {
        out->value[k] = eq + 1;
        return 0;
    }
    if (*i + 1 >= argc) {
        (void)snprintf(err, err_len, "flag --%s needs a value", spec[k].name);
        return RAFT_EINVAL;
    }
    *i += 1;
    out->value[k] = argv[*i];
    return 0;
}

int ctl_args_parse(const struct ctl_flag *spec, size_t n_spec, int argc, char *const *argv,
                   struct ctl_args *out, char *err, size_t err_len)
{
    bool only_pos = false;
    int help = find_flag(spec, n_spec, "help", 4);
    int i;
    int rv;

    RAFT_ASSERT(n_spec <= CTL_ARGS_MAX_FLAGS && argc >= 0);
    memset(out, 0, sizeof(*out));
    for (i = 0; i < argc; i++) {
        const char *arg = argv[i];

        if (!only_pos && strcmp(arg, "--") == 0) {
            only_pos = true;
        } else if (!only_pos && strncmp(arg, "--", 2) == 0) {
            rv = parse_flag(spec, n_spec, argc, argv, &i, out, err, err_len);
            if (rv != 0) {
                return rv;
            }
        } else if (!only_pos && help >= 0 && strcmp(arg, "-h") == 0) {
            out->value[help] = "";
        } else if (out->n_pos == CTL_ARGS_MAX_POS) {
            (void)snprintf(err, err_len, "too many arguments (from '%s' on)", arg);
            return RAFT_EINVAL;
        } else {
            out->pos[out->n_pos++] = arg;
        }
    }
    return 0;
}

int ctl_args_u64(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;

    if (*s == '\0') {
        return RAFT_EINVAL;
    }
    for (; *s != '\0'; s++) {
        uint64_t d;

        if (*s < '0' || *s > '9') {
            return RAFT_EINVAL;
        }
        d = (uint64_t)(*s - '0');
        if (d > max || v > (max - d) / 10) {
            return RAFT_EINVAL;
        }
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

int ctl_args_split(char *s, const char **items, size_t max_items, size_t *n_items)
{
    size_t n = 0;

    for (;;) {
        char *end = strchr(s, ',');
        char *last;

        if (end != NULL) {
            *end = '\0';
        }
        while (is_space(*s)) {
            s++;
        }
        last = s + strlen(s);
        while (last > s && is_space(last[-1])) {
            *--last = '\0';
        }
        if (*s == '\0') {
            return RAFT_EINVAL;
        }
        if (n == max_items) {
            return RAFT_ETOOBIG;
        }
        items[n++] = s;
        if (end == NULL) {
            break;
        }
        s = end + 1;
    }
    *n_items = n;
    return 0;
}

void ctl_args_prefix_end(const void *prefix, size_t prefix_len, uint8_t *out, size_t *out_len)
{
    const uint8_t *p = prefix;
    size_t i = prefix_len;

    while (i > 0) {
        i--;
        if (p[i] < 0xFF) {
            memcpy(out, p, i);
            out[i] = (uint8_t)(p[i] + 1);
            *out_len = i + 1;
            return;
        }
    }
    out[0] = 0;
    *out_len = 1;
}
