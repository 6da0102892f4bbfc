/* SPDX-License-Identifier: MIT */
/* fake_node: coord/node.h over a bare coord_fsm, for tests/unit/server. */
#include "tests/unit/server/fake_node.h"

#include <stdio.h>
#include <string.h>

#include "raft/base/alloc.h"
#include "raft/base/assert.h"

enum op_kind {
    OP_PROPOSE,
    OP_READ,
    OP_CONF,
    OP_TRANSFER,
};

struct op {
    struct op *next;
    uint8_t kind; /* enum op_kind */
    bool linearizable;
    raft_id to;          /* TRANSFER */
    struct raft_buf cmd; /* PROPOSE: owned copy */
    uint64_t deadline;   /* uv_now() ms */
    coord_node_cb cb;
    void *arg;
};

struct coord_node {
    uv_loop_t *loop;
    struct coord_config cfg;
    struct coord_fsm *fsm;
    uv_check_t check; /* answers the ready requests */
    uv_idle_t idle;   /* keeps the loop from blocking while some are ready */
    uv_timer_t timer; /* expires waiting requests */
    struct op *head;  /* waiting, in order */
    struct op *tail;
    size_t n_waiting;
    bool hold;
    bool expire;
    bool release; /* answer held ones at the next check */
    enum raft_role role;
    bool learner;
    raft_id leader;
    char leader_addr[RAFT_ADDR_MAX];
    raft_index last_index; /* of entries applied here (commands, changes) */
    int refuse;
    unsigned n_open; /* handles not yet closed */
    coord_node_close_cb close_cb;
    void *close_arg;
    coord_node_fatal_cb fatal_cb;
    void *fatal_arg;
    struct fake_node_calls calls;
};

/* ---- knobs ------------------------------------------------------------------------------ */

void fake_node_set_leader(struct coord_node *n)
{
    n->role = RAFT_LEADER;
    n->leader = n->cfg.id;
    (void)snprintf(n->leader_addr, sizeof n->leader_addr, "%s", n->cfg.client_addr);
}

void fake_node_set_follower(struct coord_node *n, raft_id leader, const char *client_addr)
{
    n->role = RAFT_FOLLOWER;
    n->leader = leader;
    (void)snprintf(n->leader_addr, sizeof n->leader_addr, "%s", client_addr);
}

void fake_node_set_leaderless(struct coord_node *n)
{
    n->role = RAFT_FOLLOWER;
    n->leader = 0;
    n->leader_addr[0] = '\0';
}

void fake_node_set_learner(struct coord_node *n, bool learner)
{
    n->learner = learner;
}

static void kick(struct coord_node *n);

void fake_node_hold(struct coord_node *n, bool hold, bool expire)
{
    n->hold = hold;
    n->expire = expire;
    kick(n);
}

void fake_node_release(struct coord_node *n)
{
    n->release = true;
    kick(n);
}

size_t fake_node_waiting(const struct coord_node *n)
{
    return n->n_waiting;
}

void fake_node_refuse_proposals(struct coord_node *n, int rv)
{
    n->refuse = rv;
}

const struct fake_node_calls *fake_node_calls(const struct coord_node *n)
{
    return &n->calls;
}

/* ---- answering -------------------------------------------------------------------------- */

static void answer(struct coord_node *n, struct op *o, int status)
{
    struct coord_node_result res;
    struct coord_fsm_output out;
    struct raft_entry e;

    memset(&res, 0, sizeof res);
    memset(&out, 0, sizeof out);
    res.status = status;
    res.leader = n->leader;
    if (status == 0 && o->kind == OP_PROPOSE) {
        e.term = 1;
        e.index = coord_fsm_applied_index(n->fsm) + 1;
        e.type = RAFT_ENTRY_NORMAL;
        e.data = o->cmd;
        res.status = coord_fsm_apply(n->fsm, &e, 1, &out);
        res.index = e.index;
        res.cmd = res.status == 0 ? &out.results[0] : NULL;
        n->last_index = e.index;
    } else if (status == 0 && o->kind == OP_READ && o->linearizable && n->leader == 0) {
        res.status = RAFT_ELEADERLESS;
    } else if (status == 0 && o->kind == OP_TRANSFER) {
        res.leader = o->to != 0 ? o->to : n->cfg.id + 1;
    } else if (status == 0 && o->kind == OP_CONF) {
        res.index = ++n->last_index;
    }
    if (o->kind == OP_READ) {
        res.index = coord_fsm_applied_index(n->fsm);
    }
    res.revision = coord_fsm_revision(n->fsm);
    o->cb(o->arg, &res);
    coord_fsm_output_release(&out);
    raft_free(o->cmd.base);
    raft_free(o);
}

/* Take the waiting list, for answering. */
static struct op *take_all(struct coord_node *n)
{
    struct op *list = n->head;

    n->head = n->tail = NULL;
    n->n_waiting = 0;
    return list;
}

static void on_check(uv_check_t *h)
{
    struct coord_node *n = h->data;
    struct op *list;

    if (n->hold && !n->release) {
        uv_idle_stop(&n->idle);
        uv_check_stop(&n->check);
        return;
    }
    n->release = false;
    list = take_all(n);
    uv_idle_stop(&n->idle);
    uv_check_stop(&n->check);
    while (list != NULL) {
        struct op *o = list;

        list = o->next;
        answer(n, o, 0); /* callbacks may queue more: the next iteration answers those */
    }
}

static void on_idle(uv_idle_t *h)
{
    (void)h;
}

static void on_timer(uv_timer_t *h)
{
    struct coord_node *n = h->data;
    uint64_t now = uv_now(n->loop);
    struct op *keep = NULL;
    struct op **tail = &keep;
    struct op *list = take_all(n);
    struct op *expired = NULL;

    while (list != NULL) {
        struct op *o = list;

        list = o->next;
        o->next = NULL;
        if (o->deadline <= now) {
            o->next = expired;
            expired = o;
        } else {
            *tail = o;
            tail = &o->next;
            n->n_waiting++;
            n->tail = o;
        }
    }
    n->head = keep;
    while (expired != NULL) {
        struct op *o = expired;

        expired = o->next;
        answer(n, o, RAFT_ETIMEDOUT);
    }
    kick(n);
}

/* Arm the handles for what waits. */
static void kick(struct coord_node *n)
{
    uint64_t due = UINT64_MAX;
    uint64_t now = uv_now(n->loop);
    const struct op *o;

    if (n->n_open < 3 || n->head == NULL) {
        return;
    }
    if (!n->hold || n->release) {
        uv_check_start(&n->check, on_check);
        uv_idle_start(&n->idle, on_idle);
    }
    if (n->expire) {
        for (o = n->head; o != NULL; o = o->next) {
            due = o->deadline < due ? o->deadline : due;
        }
        uv_timer_start(&n->timer, on_timer, due > now ? due - now : 0, 0);
    }
}

static int enqueue(struct coord_node *n, uint8_t kind, uint32_t timeout_ms, coord_node_cb cb,
                   void *arg, struct op **out)
{
    struct op *o = raft_calloc(1, sizeof *o);

    if (o == NULL) {
        return RAFT_ENOMEM;
    }
    o->kind = kind;
    o->cb = cb;
    o->arg = arg;
    o->deadline = uv_now(n->loop) + (timeout_ms != 0 ? timeout_ms : n->cfg.request_timeout_ms);
    if (n->tail != NULL) {
        n->tail->next = o;
    } else {
        n->head = o;
    }
    n->tail = o;
    n->n_waiting++;
    n->calls.last_timeout_ms = timeout_ms;
    *out = o;
    return 0;
}

/* ---- node.h ----------------------------------------------------------------------------- */

static void on_closed(uv_handle_t *h)
{
    struct coord_node *n = h->data;
    coord_node_close_cb cb;
    void *arg;

    if (--n->n_open > 0) {
        return;
    }
    cb = n->close_cb;
    arg = n->close_arg;
    raft_free(n);
    if (cb != NULL) {
        cb(arg);
    }
}

int coord_node_new(uv_loop_t *loop, const struct coord_config *cfg, struct coord_node **out,
                   char *err, size_t err_len)
{
    struct coord_node *n = raft_calloc(1, sizeof *n);
    int rv;

    *out = NULL;
    if (n == NULL) {
        (void)snprintf(err, err_len, "out of memory");
        return RAFT_ENOMEM;
    }
    n->loop = loop;
    n->cfg = *cfg;
    rv = coord_fsm_open(cfg->data_dir, NULL, &n->fsm);
    if (rv != 0) {
        (void)snprintf(err, err_len, "fsm open %s: %s", cfg->data_dir, raft_err_str(rv));
        raft_free(n);
        return rv;
    }
    RAFT_ASSERT(uv_check_init(loop, &n->check) == 0);
    RAFT_ASSERT(uv_idle_init(loop, &n->idle) == 0);
    RAFT_ASSERT(uv_timer_init(loop, &n->timer) == 0);
    n->check.data = n->idle.data = n->timer.data = n;
    n->n_open = 3;
    fake_node_set_leader(n);
    *out = n;
    return 0;
}

void coord_node_close(struct coord_node *n, coord_node_close_cb cb, void *arg)
{
    struct op *list = take_all(n);

    n->close_cb = cb;
    n->close_arg = arg;
    while (list != NULL) {
        struct op *o = list;

        list = o->next;
        answer(n, o, RAFT_ESHUTDOWN);
    }
    coord_fsm_close(n->fsm);
    n->fsm = NULL;
    uv_close((uv_handle_t *)&n->check, on_closed);
    uv_close((uv_handle_t *)&n->idle, on_closed);
    uv_close((uv_handle_t *)&n->timer, on_closed);
}

void coord_node_on_fatal(struct coord_node *n, coord_node_fatal_cb cb, void *arg)
{
    n->fatal_cb = cb; /* the fake's storage never fails */
    n->fatal_arg = arg;
}

int coord_node_propose(struct coord_node *n, const struct raft_buf *cmd, uint32_t timeout_ms,
                       coord_node_cb cb, void *arg)
{
    struct op *o;
    void *copy;
    int rv;

    n->calls.propose++;
    if (n->refuse != 0) {
        return n->refuse;
    }
    if (n->role != RAFT_LEADER) {
        return RAFT_ENOTLEADER;
    }
    if (cmd->len > n->cfg.max_request_bytes) {
        return RAFT_ETOOBIG;
    }
    copy = raft_memdup(cmd->base, cmd->len > 0 ? cmd->len : 0);
    if (copy == NULL && cmd->len > 0) {
        return RAFT_ENOMEM;
    }
    rv = enqueue(n, OP_PROPOSE, timeout_ms, cb, arg, &o);
    if (rv != 0) {
        raft_free(copy);
        return rv;
    }
    o->cmd.base = copy;
    o->cmd.len = cmd->len;
    n->calls.proposed++;
    kick(n);
    return 0;
}

int coord_node_read(struct coord_node *n, bool linearizable, uint32_t timeout_ms, coord_node_cb cb,
                    void *arg)
{
    struct op *o;
    int rv = enqueue(n, OP_READ, timeout_ms, cb, arg, &o);

    if (rv != 0) {
        return rv;
    }
    o->linearizable = linearizable;
    if (linearizable) {
        n->calls.read_linearizable++;
    } else {
        n->calls.read_serializable++;
    }
    kick(n);
    return 0;
}

struct coord_fsm *coord_node_fsm(struct coord_node *n)
{
    return n->fsm;
}

int coord_node_conf_change(struct coord_node *n, uint8_t op, raft_id id, const char *peer_addr,
                           const char *client_addr, uint32_t timeout_ms, coord_node_cb cb,
                           void *arg)
{
    struct op *o;
    int rv;

    n->calls.conf_change++;
    n->calls.last_conf_op = op;
    n->calls.last_conf_id = id;
    (void)snprintf(n->calls.last_peer_addr, sizeof n->calls.last_peer_addr, "%s",
                   peer_addr != NULL ? peer_addr : "");
    (void)snprintf(n->calls.last_client_addr, sizeof n->calls.last_client_addr, "%s",
                   client_addr != NULL ? client_addr : "");
    if (n->role != RAFT_LEADER) {
        return RAFT_ENOTLEADER;
    }
    if (op < RAFT_CONF_ADD_LEARNER || op > RAFT_CONF_REMOVE || id == 0) {
        return RAFT_EINVAL;
    }
    rv = enqueue(n, OP_CONF, timeout_ms, cb, arg, &o);
    if (rv == 0) {
        kick(n);
    }
    return rv;
}

int coord_node_transfer(struct coord_node *n, raft_id to, uint32_t timeout_ms, coord_node_cb cb,
                        void *arg)
{
    struct op *o;
    int rv;

    n->calls.transfer++;
    n->calls.last_transfer_to = to;
    if (n->role != RAFT_LEADER) {
        return RAFT_ENOTLEADER;
    }
    rv = enqueue(n, OP_TRANSFER, timeout_ms, cb, arg, &o);
    if (rv == 0) {
        o->to = to;
        kick(n);
    }
    return rv;
}

void coord_node_status(const struct coord_node *n, struct coord_node_status *st)
{
    uint32_t i;

    memset(st, 0, sizeof *st);
    st->id = n->cfg.id;
    st->role = n->role;
    st->learner = n->learner;
    st->term = 1;
    st->leader = n->leader;
    st->commit_index = coord_fsm_applied_index(n->fsm);
    st->applied_index = st->commit_index;
    st->last_index = st->commit_index;
    st->revision = coord_fsm_revision(n->fsm);
    for (i = 0; i < n->cfg.n_members && i < RAFT_MAX_SERVERS; i++) {
        struct coord_node_member *m = &st->members[i];

        m->id = n->cfg.members[i].id;
        m->voter = true;
        (void)snprintf(m->peer_addr, sizeof m->peer_addr, "%s", n->cfg.members[i].peer_addr);
        (void)snprintf(m->client_addr, sizeof m->client_addr, "%s", n->cfg.members[i].client_addr);
        m->match_index = n->role == RAFT_LEADER ? st->last_index : 0;
        m->reachable = true;
    }
    st->n_members = i;
}

int coord_node_leader(const struct coord_node *n, raft_id *id, char *addr, size_t addr_len)
{
    *id = n->leader;
    (void)snprintf(addr, addr_len, "%s", n->leader != 0 ? n->leader_addr : "");
    if (n->leader == 0) {
        return RAFT_ELEADERLESS;
    }
    return n->role == RAFT_LEADER ? 1 : 0;
}

int coord_node_addr_split(const char *address, char *peer, char *client)
{
    const char *slash = strchr(address, '/');
    size_t n = slash != NULL ? (size_t)(slash - address) : strlen(address);

    if (n == 0 || n >= RAFT_ADDR_MAX || (slash != NULL && strlen(slash + 1) >= RAFT_ADDR_MAX)) {
        return RAFT_EINVAL;
    }
    memcpy(peer, address, n);
    peer[n] = '\0';
    (void)snprintf(client, RAFT_ADDR_MAX, "%s", slash != NULL ? slash + 1 : "");
    return 0;
}

int coord_node_addr_join(const char *peer, const char *client, char *out)
{
    int n;

    if (peer[0] == '\0' || strchr(peer, '/') != NULL || strchr(client, '/') != NULL) {
        return RAFT_EINVAL;
    }
    if (client[0] != '\0') {
        n = snprintf(out, RAFT_ADDR_MAX, "%s/%s", peer, client);
    } else {
        n = snprintf(out, RAFT_ADDR_MAX, "%s", peer);
    }
    return n < 0 || n >= RAFT_ADDR_MAX ? RAFT_EINVAL : 0;
}
