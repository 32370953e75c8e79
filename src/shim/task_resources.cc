// Task methods about a running container's resources: pause/resume (guest
// cgroup freezer), update, terminal size, statistics. Registered by
// TaskService::Register (task_service.cc).
#include "cgroups_v2.pb.h"
#include "events.pb.h"
#include "shim/task_service.h"
#include "shim/task_api.h"
#include "task.pb.h"
#include "wkt.pb.h"

namespace kata::shim {
namespace {

// The guest's cgroup v2 numbers in the message containerd decodes.
io::containerd::cgroups::v2::Metrics ToCgroupsV2Metrics(const grpc::StatsContainerResponse& s) {
  io::containerd::cgroups::v2::Metrics m;
  m.mutable_pids()->set_current(s.pids().current());
  m.mutable_pids()->set_limit(s.pids().limit());
  auto* cpu = m.mutable_cpu();
  cpu->set_usage_usec(s.cpu().usage_usec());
  cpu->set_user_usec(s.cpu().user_usec());
  cpu->set_system_usec(s.cpu().system_usec());
  cpu->set_nr_periods(s.cpu().nr_periods());
  cpu->set_nr_throttled(s.cpu().nr_throttled());
  cpu->set_throttled_usec(s.cpu().throttled_usec());
  auto* mem = m.mutable_memory();
  mem->set_usage(s.memory().usage());
  mem->set_usage_limit(s.memory().limit());
  mem->set_swap_usage(s.memory().swap_usage());
  mem->set_swap_limit(s.memory().swap_limit());
  const auto& stat = s.memory().stat();
  auto get = [&stat](const char* k) { auto it = stat.find(k); return it == stat.end() ? 0 : it->second; };
  mem->set_anon(get("anon"));
  mem->set_file(get("file"));
  mem->set_kernel_stack(get("kernel_stack"));
  mem->set_slab(get("slab"));
  mem->set_sock(get("sock"));
  mem->set_shmem(get("shmem"));
  mem->set_file_mapped(get("file_mapped"));
  return m;
}

}  // namespace

Result<Empty> TaskService::Pause(const task::PauseRequest& req) {
  ASSIGN_OR_RETURN(ContainerRef c, Find(req.id()));
  RETURN_IF_ERROR(c->Pause());
  containerd::events::TaskPaused ev;
  ev.set_container_id(req.id());
  Publish(kTopicPaused, "containerd.events.TaskPaused", ev);
  return Empty();
}

Result<Empty> TaskService::Resume(const task::ResumeRequest& req) {
  ASSIGN_OR_RETURN(ContainerRef c, Find(req.id()));
  RETURN_IF_ERROR(c->Resume());
  containerd::events::TaskResumed ev;
  ev.set_container_id(req.id());
  Publish(kTopicResumed, "containerd.events.TaskResumed", ev);
  return Empty();
}

Result<Empty> TaskService::Update(const task::UpdateTaskRequest& req) {
  ASSIGN_OR_RETURN(ContainerRef c, Find(req.id()));
  // containerd sends runtime-spec LinuxResources as JSON in the Any.
  RETURN_IF_ERROR(c->Update(req.resources().value()));
  return Empty();
}

Result<Empty> TaskService::ResizePty(const task::ResizePtyRequest& req) {
  ASSIGN_OR_RETURN(ContainerRef c, Find(req.id()));
  ASSIGN_OR_RETURN(ProcessRef p, FindProcess(c, req.exec_id()));
  RETURN_IF_ERROR(p->Resize(req.height(), req.width()));
  return Empty();
}

Result<task::StatsResponse> TaskService::Stats(const task::StatsRequest& req) {
  ASSIGN_OR_RETURN(ContainerRef c, Find(req.id()));
  ASSIGN_OR_RETURN(grpc::StatsContainerResponse s, c->Stats());
  task::StatsResponse r;
  r.mutable_stats()->set_type_url("io.containerd.cgroups.v2.Metrics");
  r.mutable_stats()->set_value(ToCgroupsV2Metrics(s).SerializeAsString());
  return r;
}

}  // namespace kata::shim
