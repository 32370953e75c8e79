#include "agent/agent_service.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

#include "agent.pb.h"
#include "agent/guest_setup.h"
#include "agent/reaper.h"
#include "common/log.h"
#include "health.pb.h"
#include "oci/spec_json.h"
#include "wkt.pb.h"

namespace kata::agent {
namespace {

using ttrpc::CallContext;
using ttrpc::TypedHandler;
using Empty = kata::wkt::Empty;

constexpr const char* kAgentService = "grpc.AgentService";
constexpr const char* kHealthService = "grpc.Health";
constexpr uint32_t kMaxReadChunk = 1 << 20;  // one ReadStdout reply stays far below the 4 MiB frame cap

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

Result<std::string> ReadStream(StdioEnd& end, uint32_t len) {
  int fd = end.fd();
  if (fd < 0) return std::string();
  std::string buf(std::min(std::max(len, 1u), kMaxReadChunk), '\0');
  while (true) {
    ssize_t n = read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::string();  // closed under us: treat as end of stream
    buf.resize(static_cast<size_t>(n));
    return buf;
  }
}

}  // namespace

void AgentService::Register(ttrpc::Server& server) {
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
            for (auto& c : table_.All()) SignalAllInNamespace(c->init->pid, SIGKILL);
            return Empty();
          }));

  add(kAgentService, "CreateContainer",
      TypedHandler<grpc::CreateContainerRequest, Empty>(
          [this](const CallContext&, const grpc::CreateContainerRequest& req) -> Result<Empty> {
            ASSIGN_OR_RETURN(oci::Spec spec, oci::ParseSpec(req.spec_json()));
            Pipes pipes;
            RETURN_IF_ERROR(MakePipes(&pipes));
            LaunchSpec ls;
            ls.rootfs = spec.root.path;
            ls.spec = std::move(spec);
            ls.stdin_fd = pipes.in[0];
            ls.stdout_fd = pipes.out[1];
            ls.stderr_fd = pipes.err[1];
            ls.wait_for_start = true;
            auto launched = Launch(ls);
            if (!launched.ok()) {
              pipes.CloseAll();
              return launched.status().Wrap("create container " + req.container_id());
            }
            auto c = std::make_shared<Container>();
            c->id = req.container_id();
            c->handle = std::move(*launched);
            c->init = AdoptPipes(&pipes, "", c->handle->pid());
            RETURN_IF_ERROR(table_.AddContainer(c));
            log::Info("created container " + c->id + " pid " + std::to_string(c->init->pid));
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
            auto j = nlohmann::json::parse(req.process_json(), nullptr, false);
            if (j.is_discarded()) return Error(Code::kInvalidArgument, "exec " + req.exec_id() + ": process is not valid JSON");
            ASSIGN_OR_RETURN(oci::Process process, oci::ParseProcess(j));
            Pipes pipes;
            RETURN_IF_ERROR(MakePipes(&pipes));
            auto pid = ExecInContainer(c->init->pid, process, pipes.in[0], pipes.out[1], pipes.err[1]);
            if (!pid.ok()) {
              pipes.CloseAll();
              return pid.status().Wrap("exec " + req.exec_id() + " in container " + c->id);
            }
            RETURN_IF_ERROR(table_.AddExec(c->id, AdoptPipes(&pipes, req.exec_id(), *pid)));
            return Empty();
          }));

  add(kAgentService, "SignalProcess",
      TypedHandler<grpc::SignalProcessRequest, Empty>(
          [this](const CallContext&, const grpc::SignalProcessRequest& req) -> Result<Empty> {
            ASSIGN_OR_RETURN(std::shared_ptr<Process> p, table_.GetProcess(req.container_id(), req.exec_id()));
            if (req.all()) {
              SignalAllInNamespace(p->pid, static_cast<int>(req.signal()));
              return Empty();
            }
            if (Reaper::Get().Peek(p->pid)) return Error(Code::kNotFound, "process already finished");
            if (kill(p->pid, static_cast<int>(req.signal())) != 0) {
              return ErrnoError("signal process " + std::to_string(p->pid));
            }
            return Empty();
          }));

  add(kAgentService, "WaitProcess",
      TypedHandler<grpc::WaitProcessRequest, grpc::WaitProcessResponse>(
          [this](const CallContext&, const grpc::WaitProcessRequest& req) -> Result<grpc::WaitProcessResponse> {
            ASSIGN_OR_RETURN(std::shared_ptr<Process> p, table_.GetProcess(req.container_id(), req.exec_id()));
            grpc::WaitProcessResponse r;
            r.set_status(Reaper::Get().Wait(p->pid));
            return r;
          }));

  auto read_handler = [this](bool err) {
    return TypedHandler<grpc::ReadStreamRequest, grpc::ReadStreamResponse>(
        [this, err](const CallContext&, const grpc::ReadStreamRequest& req) -> Result<grpc::ReadStreamResponse> {
          ASSIGN_OR_RETURN(std::shared_ptr<Process> p, table_.GetProcess(req.container_id(), req.exec_id()));
          ASSIGN_OR_RETURN(std::string data, ReadStream(err ? p->stderr_r : p->stdout_r, req.len()));
          grpc::ReadStreamResponse r;
          r.set_data(std::move(data));
          return r;
        });
  };
  add(kAgentService, "ReadStdout", read_handler(false));
  add(kAgentService, "ReadStderr", read_handler(true));

  add(kAgentService, "WriteStdin",
      TypedHandler<grpc::WriteStreamRequest, grpc::WriteStreamResponse>(
          [this](const CallContext&, const grpc::WriteStreamRequest& req) -> Result<grpc::WriteStreamResponse> {
            ASSIGN_OR_RETURN(std::shared_ptr<Process> p, table_.GetProcess(req.container_id(), req.exec_id()));
            int fd = p->stdin_w.fd();
            if (fd < 0) return Error(Code::kFailedPrecondition, "stdin of " + req.container_id() + " is closed");
            size_t off = 0;
            const std::string& d = req.data();
            while (off < d.size()) {
              ssize_t n = write(fd, d.data() + off, d.size() - off);
              if (n < 0 && errno == EINTR) continue;
              if (n < 0) return ErrnoError("write stdin of " + req.container_id());
              off += static_cast<size_t>(n);
            }
            grpc::WriteStreamResponse r;
            r.set_len(static_cast<uint32_t>(off));
            return r;
          }));

  add(kAgentService, "CloseStdin",
      TypedHandler<grpc::CloseStdinRequest, Empty>(
          [this](const CallContext&, const grpc::CloseStdinRequest& req) -> Result<Empty> {
            ASSIGN_OR_RETURN(std::shared_ptr<Process> p, table_.GetProcess(req.container_id(), req.exec_id()));
            p->stdin_w.Close();
            return Empty();
          }));

  add(kAgentService, "RemoveContainer",
      TypedHandler<grpc::RemoveContainerRequest, Empty>(
          [this](const CallContext&, const grpc::RemoveContainerRequest& req) -> Result<Empty> {
            ASSIGN_OR_RETURN(std::shared_ptr<Container> c, table_.GetContainer(req.container_id()));
            if (!Reaper::Get().Peek(c->init->pid)) {
              SignalAllInNamespace(c->init->pid, SIGKILL);
              auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(req.timeout() ? req.timeout() : 5);
              while (!Reaper::Get().Peek(c->init->pid) && std::chrono::steady_clock::now() < deadline) {
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
              }
            }
            table_.RemoveContainer(c->id);
            return Empty();
          }));
}

}  // namespace kata::agent
