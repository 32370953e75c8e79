#include <cstdio>

#include "cli/commands.h"
#include "config/config.h"
#include "sandbox/sandbox_config.h"

namespace kata::cli {

void AddEnvCommand(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto* cmd = app.add_subcommand("env", "print the resolved configuration and the accelerator decision");
  cmd->callback([&g, exit_code] {
    auto cfg = config::Load(g.config);
    if (!cfg.ok()) {
      ReportError(g, cfg.status().message());
      *exit_code = 1;
      return;
    }
    sandbox::AccelDecision d = sandbox::ChooseAccelerator(cfg->config.qemu.accelerator);
    std::string out = config::ToToml(*cfg);
    out += "\n[accelerator]\nconfigured = \"" + cfg->config.qemu.accelerator + "\"\nchosen = \"" + d.accel +
           "\"\nreason = \"" + d.reason + "\"\n";
    std::fputs(out.c_str(), stdout);
  });
}

}  // namespace kata::cli
