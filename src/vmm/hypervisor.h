// The Hypervisor interface: everything the sandbox needs from a VMM. QEMU is
// the first backend (vmm/qemu/); Firecracker or Cloud Hypervisor would add a
// folder beside it and a case in NewHypervisor(), nothing in sandbox/.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace kata::vmm {

// A guest NIC backed by a host tap device that the VMM creates (by name) in
// its network namespace; the sandbox mirrors the pod's veth to it.
struct NetDevice {
  std::string id;        // VMM-side id, e.g. "net0"
  std::string tap_name;  // host tap interface, e.g. "tap0_kata"
  std::string mac;       // the guest NIC's MAC at boot (the agent later takes the veth's)
};

// The share over virtio-fs: a virtiofsd per VM serves shared_dir (in the VM's
// share namespace) to a vhost-user-fs device, tag kataShared, cached as
// `cache` says and each host mount below it its own guest mount; a second
// one serves it again, uncached and without submounts, as tag
// kataPropagated (common/guest_paths.h: volumes with mount propagation).
// The guest's RAM is then a shared memfd, which both map. Empty daemon:
// virtio-9p, served by the VMM itself.
struct VirtioFsSpec {
  std::string daemon;                   // e.g. /usr/lib/qemu/virtiofsd
  std::string cache = "auto";           // Kata's never | auto | always
  int queue_size = 1024;
  std::vector<std::string> extra_args;  // appended to the daemon's command line
  bool operator==(const VirtioFsSpec&) const = default;
};

// A host block device or disk image given to the guest as a virtio-blk disk
// at boot; the guest finds it by `serial` (at most 20 bytes).
struct Drive {
  std::string id;      // VMM-side node name, e.g. "blk0"
  std::string path;    // host block device, or a disk image file
  std::string serial;  // e.g. "kata-blk-0"
  bool block_device = true;  // false: path is an image file
  bool readonly = false;
  bool operator==(const Drive&) const = default;
};

// What to boot, in VMM-neutral terms (the sandbox maps configuration to this).
struct VmSpec {
  std::string id;             // sandbox id, for names and logs
  std::string run_dir;        // per-VM private dir: sockets, console log (0700)
  std::string shared_dir;     // host dir exported to the guest as mount tag kataShared
  // Where the host puts what the guest shares (container binds): in the
  // VMM's mount namespace shared_dir is a read-only view of it, which the
  // binds attached below it propagate into (vmm/confinement.h). Empty: the
  // VMM exports shared_dir as it is, in the caller's mount namespace.
  std::string share_source_dir;
  VirtioFsSpec virtio_fs;     // daemon empty: virtio-9p
  std::vector<Drive> drives;  // disks attached at boot (sandbox/block_devices.h)
  // Empty slots a disk can be plugged into while the VM runs (HotplugDrive):
  // on microvm and q35, PCIe root ports (microvm then gets its PCIe bus).
  // 0: no hotplug. Kata's pcie_root_port.
  int hotplug_slots = 0;
  std::string binary;         // VMM executable
  std::string kernel;         // uncompressed vmlinux (PVH entry)
  std::string initrd;
  std::string kernel_params;  // full guest kernel command line
  std::string machine_type;   // e.g. "pc", "q35", "microvm"
  std::string accel;          // "kvm" or "tcg"
  std::string extra_machine_accelerators;
  int vcpus = 1;
  // vCPUs present from boot, of which `vcpus` are online (the kernel's
  // maxcpus=); the agent onlines more as the pod's containers need them
  // (the default machine type has no CPU hotplug). 0 or <= vcpus = vcpus.
  int max_vcpus = 0;
  int memory_mib = 256;
  // RAM the VM may grow to (Hypervisor::GrowMemory): present from boot, the
  // guest kernel told to use memory_mib of it; the agent adds the rest in
  // blocks as the pod needs (the default machine type has no memory
  // hotplug). 0 or <= memory_mib = memory_mib.
  int max_memory_mib = 0;
  int tcg_tb_size_mib = 64;  // TCG translation cache; ignored with KVM
  bool debug = false;
  int netns_fd = -1;              // network namespace the VMM runs in (-1: the caller's)
  std::vector<NetDevice> nics;
  // A virtio-balloon with free page reporting (not on templated VMs: see
  // command_line.cc).
  bool free_page_reporting = false;
  // Kata's debug console: a virtio console port (guest /dev/hvc0) on the
  // unix socket RunPaths::debug_console (agent/debug_console.h).
  bool debug_console = false;
  // VM templating (sandbox/vm_template.h). Guest RAM backed by this file
  // instead of anonymous memory: shared (MAP_SHARED) while a template is
  // made, so the RAM lands in the file; private (copy-on-write) in a clone,
  // so clones share the pages none of them wrote.
  std::string memory_file;
  bool memory_file_shared = false;
  // Non-empty: Start() does not boot but resumes the device state saved by
  // SaveState() to this file (guest RAM comes from memory_file).
  std::string restore_state;
  // VM cache: the VMM outlives the process that starts it (not its child,
  // no PR_SET_PDEATHSIG), so that another process can Adopt() it.
  bool detached = false;
};

struct MemoryGrowth {
  std::vector<uint64_t> block_addresses;  // none: the VM cannot grow (more)
  int mib_after = 0;
};

class Hypervisor {
 public:
  virtual ~Hypervisor() = default;
  // Starts the VMM and returns once its agent channel socket exists (the guest
  // may still be booting). Fails with the VMM's own error text and log path.
  virtual Status Start(const VmSpec& spec) = 0;
  // Stops the VM at once (SIGKILL: the guest's state is discarded) and waits
  // up to `timeout` for the VMM to exit (0: not at all; it finishes exiting
  // by itself). Idempotent.
  virtual Status Stop(std::chrono::milliseconds timeout) = 0;
  virtual bool Running() const = 0;
  virtual pid_t Pid() const = 0;
  // Host unix socket whose byte stream is the guest's agent port.
  virtual std::string AgentSocketPath() const = 0;
  virtual std::string ConsoleLogPath() const = 0;
  // The VMM's own stdout/stderr (where it explains a failed start).
  virtual std::string VmmLogPath() const = 0;
  // The share's file server's (virtiofsd's) stdout/stderr; "" without one.
  virtual std::string FileServerLogPath() const { return ""; }
  // VM templating: pauses the VM and writes its device state (not the RAM,
  // which is in spec.memory_file) to `path`. The VM stays paused.
  virtual Status SaveState(const std::string& path) = 0;
  // Called once, from a VMM-watcher thread, when the VMM process exits.
  virtual void SetExitCallback(std::function<void(int status)> cb) = 0;
  // Memory that follows the pod: the guest-physical addresses of the RAM
  // blocks (present from boot above memory_mib, up to max_memory_mib) that
  // take a guest of `from_mib` to `want_mib` or as near as there is, for the
  // agent to add (MemHotplugByProbe); and the guest's size once it has.
  virtual MemoryGrowth GrowMemory(int from_mib, int want_mib) const = 0;
  // VM cache: takes charge of a running VMM that another process started
  // with spec.detached, at `pid`; `spec` has the paths it now lives at.
  virtual Status Adopt(const VmSpec& spec, pid_t pid) = 0;
  // VM cache: stops watching the VMM without stopping it (another process
  // adopts it). Afterwards this object does nothing.
  virtual void Release() = 0;
  // Disk hotplug (VmSpec::hotplug_slots): plugs `drive` into a free slot of
  // the running VM (the caller opens nothing: the backend opens drive.path
  // itself, with the caller's rights, and hands the VMM only that file).
  virtual Status HotplugDrive(const Drive& drive) {
    return Error(Code::kUnimplemented, "this hypervisor has no disk hotplug");
  }
  // Unplugs a drive HotplugDrive plugged, once the guest let go of it (it
  // was asked to: Linux takes 5 s after the VMM's request otherwise),
  // waiting up to `timeout`; the slot is free again. A guest that keeps it
  // past `timeout` keeps it (and the file) until the VM stops: an error says so.
  virtual Status UnplugDrive(const std::string& id, std::chrono::milliseconds timeout) {
    return Error(Code::kUnimplemented, "this hypervisor has no disk hotplug");
  }
  // Makes the drive `id` (booted with or plugged in) `bytes` large for the
  // guest: an image file grows to that size, a block device must already be
  // that large. The guest sees the new capacity shortly after (asynchronously).
  virtual Status ResizeDrive(const std::string& id, uint64_t bytes) {
    return Error(Code::kUnimplemented, "this hypervisor cannot resize disks");
  }
};

// Makes one backend's Hypervisor, once per VM.
using HypervisorFactory = std::function<std::unique_ptr<Hypervisor>()>;

// Adds a backend that lives outside vmm/ under `kind` (the name
// SandboxConfig::hypervisor selects), looked up before the built-in ones,
// so it may also stand in for one of them; an empty factory removes it. The
// unit tests' fake (tests/unit/fake_hypervisor.h) runs the agent in-process
// this way, with no VM and no change to the callers of NewHypervisor.
void RegisterHypervisor(const std::string& kind, HypervisorFactory factory);

// A registered backend, else the built-in "qemu" (the only one today).
Result<std::unique_ptr<Hypervisor>> NewHypervisor(const std::string& kind);

}  // namespace kata::vmm
