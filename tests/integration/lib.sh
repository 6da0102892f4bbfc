# SPDX-License-Identifier: MIT
# lib.sh: what the integration tests share. A test sources it, calls
# `it_setup NAME K`, and then drives a local ensemble with cluster.sh
# (`cl`), coordctl (`ctl`, `ctl_at`) and ackload. Every wait is a poll with a
# deadline (`wait_for`); on failure the EXIT trap prints the tail of every
# log; it always stops the ensemble and removes the test's directory (set
# COORD_IT_KEEP=1 to keep it).
#
# Binaries come from $COORDD, $COORDCTL, $ACKLOAD and $BADCLIENT (ctest sets
# them), else from build/ci.

set -euo pipefail
unset CDPATH

it_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export COORDD=${COORDD:-$it_root/build/ci/coord/coordd}
export COORDCTL=${COORDCTL:-$it_root/build/ci/coord/coordctl}
ACKLOAD=${ACKLOAD:-$it_root/build/ci/tests/integration/ackload}
BADCLIENT=${BADCLIENT:-$it_root/build/ci/tests/integration/badclient}

it_name=""
it_dir=""
it_t0=0
it_bg_pids=() # background helpers this test started; stopped by the trap
ack_pid=""
LEADER="" # set by one_leader

now_ms() {
    local t=${EPOCHREALTIME/./}
    echo $((t / 1000))
}

it_log() {
    printf '[%6.1fs] %s\n' "$(($(now_ms) - it_t0))e-3" "$*"
}

it_fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# it_setup NAME K: directory /tmp/coord-it-NAME-PID (the ensemble in its
# cluster/ subdirectory, which cluster.sh start wipes) and base port
# 30000 + 200*K: tests with distinct K can run at the same time. K is 0..13,
# so that every port (up to base + 100 + 16) stays below Linux's ephemeral
# range (32768 and up), where outgoing connections could take it first.
it_setup() {
    local b
    it_name=$1
    it_dir=/tmp/coord-it-$1-$$
    it_t0=$(now_ms)
    case "$2" in [0-9] | 1[0-3]) ;; *) it_fail "it_setup: K must be 0..13, not '$2'" ;; esac
    export COORD_CLUSTER_DIR=$it_dir/cluster
    export COORD_BASEPORT=$((30000 + 200 * $2))
    for b in "$COORDD" "$COORDCTL" "$ACKLOAD"; do
        [ -x "$b" ] || it_fail "$b is not built (bash scripts/build.sh ci)"
    done
    it_reap_stale "$1"
    rm -rf "$it_dir"
    mkdir -p "$it_dir"
    trap it_cleanup EXIT
    trap 'exit 130' INT TERM
    it_log "it_$it_name: dir $it_dir, base port $COORD_BASEPORT"
}

# it_reap_stale NAME: a run of this test that was killed (a ctest timeout
# sends SIGKILL, so its trap never ran) leaves its nodes holding this test's
# ports. Stop them (through cluster.sh's pid files) and remove the directory.
it_reap_stale() {
    local d pid
    for d in /tmp/coord-it-"$1"-*; do
        [ -d "$d" ] || continue
        pid=${d##*-}
        case "$pid" in '' | *[!0-9]*) continue ;; esac
        if [ "$pid" != $$ ] && ! pid_alive "$pid"; then
            echo "it_$1: stopping what a killed run (pid $pid) left in $d"
            COORD_CLUSTER_DIR=$d/cluster cl stop >/dev/null 2>&1 || true
            rm -rf "$d"
        fi
    done
}

it_dump_logs() {
    local d f
    echo "==== it_$it_name failed; cluster status:"
    cl status 2>&1 || true
    for d in "$COORD_CLUSTER_DIR"/node*; do
        [ -f "$d/log" ] || continue
        echo "==== tail of $d/log"
        tail -n 40 "$d/log"
    done
    for f in "$it_dir"/*.err "$it_dir"/*.out; do
        [ -f "$f" ] || continue
        echo "==== tail of $f"
        tail -n 15 "$f"
    done
}

it_cleanup() {
    local rc=$? pid k
    set +e
    trap - EXIT
    for pid in "${it_bg_pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null
        for ((k = 0; k < 100; k++)); do
            pid_alive "$pid" || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    [ -d "$COORD_CLUSTER_DIR" ] && cl stop >/dev/null 2>&1
    # A node that crashed or tripped a sanitizer fails the test, whenever
    # it happened (even in the final stop).
    if [ "$rc" -eq 0 ] && it_crashed; then
        echo "FAIL: a node crashed or reported a sanitizer error:" >&2
        grep -EHn "$it_crash_re" "$COORD_CLUSTER_DIR"/node*/log | head -n 20 >&2
        rc=1
    fi
    [ "$rc" -eq 0 ] || it_dump_logs
    if [ "${COORD_IT_KEEP:-0}" = 1 ]; then
        echo "kept $it_dir"
    else
        rm -rf "$it_dir"
    fi
    if [ "$rc" -eq 0 ]; then
        it_log "it_$it_name: PASS"
    else
        it_log "it_$it_name: FAIL (exit $rc)"
    fi
    exit "$rc"
}

# What a crash, a failed assertion (raft/base/assert.c) or a sanitizer leaves
# in a node's log.
it_crash_re='assertion failed|AddressSanitizer|LeakSanitizer|ThreadSanitizer|runtime error:'
it_crashed() {
    grep -Eqs "$it_crash_re" "$COORD_CLUSTER_DIR"/node*/log
}

# A running (not zombie) process.
pid_alive() {
    [ -r "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

# wait_for SECS WHAT CMD [ARGS...]: poll CMD every 0.1 s until it succeeds;
# fail the test naming WHAT after SECS seconds.
wait_for() {
    local secs=$1 what=$2 deadline
    shift 2
    deadline=$(($(now_ms) + secs * 1000))
    while ! "$@"; do
        if [ "$(now_ms)" -ge "$deadline" ]; then
            it_fail "timed out after ${secs}s waiting for: $what"
        fi
        sleep 0.1
    done
}

# ---- the ensemble -------------------------------------------------------------------------

cl() { bash "$it_root/scripts/cluster.sh" "$@"; }

# The client endpoint of node ID.
ep() { echo "127.0.0.1:$((COORD_BASEPORT + $1))"; }
# The peer address of node ID.
peer() { echo "127.0.0.1:$((COORD_BASEPORT + 100 + $1))"; }
eps() { cl endpoints; }

# ids_except N ID...: the ids 1..N but the given ones, one a line.
ids_except() {
    local n=$1 i
    shift
    for ((i = 1; i <= n; i++)); do
        case " $* " in *" $i "*) ;; *) echo "$i" ;; esac
    done
}

# eps_except N ID...: the endpoints of ids_except N ID...
eps_except() {
    local sel
    mapfile -t sel < <(ids_except "$@")
    eps_of "${sel[@]}"
}

# Endpoints of the given node ids, comma-separated.
eps_of() {
    local i out=""
    for i in "$@"; do
        out+="${out:+,}$(ep "$i")"
    done
    echo "$out"
}

ctl() { "$COORDCTL" --endpoints "$(eps)" --timeout 2000 "$@"; }

# ctl_at ID ARGS...: coordctl talking to node ID only.
ctl_at() {
    local id=$1
    shift
    "$COORDCTL" --endpoints "$(ep "$id")" --timeout 2000 "$@"
}

# The pid of node ID from its pid file, if it runs.
node_pid() {
    local f="$COORD_CLUSTER_DIR/node$1/pid" pid
    [ -f "$f" ] || return 0
    pid=$(cat "$f")
    if pid_alive "$pid"; then
        echo "$pid"
    fi
}

# status_rows [ENDPOINTS]: one "id role term commit applied" line per member
# (coordctl status --json; fields "null" for a node that did not answer).
status_rows() {
    "$COORDCTL" --endpoints "${1:-$(eps)}" --timeout 500 status --json 2>/dev/null |
        grep -o '{"id":[^{}]*}' |
        sed -E 's/.*"id":([0-9a-z]+).*"role":"([^"]*)".*"term":([0-9a-z]+).*"commit_index":([0-9a-z]+).*"applied_index":([0-9a-z]+).*/\1 \2 \3 \4 \5/'
}

# one_leader [N_UP [ENDPOINTS]]: exactly one member says it leads, every member
# that answered has the same term and (if given) N_UP members answered. Sets
# LEADER.
one_leader() {
    local rows n_up leaders terms
    rows=$(status_rows "${2:-}")
    [ -n "$rows" ] || return 1
    n_up=$(awk '$2 != "down"' <<<"$rows" | wc -l)
    leaders=$(awk '$2 == "leader" { print $1 }' <<<"$rows")
    terms=$(awk '$2 != "down" { print $3 }' <<<"$rows" | sort -u | wc -l)
    [ "$(wc -w <<<"$leaders")" -eq 1 ] && [ "$terms" -eq 1 ] || return 1
    [ -z "${1:-}" ] || [ "$n_up" -eq "$1" ] || return 1
    LEADER=$leaders
}

# A leader other than $1 (one_leader, LEADER set).
new_leader_not() {
    one_leader "" "${2:-}" && [ "$LEADER" != "$1" ]
}

# role_of ID: the role node ID reports for itself ("down" if it did not answer).
role_of() {
    status_rows "$(ep "$1")" | awk -v id="$1" '$1 == id { print $2 }'
}

# applied_of ID / commit_of ID: node ID's own applied and commit index.
applied_of() {
    status_rows "$(ep "$1")" | awk -v id="$1" '$1 == id { print $5 }'
}

# caught_up ID LEADER_ID: node ID has applied what the leader has committed.
caught_up() {
    local rows lc a
    rows=$(status_rows)
    lc=$(awk -v id="$2" '$1 == id { print $4 }' <<<"$rows")
    a=$(awk -v id="$1" '$1 == id { print $5 }' <<<"$rows")
    case "$lc$a" in '' | *[!0-9]*) return 1 ;; esac
    [ "$a" -ge "$lc" ]
}

# ---- ackload --------------------------------------------------------------------------------

# start_ackload OUT [ENDPOINTS]: acknowledged writes to OUT until stop_ackload.
start_ackload() {
    rm -f "$it_dir/ackload.stop"
    "$ACKLOAD" run --endpoints "${2:-$(eps)}" --out "$1" --stop-file "$it_dir/ackload.stop" \
        --inflight 32 >"$it_dir/ackload.out" 2>"$it_dir/ackload.err" &
    ack_pid=$!
    it_bg_pids+=("$ack_pid")
    it_log "ackload started (pid $ack_pid) on ${2:-$(eps)}"
}

# The lines (acknowledged keys) in FILE.
count_lines() {
    if [ -f "$1" ]; then
        wc -l <"$1"
    else
        echo 0
    fi
}

# lines_above FILE N: FILE has more than N lines.
lines_above() { [ "$(count_lines "$1")" -gt "$2" ]; }

ack_gone() { ! pid_alive "$ack_pid"; }

stop_ackload() {
    local rc=0
    touch "$it_dir/ackload.stop"
    wait_for 20 "ackload to stop" ack_gone
    wait "$ack_pid" || rc=$?
    it_log "ackload stopped: $(cat "$it_dir/ackload.out")"
    [ "$rc" -eq 0 ] || it_fail "ackload exited $rc"
}

# verify_acks FILE ID...: every key of FILE reads back through each node
# (linearizable gets, the client pinned to that node).
verify_acks() {
    local file=$1 id out
    shift
    [ "$(count_lines "$file")" -gt 0 ] || it_fail "no acknowledged write in $file"
    for id in "$@"; do
        out=$("$ACKLOAD" verify --endpoints "$(ep "$id")" --pin --in "$file" ${VERIFY_FLAGS:+"$VERIFY_FLAGS"}) ||
            it_fail "node $id lost acknowledged writes: $(head -n 20 <<<"$out")"$'\n'"$(tail -n 1 <<<"$out")"
        it_log "node $id: $(tail -n 1 <<<"$out")"
    done
}
