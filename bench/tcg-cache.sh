#!/usr/bin/env bash
# TCG translation cache size (hypervisor.qemu.tcg_tb_size_mib) against speed
# and memory, side by side in one run. For each size: a private containerd
# whose shim reads a configuration copy with that size, a running pod
# sandbox (`sleep`), then per round
#   - cold: `ctr run --rm IMAGE echo hi` (a new sandbox: boot + container)
#   - join: `ctr run --rm IMAGE echo hi` joining the running pod (no boot:
#     what each further container of a Kubernetes pod costs)
# and at the end the pod's host PSS (QEMU + shim) after those N containers,
# with QEMU's TCG code buffer on its own. Rounds interleave the sizes, so a
# change in the host's load hits them alike.
#
#   sudo bench/tcg-cache.sh [-n N] [--tb-size 'MiB ...'] (default: -n 5, '16 32 64')
#
# Only meaningful where the runtime picks TCG (no usable KVM).
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

N=5
TBS="16 32 64"
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n) N=$2; shift 2 ;;
    --tb-size) TBS=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1" ;;
  esac
done
need containerd containerd
need ctr containerd
need containerd-shim-kata-v2 "(scripts/setup.sh)"

work=$(mktemp -d /tmp/kata-tcg-cache.XXXXXX)
declare -A PID_OF
use() { ctrd_use "$work/ctrd-$1" "${PID_OF[$1]:-}"; }  # the containerd of size $1
cleanup() {
  local tb
  for tb in $TBS; do use "$tb"; ctrd_stop; done
  for tb in $TBS; do kata_cleanup "tc-$$-pod-$tb" $(seq -f "tc-$$-cold-$tb-%g" 0 "$N"); done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "machine: $(machine_line)"
for tb in $TBS; do
  kata_conf_copy "$work/tb$tb.toml" "" "$tb"
  KATA_CONF_FILE="$work/tb$tb.toml" ctrd_start "$work/ctrd-$tb"
  PID_OF[$tb]=$CTRD_PID
  ctrd_import_busybox
  ctr_pod_start "tc-$$-pod-$tb"
done

declare -A COLD JOIN
for ((i = 0; i <= N; i++)); do  # round 0 warms up host caches
  for tb in $TBS; do
    use "$tb"
    c=$(ctr_echo_ms io.containerd.kata.v2 "tc-$$-cold-$tb-$i")
    j=$(ctr_echo_in_pod_ms "tc-$$-pod-$tb" "tc-$$-app-$tb-$i")
    ((i == 0)) && continue
    COLD[$tb]+="$c " JOIN[$tb]+="$j "
  done
done

printf '%-8s %12s %12s %14s %14s   %s\n' "tb-size" "cold (ms)" "join (ms)" "pod PSS (MiB)" "TCG buf (MiB)" "runs cold | join"
for tb in $TBS; do
  pss=0 tcg=0
  while read -r p kind; do
    pss=$((pss + $(pss_kb "$p")))
    [[ $kind == qemu ]] && tcg=$(qemu_pss_split "$p" | awk '{print $2}')
  done < <(sandbox_procs "tc-$$-pod-$tb")
  printf '%-8s %12s %12s %14s %14s   %s| %s\n' "$tb" \
    "$(tr ' ' '\n' <<<"${COLD[$tb]}" | grep . | median)" "$(tr ' ' '\n' <<<"${JOIN[$tb]}" | grep . | median)" \
    "$(kib_to_mib "$pss")" "$(kib_to_mib "$tcg")" "${COLD[$tb]}" "${JOIN[$tb]}"
done
echo "load (1/5/15 min) at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
