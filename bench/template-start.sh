#!/usr/bin/env bash
# VM templating: median wall time of `kata-runtime run` for `echo hi`, cold
# boot vs start from the VM template, and their ratio. Also the PSS of a
# sandbox's QEMU (while `sleep` runs in it): cold, one clone, 3 clones at once.
#
#   bench/template-start.sh [-n N] [--runtime PATH] [--config FILE] [--guest DIR]
#     --runtime  kata-runtime to test (default: $KATA_RUNTIME, else kata-runtime in PATH)
#     --config   configuration.toml to start from (default: the installed one)
#     --guest    directory with vmlinux.container + kata-containers-initrd.img
#                (an initrd whose agent has ReseedRandomDev/SetGuestDateTime)
# The template lives in a scratch directory and is destroyed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
N=5
RUNTIME=${KATA_RUNTIME:-$(command -v kata-runtime || true)}
CONFIG=/etc/kata-containers/configuration.toml
[ -f "$CONFIG" ] || CONFIG=/usr/share/defaults/kata-containers/configuration.toml
GUEST=""
while [ $# -gt 0 ]; do
  case "$1" in
    -n) N=$2; shift 2 ;;
    --runtime) RUNTIME=$2; shift 2 ;;
    --config) CONFIG=$2; shift 2 ;;
    --guest) GUEST=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "template-start.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -x "$RUNTIME" ] || { echo "template-start.sh: no kata-runtime (--runtime PATH)" >&2; exit 1; }
work=$(mktemp -d /tmp/kata-template-bench.XXXXXX)
started=""  # detached sandboxes, deleted on any exit
cleanup() {
  for id in $started; do KATA_CONF_FILE="$work/cold.toml" "$RUNTIME" delete --force "$id" >/dev/null 2>&1 || true; done
  KATA_CONF_FILE="$work/template.toml" "$RUNTIME" factory destroy >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
scripts/make-bundle.sh "$work/bundle" -- echo hi >/dev/null
scripts/make-bundle.sh "$work/sleeper" -- sleep 600 >/dev/null

# One config with the template off, one with it on; same VM otherwise.
make_config() {  # enable_template out
  sed -e "/^\[factory\]/,/^\[/ s|^enable_template *=.*|enable_template = $1|" \
      -e 's|^shared_fs *=.*|shared_fs = "virtio-9p"|' \
      -e "/^\[factory\]/,/^\[/ s|^template_path *=.*|template_path = \"$work/template\"|" \
      ${GUEST:+-e "s|^kernel *=.*|kernel = \"$GUEST/vmlinux.container\"|"} \
      ${GUEST:+-e "s|^initrd *=.*|initrd = \"$GUEST/kata-containers-initrd.img\"|"} \
      "$CONFIG" > "$2"
  grep -q "^enable_template = $1" "$2" || { echo "template-start.sh: $CONFIG has no [factory] enable_template line" >&2; exit 1; }
}
make_config false "$work/cold.toml"
make_config true "$work/template.toml"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_runs() {  # config
  for i in $(seq "$N"); do
    local t0 t1 out
    t0=$(date +%s%N)
    out=$(KATA_CONF_FILE=$1 "$RUNTIME" run --bundle "$work/bundle" "tbench-$$-$i")
    t1=$(date +%s%N)
    [ "$out" = hi ] || { echo "template-start.sh: run printed '$out'" >&2; exit 1; }
    echo $(( (t1 - t0) / 1000000 ))
  done | median
}

# Mean PSS of the QEMUs of COUNT sandboxes running `sleep` at once: clones
# of one template share the RAM pages none of them wrote, and PSS splits
# shared pages between the processes that map them.
pss_kib() {  # config name count
  local ids="" id pid i total=0
  for i in $(seq "$3"); do
    id="tbench-$2-$$-$i"; ids+=" $id"; started+=" $id"
    KATA_CONF_FILE=$1 "$RUNTIME" run -d --bundle "$work/sleeper" "$id" >/dev/null
  done
  sleep 2
  for id in $ids; do
    pid=$(pgrep -f "[q]emu-system.*sandbox-$id( |$)")
    total=$(( total + $(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup") ))
  done
  for id in $ids; do KATA_CONF_FILE=$1 "$RUNTIME" delete --force "$id" >/dev/null; done
  echo $(( total / $3 ))
}

t0=$(date +%s%N)
KATA_CONF_FILE="$work/template.toml" "$RUNTIME" factory init >/dev/null
init_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
cold_ms=$(time_runs "$work/cold.toml")
tmpl_ms=$(time_runs "$work/template.toml")
cold_pss=$(pss_kib "$work/cold.toml" cold 1)
clone1_pss=$(pss_kib "$work/template.toml" clone 1)
clone3_pss=$(pss_kib "$work/template.toml" clones 3)

printf '%-44s %10s\n' "factory init (ms)" "$init_ms"
printf '%-44s %10s\n' "run echo hi, cold boot (median of $N, ms)" "$cold_ms"
printf '%-44s %10s\n' "run echo hi, from template (median of $N, ms)" "$tmpl_ms"
printf '%-44s %10s\n' "ratio template / cold" "$(awk -v a="$tmpl_ms" -v b="$cold_ms" 'BEGIN{printf "%.2f", a/b}')"
printf '%-44s %10s\n' "QEMU PSS, cold sandbox (KiB)" "$cold_pss"
printf '%-44s %10s\n' "QEMU PSS, one template clone (KiB)" "$clone1_pss"
printf '%-44s %10s\n' "QEMU PSS, each of 3 clones at once (KiB)" "$clone3_pss"
