// Maps configuration.toml (plus the accelerator probe) to a SandboxConfig.
#pragma once

#include "config/config.h"
#include "sandbox/sandbox.h"
#include "vmm/kvm_probe.h"

namespace kata::shim {

// The guest kernel command line the runtime always uses; the configuration's
// kernel_params are appended (later words win in the kernel's parser).
std::string BaseKernelParams(bool debug);

// Fails if a forced accelerator cannot be used ("kvm" without /dev/kvm).
Result<sandbox::SandboxConfig> MakeSandboxConfig(const config::Config& cfg, const std::string& sandbox_id,
                                                 vmm::AccelDecision* decision_out = nullptr);

}  // namespace kata::shim
