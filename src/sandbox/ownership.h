// Whose a sandbox's host directories are (issue 12): a container id is
// unique only within one runtime root or containerd namespace, so two
// sandboxes may want the same /run/vc/vm/<id>. The first one makes the
// directory (exclusively), marks it with its owner and holds a lock on the
// mark while it lives; the second is refused. Clean-up after a crash
// (sandbox/leftovers.h) touches only directories marked with the caller's
// owner whose lock nobody holds.
#pragma once

#include <sys/types.h>

#include <string>

#include "common/process_identity.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace kata::sandbox {

// Owner keys, as SandboxConfig::owner.
std::string ContainerdOwner(const std::string& address, const std::string& ns);
std::string KataRuntimeOwner(const std::string& service_socket);
// For RemoveVmLeftovers: any owner (the VM cache's own VMs).
inline constexpr const char* kAnyOwner = "*";

// Marks the (new, empty) `run_dir` as `owner`'s; the returned fd holds the
// lock. Closing it (the sandbox's end) releases the directory.
Result<UniqueFd> ClaimVmDir(const std::string& run_dir, const std::string& owner);
// "" when `owner` may remove the leftovers in `run_dir` (its mark, or any
// mark for kAnyOwner, and no live sandbox holding the lock); else why not.
// While the returned lock fd is open nobody else can claim them.
std::string WhyNotMine(const std::string& run_dir, const std::string& owner, UniqueFd* lock);

// The VMM's identity, recorded in `run_dir` once it runs, so that clean-up
// never kills a process that merely inherited its pid.
Status RecordVmm(const std::string& run_dir, pid_t pid);
Result<proc::Identity> RecordedVmm(const std::string& run_dir);

}  // namespace kata::sandbox
