/* SPDX-License-Identifier: MIT */
/* log: the in-memory Raft log, a growable array of entries.
 *
 * Design notes
 *  1. Entries held are exactly offset+1 .. offset+n, contiguous.
 *  2. Terms never decrease along the log, and the first entry's term is at
 *     least offset_term.
 *  3. Data of removed entries is freed only at the next raft_step(), so an
 *     update's views survive until then.
 */
#include "raft/log.h"

#include <string.h>

#include "raft/base/alloc.h"
#include "raft/base/assert.h"

void raft_log_init(struct raft_log *l, raft_index offset, raft_term offset_term)
{
    memset(l, 0, sizeof *l);
    l->offset = offset;
    l->offset_term = offset_term;
}

void raft_log_empty_trash(struct raft_log *l)
{
    size_t i;

    for (i = 0; i < l->n_trash; i++) {
        raft_free(l->trash[i]);
    }
    l->n_trash = 0;
}

/* Move a removed entry's data to the trash. If the trash cannot grow, free
 * the data now: only a view from the current step can still point to it,
 * and removal and hand-out of one entry never happen in the same step. */
static void discard(struct raft_log *l, struct raft_entry *e)
{
    if (e->data.base == NULL) {
        return;
    }
    if (l->n_trash == l->cap_trash) {
        size_t cap = l->cap_trash == 0 ? 64 : l->cap_trash * 2;
        void **t = raft_realloc(l->trash, cap * sizeof *t);

        if (t == NULL) {
            raft_free(e->data.base);
            e->data.base = NULL;
            return;
        }
        l->trash = t;
        l->cap_trash = cap;
    }
    l->trash[l->n_trash++] = e->data.base;
    e->data.base = NULL;
}

void raft_log_close(struct raft_log *l)
{
    size_t i;

    for (i = 0; i < l->n; i++) {
        raft_free(l->entries[l->start + i].data.base);
    }
    raft_log_empty_trash(l);
    raft_free(l->entries);
    raft_free(l->trash);
    memset(l, 0, sizeof *l);
}

raft_index raft_log_last_index(const struct raft_log *l)
{
    return l->offset + l->n;
}

raft_term raft_log_last_term(const struct raft_log *l)
{
    return l->n == 0 ? l->offset_term : l->entries[l->start + l->n - 1].term;
}

bool raft_log_term(const struct raft_log *l, raft_index index, raft_term *term)
{
    if (index == l->offset) {
        *term = l->offset_term;
        return true;
    }
    if (index < l->offset || index > l->offset + l->n) {
        return false;
    }
    *term = l->entries[l->start + (index - l->offset - 1)].term;
    return true;
}

struct raft_entry *raft_log_get(const struct raft_log *l, raft_index index)
{
    if (index <= l->offset || index > l->offset + l->n) {
        return NULL;
    }
    return &l->entries[l->start + (index - l->offset - 1)];
}

static int reserve_one(struct raft_log *l)
{
    size_t cap;
    struct raft_entry *e;

    if (l->start + l->n < l->cap) {
        return 0;
    }
    /* Slide to the front when at least half the array is free at the head. */
    if (l->start > 0 && l->start >= l->cap / 2) {
        memmove(l->entries, &l->entries[l->start], l->n * sizeof *l->entries);
        l->start = 0;
        return 0;
    }
    cap = l->cap == 0 ? 256 : l->cap * 2;
    e = raft_realloc(l->entries, cap * sizeof *e);
    if (e == NULL) {
        return RAFT_ENOMEM;
    }
    l->entries = e;
    l->cap = cap;
    return 0;
}

int raft_log_append(struct raft_log *l, const struct raft_entry *e)
{
    struct raft_entry *slot;
    void *data = NULL;

    RAFT_ASSERT(e->index == raft_log_last_index(l) + 1);
    RAFT_ASSERT(e->term >= raft_log_last_term(l));
    if (e->data.len > 0) {
        data = raft_memdup(e->data.base, e->data.len);
        if (data == NULL) {
            return RAFT_ENOMEM;
        }
    }
    if (reserve_one(l) != 0) {
        raft_free(data);
        return RAFT_ENOMEM;
    }
    slot = &l->entries[l->start + l->n];
    *slot = *e;
    slot->data.base = data;
    l->n++;
    return 0;
}

void raft_log_truncate(struct raft_log *l, raft_index from)
{
    raft_index last = raft_log_last_index(l);

    RAFT_ASSERT(from > l->offset);
    while (last >= from) {
        discard(l, &l->entries[l->start + l->n - 1]);
        l->n--;
        last--;
    }
}

void raft_log_compact(struct raft_log *l, raft_index upto)
{
    raft_term term;

    RAFT_ASSERT(upto <= raft_log_last_index(l));
    if (upto <= l->offset) {
        return;
    }
    RAFT_ASSERT(raft_log_term(l, upto, &term));
    while (l->offset < upto) {
        discard(l, &l->entries[l->start]);
        l->start++;
        l->n--;
        l->offset++;
    }
    l->offset_term = term;
    if (l->n == 0) {
        l->start = 0;
    }
}

void raft_log_reset(struct raft_log *l, raft_index offset, raft_term offset_term)
{
    while (l->n > 0) {
        discard(l, &l->entries[l->start + l->n - 1]);
        l->n--;
    }
    l->start = 0;
    l->offset = offset;
    l->offset_term = offset_term;
}
