#include "cli/commands.h"
#include "cli/lifecycle.h"

namespace kata::cli {

void AddStartCommand(CLI::App& app, GlobalOptions& g, int* exit_code) {
  static std::string id;
  auto* cmd = app.add_subcommand("start", "start the user process of a created container");
  cmd->add_option("id", id, "container id")->required();
  cmd->callback([&g, exit_code] {
    Status st = StartDetached(g, id);
    if (!st.ok()) {
      ReportError(g, st.message());
      *exit_code = 1;
    }
  });
}

}  // namespace kata::cli
