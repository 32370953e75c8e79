// A host process named by pid and signalled later, maybe by another
// process (the sandbox service, the monitor, the VMM): a pid alone names
// whatever process has it now, since the kernel hands a dead process's pid
// out again. So a record keeps the pid and the process's start time, and a
// signal goes only through a pidfd opened on a process that still has both
// (and runs the expected binary): a recycled pid is never signalled.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "common/status.h"
#include "common/unique_fd.h"

namespace kata::proc {

struct Identity {
  pid_t pid = 0;
  // /proc/<pid>/stat field 22: clock ticks from boot to the process's start.
  // 0 = unknown (a record from before identities were kept).
  uint64_t start_time = 0;
};

// The identity of the live process `pid` now; NotFound when there is none.
Result<Identity> IdentityOf(pid_t pid);
// "pid start_time", and back: the form of identity files.
std::string ToText(const Identity& id);
Result<Identity> IdentityFromText(const std::string& text);

// Running (not exited, not a zombie) and still the recorded process. With an
// unknown start time, only whether `pid` runs.
bool StillRunning(const Identity& id);

// A pidfd on the recorded process, after checking that the process with that
// pid has the recorded start time and an executable whose path contains
// `exe_needle` ("" = any). NotFound when it has exited; FailedPrecondition,
// naming the mismatch, when the pid now belongs to another process or the
// start time was never recorded.
Result<UniqueFd> OpenVerifiedPidfd(const Identity& id, const std::string& exe_needle);
// pidfd_send_signal(2): 0, or -1 with errno.
int PidfdSendSignal(int pidfd, int sig);
// Sends `sig` to the recorded process only (OpenVerifiedPidfd's errors).
Status SignalVerified(const Identity& id, const std::string& exe_needle, int sig);
// Waits until the process behind `pidfd` exits; false on timeout.
bool WaitPidfdExit(int pidfd, std::chrono::milliseconds timeout);

// Stops the recorded process, if it is still that one: `first` (0 = none),
// `grace` to exit by itself, then SIGKILL and up to 5 s. OK when it is gone
// (or was never there); an error when it is someone else's pid now or would
// not die.
Status StopVerified(const Identity& id, const std::string& exe_needle, int first, std::chrono::milliseconds grace);

}  // namespace kata::proc
