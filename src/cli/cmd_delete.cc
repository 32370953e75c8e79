#include "cli/commands.h"
#include "cli/lifecycle.h"
#include "common/fs.h"

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
      // runc: --force on an unknown id succeeds once any leftover is gone.
      if (ValidateId(id).ok()) st = fs::RemoveAll(StateDirOf(g, id));
    }
    if (!st.ok()) {
      ReportError(g, st.message());
      *exit_code = 1;
    }
  });
}

}  // namespace kata::cli
