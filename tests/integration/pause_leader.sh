#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# pause_leader: under a steady write load, SIGSTOP the leader for longer than
# the election timeout. The others elect a new leader and keep writing;
# after SIGCONT the old leader steps down, one leader remains, and no
# acknowledged write is lost.
# shellcheck source=tests/integration/lib.sh source-path=SCRIPTDIR/../..
. "$(dirname "$0")/lib.sh"
it_setup pause_leader 2

acks=$it_dir/acks
cl start -n 5 >/dev/null
wait_for 15 "one leader" one_leader 5
old=$LEADER
start_ackload "$acks"
wait_for 15 "the first 2000 acknowledged writes" lines_above "$acks" 2000

cl pause "$old"
paused_at=$(now_ms)
at_pause=$(count_lines "$acks")
it_log "paused leader $old after $at_pause acknowledged writes"
others=$(eps_except 5 "$old")
# A new leader can only come after an election timeout (1000 ms by default)
# without the old one's heartbeats: the pause outlasts it.
wait_for 15 "a new leader among the other four" new_leader_not "$old" "$others"
it_log "new leader $LEADER"
wait_for 15 "writes to resume during the pause" lines_above "$acks" $((at_pause + 2000))
# At least twice the default election timeout in all, measured, not slept.
paused_long() { [ $(($(now_ms) - paused_at)) -ge 2000 ]; }
wait_for 5 "2 s of pause" paused_long

cl resume "$old"
it_log "resumed node $old after $(($(now_ms) - paused_at)) ms"
role_is() { [ "$(role_of "$1")" = "$2" ]; }
wait_for 10 "node $old to step down" role_is "$old" follower
wait_for 10 "one leader, five nodes answering" one_leader 5
[ "$LEADER" != "$old" ] || it_fail "node $old leads again"
wait_for 15 "writes after the resume" lines_above "$acks" $(($(count_lines "$acks") + 1000))
stop_ackload
verify_acks "$acks" 1 2 3 4 5
