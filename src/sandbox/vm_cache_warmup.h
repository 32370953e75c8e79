// The VM cache's warm-up (sandbox/vm_cache.h): a throw-away container run in
// each VM before it is cached, so that under TCG the guest code a container
// start needs is translated by the time a sandbox takes the VM.
#pragma once

#include <string>

#include "common/status.h"
#include "sandbox/sandbox.h"

namespace kata::sandbox {

// Writes the warm-up bundle (a ctr-like config.json, a rootfs holding a copy
// of `binary`, which must be static and exit 0 on --version) under `parent`,
// in a directory named after this process. Returns the bundle directory.
Result<std::string> PrepareWarmupBundle(const std::string& parent, const std::string& binary);

// Creates, starts, waits for and deletes the warm-up container in `sb`.
Status RunWarmupContainer(Sandbox& sb, const std::string& bundle);

}  // namespace kata::sandbox
