// Direct-assigned volumes of a running sandbox: which of its containers
// mount which (`kata-runtime direct-volume add` registered them), their
// usage from the agent, and growing one: the VMM grows the disk, then the
// agent the file system on it.
#include "common/log.h"
#include "sandbox/direct_volume.h"
#include "sandbox/sandbox_endpoint.h"
#include "sandbox/sandbox.h"

namespace kata::sandbox {

Status Sandbox::UseDirectVolume(const std::string& volume_path, const std::string& container_id,
                                const std::string& disk_path, const std::string& guest_path) {
  std::lock_guard<std::mutex> lock(disks_mu_);
  VolumeUse& use = direct_volumes_[volume_path];
  bool first = use.guest_paths.empty();
  use.disk_path = disk_path;
  use.guest_paths[container_id] = guest_path;
  if (!first) return Status::Ok();
  Status st = RecordVolumeUser(volume_path, cfg_.id, EndpointSocket(cfg_.vm.run_dir));
  if (!st.ok()) direct_volumes_.erase(volume_path);
  return st;
}

void Sandbox::ForgetDirectVolumesOf(const std::string& container_id) {
  for (auto it = direct_volumes_.begin(); it != direct_volumes_.end();) {
    it->second.guest_paths.erase(container_id);
    if (!it->second.guest_paths.empty()) {
      ++it;
      continue;
    }
    ForgetVolumeUser(it->first, cfg_.id);
    it = direct_volumes_.erase(it);
  }
}

void Sandbox::ForgetDirectVolumes() {
  std::lock_guard<std::mutex> lock(disks_mu_);
  for (const auto& [volume_path, use] : direct_volumes_) ForgetVolumeUser(volume_path, cfg_.id);
  direct_volumes_.clear();
}

Result<std::pair<std::string, std::string>> Sandbox::DirectVolumeInGuest(const std::string& volume_path) {
  std::lock_guard<std::mutex> lock(disks_mu_);
  auto it = direct_volumes_.find(volume_path);
  if (it == direct_volumes_.end() || it->second.guest_paths.empty()) {
    return Error(Code::kNotFound, "no container of sandbox " + cfg_.id + " mounts direct volume " + volume_path);
  }
  const std::string& disk = it->second.disk_path;
  std::string drive_id;
  if (const vmm::Drive* boot = BootDrive(disk)) drive_id = boot->id;
  if (auto p = plugged_.find(disk); p != plugged_.end()) drive_id = p->second.drive.id;
  return std::make_pair(it->second.guest_paths.begin()->second, drive_id);
}

Result<grpc::VolumeStatsResponse> Sandbox::DirectVolumeStats(const std::string& volume_path) {
  ASSIGN_OR_RETURN(auto where, DirectVolumeInGuest(volume_path));
  return agent_->GetVolumeStats(where.first);
}

Status Sandbox::ResizeDirectVolume(const std::string& volume_path, uint64_t bytes) {
  ASSIGN_OR_RETURN(auto where, DirectVolumeInGuest(volume_path));
  auto [guest_path, drive_id] = where;
  if (drive_id.empty()) return Error(Code::kInternal, "direct volume " + volume_path + " has no disk in sandbox " + cfg_.id);
  if (!hv_ || !hv_->Running()) return Error(Code::kFailedPrecondition, "sandbox " + cfg_.id + " has no running VM");
  // virtio-blk counts 512-byte sectors: a size between two is rounded up.
  uint64_t disk_bytes = (bytes + 511) / 512 * 512;
  RETURN_IF_ERROR(hv_->ResizeDrive(drive_id, disk_bytes));
  RETURN_IF_ERROR(agent_->ResizeVolume(guest_path, bytes));
  log::Info("sandbox " + cfg_.id + ": direct volume " + volume_path + " grown to " + std::to_string(bytes) + " bytes");
  return Status::Ok();
}

}  // namespace kata::sandbox
