#include "cli/container_status.h"

#include "cli/service_client.h"
#include "cli/state_dir.h"
#include "common/process.h"

namespace kata::cli {
namespace task = containerd::task::v2;

Result<oci::State> CurrentState(const GlobalOptions& g, const std::string& id) {
  ASSIGN_OR_RETURN(ContainerRecord rec, LoadRecord(g, id));
  oci::State s;
  s.id = id;
  s.bundle = rec.bundle;
  s.rootfs = rec.rootfs;
  s.created = rec.created;
  s.status = "stopped";
  auto client = ServiceClient::Dial(ServiceSocketOf(g, id));
  if (client.ok()) {
    auto st = (*client)->State(id);
    if (st.ok()) {
      switch (st->status()) {
        case task::CREATED: s.status = "created"; break;
        case task::RUNNING: s.status = "running"; break;
        case task::PAUSED: s.status = "paused"; break;
        case task::PAUSING: s.status = "pausing"; break;
        default: s.status = "stopped";
      }
    }
  }
  if (s.status != "stopped" && proc::Alive(rec.monitor_pid)) s.pid = rec.monitor_pid;
  return s;
}

}  // namespace kata::cli
