#include <cstdio>

#include "cli/commands.h"
#include "cli/container_status.h"
#include "oci/state.h"

namespace kata::cli {
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
