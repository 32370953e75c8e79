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

// If VmRunDir(id) is `owner`'s and no live sandbox holds it
// (sandbox/ownership.h; otherwise nothing is touched): kills its VMM (the
// recorded process, not whatever has its pid now), undoes its pod-network
// changes (sandbox/network_record.h), removes both directories. Every step
// runs; the first failure is returned.
Status RemoveVmLeftovers(const std::string& id, const std::string& owner);

}  // namespace kata::sandbox
