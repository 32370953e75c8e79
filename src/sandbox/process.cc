#include "sandbox/process.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>

#include "common/fs.h"
#include "common/log.h"
#include "sandbox/stdio_fds.h"

namespace kata::sandbox {
namespace {

// The status a process gets when its VM died under it (no exit code exists).
constexpr int kVmGoneStatus = 255;

Result<UniqueFd> OpenPath(const std::string& path, int flags) {
  if (path.rfind(kFdScheme, 0) == 0) return TakeStdio(path);  // handed over by kata-runtime
  // Strip the "fifo"/"file" URI forms containerd may hand us.
  std::string p = path;
  for (const char* prefix : {"fifo://", "file://"}) {
    if (p.rfind(prefix, 0) == 0) p = p.substr(std::string(prefix).size());
  }
  UniqueFd fd(open(p.c_str(), flags | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError("open stdio " + p);
  return fd;
}

}  // namespace

HostProcess::HostProcess(AgentClient& agent, std::string cid, std::string exec_id, StdioPaths io)
    : agent_(agent), cid_(std::move(cid)), exec_id_(std::move(exec_id)), io_(std::move(io)) {}

HostProcess::~HostProcess() {
  if (waiter_.joinable()) waiter_.join();
  StopInput();
}

Status HostProcess::OpenStdio() {
  if (!io_.out.empty()) {
    ASSIGN_OR_RETURN(out_fd_, OpenPath(io_.out, O_WRONLY));
  }
  if (!io_.err.empty() && !io_.terminal) {
    ASSIGN_OR_RETURN(err_fd_, OpenPath(io_.err, O_WRONLY));
  }
  if (!io_.in.empty()) {
    // Non-blocking open: a fifo with no writer yet must not stall Create.
    ASSIGN_OR_RETURN(in_fd_, OpenPath(io_.in, O_RDONLY | O_NONBLOCK));
    if (io_.in.rfind(kFdScheme, 0) != 0) {
      fcntl(in_fd_.get(), F_SETFL, fcntl(in_fd_.get(), F_GETFL) & ~O_NONBLOCK);
    }
    drain_input_fd_.reset(eventfd(0, EFD_CLOEXEC));
    if (!drain_input_fd_.valid()) return ErrnoError("eventfd for stdin of " + exec_id_);
  }
  for (const auto* p : {&io_.in, &io_.out, &io_.err}) ReleaseStdio(*p);
  return Status::Ok();
}

void HostProcess::Run(std::function<void(const ExitInfo&)> on_exit) {
  // Output is drained even when nobody listens, so the guest process never
  // blocks on a full pipe.
  outputs_.emplace_back(&HostProcess::CopyOut, this, false, out_fd_.get());
  if (!io_.terminal) outputs_.emplace_back(&HostProcess::CopyOut, this, true, err_fd_.get());
  if (io_.terminal && out_fd_.valid() && isatty(out_fd_.get())) {
    terminal_ = std::make_unique<TerminalRelay>(agent_, cid_, exec_id_, out_fd_.get());
  }
  if (in_fd_.valid()) {
    stop_input_fd_.reset(eventfd(0, EFD_CLOEXEC));
    if (stop_input_fd_.valid()) input_ = std::thread(&HostProcess::CopyIn, this, in_fd_.get());
  }
  waiter_ = std::thread(&HostProcess::WaitForExit, this, std::move(on_exit));
}

void HostProcess::CopyOut(bool is_stderr, int fd) {
  while (true) {
    auto data = agent_.ReadStream(cid_, exec_id_, is_stderr);
    if (!data.ok() || data->empty()) return;
    if (fd >= 0 && !fs::WriteAll(fd, *data)) fd = -1;  // reader gone: keep draining
  }
}

void HostProcess::CopyIn(int fd) {
  char buf[32 * 1024];
  bool draining = false;
  while (true) {
    // Not a blocking read(): once the process has exited nothing may keep
    // this thread, or the caller's stdin open (an exec's fifo, a terminal).
    if (!draining) {
      pollfd fds[3] = {{fd, POLLIN, 0}, {stop_input_fd_.get(), POLLIN, 0}, {drain_input_fd_.get(), POLLIN, 0}};
      if (poll(fds, 3, -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (fds[1].revents != 0) return;
      if (fds[2].revents != 0) {
        // CloseIO: whatever the caller wrote is in the fifo now; take it
        // without waiting for writers that may never close.
        draining = true;
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
      }
    }
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN && !draining) continue;
    if (n <= 0) break;  // EOF, an error, or drained after CloseIO
    if (!agent_.WriteStdin(cid_, exec_id_, std::string(buf, static_cast<size_t>(n))).ok()) return;
  }
  Status st = agent_.CloseStdin(cid_, exec_id_);
  (void)st;
}

void HostProcess::StopInput() {
  if (stop_input_fd_.valid()) {
    uint64_t one = 1;
    ssize_t unused = write(stop_input_fd_.get(), &one, sizeof one);
    (void)unused;
  }
  if (input_.joinable()) input_.join();
  for (UniqueFd* fd : {&stop_input_fd_, &drain_input_fd_, &in_fd_}) fd->reset();
}

Status HostProcess::Resize(uint32_t rows, uint32_t cols) {
  if (!io_.terminal) return Error(Code::kFailedPrecondition, "process " + exec_id_ + " of " + cid_ + " has no terminal");
  return agent_.TtyWinResize(cid_, exec_id_, rows, cols);
}

Status HostProcess::CloseStdin() {
  if (!drain_input_fd_.valid()) return agent_.CloseStdin(cid_, exec_id_);
  uint64_t one = 1;
  if (write(drain_input_fd_.get(), &one, sizeof one) != sizeof one) return ErrnoError("signal stdin close of " + exec_id_);
  return Status::Ok();
}

void HostProcess::WaitForExit(std::function<void(const ExitInfo&)> on_exit) {
  auto status = agent_.WaitProcess(cid_, exec_id_);
  ExitInfo info;
  info.status = status.ok() ? *status : kVmGoneStatus;
  if (!status.ok()) log::Warn("wait for " + cid_ + "/" + exec_id_ + ": " + status.status().message());
  if (before_exit_ && status.ok()) before_exit_();
  // Deliver all output before anyone learns of the exit: `run` prints the
  // container's last line before it returns.
  for (auto& t : outputs_) t.join();
  terminal_.reset();  // stop following the window size before the tty fd closes
  StopInput();
  info.at = std::chrono::system_clock::now();
  out_fd_.reset();  // the caller's fifos see EOF before anyone learns of the exit
  err_fd_.reset();
  {
    std::lock_guard<std::mutex> lock(mu_);
    exited_ = true;
    exit_ = info;
  }
  cv_.notify_all();
  if (on_exit) on_exit(info);
  std::function<void(const ExitInfo&)> observer;
  {
    std::lock_guard<std::mutex> lock(mu_);
    observer.swap(observer_);
    observer_notified_ = true;
  }
  if (observer) observer(info);
}

void HostProcess::SetExitObserver(std::function<void(const ExitInfo&)> observer) {
  ExitInfo info;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!observer_notified_) {
      observer_ = std::move(observer);
      return;
    }
    info = exit_;
  }
  observer(info);
}

bool HostProcess::exited() const {
  std::lock_guard<std::mutex> lock(mu_);
  return exited_;
}

ExitInfo HostProcess::Wait() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return exited_; });
  return exit_;
}

}  // namespace kata::sandbox
