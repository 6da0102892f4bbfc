/* SPDX-License-Identifier: MIT */
/* queue: binary min-heap of events ordered by (at, seq). */
#include "tests/sim/queue.h"

#include <string.h>

#include "raft/base/assert.h"
#include "tests/sim/util.h"

static bool before(const struct sim_event *x, const struct sim_event *y)
{
    return x->at < y->at || (x->at == y->at && x->seq < y->seq);
}

static void swap(struct sim_event *x, struct sim_event *y)
{
    struct sim_event t = *x;

    *x = *y;
    *y = t;
}

void sim_queue_init(struct sim_queue *q)
{
    memset(q, 0, sizeof *q);
}

void sim_queue_close(struct sim_queue *q)
{
    sim_util_free(q->heap);
    memset(q, 0, sizeof *q);
}

uint64_t sim_queue_push(struct sim_queue *q, const struct sim_event *ev)
{
    size_t i = q->n;

    sim_util_reserve((void **)&q->heap, &q->cap, q->n + 1, sizeof *q->heap);
    q->heap[i] = *ev;
    q->heap[i].seq = q->next_seq++;
    q->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;

        if (!before(&q->heap[i], &q->heap[parent])) {
            break;
        }
        swap(&q->heap[i], &q->heap[parent]);
        i = parent;
    }
    return q->heap[i].seq;
}

bool sim_queue_pop(struct sim_queue *q, struct sim_event *out)
{
    size_t i = 0;

    if (q->n == 0) {
        return false;
    }
    *out = q->heap[0];
    q->n--;
    q->heap[0] = q->heap[q->n];
    for (;;) {
        size_t l = 2 * i + 1;
        size_t r = l + 1;
        size_t m = i;

        if (l < q->n && before(&q->heap[l], &q->heap[m])) {
            m = l;
        }
        if (r < q->n && before(&q->heap[r], &q->heap[m])) {
            m = r;
        }
        if (m == i) {
            break;
        }
        swap(&q->heap[i], &q->heap[m]);
        i = m;
    }
    RAFT_DASSERT(q->n == 0 || !before(&q->heap[0], out));
    return true;
}

size_t sim_queue_len(const struct sim_queue *q)
{
    return q->n;
}
