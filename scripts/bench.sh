#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Measure coord against etcd and ZooKeeper with the peers' workload.
#
#   scripts/bench.sh [--quick]
#
# Builds coord (release), then for each repetition and each system: starts a
# fresh 5-node cluster, warms it up as the peers benchmark does (write
# WARMUP_OPS ops at key offset 1000000000, then WARMUP_OPS/2 reads), runs the
# write, read and sread workloads, and stops it. Prints one markdown table
# (median over repetitions of ops/s and p99, and coord's throughput ratio to
# each peer) and saves the raw RESULT lines, the table and the logs in
# build/bench-results/<timestamp>/.
#
# coord runs coordbench against scripts/cluster.sh; etcd and ZooKeeper run
# the peers' bin/lg_etcd and bin/lg_zk against their cluster.sh (the peers
# folder is $PEERS_DIR, else ../shared/peers next to the repository; its
# setup.sh runs when its binaries are missing).
#
# Environment (defaults in brackets):
#   SYSTEMS ["coord etcd zk"]  REPS [2]  NODES [5]  OPS [20000]  VSIZE [256]
#   CONC [64]  CONNS [= NODES]  NKEYS [1000]  WARMUP_OPS [40000]
#   OP_TIMEOUT_MS [2000]  PEERS_DIR  OUTDIR  SKIP_BUILD [0]
#   COORD_BENCH_DIR [/tmp/coord-bench] and COORD_BENCH_BASEPORT [27400]: the coord
#   cluster's data and ports (not scripts/cluster.sh's defaults, so that a
#   cluster started by hand is left alone)
# --quick: REPS=1, OPS=5000, WARMUP_OPS=10000 (each unless set).
# Every process it starts is stopped by pid on exit, also on ^C.
set -uo pipefail

unset CDPATH
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

usage() {
    awk 'NR > 2 && !/^#/ { exit } NR > 2 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"
}

quick=0
for arg in "$@"; do
    case "$arg" in
    --quick) quick=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "bench.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
    esac
done

if [ "$quick" -eq 1 ]; then
    REPS=${REPS:-1}
    OPS=${OPS:-5000}
    WARMUP_OPS=${WARMUP_OPS:-10000}
fi
SYSTEMS=${SYSTEMS:-coord etcd zk}
REPS=${REPS:-2}
NODES=${NODES:-5}
OPS=${OPS:-20000}
VSIZE=${VSIZE:-256}
CONC=${CONC:-64}
CONNS=${CONNS:-$NODES}
NKEYS=${NKEYS:-1000}
WARMUP_OPS=${WARMUP_OPS:-40000}
OP_TIMEOUT_MS=${OP_TIMEOUT_MS:-2000}
SKIP_BUILD=${SKIP_BUILD:-0}
PEERS_DIR=${PEERS_DIR:-$root/../shared/peers}
COORD_BENCH_DIR=${COORD_BENCH_DIR:-/tmp/coord-bench}
COORD_BENCH_BASEPORT=${COORD_BENCH_BASEPORT:-27400}
OUTDIR=${OUTDIR:-$root/build/bench-results/$(date +%Y%m%d-%H%M%S)}
LGBENCH_ROOT=${LGBENCH_ROOT:-/tmp}
WORKLOADS="write read sread"
LG_TIMEOUT_S=300 # one load-generator run, as in the peers' run-all.sh

bin_dir=$root/build/release/coord
res=$OUTDIR/results.txt

die() {
    echo "bench.sh: $*" >&2
    exit 1
}

for n in "$REPS" "$NODES" "$OPS" "$VSIZE" "$CONC" "$CONNS" "$NKEYS" "$WARMUP_OPS"; do
    case "$n" in '' | *[!0-9]*) die "REPS, NODES, OPS, VSIZE, CONC, CONNS, NKEYS and WARMUP_OPS are numbers" ;; esac
done
for sys in $SYSTEMS; do
    case "$sys" in coord | etcd | zk) ;; *) die "SYSTEMS: unknown system '$sys' (coord, etcd, zk)" ;; esac
done
has() { [[ " $SYSTEMS " == *" $1 "* ]]; }

# --- cleanup: only what this script started, by pid or pid file ------------
started=()  # systems whose cluster may be running
lg_pid=""   # the load generator running now
cleanup() {
    local sys
    trap - EXIT INT TERM
    if [ -n "$lg_pid" ]; then
        kill -TERM "$lg_pid" 2>/dev/null
        wait "$lg_pid" 2>/dev/null
    fi
    for sys in "${started[@]}"; do
        stop_cluster "$sys" >/dev/null 2>&1
    done
}
trap cleanup EXIT
trap 'echo "bench.sh: interrupted" >&2; exit 130' INT TERM

mkdir -p "$OUTDIR" || die "cannot create $OUTDIR"
: >"$res"

# --- build and setup ---------------------------------------------------------
if has coord && [ "$SKIP_BUILD" != 1 ]; then
    echo "bench.sh: building coord (release), log in $OUTDIR/build.log" >&2
    bash scripts/build.sh release >"$OUTDIR/build.log" 2>&1 ||
        die "build failed; see $OUTDIR/build.log"
fi
if has coord; then
    for b in coordd coordctl coordbench; do
        [ -x "$bin_dir/$b" ] || die "$bin_dir/$b is missing (bash scripts/build.sh release)"
    done
fi
if has etcd || has zk; then
    [ -d "$PEERS_DIR" ] || die "no peers folder at $PEERS_DIR (set PEERS_DIR)"
    PEERS_DIR=$(cd "$PEERS_DIR" && pwd)
    if [ ! -x "$PEERS_DIR/bin/lg_etcd" ] || [ ! -x "$PEERS_DIR/bin/lg_zk" ]; then
        echo "bench.sh: running $PEERS_DIR/setup.sh" >&2
        "$PEERS_DIR/setup.sh" >"$OUTDIR/peers-setup.log" 2>&1 ||
            die "peers setup failed; see $OUTDIR/peers-setup.log"
    fi
fi

# --- clusters ------------------------------------------------------------------
lg_bin() {
    case "$1" in
    coord) echo "$bin_dir/coordbench" ;;
    etcd) echo "$PEERS_DIR/bin/lg_etcd" ;;
    zk) echo "$PEERS_DIR/bin/lg_zk" ;;
    esac
}

endpoints() {
    case "$1" in
    coord) scripts/cluster.sh endpoints -d "$COORD_BENCH_DIR" -p "$COORD_BENCH_BASEPORT" ;;
    *) cat "$LGBENCH_ROOT/lgbench-$1/endpoints" ;;
    esac
}

# Wait (at most 60 s) until every coord node answers and one leads.
wait_coord() {
    local eps out k up
    eps=$(endpoints coord)
    for ((k = 0; k < 300; k++)); do
        out=$("$bin_dir/coordctl" --endpoints "$eps" --timeout 1000 status --json 2>/dev/null)
        up=$(grep -o '"role":"\(leader\|follower\)"' <<<"$out" | wc -l)
        if grep -q '"leader":[0-9]' <<<"$out" && [ "$up" -eq "$NODES" ]; then
            echo "bench.sh: coord N=$NODES has a leader" >&2
            return 0
        fi
        sleep 0.2
    done
    echo "bench.sh: coord did not elect a leader with all $NODES nodes up in 60 s:" >&2
    "$bin_dir/coordctl" --endpoints "$eps" --timeout 1000 status >&2
    return 1
}

start_cluster() {
    started+=("$1")
    case "$1" in
    coord)
        COORDD="$bin_dir/coordd" scripts/cluster.sh start -n "$NODES" -d "$COORD_BENCH_DIR" \
            -p "$COORD_BENCH_BASEPORT" >&2 &&
            wait_coord
        ;;
    *) (cd "$PEERS_DIR" && ./cluster.sh start "$1" "$NODES") >&2 ;;
    esac
}

stop_cluster() {
    case "$1" in
    coord) scripts/cluster.sh stop -d "$COORD_BENCH_DIR" -p "$COORD_BENCH_BASEPORT" ;;
    *) (cd "$PEERS_DIR" && ./cluster.sh stop "$1") ;;
    esac
}

# Keep the tail of each server log of a run next to the results.
save_logs() { # save_logs SYS REP
    local d dir=$OUTDIR/serverlogs/$1-rep$2 from
    case "$1" in coord) from=$COORD_BENCH_DIR ;; *) from=$LGBENCH_ROOT/lgbench-$1 ;; esac
    mkdir -p "$dir"
    for d in "$from"/node*; do
        [ -f "$d/log" ] && tail -c 30000 "$d/log" >"$dir/${d##*/}.log"
    done
}

# Run one load generator in the background (so that ^C reaches the trap at
# once) and wait for it. Its stdout goes to $1, stderr to $2.
run_bounded() { # run_bounded OUT ERR CMD...
    local out=$1 err=$2 rc
    shift 2
    timeout "$LG_TIMEOUT_S" "$@" >"$out" 2>"$err" &
    lg_pid=$!
    wait "$lg_pid"
    rc=$?
    lg_pid=""
    return "$rc"
}

# run_lg SYS REP WORKLOAD ARGS...: one measured run, its RESULT line kept.
run_lg() {
    local sys=$1 rep=$2 wl=$3 eps log rc
    shift 3
    eps=$(endpoints "$sys")
    log=$OUTDIR/$sys-rep$rep-$wl.log
    run_bounded "$log.out" "$log" "$(lg_bin "$sys")" --endpoints "$eps" --workload "$wl" \
        --vsize "$VSIZE" --conns "$CONNS" --extra "rep=$rep" "$@"
    rc=$?
    if grep -q '^RESULT' "$log.out"; then
        grep '^RESULT' "$log.out" | tee -a "$res"
    else
        echo "RESULT system=$sys nodes=$NODES workload=$wl status=failed rc=$rc rep=$rep" | tee -a "$res"
        tail -5 "$log" >&2
    fi
    rm -f "$log.out"
    [ -s "$log" ] || rm -f "$log"
}

# The peers' warm-up: writes to a separate key range, then linearizable reads.
warm_up() { # warm_up SYS REP
    local sys=$1 eps out=$OUTDIR/$1-rep$2-warmup.txt
    [ "$WARMUP_OPS" -gt 0 ] || return 0
    eps=$(endpoints "$sys")
    run_bounded "$out.1" "$out.2" "$(lg_bin "$sys")" --endpoints "$eps" --workload write \
        --ops "$WARMUP_OPS" --key-offset 1000000000 --vsize "$VSIZE" --conc "$CONC"
    run_bounded "$out.3" "$out.4" "$(lg_bin "$sys")" --endpoints "$eps" --workload read \
        --ops "$((WARMUP_OPS / 2))" --vsize "$VSIZE" --conc "$CONC" --nkeys "$NKEYS"
    cat "$out.1" "$out.2" "$out.3" "$out.4" >"$out" 2>/dev/null
    rm -f "$out.1" "$out.2" "$out.3" "$out.4"
}

{
    echo "# bench.sh $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores, $(uname -r), coord $(git rev-parse --short HEAD 2>/dev/null)"
    echo "# SYSTEMS='$SYSTEMS' REPS=$REPS NODES=$NODES OPS=$OPS VSIZE=$VSIZE CONC=$CONC CONNS=$CONNS NKEYS=$NKEYS WARMUP_OPS=$WARMUP_OPS"
} | tee -a "$res"

for rep in $(seq 1 "$REPS"); do
    for sys in $SYSTEMS; do
        echo "== $sys N=$NODES rep=$rep" >&2
        if ! start_cluster "$sys"; then
            echo "RESULT system=$sys nodes=$NODES workload=start status=failed rep=$rep" | tee -a "$res"
            save_logs "$sys" "$rep"
            stop_cluster "$sys" >&2
            continue
        fi
        warm_up "$sys" "$rep"
        for wl in $WORKLOADS; do
            case "$wl" in
            write) run_lg "$sys" "$rep" write --ops "$OPS" --conc "$CONC" ;;
            *) run_lg "$sys" "$rep" "$wl" --ops "$OPS" --conc "$CONC" --nkeys "$NKEYS" ;;
            esac
        done
        save_logs "$sys" "$rep"
        stop_cluster "$sys" >&2
    done
done
echo "# finished $(date -u +%Y-%m-%dT%H:%M:%SZ), ${SECONDS}s" | tee -a "$res"

# --- the table ------------------------------------------------------------------
# Median over repetitions (the mean of the middle two for an even count) of
# ops_per_s and p99_us, per system and workload; failed runs are left out.
summarize() {
    awk -v systems="$SYSTEMS" -v workloads="$WORKLOADS" '
    function field(name,   i, kv) {
        for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == name) return kv[2] }
        return ""
    }
    function median(list,   a, n, i, j, t) {
        n = split(list, a, " ")
        if (n == 0) return ""
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    /^RESULT/ {
        if (field("status") != "") next
        k = field("system") SUBSEP field("workload")
        ops[k] = ops[k] " " field("ops_per_s"); p99[k] = p99[k] " " field("p99_us")
        if (field("errors") + 0 > 0) errs = errs sprintf("\n%s %s rep %s: errors=%s of %s", field("system"), field("workload"), field("rep"), field("errors"), field("ops"))
    }
    END {
        ns = split(systems, sys, " "); nw = split(workloads, wl, " ")
        head = "| workload |"; line = "|---|"
        for (s = 1; s <= ns; s++) { head = head " " sys[s] " ops/s |"; line = line "---|" }
        for (s = 1; s <= ns; s++) { head = head " " sys[s] " p99 ms |"; line = line "---|" }
        for (s = 1; s <= ns; s++) if (sys[s] != "coord" && systems ~ /coord/) { head = head " coord/" sys[s] " |"; line = line "---|" }
        print head; print line
        for (w = 1; w <= nw; w++) {
            row = "| " wl[w] " |"
            for (s = 1; s <= ns; s++) { m = median(ops[sys[s], wl[w]]); mo[s] = m; row = row " " (m == "" ? "-" : sprintf("%.0f", m)) " |" }
            for (s = 1; s <= ns; s++) { m = median(p99[sys[s], wl[w]]); row = row " " (m == "" ? "-" : sprintf("%.1f", m / 1000)) " |" }
            c = median(ops["coord", wl[w]])
            for (s = 1; s <= ns; s++) if (sys[s] != "coord" && systems ~ /coord/)
                row = row " " ((c == "" || mo[s] == "" || mo[s] == 0) ? "-" : sprintf("%.1fx", c / mo[s])) " |"
            print row
        }
        if (errs != "") print "\nRuns with failed ops:" errs
    }' "$@"
}

{
    echo "N=$NODES, W=$OPS ops, V=$VSIZE B, C=$CONC, conns=$CONNS, NKEYS=$NKEYS, warm-up $WARMUP_OPS writes + $((WARMUP_OPS / 2)) reads; median of $REPS repetition(s); coord/x is the ops/s ratio."
    echo
    summarize "$res"
} | tee "$OUTDIR/summary.md"
echo
echo "bench.sh: raw RESULT lines in $res" >&2
