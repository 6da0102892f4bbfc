/* SPDX-License-Identifier: MIT */
/* raft: the consensus core, a pure deterministic state machine.
 *
 * No sockets, no files, no clock, no threads, no global state. The caller (a
 * "shell": coordd's libuv node, or the simulator in tests/sim) feeds events
 * to raft_step() and carries out the update it gets back, in the order
 * described at struct raft_update. This is the only header coord/ includes
 * from raft/.
 *
 * Features: elections with randomized timeouts, pre-vote and check-quorum;
 * replication with batching, pipelining and per-follower flow control, fast
 * back-tracking; commit by counting only entries of the current term; the
 * leader's own entries count only once durable; ReadIndex (also served
 * through followers); snapshots; learners, one-voter-at-a-time membership
 * changes and leadership transfer.
 */
#ifndef RAFT_RAFT_H
#define RAFT_RAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/base/buf.h"
#include "raft/base/err.h"

typedef uint64_t raft_id;    /* server id; 0 means "none" */
typedef uint64_t raft_term;  /* election term, starts at 0 */
typedef uint64_t raft_index; /* log index, the first entry is 1 */
typedef uint64_t raft_time;  /* ms, monotonic, supplied by the shell */

enum raft_role {
    RAFT_FOLLOWER = 0,
    RAFT_PRECANDIDATE = 1, /* collecting pre-votes, term not yet bumped */
    RAFT_CANDIDATE = 2,
    RAFT_LEADER = 3,
};

/* Entry types. Stored on disk and sent on the wire: never renumber. */
enum raft_entry_type {
    RAFT_ENTRY_NORMAL = 1, /* opaque command for the state machine */
    RAFT_ENTRY_NOOP = 2,   /* appended by every new leader; apply ignores it */
    RAFT_ENTRY_CONF = 3,   /* data is a raft_conf_encode()d configuration */
};

struct raft_entry {
    raft_term term;
    raft_index index;
    uint8_t type;         /* enum raft_entry_type */
    struct raft_buf data; /* opaque command bytes; may be empty */
};

/* Server roles in a configuration. Stored in CONF entries: never renumber. */
enum raft_server_role {
    RAFT_VOTER = 1,
    RAFT_LEARNER = 2, /* receives the log, does not vote or count */
};

#define RAFT_ADDR_MAX    128 /* bytes of an address, NUL included */
#define RAFT_MAX_SERVERS 16  /* voters and learners together */

struct raft_server {
    raft_id id;                  /* > 0, unique in a configuration */
    uint8_t role;                /* enum raft_server_role */
    char address[RAFT_ADDR_MAX]; /* opaque to the core, NUL-terminated */
};

/* A cluster configuration. Servers are kept sorted by id so that two equal
 * configurations are equal byte for byte. */
struct raft_conf {
    uint32_t n;
    struct raft_server servers[RAFT_MAX_SERVERS];
};

/* What a snapshot covers: the state machine after applying every entry up to
 * and including index, and the configuration in force at that index. */
struct raft_snapshot_meta {
    raft_index index;
    raft_term term;
    struct raft_conf conf;
};

/* Message types. Mapped onto proto/peer.proto by the transport. */
enum raft_msg_type {
    RAFT_MSG_APPEND = 1,           /* entries after (index, log_term), commit */
    RAFT_MSG_APPEND_RESP = 2,      /* index = match (accept) or rejected prev index */
    RAFT_MSG_VOTE = 3,             /* last log (index, log_term); transfer */
    RAFT_MSG_VOTE_RESP = 4,        /* reject = not granted */
    RAFT_MSG_PREVOTE = 5,          /* term = the term the sender would campaign in */
    RAFT_MSG_PREVOTE_RESP = 6,     /* reject = not granted */
    RAFT_MSG_HEARTBEAT = 7,        /* commit, ctx = read round */
    RAFT_MSG_HEARTBEAT_RESP = 8,   /* ctx echoed */
    RAFT_MSG_SNAPSHOT = 9,         /* snapshot meta (+ data, attached by the shell) */
    RAFT_MSG_TIMEOUT_NOW = 10,     /* leadership transfer: campaign now */
    RAFT_MSG_READ_INDEX = 11,      /* follower -> leader, ctx = request id */
    RAFT_MSG_READ_INDEX_RESP = 12, /* index = read index, ctx = request id, reject */
};

/* One message. Which fields are meaningful depends on type (see above); the
 * others are zero. A message handed to raft_step() is borrowed for the call:
 * the core copies what it keeps. */
struct raft_msg {
    uint8_t type; /* enum raft_msg_type */
    raft_id from;
    raft_id to;
    raft_term term;
    raft_index index;      /* see enum raft_msg_type */
    raft_term log_term;    /* APPEND: term at index; VOTE/PREVOTE: last log term */
    raft_index commit;     /* APPEND, HEARTBEAT: leader's commit index */
    raft_index hint_index; /* APPEND_RESP reject: where the leader should look */
    raft_term hint_term;   /* APPEND_RESP reject: follower's term at hint_index, 0 if none */
    uint64_t ctx;          /* HEARTBEAT(_RESP): read round; READ_INDEX(_RESP): request id */
    bool reject;           /* responses */
    bool transfer;         /* VOTE: campaign started by leadership transfer */
    uint32_t n_entries;
    struct raft_entry *entries; /* APPEND */
    /* SNAPSHOT: what the snapshot covers. Outgoing: the shell attaches the data of
     * its snapshot with this index. Incoming: the shell sets snapshot_data to an
     * opaque handle of the received data (a buffer or a file name); the core
     * passes it back unread in raft_update.snapshot_data. */
    struct raft_snapshot_meta *snapshot;
    struct raft_buf snapshot_data;
};

/* Membership change operations (RAFT_EV_CONF_CHANGE). */
enum raft_conf_op {
    RAFT_CONF_ADD_LEARNER = 1, /* id must not be a member */
    RAFT_CONF_PROMOTE = 2,     /* learner -> voter; refused (EBUSY) until caught up */
    RAFT_CONF_DEMOTE = 3,      /* voter -> learner */
    RAFT_CONF_REMOVE = 4,      /* voter or learner; a leader may remove itself */
};

enum raft_event_type {
    RAFT_EV_START = 1,          /* first event: durable state */
    RAFT_EV_RECEIVE = 2,        /* a message arrived */
    RAFT_EV_TIMEOUT = 3,        /* raft_update.timeout was reached */
    RAFT_EV_PERSISTED = 4,      /* entries up to (index, term) are durable */
    RAFT_EV_SUBMIT = 5,         /* leader: append normal entries */
    RAFT_EV_CONF_CHANGE = 6,    /* leader: change membership */
    RAFT_EV_TRANSFER = 7,       /* leader: hand leadership to another voter */
    RAFT_EV_READ_INDEX = 8,     /* any node: linearizable read */
    RAFT_EV_SNAPSHOT_TAKEN = 9, /* the state machine has a durable snapshot */
    RAFT_EV_SNAPSHOT_SENT = 10, /* the shell finished (or failed) sending one */
    RAFT_EV_CAMPAIGN = 11,      /* tests and operators: campaign now */
};

struct raft_event {
    uint8_t type;  /* enum raft_event_type */
    raft_time now; /* every event carries the time; it must not go back */
    union {
        struct {
            raft_term term;
            raft_id vote;
            raft_index commit;  /* a durable lower bound, may be 0 */
            raft_index applied; /* the state machine's durable applied index, or 0:
                                 * apply resumes after max(applied, snapshot) */
            /* The latest snapshot; index 0 with the initial configuration when
             * the node bootstraps a new cluster, index 0 with an empty
             * configuration for a node that will be added later. */
            const struct raft_snapshot_meta *snapshot;
            const struct raft_entry *entries; /* snapshot->index + 1 onwards */
            size_t n_entries;
        } start;
        struct {
            const struct raft_msg *msg;
        } receive;
        struct {
            raft_index index; /* last entry of the persisted batch */
            raft_term term;   /* its term */
        } persisted;
        struct {
            const struct raft_buf *data; /* one normal entry per buffer */
            size_t n;
        } submit;
        struct {
            uint8_t op; /* enum raft_conf_op */
            raft_id id;
            const char *address; /* ADD_LEARNER only */
        } conf_change;
        struct {
            raft_id to; /* 0: pick the most up-to-date voter */
        } transfer;
        struct {
            uint64_t id; /* caller's request id, echoed in raft_read */
        } read_index;
        struct {
            raft_index index; /* <= the last index the shell applied */
        } snapshot_taken;
        struct {
            raft_id to;
            bool ok;
        } snapshot_sent;
    };
};

/* A ReadIndex answer: once the state machine has applied index, a read of it
 * is linearizable. status is 0, or RAFT_ENOTLEADER / RAFT_ELEADERLESS /
 * RAFT_ETIMEDOUT when the read could not be confirmed (the caller may retry). */
struct raft_read {
    uint64_t id;
    raft_index index;
    int status;
};

/* What the shell must do after a step, in this order:
 *   1. Send msgs now (they depend on nothing unpersisted).
 *   2. Durably, in the order of steps: install snapshot (if any: replace the
 *      state machine and drop the whole log), then delete log entries with
 *      index >= entries[0].index and append entries, then store the hard state
 *      (if hs_changed). Persistence may run on another thread; several updates
 *      may be in flight, but they complete in order.
 *   3. When step 2 of this update is durable (for an update with nothing to
 *      persist: when every earlier update's step 2 is): send msgs_after, then feed
 *      RAFT_EV_PERSISTED with the last entry's (index, term) (or the
 *      snapshot's, when it installed one and appended nothing).
 *   4. Apply the entries of apply, in order (they are committed and durable).
 *   5. Answer reads once the state machine reached each read's index.
 *   6. Call RAFT_EV_TIMEOUT at or after timeout.
 * compact_index: the shell may delete persisted entries below it.
 * All pointers are views valid until the next raft_step() or raft_destroy(). */
struct raft_update {
    bool hs_changed;
    raft_term term;    /* current term (always set) */
    raft_id vote;      /* vote in term (always set) */
    raft_index commit; /* commit index (always set; may be persisted lazily) */

    const struct raft_snapshot_meta *snapshot; /* to install, or NULL */
    struct raft_buf snapshot_data;             /* the handle received with it */

    struct raft_entry *entries;
    size_t n_entries;

    struct raft_msg *msgs;
    size_t n_msgs;
    struct raft_msg *msgs_after;
    size_t n_msgs_after;

    struct raft_entry *apply;
    size_t n_apply;

    struct raft_read *reads;
    size_t n_reads;

    raft_index compact_index; /* 0 when nothing new may be deleted */
    raft_index submit_index;  /* SUBMIT / CONF_CHANGE: index of the first new entry */
    raft_time timeout;        /* absolute; the next RAFT_EV_TIMEOUT is due then */

    enum raft_role role;
    raft_id leader;    /* 0 when unknown */
    bool conf_changed; /* the configuration (raft_conf_get) changed in this step */
};

/* Notes on the contract:
 * - RAFT_MSG_SNAPSHOT: after handing one out in msgs, the shell must report
 *   RAFT_EV_SNAPSHOT_SENT for it (ok or not); until then the core sends that
 *   follower nothing but heartbeats.
 * - Allocation failures inside the core drop the message being built or
 *   received, as the network may; they never corrupt state. */

/* Deliberately broken rules, compiled only into test builds (RAFT_MUTATIONS),
 * to show that the simulator finds each of them. */
enum raft_bug {
    RAFT_BUG_NONE = 0,
    RAFT_BUG_COMMIT_OLD_TERM = 1,  /* commit a previous term's entry by counting */
    RAFT_BUG_VOTE_NO_PERSIST = 2,  /* grant a vote before it is durable */
    RAFT_BUG_VOTE_ANY_LOG = 3,     /* skip the up-to-date log check */
    RAFT_BUG_LEADER_UNDURABLE = 4, /* count the leader's entries before durable */
    RAFT_BUG_READ_NO_QUORUM = 5,   /* answer ReadIndex without a heartbeat round */
    RAFT_BUG_KEEP_CONFLICT = 6,    /* follower keeps a conflicting suffix */
    RAFT_BUG_N
};

typedef void (*raft_trace_cb)(void *arg, raft_id id, raft_time now, const char *msg);

struct raft_config {
    raft_id id;                   /* this server, > 0 */
    uint32_t election_timeout_ms; /* base; each wait is drawn from [base, 2*base) */
    uint32_t heartbeat_ms;        /* < election_timeout_ms */
    uint32_t max_inflight;        /* AppendEntries in flight per follower, >= 1 */
    uint32_t max_msg_entries;     /* entries per AppendEntries, >= 1 */
    uint64_t max_msg_bytes;       /* soft limit on entry bytes per AppendEntries */
    uint64_t snapshot_trailing;   /* entries kept below a snapshot for slow followers */
    uint64_t promote_max_lag;     /* PROMOTE needs the learner within this many entries */
    bool pre_vote;
    bool check_quorum;
    uint64_t seed;       /* PRNG seed for election timeouts */
    raft_trace_cb trace; /* optional */
    void *trace_arg;
#ifdef RAFT_MUTATIONS
    unsigned bug; /* enum raft_bug */
#endif
};

/* Fill cfg with defaults: election 1000 ms, heartbeat 100 ms, 64 in flight,
 * 512 entries / 1 MiB per message, 4096 trailing entries, pre-vote and
 * check-quorum on. The caller sets id and seed. */
void raft_config_default(struct raft_config *cfg);

struct raft;

/* Create a core. It does nothing until RAFT_EV_START. *out returns owned;
 * release with raft_destroy() (raft_free() is the allocator's, in
 * raft/base/alloc.h). Errors: RAFT_EINVAL (bad config), RAFT_ENOMEM. */
int raft_new(const struct raft_config *cfg, struct raft **out);

/* Release r and everything it holds. NULL is a no-op. */
void raft_destroy(struct raft *r);

/* Feed one event; fill *up (overwritten wholesale) with what to do next.
 * On error the state of r is unchanged by the failed request and *up still
 * describes valid work (e.g. messages produced before the failure): the
 * shell carries out *up whatever the result.
 * Errors: RAFT_EINVAL (malformed event), RAFT_ENOTLEADER / RAFT_EBUSY
 * (SUBMIT, CONF_CHANGE, TRANSFER), RAFT_ELEADERLESS (READ_INDEX with no
 * known leader), RAFT_ETOOBIG (SUBMIT beyond limits), RAFT_ENOMEM.
 * Messages that fail validation are dropped silently (they are traced), so a
 * peer can never crash the node. Single-threaded: one caller at a time. */
int raft_step(struct raft *r, const struct raft_event *ev, struct raft_update *up);

/* Introspection; each returns a value, or a view valid until the next step. */
raft_id raft_id_get(const struct raft *r);
enum raft_role raft_role_get(const struct raft *r);
raft_term raft_term_get(const struct raft *r);
raft_id raft_leader_get(const struct raft *r);
raft_index raft_commit_get(const struct raft *r);
raft_index raft_applying_get(const struct raft *r);  /* last index handed out to apply */
raft_index raft_persisted_get(const struct raft *r); /* last index known durable */
raft_index raft_first_index(const struct raft *r);   /* first entry in memory */
raft_index raft_last_index(const struct raft *r);
raft_term raft_last_term(const struct raft *r);
const struct raft_snapshot_meta *raft_snapshot_get(const struct raft *r);
const struct raft_conf *raft_conf_get(const struct raft *r);
/* Term of entry index, 0 if unknown (compacted below the snapshot or beyond
 * the last index). The snapshot's own index answers the snapshot's term. */
raft_term raft_term_at(const struct raft *r, raft_index index);
/* Entry at index (view), or NULL when not in memory. */
const struct raft_entry *raft_entry_at(const struct raft *r, raft_index index);

/* Leader only: the replication progress of server id. Returns 0 and fills
 * match and next, or RAFT_ENOTFOUND / RAFT_ENOTLEADER. */
int raft_progress_get(const struct raft *r, raft_id id, raft_index *match, raft_index *next);

/* Configuration helpers. */
const struct raft_server *raft_conf_find(const struct raft_conf *c, raft_id id);
unsigned raft_conf_n_voters(const struct raft_conf *c);
/* The same servers, in the same order, with the same roles and addresses. */
bool raft_conf_equal(const struct raft_conf *a, const struct raft_conf *b);
/* Add a server keeping ids sorted. Errors: RAFT_EEXIST, RAFT_ETOOBIG,
 * RAFT_EINVAL (id 0, address too long). */
int raft_conf_add(struct raft_conf *c, raft_id id, uint8_t role, const char *address);

/* CONF entries carry a configuration in this byte format (little-endian):
 * u8 version (1), u8 n, then per server: u64 id, u8 role, u8 addr_len,
 * addr bytes. It is on disk and on the wire: changing it breaks upgrades.
 * raft_conf_encoded_len() gives the exact size raft_conf_encode() writes. */
size_t raft_conf_encoded_len(const struct raft_conf *c);
void raft_conf_encode(const struct raft_conf *c, uint8_t *out);
/* Errors: RAFT_EPROTO (malformed, unsorted or duplicate ids). */
int raft_conf_decode(const struct raft_buf *in, struct raft_conf *c);

const char *raft_role_name(enum raft_role role);
const char *raft_msg_type_name(uint8_t type);

#endif /* RAFT_RAFT_H */
