#!/usr/bin/env bash
# shellcheck disable=SC2207,SC2046  # pid lists: numbers, word splitting intended
# Many sandboxes at once, side by side with runc:
#   starts N (default 20) idle containers (`sleep 600`) at the same time and
#   prints the time until all are running, the total host PSS of their
#   processes and the PSS per sandbox; then removes everything it started.
#
#   sudo bench/many-sandboxes.sh [-n N] [--via cli|ctr|both] [--settle S]
#                                [--dial-timeout S] [--guest DIR] [--vm-cache]
#
# --dial-timeout S: a configuration copy with [agent.kata] dial_timeout = S (the
#   default 30 s is too short for 20 VMs booting at once on a small TCG host);
# --guest DIR: a configuration copy booting DIR/vmlinux.container + initrd.
# --vm-cache: a configuration copy with [factory] vm_cache_number = N; the
#   script starts `kata-runtime factory init` (its own endpoint), waits until
#   all N VMs are booted and warmed up (printing how long that took), then
#   starts the N sandboxes, each taking a cached VM (docs/vm-cache.md).
# --via cli (default both): N concurrent `kata-runtime run -d` (each its own
#   bundle) vs N concurrent `runc run -d`; memory = QEMU + sandbox service +
#   monitor per sandbox (kata), the container process (runc).
# --via ctr: a private containerd (as tests/integration/containerd_env.h), N
#   concurrent `ctr run -d --runtime io.containerd.kata.v2` vs
#   `--runtime io.containerd.runc.v2`; memory = shim + QEMU (kata), shim +
#   container process (runc).
# "all running" = every start command returned success and every container
# reports running. PSS is read S seconds (default 10) after that.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

N=20
VIA=both
SETTLE=10
DIAL=""
CACHE=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n) N=$2; shift 2 ;;
    --via) VIA=$2; shift 2 ;;
    --settle) SETTLE=$2; shift 2 ;;
    --dial-timeout) DIAL=$2; shift 2 ;;
    --guest) export KATA_BENCH_GUEST; KATA_BENCH_GUEST=$(readlink -f "$2"); shift 2 ;;
    --vm-cache) CACHE=1; shift ;;
    -h|--help) sed -n '3,29p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1" ;;
  esac
done
need kata-runtime "(scripts/setup.sh)"
need runc runc
need jq jq

work=$(mktemp -d /tmp/kata-many.XXXXXX)
KATA_IDS=() RUNC_IDS=() jobs_=()
cache_pid=""
cleanup() {
  set +e
  ctrd_stop
  if ((CACHE)); then kata-runtime factory destroy >/dev/null 2>&1; wait "$cache_pid" 2>/dev/null; fi
  kata_cleanup "${KATA_IDS[@]}"
  local id
  for id in "${RUNC_IDS[@]}"; do runc delete -f "$id" >/dev/null 2>&1; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -n "$DIAL" || -n "${KATA_BENCH_GUEST:-}" ]] || ((CACHE)); then
  kata_conf_copy "$work/configuration.toml"
  [[ -n "$DIAL" ]] && sed -i "/^\[agent.kata\]/,/^\[/ s/^#\{0,1\} *dial_timeout *=.*/dial_timeout = $DIAL/" "$work/configuration.toml"
  if ((CACHE)); then
    sed -i "/^\[factory\]/,/^\[/ { s|^#\{0,1\} *vm_cache_number *=.*|vm_cache_number = $N|; s|^#\{0,1\} *vm_cache_endpoint *=.*|vm_cache_endpoint = \"$work/cache.sock\"|; }" "$work/configuration.toml"
  fi
  export KATA_CONF_FILE=$work/configuration.toml  # kata-runtime, and containerd's shims
fi
if ((CACHE)); then
  t0=$(now_ms)
  kata-runtime factory init >"$work/cache.log" 2>&1 &
  cache_pid=$!
  until kata-runtime factory status 2>/dev/null | grep -q "^vm_cache: serving, $N of $N"; do
    kill -0 "$cache_pid" 2>/dev/null || { cat "$work/cache.log" >&2; die "the VM cache server exited"; }
    (( $(now_ms) - t0 < 600000 )) || die "the VM cache did not fill in 10 minutes"
    sleep 0.5
  done
  echo "VM cache: $N VMs booted and warmed up in $(( $(now_ms) - t0 )) ms (one after the other)"
fi
echo "machine: $(machine_line)"
echo "configuration: ${KATA_CONF_FILE:-default}${DIAL:+ (dial_timeout = $DIAL)}${KATA_BENCH_GUEST:+ (guest $KATA_BENCH_GUEST)}"
echo "N=$N concurrent idle containers; PSS read ${SETTLE}s after all are running"
printf '%-44s %10s %12s %16s %8s\n' "" "all up ms" "total MiB" "per sandbox MiB" "ok"
row() { printf '%-44s %10s %12s %16s %8s\n' "$@"; }
sum_pss() {  # pids... -> kB
  local p s=0
  for p in "$@"; do s=$((s + $(pss_kb "$p"))); done
  echo "$s"
}

if [[ $VIA == cli || $VIA == both ]]; then
  for ((i = 1; i <= N; i++)); do
    "$BENCH_ROOT/scripts/make-bundle.sh" "$work/b$i" -- sleep 600 >/dev/null
  done
  # ---- kata-runtime run -d
  for ((i = 1; i <= N; i++)); do KATA_IDS+=("ms-$$-k$i"); done
  t0=$(now_ms)
  for ((i = 1; i <= N; i++)); do
    (rc=0; kata-runtime run -d --bundle "$work/b$i" "ms-$$-k$i" </dev/null >"$work/k$i.out" 2>&1 || rc=$?
     echo "$rc" >"$work/k$i.rc") &
    jobs_+=($!)
  done
  wait "${jobs_[@]}"; jobs_=()
  t_all=$(( $(now_ms) - t0 ))
  ok=0
  for ((i = 1; i <= N; i++)); do
    st=$(kata-runtime state "ms-$$-k$i" 2>/dev/null | jq -r .status || true)
    rc=$(cat "$work/k$i.rc" 2>/dev/null || echo none)
    if [[ $rc == 0 && $st == running ]]; then ok=$((ok + 1)); else
      echo "  ms-$$-k$i: rc=$rc status=$st: $(tail -n 2 "$work/k$i.out")" >&2; fi
  done
  load_k=$(load1)
  sleep "$SETTLE"
  pids=()
  for id in "${KATA_IDS[@]}"; do pids+=($(sandbox_procs "$id" | awk '{print $1}')); done
  total=$(sum_pss "${pids[@]}")
  nq=$(for id in "${KATA_IDS[@]}"; do sandbox_procs "$id"; done | grep -c ' qemu$' || true)
  ((CACHE)) && echo "  sandboxes that took a cached VM: $(grep -c 'handed vmcache-' "$work/cache.log" || true)"
  row "kata-runtime run -d (QEMU+service+monitor)" "$t_all" "$(kib_to_mib "$total")" "$(kib_to_mib $((total / (ok > 0 ? ok : 1))))" "$ok/$N"
  kata_total=$total kata_t=$t_all
  echo "  ($nq QEMU processes; load at all-up: $load_k)"
  t0=$(now_ms)
  kata_cleanup "${KATA_IDS[@]}"
  echo "  cleanup: $(( $(now_ms) - t0 )) ms"
  KATA_IDS=()

  # ---- runc run -d
  for ((i = 1; i <= N; i++)); do RUNC_IDS+=("ms-$$-r$i"); done
  t0=$(now_ms)
  for ((i = 1; i <= N; i++)); do
    (rc=0; runc run -d --bundle "$work/b$i" "ms-$$-r$i" </dev/null >"$work/r$i.out" 2>&1 || rc=$?
     echo "$rc" >"$work/r$i.rc") &
    jobs_+=($!)
  done
  wait "${jobs_[@]}"; jobs_=()
  t_all=$(( $(now_ms) - t0 ))
  ok=0 pids=()
  for ((i = 1; i <= N; i++)); do
    js=$(runc state "ms-$$-r$i" 2>/dev/null || true)
    if [[ $(cat "$work/r$i.rc" 2>/dev/null) == 0 && $(jq -r .status <<<"$js") == running ]]; then
      ok=$((ok + 1)); pids+=("$(jq -r .pid <<<"$js")"); fi
  done
  sleep "$SETTLE"
  total=$(sum_pss "${pids[@]}")
  row "runc run -d (container process)" "$t_all" "$(kib_to_mib "$total")" "$(kib_to_mib $((total / (ok > 0 ? ok : 1))))" "$ok/$N"
  row "ratio kata/runc" "$(ratio "$kata_t" "$t_all")" "$(ratio "$kata_total" "$total")" "" ""
  for id in "${RUNC_IDS[@]}"; do runc delete -f "$id" >/dev/null 2>&1 || true; done
  RUNC_IDS=()
fi

if [[ $VIA == ctr || $VIA == both ]]; then
  need containerd containerd
  ctrd_start "$work/containerd"
  ctrd_import_busybox
  declare -A CT CTOTAL
  for rt in kata runc; do
    t0=$(now_ms)
    for ((i = 1; i <= N; i++)); do
      (rc=0; timeout 300 "${CTR[@]}" run -d --runtime "io.containerd.$rt.v2" "$CTRD_IMAGE" "ms-$$-c$rt$i" sleep 600 \
         </dev/null >"$work/c$rt$i.out" 2>&1 || rc=$?
       echo "$rc" >"$work/c$rt$i.rc") &
      jobs_+=($!)
    done
    wait "${jobs_[@]}"; jobs_=()
    t_all=$(( $(now_ms) - t0 ))
    ok=0
    tasks=$(ctr task ls 2>/dev/null)
    for ((i = 1; i <= N; i++)); do
      if [[ $(cat "$work/c$rt$i.rc" 2>/dev/null) == 0 ]] && awk -v id="ms-$$-c$rt$i" '$1 == id && $3 == "RUNNING" {f=1} END{exit !f}' <<<"$tasks"; then
        ok=$((ok + 1)); else echo "  ms-$$-c$rt$i: rc=$(cat "$work/c$rt$i.rc" 2>/dev/null): $(tail -n 2 "$work/c$rt$i.out")" >&2; fi
    done
    sleep "$SETTLE"
    pids=()
    for ((i = 1; i <= N; i++)); do
      pids+=($(sandbox_procs "ms-$$-c$rt$i" | awk '{print $1}'))
      # runc: the container's process (kata: its pid is QEMU's, already counted)
      [[ $rt == runc ]] && pids+=($(awk -v id="ms-$$-c$rt$i" '$1 == id {print $2}' <<<"$tasks"))
    done
    total=$(sum_pss $(printf '%s\n' "${pids[@]}" | sort -u))
    what=$([[ $rt == kata ]] && echo "shim+QEMU" || echo "shim+container")
    row "ctr run -d, $rt ($what)" "$t_all" "$(kib_to_mib "$total")" "$(kib_to_mib $((total / (ok > 0 ? ok : 1))))" "$ok/$N"
    CT[$rt]=$t_all CTOTAL[$rt]=$total
    t0=$(now_ms)
    for ((i = 1; i <= N; i++)); do
      (set +e; ctr task kill -s KILL "ms-$$-c$rt$i" >/dev/null 2>&1; sleep 1; ctr task rm -f "ms-$$-c$rt$i" >/dev/null 2>&1
       ctr container rm "ms-$$-c$rt$i" >/dev/null 2>&1) &
      jobs_+=($!)
    done
    wait "${jobs_[@]}"; jobs_=()
    [[ $rt == kata ]] && echo "  cleanup: $(( $(now_ms) - t0 )) ms"
  done
  row "ratio kata/runc (ctr)" "$(ratio "${CT[kata]}" "${CT[runc]}")" "$(ratio "${CTOTAL[kata]}" "${CTOTAL[runc]}")" "" ""
  ctrd_stop
fi
left=$(pgrep -a qemu-system | grep -c "sandbox-ms-$$-" || true)
echo "QEMU processes of this run left: $left; load (1/5/15 min) at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
