#include "cli/commands.h"
#include "cli/lifecycle.h"
#include "common/fs.h"
#include "common/log.h"
#include "sandbox/leftovers.h"
#include "sandbox/ownership.h"

namespace kata::cli {

void AddDeleteCommand(CLI::App& app, GlobalOptions& g, int* exit_code) {
  static std::string id;
  static bool force = false;
  auto* cmd = app.add_subcommand("delete", "delete a container and its VM");
  cmd->add_flag("-f,--force", force, "kill the container first if it is still running");
  cmd->add_option("id", id, "container id")->required();
  cmd->callback([&g, exit_code] {
    Status st = DeleteContainer(g, id, force);
    if (st.code() == Code::kNotFound && force) {
      // runc: --force on an unknown id succeeds once any leftover is gone:
      // the state directory, and VM directories this root's service left
      // without a record (a service killed during create). Only ours and
      // unlocked ones (sandbox/ownership.h).
      if (ValidateId(id).ok()) {
        Status vm = sandbox::RemoveVmLeftovers(id, sandbox::KataRuntimeOwner(ServiceSocketOf(g, id)));
        if (!vm.ok()) log::Warn("cleanup of " + id + ": " + vm.message());
        st = fs::RemoveAll(StateDirOf(g, id));
      }
    }
    if (!st.ok()) {
      ReportError(g, st.message());
      *exit_code = 1;
    }
  });
}

}  // namespace kata::cli
