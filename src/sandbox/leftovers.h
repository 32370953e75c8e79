// What a sandbox leaves on the host when the process that ran it died
// without cleaning up (SIGKILL, crash): its VMM, the changes it made to the
// pod's interfaces, and its directories. The shim's `delete` action and
// `kata-runtime delete` both remove them. A VM booted by the sandbox dies
// with its service (PR_SET_PDEATHSIG); one taken from the VM cache does not.
// The share's binds live in the VMM's mount namespace and go with it.
#pragma once

#include <string>

#include "common/status.h"

namespace kata::sandbox {

// Kills the QEMU named by VmRunDir(id)/qemu.pid, undoes its pod-network
// changes (sandbox/network_record.h), removes both directories. Every step runs; the first
// failure is returned.
Status RemoveVmLeftovers(const std::string& id);

}  // namespace kata::sandbox
