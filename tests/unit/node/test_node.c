/* SPDX-License-Identifier: MIT */
/* Tests of coord/node.c: real nodes (log, LMDB, transport on 127.0.0.1) in
 * one libuv loop, driven through the node API the client server uses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka after the headers it needs */
#include <cmocka.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "coord/codec_cmd.h"
#include "coord/log.h"
#include "coord/node.h"
#include "raft/base/alloc.h"
#include "tests/lib/fsutil.h"
#include "tests/lib/uvwait.h"

#define MAX_NODES     3
#define RUN_MAX_MS    20000   /* any wait longer than this fails the test */
#define RUN_MAX_ITERS 2000000 /* ... or more loop iterations than this */

struct fx {
    uv_loop_t loop;
    uv_timer_t guard;
    bool expired;
    char *root;
    size_t n;
    struct coord_config cfg[MAX_NODES];
    struct coord_node *node[MAX_NODES];
    int closed;
    size_t last_len; /* bytes of the value the last read_key() found */
};

struct answer {
    bool done;
    int status;
    raft_index index;
    uint64_t revision;
    raft_id leader;
    uint64_t cmd_revision;
};

static void on_guard(uv_timer_t *h)
{
    struct fx *f = h->data;

    f->expired = true;
}

/* Run the loop until cond holds; fail after RUN_MAX_MS. */
#define RUN_UNTIL(f, cond)                                                                         \
    UVWAIT_UNTIL(&(f)->loop, &(f)->guard, on_guard, (f)->expired, RUN_MAX_MS, RUN_MAX_ITERS, cond, \
                 (void)0)

/* A port nobody listens on right now, from the kernel. */
static int free_port(void)
{
    struct sockaddr_in a = {0};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port;

    assert_true(fd >= 0);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    port = ntohs(a.sin_port);
    (void)close(fd);
    return port;
}

static void configure(struct fx *f, size_t n, uint64_t snapshot_entries)
{
    int ports[MAX_NODES];
    size_t i;
    size_t k;

    f->n = n;
    for (i = 0; i < n; i++) {
        ports[i] = free_port();
    }
    for (i = 0; i < n; i++) {
        struct coord_config *c = &f->cfg[i];

        coord_config_default(c);
        c->id = i + 1;
        (void)snprintf(c->data_dir, sizeof c->data_dir, "%s/n%zu", f->root, i + 1);
        (void)snprintf(c->peer_addr, sizeof c->peer_addr, "127.0.0.1:%d", ports[i]);
        (void)snprintf(c->client_addr, sizeof c->client_addr, "127.0.0.1:%d", 1000 + (int)i);
        c->election_timeout_ms = 150;
        c->heartbeat_ms = 30;
        c->snapshot_entries = snapshot_entries;
        c->snapshot_trailing = 5;
        c->map_size_mb = 16;
        c->request_timeout_ms = 5000;
        for (k = 0; k < n; k++) {
            c->members[k].id = k + 1;
            (void)snprintf(c->members[k].peer_addr, sizeof c->members[k].peer_addr, "127.0.0.1:%d",
                           ports[k]);
            (void)snprintf(c->members[k].client_addr, sizeof c->members[k].client_addr,
                           "127.0.0.1:%d", 1000 + (int)k);
        }
        c->n_members = (uint32_t)n;
    }
}

static void open_node(struct fx *f, size_t i)
{
    char err[256] = "";
    int rv = coord_node_new(&f->loop, &f->cfg[i], &f->node[i], err, sizeof err);

    if (rv != 0) {
        fail_msg("node %zu: %s", i + 1, err);
    }
}

static void on_closed(void *arg)
{
    struct fx *f = arg;

    f->closed++;
}

static void close_node(struct fx *f, size_t i)
{
    int before = f->closed;

    coord_node_close(f->node[i], on_closed, f);
    f->node[i] = NULL;
    RUN_UNTIL(f, f->closed == before + 1);
}

static int leader_of(const struct fx *f)
{
    size_t i;

    for (i = 0; i < f->n; i++) {
        char addr[RAFT_ADDR_MAX];
        raft_id id;

        if (f->node[i] != NULL && coord_node_leader(f->node[i], &id, addr, sizeof addr) == 1) {
            return (int)i;
        }
    }
    return -1;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);

    assert_non_null(f);
    coord_log_set_level(getenv("NODE_TEST_LOG") != NULL ? COORD_LOG_DEBUG : COORD_LOG_WARN);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(uv_timer_init(&f->loop, &f->guard), 0);
    f->guard.data = f;
    f->root = fsutil_mkdtemp();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    size_t i;

    for (i = 0; i < MAX_NODES; i++) {
        if (f->node[i] != NULL) {
            close_node(f, i);
        }
    }
    uv_close((uv_handle_t *)&f->guard, NULL);
    (void)uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    fsutil_rm_rf(f->root);
    free(f->root);
    assert_int_equal(raft_alloc_live(), 0);
    free(f);
    return 0;
}

static void on_answer(void *arg, const struct coord_node_result *res)
{
    struct answer *a = arg;

    assert_false(a->done);
    a->done = true;
    a->status = res->status;
    a->index = res->index;
    a->revision = res->revision;
    a->leader = res->leader;
    a->cmd_revision = res->cmd != NULL ? res->cmd->revision : 0;
}

static struct raft_buf put_cmd(const char *key, const char *value)
{
    struct coord_cmd cmd = {0};
    struct raft_buf out;

    cmd.type = COORD_CMD_PUT;
    cmd.put.key.base = (void *)(uintptr_t)key;
    cmd.put.key.len = strlen(key);
    cmd.put.value.base = (void *)(uintptr_t)value;
    cmd.put.value.len = strlen(value);
    assert_int_equal(coord_cmd_encode(&cmd, &out), 0);
    return out;
}

static int propose_put(struct fx *f, size_t i, const char *key, const char *value, struct answer *a)
{
    struct raft_buf cmd = put_cmd(key, value);
    int rv = coord_node_propose(f->node[i], &cmd, 0, on_answer, a);

    raft_free(cmd.base);
    return rv;
}

/* Read key on node i inside a read callback, as the server does. */
struct read_ctx {
    struct fx *f;
    size_t i;
    const char *key;
    bool done;
    int status;
    char value[64];
};

static void on_read(void *arg, const struct coord_node_result *res)
{
    struct read_ctx *r = arg;
    struct coord_fsm_read out = {0};
    struct raft_buf key = {(void *)(uintptr_t)r->key, strlen(r->key)};

    r->done = true;
    r->status = res->status;
    if (res->status != 0) {
        return;
    }
    r->status = coord_fsm_get(coord_node_fsm(r->f->node[r->i]), &key, &out);
    if (r->status == 0) {
        size_t len = out.kvs[0].value.len;

        assert_int_equal(out.n_kvs, 1);
        r->f->last_len = len;
        len = len < sizeof r->value ? len : sizeof r->value - 1; /* a prefix of large ones */
        memcpy(r->value, out.kvs[0].value.base, len);
        r->value[len] = '\0';
        coord_fsm_read_release(&out);
    }
}

static int read_key(struct fx *f, size_t i, const char *key, bool linearizable, char *value)
{
    struct read_ctx r = {f, i, key, false, 0, ""};

    assert_int_equal(coord_node_read(f->node[i], linearizable, 0, on_read, &r), 0);
    assert_false(r.done); /* never from inside the call */
    RUN_UNTIL(f, r.done);
    strcpy(value, r.value);
    return r.status;
}

static void status_of(struct fx *f, size_t i, struct coord_node_status *st)
{
    coord_node_status(f->node[i], st);
}

/* ---- one node -------------------------------------------------------------------------- */

static void test_node_single_applies_and_reads(void **state)
{
    struct fx *f = *state;
    struct answer a = {0};
    struct answer b = {0};
    struct coord_node_status st;
    char value[64];

    configure(f, 1, 1000);
    open_node(f, 0);
    RUN_UNTIL(f, leader_of(f) == 0);
    assert_int_equal(propose_put(f, 0, "k1", "v1", &a), 0);
    assert_int_equal(propose_put(f, 0, "k2", "v2", &b), 0);
    assert_false(a.done);
    RUN_UNTIL(f, a.done && b.done);
    assert_int_equal(a.status, 0);
    assert_int_equal(b.status, 0);
    assert_int_equal(a.cmd_revision, 1);
    assert_int_equal(b.cmd_revision, 2);
    assert_int_equal(b.index, a.index + 1); /* one batch, consecutive */
    assert_int_equal(read_key(f, 0, "k1", true, value), 0);
    assert_string_equal(value, "v1");
    assert_int_equal(read_key(f, 0, "k2", false, value), 0);
    assert_string_equal(value, "v2");
    assert_int_equal(read_key(f, 0, "nope", true, value), RAFT_ENOTFOUND);
    status_of(f, 0, &st);
    assert_int_equal(st.role, RAFT_LEADER);
    assert_int_equal(st.n_members, 1);
    assert_string_equal(st.members[0].client_addr, "127.0.0.1:1000");
    assert_true(st.applied_index >= b.index);
    assert_int_equal(st.revision, 2);
}

/* A write is answered before its state machine commit finishes (see
 * thread_apply in node.c); a serializable read on the node that answered it
 * must still see it, every time. */
static void test_node_serializable_read_sees_answered_write(void **state)
{
    struct fx *f = *state;
    char key[16];
    char value[64];
    int i;

    configure(f, 1, 1000);
    open_node(f, 0);
    RUN_UNTIL(f, leader_of(f) == 0);
    for (i = 0; i < 50; i++) {
        struct answer a = {0};

        (void)snprintf(key, sizeof key, "rw%d", i);
        assert_int_equal(propose_put(f, 0, key, key, &a), 0);
        RUN_UNTIL(f, a.done);
        assert_int_equal(a.status, 0);
        assert_int_equal(read_key(f, 0, key, false, value), 0);
        assert_string_equal(value, key);
    }
}

static void test_node_restart_keeps_state(void **state)
{
    struct fx *f = *state;
    struct answer a = {0};
    char value[64];
    int i;

    configure(f, 1, 7); /* a few snapshots on the way */
    open_node(f, 0);
    RUN_UNTIL(f, leader_of(f) == 0);
    for (i = 0; i < 30; i++) {
        char key[16];

        memset(&a, 0, sizeof a);
        (void)snprintf(key, sizeof key, "key%d", i);
        assert_int_equal(propose_put(f, 0, key, key, &a), 0);
        RUN_UNTIL(f, a.done);
        assert_int_equal(a.status, 0);
    }
    close_node(f, 0);
    open_node(f, 0);
    RUN_UNTIL(f, leader_of(f) == 0);
    assert_int_equal(read_key(f, 0, "key29", true, value), 0);
    assert_string_equal(value, "key29");
    assert_int_equal(read_key(f, 0, "key0", true, value), 0);
    memset(&a, 0, sizeof a);
    assert_int_equal(propose_put(f, 0, "after", "x", &a), 0);
    RUN_UNTIL(f, a.done);
    assert_int_equal(a.cmd_revision, 31); /* revisions go on from the stored state */
}

static void test_node_close_fails_waiting_requests(void **state)
{
    struct fx *f = *state;
    struct answer a = {0};

    configure(f, 1, 1000);
    open_node(f, 0);
    RUN_UNTIL(f, leader_of(f) == 0);
    assert_int_equal(propose_put(f, 0, "k", "v", &a), 0);
    close_node(f, 0);
    assert_true(a.done);
    assert_true(a.status == RAFT_ESHUTDOWN || a.status == 0);
}

static void test_node_full_store_refuses_writes_serves_reads_loses_nothing(void **state)
{
    struct fx *f = *state;
    static char big[200 * 1024];
    struct coord_node_status st;
    struct answer a = {0};
    char value[64];
    char key[16];
    int i;
    int rv = 0;

    memset(big, 'x', sizeof big - 1);
    configure(f, 1, 1000000);
    f->cfg[0].map_size_mb = 1;
    open_node(f, 0);
    RUN_UNTIL(f, leader_of(f) == 0);
    assert_int_equal(propose_put(f, 0, "small", "v", &a), 0);
    RUN_UNTIL(f, a.done);
    for (i = 0; i < 20 && rv == 0; i++) {
        (void)snprintf(key, sizeof key, "big%d", i);
        memset(&a, 0, sizeof a);
        rv = propose_put(f, 0, key, big, &a);
        if (rv == 0) {
            RUN_UNTIL(f, a.done);
            rv = a.status;
        }
    }
    assert_int_equal(rv, RAFT_ENOSPC); /* a 1 MiB map holds fewer than 20 */
    memset(&a, 0, sizeof a);
    assert_int_equal(propose_put(f, 0, "more", "v", &a), RAFT_ENOSPC);
    status_of(f, 0, &st);
    assert_int_equal(st.storage_error, RAFT_ENOSPC);
    assert_int_equal(read_key(f, 0, "small", false, value), 0);
    assert_string_equal(value, "v");

    /* A larger map: the committed write that did not fit is applied. */
    close_node(f, 0);
    f->cfg[0].map_size_mb = 16;
    open_node(f, 0);
    RUN_UNTIL(f, leader_of(f) == 0);
    (void)snprintf(key, sizeof key, "big%d", i - 1);
    assert_int_equal(read_key(f, 0, key, true, value), 0);
    assert_int_equal(f->last_len, sizeof big - 1);
    memset(&a, 0, sizeof a);
    assert_int_equal(propose_put(f, 0, "more", "v", &a), 0);
    RUN_UNTIL(f, a.done);
    assert_int_equal(a.status, 0);
}

/* ---- three nodes ------------------------------------------------------------------------ */

static void open_all(struct fx *f)
{
    size_t i;

    for (i = 0; i < f->n; i++) {
        open_node(f, i);
    }
    RUN_UNTIL(f, leader_of(f) >= 0);
}

static bool all_applied(struct fx *f, raft_index index)
{
    struct coord_node_status st;
    size_t i;

    for (i = 0; i < f->n; i++) {
        if (f->node[i] == NULL) {
            continue;
        }
        status_of(f, i, &st);
        if (st.applied_index < index) {
            return false;
        }
    }
    return true;
}

static void test_node_three_replicate_and_refuse_on_followers(void **state)
{
    struct fx *f = *state;
    struct answer a = {0};
    char value[64];
    size_t l;
    size_t follower;
    size_t i;

    configure(f, 3, 1000);
    open_all(f);
    l = (size_t)leader_of(f);
    follower = (l + 1) % 3;
    assert_int_equal(propose_put(f, follower, "k", "v", &a), RAFT_ENOTLEADER);
    assert_int_equal(propose_put(f, l, "k", "v", &a), 0);
    RUN_UNTIL(f, a.done);
    assert_int_equal(a.status, 0);
    RUN_UNTIL(f, all_applied(f, a.index));
    for (i = 0; i < 3; i++) {
        assert_int_equal(read_key(f, i, "k", false, value), 0);
        assert_string_equal(value, "v");
        assert_int_equal(read_key(f, i, "k", true, value), 0); /* follower: ReadIndex */
    }
}

static void test_node_lagging_follower_catches_up_by_snapshot(void **state)
{
    struct fx *f = *state;
    struct coord_node_status st;
    struct answer a = {0};
    char value[64];
    size_t l;
    size_t lag;
    int i;

    configure(f, 3, 20);
    open_all(f);
    l = (size_t)leader_of(f);
    lag = (l + 1) % 3;
    close_node(f, lag);
    for (i = 0; i < 120; i++) {
        char key[16];

        memset(&a, 0, sizeof a);
        (void)snprintf(key, sizeof key, "key%d", i);
        assert_int_equal(propose_put(f, l, key, key, &a), 0);
        RUN_UNTIL(f, a.done);
        assert_int_equal(a.status, 0);
    }
    status_of(f, l, &st);
    assert_true(st.snapshot_index > 20); /* the leader compacted its log */
    open_node(f, lag);
    RUN_UNTIL(f, all_applied(f, a.index));
    status_of(f, lag, &st);
    assert_true(st.snapshot_index > 20); /* it was sent a snapshot */
    assert_int_equal(read_key(f, lag, "key0", false, value), 0);
    assert_string_equal(value, "key0");
    assert_int_equal(read_key(f, lag, "key119", false, value), 0);
    /* And it survives its own restart from the installed snapshot. */
    close_node(f, lag);
    open_node(f, lag);
    assert_int_equal(read_key(f, lag, "key60", false, value), 0);
    assert_string_equal(value, "key60");
}

static void test_node_membership_and_transfer(void **state)
{
    struct fx *f = *state;
    struct answer a = {0};
    struct coord_node_status st;
    size_t l;
    raft_id to;

    configure(f, 3, 1000);
    open_all(f);
    l = (size_t)leader_of(f);
    /* Membership changes wait for the leader's no-op: commit something first. */
    assert_int_equal(propose_put(f, l, "k", "v", &a), 0);
    RUN_UNTIL(f, a.done);
    memset(&a, 0, sizeof a);
    assert_int_equal(coord_node_conf_change(f->node[l], RAFT_CONF_ADD_LEARNER, 9, "127.0.0.1:1",
                                            "127.0.0.1:2", 0, on_answer, &a),
                     0);
    RUN_UNTIL(f, a.done);
    assert_int_equal(a.status, 0);
    status_of(f, l, &st);
    assert_int_equal(st.n_members, 4);
    assert_false(st.members[3].voter);
    assert_string_equal(st.members[3].client_addr, "127.0.0.1:2");
    memset(&a, 0, sizeof a);
    assert_int_equal(
        coord_node_conf_change(f->node[l], RAFT_CONF_REMOVE, 9, NULL, NULL, 0, on_answer, &a), 0);
    RUN_UNTIL(f, a.done);
    assert_int_equal(a.status, 0);

    to = (raft_id)((l + 1) % 3 + 1);
    memset(&a, 0, sizeof a);
    assert_int_equal(coord_node_transfer(f->node[l], to, 0, on_answer, &a), 0);
    RUN_UNTIL(f, a.done);
    assert_int_equal(a.status, 0);
    assert_int_equal(a.leader, to);
    RUN_UNTIL(f, leader_of(f) == (int)to - 1);
    /* A transfer to the node that already leads is answered at once. */
    memset(&a, 0, sizeof a);
    assert_int_equal(coord_node_transfer(f->node[to - 1], to, 0, on_answer, &a), 0);
    assert_false(a.done);
    RUN_UNTIL(f, a.done);
    assert_int_equal(a.status, 0);
    assert_int_equal(a.leader, to);
}

static void test_node_addresses_split_and_join(void **state)
{
    char peer[RAFT_ADDR_MAX];
    char client[RAFT_ADDR_MAX];
    char out[RAFT_ADDR_MAX];

    (void)state;
    assert_int_equal(coord_node_addr_join("h:1", "c:2", out), 0);
    assert_string_equal(out, "h:1/c:2");
    assert_int_equal(coord_node_addr_split(out, peer, client), 0);
    assert_string_equal(peer, "h:1");
    assert_string_equal(client, "c:2");
    assert_int_equal(coord_node_addr_split("h:1", peer, client), 0);
    assert_string_equal(client, "");
    assert_int_equal(coord_node_addr_join("", "c:2", out), RAFT_EINVAL);
    assert_int_equal(coord_node_addr_join("a/b", NULL, out), RAFT_EINVAL);
    assert_int_equal(coord_node_addr_split("/c:2", peer, client), RAFT_EINVAL);
    assert_int_equal(coord_node_addr_split("a/b/c", peer, client), RAFT_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_node_addresses_split_and_join),
        cmocka_unit_test_setup_teardown(test_node_single_applies_and_reads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_serializable_read_sees_answered_write, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_node_restart_keeps_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_close_fails_waiting_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_node_full_store_refuses_writes_serves_reads_loses_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_three_replicate_and_refuse_on_followers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_node_lagging_follower_catches_up_by_snapshot, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_node_membership_and_transfer, setup, teardown),
    };

    /* Sockets closed under a pending write raise SIGPIPE; coordd ignores it (main.c). */
    (void)signal(SIGPIPE, SIG_IGN);

    return cmocka_run_group_tests(tests, NULL, NULL);
}
