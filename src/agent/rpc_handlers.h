// What every file that registers agent RPCs needs: the ttrpc service name
// (upstream Kata's, grpc.AgentService) and the handler types.
#pragma once

#include "ttrpc/server.h"
#include "wkt.pb.h"

namespace kata::agent {

inline constexpr const char* kAgentService = "grpc.AgentService";

using ttrpc::CallContext;
using ttrpc::TypedHandler;
using Empty = kata::wkt::Empty;

}  // namespace kata::agent
