#!/usr/bin/env bash
# Cold start through containerd, side by side with the boot floor and runc:
#   - `ctr run --rm IMAGE echo hi` with the kata shim (io.containerd.kata.v2):
#     a new sandbox (shim + VM) per run
#   - the boot floor: bench/boot-floor.sh (trivial /init, same kernel, machine
#     and guest memory as the runtime's configuration), median to READY
#   - `ctr run --rm IMAGE echo hi` with runc (io.containerd.runc.v2)
#   - `ctr run --rm IMAGE echo hi` joining a running kata pod (the CRI
#     annotations Kubernetes' containerd sets): no boot, the container's
#     set-up in a guest whose code QEMU has translated before
# N runs each (default 5); prints medians and the ratios. Target (issue 5):
# kata cold start <= 1.15x the boot floor.
#
#   sudo bench/cold-start.sh [-n N] [--no-floor]
#
# The three are interleaved (one of each per round, after a warm-up round), so
# a change in the host's load hits them alike.
# Uses a private containerd (own root, state and socket in a temp dir, CRI off,
# as tests/integration/containerd_env.h) started and stopped by the script, and
# a busybox image built locally (tests/integration/containerd_make_image.sh).
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

N=5
FLOOR=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n) N=$2; shift 2 ;;
    --no-floor) FLOOR=0; shift ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1" ;;
  esac
done
need containerd containerd
need ctr containerd
need runc runc
need containerd-shim-kata-v2 "(scripts/setup.sh)"
need containerd-shim-runc-v2 containerd

work=$(mktemp -d /tmp/kata-cold.XXXXXX)
cleanup() {
  ctrd_stop
  for id in $(seq -f "cs-$$-kata-%g" 0 "$N") "cs-$$-pod"; do kata_cleanup "$id"; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "machine: $(machine_line)"
ctrd_start "$work/containerd"
ctrd_import_busybox

conf=${KATA_CONF_FILE:-/usr/share/defaults/kata-containers/configuration.toml}
[[ -f /etc/kata-containers/configuration.toml && -z "${KATA_CONF_FILE:-}" ]] && conf=/etc/kata-containers/configuration.toml
mem=$(awk '/^\[hypervisor.qemu\]/ {q=1} q && /^default_memory *=/ {print $3; exit}' "$conf")
machine=$(awk -F'"' '/^\[hypervisor.qemu\]/ {q=1} q && /^machine_type *=/ {print $2; exit}' "$conf")
kind=$(awk '{print ($1 == "own") ? "own" : "debian"}' /usr/share/kata-containers/guest-kernel-origin 2>/dev/null || echo debian)
floor_once() {  # one boot-floor run -> ms to READY
  "$BENCH_ROOT/bench/boot-floor.sh" -n 1 --mem "${mem:-256}" --machine "${machine:-microvm}" --kernel "$kind" \
    --workdir "$work/floor" >"$work/floor.txt" 2>"$work/floor.err" ||
    { cat "$work/floor.txt" "$work/floor.err" >&2; die "boot-floor.sh failed"; }
  sed -n 's/^run 1: READY *\([0-9]*\) ms.*/\1/p' "$work/floor.txt"
}

# Interleaved (kata, floor, runc per round) so that a change in the host's load
# hits all three alike; round 0 warms up (page cache, snapshotter, guest build).
pod="cs-$$-pod"
ctr_pod_start "$pod"
kata_runs="" runc_runs="" floor_runs="" pod_runs="" loads="" round_ratios=""
for ((i = 0; i <= N; i++)); do
  k=$(ctr_echo_ms io.containerd.kata.v2 "cs-$$-kata-$i")
  f=nan
  if ((FLOOR)); then f=$(floor_once); [[ -n $f ]] || die "boot-floor.sh printed no time: $(cat "$work/floor.txt")"; fi
  r=$(ctr_echo_ms io.containerd.runc.v2 "cs-$$-runc-$i")
  p=$(ctr_echo_in_pod_ms "$pod" "cs-$$-app-$i")
  ((i == 0)) && continue
  kata_runs+="$k "; floor_runs+="$f "; runc_runs+="$r "; pod_runs+="$p "; loads+="$(load1) "
  ((FLOOR)) && round_ratios+="$(awk -v a="$k" -v b="$f" 'BEGIN{printf "%.3f", a/b}') "
done
kata_ms=$(tr ' ' '\n' <<<"$kata_runs" | grep . | median)
runc_ms=$(tr ' ' '\n' <<<"$runc_runs" | grep . | median)
pod_ms=$(tr ' ' '\n' <<<"$pod_runs" | grep . | median)
floor_ms=$( ((FLOOR)) && tr ' ' '\n' <<<"$floor_runs" | grep . | median || echo nan)
((FLOOR)) && echo "boot floor: $(grep -E '^(machine|kernel)' "$work/floor.txt" | tr '\n' ' ')"

echo "runs (ms): kata $kata_runs| floor $floor_runs| runc $runc_runs| pod $pod_runs| load $loads"
printf '%-52s %10s %12s %10s\n' "metric (median of $N, ms)" median "vs floor" "vs runc"
printf '%-52s %10s %12s %10s\n' "ctr run --rm echo hi, kata (io.containerd.kata.v2)" "$kata_ms" "$(ratio "$kata_ms" "$floor_ms")" "$(ratio "$kata_ms" "$runc_ms")"
printf '%-52s %10s %12s %10s\n' "boot floor (QEMU start -> READY, trivial /init)" "$floor_ms" "1.00x" "$(ratio "$floor_ms" "$runc_ms")"
printf '%-52s %10s %12s %10s\n' "ctr run --rm echo hi, runc (io.containerd.runc.v2)" "$runc_ms" "$(ratio "$runc_ms" "$floor_ms")" "1.00x"
printf '%-52s %10s %12s %10s\n' "ctr run --rm echo hi, kata, joining a running pod" "$pod_ms" "$(ratio "$pod_ms" "$floor_ms")" "$(ratio "$pod_ms" "$runc_ms")"
if [[ $floor_ms != nan ]]; then
  awk -v k="$kata_ms" -v f="$floor_ms" 'BEGIN{r=k/f; printf "target: kata cold start <= 1.15x boot floor: %.2fx %s (overhead over the floor: %d ms)\n", r, (r <= 1.15 ? "PASS" : "FAIL"), k-f}'
  echo "per-round ratios kata/floor: $round_ratios(median $(tr ' ' '\n' <<<"$round_ratios" | grep . | sort -n | awk '{a[NR]=$1} END{print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}')x)"
fi
echo "load (1/5/15 min) at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
