#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bad_clients: garbage, frames cut short, frames announcing more than
# max_request_bytes and a client that pipelines requests and never reads.
# After each the node is alive and serves coordctl status, puts and gets;
# refused input closes the connection; the slow client is cut off once it
# stalls for 2 request timeouts (server.h), the node's memory stays bounded
# meanwhile.
# shellcheck source=tests/integration/lib.sh source-path=SCRIPTDIR/../..
. "$(dirname "$0")/lib.sh"
it_setup bad_clients 6

[ -x "$BADCLIENT" ] || it_fail "$BADCLIENT is not built"
# A short request timeout so that the stalled client is dropped within 2 s.
export COORD_EXTRA_CONF='request_timeout_ms = 1000'
max_request_bytes=4194304 # coordd's default (coordd --help)
cl start -n 3 >/dev/null
wait_for 15 "one leader" one_leader 3
target=$LEADER # the leader serves the reads itself: the heaviest case
pid=$(node_pid "$target")
addr=$(ep "$target")
it_log "target: node $target (pid $pid) at $addr"

n_check=0
# node_serves WHAT: node $target is the same live process and serves a
# status, a put and a get through its own client port.
node_serves() {
    local got
    n_check=$((n_check + 1))
    pid_alive "$pid" || it_fail "node $target (pid $pid) died after $1"
    [ "$(node_pid "$target")" = "$pid" ] || it_fail "node $target was restarted after $1"
    ctl_at "$target" status >/dev/null || it_fail "node $target answers no status after $1"
    ctl_at "$target" kv put "/bad/check-$n_check" "$1" >/dev/null ||
        it_fail "node $target refuses a put after $1"
    got=$(ctl_at "$target" kv get "/bad/check-$n_check") ||
        it_fail "node $target refuses a get after $1"
    [ "$got" = "$1" ] || it_fail "node $target read '$got' after $1"
    it_log "node $target serves after $1"
}

node_serves "start"

"$BADCLIENT" garbage "$addr" || it_fail "garbage left a connection open"
node_serves "garbage"

"$BADCLIENT" truncated "$addr" || it_fail "badclient truncated failed"
node_serves "truncated frames"

"$BADCLIENT" oversized "$addr" "$max_request_bytes" || it_fail "an oversized frame was not refused"
node_serves "oversized frames"

# slow_client KEY: a client pipelines gets of KEY and never reads. The node
# must stop reading from it or drop it, keep serving others, and drop it
# with a "client connection closed ... reason=..." line: for too many
# unsent bytes or for no write progress (which comes first depends on how
# the requests were cut into reads).
slow_client() {
    local key=$1 log=$COORD_CLUSTER_DIR/node$target/log before rss_kb slow_pid
    local reason='(unsent_answers_over_bound|no_write_progress)'
    before=$(grep -Ec "client connection closed .*reason=$reason" "$log" || true)
    rm -f "$it_dir/slow.ready" "$it_dir/slow.stop"
    "$BADCLIENT" slow "$addr" --key "$key" --ready "$it_dir/slow.ready" \
        --stop "$it_dir/slow.stop" --max-ms 30000 >"$it_dir/slow.out" 2>&1 &
    slow_pid=$!
    it_bg_pids+=("$slow_pid")
    slow_ready() { [ -f "$it_dir/slow.ready" ]; }
    wait_for 30 "the slow client ($key) to fill the node's buffers" slow_ready
    it_log "$(head -n 1 "$it_dir/slow.out")"
    node_serves "a slow client ($key) filled its buffers"
    rss_kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
    it_log "node $target RSS ${rss_kb} kB with the slow client connected"
    # COORD_SERVER_OUT_MAX (64 MiB) of unsent answers at most, plus the rest.
    [ "$rss_kb" -lt $((512 * 1024)) ] || it_fail "node $target uses ${rss_kb} kB for one slow client"
    dropped() { [ "$(grep -Ec "client connection closed .*reason=$reason" "$log")" -gt "$before" ]; }
    wait_for 15 "the node to drop the slow client ($key)" dropped
    it_log "$(grep -E "client connection closed .*reason=$reason" "$log" | tail -n 1 | cut -d' ' -f5-)"
    touch "$it_dir/slow.stop"
    slow_gone() { ! pid_alive "$slow_pid"; }
    wait_for 35 "the slow client to finish" slow_gone
    wait "$slow_pid" || it_fail "badclient slow: $(cat "$it_dir/slow.out")"
    node_serves "a slow client ($key)"
}

# 60 kB answers: the unsent bytes usually pass COORD_SERVER_OUT_MAX at once.
ctl_at "$target" kv put /bad/big "$(head -c 60000 /dev/zero | tr '\0' x)" >/dev/null ||
    it_fail "put /bad/big"
slow_client /bad/big
# 100-byte answers: the node stops reading at COORD_SERVER_MAX_INFLIGHT
# requests, well below the byte bounds, and drops the client once it has
# taken nothing for 2 request timeouts.
ctl_at "$target" kv put /bad/small "$(head -c 100 /dev/zero | tr '\0' y)" >/dev/null ||
    it_fail "put /bad/small"
slow_client /bad/small

# The others were never disturbed.
wait_for 10 "one leader, three nodes answering" one_leader 3
