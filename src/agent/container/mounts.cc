#include "agent/container/mounts.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>

#include "common/unique_fd.h"

namespace kata::agent::child {
namespace {

// Creates the mount point: a directory, or an empty file when binding a file.
Step CreateMountPoint(int rootfd, const MountStep& m, bool is_file) {
  if (!is_file) {
    UniqueFd dir(MkdirAllInRoot(rootfd, m.dest_rel.c_str(), 0755));
    if (!dir.valid()) return Fail(errno, "create mount point ", m.dest.c_str());
    return Ok();
  }
  // Parent directory, then the file itself (an existing entry is fine).
  const char* rel = m.dest_rel.c_str();
  size_t len = StrLen(rel);
  size_t slash = len;
  while (slash > 0 && rel[slash - 1] != '/') --slash;
  char parent[4096];
  if (slash >= sizeof parent) return Fail(ENAMETOOLONG, "create mount point ", m.dest.c_str());
  for (size_t i = 0; i < slash; ++i) parent[i] = rel[i];
  parent[slash] = '\0';
  UniqueFd dir(MkdirAllInRoot(rootfd, parent, 0755));
  if (!dir.valid()) return Fail(errno, "create mount point ", m.dest.c_str());
  if (mknodat(dir.get(), rel + slash, S_IFREG | 0644, 0) != 0 && errno != EEXIST) {
    return Fail(errno, "create mount point ", m.dest.c_str());
  }
  return Ok();
}

// The mount itself; *sysfs_bound when sysfs had to be the guest's, bound.
Step MountOnPoint(int rootfd, const MountStep& m, const char* source, bool* sysfs_bound) {
  UniqueFd target(OpenInRoot(rootfd, m.dest_rel.c_str(), O_PATH));
  if (!target.valid()) return Fail(errno, "open mount point ", m.dest.c_str());
  char path[32];
  FdPath(target.get(), path);
  const char* data = m.data.empty() ? nullptr : m.data.c_str();
  int rc = m.bind ? mount(source, path, nullptr, m.flags & (MS_BIND | MS_REC), nullptr)
                  : mount(source, path, m.fstype.c_str(), m.flags, data);
  int err = errno;
  if (rc != 0 && err == EPERM && m.fstype == "sysfs") {
    // A user namespace that does not own the network namespace may not
    // mount sysfs: bind the guest's instead, as runc does.
    rc = mount("/sys", path, nullptr, MS_BIND | MS_REC, nullptr);
    err = errno;
    *sysfs_bound = true;
  }
  if (rc != 0) return Fail(err, "mount ", m.what.c_str());
  return Ok();
}

// Re-opened: the first fd is the directory under the new mount, not its root.
Step RemountAndPropagate(int rootfd, const MountStep& m, bool sysfs_bound) {
  UniqueFd target(OpenInRoot(rootfd, m.dest_rel.c_str(), O_PATH));
  if (!target.valid()) return Fail(errno, "open mount point ", m.dest.c_str());
  char path[32];
  FdPath(target.get(), path);
  if (m.remount || sysfs_bound) {
    unsigned long flags = (m.flags & ~(MS_BIND | MS_REC)) | MS_BIND | MS_REMOUNT | LockedFlags(target.get());
    if (mount(nullptr, path, nullptr, flags, nullptr) != 0) return Fail(errno, "remount ", m.what.c_str());
  }
  for (unsigned long p : m.propagation) {
    if (mount(nullptr, path, nullptr, p, nullptr) != 0) return Fail(errno, "set propagation of ", m.dest.c_str());
  }
  return Ok();
}

}  // namespace

unsigned long LockedFlags(int fd) {
  struct statfs sf;
  if (fstatfs(fd, &sf) != 0) return 0;
  unsigned long out = 0;
  if (sf.f_flags & ST_NOSUID) out |= MS_NOSUID;
  if (sf.f_flags & ST_NODEV) out |= MS_NODEV;
  if (sf.f_flags & ST_NOEXEC) out |= MS_NOEXEC;
  return out;
}

void PrecreateMountPoints(const LaunchPlan& plan, int rootfd) {
  for (const MountStep& m : plan.mounts) {
    struct stat st;
    bool is_file = m.bind && stat(m.source.c_str(), &st) == 0 && !S_ISDIR(st.st_mode);
    (void)CreateMountPoint(rootfd, m, is_file);
  }
}

Step DoMount(int rootfd, const MountStep& m) {
  bool is_file = false;
  char source_path[32];
  const char* source = m.source.c_str();
  if (m.source_fd >= 0) {
    FdPath(m.source_fd, source_path);
    source = source_path;
  }
  if (m.bind) {
    struct stat st;
    if (stat(source, &st) != 0) return Fail(errno, "mount ", m.what.c_str());
    is_file = !S_ISDIR(st.st_mode);
  }
  CHILD_TRY(CreateMountPoint(rootfd, m, is_file));
  bool sysfs_bound = false;
  CHILD_TRY(MountOnPoint(rootfd, m, source, &sysfs_bound));
  if (!m.remount && !sysfs_bound && m.propagation.empty()) return Ok();
  return RemountAndPropagate(rootfd, m, sysfs_bound);
}

}  // namespace kata::agent::child
