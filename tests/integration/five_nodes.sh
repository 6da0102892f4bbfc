#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# five_nodes: five nodes elect exactly one leader, agree on its term, and a
# put through any node reads back through every node, linearizably and then
# serializably (a serializable read after a linearizable one on the same
# node sees at least what that one saw).
# shellcheck source=tests/integration/lib.sh source-path=SCRIPTDIR/../..
. "$(dirname "$0")/lib.sh"
it_setup five_nodes 0

cl start -n 5 >/dev/null
wait_for 15 "one leader, one term, five nodes answering" one_leader 5
it_log "leader $LEADER"

for i in 1 2 3 4 5; do
    ctl_at "$i" kv put "/five/$i" "value-of-$i" >/dev/null || it_fail "put through node $i"
done
for i in 1 2 3 4 5; do
    for j in 1 2 3 4 5; do
        got=$(ctl_at "$j" kv get "/five/$i") || it_fail "linearizable get of /five/$i on node $j"
        [ "$got" = "value-of-$i" ] || it_fail "node $j read /five/$i as '$got'"
        got=$(ctl_at "$j" kv get "/five/$i" --serializable) ||
            it_fail "serializable get of /five/$i on node $j"
        [ "$got" = "value-of-$i" ] || it_fail "node $j read /five/$i serializably as '$got'"
    done
done
it_log "25 puts x reads agree"

# Still exactly one leader, same term, after the traffic.
wait_for 10 "one leader after the writes" one_leader 5

# coordctl's failures: one line on stderr and the exit code the README gives
# (2 for a command line it cannot use, 1 for a request that failed).
expect_exit() {
    local want=$1 rc=0 err
    shift
    err=$("$COORDCTL" "$@" 2>&1 >/dev/null) || rc=$?
    [ "$rc" = "$want" ] || it_fail "coordctl $* exited $rc, not $want ($err)"
    [ "$(printf '%s\n' "$err" | wc -l)" = 1 ] && [ -n "$err" ] ||
        it_fail "coordctl $* did not fail in one line: '$err'"
}
expect_exit 2 --endpoints nohost status
expect_exit 2 --endpoints "$(ep 1),127.0.0.1:0" status
expect_exit 2 --endpoints nohost kv get /five/1
expect_exit 1 --endpoints "$(eps)" --timeout 2000 kv get /five/missing
expect_exit 1 --endpoints "127.0.0.1:$((COORD_BASEPORT + 99))" --timeout 500 kv get /five/1
it_log "coordctl failures are one line with exit 2 (usage) or 1 (request)"
