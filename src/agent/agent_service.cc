#include "agent/agent_service.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

#include "agent.pb.h"
#include "agent/container/cgroup.h"
#include "agent/guest_setup.h"
#include "agent/init_signal.h"
#include "agent/reaper.h"
#include "agent/rpc_handlers.h"
#include "common/fs.h"
#include "common/log.h"
#include "health.pb.h"
#include "common/json_parse.h"
#include "oci/spec_json.h"
#include "wkt.pb.h"

namespace kata::agent {
namespace {

constexpr const char* kHealthService = "grpc.Health";

struct Pipes {
  int in[2] = {-1, -1};
  int out[2] = {-1, -1};
  int err[2] = {-1, -1};
  void CloseAll() {
    for (int* p : {in, out, err})
      for (int i = 0; i < 2; i++)
        if (p[i] >= 0) close(p[i]), p[i] = -1;
  }
};

Status MakePipes(Pipes* p) {
  for (int* fds : {p->in, p->out, p->err}) {
    if (pipe2(fds, O_CLOEXEC) != 0) {
      Status st = ErrnoError("pipe for container stdio");
      p->CloseAll();
      return st;
    }
  }
  return Status::Ok();
}

// After the launch the child holds its ends; the agent keeps only its own.
std::shared_ptr<Process> AdoptPipes(Pipes* p, const std::string& exec_id, pid_t pid) {
  close(p->in[0]);
  close(p->out[1]);
  close(p->err[1]);
  return std::make_shared<Process>(exec_id, pid, p->in[1], p->out[0], p->err[0]);
}

// A terminal process: stdin and stdout are the pty master; no stderr stream.
Result<std::shared_ptr<Process>> AdoptConsole(int master, const std::string& exec_id, pid_t pid) {
  if (master < 0) return Error(Code::kInternal, "no pty master for a terminal process");
  int out = fcntl(master, F_DUPFD_CLOEXEC, 0);
  int term = fcntl(master, F_DUPFD_CLOEXEC, 0);
  if (out < 0 || term < 0) {
    Status st = ErrnoError("dup pty master");
    for (int fd : {master, out, term})
      if (fd >= 0) close(fd);
    return st;
  }
  return std::make_shared<Process>(exec_id, pid, master, out, -1, term);
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
  RegisterNetwork(server);
  RegisterIdentity(server);
  port_forward_.Register(server);
}

void AgentService::RegisterLifecycle(ttrpc::Server& server) {
  auto add = [&server](const char* service, const char* method, ttrpc::Server::Handler h) {
    server.Register(service, method, std::move(h));
  };

  add(kHealthService, "Check",
      TypedHandler<grpc::CheckRequest, grpc::HealthCheckResponse>(
          [](const CallContext&, const grpc::CheckRequest&) -> Result<grpc::HealthCheckResponse> {
            grpc::HealthCheckResponse r;
            r.set_status(grpc::HealthCheckResponse::SERVING);
            return r;
          }));
  add(kHealthService, "Version",
      TypedHandler<grpc::CheckRequest, grpc::VersionCheckResponse>(
          [](const CallContext&, const grpc::CheckRequest&) -> Result<grpc::VersionCheckResponse> {
            grpc::VersionCheckResponse r;
            r.set_agent_version(KATA_VERSION);
            r.set_grpc_version("ttrpc-1.1");
            return r;
          }));

  add(kAgentService, "GetGuestDetails",
      TypedHandler<grpc::GuestDetailsRequest, grpc::GuestDetailsResponse>(
          [this](const CallContext&, const grpc::GuestDetailsRequest&) -> Result<grpc::GuestDetailsResponse> {
            grpc::GuestDetailsResponse r;
            r.set_agent_version(KATA_VERSION);
            r.set_init_daemon(getpid() == 1);
            r.set_agent_start_boottime_ns(opts_.started_boottime_ns);
            r.set_agent_ready_boottime_ns(ready_boottime_ns_);
            return r;
          }));

  add(kAgentService, "CreateSandbox",
      TypedHandler<grpc::CreateSandboxRequest, Empty>(
          [this](const CallContext&, const grpc::CreateSandboxRequest& req) -> Result<Empty> {
            if (!opts_.guest) return Empty();
            SetClock(req.host_time_ns());
            if (!req.hostname().empty()) sethostname(req.hostname().data(), req.hostname().size());
            RETURN_IF_ERROR(MountSharedFs(req.shared_fs_options(), opts_.shared_mount));
            return Empty();
          }));

  add(kAgentService, "DestroySandbox",
      TypedHandler<grpc::DestroySandboxRequest, Empty>(
          [this](const CallContext&, const grpc::DestroySandboxRequest&) -> Result<Empty> {
            for (auto& c : table_.All()) SignalAll(*c, SIGKILL);
            return Empty();
          }));

  add(kAgentService, "CreateContainer",
      TypedHandler<grpc::CreateContainerRequest, Empty>(
          [this](const CallContext&, const grpc::CreateContainerRequest& req) -> Result<Empty> {
            log::StepTimer timer("create container " + req.container_id());
            ASSIGN_OR_RETURN(oci::Spec spec, oci::ParseSpec(req.spec_json()));
            timer.Mark("parse spec");
            if (!spec.process) return Error(Code::kInvalidArgument, "create container " + req.container_id() + ": the spec has no process");
            if (table_.GetContainer(req.container_id()).ok()) {
              return Error(Code::kAlreadyExists, "container " + req.container_id() + " already exists");
            }
            RETURN_IF_ERROR(sandbox_ns_.Resolve(spec).Wrap("create container " + req.container_id()));
            auto c = std::make_shared<Container>();
            c->id = req.container_id();
            c->pod_sandbox = IsSandboxContainer(spec);
            if (spec.linux_config) {
              for (const oci::Namespace& ns : spec.linux_config->namespaces) c->own_pidns |= ns.type == "pid" && ns.path.empty();
            }
            if (spec.linux_config) {
              c->seccomp = spec.linux_config->seccomp;
              c->devices = spec.linux_config->devices;
            }
            const nlohmann::json* resources =
                spec.linux_config && spec.linux_config->resources ? &spec.linux_config->resources->raw : nullptr;
            if (cgroups_) {
              auto dir = CreateCgroup(opts_.cgroup_root, "kata", c->id);
              if (!dir.ok() && dir.status().code() == Code::kAlreadyExists) {  // left by an earlier container
                (void)RemoveCgroup(opts_.cgroup_root + "/kata/" + c->id, std::chrono::milliseconds(100));
                dir = CreateCgroup(opts_.cgroup_root, "kata", c->id);
              }
              if (!dir.ok()) return dir.status().Wrap("create container " + c->id);
              c->cgroup_dir = *dir;
              if (Status w = oom_.Watch(c->id, c->cgroup_dir); !w.ok()) {
                log::Warn("container " + c->id + ": OOM kills will not be reported: " + w.message());
              }
              if (resources != nullptr) {
                Status st = ApplyResources(c->cgroup_dir, *resources, c->devices);
                if (!st.ok()) {
                  oom_.Unwatch(c->id);
                  (void)RemoveCgroup(c->cgroup_dir, std::chrono::milliseconds(0));
                  return st.Wrap("create container " + c->id);
                }
              }
            } else if (resources != nullptr && !resources->empty()) {
              log::Warn("container " + c->id + ": linux.resources ignored (no cgroup v2 in the guest)");
            }
            timer.Mark("cgroup");
            auto undo_cgroup = [&] {
              oom_.Unwatch(c->id);
              if (!c->cgroup_dir.empty()) (void)RemoveCgroup(c->cgroup_dir, std::chrono::milliseconds(1000));
            };
            bool terminal = spec.process->terminal;
            Pipes pipes;
            if (!terminal) {
              Status st = MakePipes(&pipes);
              if (!st.ok()) {
                undo_cgroup();
                return st;
              }
            }
            LaunchSpec ls;
            ls.rootfs = spec.root.path;
            ls.spec = std::move(spec);
            ls.stdin_fd = pipes.in[0];
            ls.stdout_fd = pipes.out[1];
            ls.stderr_fd = pipes.err[1];
            ls.wait_for_start = true;
            ls.cgroup_dir = c->cgroup_dir;
            ls.id = c->id;
            ls.bundle = fs::Dirname(ls.rootfs);
            auto launched = Launch(ls);
            timer.Mark("launch");
            if (!launched.ok()) {
              pipes.CloseAll();
              undo_cgroup();
              return launched.status().Wrap("create container " + c->id);
            }
            c->handle = std::move(*launched);
            if (c->pod_sandbox) {
              // Before the pod's other containers can ask to join them.
              if (Status st = sandbox_ns_.Capture(c->handle->pid()); !st.ok()) {
                c->handle.reset();
                pipes.CloseAll();
                undo_cgroup();
                return st.Wrap("create container " + c->id);
              }
            }
            if (terminal) {
              auto p = AdoptConsole(c->handle->TakeConsole(), "", c->handle->pid());
              if (!p.ok()) {
                c->handle.reset();  // the unstarted init exits
                undo_cgroup();
                return p.status().Wrap("create container " + c->id);
              }
              c->init = *p;
            } else {
              c->init = AdoptPipes(&pipes, "", c->handle->pid());
            }
            RETURN_IF_ERROR(table_.AddContainer(c));
            log::Info("created container " + c->id + " pid " + std::to_string(c->init->pid) +
                      (c->cgroup_dir.empty() ? "" : " cgroup " + c->cgroup_dir));
            return Empty();
          }));

  add(kAgentService, "StartContainer",
      TypedHandler<grpc::StartContainerRequest, Empty>(
          [this](const CallContext&, const grpc::StartContainerRequest& req) -> Result<Empty> {
            ASSIGN_OR_RETURN(std::shared_ptr<Container> c, table_.GetContainer(req.container_id()));
            if (c->started) return Error(Code::kFailedPrecondition, "container " + c->id + " already started");
            RETURN_IF_ERROR(c->handle->Start().Wrap("start container " + c->id));
            c->started = true;
            return Empty();
          }));

  add(kAgentService, "ExecProcess",
      TypedHandler<grpc::ExecProcessRequest, Empty>(
          [this](const CallContext&, const grpc::ExecProcessRequest& req) -> Result<Empty> {
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
            Pipes pipes;
            if (!es.process.terminal) {
              RETURN_IF_ERROR(MakePipes(&pipes));
              es.stdin_fd = pipes.in[0];
              es.stdout_fd = pipes.out[1];
              es.stderr_fd = pipes.err[1];
            }
            auto r = Exec(es);
            if (!r.ok()) {
              pipes.CloseAll();
              return r.status().Wrap("exec " + req.exec_id() + " in container " + c->id);
            }
            std::shared_ptr<Process> p;
            if (es.process.terminal) {
              ASSIGN_OR_RETURN(p, AdoptConsole(r->console_fd, req.exec_id(), r->pid));
            } else {
              p = AdoptPipes(&pipes, req.exec_id(), r->pid);
            }
            RETURN_IF_ERROR(table_.AddExec(c->id, p));
            return Empty();
          }));

  add(kAgentService, "SignalProcess",
      TypedHandler<grpc::SignalProcessRequest, Empty>(
          [this](const CallContext&, const grpc::SignalProcessRequest& req) -> Result<Empty> {
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
          }));

  add(kAgentService, "WaitProcess",
      TypedHandler<grpc::WaitProcessRequest, grpc::WaitProcessResponse>(
          [this](const CallContext&, const grpc::WaitProcessRequest& req) -> Result<grpc::WaitProcessResponse> {
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
          }));

  add(kAgentService, "RemoveContainer",
      TypedHandler<grpc::RemoveContainerRequest, Empty>(
          [this](const CallContext&, const grpc::RemoveContainerRequest& req) -> Result<Empty> {
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
            table_.RemoveContainer(c->id);
            return Empty();
          }));
}

}  // namespace kata::agent
