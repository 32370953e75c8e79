#!/usr/bin/env bash
# Host memory of idle sandboxes, and the agent's size and memory in the guest.
#
#   sudo bench/footprint.sh [-n N] [--mem 'MiB ...'] [--tb-size 'MiB ...'] [--settle S]
#                           [--probe-agent PATH] [--ksm]
#   experiments: [--guest DIR] (vmlinux.container + kata-containers-initrd.img, e.g. from
#   guest/build-guest.sh --kernel own) [--qemu-args 'ARGS'] (appended to QEMU's command
#   line) [--kernel-params 'ARGS'] (configuration kernel_params) [--qemu-env 'VAR=v ...']
#   [--runtime PATH] (a kata-runtime to use instead of the one on $PATH, e.g. a build
#   tree's; its containerd-shim-kata-v2 sibling is used too). The configuration copied
#   is $KATA_CONF_FILE when set, else the installed one.
#
# For every guest memory size (default: '256 128') x TCG translation-cache size
# (default: the runtime's value; others set hypervisor.qemu.tcg_tb_size_mib
# in a configuration copy), starts N idle
# sandboxes (`kata-runtime run -d` of `sleep 600`, one after the other), waits
# S seconds (default 15) and sums the PSS (/proc/PID/smaps_rollup) of every
# host process of each sandbox: QEMU, the sandbox service
# (containerd-shim-kata-v2), kata-runtime's monitor and the virtiofsd daemons
# (in the total; their share is printed below the row), found by the sandbox
# id. Prints the median per sandbox, QEMU's PSS split by mapping, the median
# `run -d` wall time and the CPU time QEMU used until `run -d` returned (what a
# smaller translation cache costs: retranslation).
#
# --ksm turns the host's kernel same-page merging on for the run (ksmd,
# /sys/kernel/mm/ksm, restored on exit): QEMU marks guest RAM mergeable, and
# the pages of a template clone's RAM that clones wrote alike (copy-on-write
# copies of the template's) are merged. RAM in a memfd (booted VMs under TCG)
# is shared memory, which KSM does not merge. A host-wide setting that costs
# ksmd's CPU time, so the runtime never sets it: docs/vm-templating.md.
#
# Agent: binary size, and VmRSS/VmHWM of PID 1 in the guest read by a container
# whose spec has no pid namespace. The agent gives every container a pid
# namespace of its own (src/agent/container/launch.cc), so PID 1 seen from the
# container is the container's own process and the RSS is "n/a"; --probe-agent
# PATH boots a guest whose /init is that agent binary instead (build one that
# honours a spec without a pid namespace), built with guest/build-guest.sh and
# the installed guest's kernel.
#
# Targets (issue 5): <= 40 MiB PSS per idle sandbox with a 128 MiB guest;
# agent binary < 3 MiB; agent RSS < 4 MiB.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

N=3
MEMS="256 128"
TBS="$RUNTIME_TB_SIZE"
SETTLE=15
PROBE_AGENT=""
QEMU_ARGS=""
KSM=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n) N=$2; shift 2 ;;
    --mem) MEMS=$2; shift 2 ;;
    --tb-size) TBS=$2; shift 2 ;;
    --settle) SETTLE=$2; shift 2 ;;
    --ksm) KSM=1; shift ;;
    --probe-agent) PROBE_AGENT=$(readlink -f "$2"); shift 2 ;;
    --guest) export KATA_BENCH_GUEST; KATA_BENCH_GUEST=$(readlink -f "$2"); shift 2 ;;
    --qemu-args) QEMU_ARGS=$2; shift 2 ;;
    --kernel-params) export KATA_BENCH_KERNEL_PARAMS=$2; shift 2 ;;
    --qemu-env) export KATA_BENCH_QEMU_ENV=$2; shift 2 ;;
    --runtime) PATH="$(dirname "$(readlink -f "$2")"):$PATH"; shift 2 ;;
    -h|--help) sed -n '2,40p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1" ;;
  esac
done
need kata-runtime "(scripts/setup.sh)"
need jq jq
AGENT_BIN=/usr/local/libexec/kata-containers/kata-agent

work=$(mktemp -d /tmp/kata-footprint.XXXXXX)
IDS=()
# shellcheck disable=SC2317  # run by the EXIT trap
KSM_SYS=/sys/kernel/mm/ksm
KSM_SAVED=""
cleanup() {
  kata_cleanup "${IDS[@]}"
  rm -rf "$work"
  [[ -z "$KSM_SAVED" ]] || { read -r run scan <<<"$KSM_SAVED"; echo "$run" >"$KSM_SYS/run"; echo "$scan" >"$KSM_SYS/pages_to_scan"; }
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if ((KSM)); then
  [[ -w "$KSM_SYS/run" ]] || die "--ksm: $KSM_SYS/run is not writable (host kernel without CONFIG_KSM, or not root)"
  KSM_SAVED="$(cat "$KSM_SYS/run") $(cat "$KSM_SYS/pages_to_scan")"
  # 2000 pages per 20 ms wake-up: a pass over ten 128 MiB guests in ~10 s.
  echo 2000 >"$KSM_SYS/pages_to_scan"
  echo 1 >"$KSM_SYS/run"
fi

"$BENCH_ROOT/scripts/make-bundle.sh" "$work/idle" -- sleep 600 >/dev/null

echo "machine: $(machine_line)"
echo "guest: ${KATA_BENCH_GUEST:-installed} ($(cat "${KATA_BENCH_GUEST:-/usr/share/kata-containers}/guest-kernel-origin" 2>/dev/null))${QEMU_ARGS:+; extra QEMU args: $QEMU_ARGS}${KATA_BENCH_KERNEL_PARAMS:+; kernel_params: $KATA_BENCH_KERNEL_PARAMS}${KATA_BENCH_QEMU_ENV:+; QEMU env: $KATA_BENCH_QEMU_ENV}"
echo "N=$N idle sandboxes per configuration, settle ${SETTLE}s; PSS in MiB (median over the sandboxes)$( ((KSM)) && echo "; host KSM on (pages_to_scan 2000)")"
printf '%-9s %-7s | %7s %7s %7s %7s | %8s %7s %7s %7s %7s | %6s %7s | %s\n' \
  guest tb-size total qemu shim monitor guestRAM tcgbuf kern+rd qemu.so heap run-ms qemu-cpu target
row_128_default=""
for mem in $MEMS; do
  for tb in $TBS; do
    conf="$work/conf-$mem-$tb/configuration.toml"
    mkdir -p "${conf%/*}"
    kata_conf_copy "$conf" "$mem" "$tb" "$QEMU_ARGS"
    ids=()
    for ((i = 1; i <= N; i++)); do
      id="fp-$$-m$mem-t$tb-$i"
      IDS+=("$id"); ids+=("$id")
      t0=$(now_ms)
      KATA_CONF_FILE=$conf kata-runtime run -d --bundle "$work/idle" "$id" </dev/null >"$work/$id.out" 2>&1 ||
        { cat "$work/$id.out" >&2; die "kata-runtime run -d $id failed"; }
      echo $(( $(now_ms) - t0 )) >>"$work/runms-$mem-$tb"
      # CPU time QEMU used to boot and start the container: steadier than wall
      # time on a busy host (TCG is CPU bound); shows retranslation cost.
      qpid=$(sandbox_procs "$id" | awk '$2 == "qemu" {print $1}')
      cat /proc/"$qpid"/task/*/schedstat 2>/dev/null | awk '{s+=$1} END{printf "%.0f\n", s/1e6}' >>"$work/cpums-$mem-$tb"
    done
    sleep "$SETTLE"
    : >"$work/rows"
    for id in "${ids[@]}"; do
      q=0 s=0 m=0 v=0 split="0 0 0 0 0"
      while read -r pid kind; do
        p=$(pss_kb "$pid")
        case $kind in
          qemu) q=$((q + p)); split=$(qemu_pss_split "$pid") ;;
          shim) s=$((s + p)) ;;
          monitor) m=$((m + p)) ;;
          virtiofsd) v=$((v + p)) ;;
        esac
      done < <(sandbox_procs "$id")
      ((q > 0)) || die "no QEMU found for $id"
      echo "$((q + s + m + v)) $q $s $m $split $v" >>"$work/rows"
    done
    col() { awk -v c="$1" '{print $c}' "$work/rows" | median; }
    mib() { kib_to_mib "$(col "$1")"; }
    total=$(col 1)
    verdict=""
    if [[ $mem == 128 ]]; then
      verdict=$( ((total <= 40 * 1024)) && echo "PASS (<= 40)" || echo "FAIL (<= 40)")
      [[ $tb == "$RUNTIME_TB_SIZE" ]] && row_128_default="$(kib_to_mib "$total") MiB $verdict"
    fi
    printf '%-9s %-7s | %7s %7s %7s %7s | %8s %7s %7s %7s %7s | %6s %7s | %s\n' \
      "${mem}MiB" "${tb}MiB" "$(mib 1)" "$(mib 2)" "$(mib 3)" "$(mib 4)" "$(mib 5)" "$(mib 6)" "$(mib 7)" "$(mib 8)" "$(mib 9)" \
      "$(median <"$work/runms-$mem-$tb")" "$(median <"$work/cpums-$mem-$tb")" "$verdict"
    echo "  all $N: $(kib_to_mib "$(awk '{s+=$1} END{print s}' "$work/rows")") MiB total (virtiofsd, in the total: $(mib 10) MiB each); load $(load1)$( ((KSM)) && echo "; KSM pages_sharing $(cat "$KSM_SYS/pages_sharing") (4 KiB pages saved, host-wide)")"
    kata_cleanup "${ids[@]}"
  done
done

# ---------------------------------------------------------------- agent
size=$(stat -c %s "$AGENT_BIN")
echo
echo "agent binary: $AGENT_BIN $size bytes = $(awk -v s="$size" 'BEGIN{printf "%.3f", s/1048576}') MiB  target < 3 MiB (3145728 bytes): $( ((size < 3 * 1048576)) && echo PASS || echo FAIL)"

"$BENCH_ROOT/scripts/make-bundle.sh" "$work/nopid" -- sh -c 'grep -E "^(Name|VmRSS|VmHWM|RssAnon|RssFile|RssShmem)" /proc/1/status' >/dev/null
jq '.linux.namespaces |= map(select(.type != "pid"))' "$work/nopid/config.json" >"$work/nopid/c" && mv "$work/nopid/c" "$work/nopid/config.json"
aconf="$work/conf-agent/configuration.toml"
mkdir -p "${aconf%/*}"
kata_conf_copy "$aconf"
label="installed agent"
if [[ -n "$PROBE_AGENT" ]]; then
  kind=$(awk '{print $1}' /usr/share/kata-containers/guest-kernel-origin 2>/dev/null || echo debian)
  "$BENCH_ROOT/guest/build-guest.sh" --agent "$PROBE_AGENT" --out "$work/guest" --kernel "$kind" >"$work/build-guest.log" 2>&1 ||
    { tail "$work/build-guest.log" >&2; die "build-guest.sh failed"; }
  sed -i "/^\[hypervisor.qemu\]/,/^\[/ { s|^initrd *=.*|initrd = \"$work/guest/kata-containers-initrd.img\"|; s|^kernel *=.*|kernel = \"$work/guest/vmlinux.container\"|; }" "$aconf"
  label="probe agent $PROBE_AGENT ($(stat -c %s "$PROBE_AGENT") bytes)"
fi
id="fp-$$-agent"; IDS+=("$id")
out=$(KATA_CONF_FILE=$aconf kata-runtime run --bundle "$work/nopid" "$id" </dev/null 2>&1) || { echo "$out" >&2; die "agent probe container failed"; }
name=$(awk '/^Name:/ {print $2}' <<<"$out")
if [[ $name == kata-agent || $name == init ]]; then
  rss=$(awk '/^VmRSS:/ {print $2}' <<<"$out"); hwm=$(awk '/^VmHWM:/ {print $2}' <<<"$out")
  echo "agent RSS in the guest ($label, idle + 1 container): VmRSS $rss kB = $(kib_to_mib "$rss") MiB, VmHWM $hwm kB" \
    "($(grep -E '^Rss(Anon|File|Shmem)' <<<"$out" | tr -s '\t ' ' ' | tr '\n' ' '))  target < 4 MiB: $( ((rss < 4096)) && echo PASS || echo FAIL)"
else
  echo "agent RSS in the guest: n/a — PID 1 seen by a container without a pid namespace is '$name', not the agent" \
    "(the agent always unshares the pid namespace; rerun with --probe-agent PATH)"
fi
[[ -n "$row_128_default" ]] && echo "PSS per idle sandbox, 128 MiB guest, tb-size $RUNTIME_TB_SIZE: $row_128_default"
exit 0
