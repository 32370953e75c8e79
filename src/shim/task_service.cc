// containerd.task.v2.Task's bookkeeping: which containers and processes exist,
// the events they publish and in what order, the VM's death, teardown; and
// the table that serves each RPC by its method (task_lifecycle.cc,
// task_resources.cc).
#include "shim/task_service.h"
#include "shim/task_api.h"

#include <fcntl.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/log.h"
#include "common/unique_fd.h"
#include "events.pb.h"
#include "task.pb.h"
#include "wkt.pb.h"

namespace kata::shim {

Result<ProcessRef> TaskService::FindProcess(const ContainerRef& c, const std::string& exec_id) {
  return c->Process(exec_id);
}

void TaskService::PublishExitLocked(const ProcKey& key, const ProcEvents& pe) {
  containerd::events::TaskExit ev;
  ev.set_container_id(key.first);
  ev.set_id(key.second.empty() ? key.first : key.second);
  ev.set_pid(TaskPid());
  ev.set_exit_status(static_cast<uint32_t>(pe.exit.status));
  SetTimestamp(ev.mutable_exited_at(), pe.exit.at);
  Publish(kTopicExit, "containerd.events.TaskExit", ev);
}

void TaskService::EnsureExitPublished(const std::string& cid, const std::string& exec_id, const sandbox::ExitInfo& e) {
  std::lock_guard<std::mutex> lock(ev_mu_);
  ProcKey key{cid, exec_id};
  auto it = procs_.find(key);
  if (it == procs_.end()) return;  // deleted already: its exit went out before
  ProcEvents& pe = it->second;
  auto step = sandbox::NextProcessStep(pe.state, sandbox::ProcessEvent::kExit, exec_id.empty() ? cid : exec_id);
  if (!step.ok()) return;  // an exit is never refused (lifecycle.cc)
  if (step->records_exit) pe.exit = e;
  pe.state = step->to;
  if (step->publish_exit) PublishExitLocked(key, pe);
}

void TaskService::WatchExit(const std::string& cid, const std::string& exec_id, sandbox::HostProcess* p) {
  p->SetExitObserver([this, cid, exec_id](const sandbox::ExitInfo& e) { EnsureExitPublished(cid, exec_id, e); });
}

void TaskService::MarkStarted(const std::string& cid, const std::string& exec_id) {
  std::lock_guard<std::mutex> lock(ev_mu_);
  ProcKey key{cid, exec_id};
  ProcEvents& pe = procs_[key];
  auto step = sandbox::NextProcessStep(pe.state, sandbox::ProcessEvent::kStart, exec_id.empty() ? cid : exec_id);
  if (!step.ok()) return;  // published already (Start refuses a second start before this)
  pe.state = step->to;
  if (exec_id.empty()) {
    containerd::events::TaskStart ev;
    ev.set_container_id(cid);
    ev.set_pid(TaskPid());
    Publish(kTopicStart, "containerd.events.TaskStart", ev);
  } else {
    containerd::events::TaskExecStarted ev;
    ev.set_container_id(cid);
    ev.set_exec_id(exec_id);
    ev.set_pid(TaskPid());
    Publish(kTopicExecStarted, "containerd.events.TaskExecStarted", ev);
  }
  if (step->publish_exit) PublishExitLocked(key, pe);  // a process that exited before Start was answered
}

// The VM died: the agent connection is closed, so every process reports exit
// (status 255) through its waiter. Remove what the VM left on the host now;
// the containers stay listed (stopped) until containerd deletes them.
void TaskService::PublishOom(const std::string& container_id) {
  containerd::events::TaskOOM ev;
  ev.set_container_id(container_id);
  Publish(kTopicOOM, "containerd.events.TaskOOM", ev);
  if (oom_record_.empty()) return;
  UniqueFd fd(open(oom_record_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid() || !fs::WriteAll(fd.get(), container_id + "\n")) {
    log::Warn("record the OOM of " + container_id + " in " + oom_record_);
  }
}

void TaskService::OnVmExit() {
  std::lock_guard<std::mutex> lock(vm_exit_mu_);
  if (torn_down_ || vm_exit_cleanup_.joinable()) return;
  vm_exit_cleanup_ = std::thread([this] {
    std::lock_guard<std::mutex> lock(mu_);
    if (!sandbox_) return;
    Status st = sandbox_->Shutdown();
    if (!st.ok()) log::Warn("cleanup after the VM died: " + st.message());
  });
}

Result<ContainerRef> TaskService::Find(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = containers_.find(id);
  if (it == containers_.end()) return Error(Code::kNotFound, "container " + id + " does not exist");
  return it->second;
}

uint32_t TaskService::TaskPid() { return task_pid_.load(); }

void TaskService::Teardown() {
  {
    std::lock_guard<std::mutex> lock(vm_exit_mu_);
    torn_down_ = true;
  }
  if (vm_exit_cleanup_.joinable()) vm_exit_cleanup_.join();
  std::map<std::string, ContainerRef> containers;
  std::unique_ptr<sandbox::Sandbox> sb;
  {
    std::lock_guard<std::mutex> lock(mu_);
    containers.swap(containers_);
    sb.swap(sandbox_);
  }
  // Deleted here, while the sandbox exists (killing what still runs): a
  // request that still holds one must not be the one to do it later.
  for (auto& [id, c] : containers) {
    if (Status st = c->Delete(true); !st.ok()) log::Warn("delete container " + id + ": " + st.message());
  }
  containers.clear();
  if (sb) {
    Status st = sb->Shutdown();
    if (!st.ok()) log::Error("shutting down sandbox: " + st.message());
  }
}

void SetTimestamp(wkt::Timestamp* ts, std::chrono::system_clock::time_point t) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  ts->set_seconds(ns / 1000000000);
  ts->set_nanos(static_cast<int32_t>(ns % 1000000000));
}

void TaskService::Register(ttrpc::Server& server) {
  ttrpc::Bind(server, kTaskService, "Create", this, &TaskService::Create);
  ttrpc::Bind(server, kTaskService, "Start", this, &TaskService::Start);
  ttrpc::Bind(server, kTaskService, "State", this, &TaskService::State);
  ttrpc::Bind(server, kTaskService, "Kill", this, &TaskService::Kill);
  ttrpc::Bind(server, kTaskService, "Wait", this, &TaskService::Wait);
  ttrpc::Bind(server, kTaskService, "Exec", this, &TaskService::Exec);
  ttrpc::Bind(server, kTaskService, "CloseIO", this, &TaskService::CloseIO);
  ttrpc::Bind(server, kTaskService, "Delete", this, &TaskService::Delete);
  ttrpc::Bind(server, kTaskService, "Pids", this, &TaskService::Pids);
  ttrpc::Bind(server, kTaskService, "Connect", this, &TaskService::Connect);
  ttrpc::Bind(server, kTaskService, "Shutdown", this, &TaskService::Shutdown);
  ttrpc::Bind(server, kTaskService, "Pause", this, &TaskService::Pause);
  ttrpc::Bind(server, kTaskService, "Resume", this, &TaskService::Resume);
  ttrpc::Bind(server, kTaskService, "Update", this, &TaskService::Update);
  ttrpc::Bind(server, kTaskService, "ResizePty", this, &TaskService::ResizePty);
  ttrpc::Bind(server, kTaskService, "Stats", this, &TaskService::Stats);
  server.Register(kTaskService, "Checkpoint", [](const CallContext&, const std::string&) -> Result<std::string> {
    return Error(Code::kUnimplemented, "Checkpoint is not implemented yet");
  });
}

}  // namespace kata::shim
