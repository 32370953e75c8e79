// The in-guest container launcher: creates a container's init process in new
// namespaces, inside its rootfs, blocked before exec until Start().
//
//   LaunchSpec ls;  ls.spec = spec;  ls.rootfs = "/run/.../rootfs";  ls.stdout_fd = w;
//   ASSIGN_OR_RETURN(auto init, Launch(ls));   // set up, not yet running
//   RETURN_IF_ERROR(init->Start());            // execs process.args; exec errors come back here
//
// Errors name the failing step and path: "mount proc on /proc: Permission denied",
// `exec: "foo": executable file not found in $PATH`.
//
// Reaping: this code never calls waitpid() (the agent's Reaper owns that). A
// child that fails during setup has exited with status 1, one whose exec
// failed after Start() with 127 (not found) or 126 (not executable); the
// caller's reaper collects them. Set LaunchSpec::reap_on_failure when the
// caller has no reaper (tests, tools).
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "agent/container/plan.h"
#include "common/status.h"
#include "common/unique_fd.h"
#include "oci/spec.h"

namespace kata::agent {

struct LaunchSpec {
  oci::Spec spec;      // spec.process is required; spec.root.path is ignored
  std::string rootfs;  // absolute path of the container rootfs (need not be a mount point)
  // The container's stdio; -1 = /dev/null. Ignored with spec.process.terminal:
  // Launch then makes a pty (console.h) whose master ContainerProcess::TakeConsole
  // returns.
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
  // true: Launch returns with the init blocked before exec; Start() runs it.
  // false: Launch also starts it (and reports exec errors).
  bool wait_for_start = true;
  // MS_MOVE + chroot instead of pivot_root (runc --no-pivot). Also used
  // automatically when pivot_root fails with EINVAL (root on initramfs).
  bool no_pivot = false;
  // waitpid() the child when Launch fails after creating it.
  bool reap_on_failure = false;
  // The container's cgroup v2 directory (cgroup.h): the init is moved there
  // before it runs anything (and before it unshares a cgroup namespace);
  // mounts of type cgroup/cgroup2 bind it. "" = no cgroup.
  std::string cgroup_dir;
  // For the startContainer hooks' state (start_hooks.h).
  std::string id;
  std::string bundle;
};

// The container's init process between Launch and exec.
class ContainerProcess {
 public:
  ContainerProcess(pid_t pid, UniqueFd start_fd, UniqueFd report_fd);
  // Before Start(): the init exits (status 1) without running anything.
  ~ContainerProcess();
  ContainerProcess(const ContainerProcess&) = delete;
  ContainerProcess& operator=(const ContainerProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool started() const { return started_; }
  // The pty master with process.terminal (ownership passes to the caller), else -1.
  int TakeConsole() { return console_fd_.release(); }
  void SetConsole(UniqueFd fd) { console_fd_ = std::move(fd); }
  // Lets the init exec process.args and waits until it has (or failed to:
  // then the error, and the process exits 126/127). FailedPrecondition when
  // called twice.
  Status Start();

 private:
  pid_t pid_;
  UniqueFd start_fd_;
  UniqueFd report_fd_;
  UniqueFd console_fd_;
  bool started_ = false;
};

Result<std::unique_ptr<ContainerProcess>> Launch(const LaunchSpec& spec);

// The channels between the agent and a child it spawns: a report pipe
// (child -> agent: setup errors, EOF at exec) and a sync socket (agent ->
// child: go-ahead bytes; a pty master back). O_CLOEXEC. The caller closes
// the child's ends ([1]) once the child has them.
Status OpenChildChannels(UniqueFd report[2], UniqueFd sync[2]);
// A user namespace's mount points, made by the agent (child::PrecreateMountPoints).
void PrecreateMountPointsAsAgent(const LaunchPlan& plan);

// process.rlimits set on `pid` by the agent: the root of a user namespace
// may not raise them itself.
Status SetRlimitsOf(pid_t pid, const std::vector<RlimitStep>& rlimits);

// Runs `process` inside the running container whose init is
// `container_init_pid`: joins its ipc, uts, net, cgroup, pid and mount
// namespaces and its root, then forks so the new process is in the pid
// namespace (and is a child of the caller). Applies env, cwd, user, rlimits,
// umask, noNewPrivileges. Returns after exec succeeded (or with its error).
// Fds -1 = the container's /dev/null.
Result<pid_t> ExecInContainer(pid_t container_init_pid, const oci::Process& process, int stdin_fd,
                              int stdout_fd, int stderr_fd);

// The full form: also the container's seccomp filter, its cgroup and a terminal.
struct ExecSpec {
  pid_t init_pid = -1;
  oci::Process process;
  nlohmann::json seccomp;  // the container's linux.seccomp (null = none)
  std::string cgroup_dir;  // "" = stay in the agent's cgroup
  int stdin_fd = -1, stdout_fd = -1, stderr_fd = -1;  // ignored with process.terminal
};
struct ExecResult {
  pid_t pid = -1;
  int console_fd = -1;  // pty master with process.terminal (caller owns it)
};
Result<ExecResult> Exec(const ExecSpec& spec);

}  // namespace kata::agent
