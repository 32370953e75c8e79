// The mount namespace a sandbox's VMM and its file server (virtiofsd) run
// in: a slave of ours (host mounts still show through, its own never leak
// out) in which the share's `exported` directory is a read-only, nosuid,
// nodev view of `source`, and `source` a shared mount. A bind the host
// attaches below `source` later, from inside this namespace
// (sandbox/share.h), appears below `exported` with its own flags: the guest
// can write into such binds but never into the share's own directories,
// where the host works. docs/security.md.
#pragma once

#include <string>

#include "common/status.h"
#include "common/unique_fd.h"

namespace kata::vmm {

// Makes the namespace (on a short-lived thread; this process stays where it
// is) and returns an fd to it: processes spawned with
// SpawnOptions::mount_ns_fd join it. It lives while the fd or a process in
// it does, and its mounts vanish with it.
Result<UniqueFd> MakeShareNamespace(const std::string& source, const std::string& exported);

}  // namespace kata::vmm
