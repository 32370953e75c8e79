#!/usr/bin/env bash
# The README's second command: build, install, and run every test suite.
#   sudo scripts/test.sh              all tests
#   sudo scripts/test.sh -L unit      only unit tests (ctest label)
#   sudo scripts/test.sh -L integration
#   sudo scripts/test.sh -L fuzz      only the libFuzzer smoke (also part of a full run)
#   sudo scripts/test.sh -L critest   only Kubernetes' CRI validation groups (also part of a full run)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${KATA_BUILD_DIR:-build}
scripts/install-deps.sh
cmake -S . -B "$BUILD" -G Ninja >/dev/null
ninja -C "$BUILD"
scripts/install.sh "$BUILD" >/dev/null
if [ "$*" != "-L fuzz" ] && [ "$*" != "-L critest" ]; then
  ctest --test-dir "$BUILD" --output-on-failure "$@"
fi
# libFuzzer smoke (docs/fuzzing.md): clang build in its own directory, each
# fuzzer over its corpus plus 15 s of fuzzing. Full runs and -L fuzz only.
if [ $# -eq 0 ] || [ "$*" = "-L fuzz" ]; then
  FUZZ_BUILD=${KATA_FUZZ_BUILD_DIR:-build-fuzz}
  CC=clang-14 CXX=clang++-14 cmake -S . -B "$FUZZ_BUILD" -G Ninja -DKATA_FUZZ=ON >/dev/null
  ninja -C "$FUZZ_BUILD" fuzzers
  tests/fuzz/smoke.sh "$FUZZ_BUILD" 15
fi
# Kubernetes' CRI validation suite, the groups CI gates on (scripts/critest.sh).
if [ $# -eq 0 ] || [ "$*" = "-L critest" ]; then
  scripts/critest.sh
fi
