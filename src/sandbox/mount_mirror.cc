#include "sandbox/mount_mirror.h"

#include <set>

#include "common/log.h"

namespace kata::sandbox {

MountMirror::MountMirror(AgentClient& agent, const Share& share, pid_t vmm_pid, std::string container_id,
                         std::vector<SharedVolume> volumes)
    : agent_(agent), share_(share), vmm_pid_(vmm_pid), id_(std::move(container_id)), volumes_(std::move(volumes)) {}

void MountMirror::Sync() {
  auto listed = agent_.ListSharedMounts(id_);
  if (!listed.ok()) return;  // the VM is going: Clear follows
  std::lock_guard<std::mutex> lock(mu_);
  std::set<std::string> seen;
  for (const grpc::SharedMount& m : listed->mounts()) {
    std::string key = m.volume() + '\0' + m.path() + '\0' + m.share_path();
    seen.insert(key);
    if (mirrored_.count(key)) continue;
    if (mirrored_.size() >= kMaxMirrorsPerContainer) {
      log::Warn("container " + id_ + ": more than " + std::to_string(kMaxMirrorsPerContainer) +
                " mounts below its rshared volumes; " + m.path() + " is not mirrored on the host");
      continue;
    }
    const SharedVolume* volume = nullptr;
    for (const SharedVolume& v : volumes_) volume = v.destination == m.volume() ? &v : volume;
    if (volume == nullptr) continue;  // not a volume the host shared as rshared
    auto mirror = share_.MirrorOnHost(vmm_pid_, m.share_path(), volume->host_source, m.path());
    if (!mirror.ok()) {
      log::Warn("container " + id_ + ": mount below " + m.volume() + " not mirrored on the host: " +
                mirror.status().message());
      continue;
    }
    mirrored_.emplace(key, std::move(*mirror));
  }
  for (auto it = mirrored_.begin(); it != mirrored_.end();) {
    if (seen.count(it->first)) {
      ++it;
      continue;
    }
    if (Status st = Share::Unmirror(it->second); !st.ok()) log::Warn("container " + id_ + ": " + st.message());
    it = mirrored_.erase(it);
  }
}

void MountMirror::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [key, m] : mirrored_) {
    if (Status st = Share::Unmirror(m); !st.ok()) log::Warn("container " + id_ + ": " + st.message());
  }
  mirrored_.clear();
}

}  // namespace kata::sandbox
