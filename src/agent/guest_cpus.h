// The guest's online vCPUs (SetOnlineCpus): a VM boots with more vCPUs
// present than online (the kernel's maxcpus=), and the host asks for more
// as the pod's containers need them, or fewer when they leave.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace kata::agent {

// Brings cpu1..cpu(count-1) online and the other present CPUs offline
// (cpu0 always stays); returns how many are online afterwards. `sys` is
// /sys/devices/system/cpu (a directory of that shape in tests).
Result<uint32_t> SetOnlineCpus(uint32_t count, const std::string& sys = "/sys/devices/system/cpu");

// Number of CPUs in a kernel CPU list ("0-2,5" -> 4).
uint32_t CountCpuList(const std::string& list);

}  // namespace kata::agent
