#include "config/kata_keys.h"

#include <algorithm>
#include <string_view>

namespace kata::config {
namespace {

// From kc@HEAD src/runtime/pkg/katautils/config.go (toml tags),
// configuration-qemu.toml.in and runtime-rs configs (KATA-REFERENCE.md §3).
constexpr std::string_view kQemu[] = {
    "jailer_path", "ctlpath", "firmware", "firmware_volume", "rootfs_type", "rootless",
    "block_device_driver", "block_device_aio", "block_device_cache_set",
    "block_device_cache_direct", "block_device_cache_noflush",
    "block_device_logical_sector_size", "block_device_physical_sector_size",
    "disable_block_device_use", "enable_iothreads", "indep_iothreads", "vhost_user_store_path", "valid_vhost_user_store_paths",
    "enable_vhost_user_store", "vhost_user_reconnect_timeout_sec", "file_mem_backend",
    "valid_file_mem_backends", "guest_hook_path", "guest_memory_dump_path",
    "guest_memory_dump_paging", "seccompsandbox", "valid_jailer_paths", "valid_ctlpaths",
    "pflashes", "valid_entropy_sources", "rx_rate_limiter_max_rate", "tx_rate_limiter_max_rate",
    "memory_offset", "memory_slots", "default_bridges",
    "pcie_switch_port", "hot_plug_vfio", "cold_plug_vfio", "hotplug_vfio_on_root_bus",
    "enable_mem_prealloc", "enable_hugepages", "enable_virtio_mem",
    "enable_iommu", "enable_iommu_platform", "enable_numa", "numa_mapping",
    "disable_nesting_checks", "disable_image_nvdimm", "confidential_guest", "sev_snp_guest",
    "enable_guest_swap", "disable_seccomp", "disable_selinux", "disable_guest_selinux",
    "use_legacy_serial", "extra_monitor_socket", "use_vsock", "enable_swap",
    "kernel_verity_params", "disk_rate_limiter_bw_max_rate", "disk_rate_limiter_bw_one_time_burst",
    "disk_rate_limiter_ops_max_rate", "disk_rate_limiter_ops_one_time_burst",
    "net_rate_limiter_bw_max_rate", "net_rate_limiter_bw_one_time_burst",
    "net_rate_limiter_ops_max_rate", "net_rate_limiter_ops_one_time_burst",
    "factory",  // runtime-rs puts [factory] under the hypervisor.
};
constexpr std::string_view kAgent[] = {
    "enable_tracing", "cdh_api_timeout", "container_pipe_size", "dial_timeout_ms",
    "reconnect_timeout_ms", "request_timeout_ms", "health_check_request_timeout_ms",
    "server_port", "log_port", "trace_mode", "trace_type", "use_vsock", "mem_agent",
};
constexpr std::string_view kRuntime[] = {
    "enable_tracing", "jaeger_endpoint", "jaeger_user", "jaeger_password", "vfio_mode",
    "sandbox_bind_mounts", "static_sandbox_resource_mgmt", "enable_pprof",
    "disable_guest_empty_dir", "emptydir_mode", "enable_vcpus_pinning", "guest_selinux_label",
    "dan_conf", "kubelet_root_dir", "pod_resource_api_sock", "experimental_force_guest_pull",
    "overhead_vcpus", "overhead_memory", "name", "hypervisor_name", "agent_name", "log_level",
    "keep_abnormal", "use_passfd_io", "passfd_listener_port",
};
constexpr std::string_view kTables[] = {"netmon", "image", "proxy", "shim"};

template <size_t N>
bool In(const std::string_view (&list)[N], const std::string& s) {
  return std::find(std::begin(list), std::end(list), s) != std::end(list);
}

}  // namespace

bool IsKataOnlyKey(const std::string& table, const std::string& key) {
  if (table == "hypervisor.qemu") return In(kQemu, key);
  if (table == "agent.kata") return In(kAgent, key);
  if (table == "runtime") return In(kRuntime, key);
  return false;
}

bool IsKataOnlyTable(const std::string& name) { return In(kTables, name); }

}  // namespace kata::config
