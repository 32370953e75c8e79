#!/usr/bin/env bash
# End-to-end check of blk_snapshotter.py with a private containerd and runc:
# imports a busybox image into the "blk" proxy snapshotter, runs a container
# whose root must be ext4 on a loop device, removes everything, and checks that
# no loop device, mount, process or temp dir is left. Needs root.
#   try_with_runc.sh            (exit 0: passed)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
ns=blk
image=docker.io/library/blk-busybox:latest
tmp=$(mktemp -d /tmp/blk-snap-try.XXXXXX)
sock=$tmp/containerd.sock
snap_sock=$tmp/snapshotter.sock
snap_dir=$tmp/snapshotter
snap_pid='' ctrd_pid=''

say() { echo "try_with_runc: $*"; }
fail() { say "FAIL: $*"; exit 1; }
ctr_() { timeout -k 5 120 ctr -a "$sock" -n "$ns" "$@"; }

# Ends pid (SIGTERM, then SIGKILL after $2 s); its exit status in stop_rc.
stop_pid() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < $2 * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  stop_rc=0
  wait "$pid" 2>/dev/null || stop_rc=$?
}

# Processes whose command line names this run's temp dir (shims left behind
# by a failed run are children of our containerd: we started them).
our_pids() {
  local p
  for p in /proc/[0-9]*; do
    [ "${p#/proc/}" = "$BASHPID" ] && continue
    grep -qaF -- "$tmp/" "$p/cmdline" 2>/dev/null && echo "${p#/proc/}"
  done
  return 0
}
our_loops() { losetup -a 2>/dev/null | grep -F "($tmp/" | cut -d: -f1 || true; }
our_mounts() { awk -v t="$tmp/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo; }

cleanup() {
  local rc=$? p d m
  set +e
  if [ -n "$ctrd_pid" ]; then  # failed half-way: drop tasks and containers first
    for p in $(ctr_ task ls -q 2>/dev/null); do ctr_ task kill -s KILL --all "$p"; ctr_ task rm -f "$p"; done >/dev/null 2>&1
    for p in $(ctr_ container ls -q 2>/dev/null); do ctr_ container rm "$p"; done >/dev/null 2>&1
    stop_pid "$ctrd_pid" 10
  fi
  [ -n "$snap_pid" ] && stop_pid "$snap_pid" 10
  for p in $(our_pids); do say "killing leftover process $p: $(tr '\0' ' ' < /proc/$p/cmdline)"; kill -KILL "$p"; done
  for m in $(our_mounts | sort -r); do say "unmounting leftover $m"; umount -l "$m"; done
  for d in $(our_loops); do say "detaching leftover $d"; losetup -d "$d"; done
  if [ "$rc" -ne 0 ]; then
    echo "---- snapshotter log (tail) ----"; tail -40 "$tmp/snapshotter.log" 2>/dev/null
    echo "---- containerd log (tail) ----"; tail -20 "$tmp/containerd.log" 2>/dev/null
  fi
  rm -rf "$tmp"
  [ "$rc" -eq 0 ] && say PASS || say "FAILED (exit $rc)"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. The snapshotter.
/usr/bin/python3 "$here/blk_snapshotter.py" "$snap_dir" "$snap_sock" 2> "$tmp/snapshotter.log" &
snap_pid=$!
for ((i = 0; i < 100; i++)); do [ -S "$snap_sock" ] && break; kill -0 "$snap_pid" || fail "snapshotter died"; sleep 0.1; done
[ -S "$snap_sock" ] || fail "snapshotter socket did not appear"

# 2. A private containerd using it as proxy plugin "blk".
cat > "$tmp/config.toml" <<EOF
version = 2
root = "$tmp/root"
state = "$tmp/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$tmp/opt"
[proxy_plugins.blk]
  type = "snapshot"
  address = "$snap_sock"
EOF
containerd --config "$tmp/config.toml" > "$tmp/containerd.log" 2>&1 &
ctrd_pid=$!
for ((i = 0; i < 300; i++)); do
  ctr_ version > /dev/null 2>&1 && break
  kill -0 "$ctrd_pid" || fail "containerd died"
  sleep 0.1
done
ctr_ version > /dev/null || fail "containerd did not come up"
ctr_ plugins ls | grep -E '^io\.containerd\.snapshotter\.v1 +blk +.* ok *$' > /dev/null || fail "plugin blk not ok"

# 3. Import an image into the blk snapshotter.
"$repo/tests/integration/containerd_make_image.sh" "$tmp/image.tar" "$image"
say "import"
ctr_ image import --snapshotter blk "$tmp/image.tar"
ctr_ snapshots --snapshotter blk ls

# 4. Run a container on it with runc (runc's state under $tmp too).
say "run"
out=$(ctr_ run --rm --snapshotter blk --runtime io.containerd.runc.v2 --runc-root "$tmp/runc" \
  "$image" c1 sh -c 'grep " / " /proc/mounts; echo hi > /x; cat /x')
printf '%s\n' "$out"
root_line=$(printf '%s\n' "$out" | grep -E '^[^ ]+ / ') || fail "no root in /proc/mounts"
read -r root_src _ root_type root_opts _ <<< "$root_line"
[ "$root_type" = ext4 ] || fail "root is $root_type, not ext4"
[[ "$root_src" =~ ^/dev/loop[0-9]+$ ]] || fail "root is from $root_src, not a loop device"
[[ ",$root_opts," == *,rw,* ]] || fail "root is not rw: $root_opts"
printf '%s\n' "$out" | tail -1 | grep -qx hi || fail "could not write and read back /x"
grep -E "Prepare key='[^']*/c1' .*source='$root_src'" "$tmp/snapshotter.log" > /dev/null ||
  fail "$root_src was not what the snapshotter gave for c1"

# The backend forgets a removed snapshot at containerd's next garbage
# collection, which a deletion schedules soon after.
wait_backend_drops() {
  for ((i = 0; i < 300; i++)); do
    grep -q "\"$ns/[0-9]*/$1\"" "$snap_dir/state.json" || return 0
    sleep 0.1
  done
  fail "the snapshotter still has $1"
}
wait_backend_drops c1

# 5. Read-only rootfs. ctr (1.6) does not take a View for it: it Prepares a
# rw snapshot and sets root.readonly in the OCI spec; runc remounts it ro.
say "run read-only"
out=$(ctr_ run --rm --read-only --snapshotter blk --runtime io.containerd.runc.v2 --runc-root "$tmp/runc" \
  "$image" c2 sh -c 'grep " / " /proc/mounts; if touch /y 2>/dev/null; then echo writable; else echo read-only; fi')
printf '%s\n' "$out"
read -r root_src _ root_type root_opts _ <<< "$(printf '%s\n' "$out" | grep -E '^[^ ]+ / ')"
[[ "$root_type $root_src" =~ ^ext4\ /dev/loop[0-9]+$ ]] || fail "read-only root is $root_type from $root_src"
[[ ",$root_opts," == *,ro,* ]] || fail "read-only root is mounted $root_opts"
printf '%s\n' "$out" | tail -1 | grep -qx read-only || fail "read-only root is writable"
grep -E "(Prepare|View) key='[^']*/c2' .*source='$root_src'" "$tmp/snapshotter.log" > /dev/null ||
  fail "$root_src was not what the snapshotter gave for c2"
wait_backend_drops c2

# 6. A View (read-only loop device, options ro), mounted on this host as
# `ctr snapshots mounts` says. Labelled a gc root at once, so that it stays
# until `ctr snapshots rm` below.
chain=$(ctr_ snapshots --snapshotter blk ls | awk '$NF == "Committed" { print $1; exit }')
[ -n "$chain" ] || fail "no committed snapshot"
ctr_ snapshots --snapshotter blk view v1 "$chain" > /dev/null
ctr_ snapshots --snapshotter blk label v1 containerd.io/gc.root=try > /dev/null
mkdir "$tmp/mnt"
mount_cmd=$(ctr_ snapshots --snapshotter blk mounts "$tmp/mnt" v1)
say "$mount_cmd"
[[ "$mount_cmd" =~ ^mount\ -t\ ext4\ /dev/loop[0-9]+\ $tmp/mnt\ -o\ ro$ ]] || fail "unexpected view mount: $mount_cmd"
eval "$mount_cmd"
[ -x "$tmp/mnt/bin/busybox" ] || { umount "$tmp/mnt"; fail "no busybox in the view"; }
touch "$tmp/mnt/y" 2> /dev/null && { umount "$tmp/mnt"; fail "the view is writable"; }
umount "$tmp/mnt"

# 7. Remove everything.
[ -z "$(ctr_ container ls -q)" ] || fail "containers left: $(ctr_ container ls -q)"
say "remove image"
ctr_ image rm --sync "$image"
for ((round = 0; round < 10; round++)); do  # children first: repeat until empty
  left=$(ctr_ snapshots --snapshotter blk ls | awk 'NR > 1 { print $1 }')
  [ -z "$left" ] && break
  for k in $left; do ctr_ snapshots --snapshotter blk rm "$k" 2>/dev/null && say "ctr snapshots rm $k" || true; done
done
[ -z "$left" ] || fail "snapshots left in containerd: $left"
[ "$round" -gt 0 ] || fail "expected v1 to be left for ctr snapshots rm"
# containerd removes a snapshot from the backend at its next garbage collection.
for ((i = 0; i < 300; i++)); do
  [ -z "$(ls -A "$snap_dir/images")" ] && break
  sleep 0.1
done
[ -z "$(ls -A "$snap_dir/images")" ] || fail "snapshotter still holds $(ls "$snap_dir/images")"

# 8. Stop containerd and the snapshotter; nothing of $tmp may stay in use.
stop_pid "$ctrd_pid" 10; ctrd_pid=''
[ "$stop_rc" -eq 0 ] || say "containerd exited $stop_rc"
stop_pid "$snap_pid" 10; snap_pid=''
[ "$stop_rc" -eq 0 ] || fail "snapshotter exited $stop_rc"
[ -z "$(our_loops)" ] || fail "loop devices left: $(our_loops)"
[ -z "$(our_mounts)" ] || fail "mounts left: $(our_mounts)"
[ -z "$(our_pids)" ] || fail "processes left: $(our_pids)"
for c in c1 c2; do
  shim_sock=/run/containerd/s/$(printf '%s' "$sock/$ns/$c" | sha256sum | cut -d' ' -f1)
  [ ! -e "$shim_sock" ] || fail "shim socket $shim_sock left"
done

echo "---- snapshotter calls ----"
cat "$tmp/snapshotter.log"
