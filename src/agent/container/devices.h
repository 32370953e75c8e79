// Child side: device nodes and the /dev links runtime-linux.md requires.
#pragma once

#include "agent/container/child_util.h"
#include "agent/container/plan.h"

namespace kata::agent::child {

// mknod each device in the rootfs (an existing node is kept); where mknod is
// not permitted (user namespace) bind-mount the agent's node instead.
Step CreateDevices(int rootfd, const LaunchPlan& plan);
// /dev/fd, /dev/stdin, /dev/stdout, /dev/stderr, /dev/core, /dev/ptmx ->
// pts/ptmx, and the /dev/pts and /dev/shm directories.
Step CreateDevLinks(int rootfd);

}  // namespace kata::agent::child
