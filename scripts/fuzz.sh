#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build the fuzz flavour's targets (build/fuzz: clang, libFuzzer, ASan and
# UBSan) and fuzz each one for a bounded time.
#
#   scripts/fuzz.sh [--seconds N] [--seed S] [TARGET...]
#
#   --seconds N  fuzz each target for N seconds (-max_total_time; default 30)
#   --seed S     libFuzzer's -seed (default 1), printed with each run
#   TARGET       fuzz_client_frame, fuzz_peer_frame, fuzz_log_open, fuzz_config,
#                fuzz_cmd, fuzz_raft_step (the "fuzz_" may be left out);
#                default: all of them, one after the other
#
# Each target starts from its committed seeds (tests/fuzz/corpus/<target>/,
# never written to) and a working corpus kept between runs
# (build/fuzz/corpus/<target>/, where new inputs go). Crashes, leaks,
# timeouts and out-of-memory inputs are saved in build/fuzz/artifacts/<target>/
# and libFuzzer's whole output in build/fuzz/artifacts/<target>/fuzz.log.
# The exit status is 1 when any target found something (each one is named
# with its artifact and the command that replays it), 2 on a usage or build
# error, else 0.
set -euo pipefail

unset CDPATH
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here/.."

all=(fuzz_client_frame fuzz_peer_frame fuzz_log_open fuzz_config fuzz_cmd fuzz_raft_step)
seconds=30
seed=1
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
    --seconds | --seed)
        if [ $# -lt 2 ] || ! [[ "$2" =~ ^[0-9]+$ ]]; then
            echo "fuzz.sh: $1 needs a number (try --help)" >&2
            exit 2
        fi
        if [ "$1" = --seconds ]; then
            seconds=$2
        else
            seed=$2
        fi
        shift 2
        ;;
    -h | --help)
        awk 'NR > 2 && !/^#/ { exit } NR > 2 { sub(/^# ?/, ""); print }' "$here/fuzz.sh"
        exit 0
        ;;
    -*)
        echo "fuzz.sh: unknown option '$1' (try --help)" >&2
        exit 2
        ;;
    *)
        t=$1
        [[ "$t" == fuzz_* ]] || t=fuzz_$t
        if [[ " ${all[*]} " != *" $t "* ]]; then
            echo "fuzz.sh: no target '$1'; the targets are: ${all[*]}" >&2
            exit 2
        fi
        targets+=("$t")
        shift
        ;;
    esac
done
if [ ${#targets[@]} -eq 0 ]; then
    targets=("${all[@]}")
fi
if [ "$seconds" -lt 1 ]; then
    echo "fuzz.sh: --seconds must be at least 1" >&2
    exit 2
fi

dir=build/fuzz
run() {
    printf '+ %s\n' "$*"
    "$@"
}

# Configure the flavour as scripts/build.sh does, then build only the fuzz
# targets and what they link (the whole flavour is scripts/build.sh fuzz).
bash scripts/build.sh fuzz --configure-only || exit 2
run cmake --build "$dir" -j2 --target "${targets[@]}" || exit 2

# Per-target libFuzzer options. fuzz_raft_step reads up to 403 bytes (a
# header and 400 actions) and each run is a whole simulation: let inputs
# reach that length at once instead of growing slowly.
extra_flags() {
    case "$1" in
    fuzz_raft_step) echo "-max_len=403 -len_control=0" ;;
    *) echo "" ;;
    esac
}

failed=()
summary=()
for t in "${targets[@]}"; do
    bin=$dir/tests/fuzz/$t
    seeds=tests/fuzz/corpus/$t
    work=$dir/corpus/$t
    art=$dir/artifacts/$t
    log=$art/fuzz.log
    mkdir -p "$work" "$art"
    # Artifacts of earlier runs stay; only new ones count.
    before=$(find "$art" -maxdepth 1 -type f ! -name fuzz.log | sort)
    read -r -a flags <<<"$(extra_flags "$t")"
    echo "fuzz.sh: $t for ${seconds}s, -seed=$seed"
    set +e
    run "$bin" -max_total_time="$seconds" -seed="$seed" -timeout=30 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$art/" "${flags[@]}" "$work" "$seeds" >"$log" 2>&1
    rc=$?
    set -e
    after=$(find "$art" -maxdepth 1 -type f ! -name fuzz.log | sort)
    new=$(comm -13 <(echo "$before") <(echo "$after") | sed '/^$/d')
    runs=$(awk '/^stat::number_of_executed_units:/ { print $2 }' "$log")
    speed=$(awk '/^stat::average_exec_per_sec:/ { print $2 }' "$log")
    files=$(find "$work" -maxdepth 1 -type f | wc -l)
    if [ "$rc" -ne 0 ] || [ -n "$new" ]; then
        tail -n 40 "$log"
        if [ -n "$new" ]; then
            while read -r a; do
                echo "fuzz.sh: FAIL $t: artifact $a"
                echo "fuzz.sh:   replay it: $bin $a"
            done <<<"$new"
        else
            echo "fuzz.sh: FAIL $t: libFuzzer exited with $rc and saved no artifact; see $log"
        fi
        failed+=("$t")
        summary+=("$(printf 'FAIL  %-18s exit %s, log %s' "$t" "$rc" "$log")")
    else
        summary+=("$(printf 'ok    %-18s %10s runs %8s exec/s  working corpus %s files' \
            "$t" "${runs:-?}" "${speed:-?}" "$files")")
    fi
done

echo
echo "fuzz.sh: ${seconds}s per target, -seed=$seed"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz.sh: ${#failed[@]} target(s) found a bug: ${failed[*]}"
    exit 1
fi
echo "fuzz.sh: no target found anything"
