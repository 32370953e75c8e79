// File work that is safe under a tree someone else can write while it runs
// (the guest writes the sandbox's share through 9p): every step is relative
// to an open directory fd, no symlink is ever followed, no mount crossed.
#pragma once

#include <sys/types.h>

#include <string>

#include "common/status.h"
#include "common/unique_fd.h"

namespace kata::fs {

// An O_PATH fd of the directory `path`, refusing a symlink in any of its
// components (openat2 RESOLVE_NO_SYMLINKS).
Result<UniqueFd> OpenDirNoSymlinks(const std::string& path);
// An O_PATH fd of `rel` below the directory `dir`: never above it (no ".."
// out, no absolute path), no symlink followed; mounts on the way are
// crossed (the share's binds are mounts).
Result<UniqueFd> OpenBeneath(int dir, const std::string& rel);
// mkdir -p of `rel` (relative, no ".." components) below the directory
// `dir`: each component is made with mkdirat and entered with O_NOFOLLOW,
// so a symlink planted on the way fails the call instead of being followed.
// Returns an O_PATH fd of the last directory.
Result<UniqueFd> MkdirsBelow(int dir, const std::string& rel, mode_t mode);
// An empty regular file `name` in `dir` (kept if it is one already, refused
// if it is anything else); returns an O_PATH fd of it. For mount points.
Result<UniqueFd> MakeFileIn(int dir, const std::string& name, mode_t mode);
// Removes `path` and everything below it: openat/unlinkat from the top,
// never following a symlink (a link is removed, not its target), refusing
// to enter another file system (a mount point in the way is an error).
Status RemoveTreeNoFollow(const std::string& path);

}  // namespace kata::fs
