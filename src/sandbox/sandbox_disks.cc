// Disks of containers that join a running VM: plugged in when a container
// names one the VM did not boot with, shared by the pod's containers that
// name the same host path, unplugged when the last of them is removed.
#include <algorithm>

#include "common/log.h"
#include "sandbox/sandbox.h"

namespace kata::sandbox {
namespace {

// How long the VMM waits for the guest to let go of a disk it was asked to
// release (it powers the slot off at once; Linux alone would take 5 s).
constexpr auto kUnplugTimeout = std::chrono::seconds(10);

std::string MsSince(std::chrono::steady_clock::time_point t0) {
  return std::to_string(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count());
}

}  // namespace

const vmm::Drive* Sandbox::BootDrive(const std::string& host_path) const {
  const std::vector<vmm::Drive>& boot = cfg_.vm.drives;
  auto it = std::find_if(boot.begin(), boot.end(), [&](const vmm::Drive& d) { return d.path == host_path; });
  return it == boot.end() ? nullptr : &*it;
}

Result<std::string> Sandbox::DiskFor(const std::string& container_id, const std::string& host_path, bool block_device,
                                     bool readonly) {
  if (const vmm::Drive* boot = BootDrive(host_path)) return boot->serial;
  std::lock_guard<std::mutex> lock(disks_mu_);
  if (auto p = plugged_.find(host_path); p != plugged_.end()) {
    if (p->second.drive.readonly && !readonly) {
      return Error(Code::kFailedPrecondition, "disk " + host_path + " is plugged into sandbox " + cfg_.id +
                                                  " read-only for another container; this one wants it writable");
    }
    p->second.users.insert(container_id);
    return p->second.drive.serial;
  }
  return PlugDisk(container_id, host_path, block_device, readonly);
}

Result<std::string> Sandbox::PlugDisk(const std::string& container_id, const std::string& host_path, bool block_device,
                                      bool readonly) {
  if (!hv_ || !hv_->Running()) return Error(Code::kFailedPrecondition, "sandbox " + cfg_.id + " has no running VM");
  int n = next_disk_++;
  vmm::Drive d{"hp" + std::to_string(n), host_path, "kata-hp-" + std::to_string(n), block_device, readonly};
  auto t0 = std::chrono::steady_clock::now();
  RETURN_IF_ERROR(hv_->HotplugDrive(d));
  log::Info("sandbox " + cfg_.id + ": disk " + host_path + " plugged in as " + d.serial + " for " + container_id + " in " +
            MsSince(t0) + " ms");
  plugged_[host_path] = PluggedDisk{d, {container_id}};
  return d.serial;
}

void Sandbox::UnplugDisksOf(const std::string& container_id) {
  std::vector<vmm::Drive> last;
  {
    std::lock_guard<std::mutex> lock(disks_mu_);
    ForgetDirectVolumesOf(container_id);
    for (auto it = plugged_.begin(); it != plugged_.end();) {
      it->second.users.erase(container_id);
      if (!it->second.users.empty()) {
        ++it;
        continue;
      }
      last.push_back(it->second.drive);
      it = plugged_.erase(it);
    }
  }
  if (last.empty() || !hv_ || !hv_->Running()) return;  // none, or gone with the VM
  // The guest takes about a second per disk to let go: ask for all first.
  auto t0 = std::chrono::steady_clock::now();
  for (const vmm::Drive& d : last) {
    if (Status st = agent_->ReleaseDisk(d.serial); !st.ok()) {
      log::Warn("sandbox " + cfg_.id + ": the guest did not release disk " + d.serial + ": " + st.message());
    }
  }
  for (const vmm::Drive& d : last) UnplugDisk(d, t0);
}

void Sandbox::UnplugDisk(const vmm::Drive& d, std::chrono::steady_clock::time_point t0) {
  if (Status st = hv_->UnplugDrive(d.id, kUnplugTimeout); !st.ok()) {
    log::Warn(st.message());
    return;
  }
  log::Info("sandbox " + cfg_.id + ": disk " + d.path + " (" + d.serial + ") unplugged in " + MsSince(t0) + " ms");
}

}  // namespace kata::sandbox
