// Sandbox::Boot's first choice when a VM cache is configured: take a booted,
// warm VM from it (sandbox/vm_cache.h) and make it this sandbox's.
#include <fcntl.h>
#include <stdio.h>

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <vector>

#include "common/fs.h"
#include "common/log.h"
#include "net/netlink.h"
#include "sandbox/host_cgroup.h"
#include "sandbox/network.h"
#include "sandbox/ownership.h"
#include "sandbox/paths.h"
#include "sandbox/sandbox.h"
#include "sandbox/template_fingerprint.h"
#include "sandbox/vm_cache.h"

namespace kata::sandbox {
namespace {

// Never over a directory that exists: it would be another sandbox's.
Status Rename(const std::string& from, const std::string& to) {
  if (renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) != 0) {
    return ErrnoError("rename " + from + " to " + to);
  }
  return Status::Ok();
}

}  // namespace

Result<bool> Sandbox::TakeFromVmCache() {
  if (cfg_.vm_cache_endpoint.empty() || !cfg_.vm.drives.empty()) return false;  // a cached VM has no disks
  if (nic_count_ > 1) {
    log::Info("sandbox " + cfg_.id + " starts its own VM: its pod has " + std::to_string(nic_count_) +
              " interfaces, cached VMs have one NIC");
    return false;
  }
  log::StepTimer timer("sandbox " + cfg_.id + " from the VM cache");
  auto vm = TakeCachedVm(cfg_.vm_cache_endpoint, TemplateFingerprint(cfg_.vm));
  timer.Mark("VM taken");
  if (!vm.ok()) {
    log::Info("sandbox " + cfg_.id + " starts its own VM: " + vm.status().message());
    return false;
  }
  auto t0 = std::chrono::steady_clock::now();
  Status st = AdoptVm(*vm);
  if (st.ok()) {
    times_.agent_ready_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    log::Info("sandbox " + cfg_.id + " runs in " + vm->id + " from the VM cache");
    return true;
  }
  log::Warn("sandbox " + cfg_.id + ": adopting " + vm->id + " from the VM cache failed, starting its own VM: " + st.message());
  DiscardVm();
  netns_ = NetNs();
  // Whichever names the VM's directories have now: none may stay.
  DiscardCachedVm(*vm);
  if (owns_dirs_) {
    owns_dirs_ = false;
    owner_lock_.reset();
    RETURN_IF_ERROR(share_.Destroy());
    RETURN_IF_ERROR(fs::RemoveAll(cfg_.vm.run_dir));
  }
  return false;
}

// The VM's directories become the sandbox's, so that everything that finds a
// sandbox's VM by its id (the shim's delete, kata-runtime's clean-up) finds
// this one. QEMU keeps working across the rename: it holds the 9p export,
// console log and its listening sockets by fd or inode, not by path, and
// the share's mounts in its namespace follow the renamed directories.
Status Sandbox::AdoptVm(const CachedVm& vm) {
  if (!CachedVmAlive(vm)) return Error(Code::kNotFound, "its QEMU (pid " + std::to_string(vm.pid) + ") is gone");
  log::StepTimer timer("sandbox " + cfg_.id + " adopting " + vm.id);
  RETURN_IF_ERROR(Rename(VmRunDir(vm.id), cfg_.vm.run_dir));
  if (Status st = Rename(SharedSandboxDir(vm.id), SharedSandboxDir(cfg_.id)); !st.ok()) {
    (void)Rename(cfg_.vm.run_dir, VmRunDir(vm.id));  // DiscardCachedVm finds it under its name
    return st;
  }
  owns_dirs_ = true;
  ASSIGN_OR_RETURN(owner_lock_, ClaimVmDir(cfg_.vm.run_dir, cfg_.owner));
  RETURN_IF_ERROR(JoinHostCgroup());
  timer.Mark("renamed");
  ASSIGN_OR_RETURN(hv_, vmm::NewHypervisor(cfg_.hypervisor));
  WatchVmExit();
  RETURN_IF_ERROR(hv_->Adopt(cfg_.vm, vm.pid));
  // The cached VM's QEMU sits in the cache server's cgroups: it joins this
  // process's (the sandbox's host cgroup), where a VM the sandbox booted
  // would be, so that its resources count with the sandbox's and a service
  // manager stopping the cache server (its cgroup) does not stop the VM too.
  MoveToCgroupsOf("self", vm.pid, "the QEMU of " + vm.id);
  timer.Mark("QEMU adopted, in our cgroups");
  RETURN_IF_ERROR(AdoptNetwork(vm.pid));
  timer.Mark("network");
  ASSIGN_OR_RETURN(agent_, AgentClient::Dial(hv_->AgentSocketPath(), cfg_.agent_timeout, [this] { return hv_->Running(); }));
  timer.Mark("agent dialled");
  RETURN_IF_ERROR(agent_->WaitReady(cfg_.agent_timeout, [this] { return hv_->Running(); }));
  timer.Mark("agent answered");
  return Status::Ok();
}

// The cached VM's QEMU runs in a namespace of its own with its tap. A pod
// namespace with a path (podman, CRI) gets the tap moved in, next to the
// pod's veth; the QEMU process itself stays where it is. Otherwise the VM's
// namespace serves as the new namespace a sandbox would have made (docker's
// hook finds it through the VMM's pid, as with a booted VM).
Status Sandbox::AdoptNetwork(pid_t vmm_pid) {
  cfg_.vm.nics = {SandboxNic()};
  ASSIGN_OR_RETURN(NetNs vm_ns, NetNs::Open("/proc/" + std::to_string(vmm_pid) + "/ns/net"));
  if (!cfg_.network || cfg_.netns_path.empty()) {
    netns_ = std::move(vm_ns);
    return Status::Ok();
  }
  ASSIGN_OR_RETURN(NetNs pod_ns, NetNs::Open(cfg_.netns_path));
  RETURN_IF_ERROR(vm_ns.Run([&]() -> Status {
    ASSIGN_OR_RETURN(net::Socket sk, net::Connect());
    return MoveLinkToNetns(sk.get(), kTapName, pod_ns.fd());
  }));
  netns_ = std::move(pod_ns);
  return Status::Ok();
}

}  // namespace kata::sandbox
