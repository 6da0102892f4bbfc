#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The test command of the README and of CI (.ci/run). From a fresh Debian 12
# machine it installs the dependencies, then:
#   1. builds build/ci (warnings are errors) and runs every ctest label;
#   2. builds build/asan (ASan + UBSan) and runs the unit and sim labels;
#   3. builds build/tsan (ThreadSanitizer) and runs the unit label but the
#      crash-point test (the threads: log writer, apply thread, sync client);
#   4. builds build/fuzz (clang, libFuzzer + ASan + UBSan) and fuzzes every
#      target of tests/fuzz for 10 s (scripts/fuzz.sh --seconds 10): one step;
#   5. checks the formatting of the tracked C files.
# Every step runs even when an earlier one failed, so one run shows all
# problems. The exit status is 0 only when all steps pass, and the last line of
# output is always "N passed, N failed", summed over the ctest runs.
#
#   scripts/test.sh [--quick] [--long]
#
#   --quick  skip the asan, tsan and fuzz passes
#   --long   export COORD_SIM_LONG=1: the simulator runs many more seeds
set -uo pipefail

unset CDPATH
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd) || exit 1
cd "$here/.." || exit 1

quick=0
for arg in "$@"; do
    case "$arg" in
    --quick) quick=1 ;;
    --long) export COORD_SIM_LONG=1 ;;
    -h | --help)
        awk 'NR > 2 && !/^#/ { exit } NR > 2 { sub(/^# ?/, ""); print }' "$here/test.sh"
        exit 0
        ;;
    *)
        echo "test.sh: unknown argument '$arg' (try --help)" >&2
        exit 2
        ;;
    esac
done

n_passed=0
n_failed=0
results=() # one "ok|FAIL  step  (seconds)" line per step

step_done() { # step_done <name> <exit status> <start second>
    local verdict=ok
    if [ "$2" -ne 0 ]; then
        verdict=FAIL
    fi
    results+=("$(printf '%-4s  %-22s (%ss)' "$verdict" "$1" "$((SECONDS - $3))")")
}

banner() {
    printf '\n==> %s\n' "$*"
}

finish() {
    local r
    local status=0

    banner "summary"
    for r in "${results[@]}"; do
        echo "$r"
        case "$r" in
        FAIL*) status=1 ;;
        esac
    done
    echo "$n_passed passed, $n_failed failed"
    exit "$status"
}

# run_ctest <step name> <build dir> [ctest args...]: runs ctest, adds its
# counts to the totals. ctest ends with "100% tests passed, 0 tests failed out
# of 7" or "71% tests passed, 2 tests failed out of 7".
run_ctest() {
    local name=$1
    local dir=$2
    local start=$SECONDS
    local log="$dir/ctest-summary.log"
    local rc
    local line

    shift 2
    banner "$name"
    mkdir -p "$dir"
    printf '+ ctest --test-dir %s --output-on-failure -j2 --no-tests=error %s\n' "$dir" "$*"
    ctest --test-dir "$dir" --output-on-failure -j2 --no-tests=error "$@" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    line=$(grep -Eo '[0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
    if [ -n "$line" ]; then
        local failed=${line%% *}
        local total=${line##* }
        n_failed=$((n_failed + failed))
        n_passed=$((n_passed + total - failed))
    elif [ "$rc" -eq 0 ]; then
        rc=1 # ctest succeeded without a summary line: do not trust it
        echo "test.sh: no 'tests failed out of' line in ctest's output" >&2
    fi
    step_done "$name" "$rc" "$start"
}

# build_step <flavour>: build with --keep-going, so that whatever does build
# still gets tested; tests whose executable is missing count as failed.
build_step() {
    local start=$SECONDS
    local rc

    banner "build $1"
    bash scripts/build.sh "$1" --keep-going
    rc=$?
    step_done "build $1" "$rc" "$start"
}

start=$SECONDS
banner "setup"
bash scripts/setup.sh
rc=$?
step_done setup "$rc" "$start"
if [ "$rc" -ne 0 ]; then
    finish
fi

build_step ci
run_ctest "ctest ci" build/ci

if [ "$quick" -eq 0 ]; then
    build_step asan
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        run_ctest "ctest asan (unit|sim)" build/asan -L 'unit|sim'
    build_step tsan
    TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
        run_ctest "ctest tsan (unit)" build/tsan -L unit -E '^test_crash$'
else
    results+=("skip  asan and tsan passes   (--quick)")
fi

if [ "$quick" -eq 0 ]; then
    start=$SECONDS
    banner "fuzz (10 s per target)"
    bash scripts/fuzz.sh --seconds 10
    step_done "fuzz 10s per target" "$?" "$start"
else
    results+=("skip  fuzz pass              (--quick)")
fi

start=$SECONDS
banner "format check"
bash scripts/format.sh --check
step_done "format check" "$?" "$start"

finish
