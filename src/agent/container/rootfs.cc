#include "agent/container/rootfs.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "agent/container/devices.h"
#include "agent/container/mounts.h"
#include "common/unique_fd.h"

namespace kata::agent::child {
namespace {

// runc's --no-pivot: the rootfs mount moved over "/" and chroot into it.
Step MoveRoot(int rootfd) {
  if (fchdir(rootfd) != 0) return Fail(errno, "chdir to rootfs");
  if (mount(".", "/", nullptr, MS_MOVE, nullptr) != 0) return Fail(errno, "move rootfs to /");
  if (chroot(".") != 0) return Fail(errno, "chroot to rootfs");
  if (chdir("/") != 0) return Fail(errno, "chdir /");
  return Ok();
}

Step MaskPath(const std::string& p) {
  struct stat st;
  if (stat(p.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return Ok();
    return Fail(errno, "mask ", p.c_str());
  }
  int rc = S_ISDIR(st.st_mode) ? mount("tmpfs", p.c_str(), "tmpfs", MS_RDONLY, nullptr)
                               : mount("/dev/null", p.c_str(), nullptr, MS_BIND, nullptr);
  if (rc != 0) return Fail(errno, "mask ", p.c_str());
  return Ok();
}

Step RemountReadonly(const char* path, const char* what) {
  UniqueFd fd(open(path, O_PATH | O_CLOEXEC));
  if (!fd.valid()) return Fail(errno, what, path);
  unsigned long locked = LockedFlags(fd.get());
  fd.reset();  // not held across the remount
  if (mount(nullptr, path, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | locked, nullptr) != 0) {
    return Fail(errno, what, path);
  }
  return Ok();
}

Step ReadonlyPath(const std::string& p) {
  if (mount(p.c_str(), p.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
    if (errno == ENOENT) return Ok();
    return Fail(errno, "make read-only ", p.c_str());
  }
  return RemountReadonly(p.c_str(), "make read-only ");
}

// runc creates a missing cwd (as root, before the root turns read-only).
Step CreateCwd(const LaunchPlan& plan) {
  UniqueFd root(open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC));
  if (!root.valid()) return Fail(errno, "open /");
  UniqueFd cwd(MkdirAllInRoot(root.get(), plan.proc.cwd_rel.c_str(), 0755));
  if (!cwd.valid()) return Fail(errno, "create cwd ", plan.proc.cwd.c_str());
  return Ok();
}

}  // namespace

Step BindRootfs(const LaunchPlan& plan, UniqueFd* rootfd) {
  // Nothing done here may propagate back to the agent's mount namespace.
  // EINVAL: "/" is not a mount point (the launcher runs chrooted into a
  // plain directory); the rootfs mount is still made private below.
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 && errno != EINVAL) {
    return Fail(errno, "make / rprivate");
  }
  if (mount(plan.rootfs.c_str(), plan.rootfs.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
    return Fail(errno, "bind-mount rootfs ", plan.rootfs.c_str());
  }
  if (mount(nullptr, plan.rootfs.c_str(), nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return Fail(errno, "make rootfs rprivate");
  }
  UniqueFd fd(open(plan.rootfs.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Fail(errno, "open rootfs ", plan.rootfs.c_str());
  // Opened before SetupStdio in a user namespace: out of the way of its fds.
  rootfd->reset(fcntl(fd.get(), F_DUPFD_CLOEXEC, kFirstFreeFd));
  if (!rootfd->valid()) return Fail(errno, "open rootfs ", plan.rootfs.c_str());
  return Ok();
}

Step OpenBindSources(LaunchPlan& plan) {
  for (MountStep& m : plan.mounts) {
    if (!m.bind) continue;
    UniqueFd fd(open(m.source.c_str(), O_PATH | O_CLOEXEC));
    if (!fd.valid()) return Fail(errno, "open the source of ", m.what.c_str());
    // Out of SetupStdio's way; kept until CloseInheritedFds (process_setup.h).
    m.source_fd = fcntl(fd.get(), F_DUPFD_CLOEXEC, kFirstFreeFd);
    if (m.source_fd < 0) return Fail(errno, "open the source of ", m.what.c_str());
  }
  return Ok();
}

Step MountIntoRootfs(const LaunchPlan& plan, int rootfd) {
  for (const MountStep& m : plan.mounts) CHILD_TRY(DoMount(rootfd, m));
  CHILD_TRY(CreateDevices(rootfd, plan));
  if (plan.default_devices) CHILD_TRY(CreateDevLinks(rootfd));
  return Ok();
}

Step EnterRootfs(const LaunchPlan& plan, int rootfd) {
  if (plan.no_pivot) return MoveRoot(rootfd);
  UniqueFd oldroot(open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC));
  if (!oldroot.valid()) return Fail(errno, "open /");
  if (fchdir(rootfd) != 0) return Fail(errno, "chdir to rootfs");
  // pivot_root(".", "."): the old root ends up mounted over the new one,
  // where it can be detached without needing a directory for it.
  if (syscall(SYS_pivot_root, ".", ".") != 0) {
    if (errno != EINVAL) return Fail(errno, "pivot_root");
    oldroot.reset();  // not held across the move
    return MoveRoot(rootfd);  // root is rootfs (initramfs)
  }
  Step result = Ok();
  if (fchdir(oldroot.get()) != 0) {
    result = Fail(errno, "chdir to old root");
  } else if (mount(nullptr, ".", nullptr, MS_SLAVE | MS_REC, nullptr) != 0) {
    result = Fail(errno, "make old root rslave");
  } else if (umount2(".", MNT_DETACH) != 0) {
    result = Fail(errno, "detach old root");
  } else if (chdir("/") != 0) {
    result = Fail(errno, "chdir /");
  }
  return result;
}

Step FinalizeRootfs(const LaunchPlan& plan) {
  if (plan.final_propagation != 0 && mount(nullptr, "/", nullptr, plan.final_propagation, nullptr) != 0) {
    return Fail(errno, "set rootfs propagation");
  }
  for (const std::string& p : plan.masked_paths) CHILD_TRY(MaskPath(p));
  for (const std::string& p : plan.readonly_paths) CHILD_TRY(ReadonlyPath(p));
  CHILD_TRY(CreateCwd(plan));
  if (plan.readonly_root) CHILD_TRY(RemountReadonly("/", "remount read-only "));
  return Ok();
}

}  // namespace kata::agent::child
