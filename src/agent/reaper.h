// The agent is PID 1 in the guest: every orphan is re-parented to it, so one
// thread reaps all children and keeps the exit statuses the RPCs ask for.
// Nothing else in the agent may call waitpid() on a specific pid.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

namespace kata::agent {

class Reaper {
 public:
  static Reaper& Get();
  void Start();
  // Blocks until `pid` has exited; returns its status (code or 128+signal).
  int Wait(pid_t pid);
  std::optional<int> Peek(pid_t pid);

 private:
  void Loop();
  std::mutex mu_;
  std::condition_variable cv_;
  // Statuses of exited children, oldest dropped past a bound (orphans nobody asks about).
  std::map<pid_t, int> exits_;
  std::thread thread_;
};

}  // namespace kata::agent
