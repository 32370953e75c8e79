#include "vmm/qemu/command_line.h"

#include <algorithm>

#include "common/fs.h"

namespace kata::vmm::qemu {
namespace {

// microvm has no PCI bus: its virtio devices are the -device (mmio) variants.
std::string VirtioDevice(const VmSpec& spec, const std::string& base) {
  return base + (spec.machine_type == "microvm" ? "-device" : "-pci");
}

// Guest RAM in 4 KiB pages under TCG. QEMU asks for transparent huge pages on
// anonymous guest RAM, so every 2 MiB region the guest touches at all costs
// the host 2 MiB: an idle guest that touched 43 MiB held 48. A memfd (shmem,
// which the host does not back with huge pages by default) holds only the
// touched pages. KVM keeps anonymous RAM: huge pages speed up its EPT walks;
// TCG reaches guest RAM through its own soft TLB and loses nothing measurable.
// Template VMs have their RAM in the template's file instead.
// With virtio-fs the RAM is a memfd under KVM too: virtiofsd maps it (share=on).
bool UsesVirtioFs(const VmSpec& spec) { return !spec.virtio_fs.daemon.empty(); }
bool SmallPageRam(const VmSpec& spec) {
  return (spec.accel != "kvm" || UsesVirtioFs(spec)) && spec.memory_file.empty();
}

std::string MachineArg(const VmSpec& spec) {
  // microvm stays as QEMU defines it: turning off its PIT/PIC or RTC made
  // the guest boot slower under TCG (guest/README.md).
  std::string m = spec.machine_type.empty() ? "pc" : spec.machine_type;
  if (HotplugSlotCount(spec) > 0 && spec.machine_type == "microvm") m += ",pcie=on";
  if (!spec.extra_machine_accelerators.empty()) m += "," + spec.extra_machine_accelerators;
  if (!spec.memory_file.empty() || SmallPageRam(spec)) m += ",memory-backend=ram";
  return m;
}

std::string AccelArg(const VmSpec& spec) {
  if (spec.accel == "kvm") return "kvm";
  // The translation cache is host memory (PSS) that fills as the guest runs
  // new code; when full, QEMU flushes it and retranslates everything
  // (hypervisor.qemu.tcg_tb_size_mib in configuration.toml). Only TCG has one.
  return "tcg,tb-size=" + std::to_string(spec.tcg_tb_size_mib);
}

// Guest RAM's memory object, when it is not QEMU's default (anonymous memory):
// a memfd (SmallPageRam), or for VM templating RAM in a file, and for a clone,
// wait for the saved state. The memory object's id names the RAM block in the
// migration stream, so it must be the same in the template and its clones.
void AppendMemoryArgs(const VmSpec& spec, std::vector<std::string>* a) {
  std::string size = "size=" + std::to_string(BootRamMib(spec)) + "M";
  if (SmallPageRam(spec)) {
    a->insert(a->end(), {"-object", "memory-backend-memfd,id=ram," + size + (UsesVirtioFs(spec) ? ",share=on" : "")});
    return;
  }
  if (spec.memory_file.empty()) return;
  a->insert(a->end(), {"-object", "memory-backend-file,id=ram," + size + ",mem-path=" + spec.memory_file +
                                      ",share=" + (spec.memory_file_shared ? "on" : "off")});
  // "defer": the stream is attached over QMP (qemu.cc) once the
  // migration capabilities are set; they must match the template's.
  if (!spec.restore_state.empty()) a->insert(a->end(), {"-incoming", "defer"});
}

// Free page reporting: the guest reports free blocks (128 KiB and up: the
// order is a kernel parameter, see shim/sandbox_config.cc) to the balloon,
// QEMU discards them (a hole punched in the memfd of SmallPageRam,
// MADV_DONTNEED on anonymous RAM) and the host gets back what the guest
// touched during boot and freed since. The balloon is
// never inflated: there is no target size, only the reporting queue.
// Not on templated VMs: QEMU 7.2 discards file-backed RAM by punching a hole
// in the file even when it is mapped privately, so a clone would zero pages of
// the template's memory file under the template and every other clone. The
// template is made without it too, so template and clones keep one device set.
void AppendBalloonArgs(const VmSpec& spec, std::vector<std::string>* a) {
  if (!spec.free_page_reporting || !spec.memory_file.empty()) return;
  a->insert(a->end(), {"-device", VirtioDevice(spec, "virtio-balloon") + ",free-page-reporting=on"});
}

// The share, tag kataShared: a vhost-user-fs device whose requests virtiofsd
// serves (the socket it listens on), or QEMU's own 9p server.
void AppendShareArgs(const VmSpec& spec, const RunPaths& p, std::vector<std::string>* a) {
  if (UsesVirtioFs(spec)) {
    // virtiofsd (libvhost-user) serves only modern (virtio 1.0) devices,
    // and microvm's virtio-mmio transports are legacy unless told otherwise.
    if (spec.machine_type == "microvm") a->insert(a->end(), {"-global", "virtio-mmio.force-legacy=false"});
    const char* tags[2] = {"kataShared", "kataPropagated"};
    for (int i = 0; i < 2; i++) {
      std::string id = i == 0 ? "virtiofs" : "virtiofs-p";
      a->insert(a->end(), {"-chardev", "socket,id=" + id + ",path=" + p.virtiofsd_socket[i], "-device",
                           VirtioDevice(spec, "vhost-user-fs") + ",chardev=" + id + ",tag=" + tags[i] +
                               ",queue-size=" + std::to_string(spec.virtio_fs.queue_size)});
    }
    return;
  }
  a->insert(a->end(), {"-fsdev", "local,id=shared,path=" + spec.shared_dir + ",security_model=none", "-device",
                       VirtioDevice(spec, "virtio-9p") + ",fsdev=shared,mount_tag=kataShared"});
}

// Disks at boot: a raw block node (host_device) or image file, each a
// virtio-blk device with its serial.
void AppendDriveArgs(const VmSpec& spec, std::vector<std::string>* a) {
  for (const Drive& d : spec.drives) {
    a->insert(a->end(), {"-blockdev", std::string("driver=") + (d.block_device ? "host_device" : "file") + ",node-name=" + d.id +
                                          ",filename=" + d.path + (d.readonly ? ",read-only=on" : ""),
                         "-device", VirtioDevice(spec, "virtio-blk") + ",drive=" + d.id + ",serial=" + d.serial});
  }
}

// One empty root port per slot, on the root bus; each its own slot number,
// which the guest's slot directory is named by (agent/block_devices.h).
void AppendHotplugSlots(const VmSpec& spec, std::vector<std::string>* a) {
  for (int i = 0; i < HotplugSlotCount(spec); i++) {
    a->insert(a->end(), {"-device", "pcie-root-port,id=" + HotplugSlotId(i) + ",bus=pcie.0,chassis=1,slot=" +
                                        std::to_string(i + 1)});
  }
}

}  // namespace

// Disk hotplug slots are PCIe root ports: q35 has the bus, microvm gets one
// (pcie=on: ECAM and a host bridge, no measurable boot cost under TCG). pc's
// i440fx has no PCIe.
int HotplugSlotCount(const VmSpec& spec) {
  return spec.machine_type == "microvm" || spec.machine_type == "q35" ? std::max(spec.hotplug_slots, 0) : 0;
}

std::string HotplugSlotId(int slot) { return "kata-slot" + std::to_string(slot); }

bool CanGrowMemory(const VmSpec& spec) { return spec.memory_file.empty() && spec.max_memory_mib > spec.memory_mib; }

int BootRamMib(const VmSpec& spec) { return CanGrowMemory(spec) ? spec.max_memory_mib : spec.memory_mib; }

// QEMU's x86 machines put guest RAM from 0 up to a limit below 4 GiB and the
// rest from 4 GiB (microvm: 3 GiB; pc and q35 go lower when there is much
// RAM, so above 2 GiB they count as unknown: no blocks there).
static uint64_t LowRamMib(const VmSpec& spec) { return spec.machine_type == "microvm" ? 3072 : 2048; }

int FirstGrowableMib(const VmSpec& spec, int from_mib) {
  return (std::max(from_mib, spec.memory_mib) + kMemoryBlockMib - 1) / kMemoryBlockMib * kMemoryBlockMib;
}

std::vector<uint64_t> MemoryBlockAddresses(const VmSpec& spec, int from_mib, int to_mib) {
  std::vector<uint64_t> out;
  if (!CanGrowMemory(spec)) return out;
  uint64_t low = LowRamMib(spec), ram = static_cast<uint64_t>(spec.max_memory_mib);
  uint64_t first = static_cast<uint64_t>(FirstGrowableMib(spec, from_mib));
  for (uint64_t at = first; at + kMemoryBlockMib <= static_cast<uint64_t>(to_mib) && at + kMemoryBlockMib <= ram;
       at += kMemoryBlockMib) {
    if (at >= low && spec.machine_type != "microvm") break;
    out.push_back((at < low ? at : at - low + 4096) << 20);
  }
  return out;
}

RunPaths PathsFor(const VmSpec& spec) {
  return RunPaths{
      .qmp_socket = fs::JoinPath(spec.run_dir, "qmp.sock"),
      .agent_socket = fs::JoinPath(spec.run_dir, "agent.sock"),
      .console_log = fs::JoinPath(spec.run_dir, "console.log"),
      .pid_file = fs::JoinPath(spec.run_dir, "qemu.pid"),
      .debug_console = fs::JoinPath(spec.run_dir, "console.sock"),
      .virtiofsd_socket = {fs::JoinPath(spec.run_dir, "virtiofsd.sock"), fs::JoinPath(spec.run_dir, "virtiofsd-p.sock")},
      .virtiofsd_log = {fs::JoinPath(spec.run_dir, "virtiofsd.log"), fs::JoinPath(spec.run_dir, "virtiofsd-p.log")},
  };
}

// `vcpus` online at boot, up to `max_vcpus` present for the agent to online;
// the kernel uses memory_mib of RAM, the rest waits for the agent to add it.
static std::string KernelParamsWithCpusAndMemory(const VmSpec& spec) {
  std::string params = spec.kernel_params;
  if (spec.max_vcpus > spec.vcpus) params += " maxcpus=" + std::to_string(spec.vcpus);
  if (CanGrowMemory(spec)) params += " mem=" + std::to_string(spec.memory_mib) + "M";
  // microvm's ACPI tables grant the OS no control of PCIe features (no _OSC
  // support): without this the guest never handles a hotplug event.
  if (HotplugSlotCount(spec) > 0 && spec.machine_type == "microvm") params += " pcie_ports=native";
  return params;
}

std::vector<std::string> BuildCommandLine(const VmSpec& spec) {
  RunPaths p = PathsFor(spec);
  std::vector<std::string> a = {
      spec.binary,
      "-name", "sandbox-" + spec.id,
      "-machine", MachineArg(spec),
      "-accel", AccelArg(spec),
      "-m", std::to_string(BootRamMib(spec)),
      "-smp", std::to_string(std::max(spec.vcpus, spec.max_vcpus)),
      "-nographic", "-nodefaults", "-no-user-config", "-no-reboot",
      "-kernel", spec.kernel,
      "-initrd", spec.initrd,
      "-append", KernelParamsWithCpusAndMemory(spec),
      // Appending: the sandbox rotates the log by truncating it while QEMU
      // writes (sandbox/vm_monitor.h); QEMU's next write lands at the start.
      "-chardev", "file,id=console,path=" + p.console_log + ",append=on",
      "-serial", "chardev:console",
      "-qmp", "unix:" + p.qmp_socket + ",server=on,wait=off",
      "-chardev", "socket,id=agent,path=" + p.agent_socket + ",server=on,wait=off",
      // Two ports (QEMU reserves port 0 for a console; the agent's is 1)
      // instead of 31: the guest sets up a pair of virtqueues per possible
      // port. The 30 ports nobody opens cost an idle guest 4.5 MiB of RAM
      // (host memory) with 1024-entry queues, ~1 MiB with 256 (see
      // guest/kernel/patches/).
      "-device", VirtioDevice(spec, "virtio-serial") + ",id=serial0,max_ports=2",
      "-device", "virtserialport,bus=serial0.0,chardev=agent,name=agent.channel.0",
      "-pidfile", p.pid_file,
      // QEMU's own seccomp filter: no obsolete system calls, no privilege
      // changes, no new processes, no scheduling/resource changes.
      "-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
  };
  for (const NetDevice& nic : spec.nics) {
    // No vhost here (no /dev/vhost-net on these hosts; QEMU's own virtio-net
    // backend is what TCG needs anyway); no scripts: the sandbox configures the tap.
    a.insert(a.end(), {"-netdev", "tap,id=" + nic.id + ",ifname=" + nic.tap_name + ",script=no,downscript=no,vhost=off",
                       "-device", VirtioDevice(spec, "virtio-net") + ",netdev=" + nic.id + ",mac=" + nic.mac});
  }
  if (spec.debug_console) {
    // A console port (port 0, the one the two-port bus keeps for it): the
    // guest sees a tty, /dev/hvc0, which never blocks on a host that is away.
    a.insert(a.end(), {"-chardev", "socket,id=dbgcon,path=" + p.debug_console + ",server=on,wait=off", "-device",
                       "virtconsole,bus=serial0.0,chardev=dbgcon,name=console.channel.0"});
  }
  AppendShareArgs(spec, p, &a);
  AppendHotplugSlots(spec, &a);
  AppendDriveArgs(spec, &a);
  AppendBalloonArgs(spec, &a);
  AppendMemoryArgs(spec, &a);
  // TCG keeps QEMU's default CPU model: "max" adds features that cost
  // translation time and that nothing in the guest needs.
  if (spec.accel == "kvm") a.insert(a.begin() + 7, {"-cpu", "host"});
  return a;
}

}  // namespace kata::vmm::qemu
