#include "sandbox/netns.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

namespace kata::sandbox {

Result<NetNs> NetNs::Open(const std::string& path) {
  NetNs ns;
  ns.fd_.reset(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns.fd_.valid()) return ErrnoError("open network namespace " + path);
  ns.path_ = path;
  return ns;
}

Result<NetNs> NetNs::CreateNew() {
  NetNs ns;
  Status st;
  std::thread t([&] {
    if (unshare(CLONE_NEWNET) != 0) {
      st = ErrnoError("create a network namespace");
      return;
    }
    ns.fd_.reset(open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    if (!ns.fd_.valid()) st = ErrnoError("open the new network namespace");
  });
  t.join();
  if (!st.ok()) return st;
  return ns;
}

std::pair<uint64_t, uint64_t> NetNs::Identity() const {
  struct stat st {};
  if (!fd_.valid() || fstat(fd_.get(), &st) != 0) return {0, 0};
  return {st.st_dev, st.st_ino};
}

bool NetNs::IsHost() const {
  auto self = Identity();
  if (self.second == 0) return false;
  for (const char* host : {"/proc/self/ns/net", "/proc/1/ns/net"}) {
    struct stat st {};
    if (stat(host, &st) == 0 && st.st_dev == self.first && st.st_ino == self.second) return true;
  }
  return false;
}

Status NetNs::Run(const std::function<Status()>& fn) const {
  Status st;
  std::thread t([&] {
    if (setns(fd_.get(), CLONE_NEWNET) != 0) {
      st = ErrnoError("enter network namespace " + (path_.empty() ? std::string("of the sandbox") : path_));
      return;
    }
    st = fn();
  });
  t.join();
  return st;
}

}  // namespace kata::sandbox
