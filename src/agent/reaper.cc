#include "agent/reaper.h"

#include <sys/wait.h>

#include <cerrno>
#include <chrono>

#include "common/process.h"

namespace kata::agent {
namespace {
constexpr size_t kMaxRemembered = 4096;
}

Reaper& Reaper::Get() {
  // Never destroyed: its detached thread reaps until the process ends, and
  // would use a destroyed table at exit (ASan saw it in the unit tests).
  static Reaper* r = new Reaper;
  return *r;
}

void Reaper::Start() {
  if (thread_.joinable()) return;
  thread_ = std::thread(&Reaper::Loop, this);
  thread_.detach();
}

void Reaper::Loop() {
  while (true) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, __WALL);
    if (pid < 0) {
      // No children right now (ECHILD): nothing to reap until one is spawned.
      std::this_thread::sleep_for(std::chrono::milliseconds(errno == ECHILD ? 20 : 1));
      continue;
    }
    if (!WIFEXITED(status) && !WIFSIGNALED(status)) continue;
    std::lock_guard<std::mutex> lock(mu_);
    if (exits_.size() >= kMaxRemembered) exits_.erase(exits_.begin());
    exits_[pid] = proc::DecodeWaitStatus(status);
    cv_.notify_all();
  }
}

int Reaper::Wait(pid_t pid) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return exits_.count(pid) > 0; });
  return exits_[pid];
}

std::optional<int> Reaper::Peek(pid_t pid) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = exits_.find(pid);
  if (it == exits_.end()) return std::nullopt;
  return it->second;
}

}  // namespace kata::agent
