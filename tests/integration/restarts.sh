#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# restarts: keys written before and between restarts survive restarting
# every node in turn (a leader is elected each time) and then stopping the
# whole ensemble and starting it again. Snapshots are taken every 500
# entries, so nodes restart from a snapshot plus the log above it.
# shellcheck source=tests/integration/lib.sh source-path=SCRIPTDIR/../..
. "$(dirname "$0")/lib.sh"
it_setup restarts 3

export COORD_EXTRA_CONF=$'snapshot_entries = 500\nsnapshot_trailing = 100'

acks=$it_dir/acks
cl start -n 3 >/dev/null
wait_for 15 "one leader" one_leader 3
start_ackload "$acks"
wait_for 15 "2000 acknowledged writes" lines_above "$acks" 2000
stop_ackload
for i in 1 2 3; do
    grep -q "snapshot taken" "$COORD_CLUSTER_DIR/node$i/log" || it_fail "node $i took no snapshot"
done

for i in 1 2 3; do
    cl restart "$i"
    wait_for 15 "one leader, three nodes answering after restarting node $i" one_leader 3
    it_log "restarted node $i; leader $LEADER"
    ctl kv put "/restarts/after-$i" "v$i" >/dev/null || it_fail "put after restarting node $i"
done

# All at once: stop every node, then start each with its data (cluster.sh
# start would wipe the directory).
cl stop >/dev/null
for i in 1 2 3; do
    [ -z "$(node_pid "$i")" ] || it_fail "node $i still runs after stop"
done
it_log "all stopped"
for i in 1 2 3; do
    cl restart "$i"
done
wait_for 15 "one leader after a full restart" one_leader 3
it_log "all restarted; leader $LEADER"

for id in 1 2 3; do
    for i in 1 2 3; do
        got=$(ctl_at "$id" kv get "/restarts/after-$i") || it_fail "get /restarts/after-$i on $id"
        [ "$got" = "v$i" ] || it_fail "node $id read /restarts/after-$i as '$got'"
    done
done
verify_acks "$acks" 1 2 3
