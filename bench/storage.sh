#!/usr/bin/env bash
# Storage speed inside a container, side by side: runc, and kata-runtime with
# each shared file system it ships (virtio-fs per cache mode, virtio-9p),
# and with the rootfs writes kept in guest memory (guest-upper: [runtime]
# rootfs_writes_in_guest = true, virtio-fs as configured), plus the image's
# layers as a cached disk (guest-image: rootfs_image_in_guest = true),
# on the container's rootfs, on a volume shared with the host, and on a
# tmpfs (the guest's own memory under kata: what the VM itself costs).
# A configuration named kernel=PATH is the default one booting the guest
# kernel at PATH (an A/B of guest kernel patches).
#
#   sudo bench/storage.sh [-n ROUNDS] [--configs "runc virtiofs-auto ..."]
#
# Workloads (bench/storage/workload.py): create 500 small files, read and
# unlink them, start python3 importing asyncio, json, email, http.client,
# sqlite3, decimal and argparse, write 64 MiB (fsync), read it back.
# Each container first runs the whole workload once, untimed, on a scratch
# tmpfs directory: under TCG the first run of any code pays for its
# translation, which would otherwise land on whichever target runs first.
# Each round is one fresh container per configuration (podman, a Debian
# python3 image built from this host's /usr/bin/python3); the median of the
# rounds is printed, in ms. The ratio columns compare with the same
# configuration's tmpfs (issue 15's target: rootfs <= 1.3x, volume <= 2x).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ROUNDS=3
CONFIGS="runc virtiofs-auto guest-upper guest-image virtiofs-always virtiofs-never 9p"
while (($#)); do
  case "$1" in
    -n) ROUNDS=$2; shift 2 ;;
    --configs) CONFIGS=$2; shift 2 ;;
    *) die "unknown argument $1 (see the header of $0)" ;;
  esac
done
[[ $EUID -eq 0 ]] || die "run as root"
need podman podman
[[ -x /usr/bin/python3 ]] || die "/usr/bin/python3 missing: apt-get install -y python3"
command -v kata-runtime >/dev/null || die "kata-runtime not installed: scripts/install.sh build"
CONFIG=${KATA_CONF_FILE:-/usr/share/defaults/kata-containers/configuration.toml}
[[ -f /etc/kata-containers/configuration.toml ]] && CONFIG=${KATA_CONF_FILE:-/etc/kata-containers/configuration.toml}

work=$(mktemp -d /tmp/kata-bench-storage.XXXXXX)
IMAGE=localhost/kata-bench-python
cleanup() {
  podman rm -af -t 0 >/dev/null 2>&1 || true
  podman rmi -f "$IMAGE" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# The image: busybox, Debian's python3 with the libraries it and its
# extension modules link, and its standard library.
build_image() {
  local root=$work/image lib
  mkdir -p "$root"/{bin,usr/bin,usr/lib,tmp,proc,sys,dev,etc,rootfs-work}
  cp /bin/busybox "$root/bin/" && ln -s busybox "$root/bin/sh"
  cp /usr/bin/python3.11 "$root/usr/bin/" && ln -s python3.11 "$root/usr/bin/python3"
  cp -a /usr/lib/python3.11 "$root/usr/lib/"
  for lib in $( (ldd /usr/bin/python3.11; ldd /usr/lib/python3.11/lib-dynload/*.so) 2>/dev/null | awk '/=> \// {print $3} /^\t\/lib/ {print $1}' | sort -u); do
    mkdir -p "$root$(dirname "$lib")" && cp -L "$lib" "$root$lib"
  done
  cp "$(dirname "$0")/storage/workload.py" "$root/workload.py"
  tar -C "$root" -cf "$work/image.tar" .
  podman import "$work/image.tar" "$IMAGE" >/dev/null
}

# A runtime per configuration: kata-runtime with a configuration copy.
make_runtime() {  # name
  local name=$1 conf
  conf=$work/config-$(md5sum <<<"$name" | cut -c1-8).toml
  [[ $name == runc ]] && { echo runc; return; }
  cp "$CONFIG" "$conf"
  case "$name" in
    kernel=*)  # the default configuration booting another guest kernel (an A/B of kernel patches)
      sed -i "s|^kernel *=.*|kernel = \"${name#kernel=}\"|" "$conf" ;;
    9p) sed -i 's|^shared_fs *=.*|shared_fs = "virtio-9p"|' "$conf" ;;
    guest-upper)  # the default share, rootfs writes in guest memory ([runtime] rootfs_writes_in_guest)
      sed -i 's|^rootfs_writes_in_guest *=.*|rootfs_writes_in_guest = true|' "$conf"
      grep -q '^rootfs_writes_in_guest = true' "$conf" || die "$CONFIG has no rootfs_writes_in_guest key" ;;
    guest-image)  # guest-upper over the image's layers as a cached ext4 disk ([runtime] rootfs_image_in_guest)
      sed -i -e 's|^rootfs_writes_in_guest *=.*|rootfs_writes_in_guest = true|' \
             -e 's|^rootfs_image_in_guest *=.*|rootfs_image_in_guest = true|' \
             -e "s|^rootfs_image_cache_dir *=.*|rootfs_image_cache_dir = \"$work/image-cache\"|" "$conf"
      grep -q '^rootfs_image_in_guest = true' "$conf" || die "$CONFIG has no rootfs_image_in_guest key" ;;
    virtiofs-*)  # virtiofs-CACHE[+ARG...]: ARG is a virtiofsd argument, e.g. +-owriteback +--thread-pool-size=1
      local mode=${name#virtiofs-} extra=""
      mode=${mode%%+*}
      [[ $name == *+* ]] && extra=$(tr '+' '\n' <<<"${name#*+}" | awk '{printf "%s\"%s\"", (NR>1?", ":""), $0}')
      sed -i -e 's|^shared_fs *=.*|shared_fs = "virtio-fs"|' -e "s|^virtio_fs_cache *=.*|virtio_fs_cache = \"$mode\"|" \
             -e "s|^virtio_fs_extra_args *=.*|virtio_fs_extra_args = [$extra]|" "$conf" ;;
  esac
  local wrapper=$work/runtime-$(md5sum <<<"$name" | cut -c1-8).sh
  printf '#!/bin/sh\nKATA_CONF_FILE=%s exec kata-runtime "$@"\n' "$conf" >"$wrapper"
  chmod +x "$wrapper"
  echo "$wrapper"
}

run_round() {  # config runtime round
  local vol=$work/vol-$3
  mkdir -p "$vol"
  podman run --rm --runtime "$2" --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
    -v "$vol:/vol" --mount type=tmpfs,destination=/tmpfs,tmpfs-size=512m "$IMAGE" \
    sh -c '/usr/bin/python3 /workload.py /tmpfs/warm-up >/dev/null && rm -rf /tmpfs/warm-up &&
           for t in rootfs-work vol tmpfs; do /usr/bin/python3 /workload.py /$t | sed "s|^|$t |"; done' \
    >"$work/out-$(md5sum <<<"$1" | cut -c1-8)-$3"
  rm -rf "$vol"
}

build_image
echo "machine: $(machine_line)"
echo "rounds: $ROUNDS (median of fresh containers; ms)"
for r in $(seq 1 "$ROUNDS"); do
  for c in $CONFIGS; do
    run_round "$c" "$(make_runtime "$c")" "$r" || die "config $c round $r failed"
  done
done

value() {  # config target workload
  cat "$work"/out-"$(md5sum <<<"$1" | cut -c1-8)"-* | awk -v t="$2" -v w="$3" '$1==t && $2==w {print $3}' | median
}
printf '\n%-16s %-7s' workload target
for c in $CONFIGS; do printf ' %16s' "$c"; done
echo
for w in create500 read_unlink500 python_import write64MiB read64MiB; do
  for t in rootfs-work vol tmpfs; do
    printf '%-16s %-7s' "$w" "${t%-work}"
    for c in $CONFIGS; do
      v=$(value "$c" "$t" "$w")
      if [[ $t == tmpfs ]]; then printf ' %16s' "$v"; else printf ' %16s' "$v ($(ratio "$v" "$(value "$c" tmpfs "$w")"))"; fi
    done
    echo
  done
done
echo "(x) = this configuration's time over its own tmpfs time"
