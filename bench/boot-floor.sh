#!/usr/bin/env bash
# Boot-floor benchmark: how fast can a guest VM come up to the point where the
# agent could talk to the host?  Boots guest/tools/probe-init (a trivial static
# /init) N times under QEMU TCG with the runtime's device set and prints the
# median wall time from QEMU start to "READY" read from the agent socket.
#
#   bench/boot-floor.sh [-n N] [--machine microvm|microvm-pci|q35|pc]
#                       [--compression none|gzip|lz4|zstd] [--mem MiB]
#                       [--cmdline 'FULL KERNEL CMDLINE' | --append 'EXTRA ARGS']
#                       [--cpu MODEL] [--workdir DIR] [--cache DIR] [--verbose]
#                       [--kernel debian|own] [--vmlinux PATH]
#   --kernel: which guest kernel build-guest.sh uses (own = guest/kernel/build-kernel.sh,
#   no modules in the initrd); --vmlinux: boot this ELF instead (with that initrd)
#   experiments: [--machine-opts 'k=v,..'] [--qemu-args 'ARGS'] [--build-args 'build-guest.sh ARGS']
#   (--qemu-args '-icount shift=0,sleep=off' makes the guest-side times deterministic:
#    good for comparing kernel parameters on a busy host; wall times become meaningless)
#
# --verbose drops `quiet` (kernel messages with printk timestamps go to the
# console log, which slows the boot itself) and keeps the console logs.
# Output: one line per run, then a "median" line; exit status 0 only if every
# run reached READY and saw the 9p share.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N=5
MACHINE=microvm
COMPRESSION=none
MEM=128
CPU=""
MACHINE_OPTS=""
QEMU_EXTRA=""
BUILD_EXTRA=""
APPEND=""
CMDLINE=""
VERBOSE=0
KERNEL_KIND=debian
VMLINUX=""
WORK="${TMPDIR:-/tmp}/kata-boot-floor"
CACHE="${KATA_GUEST_CACHE:-/var/cache/kata-guest}"
TIMEOUT=60

# Recommended kernel command line (guest/README.md); tsc_early_khz=<host TSC kHz>
# is appended at run time (see guest/tools/tsc-khz.c).
CMDLINE_COMMON="console=ttyS0 quiet panic=-1 mitigations=off rodata=off cryptomgr.notests tsc=reliable no_timer_check 8250.nr_uarts=1"
# Extra for the PC-style machines (legacy i8042 keyboard controller, PCI bus scan).
CMDLINE_PC="reboot=k i8042.noaux i8042.nomux i8042.nokbd i8042.nopnp i8042.dumbkbd pci=lastbus=0"

while [[ $# -gt 0 ]]; do
  case "$1" in
    -n) N="$2"; shift 2 ;;
    --machine) MACHINE="$2"; shift 2 ;;
    --compression) COMPRESSION="$2"; shift 2 ;;
    --mem) MEM="$2"; shift 2 ;;
    --cpu) CPU="$2"; shift 2 ;;
    --machine-opts) MACHINE_OPTS="$2"; shift 2 ;;
    --qemu-args) QEMU_EXTRA="$2"; shift 2 ;;
    --build-args) BUILD_EXTRA="$2"; shift 2 ;;
    --append) APPEND="$2"; shift 2 ;;
    --cmdline) CMDLINE="$2"; shift 2 ;;
    --workdir) WORK="$2"; shift 2 ;;
    --cache) CACHE="$2"; shift 2 ;;
    --verbose) VERBOSE=1; shift ;;
    --kernel) KERNEL_KIND="$2"; shift 2 ;;
    --vmlinux) VMLINUX="$(readlink -f "$2")"; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "boot-floor.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

# ---------------------------------------------------------------- tools
declare -A TOOL_PKG=([gcc]=gcc [qemu-system-x86_64]=qemu-system-x86 [socat]=socat
                     [cpio]=cpio [xz]=xz-utils [depmod]=kmod [readelf]=binutils)
missing=()
for t in gcc qemu-system-x86_64 socat cpio xz readelf; do
  command -v "$t" >/dev/null 2>&1 || missing+=("$t")
done
PATH="$PATH:/usr/sbin:/sbin" command -v depmod >/dev/null 2>&1 || missing+=(depmod)
if ((${#missing[@]})); then
  pkgs=$(for t in "${missing[@]}"; do echo "${TOOL_PKG[$t]}"; done | sort -u | tr '\n' ' ')
  echo "boot-floor.sh: missing tool(s): ${missing[*]}. Fix: apt-get install -y $pkgs" >&2
  exit 1
fi
[[ -e /usr/lib/x86_64-linux-gnu/libc.a ]] || { echo "boot-floor.sh: static libc missing. Fix: apt-get install -y libc6-dev" >&2; exit 1; }

# ---------------------------------------------------------------- guest
mkdir -p "$WORK"
PROBE="$WORK/probe-init"
if [[ ! -x "$PROBE" || "$PROBE" -ot "$ROOT/guest/tools/probe-init.c" ]]; then
  gcc -static -O2 -Wall -o "$PROBE" "$ROOT/guest/tools/probe-init.c"
fi
GUEST="$WORK/guest-$KERNEL_KIND-$MACHINE-$COMPRESSION${BUILD_EXTRA:+-$(echo "$BUILD_EXTRA" | md5sum | cut -c1-8)}"
# shellcheck disable=SC2086  # BUILD_EXTRA: extra build-guest.sh flags, word split
"$ROOT/guest/build-guest.sh" --agent "$PROBE" --out "$GUEST" --cache "$CACHE" \
  --compression "$COMPRESSION" --machine "$MACHINE" --kernel "$KERNEL_KIND" $BUILD_EXTRA 2>&1 | sed 's/^/  /' >&2
[[ -f "$GUEST/kata-containers-initrd.img" ]] || { echo "boot-floor.sh: guest build failed" >&2; exit 1; }
[[ -n "$VMLINUX" ]] || VMLINUX="$GUEST/vmlinux.container"
[[ -f "$VMLINUX" ]] || { echo "boot-floor.sh: no kernel $VMLINUX" >&2; exit 1; }

SHARE="$WORK/share"
mkdir -p "$SHARE"
TOKEN="probe-$$-$RANDOM"
echo "$TOKEN" >"$SHARE/probe.txt"

TSC_KHZ_BIN="$WORK/tsc-khz"
if [[ ! -x "$TSC_KHZ_BIN" || "$TSC_KHZ_BIN" -ot "$ROOT/guest/tools/tsc-khz.c" ]]; then
  gcc -O2 -Wall -o "$TSC_KHZ_BIN" "$ROOT/guest/tools/tsc-khz.c"
fi
TSC_KHZ="$("$TSC_KHZ_BIN")"
if [[ -z "$CMDLINE" ]]; then
  CMDLINE="$CMDLINE_COMMON tsc_early_khz=$TSC_KHZ apic_bus_hz=1000000000"  # as the runtime under TCG
  case "$MACHINE" in
    microvm) ;;
    microvm-pci) CMDLINE="$CMDLINE pci=lastbus=0" ;;
    *) CMDLINE="$CMDLINE $CMDLINE_PC" ;;
  esac
  ((VERBOSE)) && CMDLINE="${CMDLINE/ quiet/}"
fi
[[ -n "$APPEND" ]] && CMDLINE="$CMDLINE $APPEND"

SOCK="$WORK/agent.sock"

# The runtime's QEMU command line (guest/README.md); $1 = console log path.
qemu_argv() {
  local machine serial p9
  case "$MACHINE" in
    pc|q35) machine="$MACHINE"; serial=virtio-serial-pci; p9=virtio-9p-pci ;;
    microvm) machine="microvm"; serial=virtio-serial-device; p9=virtio-9p-device ;;
    microvm-pci) machine="microvm,pcie=on"; serial=virtio-serial-pci; p9=virtio-9p-pci ;;
    *) echo "unknown machine $MACHINE" >&2; exit 2 ;;
  esac
  machine="$machine${MACHINE_OPTS:+,$MACHINE_OPTS}"
  # shellcheck disable=SC2054  # commas are QEMU option syntax
  QEMU_ARGV=(qemu-system-x86_64
    -machine "$machine" -accel tcg ${CPU:+-cpu "$CPU"} -smp 1 -m "${MEM}M"
    -nographic -nodefaults -no-user-config -no-reboot
    -kernel "$VMLINUX" -initrd "$GUEST/kata-containers-initrd.img"
    -append "$CMDLINE"
    -chardev "file,id=console0,path=$1" -serial chardev:console0
    -device "$serial,id=vser0"
    -chardev "socket,id=agent0,path=$SOCK,server=on,wait=off"
    -device virtserialport,bus=vser0.0,chardev=agent0,name=agent.channel.0
    -fsdev "local,id=share0,path=$SHARE,security_model=none"
    -device "$p9,fsdev=share0,mount_tag=kataShared")
  # shellcheck disable=SC2206  # experiments only: word splitting intended
  [[ -n "$QEMU_EXTRA" ]] && QEMU_ARGV+=($QEMU_EXTRA)
  return 0
}

# CPU time (all threads) QEMU has used so far, in ms: steadier than wall time
# when the host is busy (TCG is CPU bound, so on an idle host cpu ~= wall).
qemu_cpu_ms() {
  cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s+=$1} END{printf "%.0f", s/1e6}'
}
ms() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.0f", (b-a)*1000}'; }
median() { sort -n | awk '{a[NR]=$1} END{if(NR==0){print "nan"} else if(NR%2){print a[(NR+1)/2]} else {printf "%.0f\n",(a[NR/2]+a[NR/2+1])/2}}'; }

echo "machine=$MACHINE compression=$COMPRESSION mem=${MEM}M cpu=${CPU:-default} initrd=$(stat -c %s "$GUEST/kata-containers-initrd.img")B"
echo "kernel: $VMLINUX ($(cat "$GUEST/guest-kernel-release" 2>/dev/null); $(cat "$GUEST/guest-kernel-origin" 2>/dev/null))"
echo "cmdline: $CMDLINE"
qemu_argv "$WORK/console-N.log"
quote() { local a out=(); for a in "$@"; do [[ "$a" =~ [[:space:]] ]] && a="'$a'"; out+=("$a"); done; echo "${out[*]}"; }
echo "argv: $(quote "${QEMU_ARGV[@]}")"
fails=0
declare -a R_CPU R_READY R_KSTART R_INIT R_MODS R_PORT R_EXIT R_9P
for ((i = 1; i <= N; i++)); do
  LOG="$WORK/console-$i.log"
  rm -f "$SOCK" "$LOG"
  qemu_argv "$LOG"
  t0=$EPOCHREALTIME
  "${QEMU_ARGV[@]}" </dev/null >"$WORK/qemu-$i.out" 2>&1 &
  qpid=$!
  while [[ ! -S "$SOCK" ]]; do
    kill -0 "$qpid" 2>/dev/null || break
    sleep 0.002
  done
  t_sock=$EPOCHREALTIME   # QEMU has parsed its options and created its chardevs
  t_ready="" ninep="" times="" cpu_ready="" dmesg=0
  if [[ -S "$SOCK" ]]; then
    # retry: the socket file exists between QEMU's bind() and listen().
    coproc SOC { exec socat -u "UNIX-CONNECT:$SOCK,retry=500,interval=0.002" - 2>/dev/null; }
    while IFS= read -r -t "$TIMEOUT" line <&"${SOC[0]}"; do
      case "$line" in
        READY) t_ready=$EPOCHREALTIME; cpu_ready=$(qemu_cpu_ms "$qpid") ;;
        9P\ *) ninep="${line#9P }" ;;
        TIMES\ *) times="${line#TIMES }" ;;
        DMESG-BEGIN) dmesg=1; : >"$WORK/dmesg-$i.log" ;;
        DMESG-END) dmesg=0 ;;
        *) ((dmesg)) && printf '%s\n' "$line" >>"$WORK/dmesg-$i.log" ;;
      esac
    done
    if [[ -n "${SOC_PID:-}" ]]; then
      kill "$SOC_PID" 2>/dev/null || true
      wait "$SOC_PID" 2>/dev/null || true
    fi
  fi
  # The probe powers off right after TIMES; QEMU exits (-no-reboot).
  for ((w = 0; w < 2000; w++)); do kill -0 "$qpid" 2>/dev/null || break; sleep 0.005; done
  kill "$qpid" 2>/dev/null && echo "run $i: QEMU did not exit after poweroff" >&2
  wait "$qpid" 2>/dev/null || true
  t_exit=$EPOCHREALTIME
  if [[ -z "$t_ready" || "$ninep" != "$TOKEN" ]]; then
    echo "run $i: FAIL ready=${t_ready:+yes} 9p='$ninep' (console: $LOG, qemu: $WORK/qemu-$i.out)"
    tail -n 5 "$LOG" 2>/dev/null | sed 's/^/    /'
    sed 's/^/    /' "$WORK/qemu-$i.out"
    fails=$((fails + 1))
    continue
  fi
  total=$(ms "$t0" "$t_ready")
  get() { sed -n "s/.*\b$1=\([0-9.]*\).*/\1/p" <<<"$times"; }
  g_init=$(get init); g_mods=$(get modules); g_ready=$(get ready); g_9p=$(get 9p)
  # Host clock for QEMU start-up; guest CLOCK_BOOTTIME only for intervals inside
  # /init (the kernel's own clock is not trustworthy before timekeeping is up:
  # on microvm it stands still through early boot).
  qinit=$(ms "$t0" "$t_sock")
  mods=$(ms "$g_init" "$g_mods"); port=$(ms "$g_mods" "$g_ready")
  kern=$(awk -v w="$(ms "$t_sock" "$t_ready")" -v a="$g_init" -v b="$g_ready" 'BEGIN{printf "%.0f", w - (b-a)*1000}')
  mnt=$(ms "$g_ready" "$g_9p"); ex=$(ms "$t_ready" "$t_exit")
  R_READY+=("$total"); R_KSTART+=("$qinit"); R_INIT+=("$kern"); R_MODS+=("$mods")
  R_PORT+=("$port"); R_9P+=("$mnt"); R_EXIT+=("$ex"); R_CPU+=("$cpu_ready")
  printf 'run %d: READY %5d ms (qemu cpu %5d) | qemu start %3d  fw+kernel->/init %4d  modules %4d  port+write %3d | 9p mount %3d  poweroff %4d\n' \
    "$i" "$total" "$cpu_ready" "$qinit" "$kern" "$mods" "$port" "$mnt" "$ex"
  ((VERBOSE)) || rm -f "$LOG" "$WORK/qemu-$i.out"
done
ok=$((N - fails))
if ((ok > 0)); then
  m() { printf '%s\n' "$@" | median; }
  printf 'median (%d/%d ok): READY %s ms (min %s, qemu cpu %s) | qemu start %s  fw+kernel->/init %s  modules %s  port+write %s | 9p mount %s  poweroff %s\n' \
    "$ok" "$N" "$(m "${R_READY[@]}")" "$(printf '%s\n' "${R_READY[@]}" | sort -n | head -n1)" "$(m "${R_CPU[@]}")" "$(m "${R_KSTART[@]}")" "$(m "${R_INIT[@]}")" "$(m "${R_MODS[@]}")" \
    "$(m "${R_PORT[@]}")" "$(m "${R_9P[@]}")" "$(m "${R_EXIT[@]}")"
fi
((fails == 0))
