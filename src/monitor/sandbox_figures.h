// What kata-monitor reports per running sandbox: host figures of its VMM and
// service from /proc (CPU, RSS/PSS, fds, threads, I/O), the guest's figures
// from its metrics endpoint (sandbox/sandbox_endpoint.h), and the boot time
// histogram over the sandboxes running. Sandboxes are found by their VM run
// directories; a sandbox without an endpoint (a VM cache's spare, a
// template) is not one kata-monitor reports.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "monitor/exposition.h"

namespace kata::monitor {

struct ScrapeOptions {
  std::string vm_root = "/run/vc/vm";
  std::chrono::milliseconds guest_timeout{1000};
};

struct ScrapeResult {
  size_t sandboxes = 0;
  size_t guest_errors = 0;   // sandboxes whose guest did not answer
  size_t guest_dropped = 0;  // guest lines refused (exposition.h)
};

std::vector<std::string> RunningSandboxes(const std::string& vm_root);
ScrapeResult AddSandboxFigures(const ScrapeOptions& opts, Exposition* e);

}  // namespace kata::monitor
