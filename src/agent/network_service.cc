// Network RPCs: UpdateInterface, UpdateRoutes (see guest_network.h).
#include "agent.pb.h"
#include "agent/agent_service.h"
#include "agent/guest_network.h"
#include "agent/rpc_handlers.h"

namespace kata::agent {

void AgentService::RegisterNetwork(ttrpc::Server& server) {
  server.Register(kAgentService, "UpdateInterface",
                  TypedHandler<grpc::UpdateInterfaceRequest, grpc::Interface>(
                      [](const CallContext&, const grpc::UpdateInterfaceRequest& req) -> Result<grpc::Interface> {
                        RETURN_IF_ERROR(ConfigureInterface(req.interface()));
                        return req.interface();
                      }));
  server.Register(kAgentService, "UpdateRoutes",
                  TypedHandler<grpc::UpdateRoutesRequest, grpc::Routes>(
                      [](const CallContext&, const grpc::UpdateRoutesRequest& req) -> Result<grpc::Routes> {
                        RETURN_IF_ERROR(AddRoutes(req.routes()));
                        return req.routes();
                      }));
}

}  // namespace kata::agent
