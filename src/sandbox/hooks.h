// OCI hooks that run on the host, in the runtime's namespaces, with the
// container's state JSON on stdin (runtime-spec config.md "POSIX-platform Hooks").
// createContainer/startContainer belong in the container's namespaces, which
// live in the guest: they are not run (TODO: guest hooks, as Kata's guest_hook_path).
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "oci/spec.h"

namespace kata::sandbox {

struct HookState {
  std::string id;
  std::string status;
  int pid = 0;
  std::string bundle;
};

// Runs each hook in order; the first failure (non-zero exit, timeout, exec
// error) is returned naming the hook kind and path.
Status RunHooks(const std::string& kind, const std::vector<oci::Hook>& hooks, const HookState& state);

}  // namespace kata::sandbox
