// ExecInContainer: a new process in a running container's namespaces and root.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "agent/container/cgroup.h"
#include "agent/container/console.h"
#include "agent/container/launch.h"
#include "agent/container/namespaces.h"
#include "agent/container/plan.h"
#include "agent/container/process_setup.h"
#include "agent/container/report.h"
#include "agent/container/security.h"
#include "agent/container/spawn.h"

namespace kata::agent {
namespace {

struct ExecArgs {
  const ProcessPlan* plan;
  int report_fd;
  int sync_fd;  // child end of a socketpair: 'G' from the agent once in the cgroup; pty master back
  // The container's user namespace, or -1. Joined by the child itself, last:
  // a thread (the spawn helper) may not join one, and once in it the child
  // could no longer join the namespaces the agent's own user namespace owns.
  int userns_fd;
};

void ExecMain(void* p) {
  using namespace child;
  const ExecArgs* args = static_cast<const ExecArgs*>(p);
  const ProcessPlan& plan = *args->plan;
  int report_fd = args->report_fd;
  int sync_fd = args->sync_fd;
  ResetSignals();
  char go = 0;
  ssize_t n;
  do {
    n = read(sync_fd, &go, 1);
  } while (n < 0 && errno == EINTR);
  if (n != 1 || go != 'G') _exit(1);  // the agent gave up on us
  if (args->userns_fd >= 0 && setns(args->userns_fd, CLONE_NEWUSER) != 0) {
    SendReport(report_fd, ReportKind::kSetupError, Fail(errno, "join the container's user namespace"));
    _exit(1);
  }
  umask(0);
  const char* exec_path = nullptr;
  Step s = SetupStdio(plan, &report_fd, &sync_fd);
  CloseInheritedFds();
  if (!s.failed) s = SetupSession(plan);
  if (!s.failed) s = SetOomScore(plan);
  if (!s.failed) s = SetupConsole(plan, sync_fd);
  if (!s.failed) s = ApplyProcess(plan, &exec_path);
  if (s.failed) {
    SendReport(report_fd, ReportKind::kSetupError, s);
    _exit(1);
  }
  ExecProcess(plan, exec_path, report_fd);
}

// True when /proc/<pid>/ns/<name> is a different namespace from ours.
Result<bool> DiffersFromOurs(const std::string& ns_dir, const char* name) {
  struct stat theirs, ours;
  std::string path = ns_dir + name;
  if (stat(path.c_str(), &theirs) != 0) return ErrnoError("stat " + path);
  std::string self = std::string("/proc/thread-self/ns/") + name;
  if (stat(self.c_str(), &ours) != 0) return ErrnoError("stat " + self);
  return theirs.st_ino != ours.st_ino || theirs.st_dev != ours.st_dev;
}

}  // namespace

Result<pid_t> ExecInContainer(pid_t init_pid, const oci::Process& process, int stdin_fd, int stdout_fd,
                              int stderr_fd) {
  ExecSpec es;
  es.init_pid = init_pid;
  es.process = process;
  es.stdin_fd = stdin_fd;
  es.stdout_fd = stdout_fd;
  es.stderr_fd = stderr_fd;
  ASSIGN_OR_RETURN(ExecResult r, Exec(es));
  UniqueFd unwanted_console(r.console_fd);  // closed: this form has no use for it
  return r.pid;
}

namespace {

// The namespaces of the container's init that differ from ours, opened for
// the spawn helper to join (its user namespace apart: the child joins it,
// last, through *userns_fd).
Status PlanJoins(const std::string& ns_dir, std::vector<UniqueFd>* fds, SpawnOptions* so, int* userns_fd) {
  ASSIGN_OR_RETURN(bool other_user_ns, DiffersFromOurs(ns_dir, "user"));
  if (other_user_ns) {
    UniqueFd fd(open((ns_dir + "user").c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return ErrnoError("open " + ns_dir + "user");
    *userns_fd = fd.get();
    fds->push_back(std::move(fd));
  }
  for (const NamespaceType& t : kJoinOrder) {
    auto differs = DiffersFromOurs(ns_dir, t.proc_name);
    if (!differs.ok()) {
      if (differs.status().code() == Code::kNotFound && std::string(t.proc_name) == "cgroup") continue;
      return differs.status();
    }
    if (!*differs) continue;
    std::string path = ns_dir + t.proc_name;
    UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return ErrnoError("open " + path);
    so->joins.push_back({fd.get(), t.clone_flag, path});
    fds->push_back(std::move(fd));
  }
  return Status::Ok();
}

// A terminal exec: the container's own devpts when it has a /dev/ptmx,
// else a pty of the agent whose slave is the process's stdio (kept open in
// the pair until the child has it).
Result<PtyPair> PlanExecTerminal(const std::string& container_root, ProcessPlan* plan) {
  PtyPair agent_pty;
  if (!plan->terminal) return agent_pty;
  plan->console_in_container = HasContainerPtmx(container_root);
  if (plan->console_in_container) {
    for (int& fd : plan->stdio) fd = -1;
    return agent_pty;
  }
  ASSIGN_OR_RETURN(agent_pty, OpenAgentPty(plan->rows, plan->cols));
  for (int& fd : plan->stdio) fd = agent_pty.slave.get();
  return agent_pty;
}

// The agent's part before the child runs on: its cgroup, the rlimits a user
// namespace's root may not raise (`rlimits`, or none), then 'G'.
Status ReleaseExecChild(const ExecSpec& es, pid_t pid, const std::vector<RlimitStep>* rlimits, int sync_fd) {
  if (!es.cgroup_dir.empty()) RETURN_IF_ERROR(AddToCgroup(es.cgroup_dir, pid));
  if (rlimits != nullptr) RETURN_IF_ERROR(SetRlimitsOf(pid, *rlimits));
  char go = 'G';
  if (send(sync_fd, &go, 1, MSG_NOSIGNAL) != 1) return ErrnoError("start exec process");
  return Status::Ok();
}

}  // namespace

Result<ExecResult> Exec(const ExecSpec& es) {
  pid_t init_pid = es.init_pid;
  std::string proc_dir = "/proc/" + std::to_string(init_pid) + "/";
  std::string ns_dir = proc_dir + "ns/";
  UniqueFd rootfd(open((proc_dir + "root").c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC));
  if (!rootfd.valid()) return ErrnoError("open root of container init " + std::to_string(init_pid));

  std::vector<UniqueFd> ns_fds;
  int userns_fd = -1;
  SpawnOptions so;
  RETURN_IF_ERROR(PlanJoins(ns_dir, &ns_fds, &so, &userns_fd));
  so.chroot_dirfd = rootfd.get();

  auto plan = std::make_unique<ProcessPlan>();
  RETURN_IF_ERROR(BuildProcessPlan(es.process, rootfd.get(), plan.get()));
  RETURN_IF_ERROR(BuildSecurityPlan(es.process, es.seccomp, plan.get()));
  plan->stdio[0] = es.stdin_fd;
  plan->stdio[1] = es.stdout_fd;
  plan->stdio[2] = es.stderr_fd;
  // The pty's master is closed on failure, its slave once the child has it.
  ASSIGN_OR_RETURN(PtyPair agent_pty, PlanExecTerminal(proc_dir + "root", plan.get()));

  UniqueFd report[2], sync[2];
  RETURN_IF_ERROR(OpenChildChannels(report, sync));
  ExecArgs args{plan.get(), report[1].get(), sync[1].get(), userns_fd};
  Result<pid_t> pid = Spawn(so, ExecMain, &args);
  report[1].reset();  // the child's ends: ours must go for EOF to mean the child's
  sync[1].reset();
  if (!pid.ok()) return pid.status();
  Status st = ReleaseExecChild(es, *pid, userns_fd >= 0 ? &plan->rlimits : nullptr, sync[0].get());
  if (!st.ok()) {
    kill(*pid, SIGKILL);  // the caller's reaper collects it
    return st;
  }
  auto r = ReadReport(report[0].get());
  report[0].reset();
  if (!r.ok()) return r.status();
  if (r->has_value()) return ReportStatus(**r);
  ExecResult out;
  out.pid = *pid;
  if (plan->terminal && plan->console_in_container) {
    ASSIGN_OR_RETURN(UniqueFd console, RecvFd(sync[0].get(), "pty master"));
    out.console_fd = console.release();  // the caller's now
  } else if (agent_pty.master.valid()) {
    out.console_fd = agent_pty.master.release();  // the caller's now
  }
  return out;
}

}  // namespace kata::agent
