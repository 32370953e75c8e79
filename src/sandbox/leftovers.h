// What a sandbox leaves on the host when the process that ran it died
// without cleaning up (SIGKILL, crash): its VMM, the container binds in its
// shared directory and its directories. The shim's `delete` action and
// `kata-runtime delete` both remove them. A VM booted by the sandbox dies
// with its service (PR_SET_PDEATHSIG); one taken from the VM cache does not,
// and the binds of a service that kept the host's mount namespace (VM cache)
// stay mounted.
#pragma once

#include <string>

#include "common/status.h"

namespace kata::sandbox {

// Kills the QEMU named by VmRunDir(id)/qemu.pid, unmounts everything under
// SharedSandboxDir(id), removes both directories. Every step runs; the first
// failure is returned.
Status RemoveVmLeftovers(const std::string& id);

}  // namespace kata::sandbox
