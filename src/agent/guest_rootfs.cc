#include "agent/guest_rootfs.h"

#include <fcntl.h>
#include <sys/klog.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/fs.h"
#include "common/log.h"
#include "common/rollback.h"
#include "common/unique_fd.h"

namespace kata::agent {
namespace {

// Overlay's option string separates with ',' and lower layers with ':'.
bool SafeInOptions(const std::string& path) { return path.find_first_of(",:\\") == std::string::npos; }

Status MakeUpper(const std::string& dir, const std::vector<std::string>& lowers) {
  // Opened, not stat()ed: on virtio-fs the shared rootfs is a submount the
  // guest mounts when a path walk opens it (stat does not), and overlayfs
  // refuses a lower layer still waiting for that ("not supported").
  struct stat root{};
  for (size_t i = lowers.size(); i-- > 0;) {
    UniqueFd lower_fd(open(lowers[i].c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!lower_fd.valid() || fstat(lower_fd.get(), &root) != 0) return ErrnoError("rootfs layer " + lowers[i]);
  }
  for (const char* sub : {"/upper", "/work", "/merged"}) {
    if (mkdir((dir + sub).c_str(), 0755) != 0) return ErrnoError("mkdir " + dir + sub);
  }
  std::string upper = dir + "/upper";
  if (chown(upper.c_str(), root.st_uid, root.st_gid) != 0) return ErrnoError("chown " + upper);
  if (chmod(upper.c_str(), root.st_mode & 07777) != 0) return ErrnoError("chmod " + upper);
  return Status::Ok();
}

// What overlayfs told the kernel log about its last refusal (it explains
// itself there, not in errno).
std::string OverlayComplaint() {
  std::string buf(64 * 1024, '\0');
  int n = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf.data(), static_cast<int>(buf.size()));
  if (n <= 0) return "";
  buf.resize(n);
  size_t at = buf.rfind("overlayfs: ");
  if (at == std::string::npos) return "";
  return " (" + buf.substr(at, buf.find('\n', at) - at) + ")";
}

}  // namespace

Result<std::string> MountGuestUpper(const std::string& container_id, const std::vector<std::string>& lowers,
                                    const std::string& base_dir) {
  std::string dir = base_dir + "/" + container_id;
  if (lowers.empty()) return Error(Code::kInvalidArgument, "rootfs of " + container_id + ": no lower layer");
  std::string lowerdir;
  for (const std::string& lower : lowers) {
    if (!SafeInOptions(lower)) {
      return Error(Code::kInvalidArgument, "rootfs " + lower + ": a path with ',', ':' or '\\' cannot be an overlay layer");
    }
    lowerdir += (lowerdir.empty() ? "" : ":") + lower;
  }
  if (!SafeInOptions(dir)) {
    return Error(Code::kInvalidArgument, "rootfs " + dir + ": a path with ',', ':' or '\\' cannot be an overlay layer");
  }
  RETURN_IF_ERROR(fs::MkdirAll(dir, 0700));
  Rollback remove_dir([&] { rmdir(dir.c_str()); });
  if (mount("tmpfs", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700") != 0) {
    return ErrnoError("mount the guest's rootfs layer for " + container_id);
  }
  Rollback unmount_tmpfs([&] { umount2(dir.c_str(), MNT_DETACH); });
  RETURN_IF_ERROR(MakeUpper(dir, lowers));
  std::string merged = dir + "/merged";
  std::string opts = "lowerdir=" + lowerdir + ",upperdir=" + dir + "/upper,workdir=" + dir + "/work";
  if (mount("overlay", merged.c_str(), "overlay", 0, opts.c_str()) != 0) {
    int err = errno;
    std::string why = OverlayComplaint();
    errno = err;
    return ErrnoError("mount overlay over rootfs " + lowerdir + " for " + container_id + why);
  }
  unmount_tmpfs.Dismiss();
  remove_dir.Dismiss();
  return merged;
}

void UnmountGuestUpper(const std::string& container_id, const std::string& base_dir) {
  std::string dir = base_dir + "/" + container_id;
  if (!fs::Exists(dir)) return;
  std::string merged = dir + "/merged";
  if (umount2(merged.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
    log::Warn("unmount " + merged + ": " + strerror(errno));
  }
  if (umount2(dir.c_str(), MNT_DETACH) != 0 && errno != EINVAL) log::Warn("unmount " + dir + ": " + strerror(errno));
  if (rmdir(dir.c_str()) != 0) log::Warn("remove " + dir + ": " + strerror(errno));
}

}  // namespace kata::agent
