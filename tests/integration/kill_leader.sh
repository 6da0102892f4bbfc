#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# kill_leader: under a steady write load, SIGKILL the leader. A new leader is
# elected, writes resume, and after the killed node restarts every
# acknowledged write reads back through every node.
# shellcheck source=tests/integration/lib.sh source-path=SCRIPTDIR/../..
. "$(dirname "$0")/lib.sh"
it_setup kill_leader 1

acks=$it_dir/acks
cl start -n 5 >/dev/null
wait_for 15 "one leader" one_leader 5
old=$LEADER
start_ackload "$acks"
wait_for 15 "the first 2000 acknowledged writes" lines_above "$acks" 2000

cl kill "$old"
at_kill=$(count_lines "$acks")
it_log "killed leader $old after $at_kill acknowledged writes"
others=$(eps_except 5 "$old")
wait_for 15 "a new leader among the other four" new_leader_not "$old" "$others"
it_log "new leader $LEADER"
wait_for 15 "writes to resume after the kill" lines_above "$acks" $((at_kill + 2000))
stop_ackload

cl restart "$old"
wait_for 15 "node $old back, one leader" one_leader 5
verify_acks "$acks" 1 2 3 4 5
