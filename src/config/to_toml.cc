// ToToml: the resolved configuration as TOML (`kata-runtime env`), every
// value of Config with its key, so that it parses back to the same Config
// (tests/unit/config_test.cc EveryKeyParsedAndPrintedBack, tests/fuzz/fuzz_config).
#include <sstream>

#include "config/config.h"
#include "common/json_escape.h"

namespace kata::config {
namespace {

std::string QuoteList(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + JsonQuote(v[i]);
  return out + "]";
}

// One table's lines of ToToml.
class TomlWriter {
 public:
  explicit TomlWriter(std::ostringstream& o) : o_(o) {}
  void Table(const char* name) { o_ << "\n[" << name << "]\n"; }
  void S(const char* k, const std::string& v) { o_ << k << " = " << JsonQuote(v) << "\n"; }
  void B(const char* k, bool v) { o_ << k << " = " << (v ? "true" : "false") << "\n"; }
  void I(const char* k, int v) { o_ << k << " = " << v << "\n"; }
  void A(const char* k, const std::vector<std::string>& v) { o_ << k << " = " << QuoteList(v) << "\n"; }

 private:
  std::ostringstream& o_;
};

void QemuToToml(TomlWriter& w, const QemuConfig& q) {
  w.Table("hypervisor.qemu");
  w.S("path", q.path);
  w.S("kernel", q.kernel);
  w.S("initrd", q.initrd);
  w.S("machine_type", q.machine_type);
  w.S("kernel_params", q.kernel_params);
  w.I("default_vcpus", q.default_vcpus);
  w.I("default_maxvcpus", q.default_maxvcpus);
  w.I("default_memory", q.default_memory);
  w.I("default_maxmemory", q.default_maxmemory);
  w.S("shared_fs", q.shared_fs);
  w.S("virtio_fs_daemon", q.virtio_fs_daemon);
  w.A("valid_virtio_fs_daemon_paths", q.valid_virtio_fs_daemon_paths);
  w.S("virtio_fs_cache", q.virtio_fs_cache);
  w.I("virtio_fs_cache_size", q.virtio_fs_cache_size);
  w.I("virtio_fs_queue_size", q.virtio_fs_queue_size);
  w.A("virtio_fs_extra_args", q.virtio_fs_extra_args);
  w.S("accelerator", q.accelerator);
  w.B("enable_debug", q.enable_debug);
  w.S("machine_accelerators", q.machine_accelerators);
  w.S("cpu_features", q.cpu_features);
  w.A("enable_annotations", q.enable_annotations);
  w.A("valid_hypervisor_paths", q.valid_hypervisor_paths);
  w.I("msize_9p", q.msize_9p);
  w.I("pcie_root_port", q.pcie_root_port);
  w.S("entropy_source", q.entropy_source);
  w.I("tcg_tb_size_mib", q.tcg_tb_size_mib);
  w.B("disable_vhost_net", q.disable_vhost_net);
  w.B("reclaim_guest_freed_memory", q.reclaim_guest_freed_memory);
}

}  // namespace

std::string ToToml(const LoadedConfig& l) {
  const Config& c = l.config;
  std::ostringstream o;
  TomlWriter w(o);
  o << "# Resolved configuration (defaults applied, vCPU counts resolved for this host).\n"
    << "[config]\n";
  w.S("path", l.path);
  w.A("warnings", l.warnings);
  w.A("ignored", l.ignored);
  QemuToToml(w, c.qemu);
  w.Table("agent.kata");
  w.B("enable_debug", c.agent.enable_debug);
  w.A("kernel_modules", c.agent.kernel_modules);
  w.I("dial_timeout", c.agent.dial_timeout);
  w.B("debug_console_enabled", c.agent.debug_console_enabled);
  w.Table("runtime");
  w.B("enable_debug", c.runtime.enable_debug);
  w.S("internetworking_model", c.runtime.internetworking_model);
  w.B("disable_new_netns", c.runtime.disable_new_netns);
  w.B("sandbox_cgroup_only", c.runtime.sandbox_cgroup_only);
  w.I("create_container_timeout", c.runtime.create_container_timeout);
  w.A("experimental", c.runtime.experimental);
  w.B("disable_guest_seccomp", c.runtime.disable_guest_seccomp);
  w.B("rootfs_writes_in_guest", c.runtime.rootfs_writes_in_guest);
  w.B("rootfs_image_in_guest", c.runtime.rootfs_image_in_guest);
  w.S("rootfs_image_cache_dir", c.runtime.rootfs_image_cache_dir);
  w.I("rootfs_image_cache_mb", c.runtime.rootfs_image_cache_mb);
  w.Table("factory");
  w.B("enable_template", c.factory.enable_template);
  w.S("template_path", c.factory.template_path);
  w.I("vm_cache_number", c.factory.vm_cache_number);
  w.S("vm_cache_endpoint", c.factory.vm_cache_endpoint);
  return o.str();
}

}  // namespace kata::config
