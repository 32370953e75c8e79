#include "agent/container/devices.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "common/unique_fd.h"

namespace kata::agent::child {
namespace {

Step BindDevice(int dir, const DeviceStep& d) {
  if (mknodat(dir, d.name.c_str(), S_IFREG | 0644, 0) != 0 && errno != EEXIST) {
    return Fail(errno, "create device ", d.path.c_str());
  }
  UniqueFd target(openat(dir, d.name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!target.valid()) return Fail(errno, "create device ", d.path.c_str());
  char path[32];
  FdPath(target.get(), path);
  if (mount(d.outer.c_str(), path, nullptr, MS_BIND, nullptr) != 0) {
    return Fail(errno, "bind-mount device ", d.path.c_str());
  }
  return Ok();
}

Step CreateDevice(int rootfd, const DeviceStep& d) {
  UniqueFd dir(MkdirAllInRoot(rootfd, d.parent_rel.c_str(), 0755));
  if (!dir.valid()) return Fail(errno, "create device ", d.path.c_str());
  Step result = Ok();
  if (mknodat(dir.get(), d.name.c_str(), d.mode, d.dev) != 0) {
    if (errno == EPERM) {
      result = BindDevice(dir.get(), d);
    } else if (errno != EEXIST) {
      result = Fail(errno, "create device ", d.path.c_str());
    }
  }
  if (!result.failed && d.chown && fchownat(dir.get(), d.name.c_str(), d.uid, d.gid, AT_SYMLINK_NOFOLLOW) != 0) {
    result = Fail(errno, "chown device ", d.path.c_str());
  }
  return result;
}

}  // namespace

Step CreateDevices(int rootfd, const LaunchPlan& plan) {
  for (const DeviceStep& d : plan.devices) CHILD_TRY(CreateDevice(rootfd, d));
  return Ok();
}

Step CreateDevLinks(int rootfd) {
  UniqueFd dev(MkdirAllInRoot(rootfd, "dev", 0755));
  if (!dev.valid()) return Fail(errno, "create /dev");
  static const struct {
    const char* target;
    const char* name;
  } kLinks[] = {{"/proc/self/fd", "fd"},
                {"/proc/self/fd/0", "stdin"},
                {"/proc/self/fd/1", "stdout"},
                {"/proc/self/fd/2", "stderr"},
                {"/proc/kcore", "core"}};
  Step result = Ok();
  for (const auto& l : kLinks) {
    if (symlinkat(l.target, dev.get(), l.name) != 0 && errno != EEXIST) {
      result = Fail(errno, "symlink /dev/", l.name);
      break;
    }
  }
  if (!result.failed) {
    if (unlinkat(dev.get(), "ptmx", 0) != 0 && errno != ENOENT) {
      result = Fail(errno, "remove /dev/ptmx");
    } else if (symlinkat("pts/ptmx", dev.get(), "ptmx") != 0) {
      result = Fail(errno, "symlink /dev/ptmx");
    }
  }
  for (const char* d : {"pts", "shm"}) {
    if (!result.failed && mkdirat(dev.get(), d, 0755) != 0 && errno != EEXIST) result = Fail(errno, "mkdir /dev/", d);
  }
  return result;
}

}  // namespace kata::agent::child
