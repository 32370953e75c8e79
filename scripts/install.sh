#!/usr/bin/env bash
# Installs a build: binaries to /usr/local/bin, the agent to
# /usr/local/libexec/kata-containers, the default configuration to
# /usr/share/defaults/kata-containers/, and the guest kernel + initrd
# (built around the agent) to /usr/share/kata-containers/.
#   scripts/install.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
[ -x "$BUILD/bin/kata-agent" ] || { echo "install: $BUILD/bin/kata-agent missing: build first (ninja -C $BUILD)" >&2; exit 1; }
cmake --install "$BUILD" --prefix /usr/local >/dev/null
guest/build-guest.sh --agent "$BUILD/bin/kata-agent" --out /usr/share/kata-containers
echo "installed: $(command -v kata-runtime) $(command -v containerd-shim-kata-v2)"
