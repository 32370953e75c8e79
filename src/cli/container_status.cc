#include "cli/container_status.h"

#include <signal.h>

#include "cli/service_client.h"
#include "cli/state_dir.h"
#include "common/log.h"

namespace kata::cli {
namespace task = containerd::task::v2;

namespace {

std::string StatusName(task::Status s) {
  switch (s) {
    case task::CREATED: return "created";
    case task::RUNNING: return "running";
    case task::PAUSED: return "paused";
    case task::PAUSING: return "pausing";
    default: return "stopped";
  }
}

}  // namespace

ReportedStatus ReconcileStatus(const std::string& service_status, pid_t live_monitor) {
  if (service_status == "stopped") return {"stopped", 0, false};
  if (live_monitor <= 0) return {"stopped", 0, true};
  return {service_status, live_monitor, false};
}

Result<oci::State> CurrentState(const GlobalOptions& g, const std::string& id) {
  ASSIGN_OR_RETURN(ContainerRecord rec, LoadRecord(g, id));
  oci::State s;
  s.id = id;
  s.bundle = rec.bundle;
  s.rootfs = rec.rootfs;
  s.created = rec.created;
  s.annotations = rec.annotations;
  std::string service_status = "stopped";
  auto client = ServiceClient::Dial(ServiceSocketOf(g, id));
  if (client.ok()) {
    auto st = (*client)->State(id);
    if (st.ok()) service_status = StatusName(st->status());
  }
  // StillRunning compares start times: a recycled monitor pid is not "live".
  ReportedStatus r = ReconcileStatus(service_status, proc::StillRunning(rec.monitor) ? rec.monitor.pid : 0);
  if (r.kill_orphan) {
    log::Warn("container " + id + " was " + service_status + " but its monitor process (pid " +
              std::to_string(rec.monitor.pid) + ") is gone: reporting it stopped and killing its processes");
    Status k = (*client)->Kill(id, "", SIGKILL, true);
    if (!k.ok()) log::Warn("kill orphaned container " + id + ": " + k.message());
  }
  s.status = r.status;
  s.pid = r.pid;
  return s;
}

}  // namespace kata::cli
