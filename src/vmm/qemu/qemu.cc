#include "vmm/qemu/qemu.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/log.h"
#include "common/process.h"
#include "common/strings.h"
#include "vmm/qemu/migration.h"
#include "vmm/qemu/qmp.h"

namespace kata::vmm::qemu {
namespace {

// The last few lines of a log, to put QEMU's own complaint in our error.
std::string Tail(const std::string& path, int max_lines) {
  auto text = fs::ReadFile(path);
  return text.ok() ? TailLines(*text, max_lines) : "";
}

int PidfdOpen(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

}  // namespace

Qemu::~Qemu() {
  Status unused = Stop(std::chrono::milliseconds(500));
  (void)unused;
  for (int fd : {pidfd_, release_fd_})
    if (fd >= 0) close(fd);
}

void Qemu::SetExitCallback(std::function<void(int)> cb) {
  std::lock_guard<std::mutex> lock(mu_);
  on_exit_ = std::move(cb);
}

bool Qemu::Running() const {
  std::lock_guard<std::mutex> lock(mu_);
  return spawned_ && !exited_ && !released_;
}

Result<pid_t> Qemu::Spawn(const std::vector<std::string>& argv, bool detached) {
  int log_fd = open(qemu_log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  proc::SpawnOptions opts;
  opts.stdout_fd = log_fd;
  opts.stderr_fd = log_fd;
  opts.detach = detached;
  opts.die_with_parent = !detached;
  opts.netns_fd = spec_.netns_fd;
  auto pid = proc::Spawn(argv, opts);
  if (log_fd >= 0) close(log_fd);
  return pid;
}

Status Qemu::SpawnDetached(const std::vector<std::string>& argv) {
  auto pid = Spawn(argv, true);
  if (!pid.ok()) return pid.status().Wrap("starting QEMU for sandbox " + spec_.id);
  return Adopt(spec_, *pid);
}

Status Qemu::Adopt(const VmSpec& spec, pid_t pid) {
  spec_ = spec;
  paths_ = PathsFor(spec);
  qemu_log_ = fs::JoinPath(spec.run_dir, "qemu.log");
  int pidfd = PidfdOpen(pid);
  if (pidfd < 0) return ErrnoError("QEMU of sandbox " + spec.id + " (pid " + std::to_string(pid) + ") is gone");
  int release_fd = eventfd(0, EFD_CLOEXEC);
  if (release_fd < 0) {
    Status st = ErrnoError("eventfd");
    close(pidfd);
    return st;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    pid_ = pid;
    pidfd_ = pidfd;
    release_fd_ = release_fd;
    spawned_ = true;
  }
  watcher_ = std::thread(&Qemu::WatchPidfd, this);
  return Status::Ok();
}

void Qemu::WatchPidfd() {
  pollfd fds[2] = {{pidfd_, POLLIN, 0}, {release_fd_, POLLIN, 0}};
  while (poll(fds, 2, -1) < 0 && errno == EINTR) {
  }
  if (fds[1].revents != 0) return;  // Release(): another process watches it now
  std::function<void(int)> cb;
  {
    std::lock_guard<std::mutex> lock(mu_);
    exited_ = true;
    exit_status_ = -1;  // not our child: its status went to its parent
    cb = on_exit_;
  }
  cv_.notify_all();
  log::Info("QEMU of sandbox " + spec_.id + " exited");
  if (cb) cb(-1);
}

void Qemu::Release() {
  if (release_fd_ < 0) return;
  uint64_t one = 1;
  ssize_t unused = write(release_fd_, &one, sizeof one);
  (void)unused;
  if (watcher_.joinable()) watcher_.join();
  std::lock_guard<std::mutex> lock(mu_);
  released_ = true;
  on_exit_ = nullptr;
}

void Qemu::Kill() {
  if (pidfd_ >= 0) {
    syscall(SYS_pidfd_send_signal, pidfd_, SIGKILL, nullptr, 0);
  } else if (pid_ > 0) {
    kill(pid_, SIGKILL);
  }
}

void Qemu::WatchProcess(std::vector<std::string> argv) {
  auto pid = Spawn(argv, false);
  {
    std::lock_guard<std::mutex> lock(mu_);
    spawned_ = true;
    if (!pid.ok()) {
      spawn_status_ = pid.status();
      exited_ = true;
    } else {
      pid_ = *pid;
    }
  }
  cv_.notify_all();
  if (!pid.ok()) return;
  int status = 0;
  while (waitpid(*pid, &status, 0) < 0 && errno == EINTR) {
  }
  std::function<void(int)> cb;
  {
    std::lock_guard<std::mutex> lock(mu_);
    exited_ = true;
    exit_status_ = proc::DecodeWaitStatus(status);
    cb = on_exit_;
  }
  cv_.notify_all();
  log::Info("QEMU of sandbox " + spec_.id + " exited with status " + std::to_string(proc::DecodeWaitStatus(status)));
  if (cb) cb(proc::DecodeWaitStatus(status));
}

Status Qemu::StartupError(const std::string& what) const {
  std::string tail = Tail(qemu_log_, 5);
  return Error(Code::kInternal, "QEMU for sandbox " + spec_.id + " " + what +
                                    (tail.empty() ? "" : ": " + tail) + " (see " + qemu_log_ + ")");
}

Status Qemu::Start(const VmSpec& spec) {
  spec_ = spec;
  paths_ = PathsFor(spec);
  qemu_log_ = fs::JoinPath(spec.run_dir, "qemu.log");
  for (const auto& [what, path] : {std::pair{"kernel", spec.kernel}, {"initrd", spec.initrd}}) {
    if (!fs::Exists(path)) {
      return Error(Code::kNotFound, std::string("guest ") + what + " " + path +
                                        " does not exist: build it with guest/build-guest.sh or set " +
                                        "hypervisor.qemu." + what + " in the configuration");
    }
  }
  std::vector<std::string> argv = BuildCommandLine(spec);
  std::string cmdline;
  for (const auto& a : argv) cmdline += a + " ";
  log::Debug("starting QEMU: " + cmdline);
  std::unique_lock<std::mutex> lock(mu_, std::defer_lock);
  if (spec.detached) {
    RETURN_IF_ERROR(SpawnDetached(argv));
  } else {
    watcher_ = std::thread(&Qemu::WatchProcess, this, argv);
    lock.lock();
    cv_.wait(lock, [&] { return spawned_; });
    if (!spawn_status_.ok()) return spawn_status_.Wrap("starting QEMU for sandbox " + spec.id);
    lock.unlock();
  }
  // QEMU creates its listening sockets before the guest runs; an early exit
  // means it rejected its command line or could not open a device.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!fs::Exists(paths_.agent_socket)) {
    lock.lock();
    bool gone = exited_;
    int st = exit_status_;
    lock.unlock();
    if (gone) return StartupError("exited with status " + std::to_string(st) + " during start-up");
    if (std::chrono::steady_clock::now() > deadline) return StartupError("did not create its agent socket in 10 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (!spec.restore_state.empty()) return Resume(spec.restore_state);
  return Status::Ok();
}

Status Qemu::Resume(const std::string& state_path) {
  auto t0 = std::chrono::steady_clock::now();
  auto ms = [](auto a, auto b) { return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count()); };
  QmpClient qmp;
  Status st = qmp.Connect(paths_.qmp_socket, std::chrono::seconds(5));
  auto t1 = std::chrono::steady_clock::now();
  if (st.ok()) st = RestoreState(qmp, state_path, std::chrono::seconds(30));
  if (st.ok()) {
    log::Info("QEMU of sandbox " + spec_.id + " resumed the VM template: QMP " + ms(t0, t1) + " ms, state " +
              ms(t1, std::chrono::steady_clock::now()) + " ms");
    return st;
  }
  // A rejected stream makes QEMU exit: give it the time to say why.
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(500), [&] { return exited_; });
  lock.unlock();
  return StartupError("could not resume the VM template state " + state_path + " (" + st.message() + ")");
}

Status Qemu::SaveState(const std::string& path) {
  if (!Running()) return Error(Code::kFailedPrecondition, "QEMU of " + spec_.id + " is not running");
  QmpClient qmp;
  RETURN_IF_ERROR(qmp.Connect(paths_.qmp_socket, std::chrono::seconds(5)));
  return qemu::SaveState(qmp, path, std::chrono::seconds(60)).Wrap("QEMU of " + spec_.id);
}

Status Qemu::Stop(std::chrono::milliseconds grace) {
  if (!watcher_.joinable()) return Status::Ok();  // never started, or Release()d
  if (Running()) {
    QmpClient qmp;
    if (qmp.Connect(paths_.qmp_socket, std::chrono::milliseconds(500)).ok()) {
      auto r = qmp.Execute("quit", nullptr, std::chrono::milliseconds(500));
      (void)r;
    }
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, grace, [&] { return exited_; }) && pid_ > 0) {
      log::Warn("QEMU of sandbox " + spec_.id + " did not quit in time; killing it");
      Kill();
    }
  }
  watcher_.join();
  return Status::Ok();
}

}  // namespace kata::vmm::qemu
