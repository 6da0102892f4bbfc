#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# sigterm: SIGTERM makes a node exit 0 promptly, with "node stopped" in its
# log, the leader too and while writes are in flight; it restarts with its
# data, and no acknowledged write is lost.
# shellcheck source=tests/integration/lib.sh source-path=SCRIPTDIR/../..
. "$(dirname "$0")/lib.sh"
it_setup sigterm 7

# cluster.sh writes the configurations; the nodes then run as children of
# this script, so that `wait` gives their exit status. The pid files stay
# right, so cluster.sh (and the EXIT trap) can still stop them.
cl start -n 3 >/dev/null
cl stop >/dev/null
declare -A child
own_start() {
    local d=$COORD_CLUSTER_DIR/node$1
    "$COORDD" --config "$d/coordd.conf" >>"$d/log" 2>&1 </dev/null &
    child[$1]=$!
    echo "${child[$1]}" >"$d/pid"
}
for i in 1 2 3; do
    own_start "$i"
done
wait_for 15 "one leader" one_leader 3
for i in 1 2 3; do
    ctl kv put "/sigterm/$i" "v$i" >/dev/null || it_fail "put /sigterm/$i"
done
acks=$it_dir/acks
start_ackload "$acks"
wait_for 15 "1000 acknowledged writes" lines_above "$acks" 1000

pid_gone() { ! pid_alive "$1"; }
# stop_one ID: SIGTERM, then exit status 0 within 5 s and a clean log.
stop_one() {
    local id=$1 pid=${child[$1]} rc=0 log=$COORD_CLUSTER_DIR/node$1/log
    kill -TERM "$pid"
    wait_for 5 "node $id (pid $pid) to exit after SIGTERM" pid_gone "$pid"
    wait "$pid" || rc=$?
    [ "$rc" -eq 0 ] || it_fail "node $id exited $rc after SIGTERM"
    [ "$(grep -c "node stopped" "$log")" -eq "$2" ] ||
        it_fail "node $id exited without a new 'node stopped' in its log"
    ! grep -Eq "ERROR|$it_crash_re" "$log" ||
        it_fail "node $id logged errors while stopping"
    it_log "node $id stopped cleanly (exit 0)"
}

# Each node has one "node stopped" from `cl stop` above.
leader=$LEADER
stop_one "$leader" 2
wait_for 15 "a new leader" new_leader_not "$leader"
ctl kv put /sigterm/after-leader x >/dev/null || it_fail "put after the leader stopped"
own_start "$leader"
wait_for 15 "node $leader back" one_leader 3

follower=$((leader % 3 + 1))
stop_one "$follower" 2
own_start "$follower"
wait_for 15 "node $follower back" one_leader 3
stop_ackload

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
verify_acks "$acks" 1 2 3

# All three at once, in flight or not: every one exits 0.
for i in 1 2 3; do
    kill -TERM "${child[$i]}"
done
for i in 1 2 3; do
    wait_for 5 "node $i to exit" pid_gone "${child[$i]}"
    rc=0
    wait "${child[$i]}" || rc=$?
    [ "$rc" -eq 0 ] || it_fail "node $i exited $rc after SIGTERM"
done
it_log "all three stopped with exit 0"
