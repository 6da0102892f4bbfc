/* SPDX-License-Identifier: MIT */
/* status: parallel status probes on one libuv loop, then the join. */
#include "coord/ctl/status.h"

#include <stdio.h>
#include <string.h>

#include "coord/addr.h"
#include "coord/ctl/args.h"
#include "coord/ctl/join.h"
#include "raft/base/alloc.h"
#include "raft/base/assert.h"
#include "raft/base/err.h"

/* Endpoints asked in both rounds together. */
#define STATUS_MAX_PROBES ((size_t)2 * COORD_CLIENT_MAX_ENDPOINTS)
/* Beyond the request and connect timeouts, how long the loop may still run
 * before every probe left is abandoned: libcoord times requests out itself,
 * this only bounds the command if it did not. */
#define STATUS_GRACE_MS 1000
#define STATUS_ROLE_MAX 16 /* bytes of a role name kept, NUL included */

struct round;

/* One endpoint asked. Owns what its answer points to. */
struct probe {
    struct round *round;             /* the round it belongs to */
    struct coord_client *client;     /* NULL once closed or never opened */
    struct ctl_node_answer *answer;  /* filled by on_status(); borrowed */
    struct ctl_member_info *members; /* owned; answer->members */
    char *strings;                   /* owned; addresses the members point to */
    char role[STATUS_ROLE_MAX];      /* answer->role */
    bool pending;                    /* request sent, callback not yet run */
};

/* One round: probes on a private loop, with a guard timer. */
struct round {
    uv_loop_t loop;
    uv_timer_t guard;
    struct probe *probes;
    size_t n_probes;
    size_t n_pending;
    bool closing;
};

/* Copy a node's view into p, which then owns it. Errors: RAFT_ENOMEM. */
static int copy_status(struct probe *p, const struct coord_client_status *st)
{
    struct ctl_node_answer *a = p->answer;
    size_t total = 0;
    size_t i;
    char *cursor;

    for (i = 0; i < st->n_members; i++) {
        total += strlen(st->members[i].peer_addr) + strlen(st->members[i].client_addr) + 2;
    }
    p->members = raft_calloc(st->n_members + 1, sizeof(*p->members));
    p->strings = raft_malloc(total + 1);
    if (p->members == NULL || p->strings == NULL) {
        return RAFT_ENOMEM;
    }
    cursor = p->strings;
    for (i = 0; i < st->n_members; i++) {
        const struct coord_client_member *m = &st->members[i];
        size_t peer_len = strlen(m->peer_addr) + 1;
        size_t client_len = strlen(m->client_addr) + 1;

        p->members[i].id = m->id;
        p->members[i].voter = m->voter;
        p->members[i].peer_addr = memcpy(cursor, m->peer_addr, peer_len);
        cursor += peer_len;
        p->members[i].client_addr = memcpy(cursor, m->client_addr, client_len);
        cursor += client_len;
    }
    (void)snprintf(p->role, sizeof(p->role), "%s", st->role != NULL ? st->role : "");
    a->id = st->id;
    a->role = p->role;
    a->term = st->term;
    a->leader_id = st->leader_id;
    a->commit_index = st->commit_index;
    a->applied_index = st->applied_index;
    a->members = p->members;
    a->n_members = st->n_members;
    return 0;
}

static void on_client_closed(void *arg)
{
    (void)arg;
}

/* Close every client and the guard: the loop then runs dry. Runs from the
 * guard timer, never from inside a libcoord callback. */
static void on_guard(uv_timer_t *timer)
{
    struct round *r = timer->data;
    size_t i;

    r->closing = true;
    for (i = 0; i < r->n_probes; i++) {
        if (r->probes[i].client != NULL) {
            coord_client_close(r->probes[i].client, on_client_closed, NULL);
            r->probes[i].client = NULL;
        }
    }
    uv_close((uv_handle_t *)&r->guard, NULL);
}

static void on_status(void *arg, const struct coord_result *res)
{
    struct probe *p = arg;
    struct round *r = p->round;
    int rv = res->status;

    RAFT_ASSERT(p->pending && r->n_pending > 0);
    p->pending = false;
    r->n_pending--;
    if (rv == 0 && res->node_status == NULL) {
        rv = RAFT_EPROTO;
    }
    if (rv == 0) {
        rv = copy_status(p, res->node_status);
    }
    if (rv == RAFT_ECANCELED && r->closing) {
        rv = RAFT_ETIMEDOUT; /* abandoned by the guard */
    }
    p->answer->status = rv;
    if (r->n_pending == 0 && !r->closing) {
        uv_timer_start(&r->guard, on_guard, 0, 0);
    }
}

/* Start the probe of one endpoint. */
static void probe_start(const struct ctl_ctx *ctx, struct round *r, struct probe *p)
{
    struct coord_client_opts opts;
    int rv;

    ctl_client_opts(ctx, &opts);
    opts.endpoints = p->answer->endpoint;
    opts.pin = true;
    rv = coord_client_new(&r->loop, &opts, &p->client);
    if (rv != 0) {
        p->client = NULL;
        p->answer->status = rv;
        return;
    }
    rv = coord_client_status(p->client, on_status, p);
    if (rv != 0) {
        p->answer->status = rv;
        return;
    }
    p->pending = true;
    r->n_pending++;
}

/* Ask n answers' endpoints at once and wait for all of them. The answers'
 * endpoint fields are set; the rest is filled in. Errors: RAFT_EIO (the
 * loop could not be made). */
static int run_round(const struct ctl_ctx *ctx, struct probe *probes,
                     struct ctl_node_answer *answers, size_t n)
{
    struct coord_client_opts opts;
    struct round r;
    size_t i;
    int rv;

    memset(&r, 0, sizeof(r));
    r.probes = probes;
    r.n_probes = n;
    if (uv_loop_init(&r.loop) != 0) {
        return RAFT_EIO;
    }
    rv = uv_timer_init(&r.loop, &r.guard);
    RAFT_ASSERT(rv == 0); /* a timer on a fresh loop cannot fail */
    r.guard.data = &r;
    for (i = 0; i < n; i++) {
        probes[i].round = &r;
        probes[i].answer = &answers[i];
        answers[i].status = RAFT_ENOCONN;
        probe_start(ctx, &r, &probes[i]);
    }
    ctl_client_opts(ctx, &opts);
    uv_timer_start(&r.guard, on_guard,
                   r.n_pending == 0
                       ? 0
                       : (uint64_t)opts.timeout_ms + opts.connect_timeout_ms + STATUS_GRACE_MS,
                   0);
    uv_run(&r.loop, UV_RUN_DEFAULT);
    RAFT_ASSERT(r.n_pending == 0);
    rv = uv_loop_close(&r.loop);
    RAFT_ASSERT(rv == 0); /* every handle was closed */
    return 0;
}

static void probes_free(struct probe *probes, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        raft_free(probes[i].members);
        raft_free(probes[i].strings);
    }
}

/* Print the view; returns the exit code. */
static int render(const struct ctl_ctx *ctx, const struct ctl_node_answer *answers, size_t n)
{
    struct ctl_status_view v;
    struct ctl_sbuf out;
    int rv;

    rv = ctl_join_status(answers, n, &v);
    if (rv != 0) {
        return ctl_fail("status", rv, NULL);
    }
    ctl_sbuf_init(&out);
    if (ctx->json) {
        ctl_join_render_json(&v, &out);
    } else {
        rv = ctl_join_render_table(&v, &out);
    }
    rv = rv != 0 ? ctl_fail("status", rv, NULL) : ctl_emit(&out, "status");
    ctl_sbuf_close(&out);
    if (rv == 0 && v.n_answered == 0) {
        (void)fprintf(stderr, "coordctl: status: no endpoint answered (%s: %s)\n",
                      n > 0 ? answers[0].endpoint : "none",
                      raft_err_str(n > 0 ? answers[0].status : 0));
        rv = CTL_EXIT_FAIL;
    }
    ctl_join_free(&v);
    return rv;
}

int ctl_status_run(const struct ctl_ctx *ctx, const char *const *pos, size_t n_pos)
{
    struct ctl_node_answer *answers = NULL;
    struct probe *probes = NULL;
    const char *extra[COORD_CLIENT_MAX_ENDPOINTS];
    const char *eps[COORD_CLIENT_MAX_ENDPOINTS];
    char *list;
    size_t n = 0;
    size_t n_extra;
    size_t i;
    int rv;

    (void)pos;
    (void)n_pos;
    list = raft_memdup(ctx->endpoints, strlen(ctx->endpoints) + 1);
    answers = raft_calloc(STATUS_MAX_PROBES, sizeof(*answers));
    probes = raft_calloc(STATUS_MAX_PROBES, sizeof(*probes));
    if (list == NULL || answers == NULL || probes == NULL) {
        rv = ctl_fail("status", RAFT_ENOMEM, NULL);
        goto out;
    }
    rv = ctl_args_split(list, eps, COORD_CLIENT_MAX_ENDPOINTS, &n);
    for (i = 0; rv == 0 && i < n; i++) {
        struct coord_addr a;

        answers[i].endpoint = eps[i];
        if (coord_addr_parse(eps[i], strlen(eps[i]), &a) != 0 || a.port_num == 0) {
            rv = RAFT_EINVAL;
        }
    }
    if (rv != 0) {
        rv = ctl_usage("status: bad --endpoints '%s'", ctx->endpoints);
        goto out;
    }
    rv = run_round(ctx, probes, answers, n);
    if (rv == 0) {
        /* Round two: members whose client address was not given. */
        n_extra = ctl_join_unasked(answers, n, extra, COORD_CLIENT_MAX_ENDPOINTS);
        for (i = 0; i < n_extra; i++) {
            answers[n + i].endpoint = extra[i];
        }
        if (n_extra > 0) {
            rv = run_round(ctx, probes + n, answers + n, n_extra);
        }
        n += n_extra;
    }
    rv = rv != 0 ? ctl_fail("status", rv, NULL) : render(ctx, answers, n);

out:
    probes_free(probes, probes != NULL ? n : 0);
    raft_free(probes);
    raft_free(answers);
    raft_free(list);
    return rv;
}
