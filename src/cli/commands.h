// One Add*Command per verb (cmd_<verb>.cc). Each sets *exit_code.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/options.h"

namespace kata::cli {

// Reports an error the way runc does: to the log (JSON with --log-format
// json) and, unless the log is already stderr, to stderr too.
void ReportError(const GlobalOptions& g, const std::string& msg);

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

}  // namespace kata::cli
