#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# leader_transfer: `coordctl leader transfer ID` hands leadership to each node
# in turn and answers promptly; a transfer to the node that already leads is
# answered at once and changes nothing; one to a non-member is refused; one
# with no id goes to another voter. Writes acknowledged meanwhile survive.
# shellcheck source=tests/integration/lib.sh source-path=SCRIPTDIR/../..
. "$(dirname "$0")/lib.sh"
it_setup leader_transfer 9

acks=$it_dir/acks
cl start -n 5 >/dev/null
wait_for 15 "one leader" one_leader 5
start_ackload "$acks"
wait_for 15 "1000 acknowledged writes" lines_above "$acks" 1000

# transfer ARGS...: coordctl leader transfer with a 3 s timeout; sets OUT and
# MS (how long it took); fails the test on a timeout (no answer).
transfer() {
    local t0 rc=0
    t0=$(now_ms)
    OUT=$("$COORDCTL" --endpoints "$(eps)" --timeout 3000 leader transfer "$@" 2>&1) || rc=$?
    MS=$(($(now_ms) - t0))
    case "$OUT" in *"timed out"*) it_fail "leader transfer $*: no answer in $MS ms: $OUT" ;; esac
    return "$rc"
}
leads() { one_leader 5 && [ "$LEADER" = "$1" ]; }

for to in 3 1 5 2 4; do
    wait_for 10 "one leader" one_leader 5
    if [ "$LEADER" = "$to" ]; then
        continue
    fi
    transfer "$to" || it_fail "leader transfer $to: $OUT"
    wait_for 10 "node $to to lead" leads "$to"
    it_log "transferred to $to in $MS ms: $OUT"
done

wait_for 10 "one leader" one_leader 5
old=$LEADER
transfer || it_fail "leader transfer (no id): $OUT"
wait_for 10 "a leader other than $old" new_leader_not "$old"
it_log "transfer with no id: $OUT; leader $LEADER"

if transfer 9; then
    it_fail "leader transfer 9 (not a member) succeeded: $OUT"
fi
it_log "transfer to a non-member refused in $MS ms: $OUT"

wait_for 10 "one leader" one_leader 5
cur=$LEADER
transfer "$cur" || it_fail "leader transfer $cur (the leader itself): $OUT"
wait_for 10 "node $cur to still lead" leads "$cur"
it_log "transfer to the leader itself answered in $MS ms: $OUT"

wait_for 20 "1000 more acknowledged writes" lines_above "$acks" $(($(count_lines "$acks") + 1000))
stop_ackload
verify_acks "$acks" 1 2 3 4 5
