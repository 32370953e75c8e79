#include "agent/agent_service.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

#include "agent.pb.h"
#include "agent/container/cgroup.h"
#include "agent/guest_rootfs.h"
#include "agent/guest_setup.h"
#include "agent/init_signal.h"
#include "agent/reaper.h"
#include "agent/block_devices.h"
#include "agent/shared_mounts.h"
#include "agent/rpc_handlers.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/rollback.h"
#include "common/unique_fd.h"
#include "health.pb.h"
#include "common/json_parse.h"
#include "oci/spec_json.h"
#include "wkt.pb.h"

namespace kata::agent {
namespace {

constexpr const char* kHealthService = "grpc.Health";

// The container's stdio pipes, [0] the read end; closed when it goes out of
// scope unless adopted.
struct Pipes {
  UniqueFd in[2];
  UniqueFd out[2];
  UniqueFd err[2];
};

Status MakePipes(Pipes* p) {
  for (UniqueFd* ends : {p->in, p->out, p->err}) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return ErrnoError("pipe for container stdio");
    ends[0].reset(fds[0]);
    ends[1].reset(fds[1]);
  }
  return Status::Ok();
}

// After the launch the child holds its ends; the agent keeps only its own.
std::shared_ptr<Process> AdoptPipes(Pipes* p, const std::string& exec_id, pid_t pid) {
  p->in[0].reset();
  p->out[1].reset();
  p->err[1].reset();
  return std::make_shared<Process>(exec_id, pid, std::move(p->in[1]), std::move(p->out[0]), std::move(p->err[0]));
}

// A terminal process: stdin and stdout are the pty master; no stderr stream.
Result<std::shared_ptr<Process>> AdoptConsole(UniqueFd master, const std::string& exec_id, pid_t pid) {
  if (!master.valid()) return Error(Code::kInternal, "no pty master for a terminal process");
  UniqueFd out(fcntl(master.get(), F_DUPFD_CLOEXEC, 0));
  UniqueFd term(fcntl(master.get(), F_DUPFD_CLOEXEC, 0));
  if (!out.valid() || !term.valid()) return ErrnoError("dup pty master");
  return std::make_shared<Process>(exec_id, pid, std::move(master), std::move(out), UniqueFd(), std::move(term));
}

ino_t PidNamespaceOf(pid_t pid) {
  struct stat st;
  if (stat(("/proc/" + std::to_string(pid) + "/ns/pid").c_str(), &st) != 0) return 0;
  return st.st_ino;
}

// Every process whose pid namespace is the container's (kill --all, remove).
void SignalAllInNamespace(pid_t init_pid, int sig) {
  ino_t ns = PidNamespaceOf(init_pid);
  if (ns == 0 || ns == PidNamespaceOf(getpid())) {
    kill(init_pid, sig);
    return;
  }
  DIR* d = opendir("/proc");
  if (d == nullptr) return;
  while (struct dirent* e = readdir(d)) {
    pid_t pid = atoi(e->d_name);
    if (pid > 0 && PidNamespaceOf(pid) == ns) kill(pid, sig);
  }
  closedir(d);
}

Result<grpc::HealthCheckResponse> HealthCheck(const CallContext&, const grpc::CheckRequest&) {
  grpc::HealthCheckResponse r;
  r.set_status(grpc::HealthCheckResponse::SERVING);
  return r;
}

Result<grpc::VersionCheckResponse> HealthVersion(const CallContext&, const grpc::CheckRequest&) {
  grpc::VersionCheckResponse r;
  r.set_agent_version(KATA_VERSION);
  r.set_grpc_version("ttrpc-1.1");
  return r;
}

}  // namespace

AgentService::AgentService(AgentOptions opts) : opts_(std::move(opts)) {
  cgroups_ = !opts_.cgroup_root.empty() && Cgroup2Available(opts_.cgroup_root);
  if (!cgroups_ && !opts_.cgroup_root.empty()) {
    log::Warn("no cgroup v2 at " + opts_.cgroup_root + ": container resources, pause and stats are unavailable");
  }
}

void AgentService::SignalAll(const Container& c, int sig) {
  if (!c.cgroup_dir.empty()) {
    Status st = SignalCgroup(c.cgroup_dir, sig);
    if (st.ok()) return;
    log::Warn("signal cgroup of " + c.id + ": " + st.message());
  }
  SignalAllInNamespace(c.init->pid, sig);
}

void AgentService::KillOrphansOfInit(const std::string& container_id) {
  auto c = table_.GetContainer(container_id);
  if (!c.ok() || (*c)->own_pidns || (*c)->cgroup_dir.empty()) return;
  // Left running they would hold the container's output open, and the
  // container would never be seen to stop (e.g. nginx's workers).
  (void)SignalCgroup((*c)->cgroup_dir, SIGKILL);
}

int64_t AgentService::BoottimeNs() {
  timespec ts{};
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

void AgentService::Register(ttrpc::Server& server) {
  RegisterLifecycle(server);
  RegisterStdio(server);
  RegisterResources(server);
  RegisterVolumes(server);
  RegisterNetwork(server);
  RegisterIdentity(server);
  port_forward_.Register(server);
}

void AgentService::RegisterLifecycle(ttrpc::Server& server) {
  server.Register(kHealthService, "Check", TypedHandler<grpc::CheckRequest, grpc::HealthCheckResponse>(&HealthCheck));
  server.Register(kHealthService, "Version", TypedHandler<grpc::CheckRequest, grpc::VersionCheckResponse>(&HealthVersion));
  ttrpc::Bind(server, kAgentService, "GetGuestDetails", this, &AgentService::GetGuestDetails);
  ttrpc::Bind(server, kAgentService, "CreateSandbox", this, &AgentService::CreateSandbox);
  ttrpc::Bind(server, kAgentService, "DestroySandbox", this, &AgentService::DestroySandbox);
  ttrpc::Bind(server, kAgentService, "CreateContainer", this, &AgentService::CreateContainer);
  ttrpc::Bind(server, kAgentService, "StartContainer", this, &AgentService::StartContainer);
  ttrpc::Bind(server, kAgentService, "ExecProcess", this, &AgentService::ExecProcess);
  ttrpc::Bind(server, kAgentService, "SignalProcess", this, &AgentService::SignalProcess);
  ttrpc::Bind(server, kAgentService, "WaitProcess", this, &AgentService::WaitProcess);
  ttrpc::Bind(server, kAgentService, "RemoveContainer", this, &AgentService::RemoveContainer);
  ttrpc::Bind(server, kAgentService, "ListSharedMounts", this, &AgentService::ListSharedMounts);
  ttrpc::Bind(server, kAgentService, "ReleaseDisk", this, &AgentService::ReleaseDisk);
}

Result<grpc::GuestDetailsResponse> AgentService::GetGuestDetails(const grpc::GuestDetailsRequest&) {
  grpc::GuestDetailsResponse r;
  r.set_agent_version(KATA_VERSION);
  r.set_init_daemon(getpid() == 1);
  r.set_agent_start_boottime_ns(opts_.started_boottime_ns);
  r.set_agent_ready_boottime_ns(ready_boottime_ns_);
  return r;
}

Result<Empty> AgentService::CreateSandbox(const grpc::CreateSandboxRequest& req) {
  if (!opts_.guest) return Empty();
  SetClock(req.host_time_ns());
  if (!req.hostname().empty()) sethostname(req.hostname().data(), req.hostname().size());
  RETURN_IF_ERROR(MountSharedFs(req.shared_fs_type(), req.shared_fs_options(), opts_.shared_mount));
  if (!req.propagated_fs_tag().empty()) {
    RETURN_IF_ERROR(MountSharedFs("virtiofs", "", kGuestPropagatedDir, req.propagated_fs_tag()));
  }
  return Empty();
}

Result<Empty> AgentService::DestroySandbox(const grpc::DestroySandboxRequest&) {
  for (auto& c : table_.All()) SignalAll(*c, SIGKILL);
  return Empty();
}

// The container's guest cgroup with its resources and OOM watch (none
// without cgroup v2: resources are then only logged as ignored).
Status AgentService::MakeContainerCgroup(Container* c, const oci::Spec& spec) {
  const nlohmann::json* resources =
      spec.linux_config && spec.linux_config->resources ? &spec.linux_config->resources->raw : nullptr;
  if (!cgroups_) {
    if (resources != nullptr && !resources->empty()) {
      log::Warn("container " + c->id + ": linux.resources ignored (no cgroup v2 in the guest)");
    }
    return Status::Ok();
  }
  auto dir = CreateCgroup(opts_.cgroup_root, "kata", c->id);
  if (!dir.ok() && dir.status().code() == Code::kAlreadyExists) {  // left by an earlier container
    (void)RemoveCgroup(opts_.cgroup_root + "/kata/" + c->id, std::chrono::milliseconds(100));
    dir = CreateCgroup(opts_.cgroup_root, "kata", c->id);
  }
  RETURN_IF_ERROR(dir.status());
  c->cgroup_dir = *dir;
  if (Status w = oom_.Watch(c->id, c->cgroup_dir); !w.ok()) {
    log::Warn("container " + c->id + ": OOM kills will not be reported: " + w.message());
  }
  if (resources == nullptr) return Status::Ok();
  Status st = ApplyResources(c->cgroup_dir, *resources, c->devices);
  if (!st.ok()) {
    oom_.Unwatch(c->id);
    (void)RemoveCgroup(c->cgroup_dir, std::chrono::milliseconds(0));
  }
  return st;
}

// The container's init, blocked before exec until StartContainer; its
// stdio (pipes, or the terminal's pty master) kept as c->init.
Status AgentService::LaunchInit(Container* c, oci::Spec spec) {
  bool terminal = spec.process->terminal;
  Pipes pipes;  // closed on failure
  if (!terminal) RETURN_IF_ERROR(MakePipes(&pipes));
  LaunchSpec ls;
  ls.rootfs = spec.root.path;
  ls.spec = std::move(spec);
  ls.stdin_fd = pipes.in[0].get();
  ls.stdout_fd = pipes.out[1].get();
  ls.stderr_fd = pipes.err[1].get();
  ls.wait_for_start = true;
  ls.cgroup_dir = c->cgroup_dir;
  ls.id = c->id;
  ls.bundle = fs::Dirname(ls.rootfs);
  ASSIGN_OR_RETURN(c->handle, Launch(ls));
  Rollback drop_init([&] { c->handle.reset(); });  // the unstarted init exits
  // Before the pod's other containers can ask to join them.
  if (c->pod_sandbox) RETURN_IF_ERROR(sandbox_ns_.Capture(c->handle->pid()));
  if (terminal) {
    ASSIGN_OR_RETURN(c->init, AdoptConsole(UniqueFd(c->handle->TakeConsole()), "", c->handle->pid()));
  } else {
    c->init = AdoptPipes(&pipes, "", c->handle->pid());
  }
  drop_init.Dismiss();
  return Status::Ok();
}

// The container's disks: block devices get the guest's numbers in the spec
// (returned), block volumes are mounted where the spec binds them from.
Result<std::string> AgentService::PrepareDisks(const grpc::CreateContainerRequest& req) {
  std::vector<BlockDeviceRef> devices;
  for (const grpc::BlockDevice& b : req.block_devices()) {
    devices.push_back({b.serial(), b.container_path(), b.host_major(), b.host_minor()});
  }
  std::vector<BlockMountRef> mounts;
  for (const grpc::BlockMount& m : req.block_mounts()) {
    mounts.push_back(
        {m.serial(), m.fstype(), {m.options().begin(), m.options().end()}, m.readonly(), m.guest_path(), m.root()});
  }
  ASSIGN_OR_RETURN(std::string spec_json, WithGuestBlockDevices(req.spec_json(), devices));
  RETURN_IF_ERROR(MountBlockVolumes(req.container_id(), mounts, kGuestStorageDir));
  return spec_json;
}

// rootfs_writes_in_guest: the spec's root becomes an overlay over it whose
// writes stay in guest memory (guest_rootfs.h). Whether it did.
Result<bool> AgentService::MountRootfsUpper(const grpc::CreateContainerRequest& req, oci::Spec* spec) {
  const std::string& image = req.rootfs_image_path();
  if (!image.empty() && (!req.rootfs_writes_in_guest() || spec->root.readonly)) {
    return Error(Code::kInvalidArgument, "rootfs_image_path " + image + " needs rootfs_writes_in_guest and a writable root");
  }
  if (!req.rootfs_writes_in_guest() || spec->root.readonly) return false;
  std::vector<std::string> lowers = {spec->root.path};
  if (!image.empty()) {
    // Only a disk this request mounted (PrepareDisks): never another path of the guest's.
    bool mounted = std::any_of(req.block_mounts().begin(), req.block_mounts().end(),
                               [&](const grpc::BlockMount& m) { return m.guest_path() == image; });
    if (!mounted) return Error(Code::kInvalidArgument, "rootfs_image_path " + image + " is none of the container's block mounts");
    lowers.push_back(image);
  }
  ASSIGN_OR_RETURN(spec->root.path, MountGuestUpper(req.container_id(), lowers, kGuestRootfsUpperDir));
  return true;
}

Result<Empty> AgentService::CreateContainer(const grpc::CreateContainerRequest& req) {
  log::StepTimer timer("create container " + req.container_id());
  if (table_.GetContainer(req.container_id()).ok()) {
    return Error(Code::kAlreadyExists, "container " + req.container_id() + " already exists");
  }
  ASSIGN_OR_RETURN(std::string spec_json, PrepareDisks(req));
  Rollback unmount_disks([&] { UnmountBlockVolumes(req.container_id(), kGuestStorageDir); });
  ASSIGN_OR_RETURN(oci::Spec spec, oci::ParseSpec(spec_json));
  ASSIGN_OR_RETURN(bool rootfs_upper, MountRootfsUpper(req, &spec));
  Rollback unmount_rootfs([&] {
    if (rootfs_upper) UnmountGuestUpper(req.container_id(), kGuestRootfsUpperDir);
  });
  timer.Mark("parse spec, disks");
  if (!spec.process) return Error(Code::kInvalidArgument, "create container " + req.container_id() + ": the spec has no process");
  RETURN_IF_ERROR(sandbox_ns_.Resolve(spec).Wrap("create container " + req.container_id()));
  auto c = std::make_shared<Container>();
  c->id = req.container_id();
  c->pod_sandbox = IsSandboxContainer(spec);
  if (spec.linux_config) {
    for (const oci::Namespace& ns : spec.linux_config->namespaces) c->own_pidns |= ns.type == "pid" && ns.path.empty();
    c->seccomp = spec.linux_config->seccomp;
    c->devices = spec.linux_config->devices;
  }
  for (const oci::Mount& m : spec.mounts) {
    for (const std::string& o : m.options) {
      if (o == "rshared" || o == "shared") c->shared_volumes.push_back(m.destination);
    }
  }
  RETURN_IF_ERROR(MakeContainerCgroup(c.get(), spec).Wrap("create container " + c->id));
  timer.Mark("cgroup");
  Rollback remove_cgroup([&] {
    oom_.Unwatch(c->id);
    if (!c->cgroup_dir.empty()) (void)RemoveCgroup(c->cgroup_dir, std::chrono::milliseconds(1000));
  });
  RETURN_IF_ERROR(LaunchInit(c.get(), std::move(spec)).Wrap("create container " + c->id));
  timer.Mark("launch");
  remove_cgroup.Dismiss();
  unmount_disks.Dismiss();
  unmount_rootfs.Dismiss();
  RETURN_IF_ERROR(table_.AddContainer(c));
  log::Info("created container " + c->id + " pid " + std::to_string(c->init->pid) +
            (c->cgroup_dir.empty() ? "" : " cgroup " + c->cgroup_dir));
  return Empty();
}

Result<Empty> AgentService::StartContainer(const grpc::StartContainerRequest& req) {
  ASSIGN_OR_RETURN(std::shared_ptr<Container> c, table_.GetContainer(req.container_id()));
  if (c->started) return Error(Code::kFailedPrecondition, "container " + c->id + " already started");
  RETURN_IF_ERROR(c->handle->Start().Wrap("start container " + c->id));
  c->started = true;
  return Empty();
}

Result<Empty> AgentService::ExecProcess(const grpc::ExecProcessRequest& req) {
  ASSIGN_OR_RETURN(std::shared_ptr<Container> c, table_.GetContainer(req.container_id()));
  ASSIGN_OR_RETURN(nlohmann::json j, ParseJsonBounded(req.process_json(), "exec " + req.exec_id() + ": process"));
  // A new process in a frozen cgroup would freeze before exec (runc refuses too).
  if (!c->cgroup_dir.empty() && CgroupFrozen(c->cgroup_dir)) {
    return Error(Code::kFailedPrecondition, "cannot exec in a paused container " + c->id);
  }
  ExecSpec es;
  ASSIGN_OR_RETURN(es.process, oci::ParseProcess(j));
  es.init_pid = c->init->pid;
  es.seccomp = c->seccomp;
  es.cgroup_dir = c->cgroup_dir;
  Pipes pipes;  // closed on failure
  if (!es.process.terminal) {
    RETURN_IF_ERROR(MakePipes(&pipes));
    es.stdin_fd = pipes.in[0].get();
    es.stdout_fd = pipes.out[1].get();
    es.stderr_fd = pipes.err[1].get();
  }
  auto r = Exec(es);
  if (!r.ok()) return r.status().Wrap("exec " + req.exec_id() + " in container " + c->id);
  std::shared_ptr<Process> p;
  if (es.process.terminal) {
    ASSIGN_OR_RETURN(p, AdoptConsole(UniqueFd(r->console_fd), req.exec_id(), r->pid));
  } else {
    p = AdoptPipes(&pipes, req.exec_id(), r->pid);
  }
  RETURN_IF_ERROR(table_.AddExec(c->id, p));
  return Empty();
}

Result<Empty> AgentService::SignalProcess(const grpc::SignalProcessRequest& req) {
  ASSIGN_OR_RETURN(std::shared_ptr<Process> p, table_.GetProcess(req.container_id(), req.exec_id()));
  if (req.all()) {
    ASSIGN_OR_RETURN(std::shared_ptr<Container> c, table_.GetContainer(req.container_id()));
    SignalAll(*c, static_cast<int>(req.signal()));
    return Empty();
  }
  if (Reaper::Get().Peek(p->pid)) return Error(Code::kNotFound, "process already finished");
  if (kill(p->pid, static_cast<int>(req.signal())) != 0) {
    return ErrnoError("signal process " + std::to_string(p->pid));
  }
  RedeliverWhenCaught(p->pid, static_cast<int>(req.signal()));
  return Empty();
}

Result<grpc::WaitProcessResponse> AgentService::WaitProcess(const grpc::WaitProcessRequest& req) {
  ASSIGN_OR_RETURN(std::shared_ptr<Process> p, table_.GetProcess(req.container_id(), req.exec_id()));
  grpc::WaitProcessResponse r;
  r.set_status(Reaper::Get().Wait(p->pid));
  if (req.exec_id().empty()) KillOrphansOfInit(req.container_id());
  {
    std::lock_guard<std::mutex> lock(p->mu);
    p->waited = true;
  }
  table_.RetireExecIfDone(req.container_id(), p);
  return r;
}

Result<Empty> AgentService::RemoveContainer(const grpc::RemoveContainerRequest& req) {
  ASSIGN_OR_RETURN(std::shared_ptr<Container> c, table_.GetContainer(req.container_id()));
  if (!Reaper::Get().Peek(c->init->pid)) {
    SignalAll(*c, SIGKILL);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(req.timeout() ? req.timeout() : 5);
    while (!Reaper::Get().Peek(c->init->pid) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  oom_.Unwatch(c->id);
  if (!c->cgroup_dir.empty()) {
    // Other processes of the container (execs) die with the cgroup.kill above.
    Status st = RemoveCgroup(c->cgroup_dir, std::chrono::seconds(2));
    if (!st.ok()) log::Warn("remove container " + c->id + ": " + st.message());
  }
  if (c->pod_sandbox) sandbox_ns_.Release();
  // The root's overlay first: the rootfs image's disk is one of its layers.
  UnmountGuestUpper(c->id, kGuestRootfsUpperDir);
  UnmountBlockVolumes(c->id, kGuestStorageDir);
  table_.RemoveContainer(c->id);
  return Empty();
}

Result<Empty> AgentService::ReleaseDisk(const grpc::ReleaseDiskRequest& req) {
  RETURN_IF_ERROR(PowerOffDiskSlot(req.serial()));
  return Empty();
}

Result<grpc::ListSharedMountsResponse> AgentService::ListSharedMounts(const grpc::ListSharedMountsRequest& req) {
  ASSIGN_OR_RETURN(std::shared_ptr<Container> c, table_.GetContainer(req.container_id()));
  grpc::ListSharedMountsResponse r;
  if (c->shared_volumes.empty() || Reaper::Get().Peek(c->init->pid)) return r;
  // The container's own mount namespace, as its processes see it.
  auto text = fs::ReadFile("/proc/" + std::to_string(c->init->pid) + "/mountinfo");
  if (!text.ok()) return r;  // its init is gone: nothing of it to mirror
  auto own = fs::ReadFile("/proc/self/mountinfo");
  if (!own.ok()) return own.status();
  ShareDevices share = ShareDevicesIn(*own, opts_.shared_mount);
  share.merge(ShareDevicesIn(*own, kGuestPropagatedDir));  // the same share, exported again
  for (const SharedMount& m : SharedMountsIn(*text, c->shared_volumes, share)) {
    grpc::SharedMount* out = r.add_mounts();
    out->set_volume(m.volume);
    out->set_path(m.path);
    out->set_share_path(m.share_path);
  }
  return r;
}

}  // namespace kata::agent
