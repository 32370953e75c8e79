#include "shim/rootfs_mount.h"

#include <sys/mount.h>

#include <cerrno>
#include <map>

#include "common/fs.h"
#include "common/log.h"
#include "sandbox/block_devices.h"

namespace kata::shim {
namespace {

// mount(8)-style flag words; everything else is passed as filesystem data.
const std::map<std::string, std::pair<unsigned long, bool>>& FlagWords() {
  static const std::map<std::string, std::pair<unsigned long, bool>> m = {
      {"ro", {MS_RDONLY, true}},     {"rw", {MS_RDONLY, false}},   {"nosuid", {MS_NOSUID, true}},
      {"nodev", {MS_NODEV, true}},   {"noexec", {MS_NOEXEC, true}}, {"bind", {MS_BIND, true}},
      {"rbind", {MS_BIND | MS_REC, true}}, {"noatime", {MS_NOATIME, true}}, {"relatime", {MS_RELATIME, true}},
  };
  return m;
}

}  // namespace

Status MountRootfs(const MountList& mounts, const std::string& bundle) {
  if (mounts.empty()) return Status::Ok();
  std::string target = fs::JoinPath(bundle, "rootfs");
  RETURN_IF_ERROR(fs::MkdirAll(target, 0711));
  for (const auto& m : mounts) {
    unsigned long flags = 0;
    std::string data;
    for (const auto& o : m.options()) {
      auto it = FlagWords().find(o);
      if (it != FlagWords().end()) {
        flags = it->second.second ? (flags | it->second.first) : (flags & ~it->second.first);
      } else {
        data += (data.empty() ? "" : ",") + o;
      }
    }
    if (mount(m.source().c_str(), target.c_str(), m.type().c_str(), flags, data.c_str()) != 0) {
      Status st = ErrnoError("mount rootfs " + m.type() + " " + m.source() + " on " + target);
      UnmountRootfs(mounts, bundle);
      return st;
    }
  }
  return Status::Ok();
}

std::optional<sandbox::BlockRootfs> BlockRootfsOf(const MountList& mounts) {
  if (mounts.size() != 1) return std::nullopt;
  const auto& m = mounts[0];
  if (!sandbox::IsGuestBlockMount(m.type(), m.source())) return std::nullopt;
  sandbox::BlockRootfs b{m.source(), m.type(), {m.options().begin(), m.options().end()}, false};
  for (const std::string& o : b.options) {
    if (o == "ro") b.readonly = true;
    if (o == "rw") b.readonly = false;
  }
  return b;
}

void UnmountRootfs(const MountList& mounts, const std::string& bundle) {
  if (!mounts.empty()) UnmountRootfsOf(bundle);
}

void UnmountRootfsOf(const std::string& bundle) {
  std::string target = fs::JoinPath(bundle, "rootfs");
  while (fs::IsMountPoint(target) && umount2(target.c_str(), MNT_DETACH) == 0) {
  }
}

}  // namespace kata::shim
