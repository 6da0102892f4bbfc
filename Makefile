# SPDX-License-Identifier: MIT
# A thin wrapper over scripts/ and the build flavours (CMakePresets.json).
# Each target says which script or preset it runs; the scripts are the truth.
#
#   make                 release build (build/release)
#   make test            scripts/test.sh: the README's and CI's test command
#                        (TESTFLAGS=--quick skips the asan pass, --long runs more seeds)
#   make ci | asan | dev | tsan   build that flavour into build/<flavour>
#   make sim SEED=n      replay simulator seed n (extra flags in SIMFLAGS)
#   make fuzz T=target   scripts/fuzz.sh: fuzz one target (all when T is empty)
#                        for FUZZTIME seconds (default 30), clang build in build/fuzz
#   make format          reformat the tracked C files; make format-check only checks
#   make tidy            clang-tidy over build/ci's compile_commands.json (non-fatal)
#   make clean           remove build/ and the compile_commands.json link

ROOT := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
SEED ?=
SIMFLAGS ?=
TESTFLAGS ?=
T ?=
FUZZTIME ?= 30

.PHONY: all release ci asan dev tsan test sim fuzz format format-check tidy compdb clean

all: release compdb

release ci asan dev tsan:
	bash $(ROOT)/scripts/build.sh $@

test:
	bash $(ROOT)/scripts/test.sh $(TESTFLAGS)

sim:
	@if [ -z "$(SEED)" ]; then echo "usage: make sim SEED=<n> [SIMFLAGS=...]" >&2; exit 2; fi
	bash $(ROOT)/scripts/build.sh release
	$(ROOT)/build/release/tests/sim/sim --seed $(SEED) $(SIMFLAGS)

fuzz:
	bash $(ROOT)/scripts/fuzz.sh --seconds $(FUZZTIME) $(T)

format:
	bash $(ROOT)/scripts/format.sh --fix

format-check:
	bash $(ROOT)/scripts/format.sh --check

# clangd and clang-tidy read compile_commands.json from the repo root. It is
# taken from build/ci, the flavour CI compiles with; configuring it is cheap.
compdb:
	@if [ ! -f $(ROOT)/build/ci/compile_commands.json ]; then \
		bash $(ROOT)/scripts/build.sh ci --configure-only; fi
	ln -sfn build/ci/compile_commands.json $(ROOT)/compile_commands.json

# Non-fatal: findings are printed for review, never fail the build. build/ci is
# compiled by GCC, so clang-tidy is told to ignore GCC-only warning flags and
# not to turn -Werror's warnings into errors.
TIDY_ARGS := -extra-arg=-Wno-unknown-warning-option -extra-arg=-Wno-error

tidy: compdb
	@if command -v run-clang-tidy >/dev/null 2>&1; then \
		run-clang-tidy -quiet $(TIDY_ARGS) -p $(ROOT)/build/ci '^$(ROOT)/(raft|coord|tests)/' || true; \
	elif command -v clang-tidy >/dev/null 2>&1; then \
		clang-tidy -p $(ROOT)/build/ci --quiet $(TIDY_ARGS) \
			$$(cd $(ROOT) && git ls-files '*.c' | grep -v '\.pb-c\.c$$') || true; \
	else \
		echo "tidy: clang-tidy is not installed (apt-get install clang-tidy)"; \
	fi

clean:
	rm -rf $(ROOT)/build $(ROOT)/compile_commands.json
