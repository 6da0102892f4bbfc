#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Run a local N-node coord ensemble on 127.0.0.1.
#
#   scripts/cluster.sh start [-n N] [-d DIR] [-p BASEPORT]   fresh ensemble (wipes DIR)
#   scripts/cluster.sh stop                                  SIGTERM, then SIGKILL after 10 s
#   scripts/cluster.sh kill ID | pause ID | resume ID        SIGKILL | SIGSTOP | SIGCONT
#   scripts/cluster.sh restart ID                            start node ID again, same data
#   scripts/cluster.sh status                                pid and state of each node
#   scripts/cluster.sh endpoints                             client endpoints, comma-separated
#
# DIR defaults to $COORD_CLUSTER_DIR or /tmp/coord-cluster; BASEPORT to
# $COORD_BASEPORT or 27000: node i serves clients on BASEPORT+i and peers on
# BASEPORT+100+i. Node i keeps its pid in DIR/node<i>/pid and its log in
# DIR/node<i>/log. Processes are only ever signalled by the pids in those files,
# after checking that the pid still runs coordd with this DIR: never by name.
# The coordd binary is $COORDD, or build/release/coord/coordd.
set -euo pipefail

unset CDPATH
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${COORD_CLUSTER_DIR:-/tmp/coord-cluster}
base=${COORD_BASEPORT:-27000}
n=5
coordd=${COORDD:-$root/build/release/coord/coordd}
coordctl=${COORDCTL:-$(dirname "$coordd")/coordctl}

die() {
    echo "cluster.sh: $*" >&2
    exit 1
}

usage() {
    awk 'NR > 2 && !/^#/ { exit } NR > 2 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"
}

parse_opts() {
    while [ $# -gt 0 ]; do
        case "$1" in
        -n) n=$2; shift 2 ;;
        -d) dir=$2; shift 2 ;;
        -p) base=$2; shift 2 ;;
        *) die "unknown option '$1' (try --help)" ;;
        esac
    done
    case "$n" in '' | *[!0-9]*) die "-n needs a number" ;; esac
    [ "$n" -ge 1 ] && [ "$n" -le 16 ] || die "-n must be 1..16"
}

# The node ids present in DIR (node1, node2, ...), so that every command after
# start works on what start made, whatever -n it was given.
node_ids() {
    local d
    for d in "$dir"/node*; do
        [ -d "$d" ] && echo "${d##*/node}"
    done | sort -n
}

# Print the pid of node ID if it runs coordd with this DIR, else nothing.
live_pid() {
    local pidfile="$dir/node$1/pid" pid
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    case "$pid" in '' | *[!0-9]*) return 0 ;; esac
    if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$dir/node$1/"; then
        echo "$pid"
    fi
}

start_node() {
    local i=$1 d="$dir/node$1"
    [ -x "$coordd" ] || die "$coordd not built (bash scripts/build.sh release)"
    [ -n "$(live_pid "$i")" ] && die "node $i already runs (pid $(live_pid "$i"))"
    "$coordd" --config "$d/coordd.conf" >>"$d/log" 2>&1 &
    echo $! >"$d/pid"
}

cmd_start() {
    local i members=""
    parse_opts "$@"
    [ -n "$(node_ids)" ] && cmd_stop
    rm -rf "$dir"
    for ((i = 1; i <= n; i++)); do
        members+="${members:+,}$i=127.0.0.1:$((base + 100 + i))/127.0.0.1:$((base + i))"
    done
    for ((i = 1; i <= n; i++)); do
        mkdir -p "$dir/node$i/data"
        cat >"$dir/node$i/coordd.conf" <<CONF
# written by scripts/cluster.sh
id = $i
data_dir = $dir/node$i/data
peer_addr = 127.0.0.1:$((base + 100 + i))
client_addr = 127.0.0.1:$((base + i))
initial_members = $members
CONF
        start_node "$i"
    done
    wait_leader 30
    echo "started $n nodes in $dir; endpoints $(cmd_endpoints)"
}

# Wait (at most $1 s) until coordctl status names a leader.
wait_leader() {
    local k out
    [ -x "$coordctl" ] || die "$coordctl not built (bash scripts/build.sh release)"
    for ((k = 0; k < $1 * 10; k++)); do
        out=$("$coordctl" --endpoints "$(cmd_endpoints)" --timeout 500 status --json 2>/dev/null || true)
        case "$out" in
        *'"leader": '[0-9]* | *'"leader":'[0-9]*) return 0 ;;
        esac
        sleep 0.1
    done
    die "no leader after $1 s (logs: $dir/node*/log)"
}

# Wait (at most 10 s) for pids to exit, then SIGKILL what is left.
reap() {
    local pid k
    for pid in "$@"; do
        for ((k = 0; k < 100; k++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "cluster.sh: pid $pid ignored SIGTERM for 10 s; SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
}

stop_pid() {
    kill -CONT "$1" 2>/dev/null || true
    kill -TERM "$1" 2>/dev/null || true
    reap "$1"
}

cmd_stop() {
    local i pid pids=()
    for i in $(node_ids); do
        pid=$(live_pid "$i")
        if [ -n "$pid" ]; then
            kill -CONT "$pid" 2>/dev/null || true
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
    done
    reap "${pids[@]}"
    for i in $(node_ids); do
        rm -f "$dir/node$i/pid"
    done
}

signal_node() { # signal_node SIGNAL ID
    local pid
    [ -d "$dir/node$2" ] || die "no node $2 in $dir"
    pid=$(live_pid "$2")
    [ -n "$pid" ] || die "node $2 is not running"
    kill -"$1" "$pid"
}

cmd_status() {
    local i pid state
    for i in $(node_ids); do
        pid=$(live_pid "$i")
        if [ -z "$pid" ]; then
            state=down
        elif [ "$(awk '{print $3}' "/proc/$pid/stat")" = T ]; then
            state=paused
        else
            state=running
        fi
        printf 'node%-3s pid=%-8s %-8s client=127.0.0.1:%s\n' "$i" "${pid:--}" "$state" "$(client_port "$i")"
    done
}

client_port() {
    sed -n 's/^client_addr = 127.0.0.1:\([0-9]*\)$/\1/p' "$dir/node$1/coordd.conf"
}

cmd_endpoints() {
    local i out=""
    for i in $(node_ids); do
        out+="${out:+,}127.0.0.1:$(client_port "$i")"
    done
    echo "$out"
}

[ $# -ge 1 ] || { usage; exit 2; }
cmd=$1
shift
case "$cmd" in
start) cmd_start "$@" ;;
stop) parse_opts "$@"; cmd_stop ;;
kill) [ $# -ge 1 ] || die "kill needs a node id"; id=$1; shift; parse_opts "$@"; signal_node KILL "$id" ;;
pause) [ $# -ge 1 ] || die "pause needs a node id"; id=$1; shift; parse_opts "$@"; signal_node STOP "$id" ;;
resume) [ $# -ge 1 ] || die "resume needs a node id"; id=$1; shift; parse_opts "$@"; signal_node CONT "$id" ;;
restart)
    [ $# -ge 1 ] || die "restart needs a node id"
    id=$1; shift; parse_opts "$@"
    [ -d "$dir/node$id" ] || die "no node $id in $dir"
    pid=$(live_pid "$id")
    if [ -n "$pid" ]; then
        stop_pid "$pid"
    fi
    start_node "$id"
    ;;
status) parse_opts "$@"; cmd_status ;;
endpoints) parse_opts "$@"; cmd_endpoints ;;
-h | --help | help) usage ;;
*) die "unknown command '$cmd' (try --help)" ;;
esac
