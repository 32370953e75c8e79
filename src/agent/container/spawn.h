// Starting a child process for container code.
//
// The child comes from a raw clone(2) (so it can get new namespaces and be
// the caller's direct child) and runs `fn`, which must follow child_util.h's
// rules and never return. When namespaces must be joined first (a container's
// pid namespace for exec, linux.namespaces paths), a short-lived helper
// thread unshares its fs_struct, setns()es, optionally chroots, and clones
// from there: the child inherits all of it and is still a child of this
// process; the caller's own threads are never moved.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/status.h"

namespace kata::agent {

struct NsJoin {
  int fd;            // open /proc/<pid>/ns/<x> or a linux.namespaces path
  int nstype;        // CLONE_NEW*
  std::string what;  // for errors: "/proc/42/ns/mnt"
};

struct SpawnOptions {
  unsigned long clone_flags = 0;  // CLONE_NEW* for the child (SIGCHLD is added)
  std::vector<NsJoin> joins;      // joined in order before the clone
  int chroot_dirfd = -1;          // after the joins: fchdir + chroot(".")
};

using ChildFn = void (*)(void* arg);

// The child's pid. Does not wait for the child.
Result<pid_t> Spawn(const SpawnOptions& opts, ChildFn fn, void* arg);

}  // namespace kata::agent
