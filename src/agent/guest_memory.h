// The guest's memory following the pod (MemHotplugByProbe): the VM has had
// all its RAM since boot, the kernel was told to use only the first part of
// it (mem=), and the host asks for blocks above as the pod's containers need
// them. The kernel's probe interface adds a block; CONFIG_MEMORY_HOTPLUG_
// DEFAULT_ONLINE brings it online (done here too when it did not).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace kata::agent {

// A request names at most this many blocks (512 GiB of 128 MiB blocks).
inline constexpr size_t kMaxMemoryBlocksPerRequest = 4096;

// Adds and onlines the memory block at each guest-physical address (each a
// multiple of the guest's block size); a block already added is only
// brought online. `sys` is /sys/devices/system/memory (a directory of that
// shape in tests).
Status AddMemoryBlocks(const std::vector<uint64_t>& addresses,
                       const std::string& sys = "/sys/devices/system/memory");

}  // namespace kata::agent
