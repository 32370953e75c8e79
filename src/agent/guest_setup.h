// What the agent does as PID 1 before it can serve: the guest has no other init.
#pragma once

#include <string>

#include "common/status.h"

namespace kata::agent {

// /proc, /sys, /dev (devtmpfs), /dev/pts, /dev/shm, /run, /tmp.
Status MountBasics();
// finit_module() each path listed (one per line) in `list_file`, in order.
Status LoadModules(const std::string& list_file);
// Whether the kernel command line holds `word`, e.g. `agent.log=debug` (debug
// logs: the parameter upstream Kata's agent reads; the runtime adds it when
// [agent.kata] enable_debug is set) or `agent.debug_console`.
bool KernelCmdlineHas(const std::string& word);
// Finds /dev/vportNpM whose port name (sysfs) is `name`; waits up to 5 s for
// the device to appear (virtio probing is asynchronous).
Result<std::string> FindSerialPort(const std::string& name);
Status MountSharedFs(const std::string& type, const std::string& options, const std::string& mount_point,
                     const std::string& tag = "kataShared");
void SetClock(int64_t unix_ns);

}  // namespace kata::agent
