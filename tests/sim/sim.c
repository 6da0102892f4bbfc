/* SPDX-License-Identifier: MIT */
/* sim: command line of the deterministic cluster simulator (binaries sim
 * and sim_mut). One seed, a range of seeds, a hunt for a deliberately
 * broken rule (sim_mut --bug NAME --find A:B), or the readable demo. Every
 * failure prints the command that reproduces it. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/sim/demo.h"
#include "tests/sim/util.h"
#include "tests/sim/world.h"

#define DEFAULT_TIME_MS 10000 /* chaos phase of one seed, virtual ms (as in ctest) */
#define LONG_FACTOR     20    /* COORD_SIM_LONG=1 multiplies seed ranges by this */

struct bug_name {
    const char *name;
    unsigned bug; /* enum raft_bug */
};

static const struct bug_name bugs[] = {
    {"commit-old-term", RAFT_BUG_COMMIT_OLD_TERM}, {"vote-no-persist", RAFT_BUG_VOTE_NO_PERSIST},
    {"vote-any-log", RAFT_BUG_VOTE_ANY_LOG},       {"leader-undurable", RAFT_BUG_LEADER_UNDURABLE},
    {"read-no-quorum", RAFT_BUG_READ_NO_QUORUM},   {"keep-conflict", RAFT_BUG_KEEP_CONFLICT},
};

struct cli {
    struct sim_opts o;
    const char *argv0;
    const char *bug_name;
    bool mixed; /* --nodes mixed: 3, 5, 7 by seed */
    bool range; /* --seeds A:B */
    bool find;  /* --find A:B */
    bool demo;
    uint64_t first; /* range */
    uint64_t last;
};

/* What runs now, for the crash handler: an assertion in the core (abort)
 * or a fault must still say how to reproduce it. Written before each run,
 * read only by the handler. */
static char crash_line[256];

static void on_crash(int sig)
{
    ssize_t rv = write(STDOUT_FILENO, crash_line, strlen(crash_line));

    (void)rv;
    (void)signal(sig, SIG_DFL);
    (void)raise(sig);
}

static void arm_crash_report(const char *argv0, const struct sim_opts *o, const char *bug)
{
    struct sigaction sa;

    (void)snprintf(crash_line, sizeof crash_line,
                   "CRASH: died (assertion or fault) during this run\nreproduce: %s --seed %" PRIu64
                   " --nodes %u --time %llu%s%s%s\n",
                   argv0, o->seed, o->nodes, (unsigned long long)o->time_ms,
                   o->storage ? " --storage real" : "", bug != NULL ? " --bug " : "",
                   bug != NULL ? bug : "");
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_crash;
    sigaction(SIGABRT, &sa, NULL);
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGFPE, &sa, NULL);
    (void)fflush(stdout);
}

static void usage(const char *argv0)
{
    (void)fprintf(stderr,
                  "usage: %s --seed S [--nodes N] [--time MS] [--storage real|sim] [--trace]"
                  " [--bug NAME]\n"
                  "       %s --seeds A:B [--nodes N|mixed] [--time MS] [--storage real|sim]\n"
                  "       %s --bug NAME --find A:B [--nodes N|mixed] [--time MS]   (sim_mut)\n"
                  "       %s --demo\n",
                  argv0, argv0, argv0, argv0);
}

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end;

    if (s == NULL || *s == '\0') {
        return false;
    }
    *out = strtoull(s, &end, 10);
    return *end == '\0';
}

static bool parse_range(const char *s, uint64_t *a, uint64_t *b)
{
    char buf[64];
    char *colon;

    if (s == NULL || strlen(s) >= sizeof buf) {
        return false;
    }
    strcpy(buf, s);
    colon = strchr(buf, ':');
    if (colon == NULL) {
        return false;
    }
    *colon = '\0';
    return parse_u64(buf, a) && parse_u64(colon + 1, b) && *a <= *b;
}

static bool parse_bug(struct cli *c, const char *name)
{
    size_t i;

    for (i = 0; i < sizeof bugs / sizeof bugs[0]; i++) {
        if (name != NULL && strcmp(name, bugs[i].name) == 0) {
            c->o.bug = bugs[i].bug;
            c->bug_name = bugs[i].name;
#ifdef RAFT_MUTATIONS
            return true;
#else
            (void)fprintf(stderr, "%s: --bug needs sim_mut (built with RAFT_MUTATIONS)\n",
                          c->argv0);
            return false;
#endif
        }
    }
    (void)fprintf(stderr, "%s: unknown bug '%s'\n", c->argv0, name != NULL ? name : "");
    return false;
}

static bool parse_arg(struct cli *c, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    const char *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    uint64_t x;

    if (strcmp(a, "--trace") == 0) {
        c->o.trace = SIM_TRACE_PRINT;
        return true;
    }
    if (strcmp(a, "--demo") == 0) {
        c->demo = true;
        return true;
    }
    (*i)++;
    if (strcmp(a, "--seed") == 0) {
        return parse_u64(v, &c->o.seed);
    }
    if (strcmp(a, "--nodes") == 0) {
        if (v != NULL && strcmp(v, "mixed") == 0) {
            c->mixed = true;
            return true;
        }
        c->mixed = false;
        return parse_u64(v, &x) && (c->o.nodes = (unsigned)x) == x;
    }
    if (strcmp(a, "--time") == 0) {
        return parse_u64(v, &c->o.time_ms);
    }
    if (strcmp(a, "--bug") == 0) {
        return parse_bug(c, v);
    }
    if (strcmp(a, "--seeds") == 0) {
        c->range = true;
        return parse_range(v, &c->first, &c->last);
    }
    if (strcmp(a, "--storage") == 0) {
        c->o.storage = v != NULL && strcmp(v, "real") == 0;
        return v != NULL && (c->o.storage || strcmp(v, "sim") == 0);
    }
    if (strcmp(a, "--find") == 0) {
        c->find = true;
        return parse_range(v, &c->first, &c->last);
    }
    return false;
}

static bool parse(struct cli *c, int argc, char **argv)
{
    int i;

    memset(c, 0, sizeof *c);
    c->argv0 = argv[0];
    c->o.nodes = 5;
    c->o.time_ms = DEFAULT_TIME_MS;
    for (i = 1; i < argc; i++) {
        if (!parse_arg(c, argc, argv, &i)) {
            (void)fprintf(stderr, "%s: bad argument '%s'\n", argv[0],
                          argv[i < argc ? i : argc - 1]);
            return false;
        }
    }
    if (c->find && c->bug_name == NULL) {
        (void)fprintf(stderr, "%s: --find needs --bug NAME\n", argv[0]);
        return false;
    }
    return true;
}

static void print_reproduce(const struct cli *c, const struct sim_opts *o)
{
    printf("reproduce: %s --seed %" PRIu64 " --nodes %u --time %llu", c->argv0, o->seed, o->nodes,
           (unsigned long long)o->time_ms);
    if (o->storage) {
        printf(" --storage real");
    }
    if (c->bug_name != NULL) {
        printf(" --bug %s", c->bug_name);
    }
    printf("\n");
}

/* Totals of --storage real over a range of seeds. */
static struct sim_store_stats store_total;

/* Run o; on a violation fill what. Returns 0 (ok), 1 (violation), 2 (error). */
static int run(const struct sim_opts *o, struct sim *s, char *what, size_t len)
{
    struct sim_store_stats st;
    long live = sim_util_live();
    int rc;

    if (sim_world_init(s, o) != 0) {
        return 2;
    }
    rc = sim_world_run(s);
    if (o->storage) {
        sim_world_store_stats(s, &st);
        store_total.n_opens += st.n_opens;
        store_total.n_power += st.n_power;
        store_total.n_kills += st.n_kills;
        store_total.n_dirty += st.n_dirty;
        store_total.n_torn += st.n_torn;
        store_total.n_reordered += st.n_reordered;
        store_total.n_batch_cut += st.n_batch_cut;
        store_total.n_writes += st.n_writes;
        store_total.n_syncs += st.n_syncs;
    }
    if (rc != 0) {
        (void)snprintf(what, len, "%s at t=%llu %s", s->check.what, (unsigned long long)s->check.at,
                       s->check.detail);
    }
    sim_world_close(s);
    if (sim_util_live() != live) {
        (void)fprintf(stderr, "sim: seed %" PRIu64 " leaked %ld allocations\n", o->seed,
                      sim_util_live() - live);
        return 2;
    }
    return rc;
}

/* A violation: say what, show the trace leading to it, say how to replay. */
static void report(const struct cli *c, const struct sim_opts *o, const char *what)
{
    struct sim_opts again = *o;
    struct sim *s = sim_util_calloc(1, sizeof *s);
    char what2[800] = "";

    printf("VIOLATION: %s\n", what);
    if (o->trace == SIM_TRACE_OFF) {
        /* Runs are deterministic: replay with a trace ring to show the lead-up. */
        again.trace = SIM_TRACE_RING;
        if (run(&again, s, what2, sizeof what2) == 1) {
            printf("last trace lines:\n");
            sim_trace_dump(&s->trace, stdout);
        }
        if (strcmp(what, what2) != 0) {
            printf("NOTE: the traced replay differs (%s): nondeterminism in the simulator\n",
                   what2);
        }
    }
    print_reproduce(c, o);
    sim_util_free(s);
}

static void print_ok(const struct sim *s)
{
    struct sim_store_stats st;

    printf("seed=%" PRIu64 " nodes=%u events=%" PRIu64 " elections=%" PRIu64
           " commits=%llu snapshots=%" PRIu64 " hash=%016" PRIx64,
           s->o.seed, s->o.nodes, s->n_events, s->n_elections,
           (unsigned long long)s->check.max_committed, s->n_snapshots, sim_world_hash(s));
    if (s->o.storage) {
        sim_world_store_stats(s, &st);
        printf(" opens=%" PRIu64 " power_losses=%" PRIu64 " kills=%" PRIu64
               " unflushed_at_crash=%" PRIu64 " torn_cut=%" PRIu64 " pages_reordered=%" PRIu64
               " batch_cut=%" PRIu64,
               st.n_opens, st.n_power, st.n_kills, st.n_dirty, st.n_torn, st.n_reordered,
               st.n_batch_cut);
    }
    printf("\n");
}

static const unsigned mix[] = {3, 5, 7}; /* --nodes mixed: by seed % 3 */

static int one_seed(const struct cli *c)
{
    struct sim *s = sim_util_calloc(1, sizeof *s);
    struct cli one = *c;
    char what[800];
    int rc;

    if (c->mixed) {
        one.o.nodes = mix[c->o.seed % 3];
        c = &one;
    }

    /* The summary line needs the world after the run, so run by hand. */
    arm_crash_report(c->argv0, &c->o, c->bug_name);
    rc = sim_world_init(s, &c->o);
    if (rc == 0) {
        rc = sim_world_run(s);
        if (rc == 0) {
            print_ok(s);
        } else {
            (void)snprintf(what, sizeof what, "%s at t=%llu %s", s->check.what,
                           (unsigned long long)s->check.at, s->check.detail);
        }
        sim_world_close(s);
        if (rc != 0) {
            report(c, &c->o, what);
        }
    } else {
        rc = 2;
    }
    sim_util_free(s);
    return rc;
}

static uint64_t range_last(const struct cli *c)
{
    const char *env = getenv("COORD_SIM_LONG");

    if (env != NULL && strcmp(env, "1") == 0 && !c->find) {
        return c->first + (c->last - c->first + 1) * LONG_FACTOR - 1;
    }
    return c->last;
}

static int many_seeds(const struct cli *c)
{
    struct sim *s = sim_util_calloc(1, sizeof *s);
    uint64_t last = range_last(c);
    uint64_t seed;
    uint64_t passed = 0;
    char what[800];
    int rc = c->find ? 1 : 0;

    for (seed = c->first; seed <= last; seed++) {
        struct sim_opts o = c->o;
        int r;

        o.seed = seed;
        o.nodes = c->mixed ? mix[seed % 3] : c->o.nodes;
        arm_crash_report(c->argv0, &o, c->bug_name);
        r = run(&o, s, what, sizeof what);
        if (r == 1 && c->find) {
            printf("found %s at seed %" PRIu64 ": %s\n", c->bug_name, seed, what);
            print_reproduce(c, &o);
            rc = 0;
            break;
        }
        if (r != 0 && !c->find) {
            if (r == 1) {
                report(c, &o, what);
            }
            rc = 1;
            break;
        }
        passed++;
    }
    if (c->find && rc != 0) {
        printf("%s: %s not found in seeds %" PRIu64 ":%" PRIu64 "\n", c->argv0, c->bug_name,
               c->first, last);
    } else if (!c->find) {
        printf("sim: %" PRIu64 " seeds passed\n", passed);
        if (c->o.storage) {
            printf("sim: real storage: %" PRIu64 " log opens, %" PRIu64 " power losses, %" PRIu64
                   " kills, %" PRIu64 " crashes with unflushed writes, %" PRIu64
                   " torn tails cut, %" PRIu64 " files with a later page kept and an earlier "
                   "lost, %" PRIu64 " partly persisted batches cut, %" PRIu64 " writes, %" PRIu64
                   " syncs\n",
                   store_total.n_opens, store_total.n_power, store_total.n_kills,
                   store_total.n_dirty, store_total.n_torn, store_total.n_reordered,
                   store_total.n_batch_cut, store_total.n_writes, store_total.n_syncs);
        }
    }
    sim_util_free(s);
    return rc;
}

int main(int argc, char **argv)
{
    struct cli c;

    if (!parse(&c, argc, argv)) {
        usage(argv[0]);
        return 2;
    }
    if (c.demo) {
        return sim_demo_run();
    }
    if (c.range || c.find) {
        return many_seeds(&c);
    }
    return one_seed(&c);
}
