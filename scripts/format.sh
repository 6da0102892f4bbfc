#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Run clang-format over the tracked C sources with the repo's .clang-format.
#
#   scripts/format.sh [--check|--fix]
#
#   --check  (default) list the files that are not formatted and exit 1
#   --fix    rewrite them in place
#
# Generated code (protobuf-c's *.pb-c.[ch], anything under build/) is skipped:
# it is never committed, and it is not ours to format.
set -euo pipefail

unset CDPATH
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here/.."

mode=check
for arg in "$@"; do
    case "$arg" in
    --check) mode=check ;;
    --fix) mode=fix ;;
    -h | --help)
        awk 'NR > 2 && !/^#/ { exit } NR > 2 { sub(/^# ?/, ""); print }' "$here/format.sh"
        exit 0
        ;;
    *)
        echo "format.sh: unknown argument '$arg' (try --help)" >&2
        exit 2
        ;;
    esac
done

if ! command -v clang-format >/dev/null 2>&1; then
    echo "format.sh: clang-format is not installed (run scripts/setup.sh)" >&2
    exit 1
fi

# Tracked files when this is a git checkout, every C file otherwise.
files=()
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    while IFS= read -r -d '' f; do
        files+=("$f")
    done < <(git ls-files -z -- '*.c' '*.h')
else
    while IFS= read -r -d '' f; do
        files+=("${f#./}")
    done < <(find . -path ./build -prune -o -path ./.git -prune -o \
        -type f \( -name '*.c' -o -name '*.h' \) -print0)
fi

selected=()
for f in "${files[@]}"; do
    case "$f" in
    build/* | *.pb-c.c | *.pb-c.h) continue ;;
    esac
    # A tracked file deleted in the work tree is not ours to check.
    if [ -f "$f" ]; then
        selected+=("$f")
    fi
done

if [ ${#selected[@]} -eq 0 ]; then
    echo "format.sh: no C files to $mode"
    exit 0
fi

if [ "$mode" = fix ]; then
    clang-format -i --style=file "${selected[@]}"
    echo "format.sh: formatted ${#selected[@]} files"
    exit 0
fi

bad=()
for f in "${selected[@]}"; do
    if ! clang-format --dry-run --Werror --style=file "$f" >/dev/null 2>&1; then
        bad+=("$f")
    fi
done
if [ ${#bad[@]} -ne 0 ]; then
    echo "format.sh: ${#bad[@]} of ${#selected[@]} files need formatting" \
        "(run scripts/format.sh --fix or make format):"
    printf '  %s\n' "${bad[@]}"
    exit 1
fi
echo "format.sh: ${#selected[@]} files are formatted"
