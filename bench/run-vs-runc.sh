#!/usr/bin/env bash
# Side by side with runc on the same busybox bundle:
#   - median wall time of `run` for `echo hi` (N runs, default 5)
#   - median time from QEMU start to agent ready (kata only)
# Usage: sudo bench/run-vs-runc.sh [N] [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-5}
BUILD=${2:-build}
command -v runc >/dev/null || { echo "bench: runc missing: apt-get install runc" >&2; exit 1; }
command -v kata-runtime >/dev/null || { echo "bench: kata-runtime missing: run scripts/setup.sh" >&2; exit 1; }
work=$(mktemp -d /tmp/kata-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
scripts/make-bundle.sh "$work/bundle" -- echo hi >/dev/null

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_runs() {  # runtime
  for i in $(seq "$N"); do
    local t0 t1 out
    t0=$(date +%s%N)
    out=$("$1" run --bundle "$work/bundle" "bench-$$-$i")
    t1=$(date +%s%N)
    [ "$out" = hi ] || { echo "bench: $1 printed '$out'" >&2; exit 1; }
    echo $(( (t1 - t0) / 1000000 ))
  done | median
}

kata_ms=$(time_runs kata-runtime)
runc_ms=$(time_runs runc)
boot=$("$BUILD/bin/kata-bench-boot" "$N")
vmm_ms=$(echo "$boot" | awk '/vmm_start_ms/ {print $2}')
ready_ms=$(echo "$boot" | awk '/agent_ready_ms/ {print $2}')

printf '%-44s %12s %10s %8s\n' "metric (median of $N, ms)" kata-runtime runc ratio
printf '%-44s %12s %10s %8s\n' "run echo hi (wall)" "$kata_ms" "$runc_ms" "$(awk -v a="$kata_ms" -v b="$runc_ms" 'BEGIN{printf "%.1fx", a/b}')"
printf '%-44s %12s %10s %8s\n' "QEMU start -> QMP/agent sockets" "$vmm_ms" "-" "-"
printf '%-44s %12s %10s %8s\n' "QEMU start -> agent ready" "$ready_ms" "-" "-"
echo "accelerator: $(kata-runtime env | awk -F'"' '/^chosen/ {print $2}'); host: $(nproc) cores, $(uname -r)"
