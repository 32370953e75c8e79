// Paths resolved inside a root directory, as if it were "/": symlinks,
// absolute or relative, and ".." never lead out of it. For work under a tree
// someone else can write (a container's rootfs). Allocation-free and
// lock-free: safe in a child between clone() and exec (the agent's
// container setup) as well as anywhere on the host.
#pragma once

#include <sys/types.h>

namespace kata::fs {

// openat2(rootfd, rel, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): `rel`
// (no leading '/') resolved as if rootfd were "/", symlinks included. -1 + errno.
int OpenInRoot(int rootfd, const char* rel, int flags);
// mkdir -p of `rel` inside rootfd (every component resolved in root).
// Returns an O_PATH fd of the directory, or -1 + errno.
int MkdirAllInRoot(int rootfd, const char* rel, mode_t mode);

}  // namespace kata::fs
