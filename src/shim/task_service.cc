#include "shim/task_service.h"
#include "shim/task_api.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include "common/json_parse.h"
#include "common/fs.h"
#include "common/log.h"
#include "oci/namespace_paths.h"
#include "oci/spec_json.h"
#include "shim/sandbox_config.h"
#include "shim/rootfs_mount.h"
#include "events.pb.h"
#include "task.pb.h"
#include "wkt.pb.h"

namespace kata::shim {
namespace {

void SetTimestamp(wkt::Timestamp* ts, std::chrono::system_clock::time_point t) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  ts->set_seconds(ns / 1000000000);
  ts->set_nanos(static_cast<int32_t>(ns % 1000000000));
}

task::Status ToTaskStatus(sandbox::ContainerState s) {
  switch (s) {
    case sandbox::ContainerState::kCreated: return task::CREATED;
    case sandbox::ContainerState::kRunning: return task::RUNNING;
    case sandbox::ContainerState::kPaused: return task::PAUSED;
    case sandbox::ContainerState::kStopped: return task::STOPPED;
  }
  return task::UNKNOWN;
}

Result<nlohmann::json> LoadValidatedSpec(const std::string& bundle) {
  std::string path = fs::JoinPath(bundle, "config.json");
  auto text = fs::ReadFile(path);
  if (!text.ok()) return text.status();
  ASSIGN_OR_RETURN(nlohmann::json spec, ParseJsonBounded(*text, path));
  auto parsed = oci::ParseSpec(spec);
  if (!parsed.ok()) return parsed.status().Wrap(path);
  RETURN_IF_ERROR(oci::CheckNamespacePaths(*parsed).Wrap(path));
  return spec;
}

std::map<std::string, std::string> Annotations(const nlohmann::json& spec) {
  std::map<std::string, std::string> out;
  if (!spec.contains("annotations") || !spec["annotations"].is_object()) return out;
  for (auto& [k, v] : spec["annotations"].items())
    if (v.is_string()) out[k] = v.get<std::string>();
  return out;
}

std::string Get(const std::map<std::string, std::string>& m, const std::string& k) {
  auto it = m.find(k);
  return it == m.end() ? "" : it->second;
}

}  // namespace

Result<ProcessRef> TaskService::FindProcess(const ContainerRef& c, const std::string& exec_id) {
  return c->Process(exec_id);
}

void TaskService::PublishExitLocked(const ProcKey& key, ProcEvents& pe) {
  if (pe.exit_published || !pe.exited || !pe.started) return;
  pe.exit_published = true;
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
  if (!pe.exited) {
    pe.exited = true;
    pe.exit = e;
  }
  PublishExitLocked(key, pe);
}

void TaskService::WatchExit(const std::string& cid, const std::string& exec_id, sandbox::HostProcess* p) {
  p->SetExitObserver([this, cid, exec_id](const sandbox::ExitInfo& e) { EnsureExitPublished(cid, exec_id, e); });
}

void TaskService::MarkStarted(const std::string& cid, const std::string& exec_id) {
  std::lock_guard<std::mutex> lock(ev_mu_);
  ProcKey key{cid, exec_id};
  ProcEvents& pe = procs_[key];
  pe.started = true;
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
  PublishExitLocked(key, pe);  // a process that exited before Start was answered
}

// The VM died: the agent connection is closed, so every process reports exit
// (status 255) through its waiter. Remove what the VM left on the host now;
// the containers stay listed (stopped) until containerd deletes them.
void TaskService::PublishOom(const std::string& container_id) {
  containerd::events::TaskOOM ev;
  ev.set_container_id(container_id);
  Publish(kTopicOOM, "containerd.events.TaskOOM", ev);
  if (oom_record_.empty()) return;
  int fd = open(oom_record_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0 || !fs::WriteAll(fd, container_id + "\n")) log::Warn("record the OOM of " + container_id + " in " + oom_record_);
  if (fd >= 0) close(fd);
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

void TaskService::Register(ttrpc::Server& server) {
  auto add = [&server](const char* method, ttrpc::Server::Handler h) { server.Register(kTaskService, method, std::move(h)); };

  add("Create", TypedHandler<task::CreateTaskRequest, task::CreateTaskResponse>(
                    [this](const CallContext&, const task::CreateTaskRequest& req) -> Result<task::CreateTaskResponse> {
                      std::unique_lock<std::mutex> lock(mu_);
                      if (containers_.count(req.id())) return Error(Code::kAlreadyExists, "container " + req.id() + " already exists");
                      ASSIGN_OR_RETURN(nlohmann::json spec, LoadValidatedSpec(req.bundle()));
                      auto annotations = Annotations(spec);
                      // Kata's rule (KATA-REFERENCE §5): "container" joins the sandbox named by
                      // sandbox-id; "sandbox" or no annotation makes a VM.
                      std::string type = Get(annotations, "io.kubernetes.cri.container-type");
                      std::string sid = Get(annotations, "io.kubernetes.cri.sandbox-id");
                      if (type == "container") {
                        if (!sandbox_) {
                          return Error(Code::kFailedPrecondition,
                                       "container " + req.id() + " belongs to sandbox " + sid + ", which this shim does not run");
                        }
                        if (!sid.empty() && sid != sandbox_->id()) {
                          return Error(Code::kInvalidArgument, "container " + req.id() + " names sandbox " + sid +
                                                                   " but this shim runs sandbox " + sandbox_->id());
                        }
                      }
                      RETURN_IF_ERROR(MountRootfs(req.rootfs(), req.bundle()));
                      bool new_sandbox = !sandbox_;
                      if (new_sandbox) {
                        auto sc = MakeSandboxConfig(cfg_.config, req.id());
                        if (sc.ok()) {
                          sc->owner = owner_;
                          ApplyNetworkNamespace(spec, &*sc);
                          ApplyHostCgroup(cfg_.config, spec, &*sc);
                          sc->port_forward = sc->network && IsCriPodSandbox(annotations);  // kubectl port-forward
                          Status st = CheckPodHostNamespaces(spec, annotations);
                          if (st.ok()) st = SizeFromAnnotations(annotations, &*sc);
                          if (!st.ok()) sc = st;
                        }
                        auto sb = sc.ok() ? sandbox::Sandbox::Boot(*sc) : Result<std::unique_ptr<sandbox::Sandbox>>(sc.status());
                        if (!sb.ok()) {
                          UnmountRootfs(req.rootfs(), req.bundle());
                          return sb.status();
                        }
                        sandbox_ = std::move(*sb);
                        task_pid_ = static_cast<uint32_t>(sandbox_->vmm_pid());
                        sandbox_->OnVmExit([this] { OnVmExit(); });
                        sandbox_->OnOom([this](const std::string& id) { PublishOom(id); });
                      }
                      sandbox::StdioPaths io{req.stdin(), req.stdout(), req.stderr(), req.terminal()};
                      auto c = sandbox::Container::Create(*sandbox_, req.id(), req.bundle(), std::move(spec), io);
                      if (c.ok() && new_sandbox) {
                        // After the prestart hooks: docker's moves the veth in then.
                        if (Status st = sandbox_->ConnectNetwork(); !st.ok()) {
                          (void)(*c)->Delete(true);
                          c = st;
                        }
                      }
                      if (!c.ok()) {
                        if (new_sandbox) {
                          Status st = sandbox_->Shutdown();
                          (void)st;
                          sandbox_.reset();
                        }
                        UnmountRootfs(req.rootfs(), req.bundle());
                        return c.status();
                      }
                      ContainerRef created(std::move(*c));
                      containers_[req.id()] = created;
                      if (!req.rootfs().empty()) mounted_rootfs_.insert(req.bundle());
                      uint32_t pid = static_cast<uint32_t>(sandbox_->vmm_pid());
                      lock.unlock();
                      {
                        std::lock_guard<std::mutex> ev_lock(ev_mu_);
                        procs_[{req.id(), ""}] = ProcEvents{};
                        containerd::events::TaskCreate ev;
                        ev.set_container_id(req.id());
                        ev.set_bundle(req.bundle());
                        for (const auto& m : req.rootfs()) *ev.add_rootfs() = m;
                        ev.mutable_io()->set_stdin(req.stdin());
                        ev.mutable_io()->set_stdout(req.stdout());
                        ev.mutable_io()->set_stderr(req.stderr());
                        ev.mutable_io()->set_terminal(req.terminal());
                        ev.set_pid(pid);
                        Publish(kTopicCreate, "containerd.events.TaskCreate", ev);
                      }
                      WatchExit(req.id(), "", &created->init());
                      task::CreateTaskResponse r;
                      r.set_pid(pid);
                      return r;
                    }));

  add("Start", TypedHandler<task::StartRequest, task::StartResponse>(
                   [this](const CallContext&, const task::StartRequest& req) -> Result<task::StartResponse> {
                     ASSIGN_OR_RETURN(ContainerRef c, Find(req.id()));
                     if (req.exec_id().empty()) {
                       // A pod network configured between create and start
                       // (podman does so for a user namespace) is connected now.
                       if (sandbox_ && req.id() == sandbox_->id()) RETURN_IF_ERROR(sandbox_->ConnectNetwork());
                       RETURN_IF_ERROR(c->Start());
                     } else {
                       // The agent runs an exec as soon as it is added (Exec); Start only
                       // publishes exec-started (and an exit that came first).
                       ASSIGN_OR_RETURN(ProcessRef p, FindProcess(c, req.exec_id()));
                       (void)p;
                       std::lock_guard<std::mutex> lock(ev_mu_);
                       if (procs_[{req.id(), req.exec_id()}].started) {
                         return Error(Code::kFailedPrecondition, "process " + req.exec_id() + " already started");
                       }
                     }
                     MarkStarted(req.id(), req.exec_id());
                     task::StartResponse r;
                     r.set_pid(TaskPid());
                     return r;
                   }));

  add("State", TypedHandler<task::StateRequest, task::StateResponse>(
                   [this](const CallContext&, const task::StateRequest& req) -> Result<task::StateResponse> {
                     ASSIGN_OR_RETURN(ContainerRef c, Find(req.id()));
                     ASSIGN_OR_RETURN(ProcessRef p, FindProcess(c, req.exec_id()));
                     task::StateResponse r;
                     r.set_id(req.id());
                     r.set_exec_id(req.exec_id());
                     r.set_bundle(c->bundle());
                     r.set_pid(TaskPid());
                     r.set_stdin(p->io().in);
                     r.set_stdout(p->io().out);
                     r.set_stderr(p->io().err);
                     r.set_terminal(p->io().terminal);
                     if (p->exited()) {
                       sandbox::ExitInfo e = p->Wait();
                       r.set_status(task::STOPPED);
                       r.set_exit_status(static_cast<uint32_t>(e.status));
                       SetTimestamp(r.mutable_exited_at(), e.at);
                     } else {
                       bool started;
                       {
                         std::lock_guard<std::mutex> lock(ev_mu_);
                         started = procs_[{req.id(), req.exec_id()}].started;
                       }
                       r.set_status(req.exec_id().empty() ? ToTaskStatus(c->state())
                                                          : (started ? task::RUNNING : task::CREATED));
                     }
                     return r;
                   }));

  add("Kill", TypedHandler<task::KillRequest, Empty>([this](const CallContext&, const task::KillRequest& req) -> Result<Empty> {
        ASSIGN_OR_RETURN(ContainerRef c, Find(req.id()));
        RETURN_IF_ERROR(c->Kill(req.exec_id(), static_cast<int>(req.signal()), req.all()));
        return Empty();
      }));

  add("Wait", TypedHandler<task::WaitRequest, task::WaitResponse>(
                  [this](const CallContext&, const task::WaitRequest& req) -> Result<task::WaitResponse> {
                    ASSIGN_OR_RETURN(ContainerRef c, Find(req.id()));
                    ASSIGN_OR_RETURN(ProcessRef p, FindProcess(c, req.exec_id()));
                    sandbox::ExitInfo e = p->Wait();
                    EnsureExitPublished(req.id(), req.exec_id(), e);  // exit before anything Wait triggers
                    task::WaitResponse r;
                    r.set_exit_status(static_cast<uint32_t>(e.status));
                    SetTimestamp(r.mutable_exited_at(), e.at);
                    return r;
                  }));

  add("Exec", TypedHandler<task::ExecProcessRequest, Empty>(
                  [this](const CallContext&, const task::ExecProcessRequest& req) -> Result<Empty> {
                    ASSIGN_OR_RETURN(ContainerRef c, Find(req.id()));
                    sandbox::StdioPaths io{req.stdin(), req.stdout(), req.stderr(), req.terminal()};
                    RETURN_IF_ERROR(c->Exec(req.exec_id(), req.spec().value(), io));
                    ASSIGN_OR_RETURN(ProcessRef p, c->Process(req.exec_id()));
                    {
                      std::lock_guard<std::mutex> lock(ev_mu_);
                      procs_[{req.id(), req.exec_id()}] = ProcEvents{};
                      containerd::events::TaskExecAdded ev;
                      ev.set_container_id(req.id());
                      ev.set_exec_id(req.exec_id());
                      Publish(kTopicExecAdded, "containerd.events.TaskExecAdded", ev);
                    }
                    WatchExit(req.id(), req.exec_id(), p.get());
                    return Empty();
                  }));

  add("CloseIO", TypedHandler<task::CloseIORequest, Empty>([this](const CallContext&, const task::CloseIORequest& req) -> Result<Empty> {
        ASSIGN_OR_RETURN(ContainerRef c, Find(req.id()));
        ASSIGN_OR_RETURN(ProcessRef p, FindProcess(c, req.exec_id()));
        if (req.stdin()) RETURN_IF_ERROR(p->CloseStdin());
        return Empty();
      }));

  add("Delete", TypedHandler<task::DeleteRequest, task::DeleteResponse>(
                    [this](const CallContext&, const task::DeleteRequest& req) -> Result<task::DeleteResponse> {
                      ASSIGN_OR_RETURN(ContainerRef c, Find(req.id()));
                      task::DeleteResponse r;
                      r.set_pid(TaskPid());
                      if (!req.exec_id().empty()) {
                        // A deleted exec is forgotten: its record, stdio and events.
                        ASSIGN_OR_RETURN(ProcessRef p, FindProcess(c, req.exec_id()));
                        if (!p->exited()) {
                          return Error(Code::kFailedPrecondition, "process " + req.exec_id() + " of " + req.id() + " is still running");
                        }
                        sandbox::ExitInfo e = p->Wait();
                        EnsureExitPublished(req.id(), req.exec_id(), e);
                        RETURN_IF_ERROR(c->RemoveExec(req.exec_id()));
                        {
                          std::lock_guard<std::mutex> lock(ev_mu_);
                          procs_.erase({req.id(), req.exec_id()});
                        }
                        r.set_exit_status(static_cast<uint32_t>(e.status));
                        SetTimestamp(r.mutable_exited_at(), e.at);
                        return r;
                      }
                      RETURN_IF_ERROR(c->Delete(false));
                      sandbox::ExitInfo e = c->init().Wait();
                      EnsureExitPublished(req.id(), "", e);
                      r.set_exit_status(static_cast<uint32_t>(e.status));
                      SetTimestamp(r.mutable_exited_at(), e.at);
                      {
                        std::lock_guard<std::mutex> lock(mu_);
                        if (mounted_rootfs_.erase(c->bundle())) UnmountRootfsOf(c->bundle());
                        containers_.erase(req.id());
                      }
                      {
                        std::lock_guard<std::mutex> lock(ev_mu_);
                        for (auto it = procs_.begin(); it != procs_.end();) {
                          it = it->first.first == req.id() ? procs_.erase(it) : std::next(it);
                        }
                        containerd::events::TaskDelete ev;
                        ev.set_container_id(req.id());
                        ev.set_pid(r.pid());
                        ev.set_exit_status(r.exit_status());
                        *ev.mutable_exited_at() = r.exited_at();
                        Publish(kTopicDelete, "containerd.events.TaskDelete", ev);
                      }
                      return r;
                    }));

  add("Pids", TypedHandler<task::PidsRequest, task::PidsResponse>(
                  [this](const CallContext&, const task::PidsRequest& req) -> Result<task::PidsResponse> {
                    ASSIGN_OR_RETURN(ContainerRef c, Find(req.id()));
                    (void)c;
                    task::PidsResponse r;
                    r.add_processes()->set_pid(TaskPid());
                    return r;
                  }));

  add("Connect", TypedHandler<task::ConnectRequest, task::ConnectResponse>(
                     [this](const CallContext&, const task::ConnectRequest&) -> Result<task::ConnectResponse> {
                       task::ConnectResponse r;
                       r.set_shim_pid(static_cast<uint32_t>(getpid()));
                       r.set_task_pid(TaskPid());
                       r.set_version(KATA_VERSION);
                       return r;
                     }));

  add("Shutdown", TypedHandler<task::ShutdownRequest, Empty>([this](const CallContext&, const task::ShutdownRequest& req) -> Result<Empty> {
        {
          std::lock_guard<std::mutex> lock(mu_);
          if (!containers_.empty() && !req.now()) return Empty();
        }
        // Stop the VM and remove its directories before the connection drops:
        // containerd runs `delete` as soon as it sees the shim disconnect.
        Teardown();
        if (on_shutdown_) on_shutdown_();
        return Empty();
      }));

  RegisterResourceMethods(server);

  for (const char* m : {"Checkpoint"}) {
    std::string name = m;
    add(m, [name](const CallContext&, const std::string&) -> Result<std::string> {
      return Error(Code::kUnimplemented, name + " is not implemented yet");
    });
  }
}

}  // namespace kata::shim
