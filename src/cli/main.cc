// kata-runtime: an OCI runtime with runc's command line whose containers run
// in VMs. A thin client: every container is served by a sandbox service
// (containerd-shim-kata-v2) that owns the VM.
#include <cstdio>

#include "cli/commands.h"
#include "common/log.h"

namespace {

constexpr const char* kVersionText =
    "kata-runtime version " KATA_VERSION "\n"
    "commit: " KATA_VERSION "\n"
    "spec: 1.0.2-dev\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace kata;
  cli::GlobalOptions g;
  int exit_code = 0;
  CLI::App app{"kata-runtime: OCI runtime that runs each container in its own virtual machine", "kata-runtime"};
  app.require_subcommand(0, 1);
  bool show_version = false;
  app.add_flag("-v,--version", show_version, "print the version");
  app.add_option("--root", g.root, "root directory for storage of container state");
  app.add_option("--log", g.log, "log file (default: stderr)");
  app.add_option("--log-format", g.log_format, "log format: text or json")->check(CLI::IsMember({"text", "json"}));
  app.add_option("--config,--kata-config", g.config, "configuration.toml to use");
  app.add_flag("--debug", g.debug, "debug logging");
  app.add_flag("--systemd-cgroup", g.systemd_cgroup, "accepted for compatibility");
  std::string criu, rootless;
  app.add_option("--criu", criu, "accepted for compatibility");
  app.add_option("--rootless", rootless, "accepted for compatibility");
  app.parse_complete_callback([&] {
    log::Level level = g.debug ? log::Level::kDebug : log::Level::kWarn;
    log::Format format = g.log_format == "json" ? log::Format::kJson : log::Format::kText;
    if (g.log.empty() || !log::ConfigureFile(g.log, level, format)) log::Configure(2, level, format);
    log::SetComponent("kata-runtime");
  });
  cli::AddCreateCommand(app, g, &exit_code);
  cli::AddStartCommand(app, g, &exit_code);
  cli::AddRunCommand(app, g, &exit_code);
  cli::AddStateCommand(app, g, &exit_code);
  cli::AddKillCommand(app, g, &exit_code);
  cli::AddDeleteCommand(app, g, &exit_code);
  cli::AddExecCommand(app, g, &exit_code);
  cli::AddListCommand(app, g, &exit_code);
  cli::AddPsCommand(app, g, &exit_code);
  cli::AddSpecCommand(app, g, &exit_code);
  cli::AddPauseCommands(app, g, &exit_code);
  cli::AddEventsCommand(app, g, &exit_code);
  cli::AddCheckCommand(app, g, &exit_code);
  cli::AddDirectVolumeCommand(app, g, &exit_code);
  cli::AddEnvCommand(app, g, &exit_code);
  cli::AddFactoryCommand(app, g, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Help and version print and succeed; a usage error exits 1 as runc's
    // does (CLI11's own codes, 100+, mean nothing to callers).
    int code = app.exit(e);
    return code == 0 ? 0 : 1;
  }
  if (show_version) {
    std::fputs(kVersionText, stdout);
    return 0;
  }
  if (app.get_subcommands().empty()) {
    std::fputs(app.help().c_str(), stdout);
    return 0;
  }
  return exit_code;
}
