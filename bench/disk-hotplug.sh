#!/usr/bin/env bash
# What disk hotplug costs a container joining a running kata pod (issue 15):
#   - `ctr run --rm IMAGE echo hi` joining the pod, no disk
#   - the same with an ext4 volume from a loop device (--mount type=ext4):
#     plugged into the VM at create, mounted by the agent, unplugged at delete
#   - runc with the same volume (the host mounts it)
# N runs each (default 5), interleaved; prints medians and the differences.
#
#   sudo bench/disk-hotplug.sh [-n N]
#
# Uses a private containerd and a busybox image, as bench/cold-start.sh.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

N=5
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n) N=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1" ;;
  esac
done
need containerd containerd
need ctr containerd
need runc runc
need mkfs.ext4 e2fsprogs
need containerd-shim-kata-v2 "(scripts/setup.sh)"

work=$(mktemp -d /tmp/kata-hotplug.XXXXXX)
loop=""
cleanup() {
  ctrd_stop
  kata_cleanup "hp-$$-pod"
  [[ -n $loop ]] && losetup -d "$loop" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "machine: $(machine_line)"
truncate -s 64M "$work/vol.img"
mkfs.ext4 -q "$work/vol.img"
loop=$(losetup --find --show "$work/vol.img")
ctrd_start "$work/containerd"
ctrd_import_busybox
pod="hp-$$-pod"
ctr_pod_start "$pod"
mount_flag=(--mount "type=ext4,src=$loop,dst=/data,options=rw")
plain="" disk="" runc_disk=""
for ((i = 0; i <= N; i++)); do
  p=$(ctr_echo_in_pod_ms "$pod" "hp-$$-plain-$i")
  d=$(ctr_echo_in_pod_ms "$pod" "hp-$$-disk-$i" "${mount_flag[@]}")
  r=$(ctr_echo_ms io.containerd.runc.v2 "hp-$$-runc-$i" "${mount_flag[@]}")
  ((i == 0)) && continue  # warm-up
  plain+="$p " disk+="$d " runc_disk+="$r "
done
plain_ms=$(tr ' ' '\n' <<<"$plain" | grep . | median)
disk_ms=$(tr ' ' '\n' <<<"$disk" | grep . | median)
runc_ms=$(tr ' ' '\n' <<<"$runc_disk" | grep . | median)
echo "runs (ms): plain $plain| disk $disk| runc+disk $runc_disk"
printf '%-62s %10s\n' "metric (median of $N, ms)" median
printf '%-62s %10s\n' "ctr run --rm echo hi, joining a kata pod, no disk" "$plain_ms"
printf '%-62s %10s\n' "same, with an ext4 volume plugged in and out" "$disk_ms"
printf '%-62s %10s\n' "  cost of the disk (plug, guest probe, mount, unplug)" "$((disk_ms - plain_ms))"
printf '%-62s %10s\n' "ctr run --rm echo hi, runc, same ext4 volume" "$runc_ms"
grep -h "plugged in as\|unplugged in" "$CTRD_DIR/containerd.log" | sed 's/.*kata-shim: //' | tail -2 || true
echo "load (1/5/15 min) at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
