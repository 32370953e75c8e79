#include "agent/container/init.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "agent/container/console.h"
#include "agent/container/mounts.h"
#include "agent/container/process_setup.h"
#include "agent/container/report.h"
#include "agent/container/rootfs.h"
#include "agent/container/start_hooks.h"
#include "common/unique_fd.h"

namespace kata::agent {
namespace {

using namespace child;

// One byte from the parent; false on EOF (the parent gave up on us).
bool WaitByte(int fd, char expected) {
  char c = 0;
  ssize_t n;
  do {
    n = read(fd, &c, 1);
  } while (n < 0 && errno == EINTR);
  return n == 1 && c == expected;
}

Step WriteSysctl(const SysctlStep& s) {
  UniqueFd fd(open(s.path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) return Fail(errno, "set sysctl ", s.key.c_str());
  if (!WriteAll(fd.get(), s.value.data(), s.value.size())) return Fail(errno, "set sysctl ", s.key.c_str());
  return Ok();
}

// In a user namespace, the sysctls of the namespaces it does not own (the
// pod's network, which the container shares with the VM) can only be written
// as the agent's root, and values naming ids (ping_group_range) read in the
// container's id maps: between the maps and our setresuid. Those of the
// namespaces it owns (a new IPC namespace) only after the setresuid: each
// is tried here and the rest later.
void WriteSysctlsOfOuterNamespaces(LaunchPlan& plan) {
  for (SysctlStep& s : plan.sysctls) s.written = !WriteSysctl(s).failed;
}

Step Setup(LaunchPlan& plan, int* report_fd, int* start_fd, const char** exec_path) {
  UniqueFd rootfd;
  // In a user namespace, before the id maps make us its root: until then we
  // are the agent's root (the owner of the shared directories, which may be
  // 0700), afterwards the mapped uid, which may not reach the rootfs or a
  // bind's source by its path. Mounting needs no mapping, only the new
  // namespace's capabilities; the sources are opened here, in the new mount
  // namespace (a bind's source must be a mount of the caller's namespace).
  if (plan.userns) {
    CHILD_TRY(BindRootfs(plan, &rootfd));
    CHILD_TRY(OpenBindSources(plan));
  }
  if (plan.parent_sync && !WaitByte(*start_fd, 'M')) {
    return FailMsg(Code::kAborted, "the agent did not finish the container's cgroup and id maps");
  }
  if (plan.userns) {
    WriteSysctlsOfOuterNamespaces(plan);
    // Become root of the new user namespace (we were the unmapped host root).
    if (SysSetresgid(0) != 0) return Fail(errno, "setgid 0 in user namespace");
    if (SysSetresuid(0) != 0) return Fail(errno, "setuid 0 in user namespace");
  }
  // Now that the agent has moved us into the container's cgroup, that cgroup
  // becomes the root of the new cgroup namespace.
  if (plan.unshare_cgroupns && unshare(CLONE_NEWCGROUP) != 0) return Fail(errno, "unshare cgroup namespace");
  CHILD_TRY(SetupStdio(plan.proc, report_fd, start_fd));
  CHILD_TRY(SetupSession(plan.proc));
  umask(0);  // device and mount point modes exactly as asked
  CHILD_TRY(SetOomScore(plan.proc));  // the agent's /proc is still in view
  if (!rootfd.valid()) CHILD_TRY(BindRootfs(plan, &rootfd));
  CHILD_TRY(MountIntoRootfs(plan, rootfd.get()));
  CHILD_TRY(EnterRootfs(plan, rootfd.get()));
  // Before CloseInheritedFds: nothing may close its number once that is free.
  rootfd.reset();
  CloseInheritedFds();
  // Before FinalizeRootfs: readonlyPaths usually include /proc/sys.
  for (const SysctlStep& s : plan.sysctls) {
    if (!s.written) CHILD_TRY(WriteSysctl(s));
  }
  CHILD_TRY(FinalizeRootfs(plan));
  if (plan.set_hostname && sethostname(plan.hostname.data(), plan.hostname.size()) != 0) {
    return Fail(errno, "sethostname ", plan.hostname.c_str());
  }
  if (plan.set_domainname && setdomainname(plan.domainname.data(), plan.domainname.size()) != 0) {
    return Fail(errno, "setdomainname ", plan.domainname.c_str());
  }
  CHILD_TRY(SetupConsole(plan.proc, *start_fd));
  return ApplyProcess(plan.proc, exec_path);
}

}  // namespace

void InitMain(void* p) {
  const InitArgs* args = static_cast<const InitArgs*>(p);
  LaunchPlan& plan = *args->plan;
  int report_fd = args->report_fd;
  int start_fd = args->start_fd;
  ResetSignals();
  const char* exec_path = nullptr;
  Step s = Setup(plan, &report_fd, &start_fd, &exec_path);
  if (s.failed) {
    SendReport(report_fd, ReportKind::kSetupError, s);
    _exit(1);
  }
  SendReady(report_fd);
  if (!WaitByte(start_fd, 'S')) _exit(1);  // destroyed before start
  close(start_fd);  // the child's numbered copy (SetupStdio), done with before the hooks and exec
  s = RunStartHooks(plan);
  if (s.failed) {
    SendReport(report_fd, ReportKind::kExecError, s);
    _exit(1);
  }
  ExecProcess(plan.proc, exec_path, report_fd);
}

}  // namespace kata::agent
