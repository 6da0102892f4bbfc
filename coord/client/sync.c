/* SPDX-License-Identifier: MIT */
/* sync: the blocking face of libcoord (coord_sync_* in client.h): one
 * private libuv loop and one asynchronous client per handle, run until the
 * answer arrives. The answer's memory is kept until the next call. */
#include <stdlib.h>
#include <string.h>

#include "coord/client/client.h"
#include "coord/client/client_internal.h"
#include "coord/client/codec.h"
#include "raft/base/alloc.h"
#include "raft/base/assert.h"
#include "raft/base/err.h"

struct coord_sync {
    uv_loop_t loop;
    struct coord_client *c;         /* owned; NULL once closed */
    struct coord_client_arena keep; /* the memory of the last answer */
    struct coord_result res;        /* the last answer; views into keep */
    bool done;                      /* the pending call was answered */
};

int coord_sync_open(const struct coord_client_opts *opts, struct coord_sync **out)
{
    struct coord_sync *s = raft_calloc(1, sizeof *s);
    int rv;

    if (s == NULL) {
        return RAFT_ENOMEM;
    }
    if (uv_loop_init(&s->loop) != 0) {
        rv = RAFT_EIO;
        goto err_after_alloc;
    }
    rv = coord_client_new(&s->loop, opts, &s->c);
    if (rv != 0) {
        goto err_after_loop;
    }
    coord_client_arena_init(&s->keep);
    *out = s;
    return 0;

err_after_loop:
    RAFT_ASSERT(uv_loop_close(&s->loop) == 0);
err_after_alloc:
    raft_free(s);
    return rv;
}

static void on_closed(void *arg)
{
    struct coord_sync *s = arg;

    s->c = NULL;
}

void coord_sync_close(struct coord_sync *s)
{
    if (s == NULL) {
        return;
    }
    coord_client_close(s->c, on_closed, s);
    /* Closing needs a few iterations: handles close, then the client. */
    while (s->c != NULL) {
        uv_run(&s->loop, UV_RUN_ONCE);
    }
    (void)uv_run(&s->loop, UV_RUN_DEFAULT);
    RAFT_ASSERT(uv_loop_close(&s->loop) == 0);
    coord_client_arena_close(&s->keep);
    raft_free(s);
}

static void on_answer(void *arg, const struct coord_result *res)
{
    struct coord_sync *s = arg;

    coord_client_keep(s->c, &s->keep);
    s->res = *res;
    s->done = true;
}

/* Before a request: the loop's clock is fresh (time passed outside uv_run()
 * would shorten the deadline) and the last answer is released. */
static void begin(struct coord_sync *s)
{
    uv_update_time(&s->loop);
    coord_client_arena_reset(&s->keep);
    s->done = false;
}

/* Wait for the answer to the request whose submission returned rv. The
 * client answers every request by its deadline, so this ends. */
static int finish(struct coord_sync *s, int rv, struct coord_result *res)
{
    if (rv != 0) {
        memset(&s->res, 0, sizeof s->res);
        s->res.status = rv;
        s->res.message = "";
        s->res.leader_addr = "";
        s->res.endpoint = "";
        s->done = true;
    }
    while (!s->done) {
        uv_run(&s->loop, UV_RUN_ONCE);
    }
    *res = s->res;
    return res->status;
}

int coord_sync_put(struct coord_sync *s, const void *key, size_t key_len, const void *value,
                   size_t value_len, unsigned flags, struct coord_result *res)
{
    begin(s);
    return finish(s, coord_client_put(s->c, key, key_len, value, value_len, flags, on_answer, s),
                  res);
}

int coord_sync_get(struct coord_sync *s, const void *key, size_t key_len, unsigned flags,
                   struct coord_result *res)
{
    begin(s);
    return finish(s, coord_client_get(s->c, key, key_len, flags, on_answer, s), res);
}

int coord_sync_range(struct coord_sync *s, const void *key, size_t key_len, const void *range_end,
                     size_t range_end_len, uint64_t limit, unsigned flags, struct coord_result *res)
{
    begin(s);
    return finish(s,
                  coord_client_range(s->c, key, key_len, range_end, range_end_len, limit, flags,
                                     on_answer, s),
                  res);
}

int coord_sync_del(struct coord_sync *s, const void *key, size_t key_len, const void *range_end,
                   size_t range_end_len, unsigned flags, struct coord_result *res)
{
    begin(s);
    return finish(
        s, coord_client_del(s->c, key, key_len, range_end, range_end_len, flags, on_answer, s),
        res);
}

int coord_sync_status(struct coord_sync *s, struct coord_result *res)
{
    begin(s);
    return finish(s, coord_client_status(s->c, on_answer, s), res);
}

int coord_sync_member(struct coord_sync *s, enum coord_member_op op, uint64_t id,
                      const char *peer_addr, const char *client_addr, struct coord_result *res)
{
    begin(s);
    return finish(s, coord_client_member(s->c, op, id, peer_addr, client_addr, on_answer, s), res);
}

int coord_sync_transfer(struct coord_sync *s, uint64_t to, struct coord_result *res)
{
    begin(s);
    return finish(s, coord_client_transfer(s->c, to, on_answer, s), res);
}
