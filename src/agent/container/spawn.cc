#include "agent/container/spawn.h"

#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <thread>

namespace kata::agent {
namespace {

pid_t RawClone(unsigned long flags) {
  // Like fork(): the child continues on a copy of this thread's stack.
  return static_cast<pid_t>(syscall(SYS_clone, flags | SIGCHLD, nullptr, nullptr, nullptr, nullptr));
}

Result<pid_t> CloneAndRun(unsigned long flags, ChildFn fn, void* arg) {
  pid_t pid = RawClone(flags);
  if (pid < 0) return ErrnoError("clone");
  if (pid == 0) {
    fn(arg);
    _exit(1);
  }
  return pid;
}

}  // namespace

Result<pid_t> Spawn(const SpawnOptions& opts, ChildFn fn, void* arg) {
  if (opts.joins.empty() && opts.chroot_dirfd < 0) return CloneAndRun(opts.clone_flags, fn, arg);

  Result<pid_t> result = Error(Code::kInternal, "spawn helper did not run");
  std::thread helper([&] {
    // Threads share one fs_struct (root, cwd); joining a mount namespace or
    // chrooting needs a private one.
    if (unshare(CLONE_FS) != 0) {
      result = ErrnoError("unshare CLONE_FS");
      return;
    }
    for (const NsJoin& j : opts.joins) {
      if (setns(j.fd, j.nstype) != 0) {
        result = ErrnoError("join namespace " + j.what);
        return;
      }
    }
    if (opts.chroot_dirfd >= 0) {
      if (fchdir(opts.chroot_dirfd) != 0 || chroot(".") != 0 || chdir("/") != 0) {
        result = ErrnoError("enter container root");
        return;
      }
    }
    result = CloneAndRun(opts.clone_flags, fn, arg);
  });
  helper.join();
  return result;
}

}  // namespace kata::agent
