#include "shim/sandbox_config.h"

#include "vmm/tsc_khz.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>

namespace kata::shim {

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
  sc.agent_timeout = std::chrono::seconds(cfg.agent.dial_timeout);
  sc.shared_fs_options = "trans=virtio,version=9p2000.L,cache=mmap,msize=" + std::to_string(cfg.qemu.msize_9p);
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
  sc.vm.memory_mib = cfg.qemu.default_memory;
  sc.vm.tcg_tb_size_mib = cfg.qemu.tcg_tb_size_mib;
  sc.vm.accel = accel.accel;
  sc.vm.debug = debug;
  sc.vm.free_page_reporting = cfg.qemu.reclaim_guest_freed_memory;
  sc.vm.debug_console = cfg.agent.debug_console_enabled;
  if (cfg.factory.enable_template) sc.template_dir = cfg.factory.template_path;
  if (cfg.factory.vm_cache_number > 0) sc.vm_cache_endpoint = cfg.factory.vm_cache_endpoint;
  return sc;
}

namespace {

bool ParsePositive(const std::map<std::string, std::string>& a, const char* key, long long* out) {
  auto it = a.find(key);
  if (it == a.end() || it->second.empty()) return false;
  char* end = nullptr;
  long long v = std::strtoll(it->second.c_str(), &end, 10);
  if (*end != '\0' || v <= 0) return false;
  *out = v;
  return true;
}

}  // namespace

void ApplySizingAnnotations(const std::map<std::string, std::string>& annotations, sandbox::SandboxConfig* sc) {
  long long mem = 0, quota = 0, period = 0;
  if (ParsePositive(annotations, "io.kubernetes.cri.sandbox-memory", &mem)) {
    long long mib = (mem + (1 << 20) - 1) >> 20;
    sc->vm.memory_mib = static_cast<decltype(sc->vm.memory_mib)>(std::max<long long>(sc->vm.memory_mib, mib));
  }
  if (ParsePositive(annotations, "io.kubernetes.cri.sandbox-cpu-quota", &quota) &&
      ParsePositive(annotations, "io.kubernetes.cri.sandbox-cpu-period", &period)) {
    long long cpus = (quota + period - 1) / period;
    long long host = sysconf(_SC_NPROCESSORS_ONLN);
    if (host > 0) cpus = std::min(cpus, host);
    sc->vm.vcpus = static_cast<decltype(sc->vm.vcpus)>(std::max<long long>(sc->vm.vcpus, cpus));
  }
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

}  // namespace kata::shim
