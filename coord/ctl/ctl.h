/* SPDX-License-Identifier: MIT */
/* ctl: what coordctl's commands share: the parsed global settings, the
 * flags, and the helpers that open libcoord handles and report failures.
 * main() and the command table are in ctl.c; the commands themselves are in
 * kv.c, admin.c and status.c.
 *
 * Exit codes (an interface): 0 success, 1 the operation failed (one line on
 * stderr: "coordctl: <what>: <reason>"), 2 usage error. */
#ifndef COORD_CTL_CTL_H
#define COORD_CTL_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coord/client/client.h"
#include "coord/ctl/sbuf.h"

#define CTL_EXIT_OK    0
#define CTL_EXIT_FAIL  1
#define CTL_EXIT_USAGE 2

#define CTL_DEFAULT_ENDPOINTS  "127.0.0.1:27001"
#define CTL_DEFAULT_TIMEOUT_MS 5000
#define CTL_MAX_TIMEOUT_MS     3600000 /* --timeout above one hour is a typo */

/* Every flag coordctl knows; ctl.c's table says which commands take which. */
enum ctl_flag_id {
    CTL_F_ENDPOINTS,
    CTL_F_JSON,
    CTL_F_TIMEOUT,
    CTL_F_HELP,
    CTL_F_SERIALIZABLE,
    CTL_F_PREFIX,
    CTL_F_KEYS_ONLY,
    CTL_F_LIMIT,
    CTL_F_N /* the number of flags */
};

/* The settings every command sees. */
struct ctl_ctx {
    const char *endpoints;   /* "host:port[,...]": --endpoints, $COORD_ENDPOINTS or the default */
    bool json;               /* --json */
    uint32_t timeout_ms;     /* --timeout: per request */
    const char *const *flag; /* CTL_F_N values by enum ctl_flag_id: NULL when absent, */
                             /* "" for a boolean that is set */
};

/* A command: pos holds its n_pos positional arguments (the command words
 * removed), already checked against its arity. Returns an exit code. */
typedef int (*ctl_cmd_fn)(const struct ctl_ctx *ctx, const char *const *pos, size_t n_pos);

/* libcoord options for ctx: its endpoints, timeouts; failover on. */
void ctl_client_opts(const struct ctl_ctx *ctx, struct coord_client_opts *opts);

/* Open a synchronous handle on ctx's endpoints. On failure prints the error
 * line for what and returns CTL_EXIT_FAIL; else 0 and *out returns owned
 * (coord_sync_close). */
int ctl_open(const struct ctl_ctx *ctx, const char *what, struct coord_sync **out);

/* Print "coordctl: <what>: <reason of rv>[ (<res->message>)]" on stderr
 * (res may be NULL) and return CTL_EXIT_FAIL. */
int ctl_fail(const char *what, int rv, const struct coord_result *res);

/* Print a usage error line and return CTL_EXIT_USAGE. */
int ctl_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Write b to stdout and close it. Returns CTL_EXIT_OK, or reports b's
 * sticky error or a failed write as what's failure (CTL_EXIT_FAIL). */
int ctl_emit(struct ctl_sbuf *b, const char *what);

/* "kv get \"<key escaped>\"" into buf: a command name and a key that fits on
 * one line of an error message. */
void ctl_what_key(char *buf, size_t len, const char *cmd, const char *key);

#endif /* COORD_CTL_CTL_H */
