#!/usr/bin/env bash
# Installs, from Debian's archive only, what building and testing need.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "install-deps: run as root (apt-get)" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
BUILD_PKGS=(build-essential cmake ninja-build pkg-config libprotobuf-dev protobuf-compiler
  nlohmann-json3-dev libtomlplusplus-dev libcli11-dev libseccomp-dev libgtest-dev libnl-3-dev libnl-route-3-dev libnftables-dev libcpp-httplib-dev nettle-dev e2fsprogs
  clang-14 libclang-rt-14-dev)  # clang: the libFuzzer targets (tests/fuzz)
RUN_PKGS=(qemu-system-x86 busybox-static cpio xz-utils zstd kmod iproute2 procps runc podman conmon docker.io containerd
  containernetworking-plugins iptables nftables curl python3-prometheus-client xfsprogs
  python3-grpcio python3-protobuf
  golang-go)  # Go: scripts/critest.sh builds critest from its vendored source; xfsprogs: StorageTest makes xfs images;
              # grpcio, protobuf: the block snapshotter of BlockRootfsTest (tests/integration/block_snapshotter)
# Our own guest kernel (the default; KATA_GUEST_KERNEL=debian skips it): guest/kernel/build-kernel.sh.
if [ "${KATA_GUEST_KERNEL:-own}" = own ]; then
  RUN_PKGS+=(linux-source-6.1 bc flex bison libelf-dev patch)
fi
missing=()
for p in "${BUILD_PKGS[@]}" "${RUN_PKGS[@]}" "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# guest/build-guest.sh downloads the kernel package: apt must know it.
if [ ${#missing[@]} -gt 0 ] || ! apt-cache show linux-image-amd64 >/dev/null 2>&1; then
  apt-get update -qq
fi
if [ ${#missing[@]} -gt 0 ]; then
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
