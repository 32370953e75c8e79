// TCP connections the host opened to ports inside the guest (our own
// kata.portforward.PortForward service; see proto/port_forward.proto): the
// host relays containerd's CRI port forward through them.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/status.h"
#include "common/unique_fd.h"
#include "ttrpc/server.h"

namespace kata::agent {

class PortForwardStreams {
 public:
  // At most this many open at once: each holds a socket and, while the host
  // waits for data, a serving thread.
  static constexpr size_t kMaxStreams = 128;

  // Connects to 127.0.0.1:port (the guest's, which is the pod's network).
  Result<uint64_t> Connect(uint32_t port);
  // Blocks until data arrives; empty = the guest side closed (or Close ran).
  Result<std::string> Read(uint64_t stream, uint32_t len);
  Status Write(uint64_t stream, const std::string& data);
  Status CloseWrite(uint64_t stream);
  // Forgets the stream; a Read blocked on it returns end of stream.
  Status Close(uint64_t stream);

  void Register(ttrpc::Server& server);

 private:
  struct Stream {
    UniqueFd sock;
  };
  Result<std::shared_ptr<Stream>> Find(uint64_t stream);

  std::mutex mu_;
  std::map<uint64_t, std::shared_ptr<Stream>> streams_;
  uint64_t next_ = 1;
};

}  // namespace kata::agent
