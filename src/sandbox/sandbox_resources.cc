// The sandbox's resources on the host and in the VM: its host cgroup
// (sandbox/host_cgroup.h), the guest's online vCPUs and memory, all
// following the pod's containers; and kata-monitor's endpoint with the figures it reads
// from the run dir.
#include <unistd.h>

#include <optional>

#include "common/fs.h"
#include "common/log.h"
#include "common/process_identity.h"
#include "sandbox/paths.h"
#include "sandbox/sandbox.h"

namespace kata::sandbox {

void Sandbox::ServeMetrics() {
  Status st = fs::WriteFileAtomic(BootTimeRecord(cfg_.vm.run_dir), std::to_string(times_.agent_ready_ms / 1000.0) + "\n", 0600);
  if (auto self = proc::IdentityOf(getpid()); st.ok() && self.ok()) {
    st = fs::WriteFileAtomic(ServiceRecord(cfg_.vm.run_dir), proc::ToText(*self), 0600);
  }
  auto ep = st.ok() ? SandboxEndpoint::Start(EndpointSocket(cfg_.vm.run_dir), *agent_, this) : Result<std::unique_ptr<SandboxEndpoint>>(st);
  if (!ep.ok()) {
    log::Warn("sandbox " + cfg_.id + " has no metrics for kata-monitor: " + ep.status().message());
    return;
  }
  endpoint_ = std::move(*ep);
}

// Once the run dir exists (the record goes there at once, for a `delete`
// after a crash) and before any VMM is started or adopted. Again after a
// failed adoption: only the record is written anew.
Status Sandbox::JoinHostCgroup() {
  if (cfg_.cgroups_path.empty()) return Status::Ok();
  std::lock_guard<std::mutex> lock(host_mu_);
  if (host_cgroup_.empty()) {
    auto cg = HostCgroup::Create(cfg_.cgroups_path);
    if (!cg.ok() && cg.status().code() == Code::kUnavailable) {
      log::Warn("sandbox " + cfg_.id + " runs without a host cgroup: " + cg.status().message());
      return Status::Ok();
    }
    RETURN_IF_ERROR(cg.status());
    host_cgroup_ = std::move(*cg);
    RETURN_IF_ERROR(host_cgroup_.Record(HostCgroupRecord(cfg_.vm.run_dir)));
    pod_resources_[cfg_.id] = cfg_.resources;
    RETURN_IF_ERROR(ApplyHostLimits());
    // Everything this process starts from now on (the VMM and its threads)
    // is born inside; an adopted VM is moved in (sandbox_from_cache.cc).
    return host_cgroup_.Join(getpid());
  }
  return host_cgroup_.Record(HostCgroupRecord(cfg_.vm.run_dir));
}

Status Sandbox::ApplyHostLimits() {
  if (host_cgroup_.empty()) return Status::Ok();
  HostLimits limits = SandboxLimits(pod_resources_);
  if (limits == host_limits_) return Status::Ok();
  RETURN_IF_ERROR(host_cgroup_.Apply(limits, host_limits_));
  host_limits_ = limits;
  return Status::Ok();
}

Status Sandbox::FitVcpus() {
  if (!agent_) return Status::Ok();
  int want = VcpusFor(pod_resources_, cfg_.vm.vcpus, cfg_.vm.max_vcpus);
  if (want == (online_vcpus_ == 0 ? cfg_.vm.vcpus : online_vcpus_)) return Status::Ok();
  log::StepTimer timer("sandbox " + cfg_.id + ": " + std::to_string(want) + " vCPUs online");
  ASSIGN_OR_RETURN(uint32_t online, agent_->SetOnlineCpus(static_cast<uint32_t>(want)));
  online_vcpus_ = want;
  // The guest's word, only logged: the host cgroup bounds what it may use anyway.
  if (online != static_cast<uint32_t>(want)) {
    log::Warn("sandbox " + cfg_.id + ": asked for " + std::to_string(want) + " vCPUs online, the guest reports " +
              std::to_string(online));
  }
  return Status::Ok();
}

// The guest's memory only grows: what a container that leaves used is
// freed in the guest and handed back to the host by free page reporting,
// and the host cgroup's limit (lowered already) bounds what the VM holds.
// The next container to join finds the room there.
Status Sandbox::FitMemory() {
  if (!agent_ || !vm_running()) return Status::Ok();
  int want = MemoryFor(pod_resources_, cfg_.guest_memory_mib, cfg_.vm.memory_mib, cfg_.vm.max_memory_mib);
  int now = memory_mib_ == 0 ? cfg_.vm.memory_mib : memory_mib_;
  if (want <= now) return Status::Ok();
  vmm::MemoryGrowth g = hv_->GrowMemory(now, want);
  if (g.block_addresses.empty()) return Status::Ok();
  log::StepTimer timer("sandbox " + cfg_.id + ": guest memory " + std::to_string(now) + " -> " +
                       std::to_string(g.mib_after) + " MiB");
  RETURN_IF_ERROR(agent_->MemHotplugByProbe(g.block_addresses).Wrap("grow the guest's memory to " +
                                                                  std::to_string(g.mib_after) + " MiB"));
  memory_mib_ = g.mib_after;
  return Status::Ok();
}

Status Sandbox::SetContainerResources(const std::string& container_id, const oci::Resources& r) {
  std::lock_guard<std::mutex> lock(host_mu_);
  auto it = pod_resources_.find(container_id);
  std::optional<oci::Resources> before;
  if (it != pod_resources_.end()) before = it->second;
  pod_resources_[container_id] = r;
  Status st = ApplyHostLimits();
  if (st.ok()) st = FitVcpus();
  if (st.ok()) st = FitMemory();
  if (!st.ok()) {
    if (before) pod_resources_[container_id] = *before;
    else pod_resources_.erase(container_id);
    (void)ApplyHostLimits();
    return st.Wrap("the sandbox's resources");
  }
  return Status::Ok();
}

void Sandbox::ForgetContainerResources(const std::string& container_id) {
  std::lock_guard<std::mutex> lock(host_mu_);
  // The sandbox container's share stays while the sandbox does.
  if (container_id == cfg_.id || !pod_resources_.erase(container_id)) return;
  Status st = ApplyHostLimits();
  if (st.ok() && vm_running()) st = FitVcpus();
  if (!st.ok()) log::Warn("sandbox " + cfg_.id + ": " + st.message());
}

Status Sandbox::LeaveHostCgroup() {
  std::lock_guard<std::mutex> lock(host_mu_);
  if (host_cgroup_.empty()) return Status::Ok();
  host_cgroup_.Leave();
  Status st = host_cgroup_.Remove();
  host_cgroup_ = HostCgroup();
  return st;
}

}  // namespace kata::sandbox
