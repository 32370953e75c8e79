// Child side: spec.mounts inside the rootfs, destinations resolved in root
// (a symlink in the image cannot point a mount outside the container).
#pragma once

#include "agent/container/child_util.h"
#include "agent/container/plan.h"

namespace kata::agent::child {

// rootfd: directory fd of the rootfs (after it was bind-mounted on itself).
Step DoMount(int rootfd, const MountStep& m);
// Mount flags of the mount `fd` is on, limited to those a bind remount must
// keep (nosuid, nodev, noexec: locked in user namespaces).
unsigned long LockedFlags(int fd);

}  // namespace kata::agent::child
