#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# membership: under a steady write load, a sixth node joins as a learner,
# catches up and is promoted; then a follower is removed. Writes keep being
# acknowledged throughout, the configuration ends as expected, and no
# acknowledged write is lost. (Removing the leader: remove_leader.sh.)
# shellcheck source=tests/integration/lib.sh source-path=SCRIPTDIR/../..
. "$(dirname "$0")/lib.sh"
it_setup membership 4

acks=$it_dir/acks
cl start -n 5 >/dev/null
wait_for 15 "one leader" one_leader 5
start_ackload "$acks"
wait_for 15 "2000 acknowledged writes" lines_above "$acks" 2000

# acks_grow N: wait until N more writes are acknowledged than now.
acks_grow() {
    local target=$(($(count_lines "$acks") + $1))
    wait_for 20 "$1 more acknowledged writes" lines_above "$acks" "$target"
}

# members_json [ENDPOINTS]: the configuration as the leader reports it.
members_json() {
    "$COORDCTL" --endpoints "${1:-$(eps)}" --timeout 1000 members list --json 2>/dev/null
}
is_voter() { members_json | grep -q "{\"id\":$1,\"voter\":true,"; }
is_learner() { members_json | grep -q "{\"id\":$1,\"voter\":false,"; }
not_member() {
    local out
    out=$(members_json "${2:-}") && ! grep -q "{\"id\":$1," <<<"$out"
}
applied_at_least() {
    local a
    a=$(applied_of "$1")
    case "$a" in '' | *[!0-9]*) return 1 ;; esac
    [ "$a" -ge "$2" ]
}

# 1. Join node 6 and add it as a learner.
cl join 6 >"$it_dir/join.out"
ctl members add 6 "$(peer 6)" "$(ep 6)" >/dev/null || it_fail "members add 6"
wait_for 10 "node 6 listed as a learner" is_learner 6
wait_for 10 "one leader" one_leader
target=$(status_rows | awk -v id="$LEADER" '$1 == id { print $4 }')
wait_for 30 "node 6 to apply the leader's commit index $target" applied_at_least 6 "$target"
it_log "node 6 caught up to $target as a learner (role $(role_of 6))"

# 2. Promote it.
ctl members promote 6 >/dev/null || it_fail "members promote 6"
wait_for 10 "node 6 to be a voter" is_voter 6
acks_grow 1000
it_log "node 6 is a voter"

# 3. Remove a follower other than 6.
wait_for 10 "one leader" one_leader
follower=$(seq 1 5 | grep -vx "$LEADER" | head -n 1)
ctl members remove "$follower" >/dev/null || it_fail "members remove $follower"
wait_for 10 "node $follower to leave the configuration" not_member "$follower"
acks_grow 1000
it_log "removed follower $follower"

stop_ackload

# 4. The configuration: the five others, all voters, one leader among them.
remaining=$(eps_except 6 "$follower")
ids=$(members_json "$remaining" | grep -o '{"id":[0-9]*,"voter":true' | grep -o '[0-9]*' | sort -n | xargs)
want=$(ids_except 6 "$follower" | xargs)
[ "$ids" = "$want" ] || it_fail "voters are '$ids', expected '$want'"
wait_for 10 "one leader among the five" one_leader 5 "$remaining"
it_log "configuration: voters $ids, leader $LEADER"
read -ra want_ids <<<"$want"
verify_acks "$acks" "${want_ids[@]}"
