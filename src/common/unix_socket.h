// Unix stream sockets: ttrpc's transport (containerd, shims, the host end
// of the agent's channel) and the sockets handed to helper daemons
// (virtiofsd --fd).
#pragma once

#include <string>

#include "common/status.h"

namespace kata {

// Connects to a listening unix socket; returns the blocking, CLOEXEC fd.
Result<int> DialUnix(const std::string& path);

// Binds and listens on `path` with mode 0600 (only our uid may call us).
// A stale socket left by a previous process is removed first; any other
// kind of file at `path` is left alone and makes bind fail.
Result<int> ListenUnix(const std::string& path);

}  // namespace kata
