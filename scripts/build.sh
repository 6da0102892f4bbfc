#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Configure and build one build flavour into build/<flavour>.
#
#   scripts/build.sh [release|ci|asan|dev|tsan|fuzz] [--keep-going] [--configure-only]
#
#   release  RelWithDebInfo                                  (the default)
#   ci       RelWithDebInfo, warnings are errors             (scripts/test.sh)
#   asan     Debug, ASan + UBSan, warnings are errors        (scripts/test.sh)
#   dev      Debug, ASan + UBSan                             (day-to-day work)
#   tsan     Debug, ThreadSanitizer
#   fuzz     clang, Debug at -O1, libFuzzer + ASan + UBSan   (scripts/fuzz.sh)
#            everything, and the fuzz targets of tests/fuzz as libFuzzer binaries
#
# The flavours are the presets of CMakePresets.json with the same names and
# cache variables; change both together.
# --keep-going builds every target it can after an error (so the tests that do
# build still run), and --configure-only stops after cmake's configure step.
set -euo pipefail

unset CDPATH
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here/.."

flavour=release
keep_going=0
configure_only=0
for arg in "$@"; do
    case "$arg" in
    release | ci | asan | dev | tsan | fuzz) flavour=$arg ;;
    --keep-going) keep_going=1 ;;
    --configure-only) configure_only=1 ;;
    -h | --help)
        awk 'NR > 2 && !/^#/ { exit } NR > 2 { sub(/^# ?/, ""); print }' "$here/build.sh"
        exit 0
        ;;
    *)
        echo "build.sh: unknown argument '$arg' (try --help)" >&2
        exit 2
        ;;
    esac
done

case "$flavour" in
release) cache=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOORD_WERROR=OFF -DCOORD_SANITIZE=) ;;
ci) cache=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOORD_WERROR=ON -DCOORD_SANITIZE=) ;;
asan) cache=(-DCMAKE_BUILD_TYPE=Debug -DCOORD_WERROR=ON -DCOORD_SANITIZE=address,undefined) ;;
dev) cache=(-DCMAKE_BUILD_TYPE=Debug -DCOORD_WERROR=OFF -DCOORD_SANITIZE=address,undefined) ;;
tsan) cache=(-DCMAKE_BUILD_TYPE=Debug -DCOORD_WERROR=OFF -DCOORD_SANITIZE=thread) ;;
fuzz) cache=(-DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DCOORD_WERROR=OFF -DCOORD_SANITIZE=
    -DCOORD_FUZZ=ON) ;;
esac

dir=build/$flavour
run() {
    printf '+ %s\n' "$*"
    "$@"
}

echo "build.sh: configuring $flavour in $dir"
run cmake -S . -B "$dir" "${cache[@]}"
if [ "$configure_only" -eq 1 ]; then
    exit 0
fi

echo "build.sh: building $flavour"
extra=()
if [ "$keep_going" -eq 1 ]; then
    # The native tool's own flag: make takes -k, ninja -k 0.
    if grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja' "$dir/CMakeCache.txt"; then
        extra=(-- -k 0)
    else
        extra=(-- -k)
    fi
fi
run cmake --build "$dir" -j2 "${extra[@]}"
echo "build.sh: $flavour built in $dir"
