// Child side: the container's filesystem view, in its new mount namespace.
//
//   PrepareRootfs   / rprivate, rootfs bind-mounted on itself (so it is a
//                   mount point), spec.mounts, devices, /dev links
//   EnterRootfs     pivot_root into it and detach the old root; MS_MOVE +
//                   chroot when asked (no_pivot) or when pivot_root says
//                   EINVAL (the agent's root is the initramfs)
//   FinalizeRootfs  rootfsPropagation, maskedPaths, readonlyPaths, cwd,
//                   read-only root
#pragma once

#include "agent/container/child_util.h"
#include "agent/container/plan.h"

namespace kata::agent::child {

// *rootfd: directory fd of the bind-mounted rootfs (O_CLOEXEC).
Step PrepareRootfs(const LaunchPlan& plan, int* rootfd);
Step EnterRootfs(const LaunchPlan& plan, int rootfd);
Step FinalizeRootfs(const LaunchPlan& plan);

}  // namespace kata::agent::child
