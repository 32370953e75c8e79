// cgroup RPCs: PauseContainer/ResumeContainer (cgroup.freeze), StatsContainer,
// UpdateContainer (LinuxResources JSON -> cgroup files). See container/cgroup.h.
#include <chrono>

#include <nlohmann/json.hpp>

#include "agent.pb.h"
#include "agent/agent_service.h"
#include "agent/container/cgroup.h"
#include "agent/guest_cpus.h"
#include "agent/guest_memory.h"
#include "agent/guest_metrics.h"
#include "agent/rpc_handlers.h"
#include "common/json_parse.h"
#include "wkt.pb.h"

namespace kata::agent {
namespace {

constexpr std::chrono::seconds kFreezeTimeout{10};
constexpr size_t kMaxResourcesJson = 1 << 20;

Result<Empty> AddMemoryBlocksForHost(const CallContext&, const grpc::MemHotplugByProbeRequest& req) {
  std::vector<uint64_t> addresses(req.memhotplugprobeaddr().begin(), req.memhotplugprobeaddr().end());
  RETURN_IF_ERROR(AddMemoryBlocks(addresses));
  return Empty();
}

}  // namespace

void AgentService::RegisterResources(ttrpc::Server& server) {
  ttrpc::Bind(server, kAgentService, "PauseContainer", this, &AgentService::PauseContainer);
  ttrpc::Bind(server, kAgentService, "ResumeContainer", this, &AgentService::ResumeContainer);
  ttrpc::Bind(server, kAgentService, "StatsContainer", this, &AgentService::StatsContainer);
  ttrpc::Bind(server, kAgentService, "UpdateContainer", this, &AgentService::UpdateContainer);
  ttrpc::Bind(server, kAgentService, "GetMetrics", this, &AgentService::GetMetrics);
  ttrpc::Bind(server, kAgentService, "SetOnlineCpus", this, &AgentService::SetOnlineCpus);
  server.Register(kAgentService, "MemHotplugByProbe",
                  TypedHandler<grpc::MemHotplugByProbeRequest, Empty>(&AddMemoryBlocksForHost));
  // Long poll: the host keeps one in flight (sandbox/oom_events.h).
  ttrpc::Bind(server, kAgentService, "GetOOMEvent", this, &AgentService::GetOOMEvent);
}

// The container's cgroup, or why there is none.
Result<std::shared_ptr<Container>> AgentService::CgroupOf(const std::string& id, const char* what) {
  ASSIGN_OR_RETURN(std::shared_ptr<Container> c, table_.GetContainer(id));
  if (c->cgroup_dir.empty()) {
    return Error(Code::kUnimplemented, std::string(what) + " container " + id + ": the guest has no cgroup v2");
  }
  return c;
}

Result<Empty> AgentService::Freeze(const std::string& id, bool frozen) {
  const char* what = frozen ? "pause" : "resume";
  ASSIGN_OR_RETURN(std::shared_ptr<Container> c, CgroupOf(id, what));
  RETURN_IF_ERROR(FreezeCgroup(c->cgroup_dir, frozen, kFreezeTimeout).Wrap(std::string(what) + " container " + id));
  return Empty();
}

Result<Empty> AgentService::PauseContainer(const grpc::PauseContainerRequest& req) { return Freeze(req.container_id(), true); }

Result<Empty> AgentService::ResumeContainer(const grpc::ResumeContainerRequest& req) {
  return Freeze(req.container_id(), false);
}

Result<grpc::StatsContainerResponse> AgentService::StatsContainer(const grpc::StatsContainerRequest& req) {
  ASSIGN_OR_RETURN(std::shared_ptr<Container> c, CgroupOf(req.container_id(), "stats of"));
  ASSIGN_OR_RETURN(CgroupStats s, ReadCgroupStats(c->cgroup_dir));
  grpc::StatsContainerResponse r;
  auto* cpu = r.mutable_cpu();
  cpu->set_usage_usec(s.cpu_usage_usec);
  cpu->set_user_usec(s.cpu_user_usec);
  cpu->set_system_usec(s.cpu_system_usec);
  cpu->set_nr_periods(s.cpu_nr_periods);
  cpu->set_nr_throttled(s.cpu_nr_throttled);
  cpu->set_throttled_usec(s.cpu_throttled_usec);
  auto* mem = r.mutable_memory();
  mem->set_usage(s.memory_usage);
  mem->set_limit(s.memory_limit);
  mem->set_swap_usage(s.swap_usage);
  mem->set_swap_limit(s.swap_limit);
  for (const auto& [k, v] : s.memory_stat) (*mem->mutable_stat())[k] = v;
  r.mutable_pids()->set_current(s.pids_current);
  r.mutable_pids()->set_limit(s.pids_limit);
  for (const auto& [k, v] : s.raw) (*r.mutable_raw())[k] = v;
  for (pid_t pid : CgroupProcs(c->cgroup_dir)) r.add_pids_list(pid);
  r.set_frozen(CgroupFrozen(c->cgroup_dir));
  return r;
}

Result<Empty> AgentService::UpdateContainer(const grpc::UpdateContainerRequest& req) {
  ASSIGN_OR_RETURN(std::shared_ptr<Container> c, CgroupOf(req.container_id(), "update"));
  if (req.resources_json().size() > kMaxResourcesJson) {
    return Error(Code::kInvalidArgument, "update " + c->id + ": resources JSON too large");
  }
  ASSIGN_OR_RETURN(nlohmann::json j,
                   ParseJsonBounded(req.resources_json(), "update container " + c->id + ": resources"));
  if (!j.is_object()) {
    return Error(Code::kInvalidArgument,
                 "update container " + c->id + ": resources are not a JSON object");
  }
  RETURN_IF_ERROR(ApplyResources(c->cgroup_dir, j, c->devices).Wrap("update container " + c->id));
  return Empty();
}

Result<grpc::Metrics> AgentService::GetMetrics(const grpc::GetMetricsRequest&) {
  std::vector<std::pair<std::string, std::string>> containers;
  for (const auto& c : table_.All()) containers.emplace_back(c->id, c->cgroup_dir);
  grpc::Metrics m;
  m.set_metrics(GuestMetricsText(containers));
  return m;
}

Result<grpc::SetOnlineCpusResponse> AgentService::SetOnlineCpus(const grpc::SetOnlineCpusRequest& req) {
  ASSIGN_OR_RETURN(uint32_t online, ::kata::agent::SetOnlineCpus(req.count()));
  grpc::SetOnlineCpusResponse r;
  r.set_online(online);
  return r;
}

Result<grpc::OOMEvent> AgentService::GetOOMEvent(const grpc::GetOOMEventRequest&) {
  grpc::OOMEvent ev;
  ev.set_container_id(oom_.Next());
  return ev;
}

}  // namespace kata::agent
