// The host end of a container terminal. The caller's pty (its master is with
// conmon, containerd or a user's terminal) is put in raw mode, since the line
// discipline that matters is the guest pty's; its window size is followed and
// pushed to the guest (nobody sends us SIGWINCH: we are not its session).
#pragma once

#include <atomic>
#include <string>
#include <thread>

#include "sandbox/agent_client.h"

namespace kata::sandbox {

class TerminalRelay {
 public:
  TerminalRelay(AgentClient& agent, std::string cid, std::string exec_id, int tty_fd);
  ~TerminalRelay();  // stops following the size
  Status Resize(uint32_t rows, uint32_t cols);

 private:
  void FollowWindowSize();
  AgentClient& agent_;
  std::string cid_, exec_id_;
  int tty_fd_;
  std::atomic<bool> stop_{false};
  std::thread watcher_;
};

}  // namespace kata::sandbox
