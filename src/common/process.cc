#include "common/process.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <limits.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "common/fs.h"
#include "common/log.h"
#include "common/unique_fd.h"

namespace kata::proc {
namespace {

// The child's fds 3, 4, ... become `fds` (kept across exec). Everything that
// could sit where they go (a source, the error pipe) moves above first.
void PassFds(const std::vector<int>& fds, int* err_fd) {
  if (fds.empty()) return;
  int above = 3 + static_cast<int>(fds.size());
  if (*err_fd < above) *err_fd = fcntl(*err_fd, F_DUPFD_CLOEXEC, above);
  std::vector<int> moved;
  for (int fd : fds) moved.push_back(fcntl(fd, F_DUPFD_CLOEXEC, above));
  for (size_t i = 0; i < moved.size(); i++) dup2(moved[i], 3 + static_cast<int>(i));  // dup2 clears FD_CLOEXEC
}

[[noreturn]] void ChildExec(const std::vector<std::string>& argv, const SpawnOptions& opts, int err_fd) {
  if (opts.die_with_parent && !opts.detach) prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (opts.new_session) setsid();
  if ((opts.netns_fd >= 0 && setns(opts.netns_fd, CLONE_NEWNET) != 0) ||
      (opts.mount_ns_fd >= 0 && setns(opts.mount_ns_fd, CLONE_NEWNS) != 0)) {
    int err = -errno;  // negative: the set-up failed, not exec
    ssize_t unused = write(err_fd, &err, sizeof err);
    (void)unused;
    _exit(127);
  }
  int devnull = open("/dev/null", O_RDWR);
  int fds[3] = {opts.stdin_fd, opts.stdout_fd, opts.stderr_fd};
  for (int i = 0; i < 3; i++) {
    int src = fds[i] >= 0 ? fds[i] : devnull;
    if (src == i) {
      fcntl(i, F_SETFD, 0);  // keep across exec
    } else {
      dup2(src, i);
    }
  }
  PassFds(opts.pass_fds, &err_fd);
  CloseFdsFrom(3 + static_cast<int>(opts.pass_fds.size()), {err_fd});
  if (opts.before_exec) {
    if (int err = opts.before_exec(); err != 0) {
      int code = -err;  // negative: the set-up failed, not exec
      ssize_t unused = write(err_fd, &code, sizeof code);
      (void)unused;
      _exit(127);
    }
  }
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const char* file = opts.executable.empty() ? args[0] : opts.executable.c_str();
  if (opts.env.empty()) {
    execvp(file, args.data());
  } else {
    std::vector<char*> env;
    for (const auto& e : opts.env) env.push_back(const_cast<char*>(e.c_str()));
    env.push_back(nullptr);
    execvpe(file, args.data(), env.data());
  }
  int err = errno;
  ssize_t unused = write(err_fd, &err, sizeof err);
  (void)unused;
  _exit(127);
}

// fork() twice: returns 0 in the grandchild, its pid in the caller (whose
// direct child, the middle one, is gone and reaped), -1 on failure.
pid_t ForkDetached() {
  int pid_pipe[2];
  if (pipe2(pid_pipe, O_CLOEXEC) != 0) return -1;
  UniqueFd pid_rd(pid_pipe[0]), pid_wr(pid_pipe[1]);
  pid_t middle = fork();
  if (middle < 0) return -1;
  if (middle == 0) {
    pid_rd.reset();
    setsid();  // no terminal, no process group of the caller's
    pid_t grandchild = fork();
    if (grandchild == 0) {
      pid_wr.reset();
      return 0;
    }
    ssize_t unused = write(pid_wr.get(), &grandchild, sizeof grandchild);
    (void)unused;
    _exit(grandchild < 0 ? 1 : 0);
  }
  pid_wr.reset();  // only the middle child's copy is left: EOF once it exits
  pid_t grandchild = -1;
  ssize_t n;
  do {
    n = read(pid_rd.get(), &grandchild, sizeof grandchild);
  } while (n < 0 && errno == EINTR);
  pid_rd.reset();
  while (waitpid(middle, nullptr, 0) < 0 && errno == EINTR) {
  }
  if (n != sizeof grandchild || grandchild < 0) {
    errno = EAGAIN;
    return -1;
  }
  return grandchild;
}

}  // namespace

Result<pid_t> Spawn(const std::vector<std::string>& argv, const SpawnOptions& opts) {
  if (argv.empty()) return Error(Code::kInvalidArgument, "spawn: empty argv");
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return ErrnoError("pipe");
  UniqueFd err_rd(pipefd[0]), err_wr(pipefd[1]);
  pid_t pid = opts.detach ? ForkDetached() : fork();
  if (pid < 0) {
    int err = errno;
    return ErrnoError("fork for " + argv[0], err);
  }
  if (pid == 0) {
    err_rd.reset();
    ChildExec(argv, opts, err_wr.get());
  }
  err_wr.reset();  // the child's copy closes at exec (CLOEXEC): EOF and no report = exec worked
  int err = 0;
  ssize_t n;
  do {
    n = read(err_rd.get(), &err, sizeof err);
  } while (n < 0 && errno == EINTR);
  err_rd.reset();
  if (n == sizeof err) {
    if (!opts.detach) waitpid(pid, nullptr, 0);
    if (err < 0) return ErrnoError("set up the process for " + argv[0] + " before exec", -err);
    return ErrnoError("exec " + argv[0], err);
  }
  return pid;
}

int DecodeWaitStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

bool Alive(pid_t pid) {
  if (pid <= 0 || (kill(pid, 0) != 0 && errno != EPERM)) return false;
  // A zombie still answers kill(pid, 0) but has stopped running.
  FILE* f = fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (f == nullptr) return false;
  char buf[512];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  const char* close_paren = strrchr(buf, ')');
  return !(close_paren && close_paren[1] == ' ' && close_paren[2] == 'Z');
}

void CloseFdsFrom(int lowest, const std::vector<int>& keep) {
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return;
  std::vector<int> fds;
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    int fd = atoi(e->d_name);
    if (fd >= lowest && fd != dirfd(d) && std::find(keep.begin(), keep.end(), fd) == keep.end()) fds.push_back(fd);
  }
  closedir(d);
  for (int fd : fds) close(fd);  // a range, not owned by anyone here
}

std::string ReadPidFile(const std::string& path) {
  auto t = fs::ReadFile(path);
  if (!t.ok()) return "";
  std::string s = *t;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

pid_t LiveProcess(const std::string& pid_text, const std::string& needle) {
  char* end = nullptr;
  long pid = std::strtol(pid_text.c_str(), &end, 10);
  if (pid_text.empty() || *end != '\0' || pid <= 1) return 0;
  if (!Alive(static_cast<pid_t>(pid))) return 0;
  char buf[PATH_MAX];
  ssize_t n = readlink(("/proc/" + std::to_string(pid) + "/exe").c_str(), buf, sizeof buf - 1);
  if (n <= 0) return 0;
  std::string exe(buf, static_cast<size_t>(n));
  return exe.find(needle) != std::string::npos ? static_cast<pid_t>(pid) : 0;
}

void KillAndWait(pid_t pid, const std::string& what, std::chrono::milliseconds grace) {
  if (pid <= 0) return;
  // A shim that is exiting on its own (after Shutdown) finishes its cleanup.
  for (auto end = std::chrono::steady_clock::now() + grace; std::chrono::steady_clock::now() < end && Alive(pid);) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!Alive(pid)) return;
  log::Info("killing " + what + " (pid " + std::to_string(pid) + ")");
  kill(pid, SIGKILL);
  for (int i = 0; i < 500 && Alive(pid); i++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

}  // namespace kata::proc
