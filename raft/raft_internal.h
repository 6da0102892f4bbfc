/* SPDX-License-Identifier: MIT */
/* raft_internal: the state shared by the files of the core (raft.c,
 * election.c, replication.c, membership.c, read.c). Not part of the API. */
#ifndef RAFT_RAFT_INTERNAL_H
#define RAFT_RAFT_INTERNAL_H

#include "raft/base/rand.h"
#include "raft/log.h"
#include "raft/raft.h"

#define RAFT_MAX_PENDING_READS 4096 /* reads waiting at one node */

enum progress_state {
    PR_PROBE = 0,     /* one AppendEntries at a time, find the match */
    PR_REPLICATE = 1, /* pipelined, up to max_inflight */
    PR_SNAPSHOT = 2,  /* a snapshot is on its way; wait for SNAPSHOT_SENT */
};

/* The leader's view of one other member. */
struct raft_progress {
    raft_id id;
    raft_index match;            /* highest index known replicated there */
    raft_index next;             /* next index to send; match < next */
    uint8_t state;               /* enum progress_state */
    bool probe_sent;             /* PROBE: paused until a response or heartbeat */
    bool recent_active;          /* heard from it since the last check-quorum */
    raft_index pending_snapshot; /* SNAPSHOT: index of the snapshot sent */
    uint64_t read_ack;           /* highest read round it acknowledged */
    raft_index *inflight;        /* ring of last indexes of unacked appends */
    uint32_t in_start;
    uint32_t in_count;
};

/* A linearizable read waiting at the leader. */
struct raft_pending_read {
    uint64_t id;        /* caller's id (or the follower's request id) */
    raft_id reply_to;   /* 0: local, else the follower that forwarded it */
    raft_index index;   /* commit index when registered (0: await term commit) */
    uint64_t round;     /* heartbeat round that must be acknowledged */
    raft_time deadline; /* follower side: when a forwarded read gives up */
};

struct raft_vec {
    void *items;
    size_t n;
    size_t cap;
};

struct raft {
    struct raft_config cfg;
    struct raft_rand rng;
    bool started;
    raft_time now;

    /* Persistent state (durable via the shell). */
    raft_term term;
    raft_id vote;

    /* Volatile state. */
    enum raft_role role;
    raft_id leader;
    raft_index commit;
    raft_index applying;      /* last index handed out in raft_update.apply */
    raft_index persisted;     /* entries up to here are durable, log-matching ours */
    raft_index unstable_from; /* first index not yet handed out to persist */
    struct raft_log log;
    struct raft_snapshot_meta snapshot; /* latest snapshot (taken or installed) */

    struct raft_conf conf; /* latest configuration in the log */
    raft_index conf_index; /* index of its CONF entry (or the snapshot's) */

    /* Timers (absolute ms). */
    raft_time election_deadline;
    raft_time heartbeat_deadline;
    raft_time quorum_deadline;
    raft_time last_leader_contact;

    /* Candidate. */
    raft_id granted[RAFT_MAX_SERVERS];
    unsigned n_granted;
    unsigned n_rejected;
    raft_id rejected[RAFT_MAX_SERVERS];

    /* Leader. */
    struct raft_progress prs[RAFT_MAX_SERVERS]; /* one per member but self */
    unsigned n_prs;
    raft_index *inflight_pool; /* RAFT_MAX_SERVERS * max_inflight slots */
    raft_id transferee;
    raft_time transfer_deadline;
    uint64_t read_round;       /* last heartbeat round started for reads */
    bool round_busy;           /* read_round is sent and not yet confirmed */
    bool transfer_sent;        /* TIMEOUT_NOW went out for this transfer */
    struct raft_vec reads;     /* struct raft_pending_read, leader side, in order */
    struct raft_vec fwd_reads; /* struct raft_pending_read, forwarded to the leader */

    /* Output of the current step. */
    struct raft_vec out_msgs;      /* struct raft_msg */
    struct raft_vec out_after;     /* struct raft_msg */
    struct raft_vec out_msg_first; /* raft_index: first entry of out_msgs[i] */
    struct raft_vec out_reads;     /* struct raft_read */
    raft_term out_term;            /* hard state last handed out */
    raft_id out_vote;
    bool out_conf_changed;
    raft_index out_compact;
    raft_index out_submit;
    bool install_snapshot;
    struct raft_buf install_data;
};

/* raft.c */
void raft_trace(struct raft *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void raft_send(struct raft *r, const struct raft_msg *m);
bool raft_is_voter(const struct raft *r, raft_id id);
unsigned raft_quorum(const struct raft *r);
int raft_vec_push(struct raft_vec *v, const void *item, size_t size);
void raft_vec_free(struct raft_vec *v);

/* election.c */
void raft_reset_election_timer(struct raft *r);
void raft_become_follower(struct raft *r, raft_term term, raft_id leader);
void raft_campaign(struct raft *r, bool pre_vote, bool transfer);
void raft_handle_vote(struct raft *r, const struct raft_msg *m);
void raft_handle_vote_resp(struct raft *r, const struct raft_msg *m);
int raft_election_tick(struct raft *r);

/* replication.c */
void raft_progress_reset(struct raft *r);
void raft_progress_sync(struct raft *r);
struct raft_progress *raft_progress_find(struct raft *r, raft_id id);
void raft_send_append(struct raft *r, struct raft_progress *pr, bool allow_empty);
void raft_broadcast_append(struct raft *r, bool allow_empty);
void raft_broadcast_heartbeat(struct raft *r);
void raft_handle_append(struct raft *r, const struct raft_msg *m);
void raft_handle_append_resp(struct raft *r, const struct raft_msg *m);
void raft_handle_heartbeat(struct raft *r, const struct raft_msg *m);
void raft_handle_heartbeat_resp(struct raft *r, const struct raft_msg *m);
void raft_handle_snapshot(struct raft *r, const struct raft_msg *m);
void raft_snapshot_sent(struct raft *r, raft_id to, bool ok);
void raft_maybe_commit(struct raft *r);
void raft_commit_to(struct raft *r, raft_index index);
int raft_append_local(struct raft *r, uint8_t type, const struct raft_buf *data);
int raft_snapshot_taken(struct raft *r, raft_index index);

/* membership.c */
void raft_conf_recompute(struct raft *r);
int raft_conf_on_append(struct raft *r, const struct raft_entry *e);
void raft_conf_on_commit(struct raft *r);
int raft_conf_change(struct raft *r, uint8_t op, raft_id id, const char *address);
void raft_conf_conf_at(const struct raft *r, raft_index index, struct raft_conf *out);
int raft_transfer(struct raft *r, raft_id to);
void raft_transfer_check(struct raft *r, struct raft_progress *pr);

/* read.c */
int raft_read_index(struct raft *r, uint64_t id, raft_id reply_to);
void raft_reads_on_commit(struct raft *r);
void raft_reads_on_ack(struct raft *r);
void raft_reads_fail(struct raft *r, int status);
void raft_handle_read_index(struct raft *r, const struct raft_msg *m);
void raft_handle_read_index_resp(struct raft *r, const struct raft_msg *m);
void raft_reads_tick(struct raft *r);
void raft_emit_read(struct raft *r, uint64_t id, raft_index index, int status);

#ifdef RAFT_MUTATIONS
#define RAFT_BUG(r, b) ((r)->cfg.bug == (b))
#else
#define RAFT_BUG(r, b) ((void)(r), (void)(b), false)
#endif

#endif /* RAFT_RAFT_INTERNAL_H */
