#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# sigterm: SIGTERM makes a node exit 0 promptly with "node stopped" in its
# log (its leader too), and it restarts with its data.
. "$(dirname "$0")/lib.sh"
it_setup sigterm 7

cl start -n 3 >/dev/null
wait_for 15 "one leader" one_leader 3
for i in 1 2 3; do
    ctl kv put "/sigterm/$i" "v$i" >/dev/null || it_fail "put /sigterm/$i"
done

# The node is not our child (cluster.sh started it), so its exit status
# comes from its log: main.c logs "node stopped" as the last step of a
# clean stop. Signal the leader first, then a follower.
stop_one() {
    local id=$1 pid
    pid=$(node_pid "$id")
    [ -n "$pid" ] || it_fail "node $id is not running"
    kill -TERM "$pid"
    wait_for 5 "node $id (pid $pid) to exit after SIGTERM" pid_gone "$pid"
    grep -q "node stopped" "$COORD_CLUSTER_DIR/node$id/log" ||
        it_fail "node $id exited without 'node stopped' in its log"
    ! grep -Eq "ERROR|Assertion|AddressSanitizer|backtrace" "$COORD_CLUSTER_DIR/node$id/log" ||
        it_fail "node $id logged errors while stopping"
    it_log "node $id stopped cleanly"
}
pid_gone() { ! pid_alive "$1"; }

leader=$LEADER
stop_one "$leader"
wait_for 15 "a new leader" new_leader_not "$leader"
ctl kv put /sigterm/after-leader x >/dev/null || it_fail "put after the leader stopped"
cl restart "$leader"
wait_for 15 "node $leader back" one_leader 3

follower=$((leader % 3 + 1))
stop_one "$follower"
cl restart "$follower"
wait_for 15 "node $follower back" one_leader 3

for id in "$leader" "$follower"; do
    for i in 1 2 3; do
        got=$(ctl_at "$id" kv get "/sigterm/$i") || it_fail "get /sigterm/$i on node $id"
        [ "$got" = "v$i" ] || it_fail "node $id read /sigterm/$i as '$got'"
    done
    got=$(ctl_at "$id" kv get /sigterm/after-leader) || it_fail "get on node $id"
    [ "$got" = x ] || it_fail "node $id read /sigterm/after-leader as '$got'"
    # Its data came back from disk: the restart log line names what it had.
    grep -Eq "node started .*applied=[1-9]" "$COORD_CLUSTER_DIR/node$id/log" ||
        it_fail "node $id did not restart with its data"
done
