#!/usr/bin/env bash
# The README's first command: install what is needed (Debian packages only),
# build, install, and run a container inside a VM.
#   sudo scripts/setup.sh            (KATA_SKIP_DEMO=1 skips the demo)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${KATA_BUILD_DIR:-build}

step() { printf '\n==> %s\n' "$*"; }

step "Installing build and run dependencies (apt-get)"
scripts/install-deps.sh

step "Building ($BUILD)"
# KATA_CMAKE_ARGS: more cmake options (CI: -DKATA_WERROR=ON).
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo ${KATA_CMAKE_ARGS:-} >/dev/null
ninja -C "$BUILD"

step "Installing binaries and configuration"
scripts/install.sh "$BUILD"

if [ "${KATA_SKIP_DEMO:-0}" != 1 ]; then
  step "Running a container in a VM: busybox uname -r"
  demo=$(mktemp -d /tmp/kata-demo.XXXXXX)
  trap 'rm -rf "$demo"' EXIT
  scripts/make-bundle.sh "$demo/bundle" -- uname -r >/dev/null
  echo "host kernel:      $(uname -r)"
  echo -n "container kernel: "
  kata-runtime run --bundle "$demo/bundle" "kata-demo-$$"
  echo "guest kernel (built by guest/build-guest.sh): $(cat /usr/share/kata-containers/guest-kernel-release)"
fi
