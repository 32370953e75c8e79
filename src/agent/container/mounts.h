// Child side: spec.mounts inside the rootfs, destinations resolved in root
// (a symlink in the image cannot point a mount outside the container).
#pragma once

#include "agent/container/child_util.h"
#include "agent/container/plan.h"

namespace kata::agent::child {

// rootfd: directory fd of the rootfs (after it was bind-mounted on itself).
Step DoMount(int rootfd, const MountStep& m);
// For a container with a user namespace, run by the agent (root of the
// guest) before the child starts: every mount point made beforehand.
// virtio-fs creates files as the caller's uid without the guest's
// capabilities, so the mapped root could not add a mount point to a
// directory it owns but may not write (podman's images: "/" is 0555). The
// points are owned by root (hidden under their mounts). Best effort: what
// fails here is tried again, and reported, by DoMount.
void PrecreateMountPoints(const LaunchPlan& plan, int rootfd);
// Mount flags of the mount `fd` is on, limited to those a bind remount must
// keep (nosuid, nodev, noexec: locked in user namespaces).
unsigned long LockedFlags(int fd);

}  // namespace kata::agent::child
