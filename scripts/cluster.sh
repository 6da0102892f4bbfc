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
#   scripts/cluster.sh join ID                               start node ID (1..99) with no
#                                                            initial_members: it waits to be added
#   scripts/cluster.sh wait-leader [SECS]                    wait (30 s) until a leader is known
#
# Options (-n, -d, -p) may come before or after the command. DIR defaults to
# $COORD_CLUSTER_DIR or /tmp/coord-cluster; BASEPORT to $COORD_BASEPORT, else to
# what the nodes in DIR use, else 27000: node i serves clients on BASEPORT+i and
# peers on BASEPORT+100+i. $COORD_EXTRA_CONF (KEY = VALUE lines) is appended to
# every coordd.conf that start and join write. Node i keeps its pid in
# DIR/node<i>/pid and its log in DIR/node<i>/log. Processes are only ever
# signalled by the pids in those files, after checking that the pid still runs
# coordd with this DIR: never by name. The coordd binary is $COORDD, or
# build/release/coord/coordd; coordctl is $COORDCTL, or next to coordd.
set -euo pipefail

unset CDPATH
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${COORD_CLUSTER_DIR:-/tmp/coord-cluster}
base=${COORD_BASEPORT:-}
n=5
coordd=${COORDD:-$root/build/release/coord/coordd}
coordctl=${COORDCTL:-$(dirname "$coordd")/coordctl}
args=() # the command and its operands, options taken out

die() {
    echo "cluster.sh: $*" >&2
    exit 1
}

usage() {
    awk 'NR > 2 && !/^#/ { exit } NR > 2 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"
}

# Take -n, -d and -p from anywhere on the line; the rest goes to args.
parse_opts() {
    while [ $# -gt 0 ]; do
        case "$1" in
        -n | -d | -p) [ $# -ge 2 ] || die "$1 needs a value" ;;
        esac
        case "$1" in
        -n) n=$2; shift 2 ;;
        -d) dir=$2; shift 2 ;;
        -p) base=$2; shift 2 ;;
        -h | --help) args+=(help); shift ;;
        -*) die "unknown option '$1' (try --help)" ;;
        *) args+=("$1"); shift ;;
        esac
    done
    case "$n" in '' | *[!0-9]*) die "-n needs a number" ;; esac
    [ "$n" -ge 1 ] && [ "$n" -le 16 ] || die "-n must be 1..16"
    case "$base" in *[!0-9]*) die "-p needs a port number" ;; esac
    case "$dir" in '' | / | /tmp | /tmp/) die "refusing DIR '$dir'" ;; esac
}

# The base port: -p or $COORD_BASEPORT, else what DIR's nodes were given
# (client port of node i minus i), else 27000.
resolve_base() {
    local i port
    [ -n "$base" ] && return 0
    for i in $(node_ids); do
        port=$(client_port "$i")
        if [ -n "$port" ]; then
            base=$((port - i))
            return 0
        fi
    done
    base=27000
}

# A node id operand: digits, 1..99 (so that client and peer ports never meet).
check_id() {
    case "$1" in '' | *[!0-9]*) die "node id '$1' is not a number" ;; esac
    [ "$1" -ge 1 ] && [ "$1" -le 99 ] || die "node id must be 1..99"
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

# write_conf ID [MEMBERS]: node ID's coordd.conf; no MEMBERS: it waits to be added.
write_conf() {
    local i=$1 members=${2:-}
    mkdir -p "$dir/node$i/data"
    {
        echo "# written by scripts/cluster.sh"
        echo "id = $i"
        echo "data_dir = $dir/node$i/data"
        echo "peer_addr = 127.0.0.1:$((base + 100 + i))"
        echo "client_addr = 127.0.0.1:$((base + i))"
        if [ -n "$members" ]; then
            echo "initial_members = $members"
        fi
        if [ -n "${COORD_EXTRA_CONF:-}" ]; then
            echo "# from \$COORD_EXTRA_CONF"
            printf '%s\n' "$COORD_EXTRA_CONF"
        fi
    } >"$dir/node$i/coordd.conf"
}

cmd_start() {
    local i members=""
    [ -n "$(node_ids)" ] && cmd_stop
    [ -n "$base" ] || base=27000
    rm -rf "$dir"
    for ((i = 1; i <= n; i++)); do
        members+="${members:+,}$i=127.0.0.1:$((base + 100 + i))/127.0.0.1:$((base + i))"
    done
    for ((i = 1; i <= n; i++)); do
        write_conf "$i" "$members"
        start_node "$i"
    done
    wait_leader 30
    echo "started $n nodes in $dir; endpoints $(cmd_endpoints)"
}

# Start node ID with no initial_members; it waits until a leader adds it.
cmd_join() {
    local i=$1 eps
    check_id "$i"
    eps=$(cmd_endpoints)
    [ -n "$eps" ] || die "no ensemble in $dir (start one first)"
    [ -e "$dir/node$i" ] && die "node $i exists in $dir (use restart $i)"
    resolve_base
    write_conf "$i"
    start_node "$i"
    wait_answers "$i" 10
    echo "node $i started in $dir/node$i, waiting to be added; add it with:"
    echo "  $coordctl --endpoints $eps members add $i 127.0.0.1:$((base + 100 + i)) 127.0.0.1:$((base + i))"
    echo "  $coordctl --endpoints $eps members promote $i"
}

# wait_answers ID SECS: wait until node ID's client port answers a status.
wait_answers() {
    local k
    [ -x "$coordctl" ] || die "$coordctl not built (bash scripts/build.sh release)"
    for ((k = 0; k < $2 * 10; k++)); do
        # Not live_pid: until the forked shell has exec'ed coordd, its
        # command line is still this script's.
        running "$(cat "$dir/node$1/pid")" || die "node $1 exited (log: $dir/node$1/log)"
        if "$coordctl" --endpoints "127.0.0.1:$(client_port "$1")" --timeout 500 status >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    die "node $1 does not answer after $2 s (log: $dir/node$1/log)"
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

# Whether pid runs. An exited node is not our child, so it may stay a zombie
# until init reaps it: that counts as gone.
running() {
    local state
    state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "$state" != Z ]
}

# Wait (at most 10 s) for pids to exit, then SIGKILL what is left.
reap() {
    local pid k
    for pid in "$@"; do
        for ((k = 0; k < 200; k++)); do
            running "$pid" || break
            sleep 0.05
        done
        if running "$pid"; then
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

parse_opts "$@"
[ ${#args[@]} -ge 1 ] || { usage; exit 2; }
cmd=${args[0]}
id=${args[1]:-}
need_id() {
    [ -n "$id" ] || die "$cmd needs a node id"
}
case "$cmd" in
kill | pause | resume | restart | join | wait-leader) max_args=2 ;;
*) max_args=1 ;;
esac
[ ${#args[@]} -le "$max_args" ] || die "too many operands for $cmd: ${args[*]:$max_args}"
case "$cmd" in
start) cmd_start ;;
stop) cmd_stop ;;
kill) need_id; signal_node KILL "$id" ;;
pause) need_id; signal_node STOP "$id" ;;
resume) need_id; signal_node CONT "$id" ;;
restart)
    need_id
    [ -d "$dir/node$id" ] || die "no node $id in $dir"
    pid=$(live_pid "$id")
    if [ -n "$pid" ]; then
        stop_pid "$pid"
    fi
    start_node "$id"
    ;;
status) cmd_status ;;
endpoints) cmd_endpoints ;;
join) need_id; cmd_join "$id" ;;
wait-leader)
    secs=${id:-30}
    case "$secs" in '' | *[!0-9]*) die "wait-leader needs whole seconds" ;; esac
    wait_leader "$secs"
    ;;
help) usage ;;
*) die "unknown command '$cmd' (try --help)" ;;
esac
