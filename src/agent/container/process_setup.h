// Child side: the process attributes of the container init and of exec'd
// processes, and the final execve.
#pragma once

#include "agent/container/child_util.h"
#include "agent/container/plan.h"

namespace kata::agent::child {

// Default dispositions and an empty signal mask (the agent's handlers and
// ignored signals, SIGPIPE included, must not leak into containers).
void ResetSignals();
// plan.stdio become fds 0, 1, 2 (-1: /dev/null as seen now); *report_fd and
// *start_fd (may be -1) move to 3 and 4; fds from kFirstFreeFd up stay
// (CloseInheritedFds closes them).
Step SetupStdio(const ProcessPlan& p, int* report_fd, int* start_fd);
// Closes every fd from kFirstFreeFd up (the agent's, the rootfs and mount
// sources once mounted): nothing of the agent's reaches the container.
void CloseInheritedFds();
// New session; with a terminal allocated by the agent (stdio are its slave),
// fd 0 becomes the controlling tty (and gets process.consoleSize).
Step SetupSession(const ProcessPlan& p);
// process.oomScoreAdj through /proc/self (needs a /proc in view).
Step SetOomScore(const ProcessPlan& p);
// rlimits, bounding set, (early seccomp), groups/gid/uid, capabilities,
// umask, chdir(cwd), finds the executable (*exec_path points into the plan),
// no_new_privs.
Step ApplyProcess(const ProcessPlan& p, const char** exec_path);
// Seccomp hook, then execve. On failure sends a kExecError report and exits
// 127 (not found) or 126.
[[noreturn]] void ExecProcess(const ProcessPlan& p, const char* exec_path, int report_fd);

}  // namespace kata::agent::child
