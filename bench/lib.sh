# Shared helpers for the bench/*.sh scripts (sourced, not run).
# shellcheck shell=bash

BENCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The TCG translation cache size the runtime passes to QEMU by default (MiB):
# hypervisor.qemu.tcg_tb_size_mib of the shipped configuration.
RUNTIME_TB_SIZE="$(awk '/^tcg_tb_size_mib *=/ {print $3; exit}' "$BENCH_ROOT/config/configuration.toml")"

die() { echo "${0##*/}: $*" >&2; exit 1; }
need() {  # tool package
  command -v "$1" >/dev/null 2>&1 || die "$1 missing: apt-get install -y $2"
}

# Median of the numbers on stdin (one per line); "nan" when there are none.
median() {
  sort -n | awk '{a[NR]=$1} END{if(NR==0){print "nan"} else if(NR%2){print a[(NR+1)/2]} else {printf "%.0f\n",(a[NR/2]+a[NR/2+1])/2}}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{if(a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2fx", a/b; else print "-"}'; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
kib_to_mib() { awk -v k="$1" 'BEGIN{printf "%.1f", k/1024}'; }
load1() { cut -d' ' -f1 /proc/loadavg; }

# One line describing the machine, for BENCHMARKS.md.
machine_line() {
  local cpu mem
  cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
  mem=$(awk '/^MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)
  echo "$(date -u +%Y-%m-%dT%H:%MZ); $(nproc) cores ($cpu), $mem; $(. /etc/os-release; echo "$PRETTY_NAME"), host kernel $(uname -r); $(qemu-system-x86_64 --version | head -n1); accelerator: $(kata-runtime env 2>/dev/null | awk -F'"' '/^chosen/ {print $2}'); load (1/5/15 min): $(cut -d' ' -f1-3 /proc/loadavg)"
}

# Pids of every host process that belongs to sandbox/container ID: a process
# one of whose arguments is exactly ID (the shim's `-id ID`, the kata-runtime
# monitor `... run -d ... ID`) or `sandbox-ID` (QEMU's `-name`), or the QEMU
# of /run/vc/vm/ID/qemu.pid (a VM from the VM cache keeps the name it was
# booted with), and its virtiofsd daemons (source=.../sandboxes/ID/shared).
# Prints "pid kind" lines, kind = qemu|shim|monitor|virtiofsd|other.
sandbox_procs() {
  local id=$1 p exe kind adopted
  adopted=$(cat "/run/vc/vm/$id/qemu.pid" 2>/dev/null || true)
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [[ -r /proc/$p/cmdline ]] || continue
    if [[ $p == "$adopted" ]] || tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | grep -qxF -e "$id" -e "sandbox-$id" -e "source=/run/kata-containers/shared/sandboxes/$id/shared"; then
      exe=$(tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | head -n1)
      case "${exe##*/}" in
        qemu-system-*) kind=qemu ;;
        containerd-shim-kata-v2) kind=shim ;;
        kata-runtime) kind=monitor ;;
        virtiofsd) kind=virtiofsd ;;
        *) kind=other ;;
      esac
      echo "$p $kind"
    fi
  done
}

pss_kb() { awk '/^Pss:/ {print $2; f=1} END{if(!f) print 0}' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }
rss_kb() { awk '/^Rss:/ {print $2; f=1} END{if(!f) print 0}' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }

# QEMU's PSS split by mapping (kB): guest_ram tcg_buf kernel_initrd qemu_libs heap_anon
# guest RAM = the mapping of exactly -m MiB (under TCG: the runtime's memfd of
# that size; in a template clone: the template's memory file, mapped
# copy-on-write, so its PSS is the clone's own written pages plus its share of
# the template pages it read); TCG code buffer = the
# anonymous executable mapping(s) (tb-size); kernel/initrd = file mappings of
# the guest assets (QEMU keeps the ELF mapped for ROM reset; shared page cache,
# so their PSS shrinks with the number of sandboxes); qemu_libs = QEMU binary
# and shared libraries; heap_anon = everything else (heap, thread arenas, stacks).
qemu_pss_split() {
  local pid=$1 mem_mib
  mem_mib=$(tr '\0' '\n' <"/proc/$pid/cmdline" | awk 'p {print $1+0; exit} $0=="-m" {p=1}')
  awk -v ram=$((mem_mib * 1024)) '
    /^[0-9a-f]+-[0-9a-f]+ / { name = $6; perms = $2; next }
    /^Size:/ { size = $2; next }
    /^Pss:/ {
      if (name ~ /^\/memfd:/ && size == ram) k = "guest_ram"  # TCG: RAM in a memfd
      else if (name ~ /\/memory$/ && size == ram) k = "guest_ram"  # template clone
      else if (name ~ /kata-containers|vmlinux|initrd/) k = "kernel_initrd"
      else if (name ~ /^\//) k = "qemu_libs"
      else if (name == "" && size == ram) k = "guest_ram"
      else if (name == "" && perms ~ /x/) k = "tcg_buf"
      else k = "heap_anon"
      s[k] += $2 }
    END { printf "%d %d %d %d %d\n", s["guest_ram"], s["tcg_buf"], s["kernel_initrd"], s["qemu_libs"], s["heap_anon"] }
  ' "/proc/$pid/smaps"
}

# A private containerd (as tests/integration/containerd_env.h): own root,
# state and socket under $1, CRI disabled. Sets CTRD_DIR, CTRD_PID, CTR (argv);
# ctr() runs ctr against it in namespace $CTRD_NS.
CTRD_NS=kata-bench
CTRD_IMAGE=docker.io/library/kata-bench-busybox:latest
ctrd_start() {
  CTRD_DIR=$1
  # shellcheck disable=SC2034  # used by the scripts that source this file
  CTR=(ctr --address "$CTRD_DIR/containerd.sock" -n "$CTRD_NS")  # for `timeout "${CTR[@]}" ...`
  mkdir -p "$CTRD_DIR"
  cat >"$CTRD_DIR/config.toml" <<EOF
version = 2
root = "$CTRD_DIR/root"
state = "$CTRD_DIR/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$CTRD_DIR/containerd.sock"
[debug]
  level = "${CTRD_LOG_LEVEL:-info}"
EOF
  setsid containerd --config "$CTRD_DIR/config.toml" </dev/null >"$CTRD_DIR/containerd.log" 2>&1 &
  CTRD_PID=$!
  local i
  for ((i = 0; i < 200; i++)); do
    ctr version >/dev/null 2>&1 && return 0
    kill -0 "$CTRD_PID" 2>/dev/null || break
    sleep 0.05
  done
  tail -n 20 "$CTRD_DIR/containerd.log" >&2
  die "private containerd did not come up"
}
ctr() { command ctr --address "$CTRD_DIR/containerd.sock" -n "$CTRD_NS" "$@"; }
# Several private containerds in one script: points ctr(), CTR and ctrd_stop
# at one of them. ctrd_use DIR PID
ctrd_use() {
  CTRD_DIR=$1
  CTRD_PID=$2
  CTR=(ctr --address "$CTRD_DIR/containerd.sock" -n "$CTRD_NS")
}
ctrd_import_busybox() {
  "$BENCH_ROOT/tests/integration/containerd_make_image.sh" "$CTRD_DIR/image.tar" "$CTRD_IMAGE" >/dev/null
  ctr image import "$CTRD_DIR/image.tar" >/dev/null
}
# ms of one `ctr run --rm IMAGE echo hi` (dies unless it printed "hi"):
# ctr_echo_ms RUNTIME ID [ctr run options]
ctr_echo_ms() {
  local rt=$1 id=$2 t0 out
  shift 2
  t0=$(now_ms)
  out=$(timeout 120 "${CTR[@]}" run --rm --runtime "$rt" "$@" "$CTRD_IMAGE" "$id" echo hi 2>&1) ||
    die "ctr run --runtime $rt $id failed: $out"
  [[ $out == hi ]] || die "ctr run --runtime $rt $id printed '$out'"
  echo $(($(now_ms) - t0))
}
# A kata pod as Kubernetes' containerd makes one (the CRI annotations): its
# sandbox container runs `sleep`; ctr_echo_in_pod_ms POD ID times a container
# that joins it (no boot); more arguments go to `ctr run`.
ctr_pod_start() {
  timeout 120 "${CTR[@]}" run -d --runtime io.containerd.kata.v2 --annotation io.kubernetes.cri.container-type=sandbox \
    --annotation "io.kubernetes.cri.sandbox-id=$1" "$CTRD_IMAGE" "$1" sleep 100000 >/dev/null ||
    die "could not start the pod sandbox $1"
}
ctr_echo_in_pod_ms() {
  ctr_echo_ms io.containerd.kata.v2 "$2" --annotation io.kubernetes.cri.container-type=container \
    --annotation "io.kubernetes.cri.sandbox-id=$1" "${@:3}"
}
# Kills and removes every task and container of the bench namespace, then stops containerd.
ctrd_stop() {
  [[ -n "${CTRD_PID:-}" ]] || return 0
  local id
  for id in $(ctr task ls -q 2>/dev/null); do
    timeout 30 "${CTR[@]}" task kill -s KILL --all "$id" >/dev/null 2>&1 || true
    timeout 60 "${CTR[@]}" task rm -f "$id" >/dev/null 2>&1 || true
  done
  for id in $(ctr container ls -q 2>/dev/null); do
    timeout 10 "${CTR[@]}" container rm "$id" >/dev/null 2>&1 || true
  done
  kill "$CTRD_PID" 2>/dev/null || true
  local i
  for ((i = 0; i < 200; i++)); do kill -0 "$CTRD_PID" 2>/dev/null || break; sleep 0.05; done
  kill -9 "$CTRD_PID" 2>/dev/null || true
  wait "$CTRD_PID" 2>/dev/null || true
  umount -R "$CTRD_DIR/state" 2>/dev/null || true
  umount -R "$CTRD_DIR/root" 2>/dev/null || true
  CTRD_PID=
}

# Removes kata-runtime containers by id (kill, delete --force) and checks that
# no QEMU of theirs is left; only these ids are touched.
kata_cleanup() {
  local id p
  for id in "$@"; do
    kata-runtime delete -f "$id" >/dev/null 2>&1 || true
  done
  for id in "$@"; do
    for p in $(sandbox_procs "$id" | awk '{print $1}'); do
      echo "${0##*/}: killing stray process $p of $id" >&2
      kill -9 "$p" 2>/dev/null || true
    done
  done
}

# A configuration copy: kata_conf_copy OUT [default_memory MiB] [tb-size MiB] [extra QEMU args]
# (tb-size = hypervisor.qemu.tcg_tb_size_mib). Extra QEMU arguments are tried
# through a wrapper that appends them; the wrapper execs QEMU, so QEMU keeps
# the pid the runtime knows. $KATA_BENCH_GUEST=DIR
# (vmlinux.container + kata-containers-initrd.img) boots another guest;
# $KATA_BENCH_KERNEL_PARAMS adds kernel parameters; $KATA_BENCH_QEMU_ENV
# ('VAR=value ...') sets environment variables for QEMU (e.g. MALLOC_ARENA_MAX=1).
kata_conf_copy() {
  local out=$1 mem=${2:-} tb=${3:-$RUNTIME_TB_SIZE} extra=${4:-} src=${KATA_CONF_FILE:-}
  if [[ -z "$src" ]]; then
    for src in /etc/kata-containers/configuration.toml /usr/share/defaults/kata-containers/configuration.toml; do
      [[ -f "$src" ]] && break
    done
  fi
  cp "$src" "$out"
  local sec='/^\[hypervisor.qemu\]/,/^\[/'
  if [[ -n "$mem" ]]; then
    sed -i "$sec s/^#\{0,1\} *default_memory *=.*/default_memory = $mem/" "$out"
  fi
  if [[ -n "${KATA_BENCH_GUEST:-}" ]]; then
    sed -i "$sec { s|^#\{0,1\} *kernel *=.*|kernel = \"$KATA_BENCH_GUEST/vmlinux.container\"|; s|^#\{0,1\} *initrd *=.*|initrd = \"$KATA_BENCH_GUEST/kata-containers-initrd.img\"|; }" "$out"
  fi
  if [[ -n "${KATA_BENCH_KERNEL_PARAMS:-}" ]]; then
    sed -i "$sec s|^#\{0,1\} *kernel_params *=.*|kernel_params = \"$KATA_BENCH_KERNEL_PARAMS\"|" "$out"
  fi
  if [[ -n "$tb" ]]; then
    if grep -q '^#\{0,1\} *tcg_tb_size_mib *=' "$out"; then
      sed -i "$sec s/^#\{0,1\} *tcg_tb_size_mib *=.*/tcg_tb_size_mib = $tb/" "$out"
    else
      sed -i "/^\[hypervisor.qemu\]/a tcg_tb_size_mib = $tb" "$out"
    fi
  fi
  if [[ -n "$extra" || -n "${KATA_BENCH_QEMU_ENV:-}" ]]; then
    local qemu wrap
    qemu=$(awk -F'"' '/^\[hypervisor.qemu\]/ {q=1} q && /^path *=/ {print $2; exit}' "$out")
    qemu=${qemu:-/usr/bin/qemu-system-x86_64}
    wrap="$(dirname "$out")/qemu-wrapper"
    cat >"$wrap" <<EOF
#!/bin/bash
exec ${KATA_BENCH_QEMU_ENV:+env $KATA_BENCH_QEMU_ENV} $qemu "\$@" $extra
EOF
    chmod +x "$wrap"
    sed -i "$sec { s|^path *=.*|path = \"$wrap\"|; s|^#\{0,1\} *valid_hypervisor_paths *=.*|valid_hypervisor_paths = [\"$wrap\", \"$qemu\"]| }" "$out"
  fi
}
