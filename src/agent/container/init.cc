#include "agent/container/init.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "agent/container/console.h"
#include "agent/container/process_setup.h"
#include "agent/container/report.h"
#include "agent/container/rootfs.h"
#include "agent/container/start_hooks.h"

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
  int fd = open(s.path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Fail(errno, "set sysctl ", s.key.c_str());
  bool ok = WriteAll(fd, s.value.data(), s.value.size());
  int err = errno;
  close(fd);
  if (!ok) return Fail(err, "set sysctl ", s.key.c_str());
  return Ok();
}

Step Setup(const LaunchPlan& plan, int* report_fd, int* start_fd, const char** exec_path) {
  if (plan.parent_sync && !WaitByte(*start_fd, 'M')) {
    return FailMsg(Code::kAborted, "the agent did not finish the container's cgroup and id maps");
  }
  if (plan.userns) {
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
  int rootfd = -1;
  CHILD_TRY(PrepareRootfs(plan, &rootfd));
  CHILD_TRY(EnterRootfs(plan, rootfd));
  close(rootfd);
  // Before FinalizeRootfs: readonlyPaths usually include /proc/sys.
  for (const SysctlStep& s : plan.sysctls) CHILD_TRY(WriteSysctl(s));
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
  const LaunchPlan& plan = *args->plan;
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
  close(start_fd);
  s = RunStartHooks(plan);
  if (s.failed) {
    SendReport(report_fd, ReportKind::kExecError, s);
    _exit(1);
  }
  ExecProcess(plan.proc, exec_path, report_fd);
}

}  // namespace kata::agent
