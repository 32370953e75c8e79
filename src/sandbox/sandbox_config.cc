#include "sandbox/sandbox_config.h"

#include "vmm/tsc_khz.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <climits>

#include "common/log.h"
#include "oci/spec_json.h"

namespace kata::sandbox {

AccelDecision ChooseAccelerator(const std::string& configured) { return vmm::ChooseAccelerator(configured); }

std::string BaseKernelParams(bool debug) {
  // Skip probing for hardware the VM does not have (keyboard controller, PIT
  // calibration, SMP alternatives) and never reboot: a crashed guest powers
  // off so the host sees the VMM exit.
  std::string p =
      "console=ttyS0 panic=-1 reboot=t i8042.noaux i8042.nomux i8042.nokbd i8042.nopnp i8042.dumbkbd "
      "no_timer_check noreplace-smp tsc=reliable nomodeset cryptomgr.notests random.trust_cpu=on 8250.nr_uarts=1 "
      "rdinit=/init";
  p += debug ? " loglevel=7 printk.time=1" : " quiet loglevel=1";
  return p;
}

std::string AcceleratorKernelParams(const std::string& accel, const std::string& machine_type) {
  if (accel != "tcg") return "";
  std::string p;
  if (machine_type == "microvm") {
    // No clock to calibrate the TSC against on microvm under TCG.
    if (uint64_t khz = vmm::HostTscKhz(); khz > 0) p += " tsc_early_khz=" + std::to_string(khz);
  }
  // QEMU's emulated local APIC timer runs at 1 GHz. Told so, the own kernel
  // (guest/kernel/patches/0003) skips calibrating it: 100 ms of wall time
  // under TCG. Other kernels pass the unknown parameter on to /init.
  // (mitigations=off would save another ~40 ms with the own kernel, within
  // the noise of an A/B run: not worth turning the guest's defences off.)
  p += " apic_bus_hz=1000000000";
  return p;
}

namespace {

void SetShare(const config::Config& cfg, bool virtio_fs, SandboxConfig* sc) {
  if (virtio_fs) {
    sc->shared_fs_type = "virtiofs";
    sc->shared_fs_options = "";
    sc->vm.virtio_fs = {cfg.qemu.virtio_fs_daemon, cfg.qemu.virtio_fs_cache, cfg.qemu.virtio_fs_queue_size,
                        cfg.qemu.virtio_fs_extra_args};
  } else {
    sc->shared_fs_type = "9p";
    sc->shared_fs_options = "trans=virtio,version=9p2000.L,cache=mmap,msize=" + std::to_string(cfg.qemu.msize_9p);
    sc->vm.virtio_fs = {};
  }
}

}  // namespace

void UseNinePForUserNamespaces(const config::Config& cfg, const nlohmann::json& spec, SandboxConfig* sc) {
  if (sc->shared_fs_type != "virtiofs" || !spec.contains("linux") || !spec["linux"].is_object()) return;
  const nlohmann::json& lx = spec["linux"];
  bool userns = false;
  if (lx.contains("namespaces") && lx["namespaces"].is_array()) {
    for (const auto& ns : lx["namespaces"]) userns |= ns.is_object() && ns.value("type", "") == "user";
  }
  if (!userns) return;
  log::Info("sandbox " + sc->id + ": virtio-9p instead of virtio-fs: its first container has a user namespace, "
            "whose root virtiofsd would serve without its capabilities (docs/storage.md)");
  SetShare(cfg, false, sc);
}

Result<sandbox::SandboxConfig> MakeSandboxConfig(const config::Config& cfg, const std::string& sandbox_id,
                                                 vmm::AccelDecision* decision_out) {
  vmm::AccelDecision accel = vmm::ChooseAccelerator(cfg.qemu.accelerator);
  if (accel.accel == "kvm" && !accel.kvm_usable) {
    return Error(Code::kFailedPrecondition,
                 "hypervisor.qemu.accelerator is \"kvm\" but " + accel.reason +
                     "; set accelerator = \"auto\" or \"tcg\" in the configuration");
  }
  if (decision_out) *decision_out = accel;
  sandbox::SandboxConfig sc;
  sc.id = sandbox_id;
  sc.hostname = sandbox_id.substr(0, 63);
  sc.guest_seccomp = !cfg.runtime.disable_guest_seccomp;
  sc.rootfs_writes_in_guest = cfg.runtime.rootfs_writes_in_guest;
  sc.agent_timeout = std::chrono::seconds(cfg.agent.dial_timeout);
  SetShare(cfg, cfg.qemu.shared_fs == "virtio-fs", &sc);
  bool debug = cfg.qemu.enable_debug || cfg.agent.enable_debug || cfg.runtime.enable_debug;
  sc.vm.binary = cfg.qemu.path;
  sc.vm.kernel = cfg.qemu.kernel;
  sc.vm.initrd = cfg.qemu.initrd;
  sc.vm.machine_type = cfg.qemu.machine_type;
  sc.vm.extra_machine_accelerators = cfg.qemu.machine_accelerators;
  sc.vm.kernel_params = BaseKernelParams(debug);
  sc.vm.kernel_params += AcceleratorKernelParams(accel.accel, cfg.qemu.machine_type);
  if (cfg.agent.enable_debug) sc.vm.kernel_params += " agent.log=debug";
  // Kata's parameter: the agent serves a shell on the console port.
  if (cfg.agent.debug_console_enabled) sc.vm.kernel_params += " agent.debug_console";
  // Report free blocks from 128 KiB up (order 5) rather than from the
  // kernel's pageblock (2 MiB): an idle 128 MiB guest then gives back
  // 3.6 MiB more, at no measured boot cost. Orders below 5 gave no more.
  // Our kernel keeps the parameter (guest/kernel/patches/0002-*); Debian's
  // 6.1 overwrites it and reports 2 MiB blocks.
  if (cfg.qemu.reclaim_guest_freed_memory) sc.vm.kernel_params += " page_reporting.page_reporting_order=5";
  // Last, so that the file's kernel_params can override the runtime's.
  if (!cfg.qemu.kernel_params.empty()) sc.vm.kernel_params += " " + cfg.qemu.kernel_params;
  sc.vm.vcpus = cfg.qemu.default_vcpus;
  // Present from boot, online as the pod needs them (Sandbox::FitVcpus).
  sc.vm.max_vcpus = cfg.qemu.default_maxvcpus;
  sc.vm.memory_mib = cfg.qemu.default_memory;
  sc.vm.max_memory_mib = cfg.qemu.default_maxmemory;
  sc.guest_memory_mib = cfg.qemu.default_memory;
  sc.vm.tcg_tb_size_mib = cfg.qemu.tcg_tb_size_mib;
  sc.vm.hotplug_slots = cfg.qemu.pcie_root_port;
  sc.vm.accel = accel.accel;
  sc.vm.debug = debug;
  sc.vm.free_page_reporting = cfg.qemu.reclaim_guest_freed_memory;
  sc.vm.debug_console = cfg.agent.debug_console_enabled;
  if (cfg.factory.enable_template) sc.template_dir = cfg.factory.template_path;
  if (cfg.factory.vm_cache_number > 0) sc.vm_cache_endpoint = cfg.factory.vm_cache_endpoint;
  return sc;
}

SizingLimits HostSizingLimits() {
  SizingLimits l;
  l.max_memory_mib = config::HostMemoryMib();
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  if (cpus > 0) l.max_vcpus = cpus;
  return l;
}

namespace {

constexpr char kMemoryKey[] = "io.kubernetes.cri.sandbox-memory";
constexpr char kQuotaKey[] = "io.kubernetes.cri.sandbox-cpu-quota";
constexpr char kPeriodKey[] = "io.kubernetes.cri.sandbox-cpu-period";
// The kernel's CFS bandwidth period range, in microseconds.
constexpr long long kMinCfsPeriod = 1000, kMaxCfsPeriod = 1000000;

// The annotation as a 64-bit integer; 0 when absent. containerd writes "0"
// (or "-1") for "no limit", so non-positive values mean the default; what is
// not a decimal integer, or does not fit in 64 bits, is refused.
Result<long long> ParseSizing(const std::map<std::string, std::string>& a, const char* key) {
  auto it = a.find(key);
  if (it == a.end() || it->second.empty()) return 0;
  const std::string& text = it->second;
  long long v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc::result_out_of_range) {
    return Error(Code::kInvalidArgument, std::string("annotation ") + key + " = \"" + text.substr(0, 64) +
                                             "\" is out of range (at most " + std::to_string(LLONG_MAX) + ")");
  }
  if (ec != std::errc() || end != text.data() + text.size()) {
    return Error(Code::kInvalidArgument, std::string("annotation ") + key + " = \"" + text.substr(0, 64) +
                                             "\" is not an integer");
  }
  return std::max(v, 0LL);
}

// The VM's memory for a pod limit of `bytes`: ceil(bytes / 1 MiB), at least
// `current`, at most the host's memory.
Result<int> MemoryMib(long long bytes, const SizingLimits& limits, int current) {
  if (bytes <= 0) return current;
  long long mib = bytes / (1 << 20) + (bytes % (1 << 20) != 0 ? 1 : 0);  // ceil, without overflow
  if (limits.max_memory_mib > 0 && mib > limits.max_memory_mib) {
    return Error(Code::kInvalidArgument, std::string("annotation ") + kMemoryKey + " = " + std::to_string(bytes) +
                                             " bytes (" + std::to_string(mib) + " MiB) is more than this host's " +
                                             "memory (" + std::to_string(limits.max_memory_mib) +
                                             " MiB); lower the pod's memory limit");
  }
  if (mib > INT_MAX) {
    return Error(Code::kInvalidArgument, std::string("annotation ") + kMemoryKey + " = " + std::to_string(bytes) +
                                             " bytes is more than a VM can have (" + std::to_string(INT_MAX) + " MiB)");
  }
  return std::max(current, static_cast<int>(mib));
}

// The VM's vCPUs for a CFS quota/period: ceil(quota / period), at least
// `current`, capped at the host's CPUs (more would only slow the guest).
Result<int> Vcpus(long long quota, long long period, const SizingLimits& limits, int current) {
  if (quota <= 0 || period <= 0) return current;
  if (period < kMinCfsPeriod || period > kMaxCfsPeriod) {
    return Error(Code::kInvalidArgument, std::string("annotation ") + kPeriodKey + " = " + std::to_string(period) +
                                             " is outside the kernel's CFS period range (" +
                                             std::to_string(kMinCfsPeriod) + " to " + std::to_string(kMaxCfsPeriod) +
                                             " microseconds)");
  }
  long long cpus = quota / period + (quota % period != 0 ? 1 : 0);  // ceil, without overflow
  if (limits.max_vcpus > 0) cpus = std::min(cpus, limits.max_vcpus);
  return std::max(current, static_cast<int>(std::min<long long>(cpus, INT_MAX)));
}

}  // namespace

Status SizeFromAnnotations(const std::map<std::string, std::string>& annotations, sandbox::SandboxConfig* sc,
                           const SizingLimits& limits) {
  ASSIGN_OR_RETURN(long long mem, ParseSizing(annotations, kMemoryKey));
  ASSIGN_OR_RETURN(long long quota, ParseSizing(annotations, kQuotaKey));
  ASSIGN_OR_RETURN(long long period, ParseSizing(annotations, kPeriodKey));
  // Both checked before either is set: a refused pod leaves `sc` as it was.
  ASSIGN_OR_RETURN(int memory_mib, MemoryMib(mem, limits, sc->vm.memory_mib));
  ASSIGN_OR_RETURN(int vcpus, Vcpus(quota, period, limits, sc->vm.vcpus));
  sc->vm.memory_mib = memory_mib;
  sc->vm.vcpus = vcpus;
  return Status::Ok();
}

void ApplyNetworkNamespace(const nlohmann::json& spec, sandbox::SandboxConfig* sc) {
  const nlohmann::json* list = nullptr;
  if (spec.contains("linux") && spec["linux"].is_object() && spec["linux"].contains("namespaces")) {
    list = &spec["linux"]["namespaces"];
  }
  if (list == nullptr || !list->is_array()) return;
  for (const auto& ns : *list) {
    if (!ns.is_object() || ns.value("type", "") != "network") continue;
    sc->network = true;
    sc->netns_path = ns.value("path", "");
  }
}

void ApplyHostCgroup(const config::Config& cfg, const nlohmann::json& spec, sandbox::SandboxConfig* sc) {
  if (!cfg.runtime.sandbox_cgroup_only) return;
  auto parsed = oci::ParseSpec(spec);  // validated by the caller already
  if (!parsed.ok()) return;
  if (!parsed->linux_config) {
    sc->cgroups_path = sc->id;
    return;
  }
  // runc's default without one: a group named after the container under the caller's.
  sc->cgroups_path = parsed->linux_config->cgroups_path.empty() ? sc->id : parsed->linux_config->cgroups_path;
  if (parsed->linux_config->resources) sc->resources = *parsed->linux_config->resources;
}

namespace {

bool ListsNamespace(const nlohmann::json& spec, const std::string& type) {
  if (!spec.contains("linux") || !spec["linux"].is_object() || !spec["linux"].contains("namespaces")) return false;
  const nlohmann::json& list = spec["linux"]["namespaces"];
  if (!list.is_array()) return false;
  for (const auto& ns : list)
    if (ns.is_object() && ns.value("type", "") == type) return true;
  return false;
}

}  // namespace

bool IsCriPodSandbox(const std::map<std::string, std::string>& annotations) {
  auto type = annotations.find("io.kubernetes.cri.container-type");
  return type != annotations.end() && type->second == "sandbox";
}

Status CheckPodHostNamespaces(const nlohmann::json& spec, const std::map<std::string, std::string>& annotations) {
  if (!IsCriPodSandbox(annotations)) return Status::Ok();
  const char* why = " runs in its own virtual machine, with its own kernel: ";
  if (!ListsNamespace(spec, "network")) {
    return Error(Code::kInvalidArgument,
                 std::string("pod asks for the host's network (hostNetwork: true), which kata cannot give: the pod") + why +
                     "its network is the VM's. Run this pod with a runc RuntimeClass, or without hostNetwork");
  }
  if (!ListsNamespace(spec, "ipc")) {
    return Error(Code::kInvalidArgument,
                 std::string("pod asks for the host's IPC namespace (hostIPC: true), which kata cannot give: the pod") + why +
                     "its shared memory and message queues are the VM's. Run this pod with a runc RuntimeClass, or without hostIPC");
  }
  return Status::Ok();
}

}  // namespace kata::sandbox
