// A sandbox: one VM, its agent connection and its shared directory. The
// containers of a pod live in it (sandbox/container.h).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "common/status.h"
#include "common/unique_fd.h"
#include "oci/spec.h"
#include "sandbox/agent_client.h"
#include "sandbox/host_cgroup.h"
#include "sandbox/sandbox_endpoint.h"
#include "sandbox/oom_events.h"
#include "sandbox/port_forward.h"
#include "sandbox/netns.h"
#include "sandbox/network.h"
#include "sandbox/share.h"
#include "sandbox/vm_monitor.h"
#include "vmm/hypervisor.h"

namespace kata::sandbox {

// A VM handed over by the VM cache (sandbox/vm_cache.h): its directories
// are VmRunDir(id) and SharedSandboxDir(id), its VMM runs at pid.
struct CachedVm {
  std::string id;
  pid_t pid = -1;
};

// The VM's sockets live in VmRunDir(id) (sun_path holds 107 bytes).
inline constexpr size_t kMaxSandboxIdLength = 80;

struct SandboxConfig {
  std::string id;
  // Who runs the sandbox (sandbox/ownership.h): its directories carry it.
  std::string owner = "unknown";
  std::string hypervisor = "qemu";
  vmm::VmSpec vm;  // id, run_dir and shared_dir are filled in by Boot()
  std::chrono::milliseconds agent_timeout{30000};
  std::string shared_fs_type = "9p";  // how the agent mounts kataShared: "9p" or "virtiofs"
  std::string shared_fs_options = "trans=virtio,version=9p2000.L,cache=mmap,msize=524288";
  std::string hostname;
  // The pod network. Without it (host networking) the VM's NIC stays
  // unconnected and the guest has loopback only.
  bool network = false;
  std::string netns_path;  // the pod's namespace; "" = the sandbox makes a new one
  // Relay connections to localhost made in the pod namespace on the host to
  // the guest (CRI port forward; sandbox/port_forward.h).
  bool port_forward = false;
  // VM templating: start from the template in this directory when it matches
  // the VM (sandbox/vm_template.h); "" = always boot.
  std::string template_dir;
  // VM cache: take a booted, warm VM from the cache serving this socket
  // when it has one made like this sandbox's; "" = never.
  std::string vm_cache_endpoint;
  // Ask a booted guest for its own boot timeline (BootTimes::guest_*): one
  // more agent call (~8 ms under TCG). Also done when debug logging is on.
  bool measure_guest_boot = false;
  // Apply the containers' seccomp profiles in the guest ([runtime]
  // disable_guest_seccomp = false; sandbox/guest_spec.h).
  bool guest_seccomp = true;
  // Each container's rootfs writes stay in guest memory ([runtime]
  // rootfs_writes_in_guest; agent/guest_rootfs.h).
  bool rootfs_writes_in_guest = false;
  // The host cgroup (sandbox/host_cgroup.h) at this linux.cgroupsPath, with
  // the sandbox container's resources; "" = none: the sandbox's processes
  // stay where the caller started them ([runtime] sandbox_cgroup_only = false).
  std::string cgroups_path;
  oci::Resources resources;
  // What the guest itself needs (kernel, agent, page cache) beside its
  // containers' memory limits: the VM grows to this plus their sum
  // (MemoryFor), up to vm.max_memory_mib. Kata's default_memory.
  int guest_memory_mib = 256;
};

struct BootTimes {
  double vmm_start_ms = 0;    // spawn until the VMM's sockets exist
  double agent_ready_ms = 0;  // VMM start until the agent answered
  // Guest clock (since the kernel started), reported by the agent:
  double guest_kernel_ms = 0;  // kernel start -> /init (the agent) running
  double guest_agent_ms = 0;   // agent start -> serving its port
  bool from_template = false;  // resumed from the VM template, not booted
  bool from_cache = false;     // taken from the VM cache, not started
};

class Sandbox {
 public:
  // Boots the VM and waits for its agent. On failure everything it made is
  // undone (no VMM process, no directory) and the error names the console log.
  static Result<std::unique_ptr<Sandbox>> Boot(const SandboxConfig& cfg);
  ~Sandbox();

  const std::string& id() const { return cfg_.id; }
  bool guest_seccomp() const { return cfg_.guest_seccomp; }
  bool rootfs_writes_in_guest() const { return cfg_.rootfs_writes_in_guest; }
  // virtio-fs: the share's second export for volumes with mount propagation
  // (common/guest_paths.h kGuestPropagatedDir).
  bool has_propagated_share() const { return !cfg_.vm.virtio_fs.daemon.empty(); }
  // The disks the VM booted with (sandbox/block_devices.h).
  const std::vector<vmm::Drive>& drives() const { return cfg_.vm.drives; }
  // The guest serial of the disk at `host_path` for container `container_id`
  // (sandbox_disks.cc): a disk the VM booted with, one already plugged in
  // for another container, or one plugged in now (vmm::VmSpec::hotplug_slots).
  Result<std::string> DiskFor(const std::string& container_id, const std::string& host_path, bool block_device,
                              bool readonly);
  // Unplugs the disks only `container_id` used (after the guest removed it):
  // the guest lets go, then the VMM unplugs. Failures are logged: a disk the
  // guest keeps stays attached until the VM stops.
  void UnplugDisksOf(const std::string& container_id);
  // Direct volumes the pod's containers mount (sandbox_volumes.cc): each is
  // recorded in the volume's directory (direct_volume.h) so that
  // `kata-runtime direct-volume stats|resize` finds this sandbox, which asks
  // the agent (and the VMM, to grow the disk first). Forgotten with the last
  // container using it (UnplugDisksOf) or at Shutdown.
  Status UseDirectVolume(const std::string& volume_path, const std::string& container_id, const std::string& disk_path,
                         const std::string& guest_path);
  Result<grpc::VolumeStatsResponse> DirectVolumeStats(const std::string& volume_path);
  Status ResizeDirectVolume(const std::string& volume_path, uint64_t bytes);
  AgentClient& agent() { return *agent_; }
  const Share& share() const { return share_; }
  const BootTimes& boot_times() const { return times_; }
  bool vm_running() const { return hv_ && hv_->Running(); }
  pid_t vmm_pid() const { return hv_ ? hv_->Pid() : -1; }
  // The VMM's network namespace (the pod's), held open by the sandbox.
  int netns_fd() const { return netns_.fd(); }
  // Gives the guest the pod's network: mirrors each veth found in the pod's
  // namespace to a tap of the VM and configures its guest NIC like the veth.
  // Called once the sandbox container's prestart hooks ran (docker's
  // networking hook moves the veth in only then), and again at its start
  // (podman configures a user namespace's network after create). Calls
  // after one that connected something do nothing.
  Status ConnectNetwork();
  // Called (on a watcher thread) if the VM dies while the sandbox is up.
  void OnVmExit(std::function<void()> cb);
  // Calls `cb` with the id of each container whose guest cgroup has an OOM
  // kill, from a thread of its own, until the sandbox shuts down.
  void OnOom(std::function<void(const std::string& container_id)> cb);
  // The VM follows the pod's containers: each container's resources are
  // added at create and update (before the container may use them), dropped
  // at delete. The host cgroup's limits are their sum (SandboxLimits), and
  // the guest's online vCPUs cover their CPU quotas (VcpusFor) and its
  // memory their memory limits (MemoryFor).
  Status SetContainerResources(const std::string& container_id, const oci::Resources& r);
  void ForgetContainerResources(const std::string& container_id);
  // Stops the VM and removes every host directory of the sandbox. Idempotent.
  Status Shutdown();
  // VM cache: gives the VM away without stopping it (its VMM must have been
  // started detached); this object is inert afterwards.
  Result<CachedVm> Release();

 private:
  explicit Sandbox(SandboxConfig cfg) : cfg_(std::move(cfg)) {}
  Status BootSteps();
  Status MakeVmDirs();
  Status InUseError() const;
  Status CheckPodNetns();
  Status CountPodNics();
  Status DisconnectNetwork();
  void StartPortForwarding();
  void ShareDebugShell();
  Status PrepareNetwork();
  // Resumes cfg_.template_dir when it matches the VM; false (logged) when it
  // does not or the resume failed, with nothing left of the attempt.
  Result<bool> StartFromTemplate();
  // Starts the VMM (booting, or resuming cfg_.vm.restore_state) and waits
  // for the agent.
  Status StartVmAndAgent();
  void WatchVmExit();
  // VM cache (sandbox_from_cache.cc): adopts a VM from cfg_.vm_cache_endpoint;
  // false (logged) when there is none to take or adopting it failed, with
  // nothing left of the attempt.
  Result<bool> TakeFromVmCache();
  Status AdoptVm(const CachedVm& vm);
  Status AdoptNetwork(pid_t vmm_pid);
  // After a resume every clone holds the template's RNG state and clock:
  // give this one its own.
  Status FreshIdentity();
  // Stops a VM whose resume failed, so the sandbox can cold boot instead.
  void DiscardVm();
  Status FailWithConsole(const Status& st);
  // Makes the host cgroup and moves this process in, before any VMM starts.
  Status JoinHostCgroup();
  Status ApplyHostLimits();  // host_mu_ held
  Status FitVcpus();         // host_mu_ held
  Status FitMemory();        // host_mu_ held
  Status LeaveHostCgroup();
  // kata-monitor's endpoint and the boot time it reports; failures only logged.
  void ServeMetrics();

  struct PluggedDisk {
    vmm::Drive drive;
    std::set<std::string> users;  // container ids
  };
  Result<std::string> PlugDisk(const std::string& container_id, const std::string& host_path, bool block_device,
                               bool readonly);  // disks_mu_ held
  void UnplugDisk(const vmm::Drive& drive, std::chrono::steady_clock::time_point asked_at);
  // The disk the VM booted with at `host_path`, if any.
  const vmm::Drive* BootDrive(const std::string& host_path) const;
  struct VolumeUse {
    std::string disk_path;                           // the host disk it is mounted from
    std::map<std::string, std::string> guest_paths;  // by container id
  };
  void ForgetDirectVolumesOf(const std::string& container_id);  // disks_mu_ held
  void ForgetDirectVolumes();
  // Where the guest has `volume_path` mounted, and the drive it is on.
  Result<std::pair<std::string, std::string>> DirectVolumeInGuest(const std::string& volume_path);

  SandboxConfig cfg_;
  Share share_;
  std::mutex disks_mu_;                        // guards plugged_, next_disk_, direct_volumes_
  std::map<std::string, PluggedDisk> plugged_;  // by host path
  std::map<std::string, VolumeUse> direct_volumes_;  // by volume path; disks_mu_
  int next_disk_ = 0;
  bool owns_dirs_ = false;  // made (or adopted) its directories: removes them
  UniqueFd owner_lock_;     // held while the sandbox lives (ownership.h)
  std::unique_ptr<VmMonitor> monitor_;  // console log and agent watch, while the VM runs
  std::unique_ptr<vmm::Hypervisor> hv_;
  std::unique_ptr<AgentClient> agent_;
  NetNs netns_;
  std::unique_ptr<OomEventPoller> oom_poller_;  // ended after the agent connection closes
  std::unique_ptr<SandboxEndpoint> endpoint_;  // kata-monitor's and direct-volume's, while the agent is there
  std::unique_ptr<PortForwarder> port_forwarder_;  // after netns_ and agent_: destroyed first
  size_t nic_count_ = 1;  // PodNicCount of the pod's namespace when the VM starts
  bool network_connected_ = false;
  std::vector<Mirror> mirrors_;  // what ConnectNetwork added to the pod's interfaces
  BootTimes times_;
  std::mutex mu_;
  std::function<void()> on_vm_exit_;
  std::atomic<bool> shutting_down_{false};
  // While a resume from the template is tried: its failure is logged once,
  // with the cause, by BootSteps, and the sandbox boots instead.
  std::atomic<bool> trying_template_{false};
  bool shut_down_ = false;
  std::mutex host_mu_;  // guards pod_resources_, the limits written, online_vcpus_, memory_mib_
  HostCgroup host_cgroup_;
  std::map<std::string, oci::Resources> pod_resources_;
  HostLimits host_limits_;
  int online_vcpus_ = 0;  // as last set (0 = as booted)
  int memory_mib_ = 0;    // the guest's memory as last grown (0 = as booted)
};

}  // namespace kata::sandbox
