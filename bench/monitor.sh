#!/usr/bin/env bash
# shellcheck disable=SC2046  # pid lists: numbers, word splitting intended
# What kata-monitor costs the sandboxes it watches (issue 14):
#   starts N (default 20) idle sandboxes (`sleep 600`), then measures for T
#   seconds (default 30) the host CPU their QEMUs and services use unscraped,
#   then T seconds more while /metrics is scraped every second; prints both,
#   kata-monitor's own CPU and the scrape times; removes everything it started.
#
#   sudo bench/monitor.sh [-n N] [-t SECONDS] [--port PORT]
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

N=20
T=30
PORT=18090
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n) N=$2; shift 2 ;;
    -t) T=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    *) die "unknown argument $1" ;;
  esac
done
need curl curl
command -v kata-monitor >/dev/null || die "kata-monitor is not installed (scripts/install.sh)"

work=$(mktemp -d /tmp/kata-bench-monitor.XXXXXX)
ids=()
mon=
cleanup() {
  [[ -n "$mon" ]] && kill "$mon" 2>/dev/null || true
  kata_cleanup "${ids[@]}"
  rm -rf "$work"
}
trap cleanup EXIT

# CPU seconds (user + system) of these pids so far.
cpu_s() {
  local hz total=0 p t
  hz=$(getconf CLK_TCK)
  for p in "$@"; do
    t=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)
    total=$((total + t))
  done
  awk -v t="$total" -v hz="$hz" 'BEGIN{printf "%.2f", t/hz}'
}
pct() { awk -v a="$1" -v b="$2" -v s="$3" 'BEGIN{printf "%.1f%%", (b-a)*100/s}'; }

echo "# $(machine_line)"
scripts_dir="$(cd "$(dirname "$0")/../scripts" && pwd)"
"$scripts_dir/make-bundle.sh" "$work/proto" -- sleep 600 >/dev/null
for i in $(seq 1 "$N"); do
  id="kbm-$$-$i"
  cp -a "$work/proto" "$work/b$i"
  kata-runtime run -d --bundle "$work/b$i" "$id" >/dev/null
  ids+=("$id")
done
pids=$(for id in "${ids[@]}"; do sandbox_procs "$id" | awk '$2 == "qemu" || $2 == "shim" {print $1}'; done)
sleep 5  # let the boots settle

c0=$(cpu_s $pids)
sleep "$T"
c1=$(cpu_s $pids)

kata-monitor -listen-address "127.0.0.1:$PORT" 2>"$work/monitor.log" &
mon=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/sandboxes" >/dev/null && break; sleep 0.1; done
m0=$(cpu_s "$mon")
c2=$(cpu_s $pids)
times=()
end=$(( $(date +%s) + T ))
while [[ $(date +%s) -lt $end ]]; do
  t0=$(now_ms)
  lines=$(curl -sf "http://127.0.0.1:$PORT/metrics" | wc -l)
  times+=($(( $(now_ms) - t0 )))
  sleep 1
done
c3=$(cpu_s $pids)
m1=$(cpu_s "$mon")
reported=$(curl -sf "http://127.0.0.1:$PORT/metrics" | awk '/^kata_monitor_running_sandboxes / {print $2}')

echo "sandboxes: $N idle (reported by kata-monitor: $reported), window: $T s each, scrape every 1 s ($lines lines)"
printf "%-52s %s\n" "QEMUs + services, not scraped (of one CPU)" "$(pct "$c0" "$c1" "$T")"
printf "%-52s %s\n" "QEMUs + services, scraped every second" "$(pct "$c2" "$c3" "$T")"
printf "%-52s %s\n" "kata-monitor itself" "$(pct "$m0" "$m1" "$T")"
printf "%-52s %s ms (median of %d)\n" "scrape time (curl, $N sandboxes)" "$(printf '%s\n' "${times[@]}" | median)" "${#times[@]}"
