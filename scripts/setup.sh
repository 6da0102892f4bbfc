#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install every build and test dependency of coord from Debian's archive.
# Safe to run any number of times: when every package is already installed it
# returns at once without touching the network (it asks dpkg-query first, and
# only then runs apt-get update + apt-get install for what is missing).
set -euo pipefail

PACKAGES=(
    build-essential     # gcc, make, libc headers
    cmake
    pkg-config          # tests/CMakeLists.txt finds cmocka through it
    libuv1-dev          # coordd's event loop
    liblmdb-dev         # the state machine's store
    libprotobuf-c-dev   # wire and peer messages
    protobuf-c-compiler # protoc-c, run by CMake on proto/*.proto
    libssl-dev          # TLS on peer and client ports
    libcmocka-dev       # unit tests
    clang-format        # scripts/format.sh, the format check of scripts/test.sh
    clang               # the fuzz flavour (scripts/fuzz.sh)
    libclang-rt-14-dev  # libFuzzer and ASan/UBSan runtimes of Debian 12's clang 14
)

log() {
    printf 'setup: %s\n' "$*"
}

if ! command -v dpkg-query >/dev/null 2>&1; then
    log "not a Debian system (no dpkg-query); install the equivalents of: ${PACKAGES[*]}"
    exit 0
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Abbrev}\n' "$pkg" 2>/dev/null || true)
    if ! grep -q '^ii' <<<"$status"; then
        missing+=("$pkg")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    log "all ${#PACKAGES[@]} packages are installed"
    exit 0
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        as_root=(sudo)
    else
        log "missing packages: ${missing[*]}"
        log "not root and sudo is not installed; run this script as root" >&2
        exit 1
    fi
fi

log "installing: ${missing[*]}"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
log "done"
