// Unix stream sockets, the transport ttrpc uses (containerd, shims, and the
// host end of the agent's virtio-serial/vsock proxy).
#pragma once

#include <string>

#include "common/status.h"

namespace kata::ttrpc {

// Connects to a listening unix socket; returns the blocking, CLOEXEC fd.
Result<int> DialUnix(const std::string& path);

// Binds and listens on `path` with mode 0600 (only our uid may call us).
// A stale socket left by a previous process is removed first; any other
// kind of file at `path` is left alone and makes bind fail.
Result<int> ListenUnix(const std::string& path);

}  // namespace kata::ttrpc
