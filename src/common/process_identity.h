// A host process named by pid, checked before it is signalled: a pid from a
// pid file may belong to another process by now (the recorded one died and
// the number was reused). The identity is the pid plus the process's start
// time (clock ticks since boot, /proc/<pid>/stat field 22), which a reused
// pid does not repeat; the signal goes through a pidfd, so the check and
// the kill are about the same process.
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
  uint64_t start_time = 0;
};

// The start time of `pid`, NotFound if there is no such process.
Result<uint64_t> StartTimeOf(pid_t pid);
// The identity of `pid` now.
Result<Identity> IdentityOf(pid_t pid);
// "pid start_time", and back (the form of identity files).
std::string ToText(const Identity& id);
Result<Identity> IdentityFromText(const std::string& text);
// A pidfd of the process `id` names, or NotFound when that process is gone
// (including when its pid now belongs to another one).
Result<UniqueFd> OpenIfSame(const Identity& id);
// SIGKILL to the process `id` names, if it still exists; waits up to
// `timeout` for it to be gone. True if it is gone.
bool KillIfSame(const Identity& id, std::chrono::milliseconds timeout);

}  // namespace kata::proc
