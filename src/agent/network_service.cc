// Network RPCs: UpdateInterface, UpdateRoutes (see guest_network.h).
#include "agent.pb.h"
#include "agent/agent_service.h"
#include "agent/guest_network.h"
#include "agent/rpc_handlers.h"

namespace kata::agent {

void AgentService::RegisterNetwork(ttrpc::Server& server) {
  ttrpc::Bind(server, kAgentService, "UpdateInterface", this, &AgentService::UpdateInterface);
  ttrpc::Bind(server, kAgentService, "UpdateRoutes", this, &AgentService::UpdateRoutes);
}

Result<grpc::Interface> AgentService::UpdateInterface(const grpc::UpdateInterfaceRequest& req) {
  RETURN_IF_ERROR(ConfigureInterface(req.interface()));
  return req.interface();
}

Result<grpc::Routes> AgentService::UpdateRoutes(const grpc::UpdateRoutesRequest& req) {
  RETURN_IF_ERROR(AddRoutes(req.routes()));
  return req.routes();
}

}  // namespace kata::agent
