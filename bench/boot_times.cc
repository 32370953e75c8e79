// Boots N sandboxes one after another (the installed configuration) and
// prints the median time from VMM start to its sockets and to agent ready.
//   boot_times [N]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <unistd.h>

#include "common/log.h"
#include "config/config.h"
#include "sandbox/sandbox.h"
#include "shim/sandbox_config.h"

namespace {
double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}
}  // namespace

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 5;
  kata::log::Configure(2, kata::log::Level::kWarn, kata::log::Format::kText);
  auto cfg = kata::config::Load();
  if (!cfg.ok()) {
    std::fprintf(stderr, "%s\n", cfg.status().message().c_str());
    return 1;
  }
  std::vector<double> vmm, ready;
  for (int i = 0; i < n; i++) {
    auto sc = kata::shim::MakeSandboxConfig(cfg->config, "bench-" + std::to_string(getpid()) + "-" + std::to_string(i));
    if (!sc.ok()) return 1;
    auto sb = kata::sandbox::Sandbox::Boot(*sc);
    if (!sb.ok()) {
      std::fprintf(stderr, "%s\n", sb.status().message().c_str());
      return 1;
    }
    vmm.push_back((*sb)->boot_times().vmm_start_ms);
    ready.push_back((*sb)->boot_times().agent_ready_ms);
  }
  std::printf("vmm_start_ms %.0f\nagent_ready_ms %.0f\n", Median(vmm), Median(ready));
  return 0;
}
