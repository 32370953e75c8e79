// The container spec as the guest gets it (upstream Kata's constrainGRPCSpec):
// what names host things is rewritten or dropped, since the guest has its
// own kernel, CPUs and devices.
//  - Namespaces: the pod's pid/ipc/uts (containerd names them
//    /proc/<VMM pid>/ns/<type>) become kGuestSandboxNsDir/<type>, which the
//    agent resolves to the sandbox container's; other paths cannot be joined
//    from a VM (a new namespace of that type); the network namespace goes
//    (the guest's is the pod's, shared by all its containers).
//  - The pod's sandbox container is marked (Kata's container_type annotation)
//    so that the agent captures its namespaces.
//  - Resources that name host devices or controllers the guest lacks
//    (blockIO, hugepage limits, net_cls/net_prio, rdma) are not the guest's
//    to honour: dropped, with a log line. Limits the guest can apply (memory,
//    CPU shares/quota, pids, devices) stay; a cpuset stays and the agent
//    applies it only when the guest has all the CPUs/nodes it names.
//  - linux.seccomp goes when disable_guest_seccomp is set.
#pragma once

#include <sys/types.h>

#include <string>

#include <nlohmann/json.hpp>

namespace kata::sandbox {

struct GuestSpecContext {
  pid_t vmm_pid = -1;         // the pid the runtime reports for the sandbox task
  bool pod_sandbox = false;   // the sandbox's own (pause) container
  bool guest_seccomp = true;  // keep linux.seccomp
};

void AdaptSpecForGuest(nlohmann::json& spec, const GuestSpecContext& ctx);

// The name of a container's `index`th bind mount in the share (and so the
// source the guest's mount table shows): "mounts/<index>-<source's base
// name>", so that tools matching a mount by its source's name find it, as
// with upstream Kata's "<id>-<random>-<name>". Characters outside
// [A-Za-z0-9._-] become '_'; the name is cut to 64.
std::string ShareNameForMount(size_t index, const std::string& source);

}  // namespace kata::sandbox
