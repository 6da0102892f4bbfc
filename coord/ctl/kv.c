/* SPDX-License-Identifier: MIT */
/* kv: put, get (one key or a prefix) and del (one key or a prefix). */
#include "coord/ctl/kv.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "coord/ctl/args.h"
#include "coord/ctl/json.h"
#include "raft/base/alloc.h"
#include "raft/base/err.h"

/* The key range a command line names: one key, or a prefix. etcd spells the
 * whole key space as key "\0" with range end "\0"; an empty prefix does the
 * same here, since a key may not be empty. */
struct range {
    const uint8_t *key;
    size_t key_len;
    uint8_t *end; /* owned; NULL for a single key */
    size_t end_len;
};

static int range_init(struct range *r, const char *key, bool prefix)
{
    static const uint8_t zero = 0;
    size_t len = strlen(key);

    r->key = (const uint8_t *)key;
    r->key_len = len;
    r->end = NULL;
    r->end_len = 0;
    if (!prefix) {
        return 0;
    }
    r->end = raft_malloc(len > 0 ? len : 1);
    if (r->end == NULL) {
        return RAFT_ENOMEM;
    }
    ctl_args_prefix_end(key, len, r->end, &r->end_len);
    if (len == 0) {
        r->key = &zero;
        r->key_len = 1;
    }
    return 0;
}

static void range_close(struct range *r)
{
    raft_free(r->end);
    r->end = NULL;
}

int ctl_kv_put(const struct ctl_ctx *ctx, const char *const *pos, size_t n_pos)
{
    struct coord_sync *s = NULL;
    struct coord_result res;
    struct ctl_sbuf out;
    char what[256];
    int rv;

    (void)n_pos;
    ctl_what_key(what, sizeof(what), "kv put", pos[0]);
    if (pos[0][0] == '\0') {
        return ctl_usage("%s: the key may not be empty", what);
    }
    rv = ctl_open(ctx, what, &s);
    if (rv != 0) {
        return rv;
    }
    rv = coord_sync_put(s, pos[0], strlen(pos[0]), pos[1], strlen(pos[1]), 0, &res);
    if (rv != 0) {
        rv = ctl_fail(what, rv, &res);
        goto out_close;
    }
    ctl_sbuf_init(&out);
    if (ctx->json) {
        ctl_sbuf_printf(&out, "{\"revision\":%" PRIu64 "}\n", res.revision);
    } else {
        ctl_sbuf_puts(&out, "OK\n");
    }
    rv = ctl_emit(&out, what);

out_close:
    coord_sync_close(s);
    return rv;
}

static void json_kv(struct ctl_json *j, const struct coord_client_kv *kv)
{
    ctl_json_object_begin(j);
    ctl_json_key(j, "key");
    ctl_json_bytes(j, kv->key, kv->key_len);
    ctl_json_key(j, "value");
    ctl_json_bytes(j, kv->value, kv->value_len);
    ctl_json_key(j, "create_revision");
    ctl_json_u64(j, kv->create_revision);
    ctl_json_key(j, "mod_revision");
    ctl_json_u64(j, kv->mod_revision);
    ctl_json_key(j, "version");
    ctl_json_u64(j, kv->version);
    ctl_json_object_end(j);
}

/* The answer to a range (get --prefix): every key found. */
static void render_range(const struct ctl_ctx *ctx, const struct coord_result *res,
                         struct ctl_sbuf *out)
{
    bool keys_only = ctx->flag[CTL_F_KEYS_ONLY] != NULL;
    struct ctl_json j;
    size_t i;

    if (!ctx->json) {
        for (i = 0; i < res->n_kvs; i++) {
            ctl_sbuf_append(out, res->kvs[i].key, res->kvs[i].key_len);
            ctl_sbuf_putc(out, '\n');
            if (!keys_only) {
                ctl_sbuf_append(out, res->kvs[i].value, res->kvs[i].value_len);
                ctl_sbuf_putc(out, '\n');
            }
        }
        return;
    }
    ctl_json_init(&j, out);
    ctl_json_object_begin(&j);
    ctl_json_key(&j, "revision");
    ctl_json_u64(&j, res->revision);
    ctl_json_key(&j, "more");
    ctl_json_bool(&j, res->more);
    ctl_json_key(&j, "kvs");
    ctl_json_array_begin(&j);
    for (i = 0; i < res->n_kvs; i++) {
        json_kv(&j, &res->kvs[i]);
    }
    ctl_json_array_end(&j);
    ctl_json_object_end(&j);
    (void)ctl_json_finish(&j);
    ctl_sbuf_putc(out, '\n');
}

/* The answer to a get of one key; CTL_EXIT_FAIL when it is missing. */
static int render_one(const struct ctl_ctx *ctx, const struct coord_result *res,
                      struct ctl_sbuf *out, const char *what)
{
    struct ctl_json j;

    if (res->n_kvs == 0) {
        (void)fprintf(stderr, "coordctl: %s: key not found\n", what);
        return CTL_EXIT_FAIL;
    }
    if (!ctx->json) {
        ctl_sbuf_append(out, res->kvs[0].value, res->kvs[0].value_len);
        ctl_sbuf_putc(out, '\n');
        return 0;
    }
    ctl_json_init(&j, out);
    json_kv(&j, &res->kvs[0]);
    (void)ctl_json_finish(&j);
    ctl_sbuf_putc(out, '\n');
    return 0;
}

static int parse_limit(const struct ctl_ctx *ctx, uint64_t *limit)
{
    const char *s = ctx->flag[CTL_F_LIMIT];

    *limit = 0;
    if (s != NULL && ctl_args_u64(s, UINT64_MAX, limit) != 0) {
        return ctl_usage("kv get: --limit wants a number, not '%s'", s);
    }
    return 0;
}

int ctl_kv_get(const struct ctl_ctx *ctx, const char *const *pos, size_t n_pos)
{
    bool prefix = ctx->flag[CTL_F_PREFIX] != NULL;
    unsigned flags = ctx->flag[CTL_F_SERIALIZABLE] != NULL ? COORD_SERIALIZABLE : 0;
    struct coord_sync *s = NULL;
    struct coord_result res;
    struct range r;
    struct ctl_sbuf out;
    uint64_t limit;
    char what[256];
    int rv;

    (void)n_pos;
    ctl_what_key(what, sizeof(what), "kv get", pos[0]);
    rv = parse_limit(ctx, &limit);
    if (rv != 0) {
        return rv;
    }
    if (!prefix && pos[0][0] == '\0') {
        return ctl_usage("%s: the key may not be empty", what);
    }
    if (range_init(&r, pos[0], prefix) != 0) {
        return ctl_fail(what, RAFT_ENOMEM, NULL);
    }
    rv = ctl_open(ctx, what, &s);
    if (rv != 0) {
        goto out_range;
    }
    if (prefix) {
        rv = coord_sync_range(s, r.key, r.key_len, r.end, r.end_len, limit, flags, &res);
    } else {
        rv = coord_sync_get(s, r.key, r.key_len, flags, &res);
    }
    if (rv == RAFT_ENOTFOUND && !prefix) {
        res.n_kvs = 0; /* a node may say "not found" instead of an empty answer */
        rv = 0;
    }
    if (rv != 0) {
        rv = ctl_fail(what, rv, &res);
        goto out_close;
    }
    ctl_sbuf_init(&out);
    if (prefix) {
        render_range(ctx, &res, &out);
    } else if (render_one(ctx, &res, &out, what) != 0) {
        ctl_sbuf_close(&out);
        rv = CTL_EXIT_FAIL;
        goto out_close;
    }
    rv = ctl_emit(&out, what);

out_close:
    coord_sync_close(s);
out_range:
    range_close(&r);
    return rv;
}

int ctl_kv_del(const struct ctl_ctx *ctx, const char *const *pos, size_t n_pos)
{
    bool prefix = ctx->flag[CTL_F_PREFIX] != NULL;
    struct coord_sync *s = NULL;
    struct coord_result res;
    struct range r;
    struct ctl_sbuf out;
    char what[256];
    int rv;

    (void)n_pos;
    ctl_what_key(what, sizeof(what), "kv del", pos[0]);
    if (!prefix && pos[0][0] == '\0') {
        return ctl_usage("%s: the key may not be empty", what);
    }
    if (range_init(&r, pos[0], prefix) != 0) {
        return ctl_fail(what, RAFT_ENOMEM, NULL);
    }
    rv = ctl_open(ctx, what, &s);
    if (rv != 0) {
        goto out_range;
    }
    rv = coord_sync_del(s, r.key, r.key_len, r.end, r.end_len, 0, &res);
    if (rv != 0) {
        rv = ctl_fail(what, rv, &res);
        goto out_close;
    }
    ctl_sbuf_init(&out);
    if (ctx->json) {
        ctl_sbuf_printf(&out, "{\"deleted\":%" PRIu64 ",\"revision\":%" PRIu64 "}\n", res.deleted,
                        res.revision);
    } else {
        ctl_sbuf_printf(&out, "%" PRIu64 "\n", res.deleted);
    }
    rv = ctl_emit(&out, what);

out_close:
    coord_sync_close(s);
out_range:
    range_close(&r);
    return rv;
}
