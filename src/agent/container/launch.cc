// Parent side of Launch: namespaces, sync channels, id maps, the handshake.
#include "agent/container/launch.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "agent/container/cgroup.h"
#include "agent/container/console.h"
#include "agent/container/init.h"
#include "agent/container/mounts.h"
#include "agent/container/namespaces.h"
#include "agent/container/plan.h"
#include "agent/container/report.h"
#include "agent/container/security.h"
#include "agent/container/spawn.h"
#include "common/log.h"

namespace kata::agent {
namespace {

Status SendByte(int fd, char c) {
  if (send(fd, &c, 1, MSG_NOSIGNAL) != 1) return ErrnoError("signal container init");
  return {};
}

// Decides clone flags and namespaces to join from linux.namespaces.
// As runc: a namespace type the spec does not list is shared with the
// runtime, here the guest's (e.g. no "pid": the container sees every guest
// process). Only the mount namespace is always new: the rootfs is pivoted into.
Status PlanNamespaces(const oci::Spec& spec, LaunchPlan* plan, SpawnOptions* so, std::vector<UniqueFd>* fds) {
  so->clone_flags = CLONE_NEWNS;
  if (!spec.linux_config) return {};
  bool has_uts = false;
  for (const oci::Namespace& ns : spec.linux_config->namespaces) has_uts = has_uts || ns.type == "uts";
  if (!has_uts && !spec.hostname.empty()) {
    return Error(Code::kInvalidArgument, "hostname \"" + spec.hostname +
                                             "\" needs a private UTS namespace: add {\"type\": \"uts\"} to linux.namespaces");
  }
  for (const oci::Namespace& ns : spec.linux_config->namespaces) {
    const NamespaceType* t = FindNamespaceType(ns.type);
    if (t == nullptr) return Error(Code::kInvalidArgument, "unknown namespace type \"" + ns.type + "\"");
    if (ns.type == "time") return Error(Code::kUnimplemented, "time namespaces are not supported");
    if (ns.path.empty()) {
      so->clone_flags |= static_cast<unsigned long>(t->clone_flag);
      if (ns.type == "user") plan->userns = true;
      continue;
    }
    if (ns.type == "mount" || ns.type == "user") {
      return Error(Code::kUnimplemented, "joining an existing " + ns.type + " namespace (" + ns.path +
                                             ") is not supported");
    }
    UniqueFd fd(open(ns.path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return ErrnoError("open " + ns.type + " namespace " + ns.path);
    so->joins.push_back({fd.get(), t->clone_flag, ns.path});
    fds->push_back(std::move(fd));
    so->clone_flags &= ~static_cast<unsigned long>(t->clone_flag);
  }
  if (so->clone_flags & CLONE_NEWCGROUP) {
    // Unshared by the child once it is in its cgroup (init.cc).
    so->clone_flags &= ~static_cast<unsigned long>(CLONE_NEWCGROUP);
    plan->unshare_cgroupns = true;
  }
  if (plan->userns && (spec.linux_config->uid_mappings.empty() || spec.linux_config->gid_mappings.empty())) {
    return Error(Code::kInvalidArgument, "a user namespace needs linux.uidMappings and linux.gidMappings");
  }
  return {};
}

}  // namespace

void PrecreateMountPointsAsAgent(const LaunchPlan& plan) {
  UniqueFd rootfd(open(plan.rootfs.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC));
  if (!rootfd.valid()) return;  // the child reports it
  child::PrecreateMountPoints(plan, rootfd.get());
}

Status OpenChildChannels(UniqueFd report[2], UniqueFd sync[2]) {
  int r[2], s[2];
  if (pipe2(r, O_CLOEXEC) != 0) return ErrnoError("create report pipe");
  UniqueFd r0(r[0]), r1(r[1]);  // closed again if the socket fails
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s) != 0) return ErrnoError("create sync socket");
  report[0] = std::move(r0);
  report[1] = std::move(r1);
  sync[0].reset(s[0]);
  sync[1].reset(s[1]);
  return {};
}

// A user namespace's root may lower its limits but not raise them (that
// needs CAP_SYS_RESOURCE in the agent's namespace): the agent sets them.
Status SetRlimitsOf(pid_t pid, const std::vector<RlimitStep>& rlimits) {
  for (const RlimitStep& r : rlimits) {
    if (prlimit(pid, static_cast<__rlimit_resource>(r.resource), &r.limit, nullptr) != 0) {
      return ErrnoError("set " + r.type);
    }
  }
  return {};
}

namespace {

Status WriteIdMap(pid_t pid, const char* file, const std::vector<oci::IdMapping>& maps) {
  std::string text;
  for (const oci::IdMapping& m : maps) {
    text += std::to_string(m.container_id) + " " + std::to_string(m.host_id) + " " + std::to_string(m.size) + "\n";
  }
  std::string path = "/proc/" + std::to_string(pid) + "/" + file;
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError("open " + path);
  ssize_t n = write(fd.get(), text.data(), text.size());
  int err = errno;
  if (n != static_cast<ssize_t>(text.size())) return ErrnoError("write " + path, n < 0 ? err : EIO);
  return {};
}

// Waits for the child's first report: kReady or the setup error.
Status AwaitReady(int report_fd) {
  ASSIGN_OR_RETURN(std::optional<Report> r, ReadReport(report_fd));
  if (!r) return Error(Code::kInternal, "container init exited during setup without a report");
  if (r->kind == static_cast<uint32_t>(ReportKind::kReady)) return {};
  return ReportStatus(*r);
}

void Reap(pid_t pid, bool reap, bool kill_first) {
  if (kill_first) kill(pid, SIGKILL);
  if (!reap) return;
  while (waitpid(pid, nullptr, __WALL) < 0 && errno == EINTR) {
  }
}

}  // namespace

ContainerProcess::ContainerProcess(pid_t pid, UniqueFd start_fd, UniqueFd report_fd)
    : pid_(pid), start_fd_(std::move(start_fd)), report_fd_(std::move(report_fd)) {}

ContainerProcess::~ContainerProcess() {
  // In this order (not the members' reverse one).
  start_fd_.reset();  // an unstarted init sees EOF and exits
  report_fd_.reset();
  console_fd_.reset();
}

Status ContainerProcess::Start() {
  if (started_) return Error(Code::kFailedPrecondition, "container init already started");
  started_ = true;
  Status sent = SendByte(start_fd_.get(), 'S');
  start_fd_.reset();
  // Until exec the report pipe stays open: EOF = exec done, a record = failure.
  auto r = ReadReport(report_fd_.get());
  report_fd_.reset();
  if (!r.ok()) return r.status();
  if (r->has_value()) return ReportStatus(**r);
  if (!sent.ok()) return Error(Code::kFailedPrecondition, "container init exited before start");
  return {};
}

namespace {

// Terminal: in the container's own devpts when the spec mounts one (with
// the default /dev/ptmx link), else a pty of the agent, whose slave becomes
// the init's stdio (kept open in the pair until the child has it).
Result<PtyPair> PlanTerminal(LaunchPlan* plan) {
  PtyPair agent_pty;
  if (!plan->proc.terminal) return agent_pty;
  bool devpts = false;
  for (const MountStep& m : plan->mounts) devpts |= m.fstype == "devpts" && m.dest_rel == "dev/pts";
  plan->proc.console_in_container = devpts && plan->default_devices;
  if (plan->proc.console_in_container) {
    for (int& fd : plan->proc.stdio) fd = -1;
    return agent_pty;
  }
  ASSIGN_OR_RETURN(agent_pty, OpenAgentPty(plan->proc.rows, plan->proc.cols));
  for (int& fd : plan->proc.stdio) fd = agent_pty.slave.get();
  return agent_pty;
}

// The agent's part between spawn and the child's setup: the cgroup, the id
// maps and the rlimits a user namespace's root may not raise, then 'M'.
Status FinishFromOutside(const LaunchSpec& ls, pid_t pid, unsigned long clone_flags,
                         const std::vector<RlimitStep>& rlimits, int start_fd) {
  if (!ls.cgroup_dir.empty()) RETURN_IF_ERROR(AddToCgroup(ls.cgroup_dir, pid));
  bool userns = ls.spec.linux_config && (clone_flags & CLONE_NEWUSER);
  if (userns) {
    RETURN_IF_ERROR(WriteIdMap(pid, "uid_map", ls.spec.linux_config->uid_mappings));
    RETURN_IF_ERROR(WriteIdMap(pid, "gid_map", ls.spec.linux_config->gid_mappings));
    RETURN_IF_ERROR(SetRlimitsOf(pid, rlimits));
  }
  if (ls.cgroup_dir.empty() && !(clone_flags & CLONE_NEWUSER)) return {};
  return SendByte(start_fd, 'M');
}

}  // namespace

Result<std::unique_ptr<ContainerProcess>> Launch(const LaunchSpec& ls) {
  log::StepTimer timer("launch " + ls.rootfs);
  auto plan = std::make_unique<LaunchPlan>();
  RETURN_IF_ERROR(BuildLaunchPlan(ls, plan.get()));
  timer.Mark("plan");
  SpawnOptions so;
  std::vector<UniqueFd> ns_fds;
  RETURN_IF_ERROR(PlanNamespaces(ls.spec, plan.get(), &so, &ns_fds));
  if (plan->userns) PrecreateMountPointsAsAgent(*plan);
  RETURN_IF_ERROR(BuildSecurityPlan(*ls.spec.process, ls.spec.linux_config ? ls.spec.linux_config->seccomp
                                                                            : nlohmann::json(),
                                    &plan->proc));
  plan->parent_sync = plan->userns || !ls.cgroup_dir.empty();
  ASSIGN_OR_RETURN(PtyPair agent_pty, PlanTerminal(plan.get()));
  bool console_in_container = plan->proc.terminal && plan->proc.console_in_container;

  UniqueFd report[2], start[2];
  RETURN_IF_ERROR(OpenChildChannels(report, start));
  std::vector<RlimitStep> rlimits;
  if (plan->userns) rlimits = plan->proc.rlimits;
  InitArgs args{plan.get(), report[1].get(), start[1].get()};
  timer.Mark("security plan, pipes");
  Result<pid_t> pid = Spawn(so, InitMain, &args);
  timer.Mark("spawn");
  report[1].reset();  // the child's ends: ours must go for EOF to mean the child's
  start[1].reset();
  // The child has its own copy of the plan now.
  plan.reset();
  if (!pid.ok()) return pid.status().Wrap("create container init");
  int start_fd = start[0].get(), report_fd = report[0].get();  // owned by proc from here
  auto proc = std::make_unique<ContainerProcess>(*pid, std::move(start[0]), std::move(report[0]));
  if (agent_pty.master.valid()) proc->SetConsole(std::move(agent_pty.master));

  Status st = FinishFromOutside(ls, *pid, so.clone_flags, rlimits, start_fd);
  if (st.ok()) st = AwaitReady(report_fd);
  timer.Mark("init's setup (mounts, pivot_root, security)");
  if (st.ok() && console_in_container) {
    auto fd = RecvFd(start_fd, "pty master");
    if (fd.ok()) proc->SetConsole(std::move(*fd));
    st = fd.status();
  }
  if (!st.ok()) {
    proc.reset();  // closes the channels: a child still in setup exits
    Reap(*pid, ls.reap_on_failure, /*kill_first=*/true);
    return st;
  }
  if (!ls.wait_for_start) {
    st = proc->Start();
    if (!st.ok()) {
      Reap(*pid, ls.reap_on_failure, false);
      return st;
    }
  }
  return proc;
}

}  // namespace kata::agent
