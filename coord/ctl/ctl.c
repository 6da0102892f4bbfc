/* SPDX-License-Identifier: MIT */
/* coordctl: the admin CLI of coord. main(), the command table (each
 * command's words, arity, flags and help, so --help tells the truth), and
 * the helpers the commands share. The commands are in kv.c, admin.c and
 * status.c; nothing here talks to the network. */
#include "coord/ctl/ctl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord/ctl/admin.h"
#include "coord/ctl/args.h"
#include "coord/ctl/json.h"
#include "coord/ctl/kv.h"
#include "coord/ctl/status.h"
#include "raft/base/err.h"

#define CTL_CONNECT_TIMEOUT_MS 2000 /* at most, per connection attempt */
#define F(flag)                (1u << (flag))
/* Flags every command takes. */
#define GLOBAL_FLAGS (F(CTL_F_ENDPOINTS) | F(CTL_F_JSON) | F(CTL_F_TIMEOUT) | F(CTL_F_HELP))

/* Indexed by enum ctl_flag_id. */
static const struct ctl_flag flags[CTL_F_N] = {
    [CTL_F_ENDPOINTS] = {"endpoints", true},
    [CTL_F_JSON] = {"json", false},
    [CTL_F_TIMEOUT] = {"timeout", true},
    [CTL_F_HELP] = {"help", false},
    [CTL_F_SERIALIZABLE] = {"serializable", false},
    [CTL_F_PREFIX] = {"prefix", false},
    [CTL_F_KEYS_ONLY] = {"keys-only", false},
    [CTL_F_LIMIT] = {"limit", true},
};

struct cmd {
    const char *group; /* "kv", "members", "leader"; NULL for a one-word command */
    const char *name;
    const char *synopsis; /* the positional arguments */
    size_t min_pos;
    size_t max_pos;
    unsigned flags; /* F() of the flags it takes beyond GLOBAL_FLAGS */
    ctl_cmd_fn run;
    const char *summary; /* one line for the command list */
    const char *help;    /* the rest of its --help */
};

static const struct cmd cmds[] = {
    {NULL, "status", "", 0, 0, 0, ctl_status_run, "each node's role, term, indexes and lag",
     "Asks every endpoint at once (a node that does not answer costs one --timeout in\n"
     "total), then every member of the configuration that was not among them. The\n"
     "members are the configuration the leader reports (any node's when there is no\n"
     "leader); lag is the leader's commit index minus the member's applied index.\n"
     "Nodes that answer but are not members are listed too. With --json, one object:\n"
     "  {\"leader\": ID|null, \"members\": [{\"id\", \"address\", \"role\", \"term\",\n"
     "   \"commit_index\", \"applied_index\", \"lag\"}]}   (null where unknown)\n"
     "Exits 0 when at least one node answered.\n"},
    {"members", "list", "", 0, 0, 0, ctl_admin_members_list, "the configuration",
     "Lists each member: id, role (leader, voter or learner), peer and client addresses,\n"
     "and, from the leader, the index replicated to it. Asks the leader when the node\n"
     "that answers names one.\n"},
    {"members", "add", "ID PEER_ADDR [CLIENT_ADDR]", 2, 3, 0, ctl_admin_members_add,
     "add node ID as a learner",
     "Adds node ID, reachable by its peers at PEER_ADDR (host:port) and by clients at\n"
     "CLIENT_ADDR, as a learner: it receives the log but does not vote until promoted.\n"},
    {"members", "promote", "ID", 1, 1, 0, ctl_admin_members_promote, "make learner ID a voter",
     "Makes learner ID a voter.\n"},
    {"members", "demote", "ID", 1, 1, 0, ctl_admin_members_demote, "make voter ID a learner",
     "Makes voter ID a learner.\n"},
    {"members", "remove", "ID", 1, 1, 0, ctl_admin_members_remove, "remove node ID",
     "Removes node ID from the configuration.\n"},
    {"leader", "transfer", "[ID]", 0, 1, 0, ctl_admin_leader_transfer, "hand leadership over",
     "Asks the leader to hand leadership to voter ID, or without ID to the most\n"
     "up-to-date voter.\n"},
    {"kv", "put", "KEY VALUE", 2, 2, 0, ctl_kv_put, "set KEY to VALUE",
     "Sets KEY to VALUE (both taken as bytes) and prints OK (--json: {\"revision\": R}).\n"},
    {"kv", "get", "KEY", 1, 1,
     F(CTL_F_SERIALIZABLE) | F(CTL_F_PREFIX) | F(CTL_F_KEYS_ONLY) | F(CTL_F_LIMIT), ctl_kv_get,
     "print KEY's value, or the keys under a prefix",
     "Prints KEY's value as raw bytes and a newline; exits 1 with \"key not found\" when\n"
     "KEY does not exist. --json prints {\"key\", \"value\", \"create_revision\",\n"
     "\"mod_revision\", \"version\"}, strings JSON-escaped (bytes outside UTF-8 as \\u00XX).\n"
     "  --serializable  read the answering node's applied state (may be stale)\n"
     "  --prefix        every key starting with KEY: a key line then a value line each\n"
     "                  (--json: {\"revision\", \"more\", \"kvs\": [...]})\n"
     "  --keys-only     with --prefix: key lines only\n"
     "  --limit N       with --prefix: at most N keys (0: no limit)\n"},
    {"kv", "del", "KEY", 1, 1, F(CTL_F_PREFIX), ctl_kv_del, "delete KEY",
     "Deletes KEY and prints the number of keys deleted (--json: {\"deleted\", \"revision\"}).\n"
     "  --prefix  delete every key starting with KEY\n"},
};

#define N_CMDS (sizeof(cmds) / sizeof(cmds[0]))

static const char global_help[] =
    "Global flags (anywhere on the line):\n"
    "  --endpoints HOST:PORT[,...]  nodes to talk to (default: $COORD_ENDPOINTS, else "
    "127.0.0.1:27001)\n"
    "  --json                       machine-readable output\n"
    "  --timeout MS                 per-request timeout in milliseconds (default 5000)\n"
    "  -h, --help                   help; `coordctl COMMAND --help` for one command\n"
    "  --                           ends the flags: later words are arguments (a VALUE\n"
    "                               that starts with --)\n"
    "Exit status: 0 success, 1 the operation failed, 2 usage error.\n";

static void print_cmd_line(FILE *f, const struct cmd *c)
{
    char words[96];

    (void)snprintf(words, sizeof(words), "%s%s%s %s", c->group != NULL ? c->group : "",
                   c->group != NULL ? " " : "", c->name, c->synopsis);
    (void)fprintf(f, "  %-40s %s\n", words, c->summary);
}

/* The list of commands, or of one group's when group is not NULL. */
static void print_list(FILE *f, const char *group)
{
    size_t i;

    (void)fprintf(f, "usage: coordctl %s%sCOMMAND [ARGS] [FLAGS]\n\nCommands:\n",
                  group != NULL ? group : "", group != NULL ? " " : "");
    for (i = 0; i < N_CMDS; i++) {
        if (group == NULL || (cmds[i].group != NULL && strcmp(cmds[i].group, group) == 0)) {
            print_cmd_line(f, &cmds[i]);
        }
    }
    (void)fprintf(f, "\n%s", global_help);
}

static void print_cmd_help(FILE *f, const struct cmd *c)
{
    (void)fprintf(f, "usage: coordctl %s%s%s%s%s [FLAGS]\n\n%s\n%s",
                  c->group != NULL ? c->group : "", c->group != NULL ? " " : "", c->name,
                  c->synopsis[0] != '\0' ? " " : "", c->synopsis, c->help, global_help);
}

static bool is_group(const char *word)
{
    size_t i;

    for (i = 0; i < N_CMDS; i++) {
        if (cmds[i].group != NULL && strcmp(cmds[i].group, word) == 0) {
            return true;
        }
    }
    return false;
}

/* The command named by words (one or two), or NULL. *n_words returns how
 * many words it used. */
static const struct cmd *find_cmd(const char *const *pos, size_t n_pos, size_t *n_words)
{
    size_t i;

    for (i = 0; i < N_CMDS && n_pos > 0; i++) {
        const struct cmd *c = &cmds[i];

        if (c->group == NULL && strcmp(c->name, pos[0]) == 0) {
            *n_words = 1;
            return c;
        }
        if (c->group != NULL && n_pos > 1 && strcmp(c->group, pos[0]) == 0 &&
            strcmp(c->name, pos[1]) == 0) {
            *n_words = 2;
            return c;
        }
    }
    return NULL;
}

/* Help asked for the words of pos (empty: everything). */
static int help(const char *const *pos, size_t n_pos)
{
    size_t used = 0;
    const struct cmd *c = find_cmd(pos, n_pos, &used);

    if (c != NULL) {
        print_cmd_help(stdout, c);
    } else if (n_pos > 0 && is_group(pos[0])) {
        print_list(stdout, pos[0]);
    } else if (n_pos == 0) {
        print_list(stdout, NULL);
    } else {
        return ctl_usage("unknown command '%s' (try coordctl --help)", pos[0]);
    }
    return CTL_EXIT_OK;
}

/* A group named without a known command after it: one line naming them. */
static int group_usage(const char *group, const char *word)
{
    char names[128] = "";
    size_t i;

    for (i = 0; i < N_CMDS; i++) {
        if (cmds[i].group != NULL && strcmp(cmds[i].group, group) == 0) {
            size_t used = strlen(names);

            (void)snprintf(names + used, sizeof(names) - used, "%s%s", used > 0 ? ", " : "",
                           cmds[i].name);
        }
    }
    if (word != NULL) {
        return ctl_usage("%s: unknown command '%s'; it is one of %s", group, word, names);
    }
    return ctl_usage("%s: which command? one of %s (try coordctl %s --help)", group, names, group);
}

/* Fill ctx from the global flags and the environment. */
static int make_ctx(const struct ctl_args *args, struct ctl_ctx *ctx)
{
    const char *env = getenv("COORD_ENDPOINTS");
    uint64_t timeout_ms = CTL_DEFAULT_TIMEOUT_MS;

    ctx->endpoints = CTL_DEFAULT_ENDPOINTS;
    if (args->value[CTL_F_ENDPOINTS] != NULL) {
        ctx->endpoints = args->value[CTL_F_ENDPOINTS];
    } else if (env != NULL && env[0] != '\0') {
        ctx->endpoints = env;
    }
    if (args->value[CTL_F_TIMEOUT] != NULL &&
        (ctl_args_u64(args->value[CTL_F_TIMEOUT], CTL_MAX_TIMEOUT_MS, &timeout_ms) != 0 ||
         timeout_ms == 0)) {
        return ctl_usage("--timeout wants milliseconds from 1 to %d, not '%s'", CTL_MAX_TIMEOUT_MS,
                         args->value[CTL_F_TIMEOUT]);
    }
    ctx->timeout_ms = (uint32_t)timeout_ms;
    ctx->json = args->value[CTL_F_JSON] != NULL;
    ctx->flag = args->value;
    return 0;
}

/* Check c's flags and arity against the command line. */
static int check_cmd(const struct cmd *c, const struct ctl_args *args, size_t n_pos)
{
    size_t i;

    for (i = 0; i < CTL_F_N; i++) {
        if (args->value[i] != NULL && ((GLOBAL_FLAGS | c->flags) & F(i)) == 0) {
            return ctl_usage("%s%s%s does not take --%s", c->group != NULL ? c->group : "",
                             c->group != NULL ? " " : "", c->name, flags[i].name);
        }
    }
    if (n_pos < c->min_pos || n_pos > c->max_pos) {
        return ctl_usage("usage: coordctl %s%s%s %s", c->group != NULL ? c->group : "",
                         c->group != NULL ? " " : "", c->name, c->synopsis);
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct ctl_args args;
    struct ctl_ctx ctx;
    const struct cmd *c;
    size_t used = 0;
    char err[256];
    int rv;

    rv = ctl_args_parse(flags, CTL_F_N, argc - 1, argv + 1, &args, err, sizeof(err));
    if (rv != 0) {
        return ctl_usage("%s (try coordctl --help)", err);
    }
    if (args.n_pos > 0 && strcmp(args.pos[0], "help") == 0) {
        return help(args.pos + 1, args.n_pos - 1);
    }
    if (args.value[CTL_F_HELP] != NULL) {
        return help(args.pos, args.n_pos);
    }
    if (args.n_pos == 0) {
        return ctl_usage("no command given (try coordctl --help)");
    }
    c = find_cmd(args.pos, args.n_pos, &used);
    if (c == NULL) {
        if (is_group(args.pos[0])) {
            return group_usage(args.pos[0], args.n_pos > 1 ? args.pos[1] : NULL);
        }
        return ctl_usage("unknown command '%s' (try coordctl --help)", args.pos[0]);
    }
    rv = check_cmd(c, &args, args.n_pos - used);
    if (rv == 0) {
        rv = make_ctx(&args, &ctx);
    }
    if (rv != 0) {
        return rv;
    }
    return c->run(&ctx, args.pos + used, args.n_pos - used);
}

void ctl_client_opts(const struct ctl_ctx *ctx, struct coord_client_opts *opts)
{
    coord_client_opts_default(opts);
    opts->endpoints = ctx->endpoints;
    opts->timeout_ms = ctx->timeout_ms;
    opts->connect_timeout_ms =
        ctx->timeout_ms < CTL_CONNECT_TIMEOUT_MS ? ctx->timeout_ms : CTL_CONNECT_TIMEOUT_MS;
}

int ctl_open(const struct ctl_ctx *ctx, const char *what, struct coord_sync **out)
{
    struct coord_client_opts opts;
    int rv;

    ctl_client_opts(ctx, &opts);
    rv = coord_sync_open(&opts, out);
    if (rv == RAFT_EINVAL) {
        return ctl_usage("%s: bad --endpoints '%s'", what, ctx->endpoints);
    }
    if (rv != 0) {
        return ctl_fail(what, rv, NULL);
    }
    return 0;
}

/* Write s to f with line breaks turned into spaces: the error stays one line. */
static void put_one_line(FILE *f, const char *s)
{
    for (; *s != '\0'; s++) {
        (void)fputc(*s == '\n' || *s == '\r' ? ' ' : *s, f);
    }
}

int ctl_fail(const char *what, int rv, const struct coord_result *res)
{
    (void)fprintf(stderr, "coordctl: %s: %s", what, raft_err_str(rv));
    if (res != NULL && res->message != NULL && res->message[0] != '\0') {
        (void)fputs(" (", stderr);
        put_one_line(stderr, res->message);
        (void)fputs(")", stderr);
    } else if (res != NULL && res->endpoint != NULL && res->endpoint[0] != '\0' &&
               (rv == RAFT_ENOCONN || rv == RAFT_ETIMEDOUT)) {
        (void)fprintf(stderr, " (at %s)", res->endpoint);
    }
    (void)fputc('\n', stderr);
    return CTL_EXIT_FAIL;
}

int ctl_usage(const char *fmt, ...)
{
    va_list ap;

    (void)fputs("coordctl: ", stderr);
    va_start(ap, fmt);
    /* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): va_start is above */
    (void)vfprintf(stderr, fmt, ap);
    va_end(ap);
    (void)fputc('\n', stderr);
    return CTL_EXIT_USAGE;
}

int ctl_emit(struct ctl_sbuf *b, const char *what)
{
    int rv = b->err;

    if (rv == 0 && b->len > 0 && fwrite(b->base, 1, b->len, stdout) != b->len) {
        rv = RAFT_EIO;
    }
    if (rv == 0 && fflush(stdout) != 0) {
        rv = RAFT_EIO;
    }
    ctl_sbuf_close(b);
    return rv != 0 ? ctl_fail(what, rv, NULL) : CTL_EXIT_OK;
}

void ctl_what_key(char *buf, size_t len, const char *cmd, const char *key)
{
    struct ctl_sbuf b;

    ctl_sbuf_init(&b);
    ctl_json_escape(&b, key, strlen(key));
    (void)snprintf(buf, len, "%s \"%s\"", cmd, b.err == 0 && b.base != NULL ? b.base : "");
    ctl_sbuf_close(&b);
}
