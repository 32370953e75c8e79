#include "sandbox/oom_events.h"

#include "common/log.h"

namespace kata::sandbox {

OomEventPoller::OomEventPoller(AgentClient& agent, std::function<void(const std::string&)> on_oom)
    : agent_(agent), on_oom_(std::move(on_oom)), thread_(&OomEventPoller::Poll, this) {}

OomEventPoller::~OomEventPoller() {
  if (thread_.joinable()) thread_.join();
}

void OomEventPoller::Poll() {
  while (true) {
    auto id = agent_.GetOOMEvent();
    if (!id.ok()) {
      log::Debug("OOM events: " + id.status().message());
      return;  // the connection closed: the sandbox is going
    }
    on_oom_(*id);
  }
}

}  // namespace kata::sandbox
