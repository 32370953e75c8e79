#!/usr/bin/env bash
# Build the guest kernel + initrd for the runtime from Debian packages only.
#
#   guest/build-guest.sh --agent PATH_TO_STATIC_INIT --out DIR [--cache DIR]
#       [--compression none|gzip|lz4|zstd]        initrd compression (default none)
#       [--machine microvm|microvm-pci|q35|pc]    virtio transport modules (default microvm)
#       [--keep-module-signatures]                default: strip them (faster under TCG)
#       [--kernel own|debian]                     guest kernel (default own; $KATA_GUEST_KERNEL)
#
# Produces in DIR:
#   vmlinux.container          uncompressed kernel ELF (PVH entry, for QEMU -kernel)
#   kata-containers-initrd.img newc cpio: /init = agent, /lib/modules/*.ko,
#                              /etc/kata/modules.list (load order, one path a line)
#   guest-kernel-release       kernel release string (what `uname -r` says in the guest)
#   guest-kernel-origin        which kernel: "own built from linux-source-6.1 VERSION ..."
#                              or "debian linux-image-X-amd64 VERSION"
#
# --kernel debian: Debian's prebuilt linux-image-amd64, fetched with `apt-get download`
# into the cache and unpacked with dpkg-deb -x (nothing is installed on the host).
# --kernel own: guest/kernel/build-kernel.sh builds (once per config) a kernel with
# everything built in from linux-source-6.1; the initrd then has no modules at all.
# See guest/README.md.
set -euo pipefail

SELF="$(readlink -f "${BASH_SOURCE[0]}")"
PROG="build-guest.sh"

AGENT=""
OUT=""
CACHE="${KATA_GUEST_CACHE:-/var/cache/kata-guest}"
# Measured under TCG (guest/README.md): an uncompressed initrd boots fastest.
COMPRESSION="${KATA_GUEST_INITRD_COMPRESSION:-none}"
# Machine the runtime boots: decides the virtio transport (microvm = virtio-mmio,
# the others virtio-pci).
MACHINE="${KATA_GUEST_MACHINE:-microvm}"
META_PKG="${KATA_GUEST_KERNEL_META:-linux-image-amd64}"
# Strip the appended module signatures (kernel not built with MODULE_SIG_FORCE):
# saves hashing + RSA verification of every module under TCG, taints the kernel (E).
STRIP_SIGS="${KATA_GUEST_STRIP_MODULE_SIGS:-1}"
# own (default): guest/kernel/build-kernel.sh, everything built in: boots in half the time
# and touches half the guest memory of Debian's (guest/README.md). debian: Debian's
# prebuilt kernel + modules in the initrd (the fallback: no kernel build needed).
KERNEL_KIND="${KATA_GUEST_KERNEL:-own}"

die() { echo "$PROG: error: $*" >&2; exit 1; }
log() { echo "$PROG: $*" >&2; }

usage() {
  sed -n '2,21p' "$SELF" | sed 's/^# \{0,1\}//'
  exit "${1:-2}"
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --agent) AGENT="${2:?--agent needs a path}"; shift 2 ;;
    --out) OUT="${2:?--out needs a directory}"; shift 2 ;;
    --cache) CACHE="${2:?--cache needs a directory}"; shift 2 ;;
    --compression) COMPRESSION="${2:?--compression needs a value}"; shift 2 ;;
    --machine) MACHINE="${2:?--machine needs a value}"; shift 2 ;;
    --strip-module-signatures) STRIP_SIGS=1; shift ;;
    --keep-module-signatures) STRIP_SIGS=0; shift ;;
    --kernel) KERNEL_KIND="${2:?--kernel needs debian or own}"; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "$PROG: unknown argument: $1" >&2; usage 2 ;;
  esac
done
[[ -n "$AGENT" ]] || { echo "$PROG: --agent is required" >&2; usage 2; }
[[ -n "$OUT" ]] || { echo "$PROG: --out is required" >&2; usage 2; }
[[ -f "$AGENT" ]] || die "agent binary not found: $AGENT"
AGENT="$(readlink -f "$AGENT")"

case "$COMPRESSION" in none|gzip|lz4|zstd) ;; *) die "unsupported --compression '$COMPRESSION' (none|gzip|lz4|zstd)" ;; esac
case "$MACHINE" in pc|q35|microvm|microvm-pci) ;; *) die "unsupported --machine '$MACHINE' (pc|q35|microvm|microvm-pci)" ;; esac
case "$KERNEL_KIND" in debian|own) ;; *) die "unsupported --kernel '$KERNEL_KIND' (debian|own)" ;; esac

# ---------------------------------------------------------------- tools
# tool -> Debian package providing it
declare -A TOOL_PKG=(
  [apt-get]=apt [apt-cache]=apt [dpkg-deb]=dpkg [cpio]=cpio [xz]=xz-utils
  [depmod]=kmod [modprobe]=kmod [readelf]=binutils [od]=coreutils
  [gzip]=gzip [lz4]=lz4 [zstd]=zstd [sha256sum]=coreutils [find]=findutils [gcc]=gcc
)
need=(cpio readelf od sha256sum find)
[[ "$KERNEL_KIND" == debian ]] && need+=(apt-get apt-cache dpkg-deb xz depmod modprobe)
[[ "$KERNEL_KIND" == own ]] && need+=(gcc)  # guest/tools/elf-sparse.c
case "$COMPRESSION" in gzip) need+=(gzip) ;; lz4) need+=(lz4) ;; zstd) need+=(zstd) ;; esac
export PATH="$PATH:/usr/sbin:/sbin"   # depmod lives in /usr/sbin
missing=()
for t in "${need[@]}"; do
  command -v "$t" >/dev/null 2>&1 || missing+=("$t")
done
if ((${#missing[@]})); then
  pkgs=()
  for t in "${missing[@]}"; do pkgs+=("${TOOL_PKG[$t]}"); done
  die "missing tool(s): ${missing[*]}. Fix: apt-get install -y $(printf '%s\n' "${pkgs[@]}" | sort -u | tr '\n' ' ')"
fi

# The agent must be a static executable: there is no libc in the initrd.
if readelf -l "$AGENT" 2>/dev/null | grep -q 'Requesting program interpreter'; then
  die "agent $AGENT is dynamically linked; /init must be a static binary (e.g. link with -static)"
fi
readelf -h "$AGENT" >/dev/null 2>&1 || die "agent $AGENT is not an ELF executable"

mkdir -p "$CACHE" || die "cannot create cache dir $CACHE (use --cache DIR)"
CACHE="$(readlink -f "$CACHE")"
KPKG="" KVER="" KREL="" KINPUT="" ORIGIN=""
if [[ "$KERNEL_KIND" == own ]]; then
# ---------------------------------------------------------------- own kernel
# Built once per (config fragment, linux-source version); cached runs take ~0 s.
KDIR="$("$(dirname "$SELF")/kernel/build-kernel.sh" --cache "$CACHE" | tail -n1)" \
  || die "building the own kernel failed (guest/kernel/build-kernel.sh; or use --kernel debian)"
[[ -f "$KDIR/vmlinux" && -f "$KDIR/kernel-release" ]] || die "guest/kernel/build-kernel.sh left no kernel in '$KDIR'"
VMLINUX_CACHED="$KDIR/vmlinux"
KCONFIG="$KDIR/config"
KREL="$(cat "$KDIR/kernel-release")"
KPKG="own-$(basename "$KDIR")"
KVER="$(sed -n 's/^source=//p' "$KDIR/build-info")"
KINPUT="$VMLINUX_CACHED"
ORIGIN="own built from $KVER with guest/kernel/kata-guest.conf ($(basename "$KDIR"))"
else
# ---------------------------------------------------------------- kernel package
# linux-image-amd64 (metapackage) -> linux-image-X.Y.Z-N-amd64 (real package)
meta_info="$(apt-cache show --no-all-versions "$META_PKG" 2>/dev/null || true)"
if [[ -n "$meta_info" ]]; then
  KPKG="$(sed -n 's/^Depends: //p' <<<"$meta_info" | tr ',' '\n' | sed 's/^ *//; s/ .*//' \
          | grep -E '^linux-image-[0-9]' | head -n1 || true)"
  [[ -n "$KPKG" ]] || die "could not resolve $META_PKG to a real linux-image package (see: apt-cache show $META_PKG)"
  KVER="$(apt-cache show --no-all-versions "$KPKG" 2>/dev/null | sed -n 's/^Version: //p' | head -n1)"
  [[ -n "$KVER" ]] || die "package $KPKG unknown to apt. Fix: apt-get update"
else
  # apt knows nothing (no `apt-get update` yet?): fall back to a single cached download.
  mapfile -t cached < <(compgen -G "$CACHE/linux-image-[0-9]*-amd64_*_amd64.deb" || true)
  ((${#cached[@]} == 1)) || die "package $META_PKG unknown to apt. Fix: apt-get update"
  KPKG="$(dpkg-deb -f "${cached[0]}" Package)"
  KVER="$(dpkg-deb -f "${cached[0]}" Version)"
  log "warning: apt does not know $META_PKG (run apt-get update); using cached ${cached[0]##*/}"
fi
KREL="${KPKG#linux-image-}"   # e.g. 6.1.0-56-amd64
ver_enc="${KVER//:/%3a}"
DEB="$CACHE/${KPKG}_${ver_enc}_amd64.deb"
if [[ ! -f "$DEB" ]]; then
  log "downloading $KPKG ($KVER) into $CACHE"
  ( cd "$CACHE" && apt-get -q -o APT::Sandbox::User=root download "$KPKG=$KVER" ) >&2 \
    || die "apt-get download $KPKG=$KVER failed. Fix: apt-get update (and check that the Debian archive is reachable)"
  [[ -f "$DEB" ]] || die "apt-get download $KPKG=$KVER left no $DEB"
fi
KINPUT="$DEB"
ORIGIN="debian $KPKG $KVER"
fi

# ---------------------------------------------------------------- up to date?
mkdir -p "$OUT"
OUT="$(readlink -f "$OUT")"
KERNEL_OUT="$OUT/vmlinux.container"
INITRD_OUT="$OUT/kata-containers-initrd.img"
RELEASE_OUT="$OUT/guest-kernel-release"
ORIGIN_OUT="$OUT/guest-kernel-origin"
STAMP="$OUT/.build-guest.stamp"
stamp_text="kernel=$KERNEL_KIND pkg=$KPKG ver=$KVER compression=$COMPRESSION machine=$MACHINE strip-sigs=$STRIP_SIGS agent=$AGENT
agent-sha256=$(sha256sum "$AGENT" | cut -d' ' -f1)
script-sha256=$(sha256sum "$SELF" | cut -d' ' -f1)
elf-sparse-sha256=$(sha256sum "$(dirname "$SELF")/tools/elf-sparse.c" | cut -d' ' -f1)"
up_to_date=1
for f in "$KERNEL_OUT" "$INITRD_OUT" "$RELEASE_OUT" "$ORIGIN_OUT" "$STAMP"; do
  [[ -f "$f" ]] || { up_to_date=0; break; }
  for in_f in "$AGENT" "$KINPUT" "$SELF"; do
    [[ "$f" -nt "$in_f" ]] || { up_to_date=0; break 2; }
  done
done
if ((up_to_date)) && [[ "$(cat "$STAMP")" == "$stamp_text" ]]; then
  log "up to date: $OUT ($KERNEL_KIND kernel $KREL, initrd compression $COMPRESSION)"
  exit 0
fi

need_tool() { command -v "$1" >/dev/null || die "missing tool $1. Fix: apt-get install -y ${TOOL_PKG[$1]:-$1}"; }
mods=()
if [[ "$KERNEL_KIND" == debian ]]; then
# ---------------------------------------------------------------- unpack
EXTRACT="$CACHE/extract/${KPKG}_${ver_enc}"
if [[ ! -f "$EXTRACT/.complete" ]]; then
  log "unpacking $(basename "$DEB")"
  rm -rf "$EXTRACT"
  mkdir -p "$EXTRACT"
  dpkg-deb -x "$DEB" "$EXTRACT" || die "dpkg-deb -x $DEB failed (corrupt download? delete it and rerun)"
  [[ -d "$EXTRACT/lib/modules/$KREL" ]] || die "$DEB has no lib/modules/$KREL"
  # The package ships no modules.dep (it is made by the postinst): make one.
  depmod -b "$EXTRACT" "$KREL" || die "depmod -b $EXTRACT $KREL failed"
  touch "$EXTRACT/.complete"
fi
VMLINUZ="$EXTRACT/boot/vmlinuz-$KREL"
KCONFIG="$EXTRACT/boot/config-$KREL"
[[ -f "$VMLINUZ" ]] || die "missing $VMLINUZ in $DEB"
[[ -f "$KCONFIG" ]] || die "missing $KCONFIG in $DEB"

# ---------------------------------------------------------------- vmlinux
# bzImage: setup_sects @0x1f1 (u8), payload_offset @0x248 (u32), payload_length @0x24c (u32);
# the compressed kernel starts at (setup_sects+1)*512 + payload_offset.
extract_vmlinux() {
  local in="$1" out="$2" ss po pl off magic
  rd() { od -An -t "u$2" -j "$1" -N "$2" "$in" | tr -d ' \n'; }
  [[ "$(od -An -c -j $((0x202)) -N 4 "$in" | tr -d ' \n')" == "HdrS" ]] || die "$in is not a bzImage"
  ss="$(rd $((0x1f1)) 1)"; po="$(rd $((0x248)) 4)"; pl="$(rd $((0x24c)) 4)"
  ((ss == 0)) && ss=4
  off=$(( (ss + 1) * 512 + po ))
  magic="$(od -An -t x1 -j "$off" -N 6 "$in" | tr -d ' \n')"
  # shellcheck disable=SC2054  # commas belong to dd's iflag
  local payload=(dd if="$in" bs=1M iflag=skip_bytes,count_bytes skip="$off" count="$pl" status=none)
  case "$magic" in
    fd377a585a00) "${payload[@]}" | xz -dc --single-stream >"$out" ;;
    1f8b*) "${payload[@]}" | gzip -dc 2>/dev/null >"$out" || true ;;
    28b52ffd*) need_tool zstd; "${payload[@]}" | zstd -dcq >"$out" ;;
    02214c18*) need_tool lz4; "${payload[@]}" | lz4 -dcq >"$out" || true ;;
    5d0000*) "${payload[@]}" | xz -dc --format=lzma --single-stream >"$out" 2>/dev/null || true ;;
    *) die "unknown kernel payload compression (magic $magic) in $in" ;;
  esac
  [[ "$(od -An -t x1 -N 4 "$out" | tr -d ' \n')" == "7f454c46" ]] || die "payload of $in did not decompress to an ELF"
}

VMLINUX_CACHED="$EXTRACT/vmlinux"
if [[ ! -f "$VMLINUX_CACHED" || "$VMLINUX_CACHED" -ot "$VMLINUZ" ]]; then
  log "extracting uncompressed vmlinux from $(basename "$VMLINUZ")"
  extract_vmlinux "$VMLINUZ" "$VMLINUX_CACHED.tmp"
  mv -f "$VMLINUX_CACHED.tmp" "$VMLINUX_CACHED"
fi
fi  # debian
# QEMU boots an ELF -kernel only through the PVH entry: XEN_ELFNOTE_PHYS32_ENTRY (type 0x12).
if ! readelf -n "$VMLINUX_CACHED" | grep -E '^[[:space:]]*Xen[[:space:]]+0x[0-9a-f]+[[:space:]].*(0x00000012|PHYS32)' >/dev/null; then
  die "$VMLINUX_CACHED has no Xen PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY); QEMU cannot boot it with -kernel (need CONFIG_PVH=y)"
fi
grep -q '^CONFIG_PVH=y' "$KCONFIG" || die "$KCONFIG: CONFIG_PVH is not y"

if [[ "$KERNEL_KIND" == debian ]]; then

# ---------------------------------------------------------------- modules
# Wanted drivers; the ones built in (=y) resolve to nothing.
case "$MACHINE" in
  microvm) WANT=(virtio_mmio) ;;               # devices enumerated from ACPI (LNRO0005)
  *) WANT=(virtio_pci) ;;                      # pc, q35, microvm,pcie=on
esac
WANT+=(virtio_console virtio_net 9pnet_virtio 9p overlay)
declare -A seen=()
for m in "${WANT[@]}"; do
  deps="$(modprobe -d "$EXTRACT" -S "$KREL" --show-depends "$m" 2>&1)" \
    || die "kernel $KREL has no module or built-in driver '$m': $deps"
  while read -r verb path _; do
    [[ "$verb" == insmod ]] || continue   # "builtin X" lines need nothing
    [[ -n "${seen[$path]:-}" ]] && continue
    seen[$path]=1
    mods+=("$path")
  done <<<"$deps"
done
fi  # debian: modules

# ---------------------------------------------------------------- initrd
# Appended signature layout: <elf> <sig (sig_len)> <struct module_signature: 12 bytes,
# sig_len = big-endian u32 in its last 4> "~Module signature appended~\n" (28 bytes).
strip_module_signature() {
  local f="$1" size sig_len
  [[ "$(tail -c 28 "$f")" == "~Module signature appended~" ]] || return 0
  size=$(stat -c %s "$f")
  sig_len=$(tail -c 32 "$f" | head -c 4 | od -An -t u1 | awk '{print $1*16777216 + $2*65536 + $3*256 + $4}')
  ((sig_len > 0 && sig_len < size)) || die "bad module signature trailer in $f"
  truncate -s $((size - 28 - 12 - sig_len)) "$f"
}
STAGE="$(mktemp -d "${TMPDIR:-/tmp}/kata-initrd.XXXXXX")"
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE"/{dev,proc,sys,run,tmp,etc/kata}
chmod 1777 "$STAGE/tmp"
install -m 0755 "$AGENT" "$STAGE/init"
# The own kernel has everything built in: no /lib/modules, no modules.list (the agent
# and the probe skip loading when the list is absent).
if ((${#mods[@]})); then
  mkdir -p "$STAGE/lib/modules"
  : >"$STAGE/etc/kata/modules.list"
fi
for p in "${mods[@]}"; do
  base="$(basename "$p")"
  case "$base" in
    *.ko) name="$base"; cp "$p" "$STAGE/lib/modules/$name" ;;
    *.ko.xz) name="${base%.xz}"; xz -dc "$p" >"$STAGE/lib/modules/$name" ;;
    *.ko.zst) name="${base%.zst}"; need_tool zstd; zstd -dcq "$p" >"$STAGE/lib/modules/$name" ;;
    *.ko.gz) name="${base%.gz}"; gzip -dc "$p" >"$STAGE/lib/modules/$name" ;;
    *) die "unexpected module file $p" ;;
  esac
  ((STRIP_SIGS)) && strip_module_signature "$STAGE/lib/modules/$name"
  echo "/lib/modules/$name" >>"$STAGE/etc/kata/modules.list"
done
# /dev/console for the kernel's initial console (the kernel's built-in cpio has one too).
if [[ $EUID -eq 0 ]]; then mknod -m 600 "$STAGE/dev/console" c 5 1 2>/dev/null || true; fi
echo "$KREL" >"$STAGE/etc/kata/kernel-release"

cpio_tmp="$INITRD_OUT.tmp.$$"
( cd "$STAGE" && find . -mindepth 1 -print0 | LC_ALL=C sort -z \
    | cpio --null --quiet -o -H newc -R 0:0 --reproducible ) >"$cpio_tmp.cpio" \
  || die "cpio failed"
case "$COMPRESSION" in
  none) mv -f "$cpio_tmp.cpio" "$cpio_tmp" ;;
  gzip) gzip -9n <"$cpio_tmp.cpio" >"$cpio_tmp"; rm -f "$cpio_tmp.cpio" ;;
  # The kernel only understands the legacy lz4 frame format (-l).
  lz4) lz4 -l -9 -q -f "$cpio_tmp.cpio" "$cpio_tmp"; rm -f "$cpio_tmp.cpio" ;;
  zstd) zstd -19 -q -f "$cpio_tmp.cpio" -o "$cpio_tmp"; rm -f "$cpio_tmp.cpio" ;;
esac
mv -f "$cpio_tmp" "$INITRD_OUT"

rm -f "$KERNEL_OUT"
if [[ "$KERNEL_KIND" == own ]]; then
  # The own kernel without its 2 MiB alignment padding in the program headers:
  # QEMU neither reads those ~6.5 MiB of the file nor writes them into guest
  # RAM, per sandbox (guest/tools/elf-sparse.c explains why that is safe).
  SPARSE="$(mktemp -d)/elf-sparse"
  gcc -O2 -Wall -o "$SPARSE" "$(dirname "$SELF")/tools/elf-sparse.c" || die "cannot build guest/tools/elf-sparse.c"
  sparse_msg="$("$SPARSE" "$VMLINUX_CACHED" "$KERNEL_OUT.tmp")" || die "elf-sparse $VMLINUX_CACHED failed"
  log "vmlinux: $sparse_msg"
  rm -rf "${SPARSE%/*}"
  mv -f "$KERNEL_OUT.tmp" "$KERNEL_OUT"
else
  # Hard link when possible (same filesystem), else copy: the kernel is ~60 MiB.
  ln "$VMLINUX_CACHED" "$KERNEL_OUT" 2>/dev/null || cp "$VMLINUX_CACHED" "$KERNEL_OUT"
fi
touch "$KERNEL_OUT"
echo "$KREL" >"$RELEASE_OUT"
echo "$ORIGIN" >"$ORIGIN_OUT"
printf '%s\n' "$stamp_text" >"$STAMP"

# Drop other kernel versions from the cache (an unpacked kernel is ~450 MiB).
# (Only when building with it: the own kernel's builds keep Debian's fallback cached.)
if [[ "$KERNEL_KIND" == debian ]]; then
for old in "$CACHE"/linux-image-[0-9]*-amd64_*_amd64.deb "$CACHE"/extract/linux-image-*; do
  [[ -e "$old" && "$old" != "$DEB" && "$old" != "$EXTRACT" ]] || continue
  log "pruning stale cache entry ${old#"$CACHE"/}"
  rm -rf "$old"
done
fi

log "kernel  $KERNEL_OUT ($KREL; $ORIGIN)"
log "initrd  $INITRD_OUT ($(stat -c %s "$INITRD_OUT") bytes, compression $COMPRESSION, ${#mods[@]} modules)"
log "modules $( ((${#mods[@]})) && tr '\n' ' ' <"$STAGE/etc/kata/modules.list" || echo "none (all built in)")"
