#include "agent/guest_setup.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <chrono>
#include <sstream>
#include <thread>

#include "common/fs.h"
#include "common/log.h"
#include "common/unique_fd.h"

namespace kata::agent {
namespace {

Status MountOne(const char* src, const char* target, const char* type, unsigned long flags, const char* data) {
  RETURN_IF_ERROR(fs::MkdirAll(target));
  if (mount(src, target, type, flags, data) != 0 && errno != EBUSY) {
    return ErrnoError(std::string("mount ") + type + " on " + target);
  }
  return Status::Ok();
}

}  // namespace

Status MountBasics() {
  const unsigned long common = MS_NOSUID | MS_NODEV | MS_NOEXEC;
  RETURN_IF_ERROR(MountOne("proc", "/proc", "proc", common, nullptr));
  RETURN_IF_ERROR(MountOne("sysfs", "/sys", "sysfs", common, nullptr));
  RETURN_IF_ERROR(MountOne("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755"));
  RETURN_IF_ERROR(MountOne("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "gid=5,mode=0620,ptmxmode=0666"));
  RETURN_IF_ERROR(MountOne("shm", "/dev/shm", "tmpfs", common, "mode=1777"));
  RETURN_IF_ERROR(MountOne("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"));
  RETURN_IF_ERROR(MountOne("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"));
  // cgroup v2 for the containers' resources (best effort: not every kernel has it).
  if (mount("cgroup2", "/sys/fs/cgroup", "cgroup2", common, nullptr) != 0) {
    log::Debug("cgroup2 not mounted: " + std::string(strerror(errno)));
  }
  return Status::Ok();
}

Status LoadModules(const std::string& list_file) {
  if (!fs::Exists(list_file)) return Status::Ok();  // a kernel with everything built in
  ASSIGN_OR_RETURN(std::string list, fs::ReadFile(list_file));
  std::istringstream in(list);
  std::string path;
  while (std::getline(in, path)) {
    if (path.empty() || path[0] == '#') continue;
    UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return ErrnoError("open module " + path);
    long r = syscall(SYS_finit_module, fd.get(), "", 0);
    int err = errno;
    if (r != 0 && err != EEXIST) return ErrnoError("load module " + path, err);
  }
  return Status::Ok();
}

bool KernelCmdlineHas(const std::string& wanted) {
  auto cmdline = fs::ReadFile("/proc/cmdline");
  if (!cmdline.ok()) return false;
  std::istringstream words(*cmdline);
  std::string word;
  while (words >> word) {
    if (word == wanted) return true;
  }
  return false;
}

Result<std::string> FindSerialPort(const std::string& name) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (true) {
    if (DIR* d = opendir("/sys/class/virtio-ports")) {
      while (struct dirent* e = readdir(d)) {
        std::string port = e->d_name;
        if (port[0] == '.') continue;
        auto n = fs::ReadFile("/sys/class/virtio-ports/" + port + "/name");
        if (!n.ok()) continue;
        std::string got = *n;
        while (!got.empty() && (got.back() == '\n' || got.back() == '\0')) got.pop_back();
        if (got == name && fs::Exists("/dev/" + port)) {
          closedir(d);
          return "/dev/" + port;
        }
      }
      closedir(d);
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return Error(Code::kNotFound, "virtio-serial port " + name + " not found under /sys/class/virtio-ports");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

Status MountSharedFs(const std::string& type, const std::string& options, const std::string& mount_point,
                     const std::string& tag) {
  RETURN_IF_ERROR(fs::MkdirAll(mount_point));
  if (fs::IsMountPoint(mount_point)) return Status::Ok();
  std::string fstype = type.empty() ? "9p" : type;
  if (fstype != "9p" && fstype != "virtiofs") {
    return Error(Code::kInvalidArgument, "shared file system type \"" + fstype + "\": not 9p or virtiofs");
  }
  if (mount(tag.c_str(), mount_point.c_str(), fstype.c_str(), MS_NODEV, options.c_str()) != 0) {
    return ErrnoError("mount " + fstype + " " + tag + " on " + mount_point + " (" + options + ")");
  }
  return Status::Ok();
}

void SetClock(int64_t unix_ns) {
  if (unix_ns <= 0) return;
  timespec ts{static_cast<time_t>(unix_ns / 1000000000), static_cast<long>(unix_ns % 1000000000)};
  clock_settime(CLOCK_REALTIME, &ts);
}

}  // namespace kata::agent
