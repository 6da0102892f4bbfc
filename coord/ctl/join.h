/* SPDX-License-Identifier: MIT */
/* join: the cluster view of `coordctl status`, joined from what each asked
 * endpoint answered. Pure: the network part lives in status.c, which fills
 * an array of ctl_node_answer; this module decides who leads, who is a
 * member, what each lags behind, and renders the result.
 *
 * Rules (scripts and tests depend on them):
 *   1. The leader is the node that says role=leader with the highest term
 *      (the first such answer on a tie). There may be none.
 *   2. The members are the configuration the leader reports; without a
 *      leader, the one of the answering node with the highest term, then
 *      commit index.
 *   3. Each member is one row, in id order: its client address (its peer
 *      address when the client address is unknown) and, if a node with its
 *      id answered, that node's own role, term and indexes; else role "down".
 *   4. lag = leader's commit index - member's applied index (never below
 *      0), 0 for the leader, none for a down member or when no leader.
 *   5. Nodes that answered but are not in the configuration follow, in id
 *      order; then endpoints that did not answer and are no member's client
 *      or peer address, in the order given, as rows without an id.
 * The JSON output is an interface: {"leader": ID|null, "members": [{"id",
 * "address", "role", "term", "commit_index", "applied_index", "lag"}]};
 * renaming a field breaks scripts/bench.sh, the cluster script and tests. */
#ifndef COORD_CTL_JOIN_H
#define COORD_CTL_JOIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coord/ctl/sbuf.h"

#define CTL_JOIN_DOWN "down" /* the role of a node that did not answer */

/* One entry of a reported configuration. */
struct ctl_member_info {
    uint64_t id;
    bool voter;
    const char *peer_addr;   /* NUL-terminated */
    const char *client_addr; /* NUL-terminated; "" when unknown */
};

/* What one endpoint answered to a status request. All pointers are owned by
 * whoever filled the array; the join only reads them. */
struct ctl_node_answer {
    const char *endpoint; /* the address that was asked */
    int status;           /* 0: answered and the fields below hold; else RAFT_E* */
    uint64_t id;
    const char *role; /* "leader", "follower", "candidate", "precandidate", "learner" */
    uint64_t term;
    uint64_t leader_id; /* 0 when unknown */
    uint64_t commit_index;
    uint64_t applied_index;
    const struct ctl_member_info *members; /* the configuration it reports */
    size_t n_members;
};

struct ctl_status_row {
    bool has_id;         /* false only for an unknown endpoint (rule 5) */
    uint64_t id;         /* valid when has_id */
    const char *address; /* view into the answers */
    const char *role;    /* view into the answers, or CTL_JOIN_DOWN */
    bool up;             /* it answered: term and indexes hold */
    bool member;         /* in the configuration */
    uint64_t term;
    uint64_t commit_index;
    uint64_t applied_index;
    bool has_lag; /* up and a leader is known */
    uint64_t lag; /* entries; valid when has_lag */
};

struct ctl_status_view {
    bool has_leader;
    uint64_t leader_id;          /* valid when has_leader */
    size_t n_answered;           /* answers with status 0 */
    struct ctl_status_row *rows; /* owned: ctl_join_free() */
    size_t n_rows;
};

/* Join n answers (borrowed; the rows point into them, so they must outlive
 * out) into out. Errors: RAFT_ENOMEM (out then owns nothing). */
int ctl_join_status(const struct ctl_node_answer *answers, size_t n, struct ctl_status_view *out);

/* Release the rows of v. No-op on a zeroed view. */
void ctl_join_free(struct ctl_status_view *v);

/* The configuration rule 2 picks from answers, or NULL when no answering
 * node reported one; *n_members returns its size. Returns view. */
const struct ctl_member_info *ctl_join_config(const struct ctl_node_answer *answers, size_t n,
                                              size_t *n_members);

/* The client addresses of members that no node answered for and that were
 * not asked (no answer's endpoint is that address): status.c asks them in a
 * second round. Writes at most max views into out; returns how many. */
size_t ctl_join_unasked(const struct ctl_node_answer *answers, size_t n, const char **out,
                        size_t max);

/* Render v as the one-line JSON object above, newline included. */
void ctl_join_render_json(const struct ctl_status_view *v, struct ctl_sbuf *out);

/* Render v as an aligned table with a header row. Errors: RAFT_ENOMEM (out
 * untouched), else those stuck in out. */
int ctl_join_render_table(const struct ctl_status_view *v, struct ctl_sbuf *out);

#endif /* COORD_CTL_JOIN_H */
