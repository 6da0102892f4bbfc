/* SPDX-License-Identifier: MIT */
/* join: leader, members and lag from the status answers of several nodes. */
#include "coord/ctl/join.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord/ctl/json.h"
#include "coord/ctl/table.h"
#include "raft/base/alloc.h"
#include "raft/base/assert.h"
#include "raft/base/err.h"

/* Row groups, in output order (rule 5). */
enum { GROUP_MEMBER, GROUP_EXTRA, GROUP_UNKNOWN };

/* A row while the view is built: the group and the input order sort it. */
struct slot {
    struct ctl_status_row row;
    int group;
    size_t seq;
};

static bool answered(const struct ctl_node_answer *a)
{
    return a->status == 0;
}

/* Rule 1: the index of the leader's answer, or n when none. */
static size_t find_leader(const struct ctl_node_answer *answers, size_t n)
{
    size_t best = n;
    size_t i;

    for (i = 0; i < n; i++) {
        const struct ctl_node_answer *a = &answers[i];

        if (!answered(a) || a->role == NULL || strcmp(a->role, "leader") != 0) {
            continue;
        }
        if (best == n || a->term > answers[best].term) {
            best = i;
        }
    }
    return best;
}

const struct ctl_member_info *ctl_join_config(const struct ctl_node_answer *answers, size_t n,
                                              size_t *n_members)
{
    size_t leader = find_leader(answers, n);
    const struct ctl_node_answer *best = NULL;
    size_t i;

    if (leader < n && answers[leader].n_members > 0) {
        *n_members = answers[leader].n_members;
        return answers[leader].members;
    }
    /* Rule 2 without a leader: highest term, then highest commit index. */
    for (i = 0; i < n; i++) {
        const struct ctl_node_answer *a = &answers[i];

        if (!answered(a) || a->n_members == 0) {
            continue;
        }
        if (best == NULL || a->term > best->term ||
            (a->term == best->term && a->commit_index > best->commit_index)) {
            best = a;
        }
    }
    *n_members = best != NULL ? best->n_members : 0;
    return best != NULL ? best->members : NULL;
}

/* The first answer from node id, or NULL. */
static const struct ctl_node_answer *answer_of(const struct ctl_node_answer *answers, size_t n,
                                               uint64_t id)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (answered(&answers[i]) && answers[i].id == id) {
            return &answers[i];
        }
    }
    return NULL;
}

static bool in_config(const struct ctl_member_info *conf, size_t n_conf, uint64_t id)
{
    size_t i;

    for (i = 0; i < n_conf; i++) {
        if (conf[i].id == id) {
            return true;
        }
    }
    return false;
}

/* Is addr some member's client or peer address? */
static bool is_member_addr(const struct ctl_member_info *conf, size_t n_conf, const char *addr)
{
    size_t i;

    for (i = 0; i < n_conf; i++) {
        if (strcmp(conf[i].client_addr, addr) == 0 || strcmp(conf[i].peer_addr, addr) == 0) {
            return true;
        }
    }
    return false;
}

static void fill_up(struct ctl_status_row *row, const struct ctl_node_answer *a)
{
    row->up = true;
    row->role = a->role != NULL ? a->role : "";
    row->term = a->term;
    row->commit_index = a->commit_index;
    row->applied_index = a->applied_index;
}

static int cmp_slot(const void *pa, const void *pb)
{
    const struct slot *a = pa;
    const struct slot *b = pb;

    if (a->group != b->group) {
        return a->group < b->group ? -1 : 1;
    }
    if (a->group != GROUP_UNKNOWN && a->row.id != b->row.id) {
        return a->row.id < b->row.id ? -1 : 1;
    }
    return a->seq < b->seq ? -1 : (a->seq > b->seq ? 1 : 0);
}

/* Rules 3 and 5: one slot per member, extra node and unknown endpoint. */
static size_t collect(const struct ctl_node_answer *answers, size_t n,
                      const struct ctl_member_info *conf, size_t n_conf, struct slot *slots)
{
    size_t n_slots = 0;
    size_t i;

    for (i = 0; i < n_conf; i++) {
        const struct ctl_node_answer *a = answer_of(answers, n, conf[i].id);
        struct slot *s = &slots[n_slots];

        memset(s, 0, sizeof(*s));
        s->group = GROUP_MEMBER;
        s->seq = n_slots++;
        s->row.has_id = true;
        s->row.id = conf[i].id;
        s->row.member = true;
        s->row.address = conf[i].client_addr[0] != '\0' ? conf[i].client_addr : conf[i].peer_addr;
        s->row.role = CTL_JOIN_DOWN;
        if (a != NULL) {
            fill_up(&s->row, a);
        }
    }
    for (i = 0; i < n; i++) {
        const struct ctl_node_answer *a = &answers[i];
        struct slot *s = &slots[n_slots];

        if (answered(a) && (in_config(conf, n_conf, a->id) || answer_of(answers, n, a->id) != a)) {
            continue; /* a member, or a node already listed from an earlier endpoint */
        }
        if (!answered(a) && is_member_addr(conf, n_conf, a->endpoint)) {
            continue; /* its member row says "down" */
        }
        memset(s, 0, sizeof(*s));
        s->group = answered(a) ? GROUP_EXTRA : GROUP_UNKNOWN;
        s->seq = n_slots++;
        s->row.has_id = answered(a);
        s->row.id = answered(a) ? a->id : 0;
        s->row.address = a->endpoint;
        s->row.role = CTL_JOIN_DOWN;
        if (answered(a)) {
            fill_up(&s->row, a);
        }
    }
    return n_slots;
}

int ctl_join_status(const struct ctl_node_answer *answers, size_t n, struct ctl_status_view *out)
{
    size_t leader = find_leader(answers, n);
    size_t n_conf = 0;
    const struct ctl_member_info *conf = ctl_join_config(answers, n, &n_conf);
    struct slot *slots;
    size_t n_slots;
    size_t i;

    memset(out, 0, sizeof(*out));
    slots = raft_calloc(n_conf + n + 1, sizeof(*slots));
    if (slots == NULL) {
        return RAFT_ENOMEM;
    }
    out->rows = raft_calloc(n_conf + n + 1, sizeof(*out->rows));
    if (out->rows == NULL) {
        raft_free(slots);
        return RAFT_ENOMEM;
    }
    n_slots = collect(answers, n, conf, n_conf, slots);
    RAFT_ASSERT(n_slots <= n_conf + n);
    qsort(slots, n_slots, sizeof(*slots), cmp_slot);
    out->has_leader = leader < n;
    out->leader_id = leader < n ? answers[leader].id : 0;
    for (i = 0; i < n; i++) {
        out->n_answered += answered(&answers[i]) ? 1 : 0;
    }
    for (i = 0; i < n_slots; i++) {
        struct ctl_status_row *row = &out->rows[i];

        *row = slots[i].row;
        if (!row->up || !out->has_leader) {
            continue;
        }
        /* Rule 4. The leader's commit index may trail a follower's applied
         * index when the two answers were taken at different moments. */
        row->has_lag = true;
        if (row->id != out->leader_id && answers[leader].commit_index > row->applied_index) {
            row->lag = answers[leader].commit_index - row->applied_index;
        }
    }
    out->n_rows = n_slots;
    raft_free(slots);
    return 0;
}

void ctl_join_free(struct ctl_status_view *v)
{
    raft_free(v->rows);
    memset(v, 0, sizeof(*v));
}

size_t ctl_join_unasked(const struct ctl_node_answer *answers, size_t n, const char **out,
                        size_t max)
{
    size_t n_conf = 0;
    const struct ctl_member_info *conf = ctl_join_config(answers, n, &n_conf);
    size_t n_out = 0;
    size_t i;

    for (i = 0; i < n_conf && n_out < max; i++) {
        bool asked = false;
        size_t k;

        if (conf[i].client_addr[0] == '\0' || answer_of(answers, n, conf[i].id) != NULL) {
            continue;
        }
        for (k = 0; k < n && !asked; k++) {
            asked = strcmp(answers[k].endpoint, conf[i].client_addr) == 0;
        }
        if (!asked) {
            out[n_out++] = conf[i].client_addr;
        }
    }
    return n_out;
}

static void u64_or_null(struct ctl_json *j, bool valid, uint64_t v)
{
    if (valid) {
        ctl_json_u64(j, v);
    } else {
        ctl_json_null(j);
    }
}

void ctl_join_render_json(const struct ctl_status_view *v, struct ctl_sbuf *out)
{
    struct ctl_json j;
    size_t i;

    ctl_json_init(&j, out);
    ctl_json_object_begin(&j);
    ctl_json_key(&j, "leader");
    u64_or_null(&j, v->has_leader, v->leader_id);
    ctl_json_key(&j, "members");
    ctl_json_array_begin(&j);
    for (i = 0; i < v->n_rows; i++) {
        const struct ctl_status_row *r = &v->rows[i];

        ctl_json_object_begin(&j);
        ctl_json_key(&j, "id");
        u64_or_null(&j, r->has_id, r->id);
        ctl_json_key(&j, "address");
        ctl_json_str(&j, r->address);
        ctl_json_key(&j, "role");
        ctl_json_str(&j, r->role);
        ctl_json_key(&j, "term");
        u64_or_null(&j, r->up, r->term);
        ctl_json_key(&j, "commit_index");
        u64_or_null(&j, r->up, r->commit_index);
        ctl_json_key(&j, "applied_index");
        u64_or_null(&j, r->up, r->applied_index);
        ctl_json_key(&j, "lag");
        u64_or_null(&j, r->has_lag, r->lag);
        ctl_json_object_end(&j);
    }
    ctl_json_array_end(&j);
    ctl_json_object_end(&j);
    (void)ctl_json_finish(&j);
    ctl_sbuf_putc(out, '\n');
}

#define NUM_LEN 24 /* a decimal uint64_t and its NUL */

static void num(char *buf, bool valid, uint64_t v)
{
    if (valid) {
        (void)snprintf(buf, NUM_LEN, "%" PRIu64, v);
    } else {
        (void)snprintf(buf, NUM_LEN, "-");
    }
}

int ctl_join_render_table(const struct ctl_status_view *v, struct ctl_sbuf *out)
{
    static const char *const header[] = {"ID",     "ADDRESS", "ROLE", "TERM",
                                         "COMMIT", "APPLIED", "LAG"};
    struct ctl_table t;
    size_t i;
    int rv;

    ctl_table_init(&t, sizeof(header) / sizeof(header[0]));
    rv = ctl_table_add(&t, header);
    for (i = 0; rv == 0 && i < v->n_rows; i++) {
        const struct ctl_status_row *r = &v->rows[i];
        char id[NUM_LEN];
        char term[NUM_LEN];
        char commit[NUM_LEN];
        char applied[NUM_LEN];
        char lag[NUM_LEN];
        const char *cells[7] = {id, r->address, r->role, term, commit, applied, lag};

        num(id, r->has_id, r->id);
        num(term, r->up, r->term);
        num(commit, r->up, r->commit_index);
        num(applied, r->up, r->applied_index);
        num(lag, r->has_lag, r->lag);
        rv = ctl_table_add(&t, cells);
    }
    if (rv == 0) {
        ctl_table_render(&t, out);
    }
    ctl_table_close(&t);
    return rv != 0 ? rv : out->err;
}
