// Stdio handed over as file descriptors. kata-runtime's monitor sends the
// caller's fds 0-2 (pipes, files, sockets, a tty) over the service's
// "<socket>.stdio" socket with SCM_RIGHTS under a random key; the Task
// request then names them "kata-fd://<key>/<n>". Passing the fd itself keeps
// the caller's file offset, and works for sockets, where reopening
// /proc/<pid>/fd/N would not.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "common/unique_fd.h"

namespace kata::sandbox {

inline constexpr const char* kFdScheme = "kata-fd://";

// Starts accepting stdio hand-overs on `path` (a detached thread).
Status ServeStdioSocket(const std::string& path);
// Client side: sends `fds` (stdin, stdout, stderr) under `key`; returns once stored.
Status SendStdio(const std::string& path, const std::string& key, const std::vector<int>& fds);
// A dup of fd `n` stored under `key`, for a "kata-fd://key/n" path.
Result<UniqueFd> TakeStdio(const std::string& uri);
// Closes what is stored under the key of `uri` (once a process has its fds).
void ReleaseStdio(const std::string& uri);

}  // namespace kata::sandbox
