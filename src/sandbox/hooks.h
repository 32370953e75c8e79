// OCI hooks that run on the host with the container's state JSON on stdin
// (runtime-spec config.md "POSIX-platform Hooks"): prestart, createRuntime,
// poststart and poststop in the runtime's namespaces. createContainer hooks
// belong in the container's namespaces, which are in the guest; like Kata's
// runtime-rs they run on the host in the VMM's network namespace (the pod's),
// right after createRuntime. startContainer hooks run in the guest container,
// started by the agent (src/agent/container/start_hooks.h).
#pragma once

#include <map>
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
  std::map<std::string, std::string> annotations;  // the spec's, as the OCI state carries them
};

// Runs each hook in order; the first failure (non-zero exit, timeout, exec
// error) is returned naming the hook kind and path. netns_fd >= 0: the hooks
// run in that network namespace.
Status RunHooks(const std::string& kind, const std::vector<oci::Hook>& hooks, const HookState& state, int netns_fd = -1);

}  // namespace kata::sandbox
