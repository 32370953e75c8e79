// One Add*Command per verb (cmd_<verb>.cc). Each sets *exit_code.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/options.h"

namespace kata::cli {

// Reports an error the way runc does: to the log (JSON with --log-format
// json) and, unless the log is already stderr, to stderr too.
void ReportError(const GlobalOptions& g, const std::string& msg);

// --preserve-fds: fds of the caller cannot follow the process into the VM;
// refusing N > 0 beats a container that silently misses its sockets.
inline CLI::Validator NoPreservedFds() {
  return CLI::Validator(
      [](std::string& v) -> std::string {
        return v == "0" ? "" : "extra file descriptors cannot be passed into the VM (only 0 is supported)";
      },
      "0");
}

void AddCreateCommand(CLI::App& app, GlobalOptions& g, int* exit_code);
void AddStartCommand(CLI::App& app, GlobalOptions& g, int* exit_code);
void AddRunCommand(CLI::App& app, GlobalOptions& g, int* exit_code);
void AddStateCommand(CLI::App& app, GlobalOptions& g, int* exit_code);
void AddKillCommand(CLI::App& app, GlobalOptions& g, int* exit_code);
void AddDeleteCommand(CLI::App& app, GlobalOptions& g, int* exit_code);
void AddExecCommand(CLI::App& app, GlobalOptions& g, int* exit_code);
void AddListCommand(CLI::App& app, GlobalOptions& g, int* exit_code);
void AddPsCommand(CLI::App& app, GlobalOptions& g, int* exit_code);
// `spec` and `features`.
void AddSpecCommand(CLI::App& app, GlobalOptions& g, int* exit_code);
// `pause`, `resume`, `update`.
void AddPauseCommands(CLI::App& app, GlobalOptions& g, int* exit_code);
void AddEventsCommand(CLI::App& app, GlobalOptions& g, int* exit_code);
void AddCheckCommand(CLI::App& app, GlobalOptions& g, int* exit_code);
void AddEnvCommand(CLI::App& app, GlobalOptions& g, int* exit_code);
void AddDirectVolumeCommand(CLI::App& app, GlobalOptions& g, int* exit_code);
// `factory init|status|destroy` (VM templating).
void AddFactoryCommand(CLI::App& app, GlobalOptions& g, int* exit_code);

}  // namespace kata::cli
