// ExecInContainer: a new process in a running container's namespaces and root.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "agent/container/launch.h"
#include "agent/container/namespaces.h"
#include "agent/container/plan.h"
#include "agent/container/process_setup.h"
#include "agent/container/report.h"
#include "agent/container/spawn.h"

namespace kata::agent {
namespace {

struct ExecArgs {
  const ProcessPlan* plan;
  int report_fd;
};

void ExecMain(void* p) {
  using namespace child;
  const ExecArgs* args = static_cast<const ExecArgs*>(p);
  const ProcessPlan& plan = *args->plan;
  int report_fd = args->report_fd;
  int no_start = -1;
  ResetSignals();
  umask(0);
  const char* exec_path = nullptr;
  Step s = SetupStdio(plan, &report_fd, &no_start);
  if (!s.failed) s = SetupSession(plan);
  if (!s.failed) s = SetOomScore(plan);
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

struct Fds {
  std::vector<int> fds;
  ~Fds() {
    for (int fd : fds) close(fd);
  }
};

}  // namespace

Result<pid_t> ExecInContainer(pid_t init_pid, const oci::Process& process, int stdin_fd, int stdout_fd,
                              int stderr_fd) {
  std::string proc_dir = "/proc/" + std::to_string(init_pid) + "/";
  std::string ns_dir = proc_dir + "ns/";
  Fds fds;
  int rootfd = open((proc_dir + "root").c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (rootfd < 0) return ErrnoError("open root of container init " + std::to_string(init_pid));
  fds.fds.push_back(rootfd);

  ASSIGN_OR_RETURN(bool other_user_ns, DiffersFromOurs(ns_dir, "user"));
  if (other_user_ns) return Error(Code::kUnimplemented, "exec into a container with a user namespace is not supported");

  SpawnOptions so;
  for (const NamespaceType& t : kJoinOrder) {
    auto differs = DiffersFromOurs(ns_dir, t.proc_name);
    if (!differs.ok()) {
      if (differs.status().code() == Code::kNotFound && std::string(t.proc_name) == "cgroup") continue;
      return differs.status();
    }
    if (!*differs) continue;
    std::string path = ns_dir + t.proc_name;
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoError("open " + path);
    fds.fds.push_back(fd);
    so.joins.push_back({fd, t.clone_flag, path});
  }
  so.chroot_dirfd = rootfd;

  auto plan = std::make_unique<ProcessPlan>();
  RETURN_IF_ERROR(BuildProcessPlan(process, rootfd, plan.get()));
  plan->stdio[0] = stdin_fd;
  plan->stdio[1] = stdout_fd;
  plan->stdio[2] = stderr_fd;

  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) return ErrnoError("create report pipe");
  ExecArgs args{plan.get(), report[1]};
  Result<pid_t> pid = Spawn(so, ExecMain, &args);
  close(report[1]);
  if (!pid.ok()) {
    close(report[0]);
    return pid.status();
  }
  auto r = ReadReport(report[0]);
  close(report[0]);
  if (!r.ok()) return r.status();
  if (r->has_value()) return ReportStatus(**r);
  return *pid;
}

}  // namespace kata::agent
