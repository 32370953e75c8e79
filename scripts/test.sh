#!/usr/bin/env bash
# The README's second command: build, install, and run every test suite.
#   sudo scripts/test.sh              all tests
#   sudo scripts/test.sh -L unit      only unit tests (ctest label)
#   sudo scripts/test.sh -L integration
#   sudo scripts/test.sh -L asan      only the unit tests under ASan+UBSan (also part of a full run)
#   sudo scripts/test.sh -L tsan      only the unit tests under TSan (build-tsan/; NOT part of a full run)
#   sudo scripts/test.sh -L fuzz      only the libFuzzer smoke (also part of a full run)
#   sudo scripts/test.sh -L critest   only Kubernetes' CRI validation groups (also part of a full run)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${KATA_BUILD_DIR:-build}
scripts/install-deps.sh
cmake -S . -B "$BUILD" -G Ninja >/dev/null
ninja -C "$BUILD"
scripts/install.sh "$BUILD" >/dev/null
if [ "$*" != "-L fuzz" ] && [ "$*" != "-L critest" ] && [ "$*" != "-L asan" ] && [ "$*" != "-L tsan" ]; then
  ctest --test-dir "$BUILD" --output-on-failure "$@"
fi
# One clang build directory with ASan+UBSan serves the unit suite and the
# libFuzzer targets (docs/DEVELOPING.md, docs/fuzzing.md): the libraries are
# instrumented once for both; only their executables are built. -Werror, as
# the gcc build: clang's warnings fail it too.
FUZZ_BUILD=${KATA_FUZZ_BUILD_DIR:-build-fuzz}
sanitizer_build() {
  CC=clang-14 CXX=clang++-14 cmake -S . -B "$FUZZ_BUILD" -G Ninja -DKATA_FUZZ=ON -DKATA_SANITIZE=address,undefined \
    -DKATA_WERROR=ON >/dev/null
  ninja -C "$FUZZ_BUILD" "$@"
}
# The unit suite under ASan (and LeakSanitizer) and UBSan: any report fails it;
# a case that hangs fails after 300 s (each takes seconds). Full runs and
# -L asan only.
if [ $# -eq 0 ] || [ "$*" = "-L asan" ]; then
  sanitizer_build unit_tests
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$FUZZ_BUILD" --output-on-failure --timeout 300 -L unit
fi
# The unit suite under ThreadSanitizer, in a clang directory of its own
# (TSan cannot share ASan's): any report fails its test (halt_on_error), a
# lock-order report shows both stacks. -L tsan only, never in a full run (CI
# time: docs/DEVELOPING.md). Its runtime's flags are the defaults otherwise:
# die_after_fork stays on, nothing the suite runs starts a thread in a child
# it forks without exec.
TSAN_BUILD=${KATA_TSAN_BUILD_DIR:-build-tsan}
if [ "$*" = "-L tsan" ]; then
  CC=clang-14 CXX=clang++-14 cmake -S . -B "$TSAN_BUILD" -G Ninja -DKATA_SANITIZE=thread -DKATA_WERROR=ON >/dev/null
  ninja -C "$TSAN_BUILD" unit_tests
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
    ctest --test-dir "$TSAN_BUILD" --output-on-failure --timeout 300 -L unit
fi
# libFuzzer smoke: each fuzzer over its corpus plus 15 s of fuzzing. Full
# runs and -L fuzz only.
if [ $# -eq 0 ] || [ "$*" = "-L fuzz" ]; then
  sanitizer_build fuzzers
  tests/fuzz/smoke.sh "$FUZZ_BUILD" 15
fi
# Kubernetes' CRI validation suite, the groups CI gates on (scripts/critest.sh).
if [ $# -eq 0 ] || [ "$*" = "-L critest" ]; then
  scripts/critest.sh
fi
