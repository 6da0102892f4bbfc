/* SPDX-License-Identifier: MIT */
/* admin: membership changes, the configuration listing, leader transfer. */
#include "coord/ctl/admin.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "coord/ctl/args.h"
#include "coord/ctl/json.h"
#include "coord/ctl/table.h"
#include "raft/base/err.h"

/* Parse a node id (1 and up) named by the command what. */
static int parse_id(const char *what, const char *s, uint64_t *id)
{
    if (ctl_args_u64(s, UINT64_MAX, id) != 0 || *id == 0) {
        return ctl_usage("%s: a node id is a number from 1, not '%s'", what, s);
    }
    return 0;
}

static bool is_leader(const struct coord_client_status *st)
{
    return st->role != NULL && strcmp(st->role, "leader") == 0;
}

/* The client address of member id in st's configuration, or NULL. */
static const char *client_addr_of(const struct coord_client_status *st, uint64_t id)
{
    size_t i;

    for (i = 0; i < st->n_members; i++) {
        if (st->members[i].id == id && st->members[i].client_addr[0] != '\0') {
            return st->members[i].client_addr;
        }
    }
    return NULL;
}

static void render_members_json(const struct coord_client_status *st, struct ctl_sbuf *out)
{
    struct ctl_json j;
    size_t i;

    ctl_json_init(&j, out);
    ctl_json_object_begin(&j);
    ctl_json_key(&j, "leader");
    if (st->leader_id != 0) {
        ctl_json_u64(&j, st->leader_id);
    } else {
        ctl_json_null(&j);
    }
    ctl_json_key(&j, "members");
    ctl_json_array_begin(&j);
    for (i = 0; i < st->n_members; i++) {
        const struct coord_client_member *m = &st->members[i];

        ctl_json_object_begin(&j);
        ctl_json_key(&j, "id");
        ctl_json_u64(&j, m->id);
        ctl_json_key(&j, "voter");
        ctl_json_bool(&j, m->voter);
        ctl_json_key(&j, "peer_addr");
        ctl_json_str(&j, m->peer_addr);
        ctl_json_key(&j, "client_addr");
        ctl_json_str(&j, m->client_addr);
        ctl_json_key(&j, "match_index");
        if (is_leader(st)) {
            ctl_json_u64(&j, m->match_index);
        } else {
            ctl_json_null(&j);
        }
        ctl_json_object_end(&j);
    }
    ctl_json_array_end(&j);
    ctl_json_object_end(&j);
    (void)ctl_json_finish(&j);
    ctl_sbuf_putc(out, '\n');
}

static int render_members_table(const struct coord_client_status *st, struct ctl_sbuf *out)
{
    static const char *const header[] = {"ID", "ROLE", "PEER_ADDR", "CLIENT_ADDR", "MATCH"};
    struct ctl_table t;
    size_t i;
    int rv;

    ctl_table_init(&t, 5);
    rv = ctl_table_add(&t, header);
    for (i = 0; rv == 0 && i < st->n_members; i++) {
        const struct coord_client_member *m = &st->members[i];
        char id[24];
        char match[24];
        const char *role = m->voter ? "voter" : "learner";
        const char *cells[5] = {id, role, m->peer_addr, m->client_addr, match};

        if (m->id == st->leader_id) {
            role = "leader";
            cells[1] = role;
        }
        (void)snprintf(id, sizeof(id), "%" PRIu64, m->id);
        if (is_leader(st)) {
            (void)snprintf(match, sizeof(match), "%" PRIu64, m->match_index);
        } else {
            (void)snprintf(match, sizeof(match), "-");
        }
        if (m->client_addr[0] == '\0') {
            cells[3] = NULL;
        }
        rv = ctl_table_add(&t, cells);
    }
    if (rv == 0) {
        ctl_table_render(&t, out);
    }
    ctl_table_close(&t);
    return rv;
}

/* Ask the leader itself when st (a follower's view) names one: only the
 * leader's configuration is sure to be the latest, and only it knows how far
 * each member has replicated. Returns the leader's view, or NULL. */
static const struct coord_client_status *ask_leader(const struct ctl_ctx *ctx,
                                                    const struct coord_client_status *st,
                                                    struct coord_sync **leader,
                                                    struct coord_result *res)
{
    struct coord_client_opts opts;
    const char *addr = client_addr_of(st, st->leader_id);

    if (is_leader(st) || addr == NULL) {
        return NULL;
    }
    ctl_client_opts(ctx, &opts);
    opts.endpoints = addr;
    opts.pin = true;
    if (coord_sync_open(&opts, leader) != 0) {
        *leader = NULL;
        return NULL;
    }
    if (coord_sync_status(*leader, res) != 0 || res->node_status == NULL ||
        !is_leader(res->node_status)) {
        return NULL;
    }
    return res->node_status;
}

int ctl_admin_members_list(const struct ctl_ctx *ctx, const char *const *pos, size_t n_pos)
{
    const char *what = "members list";
    struct coord_sync *s = NULL;
    struct coord_sync *leader = NULL;
    struct coord_result res;
    struct coord_result leader_res;
    const struct coord_client_status *st;
    const struct coord_client_status *best;
    struct ctl_sbuf out;
    int rv;

    (void)pos;
    (void)n_pos;
    rv = ctl_open(ctx, what, &s);
    if (rv != 0) {
        return rv;
    }
    rv = coord_sync_status(s, &res);
    if (rv == 0 && res.node_status == NULL) {
        rv = RAFT_EPROTO;
    }
    if (rv != 0) {
        rv = ctl_fail(what, rv, &res);
        goto out_close;
    }
    st = res.node_status;
    best = ask_leader(ctx, st, &leader, &leader_res);
    ctl_sbuf_init(&out);
    if (ctx->json) {
        render_members_json(best != NULL ? best : st, &out);
    } else {
        rv = render_members_table(best != NULL ? best : st, &out);
    }
    rv = rv != 0 ? ctl_fail(what, rv, NULL) : ctl_emit(&out, what);
    ctl_sbuf_close(&out);
    coord_sync_close(leader);

out_close:
    coord_sync_close(s);
    return rv;
}

/* One membership change, "members <verb>": ADD_LEARNER takes the
 * addresses, the others not. done completes "member ID ..." on success. */
static int change(const struct ctl_ctx *ctx, const char *verb, enum coord_member_op op,
                  const char *id_arg, const char *peer_addr, const char *client_addr,
                  const char *done)
{
    char what[64];
    struct coord_sync *s = NULL;
    struct coord_result res;
    struct ctl_sbuf out;
    uint64_t id;
    int rv;

    (void)snprintf(what, sizeof(what), "members %s", verb);
    rv = parse_id(what, id_arg, &id);
    if (rv != 0) {
        return rv;
    }
    rv = ctl_open(ctx, what, &s);
    if (rv != 0) {
        return rv;
    }
    rv = coord_sync_member(s, op, id, peer_addr, client_addr, &res);
    if (rv != 0) {
        rv = ctl_fail(what, rv, &res);
        goto out_close;
    }
    ctl_sbuf_init(&out);
    if (ctx->json) {
        ctl_sbuf_printf(&out, "{\"id\":%" PRIu64 ",\"op\":\"%s\"}\n", id, verb);
    } else {
        ctl_sbuf_printf(&out, "member %" PRIu64 " %s\n", id, done);
    }
    rv = ctl_emit(&out, what);

out_close:
    coord_sync_close(s);
    return rv;
}

int ctl_admin_members_add(const struct ctl_ctx *ctx, const char *const *pos, size_t n_pos)
{
    const char *client_addr = n_pos > 2 ? pos[2] : "";

    return change(ctx, "add", COORD_MEMBER_ADD_LEARNER, pos[0], pos[1], client_addr,
                  "added as a learner");
}

int ctl_admin_members_promote(const struct ctl_ctx *ctx, const char *const *pos, size_t n_pos)
{
    (void)n_pos;
    return change(ctx, "promote", COORD_MEMBER_PROMOTE, pos[0], NULL, NULL, "promoted to voter");
}

int ctl_admin_members_demote(const struct ctl_ctx *ctx, const char *const *pos, size_t n_pos)
{
    (void)n_pos;
    return change(ctx, "demote", COORD_MEMBER_DEMOTE, pos[0], NULL, NULL, "demoted to learner");
}

int ctl_admin_members_remove(const struct ctl_ctx *ctx, const char *const *pos, size_t n_pos)
{
    (void)n_pos;
    return change(ctx, "remove", COORD_MEMBER_REMOVE, pos[0], NULL, NULL, "removed");
}

int ctl_admin_leader_transfer(const struct ctl_ctx *ctx, const char *const *pos, size_t n_pos)
{
    const char *what = "leader transfer";
    struct coord_sync *s = NULL;
    struct coord_result res;
    struct ctl_sbuf out;
    uint64_t to = 0;
    int rv;

    if (n_pos > 0) {
        rv = parse_id(what, pos[0], &to);
        if (rv != 0) {
            return rv;
        }
    }
    rv = ctl_open(ctx, what, &s);
    if (rv != 0) {
        return rv;
    }
    rv = coord_sync_transfer(s, to, &res);
    if (rv != 0) {
        rv = ctl_fail(what, rv, &res);
        goto out_close;
    }
    ctl_sbuf_init(&out);
    if (ctx->json) {
        ctl_sbuf_puts(&out, "{\"to\":");
        if (to != 0) {
            ctl_sbuf_printf(&out, "%" PRIu64 "}\n", to);
        } else {
            ctl_sbuf_puts(&out, "null}\n");
        }
    } else if (to != 0) {
        ctl_sbuf_printf(&out, "leadership transferred to node %" PRIu64 "\n", to);
    } else {
        ctl_sbuf_puts(&out, "leadership transferred to the most up-to-date voter\n");
    }
    rv = ctl_emit(&out, what);

out_close:
    coord_sync_close(s);
    return rv;
}
