// Terminals for process.terminal.
//
// Preferred: the child opens /dev/ptmx inside the container (its own devpts
// instance, mounted by the spec), so ttyname() inside names /dev/pts/N; the
// slave becomes fds 0-2 and the controlling terminal; the master travels to
// the agent over the sync socket (one SCM_RIGHTS fd, as runc's console socket).
// Fallback when the container has no devpts (no /dev/pts/ptmx): the agent
// allocates the pty itself (posix_openpt in the guest) and passes the slave.
#pragma once

#include <string>

#include "agent/container/child_util.h"
#include "agent/container/plan.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace kata::agent {

struct PtyPair {
  UniqueFd master;
  UniqueFd slave;
};
// posix_openpt + unlock + open the slave (both O_CLOEXEC, slave O_NOCTTY).
Result<PtyPair> OpenAgentPty(unsigned short rows, unsigned short cols);
// Receives one fd sent with SCM_RIGHTS on `sock`.
Result<UniqueFd> RecvFd(int sock, const std::string& what);
// True when <root>/dev/pts/ptmx exists (a devpts instance of the container).
bool HasContainerPtmx(const std::string& root);

}  // namespace kata::agent

namespace kata::agent::child {
// With p.console_in_container: allocate the pty, make the slave fds 0-2 and
// the controlling terminal (the session must be new), send the master on
// `sock`. Needs the container's /dev in view.
Step SetupConsole(const ProcessPlan& p, int sock);
}  // namespace kata::agent::child
