#include "agent/shared_mounts.h"

#include "common/mountinfo.h"

namespace kata::agent {
namespace {

std::string Relative(const std::string& path) {
  size_t i = 0;
  while (i < path.size() && path[i] == '/') i++;
  return path.substr(i);
}

std::string Join(const std::string& a, const std::string& b) { return a.empty() || b.empty() ? a + b : a + "/" + b; }

}  // namespace

ShareDevices ShareDevicesIn(const std::string& agent_mountinfo, const std::string& shared_mount) {
  ShareDevices out;
  std::string prefix = shared_mount + "/";
  for (const MountInfo& m : ParseMountInfo(agent_mountinfo)) {
    if (m.fstype != "9p" && m.fstype != "virtiofs") continue;
    if (m.mount_point != shared_mount && m.mount_point.compare(0, prefix.size(), prefix) != 0) continue;
    std::string at = m.mount_point == shared_mount ? "" : m.mount_point.substr(prefix.size());
    out[m.dev] = Join(at, Relative(m.root));
  }
  return out;
}

std::vector<SharedMount> SharedMountsIn(const std::string& mountinfo, const std::vector<std::string>& volumes,
                                        const ShareDevices& share) {
  std::vector<SharedMount> out;
  for (const MountInfo& m : ParseMountInfo(mountinfo)) {
    if (out.size() >= kMaxSharedMounts) break;
    auto in_share = share.find(m.dev);
    if (in_share == share.end()) continue;
    for (const std::string& v : volumes) {
      std::string prefix = v == "/" ? "/" : v + "/";
      if (m.mount_point.size() <= prefix.size() || m.mount_point.compare(0, prefix.size(), prefix) != 0) continue;
      out.push_back({v, m.mount_point.substr(prefix.size()), Join(in_share->second, Relative(m.root))});
      break;
    }
  }
  return out;
}

}  // namespace kata::agent
