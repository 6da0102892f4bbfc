#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# remove_leader: under a steady write load, `members remove` of the leader
# itself is acknowledged, the old leader steps down, one of the four others
# leads, writes continue and no acknowledged write is lost. The leader is
# first made node 5: a removed leader's transport can then dial none of the
# others (the lower id dials), the hardest case for it.
# shellcheck source=tests/integration/lib.sh source-path=SCRIPTDIR/../..
. "$(dirname "$0")/lib.sh"
it_setup remove_leader 8

acks=$it_dir/acks
cl start -n 5 >/dev/null
wait_for 15 "one leader" one_leader 5
start_ackload "$acks"
wait_for 15 "2000 acknowledged writes" lines_above "$acks" 2000

if [ "$LEADER" != 5 ]; then
    ctl leader transfer 5 >/dev/null || it_fail "leader transfer 5"
fi
is_leader_5() { one_leader 5 && [ "$LEADER" = 5 ]; }
wait_for 10 "node 5 to lead" is_leader_5
old=$LEADER
remaining=$(eps_except 5 "$old")
started=$(now_ms)
out=$("$COORDCTL" --endpoints "$(eps)" --timeout 5000 members remove "$old" 2>&1) ||
    it_fail "members remove $old (the leader): $out"
it_log "removed leader $old in $(($(now_ms) - started)) ms: $out"
wait_for 15 "a leader other than the removed $old" new_leader_not "$old" "$remaining"
not_leader() { [ "$(role_of "$1")" != leader ]; }
wait_for 10 "removed node $old to stop leading" not_leader "$old"
target=$(($(count_lines "$acks") + 1000))
wait_for 20 "1000 more acknowledged writes" lines_above "$acks" "$target"
it_log "new leader $LEADER"
stop_ackload

ids=$("$COORDCTL" --endpoints "$remaining" --timeout 1000 members list --json |
    grep -o '{"id":[0-9]*,"voter":true' | grep -o '[0-9]*' | sort -n | xargs)
want=$(ids_except 5 "$old" | xargs)
[ "$ids" = "$want" ] || it_fail "voters are '$ids', expected '$want'"
wait_for 10 "one leader among the four" one_leader 4 "$remaining"
read -ra want_ids <<<"$want"
verify_acks "$acks" "${want_ids[@]}"
