#include "cli/lifecycle.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <thread>

#include "cli/monitor.h"
#include "cli/service_client.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/process.h"
#include "common/unique_fd.h"
#include "oci/spec_json.h"
#include "sandbox/host_cgroup.h"
#include "sandbox/leftovers.h"
#include "sandbox/ownership.h"
#include "sandbox/paths.h"

namespace kata::cli {
namespace {

namespace task = containerd::task::v2;

std::string ServiceBinary() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n > 0) {
    std::string sibling = fs::JoinPath(fs::Dirname(std::string(buf, static_cast<size_t>(n))), "containerd-shim-kata-v2");
    if (fs::Exists(sibling)) return sibling;
  }
  return "containerd-shim-kata-v2";
}

Status ValidateBundle(const CreateOptions& o, std::string* abs_bundle, oci::Spec* spec) {
  RETURN_IF_ERROR(ValidateId(o.id));
  ASSIGN_OR_RETURN(*abs_bundle, fs::AbsolutePath(o.bundle.empty() ? "." : o.bundle));
  ASSIGN_OR_RETURN(*spec, oci::LoadSpec(*abs_bundle));
  if ((spec->process && spec->process->terminal) && o.console_socket.empty()) {
    return Error(Code::kInvalidArgument, "cannot allocate tty if runc will detach without setting console socket");
  }
  if (!(spec->process && spec->process->terminal) && !o.console_socket.empty()) {
    return Error(Code::kInvalidArgument, "cannot use console socket if runc will not detach or allocate tty");
  }
  return Status::Ok();
}

// A service that was killed cannot unlink its sockets itself.
void RemoveServiceSockets(const GlobalOptions& g, const std::string& id) {
  unlink(ServiceSocketOf(g, id).c_str());
  unlink((ServiceSocketOf(g, id) + ".stdio").c_str());
  unlink((ServiceSocketOf(g, id) + ".oom").c_str());
}

constexpr char kServiceBinaryName[] = "containerd-shim-kata-v2";

// Starts the sandbox service for `id` in its own session (it outlives us).
// Its identity (pid and start time) goes into the record: a later `delete`
// signals it only if that pid still is this process.
Result<proc::Identity> StartService(const GlobalOptions& g, const std::string& id) {
  std::string dir = StateDirOf(g, id);
  RETURN_IF_ERROR(fs::MkdirAll(fs::Dirname(ServiceSocketOf(g, id)), 0700));
  std::vector<std::string> argv = {ServiceBinary(), "-namespace", "kata-runtime", "-id", id,
                                   "-socket", ServiceSocketOf(g, id), "-log", fs::JoinPath(dir, "service.log")};
  if (!g.config.empty()) argv.insert(argv.end(), {"-config", g.config});
  if (g.debug) argv.push_back("-debug");
  proc::SpawnOptions so;
  so.new_session = true;
  ASSIGN_OR_RETURN(pid_t pid, proc::Spawn(argv, so));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  // The socket file appears at bind(), a moment before listen(): wait until
  // a connection is accepted.
  while (!ServiceClient::Dial(ServiceSocketOf(g, id)).ok()) {
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      auto log = fs::ReadFile(fs::JoinPath(dir, "service.log"));
      return Error(Code::kInternal, "sandbox service for " + id + " exited during start-up" +
                                        (log.ok() ? ": " + *log : std::string()));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);  // our child, not yet reaped: the pid is still it
      waitpid(pid, nullptr, 0);
      return Error(Code::kDeadlineExceeded, "sandbox service for " + id + " did not start in 10 s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  // Still our unreaped child, so this is the service's own start time.
  auto identity = proc::IdentityOf(pid);
  if (!identity.ok()) {
    waitpid(pid, nullptr, 0);
    return Error(Code::kInternal, "sandbox service for " + id + " exited during start-up");
  }
  return *identity;
}

// Stops a recorded sandbox service: `first` (0 = none), `grace` to exit by
// itself, then SIGKILL. Only through a pidfd on the verified process: a pid
// that now belongs to someone else is never signalled.
void StopService(const proc::Identity& service, const std::string& id, int first, std::chrono::milliseconds grace) {
  if (Status st = proc::StopVerified(service, kServiceBinaryName, first, grace); !st.ok()) {
    log::Warn("sandbox service of " + id + ": " + st.message());
  }
}

// A Create the service never answered because its connection dropped: if the
// service died (kill -9, crash), say so; "ttrpc: connection closed" alone
// does not tell the caller what happened.
Status ServiceFailure(const Status& st, const proc::Identity& service, const std::string& id) {
  if (st.code() != Code::kUnavailable) return st;
  // Its fds close a moment before it becomes a zombie: wait for that.
  auto pidfd = proc::OpenVerifiedPidfd(service, kServiceBinaryName);
  bool died = pidfd.ok() ? proc::WaitPidfdExit(pidfd->get(), std::chrono::milliseconds(500))
                         : pidfd.status().code() == Code::kNotFound;
  if (!died) return st;
  return Error(st.code(), "the sandbox service of " + id + " (pid " + std::to_string(service.pid) +
                              ") died during create: " + st.message());
}

// Removes what a failed create left: the service (and with it the VM) and the record.
void Abandon(const GlobalOptions& g, const std::string& id, const proc::Identity& service) {
  if (service.pid > 0) {
    StopService(service, id, SIGTERM, std::chrono::seconds(5));
    waitpid(service.pid, nullptr, WNOHANG);  // our child: reap it
  }
  RemoveServiceSockets(g, id);
  // A service that died during the Create (kill -9, crash) could not remove
  // what the sandbox had made: its VM directory, its share, the pod network
  // changes. Once the record below is gone nothing could name them any more
  // (`delete` says "does not exist") and the id stays "in use" for good.
  // Only our own, unlocked leftovers are touched (sandbox/ownership.h).
  if (service.pid > 0) {
    if (Status st = sandbox::RemoveVmLeftovers(id, sandbox::KataRuntimeOwner(ServiceSocketOf(g, id))); !st.ok()) {
      log::Warn("cleanup of " + id + ": " + st.message());
    }
  }
  Status st = fs::RemoveAll(StateDirOf(g, id));
  if (!st.ok()) log::Warn("cleanup of " + id + ": " + st.message());
}

// The monitor died during set-up (kill -9, OOM) after it may have started
// the service, saved the record and had the VM booted: it could not undo
// them, and callers take a failed create to have left nothing (runc), so
// nobody would delete them. Only a record whose monitor is gone is deleted:
// a live one is a concurrent create of the same id that won.
// The report pipe's EOF comes as the dying monitor closes its fds, a moment
// before it becomes a zombie (when /proc still shows it running): wait for that.
void RemoveAfterDeadMonitor(const GlobalOptions& g, const std::string& id) {
  auto rec = LoadRecord(g, id);
  if (!rec.ok()) return;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (proc::StillRunning(rec->monitor) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (proc::StillRunning(rec->monitor)) return;
  if (Status st = DeleteContainer(g, id, true); !st.ok()) log::Warn("cleanup of " + id + ": " + st.message());
}

// Where the monitor was before it joined the sandbox's cgroup.
std::vector<std::string>& MonitorHome() {
  static std::vector<std::string> dirs;
  return dirs;
}

// A sandbox's cgroup can only be removed once empty: a monitor that deletes
// its own container (`run`) goes back first.
void MonitorLeavesTheSandbox() {
  for (const std::string& dir : MonitorHome()) (void)fs::WriteExisting(dir + "/cgroup.procs", std::to_string(getpid()));
  MonitorHome().clear();
}

// Callers enter /proc/<state.pid>/ns/net as runc's init's: podman sets up
// the network of a container with a user namespace there after create. So
// the monitor joins the pod's network namespace, where the VMM runs, and
// never leaves the caller to configure its own (the host's). A spec without
// a network namespace (host networking) keeps the caller's, as runc's.
Status MonitorJoinsThePodNetwork(const oci::Spec& spec, uint32_t vmm_pid) {
  bool pod_network = false;
  if (spec.linux_config) {
    for (const oci::Namespace& ns : spec.linux_config->namespaces) pod_network |= ns.type == "network";
  }
  if (!pod_network) return Status::Ok();
  std::string path = "/proc/" + std::to_string(vmm_pid) + "/ns/net";
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError("the monitor cannot enter the pod's network namespace " + path);
  if (setns(fd.get(), CLONE_NEWNET) != 0) return ErrnoError("the monitor cannot enter the pod's network namespace " + path);
  return Status::Ok();
}

// Creates the container with this process's stdio as the container's: the
// fds themselves go to the service, so output reaches the caller's pipe,
// file or terminal with no copy through us.
Result<std::unique_ptr<ServiceClient>> CreateAsMonitor(const GlobalOptions& g, const CreateOptions& o,
                                                       const std::string& bundle, const oci::Spec& spec) {
  std::string dir = StateDirOf(g, o.id);
  if (mkdir(dir.c_str(), 0700) != 0) {
    if (errno == EEXIST) return Error(Code::kAlreadyExists, "container with id exists: " + o.id);
    RETURN_IF_ERROR(fs::MkdirAll(fs::Dirname(dir), 0700));
    if (mkdir(dir.c_str(), 0700) != 0) return ErrnoError("create state directory " + dir);
  }
  std::string rootfs = spec.root.path[0] == '/' ? spec.root.path : fs::JoinPath(bundle, spec.root.path);
  ContainerRecord rec;
  rec.id = o.id;
  rec.bundle = bundle;
  rec.rootfs = rootfs;
  rec.annotations = spec.annotations;
  rec.created = std::chrono::system_clock::now();
  auto self = proc::IdentityOf(getpid());  // this process is the monitor
  auto service = self.ok() ? StartService(g, o.id) : Result<proc::Identity>(self.status());
  if (!service.ok()) {
    Abandon(g, o.id, {});
    return service.status();
  }
  rec.monitor = *self;
  rec.service = *service;
  auto fail = [&](const Status& st) {
    Abandon(g, o.id, rec.service);
    return st;
  };
  if (Status st = SaveRecord(g, rec); !st.ok()) return fail(st);
  auto client = ServiceClient::Dial(ServiceSocketOf(g, o.id));
  if (!client.ok()) return fail(client.status());
  task::CreateTaskRequest req;
  req.set_id(o.id);
  req.set_bundle(bundle);
  auto stdio = HandOverStdio(ServiceSocketOf(g, o.id), o.console_socket);
  if (!stdio.ok()) return fail(stdio.status());
  req.set_stdin(stdio->in);
  req.set_stdout(stdio->out);
  req.set_stderr(stdio->err);
  req.set_terminal(spec.process && spec.process->terminal);
  auto created = (*client)->Create(req);
  if (!created.ok()) return fail(ServiceFailure(created.status(), rec.service, o.id));
  // The monitor is the container's pid for the caller: it lives in the
  // sandbox's host cgroup (at cgroupsPath) with the service and the VM,
  // until it deletes the container itself (`run`: MonitorLeavesTheSandbox).
  MonitorHome() = sandbox::CgroupDirsOf("self");
  sandbox::MoveToCgroupsOf(std::to_string(rec.service.pid), getpid(), "the monitor of " + o.id);
  if (Status st = MonitorJoinsThePodNetwork(spec, created->pid()); !st.ok()) return fail(st);
  return std::move(*client);
}

int WaitExit(ServiceClient* client, const std::string& id) {
  auto w = client->Wait(id);
  return w.ok() ? static_cast<int>(w->exit_status()) : 255;
}

}  // namespace

Status CreateDetached(const GlobalOptions& g, const CreateOptions& o) {
  std::string bundle;
  oci::Spec spec;
  RETURN_IF_ERROR(ValidateBundle(o, &bundle, &spec));
  if (fs::Exists(StateDirOf(g, o.id))) return Error(Code::kAlreadyExists, "container with id exists: " + o.id);
  std::unique_ptr<ServiceClient> client;
  auto monitor = ForkMonitor(
      [&]() -> Status {
        ASSIGN_OR_RETURN(client, CreateAsMonitor(g, o, bundle, spec));
        return Status::Ok();
      },
      [&]() {
        ForwardSignals(client.get(), o.id, "");
        return WaitExit(client.get(), o.id);
      });
  if (!monitor.ok()) {
    if (monitor.status().code() == Code::kAborted) RemoveAfterDeadMonitor(g, o.id);
    return monitor.status();
  }
  if (!o.pid_file.empty()) {
    ASSIGN_OR_RETURN(std::string pid_file, fs::AbsolutePath(o.pid_file));
    RETURN_IF_ERROR(fs::WriteFileAtomic(pid_file, std::to_string(*monitor)));
  }
  return Status::Ok();
}

Status StartDetached(const GlobalOptions& g, const std::string& id) {
  ASSIGN_OR_RETURN(ContainerRecord rec, LoadRecord(g, id));
  auto client = ServiceClient::Dial(ServiceSocketOf(g, id));
  if (!client.ok()) return Error(Code::kFailedPrecondition, "cannot start a container that has stopped");
  // As `state` reports it (container_status.h): with its monitor gone the
  // container is stopped, even while the service, whose kill of the orphan
  // is asynchronous, still says created or running.
  if (!proc::StillRunning(rec.monitor)) return Error(Code::kFailedPrecondition, "cannot start a container that has stopped");
  ASSIGN_OR_RETURN(task::StateResponse state, (*client)->State(id));
  switch (state.status()) {
    case task::CREATED: return (*client)->Start(id);
    case task::STOPPED: return Error(Code::kFailedPrecondition, "cannot start a container that has stopped");
    case task::RUNNING: return Error(Code::kFailedPrecondition, "cannot start an already running container");
    default: return Error(Code::kFailedPrecondition, "cannot start a container in the " +
                                                        std::string(task::Status_Name(state.status())) + " state");
  }
}

Result<int> RunForeground(const GlobalOptions& g, const CreateOptions& o, bool keep) {
  std::string bundle;
  oci::Spec spec;
  RETURN_IF_ERROR(ValidateBundle(o, &bundle, &spec));
  ASSIGN_OR_RETURN(std::unique_ptr<ServiceClient> client, CreateAsMonitor(g, o, bundle, spec));
  if (!o.pid_file.empty()) RETURN_IF_ERROR(fs::WriteFileAtomic(o.pid_file, std::to_string(getpid())));
  if (Status st = client->Start(o.id); !st.ok()) {
    Status d = DeleteContainer(g, o.id, true);
    (void)d;
    return st;
  }
  ForwardSignals(client.get(), o.id, "");
  int status = WaitExit(client.get(), o.id);
  if (!keep) {
    ContainerRecord rec;
    if (auto r = LoadRecord(g, o.id); r.ok()) rec = *r;
    RETURN_IF_ERROR(DeleteContainer(g, o.id, true));
    if (rec.service.pid > 0) waitpid(rec.service.pid, nullptr, WNOHANG);  // our child: do not leave a zombie
  }
  return status;
}

Status DeleteContainer(const GlobalOptions& g, const std::string& id, bool force) {
  MonitorLeavesTheSandbox();
  ASSIGN_OR_RETURN(ContainerRecord rec, LoadRecord(g, id));
  auto client = ServiceClient::Dial(ServiceSocketOf(g, id));
  if (client.ok()) {
    auto state = (*client)->State(id);
    if (state.ok() && (state->status() == task::RUNNING || state->status() == task::PAUSED)) {
      // A container whose monitor is gone counts as stopped (container_status.h).
      bool orphaned = !proc::StillRunning(rec.monitor);
      if (!force && !orphaned) {
        return Error(Code::kFailedPrecondition, "cannot delete container " + id + " that is not stopped: running");
      }
      Status k = (*client)->Kill(id, "", SIGKILL, true);
      (void)k;
      // The kill is asynchronous: Delete only succeeds once the init is gone.
      for (int i = 0; i < 1000; i++) {
        auto s = (*client)->State(id);
        if (!s.ok() || s->status() == task::STOPPED) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    if (state.ok()) {
      auto d = (*client)->Delete(id);
      if (!d.ok()) log::Warn("delete " + id + ": " + d.status().message());
    }
    Status s = (*client)->Shutdown(id);
    if (!s.ok()) log::Warn("shutdown service of " + id + ": " + s.message());
  }
  // The service tears the VM down on its way out; wait for it so nothing
  // outlives `delete`, and make sure of it if it is stuck.
  StopService(rec.service, id, 0, std::chrono::seconds(10));
  RemoveServiceSockets(g, id);
  // A service that was SIGKILLed could not remove its VM (one from the VM
  // cache outlives it), its binds or its directories.
  if (Status st = sandbox::RemoveVmLeftovers(id, sandbox::KataRuntimeOwner(ServiceSocketOf(g, id))); !st.ok()) log::Warn("cleanup of " + id + ": " + st.message());
  return fs::RemoveAll(StateDirOf(g, id));
}

}  // namespace kata::cli
