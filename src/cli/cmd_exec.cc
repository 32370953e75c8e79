// `kata-runtime exec`: run a new process in a running container, as runc
// does: --process JSON, or the bundle's process with args from the command
// line; detached (-d) leaves a monitor whose pid goes to --pid-file. With
// neither, Kata's guest debug console of the sandbox (cli/debug_console.h).
#include <unistd.h>

#include <random>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/debug_console.h"
#include "cli/monitor.h"
#include "cli/parse.h"
#include "cli/service_client.h"
#include "cli/state_dir.h"
#include "common/json_parse.h"
#include "common/fs.h"
#include "common/log.h"
#include "oci/spec_json.h"

namespace kata::cli {
namespace {

namespace task = containerd::task::v2;

struct ExecOptions {
  std::string id, process_file, cwd, user, pid_file, console_socket;
  std::vector<std::string> env, args, caps;
  std::vector<int> additional_gids;
  bool tty = false, detach = false, no_new_privs = false, ignore_paused = false;
  int preserve_fds = 0;
};

std::string NewExecId() {
  std::random_device rd;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%08x%08x", rd(), rd());
  return std::string("exec-") + buf;
}

Result<nlohmann::json> BuildProcess(const ContainerRecord& rec, const ExecOptions& o) {
  nlohmann::json p;
  if (!o.process_file.empty()) {
    ASSIGN_OR_RETURN(std::string text, fs::ReadFile(o.process_file));
    ASSIGN_OR_RETURN(p, ParseJsonBounded(text, o.process_file));
  } else {
    if (o.args.empty()) return Error(Code::kInvalidArgument, "exec: no command given (args or --process)");
    ASSIGN_OR_RETURN(std::string text, fs::ReadFile(fs::JoinPath(rec.bundle, "config.json")));
    ASSIGN_OR_RETURN(nlohmann::json spec, ParseJsonBounded(text, fs::JoinPath(rec.bundle, "config.json")));
    if (!spec.is_object() || !spec.contains("process")) return Error(Code::kInvalidArgument, "bundle config.json has no process");
    p = spec["process"];
    p["args"] = o.args;
    p["terminal"] = o.tty;
  }
  for (const auto& e : o.env) p["env"].push_back(e);
  if (!o.cwd.empty()) p["cwd"] = o.cwd;
  if (!o.user.empty()) {
    ASSIGN_OR_RETURN(UserSpec user, ParseUserSpec(o.user));
    p["user"]["uid"] = user.uid;
    if (user.gid) p["user"]["gid"] = *user.gid;
  }
  for (int gid : o.additional_gids) p["user"]["additionalGids"].push_back(gid);
  if (o.no_new_privs) p["noNewPrivileges"] = true;
  RETURN_IF_ERROR(oci::ParseProcess(p).status());
  return p;
}

Status StartExec(ServiceClient* client, const std::string& socket, const std::string& console_socket,
                 const std::string& id, const std::string& exec_id, const nlohmann::json& process) {
  task::ExecProcessRequest req;
  req.set_id(id);
  req.set_exec_id(exec_id);
  req.set_terminal(process.value("terminal", false));
  ASSIGN_OR_RETURN(StdioRefs stdio, HandOverStdio(socket, console_socket));
  req.set_stdin(stdio.in);
  req.set_stdout(stdio.out);
  req.set_stderr(stdio.err);
  req.mutable_spec()->set_type_url("types.containerd.io/opencontainers/runtime-spec/1/Process");
  req.mutable_spec()->set_value(process.dump());
  RETURN_IF_ERROR(client->Exec(req));
  return client->Start(id, exec_id);
}

Result<int> Exec(const GlobalOptions& g, const ExecOptions& o) {
  // Kata's `exec SANDBOX_ID`: runc's exec always has a command, so no clash.
  if (o.args.empty() && o.process_file.empty()) {
    ASSIGN_OR_RETURN(std::string console, DebugConsoleSocket(o.id));
    if (console.empty()) {
      return Error(Code::kInvalidArgument, "exec: no command given (args or --process); sandbox " + o.id +
                                               " has no guest debug console ([agent.kata] debug_console_enabled)");
    }
    RETURN_IF_ERROR(RunDebugConsole(console));
    return 0;
  }
  ASSIGN_OR_RETURN(ContainerRecord rec, LoadRecord(g, o.id));
  ASSIGN_OR_RETURN(nlohmann::json process, BuildProcess(rec, o));
  auto dial = ServiceClient::Dial(ServiceSocketOf(g, o.id));
  if (!dial.ok()) return Error(Code::kFailedPrecondition, "cannot exec in a stopped container");
  std::unique_ptr<ServiceClient> client = std::move(*dial);
  ASSIGN_OR_RETURN(task::StateResponse state, client->State(o.id));
  // With its monitor gone the container is stopped, as `state` reports it
  // (container_status.h), even while the service still says running.
  if (state.status() == task::STOPPED || !proc::StillRunning(rec.monitor)) {
    return Error(Code::kFailedPrecondition, "cannot exec in a stopped container");
  }
  if (state.status() == task::PAUSED && !o.ignore_paused) {
    return Error(Code::kFailedPrecondition, "cannot exec in a paused container (use --ignore-paused to override)");
  }
  std::string exec_id = NewExecId();
  // Runs in the monitor after fork: a ttrpc client's reader thread does not
  // survive fork(), so the monitor dials its own connection.
  auto wait = [&]() {
    ForwardSignals(client.get(), o.id, exec_id);
    auto w = client->Wait(o.id, exec_id);
    if (w.ok()) return static_cast<int>(w->exit_status());
    // The service died (kill -9, crash) or dropped us: the caller gets 255
    // and, unlike from a process that exited 255, a reason.
    log::Error("exec in " + o.id + ": lost the sandbox service while waiting for the process, its exit status is unknown: " +
               w.status().message());
    return 255;
  };
  if (!o.detach) {
    RETURN_IF_ERROR(StartExec(client.get(), ServiceSocketOf(g, o.id), o.console_socket, o.id, exec_id, process));
    if (!o.pid_file.empty()) RETURN_IF_ERROR(fs::WriteFileAtomic(o.pid_file, std::to_string(getpid())));
    return wait();
  }
  auto setup = [&]() -> Status {
    ASSIGN_OR_RETURN(client, ServiceClient::Dial(ServiceSocketOf(g, o.id)));
    return StartExec(client.get(), ServiceSocketOf(g, o.id), o.console_socket, o.id, exec_id, process);
  };
  client.reset();
  ASSIGN_OR_RETURN(pid_t monitor, ForkMonitor(setup, wait));
  if (!o.pid_file.empty()) {
    ASSIGN_OR_RETURN(std::string pid_file, fs::AbsolutePath(o.pid_file));
    RETURN_IF_ERROR(fs::WriteFileAtomic(pid_file, std::to_string(monitor)));
  }
  return 0;
}

}  // namespace

void AddExecCommand(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto* o = new ExecOptions;
  auto* cmd = app.add_subcommand("exec", "execute a new process inside the container");
  cmd->add_option("-p,--process", o->process_file, "path to the process.json");
  cmd->add_option("--cwd", o->cwd, "current working directory in the container");
  cmd->add_option("-e,--env", o->env, "set environment variables");
  cmd->add_option("-u,--user", o->user, "UID (format: <uid>[:<gid>])");
  cmd->add_option("-g,--additional-gids", o->additional_gids, "additional gids");
  cmd->add_option("-c,--cap", o->caps, "add a capability to the bounding set");
  cmd->add_flag("-t,--tty", o->tty, "allocate a pseudo-TTY");
  cmd->add_flag("-d,--detach", o->detach, "detach from the container's process");
  cmd->add_option("--pid-file", o->pid_file, "file to write the process id to");
  cmd->add_option("--console-socket", o->console_socket, "unix socket that receives the pty master");
  cmd->add_flag("--no-new-privs", o->no_new_privs, "set the no new privileges value for the process");
  cmd->add_flag("--ignore-paused", o->ignore_paused, "allow exec in a paused container");
  cmd->add_option("--preserve-fds", o->preserve_fds, "only 0: extra fds cannot be passed into the VM")
      ->check(NoPreservedFds());
  std::string unused_label, unused_apparmor, unused_cgroup;
  cmd->add_option("--process-label", unused_label, "accepted for compatibility");
  cmd->add_option("--apparmor", unused_apparmor, "accepted for compatibility");
  cmd->add_option("--cgroup", unused_cgroup, "accepted for compatibility");
  cmd->add_option("id", o->id, "container id")->required();
  cmd->add_option("command", o->args, "command and arguments");
  cmd->positionals_at_end();
  cmd->prefix_command();
  cmd->callback([&g, o, exit_code] {
    auto st = Exec(g, *o);
    if (!st.ok()) {
      ReportError(g, st.status().message());
      *exit_code = 255;
      return;
    }
    *exit_code = *st;
  });
}

}  // namespace kata::cli
