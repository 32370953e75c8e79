// Child side: the container's filesystem view, in its new mount namespace.
//
//   BindRootfs      / rprivate, rootfs bind-mounted on itself (so it is a
//                   mount point)
//   OpenBindSources (user namespace) the binds' sources, as the agent's root
//   MountIntoRootfs spec.mounts, devices, /dev links
//   EnterRootfs     pivot_root into it and detach the old root; MS_MOVE +
//                   chroot when asked (no_pivot) or when pivot_root says
//                   EINVAL (the agent's root is the initramfs)
//   FinalizeRootfs  rootfsPropagation, maskedPaths, readonlyPaths, cwd,
//                   read-only root
#pragma once

#include "agent/container/child_util.h"
#include "agent/container/plan.h"
#include "common/unique_fd.h"

namespace kata::agent::child {

// *rootfd: directory fd of the bind-mounted rootfs (O_CLOEXEC, at
// kFirstFreeFd or above).
Step BindRootfs(const LaunchPlan& plan, UniqueFd* rootfd);
// Each bind's source opened (MountStep::source_fd), for a user namespace's
// root that may not reach it by its path.
Step OpenBindSources(LaunchPlan& plan);
Step MountIntoRootfs(const LaunchPlan& plan, int rootfd);
Step EnterRootfs(const LaunchPlan& plan, int rootfd);
Step FinalizeRootfs(const LaunchPlan& plan);

}  // namespace kata::agent::child
