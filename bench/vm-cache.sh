#!/usr/bin/env bash
# Start from the factory, side by side, through containerd (`ctr run --rm
# IMAGE echo hi`, a new sandbox per run), each with its own private containerd
# whose shim reads its own configuration copy:
#   cold      every sandbox boots its VM
#   template  every sandbox resumes the VM template ([factory] enable_template)
#   cache     every sandbox takes a warm VM from the VM cache ([factory]
#             vm_cache_number = 1, enable_template = true: `kata-runtime
#             factory init` makes the template, then serves clones of it,
#             each warmed up by a throw-away container)
#   runc      for reference
# Before every run the script waits until the cache has a VM ready again, so
# that its refill (a new clone, warmed up: CPU) never runs beside a measured
# cold or template start; it does run beside the cache start that triggered
# it. This is the steady state of a cache that keeps up with the rate
# sandboxes start at; the refill times (from the server's log) are printed.
# N rounds (default 5) after a warm-up round; prints medians and ratios.
# Target (issue 5): start from a template <= 0.3x a cold start.
#
#   sudo bench/vm-cache.sh [-n N]
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

N=5
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n) N=$2; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1" ;;
  esac
done
need containerd containerd
need ctr containerd
need runc runc
need kata-runtime "(scripts/setup.sh)"
need containerd-shim-kata-v2 "(scripts/setup.sh)"

MODES="cold template cache"
work=$(mktemp -d /tmp/kata-vm-cache.XXXXXX)
declare -A PID_OF
use() { ctrd_use "$work/ctrd-$1" "${PID_OF[$1]:-}"; }  # the containerd of mode $1
server_pid=""
cleanup() {
  local m
  for m in $MODES; do use "$m"; ctrd_stop; done
  KATA_CONF_FILE="$work/cache.toml" kata-runtime factory destroy >/dev/null 2>&1 || true
  KATA_CONF_FILE="$work/template.toml" kata-runtime factory destroy >/dev/null 2>&1 || true
  [[ -n $server_pid ]] && { kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; }
  for m in $MODES; do kata_cleanup $(seq -f "vc-$$-$m-%g" 0 "$N") "vc-$$-$m-idle"; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

factory() {  # factory MODE-CONFIG ARGS...
  KATA_CONF_FILE="$work/$1.toml" kata-runtime factory "${@:2}"
}
set_factory() {  # set_factory FILE KEY VALUE (in the [factory] table); templates and the cache need 9p
  sed -i -e "/^\[factory\]/,/^\[/ s|^#\{0,1\} *$2 *=.*|$2 = $3|" -e 's|^shared_fs *=.*|shared_fs = "virtio-9p"|' "$1"
}

echo "machine: $(machine_line)"
for m in $MODES; do kata_conf_copy "$work/$m.toml"; done
set_factory "$work/template.toml" enable_template true
set_factory "$work/template.toml" template_path "\"$work/template\""
set_factory "$work/cache.toml" enable_template true
set_factory "$work/cache.toml" template_path "\"$work/template-cache\""
set_factory "$work/cache.toml" vm_cache_number 1
set_factory "$work/cache.toml" vm_cache_endpoint "\"$work/cache.sock\""
factory template init >/dev/null
factory cache init >"$work/cache-server.log" 2>&1 &
server_pid=$!

for m in $MODES; do
  KATA_CONF_FILE="$work/$m.toml" ctrd_start "$work/ctrd-$m"
  PID_OF[$m]=$CTRD_PID
  ctrd_import_busybox
done

cache_ready_ms() {  # waits (up to 60 s) until the cache has a VM ready; prints how long it took
  local t0 i
  t0=$(now_ms)
  for ((i = 0; i < 600; i++)); do
    factory cache status 2>/dev/null | grep -q '^vm_cache: serving, 1 of 1' && { echo $(($(now_ms) - t0)); return 0; }
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/cache-server.log" >&2; die "the VM cache server exited"; }
    sleep 0.1
  done
  cat "$work/cache-server.log" >&2
  die "the VM cache had no VM ready after 60 s"
}

declare -A RUNS
runc_runs="" loads=""
for ((i = 0; i <= N; i++)); do  # round 0 warms up host caches
  for m in $MODES; do
    use "$m"
    cache_ready_ms >/dev/null
    t=$(ctr_echo_ms io.containerd.kata.v2 "vc-$$-$m-$i")
    ((i == 0)) || RUNS[$m]+="$t "
  done
  cache_ready_ms >/dev/null
  r=$(ctr_echo_ms io.containerd.runc.v2 "vc-$$-runc-$i")
  ((i == 0)) && continue
  runc_runs+="$r " loads+="$(load1) "
done
taken=$(grep -c "runs in vmcache-.* from the VM cache" "$work/ctrd-cache/containerd.log" || true)
((taken == N + 1)) || die "only $taken of $((N + 1)) cache runs took a VM from the cache (see $work/ctrd-cache/containerd.log)"
refills=$(sed -n 's/.*booted and warmed in \([0-9]*\) ms.*/\1/p' "$work/cache-server.log" | tail -n +2 | tr '\n' ' ')

# Host memory of one idle sandbox (`sleep`) of each kind, after 5 s: PSS of
# its QEMU, shim and helpers. A warm VM holds the translated code of the
# warm-up (a bigger TCG cache) and, as a clone, no balloon.
declare -A PSS
for m in $MODES; do
  use "$m"
  cache_ready_ms >/dev/null
  timeout 120 "${CTR[@]}" run -d --runtime io.containerd.kata.v2 "$CTRD_IMAGE" "vc-$$-$m-idle" sleep 100000 >/dev/null ||
    die "could not start an idle $m sandbox"
done
sleep 5
for m in $MODES; do
  kb=0
  while read -r p _; do kb=$((kb + $(pss_kb "$p"))); done < <(sandbox_procs "vc-$$-$m-idle")
  PSS[$m]=$(kib_to_mib "$kb")
done

med() { tr ' ' '\n' <<<"$1" | grep . | median; }
cold=$(med "${RUNS[cold]}") tmpl=$(med "${RUNS[template]}") cache=$(med "${RUNS[cache]}") runc=$(med "$runc_runs")
echo "runs (ms): cold ${RUNS[cold]}| template ${RUNS[template]}| cache ${RUNS[cache]}| runc $runc_runs| cache refill $refills| load $loads"
printf '%-56s %8s %8s %8s %14s\n' "ctr run --rm echo hi (median of $N, ms)" median "vs cold" "vs runc" "idle PSS (MiB)"
printf '%-56s %8s %8s %8s %14s\n' "cold: boot a VM" "$cold" "1.00x" "$(ratio "$cold" "$runc")" "${PSS[cold]}"
printf '%-56s %8s %8s %8s %14s\n' "template: resume the VM template" "$tmpl" "$(ratio "$tmpl" "$cold")" "$(ratio "$tmpl" "$runc")" "${PSS[template]}"
printf '%-56s %8s %8s %8s %14s\n' "cache: a warm clone of the template from the VM cache" "$cache" "$(ratio "$cache" "$cold")" "$(ratio "$cache" "$runc")" "${PSS[cache]}"
printf '%-56s %8s %8s %8s %14s\n' "runc" "$runc" "$(ratio "$runc" "$cold")" "1.00x" "-"
echo "the cache's refill (a new clone of the template, warmed up; server log): median $(med "$refills") ms ($refills)"
awk -v c="$cache" -v k="$cold" 'BEGIN{r=c/k; printf "target: start from a template <= 0.3x a cold start: %.2fx %s (through the VM cache)\n", r, (r <= 0.3 ? "PASS" : "FAIL")}'
awk -v c="$tmpl" -v k="$cold" 'BEGIN{printf "        (resuming the template on demand, without the cache: %.2fx)\n", c/k}'
echo "load (1/5/15 min) at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
