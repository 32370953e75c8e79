// The OCI state of a container as `state` and `list` report it.
#pragma once

#include <sys/types.h>

#include <string>

#include "cli/options.h"
#include "common/status.h"
#include "oci/state.h"

namespace kata::cli {

// The rule, as runc keeps it: "created", "running" and "paused" always come
// with the pid of a live process, the one callers wait on (here the monitor,
// the pid in --pid-file, which exits with the container). A container whose
// monitor is gone is reported "stopped", as runc reports one whose init is
// gone; nobody can wait for it any more, so its processes in the guest are
// killed (`kill_orphan`) and reality soon matches the report.
// `service_status` is what the sandbox service says ("stopped" when it is
// gone); `live_monitor` the monitor's pid if it still runs, else 0.
struct ReportedStatus {
  std::string status;
  pid_t pid = 0;
  bool kill_orphan = false;
};
ReportedStatus ReconcileStatus(const std::string& service_status, pid_t live_monitor);

// The sandbox service is the authority on status; a record whose service is
// gone describes a container that has stopped. Applies ReconcileStatus
// (and so may kill an orphaned container's processes).
Result<oci::State> CurrentState(const GlobalOptions& g, const std::string& id);

}  // namespace kata::cli
