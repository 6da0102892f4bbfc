/* SPDX-License-Identifier: MIT */
/* coordd: one coord node. Reads its settings (coord/config.h), opens the
 * node (coord/node.h) and the client port (coord/server.h), and runs the
 * loop until SIGTERM or SIGINT, then stops gracefully: the client port
 * first, then the node (log writes in flight finish, LMDB is synced and
 * closed). Exit codes: 0 after a clean stop, 1 when the node could not
 * start or stopped on a storage failure, 2 for bad settings. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "coord/config.h"
#include "coord/log.h"
#include "coord/node.h"
#include "coord/server.h"
#include "raft/base/err.h"

struct coordd {
    uv_loop_t loop;
    uv_signal_t sigterm;
    uv_signal_t sigint;
    uv_timer_t fatal_timer;
    struct coord_node *node;
    struct coord_server *server;
    uint32_t transfer_ms; /* leadership hand-off budget at SIGTERM */
    int exit_code;
    bool stopping;
    bool handing_off;
};

static void on_node_closed(void *arg)
{
    struct coordd *d = arg;

    d->node = NULL;
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    uv_close((uv_handle_t *)&d->sigint, NULL);
    uv_close((uv_handle_t *)&d->fatal_timer, NULL);
}

static void stop(struct coordd *d, int exit_code)
{
    if (d->stopping) {
        return;
    }
    d->stopping = true;
    d->exit_code = exit_code;
    if (d->server != NULL) {
        coord_server_close(d->server, NULL, NULL);
        d->server = NULL;
    }
    coord_node_close(d->node, on_node_closed, d);
}

static void on_handed_off(void *arg, const struct coord_node_result *res)
{
    struct coordd *d = arg;

    if (res->status == 0) {
        COORD_LOG(INFO, "leadership handed off leader=%llu, stopping",
                  (unsigned long long)res->leader);
    } else {
        COORD_LOG(WARN, "leadership hand-off failed err=%s, stopping anyway",
                  raft_err_name(res->status));
    }
    stop(d, 0);
}

/* A leader first hands leadership to the most up-to-date voter (bounded by
 * two election timeouts), so clients see a hand-off, not an election. A
 * second signal stops at once. */
static void on_signal(uv_signal_t *h, int signum)
{
    struct coordd *d = h->data;
    char addr[8];
    uint64_t id;

    COORD_LOG(INFO, "signal received signal=%s, stopping", signum == SIGTERM ? "TERM" : "INT");
    if (d->stopping || d->handing_off) {
        stop(d, 0);
        return;
    }
    if (coord_node_leader(d->node, &id, addr, sizeof addr) == 1) {
        int rv = coord_node_transfer(d->node, 0, d->transfer_ms, on_handed_off, d);

        if (rv == 0) {
            d->handing_off = true;
            return;
        }
        COORD_LOG(WARN, "leadership hand-off not started err=%s", raft_err_name(rv));
    }
    stop(d, 0);
}

static void on_fatal_timer(uv_timer_t *h)
{
    stop(h->data, 1);
}

/* The node stopped itself on a storage failure (it logged why). Stop from
 * a fresh loop callback, not from inside the node's own. */
static void on_fatal(void *arg, int err)
{
    struct coordd *d = arg;

    (void)err;
    (void)uv_timer_start(&d->fatal_timer, on_fatal_timer, 0, 0);
}

static int configure(struct coord_config *cfg, int argc, char **argv)
{
    char err[512];
    int rv;

    coord_config_default(cfg);
    rv = coord_config_parse_args(cfg, argc, argv, err, sizeof err, stdout);
    if (rv == 1) {
        exit(0);
    }
    if (rv == 0) {
        rv = coord_config_check(cfg, err, sizeof err);
    }
    if (rv != 0) {
        (void)fprintf(stderr, "coordd: %s\n", err);
        return 2;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct coordd d;
    struct coord_config cfg;
    char err[512] = "";
    int rv;

    if (configure(&cfg, argc, argv) != 0) {
        return 2;
    }
    coord_log_set_level(cfg.log_level);
    (void)signal(SIGPIPE, SIG_IGN);
    if (uv_loop_init(&d.loop) != 0) {
        (void)fprintf(stderr, "coordd: cannot create the event loop\n");
        return 1;
    }
    (void)uv_timer_init(&d.loop, &d.fatal_timer);
    d.fatal_timer.data = &d;
    rv = coord_node_new(&d.loop, &cfg, &d.node, err, sizeof err);
    if (rv != 0) {
        (void)fprintf(stderr, "coordd: %s\n", err[0] != '\0' ? err : raft_err_str(rv));
        return rv == RAFT_ECONFIG ? 2 : 1;
    }
    coord_node_on_fatal(d.node, on_fatal, &d);
    d.transfer_ms = 2 * cfg.election_timeout_ms;
    rv = coord_server_new(&d.loop, d.node, &cfg, &d.server, err, sizeof err);
    if (rv != 0) {
        (void)fprintf(stderr, "coordd: %s\n", err[0] != '\0' ? err : raft_err_str(rv));
        d.exit_code = rv == RAFT_ECONFIG ? 2 : 1;
        d.stopping = true;
        coord_node_close(d.node, NULL, NULL);
        (void)uv_run(&d.loop, UV_RUN_DEFAULT);
        return d.exit_code;
    }
    (void)uv_signal_init(&d.loop, &d.sigterm);
    (void)uv_signal_init(&d.loop, &d.sigint);
    d.sigterm.data = d.sigint.data = &d;
    (void)uv_signal_start(&d.sigterm, on_signal, SIGTERM);
    (void)uv_signal_start(&d.sigint, on_signal, SIGINT);
    (void)uv_run(&d.loop, UV_RUN_DEFAULT);
    (void)uv_loop_close(&d.loop);
    return d.exit_code;
}
