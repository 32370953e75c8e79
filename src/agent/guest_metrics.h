// The guest's figures for Kata's GetMetrics, in Prometheus text format
// (names as upstream's agent: kata_guest_*; per container kata_container_*):
// memory, CPU time, load, tasks, network and block I/O from /proc, and each
// container's cgroup counters. kata-monitor labels them with the sandbox.
// The /proc counters are gauges, as upstream exports them (its dashboards
// read these names).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace kata::agent {

// `containers`: (id, cgroup directory; "" when the guest has none).
// `proc` is /proc (a directory of the same shape in tests).
std::string GuestMetricsText(const std::vector<std::pair<std::string, std::string>>& containers,
                             const std::string& proc = "/proc");

}  // namespace kata::agent
