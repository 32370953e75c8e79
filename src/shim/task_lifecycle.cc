// The Task methods of a container's and a process's life: create, start,
// state, kill, wait, exec, close stdin, delete; and the shim's own (pids,
// connect, shutdown). Registered by TaskService::Register (task_service.cc).
#include <unistd.h>

#include "common/fs.h"
#include "common/json_parse.h"
#include "common/log.h"
#include "common/rollback.h"
#include "events.pb.h"
#include "oci/namespace_paths.h"
#include "oci/spec_json.h"
#include "shim/rootfs_mount.h"
#include "shim/runtime_options.h"
#include "sandbox/block_devices.h"
#include "sandbox/sandbox_config.h"
#include "shim/task_api.h"
#include "shim/task_service.h"

namespace kata::shim {
namespace {

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

// Kata's rule (KATA-REFERENCE §5): "container" joins the sandbox named by
// sandbox-id; "sandbox" or no annotation makes a VM. mu_ held.
Status TaskService::CheckJoinsThisSandbox(const std::string& id, const std::map<std::string, std::string>& annotations) {
  if (Get(annotations, "io.kubernetes.cri.container-type") != "container") return Status::Ok();
  std::string sid = Get(annotations, "io.kubernetes.cri.sandbox-id");
  if (!sandbox_) {
    return Error(Code::kFailedPrecondition, "container " + id + " belongs to sandbox " + sid + ", which this shim does not run");
  }
  if (!sid.empty() && sid != sandbox_->id()) {
    return Error(Code::kInvalidArgument,
                 "container " + id + " names sandbox " + sid + " but this shim runs sandbox " + sandbox_->id());
  }
  return Status::Ok();
}

// The VM for the pod whose first container is `id`. mu_ held.
Status TaskService::BootSandbox(const std::string& id, const nlohmann::json& spec,
                                const std::map<std::string, std::string>& annotations,
                                const sandbox::RootfsSource& rootfs) {
  ASSIGN_OR_RETURN(sandbox::SandboxConfig sc, sandbox::MakeSandboxConfig(cfg_.config, id));
  sc.owner = owner_;
  sandbox::ApplyNetworkNamespace(spec, &sc);
  sandbox::ApplyHostCgroup(cfg_.config, spec, &sc);
  sandbox::UseNinePForUserNamespaces(cfg_.config, spec, &sc);
  sc.port_forward = sc.network && sandbox::IsCriPodSandbox(annotations);  // kubectl port-forward
  RETURN_IF_ERROR(sandbox::CheckPodHostNamespaces(spec, annotations));
  RETURN_IF_ERROR(sandbox::SizeFromAnnotations(annotations, &sc));
  // The first container's block devices are the VM's disks from boot.
  ASSIGN_OR_RETURN(std::vector<sandbox::HostBlockDevice> disks, sandbox::BlockDevicesOf(spec));
  ASSIGN_OR_RETURN(std::vector<sandbox::HostBlockMount> disk_mounts, sandbox::BlockMountsOf(spec));
  ASSIGN_OR_RETURN(sc.vm.drives, sandbox::DrivesFor(disks, disk_mounts, rootfs));
  ASSIGN_OR_RETURN(sandbox_, sandbox::Sandbox::Boot(sc));
  task_pid_ = static_cast<uint32_t>(sandbox_->vmm_pid());
  sandbox_->OnVmExit([this] { OnVmExit(); });
  sandbox_->OnOom([this](const std::string& cid) { PublishOom(cid); });
  return Status::Ok();
}

// The container in the sandbox; for the pod's first, its network connected
// after the prestart hooks (docker's moves the veth in then). mu_ held.
Result<ContainerRef> TaskService::CreateContainer(const task::CreateTaskRequest& req, nlohmann::json spec, bool first,
                                                  sandbox::RootfsSource rootfs) {
  sandbox::StdioPaths io{req.stdin(), req.stdout(), req.stderr(), req.terminal()};
  ASSIGN_OR_RETURN(std::unique_ptr<sandbox::Container> c,
                   sandbox::Container::Create(*sandbox_, req.id(), req.bundle(), std::move(spec), io, std::move(rootfs)));
  if (first) {
    if (Status st = sandbox_->ConnectNetwork(); !st.ok()) {
      (void)c->Delete(true);
      return st;
    }
  }
  return ContainerRef(std::move(c));
}

void TaskService::PublishCreate(const task::CreateTaskRequest& req, uint32_t pid) {
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

Result<task::CreateTaskResponse> TaskService::Create(const task::CreateTaskRequest& req) {
  std::unique_lock<std::mutex> lock(mu_);
  if (containers_.count(req.id())) return Error(Code::kAlreadyExists, "container " + req.id() + " already exists");
  ASSIGN_OR_RETURN(nlohmann::json spec, LoadValidatedSpec(req.bundle()));
  auto annotations = Annotations(spec);
  RETURN_IF_ERROR(CheckJoinsThisSandbox(req.id(), annotations));
  bool first = !sandbox_;
  if (first) {  // the pod's configuration: containerd's runtime options may name it
    ASSIGN_OR_RETURN(std::optional<config::LoadedConfig> chosen, ConfigFromRuntimeOptions(req.options()));
    if (chosen) cfg_ = std::move(*chosen);
  }
  sandbox::RootfsSource rootfs;
  rootfs.block = BlockRootfsOf(req.rootfs());  // the guest mounts that one
  bool mounted = !rootfs.block && !req.rootfs().empty();
  if (mounted) RETURN_IF_ERROR(MountRootfs(req.rootfs(), req.bundle()));
  Rollback unmount([&] {
    if (mounted) UnmountRootfs(req.rootfs(), req.bundle());
  });
  // After the rootfs is mounted: its overlay's layers make the image.
  if (!rootfs.block) rootfs.image = sandbox::RootfsImageFor(sandbox::RootfsImageSettingsFrom(cfg_.config), spec, req.bundle());
  if (first) RETURN_IF_ERROR(BootSandbox(req.id(), spec, annotations, rootfs));
  Rollback discard([&] {
    if (!first || !sandbox_) return;
    (void)sandbox_->Shutdown();
    sandbox_.reset();
  });
  ASSIGN_OR_RETURN(ContainerRef created, CreateContainer(req, std::move(spec), first, std::move(rootfs)));
  discard.Dismiss();
  unmount.Dismiss();
  containers_[req.id()] = created;
  if (mounted) mounted_rootfs_.insert(req.bundle());
  uint32_t pid = static_cast<uint32_t>(sandbox_->vmm_pid());
  lock.unlock();
  PublishCreate(req, pid);
  WatchExit(req.id(), "", &created->init());
  task::CreateTaskResponse r;
  r.set_pid(pid);
  return r;
}

Result<task::StartResponse> TaskService::Start(const task::StartRequest& req) {
  ASSIGN_OR_RETURN(ContainerRef c, Find(req.id()));
  if (req.exec_id().empty()) {
    // A pod network configured between create and start (podman does so
    // for a user namespace) is connected now.
    if (sandbox_ && req.id() == sandbox_->id()) RETURN_IF_ERROR(sandbox_->ConnectNetwork());
    RETURN_IF_ERROR(c->Start());
  } else {
    // The agent runs an exec as soon as it is added (Exec); Start only
    // publishes exec-started (and an exit that came first).
    RETURN_IF_ERROR(FindProcess(c, req.exec_id()).status());
    std::lock_guard<std::mutex> lock(ev_mu_);
    RETURN_IF_ERROR(sandbox::NextProcessStep(procs_[{req.id(), req.exec_id()}].state, sandbox::ProcessEvent::kStart,
                                             req.exec_id())
                        .status());
  }
  MarkStarted(req.id(), req.exec_id());
  task::StartResponse r;
  r.set_pid(TaskPid());
  return r;
}

Result<task::StateResponse> TaskService::State(const task::StateRequest& req) {
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
    return r;
  }
  bool started;
  {
    std::lock_guard<std::mutex> lock(ev_mu_);
    started = procs_[{req.id(), req.exec_id()}].started();
  }
  r.set_status(req.exec_id().empty() ? ToTaskStatus(c->state()) : (started ? task::RUNNING : task::CREATED));
  return r;
}

Result<Empty> TaskService::Kill(const task::KillRequest& req) {
  ASSIGN_OR_RETURN(ContainerRef c, Find(req.id()));
  RETURN_IF_ERROR(c->Kill(req.exec_id(), static_cast<int>(req.signal()), req.all()));
  return Empty();
}

Result<task::WaitResponse> TaskService::Wait(const task::WaitRequest& req) {
  ASSIGN_OR_RETURN(ContainerRef c, Find(req.id()));
  ASSIGN_OR_RETURN(ProcessRef p, FindProcess(c, req.exec_id()));
  sandbox::ExitInfo e = p->Wait();
  EnsureExitPublished(req.id(), req.exec_id(), e);  // exit before anything Wait triggers
  task::WaitResponse r;
  r.set_exit_status(static_cast<uint32_t>(e.status));
  SetTimestamp(r.mutable_exited_at(), e.at);
  return r;
}

Result<Empty> TaskService::Exec(const task::ExecProcessRequest& req) {
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
}

Result<Empty> TaskService::CloseIO(const task::CloseIORequest& req) {
  ASSIGN_OR_RETURN(ContainerRef c, Find(req.id()));
  ASSIGN_OR_RETURN(ProcessRef p, FindProcess(c, req.exec_id()));
  if (req.stdin()) RETURN_IF_ERROR(p->CloseStdin());
  return Empty();
}

// A deleted exec is forgotten: its record, stdio and events.
Result<task::DeleteResponse> TaskService::DeleteExec(const ContainerRef& c, const task::DeleteRequest& req) {
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
  task::DeleteResponse r;
  r.set_pid(TaskPid());
  r.set_exit_status(static_cast<uint32_t>(e.status));
  SetTimestamp(r.mutable_exited_at(), e.at);
  return r;
}

Result<task::DeleteResponse> TaskService::Delete(const task::DeleteRequest& req) {
  ASSIGN_OR_RETURN(ContainerRef c, Find(req.id()));
  if (!req.exec_id().empty()) return DeleteExec(c, req);
  RETURN_IF_ERROR(c->Delete(false));
  sandbox::ExitInfo e = c->init().Wait();
  EnsureExitPublished(req.id(), "", e);
  task::DeleteResponse r;
  r.set_pid(TaskPid());
  r.set_exit_status(static_cast<uint32_t>(e.status));
  SetTimestamp(r.mutable_exited_at(), e.at);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (mounted_rootfs_.erase(c->bundle())) UnmountRootfsOf(c->bundle());
    containers_.erase(req.id());
  }
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
  return r;
}

Result<task::PidsResponse> TaskService::Pids(const task::PidsRequest& req) {
  RETURN_IF_ERROR(Find(req.id()).status());
  task::PidsResponse r;
  r.add_processes()->set_pid(TaskPid());
  return r;
}

Result<task::ConnectResponse> TaskService::Connect(const task::ConnectRequest&) {
  task::ConnectResponse r;
  r.set_shim_pid(static_cast<uint32_t>(getpid()));
  r.set_task_pid(TaskPid());
  r.set_version(KATA_VERSION);
  return r;
}

Result<Empty> TaskService::Shutdown(const task::ShutdownRequest& req) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!containers_.empty() && !req.now()) return Empty();
  }
  // Stop the VM and remove its directories before the connection drops:
  // containerd runs `delete` as soon as it sees the shim disconnect.
  Teardown();
  if (on_shutdown_) on_shutdown_();
  return Empty();
}

}  // namespace kata::shim
