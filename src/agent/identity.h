// A guest resumed from a VM template is a copy: same CRNG state, same clock,
// same everything derived from them. These give a clone its own.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace kata::agent {

// Mixes `data` (from the host's getrandom) into the kernel's pool, credits
// it and forces a CRNG reseed: without the reseed the kernel would keep
// producing the template's stream until its next periodic reseed.
Status ReseedRandom(const std::string& data);

// When the guest has an /etc/machine-id (ours usually does not), replaces it
// with a fresh random one (systemd's format: 32 lowercase hex digits).
Status RegenerateMachineId(const std::string& path = "/etc/machine-id");

// 32 lowercase hex digits from the (reseeded) kernel CRNG.
Result<std::string> NewMachineId();

}  // namespace kata::agent
