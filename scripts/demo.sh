#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's first command: install the dependencies, build the release
# flavour, start a real 5-node coord ensemble on 127.0.0.1 and show it at
# work: one leader, writes through any node read back from every node, the
# leader killed with SIGKILL and a new one elected with nothing lost, the
# killed node restarted and caught up. The ensemble is left running at the
# end (stop it with the command printed last).
#
#   bash scripts/demo.sh [-d DIR] [-p BASEPORT]   (defaults /tmp/coord-demo, 27000)
#   bash scripts/demo.sh --sim [args]             the simulator's demo instead
set -euo pipefail

unset CDPATH
cd "$(dirname "${BASH_SOURCE[0]}")/.."

dir=${COORD_CLUSTER_DIR:-/tmp/coord-demo}
base=${COORD_BASEPORT:-27000}
if [ "${1:-}" = "--sim" ]; then
    shift
    bash scripts/setup.sh
    bash scripts/build.sh release
    exec build/release/tests/sim/sim --demo "$@"
fi
while [ $# -gt 0 ]; do
    case "$1" in
    -d) dir=$2; shift 2 ;;
    -p) base=$2; shift 2 ;;
    -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "demo.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
done

bash scripts/setup.sh
bash scripts/build.sh release

ctl=build/release/coord/coordctl
export COORD_CLUSTER_DIR=$dir COORD_BASEPORT=$base
cluster() { bash scripts/cluster.sh "$@"; }
say() { printf '\n== %s\n' "$*"; }
run() { printf '$'; printf ' %q' "$@"; printf '\n'; "$@"; }

say "start a 5-node ensemble in $dir"
run bash scripts/cluster.sh start -n 5 -d "$dir" -p "$base"
eps=$(cluster endpoints)
IFS=, read -r -a ep <<<"$eps"

say "every member, its role, term, commit and applied index"
run "$ctl" --endpoints "$eps" status

say "write through a follower-or-leader (node 2), read from every node"
run "$ctl" --endpoints "${ep[1]}" kv put /demo/greeting "hello from node 2"
for e in "${ep[@]}"; do
    printf '%s: ' "$e"
    "$ctl" --endpoints "$e" kv get /demo/greeting
done
run "$ctl" --endpoints "${ep[3]}" kv get /demo/greeting --json

leader=$("$ctl" --endpoints "$eps" status --json | sed -n 's/.*"leader": *\([0-9][0-9]*\).*/\1/p')
say "kill -9 the leader (node $leader) and wait for a new one"
run bash scripts/cluster.sh kill "$leader"
new=""
for _ in $(seq 1 100); do
    new=$("$ctl" --endpoints "$eps" --timeout 300 status --json 2>/dev/null |
        sed -n 's/.*"leader": *\([0-9][0-9]*\).*/\1/p' || true)
    if [ -n "$new" ] && [ "$new" != "$leader" ]; then
        break
    fi
    sleep 0.1
done
[ -n "$new" ] && [ "$new" != "$leader" ] || { echo "demo.sh: no new leader" >&2; exit 1; }
run "$ctl" --endpoints "$eps" status
other=$((leader % 5))
run "$ctl" --endpoints "${ep[$other]}" kv put /demo/after-failover "written while node $leader is down"
run "$ctl" --endpoints "${ep[$other]}" kv get /demo/greeting

say "restart node $leader: it rejoins as a follower and catches up"
run bash scripts/cluster.sh restart "$leader"
for _ in $(seq 1 100); do
    if "$ctl" --endpoints "${ep[$((leader - 1))]}" --timeout 300 kv get /demo/after-failover \
        --serializable >/dev/null 2>&1; then
        break
    fi
    sleep 0.1
done
run "$ctl" --endpoints "${ep[$((leader - 1))]}" kv get /demo/after-failover --serializable
run "$ctl" --endpoints "$eps" status

say "the ensemble keeps running"
echo "endpoints: $eps"
echo "try:  $ctl --endpoints $eps status"
echo "stop: bash scripts/cluster.sh stop -d $dir -p $base"
