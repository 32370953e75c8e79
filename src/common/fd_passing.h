// Passing file descriptors over unix sockets (SCM_RIGHTS): the caller's
// stdio to the sandbox service, a pty master to a --console-socket.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace kata {

Status SendFds(int sock, const std::string& payload, const std::vector<int>& fds);
// Receives one message: up to 4096 bytes of payload and up to `max_fds` fds
// (which the caller then owns).
Status RecvFds(int sock, std::string* payload, std::vector<int>* fds, size_t max_fds);

}  // namespace kata
