// Host side of one guest process (a container's init or an exec): copies its
// stdio between the caller's files and the agent, and records its exit.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "common/unique_fd.h"
#include "sandbox/agent_client.h"
#include "sandbox/terminal.h"

namespace kata::sandbox {

// Paths of the caller's stdio (containerd fifos, or /proc/<pid>/fd/N of the
// OCI monitor process); empty = not connected.
struct StdioPaths {
  std::string in;
  std::string out;
  std::string err;
  bool terminal = false;
};

struct ExitInfo {
  int status = 0;
  std::chrono::system_clock::time_point at;
};

class HostProcess {
 public:
  HostProcess(AgentClient& agent, std::string container_id, std::string exec_id, StdioPaths io);
  ~HostProcess();
  Status OpenStdio();
  // Starts the copy threads and the waiter; `on_exit` runs once the exit
  // status is known and all output has been delivered.
  void Run(std::function<void(const ExitInfo&)> on_exit);
  bool exited() const;
  ExitInfo Wait();  // blocks until exit
  const StdioPaths& io() const { return io_; }
  const std::string& exec_id() const { return exec_id_; }
  // Closes the guest's stdin once everything the caller wrote before this
  // call has been forwarded.
  Status CloseStdin();
  // Terminal processes: sets the guest pty's size (Task ResizePty).
  Status Resize(uint32_t rows, uint32_t cols);
  // Called once with the exit (on the waiter thread, after Run's on_exit), or
  // at once if the process has already exited: how the shim publishes
  // /tasks/exit without racing a fast exit.
  void SetExitObserver(std::function<void(const ExitInfo&)> observer);
  // Runs on the waiter thread once the process has exited, before anyone
  // can learn it has (Wait, exited, observers). Set before Run.
  void SetBeforeExit(std::function<void()> fn) { before_exit_ = std::move(fn); }

 private:
  void CopyOut(bool is_stderr, int fd);
  void CopyIn(int fd);
  // Ends CopyIn (it waits in poll() for input or this) and closes stdin.
  void StopInput();
  void WaitForExit(std::function<void(const ExitInfo&)> on_exit);

  AgentClient& agent_;
  std::string cid_;
  std::string exec_id_;
  StdioPaths io_;
  UniqueFd in_fd_, out_fd_, err_fd_;
  std::vector<std::thread> outputs_;
  std::thread input_;
  UniqueFd stop_input_fd_;  // eventfd: the process exited, stop reading its stdin
  // eventfd: the caller closed its end (Task CloseIO): forward what is still
  // buffered in the fifo, then close the guest's stdin. Closing it directly
  // raced the copy and lost input written just before CloseIO.
  UniqueFd drain_input_fd_;
  std::thread waiter_;
  std::unique_ptr<TerminalRelay> terminal_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool exited_ = false;
  ExitInfo exit_;
  std::function<void(const ExitInfo&)> observer_;
  std::function<void()> before_exit_;
  bool observer_notified_ = false;  // the waiter has handed out the exit
};

}  // namespace kata::sandbox
