#include "shim/task_service.h"

#include <sys/mount.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/log.h"
#include "oci/spec_json.h"
#include "shim/sandbox_config.h"
#include "shim/rootfs_mount.h"
#include "task.pb.h"
#include "wkt.pb.h"

namespace kata::shim {
namespace {

namespace task = containerd::task::v2;
using ttrpc::CallContext;
using ttrpc::TypedHandler;
using Empty = kata::wkt::Empty;
constexpr const char* kTaskService = "containerd.task.v2.Task";

void SetTimestamp(wkt::Timestamp* ts, std::chrono::system_clock::time_point t) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  ts->set_seconds(ns / 1000000000);
  ts->set_nanos(static_cast<int32_t>(ns % 1000000000));
}

task::Status ToTaskStatus(sandbox::ContainerState s) {
  switch (s) {
    case sandbox::ContainerState::kCreated: return task::CREATED;
    case sandbox::ContainerState::kRunning: return task::RUNNING;
    case sandbox::ContainerState::kStopped: return task::STOPPED;
  }
  return task::UNKNOWN;
}

Result<nlohmann::json> LoadValidatedSpec(const std::string& bundle) {
  std::string path = fs::JoinPath(bundle, "config.json");
  auto text = fs::ReadFile(path);
  if (!text.ok()) return text.status();
  auto spec = nlohmann::json::parse(*text, nullptr, false);
  if (spec.is_discarded()) return Error(Code::kInvalidArgument, path + ": not valid JSON");
  auto parsed = oci::ParseSpec(spec);
  if (!parsed.ok()) return parsed.status().Wrap(path);
  return spec;
}

}  // namespace

Result<sandbox::Container*> TaskService::Find(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = containers_.find(id);
  if (it == containers_.end()) return Error(Code::kNotFound, "container " + id + " does not exist");
  return it->second.get();
}

uint32_t TaskService::TaskPid() {
  std::lock_guard<std::mutex> lock(mu_);
  return sandbox_ ? static_cast<uint32_t>(sandbox_->vmm_pid()) : 0;
}

void TaskService::Teardown() {
  std::map<std::string, std::unique_ptr<sandbox::Container>> containers;
  std::unique_ptr<sandbox::Sandbox> sb;
  {
    std::lock_guard<std::mutex> lock(mu_);
    containers.swap(containers_);
    sb.swap(sandbox_);
  }
  containers.clear();  // each deletes itself (killing what still runs)
  if (sb) {
    Status st = sb->Shutdown();
    if (!st.ok()) log::Error("shutting down sandbox: " + st.message());
  }
}

void TaskService::Register(ttrpc::Server& server) {
  auto add = [&server](const char* method, ttrpc::Server::Handler h) { server.Register(kTaskService, method, std::move(h)); };

  add("Create", TypedHandler<task::CreateTaskRequest, task::CreateTaskResponse>(
                    [this](const CallContext&, const task::CreateTaskRequest& req) -> Result<task::CreateTaskResponse> {
                      std::lock_guard<std::mutex> lock(mu_);
                      if (containers_.count(req.id())) return Error(Code::kAlreadyExists, "container " + req.id() + " already exists");
                      ASSIGN_OR_RETURN(nlohmann::json spec, LoadValidatedSpec(req.bundle()));
                      RETURN_IF_ERROR(MountRootfs(req.rootfs(), req.bundle()));
                      bool new_sandbox = !sandbox_;
                      if (new_sandbox) {
                        auto sc = MakeSandboxConfig(cfg_.config, req.id());
                        auto sb = sc.ok() ? sandbox::Sandbox::Boot(*sc) : Result<std::unique_ptr<sandbox::Sandbox>>(sc.status());
                        if (!sb.ok()) {
                          UnmountRootfs(req.rootfs(), req.bundle());
                          return sb.status();
                        }
                        sandbox_ = std::move(*sb);
                      }
                      sandbox::StdioPaths io{req.stdin(), req.stdout(), req.stderr(), req.terminal()};
                      auto c = sandbox::Container::Create(*sandbox_, req.id(), req.bundle(), std::move(spec), io);
                      if (!c.ok()) {
                        if (new_sandbox) {
                          Status st = sandbox_->Shutdown();
                          (void)st;
                          sandbox_.reset();
                        }
                        UnmountRootfs(req.rootfs(), req.bundle());
                        return c.status();
                      }
                      containers_[req.id()] = std::move(*c);
                      if (!req.rootfs().empty()) mounted_rootfs_.insert(req.bundle());
                      task::CreateTaskResponse r;
                      r.set_pid(static_cast<uint32_t>(sandbox_->vmm_pid()));
                      return r;
                    }));

  add("Start", TypedHandler<task::StartRequest, task::StartResponse>(
                   [this](const CallContext&, const task::StartRequest& req) -> Result<task::StartResponse> {
                     ASSIGN_OR_RETURN(sandbox::Container * c, Find(req.id()));
                     if (req.exec_id().empty()) {
                       RETURN_IF_ERROR(c->Start());
                     } else {
                       return Error(Code::kUnimplemented, "exec processes start at Exec time");
                     }
                     task::StartResponse r;
                     r.set_pid(TaskPid());
                     return r;
                   }));

  add("State", TypedHandler<task::StateRequest, task::StateResponse>(
                   [this](const CallContext&, const task::StateRequest& req) -> Result<task::StateResponse> {
                     ASSIGN_OR_RETURN(sandbox::Container * c, Find(req.id()));
                     ASSIGN_OR_RETURN(sandbox::HostProcess * p, c->Process(req.exec_id()));
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
                       r.set_status(req.exec_id().empty() ? ToTaskStatus(c->state()) : task::RUNNING);
                     }
                     return r;
                   }));

  add("Kill", TypedHandler<task::KillRequest, Empty>([this](const CallContext&, const task::KillRequest& req) -> Result<Empty> {
        ASSIGN_OR_RETURN(sandbox::Container * c, Find(req.id()));
        RETURN_IF_ERROR(c->Kill(req.exec_id(), static_cast<int>(req.signal()), req.all()));
        return Empty();
      }));

  add("Wait", TypedHandler<task::WaitRequest, task::WaitResponse>(
                  [this](const CallContext&, const task::WaitRequest& req) -> Result<task::WaitResponse> {
                    ASSIGN_OR_RETURN(sandbox::Container * c, Find(req.id()));
                    ASSIGN_OR_RETURN(sandbox::HostProcess * p, c->Process(req.exec_id()));
                    sandbox::ExitInfo e = p->Wait();
                    task::WaitResponse r;
                    r.set_exit_status(static_cast<uint32_t>(e.status));
                    SetTimestamp(r.mutable_exited_at(), e.at);
                    return r;
                  }));

  add("Exec", TypedHandler<task::ExecProcessRequest, Empty>(
                  [this](const CallContext&, const task::ExecProcessRequest& req) -> Result<Empty> {
                    ASSIGN_OR_RETURN(sandbox::Container * c, Find(req.id()));
                    sandbox::StdioPaths io{req.stdin(), req.stdout(), req.stderr(), req.terminal()};
                    RETURN_IF_ERROR(c->Exec(req.exec_id(), req.spec().value(), io));
                    return Empty();
                  }));

  add("CloseIO", TypedHandler<task::CloseIORequest, Empty>([this](const CallContext&, const task::CloseIORequest& req) -> Result<Empty> {
        ASSIGN_OR_RETURN(sandbox::Container * c, Find(req.id()));
        ASSIGN_OR_RETURN(sandbox::HostProcess * p, c->Process(req.exec_id()));
        if (req.stdin()) RETURN_IF_ERROR(p->CloseStdin());
        return Empty();
      }));

  add("Delete", TypedHandler<task::DeleteRequest, task::DeleteResponse>(
                    [this](const CallContext&, const task::DeleteRequest& req) -> Result<task::DeleteResponse> {
                      ASSIGN_OR_RETURN(sandbox::Container * c, Find(req.id()));
                      if (!req.exec_id().empty()) return Error(Code::kUnimplemented, "deleting exec processes");
                      RETURN_IF_ERROR(c->Delete(false));
                      sandbox::ExitInfo e = c->init().Wait();
                      task::DeleteResponse r;
                      r.set_pid(TaskPid());
                      r.set_exit_status(static_cast<uint32_t>(e.status));
                      SetTimestamp(r.mutable_exited_at(), e.at);
                      std::lock_guard<std::mutex> lock(mu_);
                      if (mounted_rootfs_.erase(c->bundle())) UnmountRootfsOf(c->bundle());
                      containers_.erase(req.id());
                      return r;
                    }));

  add("Pids", TypedHandler<task::PidsRequest, task::PidsResponse>(
                  [this](const CallContext&, const task::PidsRequest& req) -> Result<task::PidsResponse> {
                    ASSIGN_OR_RETURN(sandbox::Container * c, Find(req.id()));
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
        if (on_shutdown_) on_shutdown_();
        return Empty();
      }));

  for (const char* m : {"Pause", "Resume", "Checkpoint", "ResizePty", "Update", "Stats"}) {
    std::string name = m;
    add(m, [name](const CallContext&, const std::string&) -> Result<std::string> {
      return Error(Code::kUnimplemented, name + " is not implemented yet");
    });
  }
}

}  // namespace kata::shim
