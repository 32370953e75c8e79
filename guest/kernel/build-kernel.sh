#!/usr/bin/env bash
# Build the guest kernel of our own from Debian's linux-source-6.1 package.
#
#   guest/kernel/build-kernel.sh [--cache DIR] [--config FRAGMENT] [--jobs N] [--keep-build]
#
# Starts from `make allnoconfig` plus the fragment (default: kata-guest.conf next to
# this script), checks that every CONFIG_ line of the fragment has the requested value
# in the final .config, and builds `vmlinux` only (QEMU boots the uncompressed ELF
# through the PVH entry). Everything is built in: no modules.
#
# Our patches in patches/*.patch are applied to the source first (patch -p1).
#
# Result, built once per (fragment, patches, source package version):
#   CACHE/kernel-<sha256>/vmlinux         the ELF (PVH note checked)
#   CACHE/kernel-<sha256>/config          the final .config
#   CACHE/kernel-<sha256>/kernel-release  what `uname -r` prints in the guest
#   CACHE/kernel-<sha256>/build-info      source version, build time, load average
# The last line of stdout is the path of that directory; a cached build prints it at
# once. The cache keeps the $KATA_GUEST_CACHE_KEEP (default 3) most recently used
# kernels; older ones are removed. Needs: linux-source-6.1 build-essential bc flex
# bison libelf-dev (apt-get).
set -euo pipefail

SELF="$(readlink -f "${BASH_SOURCE[0]}")"
HERE="$(dirname "$SELF")"
PROG="build-kernel.sh"
CACHE="${KATA_GUEST_CACHE:-/var/cache/kata-guest}"
FRAGMENT="$HERE/kata-guest.conf"
SRC_PKG="${KATA_KERNEL_SOURCE_PKG:-linux-source-6.1}"
JOBS="$(nproc)"
KEEP_BUILD=0
# Bump when the build recipe (not the fragment) changes in a way that changes the kernel.
RECIPE=1
KEEP="${KATA_GUEST_CACHE_KEEP:-3}"

die() { echo "$PROG: error: $*" >&2; exit 1; }
log() { echo "$PROG: $*" >&2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --cache) CACHE="${2:?--cache needs a directory}"; shift 2 ;;
    --config) FRAGMENT="${2:?--config needs a file}"; shift 2 ;;
    --jobs|-j) JOBS="${2:?--jobs needs a number}"; shift 2 ;;
    --keep-build) KEEP_BUILD=1; shift ;;
    -h|--help) sed -n '2,18p' "$SELF" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
[[ -f "$FRAGMENT" ]] || die "config fragment not found: $FRAGMENT"
FRAGMENT="$(readlink -f "$FRAGMENT")"

# ---------------------------------------------------------------- source package
SRC_VER="$(dpkg-query -W -f='${Status} ${Version}' "$SRC_PKG" 2>/dev/null \
           | sed -n 's/^install ok installed //p')"
[[ -n "$SRC_VER" ]] || die "$SRC_PKG is not installed. Fix: apt-get install -y $SRC_PKG (or scripts/install-deps.sh)"
TARBALL="/usr/src/$SRC_PKG.tar.xz"
[[ -f "$TARBALL" ]] || die "$TARBALL missing (package $SRC_PKG $SRC_VER). Fix: apt-get install --reinstall -y $SRC_PKG"

# Our patches (guest/kernel/patches/*.patch, applied in name order with patch -p1)
# are part of the key: a changed or added patch builds a new kernel.
mapfile -t PATCHES < <(compgen -G "$HERE/patches/*.patch" | LC_ALL=C sort)
KEY="$( { cat "$FRAGMENT"; echo "source=$SRC_PKG $SRC_VER recipe=$RECIPE";
          ((${#PATCHES[@]} == 0)) || cat "${PATCHES[@]}"; } | sha256sum | cut -c1-16)"
mkdir -p "$CACHE" || die "cannot create cache dir $CACHE (use --cache DIR)"
CACHE="$(readlink -f "$CACHE")"
DEST="$CACHE/kernel-$KEY"
# Each fragment change leaves a ~25 MB kernel behind: keep the most recently
# used ones (a cache hit touches its directory), never $DEST. Unfinished builds
# (kernel-build-*, *.tmp.*) belong to a running or killed build: a day old, they
# are gone for good.
prune_cache() {
  local dir
  find "$CACHE" -mindepth 1 -maxdepth 1 -type d -name 'kernel-*' ! -name 'kernel-build-*' ! -name '*.tmp.*' \
    -printf '%T@ %p\n' | sort -rn | tail -n +"$((KEEP + 1))" | cut -d' ' -f2- | while IFS= read -r dir; do
    [[ "$dir" == "$DEST" ]] && continue
    log "removing the older cached kernel $dir (keeping the $KEEP most recently used)"
    rm -rf "$dir"
  done
  find "$CACHE" -mindepth 1 -maxdepth 1 -type d \( -name 'kernel-build-*' -o -name '*.tmp.*' \) -mtime +0 \
    -exec rm -rf {} + 2>/dev/null || true
}

if [[ -f "$DEST/.complete" ]]; then
  touch "$DEST"
  prune_cache
  log "up to date: $DEST ($(cat "$DEST/kernel-release"))"
  echo "$DEST"
  exit 0
fi

# ---------------------------------------------------------------- tools
declare -A TOOL_PKG=([make]=make [gcc]=gcc [ld]=binutils [bc]=bc [flex]=flex [bison]=bison
                     [perl]=perl [xz]=xz-utils [tar]=tar [readelf]=binutils [patch]=patch)
missing=()
for t in "${!TOOL_PKG[@]}"; do command -v "$t" >/dev/null 2>&1 || missing+=("${TOOL_PKG[$t]}"); done
# objtool (CONFIG_STACK_VALIDATION/ORC on x86_64) includes gelf.h
[[ -e /usr/include/gelf.h ]] || missing+=(libelf-dev)
if ((${#missing[@]})); then
  die "missing build tools. Fix: apt-get install -y $(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')"
fi

# ---------------------------------------------------------------- build
log "no cached kernel for this fragment + $SRC_PKG $SRC_VER: building $DEST (12-14 CPU-minutes)"
t_start=$(date +%s)
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
WORK="$CACHE/kernel-build-$KEY"
rm -rf "$WORK"
mkdir -p "$WORK"
cleanup() { ((KEEP_BUILD)) || rm -rf "$WORK"; }
trap cleanup EXIT
log "unpacking $TARBALL ($SRC_PKG $SRC_VER)"
tar -xJf "$TARBALL" -C "$WORK"
KSRC="$(find "$WORK" -mindepth 1 -maxdepth 1 -type d | head -n1)"
[[ -f "$KSRC/Makefile" ]] || die "no kernel tree in $TARBALL"
for p in "${PATCHES[@]}"; do
  log "applying patches/$(basename "$p")"
  patch -d "$KSRC" -p1 --batch --forward --quiet <"$p" || die "patch $p does not apply to $SRC_PKG $SRC_VER"
done

# Reproducible-ish identity: no host name / user / build counter in `uname -v`.
export KBUILD_BUILD_USER=kata KBUILD_BUILD_HOST=kata-cpp KBUILD_BUILD_VERSION=1
MK=(make -C "$KSRC" ARCH=x86_64 -s)
log "configuring: allnoconfig + $(basename "$FRAGMENT")"
# -n: allnoconfig with the fragment as KCONFIG_ALLCONFIG; it warns about dropped values.
( cd "$KSRC" && ARCH=x86_64 scripts/kconfig/merge_config.sh -n "$FRAGMENT" ) >"$WORK/merge.log" 2>&1 \
  || { tail -n 30 "$WORK/merge.log" >&2; die "merge_config.sh failed (log: $WORK/merge.log)"; }

# Check: every CONFIG_ line of the fragment has its value in the final .config.
check_config() {
  local cfg="$1" bad=0 line name want got
  while IFS= read -r line; do
    if [[ "$line" =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]]; then
      name="${BASH_REMATCH[1]}"; want="${BASH_REMATCH[2]}"
    elif [[ "$line" =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set ]]; then
      name="${BASH_REMATCH[1]}"; want="n"
    else
      continue
    fi
    got="$(sed -n "s/^$name=//p" "$cfg")"
    [[ -n "$got" ]] || got="n"
    if [[ "$got" != "$want" ]]; then
      echo "$PROG: config check: $name: requested '$want', got '$got' (unmet dependency? see: make menuconfig, search $name)" >&2
      bad=$((bad + 1))
    fi
  done <"$FRAGMENT"
  return "$bad"
}
check_config "$KSRC/.config" || die "the final .config does not match $(basename "$FRAGMENT") (options above)"
log "config check passed ($(grep -c '^CONFIG_.*=' "$KSRC/.config") options set)"

log "building vmlinux with -j$JOBS (load average $load_start)"
"${MK[@]}" -j"$JOBS" vmlinux >"$WORK/build.log" 2>&1 \
  || { tail -n 40 "$WORK/build.log" >&2; die "kernel build failed (log kept: $WORK/build.log; rerun with --keep-build)"; }
KREL="$("${MK[@]}" kernelrelease)"
VMLINUX="$KSRC/vmlinux"
readelf -n "$VMLINUX" | grep -Eq '^[[:space:]]*Xen[[:space:]]+0x[0-9a-f]+[[:space:]].*(0x00000012|PHYS32)' \
  || die "$VMLINUX has no Xen PVH entry note; QEMU cannot boot it with -kernel"

t_end=$(date +%s)
STAGE="$DEST.tmp.$$"
rm -rf "$STAGE"
mkdir -p "$STAGE"
cp "$VMLINUX" "$STAGE/vmlinux"
cp "$KSRC/.config" "$STAGE/config"
echo "$KREL" >"$STAGE/kernel-release"
{
  echo "source=$SRC_PKG $SRC_VER"
  echo "fragment=$FRAGMENT sha256=$(sha256sum "$FRAGMENT" | cut -d' ' -f1)"
  for p in "${PATCHES[@]}"; do echo "patch=$(basename "$p") sha256=$(sha256sum "$p" | cut -d' ' -f1)"; done
  echo "release=$KREL"
  echo "gcc=$(gcc -dumpfullversion)"
  echo "jobs=$JOBS nproc=$(nproc)"
  echo "build_seconds=$((t_end - t_start)) (unpack + config + vmlinux)"
  echo "load_start=$load_start load_end=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "built=$(date -u +%FT%TZ)"
} >"$STAGE/build-info"
touch "$STAGE/.complete"
rm -rf "$DEST"
mv "$STAGE" "$DEST"
prune_cache
log "built $DEST/vmlinux ($KREL, $(stat -c %s "$DEST/vmlinux") bytes) in $((t_end - t_start)) s"
echo "$DEST"
