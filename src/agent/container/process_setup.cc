#include "agent/container/process_setup.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "agent/container/report.h"
#include "agent/container/security.h"
#include "common/unique_fd.h"

namespace kata::agent::child {
namespace {

constexpr int kReportFd = 3;
constexpr int kStartFd = 4;
constexpr int kFirstFree = kFirstFreeFd;
static_assert(kFirstFree > kStartFd && kFirstFree > kReportFd);

void CloseFrom(int first) {
  if (syscall(SYS_close_range, first, ~0U, 0) == 0) return;
  struct rlimit rl;
  int max = (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536) ? static_cast<int>(rl.rlim_cur) : 65536;
  for (int fd = first; fd < max; ++fd) close(fd);  // a range: not owned one by one
}

// Finds the executable the way Go's exec.LookPath does (runc reports the same).
Step FindExecutable(const ProcessPlan& p, const char** exec_path) {
  struct stat st;
  if (p.arg0_has_slash) {
    const char* path = p.candidates[0].c_str();
    if (stat(path, &st) != 0) return Fail(errno, p.exec_prefix.c_str(), "stat ", path);
    if (S_ISDIR(st.st_mode)) return FailMsg(Code::kPermissionDenied, p.exec_prefix.c_str(), "is a directory");
    if ((st.st_mode & 0111) == 0) return FailMsg(Code::kPermissionDenied, p.exec_prefix.c_str(), "permission denied");
    *exec_path = path;
    return Ok();
  }
  for (const std::string& c : p.candidates) {
    if (stat(c.c_str(), &st) == 0 && !S_ISDIR(st.st_mode) && (st.st_mode & 0111) != 0) {
      *exec_path = c.c_str();
      return Ok();
    }
  }
  return FailMsg(Code::kNotFound, p.not_found.c_str());
}

}  // namespace

void ResetSignals() {
  struct sigaction sa = {};
  sa.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    sigaction(sig, &sa, nullptr);  // glibc-internal signals fail with EINVAL: fine
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
}

Step SetupStdio(const ProcessPlan& p, int* report_fd, int* start_fd) {
  int src[3];
  for (int i = 0; i < 3; ++i) {
    int fd = p.stdio[i];
    UniqueFd opened;
    if (fd < 0) {
      opened.reset(open("/dev/null", O_RDWR | O_CLOEXEC));
      if (!opened.valid()) return Fail(errno, "open /dev/null");
      fd = opened.get();
    }
    src[i] = fcntl(fd, F_DUPFD_CLOEXEC, kFirstFree);
    if (src[i] < 0) return Fail(errno, "dup stdio");
  }
  int rep = fcntl(*report_fd, F_DUPFD_CLOEXEC, kFirstFree);
  int start = *start_fd >= 0 ? fcntl(*start_fd, F_DUPFD_CLOEXEC, kFirstFree) : -1;
  if (rep < 0 || (*start_fd >= 0 && start < 0)) return Fail(errno, "dup sync pipes");
  *report_fd = rep;  // valid from here on, even if a later step fails
  for (int i = 0; i < 3; ++i) {
    if (dup2(src[i], i) < 0) return Fail(errno, "set up stdio");
  }
  if (dup3(rep, kReportFd, O_CLOEXEC) < 0) return Fail(errno, "dup report pipe");
  *report_fd = kReportFd;
  if (start >= 0) {
    if (dup3(start, kStartFd, O_CLOEXEC) < 0) return Fail(errno, "dup start pipe");
    *start_fd = kStartFd;
  } else {
    *start_fd = -1;
  }
  return Ok();
}

void CloseInheritedFds() { CloseFrom(kFirstFree); }

Step SetupSession(const ProcessPlan& p) {
  if (setsid() < 0) return Fail(errno, "setsid");
  if (!p.terminal || p.console_in_container) return Ok();  // console.h sets that one up later
  if (ioctl(0, TIOCSCTTY, 0) != 0) return Fail(errno, "set controlling terminal");
  if (p.set_winsize) {
    struct winsize ws = {};
    ws.ws_row = p.rows;
    ws.ws_col = p.cols;
    if (ioctl(0, TIOCSWINSZ, &ws) != 0) return Fail(errno, "set console size");
  }
  return Ok();
}

Step SetOomScore(const ProcessPlan& p) {
  if (!p.set_oom) return Ok();
  UniqueFd fd(open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) return Fail(errno, "open /proc/self/oom_score_adj");
  if (!WriteAll(fd.get(), p.oom_value.data(), p.oom_value.size())) {
    return Fail(errno, "set oom_score_adj ", p.oom_value.c_str());
  }
  return Ok();
}

Step ApplyProcess(const ProcessPlan& p, const char** exec_path) {
  for (const RlimitStep& r : p.rlimits) {
    if (setrlimit(static_cast<__rlimit_resource>(r.resource), &r.limit) != 0) {
      return Fail(errno, "set ", r.type.c_str());
    }
  }
  CHILD_TRY(PrepareCapabilities(p));
  CHILD_TRY(ApplySeccomp(p, /*early=*/true));
  if (SysSetgroups(p.groups.size(), p.groups.data()) != 0) return Fail(errno, "setgroups");
  if (SysSetresgid(p.gid) != 0) return Fail(errno, "setgid");
  if (SysSetresuid(p.uid) != 0) return Fail(errno, "setuid");
  CHILD_TRY(ApplyCapabilities(p));
  umask(p.umask);
  if (chdir(p.cwd.c_str()) != 0) return Fail(errno, p.cwd_what.c_str());
  CHILD_TRY(FindExecutable(p, exec_path));
  if (p.no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return Fail(errno, "set no_new_privs");
  return Ok();
}

void ExecProcess(const ProcessPlan& p, const char* exec_path, int report_fd) {
  Step s = ApplySeccomp(p, /*early=*/false);
  if (!s.failed) {
    execve(exec_path, p.argv.data(), p.envp.data());
    s = Fail(errno, "exec ", exec_path);
  }
  SendReport(report_fd, ReportKind::kExecError, s);
  _exit(s.err == ENOENT ? 127 : 126);
}

}  // namespace kata::agent::child
