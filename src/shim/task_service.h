// containerd.task.v2.Task served over ttrpc: the one implementation of "a
// sandbox and its containers". containerd talks to it directly; kata-runtime
// (the OCI command line) is a client of the same service.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>

#include "config/config.h"
#include "shim/events.h"
#include "sandbox/container.h"
#include "sandbox/sandbox.h"
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
  void Register(ttrpc::Server& server);
  // Deletes every container and stops the VM (service exit, SIGTERM).
  void Teardown();

 private:
  // Event bookkeeping per process: /tasks/exit must follow /tasks/start (or
  // exec-started) and precede /tasks/delete, whatever order the exit, the
  // Start RPC and the Wait/Delete RPCs race in.
  struct ProcEvents {
    bool started = false;
    bool exited = false;          // exit known, not necessarily published
    bool exit_published = false;
    sandbox::ExitInfo exit;
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
  void PublishExitLocked(const ProcKey& key, ProcEvents& pe);  // requires ev_mu_
  void EnsureExitPublished(const std::string& cid, const std::string& exec_id, const sandbox::ExitInfo& e);
  void OnVmExit();
  // An OOM kill in a container's guest cgroup: containerd's TaskOOM.
  void PublishOom(const std::string& container_id);
  // Pause, Resume, Update, ResizePty, Stats (task_resources.cc).
  void RegisterResourceMethods(ttrpc::Server& server);

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
