#include <cstdio>

#include "cli/commands.h"
#include "cli/service_client.h"
#include "cli/state_dir.h"
#include "common/process.h"
#include "oci/state.h"

namespace kata::cli {
namespace {
namespace task = containerd::task::v2;

// The service is the authority on status; a record whose service is gone
// describes a container that has stopped.
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
}  // namespace

void AddStateCommand(CLI::App& app, GlobalOptions& g, int* exit_code) {
  static std::string id;
  auto* cmd = app.add_subcommand("state", "output the state of a container");
  cmd->add_option("id", id, "container id")->required();
  cmd->callback([&g, exit_code] {
    auto s = CurrentState(g, id);
    if (!s.ok()) {
      ReportError(g, s.status().message());
      *exit_code = 1;
      return;
    }
    std::fputs(oci::StateJson(*s).c_str(), stdout);
  });
}

}  // namespace kata::cli
