// containerd.task.v2.Task served over ttrpc: the one implementation of "a
// sandbox and its containers". containerd talks to it directly; kata-runtime
// (the OCI command line) is a client of the same service.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>

#include <nlohmann/json.hpp>

#include "config/config.h"
#include "shim/events.h"
#include "sandbox/container.h"
#include "sandbox/rootfs_source.h"
#include "sandbox/sandbox.h"
#include "shim/task_api.h"
#include "ttrpc/server.h"

namespace kata::shim {

// Shared: a request may still hold one while another deletes it.
using ContainerRef = std::shared_ptr<sandbox::Container>;
using ProcessRef = std::shared_ptr<sandbox::HostProcess>;

class TaskService {
 public:
  // `on_shutdown` is called when Shutdown leaves the service with nothing to serve.
  TaskService(config::LoadedConfig cfg, std::function<void()> on_shutdown)
      : cfg_(std::move(cfg)), on_shutdown_(std::move(on_shutdown)) {}
  // Where task events go (not owned; must outlive the service). Optional.
  void SetPublisher(EventPublisher* publisher) { publisher_ = publisher; }
  // Who runs this service's sandbox (sandbox/ownership.h).
  void SetOwner(std::string owner) { owner_ = std::move(owner); }
  // kata-runtime's service: each OOM kill also appends the container's id
  // to this file, which `kata-runtime events` follows (runc's "oom" event).
  void SetOomRecord(std::string path) { oom_record_ = std::move(path); }
  // Serves the methods below on `server` (a table: task_service.cc).
  void Register(ttrpc::Server& server);
  // Deletes every container and stops the VM (service exit, SIGTERM).
  void Teardown();

  // containerd.task.v2.Task, one method per RPC (task_lifecycle.cc,
  // task_resources.cc).
  Result<task::CreateTaskResponse> Create(const task::CreateTaskRequest& req);
  Result<task::StartResponse> Start(const task::StartRequest& req);
  Result<task::StateResponse> State(const task::StateRequest& req);
  Result<Empty> Kill(const task::KillRequest& req);
  Result<task::WaitResponse> Wait(const task::WaitRequest& req);
  Result<Empty> Exec(const task::ExecProcessRequest& req);
  Result<Empty> CloseIO(const task::CloseIORequest& req);
  Result<task::DeleteResponse> Delete(const task::DeleteRequest& req);
  Result<task::PidsResponse> Pids(const task::PidsRequest& req);
  Result<task::ConnectResponse> Connect(const task::ConnectRequest& req);
  Result<Empty> Shutdown(const task::ShutdownRequest& req);
  Result<Empty> Pause(const task::PauseRequest& req);
  Result<Empty> Resume(const task::ResumeRequest& req);
  Result<Empty> Update(const task::UpdateTaskRequest& req);
  Result<Empty> ResizePty(const task::ResizePtyRequest& req);
  Result<task::StatsResponse> Stats(const task::StatsRequest& req);

 private:
  // Event bookkeeping per process: where it is in the event order
  // (sandbox/lifecycle.h ProcessEvents) and the first exit known.
  struct ProcEvents {
    sandbox::ProcessEvents state = sandbox::ProcessEvents::kCreated;
    sandbox::ExitInfo exit;
    bool started() const {
      return state == sandbox::ProcessEvents::kStarted || state == sandbox::ProcessEvents::kExitPublished;
    }
  };
  using ProcKey = std::pair<std::string, std::string>;  // container id, exec id

  Result<ContainerRef> Find(const std::string& id);
  Result<ProcessRef> FindProcess(const ContainerRef& c, const std::string& exec_id);
  uint32_t TaskPid();
  template <typename Msg>
  void Publish(const char* topic, const char* type, const Msg& m) {
    if (publisher_) publisher_->Publish(topic, type, m);
  }
  void WatchExit(const std::string& cid, const std::string& exec_id, sandbox::HostProcess* p);
  void MarkStarted(const std::string& cid, const std::string& exec_id);
  void PublishExitLocked(const ProcKey& key, const ProcEvents& pe);  // requires ev_mu_
  void EnsureExitPublished(const std::string& cid, const std::string& exec_id, const sandbox::ExitInfo& e);
  void OnVmExit();
  // An OOM kill in a container's guest cgroup: containerd's TaskOOM.
  void PublishOom(const std::string& container_id);
  // Create's steps (mu_ held).
  Status CheckJoinsThisSandbox(const std::string& id, const std::map<std::string, std::string>& annotations);
  Status BootSandbox(const std::string& id, const nlohmann::json& spec,
                     const std::map<std::string, std::string>& annotations,
                     const sandbox::RootfsSource& rootfs);
  Result<ContainerRef> CreateContainer(const task::CreateTaskRequest& req, nlohmann::json spec, bool first,
                                       sandbox::RootfsSource rootfs);
  void PublishCreate(const task::CreateTaskRequest& req, uint32_t pid);
  Result<task::DeleteResponse> DeleteExec(const ContainerRef& c, const task::DeleteRequest& req);

  config::LoadedConfig cfg_;
  std::function<void()> on_shutdown_;
  std::string oom_record_;
  std::string owner_ = "unknown";
  std::mutex mu_;  // guards sandbox_ and containers_ (not held across waits)
  std::unique_ptr<sandbox::Sandbox> sandbox_;
  std::map<std::string, ContainerRef> containers_;
  std::set<std::string> mounted_rootfs_;  // bundles whose rootfs this shim mounted
  EventPublisher* publisher_ = nullptr;
  std::atomic<uint32_t> task_pid_{0};  // the VMM's pid: what containerd sees as the task pid
  std::mutex ev_mu_;  // guards procs_; events are queued under it, so in order
  std::map<ProcKey, ProcEvents> procs_;
  std::mutex vm_exit_mu_;
  bool torn_down_ = false;
  std::thread vm_exit_cleanup_;  // removes the dead VM's directories and mounts
};

}  // namespace kata::shim
