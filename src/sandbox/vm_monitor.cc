#include "sandbox/vm_monitor.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/log.h"
#include "common/unique_fd.h"

namespace kata::sandbox {

VmMonitor::VmMonitor(std::string sandbox_id, std::string console_log, AgentCheck agent_answers,
                     std::function<void()> stop_vm, VmMonitorLimits limits)
    : id_(std::move(sandbox_id)),
      console_log_(std::move(console_log)),
      agent_answers_(std::move(agent_answers)),
      stop_vm_(std::move(stop_vm)),
      limits_(limits) {
  last_answer_ = next_check_ = std::chrono::steady_clock::now();
  next_check_ += limits_.agent_check_interval;
  thread_ = std::thread(&VmMonitor::Loop, this);
}

VmMonitor::~VmMonitor() { Stop(); }

void VmMonitor::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void VmMonitor::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, limits_.tick, [this] { return stopping_; })) {
    lock.unlock();
    TrimConsoleLog();
    if (!stopped_vm_ && std::chrono::steady_clock::now() >= next_check_) CheckAgent();
    lock.lock();
  }
}

// QEMU appends (O_APPEND): once the file is truncated its next write goes
// to the start. What it writes between the copy and the truncation is lost.
void VmMonitor::TrimConsoleLog() {
  struct stat st;
  const uint64_t max = limits_.console_log_max;
  if (stat(console_log_.c_str(), &st) != 0 || static_cast<uint64_t>(st.st_size) <= max) return;
  UniqueFd in(open(console_log_.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC));
  if (!in.valid()) return;
  std::string kept = console_log_ + ".1";
  // The latest output: what explains a failure.
  std::string data(max, '\0');
  ssize_t n = pread(in.get(), data.data(), data.size(), st.st_size - static_cast<off_t>(max));
  data.resize(n > 0 ? static_cast<size_t>(n) : 0);
  Status st_copy = fs::WriteFileAtomic(kept, data, 0600);
  if (ftruncate(in.get(), 0) != 0) return;
  fs::WriteAll(in.get(), "[kata: console log rotated at " + std::to_string(max >> 10) + " KiB; the previous part is in " + fs::Basename(kept) + "]\n");
  if (!st_copy.ok()) log::Warn("sandbox " + id_ + ": " + st_copy.message());
}

void VmMonitor::CheckAgent() {
  auto now = std::chrono::steady_clock::now();
  next_check_ = now + limits_.agent_check_interval;
  if (agent_answers_(limits_.agent_check_interval)) {
    last_answer_ = std::chrono::steady_clock::now();
    return;
  }
  auto silent = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - last_answer_);
  if (silent < limits_.agent_silence_limit) return;
  log::Error("sandbox " + id_ + ": its agent has not answered for " + std::to_string(silent.count() / 1000) +
             " s: stopping the VM");
  stopped_vm_ = true;
  stop_vm_();
}

}  // namespace kata::sandbox
