#include "vmm/share_namespace.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>

#include <thread>

namespace kata::vmm {
namespace {

Status Mount(const char* what, const std::string& source, const std::string& target, unsigned long flags) {
  if (mount(source.empty() ? nullptr : source.c_str(), target.c_str(), nullptr, flags, nullptr) != 0) {
    return ErrnoError(std::string("share namespace: ") + what + " (" + target + ")");
  }
  return Status::Ok();
}

// Runs on its own thread: unshare() gives that thread (its fs_struct
// unshared with it) a new mount namespace, whatever the other threads do.
Result<UniqueFd> MakeOnThisThread(const std::string& source, const std::string& exported) {
  if (unshare(CLONE_FS | CLONE_NEWNS) != 0) return ErrnoError("share namespace: new mount namespace");
  RETURN_IF_ERROR(Mount("make / a slave", "", "/", MS_REC | MS_SLAVE));
  RETURN_IF_ERROR(Mount("bind the share's source onto itself", source, source, MS_BIND));
  RETURN_IF_ERROR(Mount("make the share's source shared", "", source, MS_SHARED));
  RETURN_IF_ERROR(Mount("bind the share's source to the export", source, exported, MS_BIND));
  RETURN_IF_ERROR(Mount("make the export read-only", "", exported, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV));
  RETURN_IF_ERROR(Mount("make the export a slave", "", exported, MS_SLAVE));
  UniqueFd ns(open("/proc/thread-self/ns/mnt", O_RDONLY | O_CLOEXEC));
  if (!ns.valid()) return ErrnoError("share namespace: open /proc/thread-self/ns/mnt");
  return ns;
}

}  // namespace

Result<UniqueFd> MakeShareNamespace(const std::string& source, const std::string& exported) {
  Result<UniqueFd> out = Error(Code::kInternal, "share namespace: not made");
  std::thread([&] { out = MakeOnThisThread(source, exported); }).join();
  return out;
}

}  // namespace kata::vmm
