// Host processes the CLI recorded (the sandbox service, the monitor) and
// signals later, from another kata-runtime invocation. A pid alone names
// whatever process has it now: once ours is gone the kernel hands it out
// again. So the record keeps the pid and the process's start time, and a
// signal goes only through a pidfd opened on a process that still has both
// (and runs the expected binary): a recycled pid is never signalled.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "common/status.h"

namespace kata::cli {

struct ProcessIdentity {
  pid_t pid = 0;
  // /proc/<pid>/stat field 22: clock ticks from boot to the process's start.
  // 0 = unknown (a record from before identities were kept).
  uint64_t start_time = 0;
};

// The identity of the live process `pid` now; NotFound when there is none.
Result<ProcessIdentity> IdentityOf(pid_t pid);

// Running (not exited, not a zombie) and still the recorded process. With an
// unknown start time, only whether `pid` runs.
bool StillRunning(const ProcessIdentity& id);

// A pidfd (O_CLOEXEC) on the recorded process, after checking that the
// process with that pid has the recorded start time and an executable whose
// path contains `exe_needle` ("" = any). NotFound when it has exited;
// FailedPrecondition, naming the mismatch, when the pid now belongs to
// another process or the start time was never recorded.
Result<int> OpenVerifiedPidfd(const ProcessIdentity& id, const std::string& exe_needle);

// pidfd_send_signal(2): 0, or -1 with errno.
int PidfdSendSignal(int pidfd, int sig);

// Sends `sig` to the recorded process only (OpenVerifiedPidfd's errors).
Status SignalVerified(const ProcessIdentity& id, const std::string& exe_needle, int sig);

// Waits until the process behind `pidfd` exits; false on timeout.
bool WaitPidfdExit(int pidfd, std::chrono::milliseconds timeout);

}  // namespace kata::cli
