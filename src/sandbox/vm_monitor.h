// Watches a running sandbox VM for what the guest can do to the host over
// time, on a thread of its own (one wake-up a second):
//  - the console log: QEMU appends whatever the guest prints on its serial
//    console (~300 KB/s when it floods it), on /run, which is host memory.
//    Past console_log_max (1 MiB) the log is moved to console.log.1 and started
//    afresh: at most two of them exist.
//  - the agent: a health check every few seconds. An agent that stops
//    answering (a wedged or hostile guest) would leave every long call
//    (WaitProcess, ReadStdout) waiting forever; after agent_silence_limit (30 s)
//    without an answer the VM is stopped, as if it had died (upstream Kata's
//    shim does the same): its processes report exit and the sandbox is
//    cleaned up.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace kata::sandbox {

struct VmMonitorLimits {
  uint64_t console_log_max = 1 << 20;
  std::chrono::milliseconds tick{1000};  // how often the log is looked at
  std::chrono::milliseconds agent_check_interval{5000};
  std::chrono::milliseconds agent_silence_limit{30000};
};

class VmMonitor {
 public:
  // Asks the agent for a sign of life; true if it answered within `timeout`.
  using AgentCheck = std::function<bool(std::chrono::milliseconds timeout)>;

  // `stop_vm` is called (once) when the agent has been silent too long.
  VmMonitor(std::string sandbox_id, std::string console_log, AgentCheck agent_answers, std::function<void()> stop_vm,
            VmMonitorLimits limits = {});
  ~VmMonitor();  // stops the thread
  void Stop();

 private:
  void Loop();
  void TrimConsoleLog();
  void CheckAgent();

  std::string id_;
  std::string console_log_;
  AgentCheck agent_answers_;
  std::function<void()> stop_vm_;
  const VmMonitorLimits limits_;
  std::chrono::steady_clock::time_point last_answer_;
  std::chrono::steady_clock::time_point next_check_;
  bool stopped_vm_ = false;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace kata::sandbox
