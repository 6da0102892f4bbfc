#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# snapshot_catchup: with snapshots every 200 entries (50 kept below), write
# until the leader has compacted its log, then join a new node: the log it
# needs is gone, so it must catch up by installing a snapshot, and it then
# serves every acknowledged key (serializable reads on it, once it has
# applied the leader's commit index; linearizable ones too).
# shellcheck source=tests/integration/lib.sh source-path=SCRIPTDIR/../..
. "$(dirname "$0")/lib.sh"
it_setup snapshot_catchup 5

export COORD_EXTRA_CONF=$'snapshot_entries = 200\nsnapshot_trailing = 50'
acks=$it_dir/acks
cl start -n 3 >/dev/null
wait_for 15 "one leader" one_leader 3
start_ackload "$acks"
wait_for 15 "3000 acknowledged writes" lines_above "$acks" 3000
stop_ackload

wait_for 10 "one leader" one_leader 3
leader=$LEADER
leader_log=$COORD_CLUSTER_DIR/node$leader/log
snapshotted() { grep -q "snapshot taken" "$leader_log"; }
wait_for 15 "the leader to take a snapshot" snapshotted
it_log "leader $leader: $(grep -c "snapshot taken" "$leader_log") snapshots taken"

cl join 4 >"$it_dir/join.out"
ctl members add 4 "$(peer 4)" "$(ep 4)" >/dev/null || it_fail "members add 4"
installed() { grep -q "snapshot installed" "$COORD_CLUSTER_DIR/node4/log"; }
wait_for 30 "node 4 to install a snapshot" installed
it_log "node 4: $(grep "snapshot installed" "$COORD_CLUSTER_DIR/node4/log" | tail -n 1)"

target=$(status_rows | awk -v id="$leader" '$1 == id { print $4 }')
applied_at_least() {
    local a
    a=$(applied_of 4)
    case "$a" in '' | *[!0-9]*) return 1 ;; esac
    [ "$a" -ge "$target" ]
}
wait_for 30 "node 4 to apply the leader's commit index $target" applied_at_least
VERIFY_FLAGS=--serializable verify_acks "$acks" 4
verify_acks "$acks" 4

# And it stays a working member: promote it, write through it.
ctl members promote 4 >/dev/null || it_fail "members promote 4"
ctl_at 4 kv put /snapshot/after yes >/dev/null || it_fail "put through node 4"
got=$(ctl_at 4 kv get /snapshot/after) || it_fail "get through node 4"
[ "$got" = yes ] || it_fail "node 4 read /snapshot/after as '$got'"
