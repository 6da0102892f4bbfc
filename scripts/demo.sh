#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's first command: install the dependencies, build the release
# flavour, then show coord's Raft core at work in the deterministic simulator:
# a 5-node cluster elects a leader, replicates, loses its leader and elects
# another, printed as a readable trace. Extra arguments go to the simulator
# (e.g. --seed 7).
#
# For now the demo is the simulator; once coordd exists this script will start
# a real 5-node ensemble on loopback instead.
set -euo pipefail

unset CDPATH
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
bash scripts/build.sh release

sim=build/release/tests/sim/sim
if [ ! -x "$sim" ]; then
    echo "demo.sh: $sim was not built; the simulator (tests/sim) is not in this tree yet" >&2
    exit 1
fi
echo "+ $sim --demo $*"
exec "$sim" --demo "$@"
