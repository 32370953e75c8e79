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
#include "sandbox/sandbox_config.h"

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
  std::vector<double> vmm, ready, kernel, agent;
  for (int i = 0; i < n; i++) {
    auto sc = kata::sandbox::MakeSandboxConfig(cfg->config, "bench-" + std::to_string(getpid()) + "-" + std::to_string(i));
    if (!sc.ok()) return 1;
    sc->measure_guest_boot = true;
    auto sb = kata::sandbox::Sandbox::Boot(*sc);
    if (!sb.ok()) {
      std::fprintf(stderr, "%s\n", sb.status().message().c_str());
      return 1;
    }
    vmm.push_back((*sb)->boot_times().vmm_start_ms);
    ready.push_back((*sb)->boot_times().agent_ready_ms);
    kernel.push_back((*sb)->boot_times().guest_kernel_ms);
    agent.push_back((*sb)->boot_times().guest_agent_ms);
  }
  // Medians of each phase. "before_kernel" is what the guest clock cannot
  // see: QEMU set-up, loading kernel + initrd (PVH: no firmware), and the
  // host noticing the agent; it is agent_ready minus the guest's own times.
  double before_kernel = Median(ready) - Median(kernel) - Median(agent);
  std::printf("vmm_start_ms %.0f\nagent_ready_ms %.0f\nguest_kernel_ms %.0f\nguest_agent_ms %.0f\n"
              "vmm_and_host_ms %.0f\n",
              Median(vmm), Median(ready), Median(kernel), Median(agent), before_kernel);
  return 0;
}
