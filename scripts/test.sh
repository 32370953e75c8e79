#!/usr/bin/env bash
# The README's second command: build, install, and run every test suite.
#   sudo scripts/test.sh              all tests
#   sudo scripts/test.sh -L unit      only unit tests (ctest label)
#   sudo scripts/test.sh -L integration
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${KATA_BUILD_DIR:-build}
scripts/install-deps.sh
cmake -S . -B "$BUILD" -G Ninja >/dev/null
ninja -C "$BUILD"
scripts/install.sh "$BUILD" >/dev/null
ctest --test-dir "$BUILD" --output-on-failure "$@"
