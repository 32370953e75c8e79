// OCI startContainer hooks, run by the container's init in the container:
// after start, before the container process is exec'd, with the init's
// namespaces, root, user and capabilities (runc runs them at the same point:
// after its credentials are set, before the late seccomp filter). Each hook
// gets the container state on stdin; a hook that fails (non-zero exit,
// timeout, no such binary) fails the start with its path in the message.
#pragma once

#include <string>

#include "agent/container/child_util.h"
#include "agent/container/plan.h"

namespace kata::agent {

// Parent side: the hooks of `spec` (hooks.startContainer) into plan->start_hooks.
void BuildStartHooks(const oci::Spec& spec, const std::string& id, const std::string& bundle, LaunchPlan* plan);

namespace child {
// Child side (child_util.h rules): runs plan.start_hooks in order.
Step RunStartHooks(const LaunchPlan& plan);
}  // namespace child

}  // namespace kata::agent
