// The pod's shared namespaces in the guest. containerd asks each container of
// a pod to join the pause (sandbox) container's pid, ipc and uts namespaces;
// the runtime names them kGuestSandboxNsDir/<type> in the spec it sends
// (sandbox/container.cc). The agent captures them from the sandbox
// container's init when it is created and points later specs at them.
#pragma once

#include <sys/types.h>

#include <map>
#include <mutex>
#include <string>

#include "common/status.h"
#include "common/unique_fd.h"
#include "oci/spec.h"

namespace kata::agent {

// True when the spec is the pod's sandbox container (Kata's annotation).
bool IsSandboxContainer(const oci::Spec& spec);

class SandboxNamespaces {
 public:
  // Holds the pid, ipc and uts namespaces of `init_pid`, the sandbox
  // container's not-yet-started init.
  Status Capture(pid_t init_pid);
  // Rewrites every kGuestSandboxNsDir/<type> path of `spec` to a file that
  // opens the captured namespace; an error names a namespace not captured.
  Status Resolve(oci::Spec& spec) const;
  // The sandbox container is gone: later containers cannot join it.
  void Release();

 private:
  mutable std::mutex mu_;
  std::map<std::string, UniqueFd> fds_;  // by namespace type
};

}  // namespace kata::agent
