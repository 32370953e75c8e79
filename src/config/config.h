// configuration.toml: Kata's file layout, keys and search order, validated.
// Tables: [hypervisor.qemu], [agent.kata], [runtime], [factory] (see
// config/configuration.toml for every key with its default and meaning).
// Keys Kata knows but this runtime does not implement are accepted and listed
// in LoadedConfig::ignored (so a stock Kata file loads); unknown keys warn;
// bad values fail with "<file>: <table.key>: <reason>".
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace kata::config {

// default_maxmemory = 0: what a VM may grow to (sandbox/host_cgroup.h
// MemoryFor). RAM the guest never adds costs nothing: docs/host-resources.md.
inline constexpr int kDefaultMaxMemoryMib = 2048;

// The host's memory in MiB (0 when unknown): default_maxmemory's cap, and
// the sizing annotations' (sandbox/sandbox_config.h).
long long HostMemoryMib();

struct QemuConfig {
  std::string path = "/usr/bin/qemu-system-x86_64";
  std::string kernel = "/usr/share/kata-containers/vmlinux.container";
  std::string initrd = "/usr/share/kata-containers/kata-containers-initrd.img";
  std::string image;  // Always empty: disk images are rejected at load time.
  std::string machine_type = "microvm";
  std::string kernel_params;  // Appended to the runtime's own kernel command line.
  // Resolved: the file's <0 (or more than the host has) becomes the host's
  // core count, 0 becomes 1, as in Kata.
  int default_vcpus = 1;
  int default_maxvcpus = 0;  // Resolved: 0 or more than the host has -> host cores.
  int default_memory = 256;  // MiB.
  // MiB the VM may grow to for its containers' memory limits (RAM present
  // from boot, added to the guest when needed; docs/host-resources.md).
  // Resolved: 0 -> kDefaultMaxMemoryMib; never less than default_memory.
  int default_maxmemory = 0;
  // "virtio-fs" (virtiofsd per sandbox, as in Kata) or "virtio-9p".
  std::string shared_fs = "virtio-fs";
  std::string virtio_fs_daemon = "/usr/lib/qemu/virtiofsd";
  std::vector<std::string> valid_virtio_fs_daemon_paths = {"/usr/lib/qemu/virtiofsd"};
  // Kata's names: never | auto | always (virtiofsd's none | auto | always).
  std::string virtio_fs_cache = "auto";
  int virtio_fs_cache_size = 0;  // DAX window (MiB): only 0, QEMU 7.2 has none.
  int virtio_fs_queue_size = 1024;
  std::vector<std::string> virtio_fs_extra_args;  // appended to virtiofsd's command line
  std::string accelerator = "auto";  // Our extension: auto | kvm | tcg.
  bool enable_debug = false;
  std::string machine_accelerators;
  std::string cpu_features = "pmu=off";
  std::vector<std::string> enable_annotations = {"kernel_params"};
  std::vector<std::string> valid_hypervisor_paths = {"/usr/bin/qemu-system-x86_64"};
  // 512000 = the guest's virtio-9p ceiling (PAGE_SIZE * (VIRTQUEUE_NUM - 3));
  // a larger msize is clamped by the guest kernel with a warning.
  int msize_9p = 512000;
  // Kata's: empty PCIe root ports, here the slots a disk is plugged into
  // while the VM runs (a container joining a running pod with a block
  // device or block volume). 0: such a container is refused.
  int pcie_root_port = 4;
  std::string entropy_source = "/dev/urandom";
  // Our extension: QEMU's TCG translation cache (-accel tcg,tb-size=N), in
  // MiB. Unused with KVM. See configuration.toml for the trade-off.
  int tcg_tb_size_mib = 64;
  bool disable_vhost_net = false;  // Accepted for Kata compatibility; no effect.
  // A virtio-balloon with free page reporting: the guest hands the pages it
  // frees back to the host (less host memory per idle sandbox).
  bool reclaim_guest_freed_memory = true;
  bool operator==(const QemuConfig&) const = default;
};

struct AgentConfig {
  bool enable_debug = false;
  std::vector<std::string> kernel_modules;  // "name [param=value ...]" each.
  int dial_timeout = 45;  // Seconds to wait for the agent (Kata's default).
  bool debug_console_enabled = false;
  bool operator==(const AgentConfig&) const = default;
};

struct RuntimeConfig {
  bool enable_debug = false;
  std::string internetworking_model = "tcfilter";  // tcfilter | none
  bool disable_new_netns = false;  // Only valid with internetworking_model = "none".
  bool sandbox_cgroup_only = true;  // ours: a host cgroup at cgroupsPath (sandbox/host_cgroup.h)
  int create_container_timeout = 60;  // Seconds.
  std::vector<std::string> experimental;
  // Kata ships true; here false: the guest applies the profile (defence in
  // depth, and the CRI suite checks that profiles are honoured).
  bool disable_guest_seccomp = false;
  // Ours: the container's rootfs writes go to guest memory, over the shared
  // image (agent/guest_rootfs.h). Faster file creation and removal, but the
  // host's copy of the rootfs never sees them (podman cp/diff/commit of a
  // running container, a rootfs bind the host reads).
  bool rootfs_writes_in_guest = false;
  // Ours: with rootfs_writes_in_guest, the image's read-only layers reach
  // the guest as one cached ext4 disk (sandbox/rootfs_image_cache.h) instead
  // of through the share: looking names up in the image stays in the guest.
  bool rootfs_image_in_guest = false;
  std::string rootfs_image_cache_dir = "/var/cache/kata-containers/rootfs-images";
  int rootfs_image_cache_mb = 4096;  // the cache's bound; least recently used images go first
  bool operator==(const RuntimeConfig&) const = default;
};

// VM templating (sandbox/vm_template.h) and the VM cache
// (sandbox/vm_cache.h), both run by `kata-runtime factory`.
struct FactoryConfig {
  bool enable_template = false;
  std::string template_path = "/run/vc/vm/template";
  int vm_cache_number = 0;  // VMs the cache keeps ready; 0 = no cache
  std::string vm_cache_endpoint = "/var/run/kata-containers/cache.sock";
  bool operator==(const FactoryConfig&) const = default;
};

struct Config {
  QemuConfig qemu;  // [hypervisor.qemu]
  AgentConfig agent;  // [agent.kata]
  RuntimeConfig runtime;  // [runtime]
  FactoryConfig factory;  // [factory]
  bool operator==(const Config&) const = default;
};

struct LoadedConfig {
  Config config;
  std::string path;  // The file that was loaded.
  // "<file>: unknown key hypervisor.qemu.foo ignored" etc. (also logged).
  std::vector<std::string> warnings;
  // Kata keys present in the file that this runtime does not implement
  // ("hypervisor.qemu.enable_hugepages"); logged at debug level.
  std::vector<std::string> ignored;
};

// Parses and validates one file's text; `source_name` (the path) prefixes
// every message. Warnings are logged, and appended to *warnings / *ignored
// when given.
Result<Config> ParseToml(const std::string& text, const std::string& source_name,
                         std::vector<std::string>* warnings = nullptr,
                         std::vector<std::string>* ignored = nullptr);

// /etc/kata-containers/configuration.toml, then
// /usr/share/defaults/kata-containers/configuration.toml.
std::vector<std::string> DefaultPaths();

// Kata's search order: `explicit_path` (CLI --config) if set, else
// $KATA_CONF_FILE if set (either must exist: no silent fallback), else the
// first of DefaultPaths() that exists.
Result<LoadedConfig> Load(const std::string& explicit_path = "");
// Same with the default locations replaced (tests, other install prefixes).
Result<LoadedConfig> LoadWithDefaults(const std::string& explicit_path,
                                      const std::vector<std::string>& default_paths);

// The resolved configuration as TOML for `kata-runtime env`: a [config] table
// (file used, warnings, ignored keys) then every table with every value.
// Callers append their own tables (e.g. the accelerator decision).
std::string ToToml(const LoadedConfig& loaded);

}  // namespace kata::config
