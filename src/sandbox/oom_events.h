// The host end of the agent's GetOOMEvent long poll: one call in flight,
// each answer (a container whose guest cgroup had an OOM kill) handed to a
// callback -- the shim publishes it as containerd's TaskOOM (/tasks/oom).
// Ends when the agent connection closes (Sandbox::Shutdown closes it first).
#pragma once

#include <functional>
#include <string>
#include <thread>

#include "sandbox/agent_client.h"

namespace kata::sandbox {

class OomEventPoller {
 public:
  OomEventPoller(AgentClient& agent, std::function<void(const std::string&)> on_oom);
  // Joins the poller: close the agent connection before.
  ~OomEventPoller();

 private:
  void Poll();
  AgentClient& agent_;
  std::function<void(const std::string&)> on_oom_;
  std::thread thread_;
};

}  // namespace kata::sandbox
