#include "vmm/vmm_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "common/log.h"
#include "common/process.h"
#include "common/unique_fd.h"

namespace kata::vmm {

struct VmmProcess::State {
  std::string name;
  mutable std::mutex mu;
  mutable std::condition_variable cv;
  bool spawned = false;
  Status spawn_status;
  pid_t pid = -1;
  UniqueFd pidfd;       // detached or adopted: not our child
  UniqueFd release_fd;  // eventfd that wakes the pidfd watcher
  bool exiting = false;  // our child has exited and is about to be reaped: its pid may not be signalled
  bool exited = false;
  int exit_status = 0;
  std::function<void(int)> on_exit;

  void MarkExited(int status) {
    std::function<void(int)> cb;
    {
      std::lock_guard<std::mutex> lock(mu);
      exited = true;
      exit_status = status;
      cb = std::move(on_exit);
      on_exit = nullptr;
    }
    cv.notify_all();
    log::Info(name + " exited" + (status >= 0 ? " with status " + std::to_string(status) : ""));
    if (cb) cb(status);
  }
};

namespace {

using State = VmmProcess::State;

Result<pid_t> SpawnVmm(const VmmLaunch& l, bool detached) {
  UniqueFd log_fd(open(l.log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  proc::SpawnOptions opts;
  opts.stdout_fd = log_fd.get();
  opts.stderr_fd = log_fd.get();
  opts.detach = detached;
  opts.die_with_parent = !detached;
  opts.netns_fd = l.netns_fd;
  opts.mount_ns_fd = l.mount_ns_fd;
  opts.pass_fds = l.pass_fds;
  opts.before_exec = ConfineInChild(l.confinement);
  return proc::Spawn(l.argv, opts);
}

// Spawns and waits on the same thread: PR_SET_PDEATHSIG is tied to the
// spawning thread, so it must live exactly as long as the VMM does.
void SpawnAndWait(std::shared_ptr<State> st, VmmLaunch launch) {
  auto pid = SpawnVmm(launch, false);
  {
    std::lock_guard<std::mutex> lock(st->mu);
    st->spawned = true;
    if (pid.ok()) st->pid = *pid;
    if (!pid.ok()) st->spawn_status = pid.status();
  }
  st->cv.notify_all();
  if (!pid.ok()) return;
  siginfo_t info{};
  while (waitid(P_PID, static_cast<id_t>(*pid), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR) {
  }
  {
    std::lock_guard<std::mutex> lock(st->mu);
    st->exiting = true;  // once reaped, the pid may name another process
  }
  int status = 0;
  while (waitpid(*pid, &status, 0) < 0 && errno == EINTR) {
  }
  st->MarkExited(proc::DecodeWaitStatus(status));
}

void WatchPidfd(std::shared_ptr<State> st) {
  pollfd fds[2] = {{st->pidfd.get(), POLLIN, 0}, {st->release_fd.get(), POLLIN, 0}};
  while (poll(fds, 2, -1) < 0 && errno == EINTR) {
  }
  if (fds[1].revents != 0) return;  // Release(): another process watches it now
  st->MarkExited(-1);  // not our child: its status went to its parent
}

}  // namespace

Result<std::unique_ptr<VmmProcess>> VmmProcess::StartChild(const VmmLaunch& launch) {
  auto st = std::make_shared<State>();
  st->name = launch.name;
  std::thread(SpawnAndWait, st, launch).detach();
  std::unique_lock<std::mutex> lock(st->mu);
  st->cv.wait(lock, [&] { return st->spawned; });
  if (!st->spawn_status.ok()) return st->spawn_status.Wrap("starting " + launch.name);
  lock.unlock();
  return std::unique_ptr<VmmProcess>(new VmmProcess(st));
}

Result<std::unique_ptr<VmmProcess>> VmmProcess::StartDetached(const VmmLaunch& launch) {
  auto pid = SpawnVmm(launch, true);
  if (!pid.ok()) return pid.status().Wrap("starting " + launch.name);
  return Adopt(*pid, launch.name);
}

Result<std::unique_ptr<VmmProcess>> VmmProcess::Adopt(pid_t pid, const std::string& name) {
  auto st = std::make_shared<State>();
  st->name = name;
  st->pid = pid;
  st->spawned = true;
  st->pidfd.reset(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  if (!st->pidfd.valid()) return ErrnoError(name + " (pid " + std::to_string(pid) + ") is gone");
  st->release_fd.reset(eventfd(0, EFD_CLOEXEC));
  if (!st->release_fd.valid()) return ErrnoError("eventfd");
  std::thread(WatchPidfd, st).detach();
  return std::unique_ptr<VmmProcess>(new VmmProcess(st));
}

VmmProcess::~VmmProcess() { OnExit(nullptr); }

pid_t VmmProcess::pid() const { return st_->pid; }

bool VmmProcess::exited() const {
  std::lock_guard<std::mutex> lock(st_->mu);
  return st_->exited;
}

int VmmProcess::exit_status() const {
  std::lock_guard<std::mutex> lock(st_->mu);
  return st_->exit_status;
}

void VmmProcess::OnExit(std::function<void(int)> cb) {
  std::lock_guard<std::mutex> lock(st_->mu);
  st_->on_exit = std::move(cb);
}

void VmmProcess::Kill() {
  std::lock_guard<std::mutex> lock(st_->mu);
  if (st_->exited || st_->exiting) return;
  if (st_->pidfd.valid()) {
    syscall(SYS_pidfd_send_signal, st_->pidfd.get(), SIGKILL, nullptr, 0);
  } else if (st_->pid > 0) {
    kill(st_->pid, SIGKILL);  // our child, not yet reaped: the pid is still its
  }
}

bool VmmProcess::WaitExit(std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(st_->mu);
  return st_->cv.wait_for(lock, timeout, [&] { return st_->exited; });
}

void VmmProcess::Release() {
  OnExit(nullptr);
  if (!st_->release_fd.valid()) return;
  uint64_t one = 1;
  ssize_t unused = write(st_->release_fd.get(), &one, sizeof one);
  (void)unused;
}

}  // namespace kata::vmm
