#include "sandbox/netns.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <thread>

namespace kata::sandbox {

NetNs& NetNs::operator=(NetNs&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) close(fd_);
    fd_ = o.fd_;
    path_ = std::move(o.path_);
    o.fd_ = -1;
  }
  return *this;
}

NetNs::~NetNs() {
  if (fd_ >= 0) close(fd_);
}

Result<NetNs> NetNs::Open(const std::string& path) {
  NetNs ns;
  ns.fd_ = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (ns.fd_ < 0) return ErrnoError("open network namespace " + path);
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
    ns.fd_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (ns.fd_ < 0) st = ErrnoError("open the new network namespace");
  });
  t.join();
  if (!st.ok()) return st;
  return ns;
}

Status NetNs::Run(const std::function<Status()>& fn) const {
  Status st;
  std::thread t([&] {
    if (setns(fd_, CLONE_NEWNET) != 0) {
      st = ErrnoError("enter network namespace " + (path_.empty() ? std::string("of the sandbox") : path_));
      return;
    }
    st = fn();
  });
  t.join();
  return st;
}

}  // namespace kata::sandbox
