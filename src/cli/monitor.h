// The monitor: the host process an OCI caller (conmon, containerd's runc
// shim, a shell) waits on for a container or exec process. It exits with the
// process's status and forwards the signals it receives.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>

#include "cli/service_client.h"
#include "common/status.h"

namespace kata::cli {

// Double-forks a monitor so it is re-parented to the caller's subreaper, as
// runc's container init is. In the monitor, `setup` runs with the caller's
// stdio (handed to the service with HandOverStdio); its error comes back to
// the caller. Then the monitor drops the caller's stdio and exits with
// `wait()`. Returns the monitor's pid once setup succeeded; Aborted when the
// monitor died (kill -9, OOM) before it could report, so before it could
// undo whatever `setup` had done.
Result<pid_t> ForkMonitor(const std::function<Status()>& setup, const std::function<int()>& wait);

// Forwards SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1/2 and SIGWINCH sent to
// this process to the container's process `exec_id` ("" = init).
void ForwardSignals(ServiceClient* client, const std::string& id, const std::string& exec_id);

// Hands this process's fds 0-2 to the sandbox service (SCM_RIGHTS) and
// returns the three references to put in a Task Create/Exec request.
// With a console socket, a new pty's master goes to the socket (as runc
// sends it) and its slave to the service instead.
struct StdioRefs {
  std::string in, out, err;
};
Result<StdioRefs> HandOverStdio(const std::string& service_socket, const std::string& console_socket = "");

}  // namespace kata::cli
