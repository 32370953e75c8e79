#!/usr/bin/env bash
# Makes an OCI bundle whose rootfs is Debian's static busybox.
#   scripts/make-bundle.sh DIR [--tty] [--] [ARGS...]   (default args: sh)
# busybox-static has no loader or library to copy: one file plus applet links.
set -euo pipefail
die() { echo "make-bundle: $*" >&2; exit 1; }
[ $# -ge 1 ] || die "usage: make-bundle.sh DIR [--tty] [--] [ARGS...]"
dir=$1; shift
terminal=false
if [ "${1:-}" = "--tty" ]; then terminal=true; shift; fi
[ "${1:-}" = "--" ] && shift
[ $# -gt 0 ] || set -- sh
[ -x /bin/busybox ] || die "/bin/busybox missing: apt-get install busybox-static"
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q "install ok installed" ||
  die "busybox-static is not installed (the dynamic busybox has no libraries in the rootfs): apt-get install busybox-static"

mkdir -p "$dir/rootfs"
rootfs=$(readlink -f "$dir/rootfs")
mkdir -p "$rootfs"/{bin,sbin,etc,proc,sys,dev,tmp,root,usr/bin,usr/sbin,var}
cp /bin/busybox "$rootfs/bin/busybox"
for applet in $("$rootfs/bin/busybox" --list); do
  [ -e "$rootfs/bin/$applet" ] || ln -s busybox "$rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$rootfs/etc/group"

args_json=""
for a in "$@"; do
  esc=$(printf '%s' "$a" | sed 's/\\/\\\\/g; s/"/\\"/g')
  args_json+="${args_json:+, }\"$esc\""
done

cat > "$dir/config.json" <<JSON
{
  "ociVersion": "1.0.2",
  "process": {
    "terminal": $terminal,
    "user": {"uid": 0, "gid": 0},
    "args": [$args_json],
    "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm", "HOME=/root"],
    "cwd": "/",
    "noNewPrivileges": true
  },
  "root": {"path": "rootfs", "readonly": false},
  "hostname": "kata",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]}
  ],
  "linux": {
    "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
    "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
    "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
  }
}
JSON
