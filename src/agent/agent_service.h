// grpc.AgentService and grpc.Health handlers, registered on a ttrpc server.
#pragma once

#include "agent/process_table.h"
#include "ttrpc/server.h"

namespace kata::agent {

struct AgentOptions {
  // Where the kataShared 9p share is mounted; container rootfs paths are under it.
  std::string shared_mount = "/run/kata-containers/shared/containers";
  // False when the agent runs on a host for tests: no 9p, no clock, no hostname.
  bool guest = true;
};

class AgentService {
 public:
  explicit AgentService(AgentOptions opts) : opts_(std::move(opts)) {}
  void Register(ttrpc::Server& server);

 private:
  ProcessTable table_;
  AgentOptions opts_;
};

}  // namespace kata::agent
