/* SPDX-License-Identifier: MIT */
/* config: one table of settings drives the file parser, the flag parser and
 * --help. */
#include "coord/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "coord/addr.h"
#include "coord/log.h"

enum setting_type { T_U64, T_U32, T_STR, T_ADDR, T_MEMBERS, T_LEVEL };

struct setting {
    const char *name;
    enum setting_type type;
    size_t offset;
    uint64_t min;
    uint64_t max;
    const char *help;
};

#define OFF(field) offsetof(struct coord_config, field)

static const struct setting settings[] = {
    {"id", T_U64, OFF(id), 1, UINT64_MAX >> 1, "this node's Raft id (required)"},
    {"data_dir", T_STR, OFF(data_dir), 0, 0, "directory for the log and state (required)"},
    {"peer_addr", T_ADDR, OFF(peer_addr), 0, 0, "host:port for Raft peer traffic (required)"},
    {"client_addr", T_ADDR, OFF(client_addr), 0, 0, "host:port for clients (required)"},
    {"initial_members", T_MEMBERS, OFF(members), 0, 0,
     "ID=PEER_HOST:PORT[/CLIENT_HOST:PORT],... the voters that bootstrap a new cluster, "
     "with their peer and (optionally) client addresses; "
     "empty: join an existing cluster as a learner added by an operator"},
    {"cluster_id", T_U64, OFF(cluster_id), 0, UINT64_MAX,
     "cluster id checked by peers; 0 derives it from initial_members"},
    {"election_timeout_ms", T_U32, OFF(election_timeout_ms), 10, 60000,
     "base election timeout; each wait is drawn from [T, 2T)"},
    {"heartbeat_ms", T_U32, OFF(heartbeat_ms), 1, 30000,
     "leader heartbeat interval; must be below election_timeout_ms"},
    {"snapshot_entries", T_U64, OFF(snapshot_entries), 1, UINT64_MAX,
     "applied entries between two snapshots"},
    {"snapshot_trailing", T_U64, OFF(snapshot_trailing), 0, UINT64_MAX,
     "log entries kept below a snapshot for slow followers"},
    {"max_request_bytes", T_U64, OFF(max_request_bytes), 1024, 1ULL << 30,
     "largest client frame; larger ones are refused and the connection closed"},
    {"max_peer_frame_bytes", T_U64, OFF(max_peer_frame_bytes), 1ULL << 16, 1ULL << 32,
     "largest peer frame"},
    {"map_size_mb", T_U64, OFF(map_size_mb), 1, 1ULL << 24,
     "LMDB map size: the most state the node can hold; writes fail beyond it"},
    {"request_timeout_ms", T_U32, OFF(request_timeout_ms), 1, 3600000,
     "a client request not answered by then fails with a timeout"},
    {"max_clients", T_U32, OFF(max_clients), 1, 1000000, "client connections at most"},
    {"log_level", T_LEVEL, OFF(log_level), 0, 0, "error, warn, info, debug or trace"},
};

#define N_SETTINGS (sizeof settings / sizeof settings[0])

void coord_config_default(struct coord_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->election_timeout_ms = 1000;
    cfg->heartbeat_ms = 100;
    cfg->snapshot_entries = 100000; /* as etcd and ZooKeeper: a copy costs ~100 ms of disk */
    cfg->snapshot_trailing = 4096;
    cfg->max_request_bytes = 4u << 20;
    cfg->max_peer_frame_bytes = 64u << 20;
    cfg->map_size_mb = 1024;
    cfg->request_timeout_ms = 5000;
    cfg->max_clients = 10000;
    cfg->log_level = COORD_LOG_INFO;
}

static int fail(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    return RAFT_ECONFIG;
}

static const struct setting *find(const char *name, size_t len)
{
    char norm[64];
    size_t i;

    if (len >= sizeof norm) {
        return NULL;
    }
    for (i = 0; i < len; i++) {
        norm[i] = name[i] == '-' ? '_' : name[i];
    }
    norm[len] = '\0';
    for (i = 0; i < N_SETTINGS; i++) {
        if (strcmp(settings[i].name, norm) == 0) {
            return &settings[i];
        }
    }
    return NULL;
}

static int parse_u64(const char *v, uint64_t *out)
{
    char *end;

    /* Digits only: strtoull() skips leading white space (\v, \f, and in a
     * flag or a member list also ' ' and \t) and takes a sign after it, so
     * " -1" would read as 2^64 - 1. */
    if (*v < '0' || *v > '9') {
        return RAFT_EINVAL;
    }
    errno = 0;
    *out = strtoull(v, &end, 10);
    return errno != 0 || *end != '\0' ? RAFT_EINVAL : 0;
}

/* "1=h:p[/h:p],2=h:p[/h:p]" (peer address, then optionally the client
 * address after a '/') into members. */
static int parse_members(struct coord_config *cfg, const char *v, char *err, size_t err_len)
{
    const char *p = v;

    cfg->n_members = 0;
    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        const char *next = comma != NULL ? comma + 1 : p + strlen(p);
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        struct coord_config_member *m = &cfg->members[cfg->n_members];
        char item[2 * RAFT_ADDR_MAX + 32];
        struct coord_addr addr;
        char *eq;
        char *slash;
        uint32_t i;

        /* "1=a:1, 2=b:2" reads like "1=a:1,2=b:2". */
        while (len > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t')) {
            len--;
        }
        if (cfg->n_members == RAFT_MAX_SERVERS || len >= sizeof item) {
            return fail(err, err_len, "initial_members: too many members or too long an item");
        }
        memcpy(item, p, len);
        item[len] = '\0';
        eq = strchr(item, '=');
        if (eq == NULL) {
            return fail(err, err_len, "initial_members: '%s' is not ID=HOST:PORT[/HOST:PORT]",
                        item);
        }
        *eq = '\0';
        slash = strchr(eq + 1, '/');
        m->client_addr[0] = '\0';
        if (slash != NULL) {
            *slash = '\0';
            if (strlen(slash + 1) >= sizeof m->client_addr ||
                coord_addr_parse(slash + 1, strlen(slash + 1), &addr) != 0) {
                return fail(err, err_len,
                            "initial_members: client address '%s' of id %s is not HOST:PORT",
                            slash + 1, item);
            }
            strcpy(m->client_addr, slash + 1);
        }
        if (parse_u64(item, &m->id) != 0 || m->id == 0 || strlen(eq + 1) >= sizeof m->peer_addr ||
            coord_addr_parse(eq + 1, strlen(eq + 1), &addr) != 0) {
            return fail(err, err_len, "initial_members: '%s=%s' is not ID=HOST:PORT[/HOST:PORT]",
                        item, eq + 1);
        }
        for (i = 0; i < cfg->n_members; i++) {
            if (cfg->members[i].id == m->id) {
                return fail(err, err_len, "initial_members: id %llu appears twice",
                            (unsigned long long)m->id);
            }
        }
        strcpy(m->peer_addr, eq + 1);
        cfg->n_members++;
        p = next;
    }
    return 0;
}

static int set_value(struct coord_config *cfg, const struct setting *s, const char *v, char *err,
                     size_t err_len)
{
    char *field = (char *)cfg + s->offset;
    uint64_t n;
    struct coord_addr addr;

    switch (s->type) {
    case T_U64:
    case T_U32:
        if (parse_u64(v, &n) != 0 || n < s->min || n > s->max) {
            return fail(err, err_len, "%s: '%s' is not an integer in [%llu, %llu]", s->name, v,
                        (unsigned long long)s->min, (unsigned long long)s->max);
        }
        if (s->type == T_U64) {
            memcpy(field, &n, sizeof n);
        } else {
            uint32_t n32 = (uint32_t)n;

            memcpy(field, &n32, sizeof n32);
        }
        return 0;
    case T_STR:
    case T_ADDR: {
        size_t cap = s->type == T_STR ? COORD_CONFIG_STR_MAX : RAFT_ADDR_MAX;

        if (strlen(v) >= cap || *v == '\0') {
            return fail(err, err_len, "%s: must be 1 to %zu bytes", s->name, cap - 1);
        }
        if (s->type == T_ADDR && coord_addr_parse(v, strlen(v), &addr) != 0) {
            return fail(err, err_len, "%s: '%s' is not HOST:PORT", s->name, v);
        }
        strcpy(field, v);
        return 0;
    }
    case T_MEMBERS:
        return parse_members(cfg, v, err, err_len);
    case T_LEVEL:
        cfg->log_level = coord_log_level_parse(v);
        if (cfg->log_level < 0) {
            return fail(err, err_len, "log_level: '%s' is not error, warn, info, debug or trace",
                        v);
        }
        return 0;
    }
    return fail(err, err_len, "%s: unknown type", s->name);
}

static char *trim(char *s)
{
    char *end;

    while (*s == ' ' || *s == '\t') {
        s++;
    }
    end = s + strlen(s);
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r')) {
        *--end = '\0';
    }
    return s;
}

int coord_config_parse_text(struct coord_config *cfg, const char *text, char *err, size_t err_len)
{
    const char *p = text;
    unsigned line_no = 0;

    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
        char line[1024];
        char *key;
        char *eq;
        char *hash;
        const struct setting *s;
        int rv;

        line_no++;
        if (len >= sizeof line) {
            return fail(err, err_len, "line %u: longer than %zu bytes", line_no, sizeof line - 1);
        }
        memcpy(line, p, len);
        line[len] = '\0';
        p += len + (nl != NULL ? 1 : 0);
        hash = strchr(line, '#');
        if (hash != NULL) {
            *hash = '\0';
        }
        key = trim(line);
        if (*key == '\0') {
            continue;
        }
        eq = strchr(key, '=');
        if (eq == NULL) {
            return fail(err, err_len, "line %u: expected KEY = VALUE", line_no);
        }
        *eq = '\0';
        key = trim(key);
        s = find(key, strlen(key));
        if (s == NULL) {
            return fail(err, err_len, "line %u: unknown setting '%s'", line_no, key);
        }
        rv = set_value(cfg, s, trim(eq + 1), err, err_len);
        if (rv != 0) {
            char inner[256];

            snprintf(inner, sizeof inner, "%s", err);
            return fail(err, err_len, "line %u: %s", line_no, inner);
        }
    }
    return 0;
}

static int load_file(struct coord_config *cfg, const char *path, char *err, size_t err_len)
{
    FILE *f = fopen(path, "r");
    char *text;
    size_t n;
    int rv;

    if (f == NULL) {
        return fail(err, err_len, "config: cannot open %s: %s", path, strerror(errno));
    }
    text = malloc(1 << 20);
    if (text == NULL) {
        fclose(f);
        return fail(err, err_len, "config: out of memory");
    }
    n = fread(text, 1, (1 << 20) - 1, f);
    text[n] = '\0';
    if (!feof(f)) {
        rv = fail(err, err_len, "config: %s is larger than 1 MiB", path);
    } else {
        char inner[256];

        rv = coord_config_parse_text(cfg, text, inner, sizeof inner);
        if (rv != 0) {
            fail(err, err_len, "config: %s: %s", path, inner);
        }
    }
    free(text);
    fclose(f);
    return rv;
}

/* --config FILE anywhere on the line is read first: flags override it. */
static int load_config_flag(struct coord_config *cfg, int argc, char **argv, char *err,
                            size_t err_len)
{
    int i;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc) {
                return fail(err, err_len, "--config: needs a file name");
            }
            return load_file(cfg, argv[i + 1], err, err_len);
        }
        if (strncmp(argv[i], "--config=", 9) == 0) {
            return load_file(cfg, argv[i] + 9, err, err_len);
        }
    }
    return 0;
}

int coord_config_parse_args(struct coord_config *cfg, int argc, char **argv, char *err,
                            size_t err_len, FILE *out)
{
    int i;
    int rv = load_config_flag(cfg, argc, argv, err, err_len);

    for (i = 1; rv == 0 && i < argc; i++) {
        const char *arg = argv[i];
        const char *eq;
        const char *value;
        const struct setting *s;

        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            coord_config_help(out, argv[0]);
            return 1;
        }
        if (strncmp(arg, "--", 2) != 0) {
            return fail(err, err_len, "unexpected argument '%s' (try --help)", arg);
        }
        arg += 2;
        eq = strchr(arg, '=');
        if (strncmp(arg, "config", eq != NULL ? (size_t)(eq - arg) : strlen(arg)) == 0 &&
            (eq != NULL ? (size_t)(eq - arg) : strlen(arg)) == 6) {
            i += eq != NULL ? 0 : 1; /* already loaded */
            continue;
        }
        s = find(arg, eq != NULL ? (size_t)(eq - arg) : strlen(arg));
        if (s == NULL) {
            return fail(err, err_len, "unknown flag '%s' (try --help)", argv[i]);
        }
        if (eq != NULL) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            return fail(err, err_len, "--%s: needs a value", s->name);
        }
        rv = set_value(cfg, s, value, err, err_len);
    }
    return rv;
}

int coord_config_check(const struct coord_config *cfg, char *err, size_t err_len)
{
    uint32_t i;
    bool self = false;

    if (cfg->id == 0) {
        return fail(err, err_len, "id: required (--id N)");
    }
    if (cfg->data_dir[0] == '\0') {
        return fail(err, err_len, "data_dir: required (--data-dir DIR)");
    }
    if (cfg->peer_addr[0] == '\0' || cfg->client_addr[0] == '\0') {
        return fail(err, err_len, "%s: required",
                    cfg->peer_addr[0] == '\0' ? "peer_addr" : "client_addr");
    }
    if (cfg->heartbeat_ms >= cfg->election_timeout_ms) {
        return fail(err, err_len, "heartbeat_ms: %u must be below election_timeout_ms (%u)",
                    cfg->heartbeat_ms, cfg->election_timeout_ms);
    }
    for (i = 0; i < cfg->n_members; i++) {
        self = self || cfg->members[i].id == cfg->id;
    }
    if (cfg->n_members > 0 && !self) {
        return fail(err, err_len, "initial_members: does not include this node's id %llu",
                    (unsigned long long)cfg->id);
    }
    return 0;
}

void coord_config_help(FILE *out, const char *prog)
{
    struct coord_config d;
    size_t i;

    coord_config_default(&d);
    fprintf(out,
            "usage: %s [--config FILE] [--SETTING VALUE ...]\n\n"
            "Runs one node of a coord ensemble. Settings come from FILE (KEY = VALUE lines,\n"
            "# comments) and flags, flags winning; '-' and '_' are alike in names.\n"
            "A bad setting is reported on one line and the exit status is 2.\n\n",
            prog);
    for (i = 0; i < N_SETTINGS; i++) {
        const struct setting *s = &settings[i];
        char def[64] = "";

        if (s->type == T_U64) {
            uint64_t v;

            memcpy(&v, (char *)&d + s->offset, sizeof v);
            snprintf(def, sizeof def, " (default %llu)", (unsigned long long)v);
        } else if (s->type == T_U32) {
            uint32_t v;

            memcpy(&v, (char *)&d + s->offset, sizeof v);
            snprintf(def, sizeof def, " (default %u)", v);
        } else if (s->type == T_LEVEL) {
            snprintf(def, sizeof def, " (default info)");
        }
        fprintf(out, "  --%-22s %s%s\n", s->name, s->help, def);
    }
}
